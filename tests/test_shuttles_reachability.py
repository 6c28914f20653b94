"""Rider zones, trips and depots must be mutually reachable for the shuttles, before the run.

The bundled net (netconvert, no turnarounds) is a two-way square a-b-c-d (edges ab, ba, bc,
cb, cd, dc, da, ad) with a one-way spur out of it, ``bx`` (a dead end: entered, never left)
and one into it, ``yd`` (entered from nowhere). Only the eight square edges are mutually
reachable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from shuttle_helpers import on_demand, run

from mobility import Scenario
from mobility.errors import SpecError
from mobility.shuttles.reachability import ShuttleWarning

SPUR = ROOT / "tests" / "data" / "shuttle_spur.net.xml"


def spur_spec(tmp_path: Path, riders: dict, depot: str = "ab") -> dict:
    data = on_demand(tmp_path, riders=riders, end=600, dispatcher="mobility")
    data["network"] = str(SPUR)
    data["shuttles"][0]["depots"] = [{"edge": depot}]
    return data


ZONES = {"west": ["ab", "da"], "east": ["bc", "bx"]}
FLOWS = {
    "zones": ZONES,
    "flows": [{"from": "west", "to": "east", "per_hour": 120}],
    "until": 300,
}


def test_dead_end_zone_edge_is_named_before_the_run(tmp_path: Path, write_spec) -> None:
    path = write_spec(spur_spec(tmp_path, FLOWS))
    with pytest.raises(SpecError) as err:
        Scenario.from_yaml(path).run(tmp_path / "out")
    text = str(err.value)
    assert "field `riders.zones.east`" in text
    assert "bx (a dead end: reached, but no way back)" in text
    assert "bc" not in text.split("field")[1].split("are not")[0]  # only the bad edge named
    assert "riders.unreachable: drop" in text and str(path) in text
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("riders", "depot", "field", "words"),
    [
        ({"trips": [{"at": 5, "from": "yd", "to": "ab"}]}, "ab", "riders.trips.0", "yd (no way"),
        (
            {"trips": [{"at": 5, "from": "ab", "to": "cd"}]},
            "bx",
            "shuttles.0.depots.0.edge",
            "depot edge bx (a dead end",
        ),
    ],
)
def test_unreachable_trip_and_depot(tmp_path, write_spec, riders, depot, field, words) -> None:
    path = write_spec(spur_spec(tmp_path, riders, depot))
    with pytest.raises(SpecError) as err:
        Scenario.from_yaml(path).run(tmp_path / "out")
    assert f"field `{field}`" in str(err.value) and words in str(err.value), str(err.value)


def test_drop_keeps_only_reachable_edges_with_a_warning(tmp_path: Path) -> None:
    riders = {**FLOWS, "unreachable": "drop", "trips": [{"at": 9, "from": "yd", "to": "cd"}]}
    with pytest.warns(ShuttleWarning) as caught:
        _result, requests, _ = run(tmp_path, spur_spec(tmp_path, riders))
    said = sorted(str(w.message) for w in caught)
    assert len(said) == 2
    assert "riders.trips.0" in said[0] and "yd" in said[0]
    assert "riders.zones.east" in said[1] and "dropped edges bx" in said[1]
    assert requests, "the flow still makes requests"
    assert {r["destination"] for r in requests} == {"bc"}
    assert all(r["origin"] in ("ab", "da") for r in requests)
    assert any(r["status"] == "served" for r in requests)


def test_a_zone_left_empty_by_the_drop_is_an_error(tmp_path: Path, write_spec) -> None:
    riders = {
        "zones": {"w": ["ab"], "e": ["bx"]},
        "flows": [{"from": "w", "to": "e", "per_hour": 9}],
    }
    path = write_spec(spur_spec(tmp_path, {**riders, "unreachable": "drop"}))
    with pytest.raises(SpecError) as err, pytest.warns(ShuttleWarning):
        Scenario.from_yaml(path).run(tmp_path / "out")
    assert "field `riders.zones.e`" in str(err.value) and "every edge" in str(err.value)
