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
import math
import re
import shutil
import zipfile
from pathlib import Path

from mobility import sumo
from mobility.cache import cached_build
from mobility.config import ScenarioSpec, TransitSpec, file_hash
from mobility.errors import DemandError
from mobility.network.net import Network
from mobility.shuttles.spec import LineCall, LineService, LineTrip, StopSpec
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
    both); trips run by ``frequencies.txt`` written out one by one (gtfs2pt reads no
    frequencies: it would run each such trip once, at its template time)."""
    routes = read_table(feed, "routes.txt")
    trips = read_table(feed, "trips.txt")
    trips = trips[trips["route_id"].isin(route_ids)]
    times = read_table(feed, "stop_times.txt")
    times = times[times["trip_id"].isin(set(trips["trip_id"]))]
    with zipfile.ZipFile(feed) as z:
        has_frequencies = "frequencies.txt" in z.namelist()
    if has_frequencies:
        trips, times = expand_frequencies(read_table(feed, "frequencies.txt"), trips, times)
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
            elif name.endswith(".txt") and name != "frequencies.txt":
                dst.writestr(name, src.read(name))
        for name, header in empty.items():
            if name not in names:
                dst.writestr(name, header)
    return out


def expand_frequencies(frequencies, trips, times):  # DataFrames -> (trips, times)
    """Trips and stop times with each trip of ``frequencies.txt`` replaced by one trip per
    departure (``<trip_id>.f<k>``: start_time, + headway_secs, ... before end_time), its
    stop times the template's shifted so it leaves the first stop then (GTFS: the template's
    times give only the spacing). Hand-written: neither gtfs2pt nor sumolib reads them."""
    import pandas as pd

    frequencies = frequencies[frequencies["trip_id"].isin(set(trips["trip_id"]))]
    if frequencies.empty:
        return trips, times
    new_trips, new_times = [], []
    for trip_id, rows in frequencies.groupby("trip_id", sort=False):
        template = times[times["trip_id"] == trip_id].copy()
        template["order"] = template["stop_sequence"].astype(int)
        template = template.sort_values("order").drop(columns="order")
        start = _seconds(template.iloc[0]["departure_time"] or template.iloc[0]["arrival_time"], 0)
        k = 0
        for row in rows.itertuples():
            t, end = _seconds(row.start_time, 0), _seconds(row.end_time, 0)
            while t < end:
                copy = template.copy()
                copy["trip_id"] = f"{trip_id}.f{k}"
                for column in ("arrival_time", "departure_time"):
                    copy[column] = [_clock(_seconds(v, math.nan) - start + t) for v in copy[column]]
                new_times.append(copy)
                trip = trips[trips["trip_id"] == trip_id].copy()
                trip["trip_id"] = f"{trip_id}.f{k}"
                new_trips.append(trip)
                t, k = t + float(row.headway_secs), k + 1
    expanded = set(frequencies["trip_id"])
    trips = pd.concat([trips[~trips["trip_id"].isin(expanded)], *new_trips], ignore_index=True)
    times = pd.concat([times[~times["trip_id"].isin(expanded)], *new_times], ignore_index=True)
    return trips, times


def _clock(seconds: float) -> str:
    """Seconds after midnight as GTFS ``HH:MM:SS`` (past 24:00 as GTFS writes it); empty
    for NaN (a stop the template gives no time)."""
    if not math.isfinite(seconds):
        return ""
    s = round(seconds)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


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
        "frequencies": "expanded",  # feed.zip kept: the stop times the trips ran
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
    (placed by gtfs2pt, named ``<fleet>.<GTFS stop_id>``) and its trips of the day in the
    window, each with its own path and the feed's stop times, so the shuttles part runs the
    feed's timetable."""
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
            built = build_transit(spec, network, route_ids)
            fleet = _line_of(fleet, built, built / "feed.zip", spec.begin)
        fleets.append(fleet)
    return spec.model_copy(update={"shuttles": fleets})


