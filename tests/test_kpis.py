"""KPI declarations (mobility.kpis): complete, unique, and covering what real runs write.

Two small real runs write every kind of KPI: a plain 3x3-grid run with emissions and the
RESCO queue, and a shuttle run with two on-demand fleets (per-fleet and per-load KPIs) and a
line (line KPIs). Every key of their ``kpis.json`` must resolve to a declaration, and every
declaration must be written by one of them, so a stale declaration shows up too.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from typing import get_args

import pytest
from conftest import small_scenario
from shuttle_helpers import on_demand, run

from mobility.config import ScenarioSpec, validate_spec
from mobility.kpis import SOURCES, Better, Kpi, all_kpis, find_kpi, headline_kpis
from mobility.rundir import KPIS
from mobility.scenario import run_scenario


def _written(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / KPIS).read_text())


@pytest.fixture(scope="module")
def plain_kpis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    folder = tmp_path_factory.mktemp("kpis-plain")
    data = small_scenario(end=300, outputs={"emissions": True, "resco_queue": True})
    spec = validate_spec(ScenarioSpec, data, source=folder / "s.yaml", base_dir=folder)
    return _written(run_scenario(spec, folder / "out").run_dir)


@pytest.fixture(scope="module")
def shuttle_kpis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    folder = tmp_path_factory.mktemp("kpis-shuttles")
    data = on_demand(folder, riders={}, end=600)
    common = {"service": "on_demand", "fleet_size": 1, "dispatcher": "mobility"}
    data["shuttles"] = [
        {**common, "name": "west", "depots": [{"edge": "A0B0"}], "dispatch_period": 10},
        {**common, "name": "east_2", "depots": [{"edge": "C2C1"}], "dispatch_period": 10},
        {
            "service": "line",
            "name": "L1",
            "stops": [
                {"id": "a", "edge": "A1B1"},
                {"id": "b", "edge": "B1C1"},
                {"id": "c", "edge": "C1C2"},
            ],
            "headway": 120,
            "hours": [0, 300],
            "dwell": 10,
        },
    ]
    data["riders"] = {
        "trips": [
            {"at": 20, "from": "C1C0", "to": "B0A0", "fleet": "west"},
            {"at": 25, "from": "B0C0", "to": "C1C2", "fleet": "east_2"},
            {"at": 5, "from": "a", "to": "c", "fleet": "L1"},
        ]
    }
    data["safety"] = {}  # the safety KPIs, shuttle-km rates included
    _result, requests, _fleet = run(folder, data)
    assert {r["status"] for r in requests} == {"served"}
    return _written(_result.run_dir)


def test_every_kpi_a_run_writes_is_declared(plain_kpis, shuttle_kpis) -> None:
    undeclared = [k for k in {**plain_kpis, **shuttle_kpis} if find_kpi(k) is None]
    assert not undeclared, f"declare these in the module that computes them: {undeclared}"
    # and the run covered every kind: per fleet, per load, lines, signals, emissions
    assert {"shuttle_fleet_east_2_wait_mean_s", "shuttle_km_share_load_1"} <= set(shuttle_kpis)
    assert "shuttle_headway_deviation_mean_s" in shuttle_kpis
    assert {"resco_queue", "co2_total_kg"} <= set(plain_kpis)


def test_every_declaration_is_written_by_a_run(plain_kpis, shuttle_kpis) -> None:
    used = {find_kpi(k).kpi.name for k in {**plain_kpis, **shuttle_kpis}}
    # counts KPIs come from counts demand only: tests/test_counts.py checks a run writes them
    from mobility.demand.counts import KPIS as COUNTS_KPIS

    assert set(all_kpis()) - used - {k.name for k in COUNTS_KPIS} == set()


def test_declarations_are_unique_and_complete() -> None:
    declared = [k for module in SOURCES for k in import_module(module).KPIS]
    names = [k.name for k in declared]
    assert len(names) == len(set(names)), "a KPI is declared twice"
    assert list(all_kpis()) == names
    for kpi in declared:
        assert isinstance(kpi, Kpi)
        assert kpi.unit.strip(), kpi.name
        assert kpi.label.strip(), kpi.name
        assert kpi.description.strip(), kpi.name
        assert kpi.better in get_args(Better), kpi.name
        assert set(kpi.params) <= {"load"}, f"{kpi.name}: say how the report words it"


def test_headline_order_is_the_declaration_order() -> None:
    assert headline_kpis() == (
        "travel_time_mean_s",
        "time_loss_mean_s",
        "waiting_time_mean_s",
        "trips_completed",
        "throughput_per_hour",
        "co2_total_kg",
        "teleports",
    )


def test_find_kpi_resolves_families_and_fleets() -> None:
    exact = find_kpi("resco_delay_s")
    assert exact is not None and exact.kpi.name == "resco_delay_s" and exact.fleet is None
    load = find_kpi("shuttle_km_share_load_3")
    assert load is not None
    assert (load.kpi.name, load.fleet, load.params) == (
        "shuttle_km_share_load_{load}",
        None,
        {"load": "3"},
    )
    fleet = find_kpi("shuttle_fleet_east_2_wait_under_10min_share")
    assert fleet is not None
    assert (fleet.kpi.name, fleet.fleet) == ("shuttle_wait_under_10min_share", "east_2")
    both = find_kpi("shuttle_fleet_bus_km_share_load_0")
    assert both is not None
    assert (both.kpi.name, both.fleet, both.params) == (
        "shuttle_km_share_load_{load}",
        "bus",
        {"load": "0"},
    )
    # line KPIs are all lines together: no per-fleet variant
    assert find_kpi("shuttle_fleet_L1_headway_deviation_mean_s") is None
    assert find_kpi("no_such_kpi") is None


def test_compare_headers_come_from_the_declarations() -> None:
    from mobility.signals.compare import METRICS

    kpis = all_kpis()
    assert {name: f"{kpis[name].label} ({kpis[name].unit})" for name in METRICS} == METRICS
    assert METRICS["resco_queue"] == "queue (veh)"
