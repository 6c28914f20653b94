"""The cache key of a searched plan changes when the twin it was searched on is calibrated:
a plan searched on the hand-set constants is not reused once ``mobility signals calibrate``
has fitted the network (the search would now rank plans on another model)."""

from __future__ import annotations

import json

from conftest import small_scenario

from mobility.cache import cached_build
from mobility.config import ScenarioSpec
from mobility.demand.build import calibration_demand
from mobility.scenario import scenario_network
from mobility.signals.model_build import CALIBRATION_FILE, CALIBRATION_KIND, calibration_key
from mobility.signals.optimized import plan_key


def test_a_fitted_twin_gives_the_plan_a_new_key(tmp_path) -> None:
    spec = ScenarioSpec.model_validate(small_scenario(signals={"controller": "optimized"}))
    network = scenario_network(spec)
    routes = list(calibration_demand(spec, network))
    tls = sorted(network.signals.programs)
    before = plan_key(spec, network=network, routes=routes, tls=tls)
    assert before["twin"] is None

    def store(folder):
        path = folder / CALIBRATION_FILE
        path.write_text(json.dumps({"stands": "for a fit"}))
        return path

    cached_build(CALIBRATION_KIND, calibration_key(spec, network, routes), store, CALIBRATION_FILE)
    after = plan_key(spec, network=network, routes=routes, tls=tls)
    assert after["twin"] is not None
    assert {k: v for k, v in after.items() if k != "twin"} == {
        k: v for k, v in before.items() if k != "twin"
    }
