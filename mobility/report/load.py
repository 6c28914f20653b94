"""What a report is made from: one run, a folder of runs, or a sweep directory.

:func:`open_input` looks at a folder and returns a :class:`RunData`, a list of them, or a
:class:`SweepData`; anything else raises :class:`ReportError` with a message that says what
was expected. Failed runs of a sweep are kept as rows (id, variant, error, log tail) so the
report can list them beside the runs that worked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mobility.errors import RunDirError
from mobility.rundir import KPIS, META, SPEC, RunResult

TABLES = ("trips", "edges", "timeline")


class ReportError(RunDirError):
    """A folder cannot be reported on: not a run, not a sweep, or a run without its tables."""


@dataclass
class RunData:
    """One finished run, with its tables read."""

    run_dir: Path
    name: str
    spec: dict[str, Any]
    meta: dict[str, Any]
    kpis: dict[str, float]
    trips: pd.DataFrame
    edges: pd.DataFrame
    timeline: pd.DataFrame

    @property
    def net_path(self) -> Path:
        return Path(self.meta.get("network") or self.spec["network"]["path"])

    @property
    def label(self) -> str:
        return f"{self.name} (seed {self.meta.get('seed', '?')})"


@dataclass
class SweepData:
    """A sweep directory: its plan, one row per run, and the runs that worked."""

    root: Path
    name: str
    params: list[str]  # dotted parameter paths that the sweep varies
    rows: pd.DataFrame  # one row per stored run (ok and failed)
    summary: pd.DataFrame  # variant, kpi, n, mean, std, ci_low, ci_high (ok runs only)
    failed: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)  # planned, never stored
    variant_runs: dict[str, list[Path]] = field(default_factory=dict)  # ok run directories


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; a clear ReportError if it is not one or it is incomplete."""
    run_dir = Path(run_dir)
    if ".tmp-" in run_dir.name:
        msg = (
            f"{run_dir}: a temporary folder of a run that failed or was interrupted; "
            "nothing in it is a result. Look at the run's log, fix the cause and run it again"
        )
        raise ReportError(msg)
    try:
        RunResult.load(run_dir)  # a clear error when the folder is no run directory
    except RunDirError as exc:
        raise ReportError(str(exc)) from None
    except (ValueError, KeyError, OSError) as exc:  # meta.json or kpis.json is damaged
        for name in (META, KPIS):  # which one: a ReportError naming it
            _read_mapping(run_dir / name, json.loads)
        raise _damaged(run_dir / META, ValueError(f"no field {exc}")) from None
    missing = [t for t in TABLES if not (run_dir / f"{t}.parquet").is_file()]
    if missing or not (run_dir / SPEC).is_file():
        names = ", ".join([f"{t}.parquet" for t in missing] + ([] if missing else [SPEC]))
        msg = f"{run_dir}: an incomplete run directory (missing {names}); run the scenario again"
        raise ReportError(msg)
    meta = _read_mapping(run_dir / META, json.loads)
    kpis = _read_mapping(run_dir / KPIS, json.loads)
    spec = _read_mapping(run_dir / SPEC, yaml.safe_load)
    return RunData(
        run_dir=run_dir,
        name=str(meta.get("name") or spec.get("name") or run_dir.name),
        spec=spec,
        meta=meta,
        kpis={k: (float("nan") if v is None else v) for k, v in kpis.items()},
        **{name: read_table(run_dir / f"{name}.parquet") for name in TABLES},
    )


def read_table(path: Path) -> pd.DataFrame:
    """A run's Parquet table; a ReportError naming the file when it is damaged (a run cut
    short while writing it, a bad copy, a full disk) instead of pyarrow's traceback."""
    import pyarrow.parquet as pq

    try:
        return pd.read_parquet(path)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        problem: Exception = exc
    try:  # the footer's complaint is the short one ("magic bytes not found", "0 bytes")
        pq.read_metadata(path)
    except (ValueError, OSError) as short:
        problem = short
    raise _damaged(path, problem) from None


def _read_mapping(path: Path, parse: Any) -> dict[str, Any]:
    """A run's JSON or YAML file as a mapping; a ReportError naming it when damaged."""
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, yaml.YAMLError) as exc:
        raise _damaged(path, exc) from None
    if not isinstance(data, dict):
        raise _damaged(path, ValueError("not a mapping"))
    return data


