"""Shuttle travel-time tables: the core's batched shortest paths against scipy's Dijkstra.

The shuttles' edge-to-edge table (:meth:`mobility.shuttles.graph.NetGraph.times`, refreshed
with current speeds every dispatch round) comes from :mod:`mobility.core.routing`. The
reference is ``scipy.sparse.csgraph.dijkstra`` over the same edge graph and weights, in the
same script; the tables must agree. Networks: the bundled 4x4 grid, and netgenerate's grid
and random networks built here (not committed), so the size grows past what we tuned on.

    python bench/shuttle_times.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from mobility import sumo
from mobility.network.net import load_network
from mobility.shuttles.graph import NetGraph

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {
    "grid 20x20": ["--grid", "--grid.number", "20", "--grid.length", "150"],
    "random 2000": ["--rand", "--rand.iterations", "2000", "--seed", "3"],
}


def scipy_table(graph: NetGraph, vclass: str, speed: np.ndarray) -> np.ndarray:
    """The reference: all-pairs Dijkstra on the same edge graph and weights."""
    tail, head = graph._turns(vclass)
    weight = (graph.length / speed)[head] + 1e-6
    n = len(graph.edges)
    return dijkstra(csr_matrix((weight, (tail, head)), shape=(n, n)), directed=True)


def measure(net: Path, repeats: int) -> dict[str, float]:
    graph = NetGraph(load_network(net))
    started = time.perf_counter()
    graph.times("taxi")  # compiles for this size
    first = time.perf_counter() - started
    ours, ref = [], []
    for k in range(repeats):
        speed = graph.speed * (0.8 + 0.05 * k)  # new speeds: no cached table
        t0 = time.perf_counter()
        table = graph.times("taxi", speed)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        expected = scipy_table(graph, "taxi", speed)
        ref.append(time.perf_counter() - t0)
        finite = np.isfinite(expected)
        assert np.array_equal(finite, np.isfinite(table)), "reachability differs"
        assert np.allclose(table[finite], expected[finite], rtol=1e-9, atol=1e-6)
    return {
        "edges": len(graph.edges),
        "first_s": first,
        "ours_s": statistics.median(ours),
        "scipy_s": statistics.median(ref),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    nets = {"bundled grid4x4": ROOT / "networks" / "grid4x4" / "grid4x4.net.xml"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in GENERATED.items():
            out = Path(tmp) / f"{name.replace(' ', '_')}.net.xml"
            subprocess.run([sumo.binary("netgenerate"), *options, "-o", str(out)], check=True)
            nets[name] = out
        print("network            edges  first call  ours (median)  scipy (median)  ours/scipy")
        for name, path in nets.items():
            r = measure(path, args.repeats)
            print(
                f"{name:<17} {r['edges']:>6}  {r['first_s']:>8.3f} s  {r['ours_s']:>11.3f} s"
                f"  {r['scipy_s']:>12.3f} s  {r['ours_s'] / r['scipy_s']:>9.2f}"
            )


if __name__ == "__main__":
    main()
