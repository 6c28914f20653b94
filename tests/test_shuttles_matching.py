"""The JAX matching against brute force on small random instances (no SUMO)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mobility.core.matching import (
    Fleet,
    Limits,
    Requests,
    auction,
    auction_sparse,
    dispatch_round,
    score_insertions,
)


def brute_force(benefit: np.ndarray) -> float:
    """Best total benefit by enumeration (tiny instances only)."""
    R, V = benefit.shape
    best = 0.0
    for cols in itertools.product(range(-1, V), repeat=R):
        used = [c for c in cols if c >= 0]
        if len(used) != len(set(used)):
            continue
        total = 0.0
        for r, c in enumerate(cols):
            if c >= 0:
                if not np.isfinite(benefit[r, c]):
                    break
                total += benefit[r, c]
        else:
            best = max(best, total)
    return best


R, V, K, N = 4, 3, 4, 6  # fixed padded shapes: one compilation for every example


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-5, 50), min_size=R * V, max_size=R * V),
    blocked=st.lists(st.booleans(), min_size=R * V, max_size=R * V),
)
def test_auction_agrees_with_brute_force(values: list[float], blocked: list[bool]) -> None:
    benefit = np.where(np.array(blocked), -np.inf, np.array(values)).reshape(R, V)
    assigned = np.asarray(auction(benefit, eps=1e-4))
    used = assigned[assigned >= 0]
    assert len(used) == len(set(used))
    total = sum(benefit[r, c] for r, c in enumerate(assigned) if c >= 0)
    assert np.isfinite(total)
    assert abs(total - brute_force(benefit)) <= R * 1e-4 + 1e-6


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-5, 50), min_size=R * 2, max_size=R * 2),
    seed=st.integers(0, 2**31),
)
def test_auction_on_candidate_lists_agrees_with_brute_force(values, seed) -> None:
    # each of R rows may take 2 of 5 columns: the dense equivalent is -inf elsewhere
    columns = 5
    rng = np.random.default_rng(seed)
    cols = np.array([rng.choice(columns, 2, replace=False) for _ in range(R)], np.int32)
    sparse = np.array(values).reshape(R, 2)
    dense = np.full((R, columns), -np.inf)
    np.put_along_axis(dense, cols, sparse, axis=1)
    assigned = np.asarray(auction_sparse(sparse, cols, num_cols=columns, eps=1e-4))
    used = assigned[assigned >= 0]
    assert len(used) == len(set(used))
    assert all(c < 0 or c in cols[r] for r, c in enumerate(assigned))
    total = sum(dense[r, c] for r, c in enumerate(assigned) if c >= 0)
    assert abs(total - brute_force(dense)) <= R * 1e-4 + 1e-6


def boards_early(fleet, v, stops, i, j, origin, destination) -> bool:
    """SUMO boards a waiting rider at the shuttle's first stop on their edge: an insertion
    that makes anyone board elsewhere than planned is not allowed (nor, for a shuttle with
    a plan, a first stop on the edge it is driving on)."""
    edges = [e for e, *_ in stops]
    picks = [e for e, d, *_ in stops if d > 0]
    driving = bool(stops) and int(fleet.edge[v]) in (origin, destination)
    if driving and (
        (i == 0 and int(fleet.edge[v]) == origin) or (j == 0 and int(fleet.edge[v]) == destination)
    ):
        return True
    if origin in edges[: max(i - 1, 0)] or origin in [e for e, d, *_ in stops[i:] if d > 0]:
        return True
    return destination in [e for e, d, *_ in stops[j:] if d > 0] and destination in picks


def reference(times, fleet, req, limits) -> np.ndarray:
    """Cost of the best insertion per (request, shuttle), by simulating every plan."""
    out = np.full((R, V), np.inf)
    for r in range(R):
        if not req.mask[r]:
            continue
        for v in range(V):
            if not fleet.mask[v]:
                continue
            n = int(fleet.stop_mask[v].sum())
            stops = [
                (
                    int(fleet.stop_edge[v, k]),
                    int(fleet.stop_delta[v, k]),
                    float(fleet.stop_deadline[v, k]),
                    "old",
                )
                for k in range(n)
            ]
            old_times = _arrivals(times, fleet, v, stops, limits.stop_time)
            for i in range(n + 1):
                for j in range(i, n + 1):
                    if boards_early(
                        fleet, v, stops, i, j, int(req.origin[r]), int(req.destination[r])
                    ):
                        continue
                    plan = list(stops)
                    plan.insert(j, (int(req.destination[r]), -1, np.inf, "drop"))
                    plan.insert(i, (int(req.origin[r]), +1, np.inf, "pick"))
                    t = _arrivals(times, fleet, v, plan, limits.stop_time)
                    load = int(fleet.aboard[v])
                    ok = True
                    olds = iter(old_times)
                    for (_, delta, deadline, kind), at in zip(plan, t, strict=True):
                        load += delta
                        before = next(olds) if kind == "old" else -np.inf
                        if load > fleet.capacity[v] or at > max(deadline, before):
                            ok = False
                    pick = t[[p[3] for p in plan].index("pick")]
                    drop = t[[p[3] for p in plan].index("drop")]
                    wait, ride = pick - req.time[r], drop - pick
                    ok &= wait <= limits.max_wait
                    ok &= ride <= limits.max_detour * req.direct[r] + limits.detour_slack
                    if not ok:
                        continue
                    olds = [at for p, at in zip(plan, t, strict=True) if p[3] == "old"]
                    delay = sum(a - b for a, b in zip(olds, old_times, strict=True))
                    out[r, v] = min(out[r, v], wait + ride - req.direct[r] + delay)
    return out


def _arrivals(times, fleet, v, plan, stop_time) -> list[float]:
    """When each stop of ``plan`` is done: the drive there plus the stop's own time."""
    at, node, out = float(fleet.ready[v]), int(fleet.edge[v]), []
    for edge, *_ in plan:
        at += float(times[node, edge]) + float(stop_time)
        node = edge
        out.append(at)
    return out


