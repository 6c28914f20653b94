"""Routing in JAX: batched shortest paths, all-or-nothing loading, user-equilibrium assignment.

Pure JAX and numpy (no SUMO, no Ray), so it runs unchanged on a GPU machine that has
only those. ``commands`` holds the ``mobility assign`` command. Names are imported on
first use, so registering the command does not load JAX.
"""

from mobility.lazy import lazy_exports

_EXPORTS = {
    "ALGORITHMS": "equilibrium",
    "Equilibrium": "equilibrium",
    "LinkCosts": "cost",
    "PathFlows": "path_flows",
    "RoutingGraph": "graph",
    "TntpNetwork": "tntp",
    "Trees": "paths",
    "all_or_nothing": "loading",
    "beckmann": "cost",
    "from_tntp": "tntp",
    "generalized_cost": "cost",
    "load_trees": "loading",
    "path_equilibrium": "path_flows",
    "read_flows": "tntp",
    "routing_graph": "graph",
    "shortest_paths": "paths",
    "travel_time": "cost",
    "travel_time_table": "tables",
    "trees": "paths",
    "user_equilibrium": "equilibrium",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
