"""Rebalancing idle shuttles toward the zones riders ask from (rates learned in the run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shuttle_helpers import on_demand, run

from mobility.errors import SpecError
from mobility.shuttles.rebalance import Rebalancer


def test_idle_shuttles_shared_out_by_learned_rates_at_least_driving() -> None:
    index = {"a1": 0, "a2": 1, "b1": 2, "b2": 3}
    reb = Rebalancer({"A": ["a1", "a2"], "B": ["b1", "b2"]}, index)
    # three requests from A (two on a2, its busiest edge), one from B
    reqs = [("r1", "a2"), ("r2", "a2"), ("r3", "a1"), ("r4", "b1")]
    reb.observe([{"id": i, "from": e} for i, e in reqs], 100.0)
    reb.observe([{"id": "r1", "from": "a2"}], 100.0)  # seen before: not counted twice
    assert reb.rate == {"A": 3.0, "B": 1.0}
    # four idle shuttles, all in B: A's share is 3 of 4 places, all on a2, but only the
    # first move gains (A's rate x 40 s drive from b1 to a2 = 120 s, and B keeps a shuttle
    # on b1); a second shuttle on a2 shortens no expected pick-up, so it stays
    times = np.array([[0, 10, 50, 50], [10, 0, 50, 50], [40, 40, 0, 10], [90, 90, 10, 0]], float)
    idle = {"s1": "b1", "s2": "b1", "s3": "b2", "s4": "b1"}
    assert reb.moves(idle, times) == {"s1": "a2"}
    # one idle shuttle: moving it to A gains 3 x 40 = 120 s for A and costs B's rider
    # 1 x 50 s back from a2 (gain 70 > 0: it moves); with 500 s back it would cost more
    # than it gains, and it stays
    assert reb.moves({"s1": "b1"}, times) == {"s1": "a2"}
    far = times.copy()
    far[1, 2] = 500.0
    assert reb.moves({"s1": "b1"}, far) == {}
    # rates decay with a 15-minute half-life
    reb.observe([], 1000.0)
    assert reb.rate["A"] == pytest.approx(1.5)


def test_too_few_requests_move_nobody() -> None:
    reb = Rebalancer({"A": ["a"], "B": ["b"]}, {"a": 0, "b": 1})
    reb.observe([{"id": "r", "from": "a"}], 0.0)  # one request: fewer than MIN_REQUESTS
    assert reb.moves({"s": "b"}, np.zeros((2, 2))) == {}


@pytest.mark.parametrize(("idle", "ends_north"), [("stay", False), ("rebalance", True)])
def test_an_idle_shuttle_goes_where_riders_ask(tmp_path: Path, idle, ends_north) -> None:
    # Three riders ask from C2B2 (zone north) for C1C2; two shuttles start on A0B0 (south).
    # Nobody is dropped on C2B2, so a shuttle ends there only if it was sent to wait there.
    trips = [{"at": t, "from": "C2B2", "to": "C1C2"} for t in (20, 30, 40)]
    riders = {
        "zones": {"north": ["C2B2"], "south": ["A0B0", "B0C0"]},
        "flows": [{"from": "south", "to": "north", "per_hour": 0.001}],
        "trips": trips,
    }
    data = on_demand(
        tmp_path, riders=riders, end=700, dispatcher="mobility", fleet_size=2, idle=idle
    )
    _result, requests, fleet = run(tmp_path, data)
    assert [r["status"] for r in requests] == ["served"] * 3
    assert ("C2B2" in {f["last_edge"] for f in fleet}) is ends_north


def test_rebalance_needs_our_dispatcher(tmp_path: Path, write_spec) -> None:
    from mobility import Scenario

    data = on_demand(tmp_path, riders={"trips": [{"at": 5, "from": "A0B0", "to": "B0C0"}]})
    data["shuttles"][0]["idle"] = "rebalance"  # with SUMO's greedy
    with pytest.raises(SpecError) as err:
        Scenario.from_yaml(write_spec(data))
    assert "rebalance needs dispatcher: mobility" in str(err.value)
