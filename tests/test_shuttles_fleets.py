"""On-demand fleets in real SUMO: idle behaviour, service areas, several fleets in one run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from shuttle_helpers import on_demand

from mobility.config import ScenarioSpec, validate_spec
from mobility.scenario import run_scenario


def run(tmp_path: Path, data: dict):
    spec = validate_spec(ScenarioSpec, data, source=tmp_path / "s.yaml", base_dir=tmp_path)
    result = run_scenario(spec, tmp_path / "out")
    requests = pq.read_table(result.run_dir / "requests.parquet").to_pylist()
    fleet = pq.read_table(result.run_dir / "fleet.parquet").to_pylist()
    return result, requests, fleet


# One rider from next to the depot (A0B0) to the far corner; then 10 idle minutes.
FAR_TRIP = {"trips": [{"at": 20, "from": "B0C0", "to": "C1C2"}]}


@pytest.mark.parametrize("dispatcher", ["greedy", "mobility"])
def test_idle_behaviours(tmp_path: Path, dispatcher: str) -> None:
    out = {}
    for idle in ("stay", "depot", "circle"):
        data = on_demand(
            tmp_path / idle, riders=FAR_TRIP, end=900, idle=idle, dispatcher=dispatcher
        )
        _result, requests, fleet = run(tmp_path / idle, data)
        assert [r["status"] for r in requests] == ["served"]
        out[idle] = fleet[0]
    # stay: waits where the rider left; depot: drives back and waits there
    assert out["stay"]["last_edge"] == "C1C2"
    assert out["depot"]["last_edge"] == "A0B0"
    assert out["depot"]["km"] > out["stay"]["km"] + 0.4  # the way back: >= 2 blocks of 200 m
    # circle: keeps driving all the idle time (10 min at up to 13.9 m/s: kilometres)
    assert out["circle"]["km"] > out["depot"]["km"] + 2.0


# The square around junctions A0, B0, A1, B1 of the 3x3 grid (at x, y = 100 and 300).
SQUARE = [[80, 80], [320, 80], [320, 320], [80, 320]]


@pytest.mark.parametrize("area", [{"polygon": SQUARE}, ["A0B0", "B0B1", "A1B1", "B1A1", "B0A0"]])
def test_service_area_rejects_requests_from_or_to_outside(tmp_path: Path, area) -> None:
    trips = [
        {"at": 20, "from": "B0B1", "to": "B1A1"},  # inside
        {"at": 30, "from": "B0C0", "to": "B1A1"},  # from outside
        {"at": 40, "from": "A1B1", "to": "C1C2"},  # to outside
    ]
    data = on_demand(tmp_path, riders={"trips": trips}, end=600, service_area=area)
    result, requests, _ = run(tmp_path, data)
    assert [r["status"] for r in requests] == ["served", "rejected", "rejected"]
    assert [r["reason"] for r in requests][1:] == ["outside_service_area"] * 2
    assert [r["arrival_time"] for r in requests][1:] == [30, 40]  # rejected when asked
    assert result.kpis["shuttle_requests"] == 3
    assert result.kpis["shuttle_rejection_rate"] == pytest.approx(2 / 3)


def test_service_area_polygon_in_lon_lat() -> None:
    from mobility.shuttles.graph import NetGraph

    net = Path(__file__).resolve().parent.parent / "networks/resco/cologne1/cologne1.net.xml"
    graph = NetGraph(net)
    (x0, y0), (x1, y1) = graph.net.getBBoxXY()
    xm = (x0 + x1) / 2
    left = [(x0 - 1, y0 - 1), (xm, y0 - 1), (xm, y1 + 1), (x0 - 1, y1 + 1)]
    in_xy = graph.edges_in(left, lonlat=False, where="f")
    lonlat = [graph.net.convertXY2LonLat(x, y) for x, y in left]
    assert graph.edges_in(lonlat, lonlat=True, where="f") == in_xy
    assert 0 < len(in_xy) < len(graph.edges)
    every = [(x0 - 1e4, y0 - 1e4), (x1 + 1e4, y0 - 1e4), (x1 + 1e4, y1 + 1e4), (x0 - 1e4, y1 + 1e4)]
    assert graph.edges_in(every, lonlat=False, where="f") == set(graph.edges)
