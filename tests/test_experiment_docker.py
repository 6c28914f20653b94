"""docker/ checked statically (no Docker daemon here): files parse, what they copy and run
exists, the images install the project the way pyproject.toml declares it."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from mobility.cli import app
from mobility.experiment import load_sweep

DOCKER = ROOT / "docker"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "Dockerfile.cuda"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.name for p in DOCKERFILES])
def test_image_installs_the_project_from_pyproject_as_non_root(path: Path) -> None:
    steps = _instructions(path)
    base = next(args for word, args in steps if word == "FROM")
    version = re.search(r"python:(\d+)\.(\d+)", base)
    assert version, base
    required = re.search(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert tuple(map(int, version.groups())) >= tuple(map(int, required.groups()))
    for word, args in steps:  # everything copied exists in the repository
        if word == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"{path.name}: COPY {source} does not exist"
    installs = [a for w, a in steps if w == "RUN" and "pip install" in a]
    assert len(installs) == 1
    words = shlex.split(installs[0])
    assert "." in words, "the image must install the project itself (pyproject.toml)"
    extras = set(PYPROJECT["project"].get("optional-dependencies", {}))
    for word in words:  # `.[extra]` names only extras that pyproject declares
        if word.startswith(".["):
            assert set(word[2:-1].split(",")) <= extras
    if path.name.endswith("cuda"):
        assert "jax[cuda12]" in words
    assert "eclipse-sumo" in " ".join(PYPROJECT["project"]["dependencies"])
    users = [a for w, a in steps if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    copied = " ".join(a for w, a in steps if w == "COPY")
    assert "pyproject.toml" in copied and "mobility" in copied and "experiments" in copied


def test_compose_runs_a_ray_head_and_workers() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    head, worker = services["ray-head"], services["ray-worker"]
    assert "ray start --head" in head["command"] and "--block" in head["command"]
    assert "--address=ray-head:6379" in worker["command"]
    assert worker["deploy"]["replicas"]
    for service in (head, worker):
        build = service["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).is_file()
        assert any(v.endswith(":/data") for v in service["volumes"])


def test_rayjob_runs_an_existing_sweep_with_resume() -> None:
    job = yaml.safe_load((DOCKER / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:2] == ["mobility", "sweep"]
    assert {"--address", "auto", "--resume", "--out"} <= set(words)
    load_sweep(ROOT / words[2])  # the sweep file exists and is valid
    cluster = job["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]
    ]
    for pod in pods:
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["spec"]["containers"][0]["image"].startswith("mobility:")


def test_commands_named_in_docker_files_exist() -> None:
    """Every `mobility <command>` used in docker/ is a real command with real options."""
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups}
    text = " ".join(p.read_text() for p in DOCKER.iterdir() if p.is_file())
    used = set(re.findall(r"\bmobility (\w[\w-]*)", text))
    assert "sweep" in used
    assert used <= names | {"--help"}, used - names
