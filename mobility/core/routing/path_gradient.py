"""Path-based gradient projection: user equilibrium to relative gaps of 1e-8 and below.

Frank-Wolfe methods slow down near the optimum (their directions are all-or-nothing loads);
path-based methods do not: each OD pair keeps the paths it uses and moves flow from its
dearer paths to its cheapest by a Newton step on the path-cost difference (Jayakrishnan et
al., Transportation Research Record 1443, 1994; the projection keeps path flows >= 0).
Origins are treated one after another and link flows updated after each shift (Gauss-
Seidel), which is what makes it converge to machine precision.

Written by hand in numpy (no library does it); the cheapest paths come from scipy's
Dijkstra on the same graph as the CPU backend (:mod:`~mobility.core.routing.dijkstra`).
Python loops run over OD pairs and path links, so it suits networks with up to some
thousands of OD pairs (Sioux Falls: 528, Anaheim: 1,406): it is the precision tool, the
BFW of :mod:`~mobility.core.routing.equilibrium` the fast one.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from mobility.core.routing.cost import LinkCosts, beckmann, cost_derivative, generalized_cost
from mobility.core.routing.dijkstra import HostGraph, _pair_costs, host_all_or_nothing, host_graph

if TYPE_CHECKING:
    from mobility.core.arrays import NetworkArrays


@dataclasses.dataclass(frozen=True)
class PathEquilibrium:
    """Link flows at (near) exact user equilibrium, and how far they converged."""

    flow: np.ndarray  # [L] flow of each real link (padding left out)
    objective: float  # Beckmann objective (generalized cost)
    gap: float  # relative gap of the returned flows
    gaps: np.ndarray  # (k,) relative gap after each sweep over the origins
    iterations: int  # sweeps over the origins
    converged: bool
    seconds: float
    paths: int  # paths with flow at the end


def gradient_projection(
    arrays: NetworkArrays,
    demand: np.ndarray,
    *,
    gap: float = 1e-8,
    max_iterations: int = 500,
    toll_factor: float = 0.0,
    distance_factor: float = 0.0,
) -> PathEquilibrium:
    """Assign the OD matrix ``demand`` ``(Z, Z)`` to user equilibrium by path-based gradient
    projection, until the relative gap is at most ``gap`` or ``max_iterations`` sweeps."""
    from mobility.core.routing.equilibrium import _costs_and_trips

    start = time.perf_counter()
    costs, origins, trips = _costs_and_trips(arrays, demand, toll_factor, distance_factor)
    g = host_graph(arrays)
    flow = np.zeros_like(costs.capacity)
    paths: list[dict[int, list]] = []  # per origin: zone -> [[links array, flow], ...]
    with np.errstate(divide="ignore", invalid="ignore"):
        for o, origin in enumerate(origins):  # initial: all-or-nothing at the current flows
            found = _cheapest_paths(g, generalized_cost(costs, flow), origin, trips[o])
            paths.append({z: [[links, trips[o, z]]] for z, links in found.items()})
            for z, links in found.items():
                flow[links] += trips[o, z]
        gaps = [_relative_gap(g, costs, flow, origins, trips)]
        while gaps[-1] > gap and len(gaps) <= max_iterations:
            for o, origin in enumerate(origins):
                _shift_origin(g, costs, flow, origin, trips[o], paths[o])
            gaps.append(_relative_gap(g, costs, flow, origins, trips))
    mask = np.asarray(arrays.link_mask)
    return PathEquilibrium(
        flow=flow[mask],
        objective=float(beckmann(costs, flow)),
        gap=gaps[-1],
        gaps=np.asarray(gaps),
        iterations=len(gaps) - 1,
        converged=gaps[-1] <= gap,
        seconds=time.perf_counter() - start,
        paths=sum(len(p) for od in paths for p in od.values()),
    )


def _relative_gap(
    g: HostGraph, costs: LinkCosts, flow: np.ndarray, origins: np.ndarray, trips: np.ndarray
) -> float:
    cost = generalized_cost(costs, flow)
    aon, _ = host_all_or_nothing(g, cost, origins, trips)
    total = float(cost @ flow)
    return (total - float(cost @ aon)) / total


def _cheapest_paths(
    g: HostGraph, cost: np.ndarray, origin: int, trips: np.ndarray
) -> dict[int, np.ndarray]:
    """The cheapest path (link indices) from zone ``origin`` to every zone it sends trips to."""
    weight, segment_of_pair = _pair_costs(g, g.members @ cost)
    r = g.n_routing_nodes
    graph = sp.csr_matrix((weight, g.indices, g.indptr), shape=(r, r))
    dist, pred = dijkstra(graph, indices=g.origin_node[origin], return_predecessors=True)
    found = {}
    for z in np.flatnonzero(trips > 0):
        node, segments = g.dest_node[z], []
        if not np.isfinite(dist[node]):
            msg = f"zone {z + 1} cannot be reached from zone {origin + 1}"
            raise ValueError(msg)  # the CPU backend's reachability check runs first
        while pred[node] >= 0:
            segments.append(np.searchsorted(g.pair_key, pred[node] * r + node))
            node = pred[node]
        found[int(z)] = g.members[segment_of_pair[segments]].indices.astype(np.int64)
    return found


def _shift_origin(
    g: HostGraph,
    costs: LinkCosts,
    flow: np.ndarray,
    origin: int,
    trips: np.ndarray,
    od_paths: dict[int, list],
) -> None:
    """One gradient-projection step for every OD pair of ``origin``, ``flow`` updated in place."""
    cost = generalized_cost(costs, flow)
    cheapest = _cheapest_paths(g, cost, origin, trips)
    for z, best in cheapest.items():
        used = od_paths[z]
        known = next((p for p in used if np.array_equal(p[0], best)), None)
        if known is None:
            known = [best, 0.0]
            used.append(known)
        for path in used:
            if path is known or path[1] <= 0:
                continue
            links, other = path[0], known[0]
            differ = np.setxor1d(links, other)
            excess = _path_cost(costs, flow, links) - _path_cost(costs, flow, other)
            if excess <= 0:
                continue
            slope = float(cost_derivative(_subset(costs, differ), flow[differ]).sum())
            move = path[1] if slope <= 0 else min(path[1], excess / slope)
            path[1] -= move
            known[1] += move
            flow[links] -= move
            flow[other] += move
        od_paths[z] = [p for p in used if p[1] > 0 or p is known]


def _path_cost(costs: LinkCosts, flow: np.ndarray, links: np.ndarray) -> float:
    """Generalized cost of a path (its links) at the current flows."""
    return float(generalized_cost(_subset(costs, links), flow[links]).sum())


def _subset(costs: LinkCosts, links: np.ndarray) -> LinkCosts:
    return LinkCosts(
        free_flow_time=costs.free_flow_time[links],
        capacity=costs.capacity[links],
        alpha=costs.alpha[links],
        power=costs.power[links],
        fixed=costs.fixed[links],
    )
