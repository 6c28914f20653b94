"""The ``safety:`` section of a scenario: what SUMO's SSM device measures and logs.

Defaults follow FHWA's SSAM (Surrogate Safety Assessment Model): an encounter is a conflict
when its time to collision falls to 1.5 s or its post-encroachment time to 5 s; DRAC above
3.4 m/s^2 (the AASHTO comfortable-deceleration limit) counts too. SUMO logs an encounter as
a conflict when *any* measured value passes its threshold, so a conflict's other measures
may lie outside theirs; the KPIs band conflicts by their own values.

The SSM device is costly: every step it scans each equipped vehicle's surroundings up to
``range``, which is nearly all of its cost (``bench/safety.py profile``: the measures, the
extra time, the other outputs and our parsing change little). Everyone equipped costs 2-16x
a run without measurement on the RESCO maps, so by default a tenth of the vehicles carry the
device (``equipped: 0.1``: 1.1x on grid4x4, 1.4x on cologne3, 2.0x on the dense
arterial4x4; ``bench/RESULTS.md``, issue 15). A conflict is seen when either of its two
vehicles is equipped (1 - 0.9^2 = 19 % of them) and the KPIs divide counts by that share:
over 5 seeds the estimate showed no bias beyond its noise (mean -0.5..+5.6 %) and a spread
(sd) of 12-17 % of the full count on 30-minute runs with 430-3300 conflicts: more conflicts
hardly shrink it, as one equipped vehicle in a queue sees many of them. ``equipped: 1.0``
gives exact counts. A shorter ``range`` is no substitute: it splits or loses encounters
(counts +7..+21 % or -4..-9 % at 15-25 m).

Measuring leaves the traffic as it is (the device observes; its random draw does not
touch the drivers'), with one exception: SUMO acts on a collision (``collision.action``).
Here the default is ``warn``, so that the junction checks switched on for measurement
teleport nobody; a run in which vehicles collide on lanes (SUMO teleports those by
default) then differs from the same run without ``safety:``. ``collision_action:
teleport`` keeps SUMO's handling, and teleports junction colliders too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Measure = Literal["TTC", "DRAC", "PET", "PPET", "MDRAC"]


class SafetySpec(BaseModel):
    """``safety:`` of a scenario (``safety: {}`` measures TTC, DRAC and PET, SSAM-like)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    measures: list[Measure] = Field(
        ["TTC", "DRAC", "PET"], min_length=1, description="SSM measures SUMO logs"
    )
    ttc: float = Field(1.5, gt=0, le=10, description="s; logged when TTC is at most this")
    drac: float = Field(3.4, gt=0, description="m/s^2; logged when DRAC is above this")
    pet: float = Field(5.0, gt=0, le=30, description="s; logged when PET is at most this")
    ppet: float = Field(2.0, gt=0, description="s; predicted PET threshold (PPET)")
    mdrac: float = Field(3.4, gt=0, description="m/s^2; MDRAC threshold")
    range: float = Field(50.0, gt=0, le=500, description="m around an equipped vehicle")
    extra_time: float = Field(
        5.0, gt=0, le=60, description="s an encounter is followed after it ends (PET needs it)"
    )
    equipped: float = Field(
        0.1, gt=0, le=1, description="share of vehicles with the device (1.0: exact counts)"
    )
    collision_action: Literal["warn", "teleport", "remove", "none"] = Field(
        "warn",
        description="what SUMO does with colliding vehicles; warn: nothing, so that measuring "
        "leaves the traffic as it is (teleport is SUMO's own default)",
    )
    emergency_decel_warning: float = Field(
        1.0, gt=0, le=1, description="share of emergency decel that counts as emergency braking"
    )

    @model_validator(mode="after")
    def _measures_once(self) -> SafetySpec:
        twice = sorted({m for m in self.measures if self.measures.count(m) > 1})
        if twice:
            msg = f"measures {twice} given twice; list each measure once"
            raise ValueError(msg)
        return self

    def thresholds(self) -> list[float]:
        """The threshold of each measure, in the order of :attr:`measures` (SUMO's order)."""
        by_measure = {
            "TTC": self.ttc,
            "DRAC": self.drac,
            "PET": self.pet,
            "PPET": self.ppet,
            "MDRAC": self.mdrac,
        }
        return [by_measure[m] for m in self.measures]
