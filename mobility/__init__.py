"""mobility: smart-city mobility experiments on SUMO, JAX and Ray.

The public API::

    from mobility import Scenario
    result = Scenario.from_yaml("experiments/quickstart.yaml").run("results")
    result.kpis["travel_time_mean_s"], result.table("trips")
"""

__version__ = "0.1.0"

from mobility.config import ScenarioSpec, load_spec
from mobility.errors import MobilityError
from mobility.rundir import RunResult
from mobility.scenario import Scenario, run_scenario

__all__ = [
    "MobilityError",
    "RunResult",
    "Scenario",
    "ScenarioSpec",
    "__version__",
    "load_spec",
    "run_scenario",
]
