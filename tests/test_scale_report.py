"""The report's per-edge weighted means at city size: two grouped sums, not a Python call
per edge, with the same rules (unknown values and zero weights skipped, NaN when none)."""

from __future__ import annotations

import math

import pandas as pd

from mobility.report.edges import weighted_by_edge


def test_weighted_by_edge_skips_unknown_values_and_zero_weights():
    frame = pd.DataFrame(
        {
            "edge_id": ["c", "a", "a", "b", "a", "a"],
            "speed": [4.0, 10.0, 20.0, 5.0, float("nan"), 100.0],
            "sampledSeconds": [2.0, 1.0, 3.0, 0.0, 5.0, 0.0],
        }
    )
    got = weighted_by_edge(frame, "speed")
    assert list(got.index) == ["a", "b", "c"]
    assert got["a"] == 17.5  # (10 * 1 + 20 * 3) / 4; the NaN and the zero weight are skipped
    assert math.isnan(got["b"])  # its only row has weight 0
    assert got["c"] == 4.0
