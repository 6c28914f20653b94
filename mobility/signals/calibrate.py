"""``mobility signals calibrate``: fit the signal twin to SUMO runs of the scenario.

The twin's constants (saturation flow, the share of a minor green, yellow still used, storage
per metre of lane) are right on average and wrong on any one network. This command runs the
scenario in SUMO under fixed-time plans, the net's own greens and random ones
(:func:`mobility.signals.check_model.random_plans`), on seeds no evaluated run uses (from
:data:`RUN_SEED`), and fits the twin's parameters to what SUMO measured
(:func:`mobility.core.calibration.fit`): the mean vehicles on every edge per interval of its
edge data, and every run's delay. Two more random plans are held out of the fit and only
measured, so that the report says whether the fit carries over to plans it did not see.

The runs' vehicles are the scenario's demand as a controller may know it (the calibration
demand of :func:`mobility.demand.build.calibration_demand`, never an evaluated run's), the
same the twin plans from; only SUMO's own seed changes between runs. The fit is stored in the
content cache (:func:`mobility.signals.model_build.calibration_key`), where
:func:`~mobility.signals.model_build.model_for_spec` finds it for every later use of the twin
(``check-model``, ``optimize``, ``model_predictive``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobility.cache import cached_build
from mobility.config import ScenarioSpec
from mobility.network.net import Network
from mobility.signals.model_build import (
    CALIBRATION_FILE,
    CALIBRATION_KIND,
    GREEN_SHARE,
    ModelArrays,
    cached_calibration,
    calibration_key,
    model_for_spec,
    twin_document,
)

RUN_SEED = 30_000  # SUMO seeds of the calibration runs: clear of runs, checks (10,000+), demand
PLAN_SEED = 30_000  # the random plans' draw (check-model draws on the spec's seed)
HOLDOUT = 2  # random plans run and measured but kept out of the fit
TARGET_INTERVAL_S = 120.0  # edge-data period aimed at (the nearest that divides the window)
DT = 2.0  # s per twin step, as the twin's users run it
ITERATIONS = 150
MISFIT_WEIGHTS = (1.0, 1.0, 1.0)  # vehicles on edges, time lost there, delay per vehicle
PRIOR_WEIGHT = 0.01  # weight of the prior against the misfits (each about 0.01-1)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Runs:
    """Plans run in SUMO and what SUMO measured under them, as arrays for the fit."""

    greens: np.ndarray  # [R, T, P] s
    offsets: np.ndarray  # [R, T] s
    vehicles: np.ndarray  # [R, I, E] mean vehicles per edge and interval (E: the sink too)
    lost: np.ndarray  # [R, I, E] their time loss over the interval's length
    mask: np.ndarray  # [R, I, E] 1 where SUMO reported the edge
    delay: np.ndarray  # [R] RESCO delay per vehicle, s
    names: tuple[str, ...]  # [R] "net" or "random-<n>"


def ensure_calibration(
    spec: ScenarioSpec,
    *,
    plans: int = 8,
    out: Path | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Progress | None = None,
    refit: bool = False,
) -> Path:
    """The fitted twin of ``spec``'s content: the cached one (unless ``refit``), or one
    fitted now from ``plans`` SUMO runs (the net's own plan and ``plans - 1`` random ones,
    plus :data:`HOLDOUT` held out), run on Ray into the results store ``out`` (default: next
    to the fit in the cache)."""
    from mobility.demand.build import calibration_demand
    from mobility.scenario import check_scenario

    network = check_scenario(spec)
    routes = calibration_demand(spec, network)
    found = cached_calibration(spec, network, routes)
    if found is not None and refit:
        shutil.rmtree(found.parent)  # the cache's entry is its folder

    def build(tmp: Path) -> Path:
        folder = Path(out) if out is not None else tmp / "runs"
        document = calibrate(
            spec,
            network,
            routes,
            folder,
            plans=plans,
            address=address,
            num_cpus=num_cpus,
            progress=progress,
        )
        target = tmp / CALIBRATION_FILE
        target.write_text(json.dumps(document, indent=1))
        return target

    key = calibration_key(spec, network, routes)
    return cached_build(CALIBRATION_KIND, key, build, CALIBRATION_FILE)


def calibrate(
    spec: ScenarioSpec,
    network: Network,
    routes: list[Path],
    folder: Path,
    *,
    plans: int,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the plans in SUMO, fit the twin; ``{"twin": the fit by name, "report": ...}``."""
    from mobility.experiment.sweep import ray_session

    say = progress or (lambda _: None)
    sig = spec.signals
    tls = list(sig.tls) if sig.tls else None
    # Ray starts before JAX runs (Ray's processes forked from JAX's threads warn)
    with ray_session(address, num_cpus):
        arrays = model_for_spec(spec, network, routes, tls=tls, dt=DT, calibrated=False)
        intervals, interval_steps = interval_grid(spec.end - spec.begin, DT)
        greens, offsets, names = calibration_plans(arrays, spec, fit=plans, holdout=HOLDOUT)
        say(f"{len(names)} SUMO runs ({plans} to fit, {HOLDOUT} held out), seeds {RUN_SEED}+")
        runs = run_plans(
            spec,
            routes,
            arrays,
            greens,
            offsets,
            names,
            folder,
            period=interval_steps * DT,
            intervals=intervals,
            address=address,
            num_cpus=num_cpus,
        )
    say("fitting the twin")
    started = time.perf_counter()
    result = fit_twin(arrays, network, runs, fit=plans, interval_steps=interval_steps)
    result["report"]["fit_s"] = round(time.perf_counter() - started, 1)
    return result


