"""Calibration of the signal twin to SUMO: the twin's parameters fitted by gradient descent.

The twin (:mod:`mobility.core.signal_model`) is built with constants that are right on
average and wrong on any given network: a saturation flow per lane, a share of it that a
minor (yielding) green gives, seconds of each yellow still used as green, a storage per
metre of lane. Here those become parameters, fitted to what SUMO measured on a few runs of
the scenario under varied fixed-time plans (:mod:`mobility.signals.calibrate` runs them):

- ``sat``: a log-scale of each movement's saturation flow (and of the lanes it uses);
- ``minor``: a logit shift of the share a minor green gives each movement;
- ``used``: seconds each light's green window runs on into its transition (yellow still
  used less any start-up loss: the effective green minus the displayed one);
- ``storage``: a log-scale of each edge's storage (and of its turning bays), and
  ``storage_lane`` vehicles more per lane (SUMO counts a vehicle on the edge its front is
  on, so a queue holds about one more per lane than length / 7.5 m: short edges hold half
  again as many);
- ``gap``: seconds a movement giving way at an unsignalised junction needs per vehicle per
  second of its foes (``ModelNet.yield_gap``; zero, the constants' twin, lets it pass as
  if nothing crossed it);
- ``free``: a log-scale of each edge's free-flow time against length / speed: SUMO's
  drivers accelerate from stops and slow for turns, so an edge takes longer than its speed
  limit says, and that time counts in SUMO's time loss (the twin then counts the share of
  running time above length / speed as delay, ``ModelNet.slow_share``).

Each comes as a network-wide value plus one per movement, light or edge, so that a shift
every junction shares costs little and a local one must earn its place: the loss is the
misfit plus a Gaussian prior (:class:`Prior`) pulling every parameter to zero, which is the
constants. The misfit compares, for every run, the mean vehicles on every
edge per interval (SUMO's ``sampledSeconds / period``) and the run's delay per vehicle
(RESCO's, which the twin counts as vehicle-seconds queued or waiting to enter).

Green windows are hard in the forward run, as SUMO shows them, and sigmoid-relaxed in the
backward pass only (a straight-through estimator), so that ``used`` gets a gradient while
the fitted model is the one that is evaluated. Pure JAX: no SUMO, no files.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mobility.core.signal_model import (
    YELLOW_USED_S,
    Demand,
    ModelNet,
    Plan,
    State,
    Timing,
    arrivals_at,
    initial_state,
    movement_green,
    phase_windows,
    step,
)

MAX_SLOWER = 3.0  # a fitted free-flow time is at most this multiple of length / speed
MIN_SLOWER = 0.6  # and at least this


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Layout:
    """What the fit needs to know of the network beyond the twin's arrays."""

    minor: jax.Array  # [M, P] 1 where phase p gives the movement only a minor (yielding) green
    free_flow_s: jax.Array  # [E] s to travel each edge at its speed limit (the sink: 0)
    lanes: jax.Array  # [E] lanes of each edge (the sink: 0)
    yield_move: jax.Array  # [Y] int movement giving way at an unsignalised junction
    yield_foe: jax.Array  # [Y] int movement it gives way to


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TwinParams:
    """The twin's fitted parameters, as deviations from the constants (all zero: the
    constants, with free-flow times of exactly length / speed). Each group has a
    network-wide part and a local one."""

    sat_all: jax.Array  # [] log-scale of every saturation flow
    sat: jax.Array  # [M] log-scale of each movement's saturation flow
    minor_all: jax.Array  # [] logit shift of every minor green's share
    minor: jax.Array  # [M] logit shift of each movement's minor-green share
    used_all: jax.Array  # [] s added to every light's effective-green extension
    used: jax.Array  # [T] s added to each light's
    storage_all: jax.Array  # [] log-scale of every edge's storage
    storage: jax.Array  # [E] log-scale of each edge's storage
    storage_lane: jax.Array  # [] vehicles every lane holds beyond its scaled storage
    free_all: jax.Array  # [] log-scale of every edge's free-flow time
    free: jax.Array  # [E] log-scale of each edge's free-flow time
    gap_all: jax.Array  # [] s of gap every movement giving way needs
    gap: jax.Array  # [M] s added for each movement


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Prior:
    """Standard deviations of the Gaussian prior of each parameter group (network-wide and
    local): how far the data must pull a parameter before it moves."""

    sat_all: jax.Array  # [] log-scale
    sat: jax.Array  # [] log-scale
    minor_all: jax.Array  # [] logit
    minor: jax.Array  # [] logit
    used_all: jax.Array  # [] s
    used: jax.Array  # [] s
    storage_all: jax.Array  # [] log-scale
    storage: jax.Array  # [] log-scale
    storage_lane: jax.Array  # [] vehicles
    free_all: jax.Array  # [] log-scale
    free: jax.Array  # [] log-scale
    gap_all: jax.Array  # [] s
    gap: jax.Array  # [] s


