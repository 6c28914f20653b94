"""Run a sweep on Ray: one task per run, backpressure, retries, timeouts, resume.

The driver submits at most ``max_in_flight`` tasks, waits for any with ``ray.wait`` and
writes each result into the store as it arrives, so a 10,000-run sweep neither floods the
scheduler nor holds results in memory. A task is :func:`mobility.experiment.worker.execute`
(the same ``run_scenario`` as ``mobility run``, in a child process under the timeout);
Ray re-runs it when its worker or node dies (``retries``). Scenario inputs travel as
files: networks and demand are built through the content-addressed cache on each node.

Without ``address`` the sweep starts a local Ray on loopback and stops it at the end;
with one it joins that cluster and only disconnects. If Ray is already initialised in
this process (a notebook, the tests), that session is used as it is.

Nothing is launched when a run asks for more CPUs or GPUs than any node has (Ray would
keep it pending forever). Ctrl-C and SIGTERM cancel the runs in flight; what finished
stays stored. The temporary folders of runs whose process died (an interrupt, a killed
worker, a timeout, a killed driver) are removed when a sweep starts or resumes, at its
end, and after an interrupt.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobility.errors import MobilityError
from mobility.experiment.spec import PlannedRun, SweepPlan, SweepSpec
from mobility.experiment.store import SweepStore, param_column
from mobility.experiment.worker import execute

# Seconds an interrupted sweep waits for its cancelled runs to die and their folders to go.
STALE_WAIT_S = 5.0


class ClusterError(MobilityError):
    """Ray cannot be reached at the given address."""


class ResourceError(MobilityError):
    """The sweep's runs ask for more than any node of the Ray cluster has."""


@dataclass
class SweepReport:
    """What a sweep did: counts per outcome, and where the results are."""

    root: Path
    planned: int
    skipped: int = 0  # finished before (``--resume``)
    ok: int = 0
    failed: list[str] = field(default_factory=list)  # run ids, failed or timed out
    elapsed_s: float = 0.0

    @property
    def executed(self) -> int:
        return self.ok + len(self.failed)


# Called after each result is stored: (the run, its row, the report so far).
OnResult = Callable[[PlannedRun, dict[str, Any], SweepReport], None]


def run_sweep(
    plan: SweepPlan,
    out: Path | str,
    *,
    address: str | None = None,
    resume: bool = False,
    num_cpus: int | None = None,
    max_in_flight: int | None = None,
    progress: bool = True,
    on_result: OnResult | None = None,
    inputs: dict[str, str] | None = None,
) -> SweepReport:
    """Run every planned run not finished yet; returns a :class:`SweepReport`.

    ``out`` is the sweep directory. Without ``resume`` it must not hold results already.
    Ctrl-C (or any exception) cancels the runs in flight; what finished stays stored.
    ``inputs`` (path -> text) are files the runs read that a node may lack, such as the
    plans of ``optimized`` runs (see :func:`mobility.experiment.worker.provide_inputs`).
    """
    store = SweepStore(out)
    store.check_target()
    store.remove_stale()  # what a killed earlier sweep left (its runs, its store writes)
    if store.has_results() and not resume:
        msg = (
            f"{store.root} already holds results of a sweep; pass --resume to finish it "
            "(finished runs are kept) or choose another --out"
        )
        raise MobilityError(msg)
    todo = [run for run in plan.runs if not (resume and store.finished(run.run_id))]
    report = SweepReport(store.root, planned=len(plan.runs), skipped=len(plan.runs) - len(todo))
    started = time.perf_counter()
    if not todo:
        _write_plan(store, plan)
        return report
    try:
        with ray_session(address, num_cpus):
            check_resources(plan.spec, plan.source)  # before anything is written
            _write_plan(store, plan)
            drive(plan.spec, todo, store, report, max_in_flight, progress, on_result, inputs)
    except BaseException:
        # interrupted (Ctrl-C, SIGTERM) or failed: the cancelled runs die with their workers;
        # wait a moment for them so their temporary run folders go too
        store.remove_stale(wait_s=STALE_WAIT_S)
        raise
    finally:
        report.elapsed_s = time.perf_counter() - started
    store.remove_stale()  # runs of workers killed mid-sweep (their retries ran elsewhere)
    return report


