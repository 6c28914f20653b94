"""Run a list of scenarios through the sweep runner: the batch behind commands that check,
compare or search (``mobility signals optimize``, ``compare``, ``check-model``).

A command that needs many SUMO runs builds their specs and hands them to :func:`run_specs`,
which runs them as Ray tasks with the same driver, worker and results store as ``mobility
sweep`` (a local Ray on loopback by default, a cluster with ``address``): runs go in
parallel, each in its own run directory, and the folder can be queried with ``mobility
results``. No run ever starts another run: the command is the driver.

A run is known by its spec's content hash, so a spec run before into the same folder is not
run again: its stored row is returned (a re-run of a command only runs what is new).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mobility.cache import cache_root
from mobility.config import ScenarioSpec
from mobility.errors import MobilityError
from mobility.experiment.spec import PlannedRun, SweepSpec
from mobility.experiment.store import SweepStore
from mobility.experiment.sweep import STALE_WAIT_S, SweepReport, drive, ray_session

# Called as each result arrives: (index of the spec in the list, its result row).
OnRow = Callable[[int, dict[str, Any]], None]
MAX_LISTED = 3  # failed runs named in the error


class RunsFailed(MobilityError):
    """Some runs of a batch failed; their errors and logs are in its folder."""


def run_specs(
    specs: Sequence[ScenarioSpec],
    out: Path | str,
    *,
    variants: Sequence[str] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    inputs: Mapping[str, str] | None = None,
    name: str = "runs",
    timeout_s: float | None = None,
    progress: bool = False,
    on_result: OnRow | None = None,
    check: bool = True,
) -> list[dict[str, Any]]:
    """Run ``specs`` on Ray into the results store ``out``; one row per spec, in order.

    A row holds ``status``, ``run_dir``, ``duration_s`` and the KPIs as ``kpi_<name>``.
    ``variants`` label the runs in the store (default: the spec's name); ``inputs`` are
    files the runs read that a node may lack (path -> text, see
    :func:`~mobility.experiment.worker.provide_inputs`). With ``check``, a failed run
    raises :class:`RunsFailed` once all have finished (the others stay stored).
    """
    if not specs:
        return []
    labels = list(variants) if variants is not None else [s.name for s in specs]
    runs = [
        PlannedRun(s.content_hash(), label, {}, s.seed, s)
        for s, label in zip(specs, labels, strict=True)
    ]
    unique = list({run.run_id: run for run in runs}.values())
    store = SweepStore(out)
    store.remove_stale()  # what a killed earlier batch left in the folder
    sweep = _sweep_spec(name, runs[0].spec, timeout_s)
    _record(store, sweep, unique)
    todo = [run for run in unique if not store.finished(run.run_id)]
    positions: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        positions.setdefault(run.run_id, []).append(i)

    def arrived(run: PlannedRun, row: dict[str, Any], *_: Any) -> None:
        for i in positions[run.run_id] if on_result is not None else ():
            on_result(i, row)

    running = {run.run_id for run in todo}
    for run in unique:  # run before into this folder: reported first, as they are
        if run.run_id not in running:
            arrived(run, store.row(run.run_id) or _missing(run))
    if todo:
        report = SweepReport(store.root, planned=len(unique), skipped=len(unique) - len(todo))
        try:
            with ray_session(address, num_cpus):
                drive(sweep, todo, store, report, None, progress, arrived, dict(inputs or {}), name)
        except BaseException:  # interrupted: the cancelled runs' folders go with them
            store.remove_stale(wait_s=STALE_WAIT_S)
            raise
    rows = [store.row(run.run_id) or _missing(run) for run in runs]
    if check:
        _raise_failed(store, unique, {run.run_id: row for run, row in zip(runs, rows, strict=True)})
    return rows


def cache_inputs(paths: Sequence[Path]) -> dict[str, str]:
    """``inputs`` for files in this machine's cache: named relative to the cache, so that
    each node writes them into its own cache, where its runs look them up."""
    root = cache_root().resolve()
    return {str(Path(p).resolve().relative_to(root)): Path(p).read_text() for p in paths}


def file_inputs(paths: Sequence[Path]) -> dict[str, str]:
    """``inputs`` for files the runs' specs name by absolute path (plan files)."""
    return {str(Path(p).resolve()): Path(p).read_text() for p in paths}


def _sweep_spec(name: str, first: ScenarioSpec, timeout_s: float | None) -> SweepSpec:
    """The sweep settings of a batch: one CPU per run, the sweep's retries."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip("_.-")[:80] or "runs"
    return SweepSpec(
        name=safe, base=first.model_dump(mode="json"), seeds=[first.seed], timeout_s=timeout_s
    )


def _record(store: SweepStore, sweep: SweepSpec, runs: list[PlannedRun]) -> None:
    """Add the runs to the folder's manifest (a folder collects the batches run into it)."""
    try:
        earlier = store.manifest().get("runs", [])
    except MobilityError:
        earlier = []
    listed = {entry["run_id"]: entry for entry in earlier}
    listed.update({run.run_id: run.manifest_entry() for run in runs})
    note = f"# runs of `{sweep.name}` started by a command (listed in manifest.json); "
    note += "not a sweep file to load\n"
    text = note + yaml.safe_dump(sweep.model_dump(mode="json"), sort_keys=False)
    manifest = {"sweep": sweep.name, "source": "", "params": [], "runs": list(listed.values())}
    store.write_plan(text, manifest)


def _missing(run: PlannedRun) -> dict[str, Any]:
    """The row of a run that left none (the batch was interrupted)."""
    return {"run_id": run.run_id, "status": "missing", "error": "the run did not finish"}


def _raise_failed(
    store: SweepStore, runs: list[PlannedRun], rows: dict[str, dict[str, Any]]
) -> None:
    failed = [run for run in runs if rows[run.run_id].get("status") != "ok"]
    if not failed:
        return
    listed = [
        f"{run.variant} (seed {run.seed}): {rows[run.run_id].get('error') or 'failed'}"
        for run in failed[:MAX_LISTED]
    ]
    more = len(failed) - len(listed)
    tail = [f"... and {more} more"] if more else []
    head = f"{len(failed)} of {len(runs)} runs failed (logs: {store.logs_dir})"
    raise RunsFailed("\n".join([head, *listed, *tail]))
