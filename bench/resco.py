"""Every controller on the five bundled RESCO maps, RESCO's delay definition.

    .venv/bin/python bench/resco.py [--seeds 2] [--maps grid4x4,cologne1] [--out results/resco]

Prints tables of mean delay (RESCO's), RESCO's queue and wall time per controller and map;
raw rows go to Parquet (the overhead goal has its own script, bench/signals_overhead.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from mobility.config import CONTROLLERS, load_spec
from mobility.signals.compare import compare

ROOT = Path(__file__).resolve().parent.parent
MAPS = ["cologne1", "cologne3", "ingolstadt1", "grid4x4", "arterial4x4"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--maps", default=",".join(MAPS))
    parser.add_argument("--controllers", default=",".join(CONTROLLERS))
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "resco")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    frames = []
    for name in args.maps.split(","):
        spec = load_spec(ROOT / "experiments" / "resco" / f"{name}.yaml")
        runs, _ = compare(
            spec,
            args.controllers.split(","),
            args.seeds,
            args.out,
            on_run=lambda c, s, r, n=name: print(
                f"{n} {c} seed {s}: delay {r['resco_delay_s']:.2f} s, wall {r['wall_s']:.1f} s",
                flush=True,
            ),
        )
        runs["map"] = name
        frames.append(runs)
        pd.concat(frames).to_parquet(args.out / "resco_runs.parquet", index=False)
    runs = pd.concat(frames)
    table = runs.pivot_table(index="controller", columns="map", values="resco_delay_s")
    print(table.round(2).to_string())
    queue = runs.pivot_table(index="controller", columns="map", values="resco_queue")
    print(queue.round(2).to_string())
    wall = runs.pivot_table(index="controller", columns="map", values="wall_s")
    print(wall.round(2).to_string())


if __name__ == "__main__":
    main()
