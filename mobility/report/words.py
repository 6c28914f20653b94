"""The words of a report: what a scenario simulated and what each KPI means, in plain terms."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any

# KPI -> (plain description, unit, better: "low", "high" or "" when neither is better)
KPI_INFO: dict[str, tuple[str, str, str]] = {
    "vehicles_loaded": ("vehicles that wanted to travel", "", ""),
    "trips_completed": ("trips that reached their destination", "", "high"),
    "trips_unfinished": ("trips still on the road (or never started) at the end", "", "low"),
    "vehicles_never_departed": ("vehicles that could not even enter the network", "", "low"),
    "vehicles_in_network_at_end": ("vehicles still driving when the simulation ended", "", "low"),
    "travel_time_mean_s": ("average door-to-door travel time", "s", "low"),
    "travel_time_p50_s": ("median travel time", "s", "low"),
    "travel_time_p95_s": ("travel time of the slowest 5 % of trips", "s", "low"),
    "time_loss_mean_s": ("average delay: time lost against free-flow driving", "s", "low"),
    "waiting_time_mean_s": ("average time standing still (below 0.1 m/s)", "s", "low"),
    "depart_delay_mean_s": ("average wait to enter the network", "s", "low"),
    "mean_speed_mps": ("average speed over the whole trip", "m/s", "high"),
    "route_length_mean_m": ("average trip length", "m", ""),
    "throughput_per_hour": ("completed trips per hour", "trips/h", "high"),
    "teleports": ("vehicles SUMO removed after being stuck (gridlock sign)", "", "low"),
    "resco_delay_s": ("delay incl. waiting to enter (RESCO benchmark measure)", "s", "low"),
    "co2_total_kg": ("CO2 emitted by all vehicles", "kg", "low"),
    "fuel_total_kg": ("fuel burnt by all vehicles", "kg", "low"),
    "co2_per_km_g": ("CO2 per vehicle-kilometre driven", "g/km", "low"),
    # shuttles (mobility.shuttles.kpi): all fleets together
    "shuttle_requests": ("rides riders asked a shuttle for", "", ""),
    "shuttle_served": ("rides completed: the rider was picked up and dropped off", "", "high"),
    "shuttle_rejected": ("rides refused (no shuttle could come in time)", "", "low"),
    "shuttle_unfinished": ("riders still waiting or on board at the end", "", "low"),
    "shuttle_served_share": ("share of ride requests completed", "", "high"),
    "shuttle_rejection_rate": ("share of ride requests refused", "", "low"),
    "shuttle_wait_mean_s": ("average wait for the shuttle to arrive", "s", "low"),
    "shuttle_wait_median_s": ("median wait for the shuttle", "s", "low"),
    "shuttle_wait_p95_s": ("wait of the 5 % of riders who waited longest", "s", "low"),
    "shuttle_wait_under_5min_share": ("share of riders picked up within 5 minutes", "", "high"),
    "shuttle_wait_under_10min_share": ("share of riders picked up within 10 minutes", "", "high"),
    "shuttle_in_vehicle_mean_s": ("average time riders spent on board", "s", "low"),
    "shuttle_detour_ratio_mean": (
        "average ride time over the direct drive (1 = no detour for other riders)",
        "",
        "low",
    ),
    "shuttle_vehicle_km": ("kilometres driven by all shuttles", "km", ""),
    "shuttle_empty_km_share": (
        "share of shuttle kilometres driven with nobody on board",
        "",
        "low",
    ),
    "shuttle_rides_per_vehicle_hour": ("rides completed per shuttle per hour", "", "high"),
    "shuttle_utilisation": ("share of shuttle kilometres driven with riders on board", "", "high"),
    "shuttle_co2_kg": ("CO2 emitted by the shuttles", "kg", "low"),
    "shuttle_vehicles": ("shuttles in service", "", ""),
    "shuttle_headway_deviation_mean_s": (
        "average gap between a line's actual and planned headway",
        "s",
        "low",
    ),
    "shuttle_headway_within_60s_share": (
        "share of line stop calls within a minute of the planned headway",
        "",
        "high",
    ),
    "shuttle_load_per_stop_mean": ("average riders on board leaving a line stop", "", ""),
    "shuttle_load_per_stop_max": ("most riders on board leaving a line stop", "", ""),
}
# The KPIs a sweep report shows first (others follow in the full table).
HEADLINE = (
    "travel_time_mean_s",
    "time_loss_mean_s",
    "waiting_time_mean_s",
    "trips_completed",
    "throughput_per_hour",
    "co2_total_kg",
    "teleports",
)


def _shuttle_kpi(kpi: str) -> tuple[str, str] | None:
    """A per-fleet (``shuttle_fleet_<name>_<kpi>``) or per-load shuttle KPI: (base, words)."""
    load = re.fullmatch(r"shuttle_km_share_load_(\d+)", kpi)
    if load:
        n = int(load.group(1))
        riders = "nobody" if n == 0 else "1 rider" if n == 1 else f"{n} riders"
        return "", f"share of shuttle kilometres driven with {riders} on board"
    if kpi.startswith("shuttle_fleet_"):
        rest = kpi.removeprefix("shuttle_fleet_")
        for base in sorted(KPI_INFO, key=len, reverse=True):
            tail = base.removeprefix("shuttle_")
            if base.startswith("shuttle_") and rest.endswith("_" + tail):
                fleet = rest[: -len(tail) - 1]
                return base, f"fleet {fleet}: {KPI_INFO[base][0]}"
        load = re.fullmatch(r"(.+)_km_share_load_(\d+)", rest)
        if load:
            words = _shuttle_kpi(f"shuttle_km_share_load_{load.group(2)}")
            return "", f"fleet {load.group(1)}: {words[1] if words else ''}"
    return None


def better(kpi: str) -> str:
    """``low``, ``high`` or ``""``; signal KPIs follow their names."""
    if kpi in KPI_INFO:
        return KPI_INFO[kpi][2]
    shuttle = _shuttle_kpi(kpi)
    if shuttle is not None:
        return KPI_INFO[shuttle[0]][2] if shuttle[0] else ""
    name = kpi.lower()
    if any(w in name for w in ("wait", "delay", "loss", "time", "co2", "fuel", "teleport")):
        return "low"
    if any(w in name for w in ("throughput", "completed", "served", "occupancy", "speed")):
        return "high"
    return ""


def describe(kpi: str) -> str:
    if kpi in KPI_INFO:
        return KPI_INFO[kpi][0]
    shuttle = _shuttle_kpi(kpi)
    return shuttle[1] if shuttle is not None else kpi.replace("_", " ")


def fmt(value: Any, digits: int = 1) -> str:
    """A number as a planner reads it: thousands separators, NaN as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool | str):
        return html.escape(str(value))
    if isinstance(value, int):
        return f"{value:,}"
    value = float(value)
    if math.isnan(value):
        return "–"
    if value.is_integer() and abs(value) >= 1:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if abs(value) >= 1 else f"{value:.3g}"


