"""One dispatch round in JAX: score every insertion of every open request into every shuttle's
plan, then assign requests to shuttles with an auction. Pure functions over fixed padded
arrays with masks; imports neither SUMO nor Ray, so it runs unchanged on a GPU.

Shapes: R requests, V shuttles, K plan slots (stops a shuttle still has to make), N edges.
A plan is the node sequence ``p_0`` (the shuttle's edge) then its stops ``p_1..p_n``;
"insert after node i" puts a stop on the leg leaving node i (i = n: at the end). A request
is inserted with its pick-up after node i and its drop-off after node j >= i.

Feasibility, per (request, shuttle, i, j):
- seats: the riders aboard on every leg from i to j, plus one, fit the capacity;
- the rider's wait (pick-up minus request time) is at most ``max_wait``;
- the rider's ride (drop-off minus pick-up) is at most ``max_detour`` times the direct time;
- no stop already planned is delayed past its deadline (or, if already late, delayed more).
Cost: the extra rider time the insertion causes, i.e. the new rider's wait plus their ride
beyond the direct time plus the delay it adds to every stop already planned.

The per-shuttle parts (arrival times, slack before each deadline, loads) do not depend on
the request, so the inner work is O(R * V * (K+1)^2) elementwise with no loop over stops.
The assignment is Bertsekas' forward auction (Jacobi variant) over each request's
candidate shuttles only; a request may stay unassigned (value 0), which it does when no
shuttle gives it positive benefit.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp

INF = 1e9  # travel time meaning "unreachable"; stays finite so masks do the work
AUCTION_EPS = 1.0  # s: the assignment's total cost is within R * eps of the optimum


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Fleet:
    """Shuttles and their plans (padded)."""

    edge: jax.Array  # [V] int: edge the shuttle is on (node p_0)
    ready: jax.Array  # [V] float: time (s) at which it is at the end of that edge
    capacity: jax.Array  # [V] int: seats
    aboard: jax.Array  # [V] int: riders aboard now
    mask: jax.Array  # [V] bool: a real shuttle
    stop_edge: jax.Array  # [V, K] int: edges of planned stops p_1..p_K
    stop_delta: jax.Array  # [V, K] int: +1 pick-up, -1 drop-off, 0 padding
    stop_deadline: jax.Array  # [V, K] float: latest time for each stop (s)
    stop_mask: jax.Array  # [V, K] bool: a real stop (a prefix of each row)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Requests:
    """Open requests (padded)."""

    origin: jax.Array  # [R] int: pick-up edge
    destination: jax.Array  # [R] int: drop-off edge
    time: jax.Array  # [R] float: request time (s)
    direct: jax.Array  # [R] float: direct travel time origin -> destination (s)
    mask: jax.Array  # [R] bool: a real request


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Limits:
    max_wait: jax.Array  # [] float s
    max_detour: jax.Array  # [] float ratio
    detour_slack: jax.Array  # [] float s added to the ride limit (stops, boarding)
    # [] float s each stop adds (dwell, braking, pulling away): stop times are completion
    # times, so a rider's planned ride runs from their pick-up done to their drop-off done
    stop_time: jax.Array | float = 0.0


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Insertions:
    cost: jax.Array  # [R, V] float: best insertion's cost; +inf where infeasible
    pickup: jax.Array  # [R, V] int: i of the best insertion
    dropoff: jax.Array  # [R, V] int: j of the best insertion


def _vehicle_tables(times: jax.Array, fleet: Fleet, stop_time: jax.Array | float = 0.0):
    """Per shuttle: nodes, stop completion times, slack suffix/range minima and load range
    maxima."""
    K = fleet.stop_edge.shape[1]
    nodes = jnp.concatenate([fleet.edge[:, None], fleet.stop_edge], axis=1)  # [V, K+1]
    legs = (times[nodes[:, :-1], nodes[:, 1:]] + stop_time) * fleet.stop_mask  # [V, K]
    arrive = fleet.ready[:, None] + jnp.concatenate(
        [jnp.zeros_like(fleet.ready)[:, None], jnp.cumsum(legs, axis=1)], axis=1
    )  # [V, K+1]
    # a stop already late may not be delayed further, but does not block other insertions
    slack = jnp.where(fleet.stop_mask, fleet.stop_deadline - arrive[:, 1:], INF)  # [V, K]
    slack = jnp.maximum(slack, 0.0)
    slack = jnp.concatenate([slack, jnp.full_like(slack[:, :1], INF)], axis=1)  # [V, K+1]
    # node k (1..K) is at slack index k-1; shift so index k means node k
    node_slack = jnp.concatenate([jnp.full_like(slack[:, :1], INF), slack[:, :-1]], axis=1)
    load = fleet.aboard[:, None] + jnp.concatenate(
        [jnp.zeros_like(fleet.aboard)[:, None], jnp.cumsum(fleet.stop_delta, axis=1)], axis=1
    )  # [V, K+1]: riders on the leg leaving node k
    k = jnp.arange(K + 1)
    i, j = k[:, None], k[None, :]
    between = (k[None, None, :] > i[..., None]) & (k[None, None, :] <= j[..., None])
    # min slack of nodes i < k <= j, and of nodes k > j (suffix)
    mid_slack = jnp.min(jnp.where(between[None], node_slack[:, None, None, :], INF), axis=-1)
    after = k[None, :] > k[:, None]  # [j, k]
    tail_slack = jnp.min(jnp.where(after[None], node_slack[:, None, :], INF), axis=-1)  # [V, K+1]
    in_range = (k[None, None, :] >= i[..., None]) & (k[None, None, :] <= j[..., None])
    max_load = jnp.max(jnp.where(in_range[None], load[:, None, None, :], -1), axis=-1)
    count = jnp.sum(fleet.stop_mask, axis=1)  # [V] n
    return nodes, arrive, mid_slack, tail_slack, max_load, count


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Candidates:
    """Best insertions of each request into its candidate shuttles only (M of them)."""

    shuttle: jax.Array  # [R, M] int: candidate shuttle indices (distinct per row)
    cost: jax.Array  # [R, M] float: best insertion's cost; +inf where infeasible
    pickup: jax.Array  # [R, M] int: i of the best insertion
    dropoff: jax.Array  # [R, M] int: j of the best insertion


def score_insertions(
    times: jax.Array,
    fleet: Fleet,
    requests: Requests,
    limits: Limits,
    *,
    candidates: int = 16,
) -> Insertions:
    """Best feasible insertion of every request into the plans of its candidate shuttles.

    The candidates of a request are the ``candidates`` shuttles nearest (in time) to its
    pick-up; with no more shuttles than that, every shuttle is one and the scores are exact.
    Scores of non-candidates are +inf.
    """
    return _spread(
        score_candidates(times, fleet, requests, limits, candidates=candidates),
        fleet.edge.shape[0],
    )


def _spread(c: Candidates, V: int) -> Insertions:
    """[R, M] candidate scores as [R, V] (non-candidates: +inf, slots 0)."""
    rows = jnp.arange(c.cost.shape[0])[:, None]

    def spread(values: jax.Array, fill: float | int) -> jax.Array:
        return jnp.full((values.shape[0], V), fill, values.dtype).at[rows, c.shuttle].set(values)

    return Insertions(spread(c.cost, jnp.inf), spread(c.pickup, 0), spread(c.dropoff, 0))


def score_candidates(
    times: jax.Array,
    fleet: Fleet,
    requests: Requests,
    limits: Limits,
    *,
    candidates: int = 16,
) -> Candidates:
    """As :func:`score_insertions`, but only the candidates' scores, [R, M] (M = candidates,
    or V when there are no more shuttles than that)."""
    K = fleet.stop_edge.shape[1]
    R, V = requests.origin.shape[0], fleet.edge.shape[0]
    stop = limits.stop_time
    nodes, arrive, mid_slack, tail_slack, max_load, count = _vehicle_tables(times, fleet, stop)
    k = jnp.arange(K + 1)
    nxt = jnp.concatenate([nodes[:, 1:], nodes[:, -1:]], axis=1)  # [V, K+1] node after k
    has_next = k[None, :] < count[:, None]  # [V, K+1]
    base = jnp.where(has_next, times[nodes, nxt], 0.0)  # [V, K+1] leg k -> k+1
    o, d = requests.origin, requests.destination
    if candidates >= V:
        cand = jnp.broadcast_to(jnp.arange(V), (R, V))  # [R, M]
    else:
        near = times[fleet.edge[None, :], o[:, None]] + jnp.where(fleet.mask, 0.0, INF)[None]
        cand = jax.lax.top_k(-near, candidates)[1]  # [R, M]

    nodes, nxt, has_next, base = nodes[cand], nxt[cand], has_next[cand], base[cand]
    arrive, mid_slack, tail_slack = arrive[cand], mid_slack[cand], tail_slack[cand]
    max_load, count = max_load[cand], count[cand]
    capacity, vmask = fleet.capacity[cand], fleet.mask[cand]  # [R, M]
    first_o, last_pick_o, last_pick_d = _same_edge_bounds(fleet, cand, nodes, o, d)

    to_o = times[nodes, o[:, None, None]] + stop  # [R, M, K+1] to pick-up done
    o_next = jnp.where(has_next, times[o[:, None, None], nxt], 0.0)
    to_d = times[nodes, d[:, None, None]] + stop  # to drop-off done
    d_next = jnp.where(has_next, times[d[:, None, None], nxt], 0.0)
    od = times[o, d][:, None, None, None] + stop  # [R, 1, 1, 1]

    pickup_t = arrive + to_o  # [R, M, K+1] (by i)
    delta1 = to_o + o_next - base  # [R, M, K+1] shift of later nodes, i < j
    delta2 = to_d + d_next - base  # [R, M, K+1] (by j)
    same = to_o + od[..., 0] + d_next - base  # [R, M, K+1] i == j

    ii = k[:, None]
    jj = k[None, :]
    eq = ii == jj  # [K+1, K+1]
    p_t = pickup_t[..., :, None]  # [R, M, K+1, 1]
    drop_t = jnp.where(
        eq, p_t + od, arrive[..., None, :] + delta1[..., :, None] + to_d[..., None, :]
    )  # [R, M, K+1, K+1]
    shift_mid = jnp.where(eq, 0.0, delta1[..., :, None])
    shift_tail = jnp.where(eq, same[..., :, None], delta1[..., :, None] + delta2[..., None, :])
    wait = p_t - requests.time[:, None, None, None]
    ride = drop_t - p_t
    n = count[..., None, None]
    feasible = (
        (ii <= jj)[None, None]
        & (jj <= n)
        & requests.mask[:, None, None, None]
        & vmask[..., None, None]
        & (max_load + 1 <= capacity[..., None, None])
        & (wait <= limits.max_wait)
        & (ride <= limits.max_detour * requests.direct[:, None, None, None] + limits.detour_slack)
        & (shift_mid <= mid_slack)
        & (shift_tail <= tail_slack[..., None, :])
        & (to_o[..., :, None] - stop < INF / 2)
        & (to_d[..., None, :] - stop < INF / 2)
        & (ii <= first_o[..., None, None])
        & (ii >= last_pick_o[..., None, None])
        & (jj >= last_pick_d[..., None, None])
    )
    later = jnp.maximum(n - jnp.maximum(ii, jj), 0)  # stops after j (all shifted by tail)
    between = jnp.maximum(jj - ii, 0)
    cost = (
        wait
        + (ride - requests.direct[:, None, None, None])
        + shift_mid * between
        + shift_tail * later
    )
    cost = jnp.where(feasible, cost, jnp.inf).reshape(*cost.shape[:2], -1)  # [R, M, (K+1)^2]
    best = jnp.argmin(cost, axis=-1)
    return Candidates(
        shuttle=cand.astype(jnp.int32),
        cost=jnp.min(cost, axis=-1),
        pickup=(best // (K + 1)).astype(jnp.int32),
        dropoff=(best % (K + 1)).astype(jnp.int32),
    )


def _same_edge_bounds(
    fleet: Fleet, cand: jax.Array, nodes: jax.Array, o: jax.Array, d: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Where SUMO's boarding rule allows the new stops, [R, M] each: a rider waiting on an
    edge boards at the shuttle's first stop on that edge (SUMO boards every waiting rider
    of the taxi whose edge it stops on). So the pick-up goes no later than the plan's first
    stop on its edge (``i <= first_o``), no earlier than a pick-up already planned there
    (``i >= last_pick_o``, or that rider would board early), and the drop-off goes after
    any pick-up planned on its edge (``j >= last_pick_d``, same reason). A shuttle with a
    plan is driving on its edge, likely past the middle where riders wait: a stop on its
    own edge cannot come first (that would need a loop the 0 s diagonal hides)."""
    K = fleet.stop_edge.shape[1]
    k = jnp.arange(1, K + 1)  # node index of each stop
    real = fleet.stop_mask[cand]  # [R, M, K]
    edge = fleet.stop_edge[cand]
    pick = real & (fleet.stop_delta[cand] > 0)
    at_o = edge == o[:, None, None]
    first_o = jnp.min(jnp.where(real & at_o, k, K + 1), axis=-1)
    last_pick_o = jnp.max(jnp.where(pick & at_o, k, 0), axis=-1)
    last_pick_d = jnp.max(jnp.where(pick & (edge == d[:, None, None]), k, 0), axis=-1)
    driving = real[..., 0]  # [R, M]
    here = fleet.edge[cand]
    last_pick_o = jnp.maximum(last_pick_o, (driving & (here == o[:, None])).astype(k.dtype))
    last_pick_d = jnp.maximum(last_pick_d, (driving & (here == d[:, None])).astype(k.dtype))
    return first_o, last_pick_o, last_pick_d


