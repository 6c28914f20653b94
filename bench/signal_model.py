"""Benchmark of the JAX signal model on RESCO grid4x4 (JAX on CPU unless a GPU is there).

1. Plan evaluations per second: N fixed-time plans x S demand samples, each one hour of
   traffic, in one jitted ``vmap`` call (hard green windows, dt 2 s), against SUMO running
   the net's own plan for the same hour. Same work on both sides:
   - the same step: SUMO steps at the model's dt (2 s), and at its usual 1 s for reference;
   - SUMO bare (libsumo, net and routes, no outputs, no tables, no KPIs), each run in a
     fresh child process, so every run is a process's first libsumo run;
     its load (parsing the net and routes) and its stepping are timed apart;
   - cold against cold and warm against warm: the model's first call (compilation
     included) against SUMO's load + stepping; the compiled model against SUMO's
     stepping alone;
   - threads: SUMO uses one; JAX on CPU uses all cores unless ``--threads 1`` (XLA's
     intra-op parallelism off), printed with the result;
   - interleaved: model and SUMO alternate, ``--repeats`` times, medians reported.
2. model_predictive's decision time per decision and per intersection over 15 minutes.

Run: ``.venv/bin/python bench/signal_model.py [--plans 256 --samples 4 --threads 1]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

if "--threads" in sys.argv and sys.argv[sys.argv.index("--threads") + 1] == "1":
    # before JAX loads: one XLA CPU thread, as SUMO has
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )

import jax
import jax.numpy as jnp
import numpy as np

from mobility.core import signal_model as M
from mobility.network.net import load_network
from mobility.signals.check_model import random_plans
from mobility.signals.model_build import build_model

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "resco" / "grid4x4.yaml"


FOLDER = ROOT / "networks" / "resco" / "grid4x4"


def model_batch(plans: int, samples: int):
    """The jitted batch function and its inputs: plans x demand samples on grid4x4."""
    network = load_network(FOLDER / "grid4x4.net.xml")
    arrays = build_model(network, [FOLDER / "grid4x4_1.rou.xml"], begin=0, end=3600, yellow=3)
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
    return run, M.Plan(jnp.asarray(greens), jnp.asarray(offsets)), demands, arrays.dt


def timed_call(run, batch, demands) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(run(batch, demands))
    return time.perf_counter() - t0


def _sumo_child(step: float, sender) -> None:
    import libsumo

    from mobility import sumo

    t0 = time.perf_counter()
    libsumo.start(
        [
            *(sumo.binary("sumo"), "-n", str(FOLDER / "grid4x4.net.xml")),
            *("-r", str(FOLDER / "grid4x4_1.rou.xml"), "-b", "0", "-e", "3600"),
            *("--step-length", f"{step:g}", "--no-step-log", "--no-warnings", "--seed", "42"),
        ]
    )
    t1 = time.perf_counter()
    libsumo.simulationStep(3600)
    t2 = time.perf_counter()
    libsumo.close()
    sender.send((t1 - t0, t2 - t1))


def sumo_hour(step: float) -> tuple[float, float]:
    """(load s, stepping s) of one bare SUMO hour at ``step`` s, in a fresh child process
    (spawned: this process runs JAX's threads, which a fork would not carry safely)."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_sumo_child, args=(step, sender))
    child.start()
    result = receiver.recv()
    child.join()
    return result


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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="all", help="XLA CPU threads: 1 or all")
    parser.add_argument("--out", type=Path, default=Path("results/bench-signal-model"))
    args = parser.parse_args()
    work = args.plans * args.samples  # plan-hours per model call; one per SUMO run
    print(f"JAX devices: {jax.devices()}; XLA threads: {args.threads}; SUMO threads: 1")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    run, batch, demands, dt = model_batch(args.plans, args.samples)
    first = timed_call(run, batch, demands)  # compilation included: the cold model
    warm, at_dt, at_1s = [], [], []
    for _ in range(args.repeats):  # interleaved
        warm.append(timed_call(run, batch, demands))
        at_dt.append(sumo_hour(dt))
        at_1s.append(sumo_hour(1.0))
    model_s = statistics.median(warm)
    rows = {
        f"{dt:g} s": (
            statistics.median(x[0] for x in at_dt),
            statistics.median(x[1] for x in at_dt),
        ),
        "1 s": (statistics.median(x[0] for x in at_1s), statistics.median(x[1] for x in at_1s)),
    }
    print(
        f"model, {args.plans} plans x {args.samples} samples, 1 h each, dt {dt:g} s: "
        f"first call {first:.2f} s ({work / first:,.1f} plan-hours/s, compilation included), "
        f"compiled {model_s:.3f} s ({work / model_s:,.1f} plan-hours/s), median of {args.repeats}"
    )
    for step, (load, stepping) in rows.items():
        print(
            f"SUMO bare, 1 h at {step} steps: load {load:.2f} s + stepping {stepping:.2f} s; "
            f"ratio compiled model / SUMO stepping {work / model_s * stepping:,.0f}x, "
            f"first call / SUMO load+stepping {work / first * (load + stepping):,.1f}x"
        )
    median, worst, n = decision_times(args.out / "mpc")
    print(
        f"model_predictive on {n} intersections: median {median * 1e3:.1f} ms per decision "
        f"({median / n * 1e3:.2f} ms per intersection), max {worst * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
