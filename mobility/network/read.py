"""Read a SUMO network through sumolib into a networkx graph.

The graph is a ``networkx.MultiDiGraph`` (a DiGraph that keeps parallel roads): nodes are
SUMO junction ids, edges are keyed by SUMO edge id. Internal (junction) edges are left out:
they are SUMO's detail of how a junction is crossed, not roads a planner routes over.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import sumolib

from mobility.errors import NetworkError

if TYPE_CHECKING:
    import networkx as nx


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> sumolib.net.Net:
    try:
        return sumolib.net.readNet(path, withInternal=False, withPrograms=True)
    except Exception as exc:  # sumolib raises SAX, OS and value errors alike
        msg = f"{path}: SUMO network could not be read ({exc}); give a valid .net.xml file"
        raise NetworkError(msg) from exc


def read_net(path: Path | str) -> sumolib.net.Net:
    """The sumolib ``Net`` of a ``.net.xml`` (cached while the file is unchanged)."""
    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"{path}: network file not found; build it or fix the path")
    return _read(str(path.resolve()), path.stat().st_mtime)


def read_graph(path: Path | str) -> nx.MultiDiGraph:
    """The road graph of a SUMO network.

    Node attributes: ``x``, ``y`` (net coordinates, m), ``type`` (SUMO junction type),
    ``tls`` (id of the traffic light at the junction, or None).
    Edge attributes: ``id``, ``length`` (m), ``speed`` (m/s), ``lanes``, ``priority``,
    ``type``, ``name``, ``shape`` (list of (x, y)), ``tls`` (ids of the traffic lights
    controlling the edge's connections; empty tuple if none).
    Graph attributes: ``net_path``, ``crs`` (proj string or None), ``net_offset``.
    """
    import networkx as nx  # imported here: the run path reads nets without needing graphs

    net = read_net(path)
    graph = nx.MultiDiGraph(
        net_path=str(Path(path).resolve()),
        crs=net_crs(net),
        net_offset=tuple(net.getLocationOffset()),
    )
    for node in net.getNodes():
        x, y = node.getCoord()[:2]
        tls = node.getID() if node.getType().startswith("traffic_light") else None
        graph.add_node(node.getID(), x=x, y=y, type=node.getType(), tls=tls)
    for edge in net.getEdges(withInternal=False):
        controlling = sorted(
            {c.getTLSID() for conns in edge.getOutgoing().values() for c in conns if c.getTLSID()}
        )
        graph.add_edge(
            edge.getFromNode().getID(),
            edge.getToNode().getID(),
            key=edge.getID(),
            id=edge.getID(),
            length=edge.getLength(),
            speed=edge.getSpeed(),
            lanes=edge.getLaneNumber(),
            priority=edge.getPriority(),
            type=edge.getType(),
            name=edge.getName(),
            shape=[tuple(p[:2]) for p in edge.getShape()],
            tls=tuple(controlling),
        )
    return graph


def net_crs(net: sumolib.net.Net) -> str | None:
    """The projection of a geo-referenced net (a proj string), or None for plain nets."""
    proj = net._location.get("projParameter", "!")  # sumolib keeps <location> here
    return None if proj in ("!", "") else proj


def network_info(path: Path | str) -> dict[str, object]:
    """Size of a network in the terms a planner asks about."""
    net = read_net(path)
    edges = net.getEdges(withInternal=False)
    (xmin, ymin), (xmax, ymax) = net.getBBoxXY()
    return {
        "file": str(path),
        "junctions": len(net.getNodes()),
        "edges": len(edges),
        "lanes": sum(e.getLaneNumber() for e in edges),
        "road_km": round(sum(e.getLength() for e in edges) / 1000, 3),
        "signals": len(net.getTrafficLights()),
        "extent_m": [round(xmax - xmin, 1), round(ymax - ymin, 1)],
        "geo_referenced": net_crs(net) is not None,
        "crs": net_crs(net),
    }
