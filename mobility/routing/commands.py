"""The ``mobility assign`` command: user-equilibrium assignment of a TNTP or SUMO network.

Registered by the main app (``app.command("assign")(assign)``). Heavy modules (jax, pandas,
the routing core) are imported inside the command so that ``mobility --help`` stays fast.
"""

from __future__ import annotations

import enum
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from mobility.errors import DemandError, SpecError


class Algorithm(enum.StrEnum):
    """Assignment algorithms (see :mod:`mobility.core.routing.equilibrium`)."""

    fw = "fw"
    cfw = "cfw"
    bfw = "bfw"


class Device(enum.StrEnum):
    """Where JAX runs the assignment."""

    cpu = "cpu"
    gpu = "gpu"


def assign(
    net: Annotated[
        Path,
        typer.Argument(
            help="TNTP network (folder, *_net.tntp file or prefix) or SUMO .net.xml file.",
            show_default=False,
        ),
    ],
    algorithm: Annotated[
        Algorithm, typer.Option("--algorithm", "-a", help="fw, cfw or bfw.")
    ] = Algorithm.bfw,
    gap: Annotated[float, typer.Option(help="Stop at this relative gap.", min=0.0)] = 1e-4,
    max_iterations: Annotated[
        int, typer.Option("--max-iterations", help="Stop after this many iterations.", min=1)
    ] = 1000,
    device: Annotated[Device, typer.Option(help="Run JAX on cpu or gpu.")] = Device.cpu,
    out: Annotated[
        Path | None,
        typer.Option(help="Link flows file, .parquet or .csv (default: NAME_flows.parquet)."),
    ] = None,
    demand: Annotated[
        Path | None,
        typer.Option(help="OD trips CSV (origin, destination, trips; junction ids) for SUMO."),
    ] = None,
    toll_factor: Annotated[
        float | None,
        typer.Option(help="Generalized cost per toll unit (default: the TNTP README's, or 0)."),
    ] = None,
    distance_factor: Annotated[
        float | None,
        typer.Option(help="Generalized cost per length unit (default: the TNTP README's, or 0)."),
    ] = None,
) -> None:
    """Assign an OD matrix to user equilibrium (BPR costs) and write the link flows."""
    import jax
    from rich.console import Console

    from mobility.cache import cache_root
    from mobility.core.routing.equilibrium import user_equilibrium
    from mobility.routing.tntp import links_frame

    # compiled XLA programs are kept between runs: the next run of a network skips compiling
    jax.config.update("jax_compilation_cache_dir", str(cache_root() / "jax"))
    console = Console()
    name, arrays, od, labels, weights = _load(net, demand)
    toll_factor = weights[0] if toll_factor is None else toll_factor
    distance_factor = weights[1] if distance_factor is None else distance_factor
    out = Path(f"{name}_flows.parquet") if out is None else out
    if out.suffix not in (".parquet", ".csv"):
        raise SpecError(f"--out {out}: unknown format; end the file name in .parquet or .csv")

    def report(iteration: int, relative_gap: float) -> None:
        console.print(f"  iteration {iteration:5d}  relative gap {relative_gap:.3e}")

    with jax.default_device(_device(device)):
        result = user_equilibrium(
            arrays,
            od,
            algorithm=Algorithm(algorithm).value,
            gap=gap,
            max_iterations=max_iterations,
            toll_factor=toll_factor,
            distance_factor=distance_factor,
            progress=report,
        )
    _write(links_frame(result, labels), out)
    status = "converged" if result.converged else "NOT converged (iteration limit)"
    console.print(
        f"{name}: {result.algorithm} {status}\n"
        f"  iterations      {result.iterations}\n"
        f"  relative gap    {result.gap:.3e}\n"
        f"  objective       {result.objective:.6f}\n"
        f"  TSTT            {result.tstt:.6f}\n"
        f"  time            {result.seconds:.3f} s (compilation included)\n"
        f"  link flows      {out}"
    )


def _device(device: Device | str):  # -> jax.Device
    """The first JAX device of a kind, or a user error naming the fix."""
    import jax

    kind = Device(device).value
    try:
        return jax.devices(kind)[0]
    except RuntimeError:
        msg = (
            f"--device {kind}: JAX sees no {kind.upper()} here; install jax with CUDA support "
            "(pip install 'jax[cuda12]') or run with --device cpu"
        )
        raise SpecError(msg) from None


def _load(net: Path, demand: Path | None):
    """Name, arrays, OD matrix, link labels and cost weights of a TNTP or SUMO network."""
    if net.name.endswith((".net.xml", ".net.xml.gz")):
        return _load_sumo(net, demand)
    from mobility.routing.tntp import from_tntp

    tntp = from_tntp(net)
    if tntp.demand is None:
        msg = f"{tntp.net_path}: no {tntp.name}_trips.tntp next to it; add the OD trips file"
        raise DemandError(msg)
    labels = tntp.links()[["from", "to"]]
    weights = (tntp.toll_factor, tntp.distance_factor)
    return tntp.name, tntp.arrays, tntp.demand, labels, weights


def _load_sumo(net: Path, demand: Path | None):
    """A SUMO net through :attr:`mobility.network.net.Network.graph` and an OD trips CSV."""
    import numpy as np
    import pandas as pd

    from mobility.network.arrays import from_graph, graph_link_ids
    from mobility.network.net import load_network

    if demand is None:
        msg = f"{net}: a SUMO network carries no OD matrix; give one with --demand od.csv"
        raise DemandError(msg)
    if not demand.is_file():
        raise DemandError(f"--demand {demand}: file not found; fix the path")
    table = pd.read_csv(demand, dtype={"origin": str, "destination": str})
    missing = {"origin", "destination", "trips"} - set(table.columns)
    if missing:
        msg = f"{demand}: no {sorted(missing)} column; the header must be origin,destination,trips"
        raise DemandError(msg)
    graph = load_network(net).graph
    unknown = sorted((set(table.origin) | set(table.destination)) - set(map(str, graph.nodes)))
    if unknown:
        msg = f"{demand}: {unknown[:5]} are not junctions of {net}; use junction ids"
        raise DemandError(msg)
    zones = sorted(set(table.origin) | set(table.destination))
    index = {zone: i for i, zone in enumerate(zones)}
    od = np.zeros((len(zones), len(zones)))
    np.add.at(od, (table.origin.map(index), table.destination.map(index)), table.trips.to_numpy())
    arrays = from_graph(graph, zones=zones)
    labels = pd.DataFrame({"edge": graph_link_ids(graph)})
    return net.name.split(".net.xml")[0], arrays, od, labels, (0.0, 0.0)


def _write(links, out: Path) -> None:
    """Write the link table atomically (temporary file, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(handle)
    try:
        if out.suffix == ".csv":
            links.to_csv(tmp, index=False)
        else:
            links.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
