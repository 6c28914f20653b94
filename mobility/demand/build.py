"""Turn a demand spec into routed SUMO demand with SUMO's own tools.

- random trips: ``randomTrips.py`` (fringe factor, minimum distance, time-of-day profile
  as a list of insertion rates), then ``duarouter``;
- OD flows: a TAZ file (zones as edge sets, or the user's TAZ file) and a ``tazRelation``
  matrix per profile slice, ``od2trips``, then ``duarouter`` (free-flow routes), or with
  ``routing: ue`` routes from the equilibrium path flows (:mod:`mobility.demand.assigned`);
- route files: used as they are (checked against the network by ``mobility validate``).

Which builder and which check a demand type uses is declared once, in
:data:`mobility.config.DEMAND_TYPES`. Every tool gets the scenario seed, so the same spec
gives the same vehicles. Results are cached by content hash (see :mod:`mobility.cache`).
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from mobility import sumo
from mobility.cache import cached_build
from mobility.config import (
    DEMAND_TYPES,
    ODDemand,
    RandomTripsDemand,
    RoutesDemand,
    ScenarioSpec,
    ZonesFile,
    file_hash,
)
from mobility.demand.profile import slices
from mobility.demand.zones import with_zone_edges
from mobility.errors import DemandError
from mobility.lazy import load_code
from mobility.network.net import Network


def build_demand(spec: ScenarioSpec, network: Network) -> list[Path]:
    """Route files for the scenario's demand, generating them if needed (by the builder its
    type declares in :data:`mobility.config.DEMAND_TYPES`)."""
    demand = spec.demand
    declared = DEMAND_TYPES[demand.type]
    if not declared.build:
        return [demand.path]
    if declared.check:
        load_code(declared.check)(demand, network)  # before any tool runs
    key = {
        "demand": demand.model_dump(mode="json"),
        "net": network.digest,
        "seed": spec.seed,
        "window": [spec.begin, spec.end],
    }
    if spec.routing is not None and spec.routing.assignment != "free_flow":
        key["routing"] = spec.routing.model_dump(mode="json")
    if getattr(demand, "taz_file", None) is not None:
        key["taz"] = file_hash(demand.taz_file)
    for field, path in input_files(demand).items():
        key[f"file:{field}"] = file_hash(path)
    build = lambda tmp: load_code(declared.build)(demand, spec, network, tmp)  # noqa: E731
    return [cached_build("demand", key, build, "routes.rou.xml")]


def input_files(demand: object) -> dict[str, Path]:
    """The files a counts demand (counts, candidate routes) or a zones file of OD demand
    reads, by field: their content is part of the cache key, as the TAZ file's is."""
    if isinstance(getattr(demand, "zones", None), ZonesFile):
        return {"zones": demand.zones.file}
    if getattr(demand, "type", "") != "counts":
        return {}
    files = {"counts": demand.counts}
    if demand.detectors is not None:
        files["detectors"] = demand.detectors
    if isinstance(getattr(demand.candidates, "zones", None), ZonesFile):
        files["candidates.zones"] = demand.candidates.zones.file
    if getattr(demand.candidates, "path", None) is not None:
        files["candidates"] = demand.candidates.path
    if getattr(demand.candidates, "taz_file", None) is not None:
        files["candidates.taz_file"] = demand.candidates.taz_file
    return files


# The seed of the demand a controller may learn from: one no evaluated run uses (runs take
# the spec's seeds, plan checks 10,000 and up), so a controller knows the demand's pattern,
# never the evaluated run's own vehicles.
CALIBRATION_SEED = 20_000


def calibration_demand(spec: ScenarioSpec, network: Network) -> list[Path]:
    """The scenario's demand as a field controller could know it, for the controllers that
    plan from demand (Webster's, the JAX model's): generated demand drawn on
    :data:`CALIBRATION_SEED`; route files, the same vehicles on every seed, as they are."""
    if not DEMAND_TYPES[spec.demand.type].build:
        return build_demand(spec, network)
    return build_demand(spec.model_copy(update={"seed": CALIBRATION_SEED}), network)


def random_trips(
    demand: RandomTripsDemand, spec: ScenarioSpec, network: Network, out: Path
) -> Path:
    """Random trips over the network, routed by duarouter."""
    net = network.path
    trips = out / "trips.xml"
    # randomTrips divides the window into equal intervals, one per insertion rate; a zero
    # rate is not accepted, so an empty slice gets a rate too small to produce a vehicle.
    windows = slices(spec.begin, spec.end, demand.profile)
    rates = [max(demand.vehicles_per_hour * w, 1e-6) for _, _, w in windows]
    cmd = [
        *sumo.tool("randomTrips.py"),
        f"--net-file={net}",
        f"--output-trip-file={trips}",
        f"--begin={spec.begin}",
        f"--end={spec.end}",
        f"--seed={spec.seed}",
        f"--fringe-factor={demand.fringe_factor}",
        f"--min-distance={demand.min_distance}",
        "--validate",
        "--insertion-rate",
        *[f"{r:.6f}" for r in rates],
    ]
    proc = sumo.run_tool(cmd, cwd=out)
    if proc.returncode != 0 or not trips.exists():
        details = sumo.error_lines(proc.stderr + proc.stdout)
        raise DemandError(f"field `demand`: randomTrips could not make trips:\n{details}")
    empty = [(b, e) for b, e, w in windows if w == 0]
    if empty:
        _drop_trips_within(trips, empty)
    return _route(trips, net, spec.seed, out)


