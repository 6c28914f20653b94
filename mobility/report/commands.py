"""The ``mobility report`` command: write the HTML report (and a GeoPackage) of a run or sweep."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def report(
    path: Annotated[
        Path, typer.Argument(help="run directory, folder of run directories, or sweep directory")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file (default: PATH/report.html)")
    ] = None,
    compare: Annotated[
        Path | None, typer.Option("--compare", help="a second run directory to compare with")
    ] = None,
    gpkg: Annotated[
        Path | None,
        typer.Option("--gpkg", help="also write edges with KPIs as this GeoPackage"),
    ] = None,
    no_open: Annotated[
        bool, typer.Option("--no-open", help="do not open the report in a browser")
    ] = False,
) -> None:
    """Write a self-contained HTML report with maps, plots and KPIs (opens offline)."""
    from mobility.report.build import build_report
    from mobility.report.edges import export_gpkg
    from mobility.report.load import SweepData, open_input

    written = build_report(path, out, compare=compare)
    size = written.stat().st_size / 1e6
    console.print(f"report: [bold]{written}[/] ({size:.1f} MB)")
    if gpkg is not None:
        data = open_input(path)
        if isinstance(data, SweepData):
            from mobility.report.load import load_run

            runs = next(iter(data.variant_runs.values()))
            data = load_run(runs[0])
        elif isinstance(data, list):
            data = data[0]
        layers = export_gpkg(data, gpkg)
        console.print(f"GeoPackage: [bold]{gpkg}[/] (layers {', '.join(layers)})")
    if not no_open:
        webbrowser.open(written.resolve().as_uri())
