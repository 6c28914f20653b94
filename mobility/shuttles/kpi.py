"""Rider and fleet KPIs of a run with shuttles, and their tables.

Tables (Parquet, in the run directory):
- ``requests.parquet``: one row per rider request: times, status (``served``, ``rejected``,
  ``unfinished`` = still waiting or riding at the end), wait, in-vehicle time, detour ratio.
- ``fleet.parquet``: one row per shuttle: km, empty km, km at each load (``km_load_<n>``),
  riders, the last edge it was seen on, CO2.
- ``stops.parquet`` (lines only): one row per stop call: planned and actual headway, load.

Summary keys in ``kpis.json`` start with ``shuttle_`` (all fleets together); with several
fleets, each fleet's own follow as ``shuttle_fleet_<name>_<kpi>``. Wait = boarding time minus
request time. Detour ratio = in-vehicle time (boarding to alighting) over the direct time:
for on-demand riders, the shortest time from the middle of the origin edge to the middle of
the destination edge on the travel-time table the ``mobility`` dispatcher uses, taken at the
first dispatch round that sees the request (``direct_time_now_s``: current mean edge speeds,
the speed limit on empty edges, capped at the shuttle's max speed; the same table for every
dispatcher, so ratios compare); for line riders, free-flow speeds (``direct_time_s``, which
every request also keeps). The graph has no signals, turns or stops, so a direct ride still
reads a little above 1.

Promises (on-demand riders served): ``wait_kept`` is wait <= ``max_wait``; ``detour_kept``
is ``detour_ratio_learned`` <= ``max_detour``, where the base ``direct_time_learned_s`` is a
direct ride on the run's learned edge times with the expected red waits of its turns
(:mod:`mobility.shuttles.learned`), plus pulling away, braking and the drop-off: the same
base for every dispatcher, taken when the request is first seen.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mobility.config import ScenarioSpec
from mobility.kpis import Kpi
from mobility.shuttles.spec import LineService
from mobility.sim import sumocfg

PERSONINFO = "personinfo.raw.xml"
TRIPINFO_XML = "tripinfo.raw.xml"
STOPINFO = "stopinfo.raw.xml"
ON_TIME_S = 300.0  # s late at most for a timetabled departure to count as on time
MG_PER_KG = 1e6


def shuttle_tables(
    spec: ScenarioSpec,
    run_dir: Path,
    requests: list[Any],
    fleets: dict[str, list[str]],
    monitor: Any,
) -> dict[str, float]:
    """Write the shuttle tables into ``run_dir`` and return the summary KPIs."""
    rides = _rides(run_dir / PERSONINFO)
    rejected = monitor.rejected if monitor is not None else {}
    direct_now = monitor.direct_now if monitor is not None else {}
    direct_learned = monitor.direct_learned if monitor is not None else {}
    promises = {
        f.name: (f.max_wait, f.max_detour) for f in spec.shuttles if f.service == "on_demand"
    }
    rows = []
    for r in requests:
        ride = rides.get(r.id)
        row = {
            "id": r.id,
            "fleet": r.fleet,
            "request_time": r.time,
            "origin": r.origin,
            "destination": r.destination,
            "direct_time_s": r.direct_time,
            "direct_time_now_s": direct_now.get(r.id, math.nan),
            "direct_length_m": r.direct_length,
            "status": "unfinished",
            "reason": "",
            "vehicle": "",
            "board_time": math.nan,
            "arrival_time": math.nan,
            "wait_s": math.nan,
            "in_vehicle_s": math.nan,
            "detour_ratio": math.nan,
            "direct_time_learned_s": direct_learned.get(r.id, math.nan),
            "detour_ratio_learned": math.nan,
            "wait_kept": None,
            "detour_kept": None,
        }
        if r.rejected:
            row["status"], row["reason"], row["arrival_time"] = "rejected", r.rejected, r.time
        elif r.id in rejected:
            row["status"], row["reason"] = "rejected", rejected[r.id][1]
            row["arrival_time"] = rejected[r.id][0]
        elif ride is not None and ride["arrival"] >= 0:
            row.update(
                status="served",
                vehicle=ride["vehicle"],
                board_time=ride["depart"],
                arrival_time=ride["arrival"],
                wait_s=ride["depart"] - r.time,
                in_vehicle_s=ride["arrival"] - ride["depart"],
            )
            # on-demand: against the dispatcher's table when the rider was first seen
            # waiting; lines (no dispatcher): against free-flow speeds
            base = row["direct_time_now_s"] if r.id in direct_now else r.direct_time
            row["detour_ratio"] = row["in_vehicle_s"] / base if base > 0 else math.nan
            learned = row["direct_time_learned_s"]
            if learned > 0:
                row["detour_ratio_learned"] = row["in_vehicle_s"] / learned
            if r.fleet in promises:  # on-demand: the fleet's promises, kept or not
                max_wait, max_detour = promises[r.fleet]
                row["wait_kept"] = bool(row["wait_s"] <= max_wait)
                if math.isfinite(row["detour_ratio_learned"]):
                    row["detour_kept"] = bool(row["detour_ratio_learned"] <= max_detour)
        rows.append(row)
    req_table = pa.Table.from_pylist(rows, schema=_REQUEST_SCHEMA)
    pq.write_table(req_table, run_dir / "requests.parquet")

    trips = tripinfo_to_parquet(run_dir / TRIPINFO_XML, run_dir / sumocfg.RAW_TRIPS)
    by_id = {vid: i for i, vid in enumerate(trips.get("tripinfo_id", []))}
    cols = {k.split("_", 1)[1]: v for k, v in trips.items()}
    max_load = max(
        [monitor.max_load[v] for v in monitor.max_load] if monitor is not None else [0],
        default=0,
    )
    fleet_rows = []
    for name, ids in fleets.items():
        for vid in ids:
            i = by_id.get(vid)
            km_load = monitor.km_at_load.get(vid, {}) if monitor is not None else {}
            row = {
                "vehicle": vid,
                "fleet": name,
                "km": _num(cols, "routeLength", i) / 1000.0,
                "sampled_km": float(sum(km_load.values())),
                "empty_km": float(km_load.get(0, 0.0)),
                "hours": _hours(cols, i, spec),
                "riders": int(sum(1 for q in rows if q["vehicle"] == vid)),
                "last_edge": monitor.edge.get(vid, "") if monitor is not None else "",
                "co2_kg": _num(cols, "CO2_abs", i) / MG_PER_KG,
            }
            for load in range(max_load + 1):
                row[f"km_load_{load}"] = float(km_load.get(load, 0.0))
            fleet_rows.append(row)
    fleet_table = pa.Table.from_pylist(fleet_rows)
    pq.write_table(fleet_table, run_dir / "fleet.parquet")

    kpis = _summary(rows, fleet_rows, max_load)
    if len(fleets) > 1:  # the same KPIs per fleet: shuttle_fleet_<name>_<kpi>
        for name in fleets:
            mine = _summary(
                [r for r in rows if r["fleet"] == name],
                [f for f in fleet_rows if f["fleet"] == name],
                max_load,
            )
            prefix = f"shuttle_fleet_{name}_"
            kpis.update({prefix + k.removeprefix("shuttle_"): v for k, v in mine.items()})
    lines = [f for f in spec.shuttles if isinstance(f, LineService)]
    if lines:
        kpis.update(_line_kpis(run_dir / STOPINFO, lines, run_dir))
    for raw in (PERSONINFO, STOPINFO, TRIPINFO_XML):
        (run_dir / raw).unlink(missing_ok=True)
    return kpis


_REQUEST_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("fleet", pa.string()),
        ("request_time", pa.float64()),
        ("origin", pa.string()),
        ("destination", pa.string()),
        ("direct_time_s", pa.float64()),
        ("direct_time_now_s", pa.float64()),
        ("direct_length_m", pa.float64()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("vehicle", pa.string()),
        ("board_time", pa.float64()),
        ("arrival_time", pa.float64()),
        ("wait_s", pa.float64()),
        ("in_vehicle_s", pa.float64()),
        ("detour_ratio", pa.float64()),
        ("direct_time_learned_s", pa.float64()),
        ("detour_ratio_learned", pa.float64()),
        ("wait_kept", pa.bool_()),
        ("detour_kept", pa.bool_()),
    ]
)


def tripinfo_to_parquet(xml: Path, parquet: Path) -> dict[str, list[Any]]:
    """SUMO's XML tripinfo as the Parquet file SUMO writes (element-prefixed text columns).

    Written by hand because SUMO's own Parquet writer cannot hold taxi rows (see
    :mod:`mobility.shuttles.setup`); values stay text, as in SUMO's Parquet, and
    :func:`mobility.sim.outputs.tidy` makes them numeric. Returns the columns.
    """
    rows: list[dict[str, str]] = []
    for trip in ElementTree.parse(xml).getroot().iter("tripinfo"):
        row = {f"tripinfo_{k}": v for k, v in trip.attrib.items()}
        for child in trip:
            row.update({f"{child.tag}_{k}": v for k, v in child.attrib.items()})
        rows.append(row)
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = {n: [row.get(n) for row in rows] for n in names}
    table = pa.table({n: pa.array(v, type=pa.string()) for n, v in columns.items()})
    pq.write_table(table, parquet)
    return columns


def _num(cols: dict[str, list[Any]], name: str, i: int | None) -> float:
    if i is None or name not in cols or cols[name][i] in (None, ""):
        return 0.0
    return float(cols[name][i])


def _hours(cols: dict[str, list[Any]], i: int | None, spec: ScenarioSpec) -> float:
    depart = _num(cols, "depart", i) if i is not None else -1.0
    if i is None or depart < 0:
        return 0.0
    arrival = _num(cols, "arrival", i)
    end = arrival if arrival >= 0 else spec.end
    return max(0.0, end - depart) / 3600.0


def _rides(path: Path) -> dict[str, dict[str, Any]]:
    """First ride of each person in SUMO's personinfo output."""
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for person in ElementTree.parse(path).getroot().iter("personinfo"):
        ride = person.find("ride")
        if ride is None:
            continue
        out[person.get("id", "")] = {
            "vehicle": ride.get("vehicle", ""),
            "depart": float(ride.get("depart", "-1")),
            "arrival": float(ride.get("arrival", "-1")),
        }
    return out


