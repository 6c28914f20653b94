"""The ``shuttles:`` and ``riders:`` sections of a scenario.

A fleet is either a fixed ``line`` (a route through busStops, one vehicle every ``headway``
seconds during its hours) or an ``on_demand`` fleet of SUMO taxis (device.taxi) dispatched
by one of SUMO's algorithms or by ``mobility`` (our JAX matching, driven every
``dispatch_period``). Checks that need the network (edges exist, the shuttle class may use
them, stops connected in order, depots on the net) run in :mod:`mobility.shuttles.setup`
when the run is built, and raise :class:`~mobility.errors.SpecError` naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mobility.demand.zones_file import ZonesFile


class StrictModel(BaseModel):
    """Like :class:`mobility.config.StrictModel` (which imports this module): strict, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


SUMO_DISPATCHERS = ("greedy", "greedyClosest", "greedyShared", "routeExtension")
DISPATCHERS = (*SUMO_DISPATCHERS, "mobility")


class VehicleSpec(StrictModel):
    """A shuttle vehicle: autonomous driving (CACC, no imperfection, short headway) by default."""

    capacity: int = Field(4, ge=1, le=200, description="seats for riders")
    max_speed: float = Field(13.89, gt=0, description="m/s")
    accel: float = Field(1.5, gt=0, description="m/s^2")
    decel: float = Field(3.0, gt=0, description="m/s^2")
    length: float = Field(5.0, gt=0, description="m")
    car_follow_model: Literal["CACC", "ACC", "Krauss", "IDM"] = "CACC"
    tau: float = Field(1.0, gt=0, description="s desired time headway")
    sigma: float = Field(0.0, ge=0, le=1, description="driver imperfection; 0 = autonomous")
    vehicle_class: str = Field("", description="SUMO vClass; default taxi (on demand) or bus")
    emission_class: str = Field("HBEFA4/PC_BEV", description="SUMO emissionClass")


class StopSpec(StrictModel):
    """A stop: an existing busStop id of an additional file, or an edge and a position."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    edge: str
    pos: float = Field(-1.0, description="m from the edge's start; -1: the middle")
    length: float = Field(20.0, gt=0, description="m of kerb")
    name: str = Field("", description="shown in the report (a GTFS stop's stop_name)")


class LineCall(StrictModel):
    """A trip's call at a stop: the planned arrival and the earliest departure (s)."""

    stop: str
    arrival: float = Field(ge=0, description="s; planned arrival (SUMO stop arrival)")
    until: float = Field(ge=0, description="s; leaves no earlier (SUMO stop until)")


class LineTrip(StrictModel):
    """One scheduled trip of a line, as a GTFS feed gives it: when it enters the network,
    its path, and the stops it calls at with their times (a feed's trips may skip stops,
    take other paths and keep their own times, so each keeps its own)."""

    depart: float = Field(ge=0, description="s; enters the network")
    route: list[str] = Field(min_length=1, description="edges")
    calls: list[LineCall] = Field(min_length=1)


