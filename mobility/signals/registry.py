"""Every signal controller, declared once: its name, kind, settings model and code.

A new controller is one entry here (and its code): the scenario spec's ``signals`` union,
``mobility validate``, the run's signals part, ``signals compare`` and the report all read
this table. Settings (``signals.params``) are pydantic models, so an unknown or mistyped
setting fails when the YAML is loaded, naming the field.

Kinds:
- ``program``: a SUMO program written once before the run (``programs`` names a function
  ``(ctx, plans) -> [<tlLogic> xml]``; ``static`` writes none and keeps the net's own);
- ``phase``: a :class:`~mobility.signals.types.PhaseController` that picks the next green
  every decision interval (``controller`` names its class, built as ``cls(**params)``; a
  controller over the JAX model takes the model's arrays first).

This module imports only pydantic (and the standard library): the spec loader reads it at
start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_serializer

from mobility.lazy import load_code


class Params(BaseModel):
    """Base of every controller's settings: unknown keys are errors, values are typed.

    Dumps only the settings the user gave, so that a spec's content hash (its run folder
    and cache keys) does not change when a default is added or its settings are filled in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_serializer(mode="wrap")
    def _given_only(self, handler: Any) -> dict[str, Any]:
        if not isinstance(self, BaseModel):  # a plain dict put in by model_copy(update=...)
            return handler(self)
        names = {(f.alias or k): k for k, f in type(self).model_fields.items()}
        return {k: v for k, v in handler(self).items() if names.get(k, k) in self.model_fields_set}


class NoParams(Params):
    """The controller has no settings."""


class PhaseRuleParams(Params):
    """The rules shared by the phase controllers that keep a network from locking up (see
    :mod:`mobility.signals.controllers`); none changes a decision while every exit has room
    and every lane moves under the greens that serve it.

    Spill-back: a movement whose exit is nearly full is not served, since its vehicles
    cannot leave and its green only lets the queue grow back into the junctions upstream
    (Gregoire et al. 2015, capacity-aware pressure). Stalls: a lane that stood still
    through a green does not count for that phase while another phase serving it is
    untried (its first vehicle wants a turn the phase does not give: the controllers see
    lanes, not turns). Starvation: a lane whose vehicles have waited longer than any fair
    cycle would make them gets the phases serving it in turn.
    """

    spillback: bool = Field(
        True, description="capacity-aware: never count a movement whose exit is full"
    )
    exit_full: float = Field(
        0.9,
        gt=0,
        le=1,
        description="exit occupancy (vehicles over its standing storage, 7.5 m per vehicle "
        "over the exit's approach) at which a movement counts as blocked",
    )
    stall: bool = Field(
        True,
        description="a lane that stood still through a whole green of a phase does not count "
        "for that phase until it moves, while another phase serving it is untried",
    )
    patience: float | None = Field(
        300.0,
        gt=0,
        description="s the vehicles on a lane's approach may have waited on average (a "
        "moving one counts 0) before the phases serving it are served in turn (null: "
        "never); above the longest fair wait at a four-phase light with the default 60 s "
        "max green, 3 x 63 s",
    )


class MaxPressureParams(PhaseRuleParams):
    normalise: bool = Field(False, description="incoming counts per metre of lane (density)")
    stall: bool = Field(
        False,
        description="as for greedy and sotl; off by default here: pressure already counts a "
        "shared lane once per movement a phase serves, so the phase with the first "
        "vehicle's turn gets its share, and the extra switches raised the junction-box "
        "deadlocks on cologne3 (3 of 13 seeds against 1)",
    )


class GreedyParams(PhaseRuleParams):
    """Longest queue first has only the shared rules as settings."""


class SotlParams(PhaseRuleParams):
    theta: float = Field(60.0, gt=0, description="vehicle-seconds on red before a switch")
    mu: float = Field(3.0, ge=0, description="largest platoon kept crossing on green")


class ModelPredictiveParams(Params):
    search: Literal["rollouts", "cross_entropy"] = Field(
        "rollouts",
        description="rollouts: max pressure, its one-light changes and random sequences; "
        "cross_entropy: the cross-entropy method over sequences of the whole horizon",
    )
    candidates: int = Field(16, ge=0, description="random phase sequences per decision (round)")
    rounds: int = Field(3, ge=1, description="cross_entropy: sampling rounds per decision")
    elites: int = Field(6, ge=1, description="cross_entropy: sequences each light refits to")
    explore: float = Field(
        0.2, ge=0, le=1, description="cross_entropy: uniform share mixed in at each decision"
    )
    horizon: float = Field(10.0, gt=0, description="s rolled out")
    dt: float = Field(2.0, gt=0, description="s per model step")
    terminal: float = Field(1.0, ge=0, description="weight of the queue left at the horizon")
    downstream: float = Field(1.0, ge=0, description="weight of the queues a light feeds")
    keep: float = Field(0.5, ge=0, le=1, description="chance a candidate keeps the phase")
    bays: float = Field(1.0, ge=0, le=1, description="1: a queue past its bay blocks its edge")
    lane_fifo: float = Field(0.0, ge=0, le=1, description="1: first-in-first-out shared lanes")
    seed: int = Field(0, ge=0)


