"""Scenario specs: valid files load, bad ones fail with file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GRID3, ROOT, small_scenario

from mobility.config import GridNetwork, NetFileNetwork, OsmNetwork, RoutesDemand, load_spec
from mobility.errors import SpecError


def test_valid_spec_loads_with_defaults(write_spec) -> None:
    spec = load_spec(write_spec(small_scenario()))
    assert spec.name == "small"
    assert isinstance(spec.network, NetFileNetwork)
    assert spec.network.path == GRID3
    assert spec.signals.controller == "static"
    assert spec.step_length == 1.0


def test_relative_paths_resolve_against_the_yaml_file(tmp_path: Path, write_spec) -> None:
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "x.net.xml").write_bytes(GRID3.read_bytes())
    (tmp_path / "d.rou.xml").write_text("<routes/>")
    spec = load_spec(write_spec(small_scenario(network="nets/x.net.xml", demand="d.rou.xml")))
    assert spec.network.path == tmp_path / "nets" / "x.net.xml"
    assert isinstance(spec.demand, RoutesDemand)
    assert spec.demand.path == tmp_path / "d.rou.xml"


def test_network_kinds_are_told_apart(write_spec) -> None:
    osm = ROOT / "networks" / "west-oakland" / "west-oakland.osm.bz2"
    assert isinstance(load_spec(write_spec(small_scenario(network=str(osm)))).network, OsmNetwork)
    grid = small_scenario(network={"type": "grid", "rows": 2, "cols": 4})
    assert isinstance(load_spec(write_spec(grid)).network, GridNetwork)


def test_content_hash_follows_content_not_paths(tmp_path: Path, write_spec) -> None:
    a = load_spec(write_spec(small_scenario(), "a.yaml"))
    b = load_spec(write_spec(small_scenario(), "b.yaml"))
    c = load_spec(write_spec(small_scenario(seed=43), "c.yaml"))
    assert a.content_hash() == b.content_hash() != c.content_hash()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("name: x\nseed: 1: 2\n", ["line 2", "not valid YAML"]),
        (small_scenario(colour="red"), ["field `colour`", "unknown field"]),
        (small_scenario(seed="abc"), ["field `seed`", "valid integer"]),
        (small_scenario(network="missing.net.xml"), ["field `network`", "file not found"]),
        (small_scenario(begin=600, end=300), ["end (300) must be after begin (600)"]),
        (
            small_scenario(network={"type": "grid", "rows": 2, "colz": 3}),
            ["field `network.colz`", "unknown field"],
        ),
        (small_scenario(network={"type": "hexagon"}), ["field `network`", "unknown type"]),
        (
            small_scenario(
                demand={
                    "type": "od",
                    "zones": {"a": ["left0A0"]},
                    "flows": [{"from": "a", "to": "b", "vehicles_per_hour": 10}],
                }
            ),
            ["field `demand`", "zone 'b' which is not in `zones`"],
        ),
        (small_scenario(signals="psychic"), ["field `signals`", "unknown controller 'psychic'"]),
        ("- just\n- a list\n", ["expected a mapping"]),
    ],
    ids=[
        "malformed-yaml",
        "unknown-field",
        "wrong-type",
        "missing-file",
        "end-before-begin",
        "unknown-nested-field",
        "unknown-network-type",
        "od-zone-undefined",
        "unknown-controller",
        "not-a-mapping",
    ],
)
def test_bad_specs_name_file_and_field(write_spec, spec, expected: list[str]) -> None:
    path = write_spec(spec)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_missing_spec_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_every_example_validates() -> None:
    examples = sorted((ROOT / "experiments").rglob("*.yaml"))
    assert examples, "no example scenarios found"
    for path in examples:
        if "sweep" in path.name:
            continue  # sweep files have their own schema and test
        load_spec(path)
