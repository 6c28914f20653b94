"""Shuttles at city scale (issue 19): promises, SUMO's dispatchers, an exact matching, speed.

    python bench/shuttles_city.py promises [--fleets 8 16 --seeds 3 4 5]
    python bench/shuttles_city.py rebalance [--fleets 12 16 --seeds 3 4 5]
    python bench/shuttles_city.py city [--fleets 30 60 --seeds 1 2 --per-hour 1000]
    python bench/shuttles_city.py exact [--instances 30]
    python bench/shuttles_city.py speed [--requests 5000 --shuttles 500]

promises: ``experiments/shuttles_on_demand.yaml`` (4x4 grid, its background traffic) at four
times its rider flows (~240 requests in an hour), ``dispatcher: mobility`` planning on
learned edge times (``travel_times: learned``, the new default) against the planning before
(``travel_times: current``) and SUMO's greedyShared, interleaved per seed. The detour promise
is judged against a direct ride on the learned edge times (``detour_ratio_learned``), and
also against the old base (current speeds, no waits: ``detour_ratio``).

rebalance: the same scenario, dispatcher mobility, idle shuttles ``stay``, go back to the
``depot`` or ``rebalance`` toward the zones' learned request rates.

city: the RESCO cologne3 map (a real part of Cologne with its TAPASCologne traffic), riders
between three zones (the net's edges split by x) at ``--per-hour`` requests, ours against
greedyShared and routeExtension. Edges shuttles cannot serve and come back from are dropped
(``riders.unreachable: drop``).

exact: the assignment step of one dispatch round (auction) against an exact ILP
(``scipy.optimize.milp``) on the same insertion scores, small random instances: both
maximise riders served, then minimise the added rider time; prints the gap.

speed: one dispatch round (``dispatch_candidates``) for N open requests x M shuttles (10
plan slots holding 0-5 stops, 16 candidate shuttles per request) over a 2,000-edge table,
median of 10 rounds after compilation; slots trimmed to the longest plan (as the dispatcher
does) against all 10, interleaved.
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


def _row(name: str, k: dict, requests: Path) -> dict:
    import pyarrow.parquet as pq

    rows = pq.read_table(requests).to_pandas()
    served = rows[rows.status == "served"]
    limit = 2.0
    return {
        "variant": name,
        "requests": int(k["shuttle_requests"]),
        "served": round(k["shuttle_served_share"], 3),
        "wait_mean_s": round(k["shuttle_wait_mean_s"], 1),
        "wait_p95_s": round(k["shuttle_wait_p95_s"], 1),
        "detour_broken_learned": round(k["shuttle_detour_promise_broken_share"], 3),
        "detour_broken_old_base": round(float((served.detour_ratio > limit).mean()), 3),
        "wait_broken": round(k["shuttle_wait_promise_broken_share"], 3),
        "detour_learned_mean": round(k["shuttle_detour_ratio_learned_mean"], 2),
        "occupancy": round(k["shuttle_occupancy_mean"], 2),
        "km_per_ride": round(k["shuttle_vehicle_km_per_served"], 2),
        "rider_time_mean_s": round(k["shuttle_rider_time_mean_s"], 1),
    }


def _run(spec, out: Path, name: str) -> dict:
    from mobility.scenario import run_scenario

    result = run_scenario(spec, out / name)
    return _row(name, result.kpis, result.run_dir / "requests.parquet")


def promises(fleets: list[int], seeds: list[int]) -> list[dict]:
    from mobility.config import load_spec

    base = load_spec(ROOT / "experiments" / "shuttles_on_demand.yaml")
    flows = [f.model_copy(update={"per_hour": f.per_hour * 4}) for f in base.riders.flows]
    riders = base.riders.model_copy(update={"flows": flows, "until": 3600.0})
    variants = {
        "mobility learned": {"dispatcher": "mobility", "travel_times": "learned"},
        "mobility current": {"dispatcher": "mobility", "travel_times": "current"},
        "greedyShared": {"dispatcher": "greedyShared"},
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in fleets:
            for seed in seeds:
                for name, update in variants.items():  # interleaved: same seed back to back
                    fleet = base.shuttles[0].model_copy(update={"fleet_size": size, **update})
                    spec = base.model_copy(
                        update={"shuttles": [fleet], "riders": riders, "seed": seed, "end": 4500.0}
                    )
                    row = {
                        "fleet": size,
                        "seed": seed,
                        **_run(spec, Path(tmp), f"{name}-{size}-{seed}"),
                    }
                    row["variant"] = name
                    rows.append(row)
                    print(row, flush=True)
    _summary(rows)
    return rows


MAPS = {
    "cologne3": ROOT / "experiments" / "resco" / "cologne3.yaml",
    "west-oakland": ROOT / "experiments" / "west_oakland.yaml",
}


def rebalance(
    fleets: list[int], seeds: list[int], idles: tuple[str, ...] = ("stay", "depot", "rebalance")
) -> list[dict]:
    """Idle shuttles: rebalance against stay and depot, dispatcher mobility, same setup as
    ``promises``."""
    from mobility.config import load_spec

    base = load_spec(ROOT / "experiments" / "shuttles_on_demand.yaml")
    flows = [f.model_copy(update={"per_hour": f.per_hour * 4}) for f in base.riders.flows]
    riders = base.riders.model_copy(update={"flows": flows, "until": 3600.0})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in fleets:
            for seed in seeds:
                for idle in idles:  # interleaved per seed
                    update = {"fleet_size": size, "dispatcher": "mobility", "idle": idle}
                    fleet = base.shuttles[0].model_copy(update=update)
                    spec = base.model_copy(
                        update={"shuttles": [fleet], "riders": riders, "seed": seed, "end": 4500.0}
                    )
                    name = f"{idle}-{size}-{seed}"
                    row = {"fleet": size, "seed": seed, **_run(spec, Path(tmp), name)}
                    row["variant"] = idle
                    rows.append(row)
                    print(row, flush=True)
    _summary(rows)
    return rows


def city(
    fleets: list[int],
    seeds: list[int],
    per_hour: float,
    end: float,
    where: str = "cologne3",
    algos: tuple[str, ...] = ("mobility", "greedyShared", "routeExtension"),
    keep: Path | None = None,
) -> list[dict]:
    """``keep``: write the runs there (to read their tables after) instead of a temp dir."""
    from mobility.config import ScenarioSpec, load_spec, validate_spec
    from mobility.scenario import scenario_network

    source = MAPS[where]
    base = load_spec(source)
    net = scenario_network(base)
    edges = [e for e in net.net.getEdges() if e.allows("taxi")]
    edges.sort(key=lambda e: e.getShape()[0][0])
    thirds = [edges[i * len(edges) // 3 : (i + 1) * len(edges) // 3] for i in range(3)]
    zones = {z: [e.getID() for e in part] for z, part in zip(("w", "c", "e"), thirds, strict=True)}
    pairs = [(a, b) for a in zones for b in zones if a != b]
    main = _main_component(net)  # depots where shuttles can leave and come back
    depots = [
        next(e for e in zones[z][len(zones[z]) // 2 :] + zones[z] if e in main) for z in zones
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = str(keep) if keep is not None else tmp
        for size in fleets:
            for seed in seeds:
                for algo in algos:
                    data = base.model_dump(mode="json")
                    data.update(
                        name=f"{where}-shuttles-{algo}",
                        time_to_teleport=300,
                        seed=seed,
                        end=base.begin + end,
                        shuttles=[
                            {
                                "service": "on_demand",
                                "name": "pods",
                                "fleet_size": size,
                                "depots": [{"edge": e} for e in depots],
                                "vehicle": {"capacity": 4},
                                "dispatcher": algo,
                                "dispatch_period": 30,
                            }
                        ],
                        riders={
                            "zones": zones,
                            "flows": [
                                {"from": a, "to": b, "per_hour": per_hour / len(pairs)}
                                for a, b in pairs
                            ],
                            "until": base.begin + end - 900,
                            "unreachable": "drop",
                        },
                    )
                    import warnings

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # the dropped edges, said once below
                        spec = validate_spec(
                            ScenarioSpec, data, source=source, base_dir=source.parent
                        )
                        row = {
                            "fleet": size,
                            "seed": seed,
                            **_run(spec, Path(tmp), f"{algo}-{size}-{seed}"),
                        }
                    row["variant"] = algo
                    rows.append(row)
                    print(row, flush=True)
    _summary(rows)
    return rows


def _main_component(net) -> set[str]:
    """Edges of the largest strongly connected part of the taxi edge graph."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    from mobility.shuttles.graph import NetGraph

    graph = NetGraph(net)
    tail, head = graph._turns("taxi")
    n = len(graph.edges)
    adj = coo_array((np.ones(len(tail)), (tail, head)), shape=(n, n)).tocsr()
    _, label = connected_components(adj, directed=True, connection="strong")
    big = np.bincount(label).argmax()
    return {e for e, lab in zip(graph.edges, label, strict=True) if lab == big}


