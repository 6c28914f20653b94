"""Sweep specs: a base scenario, the parameters to vary, seeds, and how to run each variant.

A sweep file names a base scenario (a path or an inline mapping) and the values to try at
dotted paths into it (``demand.vehicles_per_hour``, ``signals.controller``,
``shuttles.0.fleet_size``). ``grid`` parameters are crossed, ``zip`` parameters move
together, and every combination runs once per seed::

    name: demand_sweep
    base: quickstart.yaml
    grid:
      demand.vehicles_per_hour: [900, 1800]
    zip:
      demand.fringe_factor: [1, 10]
      demand.min_distance: [0, 300]
    seeds: [1, 2, 3]          # or a count: `seeds: 3` is [0, 1, 2]
    timeout_s: 900
    retries: 2
    resources: {cpus: 1, gpus: 0}

:func:`expand` turns it into :class:`PlannedRun` objects, each with a fully validated
:class:`~mobility.config.ScenarioSpec` and a stable id (the spec's content hash). Every
variant is validated before anything is launched, and a variant that makes the scenario
invalid is reported by its parameters.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from mobility.config import ScenarioSpec, StrictModel, load_yaml, validate_spec
from mobility.errors import SpecError

# At most this many invalid variants are listed in one error.
MAX_REPORTED = 10


class Resources(StrictModel):
    """What one run reserves on a Ray node."""

    cpus: float = Field(1.0, gt=0, description="CPUs per run (SUMO is single-threaded)")
    gpus: float = Field(0.0, ge=0, le=8, description="GPU fraction per run (JAX-heavy runs)")


class SweepSpec(StrictModel):
    """A sweep: base scenario x parameter values x seeds, and how each run is executed."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    description: str = ""
    base: str | dict[str, Any] = Field(description="scenario YAML path or inline scenario")
    grid: dict[str, list[Any]] | None = Field(None, description="dotted path -> values, crossed")
    zip: dict[str, list[Any]] | None = Field(None, description="dotted path -> values, zipped")
    seeds: list[int] = Field([42], min_length=1)
    timeout_s: float | None = Field(None, gt=0, description="wall seconds before a run is killed")
    retries: int = Field(2, ge=0, le=20, description="re-runs when a worker or node dies")
    resources: Resources = Resources()
    max_in_flight: int | None = Field(
        None, ge=1, description="runs submitted at once; default twice the cluster's slots"
    )

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("a seed count must be at least 1")
            return list(range(value))
        return value

    @field_validator("grid", "zip")
    @classmethod
    def _not_empty(cls, value: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("no parameters; list at least one `path: [values]` or drop it")
        for path, values in value.items():
            if not values:
                msg = f"parameter `{path}` has no values; give at least one"
                raise ValueError(msg)
            if path == "seed" or path.startswith("seed."):
                raise ValueError("vary the seed with `seeds:`, not as a parameter")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        if self.zip:
            lengths = {path: len(values) for path, values in self.zip.items()}
            if len(set(lengths.values())) > 1:
                msg = f"zipped parameters need lists of one length; got {lengths}"
                raise ValueError(msg)
        shared = set(self.grid or ()) & set(self.zip or ())
        if shared:
            msg = f"parameter(s) {sorted(shared)} are in both grid and zip; keep one"
            raise ValueError(msg)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds repeat; each seed may appear once")
        return self


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: a variant (parameter values) with one seed."""

    run_id: str  # content hash of the resolved spec
    variant: str  # the parameter values as text, the same for every seed
    params: dict[str, Any]
    seed: int
    spec: ScenarioSpec

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "variant": self.variant,
            "params": self.params,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: its spec, where it came from, and every run it expands to."""

    spec: SweepSpec
    source: Path
    runs: list[PlannedRun]

    @property
    def param_paths(self) -> list[str]:
        return [*(self.spec.grid or {}), *(self.spec.zip or {})]


def load_sweep(path: Path | str) -> SweepPlan:
    """Load a sweep YAML file, validate it and every run it expands to."""
    path = Path(path).resolve()
    data = load_yaml(path)
    if isinstance(data, dict) and "base" not in data and "network" in data:
        msg = f"{path}: this is a scenario, not a sweep; run it with `mobility run {path}`"
        raise SpecError(msg)
    spec = validate_spec(SweepSpec, data, source=path, base_dir=path.parent)
    return SweepPlan(spec, path, expand(spec, source=path))


def load_base(spec: SweepSpec, *, source: Path) -> dict[str, Any]:
    """The base scenario as a resolved dict (defaults filled in, paths absolute)."""
    if isinstance(spec.base, str):
        base_path = (source.parent / spec.base).resolve()
        if not base_path.is_file():
            msg = f"{source}: field `base`: file not found: {base_path}; fix the path"
            raise SpecError(msg)
        scenario = validate_spec(
            ScenarioSpec, load_yaml(base_path), source=base_path, base_dir=base_path.parent
        )
    else:
        scenario = validate_spec(ScenarioSpec, spec.base, source=source, base_dir=source.parent)
    return scenario.model_dump(mode="json")


def expand(spec: SweepSpec, *, source: Path) -> list[PlannedRun]:
    """Every run of the sweep, validated; raises one SpecError listing all bad variants."""
    base = load_base(spec, source=source)
    for path in [*(spec.grid or {}), *(spec.zip or {})]:
        _check_path(base, path, source)
    runs: list[PlannedRun] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for params in _combinations(spec):
        variant = variant_label(params)
        for seed in spec.seeds:
            data = json.loads(json.dumps(base))  # a deep copy of plain JSON data
            for path, value in params.items():
                _set_path(data, path, value)
            data["seed"] = seed
            where = f"{source} (variant {variant}, seed {seed})"
            try:
                scenario = validate_spec(
                    ScenarioSpec, data, source=Path(where), base_dir=source.parent
                )
            except SpecError as exc:
                problems.append(str(exc))
                continue
            run_id = scenario.content_hash()
            label = f"{variant}, seed {seed}"
            if run_id in seen:
                msg = f"{source}: `{label}` gives the same scenario as `{seen[run_id]}`; "
                problems.append(msg + "remove the duplicate value")
                continue
            seen[run_id] = label
            runs.append(PlannedRun(run_id, variant, params, seed, scenario))
    if problems:
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        tail = [f"... and {more} more invalid run(s)"] if more else []
        head = f"{source}: {len(problems)} of the sweep's runs are invalid; nothing was launched"
        raise SpecError("\n".join([head, *shown, *tail]))
    return runs


def check_variants(plan: SweepPlan, runs: list[PlannedRun] | None = None) -> int:
    """Check each distinct variant of ``runs`` (default: all) against its network, as a run
    would (:func:`mobility.scenario.check_scenario`: signal ids, edges, stops); raises one
    SpecError naming every bad variant, so a sweep refuses them before anything launches
    instead of failing them one by one on Ray. Builds only the (cached) networks; returns
    the number of variants checked."""
    from mobility.errors import MobilityError
    from mobility.scenario import check_scenario

    checked: set[str] = set()
    problems: list[str] = []
    for run in plan.runs if runs is None else runs:
        key = run.spec.model_copy(update={"seed": 0}).content_hash()  # the seed aside
        if key in checked:
            continue
        checked.add(key)
        try:
            check_scenario(run.spec)
        except MobilityError as exc:
            problems.append(f"variant {run.variant}: {exc}")
    if problems:
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        tail = [f"... and {more} more invalid variant(s)"] if more else []
        head = (
            f"{plan.source}: {len(problems)} of the sweep's {len(checked)} variant(s) are "
            "invalid against their network; nothing was launched (fix or drop these values)"
        )
        raise SpecError("\n".join([head, *shown, *tail]))
    return len(checked)


def variant_label(params: dict[str, Any]) -> str:
    """``demand.vehicles_per_hour=900,signals.controller=static`` (``base`` if none)."""
    if not params:
        return "base"
    return ",".join(f"{path}={json.dumps(value)}" for path, value in params.items())


def _combinations(spec: SweepSpec) -> list[dict[str, Any]]:
    grid = spec.grid or {}
    zipped = spec.zip or {}
    grid_points = [
        dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
    ]
    zip_points = [
        dict(zip(zipped, values, strict=True)) for values in zip(*zipped.values(), strict=True)
    ]
    return [{**g, **z} for g in grid_points for z in (zip_points or [{}])]


def _parts(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _check_path(base: dict[str, Any], path: str, source: Path) -> None:
    """The path must name a field of the (resolved) base scenario."""
    node: Any = base
    walked: list[str] = []
    for part in _parts(path):
        here = ".".join(walked) or "the scenario"
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            if isinstance(node, dict):
                known = ", ".join(node)
                hint = f"`{part}` is not a field of {here} (fields: {known})"
            elif isinstance(node, list):
                hint = f"{here} has {len(node)} item(s); `{part}` is not an index of it"
            else:
                hint = f"{here} is a value ({node!r}), it has no `{part}`"
            msg = f"{source}: parameter `{path}`: {hint}; fix the path"
            raise SpecError(msg)
        walked.append(str(part))


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = _parts(path)
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
