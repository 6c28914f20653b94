"""What one Ray task does: run one scenario in a child process, under a timeout.

The task forks a child that calls the same :func:`~mobility.scenario.run_scenario` as
``mobility run``. The child is what makes a per-run timeout enforceable: a stuck SUMO
(libsumo runs inside the calling process) is killed with its whole process group, and the
Ray worker lives on to take the next run. Forking is cheap: the worker has imported
mobility already, so a run pays milliseconds, not an interpreter start. The child dies
with its parent (``PR_SET_PDEATHSIG``), so a killed worker leaves no orphan SUMO behind.

The task never raises for a failed run: it returns a row with ``status`` ``failed`` or
``timeout`` and the log, so the sweep goes on. Only the death of the worker or its node
reaches Ray, which retries the task.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

LOG_TAIL_CHARS = 4000
TABLES = ("trips", "requests")  # per-run tables copied into the results store when present


def execute(
    run_id: str,
    spec_data: dict[str, Any],
    runs_dir: str,
    logs_dir: str,
    timeout_s: float | None,
    inputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one scenario and return its result row and tables (``{"row":..., "tables":...}``).

    ``inputs`` are small files the run reads that this node may lack (see
    :func:`provide_inputs`).
    """
    from mobility.config import ScenarioSpec
    from mobility.rundir import RunResult, remove_stale, run_dir_name

    _preload()
    provide_inputs(inputs or {})
    started = time.time()
    where = _where()
    log_file = Path(logs_dir) / f"{run_id}.log"
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    spec = ScenarioSpec.model_validate(spec_data)
    final = Path(runs_dir) / run_dir_name(spec.name, run_id)

    reused = _finished(final, run_id)
    if reused is None:
        status, error = _run_in_child(spec_data, runs_dir, log_file, timeout_s)
        if status != "ok":  # a killed child (timeout, crash) cannot remove its own folder
            remove_stale(Path(runs_dir))
    else:
        status, error = "ok", None
    row: dict[str, Any] = {
        "run_id": run_id,
        "status": status,
        "started_at": started,
        "duration_s": round(time.time() - started, 3),
        "reused": reused is not None,
        **where,
    }
    if status != "ok":
        row["error"] = error
        row["log"] = _tail(log_file)
        return {"row": row, "tables": {}}
    result = reused or RunResult.load(final)
    row["run_dir"] = str(result.run_dir)
    row.update({f"kpi_{k}": _number(v) for k, v in result.kpis.items()})
    return {"row": row, "tables": _tables(result.run_dir)}


def provide_inputs(inputs: dict[str, str]) -> None:
    """Write each ``path -> text`` that is missing on this node, atomically.

    Plans searched by ``mobility signals optimize`` live in the driver's cache and the
    candidate plans of its checks in its output folder; a node of a cluster sees neither,
    so they travel with the task. A relative path is inside this node's cache (where a run
    looks its plan up), an absolute one is used as it is. Their names are content-addressed,
    so an existing file is already the right one and is never rewritten.
    """
    from mobility.cache import cache_root

    for name, text in inputs.items():
        path = Path(name) if Path(name).is_absolute() else cache_root() / name
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, path)


def _preload() -> None:
    """Import the run path once per worker, so every forked run inherits it.

    Without it each child imports libsumo, numpy and pyarrow anew (a few tenths of a
    second per run). None of them has started a thread at import, so forking stays safe.
    """
    import libsumo  # noqa: F401

    import mobility.scenario  # noqa: F401


def _finished(final: Path, run_id: str) -> Any:
    """The run directory of this exact spec if a previous attempt completed it."""
    from mobility.errors import RunDirError
    from mobility.rundir import RunResult

    if not final.is_dir():
        return None
    try:
        result = RunResult.load(final)
        _tables(final)  # a damaged table (a bad copy, a full disk): run it again
    except (RunDirError, ValueError, KeyError, OSError):
        return None
    return result if result.spec_hash == run_id else None


def _run_in_child(
    spec_data: dict[str, Any], runs_dir: str, log_file: Path, timeout_s: float | None
) -> tuple[str, str | None]:
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(spec_data, runs_dir, str(log_file), sender))
    child.start()
    sender.close()
    try:
        if receiver.poll(timeout_s):
            try:
                status, error = receiver.recv()
            except EOFError:  # the child died without a word (segfault, OOM killer)
                child.join()
                return "failed", f"the run's process died (exit code {child.exitcode})"
            child.join()
            return status, error
        if not child.is_alive() and child.exitcode is not None:
            return "failed", f"the run's process died (exit code {child.exitcode})"
        _kill_group(child.pid)
        child.join()
        return "timeout", f"killed after the per-run timeout of {timeout_s:g} s"
    finally:
        if child.is_alive():  # the task itself was interrupted: take the run with it
            _kill_group(child.pid)
            child.join()
        receiver.close()


def _child(spec_data: dict[str, Any], runs_dir: str, log_file: str, sender: Any) -> None:
    """Body of the child process: own process group, output to the log, one run."""
    os.setpgid(0, 0)
    from mobility.sumo import die_with_parent

    if (arm := die_with_parent()) is not None:  # SIGKILL when the Ray worker dies
        arm()
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        from mobility.config import ScenarioSpec
        from mobility.errors import MobilityError
        from mobility.scenario import run_scenario

        try:
            run_scenario(ScenarioSpec.model_validate(spec_data), runs_dir)
            sender.send(("ok", None))
        except MobilityError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sender.send(("failed", f"{type(exc).__name__}: {exc}"))
        except BaseException as exc:  # a bug: keep its traceback in the log and the row
            text = traceback.format_exc()
            print(text, file=sys.stderr)
            sender.send(("failed", f"{type(exc).__name__}: {exc}\n{text}"))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sender.close()


def _kill_group(pid: int | None) -> None:
    if pid is None:
        return
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
            return
        except ProcessLookupError:
            return
        except PermissionError:
            continue


def _where() -> dict[str, Any]:
    """Which node and process ran the task (empty outside Ray)."""
    found: dict[str, Any] = {"host": socket.gethostname(), "worker_pid": os.getpid()}
    try:
        import ray

        if ray.is_initialized():
            found["node_id"] = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return found


def _tables(run_dir: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    found = {}
    for name in TABLES:
        path = run_dir / f"{name}.parquet"
        if path.is_file():
            found[name] = pq.read_table(path)
    return found


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-LOG_TAIL_CHARS:]


def _number(value: Any) -> Any:
    return float("nan") if value is None else value
