"""The ``mobility`` command: parses arguments, calls the API, prints.

User errors (:class:`MobilityError`) are printed without a traceback and exit with status
2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mobility.errors import MobilityError
from mobility.experiment.commands import results_app, sweep
from mobility.report.commands import report
from mobility.routing.commands import assign
from mobility.shuttles.commands import shuttles_app
from mobility.signals.commands import signals_app

app = typer.Typer(
    help="Smart-city mobility experiments: SUMO runs, JAX network models, Ray sweeps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
net_app = typer.Typer(help="Build, inspect and export road networks.", no_args_is_help=True)
app.add_typer(net_app, name="net")

app.command("sweep")(sweep)
app.add_typer(results_app, name="results")
app.add_typer(signals_app, name="signals")
app.command("report")(report)
app.command("assign")(assign)
app.add_typer(shuttles_app, name="shuttles")

console = Console()
errors = Console(stderr=True)

SpecArg = Annotated[Path, typer.Argument(help="scenario YAML file", show_default=False)]


@app.command()
def run(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for run directories")] = Path(
        "results"
    ),
    gui: Annotated[bool, typer.Option("--gui", help="watch the run in sumo-gui (traci)")] = False,
    backend: Annotated[str, typer.Option(help="libsumo (fast, in-process) or traci")] = "libsumo",
    no_report: Annotated[
        bool, typer.Option("--no-report", help="do not write report.html into the run")
    ] = False,
) -> None:
    """Run one scenario in SUMO and write its run directory with tables and KPIs."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from mobility.scenario import Scenario

    if backend not in ("libsumo", "traci"):
        raise MobilityError(f"--backend {backend!r}: use libsumo or traci")
    scenario = Scenario.from_yaml(spec)
    s = scenario.spec
    if s.signals.controller == "optimized":  # a run only reads its plan: search it if missing
        from mobility.signals.optimize import ensure_plans

        ensure_plans([s], on_search=lambda _: console.print(f"{spec}: searching the signal plan"))
    with Progress(
        TextColumn(f"[bold]{s.name}[/]"),
        BarColumn(),
        TextColumn("{task.fields[clock]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("run", total=s.end - s.begin, clock="building")

        def advance(now: float) -> None:
            bar.update(task, completed=now - s.begin, clock=f"t={now:,.0f} s")

        result = scenario.run(out, gui=gui, backend=backend, progress=advance)
    print_kpis(result.kpis, title=f"{s.name}: {s.description or 'KPIs'}")
    console.print(f"run directory: [bold]{result.run_dir}[/]")
    if not no_report:
        from mobility.report import build_report

        console.print(f"report: [bold]{build_report(result.run_dir)}[/]")


@app.command()
def validate(
    specs: Annotated[list[Path], typer.Argument(help="scenario or sweep YAML files")],
) -> None:
    """Check scenario and sweep files against their networks without running them.

    A sweep file is checked variant by variant. Every file is checked; the exit status is 2
    when any of them fails.
    """
    failed = 0
    for path in specs:
        try:
            console.print(f"[green]ok[/] {path}: {_validate_one(path)}")
        except MobilityError as exc:
            failed += 1
            errors.print(Text(f"error: {exc}"))
    if failed:
        raise typer.Exit(2)


def _validate_one(path: Path) -> str:
    """What ``path`` holds, once every scenario in it passed :func:`check_scenario`."""
    from mobility.config import load_yaml
    from mobility.scenario import Scenario

    data = load_yaml(path)
    if not (isinstance(data, dict) and "base" in data):
        scenario = Scenario.from_yaml(path)
        scenario.check()
        s = scenario.spec
        return (
            f"{s.name} ({s.network.type} network, {s.demand.type} demand, "
            f"{s.signals.controller} signals, {s.end - s.begin:g} s)"
        )
    from mobility.experiment.spec import check_variants, load_sweep

    plan = load_sweep(path)
    checked = check_variants(plan)
    return f"sweep {plan.spec.name}: {checked} variant(s), {len(plan.runs)} run(s)"


def _net_path(spec_or_net: Path) -> Path:
    """A network path from a scenario YAML (built if needed) or a .net.xml given directly."""
    from mobility.network.build import build_network

    if spec_or_net.suffix.lower() in (".yaml", ".yml"):
        from mobility.config import load_spec

        return build_network(load_spec(spec_or_net).network)
    if not spec_or_net.is_file():
        raise MobilityError(f"{spec_or_net}: file not found; give a scenario YAML or a .net.xml")
    return spec_or_net


NetArg = Annotated[Path, typer.Argument(help="scenario YAML or SUMO .net.xml")]


@net_app.command("build")
def net_build(spec_or_net: NetArg) -> None:
    """Build the network of a scenario (cached) and print where it is."""
    console.print(str(_net_path(spec_or_net)))


@net_app.command("info")
def net_info(spec_or_net: NetArg) -> None:
    """Print the size of a network: junctions, edges, lanes, km of road, signals."""
    from mobility.network.net import load_network

    info = load_network(_net_path(spec_or_net)).info()
    table = Table(show_header=False)
    for key, value in info.items():
        table.add_row(key, str(value))
    console.print(table)


@net_app.command("export")
def net_export(
    spec_or_net: NetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="GeoPackage to write")] = Path(
        "network.gpkg"
    ),
) -> None:
    """Write the network's edges and junctions as a GeoPackage (net CRS and WGS84)."""
    from mobility.network.geo import export_geopackage

    layers = export_geopackage(_net_path(spec_or_net), out)
    console.print(f"{out}: layers {', '.join(layers)}")


