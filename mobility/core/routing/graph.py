"""The static index structure that shortest paths and loading run over.

Built once per network on the host (numpy), then passed into jitted code as a pytree.

Why this layout. Trees from many origins are computed together as a ``(node, origin)``
matrix, one row per node. Relaxing the in-links of a node then gathers whole rows (the
tails' distances to every origin) — contiguous vectors that CPUs and GPUs stream at full
speed, unlike one scattered element per (node, origin). Rows are stored in decreasing
in-degree order, so that "the k-th in-link of every node that has one" is a prefix of the
rows: each in-slot ``k`` is one gather of ``counts[k]`` rows and one ``min`` into the first
``counts[k]`` rows, with no padding and no scatter.

Zones below TNTP's ``<FIRST THRU NODE>`` (``through`` False) must not be passed through. Each
such node gets a second, source-only copy that carries its out-links: paths from the zone
leave through the copy, paths into the zone end at the original node, and no path can enter
the node and leave it again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from mobility.core.arrays import NetworkArrays


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RoutingGraph:
    """In-slot tables of a network; ``R`` = routing nodes (nodes + source copies).

    A position is a row number in the in-degree order; slot ``k`` covers rows ``0..counts[k]-1``.
    """

    in_tail: tuple[Any, ...]  # K x (counts[k],) int32: position of the k-th in-link's tail
    in_link: tuple[Any, ...]  # K x (counts[k],) int32: link index of the k-th in-link
    link_tail: jax.Array  # [E + 1] int32: position of each link's tail; R for padding and "no link"
    node_in: jax.Array  # [N] int32: position of each network node
    origin_in: jax.Array  # [Z] int32: position where each zone's trips start
    dest_in: jax.Array  # [Z] int32: position where each zone's trips end
    n_routing_nodes: int = dataclasses.field(metadata={"static": True})
    n_links: int = dataclasses.field(metadata={"static": True})


def source_copies(arrays: NetworkArrays) -> tuple[np.ndarray, int]:
    """([node] the routing node its out-links leave from, routing node count): a node no
    path may pass through (a zone centroid) gets a source-only copy after the real nodes,
    so that a path can start there but never enter and leave again."""
    n_nodes = arrays.n_nodes
    blocked = ~np.asarray(arrays.through, dtype=bool)
    source = np.arange(n_nodes)
    source[blocked] = n_nodes + np.arange(int(blocked.sum()))
    return source, n_nodes + int(blocked.sum())


def routing_graph(arrays: NetworkArrays) -> RoutingGraph:
    """The :class:`RoutingGraph` of a network (host-side; masked links and nodes left out)."""
    tail = np.asarray(arrays.tail, dtype=np.int64)
    head = np.asarray(arrays.head, dtype=np.int64)
    links = np.flatnonzero(np.asarray(arrays.link_mask))
    n_nodes = arrays.n_nodes
    source, n_routing = source_copies(arrays)

    link_tail = source[tail[links]]  # out-links of a no-through node leave from its copy
    link_head = head[links]
    in_pos, in_tail_pos, in_link = _slots(link_head, link_tail, links, n_routing)
    tail_of_link = np.full(arrays.n_links + 1, n_routing, dtype=np.int64)
    tail_of_link[links] = in_pos[link_tail]
    zone_node = np.asarray(arrays.zone_node, dtype=np.int64)

    def i32(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.int32)

    return RoutingGraph(
        in_tail=tuple(i32(in_pos[t]) for t in in_tail_pos),
        in_link=tuple(i32(e) for e in in_link),
        link_tail=i32(tail_of_link),
        node_in=i32(in_pos[:n_nodes]),
        origin_in=i32(in_pos[source[zone_node]]),
        dest_in=i32(in_pos[zone_node]),
        n_routing_nodes=n_routing,
        n_links=arrays.n_links,
    )


def _slots(
    node: np.ndarray, other: np.ndarray, links: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Group links by ``node`` into degree-ordered slots.

    Returns the position of every node (rows sorted by decreasing degree, ties by index),
    and for each slot ``k`` the ``other`` end and link index of the k-th link of the first
    ``counts[k]`` rows, in row order.
    """
    degree = np.bincount(node, minlength=n_nodes)
    order = np.argsort(-degree, kind="stable")
    position = np.empty(n_nodes, dtype=np.int64)
    position[order] = np.arange(n_nodes)
    by_row = np.lexsort((links, position[node]))  # links of row 0, then row 1, ...
    row = position[node[by_row]]
    first = np.searchsorted(row, np.arange(n_nodes))
    rank = np.arange(len(by_row)) - first[row]  # k: the link's slot within its row
    others, slot_links = [], []
    for k in range(int(degree.max(initial=0))):
        pick = by_row[rank == k]  # already in row order, rows 0..counts[k]-1
        others.append(other[pick])
        slot_links.append(links[pick])
    return position, others, slot_links
