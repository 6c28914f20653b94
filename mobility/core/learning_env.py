"""A functional learning environment over the signal twin (gymnax-style).

``reset(key, params)`` and ``step(key, state, action, params)`` are pure and jit-able, written
for one environment and batched with ``jax.vmap`` outside. One step is one decision interval
of the engine's :class:`~mobility.signals.driver.SignalDriver`: every light asks for its next
green phase, and the driver's rules carry it out as in SUMO:

- a light in a transition (yellow + all-red) ignores the decision;
- a switch before ``min_green`` is refused; a green held ``max_green`` moves to the next phase
  (checked at decisions: the SUMO driver also ends it between decisions);
- a switch shows the light's own yellow + all-red (``lost``) before the new green; the first
  ``used`` s of it still pass the old green's traffic (the twin's effective green).

Actions a light lacks (its padded phase slots) are masked inside jit: they keep the phase.

The observation is the engine's :class:`~mobility.signals.types.Observation` layout per light
(vehicles and halting vehicles per incoming lane slot, phase, phase age), built from the twin's
state by :func:`observe`: a movement's queue stands on the lane slots that serve it, vehicles
still running spread over their edge's lanes. :func:`features` turns that layout into the
policy's input; the SUMO-side policy controller calls the same function on the engine's
observation, so a policy sees the same numbers in the twin and in SUMO.

Reward per light: minus the halting vehicles on its incoming lanes (``queue``, mean over the
interval), or minus the network's delay in the interval shared by every light (``delay``).
Demand: the twin's (calibrated) rates times a level drawn per episode in
``[level_low, level_high]`` and a log-normal noise per bin and entry, so a policy does not
learn one day. An episode is the scenario's window.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp

from mobility.core.signal_model import (
    Demand,
    ModelNet,
    State,
    arrivals_at,
    initial_state,
    movement_green,
)
from mobility.core.signal_model import step as twin_step

COUNT_SCALE = 10.0  # vehicles per unit of a feature (keeps inputs near 1)
AGE_SCALE = 60.0  # s per unit of the phase-age feature
FAR_PAST = -1e9  # s: "long ago" for a transition that never ran


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EnvParams:
    """The network, its lights as the engine lays them out, and the demand to draw from."""

    net: ModelNet
    demand: Demand
    lost: jax.Array  # [T, P] s of yellow + all-red after green p
    used: jax.Array  # [T] s of a transition still passing the ending green's traffic
    phase_mask: jax.Array  # [T, P] float 1 where the light has phase p
    lane_move: jax.Array  # [T, I, M] share of movement m's queue standing on lane slot i
    lane_edge: jax.Array  # [T, I, E] share of edge e's running vehicles on lane slot i
    in_mask: jax.Array  # [T, I] float 1 where lane slot i is used
    lane_served: jax.Array  # [T, P, I] float 1 where phase p serves a movement of lane i
    min_green: jax.Array  # [] s
    max_green: jax.Array  # [] s
    level_low: jax.Array  # [] lowest demand level of an episode (x the twin's rates)
    level_high: jax.Array  # [] highest
    noise: jax.Array  # [] log-normal noise of the rates per bin and entry


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EnvState:
    """The twin's traffic, the episode's demand and each light's signal state."""

    twin: State
    rate: jax.Array  # [B, E] veh/s this episode's demand
    phase: jax.Array  # [T] int current green (or the one being switched to)
    prev: jax.Array  # [T] int green shown before the last switch
    switched_at: jax.Array  # [T] s the last transition started
    green_since: jax.Array  # [T] s the current green started (future: in transition)
    time: jax.Array  # [] s since the window began
    decision: jax.Array  # [] int decisions taken


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EnvObs:
    """The engine's :class:`~mobility.signals.types.Observation` fields a policy reads."""

    in_vehicles: jax.Array  # [T, I] vehicles on each incoming lane slot
    in_halting: jax.Array  # [T, I] halting (queued) vehicles on it
    phase: jax.Array  # [T] int current (or next, during a transition) green
    phase_age: jax.Array  # [T] s since that green started (negative during a transition)


def features(
    in_vehicles: jax.Array,
    in_halting: jax.Array,
    phase: jax.Array,
    phase_age: jax.Array,
    in_mask: jax.Array,
    lane_served: jax.Array,
) -> jax.Array:
    """[T, 2I + 3P + 1] a policy's input per light, from the Observation layout: vehicles and
    halting vehicles per lane slot, the phase one-hot, the halting and all vehicles each phase
    would serve, and the phase age. The one builder of both sides (twin and SUMO)."""
    p_n = lane_served.shape[1]
    veh = jnp.nan_to_num(jnp.asarray(in_vehicles, jnp.float32)) * in_mask / COUNT_SCALE
    halt = jnp.nan_to_num(jnp.asarray(in_halting, jnp.float32)) * in_mask / COUNT_SCALE
    served = jnp.asarray(lane_served, jnp.float32)
    age = jnp.clip(jnp.asarray(phase_age, jnp.float32), -10.0, 120.0)[:, None] / AGE_SCALE
    return jnp.concatenate(
        [
            veh,
            halt,
            jax.nn.one_hot(jnp.asarray(phase), p_n),
            jnp.einsum("tpi,ti->tp", served, halt),
            jnp.einsum("tpi,ti->tp", served, veh),
            age,
        ],
        axis=1,
    )