@partial(jax.jit, static_argnames=("eps", "max_iter"))
def auction(benefit: jax.Array, *, eps: float = 1e-3, max_iter: int = 100_000) -> jax.Array:
    """Assign rows (requests) to columns (shuttles), at most one each, maximising benefit.

    ``benefit`` [R, V]: -inf where not allowed; a row may stay unassigned (benefit 0), so
    only positive benefits are ever taken. Returns [R] int: column, or -1. The dense form of
    :func:`auction_sparse` (every column a candidate of every row).
    """
    R, V = benefit.shape
    cols = jnp.broadcast_to(jnp.arange(V, dtype=jnp.int32), (R, V))
    return auction_sparse(benefit, cols, num_cols=V, eps=eps, max_iter=max_iter)


@partial(jax.jit, static_argnames=("num_cols", "eps", "max_iter"))
def auction_sparse(
    benefit: jax.Array,
    cols: jax.Array,
    *,
    num_cols: int,
    eps: float = 1e-3,
    max_iter: int = 100_000,
) -> jax.Array:
    """The auction over candidate lists: row r may take column ``cols[r, m]`` for
    ``benefit[r, m]`` (-inf: not allowed); columns of a row must be distinct.

    Bertsekas' forward auction from zero prices, Jacobi variant (all free rows bid at once),
    each row with a private dummy column worth 0 (it may stay unassigned). With unassigned
    columns at price 0 the total is within R * eps of the optimum (epsilon-complementary
    slackness). Each round reads only the M candidates of each row, [R, M] instead of
    [R, V]: with M = 16 of V = 200 shuttles a round costs a twelfth (bench/dispatch.py).
    No epsilon scaling: carrying prices between phases breaks the guarantee when rows may
    stay unassigned. Returns [R] int: column, or -1.
    """
    R, M = benefit.shape
    V = num_cols
    rows = jnp.arange(R)
    slot = jnp.arange(M)[None, :]

    def cond(state):
        _, assigned, _, it = state
        return jnp.any(assigned == -1) & (it < max_iter)

    def body(state):
        prices, assigned, owner, it = state
        values = benefit - prices[cols]  # [R, M]
        k = jnp.argmax(values, axis=1)
        best = jnp.take_along_axis(cols, k[:, None], axis=1)[:, 0]
        v1 = jnp.max(values, axis=1)
        second = jnp.where(slot == k[:, None], -jnp.inf, values)
        v2 = jnp.maximum(jnp.max(second, axis=1), 0.0)  # the dummy column is worth 0
        active = assigned == -1
        assigned = jnp.where(active & (v1 <= 0), -2, assigned)  # -2: stays unassigned
        bidding = active & (v1 > 0)
        bid = jnp.where(bidding, prices[best] + v1 - v2 + eps, -jnp.inf)
        target = jnp.where(bidding, best, V)  # V: a sink for rows that do not bid
        top_bid = jax.ops.segment_max(bid, target, num_segments=V + 1)[:V]
        is_top = bidding & (bid >= top_bid[jnp.minimum(target, V - 1)])
        winner = jax.ops.segment_min(jnp.where(is_top, rows, R), target, num_segments=V + 1)
        winner = winner[:V]
        won = winner < R  # [V]
        lost = (
            jnp.zeros(R, bool).at[jnp.where(won & (owner >= 0), owner, R)].set(True, mode="drop")
        )  # previous owners of the columns just won bid again
        assigned = jnp.where(lost, -1, assigned)
        assigned = assigned.at[jnp.where(won, winner, R)].set(jnp.arange(V), mode="drop")
        owner = jnp.where(won, winner, owner)
        prices = jnp.where(won, top_bid, prices)
        return prices, assigned, owner, it + 1

    state = (jnp.zeros(V, benefit.dtype), jnp.full(R, -1), jnp.full(V, -1), 0)
    _, assigned, _, _ = jax.lax.while_loop(cond, body, state)
    return jnp.where(assigned >= 0, assigned, -1)


