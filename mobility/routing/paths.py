"""Batched shortest-path trees in JAX: travel costs and predecessor links from many origins.

Written by hand: no JAX library computes shortest paths. The algorithm is Bellman-Ford in
its "pull" form over the in-slots of a :class:`~mobility.routing.graph.RoutingGraph`: each
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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mobility.network.arrays import NetworkArrays
from mobility.routing.graph import RoutingGraph, routing_graph

SWEEPS_PER_CHECK = 4


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Trees:
    """Shortest-path trees from O origins over R routing nodes, rows in position order."""

    dist: Any  # (R, O) float: cost of the best path from each origin (inf if unreachable)
    pred: Any  # (R, O) int32: link entering the node on its best path; n_links for none
    sweeps: Any  # () int32: Bellman-Ford sweeps run


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

    A node takes an in-link that attains its distance from a strictly nearer tail. Where only
    ties are left (zero-cost links), it takes a tight in-link from a node that already has
    its path, round after round. Either way the tails come first, so the links form trees.
    """
    none = graph.n_links
    n_sources = dist.shape[1]
    is_source = jnp.zeros(dist.shape, bool).at[sources, jnp.arange(n_sources)].set(True)
    pred = jnp.full(dist.shape, none, dtype=jnp.int32)
    tight, nearer = [], []
    for tails, links in zip(graph.in_tail, graph.in_link, strict=True):
        rows = tails.shape[0]
        cand = dist[tails] + cost[links][:, None]
        tight.append((cand == dist[:rows]) & jnp.isfinite(cand))
        nearer.append(dist[tails] < dist[:rows])

    def attach(pred: jax.Array, allowed: list[jax.Array]) -> jax.Array:
        for slot, links in enumerate(graph.in_link):
            rows = links.shape[0]
            take = allowed[slot] & (pred[:rows] == none) & ~is_source[:rows]
            pred = pred.at[:rows].set(jnp.where(take, links[:, None], pred[:rows]))
        return pred

    pred = attach(pred, [t & n for t, n in zip(tight, nearer, strict=True)])

    def missing(pred: jax.Array) -> jax.Array:
        return jnp.isfinite(dist) & ~is_source & (pred == none)

    def tie_round(state: tuple) -> tuple:
        pred, _ = state
        rooted = is_source | (pred != none)
        allowed = [t & rooted[tails] for t, tails in zip(tight, graph.in_tail, strict=True)]
        new = attach(pred, allowed)
        return new, jnp.any(missing(new)) & jnp.any(new != pred)

    pred, _ = jax.lax.while_loop(lambda s: s[1], tie_round, (pred, jnp.any(missing(pred))))
    return pred


def trees(graph: RoutingGraph, cost: jax.Array, sources: jax.Array) -> Trees:
    """Shortest-path trees from ``sources`` (positions) under link ``cost`` ``(E,)``."""
    dist, sweeps = bellman_ford(graph, cost, sources)
    return Trees(dist=dist, pred=predecessors(graph, cost, dist, sources), sweeps=sweeps)


def shortest_paths(
    arrays: NetworkArrays, cost: np.ndarray, origins: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Costs ``(O, N)`` and predecessor links ``(O, N)`` (-1: none) from node indices ``origins``.

    A host-side convenience over :func:`trees` (float64); nodes that may not be passed
    through are honoured only as origins given by zone, so here every node is a plain node.
    """
    graph = routing_graph(dataclasses.replace(arrays, through=np.ones(arrays.n_nodes, bool)))
    with jax.enable_x64(True):
        result = _trees(graph, jnp.asarray(cost, dtype=jnp.float64), graph.node_in[origins])
        dist = np.asarray(result.dist)[graph.node_in].T
        pred = np.asarray(result.pred)[graph.node_in].T
    return dist, np.where(pred == graph.n_links, -1, pred)


_trees = jax.jit(trees)
