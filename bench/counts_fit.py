"""How well demand fitted to counts reproduces them: routeSampler's sampling alone against
sampling refined by linear programming (``demand.optimize``, the default).

For each net and seed: a "truth" run of random trips writes its counts (vehicles that
entered or departed on each road per interval, SUMO edge data); a counts run with the other
setting fits routes to them (random candidate routes, another seed), and the GEH of every
count site is measured in SUMO. A and B run interleaved on the same truth. Reported: share
of sites with GEH < 5 (DMRB asks >= 0.85; the project's test asks >= 0.95), mean GEH,
vehicles per run, and the fit's seconds (routeSampler and candidates, no cache).

    flock /tmp/mobility-bench.lock python bench/counts_fit.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
NETS = {
    "grid3x3": {"net": str(ROOT / "networks/grid3x3/grid3x3.net.xml"), "vph": 900},
    "grid4x4": {"net": str(ROOT / "networks/grid4x4/grid4x4.net.xml"), "vph": 1800},
    "west-oakland": {
        "net": {"type": "osm", "path": str(ROOT / "networks/west-oakland/west-oakland.osm.bz2")},
        "vph": 600,
    },
}
SEEDS = (1, 2, 3)
WINDOW, SLICE = 1800, 600  # 30 minutes, counts per 10 minutes


def scenario(name: str, net: object, seed: int, demand: dict) -> dict:
    return {
        "name": name,
        "seed": seed,
        "end": WINDOW,
        "network": net,
        "demand": demand,
        "outputs": {"edgedata_period": SLICE, "emissions": False},
    }


def run(spec: dict, folder: Path) -> tuple[Path, float, dict]:
    from mobility import Scenario

    path = folder / f"{spec['name']}-{spec['seed']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    started = time.perf_counter()
    result = Scenario.from_yaml(path).run(folder / "runs")
    meta = yaml.safe_load((result.run_dir / "meta.json").read_text())
    return (
        result.run_dir,
        meta["timings_s"]["prepare"],
        result.kpis | {"_elapsed": time.perf_counter() - started},
    )


def main() -> None:
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)")
    print("net | seed | setting | GEH<5 share | mean GEH | vehicles | fit s")
    table: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MOBILITY_CACHE"] = str(Path(tmp) / "cache")  # no cached fits
        folder = Path(tmp)
        for name, net in NETS.items():
            for seed in SEEDS:
                truth = scenario(
                    "truth",
                    net["net"],
                    100 + seed,
                    {"type": "random", "vehicles_per_hour": net["vph"], "fringe_factor": 5},
                )
                truth_dir, _, truth_kpis = run(truth, folder)
                edges = pq.read_table(truth_dir / "edges.parquet").to_pylist()
                counts = folder / f"counts-{name}-{seed}.csv"
                counts.write_text(
                    "edge,interval_begin,interval_end,count\n"
                    + "".join(
                        f"{r['edge_id']},{r['interval_begin']:g},{r['interval_end']:g},"
                        f"{r['entered'] + r['departed']:g}\n"
                        for r in edges
                    )
                )
                for setting, optimize in (("sampling", False), ("sampling+LP", True)):
                    demand = {"type": "counts", "counts": str(counts), "optimize": optimize}
                    spec = scenario(f"fit-{setting.replace('+', '')}", net["net"], seed, demand)
                    _, fit_s, kpis = run(spec, folder)
                    share, mean = kpis["counts_geh_under_5_share"], kpis["counts_geh_mean"]
                    table.setdefault((name, setting), []).append(share)
                    print(
                        f"{name} | {seed} | {setting} | {share:.3f} | {mean:.2f} | "
                        f"{kpis['vehicles_loaded']:.0f} (truth {truth_kpis['vehicles_loaded']:.0f})"
                        f" | {fit_s:.1f}"
                    )
    print("\nmedian share of sites with GEH < 5 over seeds")
    for (name, setting), shares in table.items():
        print(f"{name} | {setting} | {statistics.median(shares):.3f} (min {min(shares):.3f})")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
