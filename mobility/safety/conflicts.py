"""``conflicts.parquet``: one row per conflict, collision and emergency braking of a run.

Sources, all SUMO's own: the SSM device's conflict log (read with sumolib's XML parser),
``--collision-output``, ``--lanechange-output`` (to tell lane-change conflicts from
rear-end ones) and the emergency-braking warnings of the run's log (SUMO writes those
nowhere else; the regular expression below is the one hand-written parser here).

SUMO logs an encounter once per equipped vehicle, so a pair that are both equipped appears
twice, once from each side. Rows of the same pair whose times overlap are merged into one
conflict (the SSAM count: one conflict per pair and event); the other side's speed becomes
``foe_speed``. A conflict's place is where its worst measure was taken (the leader's back in
a following situation, the conflict area's entry point in a crossing one); it is located on
the network's junction shapes and lanes with shapely.

The conflict type comes from SUMO's encounter classification at the worst moment (which
follows lanes and routes, not SSAM's angles): following -> ``rear_end`` (``lane_change``
when one of the two changed lanes shortly before), merging -> ``merging``, crossing ->
``crossing``, opposite directions -> ``oncoming``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from mobility.network.net import Network

SSM_XML = "ssm.raw.xml"
COLLISIONS_XML = "collisions.raw.xml"
LANECHANGES_XML = "lanechanges.raw.xml"
TABLE = "conflicts.parquet"

# SUMO's encounter types (MSDevice_SSM::EncounterType) -> conflict type
_FOLLOWING = {1, 2, 3, 18}
_MERGING = {5, 6, 7, 8, 19}
_CROSSING = set(range(9, 18))
_ONCOMING = {20}
COLLISION_CODE = 111
SAME_CRASH_S = 5.0  # a pair reported again within this is the same collision
LANE_CHANGE_WINDOW_S = 3.0  # a lane change this long before the worst moment makes it one
_COLLISION_TYPES = {"junction": "crossing", "frontal": "oncoming", "collision": "rear_end"}
_NUMBER = r"-?\d+(?:\.\d+)?"
_BRAKING = re.compile(
    rf"Vehicle '(?P<id>[^']+)' performs emergency braking on lane '(?P<lane>[^']+)' with "
    rf"decel=(?P<decel>{_NUMBER}), wished=(?P<wished>{_NUMBER}), "
    rf"severity=(?P<severity>{_NUMBER}), time=(?P<time>{_NUMBER})"
)
_MEASURES = (("minTTC", "ttc"), ("maxDRAC", "drac"), ("PET", "pet"))

SCHEMA = pa.schema(
    [
        ("kind", pa.string()),  # conflict | collision | emergency_braking
        ("conflict_type", pa.string()),  # rear_end | lane_change | merging | crossing | ...
        ("begin", pa.float64()),  # s
        ("end", pa.float64()),  # s
        ("time", pa.float64()),  # s, the worst moment
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("lon", pa.float64()),  # NaN on nets without a projection
        ("lat", pa.float64()),
        ("junction", pa.string()),  # "" when on an edge
        ("edge", pa.string()),
        ("lane", pa.string()),
        ("ego", pa.string()),
        ("foe", pa.string()),  # "" for an emergency braking
        ("ego_type", pa.string()),
        ("foe_type", pa.string()),
        ("ego_class", pa.string()),  # car | shuttle | bus | ...
        ("foe_class", pa.string()),
        ("ego_autonomous", pa.bool_()),
        ("foe_autonomous", pa.bool_()),
        ("min_ttc", pa.float64()),  # s
        ("max_drac", pa.float64()),  # m/s^2
        ("pet", pa.float64()),  # s
        ("ego_speed", pa.float64()),  # m/s at the worst moment
        ("foe_speed", pa.float64()),
        ("decel", pa.float64()),  # m/s^2 of an emergency braking
        ("ssm_type", pa.int64()),  # SUMO's encounter code at the worst moment (-1: none)
    ]
)


@dataclass(frozen=True)
class VehicleKind:
    """What the table says about a vehicle type."""

    vclass: str  # car | shuttle | bus | truck
    autonomous: bool


HUMAN_CAR = VehicleKind("car", autonomous=False)


def _num(value: Any) -> float:
    """A number of SUMO's output, NaN for its ``NA``."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _xy(position: Any) -> tuple[float, float]:
    try:
        x, y = str(position).split(",")[:2]
        return float(x), float(y)
    except ValueError:
        return math.nan, math.nan


