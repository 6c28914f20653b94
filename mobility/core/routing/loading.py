"""All-or-nothing loading: every trip takes its origin's shortest-path tree.

Written by hand (no JAX library does it). The flow on a tree link is the demand of every
destination below it: each node's "subtree demand". Summed level by level that would take
one pass per tree level (about 45 on Chicago Sketch); pointer jumping takes log2 of that:
at pass ``j`` every node hands its partial sum to its ``2^j``-th ancestor and then jumps
there (the subtree sums of Wyllie's list ranking). Each pass is one gather and one
scatter-add over the ``(node, origin)`` matrix, alike on CPU and GPU. Link flows are then
the subtree demand of each tree link's head, summed over origins.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mobility.core.routing.graph import RoutingGraph
from mobility.core.routing.paths import Trees, trees


def subtree_sums(parent: jax.Array, own: jax.Array) -> jax.Array:
    """Sum of ``own`` ``(R, O)`` over each node's subtree, for trees given by ``parent``.

    ``parent`` ``(R, O)`` holds each node's parent row in its column's tree, R at roots.
    """
    n_rows, n_cols = parent.shape
    column = jnp.arange(n_cols, dtype=parent.dtype)[None, :]
    above_root = jnp.full((1, n_cols), n_rows, dtype=parent.dtype)

    def jump(state: tuple) -> tuple:
        total, ancestor, _ = state
        flat = (ancestor * n_cols + column).ravel()  # row n_rows collects what roots hand up
        handed = jnp.zeros((n_rows + 1) * n_cols, total.dtype).at[flat].add(total.ravel())
        total = total + handed[: n_rows * n_cols].reshape(n_rows, n_cols)
        ancestor = jnp.concatenate([ancestor, above_root]).ravel()[flat].reshape(n_rows, n_cols)
        return total, ancestor, jnp.any(ancestor < n_rows)

    total, _, _ = jax.lax.while_loop(lambda s: s[2], jump, (own, parent, jnp.any(parent < n_rows)))
    return total


def load_trees(graph: RoutingGraph, pred: jax.Array, trips: jax.Array) -> jax.Array:
    """Link flows ``(E,)`` of ``trips`` ``(O, Z)`` sent along trees with predecessors ``pred``.

    ``pred`` is ``(R, O)`` in position order (see :class:`~mobility.core.routing.paths.Trees`).
    Trips to unreachable destinations are dropped: check reachability before loading.
    """
    own = jnp.zeros(pred.shape, dtype=trips.dtype).at[graph.dest_in].add(trips.T)
    below = subtree_sums(graph.link_tail[pred], own)
    flows = jnp.zeros(graph.n_links + 1, dtype=trips.dtype)
    for links in graph.in_link:
        rows = links.shape[0]
        on_tree = pred[:rows] == links[:, None]
        flows = flows.at[links].add(jnp.where(on_tree, below[:rows], 0.0).sum(axis=1))
    return flows[: graph.n_links]


def all_or_nothing(
    graph: RoutingGraph, cost: jax.Array, origins: jax.Array, trips: jax.Array
) -> tuple[jax.Array, Trees]:
    """Link flows ``(E,)`` when ``trips`` ``(O, Z)`` from ``origins`` (zone indices) go by
    their cheapest paths under link ``cost`` ``(E,)``, and the trees they went by."""
    tree = trees(graph, cost, graph.origin_in[origins])
    return load_trees(graph, tree.pred, trips), tree
