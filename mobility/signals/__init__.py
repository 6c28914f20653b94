"""Signal control: controllers, the engine-side driver, and SUMO programs.

Phase controllers (``max_pressure``, ``greedy``, ``sotl``) choose the next green every
decision interval from a numpy :class:`Observation`; the :class:`SignalDriver` holds min and
max green and inserts the net's own yellow and all-red. Program controllers (``static``,
``webster``, ``actuated``, ``delay_based``) are SUMO programs written before the run.
"""

from mobility.signals.controllers import PHASE_CONTROLLERS, make_controller
from mobility.signals.driver import SignalDriver
from mobility.signals.phases import PhasePlan, plan_from_program
from mobility.signals.programs import webster_cycle, webster_greens
from mobility.signals.setup import SignalSetup, prepare_signals
from mobility.signals.types import Layout, Observation, PhaseController

__all__ = [
    "PHASE_CONTROLLERS",
    "Layout",
    "Observation",
    "PhaseController",
    "PhasePlan",
    "SignalDriver",
    "SignalSetup",
    "make_controller",
    "plan_from_program",
    "prepare_signals",
    "webster_cycle",
    "webster_greens",
]
