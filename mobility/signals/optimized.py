"""The ``optimized`` program controller: fixed-time plans chosen on the JAX model.

Before the run, the scenario's net and routes become the model's arrays
(:mod:`mobility.signals.model_build`); :func:`mobility.signals.model_optimize.optimise`
searches greens and offsets from many starts over demand samples in one call, and the
best plan is written as static SUMO ``<tlLogic>`` programs (the net's green states, its
yellow/all-red, the optimised greens and offset). ``params.plan`` names a JSON plan
(``{"tls": {id: {"greens": [...], "offset": s}}}``) to write as-is instead.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from mobility.signals.model_build import ModelArrays, build_model
from mobility.signals.phases import PhasePlan, cycle_program

DEFAULTS: dict[str, float | str] = {
    "starts": 256,  # random plans screened (the first is the net's own plan)
    "refine": 8,  # best screened plans refined by gradient
    "samples": 2,  # demand samples per gradient step
    "iterations": 40,  # Adam steps
    "lr": 0.2,
    "noise": 0.2,  # log-normal demand noise of the samples
    "dt": 2.0,  # s per model step
    "tau": 1.0,  # s, width of the relaxed green windows
    "spread": 0.3,  # log-spread of the random starts' greens around their typical green
    "plan": "",  # JSON plan file: write it instead of optimising
}


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


def optimise_scenario(
    arrays: ModelArrays, *, begin: float, end: float, seed: int, settings: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """(greens [T, P] s, offsets [T] s, info) of the best plan found on the model."""
    import jax
    import jax.numpy as jnp

    from mobility.signals.model import Plan, steps_for
    from mobility.signals.model_optimize import optimise

    net, timing, demand = arrays.jax()
    base = Plan(jnp.asarray(arrays.base_green), jnp.zeros(len(arrays.tls)))
    started = time.perf_counter()
    result = optimise(
        net,
        timing,
        demand,
        base,
        jax.random.PRNGKey(seed),
        starts=settings["starts"],
        refine=min(settings["refine"], settings["starts"]),
        samples=settings["samples"],
        iterations=settings["iterations"],
        steps=steps_for(end - begin, arrays.dt),
        dt=arrays.dt,
        tau=settings["tau"],
        lr=settings["lr"],
        noise=settings["noise"],
        spread=settings["spread"],
    )
    jax.block_until_ready(result)
    period = np.asarray(result.plan.green + timing.lost * timing.phase_mask).sum(axis=1)
    offsets = np.mod(np.asarray(result.plan.offset), np.maximum(period, 1e-3))
    info = {
        "optimise_s": time.perf_counter() - started,
        "model_delay_base": float(result.initial[0]),
        "model_delay_screened": float(result.initial.min()),
        "model_delay_best": float(result.scores.min()),
    }
    return np.asarray(result.plan.green), offsets, info


def optimized_programs(
    *,
    net: Path,
    routes: list[Path],
    tls: list[str],
    begin: float,
    end: float,
    seed: int,
    yellow: float | None,
    all_red: float | None,
    min_green: float,
    max_green: float,
    saturation_flow: float,
    params: dict[str, Any],
    folder: Path,
) -> tuple[list[str], dict[str, object]]:
    """The ``<tlLogic>`` programs of the optimised plan, and what to report about it."""
    settings = check_params(params)
    arrays = build_model(
        net,
        routes,
        tls=tls,
        begin=begin,
        end=end,
        dt=settings["dt"],
        yellow=yellow,
        all_red=all_red,
        min_green=min_green,
        max_green=max_green,
        saturation_flow=saturation_flow,
    )
    info: dict[str, object] = {}
    if settings["plan"]:
        given = json.loads(Path(str(settings["plan"])).read_text())["tls"]
        greens = np.zeros_like(arrays.base_green)
        offsets = np.zeros(len(arrays.tls))
        for i, t in enumerate(arrays.tls):
            n = len(arrays.plans[i].greens)
            g = given.get(t, {}).get("greens", [])[:n]
            if len(g) < n:
                msg = f"plan {settings['plan']} gives {len(g)} greens for {t!r}, which has {n}"
                raise ValueError(msg)
            greens[i, :n] = np.clip(g, min_green, max_green)
            offsets[i] = float(given[t].get("offset", 0.0))
    else:
        greens, offsets, info = optimise_scenario(
            arrays, begin=begin, end=end, seed=seed, settings=settings
        )
    out = {}
    logics = []
    for i, plan in enumerate(arrays.plans):
        g = [float(x) for x in greens[i, : len(plan.greens)]]
        logics.append(program_xml(plan, g, float(offsets[i]), "optimized"))
        out[plan.tls] = {"greens": g, "offset": float(offsets[i])}
    (folder / "optimized_plan.json").write_text(json.dumps({"tls": out}, indent=1))
    return logics, info