def observe(params: EnvParams, state: EnvState) -> EnvObs:
    """The twin's state in the engine's observation layout."""
    halting = jnp.einsum("tim,m->ti", params.lane_move, state.twin.queue)
    running = jnp.einsum("tie,e->ti", params.lane_edge, state.twin.running)
    return EnvObs(
        in_vehicles=(halting + running) * params.in_mask,
        in_halting=halting * params.in_mask,
        phase=state.phase,
        phase_age=state.time - state.green_since,
    )


@dataclasses.dataclass(frozen=True)
class SignalEnv:
    """Static settings of the environment (shapes and step counts: hashable, not traced)."""

    dt: float = 2.0  # s per twin step
    decision: float = 10.0  # s per decision (the scenario's decision interval)
    decisions: int = 30  # decisions per episode (the scenario's window / decision)
    reward: Literal["queue", "delay"] = "queue"

    def __post_init__(self) -> None:
        if self.decision < self.dt or abs(self.decision / self.dt - self.substeps) > 1e-6:
            msg = f"decision ({self.decision} s) must be a whole number of twin steps ({self.dt})"
            raise ValueError(msg)
        if self.reward not in ("queue", "delay"):
            raise ValueError(f"reward must be 'queue' or 'delay', not {self.reward!r}")

    @property
    def substeps(self) -> int:
        return round(self.decision / self.dt)

    def features(self, params: EnvParams, obs: EnvObs) -> jax.Array:
        """[T, F] the policy's input (:func:`features`)."""
        return features(
            obs.in_vehicles,
            obs.in_halting,
            obs.phase,
            obs.phase_age,
            params.in_mask,
            params.lane_served,
        )

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[EnvObs, EnvState]:
        """An empty network at the window's start, with this episode's demand drawn."""
        k_level, k_noise = jax.random.split(key)
        level = jax.random.uniform(k_level, (), minval=params.level_low, maxval=params.level_high)
        z = jax.random.normal(k_noise, params.demand.rate.shape)
        rate = params.demand.rate * level * jnp.exp(params.noise * z - 0.5 * params.noise**2)
        t_n = params.lost.shape[0]
        zeros = jnp.zeros(t_n, jnp.int32)
        state = EnvState(
            twin=initial_state(params.net),
            rate=rate,
            phase=zeros,
            prev=zeros,
            switched_at=jnp.full(t_n, FAR_PAST),
            green_since=jnp.zeros(t_n),
            time=jnp.zeros(()),
            decision=jnp.zeros((), jnp.int32),
        )
        return observe(params, state), state

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[EnvObs, EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """(obs, state, reward [T], done [], info) after one decision ``action`` [T] int.

        ``key`` is unused (the twin is deterministic given the episode's demand); it is
        taken for the gymnax signature."""
        del key
        state = self._decide(state, action, params)
        demand = dataclasses.replace(params.demand, rate=state.rate)
        begin = params.demand.begin

        def one(carry: tuple[EnvState, jax.Array], _: None):
            s, halted = carry
            pg = self._phase_green(s, params)
            twin = twin_step(
                params.net,
                s.twin,
                movement_green(params.net, pg),
                arrivals_at(demand, begin + s.time, self.dt),
                self.dt,
            )
            s = dataclasses.replace(s, twin=twin, time=s.time + self.dt)
            halted = halted + observe(params, s).in_halting.sum(axis=1)
            return (s, halted), None

        t_n = params.lost.shape[0]
        delay0 = state.twin.delay
        (state, halted), _ = jax.lax.scan(one, (state, jnp.zeros(t_n)), None, length=self.substeps)
        state = dataclasses.replace(state, decision=state.decision + 1)
        if self.reward == "queue":
            reward = -halted / self.substeps
        else:
            reward = jnp.full(t_n, -(state.twin.delay - delay0) / self.decision)
        done = state.decision >= self.decisions
        info = {"delay": state.twin.delay, "halting": halted.sum() / self.substeps}
        return observe(params, state), state, reward, done, info

    def _decide(self, state: EnvState, action: jax.Array, params: EnvParams) -> EnvState:
        """The driver's rules (module docstring) applied to the wanted greens."""
        rows = jnp.arange(state.phase.shape[0])
        n = params.phase_mask.sum(axis=1).astype(jnp.int32)  # [T]
        now = state.time
        age = now - state.green_since
        busy = now < state.green_since
        action = jnp.asarray(action, jnp.int32)
        valid = (action >= 0) & (action < n) & (params.phase_mask[rows, action % n] > 0)
        target = jnp.where(valid, action, state.phase)
        target = jnp.where((target != state.phase) & (age < params.min_green), state.phase, target)
        forced = (target == state.phase) & (age >= params.max_green) & (n > 1)
        target = jnp.where(forced, (state.phase + 1) % jnp.maximum(n, 1), target)
        switch = (target != state.phase) & ~busy
        lost = params.lost[rows, state.phase]
        return dataclasses.replace(
            state,
            phase=jnp.where(switch, target, state.phase),
            prev=jnp.where(switch, state.phase, state.prev),
            switched_at=jnp.where(switch, now, state.switched_at),
            green_since=jnp.where(switch, now + lost, state.green_since),
        )

    def _phase_green(self, state: EnvState, params: EnvParams) -> jax.Array:
        """[T, P] greens during the step starting now: the current green once it started;
        in a transition, the ending green for its first ``used`` s, then red."""
        p_n = params.phase_mask.shape[1]
        on = state.time >= state.green_since
        still = state.time < state.switched_at + params.used
        cur = jax.nn.one_hot(state.phase, p_n) * on[:, None]
        old = jax.nn.one_hot(state.prev, p_n) * (~on & still)[:, None]
        return (cur + old) * params.phase_mask
