"""Build SUMO networks from a spec: netgenerate grids, netconvert arterials and OSM imports.

Built networks are cached by the content hash of their spec (and of the OSM file they come
from) together with the SUMO version, so a sweep of a hundred runs on one network builds it
once. Each build writes into a temporary folder that is renamed into the cache only when
netconvert has succeeded: a cache entry is always complete.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import shutil
from pathlib import Path

from mobility import sumo
from mobility.cache import cached_build
from mobility.config import (
    ArterialNetwork,
    GridNetwork,
    NetFileNetwork,
    NetworkSpec,
    OsmNetwork,
    file_hash,
)
from mobility.errors import NetworkError


def build_network(spec: NetworkSpec) -> Path:
    """Path of the SUMO ``.net.xml`` for a network spec, building it if needed."""
    if isinstance(spec, NetFileNetwork):
        return spec.path
    key = spec.model_dump(mode="json")
    if isinstance(spec, OsmNetwork):
        key["path"] = file_hash(spec.path)
    builders = {GridNetwork: _build_grid, ArterialNetwork: _build_arterial, OsmNetwork: _build_osm}
    return cached_build("networks", key, lambda tmp: builders[type(spec)](spec, tmp), "net.net.xml")


def _run(cmd: list[str], what: str) -> None:
    """Run a SUMO network tool; its error lines become a NetworkError."""
    proc = sumo.run_tool(cmd)
    if proc.returncode != 0:
        details = sumo.error_lines(proc.stderr + proc.stdout)
        raise NetworkError(f"{what} failed:\n{details}")


def _build_grid(spec: GridNetwork, out: Path) -> Path:
    net = out / "net.net.xml"
    cmd = [
        sumo.binary("netgenerate"),
        "--grid",
        f"--grid.x-number={spec.cols}",
        f"--grid.y-number={spec.rows}",
        f"--grid.length={spec.block_length}",
        f"--grid.attach-length={spec.fringe_length}",
        f"--default.lanenumber={spec.lanes}",
        f"--default.speed={spec.speed}",
        "--no-turnarounds.except-deadend",
        f"--output-file={net}",
    ]
    if spec.signals:
        cmd += ["--tls.guess", "--tls.guess.threshold=0"]
    _run(cmd, "netgenerate (grid)")
    return net


def _build_arterial(spec: ArterialNetwork, out: Path) -> Path:
    """A main road (west-east) crossing ``intersections`` side streets (north-south).

    Written as plain node and edge XML, then netconvert: netgenerate cannot give the main
    road and the side streets different lane counts and speeds.
    """
    n, block, side = spec.intersections, spec.block_length, spec.side_length
    junction = "traffic_light" if spec.signals else "priority"
    nodes = [("W", 0.0, 0.0, "priority"), ("E", (n + 1) * block, 0.0, "priority")]
    edges: list[tuple[str, str, str, int, float]] = []
    main = ["W", *[f"J{i}" for i in range(n)], "E"]
    for i in range(n):
        x = (i + 1) * block
        nodes += [(f"J{i}", x, 0.0, junction), (f"N{i}", x, side, "priority")]
        nodes.append((f"S{i}", x, -side, "priority"))
        for end in (f"N{i}", f"S{i}"):
            edges += [(f"{end}J{i}", end, f"J{i}", spec.side_lanes, spec.side_speed)]
            edges += [(f"J{i}{end}", f"J{i}", end, spec.side_lanes, spec.side_speed)]
    for a, b in itertools.pairwise(main):
        edges += [
            (f"{a}{b}", a, b, spec.lanes, spec.speed),
            (f"{b}{a}", b, a, spec.lanes, spec.speed),
        ]
    nod = out / "arterial.nod.xml"
    edg = out / "arterial.edg.xml"
    nod.write_text(
        "<nodes>\n"
        + "".join(f'  <node id="{i}" x="{x}" y="{y}" type="{t}"/>\n' for i, x, y, t in nodes)
        + "</nodes>\n"
    )
    edg.write_text(
        "<edges>\n"
        + "".join(
            f'  <edge id="{i}" from="{a}" to="{b}" numLanes="{lanes}" speed="{v}" '
            f'priority="{3 if lanes == spec.lanes and v == spec.speed else 2}"/>\n'
            for i, a, b, lanes, v in edges
        )
        + "</edges>\n"
    )
    net = out / "net.net.xml"
    cmd = [
        sumo.binary("netconvert"),
        f"--node-files={nod}",
        f"--edge-files={edg}",
        "--no-turnarounds.except-deadend",
        f"--output-file={net}",
    ]
    _run(cmd, "netconvert (arterial)")
    return net


def _build_osm(spec: OsmNetwork, out: Path) -> Path:
    """Import OpenStreetMap with the options SUMO's docs recommend for urban simulation."""
    osm = _decompressed(spec.path, out)
    net = out / "net.net.xml"
    cmd = [
        sumo.binary("netconvert"),
        f"--osm-files={osm}",
        "--geometry.remove",
        "--roundabouts.guess",
        "--ramps.guess",
        "--junctions.join",
        "--tls.guess-signals",
        "--tls.discard-simple",
        "--tls.join",
        "--tls.default-type=static",
        f"--keep-edges.by-vclass={spec.vehicle_classes}",
        "--remove-edges.isolated",
        "--no-turnarounds.except-deadend",
        "--output.street-names",
        "--output.original-names",
        f"--output-file={net}",
    ]
    _run(cmd, f"netconvert of OpenStreetMap file {spec.path}")
    return net


def _decompressed(path: Path, out: Path) -> Path:
    """netconvert reads plain or gzip XML; bz2 (as OSM extracts ship) is unpacked first."""
    name = path.name.lower()
    if not name.endswith((".bz2", ".gz")):
        return path
    opener = bz2.open if name.endswith(".bz2") else gzip.open
    target = out / "input.osm.xml"
    try:
        with opener(path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    except OSError as exc:
        msg = f"{path}: cannot decompress ({exc}); give a valid .osm, .osm.bz2 or .osm.gz file"
        raise NetworkError(msg) from exc
    return target
