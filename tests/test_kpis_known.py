"""Every traffic KPI against a value worked out by hand, on a constructed scenario.

A straight road A -> B -> C (two 500 m edges, 10 m/s, no internal lanes) with one light at B
that shows red for the first 60 s, then green. Vehicles of an exact type (no dawdling, no
speed deviation, accelerating and braking 100 m/s², so every speed change takes one step):

- ``red`` departs at 0 at 10 m/s from A, reaches the stop line at 50 s, stands until the
  green at 60 s and arrives at 1000 m at 110 s: 100 s of driving plus 10 s at the light;
- ``free`` departs at 60 s (the light is green) and arrives at 160 s;
- ``late`` departs at 250 s and is still driving at the end (300 s), 49 steps in;
- ``never`` is due at 300 s, the end: SUMO loads it but it never departs.

CO2 and fuel of a vehicle at a constant 10 m/s come from SUMO's own ``emissionsDrivingCycle``
over the same speed profile (the same HBEFA4 model, computed without a simulation).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mobility import sumo
from mobility.config import load_spec
from mobility.kpis import all_kpis
from mobility.scenario import run_scenario

NODES = """<nodes>
  <node id="A" x="0" y="0" type="priority"/>
  <node id="B" x="500" y="0" type="traffic_light"/>
  <node id="C" x="1000" y="0" type="priority"/>
</nodes>"""
EDGES = """<edges>
  <edge id="AB" from="A" to="B" numLanes="1" speed="10"/>
  <edge id="BC" from="B" to="C" numLanes="1" speed="10"/>
</edges>"""
RED_60 = """<additional>
  <tlLogic id="B" type="static" programID="0" offset="0">
    <phase duration="60" state="r"/>
    <phase duration="3600" state="G"/>
  </tlLogic>
</additional>"""
VEHICLES = {"red": 0, "free": 60, "late": 250, "never": 300}  # id: depart (s)
ROUTES = (
    "<routes>\n"
    '  <vType id="exact" accel="100" decel="100" emergencyDecel="100" sigma="0" tau="1"'
    ' length="5" minGap="2.5" maxSpeed="50" speedFactor="1" speedDev="0"/>\n'
    '  <route id="r" edges="AB BC"/>\n'
    + "".join(
        f'  <vehicle id="{v}" type="exact" route="r" depart="{t}" departPos="0"'
        ' departSpeed="10" arrivalPos="max"/>\n'
        for v, t in VEHICLES.items()
    )
    + "</routes>\n"
)
END = 300.0


@pytest.fixture(scope="module")
def line_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, pd.DataFrame, Path]:
    folder = tmp_path_factory.mktemp("line")
    for name, text in [("n.nod.xml", NODES), ("e.edg.xml", EDGES), ("t.tll.xml", RED_60)]:
        (folder / name).write_text(text)
    (folder / "r.rou.xml").write_text(ROUTES)
    sumo.run_tool(
        [
            *(sumo.binary("netconvert"), "-n", "n.nod.xml", "-e", "e.edg.xml", "-i", "t.tll.xml"),
            *("--no-internal-links", "--no-turnarounds", "-o", "line.net.xml"),
        ],
        cwd=folder,
    )
    spec = folder / "line.yaml"
    spec.write_text(
        "name: line\nseed: 1\nend: 300\nnetwork: line.net.xml\ndemand: r.rou.xml\n"
        "signals: static\noutputs: {emissions: true}\n"
    )
    result = run_scenario(load_spec(spec), folder / "out")
    kpis = json.loads((result.run_dir / "kpis.json").read_text())
    return kpis, result.table("trips").set_index("id"), folder


def _constant_speed_emissions(folder: Path, seconds: int) -> tuple[float, float]:
    """(CO2 mg, fuel mg) of ``seconds`` at 10 m/s, by SUMO's emissionsDrivingCycle."""
    cycle = folder / "cycle.csv"
    # with -a the tool derives each step's acceleration from the next: one row more
    cycle.write_text("".join(f"{t};10\n" for t in range(seconds + 1)))
    out = folder / "cycle-out.csv"
    sumo.run_tool(
        [sumo.binary("emissionsDrivingCycle"), "-t", str(cycle), "-a", "-o", str(out)],
        cwd=folder,
    )
    rows = np.loadtxt(out, delimiter=";", ndmin=2)  # time;speed;a;slope;CO;CO2;HC;PMx;NOx;fuel;el
    return float(rows[:, 5].sum()), float(rows[:, 9].sum())