def scenario_words(spec: dict[str, Any], meta: dict[str, Any], net: dict[str, Any]) -> list[str]:
    """Sentences (HTML-escaped) that say what was simulated."""
    e = html.escape
    lines = []
    minutes = (float(spec.get("end", 0)) - float(spec.get("begin", 0))) / 60.0
    lines.append(
        f"<b>{e(str(spec.get('name', '')))}</b>: {e(str(spec.get('description') or ''))}. "
        f"SUMO simulated {minutes:g} minutes of traffic, vehicle by vehicle, "
        f"in steps of {float(spec.get('step_length', 1.0)):g} s."
    )
    network = spec.get("network", {})
    where = Path(str(network.get("path") or meta.get("network") or "")).name
    size = (
        f"{net.get('edges', '?')} roads ({fmt(net.get('road_km', net.get('km_of_road')))} km), "
        f"{net.get('junctions', '?')} junctions, {net.get('signals', '?')}"
        " of them with traffic lights"
    )
    kind = {"osm": "OpenStreetMap", "grid": "generated grid", "file": "network file"}.get(
        str(network.get("type")), str(network.get("type", ""))
    )
    lines.append(f"<b>Network</b>: {e(where)} ({e(kind)}): {e(size)}.")
    lines.append(f"<b>Demand</b>: {_demand_words(spec.get('demand') or {})}")
    signals = spec.get("signals") or {}
    controller = signals.get("controller", "static") if isinstance(signals, dict) else signals
    lines.append(f"<b>Signals</b>: {e(_signal_words(str(controller), signals))}")
    shuttles = spec.get("shuttles")
    lines.append(
        "<b>Shuttles</b>: "
        + (
            e(_shuttle_words(shuttles, spec.get("riders") or {}))
            if shuttles
            else "none in this scenario (cars only)."
        )
    )
    lines.append(
        f"<b>Randomness</b>: seed {e(str(meta.get('seed', spec.get('seed'))))}; the same "
        "scenario file and seed give the same result."
    )
    return lines


