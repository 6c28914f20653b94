"""On-demand fleets in real SUMO: idle behaviour, service areas, several fleets in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
from shuttle_helpers import on_demand, run

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
    from mobility.network.net import load_network
    from mobility.shuttles.graph import NetGraph

    net = Path(__file__).resolve().parent.parent / "networks/resco/cologne1/cologne1.net.xml"
    graph = NetGraph(load_network(net))
    (x0, y0), (x1, y1) = graph.net.getBBoxXY()
    xm = (x0 + x1) / 2
    left = [(x0 - 1, y0 - 1), (xm, y0 - 1), (xm, y1 + 1), (x0 - 1, y1 + 1)]
    in_xy = graph.edges_in(left, lonlat=False, where="f")
    lonlat = [graph.net.convertXY2LonLat(x, y) for x, y in left]
    assert graph.edges_in(lonlat, lonlat=True, where="f") == in_xy
    assert 0 < len(in_xy) < len(graph.edges)
    every = [(x0 - 1e4, y0 - 1e4), (x1 + 1e4, y0 - 1e4), (x1 + 1e4, y1 + 1e4), (x0 - 1e4, y1 + 1e4)]
    assert graph.edges_in(every, lonlat=False, where="f") == set(graph.edges)


@pytest.mark.parametrize("dispatcher", ["greedy", "mobility"])
def test_two_fleets_serve_only_their_own_riders(tmp_path: Path, dispatcher: str) -> None:
    # "west" parks at A0B0, "east" at C2C1. West's riders ask right next to east's depot and
    # east's riders next to west's: each fleet must still drive across to its own riders.
    data = on_demand(tmp_path, riders={}, end=900)
    common = {"service": "on_demand", "fleet_size": 1, "dispatcher": dispatcher}
    data["shuttles"] = [
        {**common, "name": "west", "depots": [{"edge": "A0B0"}], "dispatch_period": 10},
        {**common, "name": "east", "depots": [{"edge": "C2C1"}], "dispatch_period": 15},
    ]
    data["riders"] = {
        "trips": [
            {"at": 20, "from": "C1C0", "to": "B0A0", "fleet": "west"},
            {"at": 25, "from": "B0C0", "to": "C1C2", "fleet": "east"},
            {"at": 30, "from": "C2B2", "to": "B1A1", "fleet": "west"},
        ]
    }
    result, requests, fleet = run(tmp_path, data)
    assert [r["status"] for r in requests] == ["served"] * 3
    assert [r["vehicle"].split(".")[0] for r in requests] == [r["fleet"] for r in requests]
    assert [r["fleet"] for r in requests] == ["west", "east", "west"]
    k = result.kpis
    assert k["shuttle_fleet_west_served"] == 2 and k["shuttle_fleet_east_served"] == 1
    assert k["shuttle_served"] == 3 and k["shuttle_vehicles"] == 2
    assert k["shuttle_fleet_west_vehicle_km"] + k["shuttle_fleet_east_vehicle_km"] == (
        pytest.approx(k["shuttle_vehicle_km"])
    )
    assert {f["fleet"]: f["riders"] for f in fleet} == {"west": 2, "east": 1}


def test_two_fleets_under_sumos_algorithm_record_rejections(tmp_path: Path) -> None:
    # One shuttle per fleet, many riders of "west" who wait 1 minute at most: some are
    # rejected, and SUMO (which cannot remove riders waiting in a taxi group) keeps running.
    data = on_demand(tmp_path, riders={}, end=700)
    common = {"service": "on_demand", "fleet_size": 1, "dispatcher": "greedy", "max_wait": 60}
    data["shuttles"] = [
        {**common, "name": "west", "depots": [{"edge": "A0B0"}]},
        {**common, "name": "east", "depots": [{"edge": "C2C1"}]},
    ]
    trips = [{"at": 20 + 5 * i, "from": "C1C0", "to": "B0A0", "fleet": "west"} for i in range(6)]
    data["riders"] = {"trips": trips}
    result, requests, _ = run(tmp_path, data)
    assert "rejected" in {r["status"] for r in requests}
    assert all(r["reason"] == "max_wait exceeded" for r in requests if r["status"] == "rejected")
    assert result.kpis["shuttle_fleet_east_served"] == 0
