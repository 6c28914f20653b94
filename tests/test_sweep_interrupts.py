"""A sweep driver (`mobility sweep`, a real process with its own local Ray) stopped mid-sweep
by SIGINT, SIGTERM or kill -9: `--resume` then runs exactly the missing runs, once, keeps
the runs stored before, and no temporary folder is left anywhere in the sweep."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, default_sigint, run_cli, small_scenario
from experiment_helpers import assert_exactly_once, rows, write_sweep

from mobility.experiment import load_sweep

pytest.importorskip("ray")

SEEDS = list(range(1, 9))  # enough runs that the sweep is still busy when it is stopped
CLI = (sys.executable, "-m", "mobility.cli")
WAIT_S = 90  # for the driver to store its first run (Ray starts in a few seconds)


def _start(sweep: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "sweep", str(sweep), "--out", str(out), "--no-report", "--num-cpus", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def _wait_mid_sweep(driver: subprocess.Popen[str], out: Path) -> None:
    """Until one run is stored and another is being written (its temporary folder)."""
    deadline = time.monotonic() + WAIT_S
    stored = out / "results" / "runs"
    while not (stored.is_dir() and any(stored.glob("*.parquet"))):
        assert driver.poll() is None, driver.communicate()[1]
        assert time.monotonic() < deadline, "the sweep stored no run"
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while not _temp(out / "runs") and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.02)
    assert driver.poll() is None, "the sweep finished before it could be interrupted"


def _temp(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]


def _ray_processes_of(driver_pid: int) -> list[int]:
    """Processes of the local Ray a driver started: they write into its session folder,
    named after the driver's pid (`/tmp/ray/session_<date>_<n>_<pid>`)."""
    session = re.compile(rf"/session_[\d_-]+_{driver_pid}/")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(session.search(t) for t in targets):
            found.append(int(entry.name))
    return found


def _stop_ray_of(driver_pid: int) -> None:
    """kill -9 of a driver can leave its Ray's agents running: stop those, and only those
    (never `ray stop`, which would stop every Ray on this machine)."""
    for pid in _ray_processes_of(driver_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("how", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 130), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["SIGINT", "SIGTERM", "kill-9"],
)
def test_interrupted_driver_leaves_nothing_and_resumes_exactly_once(
    tmp_path: Path, how: signal.Signals, code: int
) -> None:
    sweep = write_sweep(tmp_path, base=small_scenario(end=6000), seeds=SEEDS)
    plan_ids = [run.run_id for run in load_sweep(sweep).runs]
    out = tmp_path / "out"
    driver = _start(sweep, out)
    try:
        _wait_mid_sweep(driver, out)
        driver.send_signal(how)
        _, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        _stop_ray_of(driver.pid)
    assert driver.returncode == code, err
    if how != signal.SIGKILL:  # a handled stop says so and cleans up before it exits
        assert "interrupted" in err and "Traceback" not in err, err
        assert not _temp(out), _temp(out)
    before = {r["run_id"]: r["started_at"] for r in rows(out)}
    assert 1 <= len(before) < len(plan_ids)

    result = run_cli(
        "sweep", str(sweep), "--out", str(out), "--resume", "--no-report", "--num-cpus", "2"
    )
    assert result.returncode == 0, result.stderr
    done = len(plan_ids) - len(before)
    assert f"{done} ok, 0 failed, {len(before)} already done" in result.stdout
    for row in assert_exactly_once(out, plan_ids):  # the runs stored before were kept
        if row["run_id"] in before:
            assert row["started_at"] == before[row["run_id"]]
    assert not _temp(out), _temp(out)
