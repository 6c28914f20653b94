"""Wall time of a max_pressure run against the same run with the net's static programs.

Scenario: RESCO's grid4x4 (`experiments/resco/grid4x4.yaml`: its net and demand, one hour,
10 s decisions, 3 s yellow), the spec's seed for every run. Measured: the in-process
`run_scenario` call (SUMO run, outputs, KPIs, run directory), static and max_pressure
alternating, median of ``--repeats`` each after one warm-up of each. Goal: ratio <= 1.3.

Each run is timed inside a child forked from this process, which has imported everything
but never run SUMO: both sides run libsumo as a fresh process does (and as a sweep's
forked runs do). A process runs libsumo once; its later runs go through traci
(``mobility.sim.engine``), which would time something else.

Usage: python bench/signals_overhead.py [--repeats 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from mobility.config import ScenarioSpec, load_spec, signals_with
from mobility.scenario import run_scenario

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "resco" / "grid4x4.yaml"
GOAL = 1.3


def with_controller(spec: ScenarioSpec, controller: str) -> ScenarioSpec:
    signals = signals_with(spec.signals, controller=controller)
    return spec.model_copy(update={"signals": signals, "name": f"{spec.name}-{controller}"})


def _timed_here(spec: ScenarioSpec, out: Path, sender) -> None:
    start = time.perf_counter()
    result = run_scenario(spec, out)
    wall = time.perf_counter() - start
    sender.send((wall, json.loads((result.run_dir / "meta.json").read_text())["backend"]))


def timed(spec: ScenarioSpec, out: Path) -> float:
    """Wall s of one run in a forked child (libsumo, as a fresh process runs it)."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_timed_here, args=(spec, out, sender))
    child.start()
    wall, backend = receiver.recv()
    child.join()
    assert backend == "libsumo", backend
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile one max_pressure run")
    args = parser.parse_args()
    spec = load_spec(SPEC)
    runs = {c: with_controller(spec, c) for c in ("static", "max_pressure")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(run_scenario, runs["max_pressure"], out)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
            return
        for one in runs.values():
            timed(one, out)  # warm-up
        wall: dict[str, list[float]] = {c: [] for c in runs}
        for i in range(args.repeats):
            for controller, one in runs.items():
                wall[controller].append(timed(one, out))
                print(f"{controller} #{i + 1}: {wall[controller][-1]:.2f} s", flush=True)
    median = {c: statistics.median(w) for c, w in wall.items()}
    ratio = median["max_pressure"] / median["static"]
    verdict = "within" if ratio <= GOAL else "over"
    print(
        f"grid4x4, median of {args.repeats}: static {median['static']:.2f} s, max_pressure "
        f"{median['max_pressure']:.2f} s, ratio {ratio:.2f} ({verdict} the {GOAL}x goal)"
    )


if __name__ == "__main__":
    main()
