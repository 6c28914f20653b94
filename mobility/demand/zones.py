"""Zones from GIS files: polygons of a GeoJSON or GeoPackage turned into sets of roads.

A planner's zones come as polygons (traffic analysis zones, districts), not as lists of
SUMO edge ids. A road belongs to a zone when the midpoint of its geometry lies inside the
polygon (a spatial join in geopandas, in the net's own projected metres), so a road on a
zone border belongs to exactly one side. SUMO's ``edgesInDistricts.py`` does the same from
SUMO polygon files; here the input is any file geopandas reads, with its CRS.

Only roads a passenger car may drive on, and can reach and leave the rest of the network
by, become zone members (od2trips starts and ends trips there; see
:func:`connected_car_roads`). A zone that catches no such road is an error naming the zone
and the fix.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from mobility.config import ODDemand
from mobility.demand.zones_file import ZonesFile
from mobility.errors import DemandError
from mobility.network.net import Network


def zone_edges(
    zones: ZonesFile, network: Network, where: str = "demand.zones"
) -> dict[str, list[str]]:
    """Zone id -> the ids of the roads whose midpoint lies in that zone's polygon; errors
    name the spec field ``where``."""
    stat = zones.file.stat()
    found = _zone_edges(
        zones.file, stat.st_mtime_ns, stat.st_size, zones.id, zones.layer, network.path, where
    )
    return dict(found)


def with_zone_edges(demand: ODDemand, network: Network) -> ODDemand:
    """``demand`` with a zones file replaced by the edge sets it stands for (unchanged when
    zones are inline or a TAZ file); its flows must name zones of the file."""
    if not isinstance(demand.zones, ZonesFile):
        return demand
    zones = zone_edges(demand.zones, network)
    for flow in demand.flows:
        for zone in (flow.origin, flow.destination):
            if zone not in zones:
                msg = (
                    f"field `demand.flows`: zone {zone!r} is not in {demand.zones.file.name} "
                    f"(field {demand.zones.id!r} holds {_listed(zones)}); use one of those names"
                )
                raise DemandError(msg)
    return demand.model_copy(update={"zones": zones})


@functools.lru_cache(maxsize=16)
def _zone_edges(
    path: Path,
    _mtime: int,
    _size: int,
    field: str,
    layer: str | None,
    net_path: Path,
    where: str,
) -> tuple[tuple[str, list[str]], ...]:
    """Cached by file identity (path, mtime, size) and net: the join is the slow part."""
    import geopandas as gpd

    from mobility.network.geo import edges_frame
    from mobility.network.net import load_network

    network = load_network(net_path)
    polygons = _read(path, field, layer, where)
    polygons = _in_net_crs(polygons, network, path)
    roads = edges_frame(network)
    car = connected_car_roads(network)
    roads = roads[roads["edge_id"].isin(car)]
    mids = gpd.GeoDataFrame(
        {"edge_id": roads["edge_id"]},
        geometry=roads.geometry.interpolate(0.5, normalized=True),
        crs=roads.crs,
    )
    joined = gpd.sjoin(mids, polygons[[field, "geometry"]], predicate="within", how="inner")
    found = joined.groupby(field)["edge_id"].apply(lambda s: sorted(s))
    out = []
    for zone in polygons[field]:
        edges = found.get(zone, [])
        if not edges:
            msg = (
                f"{path}: zone {zone!r} (field {field!r}) catches no road of the network "
                f"{network.path.name} a car may use (a road counts when its midpoint lies in "
                "the zone and it connects both ways to the rest of the network); enlarge the "
                "polygon, remove the zone, or check the file's CRS "
                f"({polygons.crs or 'none: net metres'}) matches where the network lies"
            )
            raise DemandError(msg)
        out.append((str(zone), list(edges)))
    return tuple(out)


def connected_car_roads(network: Network) -> set[str]:
    """The roads a car can both reach from and leave to the rest of the network: the
    largest strongly connected set of the road-to-road graph (SUMO connections). Dead ends
    and one-way stubs at the border are left out, so every trip between zones has a route."""
    import networkx as nx

    graph = nx.DiGraph()
    for edge in network.net.getEdges(withInternal=False):
        if not edge.allows("passenger"):
            continue
        graph.add_node(edge.getID())
        for nxt in edge.getOutgoing():
            if nxt.allows("passenger") and nxt.getFunction() != "internal":
                graph.add_edge(edge.getID(), nxt.getID())
    parts = list(nx.strongly_connected_components(graph))
    return max(parts, key=len) if parts else set()


def _read(path: Path, field: str, layer: str | None, where: str) -> Any:
    """The polygons of the file with their id field checked: present, filled, unique."""
    import geopandas as gpd

    try:
        frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        msg = f"{path}: not a GIS file geopandas can read ({exc}); fix `{where}.file`"
        raise DemandError(msg) from None
    if field not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != "geometry") or "none"
        msg = (
            f"{path}: no field {field!r} (field `{where}.id`); the file has: {fields}; "
            "name the one holding the zone names"
        )
        raise DemandError(msg)
    frame = frame[frame.geometry.notna() & frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        msg = f"{path}: no polygons in the file (field `{where}.file`); zones are areas"
        raise DemandError(msg)
    names = frame[field]
    if names.isna().any() or names.astype(str).str.strip().eq("").any():
        msg = f"{path}: some zones have no {field!r} (field `{where}.id`); name every zone"
        raise DemandError(msg)
    frame = frame.assign(**{field: names.astype(str)})
    twice = sorted(set(frame[field][frame[field].duplicated()]))
    if twice:
        msg = (
            f"{path}: zone name(s) {', '.join(map(repr, twice))} used by more than one polygon "
            f"(field {field!r}); give each zone one name, or merge the polygons"
        )
        raise DemandError(msg)
    return frame


def _in_net_crs(frame: Any, network: Network, path: Path) -> Any:
    """Polygons in the net's projected metres: reprojected when both carry a CRS, as they
    are when the file has none (then they are in net metres already)."""
    if frame.crs is None:
        return frame
    if network.crs is None:
        msg = (
            f"{path}: the zones carry a CRS ({frame.crs.name}) but the network "
            f"{network.path.name} is not geo-referenced; give the zones in the net's own "
            "metres without a CRS, or use a geo-referenced network (built from OSM)"
        )
        raise DemandError(msg)
    return frame.to_crs(network.crs)


def _listed(zones: dict[str, list[str]], most: int = 12) -> str:
    names = sorted(zones)
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def with_rider_zones(spec: Any, network: Network) -> Any:
    """``spec`` with a riders' zones file replaced by the roads it stands for. Roads serve
    on-demand fleets (riders of a line board at its stops, which a file cannot name)."""
    from mobility.shuttles.spec import LineService

    riders = spec.riders
    if riders is None or not isinstance(riders.zones, ZonesFile):
        return spec
    zones = zone_edges(riders.zones, network, "riders.zones")
    fleets = {f.name: f for f in spec.shuttles}
    default = riders.fleet or spec.shuttles[0].name
    for i, flow in enumerate(riders.flows):
        if isinstance(fleets.get(flow.fleet or default), LineService):
            msg = (
                f"field `riders.flows.{i}`: zones from {riders.zones.file.name} hold roads, "
                f"which serve on-demand fleets; riders of line {flow.fleet or default!r} board "
                "at its stops: list them inline (riders.zones: {name: [stop ids]})"
            )
            raise DemandError(msg)
        for zone in (flow.origin, flow.destination):
            if zone not in zones:
                msg = (
                    f"field `riders.flows.{i}`: zone {zone!r} is not in "
                    f"{riders.zones.file.name} (field {riders.zones.id!r} holds "
                    f"{_listed(zones)}); use one of those names"
                )
                raise DemandError(msg)
    return spec.model_copy(update={"riders": riders.model_copy(update={"zones": zones})})