def _write_plan(store: SweepStore, plan: SweepPlan) -> None:
    store.write_plan(
        plan.source.read_text(),
        {
            "sweep": plan.spec.name,
            "source": str(plan.source),
            "params": plan.param_paths,
            "runs": [run.manifest_entry() for run in plan.runs],
        },
    )


def check_resources(spec: SweepSpec, source: Path | str) -> None:
    """Refuse a sweep whose runs ask for more than one Ray node has: Ray would keep them
    pending forever and the sweep would hang with nothing started.

    Compares ``resources`` with the largest live node of the Ray this process is connected
    to (a local Ray has one node: what it was started with). A cluster that adds nodes on
    demand (an autoscaler) may be refused too early; give it nodes first.
    """
    import ray

    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    asked = {"CPU": spec.resources.cpus, "GPU": spec.resources.gpus}
    fields = {"CPU": "cpus", "GPU": "gpus"}
    for kind, amount in asked.items():
        have = max((node.get(kind, 0.0) for node in nodes), default=0.0)
        if amount > have:
            msg = (
                f"{source}: field `resources.{fields[kind]}`: each run asks for {amount:g} "
                f"{kind}(s), but the largest Ray node has {have:g}, so no run could ever "
                f"start; lower `resources.{fields[kind]}` to at most {have:g}"
            )
            if kind == "CPU":
                msg += " (or give the local Ray more with --num-cpus, or join a bigger cluster)"
            else:
                msg += " (0 runs on the CPU), or join a cluster with GPUs with --address"
            raise ResourceError(msg)


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Ray for the block: a local Ray on loopback (``address`` None) or the cluster at
    ``address``, stopped or left at the end; a session already open in this process is
    used as it is. Commands that launch several batches (a plan search, then its runs)
    open one session around them all, so Ray starts once."""
    import ray

    owns_ray = _connect(address, num_cpus)
    try:
        yield
    finally:
        if owns_ray:
            ray.shutdown()


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Initialise Ray; True if this call started it (and so must stop it)."""
    import ray

    if ray.is_initialized():
        return False
    with _own_sigterm():
        return _init(address, num_cpus)


@contextmanager
def _own_sigterm() -> Iterator[None]:
    """Keep this process's SIGTERM handler across ``ray.init``.

    ``ray.init`` replaces it with one that exits at once, so a SIGTERM (a scheduler, a
    container stopping) would skip the Ctrl-C path that cancels the runs in flight and
    removes their folders. ``mobility``'s own handler turns SIGTERM into Ctrl-C; it stays
    (where none was set, Ray's, which at least unwinds the stack, is kept).
    """
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if callable(before):
            signal.signal(signal.SIGTERM, before)


