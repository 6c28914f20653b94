"""The ``optimized`` program controller: fixed-time plans chosen on the JAX model.

Before the run, the scenario's net and routes become the model's arrays
(:mod:`mobility.signals.model_build`); :func:`mobility.signals.model_optimize.optimise`
screens the net's own plan, Webster's, both at other cycle lengths, and many random plans
over demand samples in one call, and refines the best by gradient (greens, a cycle length
per light, offsets). The model ranks plans well but not perfectly (see ``mobility signals
check-model``), so the ``verify`` best of its plans then run in SUMO on held-out seeds
(from ``VERIFY_SEED + 100 seed``, never seeds a comparison runs; successive halving over
``verify_seeds`` seeds) and the best there is written as static SUMO ``<tlLogic>``
programs (the net's green states, its yellow/all-red, the chosen greens and offset). Only
plans the optimiser produced compete: the net's own and Webster's plans are starting
points, never the answer as they are.

A fixed-time plan is made once and then deployed: the search is seeded by ``params.seed``
(not the run's seed) and cached by content (net, routes, spec, settings), so that runs over
many seeds share one plan. ``params.plan`` names a JSON plan
(``{"tls": {id: {"greens": [...], "offset": s}}}``) to write as-is instead.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from mobility.cache import cached_build
from mobility.config import ScenarioSpec
from mobility.signals.model_build import ModelArrays, model_for_spec
from mobility.signals.phases import PhasePlan, cycle_program

DEFAULTS: dict[str, float | str] = {
    "starts": 256,  # plans screened (the first: the net's own and Webster's)
    "refine": 8,  # plans refined by gradient (the net's own, Webster's, the best random)
    "samples": 2,  # demand samples per gradient step
    "iterations": 40,  # Adam steps
    "lr": 0.2,
    "noise": 0.2,  # log-normal demand noise of the samples
    "dt": 2.0,  # s per model step
    "tau": 1.0,  # s, width of the relaxed green windows
    "spread": 0.3,  # log-spread of the random starts' greens around their typical green
    "seed": 0,  # of the search: random starts, demand samples, the SUMO check's seed
    "verify": 16,  # plans run in SUMO before choosing (0: take the model's best)
    "verify_seeds": 3,  # SUMO seeds the best quarter of them run before choosing
    "plan": "",  # JSON plan file: write it instead of optimising
}
VERIFY_SEED = 10_000  # SUMO seeds of the check start here, clear of the runs' own seeds
SEARCH_REVISION = 5  # bump when the search changes, so cached plans are not reused


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """The settings with defaults filled in (ValueError naming unknown ones)."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        msg = f"optimized has no setting {', '.join(unknown)} (settings: {', '.join(DEFAULTS)})"
        raise ValueError(msg)
    out = {**DEFAULTS, **params}
    for key in ("starts", "refine", "samples", "iterations"):
        out[key] = int(out[key])
        if out[key] < 1:
            raise ValueError(f"optimized: {key} must be at least 1")
    for key in ("seed", "verify"):
        out[key] = int(out[key])
        if out[key] < 0:
            raise ValueError(f"optimized: {key} must be at least 0")
    out["verify_seeds"] = int(out["verify_seeds"])
    if out["verify_seeds"] < 1:
        raise ValueError("optimized: verify_seeds must be at least 1")
    for key in ("lr", "noise", "dt", "tau", "spread"):
        out[key] = float(out[key])
    return out


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


def plan_document(
    plans: Sequence[PhasePlan], greens: np.ndarray, offsets: np.ndarray, *, step: float
) -> dict:
    """``{tls: {"greens": [...], "offset": s}}`` of greens [T, P] and offsets [T], in whole
    simulation steps: SUMO switches phases on steps, so a 5.1 s green would show for 6 s
    and shift the rest of the cycle (on cologne3 that alone moved the delay by 6 s)."""

    def steps(x: np.ndarray) -> list[float]:
        return [float(v) for v in np.round(np.atleast_1d(x) / step) * step]

    return {
        plan.tls: {"greens": steps(greens[k, : len(plan.greens)]), "offset": steps(offsets[k])[0]}
        for k, plan in enumerate(plans)
    }


def run_plan(spec: ScenarioSpec, doc: dict, out_dir: Path, *, name: str, seed: int):
    """Run ``spec`` in SUMO under the fixed-time plan ``doc``; the :class:`RunResult`."""
    from mobility.scenario import run_scenario

    out_dir.mkdir(parents=True, exist_ok=True)
    plan_file = out_dir / f"{name}.json"
    plan_file.write_text(json.dumps({"tls": doc}))
    signals = spec.signals.model_copy(
        update={"controller": "optimized", "params": {"plan": str(plan_file.resolve())}}
    )
    run_spec = spec.model_copy(update={"signals": signals, "name": name, "seed": seed})
    return run_scenario(run_spec, out_dir)


