"""Planner reports: one self-contained HTML file with maps, plots, KPIs and comparisons.

``build_report(path)`` takes a run directory, a folder of them or a sweep directory;
``export_gpkg(run, out)`` writes the edges with their KPIs as a GeoPackage. Names are
imported on first use (matplotlib and pandas load only when a report is made).
"""

from mobility.lazy import lazy_exports

_EXPORTS = {
    "ReportError": "load",
    "RunData": "load",
    "SweepData": "load",
    "build_report": "build",
    "edge_kpis": "edges",
    "export_gpkg": "edges",
    "load_run": "load",
    "open_input": "load",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
