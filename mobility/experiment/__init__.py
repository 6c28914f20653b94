"""Experiments at scale: sweeps fanned out on Ray and a results store queryable with SQL.

Importing this package does not import Ray; :func:`run_sweep` does, when called.
"""

from mobility.experiment.spec import PlannedRun, SweepPlan, SweepSpec, expand, load_sweep
from mobility.experiment.store import SweepStore, summary
from mobility.experiment.sweep import ClusterError, SweepReport, run_sweep

__all__ = [
    "ClusterError",
    "PlannedRun",
    "SweepPlan",
    "SweepReport",
    "SweepSpec",
    "SweepStore",
    "expand",
    "load_sweep",
    "run_sweep",
    "summary",
]