class LineService(StrictModel):
    """A fixed line: vehicles run the stops in order every ``headway`` s between its hours."""

    service: Literal["line"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    vehicle: VehicleSpec = VehicleSpec(capacity=20)
    stops: list[StopSpec] = []
    gtfs_route: str | None = Field(
        None, description="a route of transit.gtfs run by this fleet, instead of stops"
    )
    route: list[str] | None = Field(None, description="edges; default: shortest via stops")
    dwell: float = Field(20.0, ge=0, description="s at each stop")
    headway: float | None = Field(600.0, gt=0, description="s between departures")
    timetable: list[float] | None = Field(None, description="departure times s, instead")
    hours: tuple[float, float] | None = Field(None, description="[begin, end] s of service")
    trips: list[LineTrip] | None = Field(
        None,
        description="scheduled trips with stop times (filled in from gtfs_route), instead of "
        "timetable or headway",
    )

    @model_validator(mode="after")
    def _one_schedule(self) -> LineService:
        if self.timetable is not None and not self.timetable:
            raise ValueError("timetable is empty; give departure times or use headway")
        if self.gtfs_route is not None and self.stops:
            raise ValueError("give either stops or gtfs_route (its stops come from the feed)")
        if self.gtfs_route is None and len(self.stops) < 2:
            raise ValueError("a line needs at least two stops (or a gtfs_route)")
        ids = [s.id for s in self.stops]
        if len(set(ids)) != len(ids):
            raise ValueError("stop ids repeat; give each stop its own id")
        for i, trip in enumerate(self.trips or []):
            for j, call in enumerate(trip.calls):
                if call.stop not in ids:
                    msg = (
                        f"trips.{i}.calls.{j}: stop {call.stop!r} is not one of the line's "
                        f"stops ({', '.join(ids)}); add it to `stops` or fix the name"
                    )
                    raise ValueError(msg)
        if self.hours is not None and self.hours[1] <= self.hours[0]:
            raise ValueError("hours end before they begin; give [begin, end] in s")
        return self


class Depot(StrictModel):
    """Where shuttles start (and return to when idle, with ``idle: depot``)."""

    edge: str
    vehicles: int | None = Field(None, ge=0, description="default: fleet split evenly")


class ServiceArea(StrictModel):
    """A polygon; the service area is every edge whose whole shape lies inside it."""

    polygon: list[tuple[float, float]] = Field(min_length=3, description="corner points")
    coords: Literal["xy", "lonlat"] = Field(
        "xy", description="xy: the net's metres; lonlat: WGS84 (geo-referenced nets only)"
    )


class OnDemandService(StrictModel):
    """An on-demand fleet of SUMO taxis serving rider requests in its service area."""

    service: Literal["on_demand"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    vehicle: VehicleSpec = VehicleSpec()
    fleet_size: int = Field(ge=1, le=10_000)
    depots: list[Depot] = Field(min_length=1)
    service_area: list[str] | ServiceArea | None = Field(
        None,
        description="edges, or {polygon: [[x, y], ...], coords: xy|lonlat}; default: all. "
        "Requests from or to an edge outside it are rejected (outside_service_area)",
    )
    idle: Literal["stay", "depot", "circle", "rebalance"] = Field(
        "stay",
        description="idle shuttles: stay where the last rider left, drive back to the nearest "
        "depot (SUMO's taxistand idling), circle (SUMO's randomCircling), or rebalance "
        "(dispatcher 'mobility' only: toward the riders' zones in proportion to the request "
        "rates learned during the run)",
    )
    max_wait: float = Field(600.0, gt=0, description="s a rider waits at most")
    max_detour: float = Field(2.0, ge=1.0, description="ride time / direct time at most")
    pooling: bool = True
    pickup_duration: float = Field(0.0, ge=0, description="s a shuttle stands to pick up")
    dropoff_duration: float = Field(
        10.0,
        ge=0,
        description="s a shuttle stands to drop off; part of the riders' in-vehicle time "
        "(SUMO's taxi default, 60 s, is a paying taxi customer's)",
    )
    dispatcher: str = "greedy"
    dispatch_period: float = Field(30.0, gt=0, description="s between dispatch rounds")
    travel_times: Literal["learned", "current"] = Field(
        "learned",
        description="what dispatcher 'mobility' plans on: learned (edge times smoothed over "
        "the run, signal and junction waits included, plus each stop's time; promises "
        "planned without slack) or current (the last step's edge speeds, no waits, 60 s "
        "slack on the ride limit: the planning before issue 19, kept for comparison)",
    )

    @model_validator(mode="after")
    def _known_dispatcher(self) -> OnDemandService:
        if self.dispatcher not in DISPATCHERS:
            msg = f"unknown dispatcher {self.dispatcher!r}; use one of {', '.join(DISPATCHERS)}"
            raise ValueError(msg)
        if self.idle == "rebalance" and self.dispatcher != "mobility":
            msg = "idle: rebalance needs dispatcher: mobility (SUMO's cannot move idle taxis)"
            raise ValueError(msg)
        if isinstance(self.service_area, list) and not self.service_area:
            raise ValueError("service_area has no edges; list its edges or leave it out")
        return self


FleetSpec = Annotated[LineService | OnDemandService, Field(discriminator="service")]


class RiderFlow(StrictModel):
    """Requests per hour from one zone to another (scaled by the riders' profile)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    origin: str = Field(alias="from")
    destination: str = Field(alias="to")
    per_hour: float = Field(gt=0)
    fleet: str | None = Field(None, description="fleet that serves it; default riders.fleet")


class RiderTrip(StrictModel):
    """One given request: at a time, from an edge (or stop) to another."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at: float = Field(ge=0, description="s")
    origin: str = Field(alias="from")
    destination: str = Field(alias="to")
    fleet: str | None = Field(None, description="fleet that serves it; default riders.fleet")


class RidersSpec(StrictModel):
    """Shuttle demand: Poisson requests between zones, seeded by the scenario seed.

    Zones are edge lists (on-demand fleets) or stop ids (lines); ``trips`` name an edge
    (or a stop) directly. Requests are generated
    from ``begin`` until ``until`` (default: the scenario end minus 15 minutes, so every
    request can end served or rejected before the run does).
    """

    fleet: str | None = Field(
        None, description="fleet of flows and trips that name none; default the first fleet"
    )
    zones: ZonesFile | dict[str, Annotated[list[str], Field(min_length=1)]] = Field(
        {}, description="inline, or {file: zones.geojson, id: FIELD} (on-demand fleets)"
    )
    flows: list[RiderFlow] = []
    trips: list[RiderTrip] = Field([], description="given requests, besides the flows")
    profile: list[Annotated[float, Field(ge=0)]] = Field([1.0], min_length=1)
    until: float | None = Field(None, gt=0, description="s; last request time")
    unreachable: Literal["error", "drop"] = Field(
        "error",
        description="zone or trip edges a shuttle cannot serve and come back from (outside "
        "the strongly connected part of the net holding the depots): stop with an error "
        "naming them, or drop them with a warning",
    )

    @model_validator(mode="after")
    def _zones_known(self) -> RidersSpec:
        if not self.flows and not self.trips:
            raise ValueError("riders: give `flows` (per hour between zones) or `trips`")
        for flow in self.flows if isinstance(self.zones, dict) else []:  # a file: on the net
            for zone in (flow.origin, flow.destination):
                if zone not in self.zones:
                    known = ", ".join(sorted(self.zones))
                    raise ValueError(f"flow uses zone {zone!r} which is not in `zones` ({known})")
        if not any(self.profile):
            raise ValueError("profile is all zeros; give at least one positive weight")
        return self


def check_fleets(fleets: list[Any], riders: RidersSpec | None) -> None:
    """Cross-section checks: unique names, one SUMO algorithm per run, riders' fleet."""
    names = [f.name for f in fleets]
    if len(set(names)) != len(names):
        raise ValueError("shuttles: fleet names repeat; give each fleet its own name")
    algos = {f.dispatcher for f in fleets if f.service == "on_demand"}
    if len(algos - {"mobility"}) > 1:
        msg = "shuttles: SUMO runs one taxi dispatch algorithm per run; use one for all fleets"
        raise ValueError(msg)
    if "mobility" in algos and len(algos) > 1:
        msg = (
            "shuttles: dispatcher 'mobility' cannot share a run with one of SUMO's (SUMO's "
            "would dispatch every fleet's taxis); use the same dispatcher for all fleets"
        )
        raise ValueError(msg)
    if riders is not None:
        if not fleets:
            raise ValueError("riders: given without any `shuttles:` fleet; add a fleet")
        named = [("riders.fleet", riders.fleet)]
        named += [(f"riders.flows.{i}.fleet", f.fleet) for i, f in enumerate(riders.flows)]
        named += [(f"riders.trips.{i}.fleet", t.fleet) for i, t in enumerate(riders.trips)]
        for where, name in named:
            if name is not None and name not in names:
                raise ValueError(f"{where} {name!r} is not a fleet ({', '.join(names)})")


def taxi_groups(spec: Any) -> bool:
    """Whether fleets need SUMO taxi groups to keep their riders apart.

    Only when SUMO's algorithm dispatches several on-demand fleets: ours hands each fleet
    only its own riders anyway. Groups have a cost in SUMO 1.28: a rider waiting for a
    ``taxi:<fleet>`` taxi cannot be removed (``MSDevice_Taxi::removeReservation`` only
    handles the plain ``taxi`` line and leaves a dangling reservation that crashes the next
    dispatch), so :class:`~mobility.shuttles.monitor.FleetMonitor` then records rejections
    without taking the rider out.
    """
    fleets = [f for f in spec.shuttles if isinstance(f, OnDemandService)]
    return len(fleets) > 1 and fleets[0].dispatcher != "mobility"


def taxi_line(spec: Any, fleet: str) -> str:
    """The SUMO line of a fleet's taxis and its riders' rides: ``taxi:<fleet>`` (a taxi
    group, SUMO >= 1.14: its taxis take only riders asking for it) or plain ``taxi``."""
    return f"taxi:{fleet}" if taxi_groups(spec) else "taxi"
