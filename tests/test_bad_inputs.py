"""Bad input to `mobility run` and `mobility validate`: one line per case, each a clean
message (exit 2, no traceback) naming what is wrong, and nothing left in the output folder.

A case is (name, files to write, command, words the message must contain). Files are
written into a fresh folder; ``{tmp}`` in the command is that folder, ``{net}`` the bundled
3x3 grid. A new case is one more line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GRID3, run_cli

NET = GRID3.read_text()
GOOD = "name: bad\nend: 60\nnetwork: {net}\ndemand: {{type: random, vehicles_per_hour: 60}}\n"


def spec(**fields: str) -> str:
    """The good scenario with some lines replaced or added (``field="yaml text"``)."""
    lines = {ln.split(":")[0]: ln for ln in GOOD.format(net=GRID3).splitlines()}
    lines.update({k: f"{k}: {v}" for k, v in fields.items()})
    return "\n".join(lines.values()) + "\n"


RUN = ["run", "{tmp}/s.yaml", "--out", "{tmp}/out", "--no-report"]
VALIDATE = ["validate", "{tmp}/s.yaml"]
ROUTE_QQ = '<routes><vehicle id="v0" depart="0"><route edges="A0B0 QQ"/></vehicle></routes>'

CASES = [
    # -- the spec file itself
    ("not utf-8", {"s.yaml": "name: caf\xe9\n".encode("latin-1")}, RUN, ["not UTF-8", "line 1"]),
    ("duplicate key", {"s.yaml": spec() + "end: 90\n"}, VALIDATE, ["'end' given twice"]),
    ("empty file", {"s.yaml": ""}, RUN, ["expected a mapping"]),
    ("a list, not a mapping", {"s.yaml": "- name: x\n"}, VALIDATE, ["expected a mapping"]),
    ("spec path is a folder", {"s.yaml/x": "a"}, RUN, ["is a folder"]),
    ("missing spec", {}, RUN, ["not found"]),
    ("bad yaml", {"s.yaml": "name: [x\n"}, VALIDATE, ["not valid YAML", "line"]),
    # -- input paths
    ("network is a folder", {"s.yaml": spec(network="{tmp}"), "x": ""}, RUN, ["is a folder"]),
    ("network missing", {"s.yaml": spec(network="no.net.xml")}, RUN, ["field `network`"]),
    (
        "truncated net",
        {"s.yaml": spec(network="cut.net.xml"), "cut.net.xml": NET[: len(NET) // 2]},
        RUN,
        ["cut.net.xml", "could not be read"],
    ),
    ("routes are a folder", {"s.yaml": spec(demand="{tmp}")}, VALIDATE, ["field `demand`"]),
    # -- SUMO's own error, not a warning
    (
        "unknown edge in routes",
        {"s.yaml": spec(demand="r.rou.xml"), "r.rou.xml": ROUTE_QQ},
        RUN,
        ["The edge 'QQ'", "v0"],
    ),
    (
        "unknown edge, traci",
        {"s.yaml": spec(demand="r.rou.xml"), "r.rou.xml": ROUTE_QQ},
        [*RUN, "--backend", "traci"],
        ["The edge 'QQ'"],
    ),
    # -- the output folder
    ("--out is a file", {"s.yaml": spec(), "out": "x"}, RUN, ["is a file, not a folder"]),
    (
        "--out below a file",
        {"s.yaml": spec(), "f": "x"},
        [*RUN[:2], "--out", "{tmp}/f/o"],
        ["is a file"],
    ),
    # -- accepted but wrong, and unbounded
    ("window too long", {"s.yaml": spec(end="1e12")}, VALIDATE, ["field `end`", "30 days"]),
    (
        "demand too large",
        {"s.yaml": spec(demand="{type: random, vehicles_per_hour: 1e9}")},
        RUN,
        ["field `demand`", "5,000,000"],
    ),
    (
        "OD demand too large",
        {
            "s.yaml": spec(
                end="86400",
                demand="{type: od, zones: {a: [A0B0], b: [B0C0]}, "
                "flows: [{from: a, to: b, vehicles_per_hour: 1e6}]}",
            )
        },
        VALIDATE,
        ["field `demand`", "vehicles"],
    ),
    (
        "unknown controller setting",
        {"s.yaml": spec(signals="{controller: actuated, params: {max-gapp: 3}}")},
        VALIDATE,
        ["signals.params.max-gapp", "unknown field"],
    ),
    (
        "mistyped controller setting",
        {"s.yaml": spec(signals="{controller: sotl, params: {theta: lots}}")},
        VALIDATE,
        ["signals.params.theta"],
    ),
    ("unknown controller", {"s.yaml": spec(signals="fastest")}, VALIDATE, ["unknown controller"]),
    ("negative seed", {"s.yaml": spec(seed="-1")}, VALIDATE, ["field `seed`"]),
    (
        "all-zero profile",
        {"s.yaml": spec(demand="{type: random, vehicles_per_hour: 60, profile: [0, 0]}")},
        VALIDATE,
        ["all zeros"],
    ),
    # -- what only the network can tell
    (
        "signal not in net",
        {"s.yaml": spec(signals="{controller: greedy, tls: [Z9]}")},
        RUN,
        ["'Z9'"],
    ),
    (
        "zone edge not in net",
        {
            "s.yaml": spec(
                demand="{type: od, zones: {a: [A0B0], b: [QQ]}, "
                "flows: [{from: a, to: b, vehicles_per_hour: 10}]}"
            )
        },
        RUN,
        ["demand.zones.b", "QQ"],
    ),
]


@pytest.mark.parametrize(
    ("files", "command", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_clean_error(files, command, words, tmp_path: Path) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content.replace("{tmp}", str(tmp_path)) if isinstance(content, str) else content
        path.write_bytes(text.encode() if isinstance(text, str) else text)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    before = _entries(tmp_path / "out")
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    message = " ".join(proc.stderr.split())  # rich folds long lines
    for word in words:
        assert word in message, message
    assert _entries(tmp_path / "out") == before  # nothing written, nothing left behind


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
