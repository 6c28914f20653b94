"""Safety measurement: what it costs, and conflicts per hour per controller beside delay.

    flock /tmp/mobility-bench.lock .venv/bin/python bench/safety.py cost \
        [--maps grid4x4,cologne3] [--reps 3] [--window 900]
    flock /tmp/mobility-bench.lock .venv/bin/python bench/safety.py controllers \
        [--maps cologne1,cologne3,ingolstadt1,grid4x4,arterial4x4] \
        [--controllers static,actuated,max_pressure] [--seeds 42] [--window 1800]
    flock /tmp/mobility-bench.lock .venv/bin/python bench/safety.py mix [--seeds 42,43]
    flock /tmp/mobility-bench.lock .venv/bin/python bench/safety.py profile \
        [--maps arterial4x4] [--reps 2] [--window 1800]
    flock /tmp/mobility-bench.lock .venv/bin/python bench/safety.py sampling \
        [--maps grid4x4] [--seeds 42,43,44,45,46] [--window 1800]

``cost``: the same RESCO scenario (static signals, the first ``--window`` seconds of its
window) run without ``safety:`` (the reference, A) and with it: every vehicle equipped
with SUMO's default 50 m range (B) or a 25 m range (C), a quarter (D) or a tenth (E) of
the vehicles equipped; interleaved A B C D E A B ... in one process, so machine load hits
all alike. Prints wall time per run (the whole ``run_scenario``: SUMO, tables, KPIs), the
ratios to A (median over repetitions), and what the range and sampling do to the counts:
each variant's logged conflicts, its estimate per hour (divided by the detection share
1 - (1 - equipped)^2) and the estimate's difference to B's full count, on the same seed.

``mix``: ``experiments/mixed_autonomy.yaml`` (4x4 grid, 30 min, static signals) with 0,
25, 50, 75 and 100 % of the background traffic autonomous (CACC): delay beside conflicts.

``profile``: where the time of a fully equipped run goes. One run with everyone equipped
writes its ``run.sumocfg``; SUMO's own binary then runs it with one option changed at a
time (measures, range, extra time, no lane-change output, no collision checks), interleaved
with the same configuration without any safety option (A), so that only SUMO's work is
timed; then the time of our parsing of the SSM, collision and lane-change files into
``conflicts.parquet``.

``sampling``: the whole ``run_scenario`` per seed without ``safety:`` (A), fully equipped
at 50 m (B), 25 m (C) and 15 m (H), and 10 % (E, F) and 25 % (G) equipped; per seed, each variant's
wall-time ratio to A and its estimate of conflicts per hour against the full count B of the
same seed (SUMO draws the equipped vehicles with its own random stream, so the traffic is
the same): the bias (mean) and spread (standard deviation) of the sampled estimate over
seeds.

``controllers``: each RESCO map under each controller and seed with ``equipped: 1.0``
(SSAM-like defaults, everyone equipped), the first ``--window`` seconds of the map's
window: RESCO delay, conflicts per hour and per million vehicle-km, severe conflicts
(TTC < 1 s) per hour, emergency brakings per hour and collisions.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from mobility.config import ScenarioSpec, load_spec, signals_with
from mobility.safety.spec import SafetySpec
from mobility.scenario import run_scenario

ROOT = Path(__file__).resolve().parent.parent
RESCO = ["cologne1", "cologne3", "ingolstadt1", "grid4x4", "arterial4x4"]


def resco_spec(name: str, window: float) -> ScenarioSpec:
    """A RESCO map's scenario, cut to the first ``window`` seconds."""
    spec = load_spec(ROOT / "experiments" / "resco" / f"{name}.yaml")
    return spec.model_copy(update={"end": min(spec.end, spec.begin + window)})


def timed_run(spec: ScenarioSpec) -> tuple[float, dict[str, float]]:
    """Wall seconds of one whole run, and its KPIs (the run folder is thrown away)."""
    with tempfile.TemporaryDirectory(prefix="bench-safety-") as tmp:
        start = time.perf_counter()
        result = run_scenario(spec, tmp)
        return time.perf_counter() - start, result.kpis


