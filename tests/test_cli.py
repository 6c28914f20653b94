"""The `mobility` command as a planner types it: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
from conftest import ARTERIAL, ROOT, run_cli, small_scenario


def test_run_prints_kpis_and_writes_the_run_dir(write_spec, tmp_path: Path) -> None:
    spec = write_spec(small_scenario(end=300))
    proc = run_cli("run", str(spec), "--out", str(tmp_path / "res"))
    assert proc.returncode == 0, proc.stderr
    assert "travel_time_mean_s" in proc.stdout
    (run_dir,) = (tmp_path / "res").iterdir()
    assert json.loads((run_dir / "kpis.json").read_text())["vehicles_loaded"] == 75
    assert "Warning" not in proc.stdout + proc.stderr  # SUMO's console noise stays in its log


def test_validate_accepts_the_examples() -> None:
    examples = [
        str(p) for p in sorted((ROOT / "experiments").glob("*.yaml")) if "sweep" not in p.name
    ]
    proc = run_cli("validate", *examples)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok") == len(examples)


@pytest.mark.parametrize(
    ("command", "spec", "expected"),
    [
        ("validate", "name: x\nseed: 1: 2\n", "not valid YAML"),
        ("validate", small_scenario(speed_limit=3), "field `speed_limit`: unknown field"),
        ("run", small_scenario(network="gone.net.xml"), "file not found"),
        ("run", small_scenario(begin=100, end=50), "end (50) must be after begin (100)"),
        (
            "run",
            small_scenario(
                network=str(ARTERIAL),
                demand={
                    "type": "od",
                    "zones": {"a": ["WJ0"], "b": ["no_such_edge"]},
                    "flows": [{"from": "a", "to": "b", "vehicles_per_hour": 100}],
                },
            ),
            "demand.zones.b",
        ),
    ],
    ids=["malformed-yaml", "unknown-field", "missing-file", "end-before-begin", "od-zone"],
)
def test_bad_input_exits_2_with_one_clear_message(
    write_spec, tmp_path: Path, command: str, spec, expected: str
) -> None:
    path = write_spec(spec)
    out = tmp_path / "res"
    args = [command, str(path)] + (["--out", str(out)] if command == "run" else [])
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert expected in proc.stderr
    assert str(path) in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_missing_spec_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("run", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_net_info_build_and_export(tmp_path: Path) -> None:
    info = run_cli("net", "info", str(ARTERIAL))
    assert info.returncode == 0, info.stderr
    assert re.search(r"│ signals\s+│ 5\s+│", info.stdout)  # the arterial's five lights
    built = run_cli("net", "build", str(ROOT / "experiments" / "west_oakland.yaml"))
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip().replace("\n", "").endswith("net.net.xml")
    gpkg = tmp_path / "arterial.gpkg"
    exported = run_cli("net", "export", str(ARTERIAL), "--out", str(gpkg))
    assert exported.returncode == 0, exported.stderr
    assert len(gpd.read_file(gpkg, layer="edges")) == 32
