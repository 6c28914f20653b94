"""``dispatcher: mobility``: our own dispatcher, one batched JAX round per dispatch period.

Each round it reads the fleet's open reservations and shuttles through the engine, keeps
each shuttle's plan (the reservations still to pick up or drop off, in order), refreshes
edge-to-edge travel times from current edge speeds, scores all insertions and solves the
assignment in :func:`mobility.core.matching.dispatch_round`, and hands every changed
plan to SUMO (``dispatchTaxi``). Requests no shuttle can serve within their limits are
returned to the monitor, which rejects and records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mobility.shuttles.spec import OnDemandService
from mobility.sim.engine import Engine

DETOUR_SLACK_S = 60.0  # s added to the ride limit: stops, boarding, turns the graph ignores


@dataclass
class Stop:
    reservation: str
    edge: str
    delta: int  # +1 pick-up, -1 drop-off
    deadline: float


class MobilityDispatcher:
    """Plans per shuttle, and the JAX matching of open requests to them."""

    def __init__(self, fleet: OnDemandService, vehicles: list[str], graph: Any) -> None:
        self.fleet = fleet
        self.vehicles = vehicles
        self.graph = graph
        self.plans: dict[str, list[Stop]] = {v: [] for v in vehicles}
        self.last_edge: dict[str, str] = {}
        self.slots = 2 * fleet.vehicle.capacity + 2
        self.capacity = fleet.vehicle.capacity if fleet.pooling else 1
        self.rounds = 0

    def round(self, engine: Engine, reservations: list[dict[str, Any]], now: float) -> list[str]:
        """One dispatch round; returns the reservation ids to reject."""
        from mobility.core.matching import Fleet, Limits, Requests, dispatch_round

        self.rounds += 1
        by_id = {r["id"]: r for r in reservations}
        self._forget_done(by_id)
        planned = {s.reservation for plan in self.plans.values() for s in plan}
        open_ = [r for r in reservations if r["state"] in (1, 2) and r["id"] not in planned]
        if not open_:
            return []
        states = engine.vehicle_states(self.vehicles)
        vehicles = [v for v in self.vehicles if v in states]
        for v in vehicles:
            edge = states[v][2]
            if not edge.startswith(":") and self.graph.has_edge(edge):
                self.last_edge[v] = edge
        vehicles = [v for v in vehicles if v in self.last_edge]
        speeds = self.graph.current_speeds(
            engine.edge_speeds(self.graph.edges), self.fleet.vehicle.max_speed
        )
        times = self.graph.times("taxi", speeds)  # the monitor's direct times use this table
        index = self.graph.index
        edges = np.asarray(
            [[index[r["from"]], index[r["to"]]] for r in open_], dtype=np.int32
        ).reshape(-1, 2)
        R, V, K = _pad(len(open_)), _pad(max(len(vehicles), 1)), self.slots
        req = Requests(
            origin=_padded(edges[:, 0], R, 0),
            destination=_padded(edges[:, 1], R, 0),
            time=_padded(np.array([r["time"] for r in open_]), R, now),
            direct=_padded(times[edges[:, 0], edges[:, 1]], R, 0.0),
            mask=_padded(np.ones(len(open_), bool), R, False),
        )
        stop_edge = np.zeros((V, K), np.int32)
        stop_delta = np.zeros((V, K), np.int32)
        deadline = np.zeros((V, K))
        stop_mask = np.zeros((V, K), bool)
        for a, v in enumerate(vehicles):
            for b, stop in enumerate(self.plans[v][:K]):
                stop_edge[a, b] = index[stop.edge]
                stop_delta[a, b] = stop.delta
                deadline[a, b] = stop.deadline
                stop_mask[a, b] = True
        full = np.array([len(self.plans[v]) >= K for v in vehicles], bool)
        fleet = Fleet(
            edge=_padded(np.array([index[self.last_edge[v]] for v in vehicles], np.int32), V, 0),
            ready=np.full(V, now),
            capacity=_padded(np.where(full, 0, self.capacity), V, 0),
            aboard=_padded(np.array([states[v][1] for v in vehicles], np.int32), V, 0),
            mask=_padded(np.ones(len(vehicles), bool), V, False),
            stop_edge=stop_edge,
            stop_delta=stop_delta,
            stop_deadline=deadline,
            stop_mask=stop_mask,
        )
        limits = Limits(
            max_wait=np.float32(self.fleet.max_wait),
            max_detour=np.float32(self.fleet.max_detour),
            detour_slack=np.float32(DETOUR_SLACK_S),
        )
        times = np.where(np.isfinite(times), times, 1e9).astype(np.float32)
        assigned, ins = dispatch_round(times, fleet, req, limits)
        assigned = np.asarray(assigned)
        cost = np.asarray(ins.cost)
        pickup, dropoff = np.asarray(ins.pickup), np.asarray(ins.dropoff)
        reject = []
        for r, res in enumerate(open_):
            a = int(assigned[r])
            if a < 0:
                if not np.isfinite(cost[r, : len(vehicles)]).any():
                    reject.append(res["id"])
                continue
            v = vehicles[a]
            i, j = int(pickup[r, a]), int(dropoff[r, a])
            direct = float(times[index[res["from"]], index[res["to"]]])
            wait_limit = res["time"] + self.fleet.max_wait
            plan = self.plans[v]
            drop = Stop(
                res["id"],
                res["to"],
                -1,
                wait_limit + self.fleet.max_detour * direct + DETOUR_SLACK_S,
            )
            plan.insert(j, drop)
            plan.insert(i, Stop(res["id"], res["from"], +1, wait_limit))
            engine.dispatch_taxi(v, [s.reservation for s in plan])
        return reject

    def _forget_done(self, by_id: dict[str, dict[str, Any]]) -> None:
        """Drop stops SUMO has made: picked-up pick-ups, delivered reservations."""
        for v, plan in self.plans.items():
            self.plans[v] = [
                s
                for s in plan
                if s.reservation in by_id
                and not (s.delta > 0 and by_id[s.reservation]["state"] == 8)
            ]


def _pad(n: int) -> int:
    """Padded sizes in powers of two: few distinct shapes, few compilations."""
    return max(4, 1 << (n - 1).bit_length())


def _padded(values: np.ndarray, size: int, fill: Any) -> np.ndarray:
    values = np.asarray(values)
    out = np.full(size, fill, dtype=values.dtype if values.size else type(fill))
    out[: len(values)] = values
    return out
