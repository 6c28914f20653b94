"""Bad signal settings give errors that name the file, the field and the fix."""

from __future__ import annotations

import pytest
from conftest import GRID3, small_scenario

from mobility.config import load_spec, signals_spec
from mobility.errors import SpecError
from mobility.scenario import Scenario
from mobility.signals.programs import webster_cycle, webster_greens


def test_shorthand_and_defaults() -> None:
    spec = signals_spec("max_pressure")
    assert spec.controller == "max_pressure"
    assert spec.tls is None
    assert spec.decision_interval == 10


@pytest.mark.parametrize(
    ("signals", "field", "words"),
    [
        ("fastest", "signals", "unknown controller 'fastest'; use one of"),
        (
            {"controller": "fastest"},
            "signals",
            "unknown controller 'fastest'; use one of 'static', 'webster'",
        ),
        ({"controller": "greedy", "min_green": 90}, "signals", "lower min_green"),
        (
            {"controller": "max_pressure", "decision_interval": 2, "yellow": 3},
            "signals",
            "raise decision_interval",
        ),
        ({"controller": "greedy", "colour": 1}, "signals.colour", "unknown field"),
    ],
)
def test_bad_signals_name_file_field_and_fix(write_spec, signals, field, words) -> None:
    path = write_spec(small_scenario(signals=signals))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    text = str(err.value)
    assert str(path) in text
    assert f"field `{field}`" in text
    assert words in text


def test_signal_id_not_in_net_is_checked_at_run(write_spec, tmp_path) -> None:
    path = write_spec(small_scenario(signals={"controller": "greedy", "tls": ["B1", "nope"]}))
    with pytest.raises(SpecError) as err:
        Scenario.from_yaml(path).run(tmp_path / "out")
    text = str(err.value)
    assert str(path) in text and "signals.tls" in text and "'nope'" in text
    assert "mobility net info" in text
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unknown_controller_param_is_an_error(write_spec, tmp_path) -> None:
    path = write_spec(small_scenario(signals={"controller": "sotl", "params": {"tetha": 3}}))
    with pytest.raises(SpecError, match=r"signals.params.tetha.*unknown field"):
        Scenario.from_yaml(path).run(tmp_path / "out")


def test_decision_interval_against_the_nets_own_yellow(write_spec, tmp_path) -> None:
    # grid3x3 has 3 s yellows: a 3 s decision interval cannot fit a transition
    path = write_spec(small_scenario(signals={"controller": "greedy", "decision_interval": 3}))
    with pytest.raises(SpecError, match=r"decision_interval.*yellow"):
        Scenario.from_yaml(path).run(tmp_path / "out")
    assert GRID3.exists()


def test_webster_textbook_cycle() -> None:
    # two phases, y = 0.35 and 0.25, 10 s lost: C0 = (1.5*10 + 5) / (1 - 0.6) = 50 s
    assert webster_cycle([0.35, 0.25], 10.0) == pytest.approx(50.0)
    cycle, greens = webster_greens([0.35, 0.25], 10.0, min_green=5)
    assert cycle == pytest.approx(50.0)
    assert greens == pytest.approx([40 * 0.35 / 0.6, 40 * 0.25 / 0.6])
    # three phases (Garber & Hoel style): Y = 0.75, L = 12 -> (18 + 5) / 0.25 = 92 s
    assert webster_cycle([0.3, 0.25, 0.2], 12.0) == pytest.approx(92.0)
    assert webster_cycle([0.5, 0.5], 10.0) == 180.0  # oversaturated: longest cycle
