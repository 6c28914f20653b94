"""Phase controllers that keep a network from locking up: the spill-back, stall and
starvation rules (:mod:`mobility.signals.controllers`).

A tiny net built to spill back: two lights close together, A and B, on a west-east road.
The link A->B holds about five cars and B (kept on its own fixed program) lets it out only
10 s a minute, so more traffic arrives from the west than can leave: the link fills and
the west queue stands the length of its road. A capacity-unaware controller at A keeps
giving that queue the green (its pressure, or its halted count, is the largest), although
no car can move into the full link, and starves A's cross street. With the rule it serves
the cross street while the link is full. On hand-made observations: with room at every
exit and lanes that move the rules change no decision; a lane that stands through a green
goes to its other phase; a lane left waiting past ``patience`` gets its phases in turn.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import run_signals

from mobility import sumo
from mobility.config import ScenarioSpec
from mobility.scenario import run_scenario
from mobility.signals.controllers import Greedy, MaxPressure, Sotl
from mobility.signals.registry import GreedyParams, MaxPressureParams, SotlParams
from mobility.signals.types import JAM_SPACING_M, Layout, Observation

LINK_M = 50.0  # m between the two lights (about 39 m of lane after the junctions)


def _spill_net(folder: Path) -> tuple[Path, Path]:
    """Lights A (0, 0) and B (50, 0). A: west road WA (300 m) into the short link AB, and a
    cross street NA -> AS; B: AB -> BE and a cross street MB -> BT. One lane each, straight
    on only. A's program gives each road 30 s; B's gives its cross street 50 s and AB 10 s.
    Demand for 30 minutes: west-east 600 veh/h (B lets out about 300), A's cross street 500,
    B's 400."""
    nodes = {"W": (-300, 0), "A": (0, 0), "B": (LINK_M, 0), "E": (LINK_M + 300, 0)}
    nodes |= {"N": (0, 150), "S": (0, -300), "M": (LINK_M, 300), "T": (LINK_M, -300)}

    def kind(node: str) -> str:
        return "traffic_light" if node in "AB" else "priority"

    (folder / "n.nod.xml").write_text(
        "<nodes>"
        + "".join(
            f'<node id="{n}" x="{x}" y="{y}" type="{kind(n)}"/>' for n, (x, y) in nodes.items()
        )
        + "</nodes>"
    )
    edges = ["WA", "AB", "BE", "NA", "AS", "MB", "BT"]
    (folder / "n.edg.xml").write_text(
        "<edges>"
        + "".join(
            f'<edge id="{e}" from="{e[0]}" to="{e[1]}" numLanes="1" speed="13.89"/>' for e in edges
        )
        + "</edges>"
    )
    links = [("WA", "AB"), ("AB", "BE"), ("NA", "AS"), ("MB", "BT")]
    (folder / "n.con.xml").write_text(
        "<connections>"
        + "".join(f'<connection from="{a}" to="{b}" fromLane="0" toLane="0"/>' for a, b in links)
        + "</connections>"
    )
    # signal links in netconvert's order: the cross street first, then the west-east road
    programs = {
        "A": [("Gr", 30), ("yr", 3), ("rG", 30), ("ry", 3)],
        "B": [("Gr", 50), ("yr", 3), ("rG", 10), ("ry", 3)],
    }
    (folder / "n.tll.xml").write_text(
        "<tlLogics>"
        + "".join(
            f'<tlLogic id="{t}" type="static" programID="0" offset="0">'
            + "".join(f'<phase duration="{d}" state="{st}"/>' for st, d in phases)
            + "</tlLogic>"
            for t, phases in programs.items()
        )
        + "</tlLogics>"
    )
    net = folder / "spill.net.xml"
    args = ["-n", "n.nod.xml", "-e", "n.edg.xml", "-x", "n.con.xml", "-i", "n.tll.xml"]
    proc = sumo.run_tool(
        [sumo.binary("netconvert"), *args, "--no-turnarounds", "-o", str(net)], cwd=folder
    )
    assert proc.returncode == 0, proc.stderr
    routes = folder / "spill.rou.xml"
    flows = [("we", "WA", "BE", 600), ("ns", "NA", "AS", 500), ("mt", "MB", "BT", 400)]
    routes.write_text(
        "<routes>"
        + "".join(
            f'<flow id="{i}" begin="0" end="1800" vehsPerHour="{v}" from="{a}" to="{b}"/>'
            for i, a, b, v in flows
        )
        + "</routes>"
    )
    return net, routes


