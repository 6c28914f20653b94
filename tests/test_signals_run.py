"""Controllers in real SUMO: valid states only, yellow never skipped, and max pressure
beats the net's own program where demand is lopsided."""

from __future__ import annotations

import itertools

import pytest
from conftest import GRID3, OSM, run_signals, small_scenario

from mobility.config import CONTROLLERS, ScenarioSpec, signals_with
from mobility.scenario import run_scenario
from mobility.signals.optimize import ensure_plan
from mobility.sim.engine import Engine

VALID = set("rRyYgGuosO")


def _with_plan(spec: ScenarioSpec) -> ScenarioSpec:
    """``optimized`` deploys a plan searched beforehand: here a quick one, on the model only."""
    if spec.signals.controller != "optimized":
        return spec
    params = {"starts": 8, "refine": 2, "iterations": 3, "verify": 0}
    spec = spec.model_copy(update={"signals": signals_with(spec.signals, params=params)})
    ensure_plan(spec)
    return spec


def _states_every_step(spec: ScenarioSpec, folder) -> dict[str, list[str]]:
    """Run ``spec`` with its controller and record every light's state at every step."""
    spec = _with_plan(spec)
    seen: dict[str, list[str]] = {}

    def record(engine: Engine) -> None:
        for tls in engine.traffic_lights():
            seen.setdefault(tls, []).append(engine.signal_state(tls))

    def start(engine: Engine) -> None:
        engine.every(spec.step_length, record, first=spec.begin + spec.step_length)

    run_signals(spec, folder, start)
    return seen


def _check_states(seen: dict[str, list[str]]) -> None:
    assert seen
    for tls, states in seen.items():
        assert len({len(s) for s in states}) == 1, tls
        for before, after in itertools.pairwise(states):
            assert set(after) <= VALID, (tls, after)
            for a, b in zip(before, after, strict=True):
                # a green link never turns red without a yellow step in between
                assert not (a in "Gg" and b in "rR"), (tls, before, after)


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_no_invalid_state_and_no_skipped_yellow(controller, tmp_path) -> None:
    spec = ScenarioSpec.model_validate(
        small_scenario(end=400, signals={"controller": controller, "min_green": 5})
    )
    _check_states(_states_every_step(spec, tmp_path))


def test_max_green_forces_a_change(tmp_path) -> None:
    spec = ScenarioSpec.model_validate(
        small_scenario(
            end=300,
            demand={"type": "random", "vehicles_per_hour": 60, "fringe_factor": 5},
            signals={"controller": "greedy", "max_green": 20, "min_green": 5},
        )
    )
    seen = _states_every_step(spec, tmp_path)
    _check_states(seen)
    for states in seen.values():
        longest = run = 1
        for a, b in itertools.pairwise(states):
            run = run + 1 if a == b else 1
            longest = max(longest, run)
        assert longest <= 20 + 1


ROUTES = """<routes>
  <flow id="we" begin="0" end="1200" vehsPerHour="{main}" from="WJ0" to="J0E" departLane="best"/>
  <flow id="ew" begin="0" end="1200" vehsPerHour="{main}" from="EJ0" to="J0W" departLane="best"/>
  <flow id="ns" begin="0" end="1200" vehsPerHour="{side}" from="N0J0" to="J0S0"/>
  <flow id="sn" begin="0" end="1200" vehsPerHour="{side}" from="S0J0" to="J0N0"/>
</routes>
"""


def test_max_pressure_beats_static_on_unbalanced_intersection(tmp_path) -> None:
    routes = tmp_path / "lopsided.rou.xml"
    routes.write_text(ROUTES.format(main=900, side=60))
    delay = {}
    for controller in ("static", "max_pressure"):
        spec = ScenarioSpec.model_validate(
            {
                "name": f"single-{controller}",
                "end": 1200,
                "network": {"type": "arterial", "intersections": 1, "lanes": 1},
                "demand": str(routes),
                "signals": controller,
            }
        )
        delay[controller] = run_scenario(spec, tmp_path / "out").kpis["resco_delay_s"]
    assert delay["max_pressure"] < 0.8 * delay["static"], delay


@pytest.mark.slow
def test_all_controllers_run_on_the_osm_network(tmp_path) -> None:
    for controller in CONTROLLERS:
        spec = ScenarioSpec.model_validate(
            {
                "name": f"osm-{controller}",
                "seed": 3,
                "end": 300,
                "network": {"type": "osm", "path": str(OSM)},
                "demand": {"type": "random", "vehicles_per_hour": 400, "fringe_factor": 5},
                "signals": controller,
            }
        )
        folder = tmp_path / controller
        folder.mkdir()
        _check_states(_states_every_step(spec, folder))
    assert GRID3.exists()
