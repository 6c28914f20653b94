"""Controllers side by side: the same scenario under each controller and seed, in parallel.

Each run is an ordinary :func:`~mobility.scenario.run_scenario` run directory, run through
the sweep runner (:func:`mobility.experiment.runner.run_specs`) so that the output folder
is a results store ``mobility results`` can query; the summary
is one row per controller with the mean and the 95% interval (Student t over seeds) of
the RESCO delay, travel time, waiting time, queue and throughput. The queue is RESCO's:
stopped vehicles within 200 m of each stop line, per signal and decision step
(``outputs.resco_queue``, switched on for every compared run); ``queue_mean`` in the
per-run rows is the network-wide count of halting vehicles per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from mobility.config import CONTROLLERS, ScenarioSpec, load_spec, signals_with
from mobility.errors import SpecError
from mobility.experiment.stats import mean_ci95
from mobility.kpis import all_kpis

# KPI -> column header ("label (unit)"), from the KPI declarations (mobility.kpis).
METRICS = {
    name: all_kpis()[name].heading
    for name in (
        "resco_delay_s",
        "travel_time_mean_s",
        "waiting_time_mean_s",
        "resco_queue",
        "throughput_per_hour",
    )
}
# Shown beside them when the scenario measures safety (``safety:``, see mobility.safety).
SAFETY_METRICS = {
    name: all_kpis()[name].heading
    for name in (
        "safety_conflicts_per_hour",
        "safety_severe_ttc10_per_hour",
        "safety_emergency_brakings_per_hour",
        "safety_collisions",
    )
}


def metrics_for(spec: ScenarioSpec) -> dict[str, str]:
    """The compared KPIs of ``spec`` (column headers): safety ones when it measures safety."""
    return {**METRICS, **SAFETY_METRICS} if spec.safety is not None else dict(METRICS)


def load_any(path: Path) -> ScenarioSpec:
    """A scenario YAML, or a RESCO-format folder / ``.sumocfg`` (RESCO's setup)."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_spec(path)
    from mobility.config import validate_spec
    from mobility.signals.resco import find_sumocfg, spec_from_sumocfg

    cfg = find_sumocfg(path)
    return validate_spec(ScenarioSpec, spec_from_sumocfg(cfg), source=cfg, base_dir=cfg.parent)


def compare(
    spec: ScenarioSpec,
    controllers: Sequence[str],
    seeds: int | Sequence[int],
    out_dir: Path,
    *,
    on_run: Callable[[str, int, dict], None] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every controller with every seed; return (per-run rows, summary per controller).

    The runs go in parallel through the sweep runner (a local Ray, or the cluster at
    ``address``) into the results store ``out_dir``; ``on_run`` sees each as it ends. The
    plans of ``optimized`` are searched first where none is cached.
    """
    from mobility.experiment.runner import cache_inputs, run_specs
    from mobility.experiment.sweep import ray_session
    from mobility.signals.optimize import ensure_plans

    unknown = [c for c in controllers if c not in CONTROLLERS]
    if unknown:
        msg = f"--controllers: unknown {', '.join(unknown)}; use some of {', '.join(CONTROLLERS)}"
        raise SpecError(msg)
    seed_list = list(range(spec.seed, spec.seed + seeds)) if isinstance(seeds, int) else seeds
    specs = [
        spec.model_copy(
            update={
                "seed": seed,
                "signals": signals_with(spec.signals, controller=controller),
                "name": f"{spec.name}-{controller}",
                "outputs": spec.outputs.model_copy(update={"resco_queue": True}),
            }
        )
        for controller in controllers
        for seed in seed_list
    ]

    def row_of(i: int, result: dict) -> dict:
        run_spec = specs[i]
        run_dir = result.get("run_dir")
        return {
            "controller": run_spec.signals.controller,
            "seed": run_spec.seed,
            **{k: _number(result.get(f"kpi_{k}")) for k in metrics_for(spec)},
            "queue_mean": queue_mean(Path(run_dir)) if run_dir else math.nan,
            "wall_s": _number(result.get("duration_s")),
            "run_dir": run_dir,
        }

    def done(i: int, result: dict) -> None:
        if on_run is not None and result.get("status") == "ok":
            on_run(specs[i].signals.controller, specs[i].seed, row_of(i, result))

    with ray_session(address, num_cpus):
        plans = ensure_plans(specs, address=address, num_cpus=num_cpus)
        results = run_specs(
            specs,
            out_dir,
            variants=[s.signals.controller for s in specs],
            inputs=cache_inputs(plans),
            name=f"{spec.name}-compare",
            on_result=done,
        )
    runs = pd.DataFrame([row_of(i, result) for i, result in enumerate(results)])
    return runs, summarise(runs)


def _number(value: object) -> float:
    """A stored KPI as a float (NaN where the run has none)."""
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def queue_mean(run_dir: Path) -> float:
    """Mean number of halting vehicles in the network (SUMO summary), per step."""
    try:
        timeline = pd.read_parquet(run_dir / "timeline.parquet")
    except (FileNotFoundError, OSError):
        return math.nan
    column = next((c for c in timeline.columns if c.endswith("halting")), None)
    return float(timeline[column].mean()) if column else math.nan


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% interval half-width per controller and metric (NaN for one seed)."""
    out = []
    for controller, group in runs.groupby("controller", sort=False):
        row: dict[str, object] = {"controller": controller, "seeds": len(group)}
        for metric in [m for m in {**METRICS, **SAFETY_METRICS} if m in runs]:
            row[metric], row[f"{metric}_ci95"] = mean_ci95(group[metric].to_numpy(float))
        row["wall_s"] = float(group["wall_s"].mean())
        out.append(row)
    return pd.DataFrame(out)