@st.composite
def instances(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    times = rng.uniform(5, 60, (N, N)).astype(np.float32)
    np.fill_diagonal(times, 0.0)
    n_stops = rng.integers(0, K + 1, V)
    stop_mask = np.arange(K)[None, :] < n_stops[:, None]
    # plans of riders already aboard (drop-offs only) keep loads simple and consistent
    aboard = n_stops.astype(np.int32)
    fleet = Fleet(
        edge=rng.integers(0, N, V).astype(np.int32),
        ready=np.full(V, 100.0, np.float32),
        capacity=rng.integers(1, 5, V).astype(np.int32),
        aboard=np.minimum(aboard, 4),
        mask=rng.random(V) < 0.9,
        stop_edge=rng.integers(0, N, (V, K)).astype(np.int32),
        stop_delta=np.where(stop_mask, -1, 0).astype(np.int32),
        stop_deadline=rng.uniform(150, 400, (V, K)).astype(np.float32),
        stop_mask=stop_mask,
    )
    fleet = dataclasses.replace(fleet, capacity=np.maximum(fleet.capacity, fleet.aboard))
    origin = rng.integers(0, N, R).astype(np.int32)
    destination = rng.integers(0, N, R).astype(np.int32)
    req = Requests(
        origin=origin,
        destination=destination,
        time=rng.uniform(40, 100, R).astype(np.float32),
        direct=times[origin, destination],
        mask=rng.random(R) < 0.9,
    )
    stop = np.float32(draw(st.sampled_from([0.0, 12.0])))
    limits = Limits(
        np.float32(draw(st.sampled_from([60.0, 150.0, 400.0]))),
        np.float32(2.0),
        np.float32(30.0),
        stop,
    )
    req = dataclasses.replace(req, direct=req.direct + stop)  # a direct ride makes one stop
    return times, fleet, req, limits


@settings(max_examples=40, deadline=None)
@given(instances())
def test_insertion_scores_agree_with_simulated_plans(instance) -> None:
    times, fleet, req, limits = instance
    got = np.asarray(score_insertions(times, fleet, req, limits).cost)
    want = reference(times, fleet, req, limits)
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-2)


@settings(max_examples=20, deadline=None)
@given(instances())
def test_round_assigns_feasible_and_respects_one_per_shuttle(instance) -> None:
    times, fleet, req, limits = instance
    assigned, ins = dispatch_round(times, fleet, req, limits)
    assigned, cost = np.asarray(assigned), np.asarray(ins.cost)
    taken = assigned[assigned >= 0]
    assert len(taken) == len(set(taken))
    for r, v in enumerate(assigned):
        if v >= 0:
            assert np.isfinite(cost[r, v]) and req.mask[r] and fleet.mask[v]
    # serves as many as the best assignment can
    benefit = np.where(np.isfinite(cost), 1.0, -np.inf)
    assert len(taken) == round(brute_force(benefit))
