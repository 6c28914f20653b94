"""The phase controllers: max_pressure, greedy, sotl.

Each is plain numpy over a :class:`~mobility.signals.types.Observation`; none of them knows
SUMO. Settings come from ``signals.params`` in the spec, typed and checked by the
controller's model in :mod:`mobility.signals.registry` when the spec is loaded.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mobility.signals.registry import MaxPressureParams, NoParams, Params, SotlParams
from mobility.signals.types import Layout, Observation, masked_argmax


class _Base:
    """Settings arrive typed and checked (the controller's model in the registry) and
    become attributes."""

    Params: ClassVar[type[Params]] = NoParams

    def __init__(self, params: Params | None = None) -> None:
        for key, value in params if params is not None else self.Params():
            setattr(self, key, value)
        self.layout: Layout | None = None

    def reset(self, layout: Layout, *, min_green: float) -> None:
        self.layout = layout
        self.min_green = min_green


class MaxPressure(_Base):
    """Varaiya's max pressure: serve the phase whose movements carry the largest sum of
    (vehicles on the incoming lane minus vehicles on the outgoing lane).

    Outgoing counts are normalised by lane length against the incoming lane when
    ``normalise`` is 1 (density pressure), which keeps a short exit lane from looking
    permanently full.
    """

    Params = MaxPressureParams

    def decide(self, obs: Observation) -> np.ndarray:
        lay = self.layout
        rows = np.arange(len(lay.tls))[:, None]
        x_in = obs.in_vehicles[rows, lay.move_in]  # [T, M]
        x_out = obs.out_vehicles[rows, lay.move_out]  # [T, M]
        if self.normalise:
            x_in = x_in / lay.in_length[rows, lay.move_in]
        weight = np.where(lay.move_mask, x_in - x_out, 0.0)  # [T, M]
        pressure = np.einsum("tpm,tm->tp", lay.serves, weight)  # [T, P]
        return masked_argmax(pressure, lay.phase_mask, obs.phase)


class Greedy(_Base):
    """Longest queue first: the phase serving the most halting vehicles (each lane counted
    once per phase)."""

    def decide(self, obs: Observation) -> np.ndarray:
        lay = self.layout
        queue = np.einsum("tpi,ti->tp", self._served, np.nan_to_num(obs.in_halting))
        return masked_argmax(queue, lay.phase_mask, obs.phase)

    def reset(self, layout: Layout, *, min_green: float) -> None:
        super().reset(layout, min_green=min_green)
        self._served = layout.lane_served.astype(float)  # [T, P, I]


class Sotl(_Base):
    """Self-organising traffic lights (Gershenson 2005, "sotl-platoon").

    Every decision each intersection adds to a counter the vehicles waiting on its red
    lanes times the elapsed seconds. When the counter passes ``theta`` (vehicle-seconds)
    and the green has run its minimum, the light switches to the phase with the most
    halting vehicles, unless a small platoon (1 to ``mu`` vehicles) is still crossing on
    green. The counter restarts at every switch.
    """

    Params = SotlParams

    def reset(self, layout: Layout, *, min_green: float) -> None:
        super().reset(layout, min_green=min_green)
        self._served = layout.lane_served  # [T, P, I]
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
        green = self._served[rows, obs.phase]  # [T, I]
        vehicles = np.nan_to_num(obs.in_vehicles)
        halting = np.nan_to_num(obs.in_halting)
        on_red = np.where(green | ~lay.in_mask, 0.0, halting).sum(axis=1)
        self._kappa += on_red * dt
        crossing = np.where(green, vehicles - halting, 0.0).sum(axis=1)
        platoon = (crossing > 0) & (crossing <= self.mu)
        queue = np.einsum("tpi,ti->tp", self._served.astype(float), halting)
        queue[rows, obs.phase] = -np.inf  # switch means another phase
        best = np.where(lay.phase_mask, queue, -np.inf).argmax(axis=1)
        switch = (self._kappa >= self.theta) & (obs.phase_age >= self.min_green) & ~platoon
        switch &= lay.phase_mask.sum(axis=1) > 1
        self._last_phase = obs.phase.copy()
        return np.where(switch, best, obs.phase)
