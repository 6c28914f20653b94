"""mobility: smart-city mobility experiments on SUMO, JAX and Ray.

The public API::

    from mobility import Scenario, build_report, load_sweep, run_sweep
    result = Scenario.from_yaml("experiments/quickstart.yaml").run("results")
    result.kpis["travel_time_mean_s"], result.table("trips")
    build_report(result.run_dir)
    run_sweep(load_sweep("experiments/demand_levels_sweep.yaml"), "results/demand_levels")

Names are imported on first use: ``import mobility.core`` (the pure JAX core) must not pull
in SUMO, Ray or pandas, and the command line starts without loading what it does not run.
"""

from mobility.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "ClusterError": "experiment.sweep",
    "MobilityError": "errors",
    "NetworkError": "errors",
    "DemandError": "errors",
    "RunDirError": "errors",
    "SimulationError": "errors",
    "SpecError": "errors",
    "RunResult": "rundir",
    "Network": "network.net",
    "Scenario": "scenario",
    "ScenarioSpec": "config",
    "SweepPlan": "experiment.spec",
    "SweepReport": "experiment.sweep",
    "build_report": "report.build",
    "check_scenario": "scenario",
    "load_network": "network.net",
    "load_spec": "config",
    "load_sweep": "experiment.spec",
    "run_scenario": "scenario",
    "run_sweep": "experiment.sweep",
}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__ = lazy_exports(__name__, _EXPORTS)
