"""Fleet sizing: the smallest on-demand fleet that meets a service target.

``mobility shuttles size SPEC --target "served>=0.95,wait_p95<=600"`` bisects over the
fleet size of one on-demand fleet. Each size is run with every seed through the sweep
runner (:func:`mobility.experiment.runner.run_specs`: a local Ray, or a cluster), and it
meets the target when the seeds' mean of every KPI named does; the 95 % interval over
seeds (:func:`mobility.experiment.stats.mean_ci95`) is reported beside it. Bisection
assumes that more shuttles never serve worse, which holds for the service KPIs up to
seed noise; every size evaluated is reported, so a non-monotone step shows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mobility.config import ScenarioSpec
from mobility.errors import SpecError
from mobility.shuttles.spec import OnDemandService

# short names for the usual targets; any declared shuttle KPI name works too
ALIASES = {
    "served": "shuttle_served_share",
    "rejected": "shuttle_rejection_rate",
    "wait_mean": "shuttle_wait_mean_s",
    "wait_p95": "shuttle_wait_p95_s",
    "detour": "shuttle_detour_ratio_learned_mean",
    "detour_broken": "shuttle_detour_promise_broken_share",
    "wait_broken": "shuttle_wait_promise_broken_share",
    "occupancy": "shuttle_occupancy_mean",
    "km_per_ride": "shuttle_vehicle_km_per_served",
}
_CONDITION = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Condition:
    """One part of a target: a KPI, ``>=`` or ``<=``, a value."""

    kpi: str
    op: str
    value: float

    def met(self, x: float) -> bool:
        if math.isnan(x):
            return False
        return x >= self.value if self.op == ">=" else x <= self.value

    def __str__(self) -> str:
        return f"{self.kpi}{self.op}{self.value:g}"


def parse_target(text: str) -> list[Condition]:
    """``"served>=0.95,wait_p95<=600"`` as conditions; a SpecError naming ``--target``."""
    from mobility.kpis import all_kpis

    known = {k for k in all_kpis() if k.startswith("shuttle_") and "{" not in k}
    out = []
    for part in [p for p in text.split(",") if p.strip()]:
        match = _CONDITION.match(part)
        if not match:
            msg = (
                f"--target: {part.strip()!r} is not KPI>=VALUE or KPI<=VALUE; write e.g. "
                '"served>=0.95,wait_p95<=600"'
            )
            raise SpecError(msg)
        name, op, value = match.groups()
        kpi = ALIASES.get(name, name)
        if kpi not in known:
            msg = (
                f"--target: unknown KPI {name!r}; use one of {', '.join(ALIASES)} or a "
                "shuttle KPI name (shuttle_...)"
            )
            raise SpecError(msg)
        try:
            number = float(value)
        except ValueError:
            raise SpecError(f"--target: {value!r} in {part.strip()!r} is not a number") from None
        out.append(Condition(kpi, op, number))
    if not out:
        raise SpecError('--target is empty; give e.g. "served>=0.95,wait_p95<=600"')
    return out


@dataclass
class SizeResult:
    """Every size evaluated (mean and 95 % half-width per KPI), and the smallest that meets
    the target (None: not even the largest)."""

    fleet: str
    target: list[Condition]
    seeds: list[int]
    evaluated: dict[int, dict[str, tuple[float, float]]] = field(default_factory=dict)
    meets: dict[int, bool] = field(default_factory=dict)
    smallest: int | None = None


def size_fleet(
    spec: ScenarioSpec,
    target: list[Condition],
    out: Path,
    *,
    fleet: str | None = None,
    low: int = 1,
    high: int = 200,
    seeds: int = 3,
    address: str | None = None,
    num_cpus: int | None = None,
    on_size: Callable[[int, dict[str, tuple[float, float]], bool], None] | None = None,
) -> SizeResult:
    """Bisect ``[low, high]`` for the smallest fleet size meeting ``target``."""
    from mobility.experiment.sweep import ray_session

    index = _fleet_index(spec, fleet)
    if not 1 <= low <= high:
        raise SpecError(f"--min {low} / --max {high}: give 1 <= min <= max")
    if seeds < 1:
        raise SpecError(f"--seeds {seeds}: give at least 1")
    result = SizeResult(
        spec.shuttles[index].name, target, list(range(spec.seed, spec.seed + seeds))
    )

    def meets(size: int) -> bool:
        if size not in result.meets:
            stats = _evaluate(spec, index, size, result.seeds, out, address)
            result.evaluated[size] = stats
            result.meets[size] = all(c.met(stats[c.kpi][0]) for c in target)
            if on_size is not None:
                on_size(size, stats, result.meets[size])
        return result.meets[size]

    with ray_session(address, num_cpus):
        if not meets(high):
            return result
        if meets(low):
            result.smallest = low
            return result
        while high - low > 1:  # invariant: low misses, high meets
            mid = (low + high) // 2
            low, high = (low, mid) if meets(mid) else (mid, high)
    result.smallest = high
    return result


def _fleet_index(spec: ScenarioSpec, name: str | None) -> int:
    """Index of the on-demand fleet to size: the one named, or the first."""
    fleets = [(i, f) for i, f in enumerate(spec.shuttles) if isinstance(f, OnDemandService)]
    if not fleets:
        raise SpecError("the scenario has no on-demand fleet to size; add one under `shuttles:`")
    chosen = [(i, f) for i, f in fleets if name is None or f.name == name]
    if not chosen:
        names = ", ".join(f.name for _, f in fleets)
        raise SpecError(f"--fleet {name!r} is not an on-demand fleet of the scenario ({names})")
    i, f = chosen[0]
    fixed = [j for j, d in enumerate(f.depots) if d.vehicles is not None]
    if fixed:
        msg = (
            f"field `shuttles.{i}.depots.{fixed[0]}.vehicles`: sizing splits the fleet evenly "
            "over its depots; remove the depots' `vehicles` counts"
        )
        raise SpecError(msg)
    return i


def _evaluate(
    spec: ScenarioSpec,
    index: int,
    size: int,
    seeds: list[int],
    out: Path,
    address: str | None,
) -> dict[str, tuple[float, float]]:
    """Run ``size`` shuttles with every seed; mean and 95 % half-width of each shuttle KPI."""
    from mobility.experiment.runner import run_specs
    from mobility.experiment.stats import mean_ci95

    fleets = list(spec.shuttles)
    fleets[index] = fleets[index].model_copy(update={"fleet_size": size})
    specs = [
        spec.model_copy(
            update={"shuttles": fleets, "seed": seed, "name": f"{spec.name}-fleet{size}"}
        )
        for seed in seeds
    ]
    rows = run_specs(
        specs,
        out,
        variants=[f"fleet{size}"] * len(specs),
        address=address,
        name=f"{spec.name}-size",
    )
    names = {k.removeprefix("kpi_") for row in rows for k in row if k.startswith("kpi_shuttle_")}
    return {
        name: mean_ci95(
            [
                math.nan if row.get(f"kpi_{name}") is None else float(row[f"kpi_{name}"])
                for row in rows
            ]
        )
        for name in sorted(names)
    }
