"""The report's counts section: counted against simulated flow per count site, and GEH.

Shown for runs whose demand was fitted to counts (their ``counts.parquet``, written by
:class:`mobility.demand.counts.CountsPart`). Planners judge a model this way: a scatter of
hourly flows with the GEH 5 band around the diagonal, and the worst sites listed by name.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mobility.report import figures as F
from mobility.report.load import read_table
from mobility.report.words import span

COUNTS_TABLE = "counts.parquet"  # as mobility.demand.counts writes it
e = html.escape


def count_sites(run_dir: Path) -> pd.DataFrame | None:
    """The run's count sites (one row per edge and interval), or None without counts."""
    path = run_dir / COUNTS_TABLE
    return read_table(path) if path.is_file() else None


def counts_plot(sites: pd.DataFrame) -> Any:
    """Counted against simulated hourly flow, one dot per site, GEH < 5 in blue; the band
    is where GEH < 5 (|m - c| < 5 sqrt((m + c) / 2))."""
    fig, ax = F._fig(4.6, 4.2)
    c = sites["counted_per_hour"].to_numpy(float)
    m = sites["simulated_per_hour"].to_numpy(float)
    top = max(float(np.nanmax(np.r_[c, m, 1.0])) * 1.05, 10.0)
    x = np.linspace(0.0, top, 200)
    # GEH(m, x) = 5 solved for m: m = x + 12.5 +- sqrt(25 x + 156.25)
    root = np.sqrt(25.0 * x + 156.25)
    ax.fill_between(x, np.maximum(x + 12.5 - root, 0), x + 12.5 + root, color=F.GREY, alpha=0.2)
    ax.plot([0, top], [0, top], color=F.GREY, lw=0.8)
    ok = sites["geh"].to_numpy(float) < 5.0
    on = ax.scatter(c[ok], m[ok], s=12, color=F.BLUE, label="GEH < 5")
    off = ax.scatter(c[~ok], m[~ok], s=16, color=F.ORANGE, marker="x", label="GEH >= 5")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("counted (veh/h)")
    ax.set_ylabel("simulated (veh/h)")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    on.set_gid("sites-ok")  # after the legend, which would copy the ids: tests find the dots
    off.set_gid("sites-off")
    return fig


def counts_section(run_dir: Path, kpis: dict[str, float]) -> str:
    """HTML of the counts section ('' for a run without counts)."""
    sites = count_sites(run_dir)
    if sites is None or sites.empty:
        return ""
    share = kpis.get("counts_geh_under_5_share", float((sites["geh"] < 5).mean()))
    words = (
        f"<p>The demand was fitted to {len(sites)} count sites (edge and interval) with "
        f"SUMO's routeSampler. GEH &lt; 5 at <b>{share:.0%}</b> of them (UK DMRB asks for at "
        "least 85 %). Each dot is a site, its hourly flow counted against simulated; the grey "
        "band is where GEH &lt; 5.</p>"
    )
    worst = sites.sort_values("geh", ascending=False).head(8)
    rows = "".join(
        f"<tr><td><code>{e(str(r.edge_id))}</code></td>"
        f"<td>{span(r.interval_begin, r.interval_end)}</td>"
        f"<td>{r.counted:g}</td><td>{r.simulated:g}</td><td>{r.geh:.2f}</td></tr>"
        for r in worst.itertuples()
    )
    table = (
        "<table class='kpis'><thead><tr><th>edge</th><th>interval</th>"
        "<th>counted (veh)</th><th>simulated (veh)</th><th>GEH</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    fig = F.svg(counts_plot(sites))
    figure = (
        f"<figure class='plot' data-kind='counts'>{fig}"
        "<figcaption>Counted against simulated flow per count site</figcaption></figure>"
    )
    return (
        words
        + "<div class='grid'>"
        + figure
        + f"<div><p>Sites furthest from their count:</p>{table}</div></div>"
    )
