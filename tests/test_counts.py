"""Counts demand: routes fitted to traffic counts with routeSampler, judged by GEH."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sumolib
import yaml
from conftest import GRID3, run_cli, small_scenario

from mobility import Scenario
from mobility.config import load_spec
from mobility.demand.counts import KPIS as COUNTS_KPIS
from mobility.demand.counts import Count, geh_kpis, geh_rows, read_counts
from mobility.errors import DemandError
from mobility.report import build_report
from mobility.scenario import check_scenario

HEADER = "edge,interval_begin,interval_end,count\n"


def counts_spec(counts: Path, **overrides: object) -> dict:
    spec = small_scenario(
        name="fit",
        seed=1,
        end=900,
        demand={"type": "counts", "counts": str(counts)},
        outputs={"edgedata_period": 900, "emissions": False},
    )
    spec.update(overrides)
    return spec


@pytest.fixture(scope="module")
def known_counts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Counts per edge over 15 minutes written from a known run (random trips, seed 42):
    vehicles that entered or departed on each edge, as SUMO's edge data says."""
    folder = tmp_path_factory.mktemp("known")
    spec = small_scenario(end=900, outputs={"edgedata_period": 900, "emissions": False})
    (folder / "known.yaml").write_text(yaml.safe_dump(spec))
    run = Scenario.from_yaml(folder / "known.yaml").run(folder / "runs").run_dir
    rows = pq.read_table(run / "edges.parquet").to_pylist()
    lines = [
        f"{r['edge_id']},{r['interval_begin']:g},{r['interval_end']:g},"
        f"{r['entered'] + r['departed']:g}\n"
        for r in rows
    ]
    path = folder / "counts.csv"
    path.write_text(HEADER + "".join(lines))
    return path


def test_counts_of_a_known_run_are_reproduced(known_counts: Path, tmp_path: Path) -> None:
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(counts_spec(known_counts)))
    result = Scenario.from_yaml(tmp_path / "fit.yaml").run(tmp_path / "runs")
    sites = pq.read_table(result.run_dir / "counts.parquet").to_pylist()
    counted = {c.edge: c.count for c in read_counts(load_spec(tmp_path / "fit.yaml").demand)}
    assert len(sites) == len(counted) == 48  # every edge of the 3x3 grid, one interval
    assert {s["edge_id"]: s["counted"] for s in sites} == counted
    assert sum(counted.values()) > 400  # a real load, not a near-empty net
    under = sum(s["geh"] < 5 for s in sites) / len(sites)
    assert under >= 0.95
    assert result.kpis["counts_geh_under_5_share"] == pytest.approx(under)
    assert result.kpis["counts_sites"] == 48
    assert {k.name for k in COUNTS_KPIS} <= set(result.kpis)  # every declared counts KPI
    # the fit follows the counts: the busiest counted edge is among the busiest simulated
    busiest = max(sites, key=lambda s: s["counted"])
    assert busiest["simulated"] >= sorted(s["simulated"] for s in sites)[-10]
    # the report shows one dot per count site and the share under GEH 5
    page = build_report(result.run_dir).read_text()
    section = page[page.index("<section id='traffic-counts'>") :]
    groups = re.findall(r'<g id="(sites-\w+)"(/>|>.*?</g>)', section, flags=re.S)
    dots = [text.count("<use ") for _, text in sorted(groups, reverse=True)]  # ok, off
    assert dots == [round(under * 48), 48 - round(under * 48)]
    assert f"GEH &lt; 5 at <b>{under:.0%}</b>" in section
    # and the interactive map has a count-site layer: one marker per site, with its GEH
    data = json.loads(re.search(r"id='imap-data'>(.*?)</script>", page).group(1))
    assert sorted(c[2] for c in data["counts"]) == sorted(counted)
    assert sum(c[6] < 5 for c in data["counts"]) == round(under * 48)


def test_route_file_candidates(known_counts: Path, tmp_path: Path) -> None:
    """The known run's own routes as candidates: routeSampler picks among them."""
    known = json.loads((next(known_counts.parent.glob("runs/*")) / "meta.json").read_text())
    demand = {"type": "counts", "counts": str(known_counts), "candidates": known["routes"][0]}
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(counts_spec(known_counts, demand=demand)))
    result = Scenario.from_yaml(tmp_path / "fit.yaml").run(tmp_path / "runs")
    assert result.kpis["counts_geh_under_5_share"] >= 0.95
    candidates = {r.edges for r in sumolib.xml.parse(known["routes"][0], "route")}
    meta = json.loads((result.run_dir / "meta.json").read_text())
    fitted = [r.edges for r in sumolib.xml.parse(meta["routes"][0], "route")]
    assert fitted and set(fitted) <= candidates  # every vehicle drives a candidate route


