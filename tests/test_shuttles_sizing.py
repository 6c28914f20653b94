"""`mobility shuttles size`: bisection over fleet sizes through the runner on a local Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from shuttle_helpers import on_demand

from mobility.config import ScenarioSpec, validate_spec
from mobility.errors import SpecError
from mobility.scenario import run_scenario
from mobility.shuttles.sizing import Condition, parse_target

# ~3 requests a minute for 4 minutes from two edges to three, riders wait at most 2 min
RIDERS = {
    "zones": {"s": ["B0C0", "A1B1"], "n": ["B1B2", "C2B2", "A2B2"]},
    "flows": [{"from": "s", "to": "n", "per_hour": 180}],
    "until": 240,
}


def test_size_finds_the_smallest_fleet_and_reports_every_size(tmp_path: Path) -> None:
    data = on_demand(tmp_path, riders=RIDERS, end=600, max_wait=120)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    out = tmp_path / "sizing"
    args = ["--target", "served>=0.7", "--min", "1", "--max", "3", "--seeds", "2", "-o", str(out)]
    done = run_cli("shuttles", "size", str(spec_file), *args)
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "sizing.json").read_text())
    sizes = {int(k): v for k, v in record["sizes"].items()}
    assert sorted(sizes) == [1, 2, 3]  # max, min, then the middle
    smallest = record["smallest"]
    assert sizes[smallest]["meets"] and all(not sizes[k]["meets"] for k in sizes if k < smallest)
    assert f"smallest fleet meeting 'served>=0.7': {smallest} shuttles" in done.stdout
    # the sizes really ran with their fleet: one shuttle, run here without Ray, agrees
    served = []
    for seed in record["seeds"]:
        one = validate_spec(
            ScenarioSpec, {**data, "seed": seed}, source=spec_file, base_dir=tmp_path
        )
        served.append(run_scenario(one, tmp_path / f"one-{seed}").kpis["shuttle_served_share"])
    mean, half = sizes[1]["kpis"]["shuttle_served_share"]
    assert mean == pytest.approx(sum(served) / 2) and half >= 0
    assert mean < 0.7 < sizes[3]["kpis"]["shuttle_served_share"][0]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("served=>0.9", "is not KPI>=VALUE"),
        ("speed>=3", "unknown KPI 'speed'"),
        ("", "--target is empty"),
    ],
)
def test_bad_targets_name_the_option(text: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_target(text)
    assert "--target" in str(err.value) and words in str(err.value)


def test_targets_parse_aliases_and_full_names() -> None:
    got = parse_target("served>=0.95, wait_p95<=600,shuttle_occupancy_mean>=1.5")
    assert got == [
        Condition("shuttle_served_share", ">=", 0.95),
        Condition("shuttle_wait_p95_s", "<=", 600.0),
        Condition("shuttle_occupancy_mean", ">=", 1.5),
    ]
    assert not got[1].met(float("nan")) and got[1].met(600.0) and not got[1].met(600.1)


def test_cli_rejects_unknown_fleet_with_exit_2(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(on_demand(tmp_path, riders=RIDERS)))
    done = run_cli("shuttles", "size", str(spec_file), "--fleet", "vans", "-o", str(tmp_path))
    assert done.returncode == 2
    assert "--fleet 'vans' is not an on-demand fleet of the scenario (pods)" in done.stderr
    assert "Traceback" not in done.stderr
