"""model_predictive's decision time on 21 lights, one CPU core, against max pressure's.

    taskset -c 0 .venv/bin/python bench/decision_time.py [--minutes 15]

A netgenerate 7x3 grid (21 signalised four-way junctions, two-lane roads, 150 m blocks,
signals guessed) with random trips for ``--minutes``. JAX is held to one thread (XLA's Eigen
pool off), and ``taskset -c 0`` pins the process to one core. Each controller runs the
same scenario; every decision is timed by the controller (``decision_s``; the first,
which compiles, is left out). Prints the median, the 95th percentile (the second decision
pays the one-time compilation of the eager operations between the compiled calls) and the
maximum per decision, and the median over max pressure's (the reference: a decision of
arithmetic on the same observation). The issue's goal: at most 100 ms per decision for 21
lights.
"""

from __future__ import annotations

import os

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from gridlock import Generated, build_generated

from mobility import sumo
from mobility.config import signals_with

GRID_7X3 = Generated(
    "grid-7x3",
    ("--grid", "--grid.x-number=7", "--grid.y-number=3", "--grid.length=150",
     "--grid.attach-length=150", "--default.lanenumber=2"),
    3000.0,
    5.0,
)  # fmt: skip
VARIANTS = {
    "max_pressure": {"controller": "max_pressure"},
    "model_predictive (rollouts, 10 s)": {"controller": "model_predictive"},
    "model_predictive (cross_entropy, 60 s)": {
        "controller": "model_predictive",
        "params": {"search": "cross_entropy", "horizon": 60.0},
    },
}


def timed_max_pressure(cls: type) -> type:
    """Max pressure with its decisions timed as model_predictive times its own."""

    class Timed(cls):
        def reset(self, layout, *, min_green: float) -> None:
            super().reset(layout, min_green=min_green)
            self.decision_s: list[float] = []

        def decide(self, obs):
            started = time.perf_counter()
            choice = super().decide(obs)
            self.decision_s.append(time.perf_counter() - started)
            return choice

    return Timed


def decision_times(spec, folder: Path) -> tuple[np.ndarray, int]:
    """Every decision's time (s) but the first, and the number of lights."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import run_signals

    import mobility.signals.controllers as controllers

    original = controllers.MaxPressure
    controllers.MaxPressure = timed_max_pressure(original)
    try:
        part = run_signals(spec, folder)
    finally:
        controllers.MaxPressure = original
    return np.array(part.driver.controller.decision_s[1:]), len(part.driver.tls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=15.0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.system()}, SUMO {sumo.version()}")
    print(f"cores allowed: {len(os.sched_getaffinity(0))}, XLA_FLAGS={os.environ['XLA_FLAGS']}")
    with tempfile.TemporaryDirectory() as tmp:
        base = build_generated(GRID_7X3, Path(tmp) / "net")
        base = base.model_copy(update={"end": 60.0 * args.minutes, "seed": 42})
        rows = {}
        for label, signals in VARIANTS.items():
            spec = base.model_copy(
                update={"signals": signals_with(base.signals, **signals), "name": "decisions"}
            )
            folder = Path(tmp) / label.split()[0] / str(len(rows))
            folder.mkdir(parents=True)
            rows[label] = decision_times(spec, folder)
    reference = float(np.median(rows["max_pressure"][0]))
    print("\n| controller | lights | decisions | median ms | p95 ms | max ms | median / mp's |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, (times, lights) in rows.items():
        median = float(np.median(times))
        print(
            f"| {label} | {lights} | {len(times)} | {median * 1e3:.2f} | "
            f"{np.percentile(times, 95) * 1e3:.2f} | {times.max() * 1e3:.2f} | "
            f"{median / reference:.1f}x |"
        )


if __name__ == "__main__":
    main()
