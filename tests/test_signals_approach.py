"""The approach a controller sees: a short incoming lane with its feeding lanes, cut at
other signals; on RESCO's ingolstadt1 (a 9 m side-road lane whose queue stands upstream)
max pressure then beats the net's own program. RESCO's queue (stopped vehicles within
200 m of the stop lines) against a brute-force count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mobility.config import load_spec, signals_with
from mobility.scenario import run_scenario
from mobility.signals.driver import _reach
from mobility.signals.queue import QueueObserver, approach_lanes
from mobility.sim.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
INGOLSTADT = ROOT / "networks" / "resco" / "ingolstadt1"


@pytest.fixture
def engine(tmp_path):
    """A fresh engine per test: libsumo holds one simulation per process."""
    with Engine(
        ["-c", str(INGOLSTADT / "ingolstadt1.sumocfg")], log_file=tmp_path / "s.log"
    ) as eng:
        yield eng


def _controlled(engine: Engine) -> set[tuple[str, str]]:
    return {p for t in engine.traffic_lights() for g in engine.signal_links(t) for p in g}


def test_short_lane_sees_its_feeders(engine) -> None:
    controlled = _controlled(engine)
    reach = dict(_reach(engine, "164051413_1", 200.0, controlled, up=True))
    assert reach["164051413_1"] == 1.0
    assert "391891458#0_1" in reach and "653473569#5_1" in reach  # both feeding roads
    assert reach["391891458#0_1"] == 0.5  # it also feeds the opposite road
    assert reach["25149219#1_1"] == 0.5  # 9 m + 17 m from the stop line: within 200 m
    assert all(0 < share <= 1 for share in reach.values())
    assert not any(lane.startswith(":") for lane in reach)
    assert _reach(engine, "164051413_2", 0.0, controlled, up=True) == [("164051413_2", 1.0)]


def test_approach_stops_at_distance(engine) -> None:
    controlled = _controlled(engine)
    reach = dict(_reach(engine, "164051413_1", 20.0, controlled, up=True))
    assert "391891458#0_1" in reach  # its end is 9 m from the stop line
    assert "25149219#1_1" not in reach  # its end is 26 m away


def test_outgoing_reach_goes_downstream(engine) -> None:
    controlled = _controlled(engine)
    reach = dict(_reach(engine, "104010475#0_1", 200.0, controlled, up=False))
    assert any(lane.startswith("104012170_") for lane in reach)


def test_max_pressure_beats_static_on_ingolstadt1(tmp_path) -> None:
    spec = load_spec(ROOT / "experiments" / "resco" / "ingolstadt1.yaml")
    delay = {}
    for controller in ("static", "max_pressure"):
        signals = signals_with(spec.signals, controller=controller)
        run = run_scenario(spec.model_copy(update={"signals": signals}), tmp_path)
        delay[controller] = run.kpis["resco_delay_s"]
    assert delay["max_pressure"] < 0.8 * delay["static"], delay


def test_queue_approach_distances(engine) -> None:
    found = approach_lanes(engine, ["164051413_1"], 200.0, _controlled(engine))
    assert found["164051413_1"] == 0.0
    assert found["391891458#0_1"] == pytest.approx(8.93, abs=0.01)
    assert found["25149219#1_1"] == pytest.approx(8.93 + 17.33, abs=0.02)


def test_queue_counts_stopped_vehicles_within_200_m(tmp_path) -> None:
    """The observer's count at a decision step equals a brute-force count over all vehicles."""
    log = tmp_path / "sumo.log"
    with Engine(["-c", str(INGOLSTADT / "ingolstadt1.sumocfg")], log_file=log) as eng:
        observer = QueueObserver(eng.traffic_lights(), 10.0)
        observer.attach(eng, first=eng.time + 10.0)
        eng.run(eng.time + 900.0)
        controlled = _controlled(eng)
        api = eng._api
        expected = []
        for tls in observer.tls:
            ends = list(dict.fromkeys(a for g in eng.signal_links(tls) for a, _ in g))
            near = approach_lanes(eng, ends, 200.0, controlled)
            count = 0
            for v in api.vehicle.getIDList():
                lane = api.vehicle.getLaneID(v)
                if lane in near and api.vehicle.getSpeed(v) < 0.1:
                    to_stop = near[lane] + api.lane.getLength(lane) - api.vehicle.getLanePosition(v)
                    count += to_stop <= 200.0
            expected.append(count)
    assert len(observer.samples) == 90
    assert list(observer.samples[-1]) == expected
    assert sum(expected) > 0  # the side road queues under the net's program
    assert observer.kpis()["resco_queue"] == pytest.approx(np.mean(observer.samples))


def test_resco_queue_kpi_only_when_asked(tmp_path) -> None:
    spec = load_spec(ROOT / "experiments" / "resco" / "ingolstadt1.yaml")
    spec = spec.model_copy(update={"end": spec.begin + 300})
    plain = run_scenario(spec, tmp_path)
    assert "resco_queue" not in plain.kpis
    outputs = spec.outputs.model_copy(update={"resco_queue": True})
    asked = run_scenario(spec.model_copy(update={"outputs": outputs}), tmp_path)
    assert asked.kpis["resco_queue"] > 0  # ingolstadt1 queues in its first five minutes
    # measuring the queue changes nothing else in the run
    assert {k: v for k, v in asked.kpis.items() if k != "resco_queue"} == plain.kpis
