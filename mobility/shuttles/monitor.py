"""Watches shuttle fleets while SUMO runs: distance driven at each load, and rejections.

Every request ends served or rejected: a rider of an on-demand fleet whose request no
shuttle has taken ``max_wait`` seconds after it was made is taken out of the simulation and
recorded as rejected (SUMO's own algorithms never give up on a reservation; with several
fleets under one of SUMO's algorithms the rider is only recorded, see
:func:`mobility.shuttles.spec.taxi_groups`). A request a
shuttle has already taken is left to it (its wait may then exceed ``max_wait``). With
``dispatcher: mobility`` the monitor also runs our dispatcher every dispatch period; any
exception it raises stops the run with a :class:`SimulationError` that says so.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mobility.config import ScenarioSpec
from mobility.errors import SimulationError
from mobility.shuttles.learned import EdgeTimes
from mobility.shuttles.spec import OnDemandService, taxi_groups
from mobility.sim.engine import Engine, variable

SAMPLE_PERIOD = 5.0  # s between samples of odometer and load


class FleetMonitor:
    """Per-run state: odometers, km per load, rejected requests, our dispatcher if any."""

    def __init__(
        self, spec: ScenarioSpec, requests: list[Any], fleets: dict[str, list[str]], graph: Any
    ) -> None:
        self.spec = spec
        self.requests = {r.id: r for r in requests}
        self.fleets = fleets
        self.vehicles = [v for ids in fleets.values() for v in ids]
        self.odometer: dict[str, float] = {}
        self.load: dict[str, int] = {}
        self.km_at_load: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self.max_load: dict[str, int] = defaultdict(int)
        self.edge: dict[str, str] = {}  # last normal edge each vehicle was seen on
        self.rejected: dict[str, tuple[float, str]] = {}  # person -> (time, reason)
        self.on_demand = {f.name: f for f in spec.shuttles if isinstance(f, OnDemandService)}
        self.graph = graph
        # person -> direct time (s) origin -> destination when first seen waiting, on the
        # travel-time table the dispatcher uses (current edge speeds): the detour's base
        self.direct_now: dict[str, float] = {}
        # person -> direct time (s) on the learned edge times (signal waits included) plus
        # the drop-off: what a direct ride would take; the base of the detour promise
        self.direct_learned: dict[str, float] = {}
        self.learned = {
            name: EdgeTimes(graph.length, graph.speed, fleet.vehicle.max_speed)
            for name, fleet in self.on_demand.items()
        }
        self.dispatchers: dict[str, Any] = {}
        # SUMO 1.28 cannot remove a rider waiting in a taxi group (see taxi_groups): such
        # rejections are recorded, and the rider stays (a shuttle may still fetch them)
        self.remove_rejected = not taxi_groups(spec)
        for name, fleet in self.on_demand.items():
            if fleet.dispatcher == "mobility":
                from mobility.shuttles.dispatcher import MobilityDispatcher

                self.dispatchers[name] = MobilityDispatcher(
                    fleet, fleets[name], graph, self.learned[name], self._zones(name)
                )

    def _zones(self, fleet: str) -> dict[str, list[str]]:
        """The riders' zones whose flows this fleet serves (rebalancing's targets)."""
        riders = self.spec.riders
        if riders is None:
            return {}
        default = riders.fleet or self.spec.shuttles[0].name
        used = {
            z
            for f in riders.flows
            if (f.fleet or default) == fleet
            for z in (f.origin, f.destination)
        }
        return {z: riders.zones[z] for z in used}

    def attach(self, engine: Engine) -> None:
        if self.learned:
            names = (
                "LAST_STEP_MEAN_SPEED",
                "LAST_STEP_VEHICLE_NUMBER",
                "LAST_STEP_VEHICLE_HALTING_NUMBER",
            )
            engine.subscribe("edge", self.graph.edges, [variable(n) for n in names])
        engine.every(SAMPLE_PERIOD, self.sample, first=self.spec.begin + SAMPLE_PERIOD)
        for name, fleet in self.on_demand.items():
            engine.every(
                fleet.dispatch_period,
                lambda e, n=name: self.dispatch(e, n),
                first=self.spec.begin + fleet.dispatch_period,
            )

    def sample(self, engine: Engine) -> None:
        """Attribute the distance driven since the last sample to the load carried; feed
        the edges' speeds to the learned travel times."""
        if self.learned:
            edges = engine.values("edge")  # [edge, (mean speed, vehicles, halting)]
            for learner in self.learned.values():
                learner.observe(edges[:, 1], edges[:, 0], edges[:, 2], SAMPLE_PERIOD)
        for vid, (odo, persons, edge) in engine.vehicle_states(self.vehicles).items():
            if edge and not edge.startswith(":"):
                self.edge[vid] = edge
            before = self.odometer.get(vid)
            if before is not None and odo >= before:
                self.km_at_load[vid][self.load.get(vid, 0)] += (odo - before) / 1000.0
            self.odometer[vid] = odo
            self.load[vid] = persons
            self.max_load[vid] = max(self.max_load[vid], persons)

    def dispatch(self, engine: Engine, fleet_name: str) -> None:
        """One round for a fleet: reject requests past their max wait, then dispatch."""
        fleet = self.on_demand[fleet_name]
        now = engine.time
        reservations = [
            r
            for r in engine.taxi_reservations()
            if all(self._fleet_of(p) == fleet_name for p in r["persons"])
        ]
        waiting = [r for r in reservations if r["state"] != 8]
        self._direct_times(engine, fleet, reservations)
        dispatcher = self.dispatchers.get(fleet_name)
        if dispatcher is not None:
            try:
                rejected = dispatcher.round(engine, reservations, now)
            except SimulationError:
                raise
            except Exception as exc:
                msg = (
                    f"dispatcher 'mobility' of fleet {fleet_name!r} failed at t={now:g} s with "
                    f"{len(waiting)} riders waiting: {type(exc).__name__}: {exc}"
                )
                raise SimulationError(msg) from exc
            for rid in rejected:
                res = next(r for r in reservations if r["id"] == rid)
                self._reject(engine, res, now, "no shuttle within limits")
        for res in waiting:
            if res["id"] in {r for r in self.rejected}:
                continue
            # assigned reservations (state 4) are left to their taxi: taking a rider out of a
            # taxi's plan can make SUMO drop the taxi from the simulation
            if now - res["time"] > fleet.max_wait and res["state"] in (1, 2):
                self._reject(engine, res, now, "max_wait exceeded")

    def _direct_times(
        self, engine: Engine, fleet: OnDemandService, reservations: list[dict[str, Any]]
    ) -> None:
        """Direct time of each newly seen request on the dispatcher's table of this round
        (same speeds, so ``NetGraph.times`` serves ours from its cache)."""
        new = [r for r in reservations if any(p not in self.direct_now for p in r["persons"])]
        if not new:
            return
        speeds = self.graph.current_speeds(
            engine.edge_speeds(self.graph.edges), fleet.vehicle.max_speed
        )
        times = self.graph.times("taxi", speeds)
        learned = self.learned[fleet.name].speeds()
        v = fleet.vehicle  # a direct ride pulls away, brakes and drops off once
        stop = v.max_speed / (2 * v.accel) + v.max_speed / (2 * v.decel) + fleet.dropoff_duration
        learned_times = self.graph.times("taxi", learned, signal_waits=True)
        for res in new:
            if self.graph.has_edge(res["from"]) and self.graph.has_edge(res["to"]):
                direct = self.graph.mid_time(times, speeds, res["from"], res["to"])
                ride = self.graph.mid_time(learned_times, learned, res["from"], res["to"])
                for person in res["persons"]:
                    self.direct_now.setdefault(person, direct)
                    self.direct_learned.setdefault(person, ride + stop)

    def _reject(self, engine: Engine, res: dict[str, Any], now: float, reason: str) -> None:
        present = set(engine.person_ids())
        for person in res["persons"]:
            if person in self.rejected:
                continue
            self.rejected[person] = (now, reason)
            if person in present and self.remove_rejected:
                engine.remove_person(person)

    def _fleet_of(self, person: str) -> str | None:
        request = self.requests.get(person)
        return request.fleet if request is not None else None
