"""Helpers shared by the experiment tests: sweep files over the small 3x3-grid scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from conftest import small_scenario

from mobility.experiment import SweepStore


def write_sweep(folder: Path, name: str = "sweep.yaml", **fields: Any) -> Path:
    """A sweep over the small scenario; ``fields`` override or add sweep fields."""
    sweep: dict[str, Any] = {"name": "small_sweep", "base": small_scenario(), "seeds": [1, 2]}
    sweep.update(fields)
    path = folder / name
    path.write_text(yaml.safe_dump(sweep))
    return path


def rows(root: Path) -> list[dict[str, Any]]:
    """Every row of the sweep's `runs` view."""
    return SweepStore(root).query("SELECT * FROM runs ORDER BY run_id").to_dict("records")


def assert_exactly_once(root: Path, run_ids: list[str]) -> list[dict[str, Any]]:
    """One ok row per planned run and no other, and trips of exactly those runs."""
    found = rows(root)
    assert sorted(r["run_id"] for r in found) == sorted(run_ids)
    assert {r["status"] for r in found} == {"ok"}, [r.get("error") for r in found]
    trips = SweepStore(root).query("SELECT DISTINCT run_id FROM trips")
    assert sorted(trips["run_id"]) == sorted(run_ids)
    return found
