"""Plan search is a command, not a side effect of a run: ``mobility signals optimize`` searches
on the JAX model and checks its best candidates in SUMO through the sweep runner (a real
local Ray), caches the plan by the scenario's content, and a run under ``optimized`` only
reads it (or stops, naming the command, when there is none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli, small_scenario

from mobility.cache import cache_root
from mobility.config import RoutesDemand, ScenarioSpec, signals_with
from mobility.demand.build import build_demand
from mobility.errors import SpecError
from mobility.experiment.store import SweepStore
from mobility.network.build import build_network
from mobility.network.net import load_network
from mobility.scenario import run_scenario
from mobility.signals.compare import compare
from mobility.signals.optimize import (
    VERIFY_SEED,
    better_reference,
    ensure_plan,
    plan_spec,
    write_plan_file,
)

pytest.importorskip("ray")

SEARCH = {"starts": 8, "refine": 3, "samples": 1, "iterations": 3}  # a small, quick search


@pytest.fixture(scope="module", autouse=True)
def plan_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache of this module's own, so that its plans can be counted (the `mobility`
    commands the tests start inherit it)."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("plan-cache")
    mp.setenv("MOBILITY_CACHE", str(root))
    yield root
    mp.undo()


def _spec(**params: object) -> ScenarioSpec:
    """The 3x3 grid for 400 s under ``optimized``, its vehicles fixed for every seed (so
    that the seeds of a comparison or sweep share one plan)."""
    signals = {"controller": "optimized", "params": params, "min_green": 5, "max_green": 40}
    spec = ScenarioSpec.model_validate(small_scenario(end=400, signals=signals))
    routes = build_demand(spec, load_network(build_network(spec.network)))
    return spec.model_copy(update={"demand": RoutesDemand(type="routes", path=routes[0])})


def _write(spec: ScenarioSpec, path: Path) -> Path:
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    return path


def _run_dirs(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]


def _plans() -> int:
    folder = cache_root() / "signal-plans"
    return len(_run_dirs(folder)) if folder.is_dir() else 0


def test_candidates_are_checked_through_the_runner_and_the_plan_is_reused(tmp_path) -> None:
    spec = _spec(**SEARCH, verify=2, verify_seeds=2)
    checks = tmp_path / "checks"
    found = ensure_plan(spec, out=checks)
    document = json.loads(found.read_text())
    info = document["info"]
    # first the descents from the net's own plan (a line search), which are refined plans:
    # the net's own and Webster's plans are starts, never the answer as they are
    assert [(c["start"], c["adam_steps"]) for c in info["candidates"]] == [("net", 1), ("net", 3)]
    # both ran on a held-out seed, the better one on a second seed too, and it won
    sumo = [c["sumo_delay_s"] for c in info["candidates"]]
    chosen = sumo[info["chosen"]]
    assert sorted(map(len, sumo)) == [1, 2] and len(chosen) == 2
    assert chosen[0] == min(d[0] for d in sumo) and all(d > 0 for d in chosen)
    # the references (the net's own programs, Webster's) ran on the finalists' seeds, and
    # the plan deployed is the searched one only if it beat them there
    refs = info["references"]
    assert sorted(refs) == ["static", "webster"] and all(len(d) == 2 for d in refs.values())
    assert info["deployed"] == (better_reference(chosen, refs) or "searched plan")
    # the seven checks were Ray tasks of the sweep runner, stored in its results store
    rows = SweepStore(checks).query("SELECT variant, seed, status, node_id FROM runs")
    assert len(rows) == 7 and set(rows["status"]) == {"ok"}
    assert rows["node_id"].notna().all()
    assert sorted(rows["seed"]) == sorted([VERIFY_SEED] * 4 + [VERIFY_SEED + 1] * 3)
    if info["deployed"] != "searched plan":
        return  # the reference path is tested on its own below
    # the check ran on a held-out seed: the chosen plan there gives the recorded delay
    plan_file = write_plan_file(tmp_path, document["tls"])
    again = run_scenario(plan_spec(spec, plan_file, name="again", seed=VERIFY_SEED), tmp_path)
    assert again.kpis["resco_delay_s"] == chosen[0]
    # asked again, the cached plan comes back and nothing runs
    assert ensure_plan(spec, out=tmp_path / "checks-again") == found
    assert not (tmp_path / "checks-again").exists()
    # runs over two seeds deploy that one plan, clipped into [min_green, max_green]
    for seed in (42, 43):
        run = run_scenario(spec.model_copy(update={"seed": seed}), tmp_path / "runs")
        record = json.loads((run.run_dir / "optimized_plan.json").read_text())
        assert record["search"] == info and record["plan"] == str(found)
        for tls, plan in record["tls"].items():
            wanted = np.clip(document["tls"][tls]["greens"], 5.0, 40.0)
            assert plan["greens"] == pytest.approx(list(wanted))
    assert len(_run_dirs(tmp_path / "runs")) == 2
    assert _plans() == 1


def test_a_run_without_a_plan_stops_and_names_the_command(tmp_path) -> None:
    spec = _spec(**SEARCH, seed=7)  # a search nobody ran
    with pytest.raises(SpecError) as caught:
        run_scenario(spec, tmp_path / "runs")
    message = str(caught.value)
    assert "signals.params.plan" in message and "mobility signals optimize" in message
    assert caught.value.exit_code == 2
    assert not (tmp_path / "runs").exists() or not _run_dirs(tmp_path / "runs")


def test_optimize_command_writes_the_plan_and_a_run_deploys_it(tmp_path) -> None:
    path = _write(_spec(**SEARCH, verify=1, verify_seeds=1), tmp_path / "scenario.yaml")
    plan = tmp_path / "plan.json"
    done = run_cli(
        "signals", "optimize", str(path), "-o", str(plan), "--out", str(tmp_path / "checks")
    )
    assert done.returncode == 0, done.stderr
    assert "chosen" in done.stdout
    document = json.loads(plan.read_text())
    # one candidate and the two references, each on one seed
    assert len(SweepStore(tmp_path / "checks").query("SELECT * FROM runs")) == 3
    # the run finds the plan in the cache: one run directory, and no other SUMO run
    done = run_cli("run", str(path), "--out", str(tmp_path / "runs"), "--no-report")
    assert done.returncode == 0, done.stderr
    assert "searching" not in done.stdout
    (run_dir,) = _run_dirs(tmp_path / "runs")
    record = json.loads((run_dir / "optimized_plan.json").read_text())
    assert record["search"] == document["info"]
    # with one verify seed the search's candidate does not beat Webster's plan in SUMO here:
    # the plan file names the reference, and the run deploys it, light by light
    assert record["reference"] == document["reference"] == document["info"]["deployed"]
    assert document["reference"] == "webster"
    assert document["tls"] == {} and "tls" not in record  # no plan of its own to deploy
    assert json.loads(Path(record["plan"]).read_text()) == document  # the cached plan file


def test_compare_runs_optimized_through_the_runner(tmp_path) -> None:
    spec = _spec(**SEARCH, verify=1, verify_seeds=1)
    seen = []
    runs, summary = compare(
        spec, ["static", "optimized"], [1, 2], tmp_path, on_run=lambda c, s, _: seen.append((c, s))
    )
    assert sorted(seen) == [("optimized", 1), ("optimized", 2), ("static", 1), ("static", 2)]
    assert list(summary["controller"]) == ["static", "optimized"]
    assert (summary["seeds"] == 2).all() and summary["resco_delay_s_ci95"].notna().all()
    rows = SweepStore(tmp_path).query("SELECT variant, node_id FROM runs ORDER BY variant")
    assert list(rows["variant"]) == ["optimized", "optimized", "static", "static"]
    assert rows["node_id"].notna().all()
    for run_dir in runs[runs["controller"] == "optimized"]["run_dir"]:
        assert (Path(run_dir) / "optimized_plan.json").is_file()


def test_sweep_searches_a_missing_plan_once_before_launching(tmp_path) -> None:
    base = _spec(**SEARCH, verify=0).model_dump(mode="json")  # the model's best, no SUMO check
    sweep = {"name": "optimized_sweep", "base": base, "seeds": [1, 2]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    before = _plans()
    done = run_cli("sweep", str(path), "--out", str(tmp_path / "out"), "--no-report")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("searching") == 1  # both seeds share the demand: one search
    assert _plans() == before + 1
    rows = SweepStore(tmp_path / "out").query("SELECT status FROM runs")
    assert list(rows["status"]) == ["ok", "ok"]


def test_a_reference_that_is_not_beaten_is_what_the_plan_deploys() -> None:
    assert better_reference([30.0, 32.0], {"static": [29.0, 31.0], "webster": [40.0, 41.0]}) == (
        "static"
    )
    assert better_reference([30.0, 32.0], {"static": [31.0, 32.0], "webster": [40.0, 41.0]}) is None
    assert better_reference([], {"static": [1.0]}) is None  # nothing checked: nothing to say


@pytest.mark.parametrize("reference", ["static", "webster"])
def test_a_reference_plan_runs_exactly_as_that_controller(reference, tmp_path) -> None:
    spec = _spec(**SEARCH)
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"tls": {}, "reference": reference, "info": {"deployed": reference}})
    )
    deployed = run_scenario(plan_spec(spec, plan, name="deployed", seed=7), tmp_path)
    signals = signals_with(spec.signals, controller=reference)
    direct = run_scenario(
        spec.model_copy(update={"signals": signals, "name": "direct", "seed": 7}), tmp_path
    )
    assert deployed.kpis["resco_delay_s"] == direct.kpis["resco_delay_s"]
    record = json.loads((deployed.run_dir / "optimized_plan.json").read_text())
    assert record["reference"] == reference