def test_the_vehicles_did_what_the_scenario_says(line_run) -> None:
    _, trips, _ = line_run
    assert trips.loc["red", ["depart", "arrival", "waitingTime"]].tolist() == [0, 110, 9]
    assert trips.loc["free", ["depart", "arrival", "waitingTime"]].tolist() == [60, 160, 0]
    assert trips.loc["late", "depart"] == 250 and trips.loc["late", "arrival"] < 0
    assert trips.loc["never", "depart"] < 0


def test_every_traffic_kpi_against_its_hand_value(line_run) -> None:
    kpis, trips, folder = line_run
    co2_100, fuel_100 = _constant_speed_emissions(folder, 100)
    done = [110.0, 100.0]  # travel times of red and free (s)
    hand = {
        "vehicles_loaded": 4,
        "trips_completed": 2,
        "trips_unfinished": 2,  # late (driving) and never (not departed)
        "vehicles_never_departed": 1,
        "vehicles_in_network_at_end": 1,
        "teleports": 0,
        "travel_time_mean_s": 105.0,
        "travel_time_p50_s": 105.0,
        "travel_time_p95_s": 100.0 + 0.95 * 10.0,  # linear interpolation between 100 and 110
        "waiting_time_mean_s": (9 + 0) / 2,  # red stands still from 51 s to 59 s
        "depart_delay_mean_s": 0.0,  # everybody entered when due
        "route_length_mean_m": 1000.0,
        "mean_speed_mps": 2000.0 / sum(done),  # distance over time of the completed trips
        "throughput_per_hour": 2 / (END / 3600),
        # late's 49 steps at 10 m/s are the CO2 of those seconds; all vehicles' km: 2 x 1 + 0.49
        "co2_per_km_g": kpis["co2_total_kg"] * 1e3 / 2.49,
    }
    for name, value in hand.items():
        assert kpis[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
    # SUMO's time loss of a stop from 10 m/s and a start to 10 m/s at 100 m/s² is the 10 s
    # at the light less the tenth of a step it still drove (reaching the line mid-step)
    assert kpis["time_loss_mean_s"] == pytest.approx((10.0 + 0.0) / 2, abs=0.5)
    assert kpis["resco_delay_s"] == pytest.approx(trips["timeLoss"].sum() / 4)  # never: 300-300
    assert kpis["resco_delay_s"] == pytest.approx(10.0 / 4, abs=0.25)
    # emissions: the free vehicle's 100 s at 10 m/s, the late one's 49, as the cycle tool says
    assert trips.loc["free", "CO2_abs"] == pytest.approx(co2_100, rel=1e-5)
    assert trips.loc["free", "fuel_abs"] == pytest.approx(fuel_100, rel=1e-5)
    assert trips.loc["late", "CO2_abs"] == pytest.approx(49 / 100 * co2_100, rel=1e-5)
    assert kpis["co2_total_kg"] == pytest.approx(trips["CO2_abs"].sum() / 1e6, rel=1e-6)
    assert kpis["fuel_total_kg"] == pytest.approx(trips["fuel_abs"].sum() / 1e6, rel=1e-6)
    # the red vehicle burnt more than the free one: 10 s more, standing and starting
    assert trips.loc["red", "CO2_abs"] > co2_100
    # petrol: about 3.1 kg of CO2 per kg of fuel burnt (carbon balance)
    assert 3.0 < kpis["co2_total_kg"] / kpis["fuel_total_kg"] < 3.2
    # and nothing else: every traffic KPI of the declarations is checked here
    # (shuttle, safety and counts KPIs are their parts' own, hand-checked in their test files)
    own = ("shuttle_", "resco_queue", "safety_", "counts_")
    traffic = {k for k in all_kpis() if not k.startswith(own)}
    checked = set(hand) | {"time_loss_mean_s", "resco_delay_s", "co2_total_kg", "fuel_total_kg"}
    assert traffic == checked
    assert set(kpis) == traffic
