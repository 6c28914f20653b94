"""Surrogate safety measures against closed-form answers, on a hand-written crossing.

The net: two straight roads crossing at an unsignalised priority junction ``C`` (W->E the
major road, S->N the minor one), 300 m each side. Vehicles drive at set speeds with every
safety check of theirs switched off (speed mode 0), so their motion is known exactly and
SUMO's SSM device is checked against the textbook formulas:

- a leader braking in front of a follower: min TTC = gap / closing speed at the moment the
  follower reacts, DRAC = closing speed^2 / (2 gap);
- a crossing: PET = time the second vehicle enters the conflict area - time the first one
  left it, the conflict area being where the two vehicles' widths overlap;
- a forced crash: a collision row at the junction;
- a lone vehicle: no conflicts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from mobility import sumo
from mobility.safety.conflicts import conflicts_table
from mobility.safety.setup import sumo_options
from mobility.safety.spec import SafetySpec

STEP = 0.1  # s
LENGTH = 5.0  # m, vehicle length
WIDTH = 1.8  # m, SUMO's passenger car width
NODES = """<nodes>
 <node id="W" x="-300" y="0"/><node id="C" x="0" y="0" type="priority"/>
 <node id="E" x="300" y="0"/><node id="S" x="0" y="-300"/><node id="N" x="0" y="300"/>
</nodes>"""
EDGES = """<edges>
 <edge id="WC" from="W" to="C" numLanes="1" speed="20" priority="2"/>
 <edge id="CE" from="C" to="E" numLanes="1" speed="20" priority="2"/>
 <edge id="SC" from="S" to="C" numLanes="1" speed="20" priority="1"/>
 <edge id="CN" from="C" to="N" numLanes="1" speed="20" priority="1"/>
</edges>"""
NO_UTURN = ("--no-turnarounds",)
VTYPE = (
    f'<vType id="car" length="{LENGTH:g}" width="{WIDTH:g}" minGap="2.5" sigma="0" '
    'speedDev="0" accel="2.6" decel="4.5"/>'
)


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory):
    """The crossing net, built with netconvert from plain XML, and its Network."""
    from mobility.network.net import load_network

    folder = tmp_path_factory.mktemp("crossing")
    (folder / "n.nod.xml").write_text(NODES)
    (folder / "n.edg.xml").write_text(EDGES)
    net = folder / "crossing.net.xml"
    done = sumo.run_tool(
        [
            sumo.binary("netconvert"),
            "-n",
            "n.nod.xml",
            "-e",
            "n.edg.xml",
            "-o",
            net.name,
            *NO_UTURN,
        ],
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    return load_network(net)


@pytest.fixture(scope="module")
def two_lanes(tmp_path_factory: pytest.TempPathFactory):
    """A straight 600 m road with two lanes, built with netconvert from plain XML."""
    from mobility.network.net import load_network

    folder = tmp_path_factory.mktemp("two-lanes")
    (folder / "n.nod.xml").write_text(
        '<nodes><node id="A" x="0" y="0"/><node id="B" x="600" y="0"/></nodes>'
    )
    (folder / "n.edg.xml").write_text(
        '<edges><edge id="AB" from="A" to="B" numLanes="2" speed="20"/></edges>'
    )
    net = folder / "road.net.xml"
    done = sumo.run_tool(
        [sumo.binary("netconvert"), "-n", "n.nod.xml", "-e", "n.edg.xml", "-o", net.name],
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    return load_network(net)


def simulate(
    network, folder: Path, vehicles: str, control: Callable[[float], None], *, until: float
):
    """Run SUMO (libsumo) with the safety options, call ``control(t)`` before each step,
    and return the run's conflicts table."""
    import libsumo

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "r.rou.xml").write_text(f"<routes>{VTYPE}{vehicles}</routes>")
    options = {
        "input": {"net-file": str(network.path), "route-files": "r.rou.xml"},
        "time": {"step-length": f"{STEP:g}"},
        "report": {"log": "sumo.log", "no-step-log": "true"},
        **sumo_options(SafetySpec(collision_action="warn", equipped=1.0)),
    }
    cfg = folder / "run.sumocfg"
    cfg.write_text(
        "<configuration>"
        + "".join(
            f"<{s}>" + "".join(f"<{k} value={quoteattr(v)}/>" for k, v in kv.items()) + f"</{s}>"
            for s, kv in options.items()
        )
        + "</configuration>"
    )
    libsumo.start([sumo.binary("sumo"), "-c", str(cfg)])
    try:
        seen: set[str] = set()
        while libsumo.simulation.getTime() < until:
            for v in libsumo.vehicle.getIDList():
                if v not in seen:  # drive exactly as told: no safe speed, no right of way
                    libsumo.vehicle.setSpeedMode(v, 0)
                    libsumo.vehicle.setSpeed(v, libsumo.vehicle.getSpeed(v))
                    seen.add(v)
            control(libsumo.simulation.getTime())
            libsumo.simulationStep()
    finally:
        libsumo.close()
    return conflicts_table(
        folder, log=folder / "sumo.log", network=network, vehicle_types={}, kinds={}
    ).to_pandas()