# What _summary writes for all fleets together (and, with several fleets, per fleet as
# shuttle_fleet_<name>_<kpi>), then what _line_kpis writes for the lines.
KPIS: tuple[Kpi, ...] = (
    Kpi(
        "shuttle_requests",
        "shuttle requests",
        "requests",
        "neither",
        "rides riders asked a shuttle for",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_served",
        "shuttle rides",
        "rides",
        "higher",
        "rides completed: the rider was picked up and dropped off",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_rejected",
        "shuttle rejections",
        "requests",
        "lower",
        "rides refused (no shuttle could come in time)",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_unfinished",
        "shuttle riders left",
        "riders",
        "lower",
        "riders still waiting or on board at the end",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_served_share",
        "shuttle served share",
        "share",
        "higher",
        "share of ride requests completed",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_rejection_rate",
        "shuttle rejection rate",
        "share",
        "lower",
        "share of ride requests refused",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_wait_mean_s",
        "shuttle wait",
        "s",
        "lower",
        "average wait for the shuttle to arrive",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_wait_median_s",
        "shuttle median wait",
        "s",
        "lower",
        "median wait for the shuttle",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_wait_p95_s",
        "shuttle p95 wait",
        "s",
        "lower",
        "wait of the 5 % of riders who waited longest",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_wait_under_5min_share",
        "shuttle wait under 5 min",
        "share",
        "higher",
        "share of riders picked up within 5 minutes",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_wait_under_10min_share",
        "shuttle wait under 10 min",
        "share",
        "higher",
        "share of riders picked up within 10 minutes",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_in_vehicle_mean_s",
        "shuttle ride time",
        "s",
        "lower",
        "average time riders spent on board",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_detour_ratio_mean",
        "shuttle detour ratio",
        "ratio",
        "lower",
        "average ride time over the direct drive (1 = no detour for other riders)",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_vehicle_km",
        "shuttle km",
        "km",
        "neither",
        "kilometres driven by all shuttles",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_empty_km_share",
        "shuttle empty km",
        "share",
        "lower",
        "share of shuttle kilometres driven with nobody on board",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_rides_per_vehicle_hour",
        "shuttle productivity",
        "rides/veh-h",
        "higher",
        "rides completed per shuttle per hour",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_utilisation",
        "shuttle utilisation",
        "share",
        "higher",
        "share of shuttle kilometres driven with riders on board",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_co2_kg",
        "shuttle CO2",
        "kg",
        "lower",
        "CO2 emitted by the shuttles",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_vehicles",
        "shuttles",
        "veh",
        "neither",
        "shuttles in service",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_occupancy_mean",
        "shuttle mean occupancy",
        "riders",
        "higher",
        "passenger-km over vehicle-km: riders on board on an average shuttle kilometre",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_vehicle_km_per_served",
        "shuttle km per ride",
        "km/ride",
        "lower",
        "kilometres driven by the shuttles per rider served",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_rider_time_total_h",
        "shuttle rider time",
        "h",
        "lower",
        "wait plus time on board, summed over the riders served",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_rider_time_mean_s",
        "shuttle trip time",
        "s",
        "lower",
        "wait plus time on board of an average rider served",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_wait_promise_broken_share",
        "shuttle wait promise broken",
        "share",
        "lower",
        "share of on-demand riders served who waited longer than the fleet's max_wait",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_detour_promise_broken_share",
        "shuttle detour promise broken",
        "share",
        "lower",
        "share of on-demand riders served whose ride took longer than max_detour times a "
        "direct ride (learned edge times, signal waits included, plus the drop-off)",
        per_fleet=True,
    ),
    Kpi(
        "shuttle_detour_ratio_learned_mean",
        "shuttle detour ratio (learned)",
        "ratio",
        "lower",
        "average ride time over a direct ride on the learned edge times (signal waits "
        "included) plus the drop-off: 1 = as fast as riding alone",
        per_fleet=True,
    ),
    # one per load seen (0 riders up to the most on board); {load} reads as the riders
    Kpi(
        "shuttle_km_share_load_{load}",
        "shuttle km share at load {load}",
        "share",
        "neither",
        "share of shuttle kilometres driven with {load} on board",
        per_fleet=True,
    ),
    # lines only (_line_kpis), all lines together
    Kpi(
        "shuttle_headway_deviation_mean_s",
        "headway deviation",
        "s",
        "lower",
        "average gap between a line's actual and planned headway",
    ),
    Kpi(
        "shuttle_headway_within_60s_share",
        "headway within 60 s",
        "share",
        "higher",
        "share of line stop calls within a minute of the planned headway",
    ),
    Kpi(
        "shuttle_schedule_delay_mean_s",
        "timetable delay",
        "s",
        "lower",
        "average time a timetabled line (a GTFS route) left its stops after the timetable's "
        "departure time",
    ),
    Kpi(
        "shuttle_on_time_share",
        "on time",
        "share",
        "higher",
        "share of a timetabled line's stop departures less than 5 minutes late (the "
        "usual transit punctuality measure; a shuttle never leaves early)",
    ),
    Kpi(
        "shuttle_load_per_stop_mean",
        "load per stop",
        "riders",
        "neither",
        "average riders on board leaving a line stop",
    ),
    Kpi(
        "shuttle_load_per_stop_max",
        "max load per stop",
        "riders",
        "neither",
        "most riders on board leaving a line stop",
    ),
)


