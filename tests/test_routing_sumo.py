"""Routing feeds SUMO: equilibrium path flows as routes, travel-time tables, spec and errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import sumolib
from conftest import GRID4, ROOT

from mobility.config import load_spec
from mobility.core.arrays import network_arrays
from mobility.core.routing import user_equilibrium
from mobility.core.routing.path_flows import path_equilibrium
from mobility.core.routing.tables import travel_time_table
from mobility.demand.build import build_demand
from mobility.errors import DemandError, SpecError
from mobility.network.net import load_network
from mobility.routing import from_tntp
from mobility.scenario import run_scenario

ZONES = {
    "west": ["left1A1", "left2A2"],
    "east": ["D1right1", "D2right2"],
    "south": ["bottom1B0", "bottom2C0"],
    "north": ["B3top1", "C3top2"],
}


def grid_scenario(routing: object = None, *, seed: int = 1, vph: float = 1500) -> dict:
    """Crossing OD flows on the 4x4 grid, heavy enough to queue at the central signals."""
    flows = [("west", "east", vph), ("south", "north", vph)]
    flows += [("west", "north", vph / 3), ("south", "east", vph / 3)]
    spec = {
        "name": "ue-grid",
        "seed": seed,
        "end": 1200,
        "network": str(GRID4),
        "demand": {
            "type": "od",
            "zones": ZONES,
            "flows": [{"from": a, "to": b, "vehicles_per_hour": v} for a, b, v in flows],
        },
        "outputs": {"emissions": False},
    }
    if routing is not None:
        spec["routing"] = routing
    return spec


def test_path_flows_add_up_to_the_equilibrium_link_flows() -> None:
    net = from_tntp(ROOT / "networks" / "tntp" / "SiouxFalls")
    paths = path_equilibrium(net.arrays, net.demand, algorithm="bfw", gap=1e-4)
    # the same iterates as the path flows: the same (Bellman-Ford) trees and tie-breaking
    ue = user_equilibrium(net.arrays, net.demand, algorithm="bfw", gap=1e-4, backend="bellman-ford")
    load = np.zeros(net.arrays.n_links)
    for links, flow in zip(paths.links, paths.flow, strict=True):
        load[list(links)] += flow
    np.testing.assert_allclose(load, paths.link_flow, atol=1e-6)
    np.testing.assert_allclose(paths.link_flow, ue.flow, rtol=1e-6, atol=1e-6)
    trips = np.zeros_like(net.demand)
    np.add.at(trips, (paths.origin, paths.destination), paths.flow)
    demand = np.array(net.demand, dtype=float)
    np.fill_diagonal(demand, 0.0)
    np.testing.assert_allclose(trips, demand, rtol=1e-9, atol=1e-6)
    for o, d, links in zip(paths.origin, paths.destination, paths.links, strict=True):
        assert net.arrays.tail[links[0]] == net.arrays.zone_node[o]
        assert net.arrays.head[links[-1]] == net.arrays.zone_node[d]
    # used paths of one OD pair cost about the same at equilibrium
    cost = np.array([paths.link_time[list(links)].sum() for links in paths.links])
    pair = (paths.origin == 0) & (paths.destination == 23)
    assert cost[pair].max() <= cost[pair].min() * 1.01


def test_travel_time_tables_match_dijkstra() -> None:
    net = from_tntp(ROOT / "networks" / "tntp" / "SiouxFalls")
    arrays = net.arrays
    found = {}
    for flow in (None, np.full(arrays.n_links, 8000.0)):
        times = arrays.free_flow_time if flow is None else travel_time_cost(arrays, flow)
        matrix = scipy.sparse.csr_matrix(
            (times, (arrays.tail, arrays.head)), shape=(arrays.n_nodes, arrays.n_nodes)
        )
        expected = scipy.sparse.csgraph.dijkstra(matrix, indices=[0, 5, 9])
        for method in ("trees", "dijkstra"):
            nodes = travel_time_table(
                arrays, flow=flow, between="nodes", origins=[0, 5, 9], method=method
            )
            np.testing.assert_allclose(nodes, expected, rtol=1e-9)
        found[flow is None] = expected
    zones = travel_time_table(arrays)  # Sioux Falls zones are its nodes 1..24
    assert zones.shape == (24, 24)
    np.testing.assert_allclose(zones[[0, 5, 9]], found[True], rtol=1e-9)


def travel_time_cost(arrays, flow: np.ndarray) -> np.ndarray:
    return arrays.free_flow_time * (1 + arrays.alpha * (flow / arrays.capacity) ** arrays.power)


def test_od_pair_without_path_names_its_zones() -> None:
    arrays = network_arrays(
        tail=[0, 1], head=[1, 0], free_flow_time=[1, 1], capacity=[10, 10],
        n_nodes=3, zone_node=[0, 1, 2],
    )  # fmt: skip
    demand = np.zeros((3, 3))
    demand[0, 2] = 5.0
    with pytest.raises(DemandError, match="no path from zone a to zone c"):
        path_equilibrium(arrays, demand, zone_labels=["a", "b", "c"])


def test_ue_routes_are_valid_and_follow_the_path_flows(write_spec) -> None:
    spec = load_spec(write_spec(grid_scenario({"assignment": "ue", "saturation_flow": 900})))
    (routes,) = build_demand(spec, load_network(GRID4))
    net = sumolib.net.readNet(str(GRID4))
    vehicles = list(sumolib.xml.parse(str(routes), "vehicle"))
    assert len(vehicles) == pytest.approx((1500 * 2 + 1000) / 3, abs=3)  # 20 minutes
    used: dict[tuple[str, str], set[str]] = {}
    for v in vehicles:
        edges = v.route[0].edges.split()
        assert edges[0] in ZONES[v.fromTaz] and edges[-1] in ZONES[v.toTaz]
        for a, b in itertools.pairwise(edges):
            assert net.getEdge(b) in net.getEdge(a).getOutgoing()
        used.setdefault((v.fromTaz, v.toTaz), set()).add(v.route[0].edges)
    assert len(used[("west", "east")]) >= 2  # the equilibrium spreads the heavy pairs
    # same spec, same routes (cached or rebuilt); another routing section, another file
    free = load_spec(write_spec(grid_scenario(), "free.yaml"))
    assert build_demand(free, load_network(GRID4))[0] != routes


def test_ue_routes_are_not_slower_than_free_flow_routes(write_spec, tmp_path: Path) -> None:
    """Mean SUMO travel time over two seeds: equilibrium routes against duarouter's."""
    means = {}
    for name, routing in (
        ("free_flow", None),
        ("ue", {"assignment": "ue", "saturation_flow": 900}),
    ):
        times = []
        for seed in (1, 2):
            spec = load_spec(write_spec(grid_scenario(routing, seed=seed), f"{name}{seed}.yaml"))
            kpis = run_scenario(spec, tmp_path / "runs").kpis
            assert kpis["teleports"] == 0
            times.append(kpis["travel_time_mean_s"])
        means[name] = float(np.mean(times))
    print(f"mean travel time (s): {means}")
    assert means["ue"] <= means["free_flow"]