def default_prior() -> Prior:
    """Wide network-wide priors (a network may discharge 30% faster than the textbook's
    1800 veh/h/lane), tighter local ones (one junction's few runs must not explain noise)."""
    f = jnp.float32
    return Prior(
        sat_all=f(0.3),
        sat=f(0.15),
        minor_all=f(1.0),
        minor=f(0.5),
        used_all=f(2.0),
        used=f(1.0),
        storage_all=f(0.3),
        storage=f(0.15),
        storage_lane=f(1.0),
        free_all=f(0.3),
        free=f(0.2),
        gap_all=f(3.0),
        gap=f(1.5),
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Observed:
    """The twin's runs, measured as SUMO's edge data measure them."""

    vehicles: jax.Array  # [..., I, E] mean vehicles on each edge per interval
    lost: jax.Array  # [..., I, E] mean vehicles there losing time (queued or slow)
    delay: jax.Array  # [...] vehicle-seconds of delay, waiting to enter included


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Measured:
    """What SUMO measured on R runs: the targets of the fit."""

    vehicles: jax.Array  # [R, I, E] mean vehicles on each edge per interval
    lost: jax.Array  # [R, I, E] mean vehicles losing time there (time loss / interval)
    mask: jax.Array  # [R, I, E] 1 where measured (0: the sink, edges SUMO did not report)
    delay: jax.Array  # [R] s of delay per vehicle (RESCO's)


def zero_params(net: ModelNet, timing: Timing) -> TwinParams:
    """The parameters of the constants."""
    m, e, t = net.move_from.shape[0], net.storage.shape[0], timing.lost.shape[0]
    z = jnp.zeros((), jnp.float32)
    return TwinParams(
        sat_all=z,
        sat=jnp.zeros(m),
        minor_all=z,
        minor=jnp.zeros(m),
        used_all=z,
        used=jnp.zeros(t),
        storage_all=z,
        storage=jnp.zeros(e),
        storage_lane=z,
        free_all=z,
        free=jnp.zeros(e),
        gap_all=z,
        gap=jnp.zeros(m),
    )


def slots_for(layout: Layout, dt: float, *, most: int = 128) -> int:
    """Delay-line slots the slowest fitted free-flow time needs (see :func:`apply`), at most
    ``most`` (longer edges are cut, as the uncalibrated twin cuts them: memory per plan)."""
    return min(int(np.ceil(float(np.max(layout.free_flow_s)) * MAX_SLOWER / dt)) + 3, most)


def apply(
    net: ModelNet, timing: Timing, params: TwinParams, layout: Layout, dt: float
) -> tuple[ModelNet, Timing]:
    """The twin with ``params``: (net, timing). Free-flow times longer than the delay line
    holds (``net.slots``, see :func:`slots_for`) are cut to it."""
    log_sat = params.sat_all + params.sat  # [M]
    share = jax.nn.sigmoid(_logit(net.move_serves) + (params.minor_all + params.minor)[:, None])
    serves = net.move_serves * (1.0 - layout.minor) + share * layout.minor
    log_storage = (params.storage_all + params.storage).at[-1].set(0.0)  # the sink: unbounded
    bay = net.move_bay
    if bay.shape[0]:
        bay = bay * jnp.exp(log_storage[net.move_from])
    slower = jnp.clip(params.free_all + params.free, np.log(MIN_SLOWER), np.log(MAX_SLOWER))
    travel = layout.free_flow_s * jnp.exp(slower)  # [E] s
    steps = jnp.clip(travel / dt, 1.0, net.slots.shape[0] - 2)  # at least a step
    whole = jnp.floor(steps)
    # the time lost is the fitted time over length / speed, whatever steps the edge takes
    slow = jnp.clip(jnp.maximum(travel - layout.free_flow_s, 0.0) / (steps * dt), 0.0, 1.0)
    fitted = dataclasses.replace(
        net,
        move_sat=net.move_sat * jnp.exp(log_sat),
        move_serves=serves,
        storage=jnp.maximum(
            net.storage * jnp.exp(log_storage) + params.storage_lane * layout.lanes, 1.0
        ),
        lane_sat=net.lane_sat * jnp.exp(_lane_mean(net, log_sat)),
        move_bay=bay,
        delay_steps=whole.astype(net.delay_steps.dtype),
        delay_frac=steps - whole,
        slow_share=slow,
        yield_move=layout.yield_move,
        yield_foe=layout.yield_foe,
        yield_gap=jnp.maximum(params.gap_all + params.gap, 0.0),
    )
    used = YELLOW_USED_S + params.used_all + params.used
    return fitted, dataclasses.replace(timing, used=used)


def _logit(p: jax.Array) -> jax.Array:
    q = jnp.clip(p, 1e-4, 1 - 1e-4)
    return jnp.log(q / (1 - q))


def _lane_mean(net: ModelNet, per_move: jax.Array) -> jax.Array:
    """[L] the mean of ``per_move`` over the movements sharing each lane."""
    n_l = net.lane_sat.shape[0]
    if n_l == 0:
        return jnp.zeros(0)
    total = jax.ops.segment_sum(per_move[net.pair_move], net.pair_lane, n_l)
    count = jax.ops.segment_sum(jnp.ones_like(net.pair_share), net.pair_lane, n_l)
    return total / jnp.maximum(count, 1.0)


def observe(
    net: ModelNet,
    timing: Timing,
    plan: Plan,
    demand: Demand,
    *,
    intervals: int,
    interval_steps: int,
    dt: float,
    tau: float,
) -> Observed:
    """One fixed-time plan from an empty network, measured as SUMO's edge data measure it.

    An edge holds the vehicles travelling on it and those queued for its movements; those
    queued, and the slow share of those running, lose time there. With ``tau > 0`` the green
    windows are hard forward and relaxed backward."""
    e = net.storage.shape[0]
    slow = net.slow_share if net.slow_share.shape[0] else jnp.zeros(e)

    def green_fn(t: jax.Array) -> jax.Array:
        hard = phase_windows(plan, timing, t, 0.0)
        if tau > 0:
            soft = phase_windows(plan, timing, t, tau)
            hard = hard + soft - jax.lax.stop_gradient(soft)
        return movement_green(net, hard)

    def one(s: State, _: None) -> tuple[State, jax.Array]:
        t = demand.begin + s.step.astype(jnp.float32) * dt
        s = step(net, s, green_fn(t), arrivals_at(demand, t, dt), dt)
        queued = jax.ops.segment_sum(s.queue, net.move_from, e)
        return s, jnp.stack([s.running + queued, s.running * slow + queued])

    @jax.checkpoint
    def interval(s: State, _: None) -> tuple[State, jax.Array]:
        s, on_edge = jax.lax.scan(one, s, None, length=interval_steps)
        return s, on_edge.mean(axis=0)

    final, seen = jax.lax.scan(interval, initial_state(net), None, length=intervals)
    return Observed(vehicles=seen[:, 0], lost=seen[:, 1], delay=final.delay)


def observe_runs(
    net: ModelNet,
    timing: Timing,
    plans: Plan,
    demand: Demand,
    *,
    intervals: int,
    interval_steps: int,
    dt: float,
    tau: float,
) -> Observed:
    """:func:`observe` of R stacked plans."""
    run = partial(observe, intervals=intervals, interval_steps=interval_steps, dt=dt, tau=tau)
    return jax.vmap(lambda p: run(net, timing, p, demand))(plans)


def misfit(
    seen: Observed, measured: Measured, vehicles_total: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """How far the twin's runs ``seen`` are from SUMO's: the squared errors of the vehicles
    on edges and of those losing time there, each over the squares of SUMO's (a normalised
    mean squared error), and the mean squared relative error of the delay per vehicle."""

    def nmse(model: jax.Array, sumo: jax.Array) -> jax.Array:
        err = ((model - sumo) * measured.mask) ** 2
        return err.sum() / jnp.maximum((sumo**2 * measured.mask).sum(), 1e-6)

    relative = (per_vehicle(seen.delay, vehicles_total) - measured.delay) / jnp.maximum(
        measured.delay, 1.0
    )
    return (
        nmse(seen.vehicles, measured.vehicles),
        nmse(seen.lost, measured.lost),
        (relative**2).mean(),
    )


def per_vehicle(delay: jax.Array, vehicles_total: jax.Array) -> jax.Array:
    """Delay per vehicle of the demand, as RESCO's delay is stated."""
    return delay / jnp.maximum(vehicles_total, 1.0)


def penalty(params: TwinParams, prior: Prior) -> jax.Array:
    """The negative log prior, up to a constant: each group's mean squared z-score."""
    groups = (f.name for f in dataclasses.fields(params))
    return sum(jnp.mean((getattr(params, g) / getattr(prior, g)) ** 2) for g in groups)


@partial(jax.jit, static_argnames=("iterations", "interval_steps", "dt", "tau", "lr"))
def fit(
    net: ModelNet,
    timing: Timing,
    layout: Layout,
    plans: Plan,
    demand: Demand,
    measured: Measured,
    vehicles_total: jax.Array,
    prior: Prior,
    weights: jax.Array,
    *,
    iterations: int,
    interval_steps: int,
    dt: float,
    tau: float = 1.0,
    lr: float = 0.03,
) -> tuple[TwinParams, jax.Array]:
    """Adam from the constants: (the parameters of least loss seen, [iterations, 4] the
    misfits of vehicles, time lost on edges and delay, and the prior term, per step).

    The loss is those four terms times ``weights`` (see :func:`misfit`, :func:`penalty`);
    ``net.slots`` must hold the slowest free-flow time the fit may reach
    (:func:`slots_for`)."""
    run = partial(
        observe_runs,
        intervals=measured.vehicles.shape[1],
        interval_steps=interval_steps,
        dt=dt,
        tau=tau,
    )

    def loss(params: TwinParams) -> tuple[jax.Array, jax.Array]:
        model_net, model_timing = apply(net, timing, params, layout, dt)
        seen = run(model_net, model_timing, plans, demand)
        terms = jnp.stack([*misfit(seen, measured, vehicles_total), penalty(params, prior)])
        return (weights * terms).sum(), terms

    # a step that shrinks to a tenth over the fit: the model is piecewise smooth (green
    # windows, spill-back, lane order), and late steps at the first rate bounce between pieces
    opt = optax.adam(optax.cosine_decay_schedule(lr, iterations, alpha=0.1))
    start = zero_params(net, timing)

    def iterate(carry, _: None):
        params, state, best, best_loss = carry
        (value, terms), grad = jax.value_and_grad(loss, has_aux=True)(params)
        better = value < best_loss
        best = jax.tree.map(lambda b, p: jnp.where(better, p, b), best, params)
        updates, state = opt.update(grad, state)
        params = optax.apply_updates(params, updates)
        return (params, state, best, jnp.minimum(value, best_loss)), terms

    carry = (start, opt.init(start), start, jnp.float32(jnp.inf))
    (_, _, best, _), trace = jax.lax.scan(iterate, carry, None, length=iterations)
    return best, trace


@partial(jax.jit, static_argnames=("interval_steps", "dt"))
def evaluate(
    net: ModelNet,
    timing: Timing,
    plans: Plan,
    demand: Demand,
    measured: Measured,
    vehicles_total: jax.Array,
    *,
    interval_steps: int,
    dt: float,
) -> tuple[jax.Array, jax.Array]:
    """([R] each run's delay per vehicle in the twin (net, timing), [3] its misfits, see
    :func:`misfit`), with hard green windows: for the report."""
    seen = observe_runs(
        net,
        timing,
        plans,
        demand,
        intervals=measured.vehicles.shape[1],
        interval_steps=interval_steps,
        dt=dt,
        tau=0.0,
    )
    terms = jnp.stack(misfit(seen, measured, vehicles_total))
    return per_vehicle(seen.delay, vehicles_total), terms