def _summary(
    rows: list[dict[str, Any]], fleet_rows: list[dict[str, Any]], max_load: int
) -> dict[str, float]:
    n = len(rows)
    served = [r for r in rows if r["status"] == "served"]
    waits = np.array([r["wait_s"] for r in served])
    ivt = np.array([r["in_vehicle_s"] for r in served])
    detour = np.array([r["detour_ratio"] for r in served if math.isfinite(r["detour_ratio"])])
    km = sum(f["km"] for f in fleet_rows)
    sampled = sum(f["sampled_km"] for f in fleet_rows)
    empty = sum(f["empty_km"] for f in fleet_rows)
    hours = sum(f["hours"] for f in fleet_rows)
    busy_km = sampled - empty
    kpis: dict[str, float] = {
        "shuttle_requests": n,
        "shuttle_served": len(served),
        "shuttle_rejected": sum(r["status"] == "rejected" for r in rows),
        "shuttle_unfinished": sum(r["status"] == "unfinished" for r in rows),
        "shuttle_served_share": len(served) / n if n else math.nan,
        "shuttle_rejection_rate": sum(r["status"] == "rejected" for r in rows) / n
        if n
        else math.nan,
        "shuttle_wait_mean_s": _stat(waits, np.mean),
        "shuttle_wait_median_s": _stat(waits, np.median),
        "shuttle_wait_p95_s": _stat(waits, lambda w: np.quantile(w, 0.95)),
        "shuttle_wait_under_5min_share": _stat(waits, lambda w: np.mean(w <= 300)),
        "shuttle_wait_under_10min_share": _stat(waits, lambda w: np.mean(w <= 600)),
        "shuttle_in_vehicle_mean_s": _stat(ivt, np.mean),
        "shuttle_detour_ratio_mean": _stat(detour, np.mean),
        "shuttle_vehicle_km": km,
        "shuttle_empty_km_share": empty / sampled if sampled else math.nan,
        "shuttle_rides_per_vehicle_hour": len(served) / hours if hours else math.nan,
        "shuttle_utilisation": busy_km / sampled if sampled else math.nan,
        "shuttle_co2_kg": sum(f["co2_kg"] for f in fleet_rows),
        "shuttle_vehicles": len(fleet_rows),
    }
    for load in range(max_load + 1):
        share = sum(f.get(f"km_load_{load}", 0.0) for f in fleet_rows)
        kpis[f"shuttle_km_share_load_{load}"] = share / sampled if sampled else math.nan
    kpis.update(_promise_kpis(served, fleet_rows, km, sampled, max_load))
    return kpis


