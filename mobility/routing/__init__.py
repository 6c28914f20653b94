"""Routing in JAX: batched shortest paths, all-or-nothing loading, user-equilibrium assignment.

Pure JAX and numpy (no SUMO, no Ray), so it runs unchanged on a GPU machine that has
only those. ``commands`` holds the ``mobility assign`` command.
"""

from mobility.routing.cost import LinkCosts, beckmann, generalized_cost, travel_time
from mobility.routing.equilibrium import ALGORITHMS, Equilibrium, user_equilibrium
from mobility.routing.graph import RoutingGraph, routing_graph
from mobility.routing.loading import all_or_nothing, load_trees
from mobility.routing.paths import Trees, shortest_paths, trees
from mobility.routing.tntp import TntpNetwork, from_tntp, read_flows

__all__ = [
    "ALGORITHMS",
    "Equilibrium",
    "LinkCosts",
    "RoutingGraph",
    "TntpNetwork",
    "Trees",
    "all_or_nothing",
    "beckmann",
    "from_tntp",
    "generalized_cost",
    "load_trees",
    "read_flows",
    "routing_graph",
    "shortest_paths",
    "travel_time",
    "trees",
    "user_equilibrium",
]
