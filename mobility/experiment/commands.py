"""CLI commands of the experiment layer: ``mobility sweep`` and ``mobility results``.

Registered on the main app in :mod:`mobility.cli`; Ray, DuckDB and pandas are imported
inside the commands so ``mobility --help`` stays fast.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mobility.config import ScenarioSpec

console = Console()

results_app = typer.Typer(help="Query and summarise the results of a sweep.", no_args_is_help=True)

SweepDirArg = Annotated[Path, typer.Argument(help="sweep directory written by `mobility sweep`")]


def sweep(
    spec: Annotated[Path, typer.Argument(help="sweep YAML file", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="sweep directory [default: results/<sweep name>]"),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="join a Ray cluster (`auto`, HOST:PORT); default: local Ray"),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="run only what is missing, failed or timed out")
    ] = False,
    num_cpus: Annotated[
        int | None, typer.Option(min=1, help="CPUs of the local Ray (default: all)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and list the runs, launch nothing")
    ] = False,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="do not write report.html into the sweep")
    ] = False,
) -> None:
    """Run a sweep of scenarios on Ray: one task per run, resumable, results queryable.

    Every variant is checked against its network first (signal ids, edges, stops): a bad
    one is refused with the others before Ray starts, instead of failing on the cluster.
    """
    from mobility.experiment.spec import check_variants, load_sweep
    from mobility.experiment.store import SweepStore

    plan = load_sweep(spec)
    target = out or Path("results") / plan.spec.name
    store = SweepStore(target)
    store.check_target()
    todo = [run for run in plan.runs if not (resume and store.finished(run.run_id))]
    check_variants(plan, todo)  # against the networks, before Ray or a plan search starts
    if dry_run:
        table = Table(title=f"{plan.spec.name}: {len(plan.runs)} runs")
        for column in ("run id", "variant", "seed"):
            table.add_column(column)
        for run in plan.runs:
            table.add_row(run.run_id[:12], run.variant, str(run.seed))
        console.print(table)
        return
    from mobility.experiment.sweep import ray_session, run_sweep
    from mobility.signals.optimize import needs_plan

    specs = [run.spec for run in todo]
    # one Ray for the plan search and the runs, started before the search starts JAX
    with ray_session(address, num_cpus) if any(map(needs_plan, specs)) else nullcontext():
        inputs = _signal_plans(specs, address=address, num_cpus=num_cpus)
        report = run_sweep(
            plan, target, address=address, resume=resume, num_cpus=num_cpus, inputs=inputs
        )
    console.print(
        f"{plan.spec.name}: {report.ok} ok, {len(report.failed)} failed, "
        f"{report.skipped} already done, of {report.planned} runs "
        f"in {report.elapsed_s:.1f} s"
    )
    console.print(f"sweep directory: [bold]{report.root}[/]")
    if not no_report and report.ok + report.skipped > 0:
        from mobility.report import build_report

        console.print(f"report: [bold]{build_report(report.root)}[/]")
    if report.failed:
        console.print(
            f"failed runs: `mobility results query {report.root} "
            "\"SELECT variant, seed, status, error FROM runs WHERE status != 'ok'\"`"
        )
        raise typer.Exit(1)


def _signal_plans(
    specs: list[ScenarioSpec], *, address: str | None, num_cpus: int | None
) -> dict[str, str]:
    """The plans the runs' ``optimized`` controllers read, searched first where missing
    (a run only reads its plan), as inputs that travel with the runs to every node."""
    from mobility.experiment.runner import cache_inputs
    from mobility.signals.optimize import ensure_plans

    def searching(run: ScenarioSpec) -> None:
        console.print(f"searching the `optimized` signal plan of {run.name} (seed {run.seed})")

    plans = ensure_plans(specs, address=address, num_cpus=num_cpus, on_search=searching)
    return cache_inputs(plans)


@results_app.command("summary")
def results_summary(
    sweep_dir: SweepDirArg,
    kpi: Annotated[
        list[str] | None, typer.Option("--kpi", "-k", help="KPIs to show (default: all)")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="also write the summary as CSV")] = None,
) -> None:
    """KPIs per variant over seeds: n, mean, standard deviation, 95% interval."""
    from mobility.experiment.store import SweepStore, summary

    frame = summary(SweepStore(sweep_dir), kpis=kpi)
    if csv is not None:
        frame.to_csv(csv, index=False)
    table = Table(title=f"{sweep_dir}: mean and 95% interval over seeds")
    for column in ("variant", "kpi", "n", "mean", "std", "95% interval"):
        left = column in ("variant", "kpi")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    for row in frame.itertuples():
        interval = "-" if math.isnan(row.std) else f"[{row.ci_low:,.2f}, {row.ci_high:,.2f}]"
        table.add_row(row.variant, row.kpi, str(row.n), _num(row.mean), _num(row.std), interval)
    console.print(table)


@results_app.command("query")
def results_query(
    sweep_dir: SweepDirArg,
    sql: Annotated[str, typer.Argument(help="SQL over the views runs, trips (requests)")],
    csv: Annotated[Path | None, typer.Option(help="write the result as CSV instead")] = None,
) -> None:
    """Run SQL (DuckDB) on a sweep: `runs` has one row per run, `trips` one per trip."""
    from mobility.experiment.store import SweepStore

    frame = SweepStore(sweep_dir).query(sql)
    if csv is not None:
        frame.to_csv(csv, index=False)
        console.print(f"{csv}: {len(frame)} rows")
        return
    table = Table()
    for column in frame.columns:
        table.add_column(str(column))
    for values in frame.itertuples(index=False):
        table.add_row(*(_num(v) for v in values))
    console.print(table)


def _num(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:,.2f}"
    return str(value)
