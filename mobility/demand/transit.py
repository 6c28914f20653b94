"""Scheduled public transport from a GTFS feed, imported with SUMO's ``gtfs2pt.py``.

A planner's city comes with a GTFS feed, not with SUMO bus stops. ``gtfs2pt`` maps each
trip's stops onto the network by longitude and latitude (sumolib's trace mapping), writes
the stops as ``busStop`` elements and each trip of the service day as a vehicle that stops
at them on time (``until``). Here the feed is cut to the routes the scenario names first
(a small GTFS zip of its own, so the cache key is the feed's content and the choice), the
tool runs once per feed, network, day and window (cached by content), and its three files
join the run as background traffic (:class:`TransitPart`).

What is hand-written: reading the feed's tables to check and cut it (pandas), since
``gtfs2pt`` has no option to keep some routes and stops silently when nothing matches.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from mobility import sumo
from mobility.cache import cached_build
from mobility.config import ScenarioSpec, TransitSpec, file_hash
from mobility.errors import DemandError
from mobility.network.net import Network
from mobility.shuttles.spec import LineService, StopSpec
from mobility.sim.parts import RunContext, SumoInputs

REQUIRED = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
ROUTES = "transit.rou.xml"
STOPS = "transit.stops.add.xml"
VTYPES = "transit.vtypes.add.xml"


def read_table(feed: Path, name: str):  # -> pd.DataFrame
    """One table of a GTFS zip as text columns (ids stay ids: "007" is not 7)."""
    import pandas as pd

    with zipfile.ZipFile(feed) as z:
        return pd.read_csv(z.open(name), dtype=str, keep_default_na=False)


def check_feed(transit: TransitSpec, network: Network) -> list[str]:
    """The route ids the scenario keeps; errors for a feed or a network gtfs2pt cannot use."""
    feed = transit.gtfs
    try:
        names = set(zipfile.ZipFile(feed).namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        msg = f"{feed}: not a GTFS zip file ({exc}) (field `transit.gtfs`); give the feed's .zip"
        raise DemandError(msg) from None
    missing = [n for n in REQUIRED if n not in names]
    if "calendar.txt" not in names and "calendar_dates.txt" not in names:
        missing.append("calendar.txt or calendar_dates.txt")
    if missing:
        msg = (
            f"{feed}: not a complete GTFS feed, {', '.join(missing)} missing "
            "(field `transit.gtfs`); export the whole feed"
        )
        raise DemandError(msg)
    if network.crs is None:
        msg = (
            f"field `transit`: the network {network.path.name} is not geo-referenced, so GTFS "
            "stops (longitude, latitude) cannot be placed on it; use a network built from "
            "OpenStreetMap (network: {type: osm, ...}) or a geo-referenced .net.xml"
        )
        raise DemandError(msg)
    return find_routes(transit, transit.routes)


def find_routes(transit: TransitSpec, names: list[str] | None) -> list[str]:
    """The route ids named (by route_id or route_short_name); all routes for None."""
    feed = transit.gtfs
    routes = read_table(feed, "routes.txt")
    if names is None:
        return sorted(routes["route_id"])
    keep = []
    for wanted in names:
        hit = routes[(routes["route_id"] == wanted) | (routes.get("route_short_name") == wanted)]
        if hit.empty:
            known = ", ".join(
                f"{r.route_id} ({getattr(r, 'route_short_name', '')})"
                for r in routes.head(20).itertuples()
            )
            msg = (
                f"field `transit.routes`: no route {wanted!r} in {feed.name} (by route_id or "
                f"route_short_name); the feed has: {known}"
            )
            raise DemandError(msg)
        keep.extend(hit["route_id"])
    return sorted(set(keep))


def background_routes(spec: ScenarioSpec, network: Network) -> list[str]:
    """The routes that run as buses: the transit section's, less those shuttles run."""
    keep = check_feed(spec.transit, network)
    run_by_shuttles = find_routes(spec.transit, [f.gtfs_route for f in gtfs_lines(spec)])
    return [r for r in keep if r not in run_by_shuttles]


def gtfs_lines(spec: ScenarioSpec) -> list[LineService]:
    """The shuttle lines that run a GTFS route."""
    return [f for f in spec.shuttles if isinstance(f, LineService) and f.gtfs_route]


def cut_feed(feed: Path, route_ids: list[str], out: Path) -> Path:
    """A GTFS zip with only ``route_ids``' trips and their stop times (the stops and the
    calendars stay whole); empty calendar tables where the feed has none (gtfs2pt reads
    both)."""
    routes = read_table(feed, "routes.txt")
    trips = read_table(feed, "trips.txt")
    trips = trips[trips["route_id"].isin(route_ids)]
    times = read_table(feed, "stop_times.txt")
    times = times[times["trip_id"].isin(set(trips["trip_id"]))]
    tables = {
        "routes.txt": routes[routes["route_id"].isin(route_ids)],
        "trips.txt": trips,
        "stop_times.txt": times,
    }
    empty = {
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
        "start_date,end_date\n",
        "calendar_dates.txt": "service_id,date,exception_type\n",
    }
    with zipfile.ZipFile(feed) as src, zipfile.ZipFile(out, "w") as dst:
        names = set(src.namelist())
        for name in sorted(names):
            if name in tables:
                buffer = io.StringIO()
                tables[name].to_csv(buffer, index=False)
                dst.writestr(name, buffer.getvalue())
            elif name.endswith(".txt"):
                dst.writestr(name, src.read(name))
        for name, header in empty.items():
            if name not in names:
                dst.writestr(name, header)
    return out


