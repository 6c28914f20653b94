"""Green phases and the transitions between them, taken from a net's own program.

Pure string work on SUMO signal states (one character per controlled link: ``G`` priority
green, ``g`` green, ``y`` yellow, ``r`` red, ``u`` red-yellow, ``s`` stop, ``o``/``O`` off).
A controller only ever names a *green phase*; the transition shown before it comes from here,
so every state the engine sets is built from the net's own states and is one SUMO accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

GREEN = frozenset("Gg")
YELLOW = frozenset("yY")

DEFAULT_YELLOW_S = 3.0


def is_green_phase(state: str) -> bool:
    """A phase that serves traffic: some link green and none yellow."""
    return any(c in GREEN for c in state) and not any(c in YELLOW for c in state)


@lru_cache(maxsize=4096)  # a light switches between few pairs of states, many times
def yellow_state(shown: str, target: str) -> str:
    """The state between ``shown`` and ``target``: links losing their green turn yellow."""
    return "".join(
        "y" if a in GREEN and b not in GREEN else a for a, b in zip(shown, target, strict=True)
    )


@lru_cache(maxsize=4096)
def all_red_state(shown: str, target: str) -> str:
    """The clearance state after yellow: links losing their green are red, others as shown."""
    return "".join(
        "r" if a in GREEN and b not in GREEN else a for a, b in zip(shown, target, strict=True)
    )


@dataclass(frozen=True)
class PhasePlan:
    """The green phases of one traffic light and its transition times.

    ``yellow[i]`` and ``all_red[i]`` are the seconds of yellow and all-red shown when green
    ``i`` ends, read from the phases that follow it in the net's program.
    """

    tls: str
    greens: tuple[str, ...]  # [phase] signal state
    green_durations: tuple[float, ...]  # [phase] s in the net's own program
    yellow: tuple[float, ...]  # [phase] s
    all_red: tuple[float, ...]  # [phase] s

    @property
    def size(self) -> int:
        """Number of controlled links (length of a state)."""
        return len(self.greens[0])


def plan_from_program(
    tls: str,
    program: list[tuple[str, float]],
    *,
    yellow: float | None = None,
    all_red: float | None = None,
) -> PhasePlan:
    """The green phases of ``program`` (``[(state, duration)]``), duplicates merged.

    Transition times are ``yellow`` / ``all_red`` when given, else the durations of the
    yellow and all-red phases that follow each green in the program (3 s yellow and no
    all-red where the program has none).
    """
    greens: list[str] = []
    durations: list[float] = []
    yellows: list[float] = []
    reds: list[float] = []
    n = len(program)
    for i, (state, duration) in enumerate(program):
        if not is_green_phase(state) or state in greens:
            continue
        y_s, r_s = 0.0, 0.0
        for k in range(1, n):
            nxt, dur = program[(i + k) % n]
            if any(c in YELLOW for c in nxt):
                y_s += dur
            elif not any(c in GREEN for c in nxt) and y_s > 0:
                r_s += dur
            else:
                break
        greens.append(state)
        durations.append(duration)
        yellows.append(yellow if yellow is not None else (y_s or DEFAULT_YELLOW_S))
        reds.append(all_red if all_red is not None else r_s)
    if not greens:
        msg = f"traffic light {tls!r} has no green phase in its program"
        raise ValueError(msg)
    return PhasePlan(tls, tuple(greens), tuple(durations), tuple(yellows), tuple(reds))


def cycle_program(plan: PhasePlan, greens_s: list[float]) -> list[tuple[str, float]]:
    """A fixed cycle through the plan's greens with their transitions: ``[(state, s)]``."""
    phases: list[tuple[str, float]] = []
    n = len(plan.greens)
    for i, green in enumerate(plan.greens):
        nxt = plan.greens[(i + 1) % n]
        phases.append((green, greens_s[i]))
        if n > 1 and plan.yellow[i] > 0:
            phases.append((yellow_state(green, nxt), plan.yellow[i]))
        if n > 1 and plan.all_red[i] > 0:
            phases.append((all_red_state(green, nxt), plan.all_red[i]))
    return phases
