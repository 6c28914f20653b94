"""The ``model_predictive`` phase controller: batched rollouts of the JAX model.

At every decision the engine's observation (vehicles and halting vehicles per incoming
lane) initialises the model: halting vehicles become movement queues (split over the
lane's movements by the routes' turning ratios), moving ones are put half-way along their
edge. Phase sequences (one phase per intersection per decision over the horizon) roll out
in one ``vmap`` call, with the yellow/all-red of each switch shown as red: max pressure's
choice held (the base policy), the base with one intersection switched to each of its
other phases (a one-step policy improvement over max pressure, as in rollout algorithms),
and ``candidates`` random sequences. Each intersection takes the first phase of the
candidate with the least queueing on its own approaches (plus, weighted by ``downstream``,
that on the approaches it feeds, so that spill-back it causes counts). The driver still
enforces min and max green. Decision time is measured every decision (``decision_s``);
shapes are fixed, so one compilation serves the whole run and the time per decision is
bounded by the candidate count and horizon. A candidate whose first green can only feed
full exits, while another green of the light can discharge someone, is never chosen (max
pressure's spill-back rule, as a guard over the model). ``search: cross_entropy`` replaces
the candidates by the cross-entropy search over the whole horizon of
:mod:`mobility.core.receding_horizon` (measured in ``bench/RESULTS.md``: on grid4x4 horizons
of 30-60 s lose to the 10 s one, so it is not the default).

The model's turning bays matter most here (:func:`mobility.core.signal_model.bay_overflow`):
a red movement queued past its own lanes stands in the way of the other movements of its
edge and stops them, as in SUMO (``bays`` 1; 0 leaves them out). Without them a
light whose short approach holds a queue for a red turn (ingolstadt1: a 9 m approach whose
right lane only its third phase serves) sees its other movements discharge at saturation
flow while in SUMO they wait behind the turn; it keeps the phase that looks busiest and
leaves the turn, and the road behind it, waiting: 173.6 s mean RESCO delay there over
seeds 42-51, 14.9 s with the bays.

The model's first-in-first-out shared lanes, which make it rank fixed-time plans as SUMO
does, are left out of the rollouts (``lane_fifo`` 0): here the queues come from the
observed lanes, already sorted by SUMO's drivers into the lanes of their turns, and the
model would spread each movement over its lanes again and block through traffic behind
turns that in SUMO wait in their own lane. Measured over seeds 42-51 (RESCO delay, s):
cologne3 20.7 without against 23.3 with, cologne1 20.0 against 20.1, ingolstadt1 14.8
against 14.9.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core.receding_horizon import (
    cross_entropy_plan,
    green_times,
    rollout_costs,
    shift,
)
from mobility.core.signal_model import State
from mobility.signals.controllers import MaxPressure
from mobility.signals.model_build import ModelArrays
from mobility.signals.registry import ModelPredictiveParams
from mobility.signals.types import Layout, Observation


class ModelPredictive:
    """Phase controller over a model built for the scenario (see the module docstring)."""

    def __init__(
        self, arrays: ModelArrays | None, params: ModelPredictiveParams | None = None
    ) -> None:
        # settings typed and bounded by the registry's model (candidates, horizon, seed, ...)
        params = params or ModelPredictiveParams()
        self.search = params.search
        self.settings = {k: float(v) for k, v in params if k != "search"}
        self.arrays = arrays
        self.decision_s: list[float] = []
        self.decision_interval = 10.0

    def reset(self, layout: Layout, *, min_green: float) -> None:
        if self.arrays is None:
            raise ValueError("model_predictive needs the scenario's model (built by the setup)")
        a = self.arrays
        self.layout = layout
        self.min_green = min_green
        self.rng = np.random.default_rng(int(self.settings["seed"]))
        self.net, _, self.demand = a.jax()
        none = np.zeros(0, np.int32)
        if not self.settings["lane_fifo"]:
            self.net = dataclasses.replace(
                self.net,
                pair_move=none,
                pair_lane=none,
                pair_share=none.astype(np.float32),
                lane_sat=none.astype(np.float32),
            )
        if not self.settings["bays"]:
            self.net = dataclasses.replace(self.net, move_bay=none.astype(np.float32))
        self.pressure = MaxPressure()
        self.pressure.reset(layout, min_green=min_green)
        mindex = {mv: i for i, mv in enumerate(a.movements)}
        model_tls = {t: i for i, t in enumerate(a.tls)}
        self.rows = np.array([model_tls[t] for t in layout.tls])  # layout row -> model light
        n_m = len(a.movements)
        split = a.net["split"]
        # per layout lane slot: (model movements, weights) for its halting vehicles
        t_n, i_n = layout.in_mask.shape
        self.lane_moves = np.zeros((t_n, i_n, n_m), np.float32)
        self.lane_edge = np.full((t_n, i_n), -1)
        edge_index = {e: i for i, e in enumerate(a.edges)}
        for k in range(t_n):
            for m in np.flatnonzero(layout.move_mask[k]):
                i, o = layout.move_in[k, m], layout.move_out[k, m]
                src = a.lane_edge.get(layout.in_lanes[k][i], "")
                dst = a.lane_edge.get(layout.out_lanes[k][o], "")
                self.lane_edge[k, i] = edge_index.get(src, -1)
                row = mindex.get((src, dst))
                if row is not None:
                    self.lane_moves[k, i, row] = max(split[row], 1e-3)
        sums = self.lane_moves.sum(axis=2, keepdims=True)
        self.lane_moves = np.where(sums > 0, self.lane_moves / np.maximum(sums, 1e-9), 0.0)
        # cost weights: own approaches 1, approaches it feeds `downstream`
        move_tls = a.net["move_tls"]
        move_from, move_to = a.net["move_from"], a.net["move_to"]
        n_t = len(a.tls)
        feeds = np.zeros((n_t, n_m), np.float32)
        for m in range(n_m):
            if move_tls[m] < n_t:
                feeds[move_tls[m], m] = 1.0
                fed = np.flatnonzero(move_from == move_to[m])
                feeds[move_tls[m], fed] = np.maximum(
                    feeds[move_tls[m], fed], self.settings["downstream"]
                )
        self.feeds = jnp.asarray(feeds)
        self.lost = a.timing["lost"]  # [T, P]
        self.n_phases = a.timing["phase_mask"].sum(axis=1).astype(int)  # [T]
        self.phases_n = a.timing["phase_mask"].shape[1]
        self.steps = max(1, int(np.ceil(self.settings["horizon"] / self.settings["dt"])))
        self.decisions = max(1, int(np.ceil(self.settings["horizon"] / self.decision_interval)))
        self.n_structured = 1 + int((self.n_phases - 1).sum())
        self.key = jax.random.PRNGKey(int(self.settings["seed"]))
        self.probs: jax.Array | None = None  # the cross-entropy search's distributions

    def _state(self, obs: Observation) -> State:
        a = self.arrays
        net = a.net
        n_e, k = len(net["storage"]), len(net["slots"])
        halting = np.nan_to_num(obs.in_halting)
        moving = np.maximum(np.nan_to_num(obs.in_vehicles) - halting, 0.0)
        queue = np.einsum("ti,tim->m", halting, self.lane_moves)
        line = np.zeros((k, n_e), np.float32)
        running = np.zeros(n_e, np.float32)
        edges = self.lane_edge
        for t, i in zip(*np.nonzero(edges >= 0), strict=True):
            e = edges[t, i]
            d = int(net["delay_steps"][e])
            j = max(1, d // 2)
            line[(j - d) % k, e] += moving[t, i]
            running[e] += moving[t, i]
        z = jnp.zeros(())
        return State(
            jnp.asarray(line),
            jnp.asarray(running),
            jnp.asarray(queue, jnp.float32),
            jnp.zeros(n_e),
            jnp.zeros((), jnp.int32),
            z,
            z,
            z,
        )

    def _current(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """Each model light's green [T] and its age [T] s (lights the controller does not
        run count as long held)."""
        current = np.zeros(len(self.arrays.tls), int)
        age = np.full(len(self.arrays.tls), 1e9)
        current[self.rows] = obs.phase
        age[self.rows] = obs.phase_age
        return current, age

    def _candidates_structured(
        self, obs: Observation, mp: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """([S, T, D] max pressure's choice held, then the same with one light switched to
        each of its other phases; base [T])."""
        t_n, d_n = len(self.arrays.tls), self.decisions
        base, _ = self._current(obs)
        base[self.rows] = mp
        phases = np.broadcast_to(base[None, :, None], (self.n_structured, t_n, d_n)).copy()
        row = 1
        for k in range(t_n):
            for p in range(self.n_phases[k]):
                if p != base[k]:
                    phases[row, k, :] = p
                    row += 1
        return phases, base

    def _candidates(self, obs: Observation, mp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase sequences [C, T, D]: max pressure held (the base), the base with one light
        switched to each of its other phases, then ``candidates`` random sequences."""
        t_n, d_n = len(self.arrays.tls), self.decisions
        structured, base = self._candidates_structured(obs, mp)
        current, age = self._current(obs)
        c = self.n_structured + int(self.settings["candidates"])
        phases = np.broadcast_to(base[None, :, None], (c, t_n, d_n)).copy()
        phases[: self.n_structured] = structured
        extra = c - self.n_structured
        if extra:
            pick = self.rng.integers(0, 1 << 30, (extra, t_n, d_n)) % self.n_phases[None, :, None]
            keep = self.rng.random((extra, t_n, d_n)) < self.settings["keep"]
            prev = np.broadcast_to(base, (extra, t_n))
            for d in range(d_n):
                phases[self.n_structured :, :, d] = np.where(keep[:, :, d], prev, pick[:, :, d])
                prev = phases[self.n_structured :, :, d]
        locked = age < self.min_green  # min green (or a transition) holds the first phase
        phases[:, locked, 0] = current[locked]
        pending = np.maximum(-age, 0.0)  # a transition still running before the first green
        green_from = green_times(phases, current, self.lost, pending, self.decision_interval)
        return phases, green_from

    def costs(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """The candidates' phase sequences [C, T, D] and their costs [C, T layout]."""
        phases, green_from = self._candidates(obs, self.pressure.decide(obs))
        costs = rollout_costs(
            self.net,
            self._state(obs),
            self.demand,
            jnp.float32(obs.time),
            jnp.asarray(phases),
            jnp.asarray(green_from),
            self.feeds,
            jnp.float32(self.settings["terminal"] * self.settings["horizon"]),
            steps=self.steps,
            dt=self.settings["dt"],
            decision=self.decision_interval,
            phases_n=self.phases_n,
        )
        return phases, np.asarray(costs)[:, self.rows]

    def decide(self, obs: Observation) -> np.ndarray:
        started = time.perf_counter()
        if self.search == "cross_entropy":
            choice = self._cross_entropy(obs)
        else:
            phases, costs = self.costs(obs)
            costs = np.where(self._allowed(obs)[self.rows, phases[:, self.rows, 0]], costs, np.inf)
            choice = phases[costs.argmin(axis=0), self.rows, 0]
        self.decision_s.append(time.perf_counter() - started)
        return choice

    def _allowed(self, obs: Observation) -> np.ndarray:
        """[T model, P] first greens the spill-back guard permits: not a phase that can only
        feed full exits while another phase of the light can discharge someone (max
        pressure's rule, :meth:`mobility.signals.controllers._Base.drop_jammed`)."""
        layout = self.layout
        jammed = self.pressure.drop_jammed(
            np.zeros(layout.phase_mask.shape), self.pressure.blocked(obs), obs
        )
        allowed = np.ones((len(self.arrays.tls), self.phases_n), bool)
        allowed[self.rows] = np.isfinite(jammed)
        return allowed

    def _cross_entropy(self, obs: Observation) -> np.ndarray:
        """The first greens of the cross-entropy search over sequences of the whole horizon,
        warm-started from the last decision's distributions (module docstring of
        :mod:`mobility.core.receding_horizon`)."""
        given, _ = self._candidates_structured(obs, self.pressure.decide(obs))
        mask = self.arrays.timing["phase_mask"].astype(np.float32)  # [T, P]
        if self.probs is None:
            uniform = mask / mask.sum(axis=1, keepdims=True)
            held = np.eye(self.phases_n, dtype=np.float32)[given[0, :, 0]] * mask
            first = 0.5 * uniform + 0.5 * held
            self.probs = jnp.asarray(np.repeat(first[:, None, :], self.decisions, axis=1))
        else:
            self.probs = shift(self.probs, mask, self.settings["explore"])
        current, age = self._current(obs)
        self.key, key = jax.random.split(self.key)
        first, self.probs = cross_entropy_plan(
            key,
            self.net,
            self._state(obs),
            self.demand,
            jnp.float32(obs.time),
            jnp.asarray(given),
            self.probs,
            jnp.asarray(current),
            jnp.asarray(age < self.min_green),
            jnp.asarray(np.maximum(-age, 0.0), jnp.float32),
            jnp.asarray(self._allowed(obs)),
            jnp.asarray(self.lost, jnp.float32),
            self.feeds,
            jnp.float32(self.settings["terminal"] * self.settings["horizon"]),
            steps=self.steps,
            dt=self.settings["dt"],
            decision=self.decision_interval,
            phases_n=self.phases_n,
            samples=int(self.settings["candidates"]),
            rounds=int(self.settings["rounds"]),
            elites=int(self.settings["elites"]),
        )
        return np.asarray(first)[self.rows]
