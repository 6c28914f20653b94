"""The compare command and RESCO-format folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, run_cli

from mobility.config import load_spec
from mobility.signals.resco import spec_from_sumocfg


def test_resco_specs_validate() -> None:
    for path in sorted((ROOT / "experiments" / "resco").glob("*.yaml")):
        spec = load_spec(path)
        assert spec.time_to_teleport == -1
        assert spec.signals.yellow is not None


def test_compare_on_a_dropped_in_resco_folder(tmp_path) -> None:
    folder = tmp_path / "mymap"
    shutil.copytree(ROOT / "networks" / "resco" / "cologne1", folder)
    cfg = folder / "cologne1.sumocfg"
    cfg.write_text(cfg.read_text().replace('"28800"', '"25500"'))  # a 5-minute window
    assert spec_from_sumocfg(folder)["end"] == 25500
    out = tmp_path / "out"
    done = run_cli(
        "signals",
        "compare",
        str(folder),
        "--controllers",
        "static,max_pressure",
        "--seeds",
        "2",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "max_pressure" in done.stdout
    table = pd.read_parquet(out / "cologne1-compare.parquet")
    assert list(table["controller"]) == ["static", "max_pressure"]
    assert (table["seeds"] == 2).all()
    assert table["resco_delay_s_ci95"].notna().all()
    # each row is the mean of its runs' KPIs (RESCO's queue measured for every run), and
    # each run's KPIs are those in its own run folder
    runs = pd.read_parquet(out / "cologne1-runs.parquet")
    assert len(runs) == 4 and sorted(runs["seed"].unique()) == [42, 43]
    for row in table.itertuples():
        mine = runs[runs["controller"] == row.controller]
        assert row.resco_queue == pytest.approx(mine["resco_queue"].mean())
        assert row.resco_delay_s == pytest.approx(mine["resco_delay_s"].mean())
        assert row.resco_queue > 0
    for run in runs.itertuples():
        kpis = json.loads((Path(run.run_dir) / "kpis.json").read_text())
        assert (run.resco_queue, run.resco_delay_s) == (kpis["resco_queue"], kpis["resco_delay_s"])


def test_compare_rejects_unknown_controller(tmp_path) -> None:
    done = run_cli(
        "signals",
        "compare",
        str(ROOT / "experiments" / "resco" / "cologne1.yaml"),
        "--controllers",
        "static,fastest",
        "--seeds",
        "1",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 2
    assert "unknown fastest" in done.stderr
    assert "Traceback" not in done.stderr


def test_compare_and_the_sweep_summary_state_one_interval(tmp_path) -> None:
    """compare's summary and the sweep store's (which the report shows) use one routine."""
    from scipy import stats

    from mobility.experiment.stats import mean_ci95
    from mobility.experiment.store import SweepStore, summary
    from mobility.signals.compare import METRICS, summarise

    values = [31.0, 35.5, 29.0, float("nan")]  # a run without the KPI is left out
    mean, half = mean_ci95(values)
    assert mean == pytest.approx(31.833333)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * stats.tstd(values[:3]) / 3**0.5)
    assert mean_ci95([4.0]) == (4.0, pytest.approx(float("nan"), nan_ok=True))
    runs = pd.DataFrame({"controller": "static", "wall_s": 1.0, **{m: values for m in METRICS}})
    row = summarise(runs).iloc[0]
    assert (row["resco_delay_s"], row["resco_delay_s_ci95"]) == pytest.approx((mean, half))
    store = SweepStore(tmp_path)
    ids = [f"run{i}" for i in range(len(values))]
    entries = [{"run_id": i, "variant": "base", "params": {}, "seed": n} for n, i in enumerate(ids)]
    store.write_plan("", {"runs": entries})
    for n, (run_id, value) in enumerate(zip(ids, values, strict=True)):
        row = {"run_id": run_id, "status": "ok", "kpi_resco_delay_s": value}
        store.write_result(row, {}, {"variant": "base", "seed": n})
    (found,) = summary(store).itertuples()
    assert (found.mean, found.ci_high - found.mean) == pytest.approx((mean, half))
