"""Bad shuttle input: clear errors naming the field and the fix, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GRID3, ROOT, run_cli
from shuttle_helpers import on_demand

from mobility import Scenario
from mobility.errors import SimulationError, SpecError

# Three one-way road edges e01 -> e12 -> e23 and a foot/cycle path back (netconvert, bundled).
ONEWAY = ROOT / "tests" / "data" / "shuttle_oneway.net.xml"


def line(stops: list[dict], **extra: object) -> dict:
    return {"service": "line", "name": "L1", "stops": stops, **extra}


def with_fleet(tmp_path: Path, fleet: dict, riders: dict | None = None) -> dict:
    data = on_demand(
        tmp_path, riders=riders or {"trips": [{"at": 5, "from": "A0B0", "to": "B0C0"}]}
    )
    data["network"] = str(GRID3)
    data["shuttles"] = [fleet]
    if riders is None and fleet["service"] == "line":
        del data["riders"]
    return data


POD = {"service": "on_demand", "name": "pods", "fleet_size": 2, "depots": [{"edge": "A0B0"}]}


@pytest.mark.parametrize(
    ("fleet", "field", "words"),
    [
        (
            line([{"id": "a", "edge": "nowhere"}, {"id": "b", "edge": "B0C0"}]),
            "shuttles.0.stops.0.edge",
            "not in the network",
        ),
        (
            line([{"id": "a", "edge": "path"}, {"id": "b", "edge": "e12"}]),
            "shuttles.0.stops.0.edge",
            "closed to vehicle class 'bus'",
        ),
        (
            line([{"id": "a", "edge": "e12"}, {"id": "b", "edge": "e01"}]),
            "shuttles.0.stops",
            "cannot be reached from stop 0",
        ),
        (
            line(
                [{"id": "a", "edge": "A0B0"}, {"id": "b", "edge": "B0C0"}], route=["B0C0", "A0B0"]
            ),
            "shuttles.0.route.1",
            "does not follow",
        ),
        ({**POD, "depots": [{"edge": "Z9Z9"}]}, "shuttles.0.depots.0.edge", "depot is on edge"),
        (
            {**POD, "service_area": ["nope1", "nope2"]},
            "shuttles.0.service_area",
            "none of its edges",
        ),
        (
            {**POD, "service_area": {"polygon": [[5000, 5000], [5100, 5000], [5100, 5100]]}},
            "shuttles.0.service_area.polygon",
            "no edge of the network lies inside it",
        ),
        (
            {**POD, "service_area": {"polygon": [[0, 0], [1, 0], [0, 1]], "coords": "lonlat"}},
            "shuttles.0.service_area.coords",
            "no geo-reference",
        ),
        (
            {**POD, "service_area": {"polygon": [[0, 0], [400, 400], [400, 0], [0, 400]]}},
            "shuttles.0.service_area.polygon",
            "crosses itself",
        ),
    ],
)
def test_network_checks_name_the_field(tmp_path, write_spec, fleet, field, words) -> None:
    data = with_fleet(tmp_path, fleet)
    if "e12" in str(fleet) or "path" in str(fleet):
        data["network"] = str(ONEWAY)
    path = write_spec(data)
    with pytest.raises(SpecError) as err:
        Scenario.from_yaml(path).run(tmp_path / "out")
    assert f"field `{field}`" in str(err.value)
    assert words in str(err.value)
    assert str(path) in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("fleet", "field", "words"),
    [
        ({**POD, "vehicle": {"capacity": 0}}, "shuttles.0.vehicle.capacity", "greater than"),
        ({**POD, "service_area": []}, "shuttles.0", "service_area has no edges"),
        ({**POD, "dispatcher": "fastest"}, "shuttles.0", "unknown dispatcher 'fastest'"),
        ({**POD, "fleet_size": 0}, "shuttles.0.fleet_size", "greater than"),
        ({**POD, "idle": "wander"}, "shuttles.0.idle", "'stay', 'depot', 'circle' or 'rebalance'"),
        ({**POD, "seats": 3}, "shuttles.0.seats", "unknown field"),
    ],
)
def test_spec_checks_at_load(tmp_path, write_spec, fleet, field, words) -> None:
    path = write_spec(with_fleet(tmp_path, fleet))
    with pytest.raises(SpecError) as err:
        Scenario.from_yaml(path)
    assert f"field `{field}`" in str(err.value) and words in str(err.value), str(err.value)


def test_riders_unknown_zone_and_edge(tmp_path, write_spec) -> None:
    riders = {"zones": {"a": ["A0B0"]}, "flows": [{"from": "a", "to": "b", "per_hour": 5}]}
    with pytest.raises(SpecError, match="zone 'b' which is not in `zones`"):
        Scenario.from_yaml(write_spec(with_fleet(tmp_path, POD, riders)))
    riders = {"trips": [{"at": 5, "from": "A0B0", "to": "X1"}]}
    with pytest.raises(SpecError, match="'X1' is not an edge of the network"):
        Scenario.from_yaml(write_spec(with_fleet(tmp_path, POD, riders))).run(tmp_path / "o")


def test_cli_exit_code_2_without_traceback(tmp_path, write_spec) -> None:
    path = write_spec(with_fleet(tmp_path, {**POD, "depots": [{"edge": "Z9Z9"}]}))
    proc = run_cli("run", str(path), "--out", str(tmp_path / "out"), "--no-report")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "depots.0.edge" in proc.stdout + proc.stderr


def test_dispatcher_exception_stops_the_run_clearly(tmp_path, write_spec, monkeypatch) -> None:
    from mobility.shuttles import dispatcher

    def broken(self, engine, reservations, now):  # a real bug in a real run, not a mock SUMO
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(dispatcher.MobilityDispatcher, "round", broken)
    path = write_spec(with_fleet(tmp_path, {**POD, "dispatcher": "mobility"}))
    with pytest.raises(SimulationError) as err:
        Scenario.from_yaml(path).run(tmp_path / "out")
    message = str(err.value)
    assert "dispatcher 'mobility' of fleet 'pods' failed at t=" in message
    assert "riders waiting" in message and "ZeroDivisionError" in message


def test_several_fleets_checks(tmp_path, write_spec) -> None:
    other = {**POD, "name": "other"}
    data = with_fleet(tmp_path, {**POD, "dispatcher": "mobility"})
    data["shuttles"].append({**other, "dispatcher": "greedy"})
    with pytest.raises(SpecError, match="'mobility' cannot share a run"):
        Scenario.from_yaml(write_spec(data))
    data["shuttles"][1]["dispatcher"] = "mobility"
    data["riders"]["trips"][0]["fleet"] = "nobody"
    with pytest.raises(SpecError, match=r"riders.trips.0.fleet 'nobody' is not a fleet"):
        Scenario.from_yaml(write_spec(data))
