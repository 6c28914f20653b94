"""A run as a pipeline of parts: each concern of a run (outputs, signals, shuttles, ...) is one
:class:`RunPart`, and :func:`mobility.scenario.run_scenario` loops over them.

A part sees the run through a :class:`RunContext` (the spec, the network parsed once, the
demand's route files and the run folder) and goes through four stages:

1. ``check``: everything it would refuse, against the network, before anything is written
   (``mobility validate`` calls only this);
2. ``prepare``: write its SUMO files into the run folder and say what SUMO must load
   (:class:`SumoInputs`);
3. ``attach``: once SUMO runs, hook its controllers or observers into the engine;
4. ``finish``: after the simulation, write its tables and return its KPIs.

The order is the order of the list: parts prepare in list order (a later part's options
override an earlier one's) and finish in reverse (a part that took over a SUMO output hands
it back, converted, before the part that owns the output reads it), as nested ``with``
blocks unwind. Nothing else orders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mobility.config import ScenarioSpec
    from mobility.network.net import Network
    from mobility.sim.engine import Engine


@dataclass(frozen=True)
class RunContext:
    """What every part of one run shares."""

    spec: ScenarioSpec
    network: Network
    routes: tuple[Path, ...]  # the demand's route files
    folder: Path  # the run directory being written


@dataclass
class SumoInputs:
    """What a part adds to SUMO's configuration."""

    routes: list[Path] = field(default_factory=list)
    additional: list[Path] = field(default_factory=list)  # relative: next to run.sumocfg
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # section -> key -> value

    def merge(self, other: SumoInputs) -> SumoInputs:
        """These inputs followed by ``other``'s (its options win)."""
        options = {k: dict(v) for k, v in self.options.items()}
        for section, values in other.options.items():
            options.setdefault(section, {}).update(values)
        return SumoInputs(
            [*self.routes, *other.routes], [*self.additional, *other.additional], options
        )


class RunPart(Protocol):
    """One concern of a run; see the module docstring for the stages."""

    def check(self, ctx: RunContext) -> None:
        """Raise a :class:`~mobility.errors.MobilityError` for what the run would refuse."""

    def prepare(self, ctx: RunContext) -> SumoInputs:
        """Write this part's SUMO files into ``ctx.folder``; what SUMO must load."""
        ...

    def attach(self, engine: Engine) -> None:
        """Hook into the running engine (controllers, observers, dispatchers)."""

    def finish(self, folder: Path) -> dict[str, float]:
        """Write this part's tables into ``folder``; return its KPIs."""
        ...
