"""The vehicles of SUMO route files, as signal programs and the signal model read them.

One streaming pass (``iterparse``, elements cleared as they are used, so large RESCO route
files stay cheap) that resolves each vehicle's route: inline, named (``route="id"``), or none
for trips given as ``from``/``to``, which the caller routes itself.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

VEHICLE_TAGS = ("vehicle", "trip", "flow")


def route_vehicles(
    routes: list[Path], *, begin: float, end: float
) -> Iterator[tuple[ElementTree.Element, list[str], float]]:
    """Each vehicle, trip or flow departing in [begin, end): its element, its edges (empty for
    a trip without a route) and how many vehicles it stands for."""
    named: dict[str, list[str]] = {}
    for path in routes:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as fh:
            vehicle: ElementTree.Element | None = None
            for event, el in ElementTree.iterparse(fh, events=("start", "end")):
                if event == "start":
                    if el.tag in VEHICLE_TAGS:
                        vehicle = el
                    continue
                if el.tag == "route" and vehicle is None and el.get("id"):
                    named[el.get("id")] = el.get("edges", "").split()
                elif el.tag == "route" and vehicle is not None:
                    vehicle.set("_edges", el.get("edges", ""))
                elif el.tag in VEHICLE_TAGS:
                    vehicle = None
                    n = vehicles_in_window(el, begin, end)
                    if n > 0:
                        inline = (el.get("_edges") or "").split()
                        yield el, inline or named.get(el.get("route", ""), []), n
                    el.clear()


def vehicles_in_window(el: ElementTree.Element, begin: float, end: float) -> float:
    """How many vehicles an element stands for inside [begin, end)."""
    if el.tag != "flow":
        depart = el.get("depart", "0")
        try:
            t = float(depart)
        except ValueError:  # "triggered" and friends
            return 0.0
        return 1.0 if begin <= t < end else 0.0
    start = float(el.get("begin", begin))
    stop = float(el.get("end", end))
    overlap = max(0.0, min(stop, end) - max(start, begin))
    if el.get("number"):
        return float(el.get("number")) * overlap / max(stop - start, 1e-9)
    if el.get("vehsPerHour"):
        return float(el.get("vehsPerHour")) * overlap / 3600.0
    if el.get("period"):
        return overlap / float(el.get("period"))
    if el.get("probability"):
        return float(el.get("probability")) * overlap
    return 0.0
