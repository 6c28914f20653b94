"""One scenario, one run: spec -> network -> demand -> SUMO -> tables -> KPIs.

:func:`run_scenario` is the single code path of a run. ``mobility run`` calls it, and so do
sweeps on Ray (one task per run): it needs nothing but the spec and an output folder, and
builds what it needs through the content-addressed cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mobility.config import ScenarioSpec, load_spec
from mobility.demand.build import build_demand
from mobility.errors import MobilityError
from mobility.network.build import build_network
from mobility.rundir import (
    KPIS,
    META,
    SPEC,
    RunResult,
    atomic_run_dir,
    run_dir_name,
    versions,
    write_json,
    write_spec,
)
from mobility.shuttles.setup import prepare_shuttles
from mobility.signals.setup import prepare_signals
from mobility.sim import outputs, sumocfg
from mobility.sim.engine import Backend, Engine
from mobility.sim.kpi import compute_kpis

Progress = Callable[[float], None]


def run_scenario(
    spec: ScenarioSpec,
    out_dir: Path | str,
    *,
    backend: Backend = "libsumo",
    gui: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run ``spec`` in SUMO and write its run directory under ``out_dir``.

    Returns the run's :class:`RunResult`. Raises a :class:`MobilityError` for anything the
    user can fix (network, demand, SUMO refusing the scenario); no run directory is left
    behind in that case.
    """
    started = time.perf_counter()
    spec_hash = spec.content_hash()
    net = build_network(spec.network)
    routes = build_demand(spec, net)
    prepared = time.perf_counter()
    final = Path(out_dir).resolve() / run_dir_name(spec.name, spec_hash)
    with atomic_run_dir(final) as work:
        write_spec(work / SPEC, spec.model_dump(mode="json"))
        signals = prepare_signals(spec, net=net, routes=routes, folder=work)
        shuttles = prepare_shuttles(spec, net=net, folder=work)
        cfg = sumocfg.write_sumocfg(
            spec,
            net=net,
            routes=[*routes, *shuttles.routes],
            folder=work,
            additional=[*signals.additional, *shuttles.additional],
            extra=shuttles.options,
        )
        engine = Engine(
            ["-c", str(cfg)],
            log_file=work / sumocfg.SUMO_LOG,
            backend=backend,
            gui=gui,
            label=final.name,
        )
        with engine:
            signals.attach(engine)
            shuttles.attach(engine)
            engine.run(spec.end, progress=progress)
        simulated = time.perf_counter()
        shuttle_kpis = shuttles.finish(work)  # before the tables: it converts shuttle outputs
        tables = outputs.write_tables(work)
        stats = outputs.statistics(work)
        kpis = compute_kpis(tables["trips"], stats, begin=spec.begin, end=spec.end)
        kpis.update(shuttle_kpis)
        kpis.update(signals.kpis())
        write_json(work / KPIS, kpis)
        meta = {
            "spec_hash": spec_hash,
            "name": spec.name,
            "seed": spec.seed,
            "backend": engine.backend,
            "network": str(net),
            "routes": [str(r) for r in routes],
            "versions": versions(),
            "timings_s": {
                "prepare": round(prepared - started, 3),
                "simulate": round(simulated - prepared, 3),
                "tables": round(time.perf_counter() - simulated, 3),
            },
        }
        write_json(work / META, meta)
    return RunResult(final, spec_hash, kpis)


class Scenario:
    """A validated scenario, ready to run: ``Scenario.from_yaml(p).run(out_dir)``."""

    def __init__(self, spec: ScenarioSpec, *, source: Path | None = None) -> None:
        self.spec = spec
        self.source = source

    @classmethod
    def from_yaml(cls, path: Path | str) -> Scenario:
        """Load and validate a scenario file (raises SpecError with file and field)."""
        return cls(load_spec(path), source=Path(path).resolve())

    def run(self, out_dir: Path | str = "results", **options: object) -> RunResult:
        """Run the scenario; errors name the scenario file they come from."""
        try:
            return run_scenario(self.spec, out_dir, **options)  # type: ignore[arg-type]
        except MobilityError as exc:
            if self.source is None or str(self.source) in str(exc):
                raise
            raise type(exc)(f"{self.source}: {exc}") from exc

    def build_network(self) -> Path:
        """Build (or fetch from the cache) the scenario's SUMO network."""
        return build_network(self.spec.network)


__all__ = ["RunResult", "Scenario", "run_scenario"]
