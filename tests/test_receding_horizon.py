"""model_predictive's searches over the twin (:mod:`mobility.core.receding_horizon`).

On the 3x3 grid's model: transition times of a switch are the net's yellow; the
cross-entropy search is deterministic under its key, keeps a light held by min green,
never starts a light on a green the spill-back guard forbids, and when one first green is
clearly cheapest (one approach loaded, every other empty) finds it. A SUMO run with the
cross-entropy search completes its decisions.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import prepare_signals, run_signals, small_scenario

from mobility.config import ScenarioSpec
from mobility.core.receding_horizon import cross_entropy_plan, green_times, shift
from mobility.core.signal_model import initial_state


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    spec = ScenarioSpec.model_validate(
        small_scenario(end=400, signals={"controller": "model_predictive"})
    )
    part, _ = prepare_signals(spec, tmp_path_factory.mktemp("mp"))
    return part.model


def _plan(model, state, *, allowed=None, locked=None, key=0, demand_scale=0.0):
    net, _, demand = model.jax()
    demand = jax.tree_util.tree_map(lambda x: x * demand_scale, demand)
    t_n = len(model.tls)
    mask = model.timing["phase_mask"].astype(np.float32)
    probs = jnp.asarray(np.repeat((mask / mask.sum(1, keepdims=True))[:, None], 3, axis=1))
    current = jnp.zeros(t_n, jnp.int32)
    given = jnp.zeros((1, t_n, 3), jnp.int32)
    allowed = jnp.ones(mask.shape, bool) if allowed is None else allowed
    locked = jnp.zeros(t_n, bool) if locked is None else locked
    return cross_entropy_plan(
        jax.random.PRNGKey(key), net, state, demand, jnp.float32(0.0), given, probs, current,
        locked, jnp.zeros(t_n), allowed, jnp.asarray(model.timing["lost"], jnp.float32),
        _own(model), jnp.float32(10.0),
        steps=15, dt=2.0, decision=10.0, phases_n=mask.shape[1], samples=16, rounds=3, elites=4,
    )  # fmt: skip


def _own(model) -> jnp.ndarray:
    """[T, M] each light's own movements."""
    move_tls = model.net["move_tls"]
    t_n = len(model.tls)
    return jnp.asarray((move_tls[None, :] == np.arange(t_n)[:, None]).astype(np.float32))


def test_green_times_add_the_lost_time_of_a_switch() -> None:
    lost = jnp.array([[3.0, 4.0]])
    phases = jnp.array([[[0, 1, 1]]])  # one candidate, one light, three decisions
    starts = green_times(phases, jnp.array([0]), lost, jnp.array([0.0]), 10.0)
    np.testing.assert_allclose(np.asarray(starts)[0, 0], [0.0, 13.0, 20.0])
    # a transition still running delays the first green
    pending = green_times(phases, jnp.array([0]), lost, jnp.array([2.5]), 10.0)
    assert float(pending[0, 0, 0]) == 2.5


def test_cross_entropy_is_deterministic_and_respects_locks_and_the_guard(model) -> None:
    net, _, _ = model.jax()
    state = initial_state(net)
    first, probs = _plan(model, state, key=3)
    again, _ = _plan(model, state, key=3)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    n_phases = model.timing["phase_mask"].sum(axis=1)
    assert (np.asarray(first) < n_phases).all()
    np.testing.assert_allclose(np.asarray(probs).sum(-1), 1.0, rtol=1e-5)
    t_n = len(model.tls)
    locked, _ = _plan(model, state, locked=jnp.ones(t_n, bool), key=3)
    assert (np.asarray(locked) == 0).all()  # min green holds the current green (0)
    allowed = np.ones(model.timing["phase_mask"].shape, bool)
    allowed[:, 0] = False  # phase 0 forbidden as a first green everywhere
    guarded, _ = _plan(model, state, allowed=jnp.asarray(allowed), key=3)
    assert (np.asarray(guarded) != 0).all()


def test_cross_entropy_serves_the_only_queue(model) -> None:
    """One movement of light 0 holds 12 queued vehicles, nothing else anywhere: the search
    gives light 0 a green that serves it."""
    net, _, _ = model.jax()
    move_tls = model.net["move_tls"]
    m = int(np.flatnonzero(move_tls == 0)[0])
    state = initial_state(net)
    state = dataclasses.replace(state, queue=state.queue.at[m].set(12.0))
    first, _ = _plan(model, state, key=1)
    assert np.asarray(net.move_serves)[m, int(first[0])] > 0


def test_shift_moves_one_decision_on_and_mixes_in_uniform() -> None:
    probs = jnp.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # one light (2 phases), 2 decisions
    mixed = np.asarray(shift(probs, jnp.array([[1.0, 1.0, 0.0]]), 0.5))
    np.testing.assert_allclose(mixed[0, 0], [0.25, 0.75, 0.0])
    np.testing.assert_allclose(mixed[0, 1], [0.25, 0.75, 0.0])


def test_model_predictive_cross_entropy_runs_in_sumo(tmp_path) -> None:
    params = {"search": "cross_entropy", "horizon": 30, "candidates": 8, "rounds": 2}
    spec = ScenarioSpec.model_validate(
        small_scenario(end=300, signals={"controller": "model_predictive", "params": params})
    )
    part = run_signals(spec, tmp_path)
    assert len(part.driver.controller.decision_s) >= 25  # a decision every 10 s
