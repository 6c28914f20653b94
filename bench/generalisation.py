"""Generalisation: every signal controller on maps it was designed on and on maps it never saw.

    .venv/bin/python bench/generalisation.py [--seeds 42,43,44,45,46] [--maps ...]
        [--controllers static,webster,...] [--out results/generalisation]

The controllers' defaults (max pressure's approach, the spill-back, stall and starvation
rules, junction clearance, model_predictive's rollout settings) were chosen while looking
at the five bundled RESCO maps: those are marked *tuned-on*. Nothing is fitted per map by
hand; what a controller learns per network (the twin's calibration, Webster's flows,
the optimised plans) it learns from calibration seeds no evaluated run uses. Held out,
built here and never committed, never looked at while any default was chosen:

- ``oakland-low`` / ``oakland-high``: the bundled West Oakland OpenStreetMap extract,
  signals as OSM tags them, random trips at two levels;
- ``gen-spider``: a netgenerate spider net (6 arms, 5 circles), signals guessed;
- ``gen-random-b``: a netgenerate random net of another seed (23) than the ones the rules
  were designed on (5) or benchmarked on (11), random lane numbers;
- ``gen-grid-2lane``: a 5x5 netgenerate grid of two-lane roads and 200 m blocks.

Demand levels are round numbers chosen from each net's size before any run, not from
results. Each run is a fresh process with a fixed hash seed (``bench/gridlock.py``);
rows are appended to ``<out>/runs.parquet`` and never repeated (resumable). Prints one
table per measure: RESCO delay (s) and trips completed over static's on the same seed,
mean ± 95% interval (Student t) over the seeds.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import pandas as pd
from gridlock import RESCO, Generated, build_generated, run_grid

from mobility import sumo
from mobility.config import ScenarioSpec, load_spec
from mobility.experiment.stats import mean_ci95

ROOT = Path(__file__).resolve().parent.parent
OSM = ROOT / "networks" / "west-oakland" / "west-oakland.osm.bz2"
CONTROLLERS = [
    "static",
    "webster",
    "actuated",
    "max_pressure",
    "greedy",
    "sotl",
    "model_predictive",
]
TUNED_ON = set(RESCO)
HELD_OUT = [
    Generated(
        "gen-spider",
        (
            "--spider",
            "--spider.arm-number=6",
            "--spider.circle-number=5",
            "--spider.space-radius=120",
        ),
        1800.0,
        2.0,
    ),
    Generated(
        "gen-random-b",
        (
            "--rand",
            "--rand.iterations=150",
            "--rand.min-distance=90",
            "--rand.max-distance=260",
            "--rand.random-lanenumber",
            "--seed=23",
        ),
        2000.0,
        1.0,
    ),
    Generated(
        "gen-grid-2lane",
        ("--grid", "--grid.number=5", "--grid.length=200", "--default.lanenumber=2"),
        4000.0,
        5.0,
    ),
]
OAKLAND = {"oakland-low": 800.0, "oakland-high": 2400.0}


def scenario(name: str, out: Path) -> ScenarioSpec:
    """The spec of map ``name``: a RESCO map, the OSM extract at a level, or a generated net."""
    if name in OAKLAND:
        return ScenarioSpec.model_validate(
            {
                "name": name,
                "end": 3600.0,
                "time_to_teleport": -1,
                "network": {"type": "osm", "path": str(OSM)},
                "demand": {
                    "type": "random",
                    "vehicles_per_hour": OAKLAND[name],
                    "fringe_factor": 5,
                    "min_distance": 300.0,
                },
            }
        )
    for gen in HELD_OUT:
        if gen.name == name:
            folder = out / "nets" / name
            return build_generated(gen, folder)
    return load_spec(ROOT / "experiments" / "resco" / f"{name}.yaml")


def cell(values: pd.Series, digits: int) -> str:
    """``mean ± half-width`` of the 95% interval (just the mean for one seed)."""
    mean, half = mean_ci95(values.to_numpy())
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def markdown(runs: pd.DataFrame, maps: list[str], controllers: list[str], measure: str) -> str:
    """Controllers as rows, maps as columns (tuned-on or held out), one measure per cell."""
    static = runs[runs.controller == "static"].set_index(["map", "seed"]).trips_completed
    same = static.reindex(runs.set_index(["map", "seed"]).index).to_numpy()
    runs = runs.assign(completed_ratio=runs.trips_completed.to_numpy() / same)
    heads = [f"{m} ({'tuned-on' if m in TUNED_ON else 'held out'})" for m in maps]
    lines = ["| controller | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(maps)]
    digits = 2 if measure == "resco_delay_s" else 3
    for c in controllers:
        row = []
        for m in maps:
            values = runs[(runs["map"] == m) & (runs.controller == c)][measure]
            row.append(cell(values, digits) if len(values) else "-")
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    held = list(OAKLAND) + [g.name for g in HELD_OUT]
    parser.add_argument("--seeds", default="42,43,44,45,46")
    parser.add_argument("--maps", default=",".join(held + RESCO))
    parser.add_argument("--controllers", default=",".join(CONTROLLERS))
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "generalisation")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    maps, controllers = args.maps.split(","), args.controllers.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {platform.machine()}, {platform.system()}, SUMO {sumo.version()}", flush=True)
    store = args.out / "runs.parquet"
    runs = run_grid(store, maps, seeds, controllers, lambda name: scenario(name, args.out))
    print("\nRESCO delay (s), mean ± 95% interval over the seeds")
    print(markdown(runs, maps, controllers, "resco_delay_s"))
    print("\ntrips completed / static's on the same seed, mean ± 95% interval")
    print(markdown(runs, maps, controllers, "completed_ratio"))


if __name__ == "__main__":
    main()
