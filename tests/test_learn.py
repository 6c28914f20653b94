"""The learning environment over the twin, PPO training, checkpoints and the ``policy``
controller in real SUMO, on the 3x3 grid with short windows."""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli, run_signals, small_scenario

from mobility.config import ScenarioSpec, load_spec
from mobility.errors import SpecError
from mobility.learn.checkpoint import load_checkpoint, save_checkpoint
from mobility.learn.controller import BUNDLED, PolicyController
from mobility.learn.env_build import scenario_env
from mobility.learn.policy import init_policy
from mobility.learn.ppo import PPOConfig, TrainState, evaluate, optimizer
from mobility.learn.train import METRICS, train
from mobility.signals.registry import PolicyParams
from mobility.signals.types import Layout


def _spec(**signals) -> ScenarioSpec:
    signals = {"controller": "policy", "min_green": 5, **signals}
    return ScenarioSpec.model_validate(small_scenario(end=300, signals=signals))


@pytest.fixture(scope="module")
def bundle():
    return scenario_env(_spec())


def test_env_is_deterministic_under_a_key_and_compiles_once(bundle) -> None:
    env, params, _ = bundle
    traces = []

    def episode_start(key):
        traces.append(1)
        _, state = env.reset(key, params)
        action = jnp.ones_like(state.phase)
        return env.step(key, state, action, params)

    run = jax.jit(jax.vmap(episode_start))
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    a = run(keys)
    b = run(keys)
    c = run(jax.random.split(jax.random.PRNGKey(4), 4))
    assert len(traces) == 1  # one compilation for every call with these shapes
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[1].rate, c[1].rate)  # another key, another day's demand
    assert not np.allclose(a[1].rate[0], a[1].rate[1])  # environments differ within a batch
    obs, reward = a[0], a[2]
    assert obs.in_vehicles.shape == (4, 9, 4)  # 9 lights, 4 incoming lanes each
    assert reward.shape == (4, 9)
    # reward: minus the mean halting vehicles of the light's lanes over the interval, and
    # an episode starts empty, so the first interval's queue is small but not negative
    assert (np.asarray(reward) <= 0).all() and np.isfinite(np.asarray(reward)).all()


def test_env_applies_the_drivers_rules(bundle) -> None:
    env, params, _ = bundle  # decision 10 s, min green 5 s, grid3x3: 2 phases, lost 3 s
    lost = float(params.lost[0, 0])
    assert lost > 0
    step = jax.jit(env.step)
    _, s = env.reset(jax.random.PRNGKey(0), params)
    t_n = s.phase.shape[0]
    # invalid (masked) phases keep the green: these lights have 2 phases
    _, s, *_ = step(None, s, jnp.full(t_n, 5), params)
    assert (np.asarray(s.phase) == 0).all() and float(s.time) == 10.0
    # a switch after min green: yellow + all-red, then the new green
    _, s, *_ = step(None, s, jnp.ones(t_n, jnp.int32), params)
    assert (np.asarray(s.phase) == 1).all()
    np.testing.assert_allclose(s.green_since, 10.0 + lost)
    np.testing.assert_allclose(s.prev, 0)
    # a switch before min green is refused: with min green 15 s, the green that started at
    # 10 + lost is younger than that at 20 s; at 30 s it is not
    strict = dataclasses.replace(params, min_green=jnp.float32(15.0))
    _, s2, *_ = step(None, s, jnp.zeros(t_n, jnp.int32), strict)
    assert (np.asarray(s2.phase) == 1).all()
    np.testing.assert_allclose(s2.green_since, 10.0 + lost)
    _, s2, *_ = step(None, s2, jnp.zeros(t_n, jnp.int32), strict)
    assert (np.asarray(s2.phase) == 0).all()
    np.testing.assert_allclose(s2.green_since, 30.0 + float(params.lost[0, 1]))
    # the delay reward: the network's vehicle-seconds lost in the interval, per second,
    # shared by every light
    delay_env = dataclasses.replace(env, reward="delay")
    _, s4, r4, *_ = jax.jit(delay_env.step)(None, s, jnp.ones(t_n, jnp.int32), params)
    lost_s = float(s4.twin.delay - s.twin.delay)
    assert lost_s > 0
    np.testing.assert_allclose(r4, np.full(t_n, -lost_s / 10.0), rtol=1e-5)
    # max green: a green held past it moves on to the next phase whatever is asked
    short = dataclasses.replace(params, max_green=jnp.float32(12.0))
    _, s3, *_ = step(None, s, jnp.ones(t_n, jnp.int32), short)  # t=20: 7 s old, kept
    _, s3, *_ = step(None, s3, jnp.ones(t_n, jnp.int32), short)  # t=30: 17 s old
    assert (np.asarray(s3.phase) == 0).all()


