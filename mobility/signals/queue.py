"""RESCO's queue measure: vehicles stopped within 200 m of each stop line, averaged over the
signals and the decision steps.

A :class:`QueueObserver` is attached to a running engine when a spec asks for it
(``outputs.resco_queue: true``; ``mobility signals compare`` always does). It finds once,
per signal, the lanes ending at its stop lines and the lanes feeding them through
unsignalised junctions within ``distance`` metres; every decision interval it counts the
halting vehicles (below 0.1 m/s) on them: a lane wholly within the distance by its halting
count, the one the distance cuts by the positions of its halting vehicles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mobility.kpis import Kpi
from mobility.sim.engine import Engine

QUEUE_DISTANCE_M = 200.0
KPI = "resco_queue"
KPIS: tuple[Kpi, ...] = (
    Kpi(
        KPI,
        "queue",
        "veh",
        "lower",
        f"vehicles stopped within {QUEUE_DISTANCE_M:g} m of a stop line, per signal and "
        "decision step (RESCO benchmark measure)",
    ),
)


def approach_lanes(
    engine: Engine, lanes: list[str], distance: float, controlled: set[tuple[str, str]]
) -> dict[str, float]:
    """``lanes`` (ending at one stop line) and the lanes feeding them through unsignalised
    junctions whose downstream end lies within ``distance`` m: ``{lane: m to its end}``."""
    found = dict.fromkeys(lanes, 0.0)
    frontier = list(found.items())
    while frontier:
        current, to_end = frontier.pop()
        to_start = to_end + engine.lane_info(current)[0]
        if to_start >= distance:
            continue
        for lane in engine.lanes_into(current):
            if (lane, current) in controlled or to_start >= found.get(lane, np.inf):
                continue
            found[lane] = to_start
            frontier.append((lane, to_start))
    return found


@dataclass
class QueueObserver:
    """Counts, every ``interval`` s, the stopped vehicles near each signal's stop lines."""

    tls: list[str]
    interval: float
    distance: float = QUEUE_DISTANCE_M
    samples: list[np.ndarray] = field(default_factory=list)  # [step][T] stopped vehicles

    def attach(self, engine: Engine, *, first: float) -> None:
        """Find the lanes of every signal and start counting at ``first`` (s)."""
        if not self.tls:
            return
        controlled = {
            pair
            for t in engine.traffic_lights()
            for group in engine.signal_links(t)
            for pair in group
        }
        self._whole: list[list[str]] = []  # [T] lanes wholly within the distance
        self._cut: list[list[tuple[str, float, float]]] = []  # [T] (lane, m to end, length)
        for tls in self.tls:
            ends = list(dict.fromkeys(a for group in engine.signal_links(tls) for a, _ in group))
            whole, cut = [], []
            for lane, to_end in approach_lanes(engine, ends, self.distance, controlled).items():
                length = engine.lane_info(lane)[0]
                if to_end + length <= self.distance:
                    whole.append(lane)
                else:
                    cut.append((lane, to_end, length))
            self._whole.append(whole)
            self._cut.append(cut)
        engine.every(self.interval, self._count, first=first)

    def _count(self, engine: Engine) -> None:
        counts = np.zeros(len(self.tls))
        for k, (whole, cut) in enumerate(zip(self._whole, self._cut, strict=True)):
            stopped = engine.lane_halting(whole).sum()
            positions = engine.halting_positions([lane for lane, _, _ in cut])
            for (_, to_end, length), pos in zip(cut, positions, strict=True):
                stopped += np.count_nonzero(to_end + length - pos <= self.distance)
            counts[k] = stopped
        self.samples.append(counts)

    def kpis(self) -> dict[str, float]:
        """``resco_queue``: mean stopped vehicles per signal and decision step (NaN if none)."""
        if not self.samples:
            return {KPI: float("nan")}
        return {KPI: float(np.mean(self.samples))}
