"""``mobility signals optimize``: search fixed-time plans on the JAX model, check them in SUMO.

The scenario's net and its demand as a controller may know it (drawn on the calibration
seed, :func:`mobility.demand.build.calibration_demand`) become the model's arrays
(:mod:`mobility.signals.model_build`); :func:`mobility.core.plan_search.optimise` screens
the net's own plan, Webster's, both at other cycle lengths, and many random plans over
demand samples in one call, and refines the best by gradient (greens, a cycle length per
light, offsets). The model ranks plans well but not perfectly (see ``mobility signals
check-model``), so the ``verify`` best of its plans then run in SUMO on held-out seeds (from
``VERIFY_SEED + 100 seed``, never seeds a comparison runs; successive halving over
``verify_seeds`` seeds), in parallel through the sweep runner
(:func:`mobility.experiment.runner.run_specs`), and the best there is the plan. Only plans
the optimiser produced compete: the net's own and Webster's plans are starting points,
never the answer as they are.

A fixed-time plan is made once and then deployed: the search is seeded by ``params.seed``
(not the run's seed) and stored in the content cache under the scenario's content (net,
routes, spec but its seed, settings: :func:`mobility.signals.optimized.plan_key`), where
the ``optimized`` controller of every later run with that content finds it. Commands that
launch runs (``mobility run``, ``sweep``, ``signals compare``) call :func:`ensure_plan`
first; a run itself never searches.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobility.cache import cached_build
from mobility.config import ScenarioSpec, signals_with
from mobility.network.net import Network
from mobility.signals.model_build import ModelArrays
from mobility.signals.optimized import (
    PLAN_FILE,
    PLAN_KIND,
    cached_plan,
    plan_key,
    plan_settings,
)
from mobility.signals.phases import PhasePlan

VERIFY_SEED = 10_000  # SUMO seeds of the check start here, clear of the runs' own seeds


def needs_plan(spec: ScenarioSpec) -> bool:
    """True when a run of ``spec`` deploys a searched plan (``optimized``, no plan given)."""
    return spec.signals.controller == "optimized" and not plan_settings(spec)["plan"]


def as_optimized(spec: ScenarioSpec) -> ScenarioSpec:
    """``spec`` under the ``optimized`` controller (default settings when it had another):
    the spec a run deploying the plan has, so that both compute the same cache key."""
    if spec.signals.controller == "optimized":
        return spec
    return spec.model_copy(update={"signals": signals_with(spec.signals, controller="optimized")})


def ensure_plan(
    spec: ScenarioSpec,
    *,
    address: str | None = None,
    out: Path | None = None,
    num_cpus: int | None = None,
    progress: bool = False,
) -> Path:
    """The plan file a run of ``spec`` under ``optimized`` deploys: its ``params.plan``, the
    plan searched before for its content, or one searched now and cached.

    The SUMO checks of a search run on Ray (local, or the cluster at ``address``) into the
    results store ``out`` (default: next to the plan in the cache).
    """
    spec = as_optimized(spec)
    given = plan_settings(spec)["plan"]
    if given:
        return Path(given)
    network, routes, plans = scenario_content(spec)
    key = plan_key(spec, network=network, routes=routes, tls=[p.tls for p in plans])

    def build(tmp: Path) -> Path:
        checks = Path(out) if out is not None else tmp / "check"
        run = {"address": address, "num_cpus": num_cpus, "progress": progress}
        doc, info = search_plan(spec, network, routes, plans, checks, **run)
        target = tmp / PLAN_FILE
        document = {"tls": {}, **doc} if "reference" in doc else {"tls": doc}
        target.write_text(json.dumps({**document, "info": info}, indent=1))
        return target

    return cached_build(PLAN_KIND, key, build, PLAN_FILE)


def ensure_plans(
    specs: Sequence[ScenarioSpec],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    on_search: Callable[[ScenarioSpec], None] | None = None,
) -> list[Path]:
    """The cached plans of every spec that needs one (:func:`needs_plan`), searched where
    missing (once per content: seeds that share their demand share one search), under one
    Ray session. Called by commands before they launch runs."""
    from mobility.experiment.sweep import ray_session

    found: dict[Path, None] = {}
    missing: dict[str, ScenarioSpec] = {}  # one spec per content to search
    for spec in specs:
        if not needs_plan(spec):
            continue
        network, routes, plans = scenario_content(spec)
        content = {"network": network, "routes": routes, "tls": [p.tls for p in plans]}
        key = plan_key(spec, **content)
        path = cached_plan(spec, **content)
        if path is None:
            missing.setdefault(json.dumps(key, sort_keys=True, default=str), spec)
        else:
            found[path] = None
    checked = any(plan_settings(spec)["verify"] for spec in missing.values())
    if missing:
        with ray_session(address, num_cpus) if checked else nullcontext():
            for spec in missing.values():
                if on_search is not None:
                    on_search(spec)
                found[ensure_plan(spec, address=address, num_cpus=num_cpus)] = None
    return list(found)


def scenario_content(spec: ScenarioSpec) -> tuple[Network, list[Path], list[PhasePlan]]:
    """The scenario's network, route files and controlled lights, as a run of it sees them
    (checked as a run checks them: a SpecError before a long search, not after)."""
    from mobility.demand.build import calibration_demand
    from mobility.scenario import check_scenario
    from mobility.signals.programs import plans_from_net

    network = check_scenario(spec)
    routes = calibration_demand(spec, network)  # a field controller's knowledge of the demand
    sig = spec.signals
    tls = list(sig.tls) if sig.tls is not None else sorted(network.signals.programs)
    plans = plans_from_net(network.signals, tls, yellow=sig.yellow, all_red=sig.all_red)
    return network, list(routes), [plans[t] for t in tls]


def plan_spec(spec: ScenarioSpec, plan_file: Path, *, name: str, seed: int) -> ScenarioSpec:
    """``spec`` under the fixed-time plan in ``plan_file`` (``optimized`` given the plan)."""
    params = {"plan": str(Path(plan_file).resolve())}
    signals = signals_with(spec.signals, controller="optimized", params=params)
    return spec.model_copy(update={"signals": signals, "name": name, "seed": seed})


def write_plan_file(folder: Path, doc: dict) -> Path:
    """``{"tls": doc}`` as ``folder/<content hash>.json``: a run's spec names its plan by
    path, so a name per content keeps one path from ever meaning two plans."""
    text = json.dumps({"tls": doc}, indent=1, sort_keys=True)
    path = Path(folder) / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


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


def webster_greens_array(
    arrays: ModelArrays, network: Network, routes: list[Path], *, spec: ScenarioSpec
) -> np.ndarray:
    """[T, P] Webster's greens of every light (the ``webster`` controller's plan)."""
    from mobility.signals.programs import movement_flows, webster_plan

    sig = spec.signals
    links = network.signals.links
    flows = movement_flows(routes, network, begin=spec.begin, end=spec.end)
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
    """The optimiser's :class:`~mobility.core.plan_search.Result` from the ``given``
    greens [G, T, P] (offsets zero) and ``starts - G`` random plans."""
    import jax
    import jax.numpy as jnp

    from mobility.core.plan_search import CYCLE_SCALES, optimise
    from mobility.core.signal_model import Plan, steps_for

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
    network: Network,
    routes: list[Path],
    plans: Sequence[PhasePlan],
    checks: Path,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = False,
) -> tuple[dict, dict[str, Any]]:
    """(plan document, how it was found): the model's best plans, checked in SUMO by runs
    into the results store ``checks``."""
    from mobility.experiment.sweep import ray_session

    settings = plan_settings(spec)
    run = {"address": address, "num_cpus": num_cpus, "progress": progress}
    # Ray starts before JAX runs: Ray's processes started from a process running JAX's
    # threads draw JAX's warning about forking
    with ray_session(address, num_cpus) if settings["verify"] else nullcontext():
        found = model_candidates(spec, network, routes, plans, settings)
        started = time.perf_counter()
        sumo, best, refs = ([], 0, {})
        if settings["verify"]:
            sumo, best, refs = check_in_sumo(spec, found.docs, checks, settings, **run)
    info = found.info(sumo, best, verify_s=time.perf_counter() - started)
    reference = better_reference(sumo[best] if sumo else [], refs)
    info["references"] = refs
    info["deployed"] = reference or "searched plan"
    if reference is not None:  # what the city has is not beaten: keep it, and say so
        return {"reference": reference}, info
    return found.docs[best], info


def better_reference(chosen: list[float], refs: dict[str, list[float]]) -> str | None:
    """The reference plan (``static``: the net's own, ``webster``) to deploy instead of the
    searched plan when one is at least as good on the same check seeds, else None: the
    search may never leave a city worse off than the plan it already has."""
    if not chosen or not refs:
        return None
    name = min(refs, key=lambda r: np.mean(refs[r]))
    return name if np.mean(refs[name]) <= np.mean(chosen) else None


@dataclass
class Candidates:
    """The model's plans to check in SUMO, and what the optimiser said of them."""

    docs: list[dict]  # plan documents, in the order checked
    result: Any  # the optimiser's Result
    chosen: list[int]  # their rows in the optimiser's pool
    vehicles: float  # of the demand, to state delays per vehicle
    optimise_s: float

    def info(self, sumo: list[list[float]], best: int, *, verify_s: float) -> dict[str, Any]:
        """How the plan was found: the starts' model delays, each candidate's model and
        SUMO delays (one per seed checked), and which won."""
        result, vehicles = self.result, self.vehicles
        scores, initial = np.asarray(result.scores), np.asarray(result.initial)
        starts = start_names(["net", "webster"])
        return {
            "optimise_s": round(self.optimise_s, 2),
            "verify_s": round(verify_s, 2),
            "model_delay_net_s": float(initial[0]) / vehicles,
            "model_delay_webster_s": float(initial[1]) / vehicles,
            "candidates": [
                {
                    "start": starts[o] if (o := int(result.origin[i])) < len(starts) else "random",
                    "adam_steps": int(result.steps[i]),
                    "model_delay_s": float(scores[i]) / vehicles,
                    "sumo_delay_s": sumo[n] if sumo else [],
                }
                for n, i in enumerate(self.chosen)
            ],
            "chosen": best,
        }


def model_candidates(
    spec: ScenarioSpec,
    network: Network,
    routes: list[Path],
    plans: Sequence[PhasePlan],
    settings: dict[str, Any],
) -> Candidates:
    """The optimiser's best plans on the model, started from the net's own plan and
    Webster's, as plan documents in whole simulation steps."""
    from mobility.signals.model_build import model_for_spec

    tls = [p.tls for p in plans]
    arrays = model_for_spec(spec, network, routes, tls=tls, dt=settings["dt"])
    given = np.stack([arrays.base_green, webster_greens_array(arrays, network, routes, spec=spec)])
    started = time.perf_counter()
    result = optimise_on_model(arrays, given, settings, duration=spec.end - spec.begin)
    optimise_s = time.perf_counter() - started
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
    vehicles = max(float(arrays.demand["rate"].sum() * arrays.demand["bin_s"]), 1.0)
    return Candidates(docs, result, chosen, vehicles, optimise_s)


def check_in_sumo(
    spec: ScenarioSpec,
    docs: list[dict],
    folder: Path,
    settings: dict[str, Any],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = False,
) -> tuple[list[list[float]], int, dict[str, list[float]]]:
    """(RESCO delay of each plan in SUMO per seed checked, the best plan, the references'
    delays), by successive halving: every plan on a first held-out seed, the best quarter
    on ``verify_seeds - 1`` more, and the best mean of those wins (one seed is noisy: on
    cologne3 one plan's delay moves by 3 s between seeds). The references, the net's own
    programs and Webster's, run on the finalists' seeds. Each round's runs go in parallel
    through the runner."""
    from mobility.experiment.runner import file_inputs, run_specs
    from mobility.experiment.sweep import ray_session

    first = VERIFY_SEED + 100 * settings["seed"]
    files = [write_plan_file(Path(folder) / "plans", doc) for doc in docs]

    def delays(pairs: list[tuple[int | str, int]]) -> list[float]:
        specs = [_check_spec(spec, files, n, seed) for n, seed in pairs]
        rows = run_specs(
            specs,
            folder,
            variants=[f"candidate-{n}" for n, _ in pairs],
            inputs=file_inputs(files),
            name=f"{spec.name}-plan-check",
            progress=progress,
        )
        return [float(row.get("kpi_resco_delay_s", np.nan)) for row in rows]

    seeds = range(first, first + settings["verify_seeds"])
    with ray_session(address, num_cpus):
        out = [[d] for d in delays([(n, first) for n in range(len(docs))])]
        finalists = [int(n) for n in np.argsort([d[0] for d in out])[: -(-len(docs) // 4)]]
        more = [(n, s) for n in finalists for s in seeds[1:]]
        refs: list[tuple[int | str, int]] = [(r, s) for r in REFERENCES for s in seeds]
        measured = delays([*more, *refs])
    for (n, _), delay in zip(more, measured[: len(more)], strict=True):
        out[n].append(delay)
    by_ref: dict[str, list[float]] = {r: [] for r in REFERENCES}
    for (name, _), delay in zip(refs, measured[len(more) :], strict=True):
        by_ref[str(name)].append(delay)
    return out, min(finalists, key=lambda n: np.mean(out[n])), by_ref


REFERENCES = ("static", "webster")  # what a city has: its own programs, and Webster's


def _check_spec(spec: ScenarioSpec, files: list[Path], n: int | str, seed: int) -> ScenarioSpec:
    """The check run of candidate ``n`` (or of a reference controller) on ``seed``."""
    if isinstance(n, str):
        signals = signals_with(spec.signals, controller=n)
        return spec.model_copy(
            update={"signals": signals, "name": f"reference-{n}-{seed}", "seed": seed}
        )
    return plan_spec(spec, files[n], name=f"candidate-{n}-{seed}", seed=seed)


def start_names(given: list[str]) -> list[str]:
    """Names of the optimiser's structured starts: the given plans, then each of them at
    the other cycle lengths (``webster x0.8``); any later start is random."""
    from mobility.core.plan_search import CYCLE_SCALES

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
