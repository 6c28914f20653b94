"""The engine side of phase control: observation, min/max green, yellow and all-red.

A :class:`SignalDriver` is attached to a running :class:`~mobility.sim.engine.Engine`. Every
decision interval it reads the lanes of its intersections through one subscription,
asks the controller for the next green phase per intersection, and carries the decision
out: a green is held at least ``min_green`` and at most ``max_green`` seconds, and every
change shows the yellow (and all-red) built from the net's own states before the new
green, scheduled as one-shot engine events. Controllers never see SUMO.

An incoming lane is observed as its *approach*: the lane and the lanes feeding it through
unsignalised junctions whose downstream end lies within ``approach`` metres of the stop
line (an outgoing lane likewise with the lanes it feeds). Nets built from OSM cut roads
into short segments before clustered junctions; a queue on them would otherwise be
invisible (a 9 m incoming lane holds one car while its queue stands 150 m upstream). A
feeding lane that splits counts towards each lane it feeds with an equal share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mobility.signals.phases import PhasePlan, all_red_state, plan_from_program, yellow_state
from mobility.signals.types import JAM_SPACING_M, Layout, Observation, PhaseController
from mobility.sim.engine import Engine, variable

_LANE_VARS = ("LAST_STEP_VEHICLE_NUMBER", "LAST_STEP_VEHICLE_HALTING_NUMBER", "VAR_WAITING_TIME")
APPROACH_M = 200.0  # m of road before (after) a stop line that a controller sees
CLEARANCE_STEP_S = 1.0  # s between two looks at a junction that is not clear


@dataclass
class _Light:
    plan: PhasePlan
    vias: list[list[str]]  # [link] internal lanes its vehicles cross the junction on
    foes: np.ndarray  # [link, link] bool: vehicles of the two links cross each other's path
    phase: int = 0  # current green, or the green being switched to
    green_since: float = 0.0  # s; in the future during a transition
    busy_until: float = -1.0  # s; end of a running transition


@dataclass
class SignalDriver:
    """Runs one phase controller on the traffic lights ``tls`` of an engine."""

    controller: PhaseController
    tls: list[str]
    decision_interval: float
    min_green: float
    max_green: float
    yellow: float | None = None
    all_red: float | None = None
    approach: float = APPROACH_M
    clearance: float = 10.0  # s the all-red may be held longer while the junction is not clear
    lights: list[_Light] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        """Read the intersections, subscribe their lanes, and start deciding now."""
        now = engine.time
        in_lanes: list[list[str]] = []
        out_lanes: list[list[str]] = []
        moves: list[list[tuple[int, int, int]]] = []  # (in slot, out slot, link index)
        for tls in self.tls:
            plan = plan_from_program(
                tls, engine.signal_program(tls), yellow=self.yellow, all_red=self.all_red
            )
            ins: dict[str, int] = {}
            outs: dict[str, int] = {}
            mv: dict[tuple[int, int], int] = {}
            for link, pairs in enumerate(engine.signal_links(tls)):
                for a, b in pairs:
                    key = (ins.setdefault(a, len(ins)), outs.setdefault(b, len(outs)))
                    mv.setdefault(key, link)
            in_lanes.append(list(ins))
            out_lanes.append(list(outs))
            moves.append([(i, o, link) for (i, o), link in mv.items()])
            shown = engine.signal_state(tls)
            vias = engine.signal_vias(tls)
            light = _Light(plan, vias, _link_foes(engine, vias), green_since=now)
            if shown in plan.greens:
                light.phase = plan.greens.index(shown)
                engine.set_signal_state(tls, shown)  # hold it: the net's program stops here
                self._limit(engine, light)
            else:  # mid-transition in the net's program: finish it properly
                self._switch(engine, light, shown, 0, now)
            self.lights.append(light)
        controlled = {
            pair
            for t in engine.traffic_lights()
            for group in engine.signal_links(t)
            for pair in group
        }
        in_reach = [
            [_reach(engine, x, self.approach, controlled, up=True) for x in g] for g in in_lanes
        ]
        out_reach = [
            [_reach(engine, x, self.approach, controlled, up=False) for x in g] for g in out_lanes
        ]
        self.layout = _layout(self.tls, self.lights, in_lanes, out_reach, moves, engine)
        self._in_sum, self._out_sum, lanes = _lane_sums(self.layout, in_reach, out_reach)
        engine.subscribe("lane", lanes, [variable(name) for name in _LANE_VARS])
        self.controller.reset(self.layout, min_green=self.min_green)
        engine.every(self.decision_interval, self._decide, first=now)

    # -- every decision interval ----------------------------------------------------------

    def observe(self, engine: Engine) -> Observation:
        """The current observation (also useful to a caller that only watches)."""
        values = np.nan_to_num(engine.values("lane"))  # [lane, var]
        now = engine.time
        inn = self._in_sum.apply(values)  # [T, I, var]
        return Observation(
            time=now,
            in_vehicles=inn[..., 0],
            in_halting=inn[..., 1],
            in_waiting=inn[..., 2],
            out_vehicles=self._out_sum.apply(values[:, :1])[..., 0],
            phase=np.array([lt.phase for lt in self.lights]),
            phase_age=np.array([now - lt.green_since for lt in self.lights]),
        )

    def _decide(self, engine: Engine) -> None:
        obs = self.observe(engine)
        wanted = np.asarray(self.controller.decide(obs))
        now = obs.time
        for k, light in enumerate(self.lights):
            if now < light.busy_until:
                continue  # a transition is running; the next decision comes after it
            age = now - light.green_since
            target = int(wanted[k])
            n = len(light.plan.greens)
            if not 0 <= target < n:
                msg = f"controller chose phase {target} of {light.plan.tls!r} (has {n})"
                raise ValueError(msg)
            if target != light.phase and age < self.min_green:
                target = light.phase
            if target == light.phase and age >= self.max_green and n > 1:
                target = (light.phase + 1) % n
            if target != light.phase:
                self._switch(engine, light, light.plan.greens[light.phase], target, now)

    def _switch(self, engine: Engine, light: _Light, shown: str, target: int, now: float) -> None:
        """Show yellow, then all-red, then green ``target``; all from the net's states."""
        plan, tls = light.plan, light.plan.tls
        green = plan.greens[target]
        ending = plan.greens.index(shown) if shown in plan.greens else light.phase
        y, r = plan.yellow[ending], plan.all_red[ending]
        yellow = yellow_state(shown, green)
        if yellow != shown and y > 0:
            engine.set_signal_state(tls, yellow)
        else:
            y = 0.0
        red = all_red_state(shown, green)
        if red != shown and r > 0:
            if y > 0:
                engine.at(now + y, lambda e: e.set_signal_state(tls, red))
            else:
                engine.set_signal_state(tls, red)
        else:
            r = 0.0
        light.phase = target
        light.green_since = now + y + r
        light.busy_until = now + y + r
        if y + r > 0:
            engine.at(now + y + r, lambda e: self._release(e, light, shown, now + y + r))
        else:
            engine.set_signal_state(tls, green)
            self._limit(engine, light)

    def _release(self, engine: Engine, light: _Light, shown: str, due: float) -> None:
        """Show the new green once no vehicle is left on the internal lanes of a link that
        lost its green and whose path a link about to get it crosses (SUMO's internal
        foes), holding all-red for at most ``clearance`` s past ``due``.

        A turner that waited inside the junction for a gap must leave it before the
        conflicting streams start: if they start while it stands there, the two block
        each other inside the junction while every exit is empty, and with teleports off
        they never leave (seen on the Cologne maps when a controller skips the net's
        protected-turn phase that clears them). The bound keeps a junction that stays
        occupied from holding the light red for ever."""
        green = light.plan.greens[light.phase]
        now = engine.time
        was = np.array([c in "Gg" for c in shown])
        will = np.array([c in "Gg" for c in green])
        crossed = light.foes[:, will & ~was].any(axis=1)  # links the starting ones cross
        ending = [
            lane for link in np.flatnonzero(was & ~will & crossed) for lane in light.vias[link]
        ]
        if ending and now < due + self.clearance and engine.lane_vehicles(ending).any():
            engine.set_signal_state(light.plan.tls, all_red_state(shown, green))
            light.green_since = light.busy_until = now + CLEARANCE_STEP_S
            engine.at(now + CLEARANCE_STEP_S, lambda e: self._release(e, light, shown, due))
            return
        engine.set_signal_state(light.plan.tls, green)
        light.green_since = light.busy_until = now
        self._limit(engine, light)

    def _limit(self, engine: Engine, light: _Light) -> None:
        """End this green after ``max_green`` even between decisions."""
        if len(light.plan.greens) < 2:
            return
        started = light.green_since

        def force(e: Engine) -> None:
            if light.green_since == started and e.time >= light.busy_until:
                target = (light.phase + 1) % len(light.plan.greens)
                self._switch(e, light, light.plan.greens[light.phase], target, e.time)

        engine.at(started + self.max_green, force)


