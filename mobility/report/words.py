"""The words of a report: what a scenario simulated and what each KPI means, in plain terms."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mobility.kpis import find_kpi

# Kpi.better in the report's words: the way a difference is good ("" = neither way).
_BETTER = {"lower": "low", "higher": "high", "neither": ""}


def _riders(load: str) -> str:
    if not load.isdigit():
        return load
    n = int(load)
    return "nobody" if n == 0 else "1 rider" if n == 1 else f"{n} riders"


# How the report says the value of a placeholder in a KPI family's description.
_PARAM_WORDS: dict[str, Callable[[str], str]] = {"load": _riders}


def better(kpi: str) -> str:
    """``low``, ``high`` or ``""``, from the KPI's declaration (:mod:`mobility.kpis`).

    A name nothing declares (a run written before its KPI was declared) is judged by its
    words, so an old run or sweep still gets its comparison colours.
    """
    found = find_kpi(kpi)
    if found is not None:
        return _BETTER[found.kpi.better]
    name = kpi.lower()
    if any(w in name for w in ("wait", "delay", "loss", "time", "co2", "fuel", "teleport")):
        return "low"
    if any(w in name for w in ("throughput", "completed", "served", "occupancy", "speed")):
        return "high"
    return ""


def describe(kpi: str) -> str:
    """The KPI in plain words: its declared description, per fleet prefixed with the fleet."""
    found = find_kpi(kpi)
    if found is None:
        return kpi.replace("_", " ")
    words = {k: _PARAM_WORDS.get(k, str)(v) for k, v in found.params.items()}
    text = found.kpi.description.format(**words) if words else found.kpi.description
    return f"fleet {found.fleet}: {text}" if found.fleet is not None else text


def heading(kpi: str) -> str:
    """The KPI's plain name with its unit, ``Mean travel time (s)``, for axes and headers;
    per fleet prefixed with the fleet. A name nothing declares keeps its words."""
    found = find_kpi(kpi)
    if found is None:
        return kpi.replace("_", " ")
    words = {k: _PARAM_WORDS.get(k, str)(v) for k, v in found.params.items()}
    label = found.kpi.label.format(**words) if words else found.kpi.label
    text = f"{label} ({found.kpi.unit})"
    return f"{found.fleet}: {text}" if found.fleet is not None else text


def param_words(path: str) -> str:
    """A swept parameter in words: ``demand.vehicles_per_hour`` -> ``demand: vehicles per
    hour``."""
    head, _, tail = path.rpartition(".")
    words = tail.replace("_", " ")
    return f"{head.replace('.', ' ').replace('_', ' ')}: {words}" if head else words


def span(begin: float, end: float) -> str:
    """A time span as a planner reads it: minutes into the run (``2–4 min``) for a window
    that starts at 0, clock time (``07:50–08:00``) for one placed in the day (GTFS, counts)."""
    if begin < 3600:
        return f"{begin / 60:g}–{end / 60:g} min"

    def clock(t: float) -> str:
        return f"{int(t // 3600) % 24:02d}:{int(t // 60) % 60:02d}"

    return f"{clock(begin)}–{clock(end)}"


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
    transit = spec.get("transit")
    if transit:
        routes = ", ".join(map(str, transit.get("routes") or [])) or "all routes"
        lines.append(
            f"<b>Transit</b>: {e(routes)} of the GTFS feed {e(Path(str(transit['gtfs'])).name)} "
            f"on {e(str(transit.get('date')))} (SUMO gtfs2pt), as scheduled background buses."
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
        zones = demand.get("zones")
        where = (
            f" (zones: polygons of {Path(str(zones['file'])).name})"
            if isinstance(zones, dict) and "file" in zones and "id" in zones
            else ""
        )
        return e(f"origin-destination flows between zones{where}: {'; '.join(parts)}{more}{shape}.")
    if kind == "counts":
        candidates = demand.get("candidates") or {}
        source = {"random": "random trips", "od": "OD flows", "routes": "a route file"}.get(
            str(candidates.get("type")), "random trips"
        )
        return e(
            f"routes fitted to the traffic counts of {Path(str(demand.get('counts'))).name} by "
            f"SUMO's routeSampler, chosen among candidate routes from {source}."
        )
    return e(f"{kind}: {_short(demand)}")


def _zone_count(zones: Any) -> str:
    if isinstance(zones, dict) and "file" in zones and "id" in zones:
        return f"the zones of {Path(str(zones['file'])).name}"
    return f"{len(zones or {})} zones"


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
            if f.get("gtfs_route"):
                parts.append(
                    f"line {f.get('name')}: GTFS route {f['gtfs_route']} of the transit feed "
                    f"(its stops, path and timetable){seats}, run by autonomous shuttles"
                )
                continue
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
            f" Riders: {len(flows)} flow(s) between {_zone_count(riders.get('zones'))}, "
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
