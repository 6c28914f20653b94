"""Experiments at scale: sweeps fanned out on Ray and a results store queryable with SQL.

:func:`run_specs` runs a list of scenarios through the same runner, for commands that check,
compare or search; :func:`mean_ci95` is the one confidence interval of the project.
Importing this package does not import Ray; :func:`run_sweep` and :func:`run_specs` do, when
called.
"""

from mobility.experiment.runner import RunsFailed, run_specs
from mobility.experiment.spec import PlannedRun, SweepPlan, SweepSpec, expand, load_sweep
from mobility.experiment.stats import mean_ci95
from mobility.experiment.store import SweepStore, summary
from mobility.experiment.sweep import ClusterError, SweepReport, ray_session, run_sweep

__all__ = [
    "ClusterError",
    "PlannedRun",
    "RunsFailed",
    "SweepPlan",
    "SweepReport",
    "SweepSpec",
    "SweepStore",
    "expand",
    "load_sweep",
    "mean_ci95",
    "ray_session",
    "run_specs",
    "run_sweep",
    "summary",
]
