"""The words of a report: what a scenario simulated and what each KPI means, in plain terms."""

from __future__ import annotations

import html
import math
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


def better(kpi: str) -> str:
    """``low``, ``high`` or ``""``; shuttle/signal KPIs follow their names."""
    if kpi in KPI_INFO:
        return KPI_INFO[kpi][2]
    name = kpi.lower()
    if any(w in name for w in ("wait", "delay", "loss", "time", "co2", "fuel", "teleport")):
        return "low"
    if any(w in name for w in ("throughput", "completed", "served", "occupancy", "speed")):
        return "high"
    return ""


def describe(kpi: str) -> str:
    return KPI_INFO.get(kpi, (kpi.replace("_", " "), "", ""))[0]


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
        + (e(_short(shuttles)) if shuttles else "none in this scenario (cars only).")
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
