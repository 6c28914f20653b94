"""``mobility signals ...``: compare controllers, import RESCO-format scenarios."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

signals_app = typer.Typer(help="Traffic-signal control: compare controllers.", no_args_is_help=True)


@signals_app.command("compare")
def compare_command(
    spec: Annotated[
        Path, typer.Argument(help="scenario YAML, or a RESCO-format folder / .sumocfg")
    ],
    controllers: Annotated[
        str, typer.Option(help="comma-separated controller names")
    ] = "static,webster,actuated,max_pressure",
    seeds: Annotated[int, typer.Option(help="seeds per controller (spec seed, +1, ...)")] = 5,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for runs and table")] = Path(
        "results/signals"
    ),
) -> None:
    """Run the scenario under each controller and seed; print and save a comparison table."""
    from rich.console import Console
    from rich.table import Table

    from mobility.signals.compare import METRICS, compare, load_any

    console = Console()
    scenario = load_any(spec)
    names = [c.strip() for c in controllers.split(",") if c.strip()]

    def done(controller: str, seed: int, row: dict) -> None:
        console.print(
            f"{controller} seed {seed}: delay {row['resco_delay_s']:.1f} s "
            f"({row['wall_s']:.1f} s wall)"
        )

    out.mkdir(parents=True, exist_ok=True)
    runs, summary = compare(scenario, names, seeds, out, on_run=done)
    table = Table(title=f"{scenario.name}: mean ± 95% interval over {seeds} seed(s)")
    table.add_column("controller")
    for label in METRICS.values():
        table.add_column(label, justify="right")
    for _, row in summary.iterrows():
        cells = []
        for metric in METRICS:
            mean, half = row[metric], row[f"{metric}_ci95"]
            cells.append(f"{mean:,.1f}" + ("" if math.isnan(half) else f" ± {half:,.1f}"))
        table.add_row(row["controller"], *cells)
    console.print(table)
    target = out / f"{scenario.name}-compare.parquet"
    summary.to_parquet(target, index=False)
    runs.to_parquet(out / f"{scenario.name}-runs.parquet", index=False)
    console.print(f"table: [bold]{target}[/]")


@signals_app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(help="RESCO-format folder or its .sumocfg")],
    out: Annotated[Path, typer.Option("--out", "-o", help="scenario YAML to write")] = Path(
        "scenario.yaml"
    ),
    decision_interval: Annotated[float, typer.Option(help="s between decisions")] = 10.0,
    yellow: Annotated[float, typer.Option(help="s of yellow")] = 3.0,
) -> None:
    """Write a scenario YAML for a RESCO-format scenario (net, routes, window of its cfg)."""
    import yaml

    from mobility.signals.resco import spec_from_sumocfg

    data = spec_from_sumocfg(
        source,
        decision_interval=decision_interval,
        yellow=yellow,
        relative_to=out.resolve().parent,
    )
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    typer.echo(f"{out}: {data['name']} ({data['begin']:g}-{data['end']:g} s)")


@signals_app.command("check-model")
def check_model_command(
    spec: Annotated[
        Path, typer.Argument(help="scenario YAML, or a RESCO-format folder / .sumocfg")
    ],
    plans: Annotated[int, typer.Option(help="random fixed-time plans to run")] = 10,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for runs and table")] = Path(
        "results/check-model"
    ),
) -> None:
    """Run random plans in SUMO and in the JAX model; print the Spearman rank correlation."""
    from rich.console import Console

    from mobility.signals.check_model import check_model
    from mobility.signals.compare import load_any

    console = Console()
    scenario = load_any(spec)

    def done(i: int, row: dict) -> None:
        console.print(
            f"plan {i}: SUMO {row['sumo_delay_s']:.1f} s, model {row['model_delay_s']:.1f} s "
            f"({row['sumo_wall_s']:.1f} s wall)"
        )

    table, rho = check_model(scenario, out, plans=plans, on_plan=done)
    target = out / f"{scenario.name}-check-model.parquet"
    table.to_parquet(target, index=False)
    console.print(
        f"{scenario.name}: Spearman {rho:.3f} over {plans} plans "
        f"(model: all {plans} plans in {table.attrs['model_s']:.2f} s); table: {target}"
    )
