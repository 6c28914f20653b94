"""The learning environment's parameters for a scenario: the twin's arrays
(:func:`mobility.signals.model_build.model_for_spec`, calibrated when a fit is cached) and the
engine's lane layout of its lights, read from the net the way
:class:`~mobility.signals.driver.SignalDriver` reads it from SUMO: incoming lanes in the
order of their first link index, so that lane slot ``i`` of a light is the same lane in the
twin and in SUMO (``tests/test_learn_env.py`` checks it against a real SUMO run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobility.core.signal_model import YELLOW_USED_S
from mobility.network.net import Network
from mobility.signals.model_build import ModelArrays


@dataclass(frozen=True)
class TwinLayout:
    """Lane slots of the twin's lights, as the engine lays them out."""

    tls: tuple[str, ...]  # [T]
    in_lanes: tuple[tuple[str, ...], ...]  # [T][I used] incoming lane ids
    in_mask: np.ndarray  # [T, I] bool
    lane_served: np.ndarray  # [T, P, I] bool
    phase_mask: np.ndarray  # [T, P] bool
    lane_move: np.ndarray  # [T, I, M] share of a movement's queue on each slot
    lane_edge: np.ndarray  # [T, I, E] share of an edge's running vehicles on each slot


def twin_layout(network: Network, arrays: ModelArrays) -> TwinLayout:
    """The lane layout of ``arrays.tls`` and the maps from the twin's queues and edges to it.

    A movement's queue stands evenly on the light's lanes that connect its edges (all of the
    from-edge's lanes when none does, e.g. a route ending there); an edge's running
    vehicles spread evenly over its lanes."""
    graph = network.net
    t_n = len(arrays.tls)
    links: list[list[tuple[str, str, int]]] = []
    for tls in arrays.tls:
        conns = sorted(graph.getTLS(tls).getConnections(), key=lambda c: c[2])  # stable
        links.append([(a.getID(), b.getID(), int(k)) for a, b, k in conns])
    in_lanes = [tuple(dict.fromkeys(a for a, _, _ in group)) for group in links]
    i_n = max(len(x) for x in in_lanes)
    p_n = arrays.timing["phase_mask"].shape[1]
    edge_index = {e: i for i, e in enumerate(arrays.edges)}
    n_e, n_m = len(arrays.net["storage"]), len(arrays.movements)
    in_mask = np.zeros((t_n, i_n), bool)
    served = np.zeros((t_n, p_n, i_n), bool)
    lane_move = np.zeros((t_n, i_n, n_m), np.float32)
    lane_edge = np.zeros((t_n, i_n, n_e), np.float32)
    lane_edges = arrays.lane_edge
    for t, group in enumerate(links):
        slot = {lane: i for i, lane in enumerate(in_lanes[t])}
        in_mask[t, : len(slot)] = True
        for p, state in enumerate(arrays.plans[t].greens):
            for a, _, k in group:
                served[t, p, slot[a]] |= state[k] in "Gg"
        by_edge: dict[str, list[int]] = {}
        for lane, i in slot.items():
            e = lane_edges.get(lane, lane.rsplit("_", 1)[0])
            by_edge.setdefault(e, []).append(i)
            if e in edge_index:
                lane_edge[t, i, edge_index[e]] = 1.0 / max(arrays.edge_lanes[edge_index[e]], 1)
        for m, (src, dst) in enumerate(arrays.movements):
            if src not in by_edge:
                continue
            used = sorted({slot[a] for a, b, _ in group if lane_edges.get(b) == dst and a in slot})
            used = [i for i in used if i in by_edge[src]] or by_edge[src]
            lane_move[t, used, m] = 1.0 / len(used)
    return TwinLayout(
        tuple(arrays.tls),
        tuple(in_lanes),
        in_mask,
        served,
        arrays.timing["phase_mask"] > 0,
        lane_move,
        lane_edge,
    )


def env_params(
    arrays: ModelArrays,
    layout: TwinLayout,
    *,
    min_green: float,
    max_green: float,
    level_low: float = 0.7,
    level_high: float = 1.3,
    noise: float = 0.2,
):
    """:class:`~mobility.core.learning_env.EnvParams` of the scenario's twin."""
    import jax.numpy as jnp

    from mobility.core.learning_env import EnvParams

    net, _timing, demand = arrays.jax()
    lost = np.asarray(arrays.timing["lost"], np.float32)
    used = arrays.timing.get("used", np.zeros(0, np.float32))
    if len(used) == 0:
        used = np.full(lost.shape[0], YELLOW_USED_S, np.float32)
    used = np.minimum(used, lost.max(axis=1))

    def f(x) -> jnp.ndarray:
        return jnp.asarray(x, jnp.float32)

    return EnvParams(
        net=net,
        demand=demand,
        lost=f(lost),
        used=f(used),
        phase_mask=f(layout.phase_mask),
        lane_move=f(layout.lane_move),
        lane_edge=f(layout.lane_edge),
        in_mask=f(layout.in_mask),
        lane_served=f(layout.lane_served),
        min_green=f(min_green),
        max_green=f(max_green),
        level_low=f(level_low),
        level_high=f(level_high),
        noise=f(noise),
    )


def scenario_env(spec, *, dt: float = 2.0, reward: str = "queue", **levels: float):
    """(SignalEnv, EnvParams, TwinLayout) of a scenario: its lights (``signals.tls`` or all),
    window, decision interval, min/max green, and the twin built from the demand a field
    controller could know (:func:`mobility.demand.build.calibration_demand`)."""
    from mobility.core.learning_env import SignalEnv
    from mobility.demand.build import calibration_demand
    from mobility.scenario import scenario_network
    from mobility.signals.model_build import model_for_spec

    sig = spec.signals
    network = scenario_network(spec)
    tls = list(sig.tls) if sig.tls is not None else sorted(network.signals.programs)
    known = calibration_demand(spec, network)
    arrays = model_for_spec(spec, network, known, tls=tls, dt=dt)
    layout = twin_layout(network, arrays)
    decisions = max(1, int((spec.end - spec.begin) // sig.decision_interval))
    env = SignalEnv(dt=dt, decision=sig.decision_interval, decisions=decisions, reward=reward)
    params = env_params(arrays, layout, min_green=sig.min_green, max_green=sig.max_green, **levels)
    return env, params, layout
