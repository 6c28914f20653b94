"""NetworkArrays: the pytree, padding, and building it from a SUMO-style networkx graph."""

from __future__ import annotations

import jax
import networkx as nx
import numpy as np
import pytest

from mobility.core.arrays import pad
from mobility.core.routing import shortest_paths
from mobility.errors import NetworkError
from mobility.network.arrays import (
    SATURATION_FLOW,
    NetworkArrays,
    from_graph,
    graph_link_ids,
    network_arrays,
)


def sumo_graph() -> nx.MultiDiGraph:
    """A tiny graph shaped like read_graph's: a two-way street, a one-way bypass, parallel edges."""
    graph = nx.MultiDiGraph(net_path="tiny.net.xml")
    for node, (x, y) in {"a": (0, 0), "b": (100, 0), "c": (200, 0), "d": (100, 80)}.items():
        graph.add_node(node, x=x, y=y, type="priority")

    def road(u: str, v: str, key: str, length: float, speed: float, lanes: int) -> None:
        graph.add_edge(u, v, key=key, id=key, length=length, speed=speed, lanes=lanes,
                       priority=1, type="", name="", shape=[])  # fmt: skip

    road("a", "b", "ab", 100.0, 10.0, 2)
    road("b", "a", "ba", 100.0, 10.0, 2)
    road("b", "c", "bc", 100.0, 10.0, 1)
    road("b", "c", "bc_slow", 100.0, 5.0, 1)  # a parallel, slower road
    road("a", "d", "ad", 130.0, 13.0, 1)
    road("d", "c", "dc", 130.0, 13.0, 1)
    return graph


def test_from_graph_takes_sumo_attributes_in_graph_order():
    graph = sumo_graph()
    arrays = from_graph(graph)
    assert graph_link_ids(graph) == ["ab", "ad", "ba", "bc", "bc_slow", "dc"]
    nodes = list(graph.nodes)
    assert [nodes[i] for i in arrays.tail] == ["a", "a", "b", "b", "b", "d"]
    assert [nodes[i] for i in arrays.head] == ["b", "d", "a", "c", "c", "c"]
    np.testing.assert_allclose(arrays.free_flow_time, [10, 10, 10, 10, 20, 10])
    np.testing.assert_allclose(arrays.capacity, np.array([2, 1, 2, 1, 1, 1]) * SATURATION_FLOW)
    np.testing.assert_allclose(arrays.length, [100, 130, 100, 100, 100, 130])
    assert arrays.n_zones == 4 and arrays.through.all() and arrays.link_mask.all()


def test_from_graph_zones_and_bad_edges():
    graph = sumo_graph()
    arrays = from_graph(graph, zones=["c", "a"], saturation_flow=1000.0)
    assert list(arrays.zone_node) == [2, 0]
    assert arrays.capacity[0] == 2000.0
    with pytest.raises(NetworkError, match=r"'x'.*not junctions"):
        from_graph(graph, zones=["x"])
    graph.edges["a", "b", "ab"]["speed"] = 0.0
    with pytest.raises(NetworkError, match=r"tiny\.net\.xml: edge 'ab' has speed 0\.0"):
        from_graph(graph)


def test_shortest_paths_on_a_sumo_graph_match_networkx():
    graph = sumo_graph()
    arrays = from_graph(graph)
    dist, pred = shortest_paths(arrays, arrays.free_flow_time, np.arange(arrays.n_nodes))
    for i, source in enumerate(graph.nodes):
        expected = nx.single_source_dijkstra_path_length(
            graph, source, weight=lambda u, v, d: min(e["length"] / e["speed"] for e in d.values())
        )
        for j, target in enumerate(graph.nodes):
            assert dist[i, j] == pytest.approx(expected.get(target, np.inf))
    ids = graph_link_ids(graph)
    assert ids[pred[0, 2]] == "bc"  # a -> c goes a-b-c (20 s) on the fast parallel road


def test_arrays_are_a_pytree_and_padding_is_inert():
    arrays = from_graph(sumo_graph())
    leaves = jax.tree_util.tree_leaves(arrays)
    assert len(leaves) == 13
    doubled = jax.jit(lambda a: a.capacity * 2)(arrays)
    np.testing.assert_allclose(doubled, arrays.capacity * 2)

    padded = pad(arrays, n_nodes=7, n_links=10, n_zones=5)
    assert isinstance(padded, NetworkArrays)
    assert (padded.n_nodes, padded.n_links, padded.n_zones) == (7, 10, 5)
    assert padded.link_mask.sum() == 6 and padded.node_mask.sum() == 4
    assert padded.zone_mask.sum() == 4 and (padded.capacity > 0).all()
    cost = np.append(arrays.free_flow_time, np.zeros(4))  # zero-cost padding links: ignored
    dist, _ = shortest_paths(padded, cost, np.arange(4))
    expected, _ = shortest_paths(arrays, arrays.free_flow_time, np.arange(4))
    np.testing.assert_allclose(dist[:, :4], expected)
    assert np.isinf(dist[:, 4:]).all()
    with pytest.raises(ValueError, match="shrink"):
        pad(padded, n_links=3)


def test_network_arrays_checks_its_own_consistency():
    with pytest.raises(ValueError, match="head"):
        network_arrays(tail=[0], head=[5], free_flow_time=[1], capacity=[1], n_nodes=2,
                       zone_node=[0])  # fmt: skip
    with pytest.raises(ValueError, match="capacity"):
        network_arrays(tail=[0], head=[1], free_flow_time=[1], capacity=[0], n_nodes=2,
                       zone_node=[0])  # fmt: skip
