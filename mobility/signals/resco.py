"""RESCO-format scenarios: a folder (or ``.sumocfg``) with a net, routes and a time window.

:func:`spec_from_sumocfg` reads such a configuration and returns a scenario dict in the
RESCO measurement setup (no teleports, 10 s decisions, 3 s yellow), which
``mobility signals import`` writes as YAML and ``mobility signals compare`` accepts
directly. A user drops in another map by pointing either at its folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

from mobility.errors import SpecError


def find_sumocfg(path: Path) -> Path:
    """The ``.sumocfg`` named by ``path``, or the only one in the folder ``path``."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.sumocfg"))
        if len(found) != 1:
            msg = f"{path}: expected one .sumocfg in the folder, found {len(found)}; name one"
            raise SpecError(msg)
        return found[0]
    if not path.is_file():
        raise SpecError(f"{path}: file not found; give a RESCO folder or its .sumocfg")
    return path


def spec_from_sumocfg(
    path: Path,
    *,
    decision_interval: float = 10.0,
    yellow: float = 3.0,
    relative_to: Path | None = None,
) -> dict:
    """A scenario dict for the net, routes and window of a SUMO configuration."""
    cfg = find_sumocfg(path)
    try:
        root = ElementTree.parse(cfg).getroot()
    except ElementTree.ParseError as exc:
        raise SpecError(f"{cfg}: not valid XML ({exc}); fix the file") from None
    values = {el.tag: el.get("value") for el in root.iter() if el.get("value") is not None}
    net = values.get("net-file")
    routes = values.get("route-files")
    if not net or not routes:
        msg = f"{cfg}: needs <net-file> and <route-files> in <input>; add them"
        raise SpecError(msg)

    def where(name: str) -> str:
        full = (cfg.parent / name.strip()).resolve()
        if relative_to is None:
            return str(full)
        return str(Path(_relpath(full, relative_to)))

    route_files = [r for r in routes.split(",") if r.strip()]
    if len(route_files) != 1:
        msg = f"{cfg}: route-files lists {len(route_files)} files; mobility takes one per spec"
        raise SpecError(msg)
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", cfg.stem)
    return {
        "name": name,
        "description": f"RESCO-format scenario from {cfg.name}",
        "begin": float(values.get("begin", 0)),
        "end": float(values.get("end", 3600)),
        "time_to_teleport": -1,
        "network": where(net),
        "demand": where(route_files[0]),
        "signals": {
            "controller": "static",
            "decision_interval": decision_interval,
            "yellow": yellow,
        },
        "outputs": {"emissions": False},
    }


def _relpath(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path, start)
