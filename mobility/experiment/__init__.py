"""Experiments at scale: sweeps fanned out on Ray and a results store queryable with SQL.

:func:`run_specs` runs a list of scenarios through the same runner, for commands that check,
compare or search; :func:`mean_ci95` is the one confidence interval of the project.
Names are imported on first use: the command line registers ``mobility sweep`` without
loading Ray, pyarrow or DuckDB.
"""

from mobility.lazy import lazy_exports

_EXPORTS = {
    "ClusterError": "sweep",
    "PlannedRun": "spec",
    "RunsFailed": "runner",
    "SweepPlan": "spec",
    "SweepReport": "sweep",
    "SweepSpec": "spec",
    "SweepStore": "store",
    "expand": "spec",
    "load_sweep": "spec",
    "mean_ci95": "stats",
    "ray_session": "sweep",
    "run_specs": "runner",
    "run_sweep": "sweep",
    "summary": "store",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
