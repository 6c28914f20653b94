"""Matplotlib figures of a report, as inline SVG text (no files, no CDN, no display).

Every function returns a figure; :func:`svg` turns it into an ``<svg>`` element. Fonts stay
text (``svg.fonttype = none``) so the file stays small and the labels searchable.
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "mobility",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#999999"


def svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (XML prolog and DOCTYPE dropped)."""
    buffer = io.StringIO()
    with plt.rc_context(STYLE):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _fig(width: float = 6.0, height: float = 3.0) -> tuple[Figure, Any]:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


# -- plots of one or more runs ----------------------------------------------------------------
def timeline_plot(timelines: dict[str, pd.DataFrame], column: str, ylabel: str) -> Figure:
    """A per-step quantity over time, one line per run, smoothed over a minute."""
    fig, ax = _fig()
    for (label, frame), colour in zip(timelines.items(), (BLUE, ORANGE, "C2", "C3"), strict=False):
        t = frame["time"].to_numpy(float) / 60.0
        y = frame[column].to_numpy(float)
        if column == "meanSpeed":
            y = np.where(frame["running"].to_numpy(float) > 0, y, np.nan)
        step = float(np.median(np.diff(frame["time"]))) if len(frame) > 1 else 1.0
        window = max(1, round(60.0 / max(step, 1e-9)))
        y = pd.Series(y).rolling(window, min_periods=1).mean().to_numpy()
        ax.plot(t, y, color=colour, lw=1.2, label=label)
    ax.set_xlabel("time (min)")
    ax.set_ylabel(ylabel)
    if len(timelines) > 1:
        ax.legend(frameon=False)
    return fig


def travel_time_plot(trips: dict[str, pd.DataFrame]) -> Figure:
    """Distribution of travel times of completed trips, one histogram per run."""
    fig, ax = _fig()
    durations = {k: t.loc[t["arrival"] >= 0, "duration"].to_numpy(float) for k, t in trips.items()}
    top = max((np.quantile(d, 0.99) for d in durations.values() if len(d)), default=1.0)
    bins = np.linspace(0, max(top, 1.0), 40)
    for (label, d), colour in zip(durations.items(), (BLUE, ORANGE, "C2", "C3"), strict=False):
        ax.hist(np.clip(d, 0, bins[-1]), bins=bins, color=colour, alpha=0.6, label=label)
    ax.set_xlabel("travel time of a completed trip (s)")
    ax.set_ylabel("trips")
    if len(trips) > 1:
        ax.legend(frameon=False)
    return fig


def junction_delay_plot(delays: dict[str, pd.DataFrame]) -> Figure:
    """Mean delay per vehicle at each signalised junction (bars per run)."""
    fig, ax = _fig(6.0, 3.2)
    ids = sorted(set().union(*(d["junction_id"] for d in delays.values())))
    width = 0.8 / max(len(delays), 1)
    x = np.arange(len(ids))
    for i, ((label, d), colour) in enumerate(
        zip(delays.items(), (BLUE, ORANGE, "C2", "C3"), strict=False)
    ):
        values = d.set_index("junction_id")["delay_per_vehicle_s"].reindex(ids).to_numpy()
        ax.bar(x + i * width - 0.4 + width / 2, values, width, color=colour, label=label)
    ax.set_xticks(
        x, ids, rotation=60 if len(ids) > 8 else 0, ha="right" if len(ids) > 8 else "center"
    )
    ax.set_ylabel("delay per vehicle (s)")
    ax.set_xlabel("signalised junction")
    if len(delays) > 1:
        ax.legend(frameon=False)
    return fig


