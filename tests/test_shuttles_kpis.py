"""Occupancy, km per ride, rider time and broken promises, on one hand-checkable ride."""

from __future__ import annotations

from pathlib import Path

import pytest
from shuttle_helpers import on_demand, run


def test_one_ride_kpis_by_hand(tmp_path: Path) -> None:
    # One shuttle fetches one rider (asks at t=55 on B0C0, SUMO's greedy dispatches at 60):
    # it drives empty to B0C0, then with one rider to C1C2. The promises are set so that
    # the wait (> 5 s) breaks max_wait = 5 s while the detour (a direct ride) keeps 3.0.
    trips = [{"at": 55, "from": "B0C0", "to": "C1C2"}]
    data = on_demand(tmp_path, riders={"trips": trips}, end=400, max_wait=5, max_detour=3.0)
    result, (req,), (veh,) = run(tmp_path, data)
    k = result.kpis
    assert req["status"] == "served" and req["wait_s"] > 5
    assert req["wait_kept"] is False and req["detour_kept"] is True
    assert 1.0 < req["detour_ratio"] < 3.0
    assert k["shuttle_wait_promise_broken_share"] == 1.0
    assert k["shuttle_detour_promise_broken_share"] == 0.0
    # passenger-km over vehicle-km: 1 rider on the loaded km, 0 on the empty km
    loaded, empty = veh["km_load_1"], veh["km_load_0"]
    # mid B0C0 -> mid C1C2: 100 + 200 + 100 m less junction corners, sampled every 5 s
    assert 0.3 < loaded < 0.45 and empty > 0.1
    assert k["shuttle_occupancy_mean"] == pytest.approx(loaded / (loaded + empty))
    assert k["shuttle_vehicle_km_per_served"] == pytest.approx(veh["km"])
    assert k["shuttle_rider_time_mean_s"] == pytest.approx(req["wait_s"] + req["in_vehicle_s"])
    assert k["shuttle_rider_time_total_h"] == pytest.approx(k["shuttle_rider_time_mean_s"] / 3600)


def test_detour_promise_of_one_counts_every_ride_as_broken(tmp_path: Path) -> None:
    # max_detour 1.0: any ride longer than the direct drive (the drop-off alone takes 10 s)
    trips = [{"at": 55, "from": "B0C0", "to": "C1C2"}]
    data = on_demand(tmp_path, riders={"trips": trips}, end=400, max_detour=1.0)
    result, (req,), _ = run(tmp_path, data)
    assert req["status"] == "served" and req["detour_kept"] is False
    assert result.kpis["shuttle_detour_promise_broken_share"] == 1.0
    assert result.kpis["shuttle_wait_promise_broken_share"] == 0.0