class OptimizedParams(Params):
    starts: int = Field(256, ge=1, description="plans screened on the model")
    refine: int = Field(8, ge=1, description="plans refined by gradient")
    samples: int = Field(2, ge=1, description="demand samples per gradient step")
    iterations: int = Field(40, ge=1, description="Adam steps")
    lr: float = Field(0.2, gt=0)
    noise: float = Field(0.2, ge=0, description="log-normal demand noise of the samples")
    dt: float = Field(2.0, gt=0, description="s per model step")
    tau: float = Field(1.0, gt=0, description="s, width of the relaxed green windows")
    spread: float = Field(0.3, ge=0, description="log-spread of the random starts' greens")
    seed: int = Field(0, ge=0, description="of the search (not the run's seed)")
    verify: int = Field(16, ge=0, description="plans checked in SUMO (0: the model's best)")
    verify_seeds: int = Field(3, ge=1, description="SUMO seeds of the finalists' check")
    plan: str = Field("", description="a plan JSON to deploy instead of the searched one")


class ActuatedParams(Params):
    """SUMO's ``actuated`` program settings (its ``<param>`` keys)."""

    max_gap: float | None = Field(None, alias="max-gap", gt=0)
    detector_gap: float | None = Field(None, alias="detector-gap", gt=0)
    passing_time: float | None = Field(None, alias="passing-time", gt=0)
    jam_threshold: float | None = Field(None, alias="jam-threshold", ge=-1)
    detector_length: float | None = Field(None, alias="detector-length", gt=0)
    inactive_threshold: float | None = Field(None, alias="inactive-threshold", gt=0)
    show_detectors: bool | None = Field(None, alias="show-detectors")
    vTypes: str | None = None


class DelayBasedParams(Params):
    """SUMO's ``delay_based`` program settings (its ``<param>`` keys)."""

    detectorRange: float | None = Field(None, gt=0)
    minTimeLoss: float | None = Field(None, ge=0)
    extendMaxDur: bool | None = None
    show_detectors: bool | None = Field(None, alias="show-detectors")
    vTypes: str | None = None


class PolicyParams(Params):
    path: str = Field(
        "",
        description="folder of a policy trained by `mobility signals train` (empty: the "
        "bundled policy, trained in the twin of networks/grid3x3); relative paths start at "
        "the YAML file",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _policy_folder(cls, value: Any, info: ValidationInfo) -> str:
        """Resolve against the spec's folder and refuse a folder without a checkpoint when
        the spec is loaded, not once SUMO runs."""
        if not value:
            return ""
        path = Path(str(value)).expanduser()
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        if not (path / "policy.json").is_file():
            msg = (
                f"{path} holds no policy checkpoint (policy.json, policy.npz); train one with "
                "`mobility signals train SPEC -o FOLDER` (relative paths start at the YAML file)"
            )
            raise ValueError(msg)
        return str(path.resolve())


@dataclass(frozen=True)
class Controller:
    """One controller's declaration."""

    name: str
    kind: Literal["program", "phase"]
    params: type[Params]
    code: str  # "module:name" of its phase class or its programs function ("" for static)
    words: str  # what it does, in a planner's words (the report's scenario description)
    uses_model: bool = False  # built on the JAX signal model

    def load(self) -> Any:
        """The class or function that implements the controller."""
        return load_code(self.code)


CONTROLLERS: dict[str, Controller] = {
    c.name: c
    for c in (
        Controller("static", "program", NoParams, "", "the network's own fixed-time programs"),
        Controller(
            "webster",
            "program",
            NoParams,
            "mobility.signals.programs:webster_programs",
            "fixed-time plans retimed with Webster's formula for the demand",
        ),
        Controller(
            "actuated",
            "program",
            ActuatedParams,
            "mobility.signals.programs:actuated_programs",
            "SUMO's gap-based actuated control on the network's phases",
        ),
        Controller(
            "delay_based",
            "program",
            DelayBasedParams,
            "mobility.signals.programs:delay_based_programs",
            "SUMO's delay-based actuated control on the network's phases",
        ),
        Controller(
            "optimized",
            "program",
            OptimizedParams,
            "mobility.signals.optimized:optimized_plan_programs",
            "fixed-time plans optimised on the JAX network model and checked in SUMO",
            uses_model=True,
        ),
        Controller(
            "max_pressure",
            "phase",
            MaxPressureParams,
            "mobility.signals.controllers:MaxPressure",
            "max-pressure: each light serves the movement with the longest queue",
        ),
        Controller(
            "greedy",
            "phase",
            GreedyParams,
            "mobility.signals.controllers:Greedy",
            "longest queue first: each light serves the phase with the most halted vehicles",
        ),
        Controller(
            "sotl",
            "phase",
            SotlParams,
            "mobility.signals.controllers:Sotl",
            "self-organising lights: a light switches when enough vehicles wait on red",
        ),
        Controller(
            "model_predictive",
            "phase",
            ModelPredictiveParams,
            "mobility.signals.model_predictive:ModelPredictive",
            "model-predictive control: phase sequences rolled out on the JAX network model",
            uses_model=True,
        ),
        Controller(
            "policy",
            "phase",
            PolicyParams,
            "mobility.learn.controller:PolicyController",
            "a policy trained by reinforcement learning in the JAX twin",
        ),
    )
}


def controller(name: str) -> Controller:
    """The declaration of ``name`` (KeyError if unknown: the spec loader refuses those)."""
    return CONTROLLERS[name]
