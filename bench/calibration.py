"""Benchmark of the twin's calibration: ``check-model`` before and after ``signals calibrate``.

For each map: ``check-model`` with the uncalibrated twin (the constants), then ``signals
calibrate`` (SUMO runs on seeds 30,000+, the fit), then ``check-model`` again with the fitted
twin on the very same SUMO runs (the plans are drawn on the scenario's seed, never one the
fit saw; the SUMO runs are the scenario's own seed and demand). Reported: Spearman's rank
correlation of the delays over the plans and the mean |model - SUMO| / SUMO delay, before and
after, with the calibration's own before/after on its held-out plans.

Maps: a bundled RESCO map, and networks nobody tuned on, generated here with netgenerate
(``--tls.guess``, so some junctions get lights and others give way) and random demand: a
grid with turning lanes and a random planar net. Nothing is written outside ``--out``
(default ``results/bench-calibration``, with its own build cache so that every fit is fresh).

Run: ``.venv/bin/python bench/calibration.py [--maps cologne3,grid,random] [--plans 16]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESCO = ("cologne1", "cologne3", "ingolstadt1", "grid4x4", "arterial4x4")
# Generated maps: netgenerate options and demand, fixed before any was run (not tuned).
GENERATED = {
    "grid": {
        "netgenerate": [
            "--grid",
            "--grid.x-number=5",
            "--grid.y-number=3",
            "--grid.length=220",
            "--grid.attach-length=150",
            "--default.lanenumber=2",
            "--turn-lanes=1",
            "--turn-lanes.length=40",
            "--tls.guess",
            "--seed=11",
        ],
        "demand": {"type": "random", "vehicles_per_hour": 2000, "fringe_factor": 5},
    },
    "random": {
        "netgenerate": [
            "--rand",
            "--rand.iterations=60",
            "--rand.min-distance=120",
            "--rand.max-distance=300",
            "--default.lanenumber=2",
            "--random-lanenumber",
            "--tls.guess",
            "--seed=23",
        ],
        "demand": {"type": "random", "vehicles_per_hour": 1200, "fringe_factor": 3},
    },
}


def machine() -> str:
    """CPU, cores, versions: the line the results table carries."""
    import jax

    from mobility import sumo

    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        model = names[0] if names else model
    cores = len(os.sched_getaffinity(0))
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    accelerator = ", ".join(d.device_kind for d in gpus) if gpus else "none (no GPU lent)"
    return (
        f"{model}, {cores} cores, GPU: {accelerator}; Python {platform.python_version()}, "
        f"SUMO {sumo.version()}, jax {jax.__version__}; "
        f"load average {os.getloadavg()[0]:.1f} at start (the machine is shared)"
    )


def scenario(name: str, out: Path) -> Path:
    """The scenario file of map ``name``: a RESCO experiment, or a generated net with its
    random demand (written under ``out``)."""
    if name in RESCO:
        return ROOT / "experiments" / "resco" / f"{name}.yaml"
    from mobility import sumo

    folder = out / "maps" / name
    folder.mkdir(parents=True, exist_ok=True)
    net = folder / f"{name}.net.xml"
    if not net.exists():
        cmd = [sumo.binary("netgenerate"), *GENERATED[name]["netgenerate"], f"--output-file={net}"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    spec = {
        "name": f"generated-{name}",
        "seed": 42,
        "begin": 0,
        "end": 3600,
        "network": str(net),
        "demand": GENERATED[name]["demand"],
        "signals": {"controller": "static"},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def measure(name: str, out: Path, *, plans: int, fit_plans: int) -> dict:
    """check-model before, calibrate, check-model after, on map ``name``."""
    from mobility.config import load_spec
    from mobility.signals.calibrate import ensure_calibration
    from mobility.signals.check_model import check_model

    spec = load_spec(scenario(name, out))
    checks = out / name / "check-model"
    started = time.perf_counter()
    before, rho_before = check_model(spec, checks, plans=plans, calibrated=False)
    sumo_s = time.perf_counter() - started
    started = time.perf_counter()
    fitted = ensure_calibration(spec, plans=fit_plans, out=out / name / "calibration")
    calibrate_s = time.perf_counter() - started
    after, rho_after = check_model(spec, checks, plans=plans, calibrated=True)
    assert after.attrs["twin"] == str(fitted), after.attrs["twin"]
    for label, found in (("before", before), ("after", after)):
        found.to_csv(out / name / f"check-model-{label}.csv", index=False)
    report = json.loads(fitted.read_text())["report"]
    held = (report["held_out_before"]["delay_error"], report["held_out_after"]["delay_error"])
    return {
        "map": name,
        "plans": plans,
        "sumo_delay_range": (
            float(before["sumo_delay_s"].min()),
            float(before["sumo_delay_s"].max()),
        ),
        "spearman": (rho_before, rho_after),
        "error": (before.attrs["delay_error"], after.attrs["delay_error"]),
        "held_out_error": held,
        "fitted": report["fitted"],
        "check_sumo_s": sumo_s,
        "calibrate_s": calibrate_s,
        "fit_s": report.get("fit_s"),
    }


def table(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| map | plans | SUMO delay (s) | Spearman before | after | |error| before | after "
        "| calibration's held-out |error| before -> after | calibrate (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lo, hi = r["sumo_delay_range"]
        lines.append(
            f"| {r['map']} | {r['plans']} | {lo:.0f}-{hi:.0f} | {r['spearman'][0]:.3f} | "
            f"**{r['spearman'][1]:.3f}** | {r['error'][0]:.1%} | **{r['error'][1]:.1%}** | "
            f"{r['held_out_error'][0]:.1%} -> {r['held_out_error'][1]:.1%} | "
            f"{r['calibrate_s']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", default="cologne3,grid,random")
    parser.add_argument("--plans", type=int, default=16, help="check-model plans per map")
    parser.add_argument("--fit-plans", type=int, default=8, help="calibration runs fitted")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench-calibration")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["MOBILITY_CACHE"] = str(out / "cache")  # every fit fresh, nothing shared
    from mobility.experiment.sweep import ray_session

    rows = []
    with ray_session():  # Ray before JAX runs; one local Ray for every map
        print(machine(), flush=True)
        for name in args.maps.split(","):
            rows.append(measure(name, out, plans=args.plans, fit_plans=args.fit_plans))
            print(json.dumps(rows[-1]), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
