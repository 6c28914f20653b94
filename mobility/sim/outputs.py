"""SUMO's outputs as tidy Parquet tables.

SUMO 1.28 writes tripinfo, edge data and the summary directly as Parquet (its own writer,
no XML to parse). Its columns carry the XML element as prefix (``tripinfo_duration``,
``emissions_CO2_abs``) and keep times as strings; here we drop the prefixes, make every
numeric column numeric and merge traffic and emission edge data into one table. This runs
after every simulation, so it uses pyarrow alone (no pandas import on the run path).

Tables of a run directory:
- ``trips.parquet``: one row per vehicle loaded before the end (arrived, still driving, or
  never departed: ``depart`` = -1), SUMO tripinfo columns, emissions in mg.
- ``edges.parquet``: one row per edge and interval, traffic and emissions.
- ``timeline.parquet``: one row per step: vehicles running, waiting, mean speed, ...
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mobility.sim import sumocfg
from mobility.sim.kpi import compute_kpis
from mobility.sim.parts import RunContext, SumoInputs

_TEXT_COLUMNS = {"id", "departLane", "arrivalLane", "devices", "vType", "vaporized", "edge_id"}
_EDGE_KEYS = ["interval_begin", "interval_end", "edge_id"]


def tidy(table: pa.Table, prefixes: tuple[str, ...]) -> pa.Table:
    """Drop SUMO's element prefixes and turn numeric strings into numbers."""
    names = [
        name.split("_", 1)[1] if name != "edge_id" and name.split("_", 1)[0] in prefixes else name
        for name in table.column_names
    ]
    table = table.rename_columns(names)
    for i, name in enumerate(names):
        column = table.column(i)
        if name in _TEXT_COLUMNS or not pa.types.is_string(column.type):
            continue
        try:
            table = table.set_column(i, name, pc.cast(column, pa.float64()))
        except pa.ArrowInvalid:  # really text (e.g. empty strings): keep it
            continue
    return table


def trips_table(run_dir: Path) -> pa.Table:
    """Tripinfo of every loaded vehicle, emissions columns suffixed ``_abs`` (mg)."""
    return tidy(pq.ParquetFile(run_dir / sumocfg.RAW_TRIPS).read(), ("tripinfo", "emissions"))


def edges_table(run_dir: Path) -> pa.Table:
    """Per-edge, per-interval traffic, with ``*_abs`` emissions merged in when recorded."""
    traffic = tidy(pq.ParquetFile(run_dir / sumocfg.RAW_EDGES).read(), ("edge",))
    traffic = traffic.drop_columns([c for c in ("interval_id",) if c in traffic.column_names])
    emissions_file = run_dir / sumocfg.RAW_EDGE_EMISSIONS
    if emissions_file.exists():
        emissions = tidy(pq.ParquetFile(emissions_file).read(), ("edge",))
        keep = _EDGE_KEYS + [c for c in emissions.column_names if c.endswith("_abs")]
        traffic = _left_join(traffic, emissions.select(keep))
    return traffic


def _left_join(left: pa.Table, right: pa.Table) -> pa.Table:
    """``left`` with the other columns of ``right`` on the same interval and edge, sorted.

    SUMO writes both edge data files for the same edges and intervals, so after sorting
    the rows pair up and the columns are appended. ``Table.join`` is the fallback only:
    it loads pyarrow's Acero engine and with it pandas, 0.2-0.3 s of every run's start-up.
    """
    order = [(k, "ascending") for k in _EDGE_KEYS]
    left, right = left.sort_by(order), right.sort_by(order)
    same = left.num_rows == right.num_rows and all(
        pc.all(pc.equal(left.column(k), right.column(k))).as_py() for k in _EDGE_KEYS
    )
    if not same:
        return left.join(right, keys=_EDGE_KEYS, join_type="left outer").sort_by(order)
    for name in right.column_names[len(_EDGE_KEYS) :]:
        left = left.append_column(name, right.column(name))
    return left


def timeline_table(run_dir: Path) -> pa.Table:
    """SUMO's per-step summary: running, waiting, halting vehicles, mean speed, ..."""
    return tidy(pq.ParquetFile(run_dir / sumocfg.RAW_TIMELINE).read(), ("step",))


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


def write_tables(run_dir: Path) -> dict[str, pa.Table]:
    """Turn the raw SUMO outputs of a finished run into the run's tables; drop the raw."""
    tables = {
        "trips": trips_table(run_dir),
        "edges": edges_table(run_dir),
        "timeline": timeline_table(run_dir),
    }
    for name, table in tables.items():
        pq.write_table(table, run_dir / f"{name}.parquet")
    for raw in run_dir.glob("*.raw.parquet"):
        raw.unlink()
    return tables


class OutputsPart:
    """The outputs every run writes (SUMO's tripinfo, edge data, summary, statistics) and the
    KPIs computed from them. First in a run's parts, so it finishes last: other parts may
    take over an output (the shuttles' tripinfo) and hand it back converted."""

    def __init__(self) -> None:
        self._window = (0.0, 0.0)

    def check(self, ctx: RunContext) -> None:
        """Nothing to check against the network."""

    def prepare(self, ctx: RunContext) -> SumoInputs:
        self._window = (ctx.spec.begin, ctx.spec.end)
        (ctx.folder / sumocfg.ADDITIONAL).write_text(sumocfg.edgedata_xml(ctx.spec))
        return SumoInputs(
            additional=[Path(sumocfg.ADDITIONAL)], options=sumocfg.output_options(ctx.spec)
        )

    def attach(self, engine: object) -> None:
        """SUMO writes these outputs itself."""

    def finish(self, folder: Path) -> dict[str, float]:
        tables = write_tables(folder)
        begin, end = self._window
        return compute_kpis(tables["trips"], statistics(folder), begin=begin, end=end)