def shuttle_wait_plot(waits: dict[str, np.ndarray]) -> Figure:
    """How long served riders waited for their shuttle; 5 and 10 minutes marked."""
    fig, ax = _fig()
    top = max((np.quantile(w, 0.99) for w in waits.values() if len(w)), default=0.0)
    bins = np.linspace(0, max(top / 60.0, 11.0), 30)
    for (label, w), colour in zip(waits.items(), (BLUE, ORANGE, "C2", "C3"), strict=False):
        ax.hist(np.clip(w / 60.0, 0, bins[-1]), bins=bins, color=colour, alpha=0.6, label=label)
    for minutes in (5, 10):
        ax.axvline(minutes, color="black", ls="--", lw=0.8)
        ax.text(
            minutes,
            1.0,
            f" {minutes} min",
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=7,
        )
    ax.set_xlabel("wait from request to pick-up (min), riders served")
    ax.set_ylabel("riders")
    if len(waits) > 1:
        ax.legend(frameon=False)
    return fig


def shuttle_occupancy_plot(km_at_load: dict[str, pd.Series]) -> Figure:
    """Kilometres the shuttles drove with 0, 1, 2 ... riders on board (bars per run)."""
    fig, ax = _fig()
    loads = sorted(set().union(*(s.index for s in km_at_load.values()))) or [0]
    width = 0.8 / max(len(km_at_load), 1)
    x = np.arange(len(loads))
    for i, ((label, s), colour) in enumerate(
        zip(km_at_load.items(), (BLUE, ORANGE, "C2", "C3"), strict=False)
    ):
        values = s.reindex(loads).fillna(0.0).to_numpy(float)
        ax.bar(x + i * width - 0.4 + width / 2, values, width, color=colour, label=label)
    ax.set_xticks(x, [str(n) for n in loads])
    ax.set_xlabel("riders on board")
    ax.set_ylabel("km driven by the shuttles")
    if len(km_at_load) > 1:
        ax.legend(frameon=False)
    return fig


def kpi_vs_param_plot(summary: pd.DataFrame, x: pd.Series, kpi: str, xlabel: str) -> Figure:
    """Mean of a KPI against a swept parameter, with its 95 % interval as a band."""
    fig, ax = _fig(4.2, 2.8)
    frame = summary[summary["kpi"] == kpi].copy()
    frame["x"] = frame["variant"].map(x)
    frame = frame.dropna(subset=["x"]).sort_values("x")
    ax.fill_between(
        frame["x"],
        frame["ci_low"],
        frame["ci_high"],
        color=BLUE,
        alpha=0.2,
        label="95 % interval",
        lw=0,
    )
    ax.plot(frame["x"], frame["mean"], "o-", color=BLUE, label="mean over seeds")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(kpi)
    ax.legend(frameon=False, fontsize=8)
    return fig


def kpi_lines_plot(
    frame: pd.DataFrame, *, xlabel: str, ylabel: str, panel_label: str = ""
) -> Figure:
    """Mean of a KPI against a numeric swept parameter: one line (with its 95 % band) per
    ``line`` value, one panel per ``panel`` value (small multiples, shared y axis).

    ``frame`` has columns x, line, panel, mean, ci_low, ci_high (one row per variant). A
    line joins variants that differ only in x, so it never zig-zags between the values of
    another parameter.
    """
    panels = list(dict.fromkeys(frame["panel"]))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, len(panels), figsize=(4.2 + 2.6 * (len(panels) - 1), 2.8), sharey=True, squeeze=False
        )
    lines = list(dict.fromkeys(frame["line"]))
    colours = {name: f"C{i % 10}" for i, name in enumerate(lines)}
    drawn = []
    for ax, panel in zip(axes[0], panels, strict=True):
        part = frame[frame["panel"] == panel]
        for i, name in enumerate(lines):
            one = part[part["line"] == name].sort_values("x")
            if one.empty:
                continue
            colour = colours[name]
            ax.fill_between(one["x"], one["ci_low"], one["ci_high"], color=colour, alpha=0.15, lw=0)
            (line,) = ax.plot(one["x"], one["mean"], "o-", color=colour, label=name or "mean")
            drawn.append((line, i))
        ax.set_xlabel(xlabel)
        if panel_label:
            ax.set_title(f"{panel_label} = {panel}", fontsize=9)
    axes[0][0].set_ylabel(ylabel)
    if len(lines) > 1 or lines != [""]:
        axes[0][-1].legend(frameon=False, fontsize=7, loc="best")
    for line, i in drawn:  # after the legend, which would copy the ids: tests count lines
        line.set_gid(f"kpi-line-{i}")
    return fig