def _set_speed_at(when: float, vehicle: str, speed: float) -> Callable[[float], None]:
    import libsumo

    def control(t: float) -> None:
        if abs(t - when) < STEP / 2:
            libsumo.vehicle.setSpeed(vehicle, speed)

    return control


def test_leader_braking_gives_gap_over_closing_speed(crossing, tmp_path: Path) -> None:
    """Leader and follower at 15 m/s, 35 m apart (front to back); the leader drops to
    5 m/s at t=5 s, the follower follows 2.5 s later: the gap shrinks at 10 m/s to 10 m,
    so min TTC = 10 / 10 = 1.0 s and max DRAC = 10^2 / (2 * 10) = 5.0 m/s^2."""
    v_fast, v_slow, reaction, gap0 = 15.0, 5.0, 2.5, 35.0
    lead_pos = 100.0
    vehicles = (
        f'<vehicle id="lead" type="car" depart="0" departPos="{lead_pos:g}" '
        f'departSpeed="{v_fast:g}"><route edges="WC CE"/></vehicle>'
        f'<vehicle id="fol" type="car" depart="0" departPos="{lead_pos - LENGTH - gap0:g}" '
        f'departSpeed="{v_fast:g}"><route edges="WC CE"/></vehicle>'
    )
    brake = _set_speed_at(5.0, "lead", v_slow)
    react = _set_speed_at(5.0 + reaction, "fol", v_slow)
    table = simulate(crossing, tmp_path, vehicles, lambda t: (brake(t), react(t)), until=20.0)
    closing = v_fast - v_slow
    gap = gap0 - closing * reaction
    conflicts = table[table.kind == "conflict"]
    assert len(conflicts) == 1  # both sides' logs merged into one conflict
    row = conflicts.iloc[0]
    assert {row.ego, row.foe} == {"lead", "fol"}
    assert row.min_ttc == pytest.approx(gap / closing, abs=STEP)
    assert row.max_drac == pytest.approx(closing**2 / (2 * gap), rel=0.05)
    assert row.conflict_type == "rear_end"
    assert row.edge == "WC" and row.junction == ""
    assert row.lon != row.lon  # NaN: the hand-written net has no geo-reference
    assert sorted([row.ego_speed, row.foe_speed]) == pytest.approx([v_slow, v_fast])
    # both speed drops happen within one step: SUMO warns of emergency braking at 10 m/s / step
    brakings = table[table.kind == "emergency_braking"].sort_values("time")
    assert list(brakings.ego) == ["lead", "fol"]
    assert list(brakings.time) == pytest.approx([5.0, 5.0 + reaction])
    assert list(brakings.decel) == pytest.approx([closing / STEP] * 2)


def test_cut_in_is_a_lane_change_conflict(two_lanes, tmp_path: Path) -> None:
    """A slow car (5 m/s) cuts in 30 m ahead of a fast one (15 m/s) at t=3 s; the fast one
    matches its speed 2 s later: min TTC = (30 - 10 * 2) / 10 = 1.0 s, and the conflict
    is a lane change (the cut-in is in SUMO's lane-change output), not a rear-end."""
    import libsumo

    vehicles = (
        '<vehicle id="slow" type="car" depart="0" departLane="1" departPos="100" '
        'departSpeed="5"><route edges="AB"/></vehicle>'
        '<vehicle id="fast" type="car" depart="0" departLane="0" departPos="35" '
        'departSpeed="15"><route edges="AB"/></vehicle>'
    )
    gap: dict[str, float] = {}

    def control(t: float) -> None:
        if abs(t - 0.5) < STEP / 2:
            for v in ("slow", "fast"):
                libsumo.vehicle.setLaneChangeMode(v, 0)  # only what we ask, no courtesy
        if abs(t - 3.0) < STEP / 2:
            front = libsumo.vehicle.getLanePosition("fast")
            gap["cut-in"] = libsumo.vehicle.getLanePosition("slow") - LENGTH - front
            libsumo.vehicle.changeLane("slow", 0, 10.0)
        if abs(t - 5.0) < STEP / 2:
            libsumo.vehicle.setSpeed("fast", 5.0)

    table = simulate(two_lanes, tmp_path, vehicles, control, until=15.0)
    conflicts = table[table.kind == "conflict"]
    assert len(conflicts) == 1
    row = conflicts.iloc[0]
    closing = 15.0 - 5.0
    assert gap["cut-in"] == pytest.approx(30.0, abs=1.5)  # positions before the step
    # the gap at the cut-in shrinks at 10 m/s for the 2 s before the fast car reacts
    assert row.min_ttc == pytest.approx((gap["cut-in"] - closing * 2.0) / closing, abs=STEP)
    assert row.conflict_type == "lane_change"
    assert row.lane == "AB_0"


