"""Batched shortest paths and all-or-nothing loading against scipy.sparse.csgraph."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from mobility.core.arrays import NetworkArrays, network_arrays
from mobility.core.routing import all_or_nothing, routing_graph, shortest_paths
from mobility.core.routing.equilibrium import problem
from mobility.routing import from_tntp

TNTP = Path(__file__).resolve().parent.parent / "networks" / "tntp"
NODES, IN_DEGREE = 12, 3  # random graphs share one shape, so one compilation serves all


@cache
def tntp(name: str):
    return from_tntp(TNTP / name)


def scipy_dist(arrays: NetworkArrays, cost: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Reference distances; parallel links collapsed to the cheapest (csr would add them)."""
    order = np.lexsort((cost, arrays.head, arrays.tail))
    tail, head, cost = arrays.tail[order], arrays.head[order], np.asarray(cost)[order]
    first = np.ones(len(tail), bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    n = arrays.n_nodes
    graph = sp.csr_matrix((cost[first], (tail[first], head[first])), shape=(n, n))
    return dijkstra(graph, indices=sources)  # explicit zeros are zero-cost links in csgraph


def check_trees(arrays, cost, origins, dist, pred) -> None:
    """Each predecessor link is tight and the links lead back to the origin without cycles."""
    for row, origin in enumerate(origins):
        for node in np.flatnonzero(np.isfinite(dist[row])):
            seen, current = 0, node
            while current != origin:
                link = pred[row, current]
                assert link >= 0, f"node {current} has no predecessor"
                assert arrays.head[link] == current
                tail = arrays.tail[link]
                assert dist[row, tail] + cost[link] == pytest.approx(dist[row, current], abs=1e-9)
                current, seen = tail, seen + 1
                assert seen <= arrays.n_nodes, "predecessor cycle"
        assert (pred[row, np.isinf(dist[row])] == -1).all()


random_graphs = st.tuples(
    st.lists(st.integers(0, NODES - 1), min_size=NODES * IN_DEGREE, max_size=NODES * IN_DEGREE),
    st.lists(
        st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0.0, 10.0)),
        min_size=NODES * IN_DEGREE,
        max_size=NODES * IN_DEGREE,
    ),
)


def regular_graph(tails: list[int], costs: list[float]) -> tuple[NetworkArrays, np.ndarray]:
    """Every node has IN_DEGREE in-links from random tails (self-loops, parallel links allowed)."""
    heads = np.repeat(np.arange(NODES), IN_DEGREE)
    arrays = network_arrays(
        tail=tails,
        head=heads,
        free_flow_time=costs,
        capacity=np.ones(len(heads)),
        n_nodes=NODES,
        zone_node=np.arange(NODES),
    )
    return arrays, np.asarray(costs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs)
def test_random_graphs_match_scipy(graph):
    arrays, cost = regular_graph(*graph)
    origins = np.arange(NODES)
    dist, pred = shortest_paths(arrays, cost, origins)
    np.testing.assert_allclose(dist, scipy_dist(arrays, cost, origins), rtol=1e-12, atol=1e-12)
    check_trees(arrays, cost, origins, dist, pred)  # ties (integer and zero costs) included


def test_zero_cost_cycles_still_give_trees():
    # 0 -> 1 costs 1; 1 <-> 2 <-> 3 <-> 1 cost nothing: every tie must still root at 0
    tail, head = [0, 1, 2, 2, 3, 3, 1], [1, 2, 1, 3, 2, 1, 3]
    cost = np.array([1.0, 0, 0, 0, 0, 0, 0])
    arrays = network_arrays(
        tail=tail, head=head, free_flow_time=cost, capacity=np.ones(7), n_nodes=4, zone_node=[0]
    )
    dist, pred = shortest_paths(arrays, cost, np.array([0]))
    np.testing.assert_array_equal(dist, [[0, 1, 1, 1]])
    check_trees(arrays, cost, [0], dist, pred)


@pytest.mark.parametrize("name", ["SiouxFalls", "Chicago-Sketch"])
def test_bundled_networks_match_scipy(name):
    net = tntp(name)
    a = net.arrays
    cost = a.free_flow_time + net.toll_factor * a.toll + net.distance_factor * a.length
    zones = np.asarray(a.zone_node)
    dist, pred = shortest_paths(a, cost, zones)
    np.testing.assert_allclose(dist, scipy_dist(a, cost, zones), rtol=1e-12)
    check_trees(a, cost, zones[:4], dist[:4], pred[:4])


