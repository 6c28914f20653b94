"""Where SUMO lives: the binaries and tools of the installed ``eclipse-sumo`` wheel.

The user never sets ``SUMO_HOME``: we take it from the wheel (or from the environment if a
user deliberately points to another installation) and hand it, with ``PROJ_LIB`` for
netconvert's projections, to every SUMO process we start.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mobility.errors import MobilityError


@functools.cache
def sumo_home() -> Path:
    """The SUMO installation to use: ``$SUMO_HOME`` if valid, else the eclipse-sumo wheel."""
    env = os.environ.get("SUMO_HOME")
    if env and (Path(env) / "bin").is_dir():
        return Path(env)
    try:
        import sumo  # the eclipse-sumo wheel
    except ImportError as exc:  # pragma: no cover - a broken install
        msg = "SUMO is not installed: run `pip install eclipse-sumo` (make demo does it for you)"
        raise MobilityError(msg) from exc
    return Path(sumo.SUMO_HOME)


def sumo_env() -> dict[str, str]:
    """Environment for SUMO subprocesses: SUMO_HOME and the PROJ database of the wheel."""
    env = dict(os.environ)
    home = sumo_home()
    env["SUMO_HOME"] = str(home)
    proj = home / "data" / "proj"
    if proj.is_dir():
        env.setdefault("PROJ_LIB", str(proj))
        env.setdefault("PROJ_DATA", str(proj))
    return env


def binary(name: str) -> str:
    """Absolute path of a SUMO binary such as ``sumo``, ``netconvert`` or ``duarouter``."""
    path = sumo_home() / "bin" / name
    if not path.exists():
        msg = f"SUMO binary {name!r} not found in {path.parent}: reinstall eclipse-sumo"
        raise MobilityError(msg)
    return str(path)


def tool(relative: str) -> list[str]:
    """Command prefix running one of SUMO's Python tools, e.g. ``tool("randomTrips.py")``."""
    return [sys.executable, str(sumo_home() / "tools" / relative)]


@functools.cache
def version() -> str:
    """The SUMO version string, e.g. ``1.28.0`` (from the wheel, else from ``sumo``)."""
    from importlib import metadata

    if not os.environ.get("SUMO_HOME") or Path(os.environ["SUMO_HOME"]) == _wheel_home():
        try:
            return metadata.version("eclipse-sumo")
        except metadata.PackageNotFoundError:
            pass
    out = subprocess.run(
        [binary("sumo"), "--version"], capture_output=True, text=True, env=sumo_env(), check=False
    ).stdout
    first = out.splitlines()[0] if out else ""
    return first.rsplit(" ", 1)[-1] if first else "unknown"


def _wheel_home() -> Path | None:
    try:
        import sumo
    except ImportError:
        return None
    return Path(sumo.SUMO_HOME)


def run_tool(cmd: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a SUMO binary or tool, capturing its output (callers turn failures into errors).

    The tool dies with this process: a run killed while randomTrips works leaves no
    randomTrips eating memory behind it."""
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=sumo_env(),
        cwd=cwd,
        check=False,
        preexec_fn=die_with_parent(),
    )


def die_with_parent() -> Callable[[], None] | None:
    """For a child process on Linux: a function that makes the kernel SIGKILL it when its
    parent dies (``PR_SET_PDEATHSIG``), whatever killed the parent (SIGKILL too, which no
    handler sees). Resolved here, in the parent: the child, forked from a process that may
    run threads (JAX's), then only makes one system call and loads nothing."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def error_lines(text: str, limit: int = 8) -> str:
    """The lines of a SUMO log that explain a failure: its ``Error:`` lines with their
    indented continuations, or, when it wrote none, its last lines but the warnings that
    every run prints (they explain nothing)."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    errors: list[str] = []
    in_error = False
    for ln in lines:
        if ln.startswith("Error"):
            errors.append(ln)
        elif ln.startswith(" ") and in_error:
            errors[-1] += " " + ln.strip()  # SUMO continues a long error on the next line
            continue
        in_error = ln.startswith("Error")
    if errors:
        return "\n".join(list(dict.fromkeys(errors))[:limit])
    quiet = [ln for ln in lines if not ln.startswith("Warning")]
    return "\n".join((quiet or lines)[-limit:])
