"""Program controllers: SUMO programs written once, before the run.

``webster`` computes a fixed cycle from the scenario's demand with Webster's formula;
``actuated`` and ``delay_based`` hand the net's phases to SUMO's own adaptive controllers
(SUMO places their induction loops / lane-area detectors itself when the program loads).
Each becomes a ``<tlLogic>`` in an additional file that SUMO loads after the net, which
makes it the active program of that light.
"""

from __future__ import annotations

import gzip
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from mobility.signals.phases import PhasePlan, cycle_program, plan_from_program
from mobility.signals.routes import route_vehicles

CYCLE_MIN_S = 30.0
CYCLE_MAX_S = 180.0
MAX_FLOW_RATIO = 0.95  # above this the intersection is oversaturated: the longest cycle


@dataclass(frozen=True)
class NetSignals:
    """The traffic lights of a net file: programs and which edges each link joins."""

    programs: dict[str, list[tuple[str, float]]]  # tls -> [(state, duration s)]
    links: dict[str, dict[int, tuple[str, str, str]]]  # tls -> link -> (from, to, fromLane)


def read_net_signals(net: Path) -> NetSignals:
    """Stream the net's ``tlLogic`` and signalised ``connection`` elements."""
    programs: dict[str, list[tuple[str, float]]] = {}
    links: dict[str, dict[int, tuple[str, str, str]]] = defaultdict(dict)
    opener = gzip.open if str(net).endswith(".gz") else open
    with opener(net, "rb") as fh:
        current: list[tuple[str, float]] | None = None
        for event, el in ElementTree.iterparse(fh, events=("start", "end")):
            tag = el.tag
            if event == "start":
                if tag == "tlLogic" and el.get("id") not in programs:
                    current = programs.setdefault(el.get("id"), [])
                elif tag == "phase" and current is not None:
                    current.append((el.get("state"), float(el.get("duration"))))
                elif tag == "connection" and el.get("tl"):
                    link = (el.get("from"), el.get("to"), el.get("fromLane"))
                    links[el.get("tl")][int(el.get("linkIndex"))] = link
                continue
            if tag == "tlLogic":
                current = None
            if tag in ("edge", "tlLogic", "connection", "junction"):
                el.clear()
    return NetSignals(programs, dict(links))


def tlogic_xml(
    tls: str, program_id: str, kind: str, phases: list[tuple[str, float, str]], params: dict
) -> str:
    """One ``<tlLogic>``; ``phases`` are ``(state, duration, extra attributes)``."""
    lines = [f'    <tlLogic id={quoteattr(tls)} type="{kind}" programID="{program_id}" offset="0">']
    lines += [
        f"        <param key={quoteattr(k)} value={quoteattr(str(v))}/>" for k, v in params.items()
    ]
    lines += [f'        <phase duration="{d:g}" state="{s}"{extra}/>' for s, d, extra in phases]
    lines.append("    </tlLogic>")
    return "\n".join(lines)


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
    routes: list[Path], net: Path, *, begin: float, end: float
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
    if trips:
        import sumolib

        graph = sumolib.net.readNet(str(net))
        for (src, dst), n in trips.items():
            try:
                path, _ = graph.getShortestPath(graph.getEdge(src), graph.getEdge(dst))
            except KeyError:
                continue
            ids = [e.getID() for e in path or []]
            for pair in itertools.pairwise(ids):
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
