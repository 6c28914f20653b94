"""A differentiable network traffic model for signal timing, in JAX.

Model choice: a *spatial queue with free-flow delay* on every edge (a link-level
store-and-forward model, as in Aboudolas et al. 2009, with Yperman's point-queue delay line):

- a vehicle entering an edge travels it at free-flow speed (a delay line of
  ``round(length / speed / dt)`` steps, kept in a ring buffer), then joins the queue of
  the movement (next edge) it will take, split by the turning ratios of the scenario's
  routes;
- a movement discharges at most ``saturation flow x green`` per step, and no more than
  its share of the free storage (``lanes x length / 7.5 m`` vehicles) of the next edge:
  a full edge blocks the movements into it (spill-back), and sources wait outside a full
  entry edge (vertical queue, SUMO's depart delay);
- movements sharing a lane discharge it first in, first out (:func:`lane_fifo`): a left
  turn held at red, or a turn into a full edge, holds back the through traffic behind
  it in a shared lane, and the lane's saturation flow bounds them all together; a red
  turn queued past its own lanes stops its whole edge (:func:`bay_overflow`);
- delay is the vehicle-seconds spent in movement queues and in source queues.

Why this and not a cell-transmission model: the loss SUMO reports (RESCO delay = time
loss + depart delay) is dominated by queueing at stop lines; the free-flow delay line keeps
platoons intact, so offsets matter (CTM diffuses platoons at coarse cells and needs many
cells per edge, i.e. more memory per plan); per-movement queues keep a blocked left turn
from stopping a green through movement (with one FIFO queue per edge it would). Storage
gives spill-back, which is what makes bad plans gridlock. The state is small (``E x K``
delay line plus ``M`` queues), so thousands of plans fit in one ``vmap``.

Signals: each light cycles through its green phases with fixed yellow/all-red after each
(``cycle = sum(greens) + lost``), the first :data:`YELLOW_USED_S` of each yellow still
passing traffic (or a light's own ``Timing.used``, fitted to SUMO by
:mod:`mobility.core.calibration`); the green of phase ``p`` is a window of the cycle,
relaxed with sigmoids of width ``tau`` seconds so that gradients reach green times,
offsets (and through them the cycle length). ``tau -> 0`` gives the hard windows.

Everything here is pure: no SUMO, no Ray. Written for one plan and one demand sample;
batch with ``jax.vmap`` outside. Arrays are padded: ``E`` edges (the last one is the sink,
where routes end), ``M`` movements, ``T`` lights (plus one dummy, always-green light for
unsignalised movements), ``P`` green phases, ``K`` delay-line slots.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field

import jax
import jax.numpy as jnp
import numpy as np

JAM_SPACING_M = 7.5  # m of lane per stored vehicle (car + gap, standing)
CHUNK = 50  # steps per checkpointed chunk of the scan (memory of backprop ~ steps / CHUNK)
# Seconds of each yellow still used as green: drivers too close to stop drive on (HCM's
# extension of effective green). SUMO's drivers start up without a lost second, so the
# effective green is the green plus this. Chosen on stored check-model runs (Spearman:
# cologne3 0.69 -> 0.73, ingolstadt1 0.84 -> 0.85, cologne1 0.95 -> 0.94, grid4x4 same);
# without it the model overcharged short cycles, which SUMO favours on cologne3.
YELLOW_USED_S = 2.0


def _no_ints() -> np.ndarray:
    """An empty default: the feature the field describes is switched off."""
    return np.zeros(0, np.int32)


def _no_floats() -> np.ndarray:
    """An empty default: the feature the field describes is switched off."""
    return np.zeros(0, np.float32)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ModelNet:
    """The fixed network of one scenario (a pytree of arrays)."""

    storage: jax.Array  # [E] vehicles an edge holds (sink: huge)
    delay_steps: jax.Array  # [E] int free-flow steps to traverse the edge, in 1..K-1
    move_from: jax.Array  # [M] int edge a movement leaves
    move_to: jax.Array  # [M] int edge it enters (E-1: the sink, route ends)
    move_sat: jax.Array  # [M] veh/s saturation flow
    move_tls: jax.Array  # [M] int light controlling it (T: the always-green dummy)
    move_serves: jax.Array  # [M, P] float 1 where green phase p of its light serves it
    split: jax.Array  # [M] share of the from-edge's vehicles taking this movement
    slots: jax.Array  # [K] zeros; only its length (delay-line slots) is used
    # lanes shared by movements, as (movement, lane) pairs (none: each discharges alone)
    pair_move: jax.Array = field(default_factory=_no_ints)  # [Q] movement of a pair
    pair_lane: jax.Array = field(default_factory=_no_ints)  # [Q] its lane, in 0..L-1
    pair_share: jax.Array = field(default_factory=_no_floats)  # [Q] movement's queue share there
    lane_sat: jax.Array = field(default_factory=_no_floats)  # [L] veh/s a lane discharges at most
    # turning bays (none: a queue never outgrows its lanes)
    move_bay: jax.Array = field(default_factory=_no_floats)  # [M] vehicles its own lanes hold
    # fitted free-flow times (none: whole steps, no loss while running; see
    # mobility.core.calibration): a share delay_frac of each step's entries reaches its queue
    # one step after the others (so K >= delay_steps + 2), and slow_share of the time a
    # vehicle runs on the edge counts as delay (below its desired speed: accelerating from a
    # stop, slowing for a turn, as SUMO's time loss counts it)
    delay_frac: jax.Array = field(default_factory=_no_floats)  # [E] in [0, 1)
    slow_share: jax.Array = field(default_factory=_no_floats)  # [E] in [0, 1)
    # yielding at unsignalised junctions (none: a movement discharges at its saturation flow
    # whatever crosses it): movement yield_move gives way to yield_foe, and discharges
    # exp(-yield_gap x its foes' flow in veh/s) of its saturation flow (gap acceptance)
    yield_move: jax.Array = field(default_factory=_no_ints)  # [Y] int movement giving way
    yield_foe: jax.Array = field(default_factory=_no_ints)  # [Y] int movement it gives way to
    yield_gap: jax.Array = field(default_factory=_no_floats)  # [M] s per foe vehicle per s


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Timing:
    """The fixed part of the signal plans: which phases exist and their transitions."""

    phase_mask: jax.Array  # [T, P] float 1 where the green phase exists
    lost: jax.Array  # [T, P] s of yellow + all-red shown after green p
    min_green: jax.Array  # [T, P] s
    max_green: jax.Array  # [T, P] s
    # s each green window runs on into its transition (effective green minus displayed green:
    # yellow still used, less any start-up loss), per light; none: YELLOW_USED_S everywhere.
    # Fitted per network by mobility.core.calibration.
    used: jax.Array = field(default_factory=_no_floats)  # [T] s, at most the transition


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Plan:
    """A fixed-time plan for every light: green times and offsets."""

    green: jax.Array  # [T, P] s of green per phase (0 where masked)
    offset: jax.Array  # [T] s: the cycle of light t starts at offset (mod cycle)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Demand:
    """Vehicles appearing at their first edge, per time bin."""

    rate: jax.Array  # [B, E] veh/s entering edge e during bin b
    begin: jax.Array  # [] s, start of bin 0
    bin_s: jax.Array  # [] s per bin


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class State:
    """The traffic at one step."""

    line: jax.Array  # [K, E] vehicles that entered edge e k steps ago (ring buffer)
    running: jax.Array  # [E] vehicles travelling on an edge (not yet queued)
    queue: jax.Array  # [M] vehicles queued for a movement
    waiting: jax.Array  # [E] vehicles waiting to enter at a source edge
    step: jax.Array  # [] int
    entered: jax.Array  # [] vehicles that entered the network
    exited: jax.Array  # [] vehicles that left it
    delay: jax.Array  # [] vehicle-seconds in queues so far


def initial_state(net: ModelNet) -> State:
    """An empty network at step 0."""
    e, m, k = net.storage.shape[0], net.move_from.shape[0], net.slots.shape[0]
    z = jnp.zeros((), net.storage.dtype)
    return State(
        jnp.zeros((k, e)),
        jnp.zeros(e),
        jnp.zeros(m),
        jnp.zeros(e),
        jnp.zeros((), jnp.int32),
        z,
        z,
        z,
    )


def stored(state: State) -> jax.Array:
    """[] vehicles inside the network or waiting to enter it."""
    return state.running.sum() + state.queue.sum() + state.waiting.sum()


def step(net: ModelNet, state: State, green: jax.Array, arrivals: jax.Array, dt: float) -> State:
    """Advance one step of ``dt`` s. ``green`` [M] in [0, 1], ``arrivals`` [E] vehicles."""
    e = net.storage.shape[0]
    k = state.line.shape[0]
    cols = jnp.arange(e)
    # vehicles reaching the end of their edge join the queue of their next movement
    slot = (state.step - net.delay_steps) % k
    reached = state.line[slot, cols]  # [E]
    if net.delay_frac.shape[0]:  # a fraction of each step's entries takes one step more
        later = state.line[(slot - 1) % k, cols]
        reached = (1.0 - net.delay_frac) * reached + net.delay_frac * later
    running = state.running - reached
    queue = state.queue + reached[net.move_from] * net.split
    green = bay_overflow(net, queue, green)
    # what wants to move this step: discharge bounded by saturation flow x green
    want = jnp.minimum(queue, net.move_sat * green * dt)  # [M]
    want = give_way(net, want, dt)
    src_want = state.waiting + arrivals  # [E]
    # spill-back: each edge admits at most its free storage, shared in proportion
    occupied = running + jax.ops.segment_sum(queue, net.move_from, e)
    supply = jnp.maximum(net.storage - occupied, 0.0)
    asked = jax.ops.segment_sum(want, net.move_to, e) + src_want
    admit = jnp.where(asked > supply, supply / jnp.maximum(asked, 1e-9), 1.0)  # [E]
    flow = lane_fifo(net, queue, want * admit[net.move_to], dt)
    src_in = src_want * admit
    queue = queue - flow
    inflow = jax.ops.segment_sum(flow, net.move_to, e) + src_in  # [E]
    exited = inflow[e - 1]
    inflow = inflow.at[e - 1].set(0.0)
    line = state.line.at[state.step % k].set(inflow)
    waiting = src_want - src_in
    lost = queue.sum() + waiting.sum()
    if net.slow_share.shape[0]:
        lost = lost + (running * net.slow_share).sum()
    return State(
        line=line,
        running=running + inflow,
        queue=queue,
        waiting=waiting,
        step=state.step + 1,
        entered=state.entered + arrivals.sum(),
        exited=state.exited + exited,
        delay=state.delay + lost * dt,
    )


def give_way(net: ModelNet, want: jax.Array, dt: float) -> jax.Array:
    """[M] ``want`` of movements that give way cut by the flow of their foes this step: a
    minor road at a priority junction passes in the gaps of the major flow, fewer the
    heavier it is (``exp(-gap x foe flow)``, the share of foe headways longer than ``gap``
    when the foes arrive at random)."""
    if net.yield_move.shape[0] == 0:
        return want
    foe_rate = jax.ops.segment_sum(want[net.yield_foe], net.yield_move, want.shape[0]) / dt
    return want * jnp.exp(-net.yield_gap * foe_rate)


def bay_overflow(net: ModelNet, queue: jax.Array, green: jax.Array) -> jax.Array:
    """[M] ``green`` with every movement of an edge stopped while one of its red movements
    is queued past its own lanes (its turning bay): the overflow stands in the other lanes'
    way, as a turn queue spilling out of its bay does in SUMO (ingolstadt1: a 9 m approach
    whose right lane only the third phase serves). Partly within the last vehicle."""
    if net.move_bay.shape[0] == 0:
        return green
    red = (green < 1e-3).astype(green.dtype)
    full = jnp.clip(queue - net.move_bay + 1.0, 0.0, 1.0) * red
    blocked = jnp.maximum(jax.ops.segment_max(full, net.move_from, net.storage.shape[0]), 0.0)
    return green * (1.0 - blocked[net.move_from])


def lane_fifo(net: ModelNet, queue: jax.Array, flow: jax.Array, dt: float) -> jax.Array:
    """[M] ``flow`` cut so that every shared lane discharges first in, first out.

    A lane's vehicles leave in order, so the lane drains at the pace of its slowest
    movement: if a movement can send only a fraction of its vehicles in that lane (red,
    yielding, or its next edge full), the others in the lane send that fraction too
    (Daganzo's FIFO diverge), and the lane never discharges above its saturation flow.
    Each movement's queue is spread evenly over its lanes (``pair_share`` sums to 1 per
    movement). Exclusive lanes, and movements without lanes (route ends), are unchanged.
    """
    n_l = net.lane_sat.shape[0]
    if n_l == 0:
        return flow
    q = queue[net.pair_move] * net.pair_share  # [Q] queued in the lane
    can = flow[net.pair_move] * net.pair_share  # [Q] of which could leave now
    queued = q > 1e-6
    ratio = jnp.where(queued, can / jnp.where(queued, q, 1.0), jnp.inf)
    total = jax.ops.segment_sum(q, net.pair_lane, n_l)
    frac = jnp.minimum(
        jax.ops.segment_min(ratio, net.pair_lane, n_l),
        net.lane_sat * dt / jnp.maximum(total, 1e-6),
    )
    lane_flow = jnp.clip(frac, 0.0, 1.0)[net.pair_lane] * q
    # a movement's shares sum to 1 over its lanes: take off what its lanes hold back
    return flow - jax.ops.segment_sum(can - lane_flow, net.pair_move, flow.shape[0])


def phase_windows(plan: Plan, timing: Timing, t: jax.Array, tau: float) -> jax.Array:
    """[T, P] how green each phase is at time ``t`` (s): sigmoid-relaxed cycle windows."""
    green = plan.green * timing.phase_mask
    span = green + timing.lost * timing.phase_mask  # [T, P]
    cycle = jnp.maximum(span.sum(axis=1), 1e-3)  # [T]
    start = jnp.cumsum(span, axis=1) - span  # [T, P]
    end = start + green + jnp.minimum(yellow_used(timing), timing.lost) * timing.phase_mask
    u = jnp.mod(t - plan.offset, cycle)[:, None]  # [T, 1]
    out = jnp.zeros_like(green)
    for shift in (-1.0, 0.0, 1.0):  # the window may wrap around the cycle
        v = u + shift * cycle[:, None]
        if tau > 0:
            out = out + jax.nn.sigmoid((v - start) / tau) * jax.nn.sigmoid((end - v) / tau)
        else:
            out = out + ((v >= start) & (v < end)).astype(green.dtype)
    return jnp.clip(out, 0.0, 1.0) * timing.phase_mask


def yellow_used(timing: Timing) -> jax.Array:
    """[T, 1] s of each transition still used as green: the fitted ``timing.used`` of each
    light, or :data:`YELLOW_USED_S` when the twin is not calibrated."""
    if timing.used.shape[0] == 0:
        return jnp.full((timing.lost.shape[0], 1), YELLOW_USED_S, timing.lost.dtype)
    return timing.used[:, None]


def movement_green(net: ModelNet, phase_green: jax.Array) -> jax.Array:
    """[M] green of each movement from [T, P] phase greens (dummy light T: always green)."""
    full = jnp.concatenate([phase_green, jnp.ones((1, phase_green.shape[1]))], axis=0)
    return jnp.clip((net.move_serves * full[net.move_tls]).sum(axis=1), 0.0, 1.0)


def arrivals_at(demand: Demand, t: jax.Array, dt: float) -> jax.Array:
    """[E] vehicles appearing during the step starting at ``t``."""
    b = jnp.clip(
        ((t - demand.begin) // demand.bin_s).astype(jnp.int32), 0, demand.rate.shape[0] - 1
    )
    return demand.rate[b] * dt


def run(net: ModelNet, state: State, green_fn, demand: Demand, *, steps: int, dt: float) -> State:
    """Run ``steps`` steps from ``state``; ``green_fn(t) -> [M]`` gives the greens at time t.

    ``steps`` must be a multiple of :data:`CHUNK` or smaller than it. Chunks are
    rematerialised in backprop, so gradient memory grows with ``steps / CHUNK``.
    """
    chunk = min(steps, CHUNK)
    if steps % chunk:
        msg = f"steps ({steps}) must be a multiple of {chunk}"
        raise ValueError(msg)

    def one(s: State, _: None) -> tuple[State, None]:
        t = demand.begin + s.step.astype(jnp.float32) * dt
        return step(net, s, green_fn(t), arrivals_at(demand, t, dt), dt), None

    @jax.checkpoint
    def block(s: State, _: None) -> tuple[State, None]:
        return jax.lax.scan(one, s, None, length=chunk)[0], None

    return jax.lax.scan(block, state, None, length=steps // chunk)[0]


def simulate_plan(
    net: ModelNet, timing: Timing, plan: Plan, demand: Demand, *, steps: int, dt: float, tau: float
) -> State:
    """One fixed-time plan over ``steps`` steps from an empty network; the final state."""

    def green_fn(t: jax.Array) -> jax.Array:
        return movement_green(net, phase_windows(plan, timing, t, tau))

    return run(net, initial_state(net), green_fn, demand, steps=steps, dt=dt)


def plan_delay(
    net: ModelNet, timing: Timing, plan: Plan, demand: Demand, *, steps: int, dt: float, tau: float
) -> jax.Array:
    """[] total delay (vehicle-seconds) of a plan, counting the vehicles still queued at the
    end as waiting one more minute (so that blocking the network never looks cheap)."""
    final = simulate_plan(net, timing, plan, demand, steps=steps, dt=dt, tau=tau)
    return final.delay + 60.0 * (final.queue.sum() + final.waiting.sum())


def sample_demand(demand: Demand, key: jax.Array, noise: float) -> Demand:
    """A demand sample: each bin and entry scaled by a log-normal factor (mean 1)."""
    z = jax.random.normal(key, demand.rate.shape)
    return dataclasses.replace(demand, rate=demand.rate * jnp.exp(noise * z - 0.5 * noise**2))


def steps_for(duration: float, dt: float) -> int:
    """Steps covering ``duration`` s, rounded up to whole checkpoint chunks."""
    n = int(np.ceil(duration / dt))
    return n if n <= CHUNK else int(np.ceil(n / CHUNK) * CHUNK)
