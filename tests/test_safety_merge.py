"""Merging conflicts and shuttle-km conflict rates against hand computations.

The net: two roads joining at an unsignalised junction ``M`` into one lane, mirror images
of each other (the two paths through the junction are alike). Vehicles drive at set speeds
with their safety checks off (speed mode 0, as in ``test_safety.py``), so that when they
reach the merge is known exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_safety import LENGTH, STEP, simulate

from mobility import sumo
from mobility.safety.conflicts import VehicleKind, conflicts_table
from mobility.safety.kpi import safety_kpis

NODES = """<nodes>
 <node id="A" x="-300" y="40"/><node id="R" x="-300" y="-40"/>
 <node id="M" x="0" y="0" type="priority"/><node id="B" x="300" y="0"/>
</nodes>"""
EDGES = """<edges>
 <edge id="AM" from="A" to="M" numLanes="1" speed="20" priority="1"/>
 <edge id="RM" from="R" to="M" numLanes="1" speed="20" priority="1"/>
 <edge id="MB" from="M" to="B" numLanes="1" speed="20" priority="2"/>
</edges>"""


@pytest.fixture(scope="module")
def merge(tmp_path_factory: pytest.TempPathFactory):
    """The merge net, built with netconvert from plain XML, and its Network."""
    from mobility.network.net import load_network

    folder = tmp_path_factory.mktemp("merge")
    (folder / "n.nod.xml").write_text(NODES)
    (folder / "n.edg.xml").write_text(EDGES)
    net = folder / "merge.net.xml"
    done = sumo.run_tool(
        [sumo.binary("netconvert"), "-n", "n.nod.xml", "-e", "n.edg.xml", "-o", net.name],
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    return load_network(net)


def _merge_run(network, folder: Path, *, until: float = 30.0):
    """a on one branch at 10 m/s, b on the other at 20 m/s catching up; b slows to a's
    speed when it is 25 m from the merge (the start of MB), before either has merged.
    Returns the conflicts table and what was measured on the way: each one's distance to
    the merge at t = 1 s, when b slowed, and the metres each drove."""
    import libsumo

    main, ramp = (network.net.getEdge(e).getLength() for e in ("AM", "RM"))
    vehicles = (
        f'<vehicle id="a" type="car" depart="0" departPos="{main - 79.5:g}" departSpeed="10">'
        '<route edges="AM MB"/></vehicle>'
        f'<vehicle id="b" type="car" depart="0" departPos="{ramp - 180:g}" departSpeed="20">'
        '<route edges="RM MB"/></vehicle>'
    )
    seen: dict[str, float] = {}

    def control(t: float) -> None:
        if abs(t - 1.0) < STEP / 2:  # both cruise at their speeds by now
            for v in ("a", "b"):
                seen[v] = libsumo.vehicle.getDrivingDistance(v, "MB", 0.0)
            seen["slow"] = 1.0 + round((seen["b"] - 25.0) / 20.0 / STEP) * STEP
        if "slow" in seen and abs(t - seen["slow"]) < STEP / 2:
            libsumo.vehicle.setSpeed("b", 10.0)
        if abs(t - (until - 1.0)) < STEP / 2:
            for v in ("a", "b"):
                seen[f"{v} m"] = libsumo.vehicle.getDistance(v)

    table = simulate(network, folder, vehicles, control, until=until)
    return table, seen


def test_merging_ttc_is_the_time_to_the_merge_point(merge, tmp_path: Path) -> None:
    """b (20 m/s) closes in on a (10 m/s) from the other branch and slows to 10 m/s when
    25 m from the merge point P (where the two paths through the junction meet, the start
    of MB). Until then b would reach P before a's rear has cleared it, so SUMO's merging
    TTC is b's time to P, d_b / v_b, and DRAC the deceleration that stops b before P,
    v_b^2 / (2 d_b); both are extreme in the last step before b slows. (SUMO computes PET
    at crossings only: a merge at equal speeds logs no conflict.)"""
    table, seen = _merge_run(merge, tmp_path)
    lapse = seen["slow"] - 1.0
    d_a, d_b = seen["a"] - 10.0 * lapse, seen["b"] - 20.0 * lapse
    assert d_b == pytest.approx(25.0, abs=1.0)
    assert d_b / 20.0 < (d_a + LENGTH) / 10.0  # b would be at P while a is still on it
    conflicts = table[table.kind == "conflict"]
    assert len(conflicts) == 1
    row = conflicts.iloc[0]
    assert {row.ego, row.foe} == {"a", "b"}
    assert row.conflict_type == "merging"
    assert row.min_ttc == pytest.approx(d_b / 20.0, abs=STEP)
    assert row.max_drac == pytest.approx(20.0**2 / (2 * d_b), rel=0.05)
    assert row.pet != row.pet  # NaN
    assert not (table.kind == "collision").any()


def test_shuttle_km_rates_of_a_scripted_shuttle(merge, tmp_path: Path) -> None:
    """The same merge with a as a shuttle: one conflict, which a shuttle and a car are part
    of, so 1 per shuttle-km driven and 1 per car-km, by 10^6; with 10 % equipped the
    counts are divided by the detection share 1 - 0.9^2 = 0.19."""
    _, seen = _merge_run(merge, tmp_path)
    shuttle = VehicleKind("shuttle", autonomous=True)
    table = conflicts_table(
        tmp_path,
        log=tmp_path / "sumo.log",
        network=merge,
        vehicle_types={"a": "shuttle_s", "b": "car"},
        kinds={"shuttle_s": shuttle},
    )
    rows = table.to_pandas()
    row = rows[rows.kind == "conflict"].iloc[0]
    by_vehicle = {
        row.ego: (row.ego_class, row.ego_autonomous),
        row.foe: (row.foe_class, row.foe_autonomous),
    }
    assert by_vehicle == {"a": ("shuttle", True), "b": ("car", False)}
    km = {"shuttle": seen["a m"] / 1000, "car": seen["b m"] / 1000}
    assert km["shuttle"] == pytest.approx(10 * 0.029, abs=0.005)  # 29 s at 10 m/s
    kpis = safety_kpis(table, hours=30 / 3600, km=km, equipped=1.0)
    assert kpis["safety_shuttle_conflicts_per_mvkm"] == pytest.approx(1e6 / km["shuttle"])
    assert kpis["safety_other_conflicts_per_mvkm"] == pytest.approx(1e6 / km["car"])
    assert kpis["safety_conflicts_per_mvkm"] == pytest.approx(1e6 / sum(km.values()))
    assert kpis["safety_conflicts_per_hour"] == pytest.approx(120.0)  # 1 in 30 s
    sampled = safety_kpis(table, hours=30 / 3600, km=km, equipped=0.1)
    assert sampled["safety_shuttle_conflicts_per_mvkm"] == pytest.approx(1e6 / km["shuttle"] / 0.19)
