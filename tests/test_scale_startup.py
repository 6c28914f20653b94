"""Start-up of a run: the run path imports neither pandas nor pyarrow's Acero engine, nor
scipy, and parses the network only when a part reads it.

pyarrow imports pandas (0.2-0.3 s) when a column is turned into numpy by ``to_numpy`` and
when ``Table.join`` loads Acero; the run's tables and KPIs avoid both. Checked on a real
SUMO run in a fresh interpreter, and the replacements against what they replace.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mobility.sim.kpi import _numpy
from mobility.sim.outputs import _EDGE_KEYS, _left_join

ROOT = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent(
    """
    import sys
    from mobility.config import ScenarioSpec
    from mobility.scenario import run_scenario
    spec = ScenarioSpec.model_validate({
        "name": "startup", "seed": 3, "end": 120,
        "network": sys.argv[1],
        "demand": {"type": "random", "vehicles_per_hour": 600},
        "outputs": {"emissions": True, "edgedata_period": 60},
    })
    result = run_scenario(spec, sys.argv[2])
    assert result.kpis["vehicles_loaded"] > 0, result.kpis
    import mobility.network.net as net
    heavy = ("pandas", "pyarrow.acero", "scipy")
    print(net.parse_count, sorted(m for m in heavy if m in sys.modules))
    """
)


def test_a_run_imports_neither_pandas_nor_acero(tmp_path):
    net = ROOT / "networks" / "grid3x3" / "grid3x3.net.xml"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(net), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    # fixed-time signals and random trips never read the net in Python: no parse, no scipy
    assert done.stdout.strip().splitlines()[-1] == "0 []"
    run_dir = next(tmp_path.glob("*/edges.parquet")).parent
    edges = pa.parquet.read_table(run_dir / "edges.parquet")
    assert "CO2_abs" in edges.column_names and edges.num_rows > 0


def edge_tables(right_rows: np.ndarray) -> tuple[pa.Table, pa.Table]:
    left = pa.table(
        {
            "interval_begin": [0.0, 0.0, 60.0, 60.0],
            "interval_end": [60.0, 60.0, 120.0, 120.0],
            "edge_id": ["b", "a", "b", "a"],
            "entered": [3.0, 1.0, 4.0, 2.0],
        }
    )
    right = left.select(_EDGE_KEYS).take(right_rows)
    return left, right.append_column("CO2_abs", pa.array([10.0, 20.0, 30.0, 40.0][: len(right)]))


@pytest.mark.parametrize("rows", [[3, 2, 1, 0], [0, 3]])
def test_edge_join_matches_a_left_outer_join(rows):
    left, right = edge_tables(np.array(rows))
    order = [(k, "ascending") for k in _EDGE_KEYS]
    expected = left.join(right, keys=_EDGE_KEYS, join_type="left outer").sort_by(order)
    joined = _left_join(left, right)
    assert joined.equals(expected)
    # rows [3, 2, 1, 0]: right holds (60 a: 10), (60 b: 20), (0 a: 30), (0 b: 40);
    # rows [0, 3]: (0 b: 10), (60 a: 20). Output order: 0 a, 0 b, 60 a, 60 b
    expected_co2 = [30.0, 40.0, 10.0, 20.0] if rows == [3, 2, 1, 0] else [None, 10.0, 20.0, None]
    assert joined.column("CO2_abs").to_pylist() == expected_co2


def test_columns_to_numpy_without_pandas_give_what_pyarrow_gives():
    chunked = pa.chunked_array([pa.array([1.5, 2.5]), pa.array([3.5])]).slice(1)
    np.testing.assert_array_equal(_numpy(chunked), [2.5, 3.5])
    assert _numpy(pa.chunked_array([pa.array([7, 8], pa.int32())])).dtype == np.int32
    with_null = _numpy(pa.chunked_array([pa.array([1.0, None])]))
    assert with_null[0] == 1.0 and np.isnan(with_null[1])


def test_a_broken_network_is_still_named_as_such(tmp_path):
    """The net is parsed lazily; when the demand tools fail on a broken file, the error is
    the network's own, naming the file."""
    from mobility.config import ScenarioSpec
    from mobility.errors import NetworkError
    from mobility.scenario import run_scenario

    bad = tmp_path / "bad.net.xml"
    bad.write_text("<net><edge id='a' from='x'")
    spec = ScenarioSpec.model_validate(
        {
            "name": "broken",
            "end": 60,
            "network": str(bad),
            "demand": {"type": "random", "vehicles_per_hour": 600},
        }
    )
    with pytest.raises(NetworkError, match=r"bad\.net\.xml: SUMO network could not be read"):
        run_scenario(spec, tmp_path / "runs")
    assert not list((tmp_path / "runs").glob("*"))
