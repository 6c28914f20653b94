"""Benchmark: 8 runs of one scenario, sequential in one process vs a sweep on local Ray.

Reference: the same 8 runs (the scenario with seeds 1..8) called one after another through
``run_scenario``. Candidate: ``run_sweep`` on a local Ray with ``--cpus`` CPUs (default 2).
Networks and demand are built into a fresh cache before either is timed, so both measure
simulation plus the run's own work (tables, KPIs, files).

Both sides are measured alike (issue 20: the sequential side used to run first and cold
against warmed Ray workers):
- cold, once each: a new Python process running the 8 runs (imports included) against
  ``ray.init`` + worker start-up + the sweep, measured right after one another;
- warm, ``--pairs`` times interleaved (sequential, sweep, sequential, sweep, ...): the
  sequential side in this process after one untimed warm-up run (run path imported, as in
  the Ray workers), the sweep on the already started workers.

Prints each pair's speed-up, the median, and the scheduling overhead per run: the time the
sweep takes beyond a perfect split of the same pair's sequential time over the CPUs, per run
and CPU slot.

    python bench/sweep.py [--scenario experiments/quickstart.yaml] [--runs 8] [--cpus 2]
                          [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "experiments" / "quickstart.yaml"))
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    os.environ["MOBILITY_CACHE"] = str(work / "cache")  # before Ray starts: workers inherit it

    import ray

    from mobility.demand.build import build_demand
    from mobility.experiment import load_sweep, run_sweep
    from mobility.experiment.sweep import keep_ray_on_loopback
    from mobility.scenario import run_scenario, scenario_network

    sweep_file = work / "bench_sweep.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {
                "name": "bench",
                "base": str(Path(args.scenario).resolve()),
                "seeds": list(range(1, args.runs + 1)),
                "retries": 0,
            }
        )
    )
    plan = load_sweep(sweep_file)
    for run in plan.runs:  # warm the cache: both sides then measure the runs alone
        build_demand(run.spec, scenario_network(run.spec))

    cold_sequential = _sequential_in_new_process(sweep_file, work / "cold")

    # as run_sweep does for a local Ray it starts: workers at normal priority (Ray: nice 15)
    os.environ.setdefault("RAY_worker_niceness", "0")
    keep_ray_on_loopback()
    t = time.perf_counter()
    ray.init(
        num_cpus=args.cpus,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    ray_start = time.perf_counter() - t
    t = time.perf_counter()
    _start_workers(ray, args.cpus)
    workers_start = time.perf_counter() - t
    t = time.perf_counter()
    report = run_sweep(plan, work / "sweep-cold", progress=False)
    cold_sweep = time.perf_counter() - t + ray_start + workers_start
    assert report.ok == args.runs, report

    run_scenario(plan.runs[0].spec, work / "warm-up")  # the run path imported here too
    pairs = []
    for i in range(args.pairs):
        t = time.perf_counter()
        for run in plan.runs:
            run_scenario(run.spec, work / f"sequential-{i}")
        sequential = time.perf_counter() - t
        t = time.perf_counter()
        report = run_sweep(plan, work / f"sweep-{i}", progress=False)
        pairs.append((sequential, time.perf_counter() - t))
        assert report.ok == args.runs, report
    ray.shutdown()

    n, cpus = args.runs, args.cpus
    slots = min(cpus, n)

    def overhead(sequential: float, swept: float) -> float:
        return (swept - sequential / slots) * slots / n

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", load average {os.getloadavg()[0]:.1f} at the end (shared machine)"
    )
    print(f"scenario: {args.scenario} x {n} seeds, {cpus} CPUs for Ray")
    print(
        f"cold: sequential in a new process {cold_sequential:.2f} s | ray.init {ray_start:.2f} s"
        f" + workers {workers_start:.2f} s + sweep = {cold_sweep:.2f} s | speed-up "
        f"{cold_sequential / cold_sweep:.2f}x"
    )
    for i, (sequential, swept) in enumerate(pairs, 1):
        print(
            f"warm pair {i}: sequential {sequential:.2f} s | sweep {swept:.2f} s | speed-up "
            f"{sequential / swept:.2f}x | overhead per run {overhead(sequential, swept):.3f} s"
        )
    speedups = [seq / swept for seq, swept in pairs]
    print(
        f"warm, median of {len(pairs)} pairs: speed-up {statistics.median(speedups):.2f}x "
        f"(goal >= 1.8x), overhead per run "
        f"{statistics.median(overhead(*p) for p in pairs):.3f} s (goal <= 0.1 s)"
    )


_SEQUENTIAL = """
import sys, time
start = time.perf_counter()
from mobility.experiment import load_sweep
from mobility.scenario import run_scenario
from pathlib import Path
for run in load_sweep(sys.argv[1]).runs:
    run_scenario(run.spec, Path(sys.argv[2]))
print(time.perf_counter() - start)
"""


def _sequential_in_new_process(sweep_file: Path, out: Path) -> float:
    """The 8 runs one after another in a new Python process, its imports included."""
    command = [sys.executable, "-c", _SEQUENTIAL, str(sweep_file), str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def _start_workers(ray, cpus: int) -> None:
    """Start one worker per CPU with the run path imported, as a long sweep has them.

    A fresh Ray starts its workers on the first tasks and each imports mobility and libsumo
    once (about a second); like ``ray.init``, that is paid once per sweep, not per run, and
    is reported apart from the sweep time.
    """

    @ray.remote(num_cpus=1)
    def warm() -> int:
        import libsumo  # noqa: F401

        import mobility.scenario  # noqa: F401

        time.sleep(0.5)  # hold the CPU so the next task lands on another worker
        return os.getpid()

    pids = ray.get([warm.remote() for _ in range(cpus)])
    if len(set(pids)) < cpus:
        print(f"note: warm-up reached {len(set(pids))} of {cpus} workers")


if __name__ == "__main__":
    main()
