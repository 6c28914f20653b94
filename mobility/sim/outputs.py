"""SUMO's outputs as tidy Parquet tables.

SUMO 1.28 writes tripinfo, edge data and the summary directly as Parquet (its own writer,
no XML to parse). Its columns carry the XML element as prefix (``tripinfo_duration``,
``emissions_CO2_abs``) and keep times as strings; here we drop the prefixes, make every
numeric column numeric and merge traffic and emission edge data into one table.

Tables of a run directory:
- ``trips.parquet``: one row per vehicle loaded before the end (arrived, still driving, or
  never departed: ``depart`` = -1), SUMO tripinfo columns, emissions in mg.
- ``edges.parquet``: one row per edge and interval, traffic and emissions.
- ``timeline.parquet``: one row per step: vehicles running, waiting, mean speed, ...
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pandas as pd

from mobility.sim import sumocfg

_TEXT_COLUMNS = {"id", "departLane", "arrivalLane", "devices", "vType", "vaporized", "edge_id"}


def tidy(frame: pd.DataFrame, prefixes: tuple[str, ...]) -> pd.DataFrame:
    """Drop SUMO's element prefixes and turn numeric strings into numbers."""
    renamed = {
        col: col.split("_", 1)[1]
        for col in frame.columns
        if col != "edge_id" and col.split("_", 1)[0] in prefixes
    }
    frame = frame.rename(columns=renamed)
    for col in frame.columns:
        if col in _TEXT_COLUMNS or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        converted = pd.to_numeric(frame[col], errors="coerce")
        if converted.notna().all():
            frame[col] = converted
    return frame


def trips_table(run_dir: Path) -> pd.DataFrame:
    """Tripinfo of every loaded vehicle, emissions columns suffixed ``_abs`` (mg)."""
    raw = pd.read_parquet(run_dir / sumocfg.RAW_TRIPS)
    return tidy(raw, ("tripinfo", "emissions"))


def edges_table(run_dir: Path) -> pd.DataFrame:
    """Per-edge, per-interval traffic, with ``*_abs`` emissions merged in when recorded."""
    traffic = tidy(pd.read_parquet(run_dir / sumocfg.RAW_EDGES), ("edge",))
    emissions_file = run_dir / sumocfg.RAW_EDGE_EMISSIONS
    if emissions_file.exists():
        emis = tidy(pd.read_parquet(emissions_file), ("edge",))
        keep = ["interval_begin", "interval_end", "edge_id"]
        emis = emis[keep + [c for c in emis.columns if c.endswith("_abs")]]
        traffic = traffic.merge(emis, on=keep, how="left")
    return traffic.drop(columns=["interval_id"], errors="ignore")


def timeline_table(run_dir: Path) -> pd.DataFrame:
    """SUMO's per-step summary: running, waiting, halting vehicles, mean speed, ..."""
    return tidy(pd.read_parquet(run_dir / sumocfg.RAW_TIMELINE), ("step",))


def statistics(run_dir: Path) -> dict[str, dict[str, float]]:
    """SUMO's end-of-run statistics (``--statistic-output``) as nested numbers."""
    root = ElementTree.parse(run_dir / sumocfg.STATISTICS).getroot()
    out: dict[str, dict[str, float]] = {}
    for element in root:
        values = {}
        for key, value in element.attrib.items():
            try:
                values[key] = float(value)
            except ValueError:
                continue
        out[element.tag] = values
    return out


def write_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """Turn the raw SUMO outputs of a finished run into the run's tables; drop the raw."""
    tables = {
        "trips": trips_table(run_dir),
        "edges": edges_table(run_dir),
        "timeline": timeline_table(run_dir),
    }
    for name, frame in tables.items():
        frame.to_parquet(run_dir / f"{name}.parquet", index=False)
    for raw in run_dir.glob("*.raw.parquet"):
        raw.unlink()
    return tables
