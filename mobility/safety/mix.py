"""``traffic_mix:``: background traffic as human drivers and autonomous vehicles, by share.

Every vehicle of the demand that names no vType of its own gets SUMO's default type; a
``vTypeDistribution`` called ``DEFAULT_VEHTYPE`` (SUMO's documented way to replace that
default) draws each one's type by share, seeded like the rest of the run. Human drivers
keep SUMO's Krauss model with driver imperfection (``sigma``); autonomous vehicles drive
with ACC or CACC and no imperfection, as the shuttles do by default. Route files that name
their own types keep them.
"""

from __future__ import annotations

from typing import Literal
from xml.sax.saxutils import quoteattr

from pydantic import BaseModel, ConfigDict, Field

MIX_XML = "traffic_mix.add.xml"
HUMAN, AUTONOMOUS = "mix_human", "mix_autonomous"  # the vType ids


class DriverSpec(BaseModel):
    """How one kind of vehicle drives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    car_follow_model: Literal["Krauss", "IDM", "ACC", "CACC"]
    sigma: float = Field(ge=0, le=1, description="driver imperfection; 0 = none")
    tau: float = Field(1.0, gt=0, description="s desired time headway")


class TrafficMixSpec(BaseModel):
    """``traffic_mix:`` of a scenario (``traffic_mix: {autonomous_share: 0.3}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    autonomous_share: float = Field(ge=0, le=1, description="share of autonomous vehicles")
    human: DriverSpec = DriverSpec(car_follow_model="Krauss", sigma=0.5)
    autonomous: DriverSpec = DriverSpec(car_follow_model="CACC", sigma=0.0)


def mix_xml(mix: TrafficMixSpec) -> str:
    """The additional file replacing SUMO's default vehicle type by the mix."""
    types = []
    for vtype, driver, share in (
        (HUMAN, mix.human, 1.0 - mix.autonomous_share),
        (AUTONOMOUS, mix.autonomous, mix.autonomous_share),
    ):
        attrs = {
            "id": vtype,
            "probability": f"{share:g}",
            "carFollowModel": driver.car_follow_model,
            "sigma": f"{driver.sigma:g}",
            "tau": f"{driver.tau:g}",
        }
        types.append("    <vType " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()))
    body = "".join(f"{t}/>\n" for t in types)
    return (
        '<additional>\n  <vTypeDistribution id="DEFAULT_VEHTYPE">\n'
        f"{body}  </vTypeDistribution>\n</additional>\n"
    )
