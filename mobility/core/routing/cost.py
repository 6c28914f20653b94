"""Link costs of the BPR volume-delay function, and the Beckmann objective they integrate to.

Generalized cost = BPR travel time + ``toll_factor * toll + distance_factor * length``
(TNTP's convention; Chicago Sketch uses 0.02 min/cent and 0.04 min/mile). The fixed part
does not depend on flow, so it moves paths but not the curvature of the objective.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinkCosts:
    """Per-link BPR parameters and fixed generalized cost."""

    free_flow_time: jax.Array  # [E] float
    capacity: jax.Array  # [E] float, > 0
    alpha: jax.Array  # [E] float
    power: jax.Array  # [E] float
    fixed: jax.Array  # [E] float: toll_factor * toll + distance_factor * length


def travel_time(costs: LinkCosts, flow: jax.Array | np.ndarray) -> jax.Array | np.ndarray:
    """BPR travel time ``(E,)``: ``fft * (1 + alpha * (flow / capacity) ** power)``."""
    return costs.free_flow_time * (1.0 + costs.alpha * (flow / costs.capacity) ** costs.power)


def generalized_cost(costs: LinkCosts, flow: jax.Array) -> jax.Array:
    """What a traveller minimises on each link ``(E,)``: travel time plus the fixed part."""
    return travel_time(costs, flow) + costs.fixed


def array_module(*arrays: jax.Array | np.ndarray):  # -> module
    """``jax.numpy`` for JAX arrays and tracers, ``numpy`` for host arrays: the host solver
    loop (:mod:`~mobility.core.routing.host_loop`) shares these formulas without JAX."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def cost_derivative(costs: LinkCosts, flow: jax.Array) -> jax.Array:
    """d(travel time)/d(flow) ``(E,)``: the diagonal Hessian of the Beckmann objective."""
    xp = array_module(flow, costs.power)
    ratio = flow / costs.capacity
    # ratio ** (power - 1) is 0 ** negative at zero flow when power < 1: take the limit 0
    slope = xp.where(ratio > 0, ratio ** (costs.power - 1.0), xp.where(costs.power == 1, 1, 0))
    return costs.free_flow_time * costs.alpha * costs.power / costs.capacity * slope


def beckmann(costs: LinkCosts, flow: jax.Array | np.ndarray) -> jax.Array | np.ndarray:
    """The Beckmann objective: the sum over links of the integral of their cost up to ``flow``.

    User equilibrium minimises it; its optimum is what TNTP publishes as the best-known value.
    """
    ratio = flow / costs.capacity
    integral = costs.free_flow_time * (
        flow + costs.alpha * costs.capacity * ratio ** (costs.power + 1.0) / (costs.power + 1.0)
    )
    return (integral + costs.fixed * flow).sum()  # numpy or JAX arrays alike