def test_geh_per_site_and_kpis_by_hand() -> None:
    # 15-minute counts of 25 and 20 vehicles: 100 and 80 veh/h, GEH sqrt(2*20^2/180) = 2.108
    counts = [Count("a", 0, 900, 25), Count("b", 0, 900, 10), Count("c", 900, 1800, 0)]
    rows = geh_rows(counts, {("a", 0, 900): 20.0, ("b", 0, 900): 40.0})
    assert rows[0]["counted_per_hour"] == 100 and rows[0]["simulated_per_hour"] == 80
    assert rows[0]["geh"] == pytest.approx(math.sqrt(2 * 400 / 180))
    assert rows[1]["geh"] == pytest.approx(math.sqrt(2 * 120**2 / 200))  # 40 vs 160 veh/h
    assert rows[2]["simulated"] == 0 and rows[2]["geh"] == 0  # nothing counted, none driven
    kpis = geh_kpis([r["geh"] for r in rows])
    assert kpis["counts_geh_under_5_share"] == pytest.approx(2 / 3)
    assert kpis["counts_sites"] == 3


def test_edgedata_counts_are_read_from_their_attribute(write_spec, tmp_path: Path) -> None:
    xml = tmp_path / "counts.xml"
    xml.write_text(
        '<data><interval id="x" begin="0" end="300">'
        '<edge id="A0A1" entered="12" left="3"/><edge id="A1A2" left="4"/></interval>'
        '<interval id="x" begin="300" end="600"><edge id="A0A1" entered="7"/></interval></data>'
    )
    spec = load_spec(write_spec(counts_spec(xml)))
    assert read_counts(spec.demand) == [Count("A0A1", 0, 300, 12), Count("A0A1", 300, 600, 7)]
    other = load_spec(
        write_spec(
            counts_spec(xml, demand={"type": "counts", "counts": str(xml), "attribute": "left"}),
            "b.yaml",
        )
    )
    assert [c.count for c in read_counts(other.demand)] == [3, 4]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("edge,begin,end,count\nA0A1,0,600,3\n", "interval_begin, interval_end missing"),
        (HEADER + "A0A1,0,600,many\n", "line 2: interval_begin, interval_end and count must"),
        (HEADER + "A0A1,600,0,3\n", "line 2: interval_end (0) must be after"),
        (HEADER + "A0A1,0,600,-1\n", "count (-1) must be a number of vehicles >= 0"),
        (HEADER + "A0A1,0,600,3\nnowhere,0,600,3\n", "counted edge 'nowhere' is not in"),
        (HEADER, "no counts found"),
    ],
)
def test_bad_counts_files_are_named_with_the_fix(write_spec, tmp_path, text, words) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text(text)
    spec = load_spec(write_spec(counts_spec(counts)))
    with pytest.raises(DemandError, match=r"counts\.csv") as err:
        check_scenario(spec)
    assert words in str(err.value)


def test_counts_outside_the_window_and_bad_candidates_exit_2(write_spec, tmp_path) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text(HEADER + "A0A1,3600,4500,30\n")
    out = run_cli("run", str(write_spec(counts_spec(counts))), "--out", str(tmp_path / "r"))
    assert out.returncode == 2, out.stderr
    said = " ".join(out.stderr.split())  # rich wraps long lines
    assert "no count interval lies inside the run's window 0-900" in said
    assert "Traceback" not in out.stderr
    routes = tmp_path / "cand.rou.xml"
    routes.write_text('<routes><route id="r" edges="A0A1 ghost"/></routes>')
    counts.write_text(HEADER + "A0A1,0,900,30\n")
    spec = counts_spec(
        counts, demand={"type": "counts", "counts": str(counts), "candidates": str(routes)}
    )
    out = run_cli("validate", str(write_spec(spec, "b.yaml")))
    assert out.returncode == 2
    said = " ".join(out.stderr.split())
    assert f"uses edge 'ghost', which is not in the network {GRID3.name}" in said


def test_counts_per_detector_add_up_per_road(write_spec, tmp_path: Path) -> None:
    detectors = tmp_path / "detectors.add.xml"
    detectors.write_text(
        "<additional>"
        '<inductionLoop id="d1" lane="A0A1_0" pos="50" period="300" file="NUL"/>'
        '<inductionLoop id="d2" lane="A0A1_0" pos="20" period="300" file="NUL"/>'
        '<e1Detector id="d3" lane="B1B2_0" pos="10" period="300" file="NUL"/>'
        "</additional>"
    )
    counts = tmp_path / "counts.csv"
    counts.write_text(
        "detector,interval_begin,interval_end,count\n"
        "d1,0,300,7\nd2,0,300,5\nd3,0,300,9\nd3,300,600,4\n"
    )
    demand = {"type": "counts", "counts": str(counts), "detectors": str(detectors)}
    spec = load_spec(write_spec(counts_spec(counts, demand=demand)))
    # two loops on one lane here stand for two lanes of a road: their counts add up
    assert read_counts(spec.demand) == [
        Count("A0A1", 0, 300, 12),
        Count("B1B2", 0, 300, 9),
        Count("B1B2", 300, 600, 4),
    ]
    counts.write_text(HEADER.replace("edge", "detector") + "d9,0,300,7\n")
    with pytest.raises(DemandError, match=r"line 2: detector 'd9' is not in detectors\.add\.xml"):
        read_counts(spec.demand)
    no_file = load_spec(write_spec(counts_spec(counts), "b.yaml"))
    with pytest.raises(DemandError, match=r"give `demand\.detectors: detectors\.add\.xml`"):
        read_counts(no_file.demand)
