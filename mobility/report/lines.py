"""The report's line stops: each shuttle line's stops as SUMO placed them, and how the
line kept its timetable there.

A GTFS line's stops exist only in the run folder (the spec names the route, not the
stops), so both the stops and their names are read from the run's ``shuttles.add.xml``;
the calls from ``stops.parquet`` (SUMO's stop output, one row per call, written by
:mod:`mobility.shuttles.kpi`).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from mobility.report.load import read_table

STOPS_ADD = "shuttles.add.xml"  # as mobility.shuttles.setup writes it
CALLS = "stops.parquet"
e = html.escape


def line_stops(run_dir: Path) -> pd.DataFrame:
    """One row per busStop of a shuttle line: id, name, line, lane, position (m)."""
    import sumolib

    path = run_dir / STOPS_ADD
    rows = []
    if path.is_file():
        for stop in sumolib.xml.parse(str(path), "busStop"):
            rows.append(
                {
                    "stop": stop.id,
                    "name": stop.attr_name or "",
                    "line": stop.lines or "",
                    "edge": stop.lane.rsplit("_", 1)[0],
                    "pos": (float(stop.startPos) + float(stop.endPos)) / 2,
                }
            )
    return pd.DataFrame(rows, columns=["stop", "name", "line", "edge", "pos"])


def stops_table(run_dir: Path) -> str:
    """An HTML table of the lines' stops in line order: calls, riders boarding and
    alighting, and the mean delay past the timetabled departure (timetabled lines)."""
    stops = line_stops(run_dir)
    if stops.empty:
        return ""
    calls = run_dir / CALLS
    made = read_table(calls) if calls.is_file() else pd.DataFrame(columns=["stop"])
    rows = []
    for r in stops.itertuples():
        mine = made[made["stop"] == r.stop]
        delay = mine["delay"].to_numpy(float) if "delay" in mine else np.array([])
        delay = delay[np.isfinite(delay)]
        late = f"{delay.mean():.0f}" if len(delay) else "–"
        boarded = f"{mine['boarded'].sum():g}" if len(mine) else "0"
        alighted = f"{mine['alighted'].sum():g}" if len(mine) else "0"
        rows.append(
            f"<tr><td>{e(r.line)}</td><td><code>{e(r.stop)}</code></td><td>{e(r.name)}</td>"
            f"<td>{len(mine)}</td><td>{boarded}</td><td>{alighted}</td><td>{late}</td></tr>"
        )
    return (
        "<p>Line stops, as SUMO placed them (a GTFS line's come from the feed): calls made, "
        "riders boarding and alighting, and how many seconds after the timetabled "
        "departure the shuttles left on average (– for lines run on a headway).</p>"
        "<table class='kpis line-stops'><thead><tr><th>line</th><th>stop</th><th>name</th>"
        "<th>calls</th><th>boarded</th><th>alighted</th><th>mean delay (s)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