def test_zones_below_first_thru_node_are_not_passed_through():
    net = tntp("Anaheim")  # zones 1-38 may start and end trips, not carry them
    a = net.arrays
    p = problem(a, net.demand)
    graph = p.graph
    with jax.enable_x64(True):
        flows, tree = jax.jit(all_or_nothing)(graph, a.free_flow_time, p.origins, p.trips)
        dist = np.asarray(tree.dist)[graph.dest_in].T  # (O, Z)
    for row, origin in enumerate(p.origins[:10]):
        out_of_other_zones = np.isin(a.tail, np.setdiff1d(np.arange(38), [origin]))
        cost = np.where(out_of_other_zones, np.inf, a.free_flow_time)
        keep = np.isfinite(cost)
        reference = scipy_dist(
            network_arrays(
                tail=a.tail[keep],
                head=a.head[keep],
                free_flow_time=cost[keep],
                capacity=a.capacity[keep],
                n_nodes=a.n_nodes,
                zone_node=a.zone_node,
            ),
            cost[keep],
            np.array([origin]),
        )[0, :38]
        others = np.arange(38) != origin  # trips within a zone are not assigned
        np.testing.assert_allclose(dist[row, others], reference[others], rtol=1e-12)
    # what leaves a zone's node is that zone's own trips: nothing passes through it
    sent = np.bincount(a.tail, weights=np.asarray(flows), minlength=a.n_nodes)[:38]
    expected = np.zeros(38)
    expected[p.origins] = p.trips.sum(axis=1)
    np.testing.assert_allclose(sent, expected, rtol=1e-12)


def reference_loading(arrays, cost, trips, origins):
    """Trips walked link by link along scipy's predecessor tree (unique paths: random costs)."""
    n = arrays.n_nodes
    best = {}
    for link, (t, h) in enumerate(zip(arrays.tail, arrays.head, strict=True)):
        if (t, h) not in best or cost[link] < cost[best[t, h]]:
            best[t, h] = link
    pairs = np.array(list(best.values()))
    graph = sp.csr_matrix((cost[pairs], (arrays.tail[pairs], arrays.head[pairs])), shape=(n, n))
    _, pred = dijkstra(graph, indices=origins, return_predecessors=True)
    flows = np.zeros(arrays.n_links)
    for row, origin in enumerate(origins):
        for zone, volume in enumerate(trips[row]):
            node = arrays.zone_node[zone]
            while volume and node != origin:
                parent = pred[row, node]
                flows[best[parent, node]] += volume
                node = parent
    return flows


@settings(max_examples=25, deadline=None)
@given(random_graphs, st.integers(0, 2**31))
def test_all_or_nothing_matches_walking_the_paths(graph, seed):
    tails, costs = graph
    rng = np.random.default_rng(seed)
    cost = rng.uniform(1.0, 2.0, len(costs))  # continuous costs: unique shortest paths
    arrays, _ = regular_graph(tails, costs)
    trips = rng.integers(0, 5, (NODES, NODES)).astype(float)
    dist = scipy_dist(arrays, cost, np.arange(NODES))
    trips[np.isinf(dist)] = 0.0  # only trips that can arrive
    p = problem(arrays, trips)
    with jax.enable_x64(True):
        flows, _ = _aon(p.graph, jnp.asarray(cost), p.origins, p.trips)
    expected = reference_loading(arrays, cost, p.trips, p.origins)
    np.testing.assert_allclose(np.asarray(flows), expected, rtol=1e-12, atol=1e-9)


_aon = jax.jit(all_or_nothing)


def test_all_or_nothing_on_chicago_sketch_costs_what_its_paths_cost():
    net = tntp("Chicago-Sketch")
    a = net.arrays
    p = problem(a, net.demand, toll_factor=0.02, distance_factor=0.04)
    cost = a.free_flow_time + p.costs.fixed
    with jax.enable_x64(True):
        flows, tree = _aon(p.graph, jnp.asarray(cost), p.origins, p.trips)
        dist = np.asarray(tree.dist)[p.graph.dest_in].T
    assert float(np.dot(np.asarray(flows), cost)) == pytest.approx(np.sum(dist * p.trips))
    # every trip leaves its origin's zone on one of its connectors
    sent = np.bincount(a.tail, weights=np.asarray(flows), minlength=a.n_nodes)[: a.n_zones]
    np.testing.assert_allclose(sent[p.origins], p.trips.sum(axis=1), rtol=1e-12)


def test_routing_graph_slots_cover_every_link_once():
    graph = routing_graph(tntp("Anaheim").arrays)
    links = np.concatenate([np.asarray(links) for links in graph.in_link])
    assert sorted(links) == list(range(914))
    counts = [len(links) for links in graph.in_link]
    assert counts == sorted(counts, reverse=True)  # slot k is a prefix of the rows
    assert graph.n_routing_nodes == 416 + 38  # one source copy per zone that is not passed
