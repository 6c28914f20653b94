"""Safety in a whole run: ``safety:`` in the spec, conflicts.parquet, KPIs, bad input."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from conftest import small_scenario

from mobility import load_spec, run_scenario
from mobility.errors import SpecError
from mobility.kpis import find_kpi
from mobility.safety.conflicts import SCHEMA
from mobility.sim.outputs import statistics


@pytest.fixture(scope="module")
def safety_run(tmp_path_factory: pytest.TempPathFactory):
    """Five busy minutes on the 3x3 grid, half the vehicles carrying the SSM device, 40% of
    them autonomous."""
    folder = tmp_path_factory.mktemp("safety")
    spec_file = folder / "s.yaml"
    spec = small_scenario(
        end=300,
        demand={"type": "random", "vehicles_per_hour": 2400, "fringe_factor": 5},
        safety={"equipped": 0.5},
        traffic_mix={"autonomous_share": 0.4},
    )
    import yaml

    spec_file.write_text(yaml.safe_dump(spec))
    return run_scenario(load_spec(spec_file), folder / "out")


def test_conflicts_table_and_kpis_agree(safety_run) -> None:
    run_dir = safety_run.run_dir
    table = pq.read_table(run_dir / "conflicts.parquet")
    assert table.schema.equals(SCHEMA)
    kinds = table.column("kind").to_pylist()
    conflicts = kinds.count("conflict")
    assert conflicts > 0  # 2400 veh/h on a 3x3 grid of fixed-time signals has conflicts
    kpis = json.loads((run_dir / "kpis.json").read_text())
    share = 1 - 0.5**2  # a conflict is seen when either vehicle is equipped
    assert kpis["safety_detection_share"] == pytest.approx(share)
    assert kpis["safety_conflicts_logged"] == conflicts
    assert kpis["safety_conflicts_per_hour"] == pytest.approx(conflicts / share / (300 / 3600))
    trips = pq.read_table(run_dir / "trips.parquet").column("routeLength").to_pylist()
    mvkm = sum(max(x, 0) for x in trips) / 1e9
    assert kpis["safety_conflicts_per_mvkm"] == pytest.approx(conflicts / share / mvkm, rel=1e-6)
    typed = sum(v for k, v in kpis.items() if k.startswith("safety_type_") and "per_hour" in k)
    assert typed == pytest.approx(kpis["safety_conflicts_per_hour"])
    assert kpis["safety_severe_ttc10_per_hour"] <= kpis["safety_severe_ttc15_per_hour"]
    # SUMO's own end-of-run counts agree with the rows
    safety = statistics(run_dir)["safety"]
    assert kpis["safety_collisions"] == safety["collisions"] == kinds.count("collision")
    assert kpis["safety_emergency_brakings"] == safety["emergencyBraking"]
    for name in kpis:
        if name.startswith("safety_"):
            assert find_kpi(name) is not None, name
    located = [
        j or e
        for j, e in zip(table["junction"].to_pylist(), table["edge"].to_pylist(), strict=True)
    ]
    assert all(located[i] for i, k in enumerate(kinds) if k == "conflict")
    assert not list(run_dir.glob("*.raw.xml"))  # SUMO's raw logs are not kept


def test_run_without_safety_measures_nothing(tmp_path, write_spec) -> None:
    spec = load_spec(write_spec(small_scenario(end=60)))
    assert spec.safety is None
    result = run_scenario(spec, tmp_path)
    assert not (result.run_dir / "conflicts.parquet").exists()
    assert not any(k.startswith("safety_") for k in result.kpis)
    assert "device.ssm" not in (result.run_dir / "run.sumocfg").read_text()


@pytest.mark.parametrize(
    ("safety", "field", "words"),
    [
        ({"ttc": 0}, "safety.ttc", "greater than 0"),
        ({"equipped": 1.5}, "safety.equipped", "less than or equal to 1"),
        ({"measures": ["TTC", "SPEED"]}, "safety.measures.1", "'TTC'"),
        ({"measures": ["TTC", "TTC"]}, "safety", "given twice"),
        ({"tcc": 1.0}, "safety.tcc", "unknown field"),
    ],
)
def test_bad_safety_section_names_the_field(write_spec, safety, field, words) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(small_scenario(safety=safety)))
    message = str(err.value)
    assert f"`{field}`" in message and words in message
    assert "scenario.yaml" in message


def test_safety_changes_the_content_hash_only_when_given(write_spec) -> None:
    plain = load_spec(write_spec(small_scenario(), "a.yaml"))
    measured = load_spec(write_spec(small_scenario(safety={}), "b.yaml"))
    assert plain.content_hash() != measured.content_hash()
    assert plain.safety is None and measured.safety == measured.safety.__class__()


def test_report_draws_hotspots_and_severity(safety_run, tmp_path) -> None:
    from mobility.report import build_report
    from mobility.report.safety import hotspots

    out = build_report(safety_run.run_dir, tmp_path / "report.html")
    text = out.read_text()
    assert "<h2>Safety</h2>" in text
    for kind in ("safety-hotspots", "safety-ttc", "safety-types"):
        assert f"data-kind='{kind}'" in text
    table = pq.read_table(safety_run.run_dir / "conflicts.parquet").to_pandas()
    per_edge, per_junction = hotspots(table)
    events = table[table.kind.isin(["conflict", "collision"])]
    located = events[(events.junction != "") | (events.edge != "")]
    assert per_edge.sum() + per_junction.sum() == len(located)


def test_traffic_mix_draws_types_by_share(safety_run) -> None:
    run_dir = safety_run.run_dir
    vtypes = pq.read_table(run_dir / "trips.parquet").column("vType").to_pylist()
    assert set(vtypes) == {"mix_human", "mix_autonomous"}
    share = vtypes.count("mix_autonomous") / len(vtypes)
    n = len(vtypes)  # binomial: 4 standard deviations either side of 0.4
    assert abs(share - 0.4) < 4 * (0.4 * 0.6 / n) ** 0.5
    mix = (run_dir / "traffic_mix.add.xml").read_text()
    assert 'carFollowModel="CACC"' in mix and 'probability="0.4"' in mix
    table = pq.read_table(run_dir / "conflicts.parquet").to_pandas()
    conflicts = table[table.kind == "conflict"]
    for side in ("ego", "foe"):
        autonomous = conflicts[f"{side}_type"] == "mix_autonomous"
        assert (conflicts[f"{side}_autonomous"] == autonomous).all()


@pytest.mark.parametrize(
    ("mix", "field"),
    [
        ({"autonomous_share": 1.5}, "traffic_mix.autonomous_share"),
        ({}, "traffic_mix.autonomous_share"),
        (
            {"autonomous_share": 0.5, "autonomous": {"car_follow_model": "Tesla", "sigma": 0}},
            "traffic_mix.autonomous.car_follow_model",
        ),
    ],
)
def test_bad_traffic_mix_names_the_field(write_spec, mix, field) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(small_scenario(traffic_mix=mix)))
    assert f"`{field}`" in str(err.value)


def test_measuring_leaves_the_traffic_as_it_is(write_spec, tmp_path) -> None:
    """The SSM device only observes and collisions only warn: without collisions, the same
    spec without ``safety:`` drives every vehicle the same (half the fleet equipped by a
    random draw that must not disturb the drivers' own)."""
    demand = {"type": "random", "vehicles_per_hour": 1800, "fringe_factor": 5}
    spec = load_spec(write_spec(small_scenario(end=300, demand=demand, safety={"equipped": 0.5})))
    measured = run_scenario(spec, tmp_path / "a")
    plain = run_scenario(spec.model_copy(update={"safety": None}), tmp_path / "b")
    assert measured.kpis["safety_collisions"] == 0
    assert measured.kpis["safety_conflicts_logged"] > 0
    trips = [pq.read_table(r.run_dir / "trips.parquet").to_pandas() for r in (measured, plain)]
    for column in ("id", "depart", "arrival", "routeLength", "timeLoss"):
        assert list(trips[0][column]) == list(trips[1][column]), column


def test_signals_compare_adds_safety_columns(write_spec) -> None:
    import pandas as pd

    from mobility.signals.compare import METRICS, SAFETY_METRICS, metrics_for, summarise

    plain = load_spec(write_spec(small_scenario(), "a.yaml"))
    measured = load_spec(write_spec(small_scenario(safety={}), "b.yaml"))
    assert metrics_for(plain) == METRICS
    assert list(metrics_for(measured)) == [*METRICS, *SAFETY_METRICS]
    assert SAFETY_METRICS["safety_conflicts_per_hour"] == "conflicts (conflicts/h)"
    runs = pd.DataFrame(
        {
            "controller": ["static", "static"],
            **{m: [1.0, 3.0] for m in metrics_for(measured)},
            "wall_s": [1.0, 1.0],
        }
    )
    summary = summarise(runs).iloc[0]
    assert summary["safety_conflicts_per_hour"] == 2.0
    assert summary["safety_collisions_ci95"] > 0
