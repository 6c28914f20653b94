"""Sweeps on a real local Ray (loopback, 2 CPUs): exactly once, failures, timeouts,
a killed worker, an interrupted driver and its resume."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import GRID3, small_scenario
from experiment_helpers import assert_exactly_once, rows, write_sweep

from mobility.experiment import SweepStore, load_sweep, run_sweep, summary

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module: 2 CPUs, bound to 127.0.0.1 (its dashboard too)."""
    ray.init(
        address="local",  # our own Ray, never one named in /tmp/ray/ray_current_cluster
        num_cpus=2,
        _node_ip_address="127.0.0.1",
        include_dashboard=True,  # Ray's state API (which task runs in which worker) needs it
        dashboard_host="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


def test_sweep_runs_every_run_exactly_once(tmp_path: Path) -> None:
    plan = load_sweep(
        write_sweep(tmp_path, grid={"demand.vehicles_per_hour": [600, 900]}, seeds=[1, 2])
    )
    assert len(plan.runs) == 4
    report = run_sweep(plan, tmp_path / "out", progress=False)
    assert (report.ok, report.failed, report.skipped) == (4, [], 0)
    found = assert_exactly_once(tmp_path / "out", [r.run_id for r in plan.runs])
    assert {r["demand_vehicles_per_hour"] for r in found} == {600, 900}
    assert all(r["kpi_trips_completed"] > 0 for r in found)
    # more demand, more completed trips: the parameter reached the scenario
    by_rate = SweepStore(tmp_path / "out").query(
        "SELECT demand_vehicles_per_hour AS v, avg(kpi_vehicles_loaded) AS n FROM runs GROUP BY 1"
    )
    loaded = dict(zip(by_rate["v"], by_rate["n"], strict=True))
    assert loaded[900] > loaded[600]
    table = summary(SweepStore(tmp_path / "out"), kpis=["travel_time_mean_s"])
    assert list(table["n"]) == [2, 2]
    # the t-interval by hand from the two seeds' rows: mean +- t(0.975, 1) * sd / sqrt(2)
    for row in table.itertuples():
        values = [r["kpi_travel_time_mean_s"] for r in found if r["variant"] == row.variant]
        half = 12.706204736174707 * np.std(values, ddof=1) / np.sqrt(2)
        assert (row.n, row.mean) == (2, pytest.approx(np.mean(values)))
        assert (row.ci_low, row.ci_high) == pytest.approx((row.mean - half, row.mean + half))
        assert half > 0  # the seeds gave different travel times
    # a second sweep into the same folder is refused without --resume
    with pytest.raises(Exception, match="--resume"):
        run_sweep(plan, tmp_path / "out", progress=False)


def test_failure_and_timeout_are_recorded_while_the_others_complete(tmp_path: Path) -> None:
    bad = tmp_path / "broken.net.xml"
    bad.write_text("<net>this is not a SUMO network</net>\n")
    path = write_sweep(
        tmp_path,
        zip={
            "network.path": [str(GRID3), str(GRID3), str(bad)],
            "end": [600, 86400, 600],
            "demand.vehicles_per_hour": [900, 20000, 900],
        },
        seeds=[1],
        timeout_s=8,
    )
    plan = load_sweep(path)
    started = time.perf_counter()
    report = run_sweep(plan, tmp_path / "out", progress=False)
    assert time.perf_counter() - started < 60
    assert report.ok == 1 and len(report.failed) == 2
    by_end = {(r["end"], r["network_path"]): r for r in rows(tmp_path / "out")}
    assert by_end[(600, str(GRID3))]["status"] == "ok"
    slow = by_end[(86400, str(GRID3))]
    assert slow["status"] == "timeout"
    assert "timeout of 8 s" in slow["error"]
    broken = by_end[(600, str(bad))]
    assert broken["status"] == "failed"
    assert broken["error"] and broken["log"]
    # the network's own error, not a demand tool's failure on it
    assert broken["error"].startswith("NetworkError") and "could not be read" in broken["error"]
    # the killed run's temporary folder went with it
    assert not [p for p in (tmp_path / "out").rglob(".*") if ".tmp-" in p.name]


def test_timed_out_run_leaves_no_temporary_folder(tmp_path: Path) -> None:
    """The run is killed with its process group mid-SUMO: its folder goes with it."""
    from mobility.demand.build import build_demand
    from mobility.scenario import scenario_network

    base = small_scenario(end=86400, demand={"type": "random", "vehicles_per_hour": 1500})
    plan = load_sweep(write_sweep(tmp_path, base=base, seeds=[1], timeout_s=6))
    spec = plan.runs[0].spec
    build_demand(spec, scenario_network(spec))  # cached: the run goes straight to SUMO
    runs = tmp_path / "out" / "runs"
    seen: list[str] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            if runs.is_dir():
                seen.extend(p.name for p in runs.glob(".*.tmp-*"))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        report = run_sweep(plan, tmp_path / "out", progress=False)
    finally:
        watching.set()
        watcher.join()
    assert report.failed == [plan.runs[0].run_id]
    assert rows(tmp_path / "out")[0]["status"] == "timeout"
    assert seen, "the run never reached SUMO: the test checks nothing"
    assert not list(runs.glob(".*")), list(runs.glob(".*"))


def test_interrupted_driver_resumes_with_the_missing_runs_only(tmp_path: Path) -> None:
    plan = load_sweep(write_sweep(tmp_path, seeds=[1, 2, 3, 4, 5]))

    def interrupt(run, row, report) -> None:
        if report.executed == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, tmp_path / "out", max_in_flight=2, progress=False, on_result=interrupt)
    first = {r["run_id"]: r["started_at"] for r in rows(tmp_path / "out")}
    assert len(first) == 2

    report = run_sweep(plan, tmp_path / "out", resume=True, progress=False)
    assert report.skipped == 2 and report.ok == 3 and not report.failed
    found = assert_exactly_once(tmp_path / "out", [r.run_id for r in plan.runs])
    for row in found:  # the runs finished before the interruption were not run again
        if row["run_id"] in first:
            assert row["started_at"] == first[row["run_id"]]
    # resuming a finished sweep runs nothing
    again = run_sweep(plan, tmp_path / "out", resume=True, progress=False)
    assert (again.skipped, again.executed) == (5, 0)


