"""Dispatch benchmark: quality against SUMO's algorithms, and the speed of one JAX round.

    python bench/dispatch.py speed [--requests 1000 --shuttles 200 --slots 6]
    python bench/dispatch.py quality [--fleets 3 6 10]

Speed: one ``dispatch_round`` (insertion scoring + auction) on random instances of the
given size over a 400-edge travel-time table, median of 20 rounds after compilation (the
first call, compilation included, printed beside it), on whatever device JAX uses (CPU
here; the same code on a GPU). Reference, on the same instance: the same insertion scores
(our scoring, timed alone) assigned by scipy's ``linear_sum_assignment`` (the exact
Jonker-Volgenant solver, one thread) on the dense [R, V] benefit, timed beside our auction
round; the auction's objective is compared with scipy's optimum. Quality: the bundled
``experiments/shuttles_on_demand.yaml`` at several fleet sizes with ``mobility``,
``greedyShared`` and ``routeExtension``, same seeds; prints mean wait and rejection rate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def speed(requests: int, shuttles: int, slots: int, rounds: int = 20) -> dict[str, float]:
    import jax

    from mobility.core.matching import (
        AUCTION_EPS,
        Fleet,
        Limits,
        Requests,
        dispatch_round,
        score_candidates,
    )

    rng = np.random.default_rng(0)
    n = 400
    times = rng.uniform(10, 900, (n, n)).astype(np.float32)
    np.fill_diagonal(times, 0)
    n_stops = rng.integers(0, slots + 1, shuttles)
    mask = np.arange(slots)[None, :] < n_stops[:, None]
    fleet = Fleet(
        edge=rng.integers(0, n, shuttles).astype(np.int32),
        ready=np.zeros(shuttles, np.float32),
        capacity=np.full(shuttles, 8, np.int32),
        aboard=np.minimum(n_stops, 8).astype(np.int32),
        mask=np.ones(shuttles, bool),
        stop_edge=rng.integers(0, n, (shuttles, slots)).astype(np.int32),
        stop_delta=np.where(mask, -1, 0).astype(np.int32),
        stop_deadline=rng.uniform(600, 3000, (shuttles, slots)).astype(np.float32),
        stop_mask=mask,
    )
    o, d = rng.integers(0, n, requests), rng.integers(0, n, requests)
    req = Requests(
        origin=o.astype(np.int32),
        destination=d.astype(np.int32),
        time=rng.uniform(-300, 0, requests).astype(np.float32),
        direct=times[o, d],
        mask=np.ones(requests, bool),
    )
    limits = Limits(np.float32(900), np.float32(2.0), np.float32(60))
    args = jax.device_put((times, fleet, req, limits))
    t0 = time.perf_counter()
    jax.block_until_ready(dispatch_round(*args))
    first_s = time.perf_counter() - t0
    scoring = jax.jit(score_candidates)
    jax.block_until_ready(scoring(*args))
    ours, scored, reference = [], [], []
    for _ in range(rounds):  # interleaved: our round, our scoring alone, scipy on the scores
        t0 = time.perf_counter()
        assigned, insertions = jax.block_until_ready(dispatch_round(*args))
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        jax.block_until_ready(scoring(*args))
        scored.append(time.perf_counter() - t0)
        cost = np.asarray(insertions.cost, np.float64)
        t0 = time.perf_counter()
        rows, _, benefit = _scipy_assignment(cost)
        reference.append(time.perf_counter() - t0)
    assigned = np.asarray(assigned)
    mine = assigned >= 0
    our_benefit = _benefit(cost)[np.nonzero(mine)[0], assigned[mine]].sum()
    med = {k: statistics.median(v) for k, v in (("o", ours), ("s", scored), ("r", reference))}
    return {
        "device": str(jax.devices()[0]),
        "first_call_ms": round(1e3 * first_s, 1),
        "median_ms": round(1e3 * med["o"], 1),
        "min_ms": round(1e3 * min(ours), 1),
        "scoring_median_ms": round(1e3 * med["s"], 1),
        "scipy_lsa_median_ms": round(1e3 * med["r"], 1),
        # our whole round against our scoring + scipy's exact assignment
        "ratio_round_to_scoring_plus_scipy": round(med["o"] / (med["s"] + med["r"]), 2),
        "ratio_first_call_to_scoring_plus_scipy": round(first_s / (med["s"] + med["r"]), 1),
        "assigned": int(mine.sum()),
        "assigned_scipy": len(rows),
        "objective_gap_s": round(float(benefit - our_benefit), 1),  # <= R * eps (AUCTION_EPS)
        "objective_gap_bound_s": requests * AUCTION_EPS,
        "load_1min": os.getloadavg()[0],  # the machine may be shared: note how busy it was
        "cpus": os.cpu_count(),
    }


def _benefit(cost: np.ndarray) -> np.ndarray:
    """The auction's benefit: ``ceiling - cost`` (serve as many as possible, then cheapest);
    infeasible pairs get a benefit below any feasible assignment's total."""
    finite = np.isfinite(cost)
    ceiling = 2.0 * np.max(np.where(finite, cost, 0.0)) + 100.0
    return np.where(finite, ceiling - cost, -1e12)


def _scipy_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """scipy's optimal assignment on the same benefit, infeasible pairs dropped after."""
    from scipy.optimize import linear_sum_assignment

    benefit = _benefit(cost)
    rows, cols = linear_sum_assignment(benefit, maximize=True)
    keep = np.isfinite(cost[rows, cols])
    rows, cols = rows[keep], cols[keep]
    return rows, cols, float(benefit[rows, cols].sum())


def quality(fleets: list[int]) -> list[dict[str, object]]:
    from mobility.config import load_spec
    from mobility.scenario import run_scenario

    base = load_spec(ROOT / "experiments" / "shuttles_on_demand.yaml")
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for size in fleets:
            for algo in ("mobility", "greedyShared", "routeExtension"):
                fleet = base.shuttles[0].model_copy(update={"fleet_size": size, "dispatcher": algo})
                spec = base.model_copy(update={"shuttles": [fleet]})
                k = run_scenario(spec, Path(out) / f"{algo}-{size}").kpis
                rows.append(
                    {
                        "fleet": size,
                        "dispatcher": algo,
                        "requests": k["shuttle_requests"],
                        "wait_mean_s": round(k["shuttle_wait_mean_s"], 1),
                        "rejection_rate": round(k["shuttle_rejection_rate"], 3),
                        "served": k["shuttle_served"],
                        "detour_mean": round(k["shuttle_detour_ratio_mean"], 2),
                    }
                )
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--requests", type=int, default=1000)
    s.add_argument("--shuttles", type=int, default=200)
    s.add_argument("--slots", type=int, default=6)
    q = sub.add_parser("quality")
    q.add_argument("--fleets", type=int, nargs="+", default=[3, 6, 10])
    args = parser.parse_args()
    if args.what == "speed":
        print(speed(args.requests, args.shuttles, args.slots))
    else:
        quality(args.fleets)


if __name__ == "__main__":
    main()