def build_transit(spec: ScenarioSpec, network: Network, route_ids: list[str]) -> Path:
    """The folder holding gtfs2pt's routes, stops and vehicle types for ``route_ids`` (built
    once per feed content, route choice, day, window and network)."""
    transit = spec.transit
    key = {
        "feed": file_hash(transit.gtfs),
        "routes": route_ids,
        "date": transit.date.isoformat(),
        "modes": transit.modes,
        "window": [spec.begin, spec.end],
        "net": network.digest,
        "stop_ids": "gtfs",
    }

    def build(tmp: Path) -> Path:
        feed = cut_feed(transit.gtfs, route_ids, tmp / "feed.zip")
        cmd = [
            *sumo.tool("import/gtfs/gtfs2pt.py"),
            f"--network={network.path}",
            f"--gtfs={feed}",
            f"--date={transit.date:%Y%m%d}",
            f"--modes={','.join(transit.modes)}",
            f"--begin={spec.begin:g}",
            f"--end={spec.end:g}",
            f"--route-output={tmp / ROUTES}",
            f"--additional-output={tmp / STOPS}",
            f"--vtype-output={tmp / VTYPES}",
            f"--seed={spec.seed}",
            "--use-gtfs-stopids",  # busStops named as the feed names them: riders can too
        ]
        proc = sumo.run_tool(cmd, cwd=tmp)
        if proc.returncode != 0:
            details = sumo.error_lines(proc.stderr + proc.stdout)
            msg = f"field `transit`: gtfs2pt could not import {transit.gtfs.name}:\n{details}"
            raise DemandError(msg)
        # gtfs2pt writes nothing, and exits 0, when no trip of the day is on the network
        if not (tmp / ROUTES).exists() or "<vehicle " not in (tmp / ROUTES).read_text():
            msg = (
                f"field `transit`: no trip of route(s) {', '.join(route_ids)} in "
                f"{transit.gtfs.name} runs on {transit.date} between {spec.begin:g} and "
                f"{spec.end:g} s (seconds after midnight) on this network; check the date, "
                "the window (begin, end) and that the stops lie on the network"
            )
            raise DemandError(msg)
        shutil.rmtree(tmp / "resources", ignore_errors=True)  # gtfs2pt's split networks
        feed.unlink()
        return tmp / ROUTES

    return cached_build("transit", key, build, ROUTES).parent


class TransitPart:
    """Buses (trams, trains) of a GTFS feed as background traffic of the run."""

    def check(self, ctx: RunContext) -> None:
        if ctx.spec.transit is not None:
            background_routes(ctx.spec, ctx.network)

    def prepare(self, ctx: RunContext) -> SumoInputs:
        if ctx.spec.transit is None:
            return SumoInputs()
        routes = background_routes(ctx.spec, ctx.network)
        if not routes:  # every named route is run by shuttles
            return SumoInputs()
        built = build_transit(ctx.spec, ctx.network, routes)
        for name in (ROUTES, STOPS, VTYPES):
            shutil.copyfile(built / name, ctx.folder / name)
        return SumoInputs(routes=[ctx.folder / ROUTES], additional=[Path(VTYPES), Path(STOPS)])

    def attach(self, engine: object) -> None:
        """SUMO runs the timetable itself."""

    def finish(self, folder: Path) -> dict[str, float]:
        return {}


def with_gtfs_lines(spec: ScenarioSpec, network: Network) -> ScenarioSpec:
    """``spec`` with each shuttle line that names a ``gtfs_route`` given that route's stops
    (placed by gtfs2pt, named ``<fleet>.<GTFS stop_id>``), path and timetable (the departures of
    its trips of the day in the window), so the shuttles part runs it like any line. A
    route with several stop sequences runs its most frequent one."""
    lines = gtfs_lines(spec)
    if not lines:
        return spec
    if spec.transit is None:
        msg = (
            f"field `shuttles`: line {lines[0].name!r} runs gtfs_route {lines[0].gtfs_route!r}"
            " but the scenario has no `transit:` section; add transit: {gtfs: feed.zip, "
            "date: YYYY-MM-DD} naming the feed and the service day"
        )
        raise DemandError(msg)
    check_feed(spec.transit, network)
    fleets = []
    for fleet in spec.shuttles:
        if fleet in lines:
            route_ids = find_routes(spec.transit, [fleet.gtfs_route])
            fleet = _line_of(fleet, build_transit(spec, network, route_ids))
        fleets.append(fleet)
    return spec.model_copy(update={"shuttles": fleets})


def _line_of(fleet: LineService, built: Path) -> LineService:
    """A line's stops, path and timetable from gtfs2pt's files."""
    import sumolib

    stops = {}
    for stop in sumolib.xml.parse(str(built / STOPS), "busStop"):
        start, end = float(stop.startPos), float(stop.endPos)
        stops[stop.id] = StopSpec(
            id=f"{fleet.name}.{stop.id.removeprefix('gtfs_')}",  # <line>.<GTFS stop_id>
            edge=stop.lane.rsplit("_", 1)[0],
            pos=(start + end) / 2,
            length=max(end - start, 1.0),
        )
    routes = {r.id: r for r in sumolib.xml.parse(str(built / ROUTES), "route") if r.id}
    departs: dict[str, list[float]] = {}
    for vehicle in sumolib.xml.parse(str(built / ROUTES), "vehicle"):
        departs.setdefault(vehicle.route, []).append(float(vehicle.depart))
    used = max(departs, key=lambda r: len(departs[r]))
    route = routes[used]
    return fleet.model_copy(
        update={
            "stops": [stops[s.busStop] for s in route.stop or []],
            "route": route.edges.split(),
            "timetable": sorted(departs[used]),
            "headway": None,
        }
    )