def _line_of(fleet: LineService, built: Path, feed: Path, begin: float) -> LineService:
    """A line's stops and trips from gtfs2pt's files (where it placed the stops, the path
    of each stop sequence, which trips run in the window) and the feed's own stop times
    (gtfs2pt keeps one set of times per stop sequence, taken from one trip). A shuttle
    enters the network ``dwell`` s earlier than gtfs2pt's bus (which enters 10 s before its
    first departure), so it can dwell at the first stop and still leave it on time."""
    import sumolib

    stops = {}
    for stop in sumolib.xml.parse(str(built / STOPS), "busStop"):
        start, end = float(stop.startPos), float(stop.endPos)
        stops[stop.id] = StopSpec(
            id=f"{fleet.name}.{_safe(stop.id.removeprefix('gtfs_'))}",  # <line>.<stop_id>
            edge=stop.lane.rsplit("_", 1)[0],
            pos=(start + end) / 2,
            length=max(end - start, 1.0),
            name=stop.attr_name or "",
        )
    routes = {r.id: r for r in sumolib.xml.parse(str(built / ROUTES), "route") if r.id}
    vehicles = list(sumolib.xml.parse(str(built / ROUTES), "vehicle"))
    times = _stop_times(feed, {_trip_of(v.id)[0] for v in vehicles})
    trips, used = [], {}
    for vehicle in vehicles:
        route = routes[vehicle.route]
        order = [s.busStop for s in route.stop or []]
        trip_id, day = _trip_of(vehicle.id)
        calls = _calls(order, times.get(trip_id, []), day * 86400.0)
        trips.append(
            LineTrip(
                depart=max(begin, float(vehicle.depart) - fleet.dwell),
                route=route.edges.split(),
                calls=[LineCall(stop=stops[s].id, arrival=a, until=u) for s, a, u in calls],
            )
        )
        used[vehicle.route] = used.get(vehicle.route, 0) + 1
    trips.sort(key=lambda t: t.depart)
    served = [s.busStop for r in sorted(used, key=lambda r: -used[r]) for s in routes[r].stop]
    common = routes[max(used, key=lambda r: used[r])]
    return fleet.model_copy(
        update={
            "stops": [stops[s] for s in dict.fromkeys(served)],
            "route": common.edges.split(),
            "timetable": [t.depart for t in trips],
            "trips": trips,
            "headway": None,
        }
    )


def _safe(stop_id: str) -> str:
    """A GTFS stop_id as a stop id may be written (feeds use ``:`` and spaces: ``de:08111:6115``
    becomes ``de_08111_6115``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stop_id)


def _trip_of(vehicle_id: str) -> tuple[str, int]:
    """The GTFS trip_id and service day (0: the date asked for) of a gtfs2pt vehicle,
    named ``<trip_id>.<day>`` (``<trip_id>.trimmed.<day>`` when cut at the window)."""
    trip, day = vehicle_id.rsplit(".", 1)
    return trip.removesuffix(".trimmed"), int(day)


def _stop_times(feed: Path, trip_ids: set[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Per trip, its (stop_id, arrival_time, departure_time) in stop_sequence order."""
    table = read_table(feed, "stop_times.txt")
    table = table[table["trip_id"].isin(trip_ids)].copy()
    table["order"] = table["stop_sequence"].astype(int)
    out: dict[str, list[tuple[str, str, str]]] = {}
    for row in table.sort_values(["trip_id", "order"]).itertuples():
        out.setdefault(row.trip_id, []).append((row.stop_id, row.arrival_time, row.departure_time))
    return out


def _calls(
    order: list[str], times: list[tuple[str, str, str]], shift: float
) -> list[tuple[str, float, float]]:
    """(busStop, arrival, until) for each stop gtfs2pt kept, from the trip's own times
    (stops matched in order, so a loop calling twice at one stop gets both times); a stop
    the feed gives no time for (not a timepoint) takes the previous one's."""
    out, k, last = [], 0, 0.0
    for bus_stop in order:
        gtfs_id = bus_stop.removeprefix("gtfs_")
        while k < len(times) and times[k][0] != gtfs_id:
            k += 1
        if k == len(times):
            msg = f"gtfs2pt stop {bus_stop} is not on the trip's stop_times"
            raise RuntimeError(msg)  # gtfs2pt only keeps a trip's own stops: a bug here
        _, arrival, departure = times[k]
        k += 1
        until = _seconds(departure or arrival, last - shift) + shift
        out.append((bus_stop, _seconds(arrival or departure, until - shift) + shift, until))
        last = until
    return out


def _seconds(clock: str, default: float) -> float:
    """GTFS ``HH:MM:SS`` (hours may pass 24) in seconds; ``default`` where empty."""
    if not clock.strip():
        return default
    h, m, s = (int(x) for x in clock.strip().split(":"))
    return float(h * 3600 + m * 60 + s)
