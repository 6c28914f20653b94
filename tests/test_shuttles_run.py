"""Shuttle fleets in real SUMO on the tiny 3x3 grid: waits, pooling, capacity, rejections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from shuttle_helpers import on_demand, run


def test_single_rider_single_shuttle_wait_is_hand_computable(tmp_path: Path) -> None:
    # The shuttle idles on A0B0; the rider asks at t=55 on B0C0, the next edge, straight on.
    # SUMO dispatches at t=60 (period 10 s). The shuttle then accelerates at 1.5 m/s^2 to
    # 13.89 m/s, cruises, and brakes at 3 m/s^2 over the empty distance d it drove; leaving
    # its parking place at the depot and the rider boarding add a few seconds (< 8 s).
    data = on_demand(
        tmp_path, riders={"trips": [{"at": 55, "from": "B0C0", "to": "C1C2"}]}, end=400
    )
    result, requests, fleet = run(tmp_path, data)
    (req,) = requests
    assert req["status"] == "served"
    d = fleet[0]["empty_km"] * 1000
    v, a, b = 13.89, 1.5, 3.0
    drive = v / a + (d - v * v / (2 * a)) / v + v / (2 * b)
    expected = (60 - 55) + drive
    assert expected <= req["wait_s"] <= expected + 8, (req["wait_s"], expected)
    assert result.kpis["shuttle_served_share"] == 1.0
    assert result.kpis["shuttle_wait_mean_s"] == req["wait_s"]
    assert fleet[0]["riders"] == 1


def test_pooling_puts_two_compatible_riders_in_one_vehicle(tmp_path: Path) -> None:
    trips = [{"at": 31, "from": "B0C0", "to": "C1C2"}, {"at": 35, "from": "B0C0", "to": "C1C2"}]
    data = on_demand(tmp_path, riders={"trips": trips}, end=500, dispatcher="greedyShared")
    result, requests, _ = run(tmp_path, data)
    assert [r["status"] for r in requests] == ["served", "served"]
    assert requests[0]["board_time"] == requests[1]["board_time"]  # picked up together
    assert result.kpis["shuttle_km_share_load_2"] > 0.5
    alone = on_demand(
        tmp_path,
        riders={"trips": trips},
        end=500,
        dispatcher="greedyShared",
        pooling=False,
        name="solo",
    )
    result, requests, _fleet = run(tmp_path, alone)
    assert [r["status"] for r in requests] == ["served", "served"]
    assert requests[0]["board_time"] < requests[1]["board_time"]
    assert "shuttle_km_share_load_2" not in result.kpis


@pytest.mark.parametrize("capacity", [1, 2])
def test_capacity_is_never_exceeded(tmp_path: Path, capacity: int) -> None:
    trips = [{"at": 30 + i, "from": "B0C0", "to": "C1C2"} for i in range(4)]
    data = on_demand(
        tmp_path,
        riders={"trips": trips},
        end=900,
        dispatcher="greedyShared",
        vehicle={"capacity": capacity},
        max_wait=900,
    )
    _result, requests, fleet = run(tmp_path, data)
    loads = [int(k.rsplit("_", 1)[1]) for k in fleet[0] if k.startswith("km_load_")]
    assert max(loads) <= capacity
    assert {r["status"] for r in requests} == {"served"}


def test_every_request_ends_served_or_rejected(tmp_path: Path) -> None:
    # One shuttle, twelve requests in two minutes, riders wait at most 2 minutes: some must
    # be turned away; none may be left hanging.
    trips = [
        {"at": 20 + 10 * i, "from": ["B0C0", "A1B1", "C2B2"][i % 3], "to": "B1B2"}
        for i in range(12)
    ]
    data = on_demand(tmp_path, riders={"trips": trips}, end=800, max_wait=120, dispatcher="greedy")
    result, requests, _ = run(tmp_path, data)
    statuses = [r["status"] for r in requests]
    assert set(statuses) <= {"served", "rejected"}
    assert "rejected" in statuses and "served" in statuses
    assert all(r["reason"] for r in requests if r["status"] == "rejected")
    k = result.kpis
    assert k["shuttle_served"] + k["shuttle_rejected"] == k["shuttle_requests"] == 12
    assert k["shuttle_rejection_rate"] == pytest.approx(k["shuttle_rejected"] / 12)


def test_line_riders_board_at_stops_and_line_kpis(tmp_path: Path) -> None:
    data = on_demand(tmp_path, riders={}, end=700)
    data["shuttles"] = [
        {
            "service": "line",
            "name": "L1",
            "stops": [
                {"id": "a", "edge": "A0B0"},
                {"id": "b", "edge": "B0C0"},
                {"id": "c", "edge": "C0C1"},
            ],
            "headway": 120,
            "hours": [0, 400],
            "dwell": 10,
        }
    ]
    data["riders"] = {
        "trips": [{"at": 5, "from": "a", "to": "c"}, {"at": 100, "from": "b", "to": "c"}]
    }
    result, requests, fleet = run(tmp_path, data)
    assert [r["status"] for r in requests] == ["served", "served"]
    assert all(r["vehicle"].startswith("L1.") for r in requests)
    assert len(fleet) == 4  # departures at 0, 120, 240, 360
    stops = pq.read_table(result.run_dir / "stops.parquet").to_pylist()
    assert sum(s["boarded"] for s in stops) == 2
    # no other traffic: every bus takes the same time, so its calls at a stop are exactly
    # the planned 120 s apart
    at_a = [s["arrival"] for s in stops if s["stop"] == "a"]
    assert len(at_a) == 4 and set(np.diff(at_a)) == {120.0}
    assert result.kpis["shuttle_headway_deviation_mean_s"] == 0.0
    assert result.kpis["shuttle_headway_within_60s_share"] == 1.0
    # load leaving each of the 12 calls: rider 0 from a to c on the first bus (a, b),
    # rider 1 from b to c on the second (b): three calls with one aboard
    assert [s["load_departing"] for s in stops] == [1, 1, 0, 0, 1, 0] + [0] * 6
    assert result.kpis["shuttle_load_per_stop_mean"] == pytest.approx(3 / 12)
    assert result.kpis["shuttle_load_per_stop_max"] == 1.0
    assert result.kpis["shuttle_vehicles"] == 4
    # a rider boards when the next bus's 10 s dwell at their stop ends
    call = {(s["vehicle"], s["stop"]): s["arrival"] for s in stops}
    for r, stop in zip(requests, ["a", "b"], strict=True):
        assert r["board_time"] == call[r["vehicle"], stop] + 10
        assert r["wait_s"] == r["board_time"] - r["request_time"]


def test_our_dispatcher_and_sumos_serve_the_same_easy_case(tmp_path: Path) -> None:
    # Three riders far apart in time, three shuttles: every dispatcher serves all of them.
    trips = [
        {"at": 20, "from": "B0C0", "to": "C1C2"},
        {"at": 200, "from": "A1B1", "to": "B2C2"},
        {"at": 400, "from": "C2B2", "to": "B1A1"},
    ]
    served = {}
    for name in ("greedy", "mobility"):
        data = on_demand(
            tmp_path / name,
            riders={"trips": trips},
            end=800,
            dispatcher=name,
            fleet_size=3,
            depots=[{"edge": "A0B0"}, {"edge": "C2C1"}, {"edge": "B1B0"}],
        )
        result, _requests, _ = run(tmp_path / name, data)
        served[name] = result.kpis["shuttle_served"]
    assert served == {"greedy": 3, "mobility": 3}


@pytest.mark.parametrize("dispatcher", ["greedy", "mobility"])
def test_detour_is_against_the_dispatchers_travel_time_table(tmp_path: Path, dispatcher) -> None:
    # No other traffic, no signals: the table's direct time is the path's length at the
    # shuttle's max speed (10 m/s, below the roads' 13.89), and a lone rider's ride is close
    # to it (accelerating, braking and the junctions the edge graph leaves out make it
    # longer), plus the drop-off stop, which SUMO counts as riding (20 s here).
    data = on_demand(
        tmp_path,
        riders={"trips": [{"at": 55, "from": "B0C0", "to": "C1C2"}]},
        end=400,
        dispatcher=dispatcher,
        vehicle={"max_speed": 10},
        dropoff_duration=20,
    )
    result, (req,), _ = run(tmp_path, data)
    assert req["status"] == "served"
    assert req["direct_time_now_s"] == pytest.approx(req["direct_length_m"] / 10, rel=1e-3)
    assert req["direct_time_s"] < req["direct_time_now_s"]  # free flow: the road's limit
    assert req["detour_ratio"] == req["in_vehicle_s"] / req["direct_time_now_s"]
    driving = req["in_vehicle_s"] - 20
    assert 1.0 < driving / req["direct_time_now_s"] < 1.4, req
    assert result.kpis["shuttle_detour_ratio_mean"] == req["detour_ratio"]
