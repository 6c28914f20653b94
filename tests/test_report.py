"""Reports of real small runs: content, comparison, sweeps with failures, bad input, GeoPackage."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import geopandas as gpd
import pyarrow as pa
import pyogrio
import pytest
from report_helpers import make_run, make_shuttle_run

from mobility.errors import MobilityError
from mobility.experiment.store import SweepStore
from mobility.report import ReportError, build_report, export_gpkg, load_run
from mobility.report.words import better, describe


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


@pytest.fixture(scope="module")
def shuttle_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shuttle_run(tmp_path_factory.mktemp("report-shuttles"))


def test_run_with_shuttles(shuttle_run, runs, tmp_path: Path) -> None:
    text = build_report(shuttle_run, tmp_path / "s.html").read_text()
    for kind in ("shuttle-wait", "shuttle-occupancy", "shuttle-map"):
        assert f"data-kind='{kind}'" in text, kind
    assert "dashed: 5 and 10 min" in text
    assert "riders on board" in text  # occupancy axis
    assert "shuttle depot" in text  # map legend (SVG text)
    # words: the fleet and its riders, not the raw spec
    assert "6 on-demand shuttles, 4 seats each" in text
    assert "depot(s) on road B1C1" in text
    assert "60 ride requests per hour" in text
    assert "{'service'" not in text
    # shuttle KPIs with plain descriptions
    assert "share of riders picked up within 5 minutes" in text
    assert "share of shuttle kilometres driven with 1 rider on board" in text
    assert "<code>shuttle_wait_mean_s</code>" in text
    assert _svgs(text) >= 12
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    # a run without shuttles keeps its one line and draws no shuttle figure
    plain = build_report(runs[0], tmp_path / "p.html").read_text()
    assert "This scenario has no shuttles." in plain
    assert "data-kind='shuttle-" not in plain


def test_shuttle_kpi_words() -> None:
    assert better("shuttle_wait_under_5min_share") == "high"
    assert better("shuttle_wait_p95_s") == "low"
    assert describe("shuttle_km_share_load_2") == (
        "share of shuttle kilometres driven with 2 riders on board"
    )
    assert describe("shuttle_fleet_pods_wait_mean_s") == (
        "fleet pods: average wait for the shuttle to arrive"
    )
    assert better("shuttle_fleet_pods_wait_under_10min_share") == "high"
    assert describe("shuttle_fleet_bus_km_share_load_0").startswith("fleet bus: share of")
