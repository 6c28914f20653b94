"""Tiny shuttle scenarios on the 3x3 grid for the shuttle tests."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from mobility.config import ScenarioSpec, validate_spec
from mobility.scenario import run_scenario

# The 3x3 grid without signals (netgenerate, cached per session): no red lights in the timings.
GRID_NO_SIGNALS = {"type": "grid", "rows": 3, "cols": 3, "block_length": 200, "signals": False}


def quiet_routes(folder: Path) -> Path:
    """A routes file with no background traffic: shuttle timings become hand-computable."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "empty.rou.xml"
    path.write_text("<routes/>\n")
    return path


def on_demand(folder: Path, *, riders: dict, end: float = 900, **fleet: object) -> dict:
    """A scenario with one on-demand fleet on the unsignalised 3x3 grid, no other traffic."""
    spec_fleet = {
        "service": "on_demand",
        "name": "pods",
        "fleet_size": 1,
        "depots": [{"edge": "A0B0"}],
        "dispatcher": "greedy",
        "dispatch_period": 10,
    }
    spec_fleet.update(fleet)
    return {
        "name": "shuttle-test",
        "seed": 1,
        "end": end,
        "network": GRID_NO_SIGNALS,
        "demand": str(quiet_routes(folder)),
        "shuttles": [spec_fleet],
        "riders": riders,
    }


def requests_at(times_od: list[tuple[str, str]], per_hour: float = 10.0) -> dict:
    """Riders between named single-edge zones."""
    zones = {}
    flows = []
    for o, d in times_od:
        zones[o] = [o]
        zones[d] = [d]
        flows.append({"from": o, "to": d, "per_hour": per_hour})
    return {"zones": zones, "flows": flows}


def run(tmp_path: Path, data: dict):
    """Run a scenario dict in SUMO; (result, requests rows, fleet rows)."""
    spec = validate_spec(ScenarioSpec, data, source=tmp_path / "s.yaml", base_dir=tmp_path)
    result = run_scenario(spec, tmp_path / "out")
    requests = pq.read_table(result.run_dir / "requests.parquet").to_pylist()
    fleet = pq.read_table(result.run_dir / "fleet.parquet").to_pylist()
    return result, requests, fleet
