"""JAX-ready arrays of a road network: the input of the routing and assignment models.

A :class:`NetworkArrays` is a frozen pytree of flat link and node arrays (struct of arrays),
so that jitted code can take it as an argument and ``vmap`` over a batch of networks of one
padded size. Links and nodes past the real ones are padding, switched off by the masks.

The arrays hold numpy data as built; jitted functions turn them into device arrays of the
precision in force (float64 only where the caller enabled x64, see
:func:`mobility.routing.precision`). This module imports only jax and numpy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

#: Saturation flow of one lane (veh/h) used to turn SUMO lanes into a BPR capacity. 1800
#: veh/h/lane is the Highway Capacity Manual's base saturation flow rate for a through lane
#: of a signalised approach (1900 pc/h/ln base, about 1800 after the usual adjustments);
#: it is the capacity an assignment needs, not the free-way lane capacity (about 2000+).
SATURATION_FLOW = 1800.0

#: Classic BPR parameters (Bureau of Public Roads, 1964), used where a network gives none.
BPR_ALPHA = 0.15
BPR_POWER = 4.0


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NetworkArrays:
    """A road network as padded arrays; link ``i`` runs from ``tail[i]`` to ``head[i]``.

    Units are those of the source: TNTP networks keep theirs (Sioux Falls times in 0.01 h,
    Chicago Sketch in minutes and miles); SUMO networks use seconds, metres and veh/h.
    Link travel time follows BPR: ``free_flow_time * (1 + alpha * (flow / capacity)**power)``.
    """

    tail: jax.Array  # [E] int32: index of the node a link leaves
    head: jax.Array  # [E] int32: index of the node a link enters
    free_flow_time: jax.Array  # [E] float: travel time on an empty link
    capacity: jax.Array  # [E] float: practical capacity (veh/h), > 0 on real links
    alpha: jax.Array  # [E] float: BPR alpha (TNTP "B")
    power: jax.Array  # [E] float: BPR power
    length: jax.Array  # [E] float: link length
    toll: jax.Array  # [E] float: toll paid to use the link
    link_mask: jax.Array  # [E] bool: True on real links, False on padding
    node_mask: jax.Array  # [N] bool: True on real nodes, False on padding
    through: jax.Array  # [N] bool: paths may pass through the node (False: a zone-only node)
    zone_node: jax.Array  # [Z] int32: node where each zone's trips start and end
    zone_mask: jax.Array  # [Z] bool: True on real zones, False on padding

    @property
    def n_links(self) -> int:
        """Number of link slots (real and padding)."""
        return int(self.tail.shape[-1])

    @property
    def n_nodes(self) -> int:
        """Number of node slots (real and padding)."""
        return int(self.node_mask.shape[-1])

    @property
    def n_zones(self) -> int:
        """Number of zone slots (real and padding)."""
        return int(self.zone_node.shape[-1])


def network_arrays(
    *,
    tail: Sequence[int] | np.ndarray,
    head: Sequence[int] | np.ndarray,
    free_flow_time: Sequence[float] | np.ndarray,
    capacity: Sequence[float] | np.ndarray,
    n_nodes: int,
    zone_node: Sequence[int] | np.ndarray,
    alpha: float | Sequence[float] | np.ndarray = BPR_ALPHA,
    power: float | Sequence[float] | np.ndarray = BPR_POWER,
    length: float | Sequence[float] | np.ndarray = 0.0,
    toll: float | Sequence[float] | np.ndarray = 0.0,
    through: bool | Sequence[bool] | np.ndarray = True,
) -> NetworkArrays:
    """Unpadded :class:`NetworkArrays` from plain sequences (numpy data, float64).

    Internal consistency (indices in range, positive capacity) is checked here; the
    builders that read user files check first, so that their messages can name the file.
    """
    tail_a = np.asarray(tail, dtype=np.int32)
    n_links = tail_a.shape[0]

    def link_values(values: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(values, dtype=np.float64), (n_links,)).copy()

    arrays = NetworkArrays(
        tail=tail_a,
        head=np.asarray(head, dtype=np.int32),
        free_flow_time=link_values(free_flow_time),
        capacity=link_values(capacity),
        alpha=link_values(alpha),
        power=link_values(power),
        length=link_values(length),
        toll=link_values(toll),
        link_mask=np.ones(n_links, dtype=bool),
        node_mask=np.ones(n_nodes, dtype=bool),
        through=np.broadcast_to(np.asarray(through, dtype=bool), (n_nodes,)).copy(),
        zone_node=np.asarray(zone_node, dtype=np.int32),
        zone_mask=np.ones(len(zone_node), dtype=bool),
    )
    _check(arrays)
    return arrays


def _check(arrays: NetworkArrays) -> None:
    """Internal consistency of freshly built arrays (a builder's bug, not user input)."""
    n_nodes = arrays.n_nodes
    for name in ("tail", "head"):
        index = getattr(arrays, name)
        if index.size and (index.min() < 0 or index.max() >= n_nodes):
            raise ValueError(f"NetworkArrays.{name} holds a node index outside 0..{n_nodes - 1}")
    if arrays.zone_node.size and (arrays.zone_node.min() < 0 or arrays.zone_node.max() >= n_nodes):
        raise ValueError("NetworkArrays.zone_node holds a node index out of range")
    if np.any(arrays.capacity <= 0) or np.any(arrays.free_flow_time < 0):
        raise ValueError("NetworkArrays needs capacity > 0 and free_flow_time >= 0")


def pad(
    arrays: NetworkArrays,
    *,
    n_nodes: int | None = None,
    n_links: int | None = None,
    n_zones: int | None = None,
) -> NetworkArrays:
    """The same network padded to larger sizes, so that networks of one size share a trace.

    Padding links join node 0 to itself with capacity 1 and are masked out; padding nodes and
    zones are masked out too. Routing ignores everything a mask switches off.
    """
    n_nodes = arrays.n_nodes if n_nodes is None else n_nodes
    n_links = arrays.n_links if n_links is None else n_links
    n_zones = arrays.n_zones if n_zones is None else n_zones
    if n_nodes < arrays.n_nodes or n_links < arrays.n_links or n_zones < arrays.n_zones:
        raise ValueError("pad() cannot shrink a network")

    def grow(values: np.ndarray, size: int, fill: Any) -> np.ndarray:
        values = np.asarray(values)
        extra = np.full(size - values.shape[0], fill, dtype=values.dtype)
        return np.concatenate([values, extra])

    link_fill = {"capacity": 1.0, "power": 1.0, "link_mask": False}
    node_fill = {"node_mask": False, "through": True}
    zone_fill = {"zone_mask": False}
    fields = {}
    for field in dataclasses.fields(NetworkArrays):
        values = getattr(arrays, field.name)
        if field.name in node_fill:
            fields[field.name] = grow(values, n_nodes, node_fill[field.name])
        elif field.name in ("zone_node", "zone_mask"):
            fields[field.name] = grow(values, n_zones, zone_fill.get(field.name, 0))
        else:
            fields[field.name] = grow(values, n_links, link_fill.get(field.name, 0))
    return NetworkArrays(**fields)