def conflict_type(code: int, *, changed_lane: bool = False) -> str:
    """The SSAM-like type of SUMO's encounter code."""
    if code in _FOLLOWING:
        return "lane_change" if changed_lane else "rear_end"
    if code in _MERGING:
        return "merging"
    if code in _CROSSING:
        return "crossing"
    if code in _ONCOMING:
        return "oncoming"
    return "other"


def ssm_rows(path: Path) -> list[dict[str, Any]]:
    """One row per ``<conflict>`` of SUMO's SSM log (from the ego's side), read with
    sumolib's line-based structured parser (the object parser costs seconds per run)."""
    import sumolib.xml

    if not path.exists():
        return []
    measure = ["time", "position", "type", "value", "speed"]
    conflicts = sumolib.xml.parse_fast_structured(
        str(path),
        "conflict",
        ["begin", "end", "ego", "foe"],
        {element: measure for element, _ in _MEASURES},
        optional=True,
    )
    rows = []
    for c in conflicts:
        row: dict[str, Any] = {
            "ego": c.ego,
            "foe": c.foe,
            "begin": _num(c.begin),
            "end": _num(c.end),
        }
        worst = None  # (time, position, code, speed) of the first measure with a value
        codes = []
        for element, key in _MEASURES:
            found = getattr(c, element, None) or []
            value = _num(found[0].value) if found else math.nan
            row[key] = value
            code = _num(found[0].type) if found else math.nan
            if not math.isnan(code):
                codes.append(int(code))
            if found and worst is None and not math.isnan(value):
                m = found[0]
                worst = (_num(m.time), m.position, code, _num(m.speed))
        time, position, code, speed = worst or (math.nan, "", math.nan, math.nan)
        row["time"], row["speed"] = time, speed
        row["x"], row["y"] = _xy(position)
        row["code"] = -1 if math.isnan(code) else int(code)
        if row["code"] == COLLISION_CODE:  # the worst moment was the crash: classify by
            row["code"] = next(  # how the pair met before it
                (k for k in codes if k != COLLISION_CODE), COLLISION_CODE
            )
        rows.append(row)
    return rows


