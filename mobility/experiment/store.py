"""The results store of a sweep: one Parquet file per run, a manifest, DuckDB views.

A sweep directory holds::

    sweep.yaml                      the sweep file as given
    manifest.json                   every planned run: id, variant, parameters, seed
    results/runs/<run_id>.parquet   one row per finished run: parameters, status, KPIs
    results/trips/<run_id>.parquet  the run's trips (and results/requests/ where present)
    runs/<name>-<hash12>/           the full run directories (written by the workers)
    logs/<run_id>.log               each run's console output

Each result file is written to a hidden temporary name and renamed into place, so a
crash leaves either the whole file or none. A run is finished when its row file exists,
says ``ok`` and carries the run's id; ``--resume`` runs the others (missing, failed,
timed out). DuckDB reads the whole sweep as views ``runs``, ``trips`` (``requests``).
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mobility.errors import MobilityError, SpecError
from mobility.experiment.stats import mean_ci

MANIFEST = "manifest.json"
SWEEP_FILE = "sweep.yaml"
RESULTS = "results"
VIEWS = ("runs", "trips", "requests")


class SweepStore:
    """Reads and writes one sweep directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    # -- layout ---------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def table_dir(self, table: str) -> Path:
        return self.root / RESULTS / table

    def row_file(self, run_id: str) -> Path:
        return self.table_dir("runs") / f"{run_id}.parquet"

    # -- writing --------------------------------------------------------------------------
    def write_plan(self, sweep_text: str, manifest: dict[str, Any]) -> None:
        """Record the sweep file and the planned runs (replacing an earlier plan)."""
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_bytes(self.root / SWEEP_FILE, sweep_text.encode())
        _atomic_bytes(self.root / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())

    def write_result(
        self, row: dict[str, Any], tables: dict[str, pa.Table], labels: dict[str, Any]
    ) -> None:
        """Write one run's tables, then its row (the row marks the run finished)."""
        run_id = row["run_id"]
        for name, table in tables.items():
            for key in ("run_id", "variant", "seed"):
                if key in table.column_names:
                    table = table.drop_columns([key])
            n = table.num_rows
            table = table.append_column("run_id", pa.array([run_id] * n, pa.string()))
            table = table.append_column("variant", pa.array([labels["variant"]] * n, pa.string()))
            table = table.append_column("seed", pa.array([labels["seed"]] * n, pa.int64()))
            _atomic_parquet(self.table_dir(name) / f"{run_id}.parquet", table)
        _atomic_parquet(self.row_file(run_id), pa.Table.from_pylist([{**labels, **row}]))

    # -- reading --------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.is_file():
            msg = f"{self.root}: not a sweep directory (no {MANIFEST}); give a folder that "
            raise MobilityError(msg + "`mobility sweep` wrote")
        return json.loads(path.read_text())

    def finished(self, run_id: str) -> bool:
        """True if the run has an ``ok`` row that carries its id (the hash of its spec)."""
        path = self.row_file(run_id)
        if not path.is_file():
            return False
        try:
            row = pq.read_table(path, columns=["run_id", "status"]).to_pylist()
        except (pa.ArrowInvalid, OSError, KeyError):
            return False  # unreadable: run it again
        return len(row) == 1 and row[0]["run_id"] == run_id and row[0]["status"] == "ok"

    def row(self, run_id: str) -> dict[str, Any] | None:
        """The stored row of a run (labels, status, KPIs), or None when it has none yet."""
        path = self.row_file(run_id)
        if not path.is_file():
            return None
        found = pq.read_table(path).to_pylist()
        return found[0] if found else None

    def has_results(self) -> bool:
        folder = self.table_dir("runs")
        return folder.is_dir() and any(folder.glob("*.parquet"))

    def connect(self) -> Any:
        """A DuckDB connection with views ``runs``, ``trips`` (and ``requests``) on the sweep."""
        import duckdb

        self.manifest()  # a clear error when this is not a sweep directory
        con = duckdb.connect()
        for view in VIEWS:
            folder = self.table_dir(view)
            if folder.is_dir() and any(folder.glob("*.parquet")):
                pattern = str(folder / "*.parquet").replace("'", "''")
                con.execute(
                    f"CREATE VIEW {view} AS SELECT * FROM "
                    f"read_parquet('{pattern}', union_by_name = true)"
                )
            elif view == "runs":
                con.execute("CREATE VIEW runs AS SELECT NULL::VARCHAR AS run_id WHERE false")
        return con

    def query(self, sql: str) -> Any:
        """Run SQL on the sweep's views; returns a pandas DataFrame."""
        import duckdb

        con = self.connect()
        try:
            return con.execute(sql).df()
        except duckdb.Error as exc:
            views = ", ".join(_views(con))
            msg = f"query failed: {exc}\n(views in {self.root}: {views}; KPI columns are kpi_*)"
            raise MobilityError(msg) from None
        finally:
            con.close()


def summary(store: SweepStore, kpis: list[str] | None = None, level: float = 0.95) -> Any:
    """KPIs per variant over seeds: n, mean, standard deviation and a ``level`` t-interval.

    Returns a long DataFrame (variant, kpi, n, mean, std, ci_low, ci_high) over ``ok`` runs.
    """
    import pandas as pd

    runs = store.query("SELECT * FROM runs")
    if runs.empty or "status" not in runs:
        return pd.DataFrame(columns=["variant", "kpi", "n", "mean", "std", "ci_low", "ci_high"])
    ok = runs[runs["status"] == "ok"]
    columns = [c for c in ok.columns if c.startswith("kpi_")]
    if kpis:
        wanted = [k if k.startswith("kpi_") else f"kpi_{k}" for k in kpis]
        unknown = [k for k in wanted if k not in columns]
        if unknown:
            known = ", ".join(c.removeprefix("kpi_") for c in columns)
            msg = f"unknown KPI(s) {unknown}; the sweep has: {known}"
            raise SpecError(msg)
        columns = wanted
    # variants in the order the sweep file lists them (900 before 1350), not as strings
    planned = list(dict.fromkeys(run["variant"] for run in store.manifest()["runs"]))
    order = {variant: i for i, variant in enumerate(planned)}
    ok = ok.assign(_order=ok["variant"].map(order)).sort_values("_order", kind="stable")
    rows = []
    for variant, group in ok.groupby("variant", sort=False):
        for column in columns:
            values = pd.to_numeric(group[column], errors="coerce").dropna().to_numpy(float)
            n = len(values)
            mean, half = mean_ci(values, level)
            std = float(values.std(ddof=1)) if n > 1 else math.nan
            rows.append(
                {
                    "variant": variant,
                    "kpi": column.removeprefix("kpi_"),
                    "n": n,
                    "mean": mean,
                    "std": std,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                }
            )
    return pd.DataFrame(rows)


def param_column(path: str) -> str:
    """A SQL-friendly column name for a dotted parameter path (``demand.x`` -> ``demand_x``)."""
    return re.sub(r"\W", "_", path)


def _views(con: Any) -> list[str]:
    return [
        r[0]
        for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    ]


def _atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
