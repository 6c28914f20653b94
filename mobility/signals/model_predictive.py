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
bounded by the candidate count and horizon.

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
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core.signal_model import Demand, ModelNet, State, arrivals_at, movement_green, step
from mobility.signals.controllers import MaxPressure
from mobility.signals.model_build import ModelArrays
from mobility.signals.registry import ModelPredictiveParams
from mobility.signals.types import Layout, Observation


@partial(jax.jit, static_argnames=("steps", "dt", "decision", "phases_n"))
def rollout_costs(
    net: ModelNet,
    state: State,
    demand: Demand,
    t0: jax.Array,
    phases: jax.Array,
    green_from: jax.Array,
    feeds: jax.Array,
    terminal: jax.Array,
    *,
    steps: int,
    dt: float,
    decision: float,
    phases_n: int,
) -> jax.Array:
    """[C, T] cost of C candidates (``phases``/``green_from`` [C, T, D]) per intersection."""

    def one(ph: jax.Array, gf: jax.Array) -> jax.Array:
        def body(carry, k):
            s, qsum = carry
            tau = k * dt
            d = jnp.minimum((tau // decision).astype(jnp.int32), ph.shape[1] - 1)
            on = (tau >= gf[:, d]).astype(jnp.float32)
            pg = jax.nn.one_hot(ph[:, d], phases_n) * on[:, None]
            s = step(net, s, movement_green(net, pg), arrivals_at(demand, t0 + tau, dt), dt)
            return (s, qsum + s.queue * dt), None

        (s, qsum), _ = jax.lax.scan(
            body, (state, jnp.zeros_like(state.queue)), jnp.arange(steps, dtype=jnp.float32)
        )
        return feeds @ (qsum + terminal * s.queue)  # [T]

    return jax.vmap(one)(phases, green_from)


class ModelPredictive:
    """Phase controller over a model built for the scenario (see the module docstring)."""

    def __init__(
        self, arrays: ModelArrays | None, params: ModelPredictiveParams | None = None
    ) -> None:
        # settings typed and bounded by the registry's model (candidates, horizon, seed, ...)
        self.settings = {k: float(v) for k, v in (params or ModelPredictiveParams())}
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

    def _candidates(self, obs: Observation, mp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase sequences [C, T, D]: max pressure held (the base), the base with one light
        switched to each of its other phases, then ``candidates`` random sequences."""
        t_n, d_n = len(self.arrays.tls), self.decisions
        current = np.zeros(t_n, int)
        age = np.full(t_n, 1e9)
        current[self.rows] = obs.phase
        age[self.rows] = obs.phase_age
        base = current.copy()
        base[self.rows] = mp
        c = self.n_structured + int(self.settings["candidates"])
        phases = np.broadcast_to(base[None, :, None], (c, t_n, d_n)).copy()
        row = 1
        for k in range(t_n):
            for p in range(self.n_phases[k]):
                if p != base[k]:
                    phases[row, k, :] = p
                    row += 1
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
        green_from = np.zeros((c, t_n, d_n), np.float32)
        prev = np.broadcast_to(current, (c, t_n))
        rows = np.arange(t_n)
        for d in range(d_n):
            switch = phases[:, :, d] != prev
            lost = self.lost[rows[None, :], prev]
            green_from[:, :, d] = d * self.decision_interval + np.where(switch, lost, 0.0)
            prev = phases[:, :, d]
        pending = np.maximum(-age, 0.0)  # a transition still running before the first green
        green_from[:, :, 0] = np.maximum(green_from[:, :, 0], pending[None, :])
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
        phases, costs = self.costs(obs)
        best = costs.argmin(axis=0)
        choice = phases[best, self.rows, 0]
        self.decision_s.append(time.perf_counter() - started)
        return choice
