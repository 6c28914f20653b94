"""The ``optimized`` program controller: deploys a fixed-time plan searched beforehand.

A run only reads a plan: ``params.plan`` (a plan JSON, ``{"tls": {id: {"greens": [...],
"offset": s}}}``) or else the plan ``mobility signals optimize`` stored in the content
cache for this scenario's content (:mod:`mobility.signals.optimize` searches it on the JAX
model and checks the best candidates in SUMO). It never searches and never runs SUMO
itself: no run starts another run. When neither plan exists the run stops with an error
that names the command to run first.

The plan is written as static SUMO ``<tlLogic>`` programs: the net's green states, its
yellow/all-red, the plan's greens (clipped into ``[min_green, max_green]``) and offset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from mobility.cache import cached_build
from mobility.config import ScenarioSpec
from mobility.errors import SpecError
from mobility.network.net import Network
from mobility.signals.phases import PhasePlan, cycle_program
from mobility.sim.parts import RunContext

PLAN_KIND = "signal-plans"  # the cache folder of searched plans
PLAN_FILE = "plan.json"
SEARCH_REVISION = 6  # bump when the search changes, so cached plans are not reused
NO_PLAN = (
    "field `signals.params.plan`: the `optimized` controller has no plan for this scenario "
    "(its content: net, demand, signal settings); run `mobility signals optimize SPEC` first, "
    "or give signals.params.plan (a plan JSON)"
)


def plan_settings(spec: ScenarioSpec) -> dict[str, Any]:
    """Every ``optimized`` setting of ``spec`` (``signals.params``), defaults filled in."""
    params = spec.signals.params
    return {name: getattr(params, name) for name in type(params).model_fields}


def plan_key(
    spec: ScenarioSpec, *, network: Network, routes: Sequence[Path], tls: Sequence[str]
) -> dict[str, Any]:
    """The cache key of the plan searched for ``spec``: everything the search depends on
    (net, route files, the twin's calibration when one is fitted, lights, the spec but its
    name, seed and outputs, the search settings) and nothing else, so that runs over many
    seeds of one demand share one plan."""
    from mobility.signals.model_build import cached_calibration

    same = spec.model_dump(mode="json", exclude={"name", "description", "seed", "outputs"})
    settings = {k: v for k, v in plan_settings(spec).items() if k != "plan"}
    twin = cached_calibration(spec, network, list(routes))  # a new fit: a new search
    return {
        "net": network.digest,
        "routes": [_digest(r) for r in routes],
        "twin": _digest(twin) if twin is not None else None,
        "tls": list(tls),
        "spec": same,
        "settings": settings,
        "search_revision": SEARCH_REVISION,  # (cached_build adds its own "revision")
    }


class _NotSearched(Exception):
    """The cache has no plan for a key (raised instead of building one)."""


def cached_plan(
    spec: ScenarioSpec, *, network: Network, routes: Sequence[Path], tls: Sequence[str]
) -> Path | None:
    """The plan file ``mobility signals optimize`` stored for this content, or None.

    A look-up only: the build step of the cache refuses, so nothing is searched here.
    """

    def refuse(_: Path) -> Path:
        raise _NotSearched

    key = plan_key(spec, network=network, routes=routes, tls=tls)
    try:
        return cached_build(PLAN_KIND, key, refuse, PLAN_FILE)
    except _NotSearched:
        return None


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def program_xml(plan: PhasePlan, greens: list[float], offset: float, program_id: str) -> str:
    """A static ``<tlLogic>``: the plan's greens with its transitions, and an offset."""
    lines = [
        f'    <tlLogic id={quoteattr(plan.tls)} type="static" programID="{program_id}" '
        f'offset="{offset:.1f}">'
    ]
    for state, dur in cycle_program(plan, greens):
        lines.append(f'        <phase duration="{dur:.1f}" state="{state}"/>')
    lines.append("    </tlLogic>")
    return "\n".join(lines)


