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


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


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
        start = time.perf_counter()
        Scenario.from_yaml(spec_file).run(work / "api")
        api.append(time.perf_counter() - start)

    vehicles = warm.kpis["vehicles_loaded"]
    med = {name: statistics.median(v) for name, v in (("raw", raw), ("cli", cli), ("api", api))}
    print(f"scenario: grid4x4, 3600 s, {vehicles} vehicles, SUMO {sumo.version()}")
    print(f"machine: {os.cpu_count()} CPUs, {sys.platform}")
    print(f"raw sumo        median {med['raw']:.2f} s  {[round(t, 2) for t in raw]}")
    print(f"mobility run    median {med['cli']:.2f} s  {[round(t, 2) for t in cli]}")
    print(f"run_scenario()  median {med['api']:.2f} s  {[round(t, 2) for t in api]}")
    print(f"ratio mobility run / raw sumo:   {med['cli'] / med['raw']:.3f}  (goal <= 1.15)")
    print(f"ratio run_scenario / raw sumo:   {med['api'] / med['raw']:.3f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
