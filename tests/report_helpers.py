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


REPO = Path(__file__).resolve().parent.parent


def make_shuttle_run(folder: Path) -> Path:
    """``experiments/shuttles_on_demand.yaml`` cut to 20 minutes (riders for the first 15)."""
    spec = yaml.safe_load((REPO / "experiments" / "shuttles_on_demand.yaml").read_text())
    spec["network"] = str(REPO / "networks" / "grid4x4" / "grid4x4.net.xml")
    spec["end"] = 1200
    spec["riders"]["until"] = 900
    path = folder / "shuttles.yaml"
    path.write_text(yaml.safe_dump(spec))
    return Scenario.from_yaml(path).run(folder / "runs").run_dir
