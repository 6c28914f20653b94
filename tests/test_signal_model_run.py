"""The model's controllers in real SUMO on the 3x3 grid: ``optimized`` writes the plan it
is given with the net's transitions inside min/max green (its search is tested in
test_signals_optimize.py), ``model_predictive`` runs with a bounded, recorded decision time
(and, on a one-light net with a short turning bay, serves a red turn whose queue fills its
bay), and ``check-model`` correlates plans (its SUMO runs through the sweep runner)."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import numpy as np
import pytest
from conftest import prepare_signals, run_cli, run_signals, small_scenario

from mobility import sumo
from mobility.config import ScenarioSpec, load_spec
from mobility.errors import SpecError
from mobility.network.build import build_network
from mobility.network.net import load_network
from mobility.signals.types import Observation


def _spec(**signals) -> ScenarioSpec:
    return ScenarioSpec.model_validate(small_scenario(end=400, signals=signals))


def test_optimized_writes_the_given_plan_within_bounds(tmp_path) -> None:
    spec = _spec(controller="static")
    tls = sorted(load_network(build_network(spec.network)).signals.programs)
    wanted = {t: {"greens": [3.0] + [99.0] * 7, "offset": 7.0} for t in tls}
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"tls": wanted}))
    spec = _spec(controller="optimized", params={"plan": str(given)}, min_green=5, max_green=40)
    _, inputs = prepare_signals(spec, tmp_path)
    root = ElementTree.parse(tmp_path / inputs.additional[0]).getroot()
    logics = root.findall("tlLogic")
    assert sorted(x.get("id") for x in logics) == tls
    for logic in logics:
        assert logic.get("offset") == "7.0"
        for phase in logic.findall("phase"):
            state, dur = phase.get("state"), float(phase.get("duration"))
            if "y" in state:
                assert dur == 3.0  # the net's yellow
            elif any(c in "Gg" for c in state):
                assert dur in (5.0, 40.0)  # clipped into [min_green, max_green]


def test_optimized_rejects_a_negative_verify(write_spec) -> None:
    path = write_spec(small_scenario(signals={"controller": "optimized", "params": {"verify": -1}}))
    with pytest.raises(SpecError, match=r"signals.params.verify.*greater than or equal to 0"):
        load_spec(path)


def test_model_predictive_runs_and_reports_its_decision_time(tmp_path) -> None:
    from mobility.signals.model_predictive import rollout_costs

    spec = _spec(controller="model_predictive", min_green=5)
    compiled = rollout_costs._cache_size()
    setup = run_signals(spec, tmp_path)
    # every decision is timed and reported (its speed is measured in bench/signal_model.py):
    # one every 10 s from 0 to 400 s, 41 in all
    times = setup.driver.controller.decision_s
    assert len(times) == 41
    assert all(t > 0 for t in times)
    # the time per decision is bounded because the shapes are fixed: the rollouts of the
    # whole run are compiled once (none when an earlier test compiled the same shapes)
    assert rollout_costs._cache_size() - compiled <= 1
    assert rollout_costs._cache_size() >= 1


def _bay_net(folder) -> tuple:
    """One light C. Its west approach WC is short (about 30 m after the junction) with two
    through lanes and one left-turn lane, fed by a single lane (UW), so that a queue longer
    than its lanes stands mixed in one lane behind them. Phase 0 serves the south approach
    and the west through lanes, phase 1 the west left turn alone."""
    nodes = {"U": (-240, 0), "W": (-40, 0), "C": (0, 0), "E": (200, 0), "N": (0, 200)}
    nodes["S"] = (0, -200)
    (folder / "n.nod.xml").write_text(
        "<nodes>"
        + "".join(
            f'<node id="{n}" x="{x}" y="{y}" type="{"traffic_light" if n == "C" else "priority"}"/>'
            for n, (x, y) in nodes.items()
        )
        + "</nodes>"
    )
    edges = {"UW": 1, "WC": 3, "CE": 1, "CN": 1, "SC": 1}
    (folder / "n.edg.xml").write_text(
        "<edges>"
        + "".join(
            f'<edge id="{e}" from="{e[0]}" to="{e[1]}" numLanes="{n}" speed="13.89"/>'
            for e, n in edges.items()
        )
        + "</edges>"
    )
    links = [("UW", "WC", 0, 0), ("UW", "WC", 0, 1), ("UW", "WC", 0, 2), ("SC", "CE", 0, 0)]
    links += [("WC", "CE", 0, 0), ("WC", "CE", 1, 0), ("WC", "CN", 2, 0)]
    (folder / "n.con.xml").write_text(
        "<connections>"
        + "".join(
            f'<connection from="{a}" to="{b}" fromLane="{i}" toLane="{j}"/>' for a, b, i, j in links
        )
        + "</connections>"
    )
    # signal links in netconvert's order: SC->CE, WC->CE (two lanes), WC->CN
    phases = [("GGGr", 30), ("yyyr", 3), ("rrrG", 30), ("rrry", 3)]
    (folder / "n.tll.xml").write_text(
        '<tlLogics><tlLogic id="C" type="static" programID="0" offset="0">'
        + "".join(f'<phase duration="{d}" state="{st}"/>' for st, d in phases)
        + "</tlLogic></tlLogics>"
    )
    net = folder / "bay.net.xml"
    args = ["-n", "n.nod.xml", "-e", "n.edg.xml", "-x", "n.con.xml", "-i", "n.tll.xml"]
    proc = sumo.run_tool(
        [sumo.binary("netconvert"), *args, "--no-turnarounds", "-o", str(net)], cwd=folder
    )
    assert proc.returncode == 0, proc.stderr
    routes = folder / "bay.rou.xml"
    flows = [("through", "UW", "CE", 400), ("left", "UW", "CN", 200), ("south", "SC", "CE", 400)]
    routes.write_text(
        "<routes>"
        + "".join(
            f'<flow id="{i}" begin="0" end="600" vehsPerHour="{v}" from="{a}" to="{b}"/>'
            for i, a, b, v in flows
        )
        + "</routes>"
    )
    return net, routes


def test_model_predictive_serves_a_red_turn_whose_queue_fills_its_bay(tmp_path) -> None:
    net, routes = _bay_net(tmp_path)
    picked = {}
    for bays in (1, 0):
        params = {"bays": bays, "horizon": 20, "candidates": 0}
        spec = ScenarioSpec.model_validate(
            {
                "name": "bay",
                "seed": 42,
                "end": 30,
                "network": str(net),
                "demand": str(routes),
                "signals": {"controller": "model_predictive", "params": params},
            }
        )
        folder = tmp_path / f"bays{bays}"
        folder.mkdir()
        setup = run_signals(spec, folder)
        controller = setup.driver.controller
        lay = controller.layout
        lanes = list(lay.in_lanes[0])
        assert lay.serves[0, :, :].sum() == 4  # phase 0: three links, phase 1: the turn
        # ten vehicles for the left turn (its lane holds four), seven for the through
        # lanes (they hold eight), three on the south approach: max pressure holds phase 0
        halting = np.zeros(lay.in_mask.shape)
        for lane, n in {"WC_2": 10.0, "WC_0": 3.5, "WC_1": 3.5, "SC_0": 3.0}.items():
            halting[0, lanes.index(lane)] = n
        obs = Observation(
            time=30.0,
            in_vehicles=halting,
            in_halting=halting,
            in_waiting=10.0 * halting,
            out_vehicles=np.zeros(lay.out_mask.shape),
            phase=np.array([0]),
            phase_age=np.array([30.0]),
        )
        assert controller.pressure.decide(obs)[0] == 0
        phases, costs = controller.costs(obs)
        picked[bays] = (
            int(controller.decide(obs)[0]),
            dict(zip(phases[:, 0, 0], costs[:, 0], strict=True)),
        )
    # with the bays, holding phase 0 leaves the turn's queue standing in the through lanes'
    # way: it costs more than serving the turn, which costs the same either way
    (with_bays, cost), (without, cost0) = picked[1], picked[0]
    assert with_bays == 1 and without == 0
    assert cost[0] > cost[1] == cost0[1] > cost0[0]


def test_check_model_command_correlates_random_plans(write_spec, tmp_path) -> None:
    """`mobility signals check-model` end to end: the printed Spearman and per-plan delays
    are those of the table it saves, and rho is Spearman's by hand (ranks' Pearson)."""
    import pandas as pd

    spec = write_spec(small_scenario(end=300))
    done = run_cli("signals", "check-model", str(spec), "--plans", "3", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(tmp_path / "small-check-model.parquet")
    assert len(table) == 3
    assert (table["sumo_delay_s"] > 0).all() and (table["model_delay_s"] > 0).all()
    printed = re.findall(r"plan (\d): SUMO ([\d.]+) s, model ([\d.]+) s", done.stdout)
    for i, sumo_s, model_s in printed:
        row = table.iloc[int(i)]
        assert float(sumo_s) == pytest.approx(row["sumo_delay_s"], abs=0.05)
        assert float(model_s) == pytest.approx(row["model_delay_s"], abs=0.05)
    assert sorted(int(i) for i, _, _ in printed) == [0, 1, 2]
    rho = float(re.search(r"small: Spearman (-?[\d.]+)", done.stdout).group(1))
    ranks = [np.argsort(np.argsort(table[c].to_numpy())) for c in ("sumo_delay_s", "model_delay_s")]
    assert rho == pytest.approx(float(np.corrcoef(*ranks)[0, 1]), abs=5e-4)
    # the model picks the plan SUMO finds best (it ranks two of three plans right: rho 0.5)
    assert table["model_delay_s"].idxmin() == table["sumo_delay_s"].idxmin()
    assert rho > 0
