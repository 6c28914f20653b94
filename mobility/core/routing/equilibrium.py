"""Static user-equilibrium assignment: Frank-Wolfe, conjugate and bi-conjugate Frank-Wolfe.

Every iteration loads all trips on the current cheapest paths (all-or-nothing, ``y``),
picks a target point ``s`` in flow space and moves the flows ``x`` towards it by the exact
minimiser of the Beckmann objective on the segment (line search). FW takes ``s = y``; CFW
mixes ``y`` with the previous target so that the move is conjugate to the last one, BFW to
the last two (Mitradjieva and Lindberg, Transportation Science 47(2), 2013), which is what
makes them reach small gaps in far fewer iterations. Convergence is the relative gap
``(c(x)·x - c(x)·y) / c(x)·x`` with generalized costs ``c``.

The iterations run inside one compiled ``while_loop`` (a few per call when a progress
callback asks to be told), on CPU or GPU alike. Flows, costs, objective and gap are float64:
a relative gap of 1e-4 and the objective to 1e-6 need more than float32's 7 digits on sums
over thousands of links. The shortest-path trees may be float32 (see ``user_equilibrium``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core.arrays import NetworkArrays
from mobility.core.routing.cost import (
    LinkCosts,
    beckmann,
    cost_derivative,
    generalized_cost,
    travel_time,
)
from mobility.core.routing.directions import target_weights
from mobility.core.routing.graph import RoutingGraph, routing_graph
from mobility.core.routing.loading import all_or_nothing
from mobility.errors import DemandError

ALGORITHMS = {"fw": 0, "cfw": 1, "bfw": 2}  # the highest conjugacy level each may use
_LINE_SEARCH_TOL = 1e-12
_LINE_SEARCH_STEPS = 64


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Problem:
    """What an assignment needs on the device: the graph, the link costs and the demand."""

    graph: RoutingGraph
    costs: LinkCosts
    origins: jax.Array  # [O] int32: zones that send trips
    trips: jax.Array  # [O, Z] float: trips from each of those zones to every zone (no intrazonal)
    tree_dtype: str = dataclasses.field(default="float64", metadata={"static": True})


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class State:
    """The iterate ``x_k``, its all-or-nothing flows once evaluated, and the last directions."""

    flow: jax.Array  # [E] float: x_k (x_0 = 0)
    aon: jax.Array  # [E] float: y_k, all-or-nothing flows under the costs of x_k (if evaluated)
    evaluated: jax.Array  # [] bool: aon, gap, sweeps and lost belong to x_k
    target: jax.Array  # [E] float: s_{k-1}, the point the last step moved towards
    previous_target: jax.Array  # [E] float: s_{k-2}
    step: jax.Array  # [] float: the last step size, in [0, 1]
    level: jax.Array  # [] int32: next direction: 0 FW, 1 conjugate, 2 bi-conjugate
    iteration: jax.Array  # [] int32: k
    gap: jax.Array  # [] float: relative gap of x_k (inf for x_0)
    gaps: jax.Array  # [M + 1] float: relative gap of x_0..x_k at index 0..k (nan after)
    sweeps: jax.Array  # [] int32: Bellman-Ford sweeps of the last shortest-path trees
    lost: jax.Array  # [] float: trips that no path carries (unreachable destinations)
    lost_pair: jax.Array  # [] int32: one such OD pair, as origin * Z + zone


@dataclasses.dataclass(frozen=True)
class Equilibrium:
    """Result of an assignment: link flows and costs, and how far it converged."""

    flow: np.ndarray  # [L] flow of each real link (padding left out)
    time: np.ndarray  # [L] travel time at that flow
    cost: np.ndarray  # [L] generalized cost (time plus tolls and distance, weighted)
    voc: np.ndarray  # [L] volume over capacity
    objective: float  # Beckmann objective (generalized cost)
    tstt: float  # total system travel time: sum of flow x travel time
    gap: float  # relative gap of the returned flows
    iterations: int  # k: all-or-nothing loads that built the flows (one more checked the gap)
    converged: bool  # gap <= the target
    seconds: float  # wall time of the iterations, compilation included
    gaps: np.ndarray  # (k,) relative gap after each iteration
    algorithm: str
    intrazonal_trips: float  # trips within a zone: not assigned to any link


def problem(
    arrays: NetworkArrays,
    demand: np.ndarray,
    *,
    toll_factor: float = 0.0,
    distance_factor: float = 0.0,
    tree_dtype: str = "float64",
) -> Problem:
    """A :class:`Problem` (host-side): origins are the zones that send trips to other zones."""
    costs, origins, trips = _costs_and_trips(arrays, demand, toll_factor, distance_factor)
    return Problem(
        graph=routing_graph(arrays),
        costs=costs,
        origins=origins,
        trips=trips,
        tree_dtype=tree_dtype,
    )


def _costs_and_trips(
    arrays: NetworkArrays, demand: np.ndarray, toll_factor: float, distance_factor: float
) -> tuple[LinkCosts, np.ndarray, np.ndarray]:
    """Host-side link costs, origins ``(O,)`` and their trips ``(O, Z)``; bad demand refused."""
    trips = np.array(demand, dtype=np.float64)
    if trips.shape != (arrays.n_zones, arrays.n_zones):
        msg = (
            f"the OD matrix is {trips.shape} but the network has {arrays.n_zones} zones; "
            "give one row and one column per zone"
        )
        raise DemandError(msg)
    if not np.all(np.isfinite(trips)) or np.any(trips < 0):
        raise DemandError("the OD matrix holds negative or non-finite trips; fix the demand")
    np.fill_diagonal(trips, 0.0)
    trips[~np.asarray(arrays.zone_mask)] = 0.0
    trips[:, ~np.asarray(arrays.zone_mask)] = 0.0
    origins = np.flatnonzero(trips.sum(axis=1) > 0).astype(np.int32)
    if origins.size == 0:
        raise DemandError("the OD matrix has no trips between zones; there is nothing to assign")
    fixed = toll_factor * np.asarray(arrays.toll) + distance_factor * np.asarray(arrays.length)
    costs = LinkCosts(
        free_flow_time=np.asarray(arrays.free_flow_time, dtype=np.float64),
        capacity=np.asarray(arrays.capacity, dtype=np.float64),
        alpha=np.asarray(arrays.alpha, dtype=np.float64),
        power=np.asarray(arrays.power, dtype=np.float64),
        fixed=np.where(np.asarray(arrays.link_mask), fixed, 0.0),
    )
    return costs, origins, trips[origins]


def relative_gap(cost: jax.Array, flow: jax.Array, aon: jax.Array) -> jax.Array:
    """``(c·x - c·y) / c·x``: how much cheaper the current cheapest paths are, relatively."""
    total = jnp.dot(cost, flow)
    return (total - jnp.dot(cost, aon)) / total


def initial_state(p: Problem, max_iterations: int) -> State:
    """``x_0``: no flow anywhere (the first iteration loads everything on free-flow paths).

    Host arrays (numpy): building it dispatches no device work.
    """
    zero = np.zeros_like(p.costs.capacity)
    return State(
        flow=zero,
        aon=zero,
        evaluated=np.bool_(False),
        target=zero,
        previous_target=zero,
        step=np.float64(1.0),
        level=np.int32(0),
        iteration=np.int32(0),
        gap=np.float64(np.inf),
        gaps=np.full(max_iterations + 1, np.nan),
        sweeps=np.int32(0),
        lost=np.float64(0.0),
        lost_pair=np.int32(0),
    )


def _evaluate(p: Problem, s: State) -> State:
    """``s`` with the all-or-nothing flows and relative gap of its flows."""
    cost = generalized_cost(p.costs, s.flow)
    aon, tree = all_or_nothing(p.graph, cost.astype(p.tree_dtype), p.origins, p.trips)
    gap = jnp.where(s.iteration == 0, jnp.inf, relative_gap(cost, s.flow, aon))
    stranded = jnp.where(jnp.isinf(tree.dist[p.graph.dest_in]).T, p.trips, 0.0)  # (O, Z)
    return dataclasses.replace(
        s,
        aon=aon,
        evaluated=jnp.bool_(True),
        gap=gap,
        gaps=s.gaps.at[s.iteration].set(gap),
        sweeps=tree.sweeps,
        lost=stranded.sum(),
        lost_pair=jnp.argmax(stranded.ravel()).astype(jnp.int32),
    )


def line_search(costs: LinkCosts, flow: jax.Array, move: jax.Array) -> jax.Array:
    """The step in [0, 1] that minimises the Beckmann objective on ``flow + step * move``.

    The objective is convex along the segment, so its slope ``c(x + t d)·d`` is increasing:
    safeguarded Newton on the slope (bisection whenever Newton leaves the bracket).
    """

    def slope(t: jax.Array) -> jax.Array:
        return jnp.dot(generalized_cost(costs, flow + t * move), move)

    def curvature(t: jax.Array) -> jax.Array:
        return jnp.dot(cost_derivative(costs, flow + t * move), move * move)

    def narrow(state: tuple) -> tuple:
        lo, hi, t, count = state
        g = slope(t)
        lo, hi = jnp.where(g < 0, t, lo), jnp.where(g < 0, hi, t)
        newton = t - g / curvature(t)
        inside = (newton > lo) & (newton < hi)
        return lo, hi, jnp.where(inside, newton, 0.5 * (lo + hi)), count + 1

    def open_(state: tuple) -> jax.Array:
        lo, hi, _, count = state
        return (hi - lo > _LINE_SEARCH_TOL) & (count < _LINE_SEARCH_STEPS)

    zero, one = jnp.zeros((), flow.dtype), jnp.ones((), flow.dtype)
    lo, hi, t, _ = jax.lax.while_loop(open_, narrow, (zero, one, 0.5 * one, jnp.int32(0)))
    return jnp.where(slope(one) <= 0, one, jnp.clip(t, lo, hi))


def _targets(costs: LinkCosts, s: State) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Candidate targets: FW ``y``, conjugate and bi-conjugate."""
    y, s1, s2 = s.aon, s.target, s.previous_target
    cfw, bfw = target_weights(costs, s.flow, y, s1, s2, s.step)
    conjugate = cfw[0] * y + cfw[1] * s1
    biconjugate = bfw[0] * y + bfw[1] * s1 + bfw[2] * s2
    return y, conjugate, biconjugate