def _promise_kpis(
    served: list[dict[str, Any]],
    fleet_rows: list[dict[str, Any]],
    km: float,
    sampled: float,
    max_load: int,
) -> dict[str, float]:
    """Occupancy (FleetPy's and MATSim-DRT's headline), km per ride, rider time, promises."""
    pkm = sum(
        load * f.get(f"km_load_{load}", 0.0) for f in fleet_rows for load in range(max_load + 1)
    )
    rider_s = [r["wait_s"] + r["in_vehicle_s"] for r in served]
    waits = [r["wait_kept"] for r in served if r["wait_kept"] is not None]
    learned = np.array([r["detour_ratio_learned"] for r in served])
    learned = learned[np.isfinite(learned)]
    detours = [r["detour_kept"] for r in served if r["detour_kept"] is not None]
    return {
        "shuttle_occupancy_mean": pkm / sampled if sampled else math.nan,
        "shuttle_vehicle_km_per_served": km / len(served) if served else math.nan,
        "shuttle_rider_time_total_h": sum(rider_s) / 3600.0,
        "shuttle_rider_time_mean_s": _stat(np.array(rider_s), np.mean),
        "shuttle_wait_promise_broken_share": _stat(np.array(waits), lambda k: 1.0 - np.mean(k)),
        "shuttle_detour_promise_broken_share": _stat(np.array(detours), lambda k: 1.0 - np.mean(k)),
        "shuttle_detour_ratio_learned_mean": _stat(learned, np.mean),
    }


