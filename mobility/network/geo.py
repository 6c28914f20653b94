"""Networks as GeoDataFrames, in the net's own CRS and in WGS84, and GeoPackage export.

SUMO stores coordinates shifted by ``netOffset`` from the projection named in the net's
``<location projParameter=...>``; we undo the shift so geometries are true projected
coordinates (e.g. UTM metres) that QGIS overlays correctly. Plain nets (generated grids)
have no projection: their frames carry no CRS and stay in net metres.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
from shapely.geometry import LineString, Point

from mobility.network.net import Network, load_network

WGS84 = "EPSG:4326"


def edges_frame(network: Network | Path | str) -> gpd.GeoDataFrame:
    """One row per road (internal edges excluded) with its attributes and geometry."""
    network = _network(network)
    net = network.net
    dx, dy = net.getLocationOffset()
    rows = [
        {
            "edge_id": e.getID(),
            "from_junction": e.getFromNode().getID(),
            "to_junction": e.getToNode().getID(),
            "name": e.getName(),
            "type": e.getType(),
            "length_m": e.getLength(),
            "speed_mps": e.getSpeed(),
            "lanes": e.getLaneNumber(),
            "priority": e.getPriority(),
            "geometry": LineString([(x - dx, y - dy) for x, y, *_ in e.getShape()]),
        }
        for e in net.getEdges(withInternal=False)
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=network.crs)


def junctions_frame(network: Network | Path | str) -> gpd.GeoDataFrame:
    """One row per junction with its SUMO type and whether it is signalised."""
    network = _network(network)
    net = network.net
    dx, dy = net.getLocationOffset()
    tls = {t.getID() for t in net.getTrafficLights()}
    rows = [
        {
            "junction_id": n.getID(),
            "type": n.getType(),
            "signalised": n.getID() in tls or n.getType().startswith("traffic_light"),
            "geometry": Point(n.getCoord()[0] - dx, n.getCoord()[1] - dy),
        }
        for n in net.getNodes()
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=network.crs)


def to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """The frame in longitude/latitude, or None when the net is not geo-referenced."""
    return None if frame.crs is None else frame.to_crs(WGS84)


def export_geopackage(net_path: Path | str, out: Path | str) -> list[str]:
    """Write a network's edges and junctions (and their WGS84 copies) as one GeoPackage."""
    return write_geopackage(
        {"edges": edges_frame(net_path), "junctions": junctions_frame(net_path)}, out
    )


def write_geopackage(layers: dict[str, gpd.GeoDataFrame], out: Path | str) -> list[str]:
    """Write ``layers``, each also as ``<name>_wgs84`` when geo-referenced; return the names.

    Written to a temporary file then renamed, so a failed export never leaves half a file.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    layers = dict(layers)
    for name in list(layers):
        wgs = to_wgs84(layers[name])
        if wgs is not None:
            layers[f"{name}_wgs84"] = wgs
    with warnings.catch_warnings():  # a plain (non geo-referenced) net has no CRS to write
        warnings.filterwarnings("ignore", message=".*crs.* was not provided")
        for name, frame in layers.items():
            frame.to_file(tmp, layer=name, driver="GPKG")
    tmp.replace(out)
    return list(layers)


def _network(network: Network | Path | str) -> Network:
    return network if isinstance(network, Network) else load_network(network)