def _damaged(path: Path, exc: Exception) -> ReportError:
    """The error for a damaged file of a run, with the two ways out: run it again (its own
    resolved spec.yaml gives the same folder, which replaces this one) or delete it."""
    lines = str(exc).strip().splitlines()
    why = lines[0] if lines else type(exc).__name__
    run_dir = path.parent
    msg = (
        f"{path}: damaged, the run cannot be reported ({why}); the run was cut short while "
        f"writing it or the file was altered. Run it again with `mobility run "
        f"{run_dir / SPEC} --out {run_dir.parent}` (it replaces the folder), or delete the "
        f"folder {run_dir}"
    )
    return ReportError(msg)


def is_run_dir(path: Path) -> bool:
    return (path / META).is_file() and (path / KPIS).is_file()


def is_sweep_dir(path: Path) -> bool:
    from mobility.experiment.store import MANIFEST

    return (path / MANIFEST).is_file()


def open_input(path: Path | str) -> RunData | SweepData | list[RunData]:
    """A run, a sweep, or every run directory directly inside a folder."""
    path = Path(path)
    if not path.exists():
        msg = f"{path}: no such folder; give a run directory or a sweep directory"
        raise ReportError(msg)
    if path.is_file() or not path.is_dir():
        msg = f"{path}: a file; give the folder of a run (`mobility run`) or a sweep"
        raise ReportError(msg)
    if is_sweep_dir(path):
        return load_sweep(path)
    if is_run_dir(path) or ".tmp-" in path.name:
        return load_run(path)
    runs = sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p))
    if runs:
        return [load_run(p) for p in runs]
    msg = (
        f"{path}: not a run directory (no {META}/{KPIS}), not a sweep directory (no "
        "manifest.json) and no run directories inside; give a folder that `mobility run` "
        "or `mobility sweep` wrote"
    )
    raise ReportError(msg)


def load_sweep(root: Path | str) -> SweepData:
    """Read a sweep directory through its results store (DuckDB views over Parquet)."""
    from mobility.experiment.store import SweepStore, summary

    store = SweepStore(root)
    manifest = store.manifest()
    rows = store.query("SELECT * FROM runs")
    planned = manifest.get("runs", [])
    stored = set(rows["run_id"]) if "run_id" in rows else set()
    missing = [r for r in planned if r["run_id"] not in stored]
    if rows.empty or "status" not in rows:
        msg = (
            f"{store.root}: a sweep with no finished runs yet ({len(planned)} planned); "
            "run `mobility sweep ... --resume` to finish it"
        )
        raise ReportError(msg)
    ok = rows[rows["status"] == "ok"]
    failed = [
        {
            "run_id": r["run_id"],
            "variant": r.get("variant"),
            "seed": r.get("seed"),
            "status": r["status"],
            "error": str(r.get("error") or ""),
            "log": str(r.get("log") or ""),
        }
        for r in rows[rows["status"] != "ok"].to_dict("records")
    ]
    if ok.empty:
        lines = "\n".join(f"  {f['variant']} seed {f['seed']}: {f['error']}" for f in failed)
        msg = f"{store.root}: every run of the sweep failed, nothing to report:\n{lines}"
        raise ReportError(msg)
    variant_runs: dict[str, list[Path]] = {}
    for r in ok.to_dict("records"):
        found = _run_dir_of(store.root, r.get("run_dir"))
        if found is not None:
            variant_runs.setdefault(r["variant"], []).append(found)
    return SweepData(
        root=store.root,
        name=str(manifest.get("sweep") or store.root.name),
        params=list(manifest.get("params") or []),
        rows=rows,
        summary=summary(store),
        failed=failed,
        missing=missing,
        variant_runs=variant_runs,
    )


def _run_dir_of(root: Path, recorded: Any) -> Path | None:
    """The run directory of a row: as recorded, or under the sweep's runs/ (moved sweeps)."""
    if not recorded or not isinstance(recorded, str):
        return None
    for candidate in (Path(recorded), root / "runs" / Path(recorded).name):
        if is_run_dir(candidate):
            return candidate
    return None
