"""User equilibrium: published optima of the TNTP networks, the algorithms, and bad demand."""

from __future__ import annotations

import dataclasses
import itertools
from functools import cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mobility.core.arrays import network_arrays
from mobility.core.routing import equilibrium as eq
from mobility.core.routing import user_equilibrium
from mobility.core.routing.cost import LinkCosts, generalized_cost
from mobility.errors import DemandError
from mobility.routing import from_tntp, links_frame, read_flows

TNTP = Path(__file__).resolve().parent.parent / "networks" / "tntp"
BEST_KNOWN = {  # Beckmann objective of the published best-known flows
    "SiouxFalls": 42.31335287107440e5,
    "Anaheim": 1_286_032.17,
    "Chicago-Sketch": 17_313_018.7387477,
}


@cache
def tntp(name: str):
    return from_tntp(TNTP / name)


@cache
def solve(name: str, algorithm: str = "bfw", gap: float = 1e-4, **options):
    net = tntp(name)
    return user_equilibrium(
        net.arrays,
        net.demand,
        algorithm=algorithm,
        gap=gap,
        toll_factor=net.toll_factor,
        distance_factor=net.distance_factor,
        **options,
    )


def compare_flows(name: str, result) -> float:
    """Sum of absolute link-flow differences to the published flows, relative to their sum."""
    best = read_flows(next((TNTP / name).glob("*_flow.tntp")))
    labels = tntp(name).links()[["from", "to"]]
    merged = links_frame(result, labels).merge(best, on=["from", "to"], validate="one_to_one")
    assert len(merged) == len(best)
    return float(np.abs(merged.flow - merged.volume).sum() / merged.volume.sum())


@pytest.mark.parametrize(
    ("name", "flow_tolerance"),
    [("SiouxFalls", 0.002), ("Anaheim", 0.02), ("Chicago-Sketch", 0.01)],
)
def test_bfw_reaches_the_published_optimum(name, flow_tolerance):
    result = solve(name)
    assert result.converged and result.gap <= 1e-4
    assert result.objective == pytest.approx(BEST_KNOWN[name], rel=1e-4)
    assert result.objective >= BEST_KNOWN[name] * (1 - 1e-7)  # nobody beats the optimum
    assert compare_flows(name, result) < flow_tolerance
    assert len(result.gaps) == result.iterations and result.gaps[-1] == result.gap
    assert result.tstt == pytest.approx(float(np.dot(result.flow, result.time)))


def test_chicago_sketch_leaves_intrazonal_trips_out():
    result = solve("Chicago-Sketch")
    share = result.intrazonal_trips / tntp("Chicago-Sketch").demand.sum()
    assert share == pytest.approx(0.098, abs=0.001)


def test_conjugate_directions_need_fewer_iterations():
    iterations = {a: solve("SiouxFalls", a, gap=1e-3).iterations for a in ("fw", "cfw", "bfw")}
    assert iterations["bfw"] < iterations["cfw"] < iterations["fw"]
    for algorithm in iterations:
        result = solve("SiouxFalls", algorithm, gap=1e-3)
        assert result.converged
        assert result.objective == pytest.approx(BEST_KNOWN["SiouxFalls"], rel=2e-3)


def test_float64_trees_agree_with_float32_trees():
    f32 = solve("SiouxFalls", tree_precision="float32", backend="bellman-ford")
    f64 = solve("SiouxFalls", tree_precision="float64", backend="bellman-ford")
    assert f32.objective == pytest.approx(f64.objective, rel=1e-6)


def test_progress_chunks_give_the_same_answer_and_compile_once():
    seen = []
    before = eq._iterate._cache_size()
    chunked = solve(
        "SiouxFalls",
        progress=lambda k, gap: seen.append((k, gap)),
        progress_every=7,
        backend="bellman-ford",
    )
    assert eq._iterate._cache_size() <= before + 1  # shapes unchanged: at most one new trace
    whole = solve("SiouxFalls", backend="bellman-ford")
    assert chunked.iterations == whole.iterations
    np.testing.assert_allclose(chunked.flow, whole.flow, rtol=1e-12)
    assert seen[0][0] == 1 and seen[-1] == (chunked.iterations, chunked.gap)
    assert all(b[0] - a[0] <= 7 for a, b in itertools.pairwise(seen))


def test_iteration_limit():
    result = solve("SiouxFalls", "fw", gap=1e-6, max_iterations=20)
    assert not result.converged and result.iterations == 20 and result.gap > 1e-6


