"""Reports of real small runs: content, comparison, sweeps with failures, bad input, GeoPackage."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import geopandas as gpd
import pyarrow as pa
import pyogrio
import pytest
from report_helpers import make_run

from mobility.errors import MobilityError
from mobility.experiment.store import SweepStore
from mobility.report import ReportError, build_report, export_gpkg, load_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("report-runs")
    return make_run(folder, 1, 900), make_run(folder, 2, 1400)


def _svgs(text: str) -> int:
    return len(re.findall(r"<svg[ >]", text))


def test_run_report_is_self_contained_and_complete(runs, tmp_path: Path) -> None:
    out = build_report(runs[0], tmp_path / "r.html")
    text = out.read_text()
    assert out.stat().st_size < 5e6
    for section in ("What was simulated", "Results", "Traffic over time", "Maps"):
        assert f">{section}</h2>" in text
    for kind in ("vehicles", "speed", "travel-time", "junction-delay", "congestion", "co2"):
        assert f"data-kind='{kind}'" in text, kind
    assert "data-kind='signals'" in text
    assert text.count("class='map slice'") == 5  # 600 s in 120 s intervals
    assert _svgs(text) >= 11
    assert "average door-to-door travel time" in text
    assert "900 vehicles per hour" in text
    # plain grid: maps in network coordinates, and no reference to anything online
    assert "this network has no geo-reference" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "url(http" not in text


def test_default_output_is_inside_the_run(runs, tmp_path: Path) -> None:
    copy = tmp_path / runs[0].name
    shutil.copytree(runs[0], copy)
    assert build_report(copy) == copy / "report.html"


def test_comparison_of_two_runs(runs, tmp_path: Path) -> None:
    text = build_report(runs[0], tmp_path / "c.html", compare=runs[1]).read_text()
    assert ">Comparison</h2>" in text
    assert "data-kind='difference'" in text
    assert "<th>difference</th>" in text
    assert re.search(r"<td class='(good|bad)'>[+-]", text)


def test_folder_of_runs_is_compared(runs) -> None:
    folder = runs[0].parent
    text = build_report(folder, folder / "all.html").read_text()
    assert "data-kind='difference'" in text
    assert "2 runs" in text


def test_not_a_run_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ReportError, match=r"not a run directory.*not a sweep directory"):
        build_report(tmp_path)
    with pytest.raises(ReportError, match="no such folder"):
        build_report(tmp_path / "missing")
    with pytest.raises(ReportError, match="a file"):
        build_report(tmp_path / "notes.txt")
    assert issubclass(ReportError, MobilityError)


def test_failed_and_incomplete_runs(runs, tmp_path: Path) -> None:
    failed = tmp_path / ".small-123.tmp-abcd1234"
    failed.mkdir()
    with pytest.raises(ReportError, match="failed or was interrupted"):
        build_report(failed)
    broken = tmp_path / "broken"
    shutil.copytree(runs[0], broken)
    (broken / "edges.parquet").unlink()
    with pytest.raises(ReportError, match=r"incomplete run directory \(missing edges.parquet\)"):
        build_report(broken)


def _sweep(root: Path, runs: tuple[Path, Path], *, fail_all: bool = False) -> Path:
    """A sweep directory written through the real store: two variants, one failed run."""
    store = SweepStore(root)
    planned = [
        ("r1", "demand.vehicles_per_hour=900", 900, 1, runs[0]),
        ("r2", "demand.vehicles_per_hour=1400", 1400, 2, runs[1]),
        ("r3", "demand.vehicles_per_hour=1400", 1400, 3, None),
    ]
    manifest = {
        "sweep": "small_sweep",
        "params": ["demand.vehicles_per_hour"],
        "runs": [
            {"run_id": r, "variant": v, "params": {"demand.vehicles_per_hour": p}, "seed": s}
            for r, v, p, s, _ in planned
        ]
        + [{"run_id": "r4", "variant": "x", "params": {}, "seed": 9}],
    }
    store.write_plan("name: small_sweep\n", manifest)
    for run_id, variant, value, seed, run_dir in planned:
        labels = {"variant": variant, "seed": seed, "demand_vehicles_per_hour": value}
        if run_dir is None or fail_all:
            row = {"run_id": run_id, "status": "failed", "error": "SUMO stopped: boom"}
            store.write_result(row, {}, labels)
            continue
        run = load_run(run_dir)
        row = {"run_id": run_id, "status": "ok", "run_dir": str(run_dir)}
        row.update({f"kpi_{k}": float(v) for k, v in run.kpis.items()})
        store.write_result(row, {"trips": pa.Table.from_pandas(run.trips)}, labels)
    return root


def test_sweep_with_a_failed_run(runs, tmp_path: Path) -> None:
    root = _sweep(tmp_path / "sweep", runs)
    text = build_report(root).read_text()
    assert "Sweep small_sweep" in text
    assert "SUMO stopped: boom" in text  # the failure is listed
    assert "not run yet" in text  # r4 never ran
    assert "2 runs finished, 1 failed, 1 never ran" in text
    assert "data-kind='sweep-kpi'" in text
    assert "★" in text
    assert "data-kind='difference'" in text
    assert "data-kind='congestion'" in text


def test_sweep_where_every_run_failed(runs, tmp_path: Path) -> None:
    root = _sweep(tmp_path / "sweep", runs, fail_all=True)
    with pytest.raises(ReportError, match="every run of the sweep failed"):
        build_report(root)


def test_geopackage_of_a_plain_net(runs, tmp_path: Path) -> None:
    out = tmp_path / "edges.gpkg"
    assert export_gpkg(load_run(runs[0]), out) == ["edges"]  # no WGS84 without geo-reference
    assert [name for name, _ in pyogrio.list_layers(out)] == ["edges"]
    edges = gpd.read_file(out, layer="edges")
    assert {"edge_id", "speed_relative", "co2_kg", "time_loss_s", "flow_veh_h"} <= set(edges)
    assert edges["co2_kg"].sum() > 0
    assert edges.crs is None