def test_policy_runs_in_sumo_with_the_twins_layout(tmp_path, bundle, monkeypatch) -> None:
    _, params, layout = bundle
    seen = []
    decide = PolicyController.decide

    def recorded(self, obs):
        seen.append((obs, self.observe(obs)[0], decide(self, obs)))
        return seen[-1][2]

    monkeypatch.setattr(PolicyController, "decide", recorded)
    part = run_signals(_spec().model_copy(update={"end": 200}), tmp_path)
    sumo = part.driver.layout
    assert sumo.tls == layout.tls
    assert sumo.in_lanes == layout.in_lanes  # lane slot i is the same lane on both sides
    np.testing.assert_array_equal(sumo.in_mask, layout.in_mask)
    np.testing.assert_array_equal(sumo.lane_served, layout.lane_served)
    np.testing.assert_array_equal(sumo.phase_mask, layout.phase_mask)
    assert len(seen) == 21  # every 10 s from 0 to 200 s
    assert sum(float(obs.in_halting.sum()) for obs, _, _ in seen) > 0
    for obs, feats, chosen in seen:
        assert set(np.asarray(chosen).tolist()) <= {0, 1}
        # the bundled policy's input: 16 lane slots of vehicles, then of halting ones
        np.testing.assert_allclose(feats[:, :4], obs.in_vehicles / 10, rtol=1e-6)
        np.testing.assert_allclose(feats[:, 16:20], obs.in_halting / 10, rtol=1e-6)
        assert (np.asarray(feats[:, 4:16]) == 0).all()
    controller = part.driver.controller
    env, _, _ = bundle
    twin_obs, _ = env.reset(jax.random.PRNGKey(0), params)
    twin_feats = env.features(params, twin_obs)
    assert twin_feats.shape[1] == 2 * 4 + 3 * 2 + 1
    assert controller.policy["w0"].shape[0] == 2 * 16 + 3 * 8 + 1  # bundled: 16 lanes, 8 phases


def test_training_beats_a_random_policy_and_resumes(tmp_path, bundle) -> None:
    env, params, _ = bundle
    spec = _spec()
    meta = train(spec, tmp_path / "p", updates=15, seed=0, env_bundle=bundle)
    saved, _, _ = load_checkpoint(tmp_path / "p")
    policy = {k: jnp.asarray(v) for k, v in saved.items()}
    config = PPOConfig(lanes=meta["lanes"], phases=meta["phases"])
    key = jax.random.PRNGKey(123)  # episodes training never saw
    trained = float(evaluate(key, env, params, policy, 8, "trained", config).mean())
    random = float(evaluate(key, env, params, policy, 8, "random", config).mean())
    assert trained > 0.7 * random, (trained, random)  # rewards are negative: fewer halted
    rows = [json.loads(x) for x in (tmp_path / "p" / METRICS).read_text().splitlines()]
    assert [r["update"] for r in rows] == list(range(1, 16))
    # interrupted after 2 updates and resumed to 3 = 3 in one go
    train(spec, tmp_path / "a", updates=2, seed=0, env_bundle=bundle)
    with (tmp_path / "a" / METRICS).open("a") as f:  # update 3 logged, its checkpoint not
        f.write(json.dumps({"update": 3, "reward": 0.0}) + "\n")
    train(spec, tmp_path / "a", updates=3, seed=0, env_bundle=bundle)
    train(spec, tmp_path / "b", updates=3, seed=0, env_bundle=bundle)
    a, opt_a, meta_a = load_checkpoint(tmp_path / "a")
    b, opt_b, meta_b = load_checkpoint(tmp_path / "b")
    assert meta_a == meta_b and meta_a["update"] == 3
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-7)
    for x, y in zip(opt_a, opt_b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
    rows = [json.loads(x) for x in (tmp_path / "a" / METRICS).read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3] and rows[2]["reward"] < 0
    with pytest.raises(SpecError, match="trained with other seed"):
        train(spec, tmp_path / "a", updates=4, seed=1, env_bundle=bundle)


def test_bad_policy_paths_and_layouts_are_clear_errors(tmp_path, bundle, write_spec) -> None:
    signals = {"controller": "policy", "params": {"path": "nowhere"}}
    path = write_spec(small_scenario(signals=signals))
    with pytest.raises(SpecError, match=r"signals.params.path.*nowhere holds no policy checkpoint"):
        load_spec(path)  # refused when the spec is loaded, relative to the YAML file
    shutil.copytree(BUNDLED, tmp_path / "nowhere")
    assert load_spec(path).signals.params.path == str(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(BUNDLED, broken)
    (broken / "policy.npz").write_bytes(b"not a zip")
    with pytest.raises(SpecError, match=r"signals.params.path.*unreadable"):
        PolicyController(PolicyParams(path=str(broken)))
    # weights that do not fit the sizes the checkpoint states
    meta = json.loads((broken / "policy.json").read_text())
    shutil.copy(BUNDLED / "policy.npz", broken / "policy.npz")
    (broken / "policy.json").write_text(json.dumps({**meta, "phases": 1}))
    with pytest.raises(SpecError, match=r"unreadable.*do not match"):
        PolicyController(PolicyParams(path=str(broken)))
    # a policy for one-phase lights (16 lanes, 1 phase) on the grid's two-phase lights
    small = tmp_path / "small"
    policy = init_policy(jax.random.PRNGKey(0), 2 * 16 + 3 * 1 + 1, 1)
    state = TrainState(policy, optimizer(PPOConfig()).init(policy), jnp.zeros((), jnp.int32))
    save_checkpoint(small, state, {**meta, "features": 36, "lanes": 16, "phases": 1})
    controller = PolicyController(PolicyParams(path=str(small)))
    _, _, layout = bundle
    fake = Layout(
        layout.tls, layout.in_mask, layout.in_mask, np.zeros((9, 1), int), np.zeros((9, 1), int),
        np.ones((9, 1), bool), np.ones((9, 2, 1), bool), layout.phase_mask,
        np.ones(layout.in_mask.shape), np.ones(layout.in_mask.shape),
    )  # fmt: skip
    with pytest.raises(SpecError, match=r"at most 16 incoming lanes and 1 green phases"):
        controller.reset(fake, min_green=5)


def test_train_command_refuses_a_bad_reward(tmp_path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(json.dumps(small_scenario(end=300)))
    done = run_cli("signals", "train", str(spec), "-o", str(tmp_path / "p"), "--reward", "speed")
    assert done.returncode == 2
    assert "--reward" in done.stderr and "Traceback" not in done.stderr
