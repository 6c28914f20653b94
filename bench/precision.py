"""Precision beyond Frank-Wolfe: path-based gradient projection to relative gap 1e-8.

Reference: the TNTP best-known objectives (published at relative gaps of 1e-12 and below).
Ours: ``mobility.core.routing.gradient_projection`` (numpy loops over OD pairs), in this
process, the time including everything (graph, initial all-or-nothing, sweeps, gaps).
Goal: objective / best known - 1 within 1e-7 at gap 1e-8.

    python bench/precision.py [--networks SiouxFalls Anaheim] [--gap 1e-8]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEST_KNOWN = {"SiouxFalls": 42.31335287107440e5, "Anaheim": 1_286_032.17}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=list(BEST_KNOWN))
    parser.add_argument("--gap", type=float, default=1e-8)
    args = parser.parse_args()
    from mobility.core.routing import gradient_projection
    from mobility.routing import from_tntp

    print(f"load average {os.getloadavg()[0]:.1f} at start (2-core shared machine)")
    print("| network | sweeps | gap | seconds | paths used | objective | / best known - 1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.networks:
        net = from_tntp(ROOT / "networks" / "tntp" / name)
        r = gradient_projection(
            net.arrays,
            net.demand,
            gap=args.gap,
            toll_factor=net.toll_factor,
            distance_factor=net.distance_factor,
        )
        print(
            f"| {name} | {r.iterations} | {r.gap:.2e} | {r.seconds:.1f} | {r.paths} | "
            f"{r.objective:.6f} | {r.objective / BEST_KNOWN[name] - 1:+.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
