"""Sweep specs without Ray: expansion, stable run ids, and the bad input a planner can give
(unknown parameter path, empty grid, a value that breaks a variant, an unreachable cluster)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, small_scenario
from experiment_helpers import write_sweep

from mobility.errors import MobilityError, SpecError
from mobility.experiment import load_sweep, run_sweep

SWEEPS = sorted((ROOT / "experiments").glob("*sweep*.yaml"))


def test_grid_zip_and_seeds_expand_to_stable_validated_runs(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        grid={"demand.vehicles_per_hour": [600, 900], "signals.controller": ["static"]},
        zip={"end": [300, 600, 900], "demand.fringe_factor": [1, 2, 5]},
        seeds=3,
    )
    plan = load_sweep(path)
    assert len(plan.runs) == 2 * 1 * 3 * 3
    assert len({r.run_id for r in plan.runs}) == len(plan.runs)
    assert [r.seed for r in plan.runs[:3]] == [0, 1, 2]
    first = plan.runs[0]
    assert first.spec.demand.vehicles_per_hour == 600 and first.spec.end == 300
    assert first.spec.demand.fringe_factor == 1 and first.spec.seed == 0
    assert first.variant.startswith("demand.vehicles_per_hour=600,")
    assert first.run_id == first.spec.content_hash()
    # the same file expands to the same ids; the ids do not depend on where the file is
    again = load_sweep(path)
    assert [r.run_id for r in again.runs] == [r.run_id for r in plan.runs]


def test_base_scenario_can_be_a_file(tmp_path: Path, write_spec) -> None:
    write_spec(small_scenario(), name="base.yaml")
    plan = load_sweep(write_sweep(tmp_path, base="base.yaml", grid={"end": [300, 600]}))
    assert {r.spec.end for r in plan.runs} == {300, 600}


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_example_sweeps_expand(path: Path) -> None:
    plan = load_sweep(path)
    assert len(plan.runs) >= 2
    assert len({r.variant for r in plan.runs}) >= 2


def test_unknown_parameter_path_names_the_fields_there(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid={"demand.vehicle_per_hour": [600]})
    with pytest.raises(SpecError) as err:
        load_sweep(path)
    text = str(err.value)
    assert str(path) in text and "demand.vehicle_per_hour" in text
    assert "vehicles_per_hour" in text  # the fields that do exist there


def test_index_past_a_list_is_reported(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid={"name.0": ["x"]})
    with pytest.raises(SpecError, match="is a value"):
        load_sweep(path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"grid": {}}, "no parameters"),
        ({"grid": {"end": []}}, "`end` has no values"),
        ({"zip": {"end": [300, 600], "demand.fringe_factor": [1]}}, "one length"),
        ({"grid": {"seed": [1, 2]}}, "seeds"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "seeds repeat"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"grid": {"end": [300]}, "zip": {"end": [600]}}, "both grid and zip"),
    ],
)
def test_bad_sweep_fields(tmp_path: Path, fields: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_sweep(write_sweep(tmp_path, **fields))


def test_invalid_variant_is_reported_before_anything_runs(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid={"end": [600, -5], "demand.fringe_factor": [0.5, 2]})
    with pytest.raises(SpecError) as err:
        load_sweep(path)
    text = str(err.value)
    assert "nothing was launched" in text
    assert "end=-5, seed" in text and "field `end`" in text
    assert "demand.fringe_factor=0.5" in text and "field `demand.fringe_factor`" in text
    # through the CLI: exit 2, no traceback, nothing written
    result = run_cli("sweep", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "end=-5, seed" in result.stderr
    assert not (tmp_path / "out").exists()


def test_duplicate_variants_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="same scenario"):
        load_sweep(write_sweep(tmp_path, grid={"end": [600, 600.0]}))


def test_scenario_file_given_to_sweep_is_explained(tmp_path: Path, write_spec) -> None:
    with pytest.raises(SpecError, match="not a sweep"):
        load_sweep(write_spec(small_scenario()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    plan = load_sweep(write_sweep(tmp_path))
    started = time.perf_counter()
    with pytest.raises(MobilityError, match="cannot reach a Ray cluster"):
        run_sweep(plan, tmp_path / "out", address=f"127.0.0.1:{_free_port()}", progress=False)
    assert time.perf_counter() - started < 10
    with pytest.raises(MobilityError, match="HOST:PORT"):
        run_sweep(plan, tmp_path / "out2", address="not-an-address", progress=False)
    path = write_sweep(tmp_path, name="cli.yaml")
    result = run_cli("sweep", str(path), "--address", f"127.0.0.1:{_free_port()}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot reach a Ray cluster" in " ".join(result.stderr.split())


def test_results_of_a_folder_that_is_no_sweep(tmp_path: Path) -> None:
    result = run_cli("results", "summary", str(tmp_path))
    assert result.returncode == 2 and "not a sweep directory" in " ".join(result.stderr.split())
