"""The one door to a running SUMO: libsumo in-process, or traci over loopback for sumo-gui.

Controllers and observers never touch traci themselves. They register with
:meth:`Engine.every` to be called at their own interval, read batched values that the
engine gathers through subscriptions (:meth:`Engine.subscribe` / :meth:`Engine.values`,
numpy arrays, one call per domain and step instead of one per object), and act through the
engine's narrow setters. That keeps them backend-agnostic and cheap.

Between callbacks the engine advances SUMO in one call (``simulationStep(t)``), so a run
without controllers costs what a raw ``sumo`` run costs; the stride is capped so Ctrl-C
is honoured within a few simulated minutes.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import operator
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mobility import sumo
from mobility.errors import SimulationError

Backend = Literal["libsumo", "traci"]
Callback = Callable[["Engine"], None]

# Longest stretch of simulated seconds run in one uninterruptible libsumo call.
MAX_STRIDE_S = 120.0
HALTING_SPEED_MPS = 0.1  # SUMO's halting threshold

_DOMAINS = ("lane", "edge", "vehicle", "trafficlight", "inductionloop", "junction", "person")

# libsumo runs one simulation per process reproducibly, not more: a second simulation
# started in the same process can drift from what the same configuration gives in a fresh
# process (measured with SUMO 1.28 on RESCO cologne1: the same signal commands replayed in
# one process gave two different trip tables over six runs; the ``sumo`` binary gives the
# fresh-process result every time). Later simulations of a process therefore run in their
# own ``sumo`` process over traci, which reproduces the fresh libsumo run exactly.
_LIBSUMO_USED = {"in_this_process": False}


@dataclass(order=True)
class _Scheduled:
    due: float
    order: int
    interval: float = field(compare=False)
    callback: Callback = field(compare=False)


class Engine:
    """A SUMO simulation started from a command line (``-c run.sumocfg`` and options).

    Use as a context manager; the simulation is always closed, also on error or Ctrl-C.
    SUMO's own errors become :class:`SimulationError` with the relevant lines of the log
    file given by ``log_file`` (which must match a ``--log`` in ``args``).
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        log_file: Path,
        backend: Backend = "libsumo",
        gui: bool = False,
        label: str = "mobility",
    ) -> None:
        if gui and backend != "traci":
            backend = "traci"  # sumo-gui is a separate process: only traci can drive it
        self.backend: Backend = backend
        self.log_file = Path(log_file)
        self._binary = sumo.binary("sumo-gui" if gui else "sumo")
        self._args = [*args, *(["--start", "--quit-on-end"] if gui else [])]
        self._label = label
        self._api: Any = None
        self._queue: list[_Scheduled] = []
        self._order = itertools.count()
        self._subscriptions: dict[str, tuple[list[str], list[int]]] = {}
        self._latest: dict[str, dict] = {}
        self._fresh = False
        self._quiet = contextlib.ExitStack()
        # in-process SUMO prints to our stderr; captured here (errors before its log opens)
        self._console_file = self.log_file.with_name(self.log_file.stem + ".console.log")

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start SUMO; a refused configuration or network raises SimulationError.

        A process runs libsumo once: later simulations use traci (see ``_LIBSUMO_USED``).
        """
        sumo.sumo_home()  # importing the wheel sets SUMO_HOME for XML validation
        if self.backend == "libsumo" and _LIBSUMO_USED["in_this_process"]:
            self.backend = "traci"
        try:
            if self.backend == "libsumo":
                import libsumo

                _LIBSUMO_USED["in_this_process"] = True

                self._quiet.enter_context(_stderr_to(self._console_file))
                with _python_keeps_signals():
                    libsumo.start([self._binary, *self._args])
                self._api = libsumo
            else:
                cmd = [self._binary, *self._args]
                self._api = _traci_start(cmd, self._label, self._console_file)
        except Exception as exc:  # libsumo/traci raise their own exception types
            self._api = None
            self._close_quietly()
            self._quiet.close()
            raise self._error("SUMO refused to start", exc) from exc

    def close(self) -> None:
        """Close the simulation (SUMO writes its remaining outputs now)."""
        if self._api is not None:
            api, self._api = self._api, None
            try:
                api.close()
            except Exception as exc:
                raise self._error("SUMO failed while closing", exc) from exc
            finally:
                self._quiet.close()
                self._console_file.unlink(missing_ok=True)  # the log holds the same lines

    def _close_quietly(self) -> None:
        try:
            if self.backend == "libsumo":
                import libsumo

                libsumo.close()
        except Exception:  # nothing was running: nothing to close
            return

    def _error(self, what: str, exc: BaseException | None = None) -> SimulationError:
        """An error carrying SUMO's own explanation: the error lines of its log and console
        (never its warnings when it gave an error), else the error libsumo raised (whose
        message is SUMO's error line when the log has not been written yet)."""
        said = self._said()
        for _ in range(20 if self.backend == "traci" else 0):  # SUMO's own process may
            if "Error" in said:  # still be writing its log when the connection drops
                break
            time.sleep(0.1)
            said = self._said()
        if "Error" not in said and exc is not None and _is_sumo_exception(exc):
            said = f"Error: {exc}\n{said}"  # libsumo's exception holds what the log lacks
        lines = list(dict.fromkeys(sumo.error_lines(said).splitlines()))  # log and console repeat
        return SimulationError(f"{what}; SUMO said:\n" + ("\n".join(lines) or "(nothing)"))

    def _said(self) -> str:
        """What SUMO wrote so far, log and console."""
        return "".join(
            f.read_text(errors="replace") for f in (self.log_file, self._console_file) if f.exists()
        )

    # -- the step loop --------------------------------------------------------------------

    @property
    def time(self) -> float:
        """Current simulation time in seconds."""
        return float(self._api.simulation.getTime())

    def at(self, when: float, callback: Callback) -> None:
        """Call ``callback(engine)`` once, at simulated time ``when`` (s)."""
        heapq.heappush(self._queue, _Scheduled(when, next(self._order), 0.0, callback))

    def every(self, interval: float, callback: Callback, *, first: float | None = None) -> None:
        """Call ``callback(engine)`` every ``interval`` simulated seconds from ``first``."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        due = first if first is not None else interval
        heapq.heappush(self._queue, _Scheduled(due, next(self._order), interval, callback))

    def run(self, until: float, progress: Callable[[float], None] | None = None) -> None:
        """Advance to ``until`` (s), calling registered callbacks when they are due."""
        try:
            now = self.time
            while now < until:
                target = min(until, now + MAX_STRIDE_S)
                if self._queue:
                    target = min(target, max(self._queue[0].due, now))
                if target > now:
                    self._api.simulationStep(target)
                    self._fresh = False  # subscription results are read when asked for
                    now = self.time
                while self._queue and self._queue[0].due <= now:
                    job = heapq.heappop(self._queue)
                    job.callback(self)
                    if job.interval > 0:  # 0: a one-shot job from :meth:`at`
                        job.due += job.interval
                        heapq.heappush(self._queue, job)
                if progress is not None:
                    progress(now)
        except (KeyboardInterrupt, SimulationError):
            raise
        except Exception as exc:
            if _is_sumo_exception(exc):
                raise self._error(f"SUMO stopped at t={self._safe_time()}", exc) from exc
            raise

    def _safe_time(self) -> str:
        try:
            return f"{self.time:g} s"
        except Exception:
            return "?"

    # -- batched reads --------------------------------------------------------------------

    def subscribe(self, domain: str, ids: Sequence[str], variables: Sequence[int]) -> None:
        """Subscribe ``variables`` (traci constants) of objects ``ids`` in ``domain``.

        Values arrive with every simulation step SUMO makes; read them with :meth:`values`.
        """
        if domain not in _DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; use one of {_DOMAINS}")
        api = getattr(self._api, domain)
        for obj in ids:
            api.subscribe(obj, list(variables))
        self._subscriptions[domain] = (list(ids), list(variables))
        self._fresh = False

    def _refresh(self) -> None:
        self._latest = {
            domain: getattr(self._api, domain).getAllSubscriptionResults()
            for domain in self._subscriptions
        }
        self._fresh = True

    def values(self, domain: str) -> np.ndarray:
        """Latest subscribed values of a domain as an array [object, variable] (float)."""
        if not self._fresh:
            self._refresh()
        ids, variables = self._subscriptions[domain]
        results = self._latest.get(domain, {})
        if len(results) == len(ids):  # the usual case: every object reported
            pick = operator.itemgetter(*variables) if len(variables) > 1 else None
            try:
                if pick is None:
                    flat = (results[i][variables[0]] for i in ids)
                else:
                    flat = itertools.chain.from_iterable(pick(results[i]) for i in ids)
                values = np.fromiter(flat, float, count=len(ids) * len(variables))
                return values.reshape(len(ids), len(variables))
            except (KeyError, TypeError, ValueError):
                pass  # a vanished object or a non-numeric variable: the careful path below
        out = np.full((len(ids), len(variables)), np.nan)
        for i, obj in enumerate(ids):
            row = results.get(obj)
            if row:
                out[i] = [float(row[v]) if np.isscalar(row[v]) else np.nan for v in variables]
        return out

    # -- narrow access for controllers and dispatchers ------------------------------------

    def traffic_lights(self) -> list[str]:
        """Ids of all traffic lights in the network."""
        return list(self._api.trafficlight.getIDList())

    def signal_state(self, tls: str) -> str:
        """The current signal string of a traffic light (e.g. ``GGrrGGrr``)."""
        return str(self._api.trafficlight.getRedYellowGreenState(tls))

    def set_signal_state(self, tls: str, state: str) -> None:
        """Show ``state`` (one of ``rRyYgGuosO`` per controlled link) until told otherwise."""
        self._api.trafficlight.setRedYellowGreenState(tls, state)

    def signal_program(self, tls: str) -> list[tuple[str, float]]:
        """The phases ``(state, duration s)`` of a traffic light's active program."""
        api = self._api.trafficlight
        program = api.getProgram(tls)
        for logic in api.getAllProgramLogics(tls):
            if logic.programID == program:
                return [(str(p.state), float(p.duration)) for p in logic.phases]
        return []

    def signal_links(self, tls: str) -> list[list[tuple[str, str]]]:
        """Per link index of a traffic light: its (incoming lane, outgoing lane) pairs."""
        links = self._api.trafficlight.getControlledLinks(tls)
        return [[(str(a), str(b)) for a, b, *_ in group] for group in links]

    def signal_vias(self, tls: str) -> list[list[str]]:
        """Per link index of a traffic light: the internal lanes its vehicles cross the
        junction on (the link's via lane and the internal lanes after it)."""
        api = self._api.lane
        out = []
        for group in self._api.trafficlight.getControlledLinks(tls):
            lanes: list[str] = []
            todo = [str(via) for _, _, via, *_ in group if via]
            while todo:
                lane = todo.pop()
                if lane in lanes:
                    continue
                lanes.append(lane)
                nxt = [str(x) for link in api.getLinks(lane) for x in (link[0], link[4])]
                todo += [x for x in nxt if x.startswith(":")]
            out.append(lanes)
        return out

    def internal_foes(self, lane: str) -> list[str]:
        """Internal lanes whose vehicles conflict with those on internal lane ``lane``."""
        return [str(x) for x in self._api.lane.getInternalFoes(lane)]

    def lane_vehicles(self, lanes: Sequence[str]) -> np.ndarray:
        """[lane] vehicles on each lane in the last step."""
        get = self._api.lane.getLastStepVehicleNumber
        return np.array([get(lane) for lane in lanes], float)

    def lane_info(self, lane: str) -> tuple[float, float]:
        """Length (m) and speed limit (m/s) of a lane."""
        return float(self._api.lane.getLength(lane)), float(self._api.lane.getMaxSpeed(lane))

    def lane_links(self, lane: str) -> list[str]:
        """Lanes a vehicle on ``lane`` may enter next (across the junction at its end)."""
        return [str(link[0]) for link in self._api.lane.getLinks(lane)]

    def lanes_into(self, lane: str) -> list[str]:
        """Lanes with a link into ``lane`` (from the edges entering the junction at its start)."""
        api = self._api
        junction = api.edge.getFromJunction(api.lane.getEdgeID(lane))
        found = []
        for edge in api.junction.getIncomingEdges(junction):
            if edge.startswith(":"):
                continue  # internal lanes
            for i in range(api.edge.getLaneNumber(edge)):
                other = f"{edge}_{i}"
                if any(link[0] == lane for link in api.lane.getLinks(other)):
                    found.append(other)
        return found

    def lane_halting(self, lanes: Sequence[str]) -> np.ndarray:
        """[lane] vehicles below 0.1 m/s on each lane in the last step."""
        get = self._api.lane.getLastStepHaltingNumber
        return np.array([get(lane) for lane in lanes], float)

    def halting_positions(self, lanes: Sequence[str]) -> list[np.ndarray]:
        """Per lane: [vehicle] position (m from the lane's start) of each halting vehicle."""
        lane_api, veh = self._api.lane, self._api.vehicle
        out = []
        for lane in lanes:
            pos = [
                veh.getLanePosition(v)
                for v in lane_api.getLastStepVehicleIDs(lane)
                if veh.getSpeed(v) < HALTING_SPEED_MPS
            ]
            out.append(np.array(pos, float))
        return out

    # -- shuttles: taxi reservations, fleet state, dispatch ---------------------------------

    def vehicle_states(self, ids: Sequence[str]) -> dict[str, tuple[float, int, str]]:
        """Of the given vehicles still in the network: (odometer m, riders aboard, edge)."""
        api = self._api.vehicle
        present = set(api.getIDList())
        return {
            v: (float(api.getDistance(v)), int(api.getPersonNumber(v)), str(api.getRoadID(v)))
            for v in ids
            if v in present
        }

    def taxi_reservations(self) -> list[dict[str, Any]]:
        """Open taxi reservations (not yet dropped off): id, persons, edges, time, state.

        ``state`` is SUMO's: 1 new, 2 retrieved, 4 assigned, 8 picked up.
        """
        return [
            {
                "id": str(r.id),
                "persons": [str(p) for p in r.persons],
                "from": str(r.fromEdge),
                "to": str(r.toEdge),
                "time": float(r.reservationTime),
                "state": int(r.state),
            }
            for r in self._api.person.getTaxiReservations(0)
        ]

    def dispatch_taxi(self, vehicle: str, reservations: Sequence[str]) -> None:
        """Give a taxi its whole remaining plan: reservation ids in stop order."""
        self._api.vehicle.dispatchTaxi(vehicle, list(reservations))

    def send_idle_taxi(self, vehicle: str, edge: str, pos: float, lane: int) -> None:
        """Move an idle taxi to wait at ``pos`` on lane ``lane`` of ``edge`` (rebalancing).

        SUMO's idling re-adds a stop to a taxi left without one, so the new parking stop is
        put after its idling stop first and the idling stop dropped second.
        """
        api = self._api.vehicle
        where = 1 if api.getStops(vehicle) else 0
        api.insertStop(vehicle, where, edge, pos=pos, laneIndex=lane, duration=1e6, flags=1)
        if where:
            api.replaceStop(vehicle, 0, "")

    def remove_person(self, person: str) -> None:
        """Take a rider out of the simulation (a rejected request)."""
        self._api.person.remove(person)

    def person_ids(self) -> list[str]:
        """Persons currently in the simulation."""
        return [str(p) for p in self._api.person.getIDList()]

    def edge_speeds(self, edges: Sequence[str]) -> np.ndarray:
        """Mean speed (m/s) of the last step on each edge; its speed limit when empty."""
        api = self._api.edge
        out = np.empty(len(edges))
        for i, e in enumerate(edges):
            count = api.getLastStepVehicleNumber(e)
            out[i] = api.getLastStepMeanSpeed(e) if count else np.nan
        return out


def _traci_start(cmd: list[str], label: str, console: Path) -> Any:
    """``traci.start`` without its fixed one-second wait before the first connect attempt
    (SUMO opens its port a few milliseconds after it starts) and without its prints on our
    stdout; SUMO's own console output goes to ``console``, as libsumo's does."""
    import subprocess

    import traci
    from sumolib.miscutils import getFreeSocketPort

    port = getFreeSocketPort()
    with console.open("ab") as out:
        proc = subprocess.Popen([*cmd, "--remote-port", str(port)], stdout=out, stderr=out)
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            conn = traci.connect(
                port, numRetries=600, proc=proc, waitBetweenRetries=0.05, label=label
            )
        conn.getVersion()  # answered once SUMO has loaded; a refused net closes it instead
        return conn
    except BaseException:
        proc.kill()
        proc.wait()
        raise


@contextlib.contextmanager
def _python_keeps_signals() -> Iterator[None]:
    """SUMO installs its own SIGINT/SIGTERM handlers when it starts, which in libsumo
    replace Python's: Ctrl-C then ends the simulation quietly and the run would finish as
    if complete. Put Python's handlers back, so an interrupt stops the run as an error."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send the process's stderr (fd 2) to ``path`` while in-process SUMO runs.

    libsumo writes every message to stderr as well as to the run's ``--log`` file, which it
    flushes only at the end: the capture keeps the planner's terminal readable and holds
    SUMO's explanation when it fails before its log is written.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def variable(name: str) -> int:
    """The TraCI id of a variable, e.g. ``variable("LAST_STEP_VEHICLE_NUMBER")``.

    The ids are protocol constants, the same for both backends; libsumo (loaded by every
    run anyway) carries them, where importing ``traci.constants`` would pull in traci,
    sumolib and pyproj.
    """
    import libsumo

    return int(getattr(libsumo, name))


def _is_sumo_exception(exc: Exception) -> bool:
    """TraCIException / FatalTraCIError from either backend (classes differ per module)."""
    return type(exc).__name__ in {"TraCIException", "FatalTraCIError"}
