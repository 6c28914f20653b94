"""Bad input to `mobility sweep`, `mobility results` and `mobility report`, one case a line.

Each case writes its input files into a fresh folder ``{d}`` (and may take a copy of a real
run or a real sweep at ``{d}/given``, and damage one of its files), runs the real command
in a subprocess and checks: the exit code, the words the message must contain, no
traceback, no temporary folder anywhere, and, when the command fails, that it wrote
nothing at all. A new case is one more line in ``CASES``.
"""
# ruff: noqa: E501  (a case is one line, however long)

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import GRID3, ROOT, small_scenario

from mobility import Scenario

pytest.importorskip("ray")


def base(**overrides: Any) -> dict[str, Any]:
    """The 2-minute scenario on the 3x3 grid that every sweep here varies."""
    return small_scenario(end=120, **overrides)


def sweep(**fields: Any) -> str:
    """A sweep file over :func:`base` as YAML text; ``fields`` override or add fields."""
    data: dict[str, Any] = {"name": "bad_input", "base": base(), "seeds": [1]}
    data.update(fields)
    return yaml.safe_dump(data)


MAX_PRESSURE = base(signals={"controller": "max_pressure"})
SOTL = base(signals={"controller": "sotl"})
OUT = "--out {d}/out"


@dataclass(frozen=True)
class Case:
    """One bad input: what is written, the command, and what it must answer."""

    id: str
    args: str  # after `mobility`; {d} is the case's folder
    code: int
    words: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)  # name in {d} -> text
    given: str | None = None  # "run" or "sweep": a copy of a real one at {d}/given
    damage: tuple[str, str] | None = None  # (glob in {d}, "half" | "empty" | new text)


