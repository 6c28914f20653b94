"""Helpers shared by the report tests: two small real runs on the 3x3 grid (plain net)."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import small_scenario

from mobility import Scenario


def make_run(folder: Path, seed: int, vehicles_per_hour: float) -> Path:
    """A 10-minute run with edge data every 2 minutes and emissions; returns its folder."""
    spec = small_scenario(
        seed=seed,
        demand={"type": "random", "vehicles_per_hour": vehicles_per_hour, "fringe_factor": 5},
        outputs={"edgedata_period": 120, "emissions": True},
    )
    path = folder / f"scenario-{seed}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return Scenario.from_yaml(path).run(folder / "runs").run_dir