def interval_grid(window: float, dt: float) -> tuple[int, int]:
    """(intervals, twin steps per interval) covering the window exactly, the interval as
    near :data:`TARGET_INTERVAL_S` as a divisor of the window's steps allows."""
    steps = max(round(window / dt), 1)
    target = TARGET_INTERVAL_S / dt
    divisors = [d for d in range(1, steps + 1) if steps % d == 0]
    per = min(divisors, key=lambda d: (abs(d - target), d))
    return steps // per, per


def calibration_plans(
    arrays: ModelArrays, spec: ScenarioSpec, *, fit: int, holdout: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(greens [R, T, P], offsets [R, T], names): the net's own greens (offsets zero), then
    random plans, the last ``holdout`` of them held out; in whole simulation steps. ``fit``
    counts the net's plan."""
    from mobility.signals.check_model import random_plans

    sig = spec.signals
    lost, mask = arrays.timing["lost"], arrays.timing["phase_mask"]
    n_random = max(fit - 1, 0) + holdout
    greens, offsets = random_plans(
        arrays.base_green,
        lost,
        mask,
        n=n_random,
        lo=sig.min_green,
        hi=sig.max_green,
        seed=PLAN_SEED,
    )
    greens = np.concatenate([(arrays.base_green * mask)[None], greens])
    offsets = np.concatenate([np.zeros((1, *offsets.shape[1:]), np.float32), offsets])
    names = ("net", *(f"random-{i}" for i in range(n_random)))
    step = spec.step_length
    greens, offsets = (np.round(x / step) * step for x in (greens, offsets))
    return greens.astype(np.float32), offsets.astype(np.float32), names


def calibration_spec(spec: ScenarioSpec, routes: list[Path], *, period: float) -> ScenarioSpec:
    """The scenario as the calibration runs it: the calibration demand's vehicles (as route
    files), edge data every ``period`` s, nothing else written."""
    data = spec.model_dump(mode="json")
    data["demand"] = {"type": "routes", "path": str(Path(routes[0]).resolve())}
    data["routing"] = None  # the routes are chosen already
    data["outputs"] = {"edgedata_period": period, "emissions": False, "resco_queue": False}
    return ScenarioSpec.model_validate(data)


def run_plans(
    spec: ScenarioSpec,
    routes: list[Path],
    arrays: ModelArrays,
    greens: np.ndarray,
    offsets: np.ndarray,
    names: tuple[str, ...],
    folder: Path,
    *,
    period: float,
    intervals: int,
    address: str | None,
    num_cpus: int | None,
) -> Runs:
    """Run every plan in SUMO (in parallel, through the sweep runner) and read its edge data."""
    from mobility.experiment.runner import file_inputs, run_specs
    from mobility.signals.optimize import plan_document, plan_spec, write_plan_file

    if len(routes) != 1:
        msg = f"calibration reads one route file, the demand has {len(routes)}"
        raise ValueError(msg)
    base = calibration_spec(spec, routes, period=period)
    docs = [
        plan_document(arrays.plans, greens[i], offsets[i], step=spec.step_length)
        for i in range(len(names))
    ]
    files = [write_plan_file(Path(folder) / "plans", doc) for doc in docs]
    specs = [
        plan_spec(base, file, name=f"{spec.name}-cal-{n}", seed=RUN_SEED + i)
        for i, (n, file) in enumerate(zip(names, files, strict=True))
    ]
    rows = run_specs(
        specs,
        folder,
        variants=list(names),
        inputs=file_inputs(files),
        address=address,
        num_cpus=num_cpus,
        name=f"{spec.name}-calibration",
    )
    measured = [
        edge_vehicles(Path(row["run_dir"]), arrays.edges, spec.begin, period, intervals)
        for row in rows
    ]
    return Runs(
        greens=greens,
        offsets=offsets,
        vehicles=np.stack([v for v, _, _ in measured]),
        lost=np.stack([v for _, v, _ in measured]),
        mask=np.stack([m for _, _, m in measured]),
        delay=np.array([float(row["kpi_resco_delay_s"]) for row in rows], np.float32),
        names=names,
    )


def edge_vehicles(
    run_dir: Path, edges: tuple[str, ...], begin: float, period: float, intervals: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """([I, E] mean vehicles on each twin edge per interval, [I, E] mean vehicles losing
    time there, [I, E] 1 where reported) from a run's ``edges.parquet``: SUMO's
    ``sampledSeconds`` and ``timeLoss`` over the interval's length."""
    import pandas as pd

    table = pd.read_parquet(
        run_dir / "edges.parquet",
        columns=["interval_begin", "interval_end", "edge_id", "sampledSeconds", "timeLoss"],
    )
    index = {e: i for i, e in enumerate(edges)}
    row = np.round((table["interval_begin"].to_numpy() - begin) / period).astype(int)
    col = table["edge_id"].map(index).fillna(-1).astype(int).to_numpy()
    keep = (row >= 0) & (row < intervals) & (col >= 0)
    length = (table["interval_end"] - table["interval_begin"]).to_numpy()
    out = []
    for column in ("sampledSeconds", "timeLoss"):
        grid = np.zeros((intervals, len(edges) + 1), np.float32)
        seconds = table[column].fillna(0.0).to_numpy()
        grid[row[keep], col[keep]] = seconds[keep] / np.maximum(length[keep], 1e-9)
        out.append(grid)
    mask = np.zeros_like(out[0])
    mask[row[keep], col[keep]] = 1.0
    return out[0], out[1], mask


def fit_twin(
    arrays: ModelArrays, network: Network, runs: Runs, *, fit: int, interval_steps: int
) -> dict[str, Any]:
    """Fit the twin on the first ``fit`` runs; the fit by name and a report of the error
    before (the constants) and after, on the fitted runs and on the held-out ones."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from mobility.core import calibration as C
    from mobility.core.signal_model import Plan

    net, timing, demand = arrays.jax()
    layout = arrays.layout(network)
    roomy = dataclasses.replace(net, slots=jnp.zeros(C.slots_for(layout, DT)))
    total = jnp.float32(arrays.demand["rate"].sum() * arrays.demand["bin_s"])

    def part(rows: slice) -> tuple[Plan, C.Measured]:
        plans = Plan(jnp.asarray(runs.greens[rows]), jnp.asarray(runs.offsets[rows]))
        measured = C.Measured(
            vehicles=jnp.asarray(runs.vehicles[rows]),
            lost=jnp.asarray(runs.lost[rows]),
            mask=jnp.asarray(runs.mask[rows]),
            delay=jnp.asarray(runs.delay[rows]),
        )
        return plans, measured

    fitting, held = part(slice(0, fit)), part(slice(fit, None))
    weights = jnp.asarray([*MISFIT_WEIGHTS, PRIOR_WEIGHT], jnp.float32)
    run = {"interval_steps": interval_steps, "dt": DT}
    params, trace = C.fit(
        roomy,
        timing,
        layout,
        fitting[0],
        demand,
        fitting[1],
        total,
        C.default_prior(),
        weights,
        iterations=ITERATIONS,
        **run,
    )
    params = jax.block_until_ready(params)
    twins = {"before": (net, timing), "after": C.apply(roomy, timing, params, layout, DT)}
    report: dict[str, Any] = {"runs": list(runs.names), "fit_runs": fit, "iterations": ITERATIONS}
    for label, (plans, measured), rows in (
        ("fit", fitting, slice(0, fit)),
        ("held_out", held, slice(fit, None)),
    ):
        if not runs.names[rows]:
            continue
        for name, (twin_net, twin_timing) in twins.items():
            delay, terms = C.evaluate(twin_net, twin_timing, plans, demand, measured, total, **run)
            report[f"{label}_{name}"] = error_summary(
                np.asarray(delay), runs.delay[rows], np.asarray(terms)
            )
    report["loss_start"] = [float(x) for x in np.asarray(trace[0])]
    report["loss_end"] = [float(x) for x in np.asarray(trace[-1])]
    report["fitted"] = fitted_summary(arrays, params, given_way=int(layout.yield_move.shape[0]))
    return {"twin": twin_document(arrays, params), "report": report}


def error_summary(model: np.ndarray, sumo: np.ndarray, terms: np.ndarray) -> dict[str, Any]:
    """How far the twin is from SUMO on some runs: delay per vehicle of each, the mean
    |model - SUMO| / SUMO, and the normalised squared errors of the vehicles on edges and
    of those losing time there (:func:`mobility.core.calibration.misfit`)."""
    return {
        "model_delay_s": [round(float(x), 2) for x in model],
        "sumo_delay_s": [round(float(x), 2) for x in sumo],
        "delay_error": float(np.mean(np.abs(model - sumo) / np.maximum(sumo, 1e-9))),
        "vehicles_nmse": float(terms[0]),
        "lost_nmse": float(terms[1]),
    }


def fitted_summary(arrays: ModelArrays, params, *, given_way: int) -> dict[str, Any]:
    """What the fit moved, in the units of the twin's constants: network-wide values, and
    the spread of the local ones (10th, 50th, 90th percentile)."""
    sat = float(np.exp(params.sat_all))
    base = GREEN_SHARE["g"]
    share = 1.0 / (1.0 + np.exp(-(np.log(base / (1 - base)) + float(params.minor_all))))
    local_sat = np.exp(float(params.sat_all) + np.asarray(params.sat))
    local_storage = np.exp(float(params.storage_all) + np.asarray(params.storage)[:-1])
    local_free = np.exp(float(params.free_all) + np.asarray(params.free)[:-1])
    from mobility.core.signal_model import YELLOW_USED_S

    used = YELLOW_USED_S + float(params.used_all) + np.asarray(params.used)
    q = lambda x: [round(float(v), 3) for v in np.percentile(x, [10, 50, 90])] if len(x) else []  # noqa: E731
    return {
        "saturation_flow_scale": round(sat, 3),
        "saturation_flow_scale_p10_50_90": q(local_sat),
        "minor_green_share": round(float(share), 3) if arrays.minor.any() else None,
        "yellow_used_s": round(YELLOW_USED_S + float(params.used_all), 2),
        "yellow_used_s_p10_50_90": q(used),
        "storage_scale": round(float(np.exp(params.storage_all)), 3),
        "storage_scale_p10_50_90": q(local_storage),
        "storage_per_lane": round(float(params.storage_lane), 2),
        "free_flow_time_scale": round(float(np.exp(params.free_all)), 3),
        "free_flow_time_scale_p10_50_90": q(local_free),
        "give_way_pairs": given_way,
        "give_way_gap_s": round(max(float(params.gap_all), 0.0), 2),
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as lines for a terminal: what was fitted, the error before and after."""
    f = report["fitted"]
    lines = [
        f"fitted on {report['fit_runs']} SUMO runs ({report['iterations']} Adam steps, "
        f"{report.get('fit_s', float('nan')):.0f} s):",
        f"  saturation flow x{f['saturation_flow_scale']:.2f} network-wide "
        f"(per movement, 10/50/90%: {_spread(f['saturation_flow_scale_p10_50_90'])})",
        f"  free-flow time x{f['free_flow_time_scale']:.2f} of length / speed "
        f"(per edge: {_spread(f['free_flow_time_scale_p10_50_90'])})",
        f"  yellow used as green {f['yellow_used_s']:.1f} s "
        f"(per light: {_spread(f['yellow_used_s_p10_50_90'])})",
        f"  storage x{f['storage_scale']:.2f} (per edge: {_spread(f['storage_scale_p10_50_90'])})"
        f" + {f['storage_per_lane']:.1f} per lane",
    ]
    if f.get("give_way_pairs"):
        lines.append(
            f"  giving way at {f['give_way_pairs']} unsignalised conflicts: "
            f"{f['give_way_gap_s']:.1f} s of gap per foe vehicle/s"
        )
    if f.get("minor_green_share") is not None:
        lines.append(f"  minor-green share {f['minor_green_share']:.2f} of saturation flow")
    for label, words in (("fit", "fitted runs"), ("held_out", "held-out plans")):
        if f"{label}_before" not in report:
            continue
        before, after = report[f"{label}_before"], report[f"{label}_after"]
        lines.append(
            f"{words}: mean |model - SUMO| / SUMO delay {before['delay_error']:.1%} -> "
            f"{after['delay_error']:.1%}; vehicles on edges (NMSE) "
            f"{before['vehicles_nmse']:.3f} -> {after['vehicles_nmse']:.3f}, losing time "
            f"{before['lost_nmse']:.3f} -> {after['lost_nmse']:.3f}"
        )
        lines.append(
            "  SUMO / before / after (s): "
            + ", ".join(
                f"{s:.1f}/{b:.1f}/{a:.1f}"
                for s, b, a in zip(
                    before["sumo_delay_s"],
                    before["model_delay_s"],
                    after["model_delay_s"],
                    strict=True,
                )
            )
        )
    return lines


def _spread(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) or "-"
