"""The mixed-autonomy sweep: its example file plans every share with safety on, and a sweep's
report shows the safety section of two variants side by side."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from conftest import small_scenario

from mobility import load_spec, run_scenario
from mobility.experiment import SweepStore, load_sweep
from mobility.report import build_report, load_run

ROOT = Path(__file__).resolve().parent.parent


def test_mixed_autonomy_sweep_plans_every_share_with_safety() -> None:
    plan = load_sweep(ROOT / "experiments" / "mixed_autonomy_sweep.yaml")
    assert len(plan.runs) == 5 * 3
    shares = sorted({run.params["traffic_mix.autonomous_share"] for run in plan.runs})
    assert shares == [0.0, 0.25, 0.5, 0.75, 1.0]
    for run in plan.runs:
        assert run.spec.traffic_mix.autonomous_share == run.params["traffic_mix.autonomous_share"]
        assert run.spec.safety is not None and run.spec.safety.equipped == 1.0


def _mixed_run(folder: Path, share: float) -> Path:
    """Two busy minutes on the 3x3 grid with ``share`` of the traffic autonomous."""
    spec = small_scenario(
        end=120,
        demand={"type": "random", "vehicles_per_hour": 2400, "fringe_factor": 5},
        safety={"equipped": 1.0},
        traffic_mix={"autonomous_share": share},
    )
    path = folder / f"s{share:g}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return run_scenario(load_spec(path), folder / "runs").run_dir


def test_sweep_report_shows_safety_of_two_variants(tmp_path: Path) -> None:
    """A sweep over the autonomous share written through the real store: the report's
    safety section has a hotspot map per variant and the severity and type plots."""
    param = "traffic_mix.autonomous_share"
    store = SweepStore(tmp_path / "sweep")
    planned = [
        (f"r{i}", f"{param}={s}", s, _mixed_run(tmp_path, s)) for i, s in enumerate([0.0, 1.0])
    ]
    manifest = {
        "sweep": "mixed",
        "params": [param],
        "runs": [
            {"run_id": r, "variant": v, "params": {param: s}, "seed": 1} for r, v, s, _ in planned
        ],
    }
    store.write_plan("name: mixed\n", manifest)
    for run_id, variant, share, run_dir in planned:
        run = load_run(run_dir)
        assert run.kpis["safety_conflicts_logged"] > 0  # something to draw
        row = {"run_id": run_id, "status": "ok", "run_dir": str(run_dir)}
        row.update({f"kpi_{k}": float(v) for k, v in run.kpis.items()})
        labels = {"variant": variant, "seed": 1, "traffic_mix_autonomous_share": share}
        store.write_result(row, {"trips": pa.Table.from_pandas(run.trips)}, labels)
    text = build_report(tmp_path / "sweep").read_text()
    assert "Safety: first variant against it" in text
    for _, variant, _, _ in planned:
        assert f"Conflict hotspots, {variant}" in text
    assert text.count("data-kind='safety-ttc'") == 1
    assert text.count("data-kind='safety-types'") == 1


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_bad_autonomous_share_in_a_sweep_names_the_field(tmp_path: Path, share: float) -> None:
    from mobility.errors import MobilityError

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "name": "bad",
                "base": str(ROOT / "experiments" / "mixed_autonomy.yaml"),
                "grid": {"traffic_mix.autonomous_share": [share]},
                "seeds": 1,
            }
        )
    )
    with pytest.raises(MobilityError, match="autonomous_share"):
        load_sweep(sweep)
