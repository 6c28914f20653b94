"""``dispatcher: mobility``: our own dispatcher, one batched JAX round per dispatch period.

Each round it reads the fleet's open reservations and shuttles through the engine, keeps
each shuttle's plan (the reservations still to pick up or drop off, in order), scores all
insertions and solves the assignment in :func:`mobility.core.matching.dispatch_round`, and
hands every changed plan to SUMO (``dispatchTaxi``). Requests no shuttle can serve within
their limits are returned to the monitor, which rejects and records them.

Promises (``travel_times: learned``, the default): plans use the edge times learned during
the run (:mod:`mobility.shuttles.learned`) plus each signalised turn's expected red wait,
a time per stop, and no slack; a rider's drop-off deadline counts from their planned
pick-up; and the detour limit is divided by a ride factor learned from the rides observed
so far (how much longer rides turned out than planned). ``travel_times: current`` keeps
the planning before: last-step speeds, no stop times, 60 s of slack. With ``idle:
rebalance`` idle shuttles are sent toward the zones riders ask from
(:mod:`mobility.shuttles.rebalance`).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from mobility.shuttles.learned import EdgeTimes
from mobility.shuttles.rebalance import Rebalancer
from mobility.shuttles.spec import OnDemandService
from mobility.sim.engine import Engine

DETOUR_SLACK_S = 60.0  # s added to the ride limit on current speeds (travel_times: current)
RIDE_WINDOW = 100  # rides the ride factor is learned from (the latest)
RIDE_QUANTILE = 0.75  # of observed over planned ride time: the factor planned with
MIN_RIDES = 5  # rides observed before the factor leaves 1


@dataclass
class Stop:
    reservation: str
    edge: str
    delta: int  # +1 pick-up, -1 drop-off
    deadline: float


class MobilityDispatcher:
    """Plans per shuttle, and the JAX matching of open requests to them."""

    def __init__(
        self,
        fleet: OnDemandService,
        vehicles: list[str],
        graph: Any,
        learned: EdgeTimes | None = None,
        zones: dict[str, list[str]] | None = None,
    ) -> None:
        self.fleet = fleet
        self.learned = learned if fleet.travel_times == "learned" else None
        self.vehicles = vehicles
        self.graph = graph
        self.plans: dict[str, list[Stop]] = {v: [] for v in vehicles}
        self.last_edge: dict[str, str] = {}
        self.slots = 2 * fleet.vehicle.capacity + 2
        self.capacity = fleet.vehicle.capacity if fleet.pooling else 1
        self.rounds = 0
        # learned ride factor: observed ride over the ride planned at assignment
        self.planned_ride: dict[str, float] = {}  # reservation -> planned ride (s)
        self.boarded: dict[str, float] = {}  # reservation -> estimated boarding time (s)
        self.ride_ratios: deque[float] = deque(maxlen=RIDE_WINDOW)
        self.rebalancer = (
            Rebalancer(zones or {}, graph.index) if fleet.idle == "rebalance" else None
        )
        self.sent: dict[str, str] = {}  # idle shuttle -> edge it was sent to wait on

    def round(self, engine: Engine, reservations: list[dict[str, Any]], now: float) -> list[str]:
        """One dispatch round; returns the reservation ids to reject."""
        from mobility.core.matching import Fleet, Limits, Requests, dispatch_candidates

        self.rounds += 1
        by_id = {r["id"]: r for r in reservations}
        self._learn_rides(by_id, now)
        self._forget_done(by_id)
        if self.rebalancer is not None:
            self.rebalancer.observe(reservations, now)
        planned = {s.reservation for plan in self.plans.values() for s in plan}
        open_ = [r for r in reservations if r["state"] in (1, 2) and r["id"] not in planned]
        if not open_:
            self._rebalance(engine)
            return []
        states = engine.vehicle_states(self.vehicles)
        vehicles = [v for v in self.vehicles if v in states]
        for v in vehicles:
            edge = states[v][2]
            if not edge.startswith(":") and self.graph.has_edge(edge):
                self.last_edge[v] = edge
        vehicles = [v for v in vehicles if v in self.last_edge]
        times, stop_s, slack = self._table(engine)
        index = self.graph.index
        edges = np.asarray(
            [[index[r["from"]], index[r["to"]]] for r in open_], dtype=np.int32
        ).reshape(-1, 2)
        R, V = _pad(len(open_)), _pad(max(len(vehicles), 1))
        K = _trimmed_slots([len(self.plans[v]) for v in vehicles], self.slots)
        req = Requests(
            origin=_padded(edges[:, 0], R, 0),
            destination=_padded(edges[:, 1], R, 0),
            time=_padded(np.array([r["time"] for r in open_]), R, now),
            direct=_padded(times[edges[:, 0], edges[:, 1]] + stop_s, R, 0.0),
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
        full = np.array([len(self.plans[v]) >= self.slots for v in vehicles], bool)
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
            max_detour=np.float32(self.fleet.max_detour / self.ride_factor()),
            detour_slack=np.float32(slack),
            stop_time=np.float32(stop_s),
        )
        times = np.where(np.isfinite(times), times, 1e9).astype(np.float32)
        assigned, ins = dispatch_candidates(times, fleet, req, limits)
        assigned = np.asarray(assigned)
        cost, shuttle = np.asarray(ins.cost), np.asarray(ins.shuttle)
        pickup, dropoff = np.asarray(ins.pickup), np.asarray(ins.dropoff)
        reject = []
        for r, res in enumerate(open_):
            a = int(assigned[r])
            if a < 0:
                if not np.isfinite(cost[r]).any():  # padding shuttles are never feasible
                    reject.append(res["id"])
                continue
            v = vehicles[a]
            m = int(np.flatnonzero(shuttle[r] == a)[0])  # the candidate slot of shuttle a
            i, j = int(pickup[r, m]), int(dropoff[r, m])
            direct = float(times[index[res["from"]], index[res["to"]]]) + stop_s
            wait_limit = res["time"] + self.fleet.max_wait
            plan = self.plans[v]
            plan.insert(j, Stop(res["id"], res["to"], -1, math.inf))
            plan.insert(i, Stop(res["id"], res["from"], +1, wait_limit))
            done = self._completions(times, stop_s, v, now)
            pickup_done, ride = done[i + 1], done[j + 2] - done[i + 1]
            if self.learned is None:  # as before issue 19: the limit counts from max_wait
                pickup_done = wait_limit
            plan[j + 1].deadline = (
                pickup_done + self.fleet.max_detour * direct / self.ride_factor() + slack
            )
            self.planned_ride[res["id"]] = ride
            self.sent.pop(v, None)
            engine.dispatch_taxi(v, [s.reservation for s in plan])
        self._rebalance(engine)
        return reject

    def _rebalance(self, engine: Engine) -> None:
        """Send idle shuttles (no plan, nobody aboard, not already sent) where riders are
        expected (:mod:`mobility.shuttles.rebalance`)."""
        if self.rebalancer is None:
            return
        states = engine.vehicle_states(self.vehicles)
        idle = {
            v: self.last_edge[v]
            for v in self.vehicles
            if v in states
            and v in self.last_edge
            and not self.plans[v]
            and not states[v][1]
            and v not in self.sent
        }
        times = self._table(engine)[0]
        for v, edge in self.rebalancer.moves(idle, times).items():
            lane = self.graph.lane_for(edge, self.fleet.vehicle.vehicle_class or "taxi")
            pos = self.graph.edge_length(edge) / 2
            engine.send_idle_taxi(v, edge, pos, int(lane.rsplit("_", 1)[1]))
            self.sent[v] = edge

    def _table(self, engine: Engine) -> tuple[np.ndarray, float, float]:
        """Edge-to-edge times to plan on, the time each stop adds, the ride limit's slack.

        Learned: the run's smoothed edge times (waits at signals included) and a stop time of
        the dwell plus braking and pulling away, no slack. Current: the last step's speeds
        (a queue at a red light reads as an empty road), no stop time, 60 s of slack.
        """
        v = self.fleet.vehicle
        if self.learned is not None:
            stop = (self.fleet.pickup_duration + self.fleet.dropoff_duration) / 2
            stop += v.max_speed / (2 * v.accel) + v.max_speed / (2 * v.decel)
            table = self.graph.times("taxi", self.learned.speeds(), signal_waits=True)
            return table, stop, 0.0
        speeds = self.graph.current_speeds(engine.edge_speeds(self.graph.edges), v.max_speed)
        # the monitor's direct times (direct_now) use this same table
        return self.graph.times("taxi", speeds), 0.0, DETOUR_SLACK_S

    def _completions(self, times: np.ndarray, stop: float, vehicle: str, now: float) -> list[float]:
        """When ``vehicle`` would finish each node of its plan (node 0: its own edge, now)."""
        index = self.graph.index
        nodes = [self.last_edge[vehicle]] + [s.edge for s in self.plans[vehicle]]
        done = [now]
        for a, b in itertools.pairwise(nodes):
            done.append(done[-1] + float(times[index[a], index[b]]) + stop)
        return done

    def ride_factor(self) -> float:
        """How much longer rides turn out than planned: the :data:`RIDE_QUANTILE` of the
        last :data:`RIDE_WINDOW` rides' observed over planned time (1 before
        :data:`MIN_RIDES` rides, and with ``travel_times: current``), in [1, 3]."""
        if self.learned is None or len(self.ride_ratios) < MIN_RIDES:
            return 1.0
        return float(np.clip(np.quantile(self.ride_ratios, RIDE_QUANTILE), 1.0, 3.0))

    def _learn_rides(self, by_id: dict[str, dict[str, Any]], now: float) -> None:
        """Boarding seen (state 8) and drop-off seen (the reservation gone) since the last
        round, each placed half a dispatch period back: one observed ride per rider."""
        seen = now - self.fleet.dispatch_period / 2
        for rid, res in by_id.items():
            if res["state"] == 8 and rid in self.planned_ride and rid not in self.boarded:
                self.boarded[rid] = seen
        for rid in [r for r in self.boarded if r not in by_id]:
            planned = self.planned_ride.pop(rid, 0.0)
            ride = seen - self.boarded.pop(rid)
            if planned > 0:
                self.ride_ratios.append(ride / planned)
        for rid in [r for r in self.planned_ride if r not in by_id]:
            del self.planned_ride[rid]  # taken out before boarding

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


def _trimmed_slots(lengths: list[int], slots: int) -> int:
    """Plan slots for this round: the longest plan, rounded up to even (few shapes, few
    compilations), at most ``slots``. Exact: insertions go after nodes 0..n of a plan of n
    stops, so slots past the longest plan hold only padding; at 5,000 requests x 500
    shuttles the scoring is ~(K+1)^2 per candidate, so 6 slots instead of 10 cost a third."""
    longest = max(lengths, default=0)
    return min(slots, max(2, longest + longest % 2))


def _padded(values: np.ndarray, size: int, fill: Any) -> np.ndarray:
    values = np.asarray(values)
    out = np.full(size, fill, dtype=values.dtype if values.size else type(fill))
    out[: len(values)] = values
    return out
