"""The phase controllers: max_pressure, greedy, sotl.

Each is plain numpy over a :class:`~mobility.signals.types.Observation`; none of them knows
SUMO. Settings come from ``signals.params`` in the spec, typed and checked by the
controller's model in :mod:`mobility.signals.registry` when the spec is loaded.

All three follow the same rules, which keep a network from locking up and change nothing
while every exit has room and every lane a green serves moves under it:

- spill-back (``spillback``, ``exit_full``): a movement whose exit holds ``exit_full`` of
  the vehicles it can store standing counts as blocked. Its vehicles cannot leave, so
  serving it only wastes the green while the queue behind it grows back into the
  junctions upstream. A blocked movement adds nothing to a phase's score, and a phase
  that can only feed blocked exits is not chosen while another phase can discharge.
- stalls (``stall``): the controllers see lanes, not the turn each vehicle wants. A lane
  that stood still through a whole green of a phase (its first vehicle wants a turn that
  phase does not give) does not count for that phase until it moves, while another phase
  serving it is untried; otherwise its queue can hold a phase that cannot move it and
  starve the one that can.
- starvation (``patience``): a lane whose vehicles have waited longer than any fair cycle
  would make them wait gets the phases serving it in turn, least recently green first.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mobility.signals.registry import (
    GreedyParams,
    MaxPressureParams,
    Params,
    PhaseRuleParams,
    SotlParams,
)
from mobility.signals.types import Layout, Observation, masked_argmax


class _Base:
    """Settings arrive typed and checked (the controller's model in the registry) and
    become attributes. Holds the rules every phase controller here follows: which
    movements a phase may count (exits with room, lanes that move under it), and the
    starved-lane guard."""

    Params: ClassVar[type[Params]] = PhaseRuleParams
    spillback: bool
    exit_full: float
    stall: bool
    patience: float | None

    def __init__(self, params: Params | None = None) -> None:
        for key, value in params if params is not None else self.Params():
            setattr(self, key, value)
        self.layout: Layout | None = None

    def reset(self, layout: Layout, *, min_green: float) -> None:
        self.layout = layout
        self.min_green = min_green
        t, m = layout.move_in.shape
        # [T, M, I] one-hot: the incoming lane of each movement
        self._lane_of = np.zeros((t, m, layout.in_mask.shape[1]))
        rows, moves = np.nonzero(layout.move_mask)
        self._lane_of[rows, moves, layout.move_in[rows, moves]] = 1.0
        self._served = layout.lane_served  # [T, P, I]
        yields = layout.yields if layout.yields is not None else np.zeros(layout.serves.shape)
        # [T, P, I] phase p gives some movement from lane i a green on which it must yield
        self._yields = np.einsum("tpm,tmi->tpi", yields.astype(float), self._lane_of) > 0
        self._last_green = np.full(layout.phase_mask.shape, -np.inf)  # [T, P] s
        self._stalled = np.zeros(self._served.shape, bool)  # [T, P, I]
        self._before: tuple[float, np.ndarray, np.ndarray] | None = None  # time, phase, wait

    def blocked(self, obs: Observation) -> np.ndarray:
        """[T, M] bool: movements whose exit is full (none when ``spillback`` is off)."""
        if not self.spillback:
            return np.zeros(self.layout.move_mask.shape, bool)
        return self.layout.exit_fill(obs) >= self.exit_full

    def counted(self, obs: Observation) -> np.ndarray:
        """[T, P, M] bool: phase p serves movement m and m's lane has not stood still through
        a green of p since it last moved (the layout's ``serves`` while nothing stalls)."""
        self._note_stalls(obs)
        lay = self.layout
        index = np.broadcast_to(lay.move_in[:, None, :], lay.serves.shape)
        return (
            lay.serves
            & lay.move_mask[:, None, :]
            & ~np.take_along_axis(self._stalled, index, axis=2)
        )

    def _note_stalls(self, obs: Observation) -> None:
        """Mark the lanes of the current green that stood still through it: halted vehicles,
        none moving, and their summed waiting time not down since the last decision (the
        first vehicle would have moved, and its waiting left the sum, had this phase served
        the turn it wants). Only lanes whose turns all have priority in this green: on a
        permissive turn ("g") the first vehicle may be waiting for a gap, and a switch would
        leave it in the junction. A mark clears once the lane moves, and a lane marked under
        every phase that serves it starts over, so that it is never left without a phase."""
        lay = self.layout
        rows = np.arange(len(lay.tls))
        wait, halting = np.nan_to_num(obs.in_waiting), np.nan_to_num(obs.in_halting)
        moving = np.nan_to_num(obs.in_vehicles) - halting
        if self.stall and self._before is not None:
            time, phase, wait_before = self._before
            moved = (wait < wait_before) | (halting <= 0)  # [T, I]
            self._stalled &= ~moved[:, None, :]
            since = obs.time - time
            held = (obs.phase == phase) & (obs.phase_age >= max(since, self.min_green))
            held &= since > 0
            sure = self._served[rows, obs.phase] & ~self._yields[rows, obs.phase]
            stood = sure & held[:, None] & ~moved
            self._stalled[rows, obs.phase] |= stood & (halting >= 1) & (moving < 0.5)
            untried = (self._served & ~self._stalled).any(axis=1)  # [T, I]
            self._stalled &= untried[:, None, :]
        self._before = (obs.time, obs.phase.copy(), wait)

    def lanes(self, counted: np.ndarray, blocked: np.ndarray) -> np.ndarray:
        """[T, P, I] bool: phase p counts a movement from lane i whose exit has room (the
        layout's ``lane_served`` while nothing is blocked or stalls)."""
        open_moves = counted & ~blocked[:, None, :]
        return np.einsum("tpm,tmi->tpi", open_moves.astype(float), self._lane_of) > 0

    def drop_jammed(self, score: np.ndarray, blocked: np.ndarray, obs: Observation) -> np.ndarray:
        """``score`` with -inf for phases that serve a blocked movement and can discharge
        nobody, where another phase of the light can discharge someone."""
        lay = self.layout
        waiting = np.nan_to_num(obs.in_vehicles) > 0  # [T, I]
        open_lanes = self.lanes(lay.serves & lay.move_mask[:, None, :], blocked)
        can = np.einsum("tpi,ti->tp", open_lanes, waiting) > 0
        feeds_blocked = np.einsum("tpm,tm->tp", lay.serves, blocked) > 0
        some = (can & lay.phase_mask).any(axis=1, keepdims=True)
        return np.where(feeds_blocked & ~can & some, -np.inf, score)

    def serve_starved(
        self, choice: np.ndarray, blocked: np.ndarray, obs: Observation
    ) -> np.ndarray:
        """``choice``, except at lights with a starved lane: one whose vehicles have waited
        ``patience`` seconds on average (moving ones counting 0). There the phase green
        least recently among those serving such a lane into an exit with room, leaving out
        the current green once it has had its minimum: it evidently does not move them.
        """
        lay = self.layout
        rows = np.arange(len(lay.tls))
        self._last_green[rows, obs.phase] = obs.time
        if self.patience is None:
            return choice
        vehicles = np.nan_to_num(obs.in_vehicles)
        mean_wait = np.nan_to_num(obs.in_waiting) / np.maximum(vehicles, 1e-9)
        starved = lay.in_mask & (vehicles > 0) & (mean_wait >= self.patience)  # [T, I]
        open_lanes = self.lanes(lay.serves & lay.move_mask[:, None, :], blocked)
        serves = np.einsum("tpi,ti->tp", open_lanes, starved) > 0
        serves &= lay.phase_mask
        serves[rows, obs.phase] &= obs.phase_age < self.min_green
        last = np.where(serves, self._last_green, np.inf)
        return np.where(serves.any(axis=1), last.argmin(axis=1), choice)


class MaxPressure(_Base):
    """Varaiya's max pressure: serve the phase whose movements carry the largest sum of
    (vehicles on the incoming lane minus vehicles on the outgoing lane).

    Outgoing counts are normalised by lane length against the incoming lane when
    ``normalise`` is 1 (density pressure), which keeps a short exit lane from looking
    permanently full. With the spill-back rule a movement into a full exit adds no positive
    pressure: a short exit holds few vehicles, so the difference alone keeps pulling
    vehicles into it after it has filled.
    """

    Params = MaxPressureParams

    def decide(self, obs: Observation) -> np.ndarray:
        lay = self.layout
        rows = np.arange(len(lay.tls))[:, None]
        x_in = obs.in_vehicles[rows, lay.move_in]  # [T, M]
        x_out = obs.out_vehicles[rows, lay.move_out]  # [T, M]
        if self.normalise:
            x_in = x_in / lay.in_length[rows, lay.move_in]
        weight = x_in - x_out
        blocked = self.blocked(obs)
        weight = np.where(blocked, np.minimum(weight, 0.0), weight)
        weight = np.where(lay.move_mask, weight, 0.0)  # [T, M]
        pressure = np.einsum("tpm,tm->tp", self.counted(obs), weight)  # [T, P]
        pressure = self.drop_jammed(pressure, blocked, obs)
        choice = masked_argmax(pressure, lay.phase_mask, obs.phase)
        return self.serve_starved(choice, blocked, obs)


class Greedy(_Base):
    """Longest queue first: the phase serving the most halting vehicles (each lane counted
    once per phase; with the spill-back rule only lanes it serves into exits with room)."""

    Params = GreedyParams

    def decide(self, obs: Observation) -> np.ndarray:
        lay = self.layout
        blocked = self.blocked(obs)
        served = self.lanes(self.counted(obs), blocked).astype(float)  # [T, P, I]
        queue = np.einsum("tpi,ti->tp", served, np.nan_to_num(obs.in_halting))
        queue = self.drop_jammed(queue, blocked, obs)
        choice = masked_argmax(queue, lay.phase_mask, obs.phase)
        return self.serve_starved(choice, blocked, obs)


class Sotl(_Base):
    """Self-organising traffic lights (Gershenson 2005, "sotl-platoon").

    Every decision each intersection adds to a counter the vehicles waiting on its red
    lanes times the elapsed seconds. When the counter passes ``theta`` (vehicle-seconds)
    and the green has run its minimum, the light switches to the phase with the most
    halting vehicles, unless a small platoon (1 to ``mu`` vehicles) is still crossing on
    green. The counter restarts at every switch.

    With the spill-back rule halting vehicles count only on lanes a phase serves into exits
    with room (a lane the green cannot discharge counts as red), a phase that can only feed
    full exits is never switched to, and a green that can only feed full exits is ended
    (after its minimum) as soon as another phase can discharge, whatever the counter says.
    """

    Params = SotlParams

    def reset(self, layout: Layout, *, min_green: float) -> None:
        super().reset(layout, min_green=min_green)
        self._kappa = np.zeros(len(layout.tls))  # [T] vehicle-seconds on red
        self._last_time: float | None = None
        self._last_phase: np.ndarray | None = None

    def decide(self, obs: Observation) -> np.ndarray:
        lay = self.layout
        rows = np.arange(len(lay.tls))
        dt = 0.0 if self._last_time is None else obs.time - self._last_time
        self._last_time = obs.time
        if self._last_phase is not None:
            self._kappa[self._last_phase != obs.phase] = 0.0
        blocked = self.blocked(obs)
        served = self.lanes(self.counted(obs), blocked)  # [T, P, I]
        green = served[rows, obs.phase]  # [T, I] lanes the green can discharge
        vehicles = np.nan_to_num(obs.in_vehicles)
        halting = np.nan_to_num(obs.in_halting)
        on_red = np.where(green | ~lay.in_mask, 0.0, halting).sum(axis=1)
        self._kappa += on_red * dt
        crossing = np.where(green, vehicles - halting, 0.0).sum(axis=1)
        platoon = (crossing > 0) & (crossing <= self.mu)
        queue = np.einsum("tpi,ti->tp", served.astype(float), halting)
        queue = np.where(lay.phase_mask, self.drop_jammed(queue, blocked, obs), -np.inf)
        stuck = ~np.isfinite(queue[rows, obs.phase])  # the green feeds only full exits
        queue[rows, obs.phase] = -np.inf  # switch means another phase
        best = queue.argmax(axis=1)
        ready = obs.phase_age >= self.min_green
        switch = ((self._kappa >= self.theta) & ~platoon | stuck) & ready
        switch &= np.isfinite(queue[rows, best]) & (lay.phase_mask.sum(axis=1) > 1)
        self._last_phase = obs.phase.copy()
        return self.serve_starved(np.where(switch, best, obs.phase), blocked, obs)
