"""Shared fixtures: tiny bundled networks, a private build cache, spec files in tmp dirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

# Property tests draw the same examples on every run: no test passes here and fails in CI.
settings.register_profile("mobility", derandomize=True, deadline=None)
settings.load_profile("mobility")

# Ray in tests stays on loopback: Ray on Linux otherwise swaps 127.0.0.1 for the machine's
# outward address (see mobility.experiment.sweep.keep_ray_on_loopback). Read by Ray at import.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ROOT / "networks"
GRID3 = NETWORKS / "grid3x3" / "grid3x3.net.xml"
GRID4 = NETWORKS / "grid4x4" / "grid4x4.net.xml"
ARTERIAL = NETWORKS / "arterial" / "arterial.net.xml"
OSM = NETWORKS / "west-oakland" / "west-oakland.osm.bz2"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Built networks and demand go to a cache private to this test session; so do compiled
    XLA programs, which the many `mobility` subprocesses (optimize, calibrate, sweep workers)
    would otherwise compile again each (environment for them, config for this process)."""
    import jax

    mp = pytest.MonkeyPatch()
    mp.setenv("MOBILITY_CACHE", str(tmp_path_factory.mktemp("cache")))
    xla = str(tmp_path_factory.mktemp("jax-cache"))
    mp.setenv("JAX_COMPILATION_CACHE_DIR", xla)
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", xla)
    yield
    jax.config.update("jax_compilation_cache_dir", before)
    mp.undo()


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a scenario dict (or raw text) as YAML in tmp_path and return its path."""

    def write(spec: dict | str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec))
        return path

    return write


def small_scenario(**overrides: object) -> dict:
    """A 10-minute scenario on the 3x3 grid: the workhorse of the run tests."""
    spec = {
        "name": "small",
        "seed": 42,
        "end": 600,
        "network": str(GRID3),
        "demand": {"type": "random", "vehicles_per_hour": 900, "fringe_factor": 5},
    }
    spec.update(overrides)
    return spec


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `mobility` command in a subprocess (exit codes, stderr, no traceback):
    the entry point the package installs next to this Python, as a planner types it."""
    entry = Path(sys.executable).parent / "mobility"
    assert entry.is_file(), f"{entry} missing: install the package (pip install -e .)"
    return subprocess.run(
        [str(entry), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal. A shell starts background jobs (`pytest &`,
    nohup, some CI runners) with SIGINT ignored, and Python then never raises
    KeyboardInterrupt, so the command would finish its run instead of stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_signals(spec, folder: Path, on_engine=None):
    """Run ``spec`` with only its signals part attached (no tables, no KPIs), calling
    ``on_engine(engine)`` before the simulation starts; the part, to read its controller."""
    from mobility.demand.build import build_demand
    from mobility.scenario import scenario_network
    from mobility.signals.setup import SignalsPart
    from mobility.sim import sumocfg
    from mobility.sim.engine import Engine
    from mobility.sim.parts import RunContext, SumoInputs

    network = scenario_network(spec)
    routes = build_demand(spec, network)
    part = SignalsPart()
    inputs = SumoInputs(routes=list(routes))
    inputs = inputs.merge(part.prepare(RunContext(spec, network, tuple(routes), folder)))
    cfg = sumocfg.write_sumocfg(spec, net=network.path, inputs=inputs, folder=folder)
    with Engine(["-c", str(cfg)], log_file=folder / sumocfg.SUMO_LOG) as engine:
        part.attach(engine)
        if on_engine is not None:
            on_engine(engine)
        engine.run(spec.end)
    return part


def prepare_signals(spec, folder: Path):
    """The signals part of ``spec`` prepared in ``folder``: (part, what SUMO must load)."""
    from mobility.demand.build import build_demand
    from mobility.scenario import scenario_network
    from mobility.signals.setup import SignalsPart
    from mobility.sim.parts import RunContext

    network = scenario_network(spec)
    routes = build_demand(spec, network)
    part = SignalsPart()
    return part, part.prepare(RunContext(spec, network, tuple(routes), folder))