def print_kpis(kpis: dict[str, float], *, title: str) -> None:
    """The KPI table a planner reads after a run."""
    table = Table(title=title)
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for key, value in kpis.items():
        text = (
            "-" if value is None else f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        )
        table.add_row(key, text)
    console.print(table)


@signals_app.command("train")
def train_command(
    spec: Annotated[
        Path, typer.Argument(help="scenario YAML, or a RESCO-format folder / .sumocfg")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="policy folder")] = Path("policy"),
    updates: Annotated[int, typer.Option(min=1, help="PPO updates in all")] = 200,
    envs: Annotated[int, typer.Option(min=1, help="twin episodes per update")] = 16,
    seed: Annotated[int, typer.Option(help="of the training (not of any SUMO run)")] = 0,
    reward: Annotated[str, typer.Option(help="queue or delay")] = "queue",
    resume: Annotated[bool, typer.Option(help="go on from the folder's checkpoint")] = True,
) -> None:
    """Train a signal policy with PPO in the scenario's JAX twin (one policy shared by every
    light); deploy it with `signals: {controller: policy, params: {path: OUT}}`."""
    from rich.progress import Progress

    from mobility.errors import SpecError
    from mobility.learn.train import train
    from mobility.signals.compare import load_any

    if reward not in ("queue", "delay"):
        raise SpecError(f"option `--reward`: {reward!r} is not queue or delay; pick one")
    scenario = load_any(spec)
    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task("training", total=updates)

        def show(done: int, row: dict[str, float]) -> None:
            bar.update(task, completed=done, description=f"reward {row['reward']:.3f}")

        meta = train(
            scenario, out, updates=updates, envs=envs, seed=seed, reward=reward,
            resume=resume, progress=show,
        )  # fmt: skip
    Console().print(f"policy: {out} ({meta['update']} updates); metrics: {out}/metrics.jsonl")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler, ``kill``, a container stopping) stops like Ctrl-C: the same
    clean-up runs and nothing half-written is kept."""
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except MobilityError as exc:
        errors.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C (and so SIGTERM) into a silent exit 130
            _interrupted()
        raise


def _interrupted() -> None:
    errors.print("interrupted: nothing half-written was kept (run it again to redo it)")
    sys.exit(130)


if __name__ == "__main__":
    main()
