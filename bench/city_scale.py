"""The SUMO pipeline at city size: time and peak memory of each stage against raw `sumo`.

Generated scenarios (nothing committed: networks and demand are built into a fresh cache):
a signalised two-lane grid that grows with the demand (10x10, 20x20, 30x30 junctions) and
random trips at 10k, 50k and 100k vehicles per hour, over ``--end`` simulated seconds.
Each stage runs in its own new process, timed from outside with its peak resident memory:

1. network build (``netgenerate`` through the platform, cold cache);
2. demand build (``randomTrips``/``duarouter`` through the platform, network cached);
3. ``mobility run SPEC --no-report`` (network and demand cached: the run, tables, KPIs);
4. ``mobility report RUN_DIR``;
5. reference: raw ``sumo -c run.sumocfg`` on the configuration the run wrote (same net,
   routes and outputs), right after step 3.

Prints platform / raw sumo (goal <= 1.10), report / run (goal <= 0.10) and memory per
vehicle (goal: flat as vehicles grow).

    python bench/city_scale.py [--sizes 10000 50000 100000] [--end 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

GRID = {10_000: 10, 50_000: 20, 100_000: 30}  # junctions per side for each demand level
STAGES = ("net", "demand", "run", "sumo", "report")

_BUILD = """
import sys
from mobility.config import load_spec
from mobility.demand.build import build_demand
from mobility.scenario import scenario_network
spec = load_spec(sys.argv[1])
net = scenario_network(spec)
if sys.argv[2] == "demand":
    build_demand(spec, net)
"""


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of a command, by GNU time."""
    report = Path(tempfile.mktemp(suffix=".time"))
    full = ["/usr/bin/time", "-f", "%e %M", "-o", str(report), *command]
    done = subprocess.run(full, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    wall, kib = report.read_text().split()[-2:]
    report.unlink()
    return float(wall), float(kib) / 1024


def spec_file(work: Path, rate: int, end: int) -> Path:
    side = GRID.get(rate, max(5, round((rate / 100) ** 0.5)))
    spec = {
        "name": f"city-{rate}",
        "seed": 1,
        "end": end,
        "network": {"type": "grid", "rows": side, "cols": side, "block_length": 150, "lanes": 2},
        "demand": {"type": "random", "vehicles_per_hour": rate, "fringe_factor": 5},
    }
    path = work / f"city-{rate}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def measure(work: Path, rate: int, end: int) -> dict:
    from mobility import sumo

    spec = spec_file(work, rate, end)
    python = sys.executable
    row = {"rate": rate}
    row["net"] = timed([python, "-c", _BUILD, str(spec), "net"])
    row["demand"] = timed([python, "-c", _BUILD, str(spec), "demand"])
    out = work / f"runs-{rate}"
    row["run"] = timed([python, "-m", "mobility.cli", "run", str(spec), "--out", str(out),
                        "--no-report"])  # fmt: skip
    run_dir = next(out.glob("*/kpis.json")).parent
    raw = work / f"raw-{rate}"
    raw.mkdir()
    for name in ("run.sumocfg", "outputs.add.xml"):
        shutil.copy(run_dir / name, raw / name)
    row["sumo"] = timed([sumo.binary("sumo"), "-c", "run.sumocfg"], cwd=raw)
    row["report"] = timed([python, "-m", "mobility.cli", "report", str(run_dir)])
    row["vehicles"] = int(json.loads((run_dir / "kpis.json").read_text())["vehicles_loaded"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(GRID))
    parser.add_argument("--end", type=int, default=300, help="simulated seconds")
    args = parser.parse_args()
    from mobility import sumo

    work = Path(tempfile.mkdtemp(prefix="bench-city-"))
    os.environ["MOBILITY_CACHE"] = str(work / "cache")  # cold: nothing built before
    os.environ.setdefault("SUMO_HOME", str(sumo.sumo_home()))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(
        "| veh/h | vehicles | net build s (MiB) | demand s (MiB) | mobility run s (MiB) | raw sumo"
        " s (MiB) | report s (MiB) | run / sumo | report / run | run MiB per 1k veh |"
    )
    print("| --- " * 10 + "|")
    for rate in args.sizes:
        r = measure(work, rate, args.end)
        cell = {stage: f"{r[stage][0]:.2f} ({r[stage][1]:.0f})" for stage in STAGES}
        print(
            f"| {rate:,} | {r['vehicles']:,} | {cell['net']} | {cell['demand']} | {cell['run']} |"
            f" {cell['sumo']} | {cell['report']} | {r['run'][0] / r['sumo'][0]:.2f} | "
            f"{r['report'][0] / r['run'][0]:.2f} | {r['run'][1] / r['vehicles'] * 1000:.0f} |",
            flush=True,
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
