"""The policy network shared by every light: a small MLP over one light's features
(:func:`mobility.core.learning_env.features`) giving phase logits (masked where the light
has no such phase) and a value. Plain JAX parameter pytrees (no network library is installed
in the project; the model is three dense layers)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]


def init_policy(key: jax.Array, features: int, phases: int, hidden: int = 64) -> Params:
    """Orthogonal weights, zero biases; the policy head starts near uniform (gain 0.01)."""
    k = jax.random.split(key, 4)
    ortho = jax.nn.initializers.orthogonal

    def dense(key: jax.Array, n_in: int, n_out: int, gain: float) -> jax.Array:
        return ortho(gain)(key, (n_in, n_out), jnp.float32)

    return {
        "w0": dense(k[0], features, hidden, 2**0.5),
        "b0": jnp.zeros(hidden),
        "w1": dense(k[1], hidden, hidden, 2**0.5),
        "b1": jnp.zeros(hidden),
        "pi_w": dense(k[2], hidden, phases, 0.01),
        "pi_b": jnp.zeros(phases),
        "v_w": dense(k[3], hidden, 1, 1.0),
        "v_b": jnp.zeros(1),
    }


def apply_policy(
    params: Params, feats: jax.Array, phase_mask: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(logits [..., P] with -inf-like values on missing phases, value [...]) per light."""
    h = jnp.tanh(feats @ params["w0"] + params["b0"])
    h = jnp.tanh(h @ params["w1"] + params["b1"])
    logits = h @ params["pi_w"] + params["pi_b"]
    logits = jnp.where(phase_mask > 0, logits, -1e9)
    return logits, (h @ params["v_w"] + params["v_b"])[..., 0]


def policy_input(
    lanes: int,
    phases: int,
    in_vehicles: jax.Array,
    in_halting: jax.Array,
    phase: jax.Array,
    phase_age: jax.Array,
    in_mask: jax.Array,
    lane_served: jax.Array,
    phase_mask: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """(features [T, F], phase mask [T, phases]) of the Observation layout padded to the
    policy's ``lanes`` lane slots and ``phases`` phases, so that one policy fits every light
    (and map) up to that size; the features are :func:`mobility.core.learning_env.features`,
    the one builder of the twin and SUMO sides."""
    from mobility.core.learning_env import features

    t_n = in_mask.shape[0]

    def pad(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        x = jnp.asarray(x, jnp.float32)
        return jnp.pad(x, [(0, s - n) for s, n in zip(shape, x.shape, strict=True)])

    feats = features(
        pad(in_vehicles, (t_n, lanes)),
        pad(in_halting, (t_n, lanes)),
        phase,
        phase_age,
        pad(in_mask, (t_n, lanes)),
        pad(lane_served, (t_n, phases, lanes)),
    )
    return feats, pad(phase_mask, (t_n, phases))
