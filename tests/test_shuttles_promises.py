"""Learned edge times and signal waits: the pieces the detour promise is planned on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import GRID3
from shuttle_helpers import on_demand, run

from mobility.shuttles.graph import _red_wait
from mobility.shuttles.learned import HALF_LIFE_S, PRIOR_WEIGHT, EdgeTimes


def test_edie_speed_of_moving_vehicles_by_hand() -> None:
    # one 100 m edge, limit 10 m/s; shuttles top out at 12 m/s
    learner = EdgeTimes(np.array([100.0]), np.array([10.0]), 12.0)
    assert learner.edge_times() == pytest.approx([10.0])  # the prior: free flow
    # three vehicles, one standing: their mean speed 4 m/s means the two moving do 6 m/s;
    # over one half-life the prior's weight 2 halves to 1 and is refilled by 1
    learner.observe(np.array([3.0]), np.array([4.0]), np.array([1.0]), HALF_LIFE_S)
    weight = PRIOR_WEIGHT / 2 + 2 + PRIOR_WEIGHT / 2  # 4 vehicle-samples
    distance = PRIOR_WEIGHT / 2 * 10 + 2 * 6 + PRIOR_WEIGHT / 2 * 10  # 32
    assert learner.speeds() == pytest.approx([distance / weight])  # 8 m/s
    # an empty edge (NaN speed) keeps what was learned, the prior refilling what decays
    learner.observe(np.array([0.0]), np.array([np.nan]), np.array([0.0]), HALF_LIFE_S)
    assert learner.speeds() == pytest.approx([(16 + 10) / (2 + 1)])
    # faster than the shuttle can go counts as its top speed
    fast = EdgeTimes(np.array([100.0]), np.array([30.0]), 12.0)
    fast.observe(np.array([10.0]), np.array([30.0]), np.array([0.0]), 1e9)
    assert fast.speeds() == pytest.approx([12.0])


def test_red_wait_of_a_random_arrival() -> None:
    program = [("Gr", 42.0), ("yr", 3.0), ("rG", 42.0), ("ry", 3.0)]
    # link 0 may not go for 3 (yellow) + 42 + 3 = 48 s of a 90 s cycle: 48^2 / 180
    assert _red_wait(program, 0) == pytest.approx(12.8)
    # link 1: the same 48 s, in one spell across the end of the cycle and its start
    assert _red_wait(program, 1) == pytest.approx(12.8)
    # two red spells of 20 and 30 s in 100 s: (400 + 900) / 200
    split = [("G", 25.0), ("r", 20.0), ("G", 25.0), ("r", 30.0)]
    assert _red_wait(split, 0) == pytest.approx(6.5)
    assert _red_wait([("G", 30.0)], 0) == 0.0


def test_direct_time_on_learned_times_counts_lights_and_the_stop(tmp_path: Path) -> None:
    # On the signalised 3x3 grid a ride from B0C0 to C1C2 turns through lights; the learned
    # base adds their expected red waits, the drop-off (10 s) and braking/pulling away
    # (13.89 / 3 + 13.89 / 6 s) to the current-speed drive the old base used.
    data = on_demand(
        tmp_path,
        riders={"trips": [{"at": 55, "from": "B0C0", "to": "C1C2"}]},
        end=400,
        dispatcher="mobility",
    )
    data["network"] = str(GRID3)
    _result, (req,), _ = run(tmp_path, data)
    assert req["status"] == "served"
    extra = req["direct_time_learned_s"] - req["direct_time_now_s"]
    stop = 10 + 13.89 / 3 + 13.89 / 6
    assert stop + 1 < extra < stop + 90  # some red wait, less than one full cycle
    assert req["detour_kept"] is True
