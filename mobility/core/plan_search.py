"""Fixed-time plan optimisation on the JAX model: many random starts, one batched call.

Green times are ``min + (max - min) * sigmoid(theta)``, so min and max green hold by
construction; yellow and all-red stay as the net has them (``Timing.lost``), and the cycle
length is the sum of greens and transitions, so it is optimised through the greens.
Offsets are free seconds (taken modulo the cycle). The given plans (the net's own,
Webster's) and random ones are screened with hard green windows; the given ones and the
best random ones, ``refine`` in all, run Adam (optax) on the mean model delay over fresh
demand samples, side by side under ``vmap``. The answer is the whole pool, refined plans
and their starts, each scored with hard windows on common samples, so that the caller can
pick (and check in SUMO) the best.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import optax

from mobility.core.signal_model import Demand, ModelNet, Plan, Timing, plan_delay, sample_demand

OFFSET_SCALE = 10.0  # s of offset per unit of its parameter (puts both on Adam's scale)
CYCLE_SCALES = (0.6, 0.8, 1.25)  # the given plans are also started at these cycle lengths


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PlanParams:
    """Unconstrained parameters of one plan. ``kappa`` shifts every green logit of a light
    at once: the cycle length, as one parameter whose gradient sums its phases' (smoother
    than any one of them), beside the splits."""

    theta: jax.Array  # [T, P] green logits
    kappa: jax.Array  # [T] cycle logit, added to each of the light's green logits
    phi: jax.Array  # [T] offsets / OFFSET_SCALE


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Result:
    """The optimiser's answer: a pool of plans with their model scores. The pool holds each
    refined start's descent at :func:`snapshot_steps` (so that a step length the model
    overrates can be caught downstream), then the starts themselves."""

    plan: Plan  # the best plan of the pool (hard-window score)
    pool: Plan  # [N] each snapshot of the R descents (snapshot-major), then the R starts
    scores: jax.Array  # [N] hard-window mean delay
    origin: jax.Array  # [N] int index of each plan's start (< G: one of the given plans)
    steps: jax.Array  # [N] int Adam steps taken from its start (0: the start as screened)
    initial: jax.Array  # [S] score of every screened start (the first G: the given plans)


def to_plan(params: PlanParams, timing: Timing) -> Plan:
    """The plan of ``params``: greens inside [min, max], masked phases zero."""
    span = timing.max_green - timing.min_green
    logit = params.theta + params.kappa[..., None]
    green = (timing.min_green + span * jax.nn.sigmoid(logit)) * timing.phase_mask
    return Plan(green=green, offset=OFFSET_SCALE * params.phi)


def from_greens(green: jax.Array, offset: jax.Array, timing: Timing) -> PlanParams:
    """Parameters of a given plan (greens clipped a little inside their bounds)."""
    span = jnp.maximum(timing.max_green - timing.min_green, 1e-6)
    x = jnp.clip((green - timing.min_green) / span, 1e-3, 1 - 1e-3)
    theta = jnp.log(x / (1 - x))
    return PlanParams(theta=theta, kappa=jnp.zeros(theta.shape[:-1]), phi=offset / OFFSET_SCALE)


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
    given: Plan,
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
    """Screen ``starts`` plans, then refine the given ones and the best others, ``refine``
    in all, by gradient; see :class:`Result`.

    The starts are the ``given`` plans (stacked [G, ...]), then each of them at the other
    cycle lengths of :data:`CYCLE_SCALES` (its greens scaled), then random plans.
    """
    t, p = timing.phase_mask.shape
    k_theta, k_phi, k_run, k_eval = jax.random.split(key, 4)
    lo, hi = timing.min_green, timing.max_green
    scaled = jnp.concatenate([given.green * c for c in (1.0, *CYCLE_SCALES)])
    n_given = given.green.shape[0]
    offsets = jnp.tile(given.offset, (1 + len(CYCLE_SCALES), 1))
    first = jax.vmap(lambda g, o: from_greens(g, o, timing))(jnp.clip(scaled, lo, hi), offsets)
    # random starts: a typical green per start (short to long cycles), uneven splits
    # around it (``spread``), random offsets
    k_level, k_split = jax.random.split(k_theta)
    level = jax.random.uniform(k_level, (starts, 1, 1))
    level = lo + (hi - lo) * 0.5 * level
    split = jnp.exp(spread * jax.random.normal(k_split, (starts, t, p)))
    theta = from_greens(jnp.clip(level * split, lo, hi), jnp.zeros(t), timing).theta
    phi = jax.random.uniform(k_phi, (starts, t), maxval=12.0)
    theta = theta.at[: len(scaled)].set(first.theta)
    phi = phi.at[: len(scaled)].set(first.phi)
    zero = jnp.zeros((starts, t))

    def sample(k: jax.Array) -> Demand:
        keys = jax.random.split(k, samples)
        return jax.vmap(lambda kk: sample_demand(demand, kk, noise))(keys)

    common = sample(k_eval)
    hard = partial(_mean_delay, net=net, timing=timing, steps=steps, dt=dt, tau=0.0)
    initial = jax.vmap(hard, in_axes=(0, None))(PlanParams(theta, zero, phi), common)  # [starts]
    # the given plans are always refined (a warm start, as TRANSYT starts from Webster),
    # then the best others
    best_other = n_given + jnp.argsort(initial[n_given:])[: max(refine - n_given, 0)]
    top = jnp.concatenate([jnp.arange(n_given), best_other])[:refine]
    params = PlanParams(theta[top], zero[top], phi[top])
    opt = optax.adam(lr)
    state = jax.vmap(opt.init)(params)
    loss = partial(_mean_delay, net=net, timing=timing, steps=steps, dt=dt, tau=tau)
    grad = jax.vmap(jax.grad(loss), in_axes=(0, None))

    def iterate(carry, k):
        params, state = carry
        g = grad(params, sample(k))
        updates, state = jax.vmap(opt.update)(g, state)
        params = optax.apply_updates(params, updates)
        return (params, state), params

    _, path = jax.lax.scan(iterate, (params, state), jax.random.split(k_run, iterations))
    kept = snapshot_steps(iterations)  # the descent at growing step counts, and its end
    path = jax.tree.map(lambda x: x[jnp.asarray(kept) - 1].reshape(-1, *x.shape[2:]), path)
    pool = jax.tree.map(
        lambda a, b: jnp.concatenate([a, b]), path, PlanParams(theta[top], zero[top], phi[top])
    )
    refined = jax.vmap(hard, in_axes=(0, None))(path, common)  # [len(kept) * refine]
    scores = jnp.concatenate([refined, initial[top]])
    plans = jax.vmap(lambda x: to_plan(x, timing))(pool)
    steps_taken = jnp.repeat(jnp.asarray([*kept, 0]), top.shape[0])
    return Result(
        plan=jax.tree.map(lambda x: x[jnp.argmin(scores)], plans),
        pool=plans,
        scores=scores,
        origin=jnp.tile(top, len(kept) + 1),
        steps=steps_taken,
        initial=initial,
    )


def snapshot_steps(iterations: int) -> list[int]:
    """Adam step counts kept from each descent: 1, 4, 16, ... and the last."""
    return sorted(
        {4**i for i in range(iterations.bit_length()) if 4**i < iterations} | {iterations}
    )


def evaluate_plans(
    net: ModelNet, timing: Timing, plans: Plan, demand: Demand, *, steps: int, dt: float
) -> jax.Array:
    """[N] hard-window delay of N stacked plans on one demand (the calibration check)."""
    run = partial(plan_delay, steps=steps, dt=dt, tau=0.0)
    return jax.jit(jax.vmap(lambda pl: run(net, timing, pl, demand)))(plans)
