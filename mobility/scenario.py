"""One scenario, one run: spec -> network -> demand -> run parts -> SUMO -> tables -> KPIs.

:func:`run_scenario` is the single code path of a run. ``mobility run`` calls it, and so do
sweeps on Ray (one task per run): it needs nothing but the spec and an output folder, and
builds what it needs through the content-addressed cache.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mobility.config import ScenarioSpec, load_spec
from mobility.demand.build import build_demand, check_demand
from mobility.demand.counts import CountsPart
from mobility.demand.transit import TransitPart, with_gtfs_lines
from mobility.demand.zones import with_rider_zones
from mobility.errors import MobilityError
from mobility.network.build import build_network
from mobility.network.net import Network, load_network
from mobility.rundir import (
    KPIS,
    META,
    SPEC,
    RunResult,
    atomic_run_dir,
    check_output_dir,
    run_dir_name,
    versions,
    write_json,
    write_spec,
)
from mobility.safety.setup import SafetyPart
from mobility.shuttles.setup import ShuttlesPart
from mobility.signals.setup import SignalsPart
from mobility.sim import sumocfg
from mobility.sim.engine import Backend, Engine
from mobility.sim.outputs import OutputsPart
from mobility.sim.parts import RunContext, RunPart, SumoInputs

Progress = Callable[[float], None]


def run_parts() -> list[RunPart]:
    """The parts of every run, in order (see :mod:`mobility.sim.parts` for what it means)."""
    return [OutputsPart(), SafetyPart(), SignalsPart(), ShuttlesPart(), CountsPart(), TransitPart()]


def scenario_network(spec: ScenarioSpec) -> Network:
    """The scenario's network, built (cached by content) and parsed once per process."""
    return load_network(build_network(spec.network))


def check_scenario(spec: ScenarioSpec) -> Network:
    """Everything a run would refuse, found before SUMO starts: the network builds and
    parses, the demand's edges and zones are in it, and every part accepts the spec (signal
    ids and settings, fleets, stops, depots, riders). Builds nothing but the (cached)
    network and the (cached) stops of shuttle lines that run a GTFS route; raises a
    :class:`MobilityError` naming the field and the fix."""
    network = scenario_network(spec).check()
    spec = with_rider_zones(with_gtfs_lines(spec, network), network)
    check_demand(spec, network)
    ctx = RunContext(spec, network, routes=(), folder=Path("."))
    for part in run_parts():
        part.check(ctx)
    return network


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
    out_dir = check_output_dir(out_dir)
    spec_hash = spec.content_hash()
    network = scenario_network(spec)
    with _network_first(network):
        routes = build_demand(spec, network)
    written = spec  # as the user wrote it; parts see GTFS lines and zone files resolved
    spec = with_rider_zones(with_gtfs_lines(spec, network), network)
    prepared = time.perf_counter()
    final = out_dir / run_dir_name(spec.name, spec_hash)
    parts = run_parts()
    with atomic_run_dir(final) as work:
        write_spec(work / SPEC, written.model_dump(mode="json"))
        ctx = RunContext(spec, network, tuple(routes), work)
        inputs = SumoInputs(routes=list(routes))
        for part in parts:
            inputs = inputs.merge(part.prepare(ctx))
        cfg = sumocfg.write_sumocfg(spec, net=network.path, inputs=inputs, folder=work)
        engine = Engine(
            ["-c", str(cfg)],
            log_file=work / sumocfg.SUMO_LOG,
            backend=backend,
            gui=gui,
            label=final.name,
        )
        with _network_first(network), engine:
            for part in parts:
                part.attach(engine)
            engine.run(spec.end, progress=progress)
        simulated = time.perf_counter()
        kpis: dict[str, float] = {}
        for part in reversed(parts):
            kpis.update(part.finish(work))
        write_json(work / KPIS, kpis)
        meta = {
            "spec_hash": spec_hash,
            "name": spec.name,
            "seed": spec.seed,
            "backend": engine.backend,
            "network": str(network.path),
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


@contextlib.contextmanager
def _network_first(network: Network) -> Iterator[None]:
    """A failure of the demand tools or of SUMO is reported as the network's own error when
    the network file is what is broken (the network is parsed lazily, so a run that never
    reads it learns it is broken only here)."""
    try:
        yield
    except MobilityError:
        network.check()
        raise


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
        return self._named(run_scenario, self.spec, out_dir, **options)

    def _named(self, call: Callable[..., Any], *args: Any, **options: Any) -> Any:
        """``call(*args)``, with errors naming the scenario file they come from."""
        try:
            return call(*args, **options)
        except MobilityError as exc:
            if self.source is None or str(self.source) in str(exc):
                raise
            raise type(exc)(f"{self.source}: {exc}") from exc

    def build_network(self) -> Path:
        """Build (or fetch from the cache) the scenario's SUMO network."""
        return build_network(self.spec.network)

    def check(self) -> None:
        """Check the scenario against its network without running it (:func:`check_scenario`)."""
        self._named(check_scenario, self.spec)


__all__ = ["RunResult", "Scenario", "check_scenario", "run_scenario"]
