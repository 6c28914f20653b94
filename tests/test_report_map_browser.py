"""Reports opened in headless chromium with no network: a two-parameter sweep (one line per
value of the other parameter, plain KPI names with units, no horizontal scrolling)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from conftest import small_scenario
from report_helpers import (  # noqa: F401  (_browser_required: a fixture browser_mark names)
    _browser_required,
    browser_mark,
)
from report_helpers import probe as open_with_probe

from mobility import Scenario
from mobility.experiment.spec import variant_label
from mobility.experiment.store import SweepStore, param_column
from mobility.report import build_report, load_run

pytestmark = browser_mark()

CONTROLLERS = ("static", "max_pressure")
RATES = (600, 1200)

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (ev) {
  var t = ev.target;
  window.__errors.push(t && t !== window ? 'resource failed: ' + (t.src || t.href || t.tagName)
                                         : 'error: ' + ev.message);
}, true);
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () {
    window.__errors.push('console.' + level + ': ' + Array.from(arguments).join(' '));
    original.apply(console, arguments);
  };
});
window.addEventListener('load', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var sweeps = Array.from(document.querySelectorAll("figure[data-kind='sweep-kpi']"));
  var lines = sweeps.map(function (f) {
    return {lines: f.querySelectorAll('g[id^="kpi-line-"]').length,
            caption: f.querySelector('figcaption').textContent};
  });
  var tables = Array.from(document.querySelectorAll('table.variants')).map(function (t) {
    var box = t.parentElement;
    return {table: t.getBoundingClientRect().width, room: box.clientWidth,
            scroll: box.scrollWidth, heads: Array.from(t.querySelectorAll('thead th'))
              .map(function (th) { return th.textContent; })};
  });
  var out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify({errors: window.__errors, lines: lines, tables: tables,
    page: document.documentElement.scrollWidth, window: window.innerWidth});
  document.body.appendChild(out);
});
</script>"""


def probe(tmp_path: Path, report: Path, script: str = PROBE) -> dict:
    """Open the report with the probe injected, on a laptop-sized window; its findings."""
    return open_with_probe(tmp_path, report, script, "--window-size=1280,800")


@pytest.fixture(scope="module")
def two_param_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """signals.controller x demand.vehicles_per_hour, one seed: four real 5-minute runs
    written through the real results store (the store is what the report reads)."""
    folder = tmp_path_factory.mktemp("sweep")
    store = SweepStore(folder / "sweep")
    params = ["signals.controller", "demand.vehicles_per_hour"]
    planned = []
    for i, (controller, rate) in enumerate((c, r) for c in CONTROLLERS for r in RATES):
        values = {"signals.controller": controller, "demand.vehicles_per_hour": rate}
        planned.append((f"r{i}", variant_label(values), values))
    manifest = {
        "sweep": "two_params",
        "params": params,
        "runs": [{"run_id": r, "variant": v, "params": p, "seed": 1} for r, v, p in planned],
    }
    store.write_plan("name: two_params\n", manifest)
    for run_id, variant, values in planned:
        demand = {"type": "random", "fringe_factor": 5, "vehicles_per_hour": values[params[1]]}
        spec = small_scenario(
            name=run_id, seed=1, end=300, demand=demand, signals=values[params[0]]
        )
        (folder / f"{run_id}.yaml").write_text(yaml.safe_dump(spec))
        run_dir = Scenario.from_yaml(folder / f"{run_id}.yaml").run(folder / "runs").run_dir
        run = load_run(run_dir)
        row = {"run_id": run_id, "status": "ok", "run_dir": str(run_dir)}
        row.update({f"kpi_{k}": float(v) for k, v in run.kpis.items()})
        labels = {"variant": variant, "seed": 1, **{param_column(p): values[p] for p in params}}
        store.write_result(row, {"trips": pa.Table.from_pandas(run.trips)}, labels)
    return store.root


def test_two_parameter_sweep_reads_right(two_param_sweep: Path, tmp_path: Path) -> None:
    report = build_report(two_param_sweep, tmp_path / "report.html")
    found = probe(tmp_path, report)
    assert found["errors"] == []
    # one line per controller in every KPI plot, none zig-zagging through both controllers
    assert found["lines"], "no KPI plots"
    assert all(f["lines"] == len(CONTROLLERS) for f in found["lines"]), found["lines"]
    captions = [f["caption"] for f in found["lines"]]
    assert any(c.startswith("travel time (s):") for c in captions), captions
    # the KPI headers are plain names with units; no table needs horizontal scrolling
    heads = [h for t in found["tables"] for h in t["heads"]]
    assert "travel time (s)" in heads
    assert not any("_" in h for h in heads), heads
    assert len(found["tables"]) >= 2  # headline KPIs, then the rest folded away
    for t in found["tables"]:
        assert t["scroll"] <= t["room"] + 1, t
    assert found["page"] <= found["window"]
    text = report.read_text()
    assert "controller: <b>max_pressure</b><br>vehicles per hour: <b>1200</b>" in text


