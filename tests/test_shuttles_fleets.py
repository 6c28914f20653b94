"""On-demand fleets in real SUMO: idle behaviour, service areas, several fleets in one run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from shuttle_helpers import on_demand

from mobility.config import ScenarioSpec, validate_spec
from mobility.scenario import run_scenario


def run(tmp_path: Path, data: dict):
    spec = validate_spec(ScenarioSpec, data, source=tmp_path / "s.yaml", base_dir=tmp_path)
    result = run_scenario(spec, tmp_path / "out")
    requests = pq.read_table(result.run_dir / "requests.parquet").to_pylist()
    fleet = pq.read_table(result.run_dir / "fleet.parquet").to_pylist()
    return result, requests, fleet


# One rider from next to the depot (A0B0) to the far corner; then 10 idle minutes.
FAR_TRIP = {"trips": [{"at": 20, "from": "B0C0", "to": "C1C2"}]}


@pytest.mark.parametrize("dispatcher", ["greedy", "mobility"])
def test_idle_behaviours(tmp_path: Path, dispatcher: str) -> None:
    out = {}
    for idle in ("stay", "depot", "circle"):
        data = on_demand(
            tmp_path / idle, riders=FAR_TRIP, end=900, idle=idle, dispatcher=dispatcher
        )
        _result, requests, fleet = run(tmp_path / idle, data)
        assert [r["status"] for r in requests] == ["served"]
        out[idle] = fleet[0]
    # stay: waits where the rider left; depot: drives back and waits there
    assert out["stay"]["last_edge"] == "C1C2"
    assert out["depot"]["last_edge"] == "A0B0"
    assert out["depot"]["km"] > out["stay"]["km"] + 0.4  # the way back: >= 2 blocks of 200 m
    # circle: keeps driving all the idle time (10 min at up to 13.9 m/s: kilometres)
    assert out["circle"]["km"] > out["depot"]["km"] + 2.0
