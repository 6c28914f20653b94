"""User equilibrium with path flows: which paths each OD pair uses, and how many trips on each.

Link flows alone do not say which paths carry them (many path flows give one set of link
flows). Two ways out: decompose the equilibrium link flows into paths afterwards, or keep
the paths that built them. This module keeps them, which is exact and needs no heuristic:

Every Frank-Wolfe-type iterate is a convex combination of the all-or-nothing loads so far,
``x_k = sum_j w_j y_j`` (FW moves ``x`` towards ``y``; CFW and BFW towards a target that is
itself a convex combination of ``y`` and the previous targets, with non-negative weights).
Each ``y_j`` sends all of an OD pair's trips along one path of iteration ``j``'s
shortest-path trees. So tracking the weights ``w`` next to the flows gives path flows:
``flow(od, P) = trips(od) * sum of w_j over the iterations j whose tree path is P``, and
their sum on every link is exactly ``x_k`` (checked in the tests). The iterations are those
of :mod:`mobility.core.routing.equilibrium` (same targets, same exact line search); the loop
runs on the host around the jitted all-or-nothing load, because it has to read each
iteration's trees. That costs a little per iteration and suits the networks a SUMO scenario
routes on; :func:`~mobility.core.routing.equilibrium.user_equilibrium` stays the fast path when
only link flows are wanted.

Pure JAX and numpy, like the rest of :mod:`mobility.routing`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core.arrays import NetworkArrays
from mobility.core.routing.cost import generalized_cost, travel_time
from mobility.core.routing.equilibrium import (
    ALGORITHMS,
    Problem,
    line_search,
    problem,
    relative_gap,
    target_weights,
)
from mobility.core.routing.loading import all_or_nothing
from mobility.errors import DemandError


@dataclasses.dataclass(frozen=True)
class PathFlows:
    """Equilibrium path flows: path ``i`` carries ``flow[i]`` trips from zone ``origin[i]``
    to zone ``destination[i]`` along the links ``links[i]`` (indices into the network)."""

    origin: np.ndarray  # (P,) int: zone index where the path starts
    destination: np.ndarray  # (P,) int: zone index where it ends
    links: list[tuple[int, ...]]  # P link-index tuples, in travel order
    flow: np.ndarray  # (P,) float: trips on the path (units of the OD matrix)
    link_flow: np.ndarray  # (E,) float: equilibrium link flows (the sum of path flows)
    link_time: np.ndarray  # (E,) float: BPR travel time at those flows
    gap: float  # relative gap of the flows
    iterations: int  # all-or-nothing loads combined into the flows
    converged: bool  # gap <= the target gap
    algorithm: str


def path_equilibrium(
    arrays: NetworkArrays,
    demand: np.ndarray,
    *,
    algorithm: str = "bfw",
    gap: float = 1e-4,
    max_iterations: int = 500,
    toll_factor: float = 0.0,
    distance_factor: float = 0.0,
    zone_labels: list[str] | None = None,
    min_share: float = 1e-6,
) -> PathFlows:
    """Assign ``demand`` ``(Z, Z)`` to user equilibrium and return its path flows.

    Arguments as :func:`~mobility.core.routing.equilibrium.user_equilibrium`. Paths whose share
    of their OD pair's trips is below ``min_share`` are dropped (the others rescaled), so
    that early iterations' paths with vanishing weight do not become routes. An OD pair that
    no path joins is a :class:`~mobility.errors.DemandError` naming both zones
    (``zone_labels``, default 1..Z).
    """
    if algorithm not in ALGORITHMS:
        msg = f"unknown assignment algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}"
        raise ValueError(msg)
    p = problem(arrays, demand, toll_factor=toll_factor, distance_factor=distance_factor)
    names = zone_labels or [str(z + 1) for z in range(arrays.n_zones)]
    top = ALGORITHMS[algorithm]
    o_idx, d_idx = np.nonzero(p.trips)  # OD pairs with trips: (row in p.origins, zone)
    trips = p.trips[o_idx, d_idx]
    with jax.enable_x64(True):
        costs = jax.tree_util.tree_map(np.asarray, p.costs)
        n = costs.capacity.shape[0]
        x, s1, s2 = np.zeros(n), np.zeros(n), np.zeros(n)
        w_x, w_s1, w_s2 = (np.zeros(max_iterations + 1) for _ in range(3))
        step, level, rel_gap = 1.0, 0, np.inf
        chosen: list[np.ndarray] = []  # per iteration: path id of each OD pair
        path_ids: dict[tuple[int, tuple[int, ...]], int] = {}
        for k in range(max_iterations + 1):
            cost, y, pred, dist = (np.asarray(a) for a in _aon(p, x))
            if k == 0:
                _check_reachable(p, dist, o_idx, d_idx, names)
            else:
                rel_gap = float(relative_gap(cost, x, y))
                if rel_gap <= gap or k == max_iterations:
                    break
            chosen.append(_register(p, pred, o_idx, d_idx, path_ids))
            e_k = np.zeros(max_iterations + 1)
            e_k[k] = 1.0
            c_y, c_1, c_2 = _coefficients(costs, x, y, s1, s2, step, min(level, top))
            target, w_target = c_y * y + c_1 * s1 + c_2 * s2, c_y * e_k + c_1 * w_s1 + c_2 * w_s2
            if np.dot(cost, target - x) >= 0:  # not a descent direction: plain FW step
                target, w_target, level = y, e_k, 0
            move = target - x
            step = 1.0 if k == 0 else float(_line_search(p.costs, jnp.asarray(x), move))
            x, w_x = x + step * move, w_x + step * (w_target - w_x)
            s2, w_s2, s1, w_s1 = s1, w_s1, target, w_target
            level = 0 if step >= 1.0 - 1e-12 else min(level + 1, 2)
        time_ = np.asarray(travel_time(costs, x))
    return _path_flows(
        chosen, w_x, path_ids, o_idx, d_idx, trips, p, x, time_, rel_gap, gap, algorithm, min_share
    )


@jax.jit
def _aon(p: Problem, flow: jax.Array) -> tuple[jax.Array, ...]:
    """Generalized costs at ``flow``, the all-or-nothing load, and its trees."""
    cost = generalized_cost(p.costs, flow)
    aon, tree = all_or_nothing(p.graph, cost, p.origins, p.trips)
    return cost, aon, tree.pred, tree.dist


_line_search = jax.jit(line_search)


def _coefficients(
    costs: object,
    x: np.ndarray,
    y: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    tau: float,
    level: int,
) -> tuple[float, float, float]:
    """Weights of ``y``, ``s1``, ``s2`` in the next target: FW, conjugate or bi-conjugate."""
    if level == 0:
        return 1.0, 0.0, 0.0
    cfw, bfw = target_weights(costs, x, y, s1, s2, tau)
    return tuple(float(w) for w in (cfw if level == 1 else bfw))


def _check_reachable(
    p: Problem, dist: np.ndarray, o_idx: np.ndarray, d_idx: np.ndarray, names: list[str]
) -> None:
    """An OD pair with trips and no path is the user's to fix: name its zones."""
    graph = p.graph
    unreachable = np.isinf(dist[np.asarray(graph.dest_in)[d_idx], o_idx])
    if np.any(unreachable):
        i = int(np.flatnonzero(unreachable)[0])
        origin, destination = names[int(p.origins[o_idx[i]])], names[int(d_idx[i])]
        msg = (
            f"no path from zone {origin} to zone {destination} "
            f"({int(unreachable.sum())} OD pair(s) unreachable); connect the zones in the "
            "network or remove that flow"
        )
        raise DemandError(msg)


