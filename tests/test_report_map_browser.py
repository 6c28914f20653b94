"""Reports opened in headless chromium with no network: a two-parameter sweep (one line per
value of the other parameter, plain KPI names with units, no horizontal scrolling)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from conftest import small_scenario

from mobility import Scenario
from mobility.experiment.spec import variant_label
from mobility.experiment.store import SweepStore, param_column
from mobility.report import build_report, load_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium absent: `apt-get install -y chromium` (.ci/run does)"
)

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


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--proxy-server=127.0.0.1:9",  # anything fetched from the network fails: offline
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def probe(tmp_path: Path, report: Path, script: str = PROBE) -> dict:
    """Open the report with the probe injected, on a laptop-sized window; its findings."""
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("<head>", "<head>" + script, 1))
    dom = chromium(tmp_path, "--window-size=1280,800", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="__probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"no probe output; chromium said:\n{dom.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


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