VARIANTS = {  # key -> (words, safety section); A is the reference without safety
    "A": ("no safety", None),
    "B": ("all equipped, 50 m", SafetySpec(equipped=1.0)),
    "C": ("all equipped, 25 m", SafetySpec(equipped=1.0, range=25.0)),
    "D": ("25% equipped", SafetySpec(equipped=0.25)),
    "E": ("10% equipped", SafetySpec(equipped=0.1)),
}


def cost(maps: list[str], reps: int, window: float) -> None:
    print("variants: " + "; ".join(f"{k} {words}" for k, (words, _) in VARIANTS.items()))
    print(f"{'map':<12} {'rep':>3} " + " ".join(f"{k + ' s':>7}" for k in VARIANTS))
    for name in maps:
        base = resco_spec(name, window)
        specs = {k: base.model_copy(update={"safety": v}) for k, (_, v) in VARIANTS.items()}
        timed_run(specs["A"])  # warm-up: network parse and demand cache, not timed
        times: dict[str, list[float]] = {k: [] for k in specs}
        kpis: dict[str, dict[str, float]] = {}
        for rep in range(reps):
            for key, spec in specs.items():  # interleaved: A B C D E A B C D E ...
                seconds, kpis[key] = timed_run(spec)
                times[key].append(seconds)
            print(
                f"{name:<12} {rep:>3} " + " ".join(f"{times[k][-1]:>7.2f}" for k in specs),
                flush=True,
            )
        med = {k: statistics.median(v) for k, v in times.items()}
        ratios = ", ".join(f"{k}/A {med[k] / med['A']:.2f}x" for k in specs if k != "A")
        full = kpis["B"]["safety_conflicts_per_hour"]
        counts = ", ".join(
            f"{k} {kpis[k]['safety_conflicts_logged']:.0f} logged -> {rate:.0f}/h "
            f"({rate / full - 1:+.1%})"
            for k in specs
            if k != "A" and (rate := kpis[k]["safety_conflicts_per_hour"]) is not None
        )
        print(f"{name}: median A {med['A']:.2f} s; {ratios}", flush=True)
        print(f"{name}: conflicts (estimate vs B): {counts}", flush=True)
        print(
            f"{name}: collisions B {kpis['B']['safety_collisions']:.0f}, "
            f"E {kpis['E']['safety_collisions']:.0f}; emergency brakings B "
            f"{kpis['B']['safety_emergency_brakings']:.0f}, E "
            f"{kpis['E']['safety_emergency_brakings']:.0f}",
            flush=True,
        )


def controllers(maps: list[str], names: list[str], seeds: list[int], window: float) -> None:
    head = (
        f"{'map':<12} {'controller':<13} {'seed':>4} {'delay s':>8} {'confl/h':>8} "
        f"{'/Mvkm':>7} {'TTC<1/h':>8} {'e-brake/h':>9} {'coll':>5} {'wall s':>7}"
    )
    print(head)
    for name in maps:
        base = resco_spec(name, window).model_copy(update={"safety": SafetySpec(equipped=1.0)})
        for controller in names:
            for seed in seeds:
                spec = base.model_copy(
                    update={
                        "seed": seed,
                        "signals": signals_with(base.signals, controller=controller),
                    }
                )
                seconds, k = timed_run(spec)
                print(
                    f"{name:<12} {controller:<13} {seed:>4} {k['resco_delay_s']:>8.1f} "
                    f"{k['safety_conflicts_per_hour']:>8.0f} "
                    f"{k['safety_conflicts_per_mvkm']:>7.0f} "
                    f"{k['safety_severe_ttc10_per_hour']:>8.0f} "
                    f"{k['safety_emergency_brakings_per_hour']:>9.1f} "
                    f"{k['safety_collisions']:>5.0f} {seconds:>7.1f}",
                    flush=True,
                )


