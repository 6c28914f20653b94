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

import contextlib
import dataclasses
import os
import pickle
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:  # workers that load trees need no JAX
    from mobility.core.arrays import NetworkArrays


@dataclasses.dataclass(frozen=True)
class HostGraph:
    """A network as a scipy CSR graph over R routing nodes, chains of links contracted.

    Host-side only. ``S`` = segments (a link, or a chain of links through nodes that only
    pass traffic on), ``P`` = distinct (tail, head) pairs of segments.
    """

    indptr: np.ndarray  # [R + 1] int32: CSR row pointers of the pairs, rows = tails
    indices: np.ndarray  # [P] int32: head of each pair, sorted within a row
    pair_key: np.ndarray  # [P] int64: tail * R + head, increasing
    link_order: np.ndarray  # [S] int64: segments sorted by pair
    group_start: np.ndarray  # [P] int64: where each pair's segments start in link_order
    parallel: bool  # some pair has more than one segment
    members: sp.csr_matrix  # (S, E): 1 where a segment runs along a link
    origin_node: np.ndarray  # [Z] int64: routing node where each zone's trips start
    dest_node: np.ndarray  # [Z] int64: routing node where each zone's trips end
    n_routing_nodes: int
    n_segments: int


def host_graph(arrays: NetworkArrays) -> HostGraph:
    """The :class:`HostGraph` of a network (masked links left out).

    Nodes of no-through zones get a source-only copy (as in ``routing_graph``); then nodes
    that are not zones and only continue a road (one way in and one out, or a two-way road
    with the same two neighbours both ways) are contracted away: a shortest path that
    enters them leaves to the other side, so the chain is one segment. City networks are
    mostly such nodes (58% of Berlin-Center's), and Dijkstra's cost is per node.
    """
    from mobility.core.routing.graph import source_copies  # the caller holds JAX arrays

    links = np.flatnonzero(np.asarray(arrays.link_mask))
    source, n_routing = source_copies(arrays)
    zone_node = np.asarray(arrays.zone_node, dtype=np.int64)
    keep = np.zeros(n_routing, dtype=bool)
    keep[zone_node] = keep[source[zone_node]] = True
    tail, head, members = _contract(
        source[np.asarray(arrays.tail, dtype=np.int64)[links]],
        np.asarray(arrays.head, dtype=np.int64)[links],
        [[int(e)] for e in links],
        keep,
    )
    used = keep.copy()
    used[tail] = used[head] = True
    number = np.cumsum(used) - 1  # routing nodes left, renumbered
    n_routing = int(used.sum())
    tail, head = number[tail], number[head]
    key = tail * n_routing + head
    order = np.argsort(key, kind="stable")
    pair_key, group_start = np.unique(key[order], return_index=True)
    rows = pair_key // n_routing
    counts = [len(m) for m in members]
    matrix = sp.csr_matrix(
        (np.ones(sum(counts)), np.concatenate(members), np.cumsum([0, *counts])),
        shape=(len(members), arrays.n_links),
    )
    return HostGraph(
        indptr=np.searchsorted(rows, np.arange(n_routing + 1)).astype(np.int32),
        indices=(pair_key % n_routing).astype(np.int32),
        pair_key=pair_key,
        link_order=order,
        group_start=group_start,
        parallel=len(pair_key) < len(order),
        members=matrix,
        origin_node=number[source[zone_node]],
        dest_node=number[zone_node],
        n_routing_nodes=n_routing,
        n_segments=len(members),
    )


