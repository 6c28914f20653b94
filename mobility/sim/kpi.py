"""Key performance indicators of one run, computed from its tables.

Definitions follow SUMO's tripinfo: ``duration`` is the travel time of an arrived trip,
``timeLoss`` the time lost against driving at the desired speed (the delay), ``waitingTime``
the time spent below 0.1 m/s, ``departDelay`` the wait to be inserted.

``resco_delay_s`` is the delay of the RESCO signal-control benchmark: the mean over *all*
vehicles loaded before the end of (timeLoss + departDelay), trips still running at the end
included, and vehicles that never departed charged end minus scheduled departure (which is
what SUMO writes as their departDelay with ``--tripinfo-output.write-undeparted``).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from mobility.kpis import Kpi

MG_PER_KG = 1e6

# What compute_kpis writes. Headline KPIs lead a sweep report in this order.
KPIS: tuple[Kpi, ...] = (
    Kpi(
        "travel_time_mean_s",
        "travel time",
        "s",
        "lower",
        "average door-to-door travel time",
        headline=True,
    ),
    Kpi("travel_time_p50_s", "median travel time", "s", "lower", "median travel time"),
    Kpi(
        "travel_time_p95_s",
        "p95 travel time",
        "s",
        "lower",
        "travel time of the slowest 5 % of trips",
    ),
    Kpi(
        "time_loss_mean_s",
        "time loss",
        "s",
        "lower",
        "average delay: time lost against free-flow driving",
        headline=True,
    ),
    Kpi(
        "waiting_time_mean_s",
        "waiting",
        "s",
        "lower",
        "average time standing still (below 0.1 m/s)",
        headline=True,
    ),
    Kpi("depart_delay_mean_s", "depart delay", "s", "lower", "average wait to enter the network"),
    Kpi(
        "resco_delay_s",
        "delay",
        "s",
        "lower",
        "delay incl. waiting to enter (RESCO benchmark measure)",
    ),
    Kpi("mean_speed_mps", "mean speed", "m/s", "higher", "average speed over the whole trip"),
    Kpi("route_length_mean_m", "trip length", "m", "neither", "average trip length"),
    Kpi("vehicles_loaded", "vehicles", "veh", "neither", "vehicles that wanted to travel"),
    Kpi(
        "trips_completed",
        "trips completed",
        "trips",
        "higher",
        "trips that reached their destination",
        headline=True,
    ),
    Kpi(
        "trips_unfinished",
        "trips unfinished",
        "trips",
        "lower",
        "trips still on the road (or never started) at the end",
    ),
    Kpi(
        "vehicles_never_departed",
        "never departed",
        "veh",
        "lower",
        "vehicles that could not even enter the network",
    ),
    Kpi(
        "vehicles_in_network_at_end",
        "still driving at end",
        "veh",
        "lower",
        "vehicles still driving when the simulation ended",
    ),
    Kpi(
        "throughput_per_hour",
        "throughput",
        "trips/h",
        "higher",
        "completed trips per hour",
        headline=True,
    ),
    # only with outputs.emissions (SUMO's CO2_abs and fuel_abs in the trips table)
    Kpi("co2_total_kg", "CO2", "kg", "lower", "CO2 emitted by all vehicles", headline=True),
    Kpi("fuel_total_kg", "fuel", "kg", "lower", "fuel burnt by all vehicles"),
    Kpi("co2_per_km_g", "CO2 per km", "g/km", "lower", "CO2 per vehicle-kilometre driven"),
    Kpi(
        "teleports",
        "teleports",
        "veh",
        "lower",
        "vehicles SUMO removed after being stuck (gridlock sign)",
        headline=True,
    ),
)


_NUMPY = {
    pa.float64(): np.float64,
    pa.float32(): np.float32,
    pa.int64(): np.int64,
    pa.int32(): np.int32,
}


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column as numpy. pyarrow's own ``to_numpy`` imports pandas (0.2-0.3 s of every
    run's start-up) to check for its types; numeric columns without nulls are read from
    their data buffer instead, the rest (text, nulls) go the usual way."""
    array = column.combine_chunks()
    dtype = _NUMPY.get(array.type)
    if dtype is None or array.null_count:
        return array.to_numpy(zero_copy_only=False)
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype().itemsize)


def compute_kpis(
    trips: pa.Table, stats: dict[str, dict[str, float]], *, begin: float, end: float
) -> dict[str, float]:
    """One flat dict of KPIs (plain floats and ints, NaN where undefined)."""
    numeric = [f.name for f in trips.schema if not pa.types.is_string(f.type)]  # text unused
    col = {name: _numpy(trips.column(name)) for name in numeric}
    departed = col["depart"] >= 0
    arrived = col["arrival"] >= 0
    duration = col["duration"][arrived]
    route_length = col["routeLength"].astype(float)
    hours = (end - begin) / 3600.0
    vehicles = stats.get("vehicles", {})
    kpis: dict[str, float] = {
        "vehicles_loaded": trips.num_rows,
        "trips_completed": int(arrived.sum()),
        "trips_unfinished": int((~arrived).sum()),
        "vehicles_never_departed": int((~departed).sum()),
        "vehicles_in_network_at_end": int(vehicles.get("running", 0)),
        "travel_time_mean_s": _mean(duration),
        "travel_time_p50_s": _quantile(duration, 0.50),
        "travel_time_p95_s": _quantile(duration, 0.95),
        "time_loss_mean_s": _mean(col["timeLoss"][arrived]),
        "waiting_time_mean_s": _mean(col["waitingTime"][arrived]),
        "depart_delay_mean_s": _mean(col["departDelay"][departed]),
        "mean_speed_mps": _ratio(route_length[arrived].sum(), duration.sum()),
        "route_length_mean_m": _mean(route_length[arrived]),
        "throughput_per_hour": float(arrived.sum() / hours),
        "teleports": int(stats.get("teleports", {}).get("total", 0)),
        "resco_delay_s": _mean(col["timeLoss"] + col["departDelay"]),
    }
    if "CO2_abs" in col:
        co2 = col["CO2_abs"].astype(float).sum()
        kpis["co2_total_kg"] = float(co2 / MG_PER_KG)
        kpis["fuel_total_kg"] = float(col["fuel_abs"].astype(float).sum() / MG_PER_KG)
        kpis["co2_per_km_g"] = _ratio(co2 / 1e3, route_length[departed].sum() / 1e3)
    return kpis


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else math.nan


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else math.nan
