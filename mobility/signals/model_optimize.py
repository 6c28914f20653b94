"""Fixed-time plan optimisation on the JAX model: many random starts, one batched call.

Green times are ``min + (max - min) * sigmoid(theta)``, so min and max green hold by
construction; yellow and all-red stay as the net has them (``Timing.lost``), and the cycle
length is the sum of greens and transitions, so it is optimised through the greens.
Offsets are free seconds (taken modulo the cycle). Each start runs Adam (optax) on the
mean model delay over fresh demand samples; all starts run side by side under ``vmap``
and the best one, scored with hard green windows on common samples, wins.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mobility.signals.model import Demand, ModelNet, Plan, Timing, plan_delay, sample_demand

OFFSET_SCALE = 10.0  # s of offset per unit of its parameter (puts both on Adam's scale)


class PlanParams(NamedTuple):
    """Unconstrained parameters of one plan."""

    theta: jax.Array  # [T, P] green logits
    phi: jax.Array  # [T] offsets / OFFSET_SCALE


class Result(NamedTuple):
    """The optimiser's answer."""

    plan: Plan  # the best plan (hard-window score)
    scores: jax.Array  # [2 R] hard-window mean delay of the refined plans, then their starts
    initial: jax.Array  # [S] the same for every screened start (the first: the base plan)


def to_plan(params: PlanParams, timing: Timing) -> Plan:
    """The plan of ``params``: greens inside [min, max], masked phases zero."""
    span = timing.max_green - timing.min_green
    green = (timing.min_green + span * jax.nn.sigmoid(params.theta)) * timing.phase_mask
    return Plan(green=green, offset=OFFSET_SCALE * params.phi)


def from_greens(green: jax.Array, offset: jax.Array, timing: Timing) -> PlanParams:
    """Parameters of a given plan (greens clipped a little inside their bounds)."""
    span = jnp.maximum(timing.max_green - timing.min_green, 1e-6)
    x = jnp.clip((green - timing.min_green) / span, 0.02, 0.98)
    return PlanParams(theta=jnp.log(x / (1 - x)), phi=offset / OFFSET_SCALE)


def _mean_delay(
    params: PlanParams, demands: Demand, *, net: ModelNet, timing: Timing, steps, dt, tau
) -> jax.Array:
    plan = to_plan(params, timing)
    per = jax.vmap(lambda d: plan_delay(net, timing, plan, d, steps=steps, dt=dt, tau=tau))(demands)
    return per.mean()


@partial(
    jax.jit,
    static_argnames=(
        "starts",
        "refine",
        "samples",
        "iterations",
        "steps",
        "dt",
        "tau",
        "lr",
        "noise",
        "spread",
    ),
)
def optimise(
    net: ModelNet,
    timing: Timing,
    demand: Demand,
    base: Plan,
    key: jax.Array,
    *,
    starts: int,
    refine: int,
    samples: int,
    iterations: int,
    steps: int,
    dt: float,
    tau: float,
    lr: float,
    noise: float,
    spread: float = 0.3,
) -> Result:
    """Screen ``starts`` plans (the first is ``base``, the others random), then refine the
    best ``refine`` of them by gradient; the best plan seen (refined or not) wins."""
    t, p = timing.phase_mask.shape
    k_theta, k_phi, k_run, k_eval = jax.random.split(key, 4)
    first = from_greens(base.green, base.offset, timing)
    # random starts: a typical green per start (short to long cycles), uneven splits
    # around it (``spread``), random offsets
    k_level, k_split = jax.random.split(k_theta)
    lo, hi = timing.min_green, timing.max_green
    level = jax.random.uniform(k_level, (starts, 1, 1))
    level = lo + (hi - lo) * 0.5 * level
    split = jnp.exp(spread * jax.random.normal(k_split, (starts, t, p)))
    theta = from_greens(jnp.clip(level * split, lo, hi), jnp.zeros(t), timing).theta
    phi = jax.random.uniform(k_phi, (starts, t), maxval=12.0)
    theta = theta.at[0].set(first.theta)
    phi = phi.at[0].set(first.phi)

    def sample(k: jax.Array) -> Demand:
        keys = jax.random.split(k, samples)
        return jax.vmap(lambda kk: sample_demand(demand, kk, noise))(keys)

    common = sample(k_eval)
    hard = partial(_mean_delay, net=net, timing=timing, steps=steps, dt=dt, tau=0.0)
    initial = jax.vmap(hard, in_axes=(0, None))(PlanParams(theta, phi), common)  # [starts]
    top = jnp.argsort(initial)[:refine]
    params = PlanParams(theta[top], phi[top])
    opt = optax.adam(lr)
    state = jax.vmap(opt.init)(params)
    loss = partial(_mean_delay, net=net, timing=timing, steps=steps, dt=dt, tau=tau)
    grad = jax.vmap(jax.grad(loss), in_axes=(0, None))

    def iterate(carry, k):
        params, state = carry
        g = grad(params, sample(k))
        updates, state = jax.vmap(opt.update)(g, state)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(iterate, (params, state), jax.random.split(k_run, iterations))
    refined = jax.vmap(hard, in_axes=(0, None))(params, common)  # [refine]
    pool = jax.tree.map(
        lambda a, b: jnp.concatenate([a, b]), params, PlanParams(theta[top], phi[top])
    )
    scores = jnp.concatenate([refined, initial[top]])
    best = jnp.argmin(scores)
    plan = to_plan(jax.tree.map(lambda x: x[best], pool), timing)
    return Result(plan=plan, scores=scores, initial=initial)


def evaluate_plans(
    net: ModelNet, timing: Timing, plans: Plan, demand: Demand, *, steps: int, dt: float
) -> jax.Array:
    """[N] hard-window delay of N stacked plans on one demand (the calibration check)."""
    run = partial(plan_delay, steps=steps, dt=dt, tau=0.0)
    return jax.jit(jax.vmap(lambda pl: run(net, timing, pl, demand)))(plans)
