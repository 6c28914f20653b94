"""The report's safety section: conflict hotspots on the map, a severity histogram and the
conflict types, side by side for the runs compared (two runs, or a sweep's two variants).

It reads each run's ``conflicts.parquet`` (written when the scenario has ``safety:``, see
:mod:`mobility.safety`); runs without one are named and skipped.
"""

from __future__ import annotations

import html
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobility.network.geo import junctions_frame
from mobility.report import figures as F
from mobility.report.load import read_table
from mobility.safety.conflicts import TABLE

e = html.escape
TTC_BINS = np.arange(0.0, 3.01, 0.25)  # s; SSAM's conflicts lie below 1.5 s
COLOURS = (F.BLUE, F.ORANGE, "C2", "C3")
TYPE_ORDER = ("rear_end", "lane_change", "merging", "crossing", "oncoming", "other")


def has_safety(view: Any) -> bool:
    """Whether the run measured safety (its conflicts table exists)."""
    return (view.run.run_dir / TABLE).is_file()


def safety_section(views: list[Any], labels: list[str]) -> str:
    """The section's HTML for the report's run views (``_RunView`` of build.py)."""
    shown = {lab: v for lab, v in zip(labels, views, strict=False) if has_safety(v)}
    if not shown:
        return (
            "<p>Safety was not measured in this run; add <code>safety: {}</code> to the "
            "scenario to record conflicts, emergency brakings and collisions.</p>"
        )
    tables = {lab: read_table(v.run.run_dir / TABLE) for lab, v in shown.items()}
    text = [
        "<p>SUMO's SSM device follows every pair of nearby vehicles; a <b>conflict</b> is a "
        "pair whose time to collision (TTC) fell to the threshold (SSAM: 1.5 s), whose "
        "post-encroachment time (PET) at a crossing fell to its threshold (5 s), or that "
        "needed a deceleration (DRAC) above 3.4 m/s². The maps mark where conflicts happened: "
        "roads coloured by conflicts on them, circles at junctions sized by theirs. "
        "Collisions and emergency brakings are counted in the results table.</p>"
    ]
    skipped = [lab for lab in labels[: len(views)] if lab not in shown]
    if skipped:
        text.append(f"<p>Safety was not measured in {e(', '.join(skipped))}.</p>")
    figs = [_hotspot_map(shown[lab], table, lab) for lab, table in tables.items()]
    figs.append(_figure("safety-ttc", "Severity: minimum TTC of each conflict", _ttc_plot(tables)))
    figs.append(_figure("safety-types", "Conflicts by type", _type_plot(tables)))
    return "".join(text) + "<div class='grid'>" + "".join(figs) + "</div>"


def _figure(kind: str, title: str, fig: Any, cls: str = "plot") -> str:
    return (
        f"<figure class='{cls}' data-kind='{kind}'>{F.svg(fig)}"
        f"<figcaption>{e(title)}</figcaption></figure>"
    )


def hotspots(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Conflicts per edge and per junction (collisions included, brakings not)."""
    events = table[table["kind"].isin(["conflict", "collision"])]
    on_edges = events[(events["junction"] == "") & (events["edge"] != "")]
    return (
        on_edges.groupby("edge").size().astype(float),
        events[events["junction"] != ""].groupby("junction").size().astype(float),
    )


def _hotspot_map(view: Any, table: pd.DataFrame, label: str) -> str:
    per_edge, per_junction = hotspots(table)
    junctions = junctions_frame(view.run.net_path).set_index("junction_id")
    at = junctions.reindex(per_junction.index)
    values = view.values(per_edge)
    values = np.where(np.isnan(values), 0.0, values)
    fig = F.network_map(
        view.geometry,
        values,
        title=f"{label}: conflict hotspots",
        label="conflicts on the road",
        cmap="Reds",
        vmin=0.0,
        vmax=max(float(values.max()) if len(values) else 1.0, 1.0),
        crs_note=view.crs_note,
        points=(
            at.geometry.x.to_numpy(float),
            at.geometry.y.to_numpy(float),
            per_junction.to_numpy(float),
        ),
        points_label="junction (circle size: conflicts)",
    )
    return _figure("safety-hotspots", f"Conflict hotspots, {label}", fig, cls="map")


def _ttc_plot(tables: dict[str, pd.DataFrame]) -> Any:
    """Histogram of the conflicts' minimum TTC, one bar group per run."""
    with plt.rc_context(F.STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
    width = (TTC_BINS[1] - TTC_BINS[0]) / (len(tables) + 1)
    for i, (label, table) in enumerate(tables.items()):
        ttc = table.loc[table["kind"] == "conflict", "min_ttc"].dropna().to_numpy(float)
        counts, _ = np.histogram(np.clip(ttc, 0, TTC_BINS[-1]), bins=TTC_BINS)
        ax.bar(
            TTC_BINS[:-1] + i * width,
            counts,
            width=width,
            align="edge",
            color=COLOURS[i % 4],
            label=label,
        )
    for limit in (1.0, 1.5):
        ax.axvline(limit, color=F.GREY, ls="--", lw=0.8)
    ax.set_xlabel("minimum time to collision (s; 3 = 3 or more)")
    ax.set_ylabel("conflicts")
    if len(tables) > 1:
        ax.legend(frameon=False)
    return fig


def _type_plot(tables: dict[str, pd.DataFrame]) -> Any:
    """Conflicts of each type, one bar group per run."""
    with plt.rc_context(F.STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
    x = np.arange(len(TYPE_ORDER))
    width = 0.8 / max(len(tables), 1)
    for i, (label, table) in enumerate(tables.items()):
        kinds = table.loc[table["kind"] == "conflict", "conflict_type"]
        counts = [int((kinds == t).sum()) for t in TYPE_ORDER]
        ax.bar(x + i * width, counts, width=width, color=COLOURS[i % 4], label=label)
    ax.set_xticks(x + width * (len(tables) - 1) / 2, [t.replace("_", "-") for t in TYPE_ORDER])
    ax.set_ylabel("conflicts")
    if len(tables) > 1:
        ax.legend(frameon=False)
    return fig
