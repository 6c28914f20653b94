"""Run directories: where one run leaves everything needed to trust and reuse it.

``<out>/<name>-<hash12>/`` holds:

- ``spec.yaml``: the resolved spec (absolute paths, defaults filled in);
- ``meta.json``: spec hash, seed, versions (mobility, SUMO, Python, jax, numpy), backend,
  timings, input files;
- ``run.sumocfg``, ``outputs.add.xml``: the SUMO configuration the run used;
- ``sumo.log``, ``statistics.xml``: SUMO's log and end-of-run statistics;
- ``trips.parquet``, ``edges.parquet``, ``timeline.parquet``: the outputs as tables;
- ``kpis.json``: one flat dict of KPIs.

A run is written into a hidden temporary folder beside its final place and renamed only
when complete, so a folder named like a run is always a whole run: a crash, an error or
Ctrl-C leaves nothing that looks like a result.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mobility.errors import RunDirError

if TYPE_CHECKING:
    import pandas as pd

SPEC = "spec.yaml"
META = "meta.json"
KPIS = "kpis.json"


@dataclass(frozen=True)
class RunResult:
    """What a finished run hands back: where it is and its KPIs."""

    run_dir: Path
    spec_hash: str
    kpis: dict[str, float]

    def table(self, name: str) -> pd.DataFrame:
        """One of the run's tables: ``trips``, ``edges`` or ``timeline``."""
        import pandas as pd

        return pd.read_parquet(self.run_dir / f"{name}.parquet")

    @classmethod
    def load(cls, run_dir: Path | str) -> RunResult:
        """Read a run directory written earlier."""
        run_dir = Path(run_dir)
        meta_file, kpi_file = run_dir / META, run_dir / KPIS
        if not (meta_file.is_file() and kpi_file.is_file()):
            msg = (
                f"{run_dir}: not a run directory (no {META}/{KPIS}); "
                "give a folder that `mobility run` wrote"
            )
            raise RunDirError(msg)
        meta = json.loads(meta_file.read_text())
        return cls(run_dir, meta["spec_hash"], json.loads(kpi_file.read_text()))


def run_dir_name(name: str, spec_hash: str) -> str:
    """Final folder name of a run."""
    return f"{name}-{spec_hash[:12]}"


@contextlib.contextmanager
def atomic_run_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``final`` only if the block succeeds.

    An existing ``final`` (the same spec run before) is replaced by the new run.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final.parent)
    tmp = final.parent / f".{final.name}.tmp-{owner_tag()}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            trash = final.parent / f".{final.name}.old-{owner_tag()}"
            final.rename(trash)
            tmp.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_output_dir(path: Path | str, *, what: str = "--out") -> Path:
    """The one check of an output folder, before any work: it is a folder (or can be made
    one) that this process may write into. RunDirError naming ``what`` and the fix."""
    path = Path(path).resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    if not existing.is_dir():
        msg = f"{what} {path}: {existing} is a file, not a folder; give a folder for the results"
        raise RunDirError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = (
            f"{what} {path}: {existing} cannot be written (permission denied); give a folder "
            "you may write into"
        )
        raise RunDirError(msg)
    return path


def owner_tag() -> str:
    """``<host>~<pid>~<random>``: which process owns a temporary folder, so that a later
    process can tell a live one (a concurrent run) from one left by a killed process."""
    host = platform.node().replace("~", "-") or "host"
    return f"{host}~{os.getpid()}~{uuid.uuid4().hex[:8]}"


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary folders (``.*.tmp-*``, ``.*.old-*``) in ``folder`` whose owner
    process on this host is gone (SIGKILL, a lost node): nothing else can remove them.
    Folders of live processes and of other hosts are left alone. Returns what went."""
    removed = []
    for path in folder.glob(".*"):
        marker = next((m for m in (".tmp-", ".old-") if m in path.name), None)
        if marker is None or not path.is_dir():
            continue
        if not _owner_gone(path.name.rpartition(marker)[2]):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _owner_gone(tag: str) -> bool:
    host, _, rest = tag.partition("~")
    pid = rest.partition("~")[0]
    if host != (platform.node().replace("~", "-") or "host") or not pid.isdigit():
        return False  # another host's, or not ours: leave it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """A process that exited but was not reaped yet (state Z in Linux's /proc) is gone too."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def write_json(path: Path, data: Any) -> None:
    """JSON with NaN written as null (valid JSON for DuckDB, browsers and jq)."""
    path.write_text(json.dumps(_nan_to_none(data), indent=2, sort_keys=True) + "\n")


def write_spec(path: Path, spec_data: dict[str, Any]) -> None:
    """The resolved spec as YAML, in the field order of the spec."""
    path.write_text(yaml.safe_dump(spec_data, sort_keys=False))


def versions() -> dict[str, str]:
    """Versions that can change a result; read from package metadata (no heavy imports)."""
    from mobility import __version__, sumo

    found = {"mobility": __version__, "sumo": sumo.version(), "python": platform.python_version()}
    for package in ("jax", "numpy", "pandas", "pyarrow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    found["platform"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    return found


def _nan_to_none(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _nan_to_none(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_nan_to_none(v) for v in node]
    if isinstance(node, float) and math.isnan(node):
        return None
    return node