def _contract(
    tail: np.ndarray, head: np.ndarray, members: list[list[int]], keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Segments after contracting every pass-through node not in ``keep``.

    Written by hand (scipy has no graph contraction): one pass over the nodes with
    adjacency sets; contracting a node leaves its neighbours' degrees as they were, so
    one pass contracts whole chains.
    """
    rows = zip(tail.tolist(), head.tolist(), members, strict=True)
    segments = dict(enumerate(rows))
    into: list[set[int]] = [set() for _ in keep]
    out: list[set[int]] = [set() for _ in keep]
    for i, (t, h, _) in segments.items():
        out[t].add(i)
        into[h].add(i)
    fresh = len(segments)
    for v in np.flatnonzero(~keep):
        ins, outs = into[v], out[v]
        if len(ins) != len(outs) or len(ins) not in (1, 2):
            continue
        come = {segments[i][0]: i for i in ins}
        go = {segments[i][1]: i for i in outs}
        if len(come) != len(ins) or len(go) != len(outs) or v in come or v in go:
            continue  # parallel segments or a loop
        ends = list(come)
        if len(ins) == 1:
            (u,), (w,) = ends, list(go)
            if u == w:
                continue  # a dead end: in from u, back to u
            joins = [(come[u], go[w])]
        else:
            if set(come) != set(go):
                continue  # not the same two neighbours both ways
            u, w = ends
            joins = [(come[u], go[w]), (come[w], go[u])]
        for a, b in joins:
            t, _, first = segments.pop(a)
            _, h, second = segments.pop(b)
            out[t].discard(a)
            into[h].discard(b)
            segments[fresh] = (t, h, first + second)
            out[t].add(fresh)
            into[h].add(fresh)
            fresh += 1
        into[v].clear()
        out[v].clear()
    kept = list(segments.values())
    return (
        np.array([t for t, _, _ in kept], dtype=np.int64),
        np.array([h for _, h, _ in kept], dtype=np.int64),
        [m for _, _, m in kept],
    )


def _pair_costs(g: HostGraph, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost of each pair (its cheapest segment) and that segment."""
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
    segment_cost = g.members @ np.asarray(cost, dtype=np.float64)
    weight, link_of_pair = _pair_costs(g, segment_cost)
    r = g.n_routing_nodes
    # explicit zeros are kept by this constructor, and csgraph takes them as edges
    graph = sp.csr_matrix((weight, g.indices, g.indptr), shape=(r, r))
    dist, pred = dijkstra(graph, indices=g.origin_node[origins], return_predecessors=True)
    flows = _load(g, pred, np.asarray(trips, dtype=np.float64), link_of_pair)
    return g.members.T @ flows, dist[:, g.dest_node]


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
    return np.bincount(link_of_pair, pair_flow, g.n_segments)


class ParallelLoader:
    """All-or-nothing loads with the origins split over worker processes (a context manager).

    scipy's Dijkstra holds the GIL, so threads do not help; on a city network (Berlin-Center:
    1 s per load) worker processes do, each running Dijkstra and the loading for its share
    of the origins and sending back link flows. Workers are fresh interpreters running this
    module (``python -m``) fed by pickles over their pipes: forking would copy JAX's threads,
    and multiprocessing's spawn re-imports the caller's main script. Worth it only where a
    load takes far longer than the ~0.5 s a worker needs to start (``parallel_worth_it``).
    """

    def __init__(self, g: HostGraph, origins: np.ndarray, trips: np.ndarray, workers: int):
        import subprocess
        import sys

        chunks = [c for c in np.array_split(np.arange(len(origins)), workers) if c.size]
        command = [sys.executable, "-m", __name__]
        # the workers import this module as the caller does, whatever put it on sys.path
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._workers = [
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            for _ in chunks
        ]
        for worker, chunk in zip(self._workers, chunks, strict=True):
            pickle.dump((g, origins[chunk], trips[chunk]), worker.stdin, protocol=5)
            worker.stdin.flush()

    def __call__(self, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Link flows ``(E,)`` and path costs ``(O, Z)``, as :func:`host_all_or_nothing`."""
        for worker in self._workers:
            pickle.dump(np.asarray(cost, dtype=np.float64), worker.stdin, protocol=5)
            worker.stdin.flush()
        parts = []
        for worker in self._workers:
            try:
                parts.append(pickle.load(worker.stdout))
            except EOFError:
                msg = f"an all-or-nothing worker process died (exit status {worker.wait()})"
                raise RuntimeError(msg) from None
        return sum(p[0] for p in parts), np.concatenate([p[1] for p in parts])

    def __enter__(self) -> ParallelLoader:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        for worker in self._workers:
            if kind is not None:  # interrupted or failed: stop the workers mid-load
                worker.kill()
            with contextlib.suppress(BrokenPipeError):
                worker.stdin.close()  # else the worker's loop ends at the end of its input
        for worker in self._workers:
            worker.wait()
            worker.stdout.close()


def parallel_worth_it(g: HostGraph, n_origins: int, workers: int) -> bool:
    """Whether to spread the loads over ``workers`` processes: on networks where one load
    from every origin visits at least 2 million (origin, node) pairs (Berlin-Center: 9
    million; Chicago Sketch: 0.35 million, where a load takes 60 ms)."""
    return workers > 1 and n_origins * g.n_routing_nodes >= 2_000_000


def _serve() -> None:
    """A worker of :class:`ParallelLoader`: graph and origins once, then cost in, load out."""
    import sys

    graph, origins, trips = pickle.load(sys.stdin.buffer)
    while True:
        try:
            cost = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        pickle.dump(host_all_or_nothing(graph, cost, origins, trips), sys.stdout.buffer, 5)
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve()