@pytest.fixture(scope="module")
def spill_net(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _spill_net(tmp_path_factory.mktemp("spill"))


def _spec(net: Path, routes: Path, controller: str, params: dict) -> ScenarioSpec:
    return ScenarioSpec.model_validate(
        {
            "name": f"spill-{controller}",
            "seed": 42,
            "end": 1800,
            "network": str(net),
            "demand": str(routes),
            "signals": {"controller": controller, "params": params, "tls": ["A"]},
            "outputs": {"emissions": False},
        }
    )


def test_layout_counts_exit_storage_over_the_approach(spill_net, tmp_path) -> None:
    net, routes = spill_net
    spec = _spec(net, routes, "max_pressure", {})
    spec = spec.model_copy(update={"end": 20.0})
    lanes: dict[str, float] = {}
    part = run_signals(spec, tmp_path, lambda e: lanes.update(AB_0=e.lane_info("AB_0")[0]))
    lay = part.driver.layout
    storage = dict(zip(lay.out_lanes[0], lay.out_storage[0], strict=False))
    # the link ends at light B, so its approach is the link alone
    assert storage["AB_0"] == pytest.approx(lanes["AB_0"] / JAM_SPACING_M)
    assert 4 < storage["AB_0"] < 6
    assert storage["AS_0"] > 30  # a 300 m exit road


def test_no_controller_starves_the_cross_street_behind_a_full_link(spill_net, tmp_path) -> None:
    net, routes = spill_net
    done: dict[tuple[str, bool], int] = {}
    for controller, spillback in [
        ("static", True),
        *((c, s) for c in ("max_pressure", "greedy", "sotl") for s in (True, False)),
    ]:
        params = {} if controller == "static" or spillback else {"spillback": False}
        result = run_scenario(_spec(net, routes, controller, params), tmp_path / "out")
        done[controller, spillback] = result.kpis["trips_completed"]
    static = done["static", True]
    for controller in ("max_pressure", "greedy", "sotl"):
        assert done[controller, True] >= 0.98 * static, done  # the default: capacity-aware
    for controller in ("max_pressure", "greedy"):
        assert done[controller, False] < 0.9 * static, done  # unaware: the cross street starves


# -- the rule on hand-made observations --------------------------------------------------


def _layout() -> Layout:
    """One light, three incoming lanes: lane 0 -> exit 0 and lane 1 -> exit 1 in phase 0,
    lane 2 -> exit 2 in phase 1; exits hold 5, 5 and 20 vehicles."""
    return Layout(
        tls=("L",),
        in_mask=np.ones((1, 3), bool),
        out_mask=np.ones((1, 3), bool),
        move_in=np.array([[0, 1, 2]]),
        move_out=np.array([[0, 1, 2]]),
        move_mask=np.ones((1, 3), bool),
        serves=np.array([[[True, True, False], [False, False, True]]]),
        phase_mask=np.ones((1, 2), bool),
        in_length=np.full((1, 3), 100.0),
        out_storage=np.array([[5.0, 5.0, 20.0]]),
    )


def _obs(
    halting: list[float],
    out: list[float],
    phase: int = 0,
    age: float = 30.0,
    time: float = 100.0,
    *,
    moving: float = 0.0,
    wait: float = 10.0,
) -> Observation:
    """Every lane: ``halting`` vehicles that waited ``wait`` s each, and ``moving`` more."""
    return Observation(
        time=time,
        in_vehicles=np.array([halting]) + moving,
        in_halting=np.array([halting]),
        in_waiting=np.array([halting]) * wait,
        out_vehicles=np.array([out]),
        phase=np.array([phase]),
        phase_age=np.array([age]),
    )


CONTROLLERS = [(MaxPressure, MaxPressureParams), (Greedy, GreedyParams), (Sotl, SotlParams)]
OFF = {"spillback": False, "stall": False, "patience": None}  # the controllers before the rules


def _pair(cls, params, layout: Layout | None = None, **off):
    """The controller with its rules (the default) and with ``off`` (all of them: ``OFF``),
    reset on ``layout``."""
    pair = [cls(params()), cls(params(**(off or OFF)))]
    for c in pair:
        c.reset(layout or _layout(), min_green=5.0)
    return pair


@pytest.mark.parametrize(("cls", "params"), CONTROLLERS)
def test_exits_with_room_and_moving_lanes_change_no_decision(cls, params) -> None:
    rng = np.random.default_rng(0)
    aware, unaware = _pair(cls, params)
    storage = _layout().out_storage[0]
    for step in range(200):
        out = list(rng.uniform(0, 0.89, 3) * storage)  # below the 0.9 threshold
        halting = list(rng.integers(0, 30, 3).astype(float))
        phase, age = int(rng.integers(0, 2)), rng.uniform(0, 40)
        obs = _obs(halting, out, phase, age, 10.0 * step, moving=1.0, wait=rng.uniform(0, 100))
        assert aware.decide(obs)[0] == unaware.decide(obs)[0]


@pytest.mark.parametrize(("cls", "params"), CONTROLLERS)
def test_a_phase_into_full_exits_is_left_for_one_that_can_discharge(cls, params) -> None:
    aware, unaware = _pair(cls, params, spillback=False)
    # phase 0 has 30 + 30 vehicles, but both its exits are full; phase 1 has 4 and room
    obs = _obs([30.0, 30.0, 4.0], [5.0, 4.6, 0.0], phase=0)
    assert unaware.decide(obs)[0] == 0
    assert aware.decide(obs)[0] == 1
    # one exit of phase 0 with room: it can discharge, and its open lane still counts
    aware, unaware = _pair(cls, params, spillback=False)
    obs = _obs([30.0, 30.0, 4.0], [5.0, 1.0, 0.0], phase=0)
    assert aware.decide(obs)[0] == unaware.decide(obs)[0] == 0


@pytest.mark.parametrize(("cls", "params"), CONTROLLERS)
def test_a_full_exit_is_served_when_no_other_phase_can_discharge(cls, params) -> None:
    aware, _ = _pair(cls, params)
    obs = _obs([30.0, 30.0, 0.0], [5.0, 5.0, 0.0], phase=0)
    assert aware.decide(obs)[0] == 0  # nobody waits elsewhere: no reason to switch


def test_exit_fill_is_occupancy_of_the_storage() -> None:
    fill = _layout().exit_fill(_obs([0, 0, 0], [2.5, 5.0, 5.0]))
    np.testing.assert_allclose(fill, [[0.5, 1.0, 0.25]])


def _shared_lane_layout() -> Layout:
    """One light: lane 0 turns into exit 0 in phase 0 and into exit 1 in phase 1; lane 1
    goes into exit 2 in phase 0, lane 2 into exit 3 in phase 1. Every exit holds 20."""
    return Layout(
        tls=("L",),
        in_mask=np.ones((1, 3), bool),
        out_mask=np.ones((1, 4), bool),
        move_in=np.array([[0, 0, 1, 2]]),
        move_out=np.array([[0, 1, 2, 3]]),
        move_mask=np.ones((1, 4), bool),
        serves=np.array([[[True, False, True, False], [False, True, False, True]]]),
        phase_mask=np.ones((1, 2), bool),
        in_length=np.full((1, 3), 100.0),
        out_storage=np.full((1, 4), 20.0),
    )


@pytest.mark.parametrize(("cls", "params"), CONTROLLERS)
def test_a_lane_that_stands_through_a_green_goes_to_its_other_phase(cls, params) -> None:
    """Lane 0's first vehicle wants phase 1's turn: through a green of phase 0 nobody on
    it moves. Phase 0 still looks best by its counts (13 + 5 against 13)."""
    _, unaware = _pair(cls, params, _shared_lane_layout(), stall=False)
    aware = cls(params(stall=True))  # max_pressure's default is off
    aware.reset(_shared_lane_layout(), min_green=5.0)
    out = [0.0] * 4
    for c in (aware, unaware):
        c.decide(_obs([13.0, 5.0, 0.0], out, 0, 30.0, 100.0, wait=20.0))
    stood = _obs([13.0, 5.0, 0.0], out, 0, 40.0, 110.0, wait=30.0)
    assert unaware.decide(stood)[0] == 0
    assert aware.decide(stood)[0] == 1
    # once the lane moves its mark is gone
    moved = _obs([8.0, 5.0, 0.0], out, 1, 2.0, 120.0, moving=3.0, wait=5.0)
    aware.decide(moved)
    assert not aware._stalled.any()


@pytest.mark.parametrize(("cls", "params"), CONTROLLERS)
def test_a_lane_left_waiting_past_patience_gets_its_phases_in_turn(cls, params) -> None:
    aware, unaware = _pair(cls, params, _shared_lane_layout(), stall=False, patience=None)
    # lane 0 has waited 400 s on average; phase 0, green for 30 s, has not moved it
    obs = _obs([13.0, 5.0, 0.0], [0.0] * 4, 0, 30.0, 1000.0, wait=400.0)
    assert unaware.decide(obs)[0] == 0
    assert aware.decide(obs)[0] == 1


def test_a_lane_waiting_for_a_gap_on_a_permissive_green_keeps_its_phase() -> None:
    """The same lane, but phase 0 gives its turn a permissive green ("g"): its first vehicle
    may be waiting for a gap, and switching would leave it in the junction."""
    permissive = np.zeros((1, 2, 4), bool)
    permissive[0, 0, 0] = True
    layout = dataclasses.replace(_shared_lane_layout(), yields=permissive)
    greedy = Greedy(GreedyParams())
    greedy.reset(layout, min_green=5.0)
    out = [0.0] * 4
    greedy.decide(_obs([13.0, 5.0, 0.0], out, 0, 30.0, 100.0, wait=20.0))
    assert greedy.decide(_obs([13.0, 5.0, 0.0], out, 0, 40.0, 110.0, wait=30.0))[0] == 0
