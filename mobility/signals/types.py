"""What a phase controller sees: the fixed layout of its intersections and, every decision
interval, a compact observation of them. Padded numpy arrays with masks, one row per
intersection, so controllers decide for all intersections at once with array operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

JAM_SPACING_M = 7.5  # m of lane a standing car takes (SUMO's default 5 m car plus 2.5 m gap)


@dataclass(frozen=True)
class Layout:
    """Fixed structure of the controlled intersections (``T`` of them), padded.

    A *movement* is one (incoming lane, outgoing lane) pair through an intersection.
    """

    tls: tuple[str, ...]  # [T] traffic light ids
    in_mask: np.ndarray  # [T, I] bool: incoming lane slot used
    out_mask: np.ndarray  # [T, O] bool: outgoing lane slot used
    move_in: np.ndarray  # [T, M] int: incoming lane slot of each movement
    move_out: np.ndarray  # [T, M] int: outgoing lane slot of each movement
    move_mask: np.ndarray  # [T, M] bool: movement slot used
    serves: np.ndarray  # [T, P, M] bool: green phase p gives movement m a green
    phase_mask: np.ndarray  # [T, P] bool: phase slot used
    in_length: np.ndarray  # [T, I] float: lane length, m (1 where padded)
    out_storage: np.ndarray  # [T, O] float: vehicles the out-lane's approach holds (1 padded)
    in_lanes: tuple[tuple[str, ...], ...] = ()  # [T][I used] incoming lane ids
    out_lanes: tuple[tuple[str, ...], ...] = ()  # [T][O used] outgoing lane ids
    yields: np.ndarray | None = None  # [T, P, M] bool: p's green for m is permissive ("g")

    @property
    def lane_served(self) -> np.ndarray:
        """[T, P, I] bool: green phase p serves some movement from incoming lane i."""
        t, p, _ = self.serves.shape
        out = np.zeros((t, p, self.in_mask.shape[1]), bool)
        for k in range(t):
            for m in np.flatnonzero(self.move_mask[k]):
                out[k, :, self.move_in[k, m]] |= self.serves[k, :, m]
        return out

    def exit_fill(self, obs: Observation) -> np.ndarray:
        """[T, M] how full each movement's exit is: vehicles on the out-lane's approach over
        the vehicles it holds standing (0 empty, about 1 jammed; 0 where padded)."""
        rows = np.arange(len(self.tls))[:, None]
        fill = (
            np.nan_to_num(obs.out_vehicles)[rows, self.move_out]
            / self.out_storage[rows, self.move_out]
        )
        return np.where(self.move_mask, fill, 0.0)


@dataclass(frozen=True)
class Observation:
    """The intersections at one decision time, gathered by the engine's subscriptions."""

    time: float  # s
    in_vehicles: np.ndarray  # [T, I] vehicles on each incoming lane
    in_halting: np.ndarray  # [T, I] vehicles below 0.1 m/s on each incoming lane
    in_waiting: np.ndarray  # [T, I] s, summed waiting time of the lane's vehicles
    out_vehicles: np.ndarray  # [T, O] vehicles on each outgoing lane
    phase: np.ndarray  # [T] int: current (or next, during a transition) green phase
    phase_age: np.ndarray  # [T] s since that green started (negative during a transition)


class PhaseController(Protocol):
    """Chooses the next green phase of every intersection it controls.

    The engine side (:class:`mobility.signals.driver.SignalDriver`) holds min and max green
    and inserts yellow and all-red; a controller only ranks phases.
    """

    def reset(self, layout: Layout, *, min_green: float) -> None:
        """Called once before the first decision."""

    def decide(self, obs: Observation) -> np.ndarray:
        """[T] int: the green phase wanted at each intersection."""
        ...


def masked_argmax(score: np.ndarray, mask: np.ndarray, current: np.ndarray) -> np.ndarray:
    """[T] best phase per row; ties keep the current phase (no needless switching)."""
    score = np.where(mask, score, -np.inf)
    best = score.max(axis=1)
    rows = np.arange(len(current))
    keep = score[rows, current] >= best
    return np.where(keep, current, score.argmax(axis=1))