def _demand_words(demand: dict[str, Any]) -> str:
    e = html.escape
    kind = demand.get("type")
    profile = demand.get("profile")
    shape = (
        f", varying over time with relative intensities {', '.join(f'{p:g}' for p in profile)}"
        if profile
        else ""
    )
    if kind == "random":
        return e(
            f"random trips between the edges of the network, {demand.get('vehicles_per_hour'):g}"
            f" vehicles per hour on average{shape} (trips start mostly at the fringe, "
            f"fringe factor {demand.get('fringe_factor', 1):g})."
        )
    if kind == "od":
        flows = demand.get("flows") or []
        parts = [
            f"{f.get('from')} → {f.get('to')}: {f.get('vehicles_per_hour', '?')} veh/h"
            for f in flows[:8]
        ]
        more = f" and {len(flows) - 8} more" if len(flows) > 8 else ""
        return e(f"origin-destination flows between zones: {'; '.join(parts)}{more}{shape}.")
    return e(f"{kind}: {_short(demand)}")


def _shuttle_words(fleets: Any, riders: dict[str, Any]) -> str:
    """A short paragraph: each fleet (on-demand or line) and the riders who ask for it."""
    if not isinstance(fleets, list):
        return _short(fleets)
    parts = []
    for f in fleets:
        if not isinstance(f, dict):
            parts.append(_short(f))
            continue
        vehicle = f.get("vehicle") or {}
        seats = vehicle.get("capacity")
        seats = f", {seats} seats each" if seats else ""
        if f.get("service") == "on_demand":
            depots = ", ".join(str(d.get("edge")) for d in f.get("depots") or [])
            pooled = "shared rides (pooling)" if f.get("pooling", True) else "one booking at a time"
            parts.append(
                f"fleet {f.get('name')}: {f.get('fleet_size')} on-demand shuttles{seats}, "
                f"starting from depot(s) on road {depots}; they come when called, "
                f"{pooled}, a rider waits at most {float(f.get('max_wait', 600)) / 60:g} min "
                f"and rides at most {float(f.get('max_detour', 2)):g}× the direct time; "
                f"dispatcher {f.get('dispatcher', 'greedy')}, every "
                f"{float(f.get('dispatch_period', 30)):g} s"
            )
        else:
            stops = f.get("stops") or []
            every = (
                f"one vehicle every {float(f['headway']) / 60:g} min"
                if f.get("headway") and not f.get("timetable")
                else f"{len(f.get('timetable') or [])} timetabled departures"
            )
            parts.append(
                f"line {f.get('name')}: a fixed route through {len(stops)} stops, {every}"
                f"{seats}, {float(f.get('dwell', 20)):g} s at each stop"
            )
    text = "; ".join(parts) + "."
    flows = riders.get("flows") or []
    if flows:
        rate = sum(float(x.get("per_hour", 0)) for x in flows)
        text += (
            f" Riders: {len(flows)} flow(s) between {len(riders.get('zones') or {})} zones, "
            f"{rate:g} ride requests per hour on average."
        )
    if riders.get("trips"):
        text += f" {len(riders['trips'])} individually listed ride requests."
    return text


def _signal_words(controller: str, signals: Any) -> str:
    words = {
        "static": "fixed-time plans as stored in the network (each light cycles the same way)",
        "webster": "fixed-time plans retimed with Webster's formula for the demand",
        "actuated": "actuated: green extends while vehicles keep arriving",
        "max_pressure": "max-pressure: each light serves the movement with the longest queue",
    }
    return words.get(controller, f"controller {controller!r}") + "."


def _short(value: Any, most: int = 300) -> str:
    text = str(value)
    return text if len(text) <= most else text[:most] + "…"