def test_line_search_finds_the_minimum_on_the_segment():
    rng = np.random.default_rng(1)
    n = 50
    costs = LinkCosts(
        free_flow_time=rng.uniform(1, 5, n),
        capacity=rng.uniform(100, 500, n),
        alpha=np.full(n, 0.15),
        power=np.full(n, 4.0),
        fixed=rng.uniform(0, 1, n),
    )
    flow = rng.uniform(0, 600, n)
    target = rng.uniform(0, 600, n)
    with jax.enable_x64(True):
        step = float(jax.jit(eq.line_search)(costs, flow, target - flow))
        move = target - flow
        slope = float(jnp.dot(generalized_cost(costs, flow + step * move), move))
    assert 0 < step < 1
    assert abs(slope) < 1e-9 * float(np.abs(target - flow).sum())


@pytest.mark.parametrize("wanted", [0.4, -3.0, 7.0])
def test_conjugate_target_is_conjugate_to_the_last_direction(wanted: float):
    """CFW's weight ``a`` solves (s - x)ᵀH(s1 - x) = 0 and is clipped to [0, 0.99999].

    ``y`` is built so that the unclipped weight is ``wanted``: 0.4 must give an exactly
    conjugate target, -3 the plain FW target ``y`` and 7 the clip 0.99999.
    """
    rng = np.random.default_rng(2)
    n = 40
    costs = LinkCosts(
        free_flow_time=rng.uniform(1, 5, n),
        capacity=rng.uniform(100, 500, n),
        alpha=np.full(n, 0.15),
        power=np.full(n, 4.0),
        fixed=np.zeros(n),
    )
    x, s1, r = (rng.uniform(0, 600, n) for _ in range(3))
    with jax.enable_x64(True):
        h = np.asarray(eq.cost_derivative(costs, x))
    p = s1 - x
    # q = r - c p with hp.q = wanted / (wanted - 1) * hp.p, so that hp.q / hp.(q - p) = wanted
    c = (np.dot(h * p, r) - wanted / (wanted - 1) * np.dot(h * p, p)) / np.dot(h * p, p)
    y = x + r - c * p
    weight = np.dot(h * p, y - x) / np.dot(h * p, y - s1)
    assert weight == pytest.approx(wanted, rel=1e-9)
    state = dataclasses.replace(
        eq.initial_state(eq.Problem(None, costs, None, None), 1),
        flow=x,
        aon=y,
        target=s1,
        previous_target=s1,
        step=np.float64(0.5),
    )
    with jax.enable_x64(True):
        _, conjugate, _ = eq._targets(costs, state)
    conjugate = np.asarray(conjugate)
    if wanted == 0.4:
        assert np.dot(h * (conjugate - x), s1 - x) == pytest.approx(0, abs=1e-6 * np.dot(h * p, p))
        np.testing.assert_allclose(conjugate, 0.4 * s1 + 0.6 * y, rtol=1e-9)
    else:
        a = 0.0 if wanted < 0 else 0.99999
        np.testing.assert_allclose(conjugate, a * s1 + (1 - a) * y, rtol=1e-9)


def small_network(through: bool):
    """Zones 1-3 on nodes 0-2 and a junction 3: 0-1-2 is short, 0-3-2 long."""
    return network_arrays(
        tail=[0, 1, 0, 3],
        head=[1, 2, 3, 2],
        free_flow_time=[1.0, 1.0, 5.0, 5.0],
        capacity=[100.0] * 4,
        n_nodes=4,
        zone_node=[0, 1, 2],
        through=[True, through, True, True],
    )


@pytest.mark.parametrize("through", [True, False])
def test_zones_that_may_not_be_passed_through(through):
    demand = np.zeros((3, 3))
    demand[0, 2] = 10.0
    result = user_equilibrium(small_network(through), demand, gap=1e-6)
    expected = [10, 10, 0, 0] if through else [0, 0, 10, 10]
    np.testing.assert_allclose(result.flow, expected)


def test_trips_without_a_path_are_an_error():
    demand = np.zeros((3, 3))
    demand[2, 0] = 5.0  # nothing leads from zone 3 back to zone 1
    with pytest.raises(DemandError) as error:
        user_equilibrium(small_network(True), demand, zone_labels=np.array(["a", "b", "c"]))
    message = str(error.value)
    assert "5 trips have no path, e.g. from zone c to zone a" in message
    assert "connect the zones in the network or remove those trips" in message


def test_bad_demand_and_options():
    with pytest.raises(DemandError, match=r"OD matrix is \(2, 2\) but the network has 3 zones"):
        user_equilibrium(small_network(True), np.zeros((2, 2)))
    with pytest.raises(DemandError, match="nothing to assign"):
        user_equilibrium(small_network(True), np.eye(3))  # intrazonal trips only
    with pytest.raises(DemandError, match="negative"):
        user_equilibrium(small_network(True), -np.ones((3, 3)))
    with pytest.raises(ValueError, match="unknown assignment algorithm 'msa'"):
        user_equilibrium(small_network(True), np.zeros((3, 3)), algorithm="msa")