MAP_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (ev) {
  var t = ev.target;
  window.__errors.push(t && t !== window ? 'resource failed: ' + (t.src || t.href || t.tagName)
                                         : 'error: ' + ev.message);
}, true);
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () {
    window.__errors.push('console.' + level + ': ' + Array.from(arguments).join(' '));
    original.apply(console, arguments);
  };
});
window.addEventListener('load', function () {
  var M = window.mobilityMap, out = {errors: window.__errors};
  function done() {
    var pre = document.createElement('pre');
    pre.id = '__probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (!M) { out.missing = true; done(); return; }
  var canvas = document.querySelector('#imap canvas');
  var px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data, ink = 0;
  for (var i = 3; i < px.length; i += 4) { if (px[i] > 0) { ink++; } }
  out.roads = M.layers.congestion.lines.length;
  out.ink = ink;
  out.zoom0 = M.map.getZoom();
  // hover: move the mouse over the middle of road A1B1, as a user would
  var idx = M.data.edges.id.indexOf('A1B1'), a = M.data.edges.xy[idx];
  var mid = [(a[1] + a[a.length - 1]) / 2, (a[0] + a[a.length - 2]) / 2];
  var p = M.map.latLngToContainerPoint(mid), box = canvas.getBoundingClientRect();
  var cbox = document.getElementById('imap').getBoundingClientRect();
  canvas.dispatchEvent(new MouseEvent('mousemove', {bubbles: true,
    clientX: cbox.left + p.x, clientY: cbox.top + p.y}));
  var tip = document.querySelector('.leaflet-tooltip');
  out.tooltip = tip ? tip.textContent : null;
  // time slider: the second slice recolours the roads
  var range = document.getElementById('imap-range');
  var before = M.layers.congestion.lines.map(function (l) { return l.options.color; });
  range.value = '1';
  range.dispatchEvent(new Event('input'));
  out.slider = {label: document.getElementById('imap-label').textContent,
                max: range.max,
                recoloured: M.layers.congestion.lines.filter(function (l, i) {
                  return l.options.color !== before[i]; }).length};
  // layers: pick CO2 in the layer control
  var radios = document.querySelectorAll('.leaflet-control-layers-base input');
  radios[1].click();
  out.co2_shown = M.map.hasLayer(M.layers.co2) && !M.map.hasLayer(M.layers.congestion);
  out.layer_names = Array.from(document.querySelectorAll('.leaflet-control-layers label'))
    .map(function (l) { return l.textContent.trim(); });
  // zoom: the + button
  document.querySelector('.leaflet-control-zoom-in').click();
  setTimeout(function () { out.zoom1 = M.map.getZoom(); done(); }, 1000);
});
</script>"""


def test_interactive_map_draws_zooms_hovers_offline(tmp_path: Path) -> None:
    from report_helpers import make_run

    report = build_report(make_run(tmp_path, 1, 900), tmp_path / "report.html")
    found = probe(tmp_path, report, MAP_PROBE)
    assert found["errors"] == []
    assert found["roads"] == 48  # every road of the 3x3 grid
    assert found["ink"] > 5_000  # the canvas holds the drawn roads
    # the two directions of a road lie 3.2 m apart: the pointer finds one of them
    assert found["tooltip"] is not None
    assert found["tooltip"].split(" ")[0].startswith(("A1B1", "B1A1")), found["tooltip"]
    assert "speed / limit" in found["tooltip"] and "vehicles (whole run)" in found["tooltip"]
    assert found["slider"]["max"] == "4"  # 10 minutes of edge data every 2 minutes
    assert found["slider"]["label"] == "2–4 min"
    assert found["slider"]["recoloured"] > 0
    assert found["co2_shown"] is True
    assert "Traffic lights (delay)" in found["layer_names"]
    assert found["zoom1"] == found["zoom0"] + 1
    text = report.read_text()
    assert "Leaflet 1.9" in text  # the library is inlined, with its notice
    assert "<script src" not in text and "<link" not in text and "images/" not in text


def test_map_of_a_5000_road_net_stays_under_5_mb(tmp_path: Path) -> None:
    """Worst case for size: every road with traffic in every one of 12 time slices (the
    values are placeholders of the precision real ones are written with)."""
    import numpy as np
    import pandas as pd

    from mobility.config import GridNetwork
    from mobility.network.build import build_network
    from mobility.network.geo import edges_frame, junctions_frame
    from mobility.report.interactive import interactive_map, map_data

    net = build_network(GridNetwork(type="grid", rows=36, cols=36))
    edges = edges_frame(net)
    assert len(edges) >= 5_000
    rng = np.random.default_rng(0)
    n = len(edges)
    edges = edges.assign(
        entered=rng.integers(0, 2_000, n),
        speed_relative=rng.random(n),
        co2_g_per_m=rng.random(n) * 50,
        time_loss_s=rng.random(n) * 1e5,
        left=rng.integers(1, 2_000, n),
    )
    ids = edges["edge_id"]
    slices = [(b * 300.0, b * 300.0 + 300, pd.Series(rng.random(n), index=ids)) for b in range(12)]
    junctions = junctions_frame(net)
    signals = pd.DataFrame(
        {
            "junction_id": junctions["junction_id"],
            "x": junctions.geometry.x,
            "y": junctions.geometry.y,
            "delay_per_vehicle_s": rng.random(len(junctions)) * 60,
        }
    )
    html = interactive_map(map_data(edges, slices, signals))
    size = len(html.encode())
    assert size < 5_000_000, f"{size / 1e6:.2f} MB for {n} roads"
