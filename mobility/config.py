"""Scenario specs: pydantic models loaded from YAML.

A scenario file says *what* to simulate (network, demand, signals, outputs, time window,
seed); nothing in it says *how* to call SUMO. Unknown keys are errors, relative paths
resolve against the YAML file, and every validation failure becomes one
:class:`~mobility.errors.SpecError` naming the file, the field and the fix.

Later features extend the spec by adding sections here (``shuttles``, ``routing``); a new
controller is one entry of :mod:`mobility.signals.registry`, and the ``signals`` union
follows it. The loader and error reporting stay the same.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from mobility.demand.zones_file import ZonesFile
from mobility.errors import SpecError
from mobility.safety.mix import TrafficMixSpec
from mobility.safety.spec import SafetySpec
from mobility.shuttles.spec import FleetSpec, RidersSpec, check_fleets
from mobility.signals.registry import CONTROLLERS, Controller

M = TypeVar("M", bound=BaseModel)

# ---------------------------------------------------------------------------------------
# Paths that resolve against the YAML file


def _resolve_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve a relative path against the spec file's folder and require that it exists."""
    path = Path(str(value)).expanduser()
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    path = path.resolve()
    readable_file(path, what="file", fix="fix the path (relative paths start at the YAML file)")
    return path


def readable_file(path: Path, *, what: str, fix: str) -> None:
    """The one check of an input path: it exists, is a file (not a folder) and can be read.
    ValueError (pydantic reports it against its field) naming what is wrong and ``fix``."""
    if not path.exists():
        raise ValueError(f"{what} not found: {path}; {fix}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a {what}; {fix}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{what} {path} cannot be read (permission denied); check its permissions")