@jax.jit
def dispatch_candidates(
    times: jax.Array, fleet: Fleet, requests: Requests, limits: Limits
) -> tuple[jax.Array, Candidates]:
    """Score insertions and assign: [R] shuttle index per request (-1: none) and the
    candidates' scores, [R, M]. What the dispatcher calls: no [R, V] table is built (at 5,000
    requests x 500 shuttles, spreading three of them cost more than the auction).

    Benefit of an assignment is ``ceiling - cost`` with the ceiling above any feasible cost,
    so the auction first serves as many requests as it can, then minimises the total cost.
    """
    cand = score_candidates(times, fleet, requests, limits)
    finite = jnp.isfinite(cand.cost)
    ceiling = 2.0 * jnp.max(jnp.where(finite, cand.cost, 0.0)) + 100.0
    benefit = jnp.where(finite, ceiling - cand.cost, -jnp.inf)
    assigned = auction_sparse(benefit, cand.shuttle, num_cols=fleet.edge.shape[0], eps=AUCTION_EPS)
    return assigned, cand


@jax.jit
def dispatch_round(
    times: jax.Array, fleet: Fleet, requests: Requests, limits: Limits
) -> tuple[jax.Array, Insertions]:
    """As :func:`dispatch_candidates`, with the scores spread over all shuttles, [R, V]."""
    assigned, cand = dispatch_candidates(times, fleet, requests, limits)
    return assigned, _spread(cand, fleet.edge.shape[0])