def webster_greens_array(
    arrays: ModelArrays, net: Path, routes: list[Path], *, spec: ScenarioSpec
) -> np.ndarray:
    """[T, P] Webster's greens of every light (the ``webster`` controller's plan)."""
    from mobility.signals.programs import movement_flows, read_net_signals, webster_plan

    sig = spec.signals
    links = read_net_signals(net).links
    flows = movement_flows(routes, net, begin=spec.begin, end=spec.end)
    out = np.zeros_like(arrays.base_green)
    for k, plan in enumerate(arrays.plans):
        _, greens = webster_plan(
            plan,
            links.get(plan.tls, {}),
            flows,
            saturation_flow=sig.saturation_flow,
            min_green=sig.min_green,
        )
        out[k, : len(greens)] = np.clip(greens, sig.min_green, sig.max_green)
    return out


def optimise_on_model(
    arrays: ModelArrays, given: np.ndarray, settings: dict[str, Any], *, duration: float
):
    """The optimiser's :class:`~mobility.signals.model_optimize.Result` from the ``given``
    greens [G, T, P] (offsets zero) and ``starts - G`` random plans."""
    import jax
    import jax.numpy as jnp

    from mobility.signals.model import Plan, steps_for
    from mobility.signals.model_optimize import CYCLE_SCALES, optimise

    net, timing, demand = arrays.jax()
    starts = jnp.asarray(given), jnp.zeros(given.shape[:2])
    result = optimise(
        net,
        timing,
        demand,
        Plan(*starts),
        jax.random.PRNGKey(settings["seed"]),
        starts=max(settings["starts"], len(given) * (1 + len(CYCLE_SCALES))),
        refine=max(min(settings["refine"], settings["starts"]), len(given)),
        samples=settings["samples"],
        iterations=settings["iterations"],
        steps=steps_for(duration, arrays.dt),
        dt=arrays.dt,
        tau=settings["tau"],
        lr=settings["lr"],
        noise=settings["noise"],
        spread=settings["spread"],
    )
    return jax.block_until_ready(result)


def search_plan(
    spec: ScenarioSpec,
    arrays: ModelArrays,
    given: np.ndarray,
    settings: dict[str, Any],
    folder: Path,
) -> tuple[dict, dict[str, Any]]:
    """(plan document, how it was found): the model's best plans, checked in SUMO. The
    given greens [G, T, P] are the net's own plan, then Webster's."""
    started = time.perf_counter()
    result = optimise_on_model(arrays, given, settings, duration=spec.end - spec.begin)
    optimise_s = time.perf_counter() - started
    scores = np.asarray(result.scores)
    chosen = candidates(result, len(given), settings["verify"])
    greens, offsets = np.asarray(result.pool.green), np.asarray(result.pool.offset)
    lost = arrays.timing["lost"] * arrays.timing["phase_mask"]
    docs = [
        plan_document(
            arrays.plans,
            greens[i],
            np.mod(offsets[i], (greens[i] + lost).sum(axis=1)),
            step=spec.step_length,
        )
        for i in chosen
    ]
    sumo, best = check_in_sumo(spec, docs, folder, settings) if settings["verify"] else ([], 0)
    vehicles = max(float(arrays.demand["rate"].sum() * arrays.demand["bin_s"]), 1.0)
    initial = np.asarray(result.initial)
    starts = start_names(["net", "webster"])
    info = {
        "optimise_s": round(optimise_s, 2),
        "verify_s": round(time.perf_counter() - started - optimise_s, 2),
        "model_delay_net_s": float(initial[0]) / vehicles,
        "model_delay_webster_s": float(initial[1]) / vehicles,
        "candidates": [
            {
                "start": starts[o] if (o := int(result.origin[i])) < len(starts) else "random",
                "adam_steps": int(result.steps[i]),
                "model_delay_s": float(scores[i]) / vehicles,
                "sumo_delay_s": sumo[n] if sumo else [],  # one per seed checked
            }
            for n, i in enumerate(chosen)
        ],
        "chosen": best,
    }
    return docs[best], info