def test_params_of_any_shape_are_stored_and_resumed(tmp_path: Path) -> None:
    """An empty mapping (Parquet has no struct without fields) and a list as parameter
    values: stored as JSON text, queryable, summarised, and `--resume` reads them back."""
    base = small_scenario(end=300, signals={"controller": "sotl"})
    path = write_sweep(
        tmp_path, base=base, grid={"signals.params": [{}, {"theta": 30}]}, seeds=[1, 2]
    )
    plan = load_sweep(path)
    out = tmp_path / "out"
    report = run_sweep(plan, out, progress=False)
    assert (report.ok, report.failed) == (4, [])
    found = assert_exactly_once(out, [r.run_id for r in plan.runs])
    assert {r["signals_params"] for r in found} == {"{}", '{"theta": 30}'}
    theta = SweepStore(out).query(
        "SELECT DISTINCT signals_params->>'theta' AS theta FROM runs ORDER BY 1 NULLS FIRST"
    )
    assert list(theta["theta"].fillna("none")) == ["none", "30"]
    table = summary(SweepStore(out), kpis=["trips_completed"])
    assert list(table["variant"]) == ["signals.params={}", 'signals.params={"theta": 30}']
    assert list(table["n"]) == [2, 2]
    # a resume reads the stored rows back: nothing to run, nothing crashes
    again = run_sweep(plan, out, resume=True, progress=False)
    assert (again.skipped, again.executed) == (4, 0)
    # a run whose row is lost runs again, once
    SweepStore(out).row_file(plan.runs[1].run_id).unlink()
    again = run_sweep(plan, out, resume=True, progress=False)
    assert (again.skipped, again.ok) == (3, 1)
    assert_exactly_once(out, [r.run_id for r in plan.runs])


def _busy_worker_pids() -> list[int]:
    """Ray worker processes now executing a sweep run, as Ray's state API reports them."""
    from ray.util.state import list_tasks

    running = list_tasks(
        filters=[("state", "=", "RUNNING"), ("name", "=", "mobility-run")], detail=True
    )
    return [int(t.worker_pid) for t in running if t.worker_pid]


def test_killed_worker_loses_no_run_and_duplicates_none(tmp_path: Path) -> None:
    # runs of 40 simulated minutes: long enough that Ray's state API (task events flushed
    # about once a second) reports one running before the sweep is over
    base = small_scenario(end=2400)
    plan = load_sweep(write_sweep(tmp_path, base=base, seeds=[1, 2, 3, 4, 5, 6], retries=2))
    killed: list[int] = []

    def kill_a_worker(run, row, report) -> None:
        if killed:
            return
        deadline = time.monotonic() + 5
        while not killed and time.monotonic() < deadline:
            for pid in _busy_worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.02)

    report = run_sweep(plan, tmp_path / "out", progress=False, on_result=kill_a_worker)
    assert killed, "no busy worker was found to kill"
    assert report.ok == 6 and not report.failed
    assert_exactly_once(tmp_path / "out", [r.run_id for r in plan.runs])
    # the killed run's temporary folder is gone too (its process died with the worker)
    assert not [p for p in (tmp_path / "out").rglob(".*") if ".tmp-" in p.name]
    # the worker really died (its run, unless it had just handed its result back, was
    # retried by Ray on another worker: either way once, as checked above)
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)


def test_summary_and_query_commands(tmp_path: Path) -> None:
    from conftest import run_cli

    plan = load_sweep(write_sweep(tmp_path, grid={"end": [300, 600]}, seeds=[1, 2]))
    run_sweep(plan, tmp_path / "out", progress=False)
    result = run_cli("results", "summary", str(tmp_path / "out"), "-k", "trips_completed")
    assert result.returncode == 0, result.stderr
    assert "end=300" in result.stdout and "trips_completed" in result.stdout
    sql = (
        'SELECT "end", count(*) AS n, count(DISTINCT seed) AS seeds FROM runs GROUP BY 1 ORDER BY 1'
    )
    result = run_cli(
        "results", "query", str(tmp_path / "out"), sql, "--csv", str(tmp_path / "q.csv")
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "q.csv").read_text().splitlines() == ["end,n,seeds", "300,2,2", "600,2,2"]
    result = run_cli("results", "query", str(tmp_path / "out"), "SELECT nope FROM runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "views" in result.stderr
    assert small_scenario()["name"] == "small"
