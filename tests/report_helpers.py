"""Helpers shared by the report tests: two small real runs on the 3x3 grid (plain net), and
headless chromium with no network (found, required in CI, launched, probed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import small_scenario

from mobility import Scenario


def make_run(folder: Path, seed: int, vehicles_per_hour: float) -> Path:
    """A 10-minute run with edge data every 2 minutes and emissions; returns its folder."""
    spec = small_scenario(
        seed=seed,
        demand={"type": "random", "vehicles_per_hour": vehicles_per_hour, "fringe_factor": 5},
        outputs={"edgedata_period": 120, "emissions": True},
    )
    path = folder / f"scenario-{seed}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return Scenario.from_yaml(path).run(folder / "runs").run_dir


REPO = Path(__file__).resolve().parent.parent


def make_shuttle_run(folder: Path) -> Path:
    """``experiments/shuttles_on_demand.yaml`` cut to 20 minutes (riders for the first 15)."""
    spec = yaml.safe_load((REPO / "experiments" / "shuttles_on_demand.yaml").read_text())
    spec["network"] = str(REPO / "networks" / "grid4x4" / "grid4x4.net.xml")
    spec["end"] = 1200
    spec["riders"]["until"] = 900
    path = folder / "shuttles.yaml"
    path.write_text(yaml.safe_dump(spec))
    return Scenario.from_yaml(path).run(folder / "runs").run_dir


_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_MISSING = "no chromium found: `apt-get install -y chromium` (.ci/run installs it)"


def find_browser() -> Path | None:
    """A headless-capable Chromium on PATH (any of its usual names), else Debian's path."""
    for name in _NAMES:
        if found := shutil.which(name):
            return Path(found)
    debian = Path("/usr/bin/chromium")
    return debian if debian.is_file() else None


CHROMIUM = find_browser()


@pytest.fixture
def _browser_required() -> None:
    pytest.fail(f"CI=true and {_MISSING}")


def browser_mark() -> pytest.MarkDecorator:
    """The ``pytestmark`` of a browser test module: skip without chromium, except in CI,
    where a missing browser is a broken image, not a reason to go green without the tests
    (the module must also import ``_browser_required``)."""
    if CHROMIUM is None and os.environ.get("CI", "").lower() in ("true", "1"):
        return pytest.mark.usefixtures("_browser_required")
    return pytest.mark.skipif(CHROMIUM is None, reason=_MISSING)


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless chromium with a fresh profile in ``tmp`` and every network fetch failing."""
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


def probe(tmp_path: Path, report: Path, script: str, *window: str) -> dict:
    """Open ``report`` with ``script`` injected at the top of ``<head>``; what the script
    wrote into ``<pre id="__probe">`` as JSON (``window``: e.g. ``--window-size=W,H``)."""
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("<head>", "<head>" + script, 1))
    dom = chromium(tmp_path, *window, "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="__probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"no probe output; chromium said:\n{dom.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
