"""Network layer: building, caching, reading into networkx, GeoDataFrames, GeoPackage."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import pytest
from conftest import ARTERIAL, GRID3, OSM

from mobility.config import ArterialNetwork, GridNetwork, OsmNetwork
from mobility.errors import NetworkError
from mobility.network.build import build_network
from mobility.network.geo import edges_frame, export_geopackage, junctions_frame
from mobility.network.net import load_network


def test_grid_is_built_once_and_cached() -> None:
    spec = GridNetwork(type="grid", rows=2, cols=3, block_length=150, lanes=2)
    first = build_network(spec)
    mtime = first.stat().st_mtime_ns
    assert build_network(spec) == first
    assert first.stat().st_mtime_ns == mtime
    info = load_network(first).info()
    assert info["signals"] == 6  # every inner junction of a 2x3 grid
    assert info["lanes"] == 2 * info["edges"]


def test_arterial_has_signals_on_the_main_road_only() -> None:
    net = build_network(ArterialNetwork(type="arterial", intersections=3, lanes=3))
    graph = load_network(net).graph
    assert sorted(n for n, d in graph.nodes(data=True) if d["tls"]) == ["J0", "J1", "J2"]
    assert graph.edges["W", "J0", "WJ0"]["lanes"] == 3
    assert graph.edges["N0", "J0", "N0J0"]["lanes"] == 1


def test_graph_carries_sumo_attributes() -> None:
    graph = load_network(GRID3).graph
    assert isinstance(graph, nx.DiGraph)
    assert graph.number_of_nodes() == 21
    assert graph.number_of_edges() == 48
    edge = graph.edges["A0", "B0", "A0B0"]
    assert edge["id"] == "A0B0"
    assert edge["length"] == pytest.approx(200.0, abs=15)  # junction shapes shorten edges
    assert edge["speed"] == pytest.approx(13.89)
    assert edge["lanes"] == 1
    assert edge["tls"] == ("B0",)
    assert len(edge["shape"]) >= 2
    assert graph.graph["crs"] is None


def test_osm_import_builds_a_routable_geo_network() -> None:
    net = build_network(OsmNetwork(type="osm", path=OSM))
    graph = load_network(net).graph
    assert graph.graph["crs"].startswith("+proj=utm")
    assert graph.number_of_edges() > 20
    assert any(d["tls"] for _, d in graph.nodes(data=True)), "netconvert guessed no signal"
    # a planner's first question: can I drive across it? the largest strongly connected
    # part holds most of the junctions and every pair in it has a path
    core = max(nx.strongly_connected_components(graph), key=len)
    assert len(core) > 0.5 * graph.number_of_nodes()
    a, b = sorted(core)[0], sorted(core)[-1]
    assert nx.shortest_path_length(graph, a, b, weight="length") > 0


def test_geo_frames_are_in_net_crs_and_wgs84(tmp_path: Path) -> None:
    net = build_network(OsmNetwork(type="osm", path=OSM))
    edges = edges_frame(net)
    assert edges.crs.to_epsg() == 32610  # UTM zone 10N
    out = tmp_path / "oakland.gpkg"
    layers = export_geopackage(net, out)
    assert layers == ["edges", "junctions", "edges_wgs84", "junctions_wgs84"]
    wgs = gpd.read_file(out, layer="edges_wgs84")
    lon, lat = wgs.geometry.union_all().centroid.coords[0]
    assert -122.32 < lon < -122.28 and 37.80 < lat < 37.82  # West Oakland
    assert len(gpd.read_file(out, layer="junctions")) == len(junctions_frame(net))


def test_plain_net_exports_without_crs(tmp_path: Path) -> None:
    out = tmp_path / "arterial.gpkg"
    assert export_geopackage(ARTERIAL, out) == ["edges", "junctions"]
    assert gpd.read_file(out, layer="edges").crs is None


def test_garbage_network_file_is_a_network_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.net.xml"
    bad.write_text("<net><edge id='a' from='x'")
    with pytest.raises(NetworkError, match=r"bad\.net\.xml"):
        load_network(bad).info()


def test_netconvert_failure_is_a_network_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.osm"
    bad.write_text("this is not OpenStreetMap XML")
    with pytest.raises(NetworkError, match="netconvert"):
        build_network(OsmNetwork(type="osm", path=bad))
