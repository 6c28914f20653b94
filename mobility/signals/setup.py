"""The one hook a run calls: turn a spec's ``signals`` section into SUMO files and controllers.

:func:`prepare_signals` runs before SUMO starts (it may write program files that SUMO
loads as additional files); the returned :class:`SignalSetup` attaches phase controllers
once the engine runs. ``static`` adds nothing: the net's own programs run untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mobility.config import PHASE_CONTROLLERS, ScenarioSpec
from mobility.errors import SpecError
from mobility.sim.engine import Engine

PROGRAMS_FILE = "signals.add.xml"


@dataclass
class SignalSetup:
    """What a run needs for its signals: additional files now, controllers at start."""

    additional: list[Path] = field(default_factory=list)
    tls: list[str] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)
    _spec: ScenarioSpec | None = None
    model: object | None = None  # the JAX model's arrays (model_predictive)

    queue: object | None = None  # QueueObserver, when outputs.resco_queue asks for it

    def kpis(self) -> dict[str, float]:
        """The signal KPIs of the finished run (``resco_queue`` when asked for)."""
        return self.queue.kpis() if self.queue is not None else {}

    def attach(self, engine: Engine) -> None:
        """Start the phase controller (if any) on the running engine."""
        spec = self._spec
        if spec is not None and spec.outputs.resco_queue:
            from mobility.signals.queue import QueueObserver

            every = spec.signals.decision_interval
            self.queue = QueueObserver(self.tls or engine.traffic_lights(), every)
            self.queue.attach(engine, first=engine.time + every)
        if spec is None or spec.signals.controller not in PHASE_CONTROLLERS or not self.tls:
            return
        from mobility.signals.controllers import make_controller
        from mobility.signals.driver import SignalDriver

        sig = spec.signals
        if sig.controller == "model_predictive":
            from mobility.signals.model_predictive import ModelPredictive

            controller = ModelPredictive(self.model, **dict(sig.params))
            controller.decision_interval = sig.decision_interval
        else:
            controller = make_controller(sig.controller, dict(sig.params))
        driver = SignalDriver(
            controller=controller,
            tls=self.tls,
            decision_interval=sig.decision_interval,
            min_green=sig.min_green,
            max_green=sig.max_green,
            yellow=sig.yellow,
            all_red=sig.all_red,
        )
        driver.attach(engine)
        self.driver = driver


def prepare_signals(
    spec: ScenarioSpec, *, net: Path, routes: list[Path], folder: Path
) -> SignalSetup:
    """Check the signal section against the net and write program files into ``folder``.

    Raises :class:`SpecError` for a signal id that is not in the net, settings a controller
    does not know, or a decision interval not longer than the net's own transitions.
    """
    from mobility.signals.controllers import PHASE_CONTROLLERS as PHASE_CLASSES
    from mobility.signals.programs import (
        adaptive_program,
        movement_flows,
        plans_from_net,
        read_net_signals,
        webster_program,
    )

    sig = spec.signals
    if sig.controller == "static" and sig.tls is None:
        return SignalSetup(_spec=spec)
    signals = read_net_signals(net)
    known = sorted(signals.programs)
    tls = list(sig.tls) if sig.tls is not None else known
    missing = [t for t in tls if t not in signals.programs]
    if missing:
        sample = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "") or "(none)"
        msg = (
            f"field `signals.tls`: {', '.join(map(repr, missing))} not a traffic light of "
            f"{net.name}; use ids from `mobility net info` (the net has: {sample})"
        )
        raise SpecError(msg)
    setup = SignalSetup(tls=tls, _spec=spec)
    try:
        plans = plans_from_net(signals, tls, yellow=sig.yellow, all_red=sig.all_red)
    except ValueError as exc:
        raise SpecError(f"field `signals.tls`: {exc}; leave that signal out of `tls`") from None
    if sig.controller == "model_predictive":
        from mobility.signals.model_build import model_for_spec
        from mobility.signals.model_predictive import ModelPredictive

        try:
            ModelPredictive(None, **sig.params)
        except ValueError as exc:
            raise SpecError(f"field `signals.params`: {exc}; fix or remove it") from None
        dt = float(sig.params.get("dt", 2.0))
        setup.model = model_for_spec(spec, net, routes, tls=tls, dt=dt)
    if sig.controller in PHASE_CLASSES or sig.controller == "model_predictive":
        try:
            if sig.controller in PHASE_CLASSES:
                PHASE_CLASSES[sig.controller](**sig.params)
        except ValueError as exc:
            raise SpecError(f"field `signals.params`: {exc}; fix or remove it") from None
        for plan in plans.values():
            longest = max(y + r for y, r in zip(plan.yellow, plan.all_red, strict=True))
            if sig.decision_interval <= longest:
                msg = (
                    f"field `signals.decision_interval`: {sig.decision_interval:g} s is not "
                    f"longer than the yellow + all-red of {plan.tls!r} in the net "
                    f"({longest:g} s); raise it or set `signals.yellow`"
                )
                raise SpecError(msg)
        return setup
    if sig.controller == "static":
        return setup
    if sig.params and sig.controller == "webster":
        raise SpecError("field `signals.params`: webster takes no params; remove them")
    logics = []
    if sig.controller == "webster":
        flows = movement_flows(routes, net, begin=spec.begin, end=spec.end)
        cycles = {}
        for t, plan in plans.items():
            xml, cycles[t] = webster_program(
                plan,
                signals.links.get(t, {}),
                flows,
                saturation_flow=sig.saturation_flow,
                min_green=sig.min_green,
            )
            logics.append(xml)
        setup.info["webster_cycle_s"] = cycles
    elif sig.controller == "optimized":
        from mobility.signals.optimized import optimized_programs

        try:
            logics, info = optimized_programs(
                spec, net=net, routes=routes, plans=[plans[t] for t in tls], folder=folder
            )
        except ValueError as exc:
            raise SpecError(f"field `signals.params`: {exc}; fix or remove it") from None
        setup.info.update(info)
    else:
        for plan in plans.values():
            logics.append(
                adaptive_program(
                    plan,
                    sig.controller,
                    min_green=sig.min_green,
                    max_green=sig.max_green,
                    params=dict(sig.params),
                )
            )
    path = folder / PROGRAMS_FILE
    path.write_text("<additional>\n" + "\n".join(logics) + "\n</additional>\n")
    setup.additional.append(Path(PROGRAMS_FILE))  # relative: resolved next to run.sumocfg
    return setup