def check_in_sumo(
    spec: ScenarioSpec, docs: list[dict], folder: Path, settings: dict[str, Any]
) -> tuple[list[list[float]], int]:
    """(RESCO delay of each plan in SUMO per seed checked, the best plan), by successive
    halving: every plan on a first held-out seed, the best quarter on ``verify_seeds - 1``
    more, and the best mean of those wins (one seed is noisy: on cologne3 one plan's delay
    moves by 3 s between seeds)."""
    first = VERIFY_SEED + 100 * settings["seed"]

    def delay(n: int, seed: int) -> float:
        run = run_plan(spec, docs[n], folder, name=f"candidate-{n}-{seed}", seed=seed)
        return float(run.kpis.get("resco_delay_s", np.nan))

    out = [[delay(n, first)] for n in range(len(docs))]
    finalists = [int(n) for n in np.argsort([d[0] for d in out])[: -(-len(docs) // 4)]]
    for n in finalists:
        out[n] += [delay(n, first + k) for k in range(1, settings["verify_seeds"])]
    return out, min(finalists, key=lambda n: np.mean(out[n]))


def start_names(given: list[str]) -> list[str]:
    """Names of the optimiser's structured starts: the given plans, then each of them at
    the other cycle lengths (``webster x0.8``); any later start is random."""
    from mobility.signals.model_optimize import CYCLE_SCALES

    return [*given, *(f"{g} x{c:g}" for c in CYCLE_SCALES for g in given)]


def candidates(result, n_given: int, verify: int) -> list[int]:
    """Pool rows to check in SUMO, ``verify`` of them (the model's best if 0).

    Only the optimiser's plans compete: descents and random starts, never the given plans
    as they are. First the descents from the given plans at every kept step (a line search
    in SUMO along the model's direction, which catches a step the model overrates), then
    the rest by model score.
    """
    steps, origin = np.asarray(result.steps), np.asarray(result.origin)
    own = (steps > 0) | (origin >= n_given)
    by_score = [int(i) for i in np.argsort(np.asarray(result.scores)) if own[i]]
    if not verify:
        return by_score[:1]
    warm = [i for i in np.lexsort((steps, origin)) if steps[i] > 0 and origin[i] < n_given]
    rest = [i for i in by_score if i not in set(warm)]
    return [int(i) for i in [*warm, *rest][:verify]]


def cached_search(
    spec: ScenarioSpec,
    *,
    net: Path,
    routes: list[Path],
    tls: list[str],
    settings: dict[str, Any],
) -> tuple[dict, dict[str, Any]]:
    """:func:`search_plan`, once per content (net, routes, spec but its seed, settings); the
    model is only built when the plan is not in the cache yet."""
    same = spec.model_dump(mode="json", exclude={"name", "description", "seed", "outputs"})
    key = {
        "net": _digest(net),
        "routes": [_digest(r) for r in routes],
        "tls": tls,
        "spec": same,
        "settings": settings,
        "search_revision": SEARCH_REVISION,  # (cached_build adds its own "revision")
    }

    def build(tmp: Path) -> Path:
        arrays = model_for_spec(spec, net, routes, tls=tls, dt=settings["dt"])
        webster = webster_greens_array(arrays, net, routes, spec=spec)
        given = np.stack([arrays.base_green, webster])
        doc, info = search_plan(spec, arrays, given, settings, tmp / "check")
        out = tmp / "plan.json"
        out.write_text(json.dumps({"tls": doc, "info": info}, indent=1))
        return out

    found = json.loads(cached_build("signal-plans", key, build, "plan.json").read_text())
    return found["tls"], found["info"]


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_plan(path: str, plans: Sequence[PhasePlan]) -> dict:
    """A plan document from ``path``, checked against the lights of the scenario."""
    given = json.loads(Path(path).read_text())["tls"]
    doc = {}
    for plan in plans:
        n = len(plan.greens)
        g = given.get(plan.tls, {}).get("greens", [])[:n]
        if len(g) < n:
            raise ValueError(f"plan {path} gives {len(g)} greens for {plan.tls!r}, which has {n}")
        doc[plan.tls] = {"greens": g, "offset": float(given[plan.tls].get("offset", 0.0))}
    return doc


def optimized_programs(
    spec: ScenarioSpec,
    *,
    net: Path,
    routes: list[Path],
    plans: Sequence[PhasePlan],
    folder: Path,
) -> tuple[list[str], dict[str, object]]:
    """The ``<tlLogic>`` programs of the optimised (or given) plan for the lights of
    ``plans`` (the net's green phases and transitions), and what to report."""
    sig = spec.signals
    settings = check_params(dict(sig.params))
    info: dict[str, object] = {}
    if settings["plan"]:
        doc = read_plan(str(settings["plan"]), plans)
    else:
        search = {k: v for k, v in settings.items() if k != "plan"}
        tls = [plan.tls for plan in plans]
        doc, info = cached_search(spec, net=net, routes=routes, tls=tls, settings=search)
    logics = []
    for plan in plans:
        greens = np.clip(doc[plan.tls]["greens"], sig.min_green, sig.max_green)
        doc[plan.tls]["greens"] = [float(g) for g in greens]
        logics.append(program_xml(plan, list(greens), doc[plan.tls]["offset"], "optimized"))
    record = {"tls": doc, "search": info}  # how the plan was found, next to the plan
    (folder / "optimized_plan.json").write_text(json.dumps(record, indent=1))
    return logics, info
