"""The results store of a sweep: one Parquet file per run, a manifest, DuckDB views.

A sweep directory holds::

    sweep.yaml                      the sweep file as given
    manifest.json                   every planned run: id, variant, parameters, seed
    results/runs/<run_id>.parquet   one row per finished run: parameters, status, KPIs
    results/trips/<run_id>.parquet  the run's trips (and results/requests/ where present)
    runs/<name>-<hash12>/           the full run directories (written by the workers)
    logs/<run_id>.log               each run's console output

Each file is written in a hidden temporary folder beside it, named after the process that
owns it (see :func:`mobility.rundir.owner_tag`), and renamed into place, so a crash leaves
either the whole file or none, and the temporary folders a killed process left are removed
when the sweep starts again (:meth:`SweepStore.remove_stale`). A run is finished when its
row file exists, says ``ok``, carries the run's id and its tables can be read; ``--resume``
runs the others (missing, failed, timed out, damaged). DuckDB reads the whole sweep as
views ``runs``, ``trips`` (``requests``).

A parameter can take any YAML value. Scalars are stored as they are; mappings and lists
(``signals.params: {theta: 30}``) as JSON text, because Parquet cannot hold every nested
value (a struct with no fields) and one column must have one type across the runs' files.
Read them in SQL with DuckDB's JSON functions: ``signals_params->>'theta'``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mobility.errors import MobilityError, RunDirError, SpecError
from mobility.experiment.stats import mean_ci
from mobility.rundir import check_output_dir, owner_tag, remove_stale

MANIFEST = "manifest.json"
SWEEP_FILE = "sweep.yaml"
RESULTS = "results"
VIEWS = ("runs", "trips", "requests")
MAX_NAMED = 5  # damaged files named in one error


class StoreError(RunDirError):
    """A file of the results store is damaged (truncated, half-copied, not Parquet/JSON)."""


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

    def table_files(self, run_id: str) -> list[Path]:
        """The run's files in the store: its row and the tables it has (trips, requests)."""
        return [
            path for view in VIEWS if (path := self.table_dir(view) / f"{run_id}.parquet").is_file()
        ]

    # -- writing --------------------------------------------------------------------------
    def check_target(self) -> None:
        """Refuse, before anything runs, a sweep folder that cannot be written: a file, or
        inside a folder this user may not write (else the first result would fail late)."""
        check_output_dir(self.root, what="--out")

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
        cells = {key: cell(value) for key, value in {**labels, **row}.items()}
        _atomic_parquet(self.row_file(run_id), pa.Table.from_pylist([cells]))

    def remove_stale(self, wait_s: float = 0.0) -> list[Path]:
        """Remove the temporary folders that dead processes left in the sweep (runs of
        killed workers or timeouts, store writes of a killed driver); returns what went.

        ``wait_s`` > 0 waits that long for the owners of the remaining ones to die: after
        an interrupt, the cancelled runs take a moment to go.
        """
        folders = [self.root, self.runs_dir, self.logs_dir]
        folders += [self.table_dir(view) for view in VIEWS]
        deadline = time.monotonic() + wait_s
        removed: list[Path] = []
        while True:
            for folder in folders:
                if folder.is_dir():
                    removed += remove_stale(folder)
            if time.monotonic() >= deadline or not any(map(_has_temp, folders)):
                return removed
            time.sleep(0.1)

    # -- reading --------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.is_file():
            msg = f"{self.root}: not a sweep directory (no {MANIFEST}); give a folder that "
            raise MobilityError(msg + "`mobility sweep` wrote")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            msg = f"{path}: the sweep's plan cannot be read ({exc}); {self._fix()}"
            raise StoreError(msg) from None
        if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
            msg = f"{path}: not a sweep plan (no list of `runs`); {self._fix()}"
            raise StoreError(msg)
        return data

    def finished(self, run_id: str) -> bool:
        """True if the run has an ``ok`` row that carries its id (the hash of its spec) and
        its tables in the store can be read: a damaged file makes the run run again."""
        path = self.row_file(run_id)
        if not path.is_file():
            return False
        try:
            row = pq.read_table(path, columns=["run_id", "status"]).to_pylist()
        except (pa.ArrowInvalid, OSError, KeyError):
            return False  # unreadable: run it again
        done = len(row) == 1 and row[0]["run_id"] == run_id and row[0]["status"] == "ok"
        return done and not any(map(_damaged, self.table_files(run_id)))

    def row(self, run_id: str) -> dict[str, Any] | None:
        """The stored row of a run (labels, status, KPIs), or None when it has none yet (or
        its file is damaged: the run counts as not finished)."""
        path = self.row_file(run_id)
        if not path.is_file():
            return None
        try:
            found = pq.read_table(path).to_pylist()
        except (pa.ArrowInvalid, OSError):
            return None
        return found[0] if found else None

    def has_results(self) -> bool:
        folder = self.table_dir("runs")
        return folder.is_dir() and any(folder.glob("*.parquet"))

    def connect(self) -> Any:
        """A DuckDB connection with views ``runs``, ``trips`` (and ``requests``) on the sweep."""
        import duckdb

        self.manifest()  # a clear error when this is not a sweep directory
        con = duckdb.connect()
        try:
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
        except duckdb.Error as exc:
            con.close()
            raise self._damaged_error(exc) or MobilityError(f"{self.root}: {exc}") from None
        return con

    def query(self, sql: str) -> Any:
        """Run SQL on the sweep's views; returns a pandas DataFrame."""
        import duckdb

        con = self.connect()
        try:
            return con.execute(sql).df()
        except duckdb.Error as exc:
            damaged = self._damaged_error(exc)
            if damaged is not None:
                raise damaged from None
            views = ", ".join(_views(con))
            msg = f"query failed: {exc}\n(views in {self.root}: {views}; KPI columns are kpi_*)"
            raise MobilityError(msg) from None
        finally:
            con.close()

    def damaged_files(self) -> list[Path]:
        """The result files DuckDB cannot read (truncated by a full disk, a bad copy)."""
        found = []
        for view in VIEWS:
            folder = self.table_dir(view)
            if folder.is_dir():
                found += [path for path in sorted(folder.glob("*.parquet")) if _damaged(path)]
        return found

    def _damaged_error(self, exc: Exception) -> StoreError | None:
        """A StoreError naming the damaged files when ``exc`` came from one (else None):
        DuckDB names only the first file it tripped on, a planner wants them all."""
        if ".parquet" not in str(exc):
            return None
        damaged = self.damaged_files()
        if not damaged:
            return None
        named = "\n".join(f"  {path}" for path in damaged[:MAX_NAMED])
        more = len(damaged) - MAX_NAMED
        tail = f"\n  ... and {more} more" if more > 0 else ""
        msg = (
            f"{self.root}: {len(damaged)} result file(s) are damaged (truncated or not "
            f"Parquet), so the sweep cannot be read:\n{named}{tail}\n{self._fix()}"
        )
        return StoreError(msg)

    def _fix(self) -> str:
        """How to repair the store: a resume reruns every run whose files are damaged."""
        try:
            source = json.loads((self.root / MANIFEST).read_text()).get("source") or ""
        except (ValueError, OSError, AttributeError):
            source = ""
        if source:
            return (
                f"re-run them with `mobility sweep {source} --out {self.root} --resume` "
                "(a run with a damaged file counts as not finished)"
            )
        return "run the command that wrote this folder again, or delete the folder"


def cell(value: Any) -> Any:
    """A value as one Parquet cell: scalars as they are, mappings and lists as JSON text
    (Parquet has no struct without fields, and one column needs one type in every file)."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value)
    return value


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
    _atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _atomic_parquet(path: Path, table: pa.Table) -> None:
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` whole or not at all: into a temporary folder beside it, named after
    this process (so a later sweep removes it if this one is killed), then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent / f".{path.name}.tmp-{owner_tag()}"
    folder.mkdir()
    try:
        tmp = folder / path.name
        write(tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _has_temp(folder: Path) -> bool:
    """True if ``folder`` holds a temporary folder (of a write or a run in progress)."""
    return folder.is_dir() and any(
        p.is_dir() and (".tmp-" in p.name or ".old-" in p.name) for p in folder.glob(".*")
    )


def _damaged(path: Path) -> bool:
    """True if ``path`` is not a readable Parquet file (its footer is checked, not read)."""
    try:
        pq.read_metadata(path)
    except (pa.ArrowInvalid, OSError):
        return True
    return False
