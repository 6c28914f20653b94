"""Every example scenario under experiments/ runs to KPIs in real SUMO."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from mobility import Scenario

EXAMPLES = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if "sweep" not in p.name)


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path: Path, tmp_path: Path) -> None:
    result = Scenario.from_yaml(path).run(tmp_path)
    kpis = result.kpis
    assert kpis["trips_completed"] > 0.8 * kpis["vehicles_loaded"] > 0
    assert kpis["teleports"] == 0
    assert 0 < kpis["mean_speed_mps"] < 20
