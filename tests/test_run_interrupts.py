"""Interrupting `mobility run` (Ctrl-C, SIGTERM, kill -9) leaves nothing half-written: real
processes, signals sent while SUMO runs or while randomTrips builds the demand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import GRID4, default_sigint

LONG = (
    "name: long\nend: 40000\nnetwork: {net}\n"
    "demand: {{type: random, vehicles_per_hour: 2000, fringe_factor: 5}}\n"
)


def start(spec: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mobility.cli", "run", str(spec), "--out", str(out)]
    return subprocess.Popen(
        [*cmd, "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=default_sigint,
    )


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def simulating(out: Path) -> bool:
    """SUMO has started: the run's temporary folder holds its configuration."""
    return any(out.glob(".long-*.tmp-*/run.sumocfg"))


@pytest.fixture
def long_spec(tmp_path: Path) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(LONG.format(net=GRID4))
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_the_simulation_stops_cleanly(sig, long_spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start(long_spec, out)
    wait_for(lambda: simulating(out))
    time.sleep(1.0)  # well inside the simulation
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert list(out.iterdir()) == []  # no run folder, no temporary folder


def test_kill_9_leaves_a_folder_the_next_run_removes(long_spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start(long_spec, out)
    wait_for(lambda: simulating(out))
    proc.kill()
    proc.communicate(timeout=60)
    left = [p.name for p in out.iterdir()]
    assert len(left) == 1 and ".tmp-" in left[0]  # nothing can clean up after SIGKILL...
    quick = tmp_path / "quick.yaml"
    quick.write_text(long_spec.read_text().replace("end: 40000", "end: 30"))
    done = start(quick, out)
    done.communicate(timeout=120)
    assert done.returncode == 0
    assert [p.name for p in out.iterdir()] == ["long-" + _run_suffix(out)]  # ...the next run does


def _run_suffix(out: Path) -> str:
    (run,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return run.name.removeprefix("long-")


def test_kill_9_while_building_demand_kills_the_demand_tools(tmp_path: Path) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text(LONG.format(net=GRID4).replace("2000", "400000").replace("40000", "3600"))
    cache = tmp_path / "private-cache"  # unbuilt demand, and a marker in the tools' arguments
    proc = start(spec, tmp_path / "out", env={"MOBILITY_CACHE": str(cache)})
    wait_for(lambda: _tools_running(cache))
    proc.kill()
    proc.communicate(timeout=60)
    wait_for(lambda: not _tools_running(cache), timeout=10)


def _tools_running(marker: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", str(marker)], capture_output=True, text=True)
    return bool(found.stdout.strip())
