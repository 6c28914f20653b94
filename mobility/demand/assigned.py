"""OD demand routed by user equilibrium (``routing: {assignment: ue}``).

od2trips still draws the vehicles (departure times per profile slice, seeded, as for
free-flow routing); their routes come from a static user equilibrium instead of duarouter:

1. the assignment network is the SUMO net's road graph (:attr:`~mobility.network.net.
   Network.graph`, :func:`~mobility.network.arrays.from_graph`) plus two nodes per zone: an
   origin node with one link per zone edge to that edge's head junction, and a destination
   node with one link from each zone edge's tail junction. Those links stand for the zone
   edge itself (its length, speed and lanes), so every path starts on an edge of its origin
   zone and ends on an edge of its destination zone, as SUMO needs. Their flows are not
   shared with the road link of the same edge: on zone edges where through traffic also
   runs, congestion there is under-counted (fringe entry and exit edges have none);
2. each profile slice's OD flows (veh/h) are assigned to equilibrium with
   :func:`mobility.core.routing.path_flows.path_equilibrium`, which keeps the path flows;
3. each OD pair's vehicles of that slice are given the paths in proportion to their flows
   (largest remainders, then shuffled with the scenario seed), one ``<route>`` per vehicle,
   so that every route reader of the project (signals, models, reports) sees plain routes.

The road graph knows junctions, not lane-to-lane connections: a path that needs a turn the
net forbids (real nets have some) is reported as a DemandError naming the turn.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from mobility.config import ODDemand, RoutingSpec, ScenarioSpec
from mobility.errors import DemandError
from mobility.network.net import Network


def assign_routes(
    demand: ODDemand,
    routing: RoutingSpec,
    spec: ScenarioSpec,
    network: Network,
    trips: Path,
    out: Path,
) -> Path:
    """Give the od2trips ``trips`` (with ``fromTaz``/``toTaz``) equilibrium routes."""
    from mobility.core.routing.path_flows import path_equilibrium
    from mobility.demand.profile import slices
    from mobility.network.arrays import from_graph, graph_link_ids

    zones = demand.zones or _taz_edges(demand.taz_file)
    names = sorted({z for f in demand.flows for z in (f.origin, f.destination)})
    graph = _zone_graph(network.graph, {z: zones[z] for z in names})
    origin_nodes = [("origin", z) for z in names]
    arrays = from_graph(
        graph,
        zones=[*origin_nodes, *(("destination", z) for z in names)],
        saturation_flow=routing.saturation_flow,
        alpha=routing.bpr_alpha,
        power=routing.bpr_power,
    )
    edge_of = [_sumo_edge(i) for i in graph_link_ids(graph)]
    labels = [*names, *names]
    windows = slices(spec.begin, spec.end, demand.profile)
    by_slice: dict[float, dict[tuple[str, str], tuple[list[list[str]], np.ndarray]]] = {}
    for _, _, weight in windows:
        if weight <= 0 or weight in by_slice:
            continue
        od = np.zeros((2 * len(names), 2 * len(names)))
        for f in demand.flows:
            if f.origin != f.destination:
                od[names.index(f.origin), len(names) + names.index(f.destination)] += (
                    f.vehicles_per_hour * weight
                )
        if not od.any():
            by_slice[weight] = {}
            continue
        result = path_equilibrium(
            arrays,
            od,
            algorithm=routing.algorithm,
            gap=routing.gap,
            max_iterations=routing.max_iterations,
            zone_labels=labels,
        )
        paths: dict[tuple[str, str], tuple[list[list[str]], list[float]]] = {}
        for o, d, links, flow in zip(
            result.origin, result.destination, result.links, result.flow, strict=True
        ):
            key = (names[o], names[d - len(names)])
            routes, flows = paths.setdefault(key, ([], []))
            routes.append([edge_of[i] for i in links])
            flows.append(float(flow))
        by_slice[weight] = {k: (r, np.asarray(f)) for k, (r, f) in paths.items()}
    _check_turns(network.net, by_slice)
    return _write_routes(trips, windows, by_slice, spec.seed, out / "routes.rou.xml")


def _zone_graph(graph: object, zones: dict[str, list[str]]) -> object:
    """The road graph plus an origin and a destination node per zone (see module doc)."""
    graph = graph.copy()  # type: ignore[attr-defined]
    edges = {key: (u, v, data) for u, v, key, data in graph.edges(keys=True, data=True)}
    for zone, zone_edges in zones.items():
        origin, destination = ("origin", zone), ("destination", zone)
        graph.add_node(origin)
        graph.add_node(destination)
        for edge in zone_edges:
            u, v, data = edges[edge]
            graph.add_edge(origin, v, key=f"{edge}\0from", **{**data, "id": f"{edge}\0from"})
            graph.add_edge(u, destination, key=f"{edge}\0to", **{**data, "id": f"{edge}\0to"})
    return graph


def _sumo_edge(link_id: str) -> str:
    """The SUMO edge a link stands for (zone links carry their edge id before a NUL)."""
    return link_id.split("\0", 1)[0]


def _taz_edges(taz_file: Path | None) -> dict[str, list[str]]:
    """Edges of every TAZ of a SUMO TAZ file (``edges`` attribute or ``tazSource`` children)."""
    zones: dict[str, list[str]] = {}
    for taz in ElementTree.parse(str(taz_file)).getroot().iter("taz"):
        edges = (taz.get("edges") or "").split()
        edges += [s.get("id", "") for s in taz.iter("tazSource")]
        edges += [s.get("id", "") for s in taz.iter("tazSink")]
        zones[taz.get("id", "")] = sorted(set(filter(None, edges)))
    return zones


def _check_turns(net: object, by_slice: dict) -> None:
    """Every consecutive edge pair of every route must be a connection of the net."""
    for paths in by_slice.values():
        for (origin, destination), (routes, _) in paths.items():
            for route in routes:
                for a, b in itertools.pairwise(route):
                    if net.getEdge(b) not in net.getEdge(a).getOutgoing():  # type: ignore[attr-defined]
                        msg = (
                            f"field `routing`: the equilibrium path from zone {origin} to zone "
                            f"{destination} turns from edge {a} to edge {b}, which the network "
                            "does not connect (the assignment graph ignores turn bans); use "
                            "`routing: free_flow` on this network"
                        )
                        raise DemandError(msg)


def _write_routes(
    trips: Path,
    windows: list[tuple[float, float, float]],
    by_slice: dict[float, dict[tuple[str, str], tuple[list[list[str]], np.ndarray]]],
    seed: int,
    path: Path,
) -> Path:
    """Turn od2trips' trips into vehicles with routes, paths shared out in proportion."""
    root = ElementTree.parse(str(trips)).getroot()
    groups: dict[tuple[int, str, str], list[ElementTree.Element]] = {}
    for trip in root.iter("trip"):
        depart = float(trip.get("depart", "0"))
        index = next((i for i, (_, e, _) in enumerate(windows) if depart < e), len(windows) - 1)
        groups.setdefault((index, trip.get("fromTaz", ""), trip.get("toTaz", "")), []).append(trip)
    rng = np.random.default_rng(seed)
    route_of: dict[int, list[str]] = {}
    for (index, origin, destination), members in sorted(groups.items()):
        paths = by_slice.get(windows[index][2], {}).get((origin, destination))
        if paths is None:
            continue  # intrazonal: od2trips's own edges, left to SUMO's router
        routes, flows = paths
        counts = _apportion(len(members), flows / flows.sum())
        choice = rng.permutation(np.repeat(np.arange(len(routes)), counts))
        for trip, k in zip(members, choice, strict=True):
            route_of[id(trip)] = routes[k]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<routes>"]
    for trip in root.iter("trip"):
        attrs = {k: v for k, v in trip.attrib.items() if k not in ("from", "to")}
        edges = route_of.get(id(trip))
        if edges is None:
            lines.append("    " + ElementTree.tostring(trip, encoding="unicode").strip())
            continue
        element = ElementTree.Element("vehicle", attrs)
        ElementTree.SubElement(element, "route", edges=" ".join(edges))
        lines.append("    " + ElementTree.tostring(element, encoding="unicode"))
    lines.append("</routes>\n")
    path.write_text("\n".join(lines))
    return path


def _apportion(total: int, shares: np.ndarray) -> np.ndarray:
    """Whole vehicles per path in proportion to ``shares`` (largest remainders)."""
    exact = total * shares
    counts = np.floor(exact).astype(int)
    rest = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
    return counts
