"""``mobility shuttles ...``: fleet sizing for a service target."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

shuttles_app = typer.Typer(help="Shuttle fleets: size a fleet for a target.", no_args_is_help=True)


@shuttles_app.command("size")
def size_command(
    spec: Annotated[Path, typer.Argument(help="scenario YAML with an on-demand fleet")],
    target: Annotated[
        str, typer.Option(help='e.g. "served>=0.95,wait_p95<=600" (seed means)')
    ] = "served>=0.95,wait_p95<=600",
    fleet: Annotated[str | None, typer.Option(help="fleet to size; default the first")] = None,
    low: Annotated[int, typer.Option("--min", help="smallest fleet size tried")] = 1,
    high: Annotated[int, typer.Option("--max", help="largest fleet size tried")] = 200,
    seeds: Annotated[int, typer.Option(help="seeds per size (spec seed, +1, ...)")] = 3,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for runs and result")] = Path(
        "results/sizing"
    ),
    address: Annotated[
        str | None,
        typer.Option(help="run on a Ray cluster (`auto`, HOST:PORT); default: a local Ray"),
    ] = None,
) -> None:
    """Bisect the fleet size: the smallest fleet whose seed means meet every condition of
    the target, with 95% intervals over seeds for every size tried."""
    from rich.console import Console
    from rich.table import Table

    from mobility.config import load_spec
    from mobility.shuttles.sizing import parse_target, size_fleet

    console = Console()
    conditions = parse_target(target)
    scenario = load_spec(spec)

    def shown(stats: dict, kpi: str) -> str:
        mean, half = stats.get(kpi, (math.nan, math.nan))
        return f"{mean:,.3g}" + ("" if math.isnan(half) else f" ± {half:,.2g}")

    def done(size: int, stats: dict, ok: bool) -> None:
        parts = ", ".join(f"{c.kpi} {shown(stats, c.kpi)}" for c in conditions)
        console.print(f"{size} shuttles: {parts} -> {'meets' if ok else 'misses'}")

    out.mkdir(parents=True, exist_ok=True)
    result = size_fleet(
        scenario,
        conditions,
        out,
        fleet=fleet,
        low=low,
        high=high,
        seeds=seeds,
        address=address,
        on_size=done,
    )
    table = Table(title=f"{scenario.name}: fleet {result.fleet!r}, {seeds} seed(s), mean ± 95%")
    table.add_column("shuttles", justify="right")
    for c in conditions:
        table.add_column(str(c), justify="right")
    table.add_column("meets")
    for size in sorted(result.evaluated):
        stats = result.evaluated[size]
        table.add_row(
            str(size), *[shown(stats, c.kpi) for c in conditions], str(result.meets[size])
        )
    console.print(table)
    record = {
        "fleet": result.fleet,
        "target": [str(c) for c in conditions],
        "seeds": result.seeds,
        "smallest": result.smallest,
        "sizes": {
            str(size): {"meets": result.meets[size], "kpis": result.evaluated[size]}
            for size in sorted(result.evaluated)
        },
    }
    (out / "sizing.json").write_text(json.dumps(record, indent=2, allow_nan=True) + "\n")
    if result.smallest is None:
        console.print(f"even {high} shuttles miss the target; raise --max or relax --target")
        raise typer.Exit(1)
    console.print(f"smallest fleet meeting {target!r}: [bold]{result.smallest}[/] shuttles")
