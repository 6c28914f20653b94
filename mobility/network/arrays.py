"""The JAX core's :class:`~mobility.core.arrays.NetworkArrays` of a SUMO road graph."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from mobility.core.arrays import (
    BPR_ALPHA,
    BPR_POWER,
    SATURATION_FLOW,
    NetworkArrays,
    network_arrays,
)
from mobility.errors import NetworkError


def from_graph(
    graph: Any,
    *,
    zones: Sequence[Hashable] | None = None,
    saturation_flow: float = SATURATION_FLOW,
    alpha: float = BPR_ALPHA,
    power: float = BPR_POWER,
) -> NetworkArrays:
    """:class:`NetworkArrays` of a SUMO road graph (:attr:`mobility.network.net.Network.graph`).

    Node ``j`` is the ``j``-th of ``graph.nodes``; link ``i`` is the ``i``-th of
    ``graph.edges(keys=True)`` (see :func:`graph_link_ids`). Free-flow time is
    ``length / speed`` in seconds; capacity is ``lanes * saturation_flow`` veh/h (see
    :data:`SATURATION_FLOW`); length is in metres; there are no tolls. ``zones`` lists the
    junctions that trips start and end at (default: every junction); all junctions may be
    passed through.
    """
    node_ids = list(graph.nodes)
    index = {node: i for i, node in enumerate(node_ids)}
    tails, heads, fft, capacity, length = [], [], [], [], []
    source = graph.graph.get("net_path", "the SUMO network")
    for u, v, key, data in graph.edges(keys=True, data=True):
        speed, lanes = float(data.get("speed", 0.0)), int(data.get("lanes", 0))
        if speed <= 0 or lanes < 1:
            msg = (
                f"{source}: edge {data.get('id', key)!r} has speed {speed} m/s and {lanes} "
                "lanes; routing needs speed > 0 and at least one lane (fix the edge in the net)"
            )
            raise NetworkError(msg)
        tails.append(index[u])
        heads.append(index[v])
        length.append(float(data["length"]))
        fft.append(float(data["length"]) / speed)
        capacity.append(lanes * saturation_flow)
    zone_ids = node_ids if zones is None else list(zones)
    missing = [z for z in zone_ids if z not in index]
    if missing:
        msg = f"{source}: zones {missing[:5]} are not junctions of the network; use junction ids"
        raise NetworkError(msg)
    return network_arrays(
        tail=tails,
        head=heads,
        free_flow_time=fft,
        capacity=capacity,
        length=length,
        alpha=alpha,
        power=power,
        n_nodes=len(node_ids),
        zone_node=[index[z] for z in zone_ids],
    )


def graph_link_ids(graph: Any) -> list[str]:
    """SUMO edge ids in the link order of :func:`from_graph`."""
    return [str(data.get("id", key)) for _, _, key, data in graph.edges(keys=True, data=True)]
