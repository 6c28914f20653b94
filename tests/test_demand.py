"""Demand layer: randomTrips and od2trips through duarouter, seeded, with clear failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sumolib
from conftest import ARTERIAL, GRID3, small_scenario

from mobility import sumo
from mobility.config import load_spec
from mobility.demand.build import build_demand
from mobility.errors import DemandError
from mobility.network.net import load_network


def departures(route_file: Path) -> list[float]:
    return [float(v.depart) for v in sumolib.xml.parse_fast(str(route_file), "vehicle", ["depart"])]


def test_random_trips_follow_rate_and_profile(write_spec) -> None:
    demand = {"type": "random", "vehicles_per_hour": 1200, "profile": [0.5, 0.0, 1.5]}
    spec = load_spec(write_spec(small_scenario(end=1800, demand=demand)))
    (routes,) = build_demand(spec, load_network(GRID3))
    times = departures(routes)
    first, empty, last = (sum(a <= t < a + 600 for t in times) for a in (0, 600, 1200))
    # the profile is a shape with mean 1: rates 900, 0 and 2700 veh/h for 10 minutes each
    assert first == pytest.approx(150, abs=2)
    assert empty == 0
    assert last == pytest.approx(450, abs=2)


def test_other_seed_other_routes(write_spec) -> None:
    """(The same seed rebuilt without the cache: tests/test_determinism.py.)"""
    a = build_demand(load_spec(write_spec(small_scenario(), "a.yaml")), load_network(GRID3))[0]
    b = build_demand(load_spec(write_spec(small_scenario(seed=7), "b.yaml")), load_network(GRID3))[
        0
    ]
    assert a != b
    assert a.read_text() != b.read_text()
    routes = [r.edges for r in sumolib.xml.parse_fast(str(a), "route", ["edges"])]
    assert len(routes) == 150  # 900 veh/h for 10 minutes


def od_demand(**flows: float) -> dict:
    return {
        "type": "od",
        "zones": {"west": ["WJ0"], "east": ["J4E"], "north": ["N2J2"]},
        "flows": [
            {"from": pair.split("_")[0], "to": pair.split("_")[1], "vehicles_per_hour": vph}
            for pair, vph in flows.items()
        ],
        "profile": [1, 3],
    }


def test_od_flows_become_routes_between_their_zones(write_spec) -> None:
    spec = load_spec(
        write_spec(
            small_scenario(network=str(ARTERIAL), demand=od_demand(west_east=400, north_west=80))
        )
    )
    (routes,) = build_demand(spec, load_network(ARTERIAL))
    vehicles = list(sumolib.xml.parse(str(routes), "vehicle"))
    pairs = [(v.fromTaz, v.toTaz) for v in vehicles]
    assert pairs.count(("west", "east")) == pytest.approx(400 / 6, abs=2)  # 10 min
    assert pairs.count(("north", "west")) == pytest.approx(80 / 6, abs=2)
    later = sum(float(v.depart) >= 300 for v in vehicles)
    assert later == pytest.approx(0.75 * len(vehicles), abs=3)  # profile [1, 3]
    for v in vehicles:
        edges = v.route[0].edges.split()
        assert edges[0] == {"west": "WJ0", "north": "N2J2"}[v.fromTaz]


def test_od_zone_edge_not_in_network(write_spec) -> None:
    demand = od_demand(west_east=100)
    demand["zones"]["east"] = ["nowhere"]
    spec = load_spec(write_spec(small_scenario(network=str(ARTERIAL), demand=demand)))
    with pytest.raises(DemandError, match=r"demand.zones.east.*nowhere.*not in the network"):
        build_demand(spec, load_network(ARTERIAL))


@pytest.fixture
def two_islands(tmp_path: Path) -> Path:
    """Two one-way roads that do not touch: no route from one to the other."""
    (tmp_path / "n.nod.xml").write_text(
        '<nodes><node id="a" x="0" y="0"/><node id="b" x="500" y="0"/>'
        '<node id="c" x="0" y="300"/><node id="d" x="500" y="300"/></nodes>'
    )
    (tmp_path / "e.edg.xml").write_text(
        '<edges><edge id="ab" from="a" to="b" numLanes="1" speed="10"/>'
        '<edge id="cd" from="c" to="d" numLanes="1" speed="10"/></edges>'
    )
    net = tmp_path / "islands.net.xml"
    subprocess.run(
        [sumo.binary("netconvert"), "-n", "n.nod.xml", "-e", "e.edg.xml", "-o", net.name],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return net


def test_od_pair_without_route(write_spec, two_islands: Path) -> None:
    demand = {
        "type": "od",
        "zones": {"south": ["ab"], "north": ["cd"]},
        "flows": [{"from": "south", "to": "north", "vehicles_per_hour": 60}],
    }
    spec = load_spec(write_spec(small_scenario(network=str(two_islands), demand=demand)))
    with pytest.raises(DemandError, match=r"no route from zone 'south'.*to zone 'north'"):
        build_demand(spec, load_network(two_islands))
