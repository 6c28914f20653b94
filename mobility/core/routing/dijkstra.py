"""All-or-nothing loading on the CPU: scipy's compiled Dijkstra, then subtree sums in numpy.

Why not the batched Bellman-Ford of :mod:`~mobility.core.routing.paths` on a CPU: it costs
origins x links x sweeps, and the sweep count is the hop depth of the deepest tree (45 on
Chicago Sketch, hundreds on a city network): 75 s on Berlin-Center where AequilibraE takes
4 s. Dijkstra costs origins x links x log(nodes), whatever the depth. No JAX library has
it; ``scipy.sparse.csgraph.dijkstra`` is compiled, so it is used from a host loop (see
:func:`~mobility.core.routing.equilibrium.user_equilibrium`).

Loading the trips on the trees is written by hand (neither scipy nor numpy has it): see
:func:`_load`.

Same routing graph as the JAX core: zones that may not be passed through get a source-only
copy carrying their out-links (see :mod:`~mobility.core.routing.graph`). Parallel links
between the same two nodes collapse to the cheapest one under the current costs.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:  # workers that load trees need no JAX
    from mobility.core.arrays import NetworkArrays


@dataclasses.dataclass(frozen=True)
class HostGraph:
    """A network as a scipy CSR graph over R routing nodes (nodes + source copies).

    Host-side only (numpy); ``P`` = distinct (tail, head) pairs, ``L`` = real links.
    """

    indptr: np.ndarray  # [R + 1] int32: CSR row pointers of the pairs, rows = tails
    indices: np.ndarray  # [P] int32: head of each pair, sorted within a row
    pair_key: np.ndarray  # [P] int64: tail * R + head, increasing
    link_order: np.ndarray  # [L] int64: real links sorted by pair
    group_start: np.ndarray  # [P] int64: where each pair's links start in link_order
    parallel: bool  # some pair has more than one link
    origin_node: np.ndarray  # [Z] int64: routing node where each zone's trips start
    dest_node: np.ndarray  # [Z] int64: routing node where each zone's trips end
    n_routing_nodes: int
    n_links: int  # E: link slots, padding included


def host_graph(arrays: NetworkArrays) -> HostGraph:
    """The :class:`HostGraph` of a network (masked links left out)."""
    links = np.flatnonzero(np.asarray(arrays.link_mask))
    n_nodes = arrays.n_nodes
    blocked = ~np.asarray(arrays.through, dtype=bool)
    source = np.arange(n_nodes)
    source[blocked] = n_nodes + np.arange(int(blocked.sum()))
    n_routing = n_nodes + int(blocked.sum())
    tail = source[np.asarray(arrays.tail, dtype=np.int64)[links]]
    head = np.asarray(arrays.head, dtype=np.int64)[links]
    key = tail * n_routing + head
    order = np.argsort(key, kind="stable")
    pair_key, group_start = np.unique(key[order], return_index=True)
    rows = pair_key // n_routing
    indptr = np.searchsorted(rows, np.arange(n_routing + 1)).astype(np.int32)
    zone_node = np.asarray(arrays.zone_node, dtype=np.int64)
    return HostGraph(
        indptr=indptr,
        indices=(pair_key % n_routing).astype(np.int32),
        pair_key=pair_key,
        link_order=links[order],
        group_start=group_start,
        parallel=len(pair_key) < len(links),
        origin_node=source[zone_node],
        dest_node=zone_node,
        n_routing_nodes=n_routing,
        n_links=arrays.n_links,
    )


def _pair_costs(g: HostGraph, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost of each pair (its cheapest link) and that link."""
    sorted_cost = cost[g.link_order]
    if not g.parallel:
        return sorted_cost, g.link_order
    best = np.minimum.reduceat(sorted_cost, g.group_start)
    sizes = np.diff(np.append(g.group_start, len(sorted_cost)))
    ties = np.flatnonzero(sorted_cost == np.repeat(best, sizes))
    _, first = np.unique(np.repeat(np.arange(len(best)), sizes)[ties], return_index=True)
    return best, g.link_order[ties[first]]


def host_all_or_nothing(
    g: HostGraph, cost: np.ndarray, origins: np.ndarray, trips: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Link flows ``(E,)`` of ``trips`` ``(O, Z)`` from zones ``origins`` on cheapest paths
    under link ``cost`` ``(E,)`` (non-negative), and the path costs ``(O, Z)`` (inf: none).

    Trips to unreachable destinations are dropped: check the path costs.
    """
    weight, link_of_pair = _pair_costs(g, np.asarray(cost, dtype=np.float64))
    r = g.n_routing_nodes
    # explicit zeros are kept by this constructor, and csgraph takes them as edges
    graph = sp.csr_matrix((weight, g.indices, g.indptr), shape=(r, r))
    dist, pred = dijkstra(graph, indices=g.origin_node[origins], return_predecessors=True)
    flows = _load(g, pred, np.asarray(trips, dtype=np.float64), link_of_pair)
    return flows, dist[:, g.dest_node]


def _load(
    g: HostGraph, pred: np.ndarray, trips: np.ndarray, link_of_pair: np.ndarray
) -> np.ndarray:
    """Link flows of the trees ``pred`` ``(O, R)`` (scipy's predecessor nodes, < 0: none).

    Every OD pair with trips walks back from its destination to its origin, all pairs one
    link per step, and the pairs' link sums are added up. That costs pairs x path links,
    less than origins x nodes on city networks, where most of a tree carries no pair
    (Berlin-Center: 0.15 s against 4 s for subtree sums over the whole forest of trees).
    """
    r = pred.shape[1]
    origin, zone = np.nonzero(trips)
    amount = trips[origin, zone]
    row = origin.astype(np.int64) * r
    node = g.dest_node[zone]
    flat = pred.ravel()
    pair_flow = np.zeros(len(g.pair_key))
    while node.size:
        tail = flat[row + node].astype(np.int64)
        on = tail >= 0
        if not on.all():
            tail, node, row, amount = tail[on], node[on], row[on], amount[on]
        pair = np.searchsorted(g.pair_key, tail * r + node)
        pair_flow += np.bincount(pair, amount, len(pair_flow))
        node = tail
    return np.bincount(link_of_pair, pair_flow, g.n_links)
