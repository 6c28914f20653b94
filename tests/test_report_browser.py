"""The report of a real small run, opened in headless Debian chromium with no network.

A probe script injected at the top of ``<head>`` collects every error (script errors,
failed resource loads, ``console.error``), then after load measures each figure and moves
the time-slice slider; chromium's ``--dump-dom`` hands the result back. A screenshot is
kept in ``test-artifacts/`` for a human to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from report_helpers import (  # noqa: F401  (_browser_required: a fixture browser_mark names)
    _browser_required,
    browser_mark,
    chromium,
    make_run,
    make_shuttle_run,
    probe,
)

from mobility.report import build_report

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = browser_mark()


PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (ev) {
  var t = ev.target;
  window.__errors.push(t && t !== window ? 'resource failed: ' + (t.src || t.href || t.tagName)
                                         : 'error: ' + ev.message);
}, true);
window.addEventListener('unhandledrejection', function (ev) {
  window.__errors.push('rejection: ' + ev.reason);
});
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () {
    window.__errors.push('console.' + level + ': ' + Array.from(arguments).join(' '));
    original.apply(console, arguments);
  };
});
window.addEventListener('load', function () {
  function box(el) { var r = el.getBoundingClientRect(); return [r.width, r.height]; }
  var figures = Array.from(document.querySelectorAll('figure')).map(function (f) {
    var svg = f.querySelector('svg');
    return {kind: f.dataset.kind, cls: f.className, hidden: f.hidden,
            box: box(f), svg: svg ? box(svg) : null,
            shapes: svg ? svg.querySelectorAll('path,use,line,polyline,rect').length : 0};
  });
  var slider = null, range = document.getElementById('slice-range');
  if (range) {
    range.value = '1';
    range.dispatchEvent(new Event('input'));
    var slices = document.querySelectorAll('.slices .slice');
    slider = {first_hidden: slices[0].hidden, second_hidden: slices[1].hidden,
              label: document.getElementById('slice-label').textContent};
    range.value = '0';
    range.dispatchEvent(new Event('input'));
  }
  var out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify({errors: window.__errors, figures: figures,
                                    slider: slider, title: document.title});
  document.body.appendChild(out);
});
</script>"""


def _probe(tmp_path: Path, report: Path) -> dict:
    """Open the report with the probe in chromium; the probe's findings."""
    return probe(tmp_path, report, PROBE)


def _rendered(figures: list[dict]) -> None:
    for f in figures:
        if f["hidden"]:
            continue  # the time slices not shown yet
        assert f["svg"] is not None, f
        assert f["svg"][0] > 100 and f["svg"][1] > 100, f  # rendered, not collapsed
        assert f["shapes"] > 10, f  # something drawn in it


def test_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, 1, 900)
    report = build_report(run_dir, tmp_path / "report.html")
    probe = _probe(tmp_path, report)

    assert probe["errors"] == []
    assert probe["title"].startswith("Run small")
    figures = probe["figures"]
    kinds = {f["kind"] for f in figures}
    assert {"vehicles", "speed", "travel-time", "junction-delay"} <= kinds  # plots
    assert {"congestion", "co2", "signals"} <= kinds  # maps
    _rendered(figures)
    assert sum(not f["hidden"] for f in figures if f["kind"] == "congestion") == 1
    assert probe["slider"] == {
        "first_hidden": True,
        "second_hidden": False,
        "label": "Congestion, 2–4 min",
    }

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-small-run.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, "--window-size=1280,3600", f"--screenshot={shot}", report.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000
    shutil.copy(report, ARTIFACTS / "report-small-run.html")


def test_shuttle_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    report = build_report(make_shuttle_run(tmp_path), tmp_path / "report.html")
    probe = _probe(tmp_path, report)
    assert probe["errors"] == []
    kinds = {f["kind"] for f in probe["figures"]}
    assert {"shuttle-wait", "shuttle-occupancy", "shuttle-map"} <= kinds
    _rendered(probe["figures"])