def _register(
    p: Problem,
    pred: np.ndarray,
    o_idx: np.ndarray,
    d_idx: np.ndarray,
    path_ids: dict[tuple[int, tuple[int, ...]], int],
) -> np.ndarray:
    """Path id of every OD pair's tree path (new paths get new ids)."""
    graph = p.graph
    link_tail = np.asarray(graph.link_tail)
    none = graph.n_links
    position = np.asarray(graph.dest_in)[d_idx]
    steps: list[np.ndarray] = []
    while True:  # walk all OD pairs back to their origins at once
        link = pred[position, o_idx]
        if np.all(link == none):
            break
        steps.append(link)
        position = np.where(link == none, position, link_tail[np.minimum(link, none)])
    links = np.stack(steps[::-1], axis=1) if steps else np.zeros((len(o_idx), 0), int)
    ids = np.empty(len(o_idx), dtype=np.int64)
    for i, row in enumerate(links):
        key = (i, tuple(int(e) for e in row if e != none))
        ids[i] = path_ids.setdefault(key, len(path_ids))
    return ids


def _path_flows(
    chosen: list[np.ndarray],
    weights: np.ndarray,
    path_ids: dict[tuple[int, tuple[int, ...]], int],
    o_idx: np.ndarray,
    d_idx: np.ndarray,
    trips: np.ndarray,
    p: Problem,
    x: np.ndarray,
    time_: np.ndarray,
    rel_gap: float,
    target_gap: float,
    algorithm: str,
    min_share: float,
) -> PathFlows:
    """Sum the iterations' weights onto their paths, per OD pair."""
    share = np.zeros(len(path_ids))
    for k, ids in enumerate(chosen):
        np.add.at(share, ids, weights[k])
    pairs = np.array([pair for pair, _ in path_ids], dtype=np.int64)
    links = [path for _, path in path_ids]
    keep = share >= min_share
    total = np.bincount(pairs[keep], weights=share[keep], minlength=len(o_idx))
    share = np.where(keep, share / total[pairs], 0.0)
    order = np.flatnonzero(keep)
    return PathFlows(
        origin=np.asarray(p.origins)[o_idx[pairs[order]]].astype(np.int64),
        destination=d_idx[pairs[order]].astype(np.int64),
        links=[links[i] for i in order],
        flow=trips[pairs[order]] * share[order],
        link_flow=x,
        link_time=time_,
        gap=rel_gap,
        iterations=len(chosen),
        converged=rel_gap <= target_gap,
        algorithm=algorithm,
    )
