"""Controllers side by side: the same scenario under each controller and seed, in sequence.

Each run is an ordinary :func:`~mobility.scenario.run_scenario` run directory; the summary
is one row per controller with the mean and the 95% interval (Student t over seeds) of
the RESCO delay, travel time, waiting time, queue and throughput. The queue is RESCO's:
stopped vehicles within 200 m of each stop line, per signal and decision step
(``outputs.resco_queue``, switched on for every compared run); ``queue_mean`` in the
per-run rows is the network-wide count of halting vehicles per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mobility.config import CONTROLLERS, ScenarioSpec, load_spec
from mobility.errors import SpecError

METRICS = {
    "resco_delay_s": "delay (s)",
    "travel_time_mean_s": "travel time (s)",
    "waiting_time_mean_s": "waiting (s)",
    "resco_queue": "queue (veh)",
    "throughput_per_hour": "throughput (veh/h)",
}


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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every controller with every seed; return (per-run rows, summary per controller)."""
    from mobility.scenario import run_scenario

    unknown = [c for c in controllers if c not in CONTROLLERS]
    if unknown:
        msg = f"--controllers: unknown {', '.join(unknown)}; use some of {', '.join(CONTROLLERS)}"
        raise SpecError(msg)
    seed_list = list(range(spec.seed, spec.seed + seeds)) if isinstance(seeds, int) else seeds
    rows = []
    for controller in controllers:
        signals = spec.signals.model_copy(update={"controller": controller})
        for seed in seed_list:
            run_spec = spec.model_copy(
                update={
                    "seed": seed,
                    "signals": signals,
                    "name": f"{spec.name}-{controller}",
                    "outputs": spec.outputs.model_copy(update={"resco_queue": True}),
                }
            )
            started = time.perf_counter()
            result = run_scenario(run_spec, out_dir)
            row = {
                "controller": controller,
                "seed": seed,
                **{k: result.kpis.get(k, math.nan) for k in METRICS},
                "queue_mean": queue_mean(result.run_dir),
                "wall_s": time.perf_counter() - started,
                "run_dir": str(result.run_dir),
            }
            rows.append(row)
            if on_run is not None:
                on_run(controller, seed, row)
    runs = pd.DataFrame(rows)
    return runs, summarise(runs)


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
    from scipy import stats

    out = []
    for controller, group in runs.groupby("controller", sort=False):
        row: dict[str, object] = {"controller": controller, "seeds": len(group)}
        for metric in METRICS:
            values = group[metric].dropna().to_numpy(float)
            n = len(values)
            row[metric] = float(values.mean()) if n else math.nan
            half = (
                float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))
                if n > 1
                else math.nan
            )
            row[f"{metric}_ci95"] = half
        row["wall_s"] = float(group["wall_s"].mean())
        out.append(row)
    return pd.DataFrame(out)
