"""Routing in JAX: batched shortest paths, all-or-nothing loading, user-equilibrium assignment.

Part of the pure core: jax and numpy only (no SUMO, no Ray, no files). Names are imported on
first use, so importing the package does not load JAX.
"""

from mobility.lazy import lazy_exports

_EXPORTS = {
    "ALGORITHMS": "equilibrium",
    "Equilibrium": "equilibrium",
    "LinkCosts": "cost",
    "PathEquilibrium": "path_gradient",
    "PathFlows": "path_flows",
    "RoutingGraph": "graph",
    "Trees": "paths",
    "all_or_nothing": "loading",
    "beckmann": "cost",
    "generalized_cost": "cost",
    "gradient_projection": "path_gradient",
    "load_trees": "loading",
    "path_equilibrium": "path_flows",
    "routing_graph": "graph",
    "shortest_paths": "paths",
    "travel_time": "cost",
    "travel_time_table": "tables",
    "trees": "paths",
    "user_equilibrium": "equilibrium",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