def _stat(values: np.ndarray, fn: Any) -> float:
    return float(fn(values)) if len(values) else math.nan


def _line_kpis(path: Path, lines: list[LineService], run_dir: Path) -> dict[str, float]:
    """Headway adherence and load per stop from SUMO's stop output."""
    if not path.exists():
        return {}
    calls: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    planned = {f.name: f.headway for f in lines if f.timetable is None}
    vehicle_line = {}
    for f in lines:
        vehicle_line[f.name] = f.name
    rows = []
    for stop in ElementTree.parse(path).getroot().iter("stopinfo"):
        stop_id = stop.get("busStop")
        if not stop_id:
            continue
        line = stop.get("id", "").rsplit(".", 1)[0]
        if line not in vehicle_line:
            continue
        started = float(stop.get("started", "nan"))
        load = (
            float(stop.get("initialPersons", 0))
            + float(stop.get("loadedPersons", 0))
            - float(stop.get("unloadedPersons", 0))
        )
        calls[(line, stop_id)].append((started, load))
        rows.append(
            {
                "line": line,
                "stop": stop_id,
                "vehicle": stop.get("id", ""),
                "arrival": started,
                "departure": float(stop.get("ended", "nan")),
                "delay": float(stop.get("delay", "nan")),  # s after `until` (timetabled lines)
                "boarded": float(stop.get("loadedPersons", 0)),
                "alighted": float(stop.get("unloadedPersons", 0)),
                "load_departing": load,
            }
        )
    if rows:
        pq.write_table(pa.Table.from_pylist(rows), run_dir / "stops.parquet")
    deviations, loads = [], []
    for (line, _stop), seq in calls.items():
        times = sorted(t for t, _ in seq)
        loads.extend(load for _, load in seq)
        head = planned.get(line)
        if head is not None and len(times) > 1:
            deviations.extend(abs(np.diff(times) - head))
    dev = np.array(deviations)
    late = np.array([r["delay"] for r in rows if math.isfinite(r["delay"])])
    # NaN without timetabled lines: SUMO writes a delay only for stops with `until`
    return {
        "shuttle_schedule_delay_mean_s": _stat(late, np.mean),
        "shuttle_on_time_share": _stat(late, lambda d: np.mean(d < ON_TIME_S)),
        "shuttle_headway_deviation_mean_s": _stat(dev, np.mean),
        "shuttle_headway_within_60s_share": _stat(dev, lambda d: np.mean(d <= 60)),
        "shuttle_load_per_stop_mean": _stat(np.array(loads), np.mean),
        "shuttle_load_per_stop_max": _stat(np.array(loads), np.max),
    }
