"""``mobility signals ...``: compare controllers, search plans, import RESCO-format scenarios."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

AddressOption = Annotated[
    str | None,
    typer.Option(help="run on a Ray cluster (`auto`, HOST:PORT); default: a local Ray"),
]

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
    address: AddressOption = None,
) -> None:
    """Run the scenario under each controller and seed (in parallel, on Ray); print and save
    a comparison table."""
    from rich.console import Console
    from rich.table import Table

    from mobility.signals.compare import compare, load_any, metrics_for

    console = Console()
    scenario = load_any(spec)
    names = [c.strip() for c in controllers.split(",") if c.strip()]

    def done(controller: str, seed: int, row: dict) -> None:
        console.print(
            f"{controller} seed {seed}: delay {row['resco_delay_s']:.1f} s "
            f"({row['wall_s']:.1f} s wall)"
        )

    out.mkdir(parents=True, exist_ok=True)
    runs, summary = compare(scenario, names, seeds, out, on_run=done, address=address)
    table = Table(title=f"{scenario.name}: mean ± 95% interval over {seeds} seed(s)")
    table.add_column("controller")
    metrics = metrics_for(scenario)
    for label in metrics.values():
        table.add_column(label, justify="right")
    for _, row in summary.iterrows():
        cells = []
        for metric in metrics:
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
    address: AddressOption = None,
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

    table, rho = check_model(scenario, out, plans=plans, on_plan=done, address=address)
    target = out / f"{scenario.name}-check-model.parquet"
    table.to_parquet(target, index=False)
    twin = table.attrs["twin"]
    console.print(
        "twin: "
        + (
            "the constants (no fit: `mobility signals calibrate SPEC`)"
            if twin == "constants"
            else f"calibrated ({twin})"
        )
    )
    console.print(
        f"{scenario.name}: Spearman {rho:.3f}, mean |model - SUMO| / SUMO delay "
        f"{table.attrs['delay_error']:.1%} over {plans} plans "
        f"(model: all {plans} plans in {table.attrs['model_s']:.2f} s); table: {target}"
    )


@signals_app.command("calibrate")
def calibrate_command(
    spec: Annotated[
        Path, typer.Argument(help="scenario YAML, or a RESCO-format folder / .sumocfg")
    ],
    plans: Annotated[
        int, typer.Option(min=1, help="SUMO runs to fit: the net's own plan, then random ones")
    ] = 8,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="folder for the SUMO runs and the report")
    ] = Path("results/calibration"),
    address: AddressOption = None,
    refit: Annotated[bool, typer.Option(help="fit again even if a fit is cached")] = False,
) -> None:
    """Fit the JAX twin to SUMO runs of the scenario (the net's plan and random plans, on
    seeds no evaluated run uses) and cache the fit: `check-model`, `optimize` and
    `model_predictive` then use it."""
    import json

    from rich.console import Console

    from mobility.signals.calibrate import ensure_calibration, report_lines
    from mobility.signals.compare import load_any

    console = Console()
    scenario = load_any(spec)
    found = ensure_calibration(
        scenario, plans=plans, out=out, address=address, progress=console.print, refit=refit
    )
    report = json.loads(found.read_text())["report"]
    for line in report_lines(report):
        console.print(line)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{scenario.name}-calibration.json"
    target.write_text(json.dumps(report, indent=1))
    console.print(f"report: {target}\ncached fit: {found}")


@signals_app.command("optimize")
def optimize_command(
    spec: Annotated[
        Path, typer.Argument(help="scenario YAML, or a RESCO-format folder / .sumocfg")
    ],
    plan: Annotated[
        Path | None, typer.Option("--plan", "-o", help="also write the plan JSON here")
    ] = None,
    address: AddressOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="folder for the SUMO checks [default: next to the plan in the cache]"),
    ] = None,
) -> None:
    """Search a fixed-time plan on the JAX model, check the best in SUMO (in parallel, on
    Ray), and cache it: later runs of the scenario under `optimized` deploy it."""
    import json

    from rich.console import Console

    from mobility.signals.compare import load_any
    from mobility.signals.optimize import ensure_plan

    console = Console()
    scenario = load_any(spec)
    found = ensure_plan(scenario, address=address, out=out, progress=True)
    document = json.loads(found.read_text())
    for line in plan_lines(document.get("info") or {}):
        console.print(line)
    if plan is not None:
        plan.parent.mkdir(parents=True, exist_ok=True)
        plan.write_text(found.read_text())
        console.print(f"plan: [bold]{plan}[/]")
    console.print(f"cached plan: {found}")


def plan_lines(info: dict) -> list[str]:
    """How a plan was found, a line per candidate checked in SUMO (and which won)."""
    lines = []
    for n, c in enumerate(info.get("candidates", [])):
        sumo = ", ".join(f"{d:.1f}" for d in c["sumo_delay_s"]) or "-"
        mark = "  <- chosen" if n == info.get("chosen") else ""
        lines.append(
            f"candidate {n} ({c['start']}, {c['adam_steps']} steps): model "
            f"{c['model_delay_s']:.1f} s, SUMO {sumo} s{mark}"
        )
    for name, delays in (info.get("references") or {}).items():
        sumo = ", ".join(f"{d:.1f}" for d in delays)
        lines.append(f"reference {name}: SUMO {sumo} s")
    if info.get("deployed") in ("static", "webster"):
        lines.append(
            f"no searched plan beat the reference {info['deployed']!r} on the check seeds: "
            "the plan deploys it"
        )
    if "optimise_s" in info:
        lines.append(f"search {info['optimise_s']:.1f} s, SUMO checks {info['verify_s']:.1f} s")
    return lines
