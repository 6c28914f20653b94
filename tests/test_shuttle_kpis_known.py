"""The on-demand shuttle KPIs against values worked out by hand from a scripted day: one
electric shuttle on the unsignalised 3x3 grid, no other traffic, two riders who never
overlap (55 s: B0C0 -> C1C2; 300 s: C2B2 -> A2A1), ten minutes."""

from __future__ import annotations

from pathlib import Path

import pytest
from shuttle_helpers import on_demand, run

RIDERS = [{"at": 55, "from": "B0C0", "to": "C1C2"}, {"at": 300, "from": "C2B2", "to": "A2A1"}]
END = 600.0


def test_on_demand_kpis_by_hand(tmp_path: Path) -> None:
    data = on_demand(tmp_path, riders={"trips": RIDERS}, end=END)
    data["outputs"] = {"emissions": True}
    result, requests, fleet = run(tmp_path, data)
    kpis = result.kpis
    (shuttle,) = fleet
    assert [r["status"] for r in requests] == ["served", "served"]
    # the first wait from the shuttle's physics, as in test_shuttles_run: dispatched at 60 s,
    # it drives the empty distance from its depot accelerating at 1.5 and braking at 3 m/s²
    v, a, b = 13.89, 1.5, 3.0
    assert requests[0]["board_time"] > 60  # after the first dispatch
    waits = [r["board_time"] - r["request_time"] for r in requests]
    rides = [r["arrival_time"] - r["board_time"] for r in requests]
    direct = [r["direct_time_s"] for r in requests]
    hours = END / 3600
    hand = {
        "shuttle_requests": 2,
        "shuttle_served": 2,
        "shuttle_rejected": 0,
        "shuttle_unfinished": 0,
        "shuttle_served_share": 1.0,
        "shuttle_rejection_rate": 0.0,
        "shuttle_wait_mean_s": (waits[0] + waits[1]) / 2,
        "shuttle_wait_median_s": (waits[0] + waits[1]) / 2,  # the middle of two
        "shuttle_wait_p95_s": min(waits) + 0.95 * abs(waits[1] - waits[0]),
        "shuttle_wait_under_5min_share": 1.0,
        "shuttle_wait_under_10min_share": 1.0,
        "shuttle_in_vehicle_mean_s": (rides[0] + rides[1]) / 2,
        "shuttle_detour_ratio_mean": (rides[0] / direct[0] + rides[1] / direct[1]) / 2,
        "shuttle_rides_per_vehicle_hour": 2 / (1 * hours),  # one shuttle in service all along
        "shuttle_co2_kg": 0.0,  # a battery-electric shuttle (HBEFA4/PC_BEV)
        "shuttle_vehicles": 1,
    }
    for name, value in hand.items():
        assert kpis[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
    # the first rider's wait: 5 s to the dispatch, the drive, and under 8 s of leaving the
    # parking place and boarding
    d = shuttle["empty_km"] * 1000  # both empty legs; the first is the shorter one
    assert waits[0] >= 5 + v / a
    assert waits[0] <= 5 + v / a + (d - v * v / (2 * a)) / v + v / (2 * b) + 8
    # nobody rides faster than the direct drive
    assert all(r >= t for r, t in zip(rides, direct, strict=True))
    # kilometres: SUMO's own trip record of the shuttle is the fleet's total; the load
    # shares split the kilometres sampled with their load (every step, from the odometer),
    # the empty share is the load-0 share and utilisation the rest
    trips = result.table("trips").set_index("id")
    assert kpis["shuttle_vehicle_km"] == pytest.approx(trips.loc["pods.0", "routeLength"] / 1e3)
    assert kpis["shuttle_empty_km_share"] == pytest.approx(
        shuttle["empty_km"] / shuttle["sampled_km"]
    )
    assert kpis["shuttle_km_share_load_0"] == pytest.approx(kpis["shuttle_empty_km_share"])
    assert kpis["shuttle_km_share_load_1"] == pytest.approx(
        shuttle["km_load_1"] / shuttle["sampled_km"]
    )
    assert kpis["shuttle_utilisation"] == pytest.approx(1 - kpis["shuttle_empty_km_share"])
    # two rides of 371 m each (the direct routes) at least, and empty legs between them
    assert shuttle["km_load_1"] >= 2 * min(r["direct_length_m"] for r in requests) / 1e3
    assert 0 < kpis["shuttle_empty_km_share"] < 0.5
    assert shuttle["km_load_0"] + shuttle["km_load_1"] == pytest.approx(shuttle["sampled_km"])
    assert shuttle["sampled_km"] == pytest.approx(shuttle["km"], abs=0.01)  # within a step
