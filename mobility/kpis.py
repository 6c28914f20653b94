"""What each KPI of ``kpis.json`` means, declared once beside the code that computes it.

A computing module keeps a module-level ``KPIS: tuple[Kpi, ...]`` next to its code
(:mod:`mobility.sim.kpi`, :mod:`mobility.shuttles.kpi`, :mod:`mobility.signals.queue`), so
a new KPI is declared where it is written; the report and ``mobility signals compare`` read
the declarations through :func:`all_kpis` instead of keeping their own tables.

Some KPIs come in families that one declaration covers:

- a name with a ``{placeholder}`` (``shuttle_km_share_load_{load}``) stands for every name
  with a value there (no ``_`` in it): ``shuttle_km_share_load_0``, ``..._1``, ...;
- a declaration with ``per_fleet=True`` is also written once per shuttle fleet (with
  several fleets), as ``shuttle_fleet_<fleet>_<name without shuttle_>``, e.g.
  ``shuttle_fleet_pods_wait_mean_s`` (see ``shuttle_tables`` in :mod:`mobility.shuttles.kpi`).

:func:`find_kpi` resolves any such concrete name to its declaration.

This module is stdlib only and imports the computing modules (``SOURCES``) on first use,
so importing it costs nothing and the computing modules can import :class:`Kpi` from here.
That makes a call-time circle (this module -> computing module -> :class:`Kpi`); moving
:class:`Kpi` into a leaf module of its own would remove it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from typing import Literal

Better = Literal["lower", "higher", "neither"]

# Modules declaring ``KPIS``, in the order their KPIs reach kpis.json (and the report table).
SOURCES = (
    "mobility.sim.kpi",
    "mobility.shuttles.kpi",
    "mobility.signals.queue",
    "mobility.demand.counts",
    "mobility.safety.kpi",
)
# How mobility.shuttles.kpi names a per-fleet KPI: FLEET_PREFIX + fleet + "_" + rest.
SHUTTLE_PREFIX = "shuttle_"
FLEET_PREFIX = "shuttle_fleet_"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Kpi:
    """One KPI: its key in kpis.json and what a reader needs to interpret the value.

    ``label`` is short, for a column header (``label (unit)`` is :attr:`heading`);
    ``description`` is the plain-words sentence the report shows; ``unit`` is never empty
    (counts say what they count, 0-1 ratios say ``share``). ``better`` says which way is
    an improvement, so comparisons can colour differences and pick a best variant.
    ``headline`` KPIs are shown first in a sweep report, in declaration order. A family's
    label and description may use its name's placeholders; the reader fills them in.
    """

    name: str
    label: str
    unit: str
    better: Better
    description: str
    headline: bool = False
    per_fleet: bool = False  # also written per shuttle fleet (see the module docstring)

    @property
    def heading(self) -> str:
        """``label (unit)``: a column header that carries its unit."""
        return f"{self.label} ({self.unit})"

    @property
    def params(self) -> tuple[str, ...]:
        """The placeholders of a family's name (``("load",)``); empty for a single KPI."""
        return tuple(_PLACEHOLDER.findall(self.name))


@dataclass(frozen=True)
class KpiName:
    """A concrete name in kpis.json resolved to its declaration.

    ``fleet`` is the shuttle fleet of a per-fleet name (None for all fleets together);
    ``params`` the values the name puts in the declaration's placeholders.
    """

    name: str
    kpi: Kpi
    fleet: str | None = None
    params: dict[str, str] = field(default_factory=dict, hash=False)


def all_kpis() -> dict[str, Kpi]:
    """Every declared KPI by name, in declaration order (a fresh dict each call)."""
    return dict(_by_name())


def headline_kpis() -> tuple[str, ...]:
    """The names of the headline KPIs, in declaration order."""
    return tuple(k.name for k in _declared() if k.headline)


def find_kpi(name: str) -> KpiName | None:
    """The declaration behind ``name``: exact, a family member, or a per-fleet variant.

    None for a name nothing declares (an older run's KPI, or one added without a
    declaration). A per-fleet name is tried against the longest declared tails first, so a
    fleet name with underscores in it still resolves as today's report always did.
    """
    kpis = _by_name()
    if name in kpis:
        return KpiName(name, kpis[name])
    for kpi, pattern in _patterns():
        match = pattern.fullmatch(name)
        if match:
            params = match.groupdict()
            fleet = params.pop("fleet", None)
            return KpiName(name, kpi, fleet, params)
    return None


@cache
def _declared() -> tuple[Kpi, ...]:
    kpis: list[Kpi] = []
    for module in SOURCES:
        kpis.extend(import_module(module).KPIS)
    names = [k.name for k in kpis]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        msg = f"KPIs declared more than once: {', '.join(twice)}"
        raise ValueError(msg)
    return tuple(kpis)


@cache
def _by_name() -> dict[str, Kpi]:
    return {k.name: k for k in _declared()}


@cache
def _patterns() -> tuple[tuple[Kpi, re.Pattern[str]], ...]:
    """(declaration, regex) for families and per-fleet variants; per-fleet, longest first."""
    found = [(k, re.compile(_regex(k.name))) for k in _declared() if k.params]
    fleets = sorted(
        (k for k in _declared() if k.per_fleet),
        key=lambda k: len(k.name),
        reverse=True,
    )
    for k in fleets:
        if not k.name.startswith(SHUTTLE_PREFIX):
            msg = f"{k.name}: per_fleet KPIs start with {SHUTTLE_PREFIX!r}"
            raise ValueError(msg)
        tail = _regex(k.name.removeprefix(SHUTTLE_PREFIX))
        found.append((k, re.compile(f"{re.escape(FLEET_PREFIX)}(?P<fleet>.+)_{tail}")))
    return tuple(found)


def _regex(name: str) -> str:
    """A declared name as a regex: each ``{p}`` a named group without underscores."""
    parts = _PLACEHOLDER.split(name)  # text, param, text, param, ..., text
    return "".join(
        f"(?P<{part}>[^_]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
    )
