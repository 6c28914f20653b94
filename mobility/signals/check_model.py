"""Calibration check: random fixed-time plans in SUMO and in the JAX model, rank-correlated.

Each random plan draws a typical green uniformly in [min green, max green] (short to long
cycles), every phase's green within 0.5-1.5 times it, and every offset uniformly in its
cycle; the same plan runs in SUMO (as an ``optimized`` program given by ``params.plan``;
all plans in parallel through the sweep runner) and in the model (hard green windows, the
scenario's mean demand). The score is Spearman's rank correlation of SUMO's RESCO delay and
the model's delay per vehicle: a model that ranks plans as SUMO does is one an optimiser
can trust; beside it, the mean of |model - SUMO| / SUMO says whether the twin's delays are
SUMO's. The model's delay is counted as RESCO counts it: the time lost by every vehicle up
to the end of the window, those still queued included (``model_score_s`` adds the minute
per vehicle left queued that the plan search charges).

The twin is the one ``mobility signals calibrate`` fitted for the scenario when there is
one (:func:`mobility.signals.model_build.model_for_spec`), else the constants; the table
says which (``table.attrs["twin"]``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mobility.config import ScenarioSpec


def random_plans(
    base_green: np.ndarray,
    lost: np.ndarray,
    mask: np.ndarray,
    *,
    n: int,
    lo: float,
    hi: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(greens [N, T, P], offsets [N, T]) drawn uniformly (masked phases zero)."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(lo, hi, (n, 1, 1))  # a typical green per plan: short to long cycles
    spread = rng.uniform(0.5, 1.5, (n, *base_green.shape))  # and uneven splits around it
    greens = np.clip(level * spread, lo, hi) * mask
    cycle = (greens + lost * mask).sum(axis=2)
    offsets = rng.uniform(0, 1, cycle.shape) * cycle
    return greens.astype(np.float32), offsets.astype(np.float32)


def check_model(
    spec: ScenarioSpec,
    out_dir: Path,
    *,
    plans: int = 10,
    dt: float = 2.0,
    on_plan: Callable[[int, dict], None] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    calibrated: bool = True,
) -> tuple[pd.DataFrame, float]:
    """Run ``plans`` random plans in SUMO and the model; (rows, Spearman rho).

    The SUMO runs go in parallel through the sweep runner (a local Ray, or the cluster at
    ``address``) into the results store ``out_dir`` (runs already there are reused);
    ``on_plan`` sees each as it ends. ``calibrated=False`` checks the uncalibrated twin even
    where a fit exists. ``table.attrs``: ``model_s``, ``twin`` (the fit's file or
    "constants"), ``delay_error`` (mean |model - SUMO| / SUMO).
    """
    from scipy import stats

    from mobility.experiment.runner import file_inputs, run_specs
    from mobility.experiment.sweep import ray_session
    from mobility.signals.optimize import plan_spec, write_plan_file

    # Ray starts before JAX runs: Ray's processes started from a process running JAX's
    # threads draw JAX's warning about forking
    with ray_session(address, num_cpus):
        found = model_delays(spec, plans=plans, dt=dt, calibrated=calibrated)
        docs, model_delay, model_score, model_s, twin = found
        files = [write_plan_file(Path(out_dir) / "plans", doc) for doc in docs]
        specs = [
            plan_spec(spec, file, name=f"{spec.name}-plan{i}", seed=spec.seed)
            for i, file in enumerate(files)
        ]

        def row_of(i: int, result: dict) -> dict:
            return {
                "plan": i,
                "sumo_delay_s": float(result.get("kpi_resco_delay_s", np.nan)),
                "model_delay_s": float(model_delay[i]),
                "model_score_s": float(model_score[i]),
                "sumo_wall_s": float(result.get("duration_s", np.nan)),
            }

        def done(i: int, result: dict) -> None:
            if on_plan is not None and result.get("status") == "ok":
                on_plan(i, row_of(i, result))

        results = run_specs(
            specs,
            out_dir,
            variants=[f"plan{i}" for i in range(plans)],
            inputs=file_inputs(files),
            name=f"{spec.name}-check-model",
            on_result=done,
        )
    table = pd.DataFrame([row_of(i, result) for i, result in enumerate(results)])
    table.attrs["model_s"] = model_s
    table.attrs["twin"] = twin
    table.attrs["delay_error"] = delay_error(table)
    rho = float(stats.spearmanr(table["sumo_delay_s"], table["model_delay_s"]).statistic)
    return table, rho


def delay_error(table: pd.DataFrame) -> float:
    """Mean over plans of |model - SUMO| / SUMO delay."""
    sumo, model = table["sumo_delay_s"].to_numpy(), table["model_delay_s"].to_numpy()
    return float(np.nanmean(np.abs(model - sumo) / np.maximum(sumo, 1e-9)))


def model_delays(
    spec: ScenarioSpec, *, plans: int, dt: float, calibrated: bool = True
) -> tuple[list[dict], np.ndarray, np.ndarray, float, str]:
    """``plans`` random plans as plan documents (in whole steps, as SUMO will show them),
    their model delay per vehicle (as RESCO counts it) and score (the plan search's, with a
    minute per vehicle left queued), the seconds the model took for all of them, and which
    twin it was (the fit's file, or "constants")."""
    import jax.numpy as jnp

    from mobility.core.signal_model import Plan, steps_for
    from mobility.demand.build import calibration_demand
    from mobility.network.build import build_network
    from mobility.network.net import load_network
    from mobility.signals.model_build import model_for_spec
    from mobility.signals.optimize import plan_document

    sig = spec.signals
    network = load_network(build_network(spec.network))
    routes = calibration_demand(spec, network)  # the model knows what a controller would
    tls = list(sig.tls) if sig.tls else None
    arrays = model_for_spec(spec, network, routes, tls=tls, dt=dt, calibrated=calibrated)
    model_net, timing, demand = arrays.jax()
    greens, offsets = random_plans(
        arrays.base_green,
        arrays.timing["lost"],
        arrays.timing["phase_mask"],
        n=plans,
        lo=sig.min_green,
        hi=sig.max_green,
        seed=spec.seed,
    )
    # in whole steps, as SUMO will show them (see plan_document)
    greens, offsets = (np.round(x / spec.step_length) * spec.step_length for x in (greens, offsets))
    started = time.perf_counter()
    delay, score = _evaluate(
        model_net,
        timing,
        Plan(jnp.asarray(greens), jnp.asarray(offsets)),
        demand,
        steps=steps_for(spec.end - spec.begin, dt),
        dt=dt,
    )
    model_s = time.perf_counter() - started
    vehicles = max(float(arrays.demand["rate"].sum() * arrays.demand["bin_s"]), 1.0)
    docs = [
        plan_document(arrays.plans, greens[i], offsets[i], step=spec.step_length)
        for i in range(plans)
    ]
    twin = arrays.calibration or "constants"
    return docs, np.asarray(delay) / vehicles, np.asarray(score) / vehicles, model_s, twin


def _evaluate(net, timing, plans, demand, *, steps: int, dt: float):
    """([N] delay as RESCO counts it, [N] the plan search's score), hard green windows."""
    import jax

    from mobility.core.signal_model import simulate_plan

    def one(plan):
        final = simulate_plan(net, timing, plan, demand, steps=steps, dt=dt, tau=0.0)
        return final.delay, final.delay + 60.0 * (final.queue.sum() + final.waiting.sum())

    return jax.block_until_ready(jax.jit(jax.vmap(one))(plans))