# fmt: off
CASES = [
    # -- sweeps: the store holds any parameter value ------------------------------------------
    Case("params-empty-mapping", f"sweep {{d}}/s.yaml {OUT} --no-report --num-cpus 2", 0, ("2 ok, 0 failed",), {"s.yaml": sweep(base=SOTL, grid={"signals.params": [{}, {"theta": 30}]})}),
    # -- sweeps: variants invalid against their network, refused before launch ----------------
    Case("tls-not-in-net", f"sweep {{d}}/s.yaml {OUT}", 2, ("1 of the sweep's 2 variant(s)", 'variant signals.tls=["nope"]', "'nope' not a traffic light", "nothing was launched"), {"s.yaml": sweep(base=MAX_PRESSURE, grid={"signals.tls": [None, ["nope"]]})}),
    Case("every-bad-variant-named", f"sweep {{d}}/s.yaml {OUT}", 2, ("2 of the sweep's 3 variant(s)", 'signals.tls=["nope"]', 'signals.tls=["A0", "zzz"]', "'zzz'"), {"s.yaml": sweep(base=MAX_PRESSURE, grid={"signals.tls": [["nope"], ["A0", "zzz"], None]}, seeds=[1, 2])}),
    Case("variant-net-unreadable", f"sweep {{d}}/s.yaml {OUT}", 2, ("variant network.path=", "broken.net.xml", "could not be read", "nothing was launched"), {"broken.net.xml": "<net>not a network</net>\n", "s.yaml": sweep(zip={"network.path": [str(GRID3), "broken.net.xml"]})}),
    Case("variant-net-missing", f"sweep {{d}}/s.yaml {OUT}", 2, ("network.path", "file not found", "nothing was launched"), {"s.yaml": sweep(grid={"network.path": [str(GRID3), "nowhere.net.xml"]})}),
    Case("dry-run-checks-variants", "sweep {d}/s.yaml --dry-run", 2, ("'nope' not a traffic light",), {"s.yaml": sweep(base=MAX_PRESSURE, grid={"signals.tls": [["nope"]]})}),
    # -- sweeps: resources no node has (Ray would wait forever) --------------------------------
    Case("cpus-above-node", f"sweep {{d}}/s.yaml {OUT} --num-cpus 2", 2, ("field `resources.cpus`", "asks for 64 CPU", "at most 2", "--num-cpus"), {"s.yaml": sweep(resources={"cpus": 64})}),
    Case("gpus-above-node", f"sweep {{d}}/s.yaml {OUT} --num-cpus 2", 2, ("field `resources.gpus`", "asks for 8 GPU", "lower `resources.gpus`"), {"s.yaml": sweep(resources={"gpus": 8})}),
    Case("cpus-zero", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `resources.cpus`", "greater than 0"), {"s.yaml": sweep(resources={"cpus": 0})}),
    Case("gpus-negative", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `resources.gpus`",), {"s.yaml": sweep(resources={"gpus": -1})}),
    Case("num-cpus-zero", f"sweep {{d}}/s.yaml {OUT} --num-cpus 0", 2, ("--num-cpus",), {"s.yaml": sweep()}),
    # -- sweeps: the sweep file itself ---------------------------------------------------------
    Case("base-missing", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `base`", "required field is missing"), {"s.yaml": "name: x\nseeds: [1]\n"}),
    Case("base-file-not-found", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `base`", "file not found", "nope.yaml"), {"s.yaml": sweep(base="nope.yaml")}),
    Case("grid-path-not-in-base", f"sweep {{d}}/s.yaml {OUT}", 2, ("demand.vehicle_per_hour", "vehicles_per_hour", "fix the path"), {"s.yaml": sweep(grid={"demand.vehicle_per_hour": [600]})}),
    Case("grid-index-past-list", f"sweep {{d}}/s.yaml {OUT}", 2, ("name.0", "is a value"), {"s.yaml": sweep(grid={"name.0": ["x"]})}),
    Case("seeds-empty", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `seeds`", "at least 1 item"), {"s.yaml": sweep(seeds=[])}),
    Case("seed-count-zero", f"sweep {{d}}/s.yaml {OUT}", 2, ("seed count must be at least 1",), {"s.yaml": sweep(seeds=0)}),
    Case("seeds-repeat", f"sweep {{d}}/s.yaml {OUT}", 2, ("seeds repeat",), {"s.yaml": sweep(seeds=[1, 1])}),
    Case("retries-negative", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `retries`", "greater than or equal to 0"), {"s.yaml": sweep(retries=-1)}),
    Case("timeout-zero", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `timeout_s`",), {"s.yaml": sweep(timeout_s=0)}),
    Case("grid-no-values", f"sweep {{d}}/s.yaml {OUT}", 2, ("`end` has no values",), {"s.yaml": sweep(grid={"end": []})}),
    Case("zip-lengths-differ", f"sweep {{d}}/s.yaml {OUT}", 2, ("one length",), {"s.yaml": sweep(zip={"end": [300, 600], "demand.fringe_factor": [1]})}),
    Case("variant-invalid-value", f"sweep {{d}}/s.yaml {OUT}", 2, ("end=-5, seed", "field `end`", "nothing was launched"), {"s.yaml": sweep(grid={"end": [120, -5]})}),
    Case("unknown-sweep-field", f"sweep {{d}}/s.yaml {OUT}", 2, ("field `retry`", "unknown field"), {"s.yaml": sweep(retry=2)}),
    Case("scenario-given-to-sweep", f"sweep {{d}}/s.yaml {OUT}", 2, ("not a sweep", "mobility run"), {"s.yaml": yaml.safe_dump(base())}),
    Case("sweep-file-missing", f"sweep {{d}}/none.yaml {OUT}", 2, ("none.yaml", "not found")),
    Case("out-is-a-file", "sweep {d}/s.yaml --out {d}/taken", 2, ("taken", "is a file, not a folder"), {"s.yaml": sweep(), "taken": "x\n"}),
    Case("address-not-host-port", f"sweep {{d}}/s.yaml {OUT} --address nowhere", 2, ("HOST:PORT",), {"s.yaml": sweep()}),
    Case("results-there-no-resume", "sweep {d}/s.yaml --out {d}/given", 2, ("already holds results", "--resume"), {"s.yaml": sweep()}, given="sweep"),
    # -- results: broken stores and bad queries ------------------------------------------------
    Case("query-bad-sql", "results query {d}/given 'SELECT nope FROM runs'", 2, ("query failed", "views in"), given="sweep"),
    Case("query-not-sql", "results query {d}/given 'hello'", 2, ("query failed",), given="sweep"),
    Case("query-truncated-row", "results query {d}/given 'SELECT * FROM runs'", 2, ("1 result file(s) are damaged", "given/results/runs/", ".parquet", "--resume"), given="sweep", damage=("given/results/runs/*.parquet", "half")),
    Case("summary-truncated-row", "results summary {d}/given", 2, ("damaged", "given/results/runs/", "--resume"), given="sweep", damage=("given/results/runs/*.parquet", "half")),
    Case("query-empty-trips", "results query {d}/given 'SELECT count(*) FROM trips'", 2, ("damaged", "given/results/trips/", "--resume"), given="sweep", damage=("given/results/trips/*.parquet", "empty")),
    Case("report-sweep-truncated-row", "report {d}/given --no-open", 2, ("damaged", "given/results/runs/"), given="sweep", damage=("given/results/runs/*.parquet", "half")),
    Case("manifest-damaged", "results summary {d}/given", 2, ("manifest.json", "cannot be read"), given="sweep", damage=("given/manifest.json", '{"runs": [')),
    Case("results-not-a-sweep", "results summary {d}", 2, ("not a sweep directory",)),
    Case("summary-unknown-kpi", "results summary {d}/given -k nope", 2, ("unknown KPI", "nope"), given="sweep"),
    # -- reports: broken runs and folders that are not runs ------------------------------------
    Case("report-truncated-trips", "report {d}/given --no-open", 2, ("given/trips.parquet", "damaged", "mobility run", "given/spec.yaml", "delete the folder"), given="run", damage=("given/trips.parquet", "half")),
    Case("report-empty-edges", "report {d}/given --no-open", 2, ("given/edges.parquet", "0 bytes", "delete the folder"), given="run", damage=("given/edges.parquet", "empty")),
    Case("report-not-parquet-timeline", "report {d}/given --no-open", 2, ("given/timeline.parquet", "damaged"), given="run", damage=("given/timeline.parquet", "not parquet\n")),
    Case("report-damaged-kpis", "report {d}/given --no-open", 2, ("given/kpis.json", "damaged"), given="run", damage=("given/kpis.json", '{"trips": ')),
    Case("report-meta-without-hash", "report {d}/given --no-open", 2, ("given/meta.json", "no field 'spec_hash'"), given="run", damage=("given/meta.json", '{"seed": 1}')),
    Case("report-kpis-not-mapping", "report {d}/given --no-open", 2, ("given/kpis.json", "not a mapping"), given="run", damage=("given/kpis.json", "[1, 2]\n")),
    Case("report-spec-not-mapping", "report {d}/given --no-open", 2, ("given/spec.yaml", "not a mapping"), given="run", damage=("given/spec.yaml", "- 1\n")),
    Case("report-compare-truncated", "report {d}/given --compare {d}/given --no-open", 2, ("given/trips.parquet", "damaged"), given="run", damage=("given/trips.parquet", "half")),
    Case("report-not-a-run", "report {d}/empty --no-open", 2, ("not a run directory",), {"empty/notes.txt": "x\n"}),
    Case("report-compare-not-a-run", "report {d}/given --compare {d}/empty --no-open", 2, ("not a run directory",), {"empty/notes.txt": "x\n"}, given="run"),
    Case("report-a-file", "report {d}/f.txt --no-open", 2, ("a file",), {"f.txt": "x\n"}),
    Case("report-missing-folder", "report {d}/nowhere --no-open", 2, ("no such folder",)),
    Case("report-temp-folder", "report {d}/.small-1.tmp-x --no-open", 2, ("failed or was interrupted",), {".small-1.tmp-x/meta.json": "{}\n"}),
]
# fmt: on


@pytest.fixture(scope="module", autouse=True)
def ray_tmpdir() -> Iterator[Path]:
    """A Ray temp folder of this module's own (the machine's /tmp/ray is shared with any
    other Ray on it), holding a stale cluster address as a dead `ray start` leaves: a sweep
    must still start its own Ray (it once joined that cluster and crashed on --num-cpus).
    Short, under /tmp: Ray's socket paths must stay under 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="mob-ray-", dir="/tmp"))
    (folder / "ray").mkdir()
    (folder / "ray" / "ray_current_cluster").write_text("127.0.0.1:9\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_TMPDIR", str(folder))
    yield folder
    mp.undo()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def given(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real run (2 minutes on the 3x3 grid) and a real sweep of two such runs."""
    folder = tmp_path_factory.mktemp("given")
    spec = folder / "run.yaml"
    spec.write_text(yaml.safe_dump(base()))
    run_dir = Scenario.from_yaml(spec).run(folder / "runs").run_dir
    (folder / "sweep.yaml").write_text(sweep(seeds=[1, 2]))
    result = _mobility(f"sweep {folder}/sweep.yaml --out {folder}/sweep --no-report --num-cpus 2")
    assert result.returncode == 0, result.stderr
    return {"run": run_dir, "sweep": folder / "sweep"}


def _mobility(args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}  # rich wraps nothing: the words are on one line
    return subprocess.run(
        [sys.executable, "-m", "mobility.cli", *shlex.split(args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )


def _prepare(case: Case, d: Path, given: dict[str, Path]) -> None:
    for name, text in case.files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    if case.given is not None:
        shutil.copytree(given[case.given], d / "given", symlinks=True)
    if case.damage is not None:
        pattern, how = case.damage
        target = sorted(d.glob(pattern))[0]
        data = target.read_bytes()
        new = {"half": data[: len(data) // 2], "empty": b""}.get(how, how.encode())
        target.write_bytes(new)


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, given: dict[str, Path], tmp_path: Path) -> None:
    d = tmp_path / "case"
    d.mkdir()
    _prepare(case, d, given)
    before = _snapshot(d)
    result = _mobility(case.args.format(d=d))
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == case.code, said
    assert "Traceback" not in said, result.stderr
    for word in case.words:
        assert word in said, f"{word!r} not in: {said}"
    temp = [p for p in d.rglob("*") if ".tmp-" in p.name and p.name != ".small-1.tmp-x"]
    assert not temp, temp
    if case.code != 0:
        assert _snapshot(d) == before, "a failed command left something behind"
