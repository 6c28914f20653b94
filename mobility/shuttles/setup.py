"""The shuttles part of a run: ``shuttles:`` and ``riders:`` as SUMO files and a dispatcher.

:func:`prepare_shuttles` checks the fleets against the network (edges exist, the shuttle's
vehicle class may use them, stops connected in order, depots on the net) and writes
``shuttles.rou.xml`` (vTypes, line vehicles, taxis, rider persons, sorted by departure) and
``shuttles.add.xml`` (busStops). :meth:`ShuttlesPart.attach` starts the fleet monitor (and
our dispatcher for ``dispatcher: mobility``) on the running engine; :meth:`ShuttlesPart.finish`
turns the outputs into ``requests.parquet``, ``fleet.parquet`` and shuttle KPIs.

Outputs: SUMO 1.28's Parquet tripinfo writer needs homogeneous rows. It fails when persons
are in the simulation (personinfo rows) and when taxis are (their ``<taxi>`` element shifts
the emission columns). So with shuttles, riders go to a separate ``--personinfo-output``,
stops to ``--stop-output``, and vehicles' tripinfo to XML, which :meth:`ShuttlesPart.finish`
converts into the Parquet layout SUMO would have written (``tripinfo_*``, ``emissions_*``,
``taxi_*`` columns) before the run's tables are made; the raw XML files are deleted.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

import numpy as np

from mobility.config import ScenarioSpec
from mobility.errors import SpecError
from mobility.network.net import Network
from mobility.shuttles.spec import LineService, OnDemandService, RidersSpec, ServiceArea, taxi_line
from mobility.sim.engine import Engine
from mobility.sim.parts import RunContext, SumoInputs

if TYPE_CHECKING:  # scipy's graph code is imported by runs with shuttles only
    from mobility.shuttles.reachability import Kept

ROUTES_FILE = "shuttles.rou.xml"
STOPS_FILE = "shuttles.add.xml"
PERSONINFO = "personinfo.raw.xml"
TRIPINFO_XML = "tripinfo.raw.xml"
STOPINFO = "stopinfo.raw.xml"
SAMPLE_PERIOD = 5.0  # s between fleet samples (distance and load)
OUTSIDE_AREA = "outside_service_area"  # rejection reason


@dataclass
class Request:
    """One rider request as generated (times in s, direct time on free-flow speeds)."""

    id: str
    fleet: str
    time: float
    origin: str
    destination: str
    direct_time: float
    direct_length: float
    rejected: str = ""  # reason, when rejected before it reached SUMO (outside_service_area)


class ShuttlesPart:
    """Fleets and riders: SUMO files before the run, the monitor (and our dispatcher) during
    it, the shuttle tables and KPIs after it."""

    def __init__(self) -> None:
        self.files = ShuttleFiles()
        self.monitor: Any = None
        self._spec: ScenarioSpec | None = None

    def check(self, ctx: RunContext) -> None:
        """Every fleet and rider checked against the network (files written to a scratch
        folder that is thrown away)."""
        with tempfile.TemporaryDirectory(prefix="mobility-check-") as scratch:
            prepare_shuttles(ctx.spec, network=ctx.network, folder=Path(scratch))

    def prepare(self, ctx: RunContext) -> SumoInputs:
        self._spec = ctx.spec
        self.files = prepare_shuttles(ctx.spec, network=ctx.network, folder=ctx.folder)
        return SumoInputs(self.files.routes, self.files.additional, self.files.options)

    def attach(self, engine: Engine) -> None:
        """Start the fleet monitor, rejections and (if asked) our dispatcher."""
        if not self.files.fleets or self._spec is None:
            return
        from mobility.shuttles.monitor import FleetMonitor

        files = self.files
        self.monitor = FleetMonitor(self._spec, files.requests, files.fleets, files.graph)
        self.monitor.attach(engine)

    def finish(self, folder: Path) -> dict[str, float]:
        """Write ``requests.parquet`` and ``fleet.parquet`` (and hand the vehicles' tripinfo
        back as the run's raw trips); return the shuttle KPIs."""
        if not self.files.fleets or self._spec is None:
            return {}
        from mobility.shuttles.kpi import shuttle_tables

        files = self.files
        return shuttle_tables(self._spec, folder, files.requests, files.fleets, self.monitor)


@dataclass
class ShuttleFiles:
    """What :func:`prepare_shuttles` wrote and what the run needs of it later."""

    routes: list[Path] = field(default_factory=list)
    additional: list[Path] = field(default_factory=list)
    options: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fleets: dict[str, list[str]] = field(default_factory=dict)  # fleet -> vehicle ids
    graph: Any = None


def prepare_shuttles(spec: ScenarioSpec, *, network: Network, folder: Path) -> ShuttleFiles:
    """Check the shuttle sections against ``network``; write their SUMO files into ``folder``."""
    if not spec.shuttles:
        return ShuttleFiles()
    from mobility.shuttles.graph import NetGraph

    graph = NetGraph(network)
    setup = ShuttleFiles(graph=graph)
    stops_xml: list[str] = []
    elements: list[tuple[float, str]] = []  # (depart, xml), sorted before writing
    types_xml: list[str] = []
    stop_edges: dict[str, tuple[str, float]] = {}
    areas: dict[str, set[str]] = {}  # fleet -> edges of its service area (if it has one)
    algos = {f.dispatcher for f in spec.shuttles if isinstance(f, OnDemandService)}
    vclasses: dict[str, str] = {}
    for index, fleet in enumerate(spec.shuttles):
        where = f"shuttles.{index}"
        vclass = fleet.vehicle.vehicle_class or (
            "bus" if isinstance(fleet, LineService) else "taxi"
        )
        graph.check_vclass(vclass, f"{where}.vehicle.vehicle_class")
        vclasses[fleet.name] = vclass
        types_xml.append(_vtype_xml(fleet, vclass))
        if isinstance(fleet, LineService):
            ids, xml = _line(spec, fleet, graph, vclass, where, stops_xml, stop_edges)
        else:
            ids, xml = _on_demand(spec, fleet, graph, vclass, where, stops_xml)
            area = _service_area(fleet, graph, vclass, where)
            if area is not None:
                areas[fleet.name] = area
        setup.fleets[fleet.name] = ids
        elements.extend(xml)
    kept = _reachable(spec, graph, vclasses)
    if spec.riders is not None:
        reqs, xml = _riders(spec, spec.riders, graph, stop_edges, areas, kept)
        setup.requests = reqs
        elements.extend(xml)
    elements.sort(key=lambda e: e[0])
    routes = folder / ROUTES_FILE
    body = "".join(types_xml) + "".join(x for _, x in elements)
    routes.write_text(f"<routes>\n{body}</routes>\n")
    setup.routes.append(routes)
    if stops_xml:
        add = folder / STOPS_FILE
        add.write_text("<additional>\n" + "".join(stops_xml) + "</additional>\n")
        setup.additional.append(add)
    output = {
        "personinfo-output": PERSONINFO,
        "stop-output": STOPINFO,
        "tripinfo-output": TRIPINFO_XML,
    }
    setup.options["output"] = output
    if algos:
        sumo_algos = algos - {"mobility"}
        algo = "traci" if not sumo_algos else next(iter(sumo_algos))
        setup.options["taxi_device"] = {"device.taxi.dispatch-algorithm": algo}
        periods = [f.dispatch_period for f in spec.shuttles if isinstance(f, OnDemandService)]
        setup.options["taxi_device"]["device.taxi.dispatch-period"] = f"{min(periods):g}"
    return setup


# ---------------------------------------------------------------------------------------
# SUMO elements


def _vtype_xml(fleet: LineService | OnDemandService, vclass: str) -> str:
    v = fleet.vehicle
    capacity = v.capacity
    if isinstance(fleet, OnDemandService) and not fleet.pooling:
        capacity = 1  # one request per trip: SUMO's algorithms then never pool
    attrs = {
        "id": f"shuttle_{fleet.name}",
        "vClass": vclass,
        "personCapacity": str(capacity),
        "maxSpeed": f"{v.max_speed:g}",
        "accel": f"{v.accel:g}",
        "decel": f"{v.decel:g}",
        "length": f"{v.length:g}",
        "carFollowModel": v.car_follow_model,
        "tau": f"{v.tau:g}",
        "sigma": f"{v.sigma:g}",
        "emissionClass": v.emission_class,
        "boardingDuration": "0.5",
    }
    params = ""
    if isinstance(fleet, OnDemandService):
        # SUMO's own idling: "stop" where the last rider left, "randomCircling", or
        # "taxistand": back to the nearest of the fleet's depots (parkingAreas listed by a
        # rerouter, see :func:`_depot_stands`; parking.ignoreDest picks the nearest one)
        idle = {
            "stay": "stop",
            "depot": "taxistand",
            "circle": "randomCircling",
            "rebalance": "stop",
        }
        idle = idle[fleet.idle]
        params = (
            '    <param key="has.taxi.device" value="true"/>\n'
            f'    <param key="device.taxi.idle-algorithm" value="{idle}"/>\n'
            f'    <param key="device.taxi.pickUpDuration" value="{fleet.pickup_duration:g}"/>\n'
            f'    <param key="device.taxi.dropOffDuration" value="{fleet.dropoff_duration:g}"/>\n'
        )
        if fleet.idle == "depot":
            params += (
                f'    <param key="device.taxi.stands-rerouter" value="{_stands_id(fleet)}"/>\n'
                '    <param key="parking.ignoreDest" value="1"/>\n'
            )
    head = " ".join(f"{k}={quoteattr(val)}" for k, val in attrs.items())
    return f"  <vType {head}>\n{params}  </vType>\n"


def _line(
    spec: ScenarioSpec,
    fleet: LineService,
    graph: Any,
    vclass: str,
    where: str,
    stops_xml: list[str],
    stop_edges: dict[str, tuple[str, float]],
) -> tuple[list[str], list[tuple[float, str]]]:
    for i, stop in enumerate(fleet.stops):
        length = graph.check_edge(stop.edge, vclass, f"{where}.stops.{i}.edge")
        pos = length / 2 if stop.pos < 0 else stop.pos
        if pos > length:
            msg = (
                f"field `{where}.stops.{i}.pos`: {pos:g} m is beyond edge {stop.edge!r} "
                f"({length:.1f} m long); give a position on the edge"
            )
            raise SpecError(msg)
        start = max(0.0, min(pos - stop.length / 2, length - stop.length))
        end = min(length, start + stop.length)
        name = f" name={quoteattr(stop.name)}" if stop.name else ""
        stops_xml.append(
            f'  <busStop id="{stop.id}" lane="{graph.lane_for(stop.edge, vclass)}" '
            f'startPos="{start:.2f}" endPos="{end:.2f}" lines="{fleet.name}"{name}/>\n'
        )
        stop_edges[stop.id] = (stop.edge, pos)
    if fleet.trips is not None:
        return _scheduled_trips(spec, fleet, graph, vclass, where, stop_edges)
    if fleet.route is not None:
        for i, edge in enumerate(fleet.route):
            graph.check_edge(edge, vclass, f"{where}.route.{i}")
        route = list(fleet.route)
        graph.check_route(route, [s.edge for s in fleet.stops], vclass, where)
    else:
        route = graph.route_via([s.edge for s in fleet.stops], vclass, where)
    begin, end = fleet.hours or (spec.begin, spec.end)
    if fleet.timetable is not None:
        departs = sorted(t for t in fleet.timetable if begin <= t < end)
    else:
        departs = list(np.arange(begin, end, fleet.headway or 600.0))
    stops = "".join(
        f'    <stop busStop="{s.id}" duration="{fleet.dwell:g}"/>\n' for s in fleet.stops
    )
    ids, xml = [], []
    for k, t in enumerate(departs):
        vid = f"{fleet.name}.{k}"
        ids.append(vid)
        xml.append(
            (
                float(t),
                f'  <vehicle id="{vid}" type="shuttle_{fleet.name}" depart="{t:g}" '
                f'line="{fleet.name}">\n    <route edges="{" ".join(route)}"/>\n{stops}'
                "  </vehicle>\n",
            )
        )
    return ids, xml


def _scheduled_trips(
    spec: ScenarioSpec,
    fleet: LineService,
    graph: Any,
    vclass: str,
    where: str,
    stop_edges: dict[str, tuple[str, float]],
) -> tuple[list[str], list[tuple[float, str]]]:
    """A line's own trips (a GTFS route's): each on its path, calling at its stops no
    earlier than the feed's departure times (SUMO stop ``until``; ``arrival`` as planned, so
    SUMO's stop output reports the delay), dwelling at least ``dwell``."""
    begin, end = fleet.hours or (spec.begin, spec.end)
    ids, xml = [], []
    for i, trip in enumerate(fleet.trips or []):
        if not begin <= trip.depart < end:
            continue
        for j, edge in enumerate(trip.route):
            graph.check_edge(edge, vclass, f"{where}.trips.{i}.route.{j}")
        graph.check_route(
            trip.route, [stop_edges[c.stop][0] for c in trip.calls], vclass, f"{where}.trips.{i}"
        )
        vid = f"{fleet.name}.{len(ids)}"
        ids.append(vid)
        calls = "".join(
            f'    <stop busStop="{c.stop}" duration="{fleet.dwell:g}" arrival="{c.arrival:g}" '
            f'until="{c.until:g}"/>\n'
            for c in trip.calls
        )
        xml.append(
            (
                trip.depart,
                f'  <vehicle id="{vid}" type="shuttle_{fleet.name}" depart="{trip.depart:g}" '
                f'line="{fleet.name}">\n    <route edges="{" ".join(trip.route)}"/>\n{calls}'
                "  </vehicle>\n",
            )
        )
    return ids, xml


def _on_demand(
    spec: ScenarioSpec,
    fleet: OnDemandService,
    graph: Any,
    vclass: str,
    where: str,
    stops_xml: list[str],
) -> tuple[list[str], list[tuple[float, str]]]:
    for i, depot in enumerate(fleet.depots):
        graph.check_edge(depot.edge, vclass, f"{where}.depots.{i}.edge", what="depot")
    counts = _split(fleet.fleet_size, [d.vehicles for d in fleet.depots], where)
    if fleet.idle == "depot":
        stops_xml.append(_depot_stands(fleet, graph, vclass, counts))
    ids, xml = [], []
    for depot, count in zip(fleet.depots, counts, strict=True):
        length = graph.edge_length(depot.edge)
        for _ in range(count):
            vid = f"{fleet.name}.{len(ids)}"
            ids.append(vid)
            pos = min(length - 1.0, 1.0 + 8.0 * (len(ids) % max(1, int(length // 8))))
            xml.append(
                (
                    spec.begin,
                    f'  <trip id="{vid}" type="shuttle_{fleet.name}" depart="{spec.begin:g}" '
                    f'line="{taxi_line(spec, fleet.name)}" '
                    f'departPos="{max(pos, 0.0):.1f}" from="{depot.edge}" to="{depot.edge}">\n'
                    # an initial idling stop: without it SUMO may let a taxi leave early
                    f'    <stop lane="{graph.lane_for(depot.edge, vclass)}" '
                    f'endPos="{min(length, pos + 5.0):.1f}" triggered="person" parking="true"/>\n'
                    "  </trip>\n",
                )
            )
    return ids, xml


def _service_area(fleet: OnDemandService, graph: Any, vclass: str, where: str) -> set[str] | None:
    """The edges of a fleet's service area (given, or inside its polygon); None: everywhere."""
    area = fleet.service_area
    if area is None:
        return None
    if isinstance(area, ServiceArea):
        edges = graph.edges_in(
            area.polygon, lonlat=area.coords == "lonlat", where=f"{where}.service_area"
        )
        usable = {e for e in edges if graph.usable(e, vclass)}
        if not usable:
            msg = (
                f"field `{where}.service_area.polygon`: no edge inside it is open to "
                f"{vclass!r}; draw it around roads the shuttles may use"
            )
            raise SpecError(msg)
        return usable
    usable = [e for e in area if graph.usable(e, vclass)]
    if not usable:
        msg = (
            f"field `{where}.service_area`: none of its edges is in the network and open "
            f"to {vclass!r}; list edges of the network"
        )
        raise SpecError(msg)
    missing = sorted(set(area) - set(usable))
    if missing:
        msg = (
            f"field `{where}.service_area`: edges {missing[:5]} are not in the network or "
            f"closed to {vclass!r}; remove them"
        )
        raise SpecError(msg)
    return set(usable)


def _stands_id(fleet: OnDemandService) -> str:
    return f"depots_{fleet.name}"


def _depot_stands(fleet: OnDemandService, graph: Any, vclass: str, counts: list[int]) -> str:
    """A parkingArea per depot and the rerouter that lists them: SUMO's taxi stands.

    SUMO's "taxistand" idle algorithm sends an idle taxi to a parkingArea of the rerouter
    named by its ``device.taxi.stands-rerouter``; with ``parking.ignoreDest`` the nearest.
    """
    xml, reroutes, edges = [], [], []
    for i, (depot, count) in enumerate(zip(fleet.depots, counts, strict=True)):
        pid = f"{_stands_id(fleet)}.{i}"
        length = graph.edge_length(depot.edge)
        xml.append(
            f'  <parkingArea id="{pid}" lane="{graph.lane_for(depot.edge, vclass)}" '
            f'startPos="{length * 0.1:.1f}" endPos="{length * 0.9:.1f}" '
            f'roadsideCapacity="{max(count, fleet.fleet_size)}" friendlyPos="true"/>\n'
        )
        reroutes.append(f'      <parkingAreaReroute id="{pid}"/>\n')
        edges.append(depot.edge)
    xml.append(
        f'  <rerouter id="{_stands_id(fleet)}" edges="{" ".join(dict.fromkeys(edges))}" '
        f'vTypes="shuttle_{fleet.name}">\n    <interval begin="0" end="1e9">\n'
        + "".join(reroutes)
        + "    </interval>\n  </rerouter>\n"
    )
    return "".join(xml)


def _split(size: int, given: list[int | None], where: str) -> list[int]:
    fixed = sum(g for g in given if g is not None)
    free = [i for i, g in enumerate(given) if g is None]
    if fixed > size or (not free and fixed != size):
        msg = (
            f"field `{where}.depots`: depot vehicles add up to {fixed}, fleet_size is {size}; "
            "make them agree"
        )
        raise SpecError(msg)
    out = [g or 0 for g in given]
    for k, i in enumerate(free):
        out[i] = (size - fixed) // len(free) + (1 if k < (size - fixed) % len(free) else 0)
    return out


def _reachable(spec: ScenarioSpec, graph: Any, vclasses: dict[str, str]) -> dict[str, Kept]:
    """Per on-demand fleet: depots and rider edges mutually reachable for its vehicle class
    (:mod:`mobility.shuttles.reachability`); the rider edges dropped, if asked to."""
    from mobility.shuttles.reachability import Places, check_reachable

    riders = spec.riders
    default = (riders.fleet if riders else None) or spec.shuttles[0].name
    kept: dict[str, Kept] = {}
    for i, fleet in enumerate(spec.shuttles):
        if not isinstance(fleet, OnDemandService):
            continue
        places = Places()
        for j, depot in enumerate(fleet.depots):
            places.depots[f"shuttles.{i}.depots.{j}.edge"] = [depot.edge]
        if riders is not None:
            for flow in riders.flows:
                if (flow.fleet or default) == fleet.name:
                    for zone in (flow.origin, flow.destination):
                        places.riders[f"riders.zones.{zone}"] = riders.zones[zone]
            for k, trip in enumerate(riders.trips):
                if (trip.fleet or default) == fleet.name:
                    places.riders[f"riders.trips.{k}"] = [trip.origin, trip.destination]
        for group in (places.depots, places.riders):  # unknown edges: named by _riders
            for where in list(group):
                group[where] = [e for e in group[where] if graph.has_edge(e)]
        drop = riders is not None and riders.unreachable == "drop"
        kept[fleet.name] = check_reachable(
            graph, vclasses[fleet.name], fleet.name, places, drop=drop
        )
    return kept


def _riders(
    spec: ScenarioSpec,
    riders: RidersSpec,
    graph: Any,
    stop_edges: dict[str, tuple[str, float]],
    areas: dict[str, set[str]],
    kept: dict[str, Kept],
) -> tuple[list[Request], list[tuple[float, str]]]:
    """Rider requests and their SUMO persons; a request from or to an edge outside its
    fleet's service area is recorded as rejected (``outside_service_area``), not simulated."""
    from mobility.shuttles.reachability import Kept

    fleets = {f.name: f for f in spec.shuttles}
    default = riders.fleet or spec.shuttles[0].name

    def check(place: str, fleet: str, where: str) -> None:
        """A zone member or trip end: a stop of a line, an edge for an on-demand fleet."""
        is_line = isinstance(fleets[fleet], LineService)
        if not (place in stop_edges if is_line else graph.has_edge(place)):
            kind = f"a stop of line {fleet!r}" if is_line else "an edge of the network"
            msg = f"field `{where}`: {place!r} is not {kind}; fix the name"
            raise SpecError(msg)

    for flow in riders.flows:
        for zone in (flow.origin, flow.destination):
            for m in riders.zones[zone]:
                check(m, flow.fleet or default, f"riders.zones.{zone}")
    rng = np.random.default_rng(spec.seed + 7919)
    until = riders.until if riders.until is not None else max(spec.begin, spec.end - 900.0)
    until = min(until, spec.end)
    profile = np.asarray(riders.profile, dtype=float)
    profile = profile / profile.mean()
    span = until - spec.begin
    requests: list[Request] = []
    xml: list[tuple[float, str]] = []
    times: list[tuple[float, str, str, str]] = []
    zones: dict[tuple[str, str], list[str]] = {}  # (fleet, zone) -> edges kept
    for flow in riders.flows:
        name = flow.fleet or default
        for zone in (flow.origin, flow.destination):
            dropped = kept[name] if name in kept else Kept()
            members = [
                m for m in riders.zones[zone] if not dropped.drops(f"riders.zones.{zone}", m)
            ]
            if not members:
                msg = (
                    f"field `riders.zones.{zone}`: every edge of the zone was dropped as "
                    f"unreachable for fleet {name!r}; give it edges the shuttles can serve"
                )
                raise SpecError(msg)
            zones[(name, zone)] = members
    for flow in riders.flows:
        name = flow.fleet or default
        slices = len(profile)
        for s in range(slices):
            lo = spec.begin + span * s / slices
            rate = flow.per_hour * profile[s] / 3600.0
            n = rng.poisson(rate * span / slices)
            for t in np.sort(rng.uniform(lo, lo + span / slices, n)):
                o = str(rng.choice(zones[(name, flow.origin)]))
                d = str(rng.choice(zones[(name, flow.destination)]))
                times.append((float(t), o, d, name))
    for i, trip in enumerate(riders.trips):
        for end, where in ((trip.origin, "from"), (trip.destination, "to")):
            check(end, trip.fleet or default, f"riders.trips.{i}.{where}")
        dropped = kept.get(trip.fleet or default, Kept())
        if any(dropped.drops(f"riders.trips.{i}", e) for e in (trip.origin, trip.destination)):
            continue
        times.append((trip.at, trip.origin, trip.destination, trip.fleet or default))
    times.sort()
    depart_pos: dict[str, float] = {}
    for k, (t, o, d, name) in enumerate(times):
        if o == d:
            continue
        fleet = fleets[name]
        is_line = isinstance(fleet, LineService)
        vclass = "bus" if is_line else "taxi"
        pid = f"rider.{k}"
        if is_line:
            oe, _ = stop_edges[o]
            de, _ = stop_edges[d]
            cost, length = graph.path_time(oe, de, vclass)
            body = (
                f'    <stop busStop="{o}" duration="0"/>\n'
                f'    <ride busStop="{d}" lines="{fleet.name}"/>\n'
            )
        else:
            cost, length = graph.path_time(o, d, vclass, mid_edges=True)
            if not math.isfinite(cost):
                continue  # unreachable OD pair in the zone: not a request anyone could serve
            # riders wait and leave mid-edge: a taxi dropping at an edge's very end may find
            # no room for its idling stop and leave the simulation (SUMO #17652)
            body = (
                f'    <ride from="{o}" to="{d}" lines="{taxi_line(spec, fleet.name)}" '
                f'arrivalPos="{graph.edge_length(d) / 2:.1f}"/>\n'
            )
            depart_pos[pid] = graph.edge_length(o) / 2
        area = areas.get(fleet.name)
        if area is not None and (o not in area or d not in area):
            requests.append(Request(pid, fleet.name, round(t, 1), o, d, cost, length, OUTSIDE_AREA))
            continue
        requests.append(Request(pid, fleet.name, round(t, 1), o, d, cost, length))
        pos = f' departPos="{depart_pos[pid]:.1f}"' if pid in depart_pos else ""
        xml.append((t, f'  <person id="{pid}" depart="{t:.1f}"{pos}>\n{body}  </person>\n'))
    return requests, xml