def load_plan(path: Path) -> dict[str, Any]:
    """A plan document (``{"tls": ..., "info": ...}``); SpecError naming the file and field."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        msg = f"field `signals.params.plan`: {path}: file not found; fix the path or run "
        raise SpecError(msg + "`mobility signals optimize SPEC -o PLAN.json`") from None
    except (OSError, ValueError) as exc:
        msg = f"field `signals.params.plan`: {path} is not a plan JSON ({exc}); write it again"
        raise SpecError(msg) from None
    if not isinstance(document, dict) or not isinstance(document.get("tls"), dict):
        msg = f'field `signals.params.plan`: {path} has no "tls" mapping; expected '
        raise SpecError(msg + '{"tls": {id: {"greens": [...], "offset": s}}}')
    return document


def plan_lights(document: dict[str, Any], plans: Sequence[PhasePlan], path: Path) -> dict:
    """The plan document's lights (read from ``path``), checked against the scenario's."""
    given = document["tls"]
    doc = {}
    for plan in plans:
        n = len(plan.greens)
        g = given.get(plan.tls, {}).get("greens", [])[:n]
        if len(g) < n:
            msg = (
                f"field `signals.params.plan`: {path} gives {len(g)} greens for {plan.tls!r}, "
                f"which has {n} green phases; give one green per phase"
            )
            raise SpecError(msg)
        doc[plan.tls] = {"greens": g, "offset": float(given[plan.tls].get("offset", 0.0))}
    return doc


def optimized_programs(
    spec: ScenarioSpec,
    *,
    network: Network,
    routes: list[Path],
    plans: Sequence[PhasePlan],
    folder: Path,
) -> tuple[list[str], dict[str, object]]:
    """The ``<tlLogic>`` programs of the given (or searched) plan for the lights of
    ``plans`` (the net's green phases and transitions), and how the plan was found.

    Raises :class:`SpecError` when there is no plan: the search is a command of its own.
    """
    import numpy as np

    sig = spec.signals
    given = plan_settings(spec)["plan"]
    source = Path(given) if given else None
    if source is None:
        tls = [plan.tls for plan in plans]
        source = cached_plan(spec, network=network, routes=routes, tls=tls)
        if source is None:
            raise SpecError(NO_PLAN)
    document = load_plan(source)
    info: dict[str, object] = document.get("info") or {}
    if document.get("reference"):  # the search kept what the city has: see its references
        logics = reference_programs(str(document["reference"]), spec, network, routes, plans)
        record = {"reference": document["reference"], "search": info, "plan": str(source)}
        (folder / "optimized_plan.json").write_text(json.dumps(record, indent=1))
        return logics, info
    doc = plan_lights(document, plans, source)
    logics = []
    for plan in plans:
        greens = np.clip(doc[plan.tls]["greens"], sig.min_green, sig.max_green)
        doc[plan.tls]["greens"] = [float(g) for g in greens]
        logics.append(program_xml(plan, list(greens), doc[plan.tls]["offset"], "optimized"))
    record = {"tls": doc, "search": info, "plan": str(source)}  # the plan, and how it was found
    (folder / "optimized_plan.json").write_text(json.dumps(record, indent=1))
    return logics, info


def reference_programs(
    name: str, spec: ScenarioSpec, network: Network, routes: list[Path], plans: Sequence[PhasePlan]
) -> list[str]:
    """The programs of a reference plan the search found unbeaten: the net's own
    (``static``: nothing to write) or Webster's."""
    if name == "static":
        return []
    if name == "webster":
        from mobility.signals.programs import webster_programs

        ctx = RunContext(spec, network, tuple(routes), Path("."))
        return webster_programs(ctx, list(plans))
    msg = f'field `signals.params.plan`: unknown reference {name!r}; use "static" or "webster"'
    raise SpecError(msg)


def optimized_plan_programs(ctx: RunContext, plans: list[PhasePlan]) -> list[str]:
    """The ``optimized`` entry of the controller registry: the plan's ``<tlLogic>``s."""
    from mobility.demand.build import calibration_demand

    known = calibration_demand(ctx.spec, ctx.network)  # what the search planned from
    logics, _ = optimized_programs(
        ctx.spec, network=ctx.network, routes=known, plans=plans, folder=ctx.folder
    )
    return logics
