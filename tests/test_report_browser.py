"""The report of a real small run, opened in headless Debian chromium with no network.

A probe script injected at the top of ``<head>`` collects every error (script errors,
failed resource loads, ``console.error``), then after load measures each figure and moves
the time-slice slider; chromium's ``--dump-dom`` hands the result back. A screenshot is
kept in ``test-artifacts/`` for a human to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_helpers import make_run, make_shuttle_run

from mobility.report import build_report

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> Path | None:
    """A headless-capable Chromium on PATH (any of its usual names), else Debian's path."""
    for name in _NAMES:
        if found := shutil.which(name):
            return Path(found)
    debian = Path("/usr/bin/chromium")
    return debian if debian.is_file() else None


CHROMIUM = find_browser()
_MISSING = "no chromium found: `apt-get install -y chromium` (.ci/run installs it)"
if CHROMIUM is None and os.environ.get("CI", "").lower() in ("true", "1"):
    # in CI a missing browser is a broken image, not a reason to go green without the tests
    pytestmark = pytest.mark.usefixtures("_browser_required")
else:
    pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=_MISSING)


@pytest.fixture
def _browser_required() -> None:
    pytest.fail(f"CI=true and {_MISSING}")


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


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
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


def _probe(tmp_path: Path, report: Path) -> dict:
    """Open the report with the probe in chromium; the probe's findings."""
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("<head>", "<head>" + PROBE, 1))
    dom = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="__probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"no probe output; chromium said:\n{dom.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


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
    _chromium(tmp_path, "--window-size=1280,3600", f"--screenshot={shot}", report.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000
    shutil.copy(report, ARTIFACTS / "report-small-run.html")


def test_shuttle_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    report = build_report(make_shuttle_run(tmp_path), tmp_path / "report.html")
    probe = _probe(tmp_path, report)
    assert probe["errors"] == []
    kinds = {f["kind"] for f in probe["figures"]}
    assert {"shuttle-wait", "shuttle-occupancy", "shuttle-map"} <= kinds
    _rendered(probe["figures"])