def _init(address: str | None, num_cpus: int | None) -> bool:
    """``ray.init`` on loopback (``address`` None) or joining the cluster at ``address``."""
    import ray

    if address is None:
        # Ray starts its workers at nice 15; the runs are this sweep's foreground work, so
        # a local Ray that we own gives them normal priority (override with the variable).
        os.environ.setdefault("RAY_worker_niceness", "0")
        keep_ray_on_loopback()
        # "local": always a new Ray of our own. With no address, ray.init joins the cluster
        # named in /tmp/ray/ray_current_cluster (any `ray start` or test Cluster on this
        # machine, even a dead one) and then refuses num_cpus.
        ray.init(
            address="local",
            num_cpus=num_cpus,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        return True
    _check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        msg = f"cannot join the Ray cluster at --address {address}: {exc}"
        raise ClusterError(msg + "; start one with `ray start --head` or drop --address") from None
    return True  # we connected: disconnect at the end (the cluster itself keeps running)


def keep_ray_on_loopback() -> None:
    """Make a local Ray of ours talk over 127.0.0.1 only.

    On Linux, Ray swaps 127.0.0.1 for the machine's outward address so that other nodes
    can reach it, even when told ``_node_ip_address="127.0.0.1"``. A Ray we start for this
    machine alone has no other nodes; Ray's own switch for single-machine use (an
    environment variable every Ray process reads at start, and its value in this process)
    keeps all its traffic on loopback.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (instead of Ray's long retries) when ``host:port`` does not answer."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        msg = f"--address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), `auto` or ray://"
        raise ClusterError(msg)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        msg = (
            f"cannot reach a Ray cluster at --address {address} ({exc.strerror or exc}); "
            "check the address, start one with `ray start --head`, or drop --address "
            "to run on this machine"
        )
        raise ClusterError(msg) from None


def drive(
    spec: SweepSpec,
    todo: list[PlannedRun],
    store: SweepStore,
    report: SweepReport,
    max_in_flight: int | None,
    progress: bool,
    on_result: OnResult | None,
    inputs: dict[str, str] | None = None,
    label: str = "sweep",
) -> None:
    """Run ``todo`` on the open Ray session under ``spec``'s settings (resources, retries,
    timeout, in-flight limit), storing each result as it arrives."""
    import ray

    task = ray.remote(execute).options(
        num_cpus=spec.resources.cpus,
        num_gpus=spec.resources.gpus,
        max_retries=spec.retries,
        retry_exceptions=False,
        scheduling_strategy="SPREAD",
        name="mobility-run",
    )
    limit = max_in_flight or spec.max_in_flight or _default_in_flight(spec.resources.cpus)
    runs_dir, logs_dir = str(store.runs_dir), str(store.logs_dir)
    queue = list(reversed(todo))
    pending: dict[Any, PlannedRun] = {}
    bar = _Bar(len(todo), enabled=progress, label=label)
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                run = queue.pop()
                ref = task.remote(
                    run.run_id,
                    run.spec.model_dump(mode="json"),
                    runs_dir,
                    logs_dir,
                    spec.timeout_s,
                    inputs,
                )
                pending[ref] = run
            bar.update(report, running=len(pending))
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    out = ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries exhausted: worker/node lost
                    out = {"row": _lost_row(run, exc), "tables": {}}
                row = out["row"]
                labels = {
                    "variant": run.variant,
                    "seed": run.seed,
                    **{param_column(p): v for p, v in run.params.items()},
                }
                store.write_result(row, out["tables"], labels)
                if row["status"] == "ok":
                    report.ok += 1
                else:
                    report.failed.append(run.run_id)
                bar.update(report, running=len(pending))
                if on_result is not None:
                    on_result(run, row, report)
    finally:
        # cancel only what has not finished: force-cancelling a task whose reply is on its
        # way can trip an internal check of Ray's core worker and abort this process
        _, running = ray.wait(list(pending), num_returns=len(pending), timeout=0)
        for ref in running:
            ray.cancel(ref, force=True)
        bar.close()


def _default_in_flight(cpus_per_run: float) -> int:
    import ray

    slots = int(ray.cluster_resources().get("CPU", 1) / cpus_per_run)
    return max(2, 2 * slots)


def _lost_row(run: PlannedRun, exc: Exception) -> dict[str, Any]:
    text = str(exc).strip().splitlines()
    return {
        "run_id": run.run_id,
        "status": "failed",
        "error": f"{type(exc).__name__}: {text[0] if text else ''} (after all retries)",
        "log": str(exc)[-4000:],
    }


class _Bar:
    """A rich progress bar with done, running, failed and an ETA (or nothing)."""

    def __init__(self, total: int, *, enabled: bool, label: str = "sweep") -> None:
        self._progress = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn(f"[bold]{label}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("sweep", total=total, state="starting")
        self._progress.start()

    def update(self, report: SweepReport, *, running: int) -> None:
        if self._progress is None:
            return
        state = f"running {running}, failed {len(report.failed)}"
        self._progress.update(self._task, completed=report.executed, state=state)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