def _link_foes(engine: Engine, vias: list[list[str]]) -> np.ndarray:
    """[link, link] whether vehicles of two links of a light cross each other's path."""
    owner = {lane: link for link, lanes in enumerate(vias) for lane in lanes}
    foes = np.zeros((len(vias), len(vias)), bool)
    for link, lanes in enumerate(vias):
        for lane in lanes:
            for other in engine.internal_foes(lane):
                if other in owner:
                    foes[link, owner[other]] = foes[owner[other], link] = True
    return foes


def _layout(
    tls: list[str],
    lights: list[_Light],
    in_lanes: list[list[str]],
    out_reach: list[list[list[tuple[str, float]]]],
    moves: list[list[tuple[int, int, int]]],
    engine: Engine,
) -> Layout:
    """The padded layout. An out-lane's storage is counted over the same lanes and shares as
    its observed vehicles (its approach), so that their ratio is the exit's occupancy."""
    out_lanes = [[reach[0][0] for reach in g] for g in out_reach]
    t = len(tls)
    n_in = max(len(x) for x in in_lanes)
    n_out = max(len(x) for x in out_lanes)
    n_mv = max(len(x) for x in moves)
    n_ph = max(len(lt.plan.greens) for lt in lights)
    in_mask = np.zeros((t, n_in), bool)
    out_mask = np.zeros((t, n_out), bool)
    move_in = np.zeros((t, n_mv), int)
    move_out = np.zeros((t, n_mv), int)
    move_mask = np.zeros((t, n_mv), bool)
    serves = np.zeros((t, n_ph, n_mv), bool)
    yields = np.zeros((t, n_ph, n_mv), bool)
    phase_mask = np.zeros((t, n_ph), bool)
    in_length = np.ones((t, n_in))
    out_storage = np.ones((t, n_out))
    for k in range(t):
        in_mask[k, : len(in_lanes[k])] = True
        out_mask[k, : len(out_lanes[k])] = True
        for i, lane in enumerate(in_lanes[k]):
            in_length[k, i] = max(engine.lane_info(lane)[0], 1.0)
        for o, reach in enumerate(out_reach[k]):
            metres = sum(share * engine.lane_info(x)[0] for x, share in reach)
            out_storage[k, o] = max(metres / JAM_SPACING_M, 1.0)
        greens = lights[k].plan.greens
        phase_mask[k, : len(greens)] = True
        for m, (i, o, link) in enumerate(moves[k]):
            move_in[k, m], move_out[k, m], move_mask[k, m] = i, o, True
            for p, state in enumerate(greens):
                serves[k, p, m] = state[link] in "Gg"
                yields[k, p, m] = state[link] == "g"
    return Layout(
        tuple(tls),
        in_mask,
        out_mask,
        move_in,
        move_out,
        move_mask,
        serves,
        phase_mask,
        in_length,
        out_storage,
        tuple(map(tuple, in_lanes)),
        tuple(map(tuple, out_lanes)),
        yields,
    )


