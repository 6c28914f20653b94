"""The CPU assignment backend: scipy's Dijkstra and the numpy (bi)conjugate Frank-Wolfe loop.

Checked against hand-worked equilibria and against the JAX Bellman-Ford backend, which
must give the same iterates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mobility.core.arrays import network_arrays
from mobility.core.routing import user_equilibrium
from mobility.core.routing.dijkstra import host_all_or_nothing, host_graph
from mobility.core.routing.equilibrium import _default_platform
from mobility.errors import DemandError
from mobility.routing import from_tntp

TNTP = Path(__file__).resolve().parents[1] / "networks" / "tntp"


def two_roads():
    """Zone 1 (node 0) to zone 2 (node 1) by two parallel links, t = fft (1 + x / 10)."""
    return network_arrays(
        tail=[0, 0],
        head=[1, 1],
        free_flow_time=[1.0, 2.0],
        capacity=[10.0, 10.0],
        alpha=1.0,
        power=1.0,
        n_nodes=2,
        zone_node=[0, 1],
    )


def test_parallel_links_reach_the_hand_worked_equilibrium():
    # t1 = 1 + x1/10, t2 = 2 (1 + x2/10), x1 + x2 = 30, equal times:
    # 1 + x1/10 = 2 + x2/5  ->  x1 = 10 + 2 x2  ->  x2 = 20/3, x1 = 70/3
    demand = np.array([[0.0, 30.0], [0.0, 0.0]])
    for algorithm in ("fw", "cfw", "bfw"):
        result = user_equilibrium(two_roads(), demand, algorithm=algorithm, gap=1e-9)
        np.testing.assert_allclose(result.flow, [70 / 3, 20 / 3], rtol=1e-6)
        np.testing.assert_allclose(result.time, [1 + 7 / 3, 1 + 7 / 3], rtol=1e-6)


def test_all_or_nothing_takes_the_cheapest_of_parallel_links_and_zero_cost_links():
    # 0 -> 1 twice (costs 3 and 2), 1 -> 2 at zero cost, 0 -> 2 directly at cost 2.5
    arrays = network_arrays(
        tail=[0, 0, 1, 0],
        head=[1, 1, 2, 2],
        free_flow_time=[3.0, 2.0, 0.0, 2.5],
        capacity=[1.0] * 4,
        n_nodes=3,
        zone_node=[0, 1, 2],
    )
    trips = np.array([[0.0, 4.0, 6.0]])
    flows, path_cost = host_all_or_nothing(
        host_graph(arrays), np.array([3.0, 2.0, 0.0, 2.5]), np.array([0]), trips
    )
    np.testing.assert_allclose(flows, [0.0, 10.0, 6.0, 0.0])
    np.testing.assert_allclose(path_cost, [[0.0, 2.0, 2.0]])


def test_zone_that_may_not_be_passed_through_is_routed_around():
    # zone 2 on node 1 sits on the short way 0-1-2; blocked, trips go 0-3-2 (cost 10)
    arrays = network_arrays(
        tail=[0, 1, 0, 3],
        head=[1, 2, 3, 2],
        free_flow_time=[1.0, 1.0, 5.0, 5.0],
        capacity=[100.0] * 4,
        n_nodes=4,
        zone_node=[0, 1, 2],
        through=[True, False, True, True],
    )
    trips = np.array([[0.0, 3.0, 10.0], [0.0, 0.0, 2.0]])
    flows, path_cost = host_all_or_nothing(
        host_graph(arrays), np.array([1.0, 1.0, 5.0, 5.0]), np.array([0, 1]), trips
    )
    # 3 trips 0->1, 2 trips leave zone 2 by 1->2, 10 trips 0->3->2
    np.testing.assert_allclose(flows, [3.0, 2.0, 10.0, 10.0])
    np.testing.assert_allclose(path_cost, [[0.0, 1.0, 10.0], [np.inf, np.inf, 1.0]])


def test_dijkstra_and_bellman_ford_backends_agree_on_sioux_falls():
    net = from_tntp(TNTP / "SiouxFalls")
    results = {
        backend: user_equilibrium(net.arrays, net.demand, gap=1e-3, backend=backend)
        for backend in ("dijkstra", "bellman-ford")
    }
    ours, jax_ = results["dijkstra"], results["bellman-ford"]
    assert ours.converged and ours.gap <= 1e-3
    # both reach the TNTP best-known objective 4,231,335.29 within what a 1e-3 gap allows
    for result in results.values():
        assert result.objective == pytest.approx(4_231_335.287, rel=2e-4)
    assert ours.objective == pytest.approx(jax_.objective, rel=1e-4)
    np.testing.assert_allclose(ours.flow.sum(), jax_.flow.sum(), rtol=1e-3)


def test_cpu_picks_dijkstra_and_bad_backends_are_refused():
    assert _default_platform() == "cpu"
    demand = np.array([[0.0, 30.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="backend must be auto, dijkstra or bellman-ford"):
        user_equilibrium(two_roads(), demand, backend="floyd")


def test_unreachable_trips_are_refused_by_the_dijkstra_backend():
    demand = np.array([[0.0, 0.0], [7.0, 0.0]])  # nothing leads from node 1 to node 0
    with pytest.raises(DemandError, match=r"7 trips have no path, e\.g\. from zone 2 to zone 1"):
        user_equilibrium(two_roads(), demand, backend="dijkstra")


def test_worker_processes_give_the_serial_answer_and_progress_is_reported():
    net = from_tntp(TNTP / "SiouxFalls")
    seen = []
    runs = {
        workers: user_equilibrium(
            net.arrays,
            net.demand,
            gap=1e-3,
            backend="dijkstra",
            workers=workers,
            progress=lambda k, gap: seen.append((k, gap)),
            progress_every=5,
        )
        for workers in (1, 2)
    }
    serial, parallel = runs[1], runs[2]
    assert serial.iterations == parallel.iterations
    np.testing.assert_allclose(parallel.flow, serial.flow, rtol=1e-9, atol=1e-6)
    # reported at iterations 1, 6, 11, ... and at the end, with the gaps of those iterates
    first_run = seen[: len(seen) // 2]
    assert [k for k, _ in first_run[:-1]] == list(range(1, serial.iterations, 5))
    assert first_run[-1] == (serial.iterations, serial.gap)
    for k, gap in first_run:
        assert gap == serial.gaps[k - 1]


def overlapping_routes():
    """Zones 1, 2 (nodes 0, 1) to zone 3 (node 2): two routes each, sharing link 4 -> 2."""
    return network_arrays(
        tail=[0, 0, 1, 1, 3, 4],
        head=[3, 4, 3, 4, 2, 2],
        free_flow_time=[2.0, 1.0, 1.0, 3.0, 1.0, 2.0],
        capacity=[10.0, 15.0, 20.0, 10.0, 30.0, 25.0],
        n_nodes=5,
        zone_node=[0, 1, 2],
    )


def test_gradient_projection_reaches_the_hand_worked_equilibrium():
    from mobility.core.routing import gradient_projection

    demand = np.array([[0.0, 30.0], [0.0, 0.0]])
    result = gradient_projection(two_roads(), demand, gap=1e-12)
    assert result.converged and result.gap <= 1e-12
    np.testing.assert_allclose(result.flow, [70 / 3, 20 / 3], rtol=1e-9)


def test_gradient_projection_agrees_with_bfw_where_paths_overlap():
    from mobility.core.routing import gradient_projection

    demand = np.zeros((3, 3))
    demand[0, 2], demand[1, 2] = 40.0, 25.0
    exact = gradient_projection(overlapping_routes(), demand, gap=1e-10)
    bfw = user_equilibrium(overlapping_routes(), demand, gap=1e-9, max_iterations=5000)
    assert exact.converged and exact.gap <= 1e-10 and bfw.converged
    assert exact.objective == pytest.approx(bfw.objective, rel=1e-9)
    assert exact.objective <= bfw.objective * (1 + 1e-12)  # the optimum is the lower one
    np.testing.assert_allclose(exact.flow, bfw.flow, atol=1e-3)
    assert exact.flow[0] + exact.flow[1] == pytest.approx(40.0)  # zone 1 sends 40
    assert exact.flow[4] + exact.flow[5] == pytest.approx(65.0)  # all trips reach zone 3
    # equal cost on every used route of an OD pair: zone 1 by 0-3-2 and 0-4-2
    t = 1 + 0.15 * (exact.flow / np.array([10.0, 15.0, 20.0, 10.0, 30.0, 25.0])) ** 4
    fft = np.array([2.0, 1.0, 1.0, 3.0, 1.0, 2.0])
    time_ = fft * t
    assert time_[0] + time_[4] == pytest.approx(time_[1] + time_[5], rel=1e-7)
