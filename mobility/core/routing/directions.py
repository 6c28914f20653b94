"""Conjugate and bi-conjugate Frank-Wolfe directions, shared by every assignment loop.

The compiled JAX loop (:mod:`~mobility.core.routing.equilibrium`), the numpy loop of the CPU
backend (:mod:`~mobility.core.routing.host_loop`) and the path-flow assignment combine their
targets with these weights; the formulas take JAX or numpy arrays alike.
"""

from __future__ import annotations

import jax

from mobility.core.routing.cost import LinkCosts, array_module, cost_derivative

_MAX_CONJUGATE = 0.99999  # CFW weight cap: at 1 the target would stop moving


def target_weights(
    costs: LinkCosts, x: jax.Array, y: jax.Array, s1: jax.Array, s2: jax.Array, tau: jax.Array
) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """Weights of ``(y, s1, s2)`` in the conjugate and bi-conjugate targets.

    Mitradjieva and Lindberg (2013): ``y`` is the new all-or-nothing load, ``s1``/``s2`` the
    last two targets, ``tau`` the last step. Shared with the path-flow assignment, whose
    path weights follow the same combinations.
    """
    xp = array_module(x, y)
    h = cost_derivative(costs, x)  # diagonal Hessian of the objective at x

    def ratio(num: jax.Array, den: jax.Array) -> jax.Array:
        return xp.where(den != 0, num / xp.where(den != 0, den, 1.0), 0.0)

    # CFW: s = a s1 + (1 - a) y with (s - x)ᵀH(s1 - x) = 0
    p, q = s1 - x, y - x
    a = xp.clip(ratio(xp.sum(h * p * q), xp.sum(h * p * (q - p))), 0.0, _MAX_CONJUGATE)
    # BFW: s = b0 y + b1 s1 + b2 s2, conjugate to the last two directions
    previous = tau * s1 + (1.0 - tau) * s2 - x
    mu = xp.maximum(0.0, -ratio(xp.sum(h * previous * q), xp.sum(h * previous * (s2 - s1))))
    keep = xp.where(tau < 1.0, tau / xp.where(tau < 1.0, 1.0 - tau, 1.0), 0.0)
    nu = xp.maximum(0.0, -ratio(xp.sum(h * p * q), xp.sum(h * p * p)) + mu * keep)
    b0 = 1.0 / (1.0 + mu + nu)
    return (1.0 - a, a, xp.zeros_like(a)), (b0, nu * b0, mu * b0)
