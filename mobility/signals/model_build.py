"""Build the JAX model's arrays from a :class:`~mobility.network.net.Network` and route files.

Edges are those that some route uses (plus one sink edge), movements the consecutive edge
pairs of the routes (plus "route ends here" into the sink), turning ratios the share of
routed vehicles, saturation flow ``saturation_flow x lanes connecting the pair``, storage
``lanes x length / 7.5 m``, free-flow time ``length / speed``; a minor green (``g``,
yielding) gives a fixed share of the saturation flow; movements sharing a from-lane are
listed as (movement, lane) pairs, for the model's first-in-first-out lanes, and a
movement's bay is what its from-lanes hold. A movement belongs to the light of its
connections; phases and transitions come from the net's own program
(:func:`mobility.signals.phases.plan_from_program`). Trips without a route take the net's
shortest path (:meth:`mobility.network.net.Network.shortest_path`).

Those constants (1800 veh/h per lane, the minor green's share, 7.5 m per stored vehicle,
free flow at the speed limit, :data:`mobility.core.signal_model.YELLOW_USED_S`) are what
the twin starts from. ``mobility signals calibrate`` fits them per network to SUMO runs
(:mod:`mobility.signals.calibrate`) and stores the fit in the content cache
(:func:`calibration_key`); :func:`model_for_spec` applies a stored fit whenever there is one
(:func:`with_calibration`), so every user of the twin gets the calibrated one.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobility.cache import cached_build
from mobility.config import file_hash
from mobility.demand.routes import route_vehicles
from mobility.network.net import Network
from mobility.signals.phases import PhasePlan
from mobility.signals.programs import plans_from_net

JAM_SPACING_M = 7.5
MAX_DELAY_SLOTS = 64  # longest free-flow delay line, steps (longer edges are shortened)
BIN_S = 300.0
# Share of the saturation flow a green gives: a minor green ``g`` yields to the opposing
# flow (permissive left turns), so it passes only in gaps; a rough, fixed gap share.
GREEN_SHARE = {"G": 1.0, "g": 0.35}


@dataclass(frozen=True)
class ModelArrays:
    """Numpy arrays for :class:`mobility.core.signal_model.ModelNet`, ``Timing`` and ``Demand``,
    plus the names that map them back to the net."""

    net: dict[str, np.ndarray]
    timing: dict[str, np.ndarray]
    demand: dict[str, np.ndarray]
    base_green: np.ndarray  # [T, P] s: the net's own green times
    edges: tuple[str, ...]  # [E-1] edge ids (the sink has none)
    movements: tuple[tuple[str, str], ...]  # [M] (from edge, to edge or "")
    tls: tuple[str, ...]  # [T]
    plans: tuple[PhasePlan, ...]  # [T]
    lane_edge: dict[str, str]  # lane id -> edge id
    minor: np.ndarray  # [M, P] 1 where phase p gives the movement only a minor (yielding) green
    free_flow_s: np.ndarray  # [E] s to travel each edge at its speed limit (the sink: 0)
    edge_lanes: np.ndarray  # [E] lanes of each edge (the sink: 0)
    dt: float
    calibration: str | None = None  # the fitted twin applied (its file), None: the constants

    def jax(self):
        """(ModelNet, Timing, Demand) as JAX arrays."""
        import jax.numpy as jnp

        from mobility.core.signal_model import Demand, ModelNet, Timing

        net = ModelNet(**{k: jnp.asarray(v) for k, v in self.net.items()})
        timing = Timing(**{k: jnp.asarray(v) for k, v in self.timing.items()})
        demand = Demand(**{k: jnp.asarray(v) for k, v in self.demand.items()})
        return net, timing, demand

    def layout(self, network: Network):
        """The :class:`~mobility.core.calibration.Layout` a fit of this twin needs (who
        gives way to whom at the net's unsignalised junctions: :func:`yield_pairs`)."""
        import jax.numpy as jnp

        from mobility.core.calibration import Layout

        pairs = yield_pairs(network, self)
        return Layout(
            minor=jnp.asarray(self.minor),
            free_flow_s=jnp.asarray(self.free_flow_s),
            lanes=jnp.asarray(self.edge_lanes),
            yield_move=jnp.asarray(pairs[:, 0]),
            yield_foe=jnp.asarray(pairs[:, 1]),
        )


def yield_pairs(network: Network, arrays: ModelArrays) -> np.ndarray:
    """[Y, 2] (movement, foe) pairs of the twin's movements where the first gives way to the
    second at a junction no light controls, by the net's own right of way (SUMO's
    ``<request>`` bits, :meth:`sumolib.net.node.Node.forbids`). Movements of a light
    follow its phases instead (and a minor green's share)."""
    graph = network.net
    n_t = len(arrays.tls)
    at_node: dict[str, list[tuple[int, str, list]]] = {}
    for m, (a, b) in enumerate(arrays.movements):
        if not b or not graph.hasEdge(a) or not graph.hasEdge(b):
            continue
        edge = graph.getEdge(a)
        conns = edge.getOutgoing().get(graph.getEdge(b), [])
        if conns:
            at_node.setdefault(edge.getToNode().getID(), []).append((m, a, conns))
    pairs = []
    for node_id, moves in at_node.items():
        node = graph.getNode(node_id)
        for m, a, conns in moves:
            if arrays.net["move_tls"][m] != n_t:
                continue
            for foe, other, foe_conns in moves:
                if other != a and any(node.forbids(f, c) for c in conns for f in foe_conns):
                    pairs.append((m, foe))
    return np.array(pairs, np.int32).reshape(-1, 2)


def read_routes(
    routes: list[Path], network: Network, *, begin: float, end: float
) -> list[tuple[tuple[str, ...], float, float]]:
    """``[(edges, departure s, vehicles)]`` of the route files inside [begin, end)."""
    out: list[tuple[tuple[str, ...], float, float]] = []
    for el, edges, n in route_vehicles(routes, begin=begin, end=end):
        if not edges and el.get("from") and el.get("to"):
            edges = network.shortest_path(el.get("from"), el.get("to"))
        if not edges:
            continue
        if el.tag == "flow":
            start = max(float(el.get("begin", begin)), begin)
            stop = min(float(el.get("end", end)), end)
            parts = max(1, int((stop - start) // BIN_S) + 1)
            for i in range(parts):
                t = start + (i + 0.5) * (stop - start) / parts
                out.append((tuple(edges), t, n / parts))
        else:
            out.append((tuple(edges), float(el.get("depart", begin)), 1.0))
    return out


def build_model(
    network: Network,
    routes: list[Path],
    *,
    tls: list[str] | None = None,
    begin: float,
    end: float,
    dt: float = 2.0,
    yellow: float | None = None,
    all_red: float | None = None,
    min_green: float = 5.0,
    max_green: float = 60.0,
    saturation_flow: float = 1800.0,
) -> ModelArrays:
    """The model of a scenario: its net, its routes, its lights ``tls`` (all if None)."""
    graph = network.net
    signals = network.signals
    tls = sorted(signals.programs) if tls is None else list(tls)
    plans = plans_from_net(signals, tls, yellow=yellow, all_red=all_red)
    trips = read_routes(routes, network, begin=begin, end=end)
    pair_count: Counter[tuple[str, str]] = Counter()
    used: dict[str, None] = {}
    for edges, _, n in trips:
        for e in edges:
            used.setdefault(e)
        for pair in itertools.pairwise(edges):
            pair_count[pair] += n
        pair_count[(edges[-1], "")] += n
    edges = tuple(e for e in used if graph.hasEdge(e))
    index = {e: i for i, e in enumerate(edges)}
    sink = len(edges)
    n_e = sink + 1
    storage = np.full(n_e, 1e9, np.float32)
    delay = np.ones(n_e, np.int32)
    free_flow = np.zeros(n_e, np.float32)
    edge_lanes = np.zeros(n_e, np.float32)
    lane_edge: dict[str, str] = {}
    for e, i in index.items():
        edge = graph.getEdge(e)
        lanes = edge.getLanes()
        length = max(edge.getLength(), 1.0)
        storage[i] = max(len(lanes) * length / JAM_SPACING_M, 1.0)
        travel = length / max(edge.getSpeed(), 0.1)
        free_flow[i], edge_lanes[i] = travel, len(lanes)
        delay[i] = int(np.clip(round(travel / dt), 1, MAX_DELAY_SLOTS - 1))
        for lane in lanes:
            lane_edge[lane.getID()] = e
    k_slots = int(delay.max()) + 1
    tls_index = {t: i for i, t in enumerate(tls)}
    n_t = len(tls)
    n_p = max((len(plans[t].greens) for t in tls), default=1)
    movements = [(a, b) for (a, b) in pair_count if a in index and (b == "" or b in index)]
    out_total: Counter[str] = Counter()
    for a, b in movements:
        out_total[a] += pair_count[(a, b)]
    n_m = len(movements)
    move_from = np.zeros(n_m, np.int32)
    move_to = np.zeros(n_m, np.int32)
    move_sat = np.zeros(n_m, np.float32)
    move_tls = np.full(n_m, n_t, np.int32)
    move_bay = np.full(n_m, 1e9, np.float32)  # route ends and unconnected pairs: no bay
    serves = np.zeros((n_m, n_p), np.float32)
    split = np.zeros(n_m, np.float32)
    sat = saturation_flow / 3600.0
    lane_index: dict[str, int] = {}
    pairs: list[tuple[int, int, float]] = []  # (movement, lane, share of its queue there)
    for m, (a, b) in enumerate(movements):
        edge = graph.getEdge(a)
        move_from[m] = index[a]
        move_to[m] = sink if b == "" else index[b]
        split[m] = pair_count[(a, b)] / out_total[a]
        if b == "":
            move_sat[m] = sat * len(edge.getLanes())
            serves[m, 0] = 1.0
            continue
        conns = edge.getOutgoing().get(graph.getEdge(b), [])
        from_lanes = sorted({c.getFromLane() for c in conns}, key=lambda lane: lane.getID())
        move_sat[m] = sat * max(len(from_lanes), 1)
        if from_lanes:
            move_bay[m] = sum(max(ln.getLength() / JAM_SPACING_M, 1.0) for ln in from_lanes)
        for lane in from_lanes:
            row = lane_index.setdefault(lane.getID(), len(lane_index))
            pairs.append((m, row, 1 / len(from_lanes)))
        light = next((c.getTLSID() for c in conns if c.getTLSID() in tls_index), None)
        if light is None:
            serves[m, 0] = 1.0
            continue
        move_tls[m] = tls_index[light]
        for c in conns:
            if c.getTLSID() != light or c.getTLLinkIndex() < 0:
                continue
            for p, state in enumerate(plans[light].greens):
                share = GREEN_SHARE.get(state[c.getTLLinkIndex()], 0.0)
                serves[m, p] = max(serves[m, p], share)
    phase_mask = np.zeros((n_t, n_p), np.float32)
    lost = np.zeros((n_t, n_p), np.float32)
    base = np.zeros((n_t, n_p), np.float32)
    for t in tls:
        i, plan = tls_index[t], plans[t]
        n = len(plan.greens)
        phase_mask[i, :n] = 1.0
        if n > 1:
            lost[i, :n] = np.add(plan.yellow, plan.all_red)
        base[i, :n] = np.clip(plan.green_durations, min_green, max_green)
    bins = max(1, int(np.ceil((end - begin) / BIN_S)))
    rate = np.zeros((bins, n_e), np.float32)
    for route, depart, n in trips:
        if route[0] in index:
            b = int(np.clip((depart - begin) // BIN_S, 0, bins - 1))
            rate[b, index[route[0]]] += n / BIN_S
    mins = np.full((n_t, n_p), min_green, np.float32) * phase_mask
    maxs = np.full((n_t, n_p), max_green, np.float32) * phase_mask
    return ModelArrays(
        net={
            "storage": storage,
            "delay_steps": delay,
            "move_from": move_from,
            "move_to": move_to,
            "move_sat": move_sat,
            "move_tls": move_tls,
            "move_serves": serves,
            "split": split,
            "slots": np.zeros(k_slots, np.float32),
            "pair_move": np.array([m for m, _, _ in pairs], np.int32),
            "pair_lane": np.array([lane for _, lane, _ in pairs], np.int32),
            "pair_share": np.array([share for _, _, share in pairs], np.float32),
            "lane_sat": np.full(len(lane_index), sat, np.float32),
            "move_bay": move_bay,
        },
        timing={"phase_mask": phase_mask, "lost": lost, "min_green": mins, "max_green": maxs},
        demand={
            "rate": rate,
            "begin": np.float32(begin),
            "bin_s": np.float32(BIN_S),
        },
        base_green=base,
        edges=edges,
        movements=tuple(movements),
        tls=tuple(tls),
        plans=tuple(plans[t] for t in tls),
        lane_edge=lane_edge,
        minor=((serves > 0) & (serves < 1)).astype(np.float32),
        free_flow_s=free_flow,
        edge_lanes=edge_lanes,
        dt=dt,
    )


def model_for_spec(
    spec,
    network: Network,
    routes: list[Path],
    *,
    tls: list[str] | None,
    dt: float,
    calibrated: bool = True,
) -> ModelArrays:
    """:func:`build_model` with the scenario's time window and signal settings, and the twin
    ``mobility signals calibrate`` fitted for this content when there is one (``calibrated``;
    without one, or with ``calibrated=False``, the hand-set constants)."""
    sig = spec.signals
    arrays = build_model(
        network,
        routes,
        tls=tls,
        begin=spec.begin,
        end=spec.end,
        dt=dt,
        yellow=sig.yellow,
        all_red=sig.all_red,
        min_green=sig.min_green,
        max_green=sig.max_green,
        saturation_flow=sig.saturation_flow,
    )
    if not calibrated:
        return arrays
    found = cached_calibration(spec, network, routes)
    if found is None:
        return arrays
    twin = json.loads(found.read_text())["twin"]
    return with_calibration(arrays, twin, network=network, source=str(found))


# --- the fitted twin (mobility signals calibrate), cached by content -----------------------

CALIBRATION_KIND = "twin-calibration"  # the cache folder of fitted twins
CALIBRATION_FILE = "twin.json"
CALIBRATION_REVISION = 1  # bump when the fit changes, so that older fits are not reused
# The signal settings that shape what SUMO does under a plan; the rest (controller, its
# params, min/max green) do not change the network's physics, so all controllers share a fit.
_PHYSICAL_SIGNALS = ("tls", "yellow", "all_red", "saturation_flow")


def calibration_key(spec, network: Network, routes: list[Path]) -> dict[str, Any]:
    """Everything a fitted twin depends on: the net, the calibration demand's route files,
    the spec but its name, seed, outputs and controller (the runs use their own seeds and
    plans), and the fit's revision."""
    same = spec.model_dump(
        mode="json", exclude={"name", "description", "seed", "outputs", "signals"}
    )
    signals = spec.signals.model_dump(mode="json", include=set(_PHYSICAL_SIGNALS))
    return {
        "net": network.digest,
        "routes": [file_hash(Path(r)) for r in routes],
        "spec": same,
        "signals": signals,
        "calibration_revision": CALIBRATION_REVISION,
    }


class _NotCalibrated(Exception):
    """The cache has no fitted twin for a key (raised instead of fitting one)."""


def cached_calibration(spec, network: Network, routes: list[Path]) -> Path | None:
    """The fitted twin stored for this content, or None. A look-up only: nothing is fitted."""

    def refuse(_: Path) -> Path:
        raise _NotCalibrated

    try:
        return cached_build(
            CALIBRATION_KIND, calibration_key(spec, network, routes), refuse, CALIBRATION_FILE
        )
    except _NotCalibrated:
        return None


def with_calibration(
    arrays: ModelArrays, twin: dict[str, Any], *, network: Network, source: str
) -> ModelArrays:
    """``arrays`` with the fitted parameters ``twin`` (by name: movements, lights, edges the
    fit did not see keep the constants), applied by :func:`mobility.core.calibration.apply`;
    the delay line as long as the slowest fitted edge needs."""
    from mobility.core.calibration import apply, slots_for

    layout = arrays.layout(network)
    net, timing, _ = arrays.jax()
    room = np.zeros(slots_for(layout, arrays.dt), np.float32)
    net = dataclasses.replace(net, slots=room)
    net, timing = apply(net, timing, twin_params(arrays, twin), layout, arrays.dt)
    as_numpy = lambda tree: {  # noqa: E731
        f.name: np.asarray(getattr(tree, f.name)) for f in dataclasses.fields(tree)
    }
    fitted = as_numpy(net)
    fitted["slots"] = np.zeros(int(fitted["delay_steps"].max()) + 2, np.float32)
    return dataclasses.replace(arrays, net=fitted, timing=as_numpy(timing), calibration=source)


def twin_params(arrays: ModelArrays, twin: dict[str, Any]):
    """The :class:`~mobility.core.calibration.TwinParams` of a stored fit, on the indices
    of ``arrays``."""
    import jax.numpy as jnp

    from mobility.core.calibration import TwinParams

    moves = {mv: i for i, mv in enumerate(arrays.movements)}
    per_move = {name: np.zeros(len(moves), np.float32) for name in ("sat", "minor", "gap")}
    for name, values in per_move.items():
        for a, b, v in twin.get(name, []):
            if (a, b) in moves:
                values[moves[(a, b)]] = v
    used = np.zeros(len(arrays.tls), np.float32)
    for t, v in twin.get("used", {}).items():
        if t in arrays.tls:
            used[arrays.tls.index(t)] = v
    edges = {e: i for i, e in enumerate(arrays.edges)}
    per_edge = {"storage": np.zeros(len(edges) + 1, np.float32)}
    per_edge["free"] = np.zeros(len(edges) + 1, np.float32)
    for name, values in per_edge.items():
        for e, v in twin.get(name, {}).items():
            if e in edges:
                values[edges[e]] = v
    f = lambda k: jnp.float32(twin.get(k, 0.0))  # noqa: E731
    return TwinParams(
        sat_all=f("sat_all"),
        sat=jnp.asarray(per_move["sat"]),
        minor_all=f("minor_all"),
        minor=jnp.asarray(per_move["minor"]),
        used_all=f("used_all"),
        used=jnp.asarray(used),
        storage_all=f("storage_all"),
        storage=jnp.asarray(per_edge["storage"]),
        storage_lane=f("storage_lane"),
        free_all=f("free_all"),
        free=jnp.asarray(per_edge["free"]),
        gap_all=f("gap_all"),
        gap=jnp.asarray(per_move["gap"]),
    )


def twin_document(arrays: ModelArrays, params) -> dict[str, Any]:
    """A fit as JSON, by name (movements as ``[from, to, value]``, ``to`` "" at a route's
    end), so that it applies to any later build of the scenario's model."""
    sat, minor, gap = (np.asarray(x) for x in (params.sat, params.minor, params.gap))
    has_minor = arrays.minor.any(axis=1)
    return {
        "sat_all": float(params.sat_all),
        "minor_all": float(params.minor_all),
        "used_all": float(params.used_all),
        "storage_all": float(params.storage_all),
        "storage_lane": float(params.storage_lane),
        "free_all": float(params.free_all),
        "gap_all": float(params.gap_all),
        "sat": [[a, b, float(sat[i])] for i, (a, b) in enumerate(arrays.movements)],
        "minor": [
            [a, b, float(minor[i])] for i, (a, b) in enumerate(arrays.movements) if has_minor[i]
        ],
        "gap": [[a, b, float(gap[i])] for i, (a, b) in enumerate(arrays.movements) if gap[i]],
        "used": {t: float(v) for t, v in zip(arrays.tls, np.asarray(params.used), strict=True)},
        "storage": dict(zip(arrays.edges, map(float, np.asarray(params.storage)), strict=False)),
        "free": dict(zip(arrays.edges, map(float, np.asarray(params.free)), strict=False)),
    }
