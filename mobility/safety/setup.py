"""The safety part of a run: SUMO's SSM device, collision checks and emergency-braking
warnings switched on from the ``safety:`` section, and ``conflicts.parquet`` with its KPIs.

It comes right after the outputs part, so it finishes just before it: the shuttles part
has handed the vehicles' tripinfo back by then (vehicle types and kilometres come from it)
and the outputs part has not yet turned the raw tripinfo into ``trips.parquet``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from mobility.safety.conflicts import (
    COLLISIONS_XML,
    LANECHANGES_XML,
    SSM_XML,
    TABLE,
    VehicleKind,
    conflicts_table,
)
from mobility.safety.kpi import safety_kpis
from mobility.safety.mix import AUTONOMOUS, HUMAN, MIX_XML, mix_xml
from mobility.sim import sumocfg
from mobility.sim.parts import RunContext, SumoInputs

if TYPE_CHECKING:
    from mobility.config import ScenarioSpec
    from mobility.network.net import Network
    from mobility.safety.spec import SafetySpec

AUTONOMOUS_MODELS = ("ACC", "CACC")


def sumo_options(safety: SafetySpec) -> dict[str, dict[str, str]]:
    """The SUMO options of a ``safety:`` section (file names relative to the run folder)."""
    return {
        "ssm_device": {
            "device.ssm.probability": f"{safety.equipped:g}",
            "device.ssm.measures": " ".join(safety.measures),
            "device.ssm.thresholds": " ".join(f"{t:g}" for t in safety.thresholds()),
            "device.ssm.range": f"{safety.range:g}",
            "device.ssm.extratime": f"{safety.extra_time:g}",
            "device.ssm.file": SSM_XML,
            "device.ssm.trajectories": "false",
        },
        "processing": {
            "collision.check-junctions": "true",
            "collision.action": safety.collision_action,
            "emergencydecel.warning-threshold": f"{safety.emergency_decel_warning:g}",
        },
        "output": {
            "collision-output": COLLISIONS_XML,
            "lanechange-output": LANECHANGES_XML,
        },
    }


def vehicle_kinds(spec: ScenarioSpec) -> dict[str, VehicleKind]:
    """What each vType of the run is: the traffic mix's and the shuttle fleets' types
    (autonomous when they drive with ACC or CACC); any other type is a human-driven car."""
    kinds: dict[str, VehicleKind] = {}
    if spec.traffic_mix is not None:
        for vtype, driver in (
            (HUMAN, spec.traffic_mix.human),
            (AUTONOMOUS, spec.traffic_mix.autonomous),
        ):
            kinds[vtype] = VehicleKind("car", driver.car_follow_model in AUTONOMOUS_MODELS)
    for fleet in spec.shuttles:
        auto = fleet.vehicle.car_follow_model in AUTONOMOUS_MODELS
        kinds[f"shuttle_{fleet.name}"] = VehicleKind("shuttle", autonomous=auto)
    return kinds


class SafetyPart:
    """Surrogate safety measurement of a run (nothing when the spec has no ``safety:``),
    and the background traffic's mix of drivers (``traffic_mix:``)."""

    def __init__(self) -> None:
        self._spec: ScenarioSpec | None = None
        self._network: Network | None = None

    def check(self, ctx: RunContext) -> None:
        """The ``safety:`` section needs nothing from the network."""

    def prepare(self, ctx: RunContext) -> SumoInputs:
        inputs = SumoInputs()
        if ctx.spec.traffic_mix is not None:
            (ctx.folder / MIX_XML).write_text(mix_xml(ctx.spec.traffic_mix))
            inputs.additional.append(Path(MIX_XML))
        if ctx.spec.safety is None:
            return inputs
        self._spec, self._network = ctx.spec, ctx.network
        return inputs.merge(SumoInputs(options=sumo_options(ctx.spec.safety)))

    def attach(self, engine: object) -> None:
        """SUMO measures by itself."""

    def finish(self, folder: Path) -> dict[str, float]:
        if self._spec is None or self._spec.safety is None or self._network is None:
            return {}
        spec = self._spec
        kinds = vehicle_kinds(spec)
        types, km = _vehicles(folder / sumocfg.RAW_TRIPS, kinds)
        table = conflicts_table(
            folder,
            log=folder / sumocfg.SUMO_LOG,
            network=self._network,
            vehicle_types=types,
            kinds=kinds,
        )
        pq.write_table(table, folder / TABLE)
        for raw in (SSM_XML, COLLISIONS_XML, LANECHANGES_XML):
            (folder / raw).unlink(missing_ok=True)
        hours = (spec.end - spec.begin) / 3600.0
        return safety_kpis(table, hours=hours, km=km, equipped=spec.safety.equipped)


def _vehicles(
    raw_trips: Path, kinds: dict[str, VehicleKind]
) -> tuple[dict[str, str], dict[str, float]]:
    """Each vehicle's vType, and kilometres driven per vehicle class, from the tripinfo."""
    from mobility.sim.outputs import tidy

    if not raw_trips.exists():
        return {}, {}
    trips = tidy(pq.ParquetFile(raw_trips).read(), ("tripinfo", "emissions"))
    ids = trips.column("id").to_pylist()
    vtypes = trips.column("vType").to_pylist()
    lengths = trips.column("routeLength").to_pylist()
    km: dict[str, float] = {}
    for vtype, length in zip(vtypes, lengths, strict=True):
        vclass = kinds.get(vtype, VehicleKind("car", autonomous=False)).vclass
        km[vclass] = km.get(vclass, 0.0) + max(float(length or 0.0), 0.0) / 1000.0
    return dict(zip(ids, vtypes, strict=True)), km
