"""Program controllers: SUMO programs written once, before the run.

``webster`` computes a fixed cycle from the scenario's demand with Webster's formula;
``actuated`` and ``delay_based`` hand the net's phases to SUMO's own adaptive controllers
(SUMO places their induction loops / lane-area detectors itself when the program loads).
Each becomes a ``<tlLogic>`` in an additional file that SUMO loads after the net, which
makes it the active program of that light.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from pathlib import Path
from xml.sax.saxutils import quoteattr

from mobility.demand.routes import route_vehicles
from mobility.network.net import NetSignals, Network
from mobility.signals.phases import PhasePlan, cycle_program, plan_from_program
from mobility.sim.parts import RunContext

CYCLE_MIN_S = 30.0
CYCLE_MAX_S = 180.0
MAX_FLOW_RATIO = 0.95  # above this the intersection is oversaturated: the longest cycle


def tlogic_xml(
    tls: str, program_id: str, kind: str, phases: list[tuple[str, float, str]], params: dict
) -> str:
    """One ``<tlLogic>``; ``phases`` are ``(state, duration, extra attributes)``."""
    lines = [f'    <tlLogic id={quoteattr(tls)} type="{kind}" programID="{program_id}" offset="0">']
    lines += [
        f"        <param key={quoteattr(k)} value={quoteattr(_param_text(v))}/>"
        for k, v in params.items()
    ]
    lines += [f'        <phase duration="{d:g}" state="{s}"{extra}/>' for s, d, extra in phases]
    lines.append("    </tlLogic>")
    return "\n".join(lines)


def _param_text(value: object) -> str:
    """A ``<param>`` value as SUMO reads it (booleans lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def adaptive_program(
    plan: PhasePlan, kind: str, *, min_green: float, max_green: float, params: dict
) -> str:
    """The net's green phases as a SUMO ``actuated`` or ``delay_based`` program."""
    base = [max(min_green, min(max_green, d)) for d in plan.green_durations]
    phases = []
    for state, dur in cycle_program(plan, base):
        extra = f' minDur="{min_green:g}" maxDur="{max_green:g}"' if state in plan.greens else ""
        phases.append((state, dur, extra))
    return tlogic_xml(plan.tls, "mobility", kind, phases, params)


# -- Webster ----------------------------------------------------------------------------


def webster_cycle(flow_ratios: list[float], lost_time: float) -> float:
    """Webster's optimal cycle C0 = (1.5 L + 5) / (1 - Y), s.

    ``flow_ratios`` are the critical flow ratios y (flow / saturation flow) of the phases,
    ``lost_time`` L the lost seconds per cycle. Bounded to [30, 180] s; an oversaturated
    intersection (Y >= 0.95) gets the longest cycle.
    """
    total = sum(flow_ratios)
    if total >= MAX_FLOW_RATIO:
        return CYCLE_MAX_S
    return min(CYCLE_MAX_S, max(CYCLE_MIN_S, (1.5 * lost_time + 5.0) / (1.0 - total)))


def webster_greens(
    flow_ratios: list[float], lost_time: float, *, min_green: float
) -> tuple[float, list[float]]:
    """Cycle and green times: the effective green C - L split in proportion to y."""
    cycle = webster_cycle(flow_ratios, lost_time)
    total = sum(flow_ratios)
    usable = max(cycle - lost_time, min_green * len(flow_ratios))
    if total <= 0:
        return cycle, [usable / len(flow_ratios)] * len(flow_ratios)
    return cycle, [max(min_green, usable * y / total) for y in flow_ratios]


def webster_program(
    plan: PhasePlan,
    links: dict[int, tuple[str, str, str]],
    movement_flow: dict[tuple[str, str], float],
    *,
    saturation_flow: float,
    min_green: float,
) -> tuple[str, float]:
    """A static Webster program for one light, and its cycle length."""
    cycle, greens = webster_plan(
        plan, links, movement_flow, saturation_flow=saturation_flow, min_green=min_green
    )
    phases = [(s, d, "") for s, d in cycle_program(plan, greens)]
    return tlogic_xml(plan.tls, "webster", "static", phases, {}), cycle


def webster_plan(
    plan: PhasePlan,
    links: dict[int, tuple[str, str, str]],
    movement_flow: dict[tuple[str, str], float],
    *,
    saturation_flow: float,
    min_green: float,
) -> tuple[float, list[float]]:
    """Webster's cycle and green times for one light: each phase's critical flow ratio is
    the busiest approach it serves, its flow spread over the lanes serving it."""
    ratios = []
    for state in plan.greens:
        # flow of each served movement spread over the lanes of its approach that serve it
        served: dict[tuple[str, str], set[str]] = defaultdict(set)
        for link, (src, dst, lane) in links.items():
            if link < len(state) and state[link] in "Gg":
                served[(src, dst)].add(lane)
        by_edge: dict[str, float] = defaultdict(float)
        lanes_of: dict[str, set[str]] = defaultdict(set)
        for (src, dst), lane_set in served.items():
            by_edge[src] += movement_flow.get((src, dst), 0.0)
            lanes_of[src] |= lane_set
        y = max(
            (flow / (saturation_flow * max(len(lanes_of[e]), 1)) for e, flow in by_edge.items()),
            default=0.0,
        )
        ratios.append(y)
    lost = sum(plan.yellow) + sum(plan.all_red) if len(plan.greens) > 1 else 0.0
    return webster_greens(ratios, lost, min_green=min_green)


def movement_flows(
    routes: list[Path], network: Network, *, begin: float, end: float
) -> dict[tuple[str, str], float]:
    """Vehicles per hour on each (edge, next edge) pair, from the route files.

    Vehicles with a route count its consecutive edges; trips (``from``/``to``) are routed
    on the net's shortest path (sumolib), as SUMO would route them without traffic.
    """
    counts: Counter[tuple[str, str]] = Counter()
    trips: Counter[tuple[str, str]] = Counter()
    for el, edges, n in route_vehicles(routes, begin=begin, end=end):
        if edges:
            for pair in itertools.pairwise(edges):
                counts[pair] += n
        elif el.get("from") and el.get("to"):
            trips[(el.get("from"), el.get("to"))] += n
    for (src, dst), n in trips.items():
        for pair in itertools.pairwise(network.shortest_path(src, dst)):
            counts[pair] += n
    hours = (end - begin) / 3600.0
    return {pair: n / hours for pair, n in counts.items()}


def plans_from_net(
    signals: NetSignals, tls: list[str], *, yellow: float | None, all_red: float | None
) -> dict[str, PhasePlan]:
    """The green phases and transition times of each light in ``tls``."""
    return {
        t: plan_from_program(t, signals.programs[t], yellow=yellow, all_red=all_red) for t in tls
    }


# -- the program controllers of the registry: (run context, plans) -> <tlLogic> xml ---------


def webster_programs(ctx: RunContext, plans: list[PhasePlan]) -> list[str]:
    """Webster's fixed-time program of every light, from the scenario's flows as a city
    knows them (its demand on the calibration seed, never this run's own vehicles)."""
    from mobility.demand.build import calibration_demand

    sig = ctx.spec.signals
    known = calibration_demand(ctx.spec, ctx.network)
    flows = movement_flows(known, ctx.network, begin=ctx.spec.begin, end=ctx.spec.end)
    links = ctx.network.signals.links
    return [
        webster_program(
            plan,
            links.get(plan.tls, {}),
            flows,
            saturation_flow=sig.saturation_flow,
            min_green=sig.min_green,
        )[0]
        for plan in plans
    ]


def actuated_programs(ctx: RunContext, plans: list[PhasePlan]) -> list[str]:
    """The net's phases as SUMO ``actuated`` programs (SUMO places the detectors)."""
    return _adaptive(ctx, plans, "actuated")


def delay_based_programs(ctx: RunContext, plans: list[PhasePlan]) -> list[str]:
    """The net's phases as SUMO ``delay_based`` programs (SUMO places the detectors)."""
    return _adaptive(ctx, plans, "delay_based")


def _adaptive(ctx: RunContext, plans: list[PhasePlan], kind: str) -> list[str]:
    sig = ctx.spec.signals
    params = sig.params.model_dump(by_alias=True, exclude_none=True)
    return [
        adaptive_program(
            plan, kind, min_green=sig.min_green, max_green=sig.max_green, params=params
        )
        for plan in plans
    ]
