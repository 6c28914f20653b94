"""Benchmark of the JAX signal model on RESCO grid4x4 (JAX on CPU unless a GPU is there).

1. Plan evaluations per second: N fixed-time plans x S demand samples, each one hour of
   traffic, in one jitted ``vmap`` call (hard green windows, dt 2 s), against SUMO running
   the net's own plan for the same hour (libsumo, one process) on the same machine.
2. model_predictive's decision time per decision and per intersection over 15 minutes.

Run: ``.venv/bin/python bench/signal_model.py [--plans 256 --samples 4]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core import signal_model as M
from mobility.network.net import load_network
from mobility.signals.check_model import random_plans
from mobility.signals.model_build import build_model

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "resco" / "grid4x4.yaml"


def model_rate(plans: int, samples: int) -> tuple[float, float]:
    """(plan-hours per second, compile s) of the model on grid4x4."""
    folder = ROOT / "networks" / "resco" / "grid4x4"
    network = load_network(folder / "grid4x4.net.xml")
    arrays = build_model(network, [folder / "grid4x4_1.rou.xml"], begin=0, end=3600, yellow=3)
    net, timing, demand = arrays.jax()
    greens, offsets = random_plans(
        arrays.base_green,
        arrays.timing["lost"],
        arrays.timing["phase_mask"],
        n=plans,
        lo=5.0,
        hi=60.0,
        seed=0,
    )
    keys = jax.random.split(jax.random.PRNGKey(0), samples)
    demands = jax.vmap(lambda k: M.sample_demand(demand, k, 0.2))(keys)
    steps = M.steps_for(3600, arrays.dt)

    def one(plan: M.Plan, d: M.Demand) -> jax.Array:
        return M.plan_delay(net, timing, plan, d, steps=steps, dt=arrays.dt, tau=0.0)

    run = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    batch = M.Plan(jnp.asarray(greens), jnp.asarray(offsets))
    t0 = time.perf_counter()
    jax.block_until_ready(run(batch, demands))
    compile_s = time.perf_counter() - t0
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(run(batch, demands))
        best = min(best, time.perf_counter() - t0)
    return plans * samples / best, compile_s


def sumo_rate(out: Path) -> float:
    """One-hour SUMO runs per second (the net's own plan, no outputs beyond the run's)."""
    from mobility.config import load_spec
    from mobility.scenario import run_scenario

    spec = load_spec(SPEC)
    t0 = time.perf_counter()
    run_scenario(spec, out)
    return 1.0 / (time.perf_counter() - t0)


def decision_times(out: Path) -> tuple[float, float, int]:
    """(median, max) s per model_predictive decision over 15 minutes, and intersections."""
    from mobility.config import load_spec, signals_with
    from mobility.demand.build import build_demand
    from mobility.scenario import scenario_network
    from mobility.signals.setup import SignalsPart
    from mobility.sim import sumocfg
    from mobility.sim.engine import Engine
    from mobility.sim.parts import RunContext, SumoInputs

    spec = load_spec(SPEC)
    spec = spec.model_copy(
        update={"end": 900.0, "signals": signals_with(spec.signals, controller="model_predictive")}
    )
    out.mkdir(parents=True, exist_ok=True)
    network = scenario_network(spec)
    routes = build_demand(spec, network)
    part = SignalsPart()  # only the signals part: the decisions are what is timed
    inputs = SumoInputs(routes=list(routes))
    inputs = inputs.merge(part.prepare(RunContext(spec, network, tuple(routes), out)))
    cfg = sumocfg.write_sumocfg(spec, net=network.path, inputs=inputs, folder=out)
    with Engine(["-c", str(cfg)], log_file=out / sumocfg.SUMO_LOG) as engine:
        part.attach(engine)
        engine.run(spec.end)
    times = np.array(part.driver.controller.decision_s[1:])  # the first one compiles
    return float(np.median(times)), float(times.max()), len(part.tls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", type=int, default=256)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("results/bench-signal-model"))
    args = parser.parse_args()
    print(f"JAX devices: {jax.devices()}")
    rate, compile_s = model_rate(args.plans, args.samples)
    print(
        f"model: {rate:,.0f} one-hour plan evaluations/s ({args.plans} plans x {args.samples} "
        f"samples per call; compile {compile_s:.1f} s)"
    )
    sumo = sumo_rate(args.out)
    print(f"SUMO: {sumo:.3f} one-hour runs/s; model / SUMO = {rate / sumo:,.0f}x")
    median, worst, n = decision_times(args.out / "mpc")
    print(
        f"model_predictive on {n} intersections: median {median * 1e3:.1f} ms per decision "
        f"({median / n * 1e3:.2f} ms per intersection), max {worst * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