def mix(shares: list[float], seeds: list[int]) -> None:
    """experiments/mixed_autonomy.yaml at each autonomous share: delay and safety."""
    base = load_spec(ROOT / "experiments" / "mixed_autonomy.yaml")
    print(
        f"{'share':>5} {'seed':>4} {'delay s':>8} {'confl/h':>8} {'/veh-km':>8} "
        f"{'TTC<1/h':>8} {'rear/h':>7} {'cross/h':>7} {'coll':>5} {'e-brake':>7}"
    )
    for share in shares:
        for seed in seeds:
            mixed = base.traffic_mix.model_copy(update={"autonomous_share": share})
            _, k = timed_run(base.model_copy(update={"seed": seed, "traffic_mix": mixed}))
            print(
                f"{share:>5.2f} {seed:>4} {k['resco_delay_s']:>8.1f} "
                f"{k['safety_conflicts_per_hour']:>8.0f} "
                f"{k['safety_conflicts_per_mvkm'] / 1e6:>8.2f} "
                f"{k['safety_severe_ttc10_per_hour']:>8.0f} "
                f"{k['safety_type_rearend_per_hour']:>7.0f} "
                f"{k['safety_type_crossing_per_hour']:>7.0f} "
                f"{k['safety_collisions']:>5.0f} {k['safety_emergency_brakings']:>7.0f}",
                flush=True,
            )


PROFILE = {  # key -> (words, config lines dropped, SUMO options added)
    "A": ("no safety options", ("ssm", "collision", "lanechange", "emergencydecel"), []),
    "B": ("all equipped (TTC DRAC PET, 50 m, extra 5 s)", (), []),
    "ttc": (
        "measures TTC only",
        (),
        ["--device.ssm.measures", "TTC", "--device.ssm.thresholds", "1.5"],
    ),
    "pet": (
        "measures PET only",
        (),
        ["--device.ssm.measures", "PET", "--device.ssm.thresholds", "5"],
    ),
    "r25": ("range 25 m", (), ["--device.ssm.range", "25"]),
    "r15": ("range 15 m", (), ["--device.ssm.range", "15"]),
    "x1": ("extra time 1 s", (), ["--device.ssm.extratime", "1"]),
    "nolc": ("no lane-change output", ("lanechange",), []),
    "nocoll": ("no collision checks/output", ("collision", "emergencydecel"), []),
}