def _reach(
    engine: Engine, lane: str, distance: float, controlled: set[tuple[str, str]], *, up: bool
) -> list[tuple[str, float]]:
    """``lane`` and the lanes feeding it (``up``) or fed by it, within ``distance`` m of its
    stop line (its start when going down), through unsignalised junctions: ``[(lane, share)]``.
    """
    found = {lane: 1.0}
    frontier = [(lane, 0.0, 1.0)]  # (lane, m from the stop line to its far end, share)
    lengths: dict[str, float] = {}

    def length(x: str) -> float:
        if x not in lengths:
            lengths[x] = engine.lane_info(x)[0]
        return lengths[x]

    while frontier:
        current, dist, share = frontier.pop()
        dist += length(current)
        if dist >= distance:
            continue
        if up:
            nxt = [
                (x, share / max(len(dict.fromkeys(engine.lane_links(x))), 1))
                for x in engine.lanes_into(current)
                if (x, current) not in controlled
            ]
        else:
            # in SUMO's order, not a set's (string hashes vary by process): the walk's
            # first path to a lane sets its share, so the order must not depend on the process
            links = [x for x in dict.fromkeys(engine.lane_links(current)) if not x.startswith(":")]
            if any((current, x) in controlled for x in links):
                continue  # ``current`` enters another signal: its queue belongs there
            nxt = [(x, share / len(links)) for x in links]
        for x, part in nxt:
            if x.startswith(":") or x in found:
                continue
            found[x] = part
            frontier.append((x, dist, part))
    return list(found.items())


@dataclass(frozen=True)
class _SlotSum:
    """Sums lane values into padded slots: ``out[slot] = sum(share * values[row])``."""

    shape: tuple[int, int]  # (T, slots)
    slot: np.ndarray  # [pairs] int: flat slot index
    row: np.ndarray  # [pairs] int: subscribed lane row
    share: np.ndarray  # [pairs] float

    def apply(self, values: np.ndarray) -> np.ndarray:
        """[T, slots, var] from lane values [lane, var]."""
        size = self.shape[0] * self.shape[1]
        part = values[self.row] * self.share[:, None]  # [pairs, var]
        out = np.stack(
            [np.bincount(self.slot, part[:, v], minlength=size) for v in range(values.shape[1])],
            axis=-1,
        )
        return out.reshape(*self.shape, values.shape[1])


def _lane_sums(
    layout: Layout,
    in_reach: list[list[list[tuple[str, float]]]],
    out_reach: list[list[list[tuple[str, float]]]],
) -> tuple[_SlotSum, _SlotSum, list[str]]:
    """Slot sums for incoming and outgoing slots over one subscribed lane list."""
    lanes = sorted({x for g in in_reach + out_reach for reach in g for x, _ in reach})
    row = {lane: i for i, lane in enumerate(lanes)}

    def sums(reaches: list[list[list[tuple[str, float]]]], width: int) -> _SlotSum:
        slot, rows, share = [], [], []
        for k, group in enumerate(reaches):
            for i, reach in enumerate(group):
                for lane, part in reach:
                    slot.append(k * width + i)
                    rows.append(row[lane])
                    share.append(part)
        return _SlotSum(
            (len(reaches), width), np.array(slot, int), np.array(rows, int), np.array(share, float)
        )

    return sums(in_reach, layout.in_mask.shape[1]), sums(out_reach, layout.out_mask.shape[1]), lanes
