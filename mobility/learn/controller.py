"""The ``policy`` phase controller: a policy trained in the twin (``mobility signals train``)
choosing the next green of every light in SUMO, through the same engine interface and the
same observation builder (:func:`mobility.core.learning_env.features`) as in training.

A policy is shared by every light; it fits any light with at most as many incoming lane
slots and green phases as it was trained for (smaller ones are padded as in training).
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from mobility.errors import SpecError
from mobility.learn.checkpoint import load_checkpoint
from mobility.learn.policy import apply_policy, policy_input
from mobility.signals.registry import PolicyParams
from mobility.signals.types import Layout, Observation

# The policy `signals: policy` deploys without a path: trained in the twin of the 3x3 grid
# (see its README for the command); it fits lights of up to 16 lane slots and 8 phases.
BUNDLED = Path(__file__).parent / "bundled_policy"


class PolicyController:
    """Greedy (most likely) phase of the trained policy per light."""

    def __init__(self, params: PolicyParams | None = None) -> None:
        params = params or PolicyParams()
        self.path = Path(params.path) if params.path else BUNDLED
        saved, _, self.meta = load_checkpoint(self.path, field="signals.params.path")
        self.policy = {k: jnp.asarray(v) for k, v in saved.items()}

    def reset(self, layout: Layout, *, min_green: float) -> None:
        lanes, phases = int(self.meta["lanes"]), int(self.meta["phases"])
        i_n = layout.in_mask.shape[1]
        p_n = layout.phase_mask.shape[1]
        if i_n > lanes or p_n > phases:
            widest = int(layout.in_mask.sum(axis=1).argmax())
            most = int(layout.phase_mask.sum(axis=1).argmax())
            msg = (
                f"field `signals.params.path`: the policy in {self.path} was trained for lights "
                f"with at most {lanes} incoming lanes and {phases} green phases "
                f"({self.meta.get('scenario')!r}); here {layout.tls[widest]!r} has "
                f"{int(layout.in_mask[widest].sum())} lanes and {layout.tls[most]!r} "
                f"{int(layout.phase_mask[most].sum())} phases; train a policy on this "
                "scenario (`mobility signals train SPEC -o FOLDER`)"
            )
            raise SpecError(msg)
        self.layout = layout

    def observe(self, obs: Observation) -> tuple[jnp.ndarray, jnp.ndarray]:
        """(features [T, F], phase mask [T, P]): the policy's input, built as in the twin."""
        return policy_input(
            int(self.meta["lanes"]),
            int(self.meta["phases"]),
            np.nan_to_num(obs.in_vehicles),
            np.nan_to_num(obs.in_halting),
            obs.phase,
            obs.phase_age,
            self.layout.in_mask,
            self.layout.lane_served,
            self.layout.phase_mask,
        )

    def decide(self, obs: Observation) -> np.ndarray:
        logits, _ = apply_policy(self.policy, *self.observe(obs))
        return np.asarray(logits.argmax(axis=-1))
