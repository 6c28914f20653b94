"""The twin's calibration: the core fit alone (no SUMO), the uncalibrated twin unchanged, and
``mobility signals calibrate`` on the 3x3 grid: real SUMO runs, a fit that lowers the loss,
a report, and a cached fit that ``check-model`` and every later model build pick up."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli, run_signals, small_scenario

from mobility.config import ScenarioSpec, signals_with
from mobility.core import calibration as C
from mobility.core import signal_model as M
from mobility.demand.build import calibration_demand
from mobility.network.build import build_network
from mobility.network.net import load_network
from mobility.signals.check_model import check_model
from mobility.signals.model_build import build_model, cached_calibration, model_for_spec


def two_lights():
    """Two lights in a row: main road 0 -> 1 -> 2 (exit), a side road 3 into edge 1."""
    net = M.ModelNet(
        storage=jnp.array([40.0, 20.0, 40.0, 40.0, 1e9]),
        delay_steps=jnp.array([4, 3, 3, 4, 1]),
        move_from=jnp.array([0, 1, 2, 3]),
        move_to=jnp.array([1, 2, 4, 1]),
        move_sat=jnp.array([0.5, 0.5, 1.0, 0.5]),
        move_tls=jnp.array([0, 1, 2, 0]),
        move_serves=jnp.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.35]]),
        split=jnp.ones(4),
        slots=jnp.zeros(5),
    )
    timing = M.Timing(
        phase_mask=jnp.ones((2, 2)),
        lost=jnp.full((2, 2), 4.0),
        min_green=jnp.full((2, 2), 5.0),
        max_green=jnp.full((2, 2), 60.0),
    )
    demand = M.Demand(
        rate=jnp.array([[0.25, 0.0, 0.0, 0.1, 0.0]]), begin=jnp.float32(0), bin_s=jnp.float32(600)
    )
    layout = C.Layout(
        minor=jnp.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]),
        free_flow_s=jnp.array([8.0, 6.0, 6.0, 8.0, 0.0]),  # delay_steps x dt: the same
        lanes=jnp.array([1.0, 1.0, 1.0, 1.0, 0.0]),
        yield_move=jnp.array([2], jnp.int32),  # (as if the exit gave way to the side road)
        yield_foe=jnp.array([3], jnp.int32),
    )
    return net, timing, demand, layout


def plans(n: int, seed: int = 0) -> M.Plan:
    rng = np.random.default_rng(seed)
    return M.Plan(
        green=jnp.asarray(rng.uniform(8, 40, (n, 2, 2)), jnp.float32),
        offset=jnp.asarray(rng.uniform(0, 30, (n, 2)), jnp.float32),
    )


def test_the_new_fields_at_their_constants_change_nothing() -> None:
    """A twin given the constants explicitly (yellow used, whole-step free-flow times, no
    slow driving) and the fit's zero parameters run exactly as the twin without them."""
    net, timing, demand, layout = two_lights()
    plan = jax.tree.map(lambda x: x[0], plans(1))
    run = dict(steps=300, dt=2.0, tau=0.0)
    base = M.simulate_plan(net, timing, plan, demand, **run)
    explicit = M.simulate_plan(
        dataclasses.replace(net, delay_frac=jnp.zeros(5), slow_share=jnp.zeros(5)),
        dataclasses.replace(timing, used=jnp.full(2, M.YELLOW_USED_S)),
        plan,
        demand,
        **run,
    )
    roomy = dataclasses.replace(net, slots=jnp.zeros(C.slots_for(layout, 2.0)))
    zero = M.simulate_plan(
        *C.apply(roomy, timing, C.zero_params(net, timing), layout, 2.0), plan, demand, **run
    )
    for other in (explicit, zero):
        np.testing.assert_allclose(float(other.delay), float(base.delay), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(other.queue), np.asarray(base.queue), atol=1e-5)


def test_the_fit_finds_the_parameters_that_made_the_data() -> None:
    """Data made by the twin with faster discharge and slower driving: the fit (core only,
    no SUMO) lowers the loss and moves both network-wide parameters towards the truth."""
    net, timing, demand, layout = two_lights()
    roomy = dataclasses.replace(net, slots=jnp.zeros(C.slots_for(layout, 2.0)))
    truth = dataclasses.replace(
        C.zero_params(net, timing), sat_all=jnp.float32(0.25), free_all=jnp.float32(0.3)
    )
    ps = plans(4)
    made = C.apply(roomy, timing, truth, layout, 2.0)
    run = dict(intervals=10, interval_steps=30, dt=2.0, tau=0.0)
    seen = C.observe_runs(*made, ps, demand, **run)
    total = demand.rate.sum() * demand.bin_s
    delay = C.per_vehicle(seen.delay, total)
    measured = C.Measured(seen.vehicles, seen.lost, jnp.ones_like(seen.vehicles), delay)
    weights = jnp.asarray([1.0, 1.0, 1.0, 1e-3])
    params, trace = C.fit(
        roomy, timing, layout, ps, demand, measured, total, C.default_prior(), weights,
        iterations=60, interval_steps=30, dt=2.0,
    )  # fmt: skip
    trace = np.asarray(trace)
    assert trace[-1, :3].sum() < 0.3 * trace[0, :3].sum()
    assert 0.1 < float(params.sat_all) < 0.4
    assert 0.1 < float(params.free_all) < 0.45