def merge_sides(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One conflict per pair and overlapping time: both sides' rows merged (extremes kept,
    the first side's place and ego, the other side's speed as ``foe_speed``)."""
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_pair.setdefault(tuple(sorted((row["ego"], row["foe"]))), []).append(row)
    merged = []
    for pair_rows in by_pair.values():
        pair_rows.sort(key=lambda r: (r["begin"], r["ego"]))
        current: dict[str, Any] | None = None
        for row in pair_rows:
            if current is not None and row["begin"] <= current["end"]:
                _absorb(current, row)
                continue
            if current is not None:
                merged.append(current)
            current = {**row, "foe_speed": math.nan}
        if current is not None:
            merged.append(current)
    return merged


def _absorb(current: dict[str, Any], other: dict[str, Any]) -> None:
    current["end"] = max(current["end"], other["end"])
    for key, pick in (("ttc", np.fmin), ("drac", np.fmax), ("pet", np.fmin)):
        current[key] = float(pick(current[key], other[key]))
    if other["ego"] == current["foe"] and math.isnan(current["foe_speed"]):
        current["foe_speed"] = other["speed"]
    if current["code"] in (-1, COLLISION_CODE):
        current["code"] = other["code"]


def lane_changes(path: Path) -> dict[str, list[float]]:
    """Times of each vehicle's lane changes (SUMO's ``--lanechange-output``)."""
    import sumolib.xml

    times: dict[str, list[float]] = {}
    if path.exists():
        for change in sumolib.xml.parse_fast(str(path), "change", ["id", "time"]):
            times.setdefault(change.id, []).append(float(change.time))
    return times


def _changed_lane(changes: Mapping[str, list[float]], row: dict[str, Any]) -> bool:
    worst = row["time"] if not math.isnan(row["time"]) else row["end"]
    start = row["begin"] - LANE_CHANGE_WINDOW_S
    return any(
        start <= t <= worst
        for vehicle in (row["ego"], row["foe"])
        for t in changes.get(vehicle, [])
    )


def collision_rows(path: Path) -> list[dict[str, Any]]:
    """SUMO's ``--collision-output``: one row per collision (a pair's repeated reports
    while it overlaps merged into the first)."""
    import sumolib.xml

    if not path.exists():
        return []
    rows = []
    last: dict[tuple[str, ...], float] = {}  # pair -> time of its last report
    for c in sumolib.xml.parse(str(path), "collision"):
        x, y = _xy(c.colliderFront)
        time = _num(c.time)
        pair = tuple(sorted((c.collider, c.victim)))
        seen, last[pair] = last.get(pair), time
        if seen is not None and time - seen <= SAME_CRASH_S:
            continue  # vehicles left to overlap (collision.action warn) are reported again
        rows.append(
            {
                "kind": "collision",
                "conflict_type": _COLLISION_TYPES.get(c.type, "other"),
                "begin": time,
                "end": time,
                "time": time,
                "x": x,
                "y": y,
                "lane": c.lane,
                "ego": c.collider,
                "foe": c.victim,
                "ego_type": c.colliderType,
                "foe_type": c.victimType,
                "min_ttc": 0.0,
                "ego_speed": _num(c.colliderSpeed),
                "foe_speed": _num(c.victimSpeed),
            }
        )
    return rows


def braking_rows(log: Path) -> list[dict[str, Any]]:
    """Emergency brakings SUMO warned about in the run's log."""
    if not log.exists():
        return []
    rows = []
    for match in _BRAKING.finditer(log.read_text(errors="replace")):
        time = float(match["time"])
        rows.append(
            {
                "kind": "emergency_braking",
                "conflict_type": "",
                "begin": time,
                "end": time,
                "time": time,
                "lane": match["lane"],
                "ego": match["id"],
                "decel": float(match["decel"]),
            }
        )
    return rows


def junction_of_lane(lane: str) -> str:
    """The junction of an internal lane (``:C_2_0`` -> ``C``); "" for a normal lane."""
    if not lane.startswith(":"):
        return ""
    return lane[1:].rsplit("_", 2)[0]


