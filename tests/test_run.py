"""Whole runs with real SUMO: run directory, KPIs, determinism, backends, failures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import GRID3, run_cli, small_scenario

from mobility import Scenario, sumo
from mobility.errors import SimulationError
from mobility.rundir import RunResult
from mobility.sim.engine import Engine


def run(write_spec, out: Path, **overrides: object) -> RunResult:
    return Scenario.from_yaml(write_spec(small_scenario(**overrides))).run(out)


def test_run_directory_holds_spec_tables_and_kpis(write_spec, tmp_path: Path) -> None:
    result = run(write_spec, tmp_path / "out")
    names = {p.name for p in result.run_dir.iterdir()}
    assert {
        "spec.yaml",
        "meta.json",
        "kpis.json",
        "run.sumocfg",
        "sumo.log",
        "statistics.xml",
        "trips.parquet",
        "edges.parquet",
        "timeline.parquet",
    } <= names
    assert not any(n.endswith(".raw.parquet") for n in names)
    assert result.run_dir.name == f"small-{result.spec_hash[:12]}"
    assert [p.name for p in result.run_dir.parent.iterdir()] == [result.run_dir.name]
    meta = json.loads((result.run_dir / "meta.json").read_text())
    assert meta["seed"] == 42
    assert meta["versions"]["sumo"] == sumo.version()
    assert {"mobility", "python", "jax"} <= set(meta["versions"])
    trips = result.table("trips")
    assert len(trips) == result.kpis["vehicles_loaded"] == 150
    assert result.kpis["trips_completed"] == int((trips["arrival"] >= 0).sum()) > 100
    assert result.kpis["travel_time_mean_s"] == pytest.approx(
        trips.loc[trips["arrival"] >= 0, "duration"].mean()
    )
    assert result.kpis["co2_total_kg"] > 0
    edges = result.table("edges")
    assert {"edge_id", "interval_begin", "speed", "CO2_abs"} <= set(edges.columns)
    assert sorted(edges["interval_begin"].unique()) == [0.0, 300.0]
    timeline = result.table("timeline")
    assert len(timeline) == 600 and timeline["running"].max() > 0
    assert RunResult.load(result.run_dir).kpis == json.loads(
        (result.run_dir / "kpis.json").read_text()
    )


def test_same_seed_same_kpis_other_seed_differs(write_spec, tmp_path: Path) -> None:
    a = run(write_spec, tmp_path / "a")
    b = run(write_spec, tmp_path / "b")
    c = run(write_spec, tmp_path / "c", seed=43)
    assert a.kpis == b.kpis
    pd.testing.assert_frame_equal(a.table("trips"), b.table("trips"))
    assert c.kpis != a.kpis


@pytest.fixture
def one_road(tmp_path: Path) -> Path:
    """A single 1 km one-lane road at 10 m/s and one vehicle that drives exactly that."""
    (tmp_path / "r.nod.xml").write_text(
        '<nodes><node id="a" x="0" y="0"/><node id="b" x="1000" y="0"/></nodes>'
    )
    (tmp_path / "r.edg.xml").write_text(
        '<edges><edge id="ab" from="a" to="b" numLanes="1" speed="10"/></edges>'
    )
    subprocess.run(
        [sumo.binary("netconvert"), "-n", "r.nod.xml", "-e", "r.edg.xml", "-o", "road.net.xml"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    (tmp_path / "road.rou.xml").write_text(
        '<routes><vType id="exact" speedFactor="1" speedDev="0" sigma="0"/>'
        '<vehicle id="v" type="exact" depart="0" departSpeed="max" departPos="0">'
        '<route edges="ab"/></vehicle></routes>'
    )
    return tmp_path


def test_one_road_travel_time_is_length_over_speed(write_spec, one_road: Path) -> None:
    result = run(
        write_spec,
        one_road / "out",
        end=300,
        network=str(one_road / "road.net.xml"),
        demand=str(one_road / "road.rou.xml"),
    )
    assert result.kpis["trips_completed"] == 1
    length = result.table("edges")["distance"].sum()  # metres driven on the road
    expected = length / 10.0
    assert result.kpis["travel_time_mean_s"] == pytest.approx(expected, abs=1.0)
    assert result.kpis["time_loss_mean_s"] < 1.0


def test_libsumo_and_traci_agree(write_spec, tmp_path: Path) -> None:
    """libsumo in a fresh process (the command; this test process may have run libsumo
    already, and then runs traci, see mobility.sim.engine) against traci here: same trips."""
    spec = write_spec(small_scenario(end=300))
    done = run_cli("run", str(spec), "--out", str(tmp_path / "lib"), "--backend", "libsumo")
    assert done.returncode == 0, done.stderr
    (lib,) = (tmp_path / "lib").iterdir()
    a = RunResult.load(lib)
    b = Scenario.from_yaml(spec).run(tmp_path / "traci", backend="traci")
    assert json.loads((lib / "meta.json").read_text())["backend"] == "libsumo"
    assert json.loads((b.run_dir / "meta.json").read_text())["backend"] == "traci"
    assert a.kpis == b.kpis
    pd.testing.assert_frame_equal(a.table("trips"), b.table("trips"))


def test_a_second_simulation_in_a_process_runs_over_traci(
    write_spec, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """libsumo's second simulation in one process is not reproducible (test_determinism):
    the engine runs it in its own sumo process instead, with the same results, quietly."""
    spec = write_spec(small_scenario(end=300))
    first = Scenario.from_yaml(spec).run(tmp_path / "a")  # libsumo, or traci if not first
    capfd.readouterr()
    second = Scenario.from_yaml(spec).run(tmp_path / "b")
    said = capfd.readouterr()
    assert json.loads((second.run_dir / "meta.json").read_text())["backend"] == "traci"
    assert first.kpis == second.kpis
    assert said.out == "" and "Retrying" not in said.err  # traci's connect prints nothing


def test_resco_delay_charges_vehicles_that_never_departed(write_spec, tmp_path: Path) -> None:
    # far more demand than the grid's entries take: a queue of vehicles never gets in
    overload = {"type": "random", "vehicles_per_hour": 9000, "fringe_factor": 100}
    result = run(write_spec, tmp_path, end=300, demand=overload, time_to_teleport=-1)
    trips = result.table("trips")
    waiting = trips[trips["depart"] < 0]
    assert result.kpis["vehicles_never_departed"] == len(waiting) > 0
    routes = Path(json.loads((result.run_dir / "meta.json").read_text())["routes"][0])
    import sumolib

    scheduled = {
        v.id: float(v.depart)
        for v in sumolib.xml.parse_fast(str(routes), "vehicle", ["id", "depart"])
    }
    for row in waiting.itertuples():
        assert row.departDelay == pytest.approx(300 - scheduled[row.id], abs=1.0)
    expected = (trips["timeLoss"] + trips["departDelay"]).mean()
    assert result.kpis["resco_delay_s"] == pytest.approx(expected)
    assert result.kpis["resco_delay_s"] > result.kpis["time_loss_mean_s"]


def test_network_sumo_refuses_leaves_no_run_dir(write_spec, tmp_path: Path) -> None:
    bad = tmp_path / "bad.net.xml"
    bad.write_text('<net version="1.20"><edge id="x" from="nowhere" to="nothing"/></net>')
    routes = tmp_path / "r.rou.xml"
    routes.write_text("<routes/>")
    out = tmp_path / "out"
    with pytest.raises(SimulationError, match="SUMO refused to start") as info:
        run(write_spec, out, network=str(bad), demand=str(routes))
    assert "Error" in str(info.value)
    assert str(tmp_path / "scenario.yaml") in str(info.value)
    assert not out.exists() or list(out.iterdir()) == []
    # libsumo was closed cleanly: the next run in this process works
    assert run(write_spec, tmp_path / "after", end=120).kpis["vehicles_loaded"] > 0


def test_interrupt_leaves_nothing_half_written(write_spec, tmp_path: Path, monkeypatch) -> None:
    def interrupt(self: Engine, until: float, progress=None) -> None:
        self._api.simulationStep(60)
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "run", interrupt)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(write_spec, out)
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    assert run(write_spec, out, end=120).run_dir.exists()


def test_callbacks_run_at_their_interval_and_see_subscriptions() -> None:
    import traci.constants as tc

    seen: list[tuple[float, int]] = []
    routes = Path(__file__).parent / "data" / "grid3x3_flows.rou.xml"
    log = routes.parent / "engine_test.log"
    engine = Engine(
        ["-n", str(GRID3), "-r", str(routes), "--no-step-log", "--log", str(log)],
        log_file=log,
    )
    with engine:
        lanes = ["left1A1_0", "A1B1_0"]
        engine.subscribe("lane", lanes, [tc.LAST_STEP_VEHICLE_NUMBER, tc.LAST_STEP_MEAN_SPEED])

        def observe(e: Engine) -> None:
            values = e.values("lane")
            assert values.shape == (2, 2)
            seen.append((e.time, int(values[:, 0].sum())))

        engine.every(30, observe)
        engine.run(300)
        assert engine.time == 300
    log.unlink(missing_ok=True)
    assert [t for t, _ in seen] == [30.0 * k for k in range(1, 11)]
    assert sum(n for _, n in seen) > 0
