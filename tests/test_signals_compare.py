"""The compare command and RESCO-format folders."""

from __future__ import annotations

import shutil

import pandas as pd
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
    assert (table["resco_queue"] >= 0).all()  # RESCO's queue, measured for every run


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
