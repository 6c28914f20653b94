"""Edge travel times learned online from the run's own traffic, signal waits included.

The shuttle graph's free-flow times leave out red lights, give-way waits and queues, so a
dispatcher planning on them promises detours and waits the shuttles cannot keep. This
learner watches every edge (mean speed and vehicle count, read every few seconds through
an engine subscription) and keeps, per edge, Edie's space-mean speed of the moving
vehicles: distance driven over time spent driving on the edge, both sums exponentially
smoothed (half-life :data:`HALF_LIFE_S`). Vehicles standing (SUMO's halting: under
0.1 m/s) are left out: their waits at lights are what
:meth:`~mobility.shuttles.graph.NetGraph.signal_waits` adds per turn, and counting them
here too counted each red twice (a direct ride then read 13 % faster than planned on the
4x4 grid). Slow queues still lower the speed. A prior of :data:`PRIOR_WEIGHT`
vehicle-samples at the free-flow speed keeps edges nobody has driven at free flow and pulls
stale estimates back slowly. Speeds are capped at the shuttle's own top speed.

Hand-written: the smoothing is two array updates; no library keeps per-edge Edie speeds
for a running simulation (SUMO's rerouting device smooths plain mean speeds internally and
does not hand them out).
"""

from __future__ import annotations

import numpy as np

HALF_LIFE_S = 600.0  # s: an observation's weight halves over ten minutes
PRIOR_WEIGHT = 2.0  # vehicle-samples at free-flow speed every edge keeps
MIN_SPEED = 0.5  # m/s: the slowest mean speed a travel time is computed from


class EdgeTimes:
    """Per-edge smoothed space-mean speeds of the running simulation."""

    def __init__(self, length: np.ndarray, limit: np.ndarray, max_speed: float) -> None:
        self.length = np.asarray(length, float)  # [N] m
        self.max_speed = float(max_speed)
        self.free = np.minimum(np.asarray(limit, float), self.max_speed)  # [N] m/s
        self.weight = np.full(len(self.length), PRIOR_WEIGHT)  # [N] vehicle-samples
        self.distance = self.weight * self.free  # [N] vehicle-samples x m/s
        self.samples = 0

    def observe(self, count: np.ndarray, speed: np.ndarray, halting: np.ndarray, dt: float) -> None:
        """One sample of every edge: vehicles on it, their mean speed, how many stand."""
        decay = 0.5 ** (dt / HALF_LIFE_S)
        moving = np.nan_to_num(count - halting)
        seen = (moving > 0) & np.isfinite(speed)
        c = np.where(seen, moving, 0.0)
        # the standing ones add ~0 to the mean: the moving ones' mean is the rest's
        v = np.where(seen, speed * count / np.where(seen, moving, 1.0), 0.0)
        v = np.clip(v, 0.0, self.max_speed)
        refill = (1.0 - decay) * PRIOR_WEIGHT
        self.weight = decay * self.weight + c + refill
        self.distance = decay * self.distance + c * v + refill * self.free
        self.samples += 1

    def speeds(self) -> np.ndarray:
        """[N] m/s: the speeds whose ``length / speed`` are the learned edge times."""
        return np.maximum(self.distance / self.weight, MIN_SPEED)

    def edge_times(self) -> np.ndarray:
        """[N] s to drive each edge, waits included."""
        return self.length / self.speeds()
