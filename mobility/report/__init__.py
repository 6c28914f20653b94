"""Planner reports: one self-contained HTML file with maps, plots, KPIs and comparisons.

``build_report(path)`` takes a run directory, a folder of them or a sweep directory;
``export_gpkg(run, out)`` writes the edges with their KPIs as a GeoPackage.
"""

from mobility.report.build import build_report
from mobility.report.edges import edge_kpis, export_gpkg
from mobility.report.load import ReportError, RunData, SweepData, load_run, open_input

__all__ = [
    "ReportError",
    "RunData",
    "SweepData",
    "build_report",
    "edge_kpis",
    "export_gpkg",
    "load_run",
    "open_input",
]
