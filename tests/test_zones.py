"""Zones from GIS files: polygons (GeoPackage, GeoJSON) to road sets for OD demand."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import sumolib
from conftest import GRID3, OSM, small_scenario
from shapely.geometry import box

from mobility import Scenario
from mobility.config import OsmNetwork, load_spec
from mobility.demand.build import build_demand
from mobility.demand.zones import connected_car_roads, zone_edges
from mobility.errors import DemandError
from mobility.network.build import build_network
from mobility.network.net import load_network
from mobility.scenario import check_scenario

# On the 3x3 grid (junctions at x, y = 100, 300, 500; fringe nodes at 0 and 600) the roads
# whose midpoint has x < 80 are the six west fringe roads, x > 520 the six east ones (the
# north-south roads at x = 100 and 500 lie 1.6 m off their junctions: lane offset).
WEST = {"left0A0", "A0left0", "left1A1", "A1left1", "left2A2", "A2left2"}
EAST = {"right0C0", "C0right0", "right1C1", "C1right1", "right2C2", "C2right2"}


def write_zones(path: Path, names: list[str], shapes: list, crs: str | None = None) -> Path:
    """A zones file; without a CRS (net metres) geopandas warns, which is the point here."""
    frame = gpd.GeoDataFrame({"zone_name": names}, geometry=shapes, crs=crs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*crs.* was not provided")
        frame.to_file(path)
    return path


def od_spec(zones: Path, flows: list[tuple[str, str]], **overrides: object) -> dict:
    demand = {
        "type": "od",
        "zones": {"file": str(zones), "id": "zone_name"},
        "flows": [{"from": a, "to": b, "vehicles_per_hour": 600} for a, b in flows],
    }
    return small_scenario(demand=demand, **overrides)


def grid_zones(tmp_path: Path, *extra: tuple[str, object]) -> Path:
    names = ["west", "east", *(n for n, _ in extra)]
    shapes = [box(-1, -1, 80, 601), box(520, -1, 601, 601), *(s for _, s in extra)]
    return write_zones(tmp_path / "zones.gpkg", names, shapes)


def test_polygons_in_net_metres_become_road_sets_for_od(write_spec, tmp_path: Path) -> None:
    zones = grid_zones(tmp_path)
    spec = load_spec(write_spec(od_spec(zones, [("west", "east")])))
    found = zone_edges(spec.demand.zones, load_network(GRID3))
    assert {k: set(v) for k, v in found.items()} == {"west": WEST, "east": EAST}
    (routes,) = build_demand(spec, load_network(GRID3))
    vehicles = list(sumolib.xml.parse(str(routes), "vehicle"))
    assert len(vehicles) == pytest.approx(100, abs=3)  # 600 veh/h for 10 minutes
    for v in vehicles:
        edges = v.route[0].edges.split()
        assert edges[0] in WEST and edges[-1] in EAST


def test_wgs84_polygons_split_a_geo_referenced_net(write_spec, tmp_path: Path) -> None:
    net = load_network(build_network(OsmNetwork(type="osm", path=OSM)))
    # West Oakland split at a meridian into two zones that together cover the whole extract
    cut = -122.2995
    shapes = [box(-122.32, 37.80, cut, 37.82), box(cut, 37.80, -122.28, 37.82)]
    zones = write_zones(tmp_path / "zones.geojson", ["west", "east"], shapes, crs="EPSG:4326")
    spec = load_spec(write_spec(od_spec(zones, [("west", "east")], network=str(OSM))))
    found = zone_edges(spec.demand.zones, net)
    # every road a car can reach and leave the network by is in exactly one zone; dead ends
    # at the border of the extract are left out (no trip could end or start there)
    connected = connected_car_roads(net)
    car = [e for e in net.net.getEdges(withInternal=False) if e.getID() in connected]
    assert sorted(found["west"] + found["east"]) == sorted(connected)
    dead_end = [e for e in net.net.getEdges() if e.allows("passenger") and not e.getOutgoing()]
    assert dead_end and not {e.getID() for e in dead_end} & connected
    # each road sits on the side of the cut its midpoint lies on, by sumolib's own projection
    for edge in car:
        mid = sumolib.geomhelper.positionAtShapeOffset(edge.getShape(), edge.getLength() / 2)
        lon, _ = net.net.convertXY2LonLat(*mid[:2])
        side = "west" if lon < cut else "east"
        if abs(lon - cut) > 1e-5:  # shape length and lane length differ a little
            assert edge.getID() in found[side], (edge.getID(), lon)
    assert len(found["west"]) > 5 and len(found["east"]) > 5


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("empty", "zone 'middle' (field 'zone_name') catches no road of the network"),
        ("field", "no field 'zone_name' (field `demand.zones.id`); the file has: label"),
        ("twice", "zone name(s) 'west' used by more than one polygon"),
        ("crs", "carry a CRS (WGS 84) but the network grid3x3.net.xml is not geo-referenced"),
        ("flow", "zone 'north' is not in zones.gpkg (field 'zone_name' holds east, west)"),
    ],
)
def test_bad_zone_files_are_named_with_the_fix(write_spec, tmp_path, case, words) -> None:
    flows = [("west", "east")]
    if case == "empty":
        path = grid_zones(tmp_path, ("middle", box(150, 150, 250, 250)))
    elif case == "field":
        frame = gpd.GeoDataFrame({"label": ["w"]}, geometry=[box(-1, -1, 99, 601)])
        path = tmp_path / "zones.gpkg"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*crs.* was not provided")
            frame.to_file(path)
    elif case == "twice":
        path = grid_zones(tmp_path, ("west", box(501, 501, 601, 601)))
    elif case == "crs":
        path = write_zones(tmp_path / "zones.gpkg", ["west"], [box(0, 0, 1, 1)], "EPSG:4326")
    else:
        path, flows = grid_zones(tmp_path), [("west", "north")]
    spec = load_spec(write_spec(od_spec(path, flows)))
    with pytest.raises(DemandError) as err:
        check_scenario(spec)
    assert words in str(err.value)
    assert "zones" in str(err.value)


def test_rider_zones_from_a_file_serve_an_on_demand_fleet(write_spec, tmp_path: Path) -> None:
    zones = grid_zones(tmp_path)
    spec = small_scenario(
        shuttles=[
            {"service": "on_demand", "name": "pods", "fleet_size": 2, "depots": [{"edge": "A1B1"}]}
        ],
        riders={
            "zones": {"file": str(zones), "id": "zone_name"},
            "flows": [{"from": "west", "to": "east", "per_hour": 120}],
            "until": 480,
        },
    )
    result = Scenario.from_yaml(write_spec(spec)).run(tmp_path / "runs")
    requests = pd.read_parquet(result.run_dir / "requests.parquet")
    assert len(requests) > 0
    assert set(requests["origin"]) <= WEST and set(requests["destination"]) <= EAST
    bad = dict(
        spec, riders={**spec["riders"], "flows": [{"from": "west", "to": "north", "per_hour": 6}]}
    )
    with pytest.raises(DemandError, match=r"zone 'north' is not in zones\.gpkg"):
        check_scenario(load_spec(write_spec(bad, "bad.yaml")))