def _drop_trips_within(trips: Path, windows: list[tuple[float, float]]) -> None:
    """Remove the one trip randomTrips still starts at the beginning of each empty slice."""
    tree = ElementTree.parse(trips)
    root = tree.getroot()
    for trip in list(root):
        depart = float(trip.get("depart", "-1"))
        if any(b <= depart < e for b, e in windows):
            root.remove(trip)
    tree.write(trips)


def check_demand(spec: ScenarioSpec, network: Network) -> None:
    """What the demand names must be in the network (its type's declared check)."""
    declared = DEMAND_TYPES[spec.demand.type]
    if declared.check:
        load_code(declared.check)(spec.demand, network)


def check_route_edges(demand: RoutesDemand, network: Network) -> None:
    """Every edge a route file's vehicles use (or start and end on) is in the network."""
    from mobility.demand.routes import route_vehicles

    path = demand.path
    for el, edges, _ in route_vehicles([path], begin=0.0, end=float("inf")):
        named = edges or [e for e in (el.get("from"), el.get("to")) if e]
        missing = [e for e in named if not network.has_edge(e)]
        if missing:
            msg = (
                f"{path}: {el.tag} {el.get('id')!r} uses edge {missing[0]!r}, which is not in "
                f"the network {network.path.name}; fix the route file or give the network "
                "it was made for (field `demand`)"
            )
            raise DemandError(msg)


def check_zones(demand: ODDemand, network: Network) -> None:
    """Every zone edge must exist in the network (checked before any tool runs); a zones
    file must name the flows' zones and each of its zones catch a road."""
    if demand.zones is None:
        return
    demand = with_zone_edges(demand, network)
    for zone, zone_edges in demand.zones.items():
        missing = [e for e in zone_edges if not network.has_edge(e)]
        if missing:
            msg = (
                f"field `demand.zones.{zone}`: edge(s) {', '.join(missing)} not in the "
                f"network {network.path.name}; use edge ids listed by `mobility net export`"
            )
            raise DemandError(msg)


def od_trips(demand: ODDemand, spec: ScenarioSpec, network: Network, out: Path) -> Path:
    """OD flows as trips (od2trips), routed by duarouter or by user equilibrium."""
    demand = with_zone_edges(demand, network)
    taz = demand.taz_file or _write_taz(demand.zones or {}, out / "zones.taz.xml")
    matrix = out / "od.xml"
    intervals = []
    for b, e, weight in slices(spec.begin, spec.end, demand.profile):
        rows = "".join(
            f"    <tazRelation from={quoteattr(f.origin)} to={quoteattr(f.destination)} "
            f'count="{f.vehicles_per_hour * weight * (e - b) / 3600:.4f}"/>\n'
            for f in demand.flows
        )
        intervals.append(f'  <interval begin="{b}" end="{e}">\n{rows}  </interval>\n')
    matrix.write_text("<data>\n" + "".join(intervals) + "</data>\n")
    trips = out / "trips.xml"
    cmd = [
        sumo.binary("od2trips"),
        f"--taz-files={taz}",
        f"--tazrelation-files={matrix}",
        f"--output-file={trips}",
        f"--seed={spec.seed}",
        "--departlane=best",
        "--departspeed=max",
        "--no-step-log",
    ]
    proc = sumo.run_tool(cmd, cwd=out)
    if proc.returncode != 0:
        details = sumo.error_lines(proc.stderr + proc.stdout)
        raise DemandError(
            f"field `demand`: od2trips could not turn the OD flows into trips:\n{details}"
        )
    if spec.routing is not None and spec.routing.assignment == "ue":
        from mobility.demand.assigned import assign_routes  # JAX: only UE routing needs it

        return assign_routes(demand, spec.routing, spec, network, trips, out)
    return _route(trips, network.path, spec.seed, out, zones=demand.zones)


def _write_taz(zones: dict[str, list[str]], path: Path) -> Path:
    body = "".join(
        f"  <taz id={quoteattr(z)} edges={quoteattr(' '.join(edges))}/>\n"
        for z, edges in zones.items()
    )
    path.write_text(f"<additional>\n{body}</additional>\n")
    return path


def _route(trips: Path, net: Path, seed: int, out: Path, zones: dict | None = None) -> Path:
    """Route trips along fastest paths with duarouter; an unroutable trip is an error."""
    routes = out / "routes.rou.xml"
    cmd = [
        sumo.binary("duarouter"),
        f"--net-file={net}",
        f"--route-files={trips}",
        f"--output-file={routes}",
        f"--seed={seed}",
        "--departlane=best",
        "--departspeed=max",
        "--no-step-log",
        "--write-costs=false",
        "--exit-times=false",
    ]
    proc = sumo.run_tool(cmd, cwd=out)
    if proc.returncode != 0:
        raise DemandError(_routing_failure(proc.stderr + proc.stdout, zones))
    for extra in out.glob("routes.rou.alt.xml"):
        extra.unlink()
    return routes


def _routing_failure(log: str, zones: dict | None) -> str:
    """Explain a duarouter failure, naming the OD zones when it is a missing connection."""
    found = re.search(r"No connection between edge '([^']+)' and edge '([^']+)'", log)
    if found and zones:
        a, b = found.groups()
        za = [z for z, e in zones.items() if a in e]
        zb = [z for z, e in zones.items() if b in e]
        return (
            f"field `demand.flows`: no route from zone {za[0] if za else a!r} (edge {a}) to "
            f"zone {zb[0] if zb else b!r} (edge {b}); remove that flow or change the zone edges"
        )
    return f"field `demand`: duarouter could not route the trips:\n{sumo.error_lines(log)}"
