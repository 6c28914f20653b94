"""Benchmark: 8 runs of one scenario, sequential in one process vs a sweep on local Ray.

Reference: the same 8 runs (the scenario with seeds 1..8) called one after another through
``run_scenario`` in this process. Candidate: ``run_sweep`` on a local Ray with ``--cpus``
CPUs (default 2). Networks and demand are built into a fresh cache before either is timed,
so both measure simulation plus the run's own work (tables, KPIs, files).

Prints the speed-up (with and without Ray's start-up) and the scheduling overhead per run:
the time the sweep takes beyond a perfect split of the sequential work over the CPUs,
per run and CPU slot.

    python bench/sweep.py [--scenario experiments/quickstart.yaml] [--runs 8] [--cpus 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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

    seq_times = []
    seq_started = time.perf_counter()
    for run in plan.runs:
        t = time.perf_counter()
        run_scenario(run.spec, work / "sequential")
        seq_times.append(time.perf_counter() - t)
    sequential = time.perf_counter() - seq_started

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
    report = run_sweep(plan, work / "sweep", progress=False)
    swept = time.perf_counter() - t
    ray.shutdown()
    assert report.ok == args.runs, report

    n, cpus = args.runs, args.cpus
    ideal = sequential / min(cpus, n)
    overhead = (swept - ideal) * min(cpus, n) / n
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"scenario: {args.scenario} x {n} seeds")
    print(
        f"sequential in-process: {sequential:7.2f} s  "
        f"(per run {statistics.mean(seq_times):.2f} s, min {min(seq_times):.2f}, "
        f"max {max(seq_times):.2f})"
    )
    print(f"ray.init ({cpus} CPUs): {ray_start:7.2f} s")
    print(f"worker start-up (imports, once per worker): {workers_start:5.2f} s")
    print(f"sweep on local Ray:    {swept:7.2f} s  (ideal {ideal:.2f} s on {cpus} CPUs)")
    print(f"speed-up, sweep only:        {sequential / swept:5.2f}x")
    once = ray_start + workers_start
    print(f"speed-up, with ray.init and worker start-up: {sequential / (swept + once):5.2f}x")
    print(f"scheduling overhead per run: {overhead:5.3f} s")


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
