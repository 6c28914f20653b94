"""Junction clearance: a phase controller's new green waits until vehicles that crossed on
the links losing their green have left the junction (at most ``signals.clearance`` s).

On the 3x3 grid, where left turners wait inside the junction for a gap in the oncoming
stream (permissive ``g`` links), every moment a link turns green is checked: no vehicle may
then stand on the internal lanes of a link that has just lost its green and whose path the
new green crosses (SUMO's internal foes), unless the light had already held all-red for
the whole clearance bound. With ``clearance: 0`` such starts do happen: the test can fail.
"""

from __future__ import annotations

import numpy as np
from conftest import run_signals, small_scenario

from mobility.config import ScenarioSpec
from mobility.signals.driver import _link_foes
from mobility.sim.engine import Engine


def _green_starts_into_occupied_junction(clearance: float, folder) -> tuple[int, int]:
    """(green starts checked, starts while a crossing foe vehicle was inside the junction)."""
    spec = ScenarioSpec.model_validate(
        small_scenario(
            end=900,
            demand={"type": "random", "vehicles_per_hour": 2400, "fringe_factor": 5},
            signals={"controller": "max_pressure", "min_green": 5, "clearance": clearance},
        )
    )
    lights: dict[str, tuple[list[list[str]], np.ndarray]] = {}
    shown: dict[str, str] = {}  # each light's state at the previous step
    yellow: dict[str, np.ndarray] = {}  # links shown yellow in the light's last transition
    counts = [0, 0]

    def probe(engine: Engine) -> None:
        for tls, (vias, foes) in lights.items():
            state = engine.signal_state(tls)
            green = np.array([c in "Gg" for c in state])
            starting = green & ~np.array([c in "Gg" for c in shown[tls]])
            shown[tls] = state
            if "y" in state:
                yellow[tls] = np.array([c == "y" for c in state])
            if not starting.any() or tls not in yellow:
                continue
            ended = yellow.pop(tls) & ~green & foes[:, starting].any(axis=1)
            inside = [lane for link in np.flatnonzero(ended) for lane in vias[link]]
            counts[0] += 1
            counts[1] += bool(inside) and bool(engine.lane_vehicles(inside).any())

    def start(engine: Engine) -> None:
        for tls in engine.traffic_lights():
            vias = engine.signal_vias(tls)
            lights[tls] = (vias, _link_foes(engine, vias))
            shown[tls] = engine.signal_state(tls)
        engine.every(spec.step_length, probe, first=spec.begin + spec.step_length)

    folder.mkdir()
    run_signals(spec, folder, start)
    return counts[0], counts[1]


def test_new_green_waits_for_the_junction_to_clear(tmp_path) -> None:
    starts, blocked = _green_starts_into_occupied_junction(10.0, tmp_path / "on")
    starts_off, blocked_off = _green_starts_into_occupied_junction(0.0, tmp_path / "off")
    assert starts > 50 and starts_off > 50  # the lights did switch, many times
    assert blocked_off > 0  # without clearance, greens start onto vehicles inside
    assert blocked == 0
