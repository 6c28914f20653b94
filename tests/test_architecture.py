"""The house rules that keep the code simple: a pure JAX core, and no import circles."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "mobility"

# What the core must run without: a GPU machine that has only jax, numpy and optax.
FORBIDDEN = [
    *("sumolib", "libsumo", "traci", "ray", "pandas", "pyarrow", "networkx", "geopandas"),
    *("shapely", "duckdb", "yaml", "pydantic", "matplotlib", "typer", "rich"),
]

CORE_RUN = textwrap.dedent(
    """
    import importlib.abc, pkgutil, sys

    FORBIDDEN = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError(f"the core imported {name}")

    sys.meta_path.insert(0, Refuse())

    import numpy as np
    import jax.numpy as jnp
    import mobility.core
    for mod in pkgutil.walk_packages(mobility.core.__path__, "mobility.core."):
        __import__(mod.name)

    from mobility.core import signal_model as M
    net = M.ModelNet(
        storage=jnp.array([30.0, 30.0, 1e9]), delay_steps=jnp.array([2, 2, 1]),
        move_from=jnp.array([0, 1]), move_to=jnp.array([1, 2]), move_sat=jnp.array([0.5, 1.0]),
        move_tls=jnp.array([0, 1]), move_serves=jnp.array([[1.0], [1.0]]),
        split=jnp.ones(2), slots=jnp.zeros(3),
    )
    state = M.step(net, M.initial_state(net), jnp.ones(2), jnp.array([0.3, 0.0, 0.0]), 1.0)
    assert abs(float(M.stored(state).sum()) - 0.3) < 1e-6  # the 0.3 vehicles that entered

    from mobility.core.arrays import network_arrays
    from mobility.core.routing import user_equilibrium
    arrays = network_arrays(tail=[0, 1, 0], head=[1, 2, 2], free_flow_time=[1.0, 1.0, 3.0],
                            capacity=[10.0, 10.0, 10.0], n_nodes=3, zone_node=[0, 2])
    ue = user_equilibrium(arrays, np.array([[0.0, 20.0], [0.0, 0.0]]), max_iterations=1)
    # one iteration from zero flow is the all-or-nothing load: 20 trips on 0-1-2 (2 < 3)
    assert np.allclose(np.asarray(ue.flow), [20.0, 20.0, 0.0]), ue.flow

    from mobility.core.matching import Fleet, Limits, Requests, dispatch_round
    times = jnp.array([[0.0, 60.0], [60.0, 0.0]])
    fleet = Fleet(edge=jnp.array([0]), ready=jnp.array([0.0]), capacity=jnp.array([4]),
                  aboard=jnp.array([0]), mask=jnp.array([True]),
                  stop_edge=jnp.zeros((1, 2), int), stop_delta=jnp.zeros((1, 2), int),
                  stop_deadline=jnp.zeros((1, 2)), stop_mask=jnp.zeros((1, 2), bool))
    req = Requests(origin=jnp.array([0]), destination=jnp.array([1]), time=jnp.array([0.0]),
                   direct=jnp.array([60.0]), mask=jnp.array([True]))
    assigned, _ = dispatch_round(times, fleet, req, Limits(jnp.float32(300.0),
                                 jnp.float32(2.0), jnp.float32(60.0)))
    assert int(assigned[0]) == 0
    print("core ok")
    """
)


def test_core_runs_without_sumo_ray_or_file_libraries():
    """One model step, one assignment iteration and one dispatch round with SUMO, Ray,
    pandas and the rest made unimportable: the core runs alone on a JAX-only machine."""
    done = subprocess.run(
        [sys.executable, "-c", CORE_RUN, ",".join(FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "core ok" in done.stdout


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The mobility modules ``path`` imports, at module level or inside functions."""
    found = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def test_no_import_circles():
    """No module reaches itself through imports, lazy (function-level) imports included:
    a circle means two concepts that should be one, or a seam in the wrong place."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in files.items():
        graph.add_node(name)
        for target in imports_of(path, set(files)) - {name}:
            # a package's __init__ importing its own modules is how packages re-export
            if not (path.name == "__init__.py" and target.startswith(name + ".")):
                graph.add_edge(name, target)
    # importing a.b.c runs a/__init__ and a/b/__init__ first: those are not circles of code
    cycles = [c for c in nx.simple_cycles(graph) if not all(n.endswith("__init__") for n in c)]
    cycles = [c for c in cycles if len(c) > 1 and not _only_packages(c, files)]
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join([*c, c[0]]) for c in cycles)


def _only_packages(cycle: list[str], files: dict[str, Path]) -> bool:
    return all(files[n].name == "__init__.py" for n in cycle)


def test_one_pytree_convention_in_the_core():
    """Core pytrees are frozen registered dataclasses whose array fields say their shape."""
    for path in (PACKAGE / "core").rglob("*.py"):
        lines = path.read_text().splitlines()
        assert not any("NamedTuple" in line for line in lines), path
        for line in lines:
            if re.fullmatch(r"    \w+: jax\.Array( = [^#]*)?(  #.*)?", line):  # a field
                assert "# [" in line, f"{path}: {line.strip()} has no [shape] comment"