def test_crossing_pet_matches_hand_computation(crossing, tmp_path: Path) -> None:
    """a (W->E) and b (S->N) at 10 m/s; a is 15 m nearer the crossing, so it passes first.
    Conflict area: the square where their widths overlap around the crossing point P.
    PET = t(b's front reaches P - w/2) - t(a's rear passes P + w/2)."""
    import libsumo

    speed = 10.0
    vehicles = (
        '<vehicle id="a" type="car" depart="0" departPos="250" departSpeed="10">'
        '<route edges="WC CE"/></vehicle>'
        '<vehicle id="b" type="car" depart="0" departPos="235" departSpeed="10">'
        '<route edges="SC CN"/></vehicle>'
    )
    start: dict[str, tuple[float, float]] = {}

    def record(t: float) -> None:
        if abs(t - 1.0) < STEP / 2:  # both cruise at 10 m/s by now: where are they?
            start["a"] = libsumo.vehicle.getPosition("a")
            start["b"] = libsumo.vehicle.getPosition("b")
            start["lanes"] = (
                libsumo.lane.getShape("SC_0")[-1][0],
                libsumo.lane.getShape("WC_0")[-1][1],
            )

    table = simulate(crossing, tmp_path, vehicles, record, until=20.0)
    px, py = start["lanes"]  # the crossing point: b's lane x, a's lane y
    a_leaves = 1.0 + (px + WIDTH / 2 + LENGTH - start["a"][0]) / speed
    b_enters = 1.0 + (py - WIDTH / 2 - start["b"][1]) / speed
    expected = b_enters - a_leaves
    assert 0 < expected < 5  # a near miss, below SSAM's 5 s
    conflicts = table[table.kind == "conflict"]
    assert len(conflicts) == 1
    row = conflicts.iloc[0]
    assert row.pet == pytest.approx(expected, abs=STEP)
    assert row.conflict_type == "crossing"
    assert row.junction == "C"
    assert not (table.kind == "collision").any()


def test_forced_crash_is_reported(crossing, tmp_path: Path) -> None:
    """Both reach the crossing at the same moment and neither yields: a junction collision
    (SUMO checks junctions only when asked, which the safety options do)."""
    vehicles = (
        '<vehicle id="a" type="car" depart="0" departPos="250" departSpeed="10">'
        '<route edges="WC CE"/></vehicle>'
        '<vehicle id="b" type="car" depart="0" departPos="250" departSpeed="10">'
        '<route edges="SC CN"/></vehicle>'
    )
    table = simulate(crossing, tmp_path, vehicles, lambda t: None, until=15.0)
    crashes = table[table.kind == "collision"]
    assert len(crashes) >= 1
    crash = crashes.iloc[0]
    assert {crash.ego, crash.foe} == {"a", "b"}
    assert crash.junction == "C" and crash.conflict_type == "crossing"
    assert crash.ego_type == "car"
    conflicts = table[table.kind == "conflict"]
    assert len(conflicts) == 1 and conflicts.iloc[0].conflict_type == "crossing"


def test_lone_vehicle_has_no_conflicts(crossing, tmp_path: Path) -> None:
    vehicles = (
        '<vehicle id="a" type="car" depart="0" departSpeed="10"><route edges="WC CE"/></vehicle>'
    )
    table = simulate(crossing, tmp_path, vehicles, lambda t: None, until=20.0)
    assert len(table) == 0
    assert list(table.columns)[:3] == ["kind", "conflict_type", "begin"]


def test_points_on_a_geo_net_get_lon_lat_and_a_place() -> None:
    """On RESCO's cologne1 (UTM 32): a junction's centre lies in Cologne and in that
    junction; a point on a plain net has no lon/lat."""
    import numpy as np
    from conftest import NETWORKS

    from mobility.network.net import load_network
    from mobility.safety.conflicts import Locator

    network = load_network(NETWORKS / "resco" / "cologne1" / "cologne1.net.xml")
    node = network.net.getNode("cluster_357187_359543")
    x, y = node.getCoord()
    locator = Locator(network)
    lon, lat = locator.lon_lat(np.array([x]), np.array([y]))
    assert 6.8 < lon[0] < 7.1 and 50.8 < lat[0] < 51.1  # Cologne
    junctions, lanes = locator.locate(np.array([x, np.nan]), np.array([y, np.nan]))
    assert junctions == ["cluster_357187_359543", ""] and lanes == ["", ""]