def _advance(p: Problem, s: State, top_level: int) -> State:
    """``x_{k+1}`` from an evaluated ``x_k``: a direction and the exact step along it."""
    cost = generalized_cost(p.costs, s.flow)
    level = jnp.minimum(s.level, top_level)
    fw, conjugate, biconjugate = _targets(p.costs, s)
    target = jnp.where(level == 2, biconjugate, jnp.where(level == 1, conjugate, fw))
    descent = jnp.dot(cost, target - s.flow) < 0  # else fall back to a plain FW step
    target = jnp.where(descent, target, fw)
    level = jnp.where(descent, level, 0)
    # x_0 = 0 must move all the way: all trips have to travel
    step = jnp.where(s.iteration == 0, 1.0, line_search(p.costs, s.flow, target - s.flow))
    restart = step >= 1.0 - 1e-12  # the old targets are gone: start the conjugate chain anew
    return dataclasses.replace(
        s,
        flow=s.flow + step * (target - s.flow),
        evaluated=jnp.bool_(False),
        target=target,
        previous_target=s.target,
        step=step,
        level=jnp.where(restart, 0, jnp.minimum(level + 1, 2)).astype(jnp.int32),
        iteration=s.iteration + 1,
    )


def iterate(
    p: Problem, state: State, target_gap: jax.Array, limit: jax.Array, top_level: int
) -> State:
    """Improve the flows until their gap is at most ``target_gap`` or iteration ``limit``.

    Ends on an evaluated state, so that a later call with a higher limit goes on without
    redoing any work (and the one all-or-nothing in the loop is compiled once).
    """

    def finished(s: State) -> jax.Array:
        return s.evaluated & ((s.gap <= target_gap) | (s.iteration >= limit))

    def body(s: State) -> State:
        s = jax.lax.cond(s.evaluated, lambda s: s, lambda s: _evaluate(p, s), s)
        return jax.lax.cond(finished(s), lambda s: s, lambda s: _advance(p, s, top_level), s)

    return jax.lax.while_loop(lambda s: ~finished(s), body, state)