def kpi_bars_plot(summary: pd.DataFrame, kpi: str, xlabel: str = "") -> Figure:
    """Mean of a KPI per variant with 95 % interval whiskers (non-numeric parameters)."""
    frame = summary[summary["kpi"] == kpi]
    fig, ax = _fig(4.2, 0.4 + 0.35 * len(frame))
    y = np.arange(len(frame))
    err = np.vstack([frame["mean"] - frame["ci_low"], frame["ci_high"] - frame["mean"]])
    ax.barh(y, frame["mean"], xerr=np.nan_to_num(err), color=BLUE, alpha=0.8)
    ax.set_yticks(y, frame["variant"])
    ax.set_xlabel(xlabel or kpi)
    return fig


# -- maps ---------------------------------------------------------------------------------
def network_map(
    geometry: list[np.ndarray],
    values: np.ndarray,
    *,
    title: str,
    label: str,
    cmap: str,
    vmin: float,
    vmax: float,
    crs_note: str,
    points: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    points_label: str = "",
    markers: list[tuple[np.ndarray, np.ndarray, str, str, str]] | None = None,
    size: float = 4.6,
) -> Figure:
    """Edges drawn from the network's own geometry, coloured by ``values`` (NaN: grey).

    ``points`` (x, y, value) marks junctions, sized by value; ``markers`` (x, y, marker,
    colour, label) adds fixed-size symbols (shuttle stops, depots), each with a legend entry.
    The base layer is the network itself: nothing is fetched, so the map works offline.
    The scale bar is drawn by hand (no scale-bar package is a dependency); coordinates
    are metres in both projected and plain nets.
    """
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(size, size))
    finite = np.isfinite(values)
    widths = np.where(finite, 2.2, 0.8)
    norm = matplotlib.colors.Normalize(vmin=vmin, vmax=vmax)
    colours = plt.get_cmap(cmap)(norm(np.nan_to_num(values)))
    colours[~finite] = matplotlib.colors.to_rgba("#cccccc")
    ax.add_collection(LineCollection(geometry, colors=colours, linewidths=widths))
    mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(mappable, ax=ax, label=label, shrink=0.7, pad=0.02)
    if points is not None and len(points[0]):
        px, py, pv = points
        scale = 200.0 / max(np.nanmax(pv), 1e-9) if np.isfinite(pv).any() else 0.0
        ax.scatter(
            px,
            py,
            s=20 + np.nan_to_num(pv) * scale,
            facecolors="none",
            edgecolors="black",
            linewidths=1.0,
            zorder=3,
            label=points_label,
        )
    for mx, my, marker, colour, mlabel in markers or []:
        if len(mx):
            ax.scatter(
                mx,
                my,
                s=60,
                marker=marker,
                c=colour,
                edgecolors="black",
                linewidths=0.8,
                zorder=4,
                label=mlabel,
            )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", frameon=True, fontsize=7, markerscale=0.5)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    _scale_bar(ax)
    ax.text(
        1.0,
        -0.02,
        crs_note,
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=6,
        color="#666666",
    )
    return fig


def _scale_bar(ax: Any) -> None:
    """A round-length scale bar in the lower right corner (metres or kilometres)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5.0
    if target <= 0:
        return
    exp = 10 ** math.floor(math.log10(target))
    length = max(m * exp for m in (1, 2, 5) if m * exp <= target)
    right, bottom = x1 - 0.03 * (x1 - x0), y0 + 0.03 * (y1 - y0)
    ax.plot([right - length, right], [bottom, bottom], color="black", lw=2.5, solid_capstyle="butt")
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(
        right - length / 2, bottom + 0.015 * (y1 - y0), text, ha="center", va="bottom", fontsize=7
    )