def _summary(rows: list[dict]) -> None:
    """Means over seeds per fleet and variant."""
    import pandas as pd

    df = pd.DataFrame(rows)
    keys = [
        "served",
        "wait_mean_s",
        "wait_p95_s",
        "detour_broken_learned",
        "detour_broken_old_base",
        "wait_broken",
        "occupancy",
        "km_per_ride",
    ]
    table = df.groupby(["fleet", "variant"], sort=False)[keys].mean().round(3)
    print(table.to_string())


def exact(instances: int, seed: int = 0) -> list[dict]:
    """Auction against scipy's milp on the same benefit matrix of one round."""
    import jax
    from scipy.optimize import Bounds, LinearConstraint, milp

    from mobility.core.matching import (
        Fleet,
        Limits,
        Requests,
        dispatch_round,
    )

    rng = np.random.default_rng(seed)
    rows = []
    for k in range(instances):
        n, R, V, K = 60, 24, 8, 6
        xy = rng.uniform(0, 3000, (n, 2))
        times = (np.abs(xy[:, None] - xy[None]).sum(-1) / 10).astype(np.float32)  # grid-like
        stops = rng.integers(0, K // 2 + 1, V)
        mask = np.arange(K)[None, :] < stops[:, None]
        fleet = Fleet(
            edge=rng.integers(0, n, V).astype(np.int32),
            ready=np.zeros(V, np.float32),
            capacity=np.full(V, 4, np.int32),
            aboard=stops.astype(np.int32),
            mask=np.ones(V, bool),
            stop_edge=rng.integers(0, n, (V, K)).astype(np.int32),
            stop_delta=np.where(mask, -1, 0).astype(np.int32),
            stop_deadline=rng.uniform(300, 1200, (V, K)).astype(np.float32),
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
        assigned, ins = jax.block_until_ready(dispatch_round(times, fleet, req, limits))
        cost = np.asarray(ins.cost, float)
        assigned = np.asarray(assigned)
        ours_served = int((assigned >= 0).sum())
        ours_cost = float(sum(cost[r, v] for r, v in enumerate(assigned) if v >= 0))
        # exact: x[r, v] in {0, 1}; each request once, each shuttle once; maximise served
        # first (weight above any cost sum), then minimise cost
        feasible = np.isfinite(cost)
        idx = np.argwhere(feasible)
        big = 1.0 + float(cost[feasible].sum()) if feasible.any() else 1.0
        c = np.array([-(big - cost[r, v]) for r, v in idx])
        a_r = np.zeros((R, len(idx)))
        a_v = np.zeros((V, len(idx)))
        for m, (r, v) in enumerate(idx):
            a_r[r, m] = 1
            a_v[v, m] = 1
        t0 = time.perf_counter()
        res = milp(
            c,
            constraints=[LinearConstraint(a_r, 0, 1), LinearConstraint(a_v, 0, 1)],
            integrality=np.ones(len(idx)),
            bounds=Bounds(0, 1),
        )
        milp_s = time.perf_counter() - t0
        x = np.round(res.x).astype(bool) if len(idx) else np.zeros(0, bool)
        ilp_served = int(x.sum())
        ilp_cost = float(sum(cost[r, v] for (r, v), on in zip(idx, x, strict=True) if on))
        gap = (ours_cost - ilp_cost) / ilp_cost if ilp_cost > 0 else 0.0
        rows.append(
            {
                "instance": k,
                "feasible_pairs": len(idx),
                "served_ours": ours_served,
                "served_ilp": ilp_served,
                "cost_ours_s": round(ours_cost, 1),
                "cost_ilp_s": round(ilp_cost, 1),
                "gap": round(gap, 4),
                "milp_ms": round(1e3 * milp_s, 1),
            }
        )
        print(rows[-1], flush=True)
    gaps = [r["gap"] for r in rows if r["served_ours"] == r["served_ilp"]]
    same = sum(r["served_ours"] == r["served_ilp"] for r in rows)
    print(
        f"same riders served: {same}/{len(rows)}; cost gap where equal: mean "
        f"{statistics.mean(gaps):.4f}, max {max(gaps):.4f}"
    )
    return rows


def speed(requests: int, shuttles: int, slots: int = 10, rounds: int = 10) -> dict:
    """One round as the dispatcher calls it (``dispatch_candidates``), interleaved A/B:
    the plan slots trimmed to the longest plan (what the dispatcher passes since the second
    round of issue 19; exact) against all ``slots`` (the first round's call, the reference)."""
    import dataclasses

    import jax

    from mobility.core.matching import Fleet, Limits, Requests, dispatch_candidates
    from mobility.shuttles.dispatcher import _trimmed_slots

    rng = np.random.default_rng(0)
    n = 2000
    xy = rng.uniform(0, 8000, (n, 2))
    times = (np.abs(xy[:, None] - xy[None]).sum(-1) / 10).astype(np.float32)
    stops = rng.integers(0, slots // 2 + 1, shuttles)
    mask = np.arange(slots)[None, :] < stops[:, None]
    fleet = Fleet(
        edge=rng.integers(0, n, shuttles).astype(np.int32),
        ready=np.zeros(shuttles, np.float32),
        capacity=np.full(shuttles, 4, np.int32),
        aboard=stops.astype(np.int32),
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
        direct=times[o, d] + 10,
        mask=np.ones(requests, bool),
    )
    limits = Limits(np.float32(600), np.float32(2.0), np.float32(0.0), np.float32(10.0))
    k = _trimmed_slots([int(s) for s in stops], slots)
    trimmed = dataclasses.replace(
        fleet,
        stop_edge=fleet.stop_edge[:, :k],
        stop_delta=fleet.stop_delta[:, :k],
        stop_deadline=fleet.stop_deadline[:, :k],
        stop_mask=fleet.stop_mask[:, :k],
    )
    variants = {"trimmed": trimmed, "all_slots": fleet}
    args = {name: jax.device_put((times, f, req, limits)) for name, f in variants.items()}
    first, samples, out = {}, {name: [] for name in args}, {}
    for name, a in args.items():
        t0 = time.perf_counter()
        out[name] = jax.block_until_ready(dispatch_candidates(*a))
        first[name] = time.perf_counter() - t0
    for _ in range(rounds):  # interleaved
        for name, a in args.items():
            t0 = time.perf_counter()
            jax.block_until_ready(dispatch_candidates(*a))
            samples[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(v) for name, v in samples.items()}
    (a_t, c_t), (a_f, c_f) = out["trimmed"], out["all_slots"]
    return {
        "device": str(jax.devices()[0]),
        "requests": requests,
        "shuttles": shuttles,
        "slots": slots,
        "trimmed_slots": k,
        "first_call_s": round(first["trimmed"], 2),
        "median_ms": round(1e3 * med["trimmed"], 1),
        "min_ms": round(1e3 * min(samples["trimmed"]), 1),
        "all_slots_median_ms": round(1e3 * med["all_slots"], 1),
        "ratio_trimmed_to_all_slots": round(med["trimmed"] / med["all_slots"], 2),
        "same_assignment": bool(np.array_equal(np.asarray(a_t), np.asarray(a_f))),
        "same_costs": bool(np.allclose(np.asarray(c_t.cost), np.asarray(c_f.cost))),
        "assigned": int((np.asarray(a_t) >= 0).sum()),
        "load_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("promises")
    p.add_argument("--fleets", type=int, nargs="+", default=[8, 16])
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    r = sub.add_parser("rebalance")
    r.add_argument("--fleets", type=int, nargs="+", default=[12, 16])
    r.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    r.add_argument("--idle", nargs="+", default=["stay", "depot", "rebalance"])
    c = sub.add_parser("city")
    c.add_argument("--fleets", type=int, nargs="+", default=[30, 60])
    c.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    c.add_argument("--per-hour", type=float, default=1000.0)
    c.add_argument("--end", type=float, default=3600.0, help="s after the map's begin")
    c.add_argument("--map", choices=sorted(MAPS), default="cologne3")
    c.add_argument("--algos", nargs="+", default=["mobility", "greedyShared", "routeExtension"])
    c.add_argument("--keep", type=Path, help="keep the runs in this folder")
    e = sub.add_parser("exact")
    e.add_argument("--instances", type=int, default=30)
    s = sub.add_parser("speed")
    s.add_argument("--requests", type=int, default=5000)
    s.add_argument("--shuttles", type=int, default=500)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus", flush=True)
    if args.what == "promises":
        promises(args.fleets, args.seeds)
    elif args.what == "rebalance":
        rebalance(args.fleets, args.seeds, tuple(args.idle))
    elif args.what == "city":
        city(
            args.fleets, args.seeds, args.per_hour, args.end, args.map, tuple(args.algos), args.keep
        )
    elif args.what == "exact":
        exact(args.instances)
    else:
        print(speed(args.requests, args.shuttles))
    print(f"load after: {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
