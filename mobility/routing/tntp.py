"""Read transportation test networks in TNTP format (``_net``, ``_trips``, ``_node``, ``_flow``).

The format (Bar-Gera's, kept by github.com/bstabler/TransportationNetworks): metadata lines
``<KEY> value`` up to ``<END OF METADATA>``, comments from ``~``, rows ending in ``;``. Nodes
are numbered 1..N and zones are nodes 1..Z; zones below ``<FIRST THRU NODE>`` may start and end
trips but not be passed through. Written by hand: the TNTP readers on PyPI are either tied to
a whole framework (AequilibraE) or do not check their input.

Every error names the file, the line and field, and the fix.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mobility.core.arrays import NetworkArrays, network_arrays
from mobility.errors import DemandError, NetworkError

NET_COLUMNS = (
    "init_node",
    "term_node",
    "capacity",
    "length",
    "free_flow_time",
    "b",
    "power",
    "speed",
    "toll",
    "link_type",
)
_REQUIRED_COLUMNS = 7  # up to power; speed, toll and link_type may be left out
_METADATA = re.compile(r"^\s*<([^>]+)>(.*)$")
_ORIGIN = re.compile(r"^[ \t]*Origin\s+(\S+)", re.MULTILINE)
_ENTRY = re.compile(r"([^\s:;]+)\s*:\s*([^\s;]+)")
_COMMENT = re.compile(r"~[^\n]*")


@dataclasses.dataclass(frozen=True)
class TntpNetwork:
    """A TNTP network: its arrays, its demand and what is needed to report on them."""

    name: str
    arrays: NetworkArrays
    demand: np.ndarray | None  # (Z, Z) trips from zone i+1 to zone j+1; None without a trips file
    node_ids: np.ndarray  # (N,) TNTP node numbers (1..N)
    coordinates: np.ndarray | None  # (N, 2) x, y from the _node file, if there is one
    toll_factor: float  # generalized-cost weights stated in the network's README (else 0)
    distance_factor: float
    net_path: Path

    def links(self) -> pd.DataFrame:
        """The links as TNTP numbers them: ``from``, ``to`` and their parameters."""
        a = self.arrays
        return pd.DataFrame(
            {
                "from": self.node_ids[a.tail],
                "to": self.node_ids[a.head],
                "capacity": a.capacity,
                "length": a.length,
                "free_flow_time": a.free_flow_time,
                "b": a.alpha,
                "power": a.power,
                "toll": a.toll,
            }
        )


def from_tntp(path: Path | str) -> TntpNetwork:
    """Read a TNTP network from its folder, its ``_net.tntp`` file or the files' common prefix.

    The ``_trips.tntp`` and ``_node.tntp`` files next to it are read when present.
    """
    net_path = _net_file(Path(path))
    prefix = str(net_path)[: -len("_net.tntp")]
    arrays = read_net(net_path)
    trips_path = Path(prefix + "_trips.tntp")
    demand = read_trips(trips_path, arrays) if trips_path.is_file() else None
    node_path = Path(prefix + "_node.tntp")
    coordinates = read_nodes(node_path, arrays.n_nodes) if node_path.is_file() else None
    toll_factor, distance_factor = read_cost_weights(net_path.parent / "README.md")
    return TntpNetwork(
        name=Path(prefix).name,
        arrays=arrays,
        demand=demand,
        node_ids=np.arange(1, arrays.n_nodes + 1),
        coordinates=coordinates,
        toll_factor=toll_factor,
        distance_factor=distance_factor,
        net_path=net_path,
    )


def _net_file(path: Path) -> Path:
    """The ``_net.tntp`` file meant by a folder, a file or a prefix."""
    if path.is_dir():
        found = sorted(path.glob("*_net.tntp"))
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            msg = f"{path}: {what} *_net.tntp files in the folder; give the _net.tntp file itself"
            raise NetworkError(msg)
        return found[0]
    if path.name.endswith("_net.tntp") and path.is_file():
        return path
    candidate = Path(str(path) + "_net.tntp")
    if candidate.is_file():
        return candidate
    msg = f"{path}: no TNTP network here; give a folder with a *_net.tntp file, or that file"
    raise NetworkError(msg)


def _metadata(lines: list[str], path: Path, error: type[Exception]) -> tuple[dict[str, str], int]:
    """The ``<KEY> value`` lines and the index of the first line after ``<END OF METADATA>``."""
    meta: dict[str, str] = {}
    for number, line in enumerate(lines):
        match = _METADATA.match(line)
        if match is None:
            if line.strip() and not line.lstrip().startswith("~"):
                break
            continue
        key = match.group(1).strip().upper()
        if key == "END OF METADATA":
            return meta, number + 1
        meta[key] = match.group(2).strip()
    msg = (
        f"{path}: wrong header: no <END OF METADATA> line before the data; a TNTP file starts "
        "with <KEY> value lines (e.g. <NUMBER OF NODES> 24) closed by <END OF METADATA>"
    )
    raise error(msg)


def _count(meta: dict[str, str], key: str, path: Path, error: type[Exception]) -> int:
    """A positive integer from the metadata, or an error saying which header line to fix."""
    raw = meta.get(key)
    try:
        value = int(float(raw)) if raw is not None else None
    except ValueError:
        value = None
    if value is None or value < 0 or (value == 0 and key != "NUMBER OF ZONES"):
        found = "is missing" if raw is None else f"reads {raw!r}"
        msg = f"{path}: wrong header: <{key}> {found}; add the line '<{key}> n' with a count n"
        raise error(msg)
    return value


def read_net(path: Path | str) -> NetworkArrays:
    """:class:`NetworkArrays` of a ``_net.tntp`` file (zones are nodes 1..Z)."""
    path = Path(path)
    lines = path.read_text().splitlines()
    meta, start = _metadata(lines, path, NetworkError)
    n_nodes = _count(meta, "NUMBER OF NODES", path, NetworkError)
    n_links = _count(meta, "NUMBER OF LINKS", path, NetworkError)
    n_zones = _count(meta, "NUMBER OF ZONES", path, NetworkError)
    first_thru = 1  # optional: every node may be passed through
    if "FIRST THRU NODE" in meta:
        first_thru = _count(meta, "FIRST THRU NODE", path, NetworkError)
    if n_zones > n_nodes:
        msg = (
            f"{path}: wrong header: <NUMBER OF ZONES> {n_zones} exceeds <NUMBER OF NODES> "
            f"{n_nodes}; correct the counts"
        )
        raise NetworkError(msg)
    rows, line_numbers = [], []
    for number in range(start, len(lines)):
        text = lines[number].split("~", 1)[0].replace(";", " ").split()
        if text:
            rows.append(_net_row(text, path, number + 1))
            line_numbers.append(number + 1)
    if len(rows) != n_links:
        msg = (
            f"{path}: wrong header: <NUMBER OF LINKS> is {n_links} but the file has {len(rows)} "
            "link rows; correct the count"
        )
        raise NetworkError(msg)
    table = np.array(rows, dtype=np.float64).reshape(n_links, len(NET_COLUMNS))
    _check_links(table, np.array(line_numbers), n_nodes, path)
    node = table[:, :2].astype(np.int64) - 1
    return network_arrays(
        tail=node[:, 0],
        head=node[:, 1],
        capacity=table[:, 2],
        length=table[:, 3],
        free_flow_time=table[:, 4],
        alpha=table[:, 5],
        power=table[:, 6],
        toll=table[:, 8],
        n_nodes=n_nodes,
        zone_node=np.arange(n_zones),
        through=np.arange(1, n_nodes + 1) >= first_thru,
    )


def _net_row(fields: list[str], path: Path, line: int) -> list[float]:
    """One link row as 10 numbers (missing speed, toll and type read as 0)."""
    if len(fields) < _REQUIRED_COLUMNS:
        msg = (
            f"{path}, line {line}: {len(fields)} fields, a link row needs at least "
            f"{_REQUIRED_COLUMNS} ({', '.join(NET_COLUMNS[:_REQUIRED_COLUMNS])}); complete the row"
        )
        raise NetworkError(msg)
    values = []
    for name, field in zip(NET_COLUMNS, fields, strict=False):
        try:
            values.append(float(field))
        except ValueError:
            msg = f"{path}, line {line}: field {name} reads {field!r}, not a number; fix the row"
            raise NetworkError(msg) from None
    return values + [0.0] * (len(NET_COLUMNS) - len(values))


def _check_links(table: np.ndarray, lines: np.ndarray, n_nodes: int, path: Path) -> None:
    """Node numbers in 1..N and non-negative parameters, else an error naming the first bad row."""
    checks = [
        (0, lambda v: (v < 1) | (v > n_nodes) | (v != np.round(v)), f"not a node (1..{n_nodes})"),
        (1, lambda v: (v < 1) | (v > n_nodes) | (v != np.round(v)), f"not a node (1..{n_nodes})"),
        (2, lambda v: v <= 0, "not a positive capacity"),
        (3, lambda v: v < 0, "a negative length"),
        (4, lambda v: v < 0, "a negative free-flow time"),
        (5, lambda v: v < 0, "a negative BPR b"),
        (6, lambda v: v < 0, "a negative BPR power"),
    ]
    fixes = {
        0: "add the node (and raise <NUMBER OF NODES>) or correct the link",
        1: "add the node (and raise <NUMBER OF NODES>) or correct the link",
        2: "give the link's capacity in veh/h, greater than 0",
    }
    for column, bad, what in checks:
        rows = np.flatnonzero(bad(table[:, column]))
        if rows.size:
            row = rows[0]
            value = table[row, column]
            shown = int(value) if value == int(value) else value
            fix = fixes.get(column, "correct the value")
            msg = (
                f"{path}, line {lines[row]}: field {NET_COLUMNS[column]} = {shown} is {what}; {fix}"
            )
            raise NetworkError(msg)


def read_trips(path: Path | str, arrays: NetworkArrays) -> np.ndarray:
    """The ``(Z, Z)`` OD matrix of a ``_trips.tntp`` file, checked against the network."""
    path = Path(path)
    text = path.read_text()
    lines = text.splitlines()
    meta, start = _metadata(lines, path, DemandError)
    n_zones = _count(meta, "NUMBER OF ZONES", path, DemandError)
    if n_zones != arrays.n_zones:
        msg = (
            f"{path}: wrong header: <NUMBER OF ZONES> {n_zones} but the network has "
            f"{arrays.n_zones} zones; use the trips file of this network"
        )
        raise DemandError(msg)
    body_offset = sum(len(line) + 1 for line in lines[:start])
    # blank out comments, keeping offsets (and so line numbers) intact
    body = _COMMENT.sub(lambda m: " " * len(m.group()), text[body_offset:])

    def line_of(offset: int) -> int:
        return text.count("\n", 0, body_offset + offset) + 1

    demand = np.zeros((n_zones, n_zones))
    blocks = list(_ORIGIN.finditer(body))
    for i, block in enumerate(blocks):
        origin = _zone(block.group(1), n_zones, path, line_of(block.start()), "Origin")
        end = blocks[i + 1].start() if i + 1 < len(blocks) else len(body)
        entries = _ENTRY.findall(body, block.end(), end)
        if not entries:
            continue
        raw_zones, raw_trips = zip(*entries, strict=True)
        try:
            dest = np.array(raw_zones, dtype=np.int64) - 1
            trips = np.array(raw_trips, dtype=np.float64)
        except ValueError:
            dest, trips = np.array([-1]), np.array([-1.0])
        bad = np.flatnonzero((dest < 0) | (dest >= n_zones) | ~(trips >= 0))
        if bad.size:
            _bad_entry(body, block.end(), end, path, line_of, n_zones)
        np.add.at(demand[origin], dest, trips)
    _check_ends(demand, arrays, path, text, body_offset, blocks)
    return demand


def _bad_entry(body: str, start: int, end: int, path: Path, line_of, n_zones: int) -> None:
    """Raise the error for the first malformed ``zone : trips`` entry of an origin block."""
    for entry in _ENTRY.finditer(body, start, end):
        dest = _zone(entry.group(1), n_zones, path, line_of(entry.start()), "destination")
        try:
            trips = float(entry.group(2))
        except ValueError:
            trips = -1.0
        if not trips >= 0:
            msg = (
                f"{path}, line {line_of(entry.start())}: trips {entry.group(2)!r} to zone "
                f"{dest + 1} is not a number >= 0; fix the entry"
            )
            raise DemandError(msg)


def _zone(raw: str, n_zones: int, path: Path, line: int, field: str) -> int:
    """Zone index (0-based) of a zone number, or an error naming the line."""
    try:
        zone = int(raw)
    except ValueError:
        zone = 0
    if not 1 <= zone <= n_zones:
        msg = f"{path}, line {line}: {field} zone {raw!r} is not a zone (1..{n_zones}); fix it"
        raise DemandError(msg)
    return zone - 1


def _check_ends(
    demand: np.ndarray,
    arrays: NetworkArrays,
    path: Path,
    text: str,
    body_offset: int,
    blocks: list[re.Match[str]],
) -> None:
    """Trips must leave zones that have an out-link and reach zones that have an in-link."""
    trips = demand.copy()
    np.fill_diagonal(trips, 0.0)  # intrazonal trips never use a link
    out_degree = np.bincount(arrays.tail, minlength=arrays.n_nodes)
    in_degree = np.bincount(arrays.head, minlength=arrays.n_nodes)
    stuck = np.flatnonzero((trips.sum(axis=1) > 0) & (out_degree[arrays.zone_node] == 0))
    if stuck.size:
        zone = int(stuck[0]) + 1
        block = next(b for b in blocks if int(b.group(1)) == zone)
        line = text.count("\n", 0, body_offset + block.start()) + 1
        msg = (
            f"{path}, line {line}: zone {zone} sends {trips[zone - 1].sum():g} trips but has no "
            "outgoing link in the network; add a link leaving its node or remove its trips"
        )
        raise DemandError(msg)
    unreachable = np.flatnonzero((trips.sum(axis=0) > 0) & (in_degree[arrays.zone_node] == 0))
    if unreachable.size:
        zone = int(unreachable[0]) + 1
        msg = (
            f"{path}: zone {zone} receives {trips[:, zone - 1].sum():g} trips but has no incoming "
            "link in the network; add a link entering its node or remove its trips"
        )
        raise DemandError(msg)


def read_nodes(path: Path | str, n_nodes: int) -> np.ndarray:
    """Node coordinates ``(N, 2)`` from a ``_node.tntp`` file (NaN where a node is missing)."""
    path = Path(path)
    coordinates = np.full((n_nodes, 2), np.nan)
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("~", 1)[0].replace(";", " ").split()
        if len(fields) < 3 or not fields[0].lstrip("-").isdigit():
            continue  # the header line, blank lines
        try:
            node, x, y = int(fields[0]), float(fields[1]), float(fields[2])
        except ValueError:
            msg = f"{path}, line {number}: expected 'node x y', read {line.strip()!r}; fix the row"
            raise NetworkError(msg) from None
        if not 1 <= node <= n_nodes:
            msg = f"{path}, line {number}: node {node} is not in the network (1..{n_nodes})"
            raise NetworkError(msg)
        coordinates[node - 1] = (x, y)
    return coordinates


def read_flows(path: Path | str) -> pd.DataFrame:
    """A ``_flow.tntp`` solution: columns ``from``, ``to``, ``volume``, ``cost``."""
    path = Path(path)
    table = pd.read_csv(path, sep=r"\s+", header=0)
    table.columns = [c.strip().lower() for c in table.columns]
    if not {"from", "to", "volume"} <= set(table.columns):
        msg = f"{path}: wrong header {list(table.columns)}; a flow file starts 'From To Volume'"
        raise NetworkError(msg)
    return table


def read_cost_weights(readme: Path) -> tuple[float, float]:
    """Toll and distance weights of the generalized cost, as a TNTP README states them.

    TNTP keeps these in the network's README (``## Generalized Cost Weights`` with ``Toll:``
    and ``Distance:`` lines), not in the data files. Missing README or lines mean 0.
    """
    if not readme.is_file():
        return 0.0, 0.0
    text = readme.read_text(errors="replace")
    section = re.search(r"Generalized Cost Weights(.*?)(\n#|\Z)", text, re.DOTALL)
    if section is None:
        return 0.0, 0.0

    def weight(name: str) -> float:
        match = re.search(rf"{name}\s*:\s*([0-9.eE+-]+)", section.group(1))
        return float(match.group(1)) if match else 0.0

    return weight("Toll"), weight("Distance")


def links_frame(result: Any, labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per link of an :class:`~mobility.core.routing.Equilibrium`: ``labels`` (the
    link's names, one row per real link), then flow, time, cost and volume over capacity."""
    table = pd.DataFrame(index=pd.RangeIndex(len(result.flow), name="link"))
    if labels is not None:
        table = labels.reset_index(drop=True).copy()
    for column in ("flow", "time", "cost", "voc"):
        table[column] = getattr(result, column)
    return table