_iterate = jax.jit(iterate, static_argnames="top_level")


def user_equilibrium(
    arrays: NetworkArrays,
    demand: np.ndarray,
    *,
    algorithm: str = "bfw",
    gap: float = 1e-4,
    max_iterations: int = 1000,
    toll_factor: float = 0.0,
    distance_factor: float = 0.0,
    zone_labels: np.ndarray | None = None,
    progress: Callable[[int, float], None] | None = None,
    progress_every: int = 10,
    tree_precision: str = "auto",
    backend: str = "auto",
    workers: int | None = None,
) -> Equilibrium:
    """Assign the OD matrix ``demand`` ``(Z, Z)`` to user equilibrium with BPR link costs.

    Stops at relative gap ``gap`` or after ``max_iterations``. ``zone_labels`` name zones in
    errors (default 1..Z).
    ``progress(iteration, gap)`` is called every ``progress_every`` iterations. Runs on JAX's
    default device; float64 is enabled for this call only.

    Flows, costs, the objective and the gap are float64. The shortest-path trees may be
    float32 (``tree_precision``; "auto": float32 for gaps of 1e-5 and above), which halves
    their cost: a float32 path cost is off by at most ~3e-6 relative (45 links x 6e-8), so a
    tree may miss the best path by that much and the gap read low by as much, 3% of 1e-4.

    ``backend``: "dijkstra" runs the iterations in numpy around scipy's Dijkstra (see
    :mod:`~mobility.core.routing.host_loop`), "bellman-ford" in one compiled JAX loop around
    the batched Bellman-Ford of :mod:`~mobility.core.routing.paths`; "auto" picks Dijkstra
    when JAX's default device is a CPU (its cost does not grow with the trees' hop depth)
    and Bellman-Ford on an accelerator (data-parallel). Both give the same iterates.
    ``workers``: processes the Dijkstra backend spreads its loads over (default: the cores
    this process may use, on networks big enough to pay for starting them; 1 on others).
    """
    if algorithm not in ALGORITHMS:
        msg = f"unknown assignment algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}"
        raise ValueError(msg)
    if tree_precision == "auto":
        tree_precision = "float32" if gap >= 1e-5 else "float64"
    if tree_precision not in ("float32", "float64"):
        raise ValueError(f"tree_precision must be auto, float32 or float64, not {tree_precision!r}")
    if backend == "auto":
        backend = "dijkstra" if _default_platform() == "cpu" else "bellman-ford"
    if backend == "dijkstra":
        return _host_equilibrium(
            arrays,
            demand,
            algorithm=algorithm,
            gap=gap,
            max_iterations=max_iterations,
            weights=(toll_factor, distance_factor),
            zone_labels=zone_labels,
            progress=progress,
            progress_every=progress_every,
            workers=workers,
        )
    if backend != "bellman-ford":
        raise ValueError(f"backend must be auto, dijkstra or bellman-ford, not {backend!r}")
    p = problem(
        arrays,
        demand,
        toll_factor=toll_factor,
        distance_factor=distance_factor,
        tree_dtype=tree_precision,
    )
    start = time.perf_counter()
    with jax.enable_x64(True):
        state = initial_state(p, max_iterations)
        chunk = progress_every if progress is not None else max_iterations
        limit = 1  # first x_1, to check that every trip can arrive
        while True:
            state = _iterate(p, state, gap, limit, top_level=ALGORITHMS[algorithm])
            if limit == 1:
                _check_reachable(state, p, zone_labels)
            if progress is not None:
                progress(int(state.iteration), float(state.gap))
            if float(state.gap) <= gap or int(state.iteration) >= max_iterations:
                break
            limit = min(max_iterations, int(state.iteration) + chunk)
        state = jax.device_get(state)
        seconds = time.perf_counter() - start
        return _result(p, state, arrays, algorithm, gap, seconds, demand)