class Locator:
    """Junction, edge and lane of a point, from the network's junction shapes and lanes."""

    MAX_LANE_DISTANCE_M = 20.0

    def __init__(self, network: Network) -> None:
        self.network = network

    @cached_property
    def _junctions(self) -> tuple[Any, list[str]]:
        from shapely import STRtree
        from shapely.geometry import Point, Polygon

        shapes, ids = [], []
        for node in self.network.net.getNodes():
            shape = node.getShape()
            geom = Polygon(shape) if len(shape) >= 3 else Point(node.getCoord()).buffer(2.0)
            shapes.append(geom.buffer(0.5))
            ids.append(node.getID())
        return STRtree(shapes), ids

    @cached_property
    def _lanes(self) -> tuple[Any, list[str]]:
        from shapely import STRtree
        from shapely.geometry import LineString

        shapes, ids = [], []
        for edge in self.network.net.getEdges(withInternal=False):
            for lane in edge.getLanes():
                shapes.append(LineString(lane.getShape()))
                ids.append(lane.getID())
        return STRtree(shapes), ids

    def locate(self, xs: np.ndarray, ys: np.ndarray) -> tuple[list[str], list[str]]:
        """(junction, lane) of each point: a junction when inside its shape, else the
        nearest lane within 20 m ("" for neither)."""
        import shapely

        points = shapely.points(xs, ys)
        junctions = [""] * len(xs)
        lanes = [""] * len(xs)
        valid = np.flatnonzero(~(np.isnan(xs) | np.isnan(ys)))
        if valid.size == 0:
            return junctions, lanes
        tree, ids = self._junctions
        hit_point, hit_shape = tree.query(points[valid], predicate="within")
        for p, s in zip(hit_point, hit_shape, strict=True):
            junctions[valid[p]] = ids[s]
        rest = np.array([i for i in valid if not junctions[i]], dtype=int)
        if rest.size:
            tree, ids = self._lanes
            near_point, near_lane = tree.query_nearest(
                points[rest], max_distance=self.MAX_LANE_DISTANCE_M
            )
            for p, lane in zip(near_point, near_lane, strict=True):
                lanes[rest[p]] = lanes[rest[p]] or ids[lane]  # ties: the first lane
        return junctions, lanes

    def lon_lat(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of net coordinates (NaN on nets without a projection)."""
        lon = np.full(len(xs), math.nan)
        lat = np.full(len(xs), math.nan)
        if self.network.crs is None:
            return lon, lat
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if not (math.isnan(x) or math.isnan(y)):
                lon[i], lat[i] = self.network.net.convertXY2LonLat(x, y)
        return lon, lat


def conflicts_table(
    folder: Path,
    *,
    log: Path,
    network: Network,
    vehicle_types: Mapping[str, str],
    kinds: Mapping[str, VehicleKind],
) -> pa.Table:
    """Every conflict, collision and emergency braking of a finished run (see the module
    docstring). ``vehicle_types`` maps vehicle ids to vType ids, ``kinds`` vType ids to
    what they are (unknown types are human-driven cars)."""
    changes = lane_changes(folder / LANECHANGES_XML)
    rows = []
    for row in merge_sides(ssm_rows(folder / SSM_XML)):
        rows.append(
            {
                "kind": "conflict",
                "conflict_type": conflict_type(
                    row["code"], changed_lane=_changed_lane(changes, row)
                ),
                "begin": row["begin"],
                "end": row["end"],
                "time": row["time"],
                "x": row["x"],
                "y": row["y"],
                "ego": row["ego"],
                "foe": row["foe"],
                "min_ttc": row["ttc"],
                "max_drac": row["drac"],
                "pet": row["pet"],
                "ego_speed": row["speed"],
                "foe_speed": row["foe_speed"],
                "ssm_type": row["code"],
            }
        )
    rows += collision_rows(folder / COLLISIONS_XML)
    rows += braking_rows(log)
    return _complete(rows, network, vehicle_types, kinds)


def _complete(
    rows: list[dict[str, Any]],
    network: Network,
    vehicle_types: Mapping[str, str],
    kinds: Mapping[str, VehicleKind],
) -> pa.Table:
    """Fill place, vehicle types and defaults; the rows as a table of :data:`SCHEMA`."""
    locator = Locator(network)
    xs = np.array([r.get("x", math.nan) for r in rows], dtype=float)
    ys = np.array([r.get("y", math.nan) for r in rows], dtype=float)
    junctions, lanes = locator.locate(xs, ys) if rows else ([], [])
    lons, lats = locator.lon_lat(xs, ys) if rows else (np.array([]), np.array([]))
    for i, row in enumerate(rows):
        lane = row.get("lane") or lanes[i]
        row["lane"] = lane
        row["junction"] = junction_of_lane(lane) or junctions[i]
        row["edge"] = "" if lane.startswith(":") else lane.rsplit("_", 1)[0]
        row["lon"], row["lat"] = lons[i], lats[i]
        for side in ("ego", "foe"):
            vehicle = row.get(side) or ""
            row[side] = vehicle
            vtype = row.get(f"{side}_type") or vehicle_types.get(vehicle, "")
            row[f"{side}_type"] = vtype
            kind = kinds.get(vtype, HUMAN_CAR)
            row[f"{side}_class"] = kind.vclass if vehicle else ""
            row[f"{side}_autonomous"] = kind.autonomous if vehicle else False
        row.setdefault("ssm_type", -1)
    columns = {f.name: [r.get(f.name, _missing(f.type)) for r in rows] for f in SCHEMA}
    return pa.table(columns, schema=SCHEMA)


def _missing(kind: pa.DataType) -> Any:
    if pa.types.is_floating(kind):
        return math.nan
    if pa.types.is_integer(kind):
        return -1
    if pa.types.is_boolean(kind):
        return False
    return ""
