"""The interactive map's conflicts layer, drawn from a real run's ``conflicts.parquet`` (the
safety run part) and opened in headless chromium with no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from conftest import small_scenario
from report_helpers import (  # noqa: F401  (_browser_required: a fixture browser_mark names)
    _browser_required,
    browser_mark,
)
from test_report_map_browser import probe

from mobility import Scenario
from mobility.report import build_report

pytestmark = browser_mark()

CONFLICTS_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (ev) { window.__errors.push('error: ' + ev.message); },
                        true);
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () {
    window.__errors.push('console.' + level + ': ' + Array.from(arguments).join(' '));
    original.apply(console, arguments);
  };
});
window.addEventListener('load', function () {
  var M = window.mobilityMap, out = {errors: window.__errors, shown: []};
  var range = document.getElementById('imap-range');
  var canvas = document.querySelector('#imap canvas');
  var cbox = document.getElementById('imap').getBoundingClientRect();
  for (var s = 0; s <= Number(range.max); s++) {
    range.value = String(s);
    range.dispatchEvent(new Event('input'));
    out.shown.push(M.layers.conflicts.getLayers().length);
    if (out.tooltip === undefined && M.layers.conflicts.getLayers().length) {
      // hover the first marker of the slice, as a user would
      var m = M.layers.conflicts.getLayers()[0];
      var p = M.map.latLngToContainerPoint(m.getLatLng());
      canvas.dispatchEvent(new MouseEvent('mousemove', {bubbles: true,
        clientX: cbox.left + p.x, clientY: cbox.top + p.y}));
      var tip = document.querySelector('.leaflet-tooltip');
      out.tooltip = tip ? tip.textContent : null;
    }
  }
  out.layer_names = Array.from(document.querySelectorAll('.leaflet-control-layers label'))
    .map(function (l) { return l.textContent.trim(); });
  var pre = document.createElement('pre');
  pre.id = '__probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def test_conflicts_layer_follows_the_time_slider(tmp_path: Path) -> None:
    spec = small_scenario(
        end=360,
        demand={"type": "random", "vehicles_per_hour": 2400, "fringe_factor": 5},
        outputs={"edgedata_period": 120, "emissions": False},
        safety={"equipped": 1.0},
    )
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    run_dir = Scenario.from_yaml(tmp_path / "s.yaml").run(tmp_path / "runs").run_dir
    table = pq.read_table(run_dir / "conflicts.parquet").to_pandas()
    placed = table[np.isfinite(table["x"]) & np.isfinite(table["y"])]
    # the slices are 0-2, 2-4 and 4-6 min: each shows the conflicts of its two minutes
    expected = [
        int(((placed["time"] >= b) & (placed["time"] < b + 120)).sum()) for b in (0, 120, 240)
    ]
    assert sum(expected) > 0, "the busy grid has conflicts to draw"
    found = probe(tmp_path, build_report(run_dir), CONFLICTS_PROBE)
    assert found["errors"] == []
    assert found["shown"] == expected
    assert "Conflicts (safety, this time slice)" in found["layer_names"]
    # the hovered marker (the slice's first; others may lie under the pointer) names its kind
    # and the vehicle classes involved
    slice_ = next(i for i, n in enumerate(expected) if n)
    here = placed[(placed["time"] >= 120 * slice_) & (placed["time"] < 120 * slice_ + 120)]
    kinds = {str(k).replace("_", " ") for k in here["kind"]}
    assert found["tooltip"] is not None, "no tooltip on hovering a conflict"
    assert any(found["tooltip"].startswith(k) for k in kinds), found["tooltip"]
