"""The network as the shuttles see it: edges a vehicle class may use, and edge-to-edge times.

Read from the run's :class:`~mobility.network.net.Network` (edges, lanes, permissions,
connections). Travel times between edges come from the core's batched shortest paths
(:func:`mobility.core.routing.travel_time_table`) on the *edge* graph (a node per edge, an arc per
connection weighted by the next edge's traversal time), so a time from edge ``a`` to edge
``b`` means: from the end of ``a`` to the end of ``b``, as a shuttle that stands on ``a``
and drops a rider on ``b`` experiences it. Times use free-flow speeds unless refreshed with
current edge speeds (:meth:`NetGraph.times`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from mobility.core.arrays import network_arrays
from mobility.errors import SpecError
from mobility.network.net import Network

SUMO_CLASSES = [
    "passenger",
    "private",
    "taxi",
    "bus",
    "coach",
    "delivery",
    "truck",
    "trailer",
    "emergency",
    "authority",
    "army",
    "vip",
    "motorcycle",
    "moped",
    "bicycle",
    "evehicle",
    "tram",
    "rail_urban",
    "rail",
    "rail_electric",
    "rail_fast",
    "ship",
    "custom1",
    "custom2",
    "pedestrian",
    "hov",
]


class NetGraph:
    """Edges of a SUMO net with lengths, speeds and permissions, plus shortest times."""

    def __init__(self, network: Network) -> None:
        self.net = network.net
        self.network = network
        self.edges = [e.getID() for e in self.net.getEdges() if e.getFunction() != "internal"]
        self.index = {e: i for i, e in enumerate(self.edges)}
        self.length = np.array([self.net.getEdge(e).getLength() for e in self.edges])
        self.speed = np.array([self.net.getEdge(e).getSpeed() for e in self.edges])
        self._times: dict[tuple[str, bytes, bool], np.ndarray] = {}
        self._signal_waits: dict[str, np.ndarray] = {}
        self._edge_graph: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- checks with errors naming the field ---------------------------------------------

    def check_vclass(self, vclass: str, where: str) -> None:
        if vclass not in SUMO_CLASSES:
            msg = f"field `{where}`: unknown SUMO vehicle class {vclass!r}; use e.g. taxi, bus"
            raise SpecError(msg)

    def has_edge(self, edge: str) -> bool:
        return edge in self.index

    def usable(self, edge: str, vclass: str) -> bool:
        return edge in self.index and self.net.getEdge(edge).allows(vclass)

    def check_edge(self, edge: str, vclass: str, where: str, *, what: str = "stop") -> float:
        """The edge's length; a SpecError if it is not in the net or closed to ``vclass``."""
        if edge not in self.index:
            near = [e for e in self.edges if e[:2] == edge[:2]][:5]
            hint = f" (edges like {', '.join(near)})" if near else ""
            msg = (
                f"field `{where}`: the {what} is on edge {edge!r}, which is not in the "
                f"network{hint}; use an edge of the network"
            )
            raise SpecError(msg)
        if not self.net.getEdge(edge).allows(vclass):
            msg = (
                f"field `{where}`: edge {edge!r} is closed to vehicle class {vclass!r}; "
                "choose an edge the shuttle may use or change vehicle.vehicle_class"
            )
            raise SpecError(msg)
        return float(self.net.getEdge(edge).getLength())

    def edge_length(self, edge: str) -> float:
        return float(self.length[self.index[edge]])

    def lane_for(self, edge: str, vclass: str) -> str:
        """The rightmost lane of ``edge`` open to ``vclass`` (where a stop goes)."""
        for lane in self.net.getEdge(edge).getLanes():
            if lane.allows(vclass):
                return lane.getID()
        return self.net.getEdge(edge).getLanes()[0].getID()

    def route_via(self, stops: list[str], vclass: str, where: str) -> list[str]:
        """Shortest route through the stop edges in order; a SpecError where one is cut off."""
        route = [stops[0]]
        for i, (a, b) in enumerate(itertools.pairwise(stops)):
            if a == b:
                continue
            path, _ = self.net.getShortestPath(
                self.net.getEdge(a), self.net.getEdge(b), vClass=vclass
            )
            if path is None:
                msg = (
                    f"field `{where}.stops`: stop {i + 1} (edge {b!r}) cannot be reached from "
                    f"stop {i} (edge {a!r}) by {vclass!r}; reorder the stops or give a route"
                )
                raise SpecError(msg)
            route.extend(e.getID() for e in path[1:])
        return route

    def check_route(self, route: list[str], stops: list[str], vclass: str, where: str) -> None:
        """The route must be connected and pass the stops in order."""
        for i, (a, b) in enumerate(itertools.pairwise(route)):
            outgoing = {e.getID() for e in self.net.getEdge(a).getAllowedOutgoing(vclass)}
            if b not in outgoing:
                msg = (
                    f"field `{where}.route.{i + 1}`: edge {b!r} does not follow {a!r}; give "
                    "connected edges or leave `route` out"
                )
                raise SpecError(msg)
        k = 0
        for i, stop in enumerate(stops):
            try:
                k = route.index(stop, k)
            except ValueError:
                msg = (
                    f"field `{where}.stops.{i}`: the route does not pass edge {stop!r} after "
                    "the previous stop; put the stops in route order"
                )
                raise SpecError(msg) from None

    def edges_in(self, polygon: list[tuple[float, float]], *, lonlat: bool, where: str) -> set[str]:
        """Edges whose whole shape lies inside ``polygon`` (net x/y, or lon/lat converted)."""
        from shapely import LineString, Polygon, covers, prepare

        if lonlat:
            if not self.net.hasGeoProj():
                msg = (
                    f"field `{where}.coords`: the network has no geo-reference, so lon/lat "
                    "cannot be placed on it; give the polygon in the net's x/y (coords: xy)"
                )
                raise SpecError(msg)
            polygon = [self.net.convertLonLat2XY(lon, lat) for lon, lat in polygon]
        area = Polygon(polygon)
        if not area.is_valid:
            msg = (
                f"field `{where}.polygon`: the polygon crosses itself; list its corners in "
                "order around the area"
            )
            raise SpecError(msg)
        prepare(area)
        inside = {e for e in self.edges if covers(area, LineString(self.net.getEdge(e).getShape()))}
        if not inside:
            (x0, y0), (x1, y1) = self.net.getBBoxXY()
            msg = (
                f"field `{where}.polygon`: no edge of the network lies inside it (the network "
                f"spans x {x0:.0f}..{x1:.0f}, y {y0:.0f}..{y1:.0f}"
                + (" in net metres" if not lonlat else "")
                + "); check the coordinates and `coords` (xy or lonlat)"
            )
            raise SpecError(msg)
        return inside

    # -- travel times ------------------------------------------------------------------

    def times(
        self, vclass: str, speeds: np.ndarray | None = None, *, signal_waits: bool = False
    ) -> np.ndarray:
        """[edge, edge] seconds from the end of one edge to the end of another (inf: none),
        from the core's batched shortest paths (:mod:`mobility.core.routing`); with
        ``signal_waits``, each turn through a traffic light adds its expected red wait
        (:meth:`signal_waits`)."""
        from mobility.core.routing import travel_time_table

        speed = self.speed if speeds is None else np.maximum(speeds, 0.5)
        key = (vclass, speed.tobytes(), signal_waits)
        if key not in self._times:
            tail, head = self._turns(vclass)
            waits = self.signal_waits(vclass) if signal_waits else 0.0
            arrays = network_arrays(
                tail=tail,
                head=head,
                free_flow_time=(self.length / speed)[head] + waits + 1e-6,
                capacity=np.ones(len(tail)),
                alpha=0.0,
                n_nodes=len(self.edges),
                zone_node=[],  # no zones: the table is between nodes (edges)
            )
            table = travel_time_table(arrays, between="nodes")
            np.fill_diagonal(table, 0.0)
            # the last two tables: current speeds and learned ones are asked for each round
            self._times = {**dict(list(self._times.items())[-1:]), key: table}
        return self._times[key]

    def _turns(self, vclass: str) -> tuple[np.ndarray, np.ndarray]:
        """(from edge, to edge) index of every turn ``vclass`` may take: the links of the
        edge graph (a node per edge), cached per class."""
        if vclass not in self._edge_graph:
            pairs = [
                (i, self.index[nxt.getID()])
                for i, e in enumerate(self.edges)
                if self.net.getEdge(e).allows(vclass)
                for nxt in self.net.getEdge(e).getAllowedOutgoing(vclass)
                if nxt.getID() in self.index
            ]
            tail, head = np.array(pairs, np.int32).reshape(-1, 2).T
            self._edge_graph[vclass] = (tail, head)
        return self._edge_graph[vclass]

    def signal_waits(self, vclass: str) -> np.ndarray:
        """[turn] s: a turn's expected wait at its traffic light for a vehicle arriving at
        a random time, from the net's own program (the twin's view): each red (and yellow)
        spell of length r in a cycle C costs r^2 / (2 C); the best lane of the turn counts.
        Zero for turns without a light. Programs a controller changes at run time are not
        seen; the learned edge speeds carry those waits."""
        if vclass not in self._signal_waits:
            signals = self.network.signals
            best: dict[tuple[str, str], float] = {}
            for tls, links in signals.links.items():
                phases = signals.programs.get(tls)
                if not phases:
                    continue
                for link, (a, b, _lane) in links.items():
                    wait = _red_wait(phases, link)
                    best[(a, b)] = min(best.get((a, b), math.inf), wait)
            tail, head = self._turns(vclass)
            self._signal_waits[vclass] = np.array(
                [
                    best.get((self.edges[t], self.edges[h]), 0.0)
                    for t, h in zip(tail, head, strict=True)
                ]
            )
        return self._signal_waits[vclass]

    def current_speeds(self, measured: np.ndarray, max_speed: float) -> np.ndarray:
        """Edge speeds for travel times now: the last step's mean speed where vehicles drove
        (the speed limit on empty or standing edges), at most the shuttle's ``max_speed``."""
        ok = np.isfinite(measured) & (measured > 0.5)
        return np.minimum(np.where(ok, measured, self.speed), max_speed)

    def mid_time(self, times: np.ndarray, speeds: np.ndarray, a: str, b: str) -> float:
        """Seconds from the middle of edge ``a`` to the middle of ``b`` (where riders board
        and leave) on a table of :meth:`times` made with ``speeds``."""
        i, j = self.index[a], self.index[b]
        half = (self.length[i] / speeds[i] - self.length[j] / speeds[j]) / 2
        return float(times[i, j] + half)

    def path_time(
        self, a: str, b: str, vclass: str, *, mid_edges: bool = False
    ) -> tuple[float, float]:
        """Free-flow seconds and metres of the shortest path from the end of edge ``a`` to the
        end of ``b`` (with ``mid_edges``: middle to middle, where riders board and leave)."""
        if a not in self.index or b not in self.index:
            return math.inf, math.inf
        i, j = self.index[a], self.index[b]
        t = float(self.times(vclass)[i, j])
        half = 0.0
        if mid_edges:
            t += float((self.length[i] / self.speed[i] - self.length[j] / self.speed[j]) / 2)
            half = float(self.length[i] - self.length[j]) / 2
        path, _ = self.net.getShortestPath(self.net.getEdge(a), self.net.getEdge(b), vClass=vclass)
        length = sum(e.getLength() for e in path[1:]) + half if path else math.inf
        return t, float(length)


def _red_wait(phases: list[tuple[str, float]], link: int) -> float:
    """Expected wait (s) of a random arrival at ``link``: sum of r^2 / (2 C) over its red
    spells (consecutive phases, wrapping round the cycle, where it may not go)."""
    cycle = sum(d for _, d in phases)
    if cycle <= 0:
        return 0.0
    red = [link < len(state) and state[link] not in "GgOo" for state, _ in phases]
    if all(red):
        return cycle / 2
    start = red.index(False)  # begin at a green so spells do not wrap
    spells, run = [], 0.0
    for k in range(len(phases)):
        i = (start + k) % len(phases)
        if red[i]:
            run += phases[i][1]
        elif run:
            spells.append(run)
            run = 0.0
    spells.append(run)
    return sum(r * r for r in spells) / (2 * cycle)
