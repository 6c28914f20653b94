"""Start-up of `mobility run`: what it spends beyond raw `sumo` on the same files.

Reference: `sumo -c run.sumocfg` on the configuration a warm-up `mobility run` wrote (same
net, routes and outputs). Measured: the whole `mobility run --no-report` command in a new
process (interpreter, imports, spec, cache look-ups, libsumo, tables, KPIs, run directory).
The two alternate pair by pair, and the paired differences (wall and CPU time of the child
process) are reported: on a shared machine a difference of neighbours is steadier than a
difference of medians. Two scenarios: a 120 s run on the 3x3 grid (start-up dominates) and
the quickstart hour on the 4x4 grid.

Usage: python bench/startup.py [--pairs 7]
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
SCENARIOS = {
    "grid3x3, 120 s": {
        "name": "startup-grid3x3",
        "seed": 1,
        "end": 120,
        "network": str(ROOT / "networks" / "grid3x3" / "grid3x3.net.xml"),
        "demand": {"type": "random", "vehicles_per_hour": 600},
        "outputs": {"emissions": True, "edgedata_period": 60},
    },
    "quickstart (grid4x4, 3600 s)": str(ROOT / "experiments" / "quickstart.yaml"),
}


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the child and its children) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(label: str, spec: dict | str, work: Path, pairs: int) -> None:
    """Alternate raw sumo and `mobility run` ``pairs`` times; print paired differences."""
    from mobility import sumo

    if isinstance(spec, dict):
        spec_file = work / f"{spec['name']}.yaml"
        spec_file.write_text(yaml.safe_dump(spec))
    else:
        spec_file = Path(spec)
    run = [sys.executable, "-m", "mobility.cli", "run", str(spec_file), "--no-report"]
    work = work / spec_file.stem
    timed([*run, "--out", str(work / "warm")])  # builds the demand into the cache
    warm = next((work / "warm").glob("*/run.sumocfg")).parent
    raw_dir = work / "raw"
    raw_dir.mkdir()
    for name in ("run.sumocfg", "outputs.add.xml"):
        if (warm / name).exists():
            shutil.copy(warm / name, raw_dir / name)
    raw_cmd = [sumo.binary("sumo"), "-c", "run.sumocfg"]
    raw, ours = [], []
    for i in range(pairs):
        raw.append(timed(raw_cmd, cwd=raw_dir))
        ours.append(timed([*run, "--out", str(work / f"run{i}")]))
    wall = [o[0] - r[0] for o, r in zip(ours, raw, strict=True)]
    cpu = [o[1] - r[1] for o, r in zip(ours, raw, strict=True)]
    print(f"{label}: load {os.getloadavg()[0]:.1f}")
    for name, runs in (("raw sumo", raw), ("mobility run", ours)):
        walls, cpus = [round(w, 2) for w, _ in runs], [round(c, 2) for _, c in runs]
        print(f"  {name:13s} wall {walls} cpu {cpus}")
    print(
        f"  beyond raw sumo: wall median {statistics.median(wall):.3f} s "
        f"{[round(w, 2) for w in wall]}, cpu median {statistics.median(cpu):.3f} s "
        f"{[round(c, 2) for c in cpu]} (goal <= 0.3 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="mobility-startup-"))
    try:
        for label, spec in SCENARIOS.items():
            measure(label, spec, work, args.pairs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
