"""Plan slots trimmed to the longest plan (issue 19, second round): same scores, same
assignment as with every slot, on a small random instance (no SUMO)."""

from __future__ import annotations

import dataclasses

import numpy as np

from mobility.core.matching import Fleet, Limits, Requests, dispatch_candidates
from mobility.shuttles.dispatcher import _trimmed_slots


def test_trimmed_slots_round_up_to_even_within_bounds() -> None:
    assert _trimmed_slots([], 10) == 2
    assert _trimmed_slots([0, 1], 10) == 2
    assert _trimmed_slots([3, 0, 5], 10) == 6
    assert _trimmed_slots([4], 10) == 4
    assert _trimmed_slots([9, 2], 10) == 10
    assert _trimmed_slots([7], 6) == 6


def test_trimmed_round_equals_the_round_over_all_slots() -> None:
    rng = np.random.default_rng(7)
    n, R, V, K = 30, 40, 12, 10
    xy = rng.uniform(0, 3000, (n, 2))
    times = (np.abs(xy[:, None] - xy[None]).sum(-1) / 10).astype(np.float32)
    stops = rng.integers(0, 4, V)  # 0-3 stops: trimmed to 4 slots
    mask = np.arange(K)[None, :] < stops[:, None]
    fleet = Fleet(
        edge=rng.integers(0, n, V).astype(np.int32),
        ready=np.zeros(V, np.float32),
        capacity=np.full(V, 4, np.int32),
        aboard=stops.astype(np.int32),
        mask=np.ones(V, bool),
        stop_edge=rng.integers(0, n, (V, K)).astype(np.int32),
        stop_delta=np.where(mask, -1, 0).astype(np.int32),
        stop_deadline=rng.uniform(300, 1500, (V, K)).astype(np.float32),
        stop_mask=mask,
    )
    o, d = rng.integers(0, n, R), rng.integers(0, n, R)
    req = Requests(
        origin=o.astype(np.int32),
        destination=d.astype(np.int32),
        time=rng.uniform(-200, 0, R).astype(np.float32),
        direct=times[o, d] + 10,
        mask=o != d,
    )
    limits = Limits(np.float32(600), np.float32(2.0), np.float32(0.0), np.float32(10.0))
    k = _trimmed_slots([int(s) for s in stops], K)
    assert k == 4
    trimmed = dataclasses.replace(
        fleet,
        stop_edge=fleet.stop_edge[:, :k],
        stop_delta=fleet.stop_delta[:, :k],
        stop_deadline=fleet.stop_deadline[:, :k],
        stop_mask=fleet.stop_mask[:, :k],
    )
    a_full, c_full = dispatch_candidates(times, fleet, req, limits)
    a_trim, c_trim = dispatch_candidates(times, trimmed, req, limits)
    assert np.isfinite(np.asarray(c_full.cost)).sum() > R  # a real instance: many feasible
    np.testing.assert_array_equal(np.asarray(c_trim.shuttle), np.asarray(c_full.shuttle))
    np.testing.assert_array_equal(np.asarray(c_trim.cost), np.asarray(c_full.cost))
    np.testing.assert_array_equal(np.asarray(c_trim.pickup), np.asarray(c_full.pickup))
    np.testing.assert_array_equal(np.asarray(c_trim.dropoff), np.asarray(c_full.dropoff))
    np.testing.assert_array_equal(np.asarray(a_trim), np.asarray(a_full))
    assert (np.asarray(a_trim) >= 0).sum() > 0
