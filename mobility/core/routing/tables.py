"""Travel-time tables: the cheapest travel time between zones or nodes, from the JAX trees.

For a dispatcher or a planner who needs "how long from here to there" under the current
link loads (or an empty network): one batched shortest-path run from every origin at once
(:func:`mobility.core.routing.paths.trees`), read out as a dense matrix. Times are BPR link
travel times at the given flows, in the network's units (seconds on SUMO networks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core.arrays import NetworkArrays
from mobility.core.routing.cost import LinkCosts, travel_time
from mobility.core.routing.graph import routing_graph
from mobility.core.routing.paths import _trees


def travel_time_table(
    arrays: NetworkArrays,
    *,
    flow: np.ndarray | None = None,
    between: Literal["zones", "nodes"] = "zones",
    origins: Sequence[int] | np.ndarray | None = None,
    method: Literal["auto", "trees", "dijkstra"] = "auto",
) -> np.ndarray:
    """Cheapest travel times ``(O, Z)`` between zones or ``(O, N)`` between nodes.

    ``flow`` ``(E,)``: link flows the times are taken at (BPR); None: free-flow times.
    ``between``: "zones" (rows and columns are zone indices; zones that may not be passed
    through are honoured) or "nodes" (node indices; every node may be passed through).
    ``origins``: the rows wanted (default: all zones or all nodes). Unreachable: ``inf``.
    ``method``: the batched JAX trees, or (between nodes) a compiled Dijkstra; ``auto``
    takes Dijkstra for node tables on the CPU and the trees elsewhere.
    """
    if between not in ("zones", "nodes"):
        raise ValueError(f"between must be 'zones' or 'nodes', not {between!r}")
    costs = LinkCosts(
        free_flow_time=np.asarray(arrays.free_flow_time, dtype=np.float64),
        capacity=np.asarray(arrays.capacity, dtype=np.float64),
        alpha=np.asarray(arrays.alpha, dtype=np.float64),
        power=np.asarray(arrays.power, dtype=np.float64),
        fixed=np.zeros(arrays.n_links),
    )
    loads = np.zeros(arrays.n_links) if flow is None else np.asarray(flow, dtype=np.float64)
    if loads.shape != (arrays.n_links,):
        raise ValueError(f"flow must have one value per link ({arrays.n_links}), not {loads.shape}")
    times = np.asarray(travel_time(costs, loads))
    if method == "auto":
        cpu = jax.default_backend() == "cpu"
        method = "dijkstra" if between == "nodes" and cpu else "trees"
    if method == "dijkstra":
        if between != "nodes":
            raise ValueError("method 'dijkstra' makes node tables only (between='nodes')")
        return _dijkstra_table(arrays, times, origins)
    if between == "nodes":
        arrays = dataclasses.replace(arrays, through=np.ones(arrays.n_nodes, bool))
    graph = routing_graph(arrays)
    if between == "zones":
        sources, columns = np.asarray(graph.origin_in), np.asarray(graph.dest_in)
    else:
        sources = columns = np.asarray(graph.node_in)
    rows = np.arange(len(sources)) if origins is None else np.asarray(origins, dtype=np.int64)
    with jax.enable_x64(True):
        tree = _trees(graph, jnp.asarray(times, dtype=jnp.float64), jnp.asarray(sources[rows]))
        dist = np.asarray(tree.dist)
    return dist[columns].T


def _dijkstra_table(
    arrays: NetworkArrays, times: np.ndarray, origins: Sequence[int] | np.ndarray | None
) -> np.ndarray:
    """The node table on the CPU: a compiled Dijkstra (scipy's, which JAX itself depends
    on) beats the batched trees there, whose work grows with the number of hops (1.8x on a
    1,500-edge grid, 2.6x on 6,000 edges: ``bench/shuttle_times.py``); the trees stay the
    answer on an accelerator."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    mask = np.asarray(arrays.link_mask)
    tail, head = np.asarray(arrays.tail)[mask], np.asarray(arrays.head)[mask]
    n = arrays.n_nodes
    # parallel links: the cheapest one counts (a sparse matrix would add them up); a stored
    # zero stays a link in scipy's csgraph, so free links need no care
    best: dict[tuple[int, int], float] = {}
    for a, b, t in zip(tail.tolist(), head.tolist(), times[mask].tolist(), strict=True):
        if t < best.get((a, b), np.inf):
            best[(a, b)] = t
    rows, cols = (np.array(x, np.int64) for x in zip(*best, strict=True)) if best else ([], [])
    graph = csr_matrix((list(best.values()), (rows, cols)), shape=(n, n))
    sources = np.arange(n) if origins is None else np.asarray(origins, dtype=np.int64)
    return dijkstra(graph, directed=True, indices=sources)
