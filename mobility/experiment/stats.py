"""The one confidence interval of the project: a mean and its Student-t half-width.

``mobility signals compare``, the sweep store's ``summary`` and through it the report all
state a KPI over seeds as ``mean ± half-width``; computing it in one place keeps their
numbers identical for the same runs (a planner compares them side by side).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the ``level`` Student-t interval) of ``values``.

    NaN (a run without that KPI) is left out. No values give (NaN, NaN); one value gives its
    mean and NaN, as one seed says nothing about the spread.
    """
    from scipy import stats

    data = np.asarray(list(values), dtype=float)
    data = data[~np.isnan(data)]
    n = len(data)
    if n == 0:
        return math.nan, math.nan
    mean = float(data.mean())
    if n == 1:
        return mean, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return mean, half


def mean_ci95(values: Iterable[float]) -> tuple[float, float]:
    """(mean, 95% half-width) of ``values``; see :func:`mean_ci`."""
    return mean_ci(values, 0.95)
