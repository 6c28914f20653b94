"""The signals part of a run: the spec's ``signals`` section as SUMO programs and controllers.

:meth:`SignalsPart.check` refuses what the network contradicts (a signal id it does not
have, a decision interval not longer than its own transitions); :meth:`SignalsPart.prepare`
writes program controllers' ``<tlLogic>`` into ``signals.add.xml``, which SUMO loads after
the net (so it becomes the active program), and builds the JAX model for controllers that
use it; :meth:`SignalsPart.attach` starts a phase controller on the running engine. Which
controller does what comes from :mod:`mobility.signals.registry`; nothing here names one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mobility.errors import SpecError
from mobility.signals.phases import PhasePlan
from mobility.signals.programs import plans_from_net
from mobility.signals.registry import controller
from mobility.sim.engine import Engine
from mobility.sim.parts import RunContext, SumoInputs

PROGRAMS_FILE = "signals.add.xml"


class SignalsPart:
    """Signal programs before the run, a phase controller (and RESCO's queue) during it."""

    def __init__(self) -> None:
        self.tls: list[str] = []
        self.model: Any = None  # the JAX model's arrays, for controllers built on it
        self.queue: Any = None  # QueueObserver, when outputs.resco_queue asks for it
        self.driver: Any = None
        self._ctx: RunContext | None = None

    def check(self, ctx: RunContext) -> dict[str, PhasePlan]:
        """The green phases of the controlled lights; SpecError where the net disagrees."""
        sig = ctx.spec.signals
        if sig.controller == "static" and sig.tls is None:
            return {}
        signals = ctx.network.signals
        known = sorted(signals.programs)
        tls = list(sig.tls) if sig.tls is not None else known
        missing = [t for t in tls if t not in signals.programs]
        if missing:
            sample = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "") or "(none)"
            msg = (
                f"field `signals.tls`: {', '.join(map(repr, missing))} not a traffic light of "
                f"{ctx.network.path.name}; use ids from `mobility net info` (the net has: "
                f"{sample})"
            )
            raise SpecError(msg)
        try:
            plans = plans_from_net(signals, tls, yellow=sig.yellow, all_red=sig.all_red)
        except ValueError as exc:
            raise SpecError(f"field `signals.tls`: {exc}; leave that signal out of `tls`") from None
        if controller(sig.controller).kind == "phase":
            _check_decision_interval(sig.decision_interval, plans)
        return plans

    def prepare(self, ctx: RunContext) -> SumoInputs:
        self._ctx = ctx
        plans = self.check(ctx)
        self.tls = list(plans)
        sig = ctx.spec.signals
        declared = controller(sig.controller)
        if declared.uses_model and declared.kind == "phase":
            from mobility.demand.build import calibration_demand
            from mobility.signals.model_build import model_for_spec

            dt = float(getattr(sig.params, "dt", 2.0))
            known = calibration_demand(ctx.spec, ctx.network)  # never this run's vehicles
            self.model = model_for_spec(ctx.spec, ctx.network, known, tls=self.tls, dt=dt)
        if declared.kind != "program" or not declared.code:
            return SumoInputs()
        logics = declared.load()(ctx, [plans[t] for t in self.tls])
        (ctx.folder / PROGRAMS_FILE).write_text(
            "<additional>\n" + "\n".join(logics) + "\n</additional>\n"
        )
        return SumoInputs(additional=[Path(PROGRAMS_FILE)])  # next to run.sumocfg

    def attach(self, engine: Engine) -> None:
        """Start the phase controller (if any), and RESCO's queue observer when asked."""
        spec = self._ctx.spec if self._ctx is not None else None
        if spec is None:
            return
        sig = spec.signals
        if spec.outputs.resco_queue:
            from mobility.signals.queue import QueueObserver

            self.queue = QueueObserver(self.tls or engine.traffic_lights(), sig.decision_interval)
            self.queue.attach(engine, first=engine.time + sig.decision_interval)
        declared = controller(sig.controller)
        if declared.kind != "phase" or not self.tls:
            return
        from mobility.signals.driver import SignalDriver

        make = declared.load()
        if declared.uses_model:
            phase_controller = make(self.model, sig.params)
            phase_controller.decision_interval = sig.decision_interval  # its rollouts' step
        else:
            phase_controller = make(sig.params)
        self.driver = SignalDriver(
            controller=phase_controller,
            tls=self.tls,
            decision_interval=sig.decision_interval,
            min_green=sig.min_green,
            max_green=sig.max_green,
            yellow=sig.yellow,
            all_red=sig.all_red,
            clearance=sig.clearance,
        )
        self.driver.attach(engine)

    def finish(self, folder: Path) -> dict[str, float]:
        """The signal KPIs of the finished run (``resco_queue`` when asked for)."""
        return self.queue.kpis() if self.queue is not None else {}


def _check_decision_interval(interval: float, plans: dict[str, PhasePlan]) -> None:
    """A phase controller decides between transitions: each must fit in one interval."""
    for plan in plans.values():
        longest = max(y + r for y, r in zip(plan.yellow, plan.all_red, strict=True))
        if interval <= longest:
            msg = (
                f"field `signals.decision_interval`: {interval:g} s is not longer than the "
                f"yellow + all-red of {plan.tls!r} in the net ({longest:g} s); raise it or "
                "set `signals.yellow`"
            )
            raise SpecError(msg)
