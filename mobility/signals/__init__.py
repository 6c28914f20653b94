"""Signal control: controllers, the engine-side driver, SUMO programs, and the run's part.

Every controller is declared once in :mod:`mobility.signals.registry`. Phase controllers
(``max_pressure``, ``greedy``, ``sotl``, ``model_predictive``) choose the next green every
decision interval from a numpy :class:`Observation`; the :class:`SignalDriver` holds min and
max green and inserts the net's own yellow and all-red. Program controllers (``static``,
``webster``, ``actuated``, ``delay_based``, ``optimized``) are SUMO programs written before
the run. Names are imported on first use: the spec loader reads the registry at start-up.
"""

from mobility.lazy import lazy_exports

_EXPORTS = {
    "CONTROLLERS": "registry",
    "Layout": "types",
    "Observation": "types",
    "PhaseController": "types",
    "PhasePlan": "phases",
    "SignalDriver": "driver",
    "SignalsPart": "setup",
    "plan_from_program": "phases",
    "webster_cycle": "programs",
    "webster_greens": "programs",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