def _default_platform() -> str:
    """The platform (cpu, gpu, ...) JAX runs on here, ``jax.default_device`` honoured."""
    device = jax.config.jax_default_device
    if device is None:
        return jax.devices()[0].platform
    return device if isinstance(device, str) else device.platform


def _host_equilibrium(
    arrays: NetworkArrays, demand: np.ndarray, *, algorithm: str, weights: tuple, **options
) -> Equilibrium:
    """:func:`user_equilibrium` on the CPU backend (numpy loop, scipy Dijkstra)."""
    from mobility.core.routing import dijkstra
    from mobility.core.routing.host_loop import frank_wolfe

    costs, origins, trips = _costs_and_trips(arrays, demand, *weights)
    labels = options.pop("zone_labels")
    workers = options.pop("workers")

    def check(path_cost: np.ndarray) -> None:
        stranded = np.where(np.isinf(path_cost), trips, 0.0)
        _refuse_lost(float(stranded.sum()), int(np.argmax(stranded)), origins, trips, labels)

    start = time.perf_counter()
    graph = dijkstra.host_graph(arrays)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        workers = workers if dijkstra.parallel_worth_it(graph, len(origins), workers) else 1
    level = ALGORITHMS[algorithm]
    if workers > 1:
        with dijkstra.ParallelLoader(graph, origins, trips, workers) as load:
            done = frank_wolfe(costs, load, top_level=level, check=check, **options)
    else:

        def load(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return dijkstra.host_all_or_nothing(graph, cost, origins, trips)

        done = frank_wolfe(costs, load, top_level=level, check=check, **options)
    seconds = time.perf_counter() - start
    p = Problem(graph=None, costs=costs, origins=origins, trips=trips)
    state = {"flow": done.flow, "gap": done.gap, "iteration": done.iterations}
    gaps = np.concatenate([[np.inf], done.gaps])
    state = dataclasses.replace(initial_state(p, 0), **state, gaps=gaps)
    return _result(p, state, arrays, algorithm, options["gap"], seconds, demand)


def _check_reachable(state: State, p: Problem, zone_labels: np.ndarray | None) -> None:
    """Trips that no path can carry are a user error: say which."""
    _refuse_lost(float(state.lost), int(state.lost_pair), p.origins, p.trips, zone_labels)


def _refuse_lost(
    lost: float, pair: int, origins: np.ndarray, trips: np.ndarray, labels: np.ndarray | None
) -> None:
    """A :class:`DemandError` naming one OD pair that no path connects, if ``lost`` > 0."""
    if lost <= 0:
        return
    o, z = divmod(pair, trips.shape[1])
    names = np.arange(1, trips.shape[1] + 1) if labels is None else np.asarray(labels)
    msg = (
        f"{lost:g} trips have no path, e.g. from zone {names[origins[o]]} to zone {names[z]}; "
        "connect the zones in the network or remove those trips"
    )
    raise DemandError(msg)


def _result(
    p: Problem,
    state: State,
    arrays: NetworkArrays,
    algorithm: str,
    target_gap: float,
    seconds: float,
    demand: np.ndarray,
) -> Equilibrium:
    """Host-side summary of the final state."""
    flow = np.asarray(state.flow)
    costs = jax.tree_util.tree_map(np.asarray, p.costs)
    time_ = np.asarray(travel_time(costs, flow))
    cost = time_ + costs.fixed
    mask = np.asarray(arrays.link_mask)
    k = int(state.iteration)
    return Equilibrium(
        flow=flow[mask],
        time=time_[mask],
        cost=cost[mask],
        voc=flow[mask] / costs.capacity[mask],
        objective=float(beckmann(costs, flow)),
        tstt=float(np.dot(flow, time_)),
        gap=float(state.gap),
        iterations=k,
        converged=bool(state.gap <= target_gap),
        seconds=seconds,
        gaps=np.asarray(state.gaps)[1 : k + 1],  # x_0 has no gap
        algorithm=algorithm,
        intrazonal_trips=float(np.trace(np.asarray(demand, dtype=np.float64))),
    )