def test_a_movement_giving_way_passes_in_the_gaps_of_its_foes() -> None:
    """The side road (movement 3) gives way to the main road (0): the heavier the main
    road's flow, the less it discharges; without a gap it discharges as before."""
    net, _, _, _ = two_lights()
    queue = jnp.array([10.0, 0.0, 0.0, 10.0])
    green = jnp.ones(4)
    yielding = dataclasses.replace(
        net,
        yield_move=jnp.array([3], jnp.int32),
        yield_foe=jnp.array([0], jnp.int32),
        yield_gap=jnp.array([0.0, 0.0, 0.0, 3.0]),
    )
    state = dataclasses.replace(M.initial_state(net), queue=queue)
    alone = M.step(net, state, green, jnp.zeros(5), 2.0)
    given = M.step(yielding, state, green, jnp.zeros(5), 2.0)
    lighter = M.step(
        yielding,
        dataclasses.replace(state, queue=queue.at[0].set(0.4)),
        green,
        jnp.zeros(5),
        2.0,
    )
    passed = [10.0 - float(s.queue[3]) for s in (alone, given, lighter)]
    assert passed[0] == pytest.approx(1.0)  # 0.5 veh/s for 2 s
    assert passed[1] == pytest.approx(np.exp(-3.0 * 0.5), rel=1e-5)  # foe: 0.5 veh/s
    assert passed[1] < passed[2] < passed[0]


# --- in SUMO: the command, its report, the cache -------------------------------------------


def _spec(**overrides) -> ScenarioSpec:
    data = small_scenario(end=600, **overrides)
    data["demand"]["vehicles_per_hour"] = 1500
    return ScenarioSpec.model_validate(data)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, Path, Path]:
    """``mobility signals calibrate`` on the 3x3 grid (2 runs fitted, 2 held out): (the
    scenario file, the report, the cached fit)."""
    import yaml

    folder = tmp_path_factory.mktemp("calibrate")
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(_spec().model_dump(mode="json")))
    done = run_cli("signals", "calibrate", str(path), "--plans", "2", "--out", str(folder / "out"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "held-out plans: mean |model - SUMO| / SUMO delay" in done.stdout
    spec = _spec()
    network = load_network(build_network(spec.network))
    cached = cached_calibration(spec, network, calibration_demand(spec, network))
    assert cached is not None
    return path, folder / "out" / "small-calibration.json", cached


def test_the_command_fits_the_twin_to_sumo_and_reports_it(calibrated) -> None:
    _, report_path, cached = calibrated
    report = json.loads(report_path.read_text())
    assert report == json.loads(cached.read_text())["report"]
    assert report["runs"] == ["net", "random-0", "random-1", "random-2"]
    start, end = report["loss_start"], report["loss_end"]
    assert end[0] + end[1] < start[0] + start[1]  # the misfit fell
    assert report["fit_after"]["delay_error"] < report["fit_before"]["delay_error"]
    assert set(report["held_out_after"]) == {
        "model_delay_s",
        "sumo_delay_s",
        "delay_error",
        "vehicles_nmse",
        "lost_nmse",
    }
    twin = json.loads(cached.read_text())["twin"]
    assert {"sat", "free", "used", "storage", "gap"} <= set(twin)


def test_check_model_and_every_model_build_use_the_cached_fit(calibrated, tmp_path) -> None:
    """The fit serves the scenario's content whatever the run's seed and controller; the
    uncalibrated build is exactly the constants' model."""
    _, _, cached = calibrated
    spec = _spec()
    table, _ = check_model(spec, tmp_path, plans=2)
    assert table.attrs["twin"] == str(cached)
    again, _ = check_model(spec, tmp_path, plans=2, calibrated=False)  # same SUMO runs
    assert again.attrs["twin"] == "constants"
    assert not np.allclose(table["model_delay_s"], again["model_delay_s"])

    other = spec.model_copy(
        update={"seed": 7, "signals": signals_with(spec.signals, controller="model_predictive")}
    )
    network = load_network(build_network(other.network))
    routes = calibration_demand(other, network)
    fitted = model_for_spec(other, network, routes, tls=None, dt=2.0)
    assert fitted.calibration == str(cached)
    assert "slow_share" in fitted.net and "used" in fitted.timing
    plain = model_for_spec(other, network, routes, tls=None, dt=2.0, calibrated=False)
    built = build_model(network, routes, begin=other.begin, end=other.end, dt=2.0)
    assert plain.calibration is None and set(plain.net) == set(built.net)
    for name, value in built.net.items():
        np.testing.assert_array_equal(plain.net[name], value)


def test_model_predictive_plans_on_the_fitted_twin(calibrated, tmp_path) -> None:
    """A run of the scenario under model_predictive (another seed) builds its rollouts on
    the cached fit, and decides with it."""
    _, _, cached = calibrated
    spec = _spec(seed=7, signals={"controller": "model_predictive"})
    part = run_signals(spec, tmp_path)
    assert part.model.calibration == str(cached)
    assert len(part.driver.controller.decision_s) >= 30
