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
import pandas as pd

MG_PER_KG = 1e6


def compute_kpis(
    trips: pd.DataFrame, stats: dict[str, dict[str, float]], *, begin: float, end: float
) -> dict[str, float]:
    """One flat dict of KPIs (plain floats and ints, NaN where undefined)."""
    departed = trips["depart"] >= 0
    arrived = trips["arrival"] >= 0
    done = trips[arrived]
    hours = (end - begin) / 3600.0
    vehicles = stats.get("vehicles", {})
    kpis: dict[str, float] = {
        "vehicles_loaded": len(trips),
        "trips_completed": int(arrived.sum()),
        "trips_unfinished": int((~arrived).sum()),
        "vehicles_never_departed": int((~departed).sum()),
        "vehicles_in_network_at_end": int(vehicles.get("running", np.nan)),
        "travel_time_mean_s": _mean(done["duration"]),
        "travel_time_p50_s": _quantile(done["duration"], 0.50),
        "travel_time_p95_s": _quantile(done["duration"], 0.95),
        "time_loss_mean_s": _mean(done["timeLoss"]),
        "waiting_time_mean_s": _mean(done["waitingTime"]),
        "depart_delay_mean_s": _mean(trips.loc[departed, "departDelay"]),
        "mean_speed_mps": _ratio(done["routeLength"].sum(), done["duration"].sum()),
        "route_length_mean_m": _mean(done["routeLength"]),
        "throughput_per_hour": float(arrived.sum() / hours),
        "teleports": int(stats.get("teleports", {}).get("total", 0)),
        "resco_delay_s": _mean(trips["timeLoss"] + trips["departDelay"]),
    }
    if "CO2_abs" in trips:
        kpis["co2_total_kg"] = float(trips["CO2_abs"].sum() / MG_PER_KG)
        kpis["fuel_total_kg"] = float(trips["fuel_abs"].sum() / MG_PER_KG)
        kpis["co2_per_km_g"] = _ratio(
            trips["CO2_abs"].sum() / 1e3, trips.loc[departed, "routeLength"].sum() / 1e3
        )
    return kpis


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else math.nan


def _quantile(values: pd.Series, q: float) -> float:
    return float(values.quantile(q)) if len(values) else math.nan


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else math.nan
