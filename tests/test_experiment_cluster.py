"""A sweep on a two-node local Ray cluster (both nodes on 127.0.0.1): runs spread over
both nodes, and removing a node in the middle loses no run and duplicates none."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment_helpers import assert_exactly_once, write_sweep

from mobility.experiment import load_sweep, run_sweep

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402


@pytest.fixture
def two_nodes(monkeypatch: pytest.MonkeyPatch):
    """A head node and a worker node, one CPU each, on loopback; the driver joins it."""
    # Ray rewrites a 127.0.0.1 address to the machine's outward IP before connecting; this
    # machine allows loopback only, so keep Ray's single-machine (loopback) resolution.
    monkeypatch.setattr("ray._private.ray_constants.ENABLE_RAY_CLUSTER", False)
    # Cluster writes its address to /tmp/ray/ray_current_cluster, which every ray.init()
    # without an address on this machine then joins (other test sessions included).
    monkeypatch.setattr("ray._private.utils.write_ray_address", lambda *args, **kwargs: None)
    monkeypatch.setattr("ray._common.utils.reset_ray_address", lambda *args, **kwargs: None)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False},
    )
    worker = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


def test_two_nodes_share_the_runs_and_survive_losing_one(tmp_path: Path, two_nodes) -> None:
    cluster, worker = two_nodes
    worker_id = worker.node_id
    plan = load_sweep(write_sweep(tmp_path, seeds=[1, 2, 3, 4, 5, 6], retries=3))
    removed: list[str] = []

    def remove_worker_node(run, row, report) -> None:
        # once the worker node has delivered a run, take it away with its runs in flight
        if not removed and row.get("node_id") == worker_id:
            cluster.remove_node(worker, allow_graceful=False)
            removed.append(worker_id)

    report = run_sweep(plan, tmp_path / "out", progress=False, on_result=remove_worker_node)
    assert removed, "the worker node never delivered a run"
    assert report.ok == 6 and not report.failed
    found = assert_exactly_once(tmp_path / "out", [r.run_id for r in plan.runs])
    nodes = {r["node_id"] for r in found}
    assert worker_id in nodes and len(nodes) == 2
