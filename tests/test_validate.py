"""``mobility validate`` finds before any run what a run would refuse, in scenario and sweep
files, against the network: one line per case (the spec change, words of the message)."""

from __future__ import annotations

import pytest
import yaml
from conftest import GRID3, ROOT, run_cli, small_scenario

GOOD = small_scenario(end=60)

CASES = [
    ({"signals": {"controller": "max_pressure", "tls": ["Z9"]}}, "signals.tls", "'Z9'"),
    ({"signals": {"controller": "sotl", "params": {"theta": -1}}}, "signals.params.theta", ""),
    ({"signals": {"controller": "greedy", "params": {"x": 1}}}, "signals.params.x", "unknown"),
    ({"signals": {"controller": "fastest"}}, "signals", "unknown controller 'fastest'"),
    (
        {"signals": {"controller": "max_pressure", "decision_interval": 2}},
        "signals.decision_interval",
        "not longer than the yellow",
    ),
    (
        {
            "demand": {
                "type": "od",
                "zones": {"a": ["A0B0"], "b": ["nowhere"]},
                "flows": [{"from": "a", "to": "b", "vehicles_per_hour": 10}],
            }
        },
        "demand.zones.b",
        "nowhere",
    ),
    (
        {
            "shuttles": [
                {
                    "service": "on_demand",
                    "name": "pods",
                    "fleet_size": 1,
                    "depots": [{"edge": "Z9Z9"}],
                }
            ]
        },
        "shuttles.0.depots.0.edge",
        "Z9Z9",
    ),
]


@pytest.mark.parametrize(("change", "field", "words"), CASES)
def test_validate_refuses_what_a_run_would(change, field, words, tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **change}))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert field in proc.stderr and words in proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_refuses_route_files_with_unknown_edges(tmp_path) -> None:
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        '<routes><vehicle id="v0" depart="0"><route edges="A0B0 QQ"/></vehicle></routes>'
    )
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "demand": str(routes)}))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2
    assert "'QQ'" in proc.stderr and "r.rou.xml" in proc.stderr and "v0" in proc.stderr


def test_validate_refuses_a_corrupt_network(tmp_path) -> None:
    net = tmp_path / "broken.net.xml"
    net.write_text(GRID3.read_text()[:5000])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "network": str(net)}))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2
    assert "broken.net.xml" in proc.stderr and "could not be read" in proc.stderr


def test_validate_checks_every_variant_of_a_sweep(tmp_path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({**GOOD, "signals": "max_pressure"}))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {"name": "s", "base": "base.yaml", "grid": {"signals.tls": [["B1"], ["nope"]]}}
        )
    )
    proc = run_cli("validate", str(sweep))
    assert proc.returncode == 2
    assert "variant" in proc.stderr and "'nope'" in proc.stderr
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"name": "g", "base": "base.yaml", "seeds": [1, 2]}))
    proc = run_cli("validate", str(good), str(base))
    assert proc.returncode == 0, proc.stderr
    assert "sweep g: 1 variant(s), 2 run(s)" in proc.stdout


def test_validate_passes_every_bundled_experiment() -> None:
    files = sorted(str(p) for p in (ROOT / "experiments").rglob("*.yaml"))
    proc = run_cli("validate", *files)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") == len(files)