def profile(name: str, reps: int, window: float) -> None:
    """SUMO's binary on one run's configuration, one SSM-related option changed at a time."""
    import subprocess

    from mobility import sumo
    from mobility.network.net import load_network
    from mobility.safety.conflicts import conflicts_table

    spec = resco_spec(name, window).model_copy(update={"safety": SafetySpec(equipped=1.0)})
    with tempfile.TemporaryDirectory(prefix="bench-safety-") as tmp:
        run_scenario(spec, tmp)
        folder = next(Path(tmp).iterdir())
        cfg = (folder / "run.sumocfg").read_text()
        times: dict[str, list[float]] = {k: [] for k in PROFILE}
        for rep in range(reps):
            for key, (_, drop, extra) in PROFILE.items():
                lines = [ln for ln in cfg.splitlines() if not any(d in ln for d in drop)]
                (folder / f"{key}.sumocfg").write_text("\n".join(lines))
                start = time.perf_counter()
                subprocess.run(
                    [sumo.binary("sumo"), "-c", f"{key}.sumocfg", *extra],
                    cwd=folder,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                times[key].append(time.perf_counter() - start)
            print(f"{name} rep {rep}: " + " ".join(f"{k} {times[k][-1]:.2f}" for k in PROFILE))
        med = {k: statistics.median(v) for k, v in times.items()}
        for key, (words, _, _) in PROFILE.items():
            print(f"{name}: {key:<7} {words:<45} {med[key]:>6.2f} s {med[key] / med['A']:>6.2f}x")
        # B's files (the last run of B wrote them; later variants wrote their own over them)
        subprocess.run(
            [sumo.binary("sumo"), "-c", "B.sumocfg"],
            cwd=folder,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        network = load_network(_net_file(cfg))
        start = time.perf_counter()
        table = conflicts_table(
            folder, log=folder / "sumo.log", network=network, vehicle_types={}, kinds={}
        )
        print(
            f"{name}: our parsing of B's files: {time.perf_counter() - start:.2f} s "
            f"({table.num_rows} rows)"
        )


def _net_file(cfg: str) -> Path:
    import re

    return Path(re.search(r'<net-file value="([^"]+)"', cfg).group(1))


SAMPLING = {  # key -> (words, safety section)
    "A": ("no safety", None),
    "B": ("all, 50 m", SafetySpec(equipped=1.0)),
    "C": ("all, 25 m", SafetySpec(equipped=1.0, range=25.0)),
    "H": ("all, 15 m", SafetySpec(equipped=1.0, range=15.0)),
    "E": ("10 %, 50 m", SafetySpec(equipped=0.1)),
    "F": ("10 %, 25 m", SafetySpec(equipped=0.1, range=25.0)),
    "G": ("25 %, 25 m", SafetySpec(equipped=0.25, range=25.0)),
}


def sampling(name: str, seeds: list[int], window: float) -> None:
    """Cost and counting error of sampled measurement, per seed against the full count."""
    base = resco_spec(name, window)
    print("variants: " + "; ".join(f"{k} {w}" for k, (w, _) in SAMPLING.items()))
    timed_run(base)  # warm-up: network parse and demand cache, not timed
    ratio: dict[str, list[float]] = {k: [] for k in SAMPLING}
    error: dict[str, list[float]] = {k: [] for k in SAMPLING}
    for seed in seeds:
        times, rates, logged = {}, {}, {}
        for key, (_, safety) in SAMPLING.items():
            seconds, k = timed_run(base.model_copy(update={"seed": seed, "safety": safety}))
            times[key] = seconds
            rates[key] = k.get("safety_conflicts_per_hour")
            logged[key] = k.get("safety_conflicts_logged")
        for key in SAMPLING:
            ratio[key].append(times[key] / times["A"])
            if key != "A":
                error[key].append(rates[key] / rates["B"] - 1)
        print(
            f"{name} seed {seed}: A {times['A']:.2f} s; "
            + "; ".join(
                f"{k} {ratio[k][-1]:.2f}x {logged[k]:.0f} logged {error[k][-1]:+.1%}"
                for k in SAMPLING
                if k != "A"
            )
            + f" (B {rates['B']:.0f}/h); load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    for key, (words, _) in SAMPLING.items():
        if key == "A":
            continue
        err = error[key]
        print(
            f"{name}: {key} {words:<11} cost {statistics.median(ratio[key]):.2f}x (median); "
            f"estimate vs full: bias {statistics.mean(err):+.1%}, spread (sd) "
            f"{statistics.stdev(err):.1%}, range {min(err):+.1%} .. {max(err):+.1%}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["cost", "controllers", "mix", "profile", "sampling"])
    parser.add_argument("--maps", default="")
    parser.add_argument("--controllers", default="static,actuated,max_pressure")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--window", type=float, default=0.0, help="s; default 900 / 1800")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"# {platform.node()} {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f}",
        flush=True,
    )
    if args.what == "profile":
        for name in args.maps.split(",") if args.maps else ["arterial4x4"]:
            profile(name, args.reps, args.window or 1800.0)
    elif args.what == "sampling":
        seeds = [
            int(s) for s in (args.seeds if args.seeds != "42" else "42,43,44,45,46").split(",")
        ]
        for name in args.maps.split(",") if args.maps else ["grid4x4"]:
            sampling(name, seeds, args.window or 1800.0)
    elif args.what == "mix":
        mix([0.0, 0.25, 0.5, 0.75, 1.0], [int(s) for s in args.seeds.split(",")])
    elif args.what == "cost":
        maps = args.maps.split(",") if args.maps else ["grid4x4", "cologne3"]
        cost(maps, args.reps, args.window or 900.0)
    else:
        maps = args.maps.split(",") if args.maps else RESCO
        seeds = [int(s) for s in args.seeds.split(",")]
        controllers(maps, args.controllers.split(","), seeds, args.window or 1800.0)
    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
