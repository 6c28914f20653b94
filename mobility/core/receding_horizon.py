"""Receding-horizon signal control on the twin: phase sequences rolled out in one batched call.

A candidate is one green phase per light per decision over the horizon ([T, D]); its
transitions (yellow and all-red, shown as red) follow from the switches. Every candidate
rolls out under ``vmap`` from the observed state, and each light is charged the queueing
on its own approaches and (through ``feeds``) on those it feeds, so spill-back it causes
counts against it.

Two searches over the same rollouts:
- :func:`rollout_costs`: the costs of given candidates (the caller picks).
- :func:`cross_entropy_plan`: the cross-entropy method over sequences of minutes. Each
  light keeps a categorical distribution per decision; a round samples sequences from
  them (the given candidates ride along), and each light refits its own distribution to
  the sequences cheapest *for it* (a decentralised update: the lights' costs are
  separate, their interaction comes through the shared rollouts). The distributions are
  returned so that the next decision starts from them, shifted by one decision (warm
  start, as receding-horizon control does).

Pure: jax only, shapes fixed by the network and the settings, so one compilation serves a
whole run.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from mobility.core.signal_model import Demand, ModelNet, State, arrivals_at, movement_green, step


@partial(jax.jit, static_argnames=("decision",))
def green_times(
    phases: jax.Array, current: jax.Array, lost: jax.Array, pending: jax.Array, decision: float
) -> jax.Array:
    """[..., T, D] s from now at which each decision's green starts: its decision's start,
    plus the lost time (yellow and all-red) of the green it ends when it switches, and at
    the first decision no earlier than the transition already running (``pending`` [T])."""
    rows = jnp.arange(current.shape[0])
    prev = jnp.broadcast_to(current, phases.shape[:-1])
    out = []
    for d in range(phases.shape[-1]):
        switch = phases[..., d] != prev
        out.append(d * decision + jnp.where(switch, lost[rows, prev], 0.0))
        prev = phases[..., d]
    starts = jnp.stack(out, axis=-1)
    return starts.at[..., 0].max(jnp.broadcast_to(pending, starts.shape[:-1]))


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
    """[C, T] cost of C candidates (``phases``/``green_from`` [C, T, D]) per light."""

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


@partial(
    jax.jit,
    static_argnames=("steps", "dt", "decision", "phases_n", "samples", "rounds", "elites"),
)
def cross_entropy_plan(
    key: jax.Array,
    net: ModelNet,
    state: State,
    demand: Demand,
    t0: jax.Array,
    given: jax.Array,
    probs: jax.Array,
    current: jax.Array,
    locked: jax.Array,
    pending: jax.Array,
    allowed: jax.Array,
    lost: jax.Array,
    feeds: jax.Array,
    terminal: jax.Array,
    *,
    steps: int,
    dt: float,
    decision: float,
    phases_n: int,
    samples: int,
    rounds: int,
    elites: int,
) -> tuple[jax.Array, jax.Array]:
    """(first green per light [T], refitted distributions [T, D, P]).

    ``given`` [G, T, D] candidates evaluated every round (e.g. max pressure held);
    ``probs`` [T, D, P] the starting distributions (zero on phases a light lacks);
    ``locked`` [T] lights whose first decision must keep ``current`` [T] (min green);
    ``pending`` [T] s of transition still running; ``allowed`` [T, P] first greens the
    spill-back guard permits (a candidate starting on another is charged +inf for that
    light); ``lost`` [T, P] yellow + all-red after each green."""
    t_n = current.shape[0]
    rows = jnp.arange(t_n)

    def evaluate(phases: jax.Array) -> jax.Array:
        phases = phases.at[:, :, 0].set(jnp.where(locked, current, phases[:, :, 0]))
        gf = green_times(phases, current, lost, pending, decision)
        costs = rollout_costs(
            net, state, demand, t0, phases, gf, feeds, terminal,
            steps=steps, dt=dt, decision=decision, phases_n=phases_n,
        )  # fmt: skip
        ok = allowed[rows[None, :], phases[:, :, 0]]
        return phases, jnp.where(ok, costs, jnp.inf)

    def round_(carry, k):
        probs, best_cost, best_first = carry
        drawn = jax.random.categorical(
            k, jnp.log(probs), axis=-1, shape=(samples, *probs.shape[:2])
        )
        phases, costs = evaluate(jnp.concatenate([given, drawn.astype(given.dtype)]))
        top = jnp.argsort(costs, axis=0)[:elites]  # [E, T] candidates cheapest per light
        chosen = phases[top, rows[None, :], :]  # [E, T, D]
        fitted = jax.nn.one_hot(chosen, phases_n).mean(axis=0)  # [T, D, P]
        probs = jnp.where(probs > 0, 0.5 * probs + 0.5 * fitted, 0.0)
        probs = probs / probs.sum(axis=-1, keepdims=True)
        cheapest = costs.argmin(axis=0)  # [T]
        better = costs[cheapest, rows] < best_cost
        best_first = jnp.where(better, phases[cheapest, rows, 0], best_first)
        best_cost = jnp.where(better, costs[cheapest, rows], best_cost)
        return (probs, best_cost, best_first), None

    start = (probs, jnp.full(t_n, jnp.inf), current)
    (probs, _, first), _ = jax.lax.scan(round_, start, jax.random.split(key, rounds))
    return first, probs


def shift(probs: jax.Array, phase_mask: jax.Array, explore: float) -> jax.Array:
    """The distributions for the next decision: one decision on, the last one repeated,
    mixed with the uniform distribution over each light's phases (``phase_mask`` [T, P])
    by ``explore``."""
    moved = jnp.concatenate([probs[:, 1:], probs[:, -1:]], axis=1)
    uniform = phase_mask / jnp.maximum(phase_mask.sum(axis=-1, keepdims=True), 1)
    return (1 - explore) * moved + explore * uniform[:, None, :]
