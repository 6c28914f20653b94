"""The CPU backend of user equilibrium: the (bi)conjugate Frank-Wolfe loop in numpy.

Same iterations as the compiled loop of :mod:`~mobility.core.routing.equilibrium` (same
targets, same line search, same restarts, same gap), with the all-or-nothing loads from
scipy's Dijkstra (:mod:`~mobility.core.routing.dijkstra`). Why a plain Python loop rather
than a JAX loop calling Dijkstra through a host callback: per iteration the loop does a few
vector operations over links (milliseconds) against a Dijkstra from every origin (tens of
milliseconds to a second), so compiling the loop would save nothing per iteration and cost
1-2 s of XLA compilation in the first call of every process, more than AequilibraE's whole
run on the small networks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from mobility.core.routing.cost import LinkCosts, cost_derivative, generalized_cost
from mobility.core.routing.directions import target_weights

_LINE_SEARCH_TOL = 1e-12
_LINE_SEARCH_STEPS = 64


@dataclasses.dataclass(frozen=True)
class HostResult:
    """Where the loop stopped."""

    flow: np.ndarray  # [E] float: x_k
    gap: float  # relative gap of x_k
    gaps: np.ndarray  # (k,) relative gaps of x_1..x_k
    iterations: int  # k


def line_search(costs: LinkCosts, flow: np.ndarray, move: np.ndarray) -> float:
    """The step in [0, 1] minimising the Beckmann objective on ``flow + step * move``: the
    safeguarded Newton of :func:`~mobility.core.routing.equilibrium.line_search`, in numpy."""

    def slope(t: float) -> float:
        return float(np.dot(generalized_cost(costs, flow + t * move), move))

    if slope(1.0) <= 0:
        return 1.0
    lo, hi, t = 0.0, 1.0, 0.5
    for _ in range(_LINE_SEARCH_STEPS):
        if hi - lo <= _LINE_SEARCH_TOL:
            break
        g = slope(t)
        lo, hi = (t, hi) if g < 0 else (lo, t)
        curvature = float(np.dot(cost_derivative(costs, flow + t * move), move * move))
        newton = t - g / curvature if curvature > 0 else lo
        t = newton if lo < newton < hi else 0.5 * (lo + hi)
    return min(max(t, lo), hi)


def frank_wolfe(
    costs: LinkCosts,
    load: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    gap: float,
    max_iterations: int,
    top_level: int,
    check: Callable[[np.ndarray], None],
    progress: Callable[[int, float], None] | None,
    progress_every: int,
) -> HostResult:
    """Improve the flows until their relative gap is at most ``gap`` or ``max_iterations``.

    ``load(cost)``: link flows and path costs ``(O, Z)`` of an all-or-nothing load (see
    :func:`~mobility.core.routing.dijkstra.host_all_or_nothing`).
    ``top_level``: 0 FW, 1 CFW, 2 BFW. ``check(path_costs)`` sees the free-flow path costs
    ``(O, Z)`` once, to refuse unreachable trips.
    """
    zero = np.zeros_like(costs.capacity)
    flow, s1, s2 = zero, zero, zero
    step, level, k, gaps = 1.0, 0, 0, []
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** negative: masked, as in JAX
        while True:
            cost = generalized_cost(costs, flow)
            y, path_cost = load(cost)
            if k == 0:
                check(path_cost)
                flow, s1, k = y, y, 1  # x_0 = 0 must move all the way: all trips travel
                continue
            total = float(np.dot(cost, flow))
            gaps.append((total - float(np.dot(cost, y))) / total)
            done = gaps[-1] <= gap or k >= max_iterations
            if progress is not None and (done or (k - 1) % progress_every == 0):
                progress(k, gaps[-1])  # at 1, 1 + every, ...: as the compiled loop reports
            if done:
                break
            (c0, c1, _), (b0, b1, b2) = target_weights(costs, flow, y, s1, s2, step)
            level = min(level, top_level)
            target = {0: y, 1: c0 * y + c1 * s1, 2: b0 * y + b1 * s1 + b2 * s2}[level]
            if np.dot(cost, target - flow) >= 0:  # not a descent direction: plain FW
                target, level = y, 0
            step = line_search(costs, flow, target - flow)
            flow, s1, s2 = flow + step * (target - flow), target, s1
            level = 0 if step >= 1.0 - 1e-12 else min(level + 1, 2)
            k += 1
    return HostResult(flow=flow, gap=gaps[-1], gaps=np.asarray(gaps), iterations=k)