class StrictModel(BaseModel):
    """Base of all spec sections: unknown keys are errors and specs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FilePathModel(StrictModel):
    """A section with a ``path`` that resolves against the YAML file."""

    path: Path

    @field_validator("path", mode="before")
    @classmethod
    def _resolve(cls, value: Any, info: ValidationInfo) -> Path:
        return _resolve_path(value, info)


# ---------------------------------------------------------------------------------------
# Networks


class GridNetwork(StrictModel):
    """A rectangular grid from ``netgenerate --grid``, with fringe roads for entry and exit."""

    type: Literal["grid"]
    rows: int = Field(3, ge=1, le=50)
    cols: int = Field(3, ge=1, le=50)
    block_length: float = Field(200.0, gt=10, description="metres between junctions")
    lanes: int = Field(1, ge=1, le=6)
    speed: float = Field(13.89, gt=0, description="m/s")
    fringe_length: float = Field(100.0, ge=0, description="length of entry/exit roads, m")
    signals: bool = True


class ArterialNetwork(StrictModel):
    """A main road through ``intersections`` signalised junctions with side streets."""

    type: Literal["arterial"]
    intersections: int = Field(4, ge=1, le=50)
    block_length: float = Field(300.0, gt=10)
    lanes: int = Field(2, ge=1, le=6)
    speed: float = Field(16.67, gt=0)
    side_lanes: int = Field(1, ge=1, le=4)
    side_speed: float = Field(13.89, gt=0)
    side_length: float = Field(150.0, gt=10)
    signals: bool = True


class NetFileNetwork(FilePathModel):
    """An existing SUMO network (``.net.xml`` or ``.net.xml.gz``)."""

    type: Literal["file"]


class OsmNetwork(FilePathModel):
    """An OpenStreetMap extract imported with netconvert."""

    type: Literal["osm"]
    vehicle_classes: str = Field("passenger", description="edges kept, netconvert vclass list")


NetworkSpec = Annotated[
    GridNetwork | ArterialNetwork | NetFileNetwork | OsmNetwork, Field(discriminator="type")
]


def _network_shorthand(value: Any) -> Any:
    """``network: path/to/x.net.xml`` or ``path/to/x.osm.bz2`` is short for a file network."""
    if isinstance(value, str | Path):
        name = str(value).lower()
        kind = "osm" if name.endswith((".osm", ".osm.bz2", ".osm.gz", ".osm.xml")) else "file"
        return {"type": kind, "path": str(value)}
    return value


# ---------------------------------------------------------------------------------------
# Demand


def _profile_has_traffic(values: list[float]) -> list[float]:
    if not any(values):
        raise ValueError("profile is all zeros; give at least one positive weight")
    return values


# The shape of demand over the window: one relative weight per equal slice. Weights are
# normalised to mean 1, so ``vehicles_per_hour`` stays the mean rate over the window.
Profile = Annotated[
    list[Annotated[float, Field(ge=0)]],
    Field(min_length=1, description="relative demand per equal slice of the time window"),
    AfterValidator(_profile_has_traffic),
]


class ODFlow(StrictModel):
    """Vehicles per hour from one zone to another (scaled by the demand's profile)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    origin: str = Field(alias="from")
    destination: str = Field(alias="to")
    vehicles_per_hour: float = Field(gt=0)


class ODDemand(StrictModel):
    """Origin-destination flows between zones, turned into routes by od2trips and duarouter.

    Zones are either edge sets given inline (``zones: {north: [e1, e2]}``), polygons of a GIS
    file (``zones: {file: zones.geojson, id: name}``) or the TAZ of a SUMO ``taz_file``.
    """

    type: Literal["od"]
    zones: ZonesFile | dict[str, Annotated[list[str], Field(min_length=1)]] | None = None
    taz_file: Path | None = None
    flows: list[ODFlow] = Field(min_length=1)
    profile: Profile = [1.0]

    @field_validator("taz_file", mode="before")
    @classmethod
    def _resolve(cls, value: Any, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve_path(value, info)

    @model_validator(mode="after")
    def _zones_given_once(self) -> ODDemand:
        if (self.zones is None) == (self.taz_file is None):
            msg = "give zones either inline (`zones:`) or as a SUMO TAZ file (`taz_file:`)"
            raise ValueError(msg)
        if isinstance(self.zones, dict):  # a zones file is read against the net (check)
            for flow in self.flows:
                for zone in (flow.origin, flow.destination):
                    if zone not in self.zones:
                        known = ", ".join(sorted(self.zones))
                        msg = f"flow uses zone {zone!r} which is not in `zones` ({known})"
                        raise ValueError(msg)
        return self


class RandomTripsDemand(StrictModel):
    """Random trips (SUMO's randomTrips.py), weighted to the network fringe if asked."""

    type: Literal["random"]
    vehicles_per_hour: float = Field(gt=0)
    fringe_factor: float = Field(1.0, ge=1.0, description="weight of fringe edges as origins")
    min_distance: float = Field(0.0, ge=0, description="m between origin and destination")
    profile: Profile = [1.0]


class RoutesDemand(FilePathModel):
    """Existing SUMO route files (``.rou.xml``) used as they are."""

    type: Literal["routes"]


class RandomCandidates(StrictModel):
    """Candidate routes for a counts fit drawn as random trips (randomTrips + duarouter)."""

    type: Literal["random"] = "random"
    routes_per_hour: float = Field(
        3600.0, gt=0, le=100_000, description="candidate routes drawn per hour of the window"
    )
    fringe_factor: float = Field(1.0, ge=1.0, description="weight of fringe edges as origins")
    min_distance: float = Field(0.0, ge=0, description="m between origin and destination")


# Where a counts fit takes its candidate routes from: random trips, OD flows or a route file.
Candidates = Annotated[RandomCandidates | ODDemand | RoutesDemand, Field(discriminator="type")]


class CountsDemand(StrictModel):
    """Routes fitted to traffic counts with SUMO's routeSampler.

    ``counts`` is a CSV file (``edge,interval_begin,interval_end,count``, times in s; or
    ``detector`` instead of ``edge``, placed by a SUMO ``detectors`` file) or a SUMO edgedata
    file (counts in its ``attribute``, ``entered`` by default). routeSampler
    picks routes among the ``candidates`` (random trips by default, OD flows or a route
    file) so that the vehicles passing each counted edge match its count per interval; the
    run reports the GEH statistic per count site (see :mod:`mobility.demand.counts`).
    """

    type: Literal["counts"]
    counts: Path
    attribute: str = Field("entered", description="edgedata attribute holding the counts")
    detectors: Path | None = Field(
        None, description="SUMO detectors file, for a CSV counting per detector"
    )
    candidates: Candidates = RandomCandidates()
    optimize: bool = Field(
        True, description="refine the sampled routes by linear programming (scipy)"
    )

    @field_validator("counts", "detectors", mode="before")
    @classmethod
    def _resolve(cls, value: Any, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve_path(value, info)

    @field_validator("candidates", mode="before")
    @classmethod
    def _candidates_shorthand(cls, value: Any) -> Any:
        """``candidates: random`` or ``candidates: routes.rou.xml``."""
        if value == "random":
            return {"type": "random"}
        if isinstance(value, str | Path):
            return {"type": "routes", "path": str(value)}
        return value


@dataclass(frozen=True)
class DemandType:
    """One kind of demand, declared once: its spec section and the code that turns it into
    route files. A new demand type is its model above, one entry below and its builder."""

    model: type[StrictModel]
    build: str  # "module:function" (demand, spec, network, folder) -> route file; "": as is
    check: str = ""  # "module:function" (demand, network): what the network must hold
    words: str = ""


DEMAND_TYPES: dict[str, DemandType] = {
    "random": DemandType(
        RandomTripsDemand,
        "mobility.demand.build:random_trips",
        words="random trips (SUMO randomTrips + duarouter)",
    ),
    "od": DemandType(
        ODDemand,
        "mobility.demand.build:od_trips",
        "mobility.demand.build:check_zones",
        "OD flows between zones (od2trips + duarouter, or user-equilibrium routes)",
    ),
    "routes": DemandType(
        RoutesDemand,
        "",
        "mobility.demand.build:check_route_edges",
        "SUMO route files used as they are",
    ),
    "counts": DemandType(
        CountsDemand,
        "mobility.demand.counts:fit_counts",
        "mobility.demand.counts:check_counts",
        "routes fitted to traffic counts (SUMO routeSampler)",
    ),
}
DemandSpec = Annotated[
    Union[tuple(t.model for t in DEMAND_TYPES.values())],  # noqa: UP007
    Field(discriminator="type"),
]


def _demand_shorthand(value: Any) -> Any:
    """``demand: path/to/x.rou.xml`` is short for a routes demand."""
    if isinstance(value, str | Path):
        return {"type": "routes", "path": str(value)}
    return value


# ---------------------------------------------------------------------------------------
# Signals, outputs, scenario


class SignalsBase(StrictModel):
    """How traffic lights are controlled: ``signals: max_pressure`` or a mapping.

    ``controller`` is one of :data:`mobility.signals.registry.CONTROLLERS`, and ``params``
    its own settings (typed there). ``static`` runs the network's own programs. ``tls``
    limits the controller to a subset of the signals (ids checked against the network);
    the others keep their own programs. ``yellow`` and ``all_red`` default to the net's own
    transition phases.
    """

    controller: str = "static"
    tls: list[str] | None = Field(None, min_length=1, description="signal ids; all if absent")
    decision_interval: float = Field(10.0, gt=0, description="s between decisions")
    min_green: float = Field(5.0, ge=0, description="s a green is held at least")
    max_green: float = Field(60.0, gt=0, description="s a green is held at most")
    yellow: float | None = Field(None, ge=0, description="s; default: the net's own")
    all_red: float | None = Field(None, ge=0, description="s; default: the net's own")
    clearance: float = Field(
        10.0,
        ge=0,
        description="s the all-red is held longer at most while vehicles are still inside the "
        "junction on the links losing their green (0: never)",
    )
    saturation_flow: float = Field(1800.0, gt=0, description="veh/h per lane (webster)")

    @model_validator(mode="after")
    def _consistent(self) -> SignalsBase:
        if self.min_green > self.max_green:
            msg = (
                f"min_green ({self.min_green:g} s) is above max_green ({self.max_green:g} s); "
                "lower min_green or raise max_green"
            )
            raise ValueError(msg)
        transition = (self.yellow or 0.0) + (self.all_red or 0.0)
        if CONTROLLERS[self.controller].kind == "phase" and self.decision_interval <= transition:
            msg = (
                f"decision_interval ({self.decision_interval:g} s) must be longer than yellow + "
                f"all_red ({transition:g} s); raise decision_interval or shorten yellow"
            )
            raise ValueError(msg)
        return self


def _signals_variant(c: Controller) -> type[SignalsBase]:
    """The spec section of one controller: its name as the tag, its params model."""
    return create_model(
        "".join(w.title() for w in c.name.split("_")) + "Signals",
        __base__=SignalsBase,
        __doc__=f"``signals`` for the {c.name} controller: {c.words}.",
        controller=(Literal[c.name], c.name),  # type: ignore[valid-type]
        params=(c.params, c.params()),
    )


_SIGNAL_VARIANTS = tuple(_signals_variant(c) for c in CONTROLLERS.values())
# One member per registered controller, chosen by ``controller``: unknown params are errors.
SignalsSpec = Annotated[Union[_SIGNAL_VARIANTS], Field(discriminator="controller")]  # noqa: UP007
_signals_adapter: TypeAdapter[SignalsBase] = TypeAdapter(SignalsSpec)


def _signals_shorthand(value: Any) -> Any:
    """``signals: max_pressure`` is short for ``{controller: max_pressure}``; a mapping
    without ``controller`` keeps the net's own programs (``static``)."""
    if isinstance(value, str):
        return {"controller": value}
    if isinstance(value, dict) and "controller" not in value:
        return {**value, "controller": "static"}
    return value


def signals_spec(value: Any) -> SignalsBase:
    """A ``signals`` section from what a YAML file holds (a name or a mapping)."""
    return _signals_adapter.validate_python(_signals_shorthand(value))


def signals_with(signals: SignalsBase, **update: Any) -> SignalsBase:
    """``signals`` with fields replaced, validated again: another ``controller`` takes its own
    params model (``params`` default to none given)."""
    data = signals.model_dump(mode="json")
    if "controller" in update and update["controller"] != signals.controller:
        data["params"] = {}
    return _signals_adapter.validate_python({**data, **update})


class OutputsSpec(StrictModel):
    """Which SUMO outputs a run keeps (always as Parquet)."""

    edgedata_period: float = Field(300.0, gt=0, description="s per edge-data interval")
    emissions: bool = Field(True, description="HBEFA emissions per trip and per edge")
    resco_queue: bool = Field(
        False, description="KPI resco_queue: stopped vehicles within 200 m of each stop line"
    )


class RoutingSpec(StrictModel):
    """How vehicles of OD demand pick their routes: ``routing: ue`` or a mapping.

    ``free_flow`` (the default, as without a ``routing`` section): duarouter's fastest
    path on the empty network for every trip. ``ue``: static user equilibrium (BPR link
    costs, see :mod:`mobility.routing`) of the OD flows per profile slice; vehicles are
    given its paths in proportion to the equilibrium path flows, so that the simulation
    starts from an equilibrium. Link capacity is ``lanes * saturation_flow``.
    """

    assignment: Literal["free_flow", "ue"] = "free_flow"
    algorithm: Literal["fw", "cfw", "bfw"] = "bfw"
    gap: float = Field(1e-4, gt=0, lt=1, description="relative gap to stop at")
    max_iterations: int = Field(500, ge=1, le=10_000)
    saturation_flow: float = Field(1800.0, gt=0, description="veh/h per lane (BPR capacity)")
    bpr_alpha: float = Field(0.15, ge=0)
    bpr_power: float = Field(4.0, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"assignment": value} if isinstance(value, str) else value


class TransitSpec(StrictModel):
    """Scheduled public transport from a GTFS feed, imported with SUMO's gtfs2pt: its stops
    as busStops and every trip of ``date`` in the run's window as a vehicle stopping at
    them (background traffic). ``routes`` keeps some routes (GTFS ``route_id`` or
    ``route_short_name``); all of them (of ``modes``) without it. Needs a geo-referenced
    network (built from OSM): stops are placed by their longitude and latitude."""

    gtfs: Path
    date: datetime.date = Field(description="the service day, YYYY-MM-DD")
    routes: list[str] | None = Field(None, min_length=1, description="route ids or short names")
    modes: list[Literal["bus", "tram", "train", "light_rail", "subway", "ferry"]] = Field(
        ["bus"], min_length=1
    )

    @field_validator("gtfs", mode="before")
    @classmethod
    def _resolve(cls, value: Any, info: ValidationInfo) -> Path:
        return _resolve_path(value, info)


# What one scenario may ask for: beyond these, a run cannot finish on a machine of this
# project's size (randomTrips held 23 GB for 1e9 vehicles/h before the kernel killed it).
MAX_WINDOW_S = 30 * 86400.0
MAX_VEHICLES = 5_000_000


def expected_vehicles(demand: Any, seconds: float) -> float:
    """Vehicles a generated demand will make over ``seconds`` (0 for route files, which are
    counted as they are)."""
    hours = seconds / 3600.0
    if isinstance(demand, RandomTripsDemand):
        return demand.vehicles_per_hour * hours
    if isinstance(demand, ODDemand):
        return sum(f.vehicles_per_hour for f in demand.flows) * hours
    return 0.0


class ScenarioSpec(StrictModel):
    """One scenario: everything needed to reproduce a run, and nothing about how."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    description: str = ""
    seed: int = Field(42, ge=0, lt=2**31)
    begin: float = Field(0.0, ge=0, description="s")
    end: float = Field(3600.0, gt=0, description="s")
    step_length: float = Field(1.0, gt=0, le=10)
    time_to_teleport: float = Field(300.0, description="s a blocked vehicle waits; -1 never")
    network: NetworkSpec
    demand: DemandSpec
    signals: SignalsSpec = signals_spec("static")
    outputs: OutputsSpec = OutputsSpec()
    shuttles: list[FleetSpec] = []
    riders: RidersSpec | None = None
    routing: RoutingSpec | None = None
    transit: TransitSpec | None = None
    safety: SafetySpec | None = None
    traffic_mix: TrafficMixSpec | None = None

    @field_validator("network", mode="before")
    @classmethod
    def _network(cls, value: Any) -> Any:
        return _network_shorthand(value)

    @field_validator("demand", mode="before")
    @classmethod
    def _demand(cls, value: Any) -> Any:
        return _demand_shorthand(value)

    @field_validator("signals", mode="before")
    @classmethod
    def _signals(cls, value: Any) -> Any:
        return _signals_shorthand(value)

    @field_validator("end")
    @classmethod
    def _window_size(cls, end: float, info: ValidationInfo) -> float:
        window = end - info.data.get("begin", 0.0)
        if window > MAX_WINDOW_S:
            msg = (
                f"the window end - begin ({window:g} s) is longer than {MAX_WINDOW_S:,.0f} s "
                f"({MAX_WINDOW_S / 86400:g} days), more than a run can hold here; shorten it "
                "(times are in seconds) or split the scenario"
            )
            raise ValueError(msg)
        return end

    @field_validator("demand")
    @classmethod
    def _demand_size(cls, demand: Any, info: ValidationInfo) -> Any:
        if "end" not in info.data:
            return demand  # the window is wrong already: that error says so
        vehicles = expected_vehicles(demand, info.data["end"] - info.data.get("begin", 0.0))
        if vehicles > MAX_VEHICLES:
            msg = (
                f"it asks for about {vehicles:,.0f} vehicles over the window, more than "
                f"{MAX_VEHICLES:,} (generating them would exhaust memory); lower its "
                "vehicles_per_hour (or the OD flows) or shorten the window"
            )
            raise ValueError(msg)
        return demand

    @field_validator("routing")
    @classmethod
    def _routing_needs_od(cls, value: RoutingSpec | None, info: ValidationInfo) -> Any:
        demand = info.data.get("demand")
        if value is not None and value.assignment == "ue" and not isinstance(demand, ODDemand):
            kind = getattr(demand, "type", "this")
            msg = (
                f"assignment `ue` routes OD demand, but the demand is of type {kind!r}; "
                "use `demand.type: od` or remove the `routing` section"
            )
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _window(self) -> ScenarioSpec:
        if self.end <= self.begin:
            msg = f"end ({self.end:g}) must be after begin ({self.begin:g}); raise `end`"
            raise ValueError(msg)
        check_fleets(self.shuttles, self.riders)
        return self

    def content_hash(self) -> str:
        """Hash of the resolved spec and the content of every file it names.

        Paths do not enter the hash, file contents do: moving a project keeps its hashes,
        editing a route file changes them.
        """
        data = self.model_dump(mode="json")
        if data.get("routing") is None:  # specs without routing keep their earlier hashes
            data.pop("routing", None)
        for optional in ("safety", "traffic_mix"):  # and specs without these theirs
            if data.get(optional) is None:
                data.pop(optional, None)
        digest = hashlib.sha256(json.dumps(_hash_files(data), sort_keys=True).encode())
        return digest.hexdigest()


def _hash_files(node: Any) -> Any:
    """Replace every existing file path in a dumped spec by the hash of its content."""
    if isinstance(node, dict):
        return {k: _hash_files(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hash_files(v) for v in node]
    if isinstance(node, str) and node.startswith("/") and Path(node).is_file():
        return "sha256:" + file_hash(Path(node))
    return node


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# Loading with errors a planner can act on


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping (plain YAML keeps
    the last one silently, so a scenario would run with a value nobody meant)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} given twice (first on line {seen[key]}); keep one of them",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> Any:
    """Read a YAML file: a missing, unreadable or non-UTF-8 file, a syntax error or a key
    given twice is a SpecError naming the file, the place and the fix."""
    path = Path(path)
    try:
        readable_file(path, what="file", fix="check the path to the scenario file")
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        msg = (
            f"{path}: line {line}: not UTF-8 text (byte {raw[exc.start]:#04x}); save the "
            "file as UTF-8"
        )
        raise SpecError(msg) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"{path}:{where}: not valid YAML ({problem}); fix the syntax there"
        raise SpecError(msg) from exc


def validate_spec(model: type[M], data: Any, *, source: Path, base_dir: Path) -> M:
    """Validate ``data`` as ``model``, reporting every problem against ``source``."""
    if not isinstance(data, dict):
        msg = f"{source}: expected a mapping of fields (name, network, demand, ...)"
        raise SpecError(msg)
    try:
        return model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source, data)) from None


def load_spec(path: Path | str) -> ScenarioSpec:
    """Load and validate a scenario YAML file."""
    path = Path(path).resolve()
    return validate_spec(ScenarioSpec, load_yaml(path), source=path, base_dir=path.parent)


def format_validation_error(exc: ValidationError, source: Path, data: Any = None) -> str:
    """One line per problem: file, dotted field, what is wrong and how to fix it."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the spec"]
    for err in exc.errors():
        field = ".".join(_field_path(err["loc"], data)) or "(top level)"
        lines.append(f"  field `{field}`: {_explain(err)}")
    return "\n".join(lines)


def _field_path(loc: tuple[Any, ...], data: Any) -> list[str]:
    """The location as the user wrote it: pydantic inserts the chosen union member (the
    ``type`` tag, e.g. ``grid``) into the location; walk the input and drop those parts."""
    parts: list[str] = []
    node = data
    for part in loc:
        if parts and not isinstance(node, dict | list):
            break  # a shorthand scalar (``network: x.net.xml``) is the field the user wrote
        tags = (
            (node.get("type"), node.get("service"), node.get("controller"))
            if isinstance(node, dict)
            else ()
        )
        if isinstance(node, dict) and part not in node and part in tags:
            continue
        if isinstance(part, str) and part.startswith("function-"):
            continue
        parts.append(str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return parts


def _explain(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field; remove it or fix its spelling"
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "union_tag_invalid":
        what = "controller" if ctx.get("discriminator") == "'controller'" else "type"
        return f"unknown {what} {ctx.get('tag')!r}; use one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing `type`; add one of {ctx.get('expected_tags', 'the documented types')}"
    if kind.startswith(("value_error", "assertion_error")):
        return msg.removeprefix("Value error, ")
    return f"{msg} (got {err.get('input')!r}); change the value"
