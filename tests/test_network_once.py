"""The network is read once per run, whatever the controller, with shuttles, and with the
report: every part takes the run's :class:`~mobility.network.net.Network`."""

from __future__ import annotations

import json

import pytest
from conftest import GRID3, small_scenario

from mobility.config import ScenarioSpec
from mobility.network import net as network_module
from mobility.network.net import load_network
from mobility.scenario import run_scenario
from mobility.signals.registry import CONTROLLERS


def _fresh_parse_count() -> int:
    network_module.clear_cache()
    return network_module.parse_count


def _plan_for(tmp_path) -> str:
    """A fixed-time plan file for every light of the grid, for ``optimized`` to deploy."""
    programs = load_network(GRID3).signals.programs
    plan = {t: {"greens": [20.0] * len(p), "offset": 0.0} for t, p in programs.items()}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"tls": plan}))
    return str(path)


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_one_parse_per_run_for_every_controller(controller, tmp_path) -> None:
    params = {"plan": _plan_for(tmp_path)} if controller == "optimized" else {}
    signals = {"controller": controller, "params": params}
    spec = ScenarioSpec.model_validate(small_scenario(end=120, signals=signals))
    before = _fresh_parse_count()
    result = run_scenario(spec, tmp_path / "runs")
    assert network_module.parse_count - before <= 1  # static needs no parse at all
    assert result.kpis["vehicles_loaded"] > 0


def test_one_parse_for_a_shuttle_run_and_its_report(tmp_path) -> None:
    from mobility.report import build_report

    spec = ScenarioSpec.model_validate(
        small_scenario(
            end=300,
            signals="max_pressure",
            shuttles=[
                {
                    "service": "on_demand",
                    "name": "pods",
                    "fleet_size": 2,
                    "depots": [{"edge": "A0B0"}],
                    "dispatcher": "mobility",
                }
            ],
            riders={"trips": [{"at": 5, "from": "A0B0", "to": "B0C0"}]},
        )
    )
    before = _fresh_parse_count()
    result = run_scenario(spec, tmp_path / "runs")
    build_report(result.run_dir)
    assert network_module.parse_count - before == 1
    assert result.kpis["shuttle_requests"] == 1


def test_the_cache_is_by_content_not_by_path(tmp_path) -> None:
    copy = tmp_path / "copy.net.xml"
    copy.write_bytes(GRID3.read_bytes())
    before = _fresh_parse_count()
    first, second = load_network(GRID3), load_network(copy)
    assert first.net is second.net and second.path == copy.resolve()
    assert network_module.parse_count - before == 1  # parsed on first use, once for both
    assert sorted(first.signals.programs) == sorted(second.signals.programs)
