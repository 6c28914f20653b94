"""A 100-run sweep of short runs on a local two-node Ray cluster (both nodes on 127.0.0.1).

The cluster is Ray's own ``ray.cluster_utils.Cluster``: a head node and a worker node, each
a separate raylet with ``--cpus-per-node`` CPUs, started and stopped by this script alone
(``ray stop`` would stop every Ray on a shared machine). The sweep is ``run_sweep`` with
``address`` set, as ``mobility sweep --address`` calls it.

Reference, measured in the same script: the sum of the runs' own durations as the workers
report them (``duration_s``: fork, the run, its tables). Scheduling overhead per run is the
sweep's wall time times its CPU slots, less that sum, over the runs: what Ray, the driver
and the results store add per run beyond the work itself.

    python bench/sweep_cluster.py [--runs 100] [--end 120] [--cpus-per-node 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def write_plan(work: Path, runs: int, end: int) -> Path:
    """A sweep of ``runs`` seeds of a short run on the bundled 3x3 grid."""
    base = {
        "name": "cluster-bench",
        "seed": 1,
        "end": end,
        "network": str(ROOT / "networks" / "grid3x3" / "grid3x3.net.xml"),
        "demand": {"type": "random", "vehicles_per_hour": 600},
    }
    (work / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = {"name": "cluster-bench", "base": "base.yaml", "seeds": runs, "retries": 2}
    path = work / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--end", type=int, default=120)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    args = parser.parse_args()

    import ray
    import ray._private.ray_constants as constants
    from ray.cluster_utils import Cluster

    from mobility.experiment import load_sweep, run_sweep

    constants.ENABLE_RAY_CLUSTER = False  # keep loopback: this machine allows nothing else
    work = Path(tempfile.mkdtemp(prefix="mobility-cluster-"))
    plan = load_sweep(write_plan(work, args.runs, args.end))
    started = time.perf_counter()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": args.cpus_per_node,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
        },
    )
    cluster.add_node(num_cpus=args.cpus_per_node, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False)
    up = time.perf_counter() - started
    rows: list[dict] = []
    try:
        t0 = time.perf_counter()
        report = run_sweep(
            plan, work / "out", progress=False, on_result=lambda _r, row, _rep: rows.append(row)
        )
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
        cluster.shutdown()
    slots = 2 * args.cpus_per_node
    durations = [r["duration_s"] for r in rows if r.get("status") == "ok"]
    per_node = {
        n: sum(r.get("node_id") == n for r in rows) for n in {r.get("node_id") for r in rows}
    }
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs, cluster up in {up:.1f} s")
    spread = sorted(per_node.values())
    print(f"runs: {report.ok} ok, {len(report.failed)} failed; runs per node {spread}")
    print(f"sweep wall {wall:.1f} s ({args.runs / wall:.2f} runs/s) on {slots} CPU slots")
    print(
        f"run durations in the workers: sum {sum(durations):.1f} s, "
        f"median {statistics.median(durations):.3f} s"
    )
    overhead = (wall * slots - sum(durations)) / args.runs
    print(f"scheduling overhead per run: {overhead:.3f} s (goal <= 0.1 s)")


if __name__ == "__main__":
    main()
