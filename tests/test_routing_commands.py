"""The `assign` command, driven through a Typer app as the main CLI registers it."""

from __future__ import annotations

from pathlib import Path

import jax
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mobility.errors import DemandError, NetworkError, SpecError
from mobility.routing.commands import assign

ROOT = Path(__file__).resolve().parent.parent
SIOUX = ROOT / "networks" / "tntp" / "SiouxFalls"
GRID3 = ROOT / "networks" / "grid3x3" / "grid3x3.net.xml"

app = typer.Typer()
app.command("assign")(assign)


@app.callback()
def main() -> None:
    """Stand-in for the main app: subcommands only."""


def run(*args: str):
    return CliRunner().invoke(app, ["assign", *map(str, args)])


def test_assign_a_tntp_folder(tmp_path: Path):
    out = tmp_path / "flows.csv"
    result = run(SIOUX, "--algorithm", "bfw", "--gap", "1e-3", "--out", out)
    assert result.exit_code == 0, result.output
    for word in ("bfw converged", "iterations", "relative gap", "objective", "TSTT", "time"):
        assert word in result.output
    flows = pd.read_csv(out)
    assert list(flows.columns) == ["from", "to", "flow", "time", "cost", "voc"]
    assert len(flows) == 76 and flows.flow.sum() > 0


def test_assign_writes_parquet_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = run(SIOUX / "SiouxFalls_net.tntp", "-a", "fw", "--max-iterations", "5")
    assert result.exit_code == 0, result.output
    assert "NOT converged" in result.output
    assert len(pd.read_parquet(tmp_path / "SiouxFalls_flows.parquet")) == 76
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed, not left


def test_user_errors_are_mobility_errors(tmp_path: Path):
    assert isinstance(run(tmp_path / "nowhere").exception, NetworkError)
    assert isinstance(run(SIOUX, "--out", tmp_path / "flows.xlsx").exception, SpecError)
    assert run(SIOUX, "--algorithm", "msa").exit_code == 2  # usage error: not a choice


@pytest.mark.skipif(bool(jax.devices()[0].platform == "gpu"), reason="a GPU is present")
def test_gpu_requested_without_one():
    error = run(SIOUX, "--device", "gpu").exception
    assert isinstance(error, SpecError) and "--device cpu" in str(error)


def test_assign_a_sumo_net_with_an_od_csv(tmp_path: Path):
    od = tmp_path / "od.csv"
    od.write_text("origin,destination,trips\nleft0,right2,300\nbottom0,top2,200\nA0,C2,50\n")
    out = tmp_path / "grid.parquet"
    result = run(GRID3, "--demand", od, "--out", out, "--gap", "1e-3")
    assert result.exit_code == 0, result.output
    flows = pd.read_parquet(out)
    assert "edge" in flows.columns and flows.flow.max() >= 300 - 1e-6
    assert isinstance(run(GRID3).exception, DemandError)
    od.write_text("origin,destination,trips\nnowhere,A0,5\n")
    assert isinstance(run(GRID3, "--demand", od).exception, DemandError)
