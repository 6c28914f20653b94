"""Overhead of `mobility run` against the raw `sumo` binary on the same files.

Scenario: the bundled 4x4 grid, one hour, 3600 random trips per hour (fringe weighted).
Reference: `sumo -c run.sumocfg` on the configuration `mobility run` wrote for the same
run (same net, routes and outputs: tripinfo, edge data, emissions, summary, statistics).
Measured: the whole `mobility run` command (Python start-up, imports, cache look-ups,
libsumo run, Parquet tables, KPIs, run directory) and, for information, the in-process
`run_scenario` call alone. Median of 5 alternating repetitions after one warm-up run (the
warm-up builds the demand into the cache, as a planner's first run would).

Usage: python bench/overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = {
    "name": "overhead-grid4x4",
    "seed": 1,
    "end": 3600,
    "network": str(ROOT / "networks" / "grid4x4" / "grid4x4.net.xml"),
    "demand": {"type": "random", "vehicles_per_hour": 3600, "fringe_factor": 10},
}


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system, the command and its children) of a command.

    CPU time is reported beside wall time because a shared virtual machine's wall clock
    also counts time the hypervisor gave to others.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from mobility import Scenario, sumo

    work = Path(tempfile.mkdtemp(prefix="mobility-overhead-"))
    spec_file = work / "scenario.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    mobility_cmd = [
        sys.executable,
        "-m",
        "mobility.cli",
        "run",
        str(spec_file),
        "--out",
        str(work / "res"),
        "--no-report",  # the HTML report is a product of its own, not part of the run
    ]

    warm = Scenario.from_yaml(spec_file).run(work / "warm")
    raw_dir = work / "raw"
    raw_dir.mkdir()
    for name in ("run.sumocfg", "outputs.add.xml"):
        shutil.copy(warm.run_dir / name, raw_dir / name)
    sumo_cmd = [sumo.binary("sumo"), "-c", "run.sumocfg"]
    os.environ.setdefault("SUMO_HOME", str(sumo.sumo_home()))

    cli, raw, api = [], [], []
    for _ in range(args.repeats):
        raw.append(timed(sumo_cmd, cwd=raw_dir))
        cli.append(timed(mobility_cmd))
        start, cpu0 = time.perf_counter(), time.process_time()
        Scenario.from_yaml(spec_file).run(work / "api")
        api.append((time.perf_counter() - start, time.process_time() - cpu0))

    def median(runs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    vehicles = warm.kpis["vehicles_loaded"]
    print(f"scenario: grid4x4, 3600 s, {vehicles} vehicles, SUMO {sumo.version()}")
    print(f"machine: {os.cpu_count()} CPUs, {sys.platform}, load {os.getloadavg()[0]:.2f}")
    for name, runs in (("raw sumo", raw), ("mobility run", cli), ("run_scenario()", api)):
        walls = [round(w, 2) for w, _ in runs]
        print(
            f"{name:15s} wall median {median(runs, 0):.2f} s {walls}  "
            f"cpu median {median(runs, 1):.2f} s"
        )
    # each repetition runs the three back to back: the median of the per-repetition ratios
    # is steadier than a ratio of medians on a machine whose speed drifts between minutes
    for name, runs in (("mobility run", cli), ("run_scenario", api)):
        paired = statistics.median(r[0] / b[0] for r, b in zip(runs, raw, strict=True))
        print(
            f"ratio {name} / raw sumo: wall {paired:.3f} (median of paired ratios), "
            f"{median(runs, 0) / median(raw, 0):.3f} (ratio of medians), "
            f"cpu {median(runs, 1) / median(raw, 1):.3f}  (goal <= 1.15)"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
