"""Every command end to end through the installed `mobility` entry point, its output's
content checked against values worked out independently (sumolib, the input files, hand
computation): net info / build, assign, signals import, sweep (success path), report
(with ``--gpkg`` for a run, a folder of runs and a sweep) and results query."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import sumolib
import yaml
from conftest import ARTERIAL, GRID3, NETWORKS, run_cli, small_scenario

from mobility.experiment import SweepStore


def _table(stdout: str) -> dict[str, str]:
    """The rows ``│ key │ value │`` of a rich table."""
    return dict(re.findall(r"│\s*(\S+)\s*│\s*(.+?)\s*│", stdout))


def test_net_info_matches_sumolib() -> None:
    done = run_cli("net", "info", str(ARTERIAL))
    assert done.returncode == 0, done.stderr
    info = _table(done.stdout)
    net = sumolib.net.readNet(str(ARTERIAL), withInternal=False)
    edges = [e for e in net.getEdges() if e.getFunction() != "internal"]
    assert int(info["junctions"]) == len(net.getNodes()) == 17
    assert int(info["edges"]) == len(edges) == 32
    assert int(info["lanes"]) == sum(e.getLaneNumber() for e in edges) == 44
    assert int(info["signals"]) == len(net.getTrafficLights()) == 5
    assert float(info["road_km"]) == pytest.approx(sum(e.getLength() for e in edges) / 1e3, 1e-3)
    assert info["geo_referenced"] == "False"


def test_net_build_prints_a_net_of_the_asked_size(write_spec) -> None:
    spec = write_spec(
        small_scenario(network={"type": "grid", "rows": 2, "cols": 3, "block_length": 120})
    )
    done = run_cli("net", "build", str(spec))
    assert done.returncode == 0, done.stderr
    path = Path("".join(done.stdout.split()))  # rich may wrap a long path
    net = sumolib.net.readNet(str(path))
    inner = [n for n in net.getNodes() if len(n.getIncoming()) > 1]
    assert len(inner) == 6  # 2 x 3 junctions, each with its fringe roads
    assert len(net.getTrafficLights()) == 6
    again = run_cli("net", "build", str(spec))
    assert Path("".join(again.stdout.split())) == path  # cached by content


def test_assign_a_tiny_tntp_net_to_its_hand_computed_equilibrium(tmp_path: Path) -> None:
    """Two routes from zone 1 to 2: the direct link costs 10 + 0.1 x, the other 5 + 0.1 x
    then a flat 10. With 100 trips both cost 17.5 at x = 75 / 25; TSTT 1,750, Beckmann
    objective 10*75 + 0.05*75² + 5*25 + 0.05*25² + 10*25 = 1,437.5."""
    net = tmp_path / "tiny"
    net.mkdir()
    (net / "tiny_net.tntp").write_text(
        "<NUMBER OF ZONES> 2\n<NUMBER OF NODES> 3\n<FIRST THRU NODE> 1\n"
        "<NUMBER OF LINKS> 3\n<END OF METADATA>\n\n"
        "~\tinit_node\tterm_node\tcapacity\tlength\tfree_flow_time\tb\tpower\tspeed\ttoll\tlink_type\t;\n"
        "\t1\t2\t100\t10\t10\t1\t1\t0\t0\t1\t;\n"
        "\t1\t3\t100\t5\t5\t2\t1\t0\t0\t1\t;\n"
        "\t3\t2\t100\t5\t10\t0\t1\t0\t0\t1\t;\n"
    )
    (net / "tiny_trips.tntp").write_text(
        "<NUMBER OF ZONES> 2\n<TOTAL OD FLOW> 100.0\n<END OF METADATA>\n\n"
        "Origin 1\n    1 : 0.0;    2 : 100.0;\n\nOrigin 2\n    1 : 0.0;    2 : 0.0;\n"
    )
    out = tmp_path / "flows.csv"
    done = run_cli("assign", str(net), "--gap", "1e-8", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "tiny: bfw converged" in done.stdout
    printed = dict(re.findall(r"^\s+(objective|TSTT)\s+([\d.]+)", done.stdout, re.M))
    assert float(printed["objective"]) == pytest.approx(1437.5, rel=1e-9)
    assert float(printed["TSTT"]) == pytest.approx(1750.0, rel=1e-9)
    flows = pd.read_csv(out).set_index(["from", "to"])
    assert flows.loc[(1, 2), "flow"] == pytest.approx(75.0, rel=1e-9)
    assert flows.loc[(1, 3), "flow"] == pytest.approx(25.0, rel=1e-9)
    assert flows.loc[(3, 2), "flow"] == pytest.approx(25.0, rel=1e-9)
    assert flows.loc[(1, 2), "time"] == pytest.approx(17.5, rel=1e-9)
    assert flows.loc[(1, 3), "time"] + flows.loc[(3, 2), "time"] == pytest.approx(17.5)
    assert flows.loc[(1, 2), "voc"] == pytest.approx(0.75)


def test_signals_import_writes_a_scenario_that_runs(tmp_path: Path) -> None:
    """A RESCO-format folder with its own window (five minutes of cologne1): the scenario
    written has that window, net and routes, and `mobility run` loads exactly the trips of
    the route file that depart in it."""
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("cologne1.net.xml", "cologne1.rou.xml"):
        shutil.copy(NETWORKS / "resco" / "cologne1" / name, folder / name)
    (folder / "mine.sumocfg").write_text(
        '<configuration><input><net-file value="cologne1.net.xml"/>'
        '<route-files value="cologne1.rou.xml"/></input>'
        '<time><begin value="25200"/><end value="25500"/></time></configuration>'
    )
    out = tmp_path / "mine.yaml"
    done = run_cli("signals", "import", str(folder), "--out", str(out), "--yellow", "4")
    assert done.returncode == 0, done.stderr
    assert "(25200-25500 s)" in done.stdout
    spec = yaml.safe_load(out.read_text())
    assert (spec["begin"], spec["end"], spec["time_to_teleport"]) == (25200, 25500, -1)
    assert (out.parent / spec["network"]).resolve() == (folder / "cologne1.net.xml").resolve()
    assert (out.parent / spec["demand"]).resolve() == (folder / "cologne1.rou.xml").resolve()
    assert spec["signals"] == {"controller": "static", "decision_interval": 10.0, "yellow": 4.0}
    ran = run_cli("run", str(out), "--out", str(tmp_path / "runs"))
    assert ran.returncode == 0, ran.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    kpis = json.loads((run_dir / "kpis.json").read_text())
    departs = [
        float(t.depart)
        for t in sumolib.xml.parse_fast(str(folder / "cologne1.rou.xml"), "trip", ["depart"])
    ]
    # SUMO loads the trips due at the end time too (two here), which never depart
    assert kpis["vehicles_loaded"] == sum(25200 <= d <= 25500 for d in departs) > 50
    assert kpis["vehicles_never_departed"] >= sum(d == 25500 for d in departs) == 2


def _report_kpis(html: str) -> dict[str, float]:
    """The KPI table of a report: ``<th title='kpi'>...</th><td>number</td>``."""
    found = re.findall(r"<th title='(\w+)'>.*?</th><td>([^<]*)</td>", html)
    return {k: float(v.replace(",", "")) for k, v in found}


def test_report_numbers_and_geopackage_of_a_run(write_spec, tmp_path: Path) -> None:
    spec = write_spec(small_scenario(end=300, outputs={"emissions": True}))
    assert run_cli("run", str(spec), "--out", str(tmp_path / "runs")).returncode == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    gpkg = tmp_path / "edges.gpkg"
    html = tmp_path / "r.html"
    done = run_cli("report", str(run_dir), "--out", str(html), "--gpkg", str(gpkg), "--no-open")
    assert done.returncode == 0, done.stderr
    assert f"GeoPackage: {gpkg}" in " ".join(done.stdout.split())
    kpis = json.loads((run_dir / "kpis.json").read_text())
    shown = _report_kpis(html.read_text())
    assert set(shown) == set(kpis)  # every KPI of the run, none invented
    for name, value in shown.items():  # as shown: rounded to 0.1 (co2 per km to 0.001)
        assert value == pytest.approx(kpis[name], abs=0.05 if abs(kpis[name]) >= 1 else 5e-4)
    edges = gpd.read_file(gpkg, layer="edges")
    net = sumolib.net.readNet(str(GRID3))
    assert set(edges["edge_id"]) == {e.getID() for e in net.getEdges()}
    # the edges' CO2 is the edge table's (mg), summed over the intervals; it is below the
    # trips' total, which also counts the junctions' internal lanes
    table = pd.read_parquet(run_dir / "edges.parquet")
    assert edges["co2_kg"].sum() == pytest.approx(table["CO2_abs"].sum() / 1e6, rel=1e-5)
    assert 0.5 * kpis["co2_total_kg"] < edges["co2_kg"].sum() < kpis["co2_total_kg"]


def test_sweep_success_then_report_and_query(tmp_path: Path) -> None:
    """The sweep's success path through the command: two demand levels, one seed; the
    stored rows hold each run's own kpis.json; the report of the sweep and its GeoPackage
    (from the first run of the first variant) and a folder of runs work from the CLI."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "name": "cli_sweep",
                "base": small_scenario(end=300, outputs={"emissions": True}),
                "grid": {"demand.vehicles_per_hour": [600, 1200]},
                "seeds": [1],
            }
        )
    )
    out = tmp_path / "out"
    done = run_cli("sweep", str(sweep), "--out", str(out), "--num-cpus", "2")
    assert done.returncode == 0, done.stderr
    assert "cli_sweep: 2 ok, 0 failed, 0 already done, of 2 runs" in done.stdout
    assert (out / "report.html").exists()
    rows = SweepStore(out).query("SELECT * FROM runs ORDER BY demand_vehicles_per_hour")
    assert list(rows["demand_vehicles_per_hour"]) == [600, 1200]
    for row in rows.to_dict("records"):
        kpis = json.loads((Path(row["run_dir"]) / "kpis.json").read_text())
        assert {k: row[f"kpi_{k}"] for k in kpis} == pytest.approx(kpis)
        trips = pd.read_parquet(Path(row["run_dir"]) / "trips.parquet")
        assert kpis["vehicles_loaded"] == len(trips)
    # 600 and 1,200 veh/h for 5 minutes
    assert list(rows["kpi_vehicles_loaded"]) == [50, 100]
    csv = tmp_path / "q.csv"
    query = "SELECT demand_vehicles_per_hour AS v, kpi_vehicles_loaded AS n FROM runs ORDER BY 1"
    assert run_cli("results", "query", str(out), query, "--csv", str(csv)).returncode == 0
    assert csv.read_text().splitlines() == ["v,n", "600,50", "1200,100"]
    gpkg = tmp_path / "sweep.gpkg"
    html = tmp_path / "sweep.html"
    done = run_cli("report", str(out), "--out", str(html), "--gpkg", str(gpkg), "--no-open")
    assert done.returncode == 0, done.stderr
    first = Path(rows["run_dir"][0])
    edges = gpd.read_file(gpkg, layer="edges")
    co2 = pd.read_parquet(first / "edges.parquet")["CO2_abs"].sum() / 1e6
    assert len(edges) == len(sumolib.net.readNet(str(GRID3)).getEdges())
    assert edges["co2_kg"].sum() == pytest.approx(co2, rel=1e-5) and co2 > 0
    folder = tmp_path / "folder.gpkg"
    runs = out / "runs"
    done = run_cli(
        "report", str(runs), "--out", str(tmp_path / "f.html"), "--gpkg", str(folder), "--no-open"
    )
    assert done.returncode == 0, done.stderr
    assert len(gpd.read_file(folder, layer="edges")) == len(edges)
