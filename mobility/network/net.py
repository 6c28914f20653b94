"""The network of a run, read once: the sumolib net, its signal programs, graph and geometry.

Every part of a run (demand, signals, shuttles, the JAX model's builders, the report) takes
one :class:`Network` instead of a path, so a ``.net.xml`` is parsed once per process and
content: :func:`load_network` keeps the last few networks by the SHA-256 of their bytes.
Parsing is sumolib's (``readNet`` with programs, without internal edges); the traffic-light
programs and the links they control come from sumolib's TLS API, never from a parser of
our own.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mobility.errors import NetworkError

if TYPE_CHECKING:
    import networkx as nx
    import sumolib

CACHE_SIZE = 4  # networks kept in memory (a sweep worker meets few networks)
_cache: OrderedDict[str, Network] = OrderedDict()
_lock = threading.Lock()
parse_count = 0  # how many times a .net.xml was parsed in this process (tests read it)


@dataclass(frozen=True)
class NetSignals:
    """The traffic lights of a net: the first program of each and the links it controls."""

    programs: dict[str, list[tuple[str, float]]]  # tls -> [(state, duration s)]
    links: dict[str, dict[int, tuple[str, str, str]]]  # tls -> link -> (from, to, from lane)


class Network:
    """A parsed SUMO network and what the parts of a run derive from it (each once)."""

    def __init__(self, path: Path, digest: str, net: sumolib.net.Net | None = None) -> None:
        self.path = path
        self.digest = digest  # SHA-256 of the file's bytes
        self._net = net

    @property
    def net(self) -> sumolib.net.Net:
        """The sumolib net, parsed on first use: a run whose parts never look at the network
        (fixed-time signals, cached demand) skips importing sumolib and parsing the file,
        which costs seconds on a city's network."""
        if self._net is None:
            with _lock:
                shared = _cache.get(self.digest)  # a copy of the same file, maybe parsed
                if shared is not None and shared._net is not None:
                    self._net = shared._net
                if self._net is None:
                    self._net = _parse(self.path)
                    if shared is not None:
                        shared._net = self._net
        return self._net

    def check(self) -> Network:
        """This network, parsed (raises :class:`NetworkError` if SUMO's file is invalid)."""
        self.net  # noqa: B018 (the parse is the check)
        return self

    def __repr__(self) -> str:
        return f"Network({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The file name without ``.net.xml`` (or ``.net.xml.gz``)."""
        return self.path.name.split(".net.xml")[0]

    @cached_property
    def signals(self) -> NetSignals:
        """Programs and controlled links of every traffic light (sumolib's TLS API)."""
        programs: dict[str, list[tuple[str, float]]] = {}
        links: dict[str, dict[int, tuple[str, str, str]]] = {}
        for tls in self.net.getTrafficLights():
            tid = tls.getID()
            first = next(iter(tls.getPrograms().values()), None)
            if first is not None:
                programs[tid] = [(p.state, float(p.duration)) for p in first.getPhases()]
            links[tid] = {
                int(index): (lane_in.getEdge().getID(), lane_out.getEdge().getID(), lane_in.getID())
                for lane_in, lane_out, index in tls.getConnections()
            }
        return NetSignals(programs, links)

    @cached_property
    def edge_ids(self) -> frozenset[str]:
        """Ids of the network's (non-internal) edges."""
        return frozenset(e.getID() for e in self.net.getEdges(withInternal=False))

    def has_edge(self, edge: str) -> bool:
        return edge in self.edge_ids

    def shortest_path(self, src: str, dst: str, *, vclass: str | None = None) -> list[str]:
        """Edge ids of the fastest path from ``src`` to ``dst`` on the empty network (as
        SUMO routes a trip without traffic); empty when there is none or an edge is unknown."""
        if src not in self.edge_ids or dst not in self.edge_ids:
            return []
        path, _ = self.net.getShortestPath(
            self.net.getEdge(src), self.net.getEdge(dst), vClass=vclass
        )
        return [e.getID() for e in path or []]

    @cached_property
    def crs(self) -> str | None:
        """The projection of a geo-referenced net (a proj string), or None for plain nets."""
        proj = self.net._location.get("projParameter", "!")  # sumolib keeps <location> here
        return None if proj in ("!", "") else proj

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The road graph: nodes are junction ids, edges keyed by SUMO edge id.

        Node attributes: ``x``, ``y`` (net coordinates, m), ``type`` (SUMO junction type),
        ``tls`` (id of the traffic light at the junction, or None). Edge attributes: ``id``,
        ``length`` (m), ``speed`` (m/s), ``lanes``, ``priority``, ``type``, ``name``,
        ``shape`` (list of (x, y)), ``tls`` (ids of the lights controlling the edge's
        connections). Graph attributes: ``net_path``, ``crs``, ``net_offset``. Internal
        (junction) edges are left out: they are SUMO's detail of how a junction is crossed.
        """
        import networkx as nx  # only routing and the GIS export need graphs

        net = self.net
        graph = nx.MultiDiGraph(
            net_path=str(self.path), crs=self.crs, net_offset=tuple(net.getLocationOffset())
        )
        for node in net.getNodes():
            x, y = node.getCoord()[:2]
            tls = node.getID() if node.getType().startswith("traffic_light") else None
            graph.add_node(node.getID(), x=x, y=y, type=node.getType(), tls=tls)
        for edge in net.getEdges(withInternal=False):
            controlling = sorted(
                {c.getTLSID() for cs in edge.getOutgoing().values() for c in cs if c.getTLSID()}
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

    def info(self) -> dict[str, object]:
        """Size of the network in the terms a planner asks about."""
        edges = self.net.getEdges(withInternal=False)
        (xmin, ymin), (xmax, ymax) = self.net.getBBoxXY()
        return {
            "file": str(self.path),
            "junctions": len(self.net.getNodes()),
            "edges": len(edges),
            "lanes": sum(e.getLaneNumber() for e in edges),
            "road_km": round(sum(e.getLength() for e in edges) / 1000, 3),
            "signals": len(self.net.getTrafficLights()),
            "extent_m": [round(xmax - xmin, 1), round(ymax - ymin, 1)],
            "geo_referenced": self.crs is not None,
            "crs": self.crs,
        }


def load_network(path: Path | str) -> Network:
    """The :class:`Network` of a ``.net.xml`` file, parsed once per content in this process."""
    path = Path(path).resolve()
    if not path.is_file():
        raise NetworkError(f"{path}: network file not found; build it or fix the path")
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        msg = f"{path}: network file cannot be read ({exc.strerror}); check its permissions"
        raise NetworkError(msg) from None
    with _lock:
        if digest in _cache:
            _cache.move_to_end(digest)
            found = _cache[digest]
            return found if found.path == path else Network(path, digest, found._net)
        network = Network(path, digest)
        _cache[digest] = network
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return network


def _parse(path: Path) -> sumolib.net.Net:
    global parse_count
    import sumolib

    parse_count += 1
    try:
        return sumolib.net.readNet(str(path), withInternal=False, withPrograms=True)
    except Exception as exc:  # sumolib raises SAX, OS and value errors alike
        msg = f"{path}: SUMO network could not be read ({exc}); give a valid .net.xml file"
        raise NetworkError(msg) from None


def clear_cache() -> None:
    """Forget every parsed network (tests count parses from a clean start)."""
    with _lock:
        _cache.clear()
