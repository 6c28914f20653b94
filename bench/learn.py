"""The learning environment's throughput on CPU: twin env-steps per second under ``vmap``.

    flock /tmp/mobility-bench.lock .venv/bin/python bench/learn.py [--batches 1,64,256,1024]

One env-step is one decision interval (10 s, 5 twin steps of 2 s) of one environment of
the 3x3 grid (9 lights, the run tests' scenario, a 300 s window of 30 decisions). Each
batch size runs whole episodes under ``jit(vmap)`` with random actions (the rollout of a
training update without the policy), timed after a compiling call, best of ``--repeats``.
The reference, measured in the same script: the same episode for one environment
(batch 1), so the ratio is what batching buys. Also times one PPO update (16 episodes of
the 9 lights, 4 epochs of 4 minibatches) after compilation. The issue's goal: 1e5
env-steps/s on the 2-core CPU.

``--sumo SEEDS`` also trains a policy in the twin of grid4x4 (30 minutes of random trips at
1800 veh/h, ``--updates`` PPO updates) and runs it in SUMO against max_pressure (the
reference), model_predictive and the bundled policy (trained on grid3x3 only), seeds
interleaved, printing RESCO's delay per seed and the mean with a 95% t-interval.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import small_scenario  # noqa: E402

from mobility.config import ScenarioSpec  # noqa: E402
from mobility.learn.env_build import scenario_env  # noqa: E402
from mobility.learn.ppo import PPOConfig, init_train, random_rollout, update  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,64,256,1024")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sumo", default="", help="seeds of the SUMO comparison, e.g. 1,2,3")
    ap.add_argument("--updates", type=int, default=60, help="PPO updates on grid4x4's twin")
    args = ap.parse_args()
    os.environ.setdefault("MOBILITY_CACHE", "/tmp/mobility-bench-cache")
    spec = ScenarioSpec.model_validate(
        small_scenario(end=300, signals={"controller": "policy", "min_green": 5})
    )
    env, params, _ = scenario_env(spec)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cpus")
    print(f"grid3x3: 9 lights, {env.decisions} decisions x {env.substeps} twin steps")

    def runner(n: int):
        fn = jax.jit(jax.vmap(lambda k: random_rollout(k, env, params)))
        keys = jax.random.split(jax.random.PRNGKey(0), n)
        fn(keys).block_until_ready()  # compile
        best = np.inf
        for r in range(args.repeats):
            keys = jax.random.split(jax.random.PRNGKey(r + 1), n)
            t0 = time.perf_counter()
            fn(keys).block_until_ready()
            best = min(best, time.perf_counter() - t0)
        return n * env.decisions / best

    rates = {n: runner(n) for n in map(int, args.batches.split(","))}
    ref = rates.get(1) or runner(1)
    print(f"{'batch':>6} {'env-steps/s':>12} {'light-steps/s':>14} {'x batch 1':>10}")
    for n, rate in rates.items():
        print(f"{n:>6} {rate:>12.0f} {rate * 9:>14.0f} {rate / ref:>10.1f}")
    config = PPOConfig().fitted(params)
    ts = init_train(jax.random.PRNGKey(0), env, params, config)
    ts, _ = update(ts, jax.random.PRNGKey(1), env, params, config)
    jax.block_until_ready(ts.params)
    t0 = time.perf_counter()
    for k in range(5):
        ts, _ = update(ts, jax.random.PRNGKey(2 + k), env, params, config)
    jax.block_until_ready(ts.params)
    per = (time.perf_counter() - t0) / 5
    steps = config.envs * env.decisions
    print(f"PPO update: {per * 1e3:.0f} ms ({steps} env-steps + 4 epochs): {steps / per:.0f}/s")
    twin_rules()
    if args.sumo:
        sumo_table([int(x) for x in args.sumo.split(",")], args.updates)


def twin_rules() -> None:
    """Mean reward per light and decision in grid3x3's twin (16 episodes of 10 min) of simple
    rules, at the tests' demand and at 2400 veh/h: what a trained policy should reach."""
    import jax.numpy as jnp

    for vph in (900, 2400):
        demand = {"type": "random", "vehicles_per_hour": vph, "fringe_factor": 5}
        signals = {"controller": "policy", "min_green": 5}
        spec = ScenarioSpec.model_validate(small_scenario(end=600, demand=demand, signals=signals))
        env, params, _ = scenario_env(spec)

        def served(o, params=params):
            return jnp.einsum("tpi,ti->tp", params.lane_served, o.in_halting)

        rules = {
            "switch every decision": lambda o, st: (st.phase + 1) % 2,
            "longest queue first": lambda o, st: served(o).argmax(1),
            "keep (max green only)": lambda o, st: st.phase,
        }

        def run(rule, key, env=env, params=params):
            obs, st = env.reset(key, params)

            def body(c, _):
                obs, st = c
                obs, st, r, _, _ = env.step(None, st, rule(obs, st), params)
                return (obs, st), r.mean()

            return jax.lax.scan(body, (obs, st), None, length=env.decisions)[1].mean()

        keys = jax.random.split(jax.random.PRNGKey(5), 16)
        for name, rule in rules.items():
            got = float(jax.jit(jax.vmap(lambda k, rule=rule: run(rule, k)))(keys).mean())
            print(f"twin grid3x3 {vph} veh/h, {name}: {got:.3f}")


def sumo_table(seeds: list[int], updates: int) -> None:
    """Train on grid4x4's twin, then policy vs max_pressure vs bundled policy in SUMO."""
    import tempfile

    from scipy import stats

    from mobility.learn.train import train
    from mobility.scenario import run_scenario

    base = {
        "name": "grid4x4-learn",
        "seed": 42,
        "end": 1800,
        "network": str(ROOT / "networks" / "grid4x4" / "grid4x4.net.xml"),
        "demand": {"type": "random", "vehicles_per_hour": 1800, "fringe_factor": 10},
        "signals": {"controller": "policy", "min_green": 5},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "policy"
        t0 = time.perf_counter()
        train(ScenarioSpec.model_validate(base), folder, updates=updates, seed=0)
        print(f"trained {updates} updates on grid4x4's twin in {time.perf_counter() - t0:.0f} s")
        runs = {
            "max_pressure": {"controller": "max_pressure"},
            "model_predictive": {"controller": "model_predictive"},
            "policy (grid4x4 twin)": {"controller": "policy", "params": {"path": str(folder)}},
            "policy (bundled, grid3x3 twin)": {"controller": "policy"},
        }
        delay: dict[str, list[float]] = {k: [] for k in runs}
        for seed in seeds:
            for name, sig in runs.items():
                spec = ScenarioSpec.model_validate(
                    {**base, "seed": seed, "signals": {**sig, "min_green": 5}}
                )
                out = run_scenario(
                    spec, Path(tmp) / f"{seed}-{len(delay[name])}-{sig['controller']}"
                )
                delay[name].append(out.kpis["resco_delay_s"])
                print(f"seed {seed} {name}: {delay[name][-1]:.1f} s", flush=True)
    ref = np.mean(delay["max_pressure"])
    print(f"{'controller':<32} {'RESCO delay s':>14} {'95% CI':>16} {'x max_pressure':>15}")
    for name, xs in delay.items():
        m = np.mean(xs)
        half = stats.t.ppf(0.975, len(xs) - 1) * np.std(xs, ddof=1) / np.sqrt(len(xs))
        print(f"{name:<32} {m:>14.1f} {f'+- {half:.1f}':>16} {m / ref:>15.2f}")


if __name__ == "__main__":
    main()