def test_routing_spec_shorthand_defaults_and_errors(write_spec) -> None:
    spec = load_spec(write_spec(grid_scenario("ue")))
    assert spec.routing is not None
    assert (spec.routing.assignment, spec.routing.algorithm, spec.routing.gap) == (
        "ue",
        "bfw",
        1e-4,
    )
    assert load_spec(write_spec(grid_scenario(), "none.yaml")).routing is None
    random = grid_scenario("ue")
    random["demand"] = {"type": "random", "vehicles_per_hour": 100}
    with pytest.raises(SpecError, match=r"field `routing`: .*use `demand.type: od`"):
        load_spec(write_spec(random, "random.yaml"))
    with pytest.raises(SpecError, match=r"(?s)scenario.yaml.*field `routing.algorithm`.*bfw"):
        load_spec(write_spec(grid_scenario({"assignment": "ue", "algorithm": "msa"})))
    with pytest.raises(SpecError, match=r"field `routing.gap`"):
        load_spec(write_spec(grid_scenario({"assignment": "ue", "gap": 0})))
    with pytest.raises(SpecError, match=r"field `routing.assignment`"):
        load_spec(write_spec(grid_scenario({"assignment": "so"})))


def test_ue_zone_edge_not_in_network(write_spec) -> None:
    spec = grid_scenario({"assignment": "ue"})
    spec["demand"]["zones"]["east"] = ["D1right1", "nowhere"]
    with pytest.raises(DemandError, match=r"demand.zones.east.*nowhere.*not in the network"):
        build_demand(load_spec(write_spec(spec)), load_network(GRID4))
