"""Safety KPIs of a run, from its ``conflicts.parquet`` and trips.

Rates are per hour of the simulated window and per million vehicle-km driven (tripinfo's
``routeLength``, unfinished trips included). Severity bands follow SSAM and AASHTO: TTC
below 1.0 s and below 1.5 s, DRAC above 3.4 m/s^2. With only a share of vehicles equipped
with the SSM device, a conflict is seen when either vehicle is equipped, with probability
``1 - (1 - share)^2``; conflict counts are divided by it (an unbiased estimate of the full
count whose spread grows as the share falls). Collisions and emergency brakings are SUMO's
own checks of every vehicle and are never scaled.

A shuttle's safety is compared per kilometre: conflicts a shuttle is part of per million
shuttle-km against the conflicts other vehicles are part of per million km of theirs (a
conflict between two vehicles counts once for each side).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from mobility.kpis import Kpi

BANDS = {
    "ttc10": ("min_ttc", "<", 1.0),
    "ttc15": ("min_ttc", "<", 1.5),
    "drac34": ("max_drac", ">", 3.4),
}
# conflict_type of the table -> the name in KPI names (no underscores in a family's value)
TYPES = {
    "rear_end": "rearend",
    "lane_change": "lanechange",
    "merging": "merging",
    "crossing": "crossing",
    "oncoming": "oncoming",
    "other": "other",
}

BAND_WORDS = {"ttc10": "TTC < 1.0 s", "ttc15": "TTC < 1.5 s", "drac34": "DRAC > 3.4 m/s^2"}
TYPE_WORDS = {
    "rearend": "rear-end",
    "lanechange": "lane-change",
    "merging": "merging",
    "crossing": "crossing",
    "oncoming": "oncoming",
    "other": "other",
}
PER_HOUR, PER_MVKM = "conflicts/h", "conflicts/10^6 veh-km"


def _rates(name: str, label: str, what: str) -> tuple[Kpi, Kpi]:
    """The per-hour and per-million-vehicle-km KPIs of one count of conflicts."""
    return (
        Kpi(f"{name}_per_hour", label, PER_HOUR, "lower", f"{what} per hour"),
        Kpi(f"{name}_per_mvkm", f"{label} rate", PER_MVKM, "lower", f"{what} per 10^6 veh-km"),
    )


# Written when the spec has ``safety:`` (by :func:`safety_kpis`); one name per band and type
# rather than a family, so the report needs no words for a new placeholder.
KPIS: tuple[Kpi, ...] = (
    *_rates(
        "safety_conflicts",
        "conflicts",
        "traffic conflicts (SSM device: TTC, DRAC or PET past its threshold)",
    ),
    *(
        kpi
        for band, words in BAND_WORDS.items()
        for kpi in _rates(f"safety_severe_{band}", f"conflicts {words}", f"conflicts with {words}")
    ),
    *(
        kpi
        for short, words in TYPE_WORDS.items()
        for kpi in _rates(f"safety_type_{short}", f"{words} conflicts", f"{words} conflicts")
    ),
    Kpi(
        "safety_shuttle_conflicts_per_mvkm",
        "shuttle conflict rate",
        "conflicts/10^6 shuttle-km",
        "lower",
        "conflicts a shuttle is part of, per million shuttle-kilometres",
    ),
    Kpi(
        "safety_other_conflicts_per_mvkm",
        "other vehicles' conflict rate",
        PER_MVKM,
        "lower",
        "conflicts other vehicles are part of, per million of their kilometres",
    ),
    Kpi(
        "safety_emergency_brakings",
        "emergency brakings",
        "brakings",
        "lower",
        "vehicles braking harder than they wish to (SUMO's emergency braking warnings)",
    ),
    Kpi(
        "safety_emergency_brakings_per_hour",
        "emergency brakings/h",
        "brakings/h",
        "lower",
        "emergency brakings per hour",
    ),
    Kpi(
        "safety_collisions",
        "collisions",
        "collisions",
        "lower",
        "collisions SUMO detected (on lanes and inside junctions)",
    ),
    Kpi(
        "safety_conflicts_logged",
        "conflicts logged",
        "conflicts",
        "neither",
        "conflicts the equipped vehicles logged, before scaling by the detection share",
    ),
    Kpi(
        "safety_detection_share",
        "detection share",
        "share",
        "neither",
        "chance a conflict is seen: 1 - (1 - equipped share)^2",
    ),
)


def detection_share(equipped: float) -> float:
    """The chance that at least one of a conflict's two vehicles carries the device."""
    return 1.0 - (1.0 - equipped) ** 2


def safety_kpis(
    table: pa.Table,
    *,
    hours: float,
    km: Mapping[str, float],
    equipped: float,
) -> dict[str, float]:
    """The KPIs of :data:`KPIS`; ``km`` is kilometres driven per vehicle class (``car``,
    ``shuttle``, ...)."""
    kind = np.asarray(table.column("kind").to_pylist(), dtype=object)
    conflicts = table.filter(pa.array(kind == "conflict"))
    share = detection_share(equipped)
    mvkm = sum(km.values()) / 1e6
    out: dict[str, float] = {}

    def rates(name: str, count: float) -> None:
        estimate = count / share
        out[f"{name}_per_hour"] = estimate / hours
        out[f"{name}_per_mvkm"] = estimate / mvkm if mvkm > 0 else math.nan

    rates("safety_conflicts", conflicts.num_rows)
    for band, (column, op, limit) in BANDS.items():
        values = np.asarray(conflicts.column(column).to_numpy(zero_copy_only=False), dtype=float)
        rates(f"safety_severe_{band}", int(np.sum(values < limit if op == "<" else values > limit)))
    types = conflicts.column("conflict_type").to_pylist()
    for kind_name, short in TYPES.items():
        rates(f"safety_type_{short}", types.count(kind_name))
    out.update(_shuttle_rates(conflicts, km, share))
    brakings = int(np.sum(kind == "emergency_braking"))
    out["safety_emergency_brakings"] = float(brakings)
    out["safety_emergency_brakings_per_hour"] = brakings / hours
    out["safety_collisions"] = float(np.sum(kind == "collision"))
    out["safety_conflicts_logged"] = float(conflicts.num_rows)
    out["safety_detection_share"] = share
    return out


def _shuttle_rates(conflicts: pa.Table, km: Mapping[str, float], share: float) -> dict[str, float]:
    """Conflicts per million km of shuttles and of other vehicles (only with shuttles)."""
    shuttle_km = km.get("shuttle", 0.0)
    if shuttle_km <= 0:
        return {}
    classes = conflicts.column("ego_class").to_pylist() + conflicts.column("foe_class").to_pylist()
    shuttle = sum(1 for c in classes if c == "shuttle")
    other = sum(1 for c in classes if c and c != "shuttle")
    other_km = sum(v for k, v in km.items() if k != "shuttle")
    return {
        "safety_shuttle_conflicts_per_mvkm": shuttle / share / (shuttle_km / 1e6),
        "safety_other_conflicts_per_mvkm": (
            other / share / (other_km / 1e6) if other_km > 0 else math.nan
        ),
    }
