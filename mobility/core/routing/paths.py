"""Batched shortest-path trees in JAX: travel costs and predecessor links from many origins.

Written by hand: no JAX library computes shortest paths. The algorithm is Bellman-Ford in
its "pull" form over the in-slots of a :class:`~mobility.core.routing.graph.RoutingGraph`: each
sweep lowers every node's distance to every origin to the best of its in-links at once, and
sweeps repeat until nothing changes (one per link of the deepest tree, about 45 on Chicago
Sketch). Against Dijkstra's heap that is more arithmetic, but every operation is a dense
gather-add-min over rows of a ``(node, origin)`` matrix: no data-dependent control flow,
one compiled loop for all origins, and the same code fills a CPU's vector units or a GPU.
The origins are a column axis rather than a ``vmap`` axis on purpose: ``vmap`` would put
them first and turn each row gather into scattered element gathers (4-6x slower on CPU,
measured on Chicago Sketch). Sweeps run a few at a time between convergence checks, as the
check and the loop step cost about as much as a sweep on CPU.

Tried and dropped: Gauss-Seidel sweeps in a fixed node order (15-25 sweeps instead of 45 on
Chicago Sketch, but slower per sweep) and restarting from the previous trees' path costs in
an equilibrium loop (35-40 sweeps instead of 45: a change near an origin still has to run
down its whole tree).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core.arrays import NetworkArrays
from mobility.core.routing.graph import RoutingGraph, routing_graph

SWEEPS_PER_CHECK = 4


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Trees:
    """Shortest-path trees from O origins over R routing nodes, rows in position order."""

    dist: jax.Array  # [R, O] float: cost of the best path from each origin (inf if unreachable)
    pred: jax.Array  # [R, O] int32: link entering the node on its best path; n_links for none
    sweeps: jax.Array  # [] int32: Bellman-Ford sweeps run


def relax(graph: RoutingGraph, cost: jax.Array, dist: jax.Array) -> jax.Array:
    """One Bellman-Ford sweep: every node takes the best of its in-links (Jacobi style)."""
    best = dist
    for tails, links in zip(graph.in_tail, graph.in_link, strict=True):
        rows = tails.shape[0]
        best = best.at[:rows].min(dist[tails] + cost[links][:, None])
    return best


def bellman_ford(
    graph: RoutingGraph, cost: jax.Array, sources: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Distances ``(R, O)`` from the positions ``sources`` ``(O,)``, and the sweeps run.

    Costs must be non-negative (no negative cycles): then at most R sweeps are needed.
    """
    n_rows, n_sources = graph.n_routing_nodes, sources.shape[0]
    dist = jnp.full((n_rows, n_sources), jnp.inf, dtype=cost.dtype)
    dist = dist.at[sources, jnp.arange(n_sources)].set(0.0)

    def sweeps(state: tuple) -> tuple:
        dist, count, _ = state
        new = dist
        for _ in range(SWEEPS_PER_CHECK):
            new = relax(graph, cost, new)
        return new, count + SWEEPS_PER_CHECK, jnp.any(new < dist)

    def unfinished(state: tuple) -> jax.Array:
        return state[2] & (state[1] <= n_rows)

    dist, count, _ = jax.lax.while_loop(unfinished, sweeps, (dist, jnp.int32(0), jnp.bool_(True)))
    return dist, count


def predecessors(
    graph: RoutingGraph, cost: jax.Array, dist: jax.Array, sources: jax.Array
) -> jax.Array:
    """The in-link of each node's best path (``n_links`` at origins and unreachable nodes).

    A node takes an in-link that attains its distance from a strictly nearer tail, or, where
    only ties are left (zero-cost links), from a tail that had its path in an earlier round.
    Either way the tail comes first, so the links form trees; without ties one round does.
    """
    none = graph.n_links
    is_source = jnp.zeros(dist.shape, bool).at[sources, jnp.arange(dist.shape[1])].set(True)
    tight, nearer = [], []
    for tails, links in zip(graph.in_tail, graph.in_link, strict=True):
        rows = tails.shape[0]
        cand = dist[tails] + cost[links][:, None]
        tight.append((cand == dist[:rows]) & jnp.isfinite(cand) & ~is_source[:rows])
        nearer.append(tight[-1] & (dist[tails] < dist[:rows]))

    def round_(state: tuple) -> tuple:
        pred, _ = state
        rooted = is_source | (pred != none)
        new = pred
        for slot, (tails, links) in enumerate(zip(graph.in_tail, graph.in_link, strict=True)):
            rows = links.shape[0]
            take = (nearer[slot] | (tight[slot] & rooted[tails])) & (new[:rows] == none)
            new = new.at[:rows].set(jnp.where(take, links[:, None], new[:rows]))
        missing = jnp.isfinite(dist) & ~is_source & (new == none)
        return new, jnp.any(missing) & jnp.any(new != pred)

    pred = jnp.full(dist.shape, none, dtype=jnp.int32)
    pred, _ = jax.lax.while_loop(lambda s: s[1], round_, (pred, jnp.bool_(True)))
    return pred


def trees(graph: RoutingGraph, cost: jax.Array, sources: jax.Array) -> Trees:
    """Shortest-path trees from ``sources`` (positions) under link ``cost`` ``(E,)``."""
    dist, sweeps = bellman_ford(graph, cost, sources)
    return Trees(dist=dist, pred=predecessors(graph, cost, dist, sources), sweeps=sweeps)


def shortest_paths(
    arrays: NetworkArrays, cost: np.ndarray, origins: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Costs ``(O, N)`` and predecessor links ``(O, N)`` (-1: none) from node indices ``origins``.

    A host-side convenience over :func:`trees` (float64) that ignores ``arrays.through``:
    every node may be passed through here (zone routing honours it, see ``routing_graph``).
    """
    graph = routing_graph(dataclasses.replace(arrays, through=np.ones(arrays.n_nodes, bool)))
    with jax.enable_x64(True):
        result = _trees(graph, jnp.asarray(cost, dtype=jnp.float64), graph.node_in[origins])
        dist = np.asarray(result.dist)[graph.node_in].T
        pred = np.asarray(result.pred)[graph.node_in].T
    return dist, np.where(pred == graph.n_links, -1, pred)


_trees = jax.jit(trees)
