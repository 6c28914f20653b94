"""Build the HTML report of a run, a folder of runs, or a sweep: one self-contained file.

Everything is inline: CSS, a few lines of JS (the time-slice slider), and figures as SVG
drawn by matplotlib from the run's tables and the network's own geometry. Nothing is
fetched when the file is opened, so it works offline and can be mailed to a council.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mobility.kpis import all_kpis, headline_kpis
from mobility.report import figures as F
from mobility.report.counts import count_sites, counts_section
from mobility.report.edges import edge_kpis, edge_slices, junction_delays
from mobility.report.interactive import interactive_map, line_paths, map_data, stop_places
from mobility.report.lines import line_stops, stops_table
from mobility.report.load import (
    ReportError,
    RunData,
    SweepData,
    load_run,
    open_input,
    read_table,
)
from mobility.report.safety import has_safety, safety_section
from mobility.report.words import (
    better,
    describe,
    fmt,
    heading,
    param_words,
    scenario_words,
    span,
)
from mobility.safety.conflicts import TABLE as CONFLICTS

e = html.escape


def build_report(
    path: Path | str, out: Path | str | None = None, *, compare: Path | str | None = None
) -> Path:
    """Write the report of ``path`` (run, folder of runs or sweep) and return its path.

    ``compare`` adds a second run to compare a single run with. Default output:
    ``<path>/report.html``.
    """
    path = Path(path)
    data = open_input(path)
    out = Path(out) if out is not None else path / "report.html"
    if isinstance(data, SweepData):
        title, body = f"Sweep {data.name}", _sweep_body(data)
    else:
        runs = data if isinstance(data, list) else [data]
        if compare is not None:
            runs = [*runs, load_run(compare)]
        title = f"Run {runs[0].name}" if len(runs) == 1 else f"{len(runs)} runs"
        body = _runs_body(runs)
    text = _page(title, body)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


# -- runs ----------------------------------------------------------------------------------
class _RunView:
    """What the report draws from one run: edge KPIs, slices, junction delays."""

    def __init__(self, run: RunData) -> None:
        from mobility.network.net import load_network

        if not run.net_path.is_file():
            msg = (
                f"{run.run_dir}: its network {run.net_path} is gone; the report draws maps "
                "from it. Restore the file or run the scenario again"
            )
            raise ReportError(msg)
        self.run = run
        self.info = load_network(run.net_path).info()
        self.edges = edge_kpis(run)
        self.geometry = [np.asarray(g.coords)[:, :2] for g in self.edges.geometry]
        self.delays = junction_delays(run, self.edges)
        crs = self.edges.crs
        self.crs_note = (
            f"projected coordinates (EPSG:{crs.to_epsg()}), metres"
            if crs is not None and crs.to_epsg()
            else f"projected coordinates ({crs.name}), metres"
            if crs is not None
            else "network coordinates in metres (this network has no geo-reference)"
        )

    def values(self, series: pd.Series) -> np.ndarray:
        return self.edges["edge_id"].map(series).to_numpy(float)


def _runs_body(runs: list[RunData]) -> str:
    views = [_RunView(r) for r in runs]
    first = views[0]
    parts = [_section("What was simulated", _words(first))]
    parts.append(_section("Results", _kpi_table(runs)))
    labels = _labels(runs)
    parts.append(_section("Traffic over time", _plots(views, labels)))
    parts.append(_section("Interactive map", _interactive(first)))
    parts.append(_section("Maps", _maps(first, labels[0])))
    if len(views) > 1:
        parts.append(_section("Comparison", _comparison(views[0], views[1], labels[:2])))
    parts.append(_section("Shuttles", _shuttles(views[:2], labels[:2])))
    counts = counts_section(first.run.run_dir, first.run.kpis)
    if counts:
        parts.append(_section("Traffic counts", counts))
    if any(has_safety(v) for v in views[:2]):
        parts.append(_section("Safety", safety_section(views[:2], labels[:2])))
    parts.append(_section("Reproducibility", _provenance(runs)))
    return "\n".join(parts)


def _interactive(view: _RunView) -> str:
    """Pan, zoom and hover over the first run's roads (see mobility.report.interactive)."""
    stops = stop_places(view.run.run_dir, view.edges)
    data = map_data(
        view.edges,
        edge_slices(view.run),
        view.delays,
        stops=stops,
        counts=count_sites(view.run.run_dir),
        conflicts=read_table(view.run.run_dir / CONFLICTS) if has_safety(view) else None,
        paths=line_paths(view.run.run_dir),
    )
    note = (
        "<p>Drag to pan, scroll or use +/− to zoom, hover a road for its KPIs; the slider "
        "steps through time, the box at the top right switches layers. Drawn from the "
        f"network file ({e(view.crs_note)}); no map tiles, works offline.</p>"
    )
    return note + interactive_map(data)


def _labels(runs: list[RunData]) -> list[str]:
    labels = [r.label for r in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{r.label} [{r.run_dir.name}]" for r in runs]
    return labels


def _words(view: _RunView) -> str:
    lines = scenario_words(view.run.spec, view.run.meta, view.info)
    return "<ul class='words'>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"


def _kpi_table(runs: list[RunData]) -> str:
    declared = all_kpis()
    found = list(dict.fromkeys(k for r in runs for k in r.kpis))
    # declared KPIs in declaration order, then the rest (per fleet, per load) as the run has them
    keys = [k for k in declared if k in found] + [k for k in found if k not in declared]
    head = "".join(f"<th>{e(lab)}</th>" for lab in _labels(runs))
    if len(runs) == 2:
        head += "<th>difference</th>"
    rows = []
    for key in keys:
        values = [r.kpis.get(key) for r in runs]
        cells = "".join(f"<td>{fmt(v)}</td>" for v in values)
        if len(runs) == 2:
            cells += _diff_cell(key, values[0], values[1])
        rows.append(
            f"<tr><th title='{e(key)}'>{e(describe(key))}<br><code>{e(key)}</code></th>{cells}</tr>"
        )
    return (
        "<table class='kpis'><thead><tr><th>KPI</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _diff_cell(key: str, a: Any, b: Any) -> str:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return "<td>–</td>"
    if math.isnan(a) or math.isnan(b):
        return "<td>–</td>"
    diff = b - a
    pct = f" ({diff / a:+.0%})" if a else ""
    way = better(key)
    cls = "" if diff == 0 or not way else "good" if (diff < 0) == (way == "low") else "bad"
    return f"<td class='{cls}'>{diff:+,.2f}{pct}</td>"


def _plots(views: list[_RunView], labels: list[str]) -> str:
    shown = dict(zip(labels[:2], views[:2], strict=False))
    timelines = {k: v.run.timeline for k, v in shown.items()}
    figs = [
        (
            "vehicles",
            "Vehicles in the network over time",
            F.timeline_plot(timelines, "running", "vehicles driving"),
        ),
        (
            "speed",
            "Mean speed of the vehicles driving",
            F.timeline_plot(timelines, "meanSpeed", "mean speed (m/s)"),
        ),
        (
            "travel-time",
            "How long trips took",
            F.travel_time_plot({k: v.run.trips for k, v in shown.items()}),
        ),
    ]
    if any(len(v.delays) for v in shown.values()):
        figs.append(
            (
                "junction-delay",
                "Delay per signal (vehicles arriving at each traffic light)",
                F.junction_delay_plot({k: v.delays for k, v in shown.items()}),
            )
        )
    return "<div class='grid'>" + "".join(_figure(k, t, f) for k, t, f in figs) + "</div>"


def _figure(kind: str, title: str, fig: Any, cls: str = "plot", extra: str = "") -> str:
    return (
        f"<figure class='{cls}' data-kind='{kind}'{extra}>{F.svg(fig)}"
        f"<figcaption>{e(title)}</figcaption></figure>"
    )


def _maps(view: _RunView, label: str) -> str:
    slices = edge_slices(view.run)
    out = [
        "<p>Roads are drawn from the network file itself; grey roads carried no traffic "
        "in that period. Congestion is the speed driven divided by the speed limit: "
        "1 is free flow, below 0.5 is heavy congestion.</p>"
    ]
    slider = []
    for i, (begin, end, rel) in enumerate(slices):
        fig = F.network_map(
            view.geometry,
            view.values(rel),
            title=f"{label}: {span(begin, end)}",
            label="speed / speed limit",
            cmap="RdYlGn",
            vmin=0.0,
            vmax=1.0,
            crs_note=view.crs_note,
        )
        hidden = "" if i == 0 else " hidden"
        slider.append(
            _figure(
                "congestion",
                f"Congestion, {span(begin, end)}",
                fig,
                cls="map slice",
                extra=f" data-i='{i}'{hidden}",
            )
        )
    if slices:
        out.append(
            "<div class='slider'><label>time slice <input type='range' id='slice-range' "
            f"min='0' max='{len(slices) - 1}' value='0' step='1'></label> "
            "<span id='slice-label'></span></div>"
        )
    maps = ["<div class='slices'>" + "".join(slider) + "</div>"]
    if "co2_g_per_m" in view.edges:
        co2 = view.edges["co2_g_per_m"].to_numpy(float)
        top = float(np.nanquantile(co2, 0.98)) if np.isfinite(co2).any() else 1.0
        fig = F.network_map(
            view.geometry,
            co2,
            title=f"{label}: CO2 per metre of road",
            label="CO2 (g per m of road, whole run)",
            cmap="YlOrRd",
            vmin=0.0,
            vmax=max(top, 1e-9),
            crs_note=view.crs_note,
        )
        maps.append(_figure("co2", "CO2 emitted on each road", fig, cls="map"))
    d = view.delays
    fig = _speed_map(
        view,
        f"{label}: traffic lights and their delay",
        points=(
            d["x"].to_numpy(float),
            d["y"].to_numpy(float),
            d["delay_per_vehicle_s"].to_numpy(float),
        ),
        points_label="traffic light (circle size: delay per vehicle)",
    )
    maps.append(
        _figure("signals", "Signalised junctions, circle size = delay per vehicle", fig, cls="map")
    )
    if _has_shuttles(view.run):
        maps.append(_shuttle_map(view, label))
    return "".join(out) + "<div class='grid'>" + "".join(maps) + "</div>"


def _comparison(a: _RunView, b: _RunView, labels: list[str]) -> str:
    ra = a.edges.set_index("edge_id")["speed_relative"]
    rb = b.edges.set_index("edge_id")["speed_relative"]
    diff = a.values(rb - ra)
    span = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
    fig = F.network_map(
        a.geometry,
        diff,
        title=f"{labels[1]} minus {labels[0]}",
        label="change in speed / speed limit (green: faster)",
        cmap="RdYlGn",
        vmin=-max(span, 1e-6),
        vmax=max(span, 1e-6),
        crs_note=a.crs_note,
    )
    text = (
        f"<p>Side by side: <b>{e(labels[0])}</b> (A) and <b>{e(labels[1])}</b> (B). "
        "The KPI table above gives B − A per KPI (green: B is better). The map shows, per "
        "road, how much closer to the speed limit traffic moved in B than in A.</p>"
    )
    return (
        text
        + "<div class='grid'>"
        + _figure("difference", "Difference map (B − A)", fig, cls="map")
        + "</div>"
    )


def _has_shuttles(run: RunData) -> bool:
    return bool(run.spec.get("shuttles")) or (run.run_dir / "requests.parquet").is_file()


def _shuttles(views: list[_RunView], labels: list[str]) -> str:
    shown = {k: v for k, v in zip(labels, views, strict=False) if _has_shuttles(v.run)}
    if not shown:
        return "<p>This scenario has no shuttles.</p>"
    waits, loads, missing = {}, {}, []
    for label, view in shown.items():
        requests, fleet = view.run.run_dir / "requests.parquet", view.run.run_dir / "fleet.parquet"
        if not requests.is_file() or not fleet.is_file():
            missing.append(label)
            continue
        r = read_table(requests)
        waits[label] = r.loc[r["status"] == "served", "wait_s"].dropna().to_numpy(float)
        f = read_table(fleet)
        cols = sorted(
            (c for c in f.columns if c.startswith("km_load_")),
            key=lambda c: int(c.removeprefix("km_load_")),
        )
        loads[label] = pd.Series(
            {int(c.removeprefix("km_load_")): float(f[c].sum()) for c in cols}, dtype=float
        )
    out = [
        "<p>Shuttle riders ask for a ride; the wait is the time from the request to the "
        "pick-up. Occupancy shows how many kilometres the shuttles drove empty (0) and with "
        "1, 2, ... riders on board. The shuttle KPIs are in the results table above; stops "
        "and depots are on the shuttle map.</p>"
    ]
    if missing:
        out.append(
            f"<p>No shuttle tables (requests.parquet, fleet.parquet) in {e(', '.join(missing))}"
            "; run the scenario again to draw its shuttle plots.</p>"
        )
    figs = []
    if waits:
        served = sum(len(w) for w in waits.values())
        title = "Wait for a shuttle (riders served; dashed: 5 and 10 min)"
        if not served:
            title = "Wait for a shuttle: no rider was served in this run"
        figs.append(("shuttle-wait", title, F.shuttle_wait_plot(waits)))
    if loads:
        figs.append(
            ("shuttle-occupancy", "Shuttle km at each load", F.shuttle_occupancy_plot(loads))
        )
    out.append("<div class='grid'>" + "".join(_figure(k, t, f) for k, t, f in figs) + "</div>")
    for label, view in shown.items():
        table = stops_table(view.run.run_dir)
        out.append(f"<h3>{e(label)}: line stops</h3>{table}" if table else "")
    return "".join(out)


def _shuttle_places(view: _RunView) -> tuple[list, list]:
    """(x, y) of each shuttle stop and depot of the run, on its edge's geometry; the stops
    as the run placed them (a GTFS line's are not in its spec), the spec's where the run
    folder has none."""
    lines = view.edges.set_index("edge_id")
    stops, depots = [], []

    def where(edge: Any, pos: float = -1.0) -> tuple[float, float] | None:
        if edge not in lines.index:
            return None
        geom, length = lines.at[edge, "geometry"], float(lines.at[edge, "length_m"] or 0)
        share = 0.5 if pos is None or pos < 0 or length <= 0 else min(pos / length, 1.0)
        p = geom.interpolate(share, normalized=True)
        return float(p.x), float(p.y)

    for fleet in view.run.spec.get("shuttles") or []:
        if not isinstance(fleet, dict):
            continue
        for d in fleet.get("depots") or []:
            xy = where(d.get("edge"))
            if xy:
                depots.append(xy)
        for s in fleet.get("stops") or []:
            xy = where(s.get("edge"), float(s.get("pos", -1.0)))
            if xy:
                stops.append(xy)
    placed = line_stops(view.run.run_dir)
    if not placed.empty:
        stops = [xy for r in placed.itertuples() if (xy := where(r.edge, r.pos))]
    return stops, depots


def _shuttle_map(view: _RunView, label: str) -> str:
    stops, depots = _shuttle_places(view)
    if not stops and not depots:
        return ""
    markers = [
        (
            np.array([p[0] for p in places]),
            np.array([p[1] for p in places]),
            marker,
            colour,
            name,
        )
        for places, marker, colour, name in (
            (stops, "s", "#1f77b4", "shuttle stop"),
            (depots, "^", "#ff7f0e", "shuttle depot"),
        )
    ]
    fig = _speed_map(view, f"{label}: shuttle stops and depots", markers=markers)
    return _figure("shuttle-map", "Shuttle stops and depots", fig, cls="map")


def _speed_map(view: Any, title: str, **overlay: Any) -> Any:
    """The network coloured by its whole-run speed over speed limit, under an overlay."""
    speed = view.edges.set_index("edge_id")["speed_relative"]
    return F.network_map(
        view.geometry,
        view.values(speed),
        title=title,
        label="speed / speed limit (whole run)",
        cmap="RdYlGn",
        vmin=0.0,
        vmax=1.0,
        crs_note=view.crs_note,
        **overlay,
    )


def _provenance(runs: list[RunData]) -> str:
    rows = []
    for r in runs:
        versions = ", ".join(f"{k} {v}" for k, v in sorted(r.meta.get("versions", {}).items()))
        rows.append(
            f"<tr><td>{e(r.label)}</td><td><code>{e(str(r.run_dir))}</code></td>"
            f"<td><code>{e(str(r.meta.get('spec_hash', ''))[:12])}</code></td>"
            f"<td>{e(versions)}</td></tr>"
        )
    return (
        "<table><thead><tr><th>run</th><th>folder</th><th>spec hash</th><th>versions</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


# -- sweeps --------------------------------------------------------------------------------
def _sweep_body(sweep: SweepData) -> str:
    s = sweep.summary
    ok = sweep.rows[sweep.rows["status"] == "ok"]
    seeds = sorted(ok["seed"].unique()) if "seed" in ok else []
    intro = (
        f"<p>Sweep <b>{e(sweep.name)}</b> varied {e(', '.join(sweep.params) or 'nothing')} "
        f"over {s['variant'].nunique()} variants, each with {len(seeds)} seed(s) "
        f"({e(', '.join(map(str, seeds)))}). {len(ok)} runs finished, {len(sweep.failed)} "
        f"failed, {len(sweep.missing)} never ran. Means are over seeds; the interval is a "
        "95 % confidence interval (Student t); ★ marks the best variant per KPI.</p>"
    )
    parts = [_section("What was swept", intro + _failures(sweep))]
    parts.append(_section("Variants", _variant_table(sweep)))
    parts.append(_section("KPIs against the swept parameter", _param_plots(sweep)))
    best, base = _best_and_base(sweep)
    have = [v for v in dict.fromkeys(s["variant"]) if sweep.variant_runs.get(v)]
    other = best if best != base else next((v for v in have if v != base), None)
    if base is not None and other is not None:
        a, b = load_run(sweep.variant_runs[base][0]), load_run(sweep.variant_runs[other][0])
        va, vb = _RunView(a), _RunView(b)
        labels = [
            f"{base} (A, seed {a.meta.get('seed')})",
            f"{other} (B, seed {b.meta.get('seed')})",
        ]
        what = "the best" if other == best else "the next variant (the first is the best)"
        parts.append(
            _section(
                f"Comparison: first variant against {what}",
                _variant_diff(sweep, base, other) + _comparison(va, vb, labels),
            )
        )
        if has_safety(va) or has_safety(vb):
            parts.append(
                _section("Safety: first variant against it", safety_section([va, vb], labels))
            )
    if best is not None:
        run = load_run(sweep.variant_runs[best][0])
        view = _RunView(run)
        parts.append(
            _section(
                f"The best variant in detail: {_variant_title(sweep, best)}",
                _words(view) + _plots([view], [run.label]) + _maps(view, best),
            )
        )
    return "\n".join(parts)


def _failures(sweep: SweepData) -> str:
    if not sweep.failed and not sweep.missing:
        return ""
    items = "".join(
        f"<li><b>{e(str(f['variant']))}</b>, seed {e(str(f['seed']))} ({e(f['status'])}): "
        f"{e(f['error'][:400])}</li>"
        for f in sweep.failed
    ) + "".join(
        f"<li><b>{e(str(m.get('variant')))}</b>, seed {e(str(m.get('seed')))}: not run yet</li>"
        for m in sweep.missing
    )
    return (
        "<div class='failures'><p>Runs left out of this report (the rest are reported; "
        f"finish them with <code>mobility sweep ... --resume</code>):</p><ul>{items}</ul></div>"
    )


# KPI columns per variants table: five fit a laptop screen (1280 px) without scrolling.
TABLE_KPIS = 5


def _variant_table(sweep: SweepData) -> str:
    """Means and intervals per variant, KPIs labelled with their plain names and units: the
    headline KPIs first, the others in further tables of :data:`TABLE_KPIS` columns folded
    under "more KPIs", so no table is wider than a laptop screen."""
    s = sweep.summary
    headline = headline_kpis()
    kpis = [k for k in headline if k in set(s["kpi"])] + sorted(
        k for k in set(s["kpi"]) if k not in headline
    )
    chunks = [kpis[i : i + TABLE_KPIS] for i in range(0, len(kpis), TABLE_KPIS)]
    tables = [_variant_chunk(sweep, s, chunk) for chunk in chunks]
    more = (
        f"<details class='more-kpis'><summary>{len(kpis) - len(chunks[0])} more KPIs"
        f"</summary>{''.join(tables[1:])}</details>"
        if len(tables) > 1
        else ""
    )
    return (tables[0] if tables else "") + more


def _variant_chunk(sweep: SweepData, s: pd.DataFrame, kpis: list[str]) -> str:
    variants = list(dict.fromkeys(s["variant"]))
    cell = s.set_index(["variant", "kpi"])
    best = {}
    for k in kpis:
        way = better(k)
        means = s[s["kpi"] == k].set_index("variant")["mean"].dropna()
        if way and len(means) > 1:
            best[k] = means.idxmin() if way == "low" else means.idxmax()
    head = "".join(f"<th title='{e(describe(k))}'>{e(heading(k))}</th>" for k in kpis)
    rows = []
    for v in variants:
        cells = []
        for k in kpis:
            if (v, k) not in cell.index:
                cells.append("<td>–</td>")
                continue
            c = cell.loc[(v, k)]
            star = " ★" if best.get(k) == v else ""
            ci = (
                f"<br><small>[{fmt(c['ci_low'])}, {fmt(c['ci_high'])}]</small>"
                if np.isfinite(c["ci_low"])
                else "<br><small>(one seed)</small>"
            )
            cls = " class='best'" if star else ""
            cells.append(f"<td{cls}>{fmt(c['mean'])}{star}{ci}</td>")
        n = int(s[s["variant"] == v]["n"].max())
        rows.append(
            f"<tr><th title='{e(str(v))}'>{_variant_words(sweep, v)}</th><td>{n}</td>"
            f"{''.join(cells)}</tr>"
        )
    return (
        "<div class='wide'><table class='kpis variants'><thead><tr><th>variant</th><th>runs</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _variant_title(sweep: SweepData, variant: str) -> str:
    """A variant in plain words for a heading (``controller: max_pressure, vehicles per
    hour: 1200``): the raw label has no spaces to wrap at and overflows a laptop screen."""
    from mobility.experiment.store import param_column

    rows = sweep.rows[sweep.rows["variant"] == variant]
    words = [
        f"{p.rpartition('.')[2].replace('_', ' ')}: {_short_value(rows[c].iloc[0])}"
        for p in sweep.params
        if (c := param_column(p)) in rows and len(rows)
    ]
    return ", ".join(words) or str(variant)


def _variant_words(sweep: SweepData, variant: str) -> str:
    """A variant as its parameter values, one per line (``controller: max_pressure``)."""
    from mobility.experiment.store import param_column

    rows = sweep.rows[sweep.rows["variant"] == variant]
    lines = [
        f"{e(p.rpartition('.')[2].replace('_', ' '))}: <b>{e(_short_value(rows[c].iloc[0]))}</b>"
        for p in sweep.params
        if (c := param_column(p)) in rows and len(rows)
    ]
    return "<br>".join(lines) if lines else e(str(variant))


def _param_plots(sweep: SweepData) -> str:
    """Each headline KPI against the first numeric swept parameter: one line per value of
    the other parameters (one panel per value of a third, and lines for the rest)."""
    from mobility.experiment.store import param_column

    s = sweep.summary
    kpis = [k for k in headline_kpis() if k in set(s["kpi"])][:6]
    rows = sweep.rows[sweep.rows["status"] == "ok"]
    cols = {p: param_column(p) for p in sweep.params if param_column(p) in rows}
    values = rows.groupby("variant")[list(cols.values())].first() if cols else None
    x = next((p for p, c in cols.items() if pd.api.types.is_numeric_dtype(rows[c])), None)
    figs = []
    for k in kpis:
        if x is None or values is None:
            fig = F.kpi_bars_plot(s, k, heading(k))
        else:
            frame, panel_label = _lines_frame(s[s["kpi"] == k], values, cols, x)
            fig = F.kpi_lines_plot(
                frame, xlabel=param_words(x), ylabel=heading(k), panel_label=panel_label
            )
        figs.append(_figure("sweep-kpi", f"{heading(k)}: {describe(k)}", fig))
    return "<div class='grid'>" + "".join(figs) + "</div>"


def _lines_frame(
    kpi: pd.DataFrame, values: pd.DataFrame, cols: dict[str, str], x: str
) -> tuple[pd.DataFrame, str]:
    """One KPI's summary with x, line and panel per variant (see F.kpi_lines_plot)."""
    others = [p for p in cols if p != x]
    panel_by = others[0] if len(others) > 1 else None
    line_by = [p for p in others if p != panel_by]

    def words(variant: str, params: list[str]) -> str:
        row = values.loc[variant]
        return ", ".join(f"{_plain(p)}: {_short_value(row[cols[p]])}" for p in params)

    frame = kpi.assign(
        x=kpi["variant"].map(values[cols[x]]),
        line=[words(v, line_by) for v in kpi["variant"]],
        panel=[
            _short_value(values.loc[v, cols[panel_by]]) if panel_by else "" for v in kpi["variant"]
        ],
    ).dropna(subset=["x"])
    return frame, (_plain(panel_by) if panel_by else "")


def _plain(path: str) -> str:
    """A swept parameter's last part in words (``demand.fringe_factor`` -> ``fringe factor``)."""
    return path.rpartition(".")[2].replace("_", " ")


def _short_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _best_and_base(sweep: SweepData) -> tuple[str | None, str | None]:
    s = sweep.summary
    have = [v for v in dict.fromkeys(s["variant"]) if sweep.variant_runs.get(v)]
    if not have:
        return None, None
    tt = s[(s["kpi"] == "travel_time_mean_s") & s["variant"].isin(have)].dropna(subset=["mean"])
    best = str(tt.loc[tt["mean"].idxmin(), "variant"]) if len(tt) else have[0]
    return best, have[0]


def _variant_diff(sweep: SweepData, a: str, b: str) -> str:
    m = sweep.summary.pivot_table(index="kpi", columns="variant", values="mean", aggfunc="first")
    rows = "".join(
        f"<tr><th title='{e(describe(k))}'>{e(heading(k))}</th><td>{fmt(m.loc[k, a])}</td>"
        f"<td>{fmt(m.loc[k, b])}</td>{_diff_cell(k, m.loc[k, a], m.loc[k, b])}</tr>"
        for k in m.index
    )
    return (
        "<table class='kpis'><thead><tr><th>KPI (mean over seeds)</th>"
        f"<th>A: {_variant_words(sweep, a)}</th><th>B: {_variant_words(sweep, b)}</th>"
        f"<th>B − A</th></tr></thead><tbody>{rows}</tbody></table>"
    )


# -- page ----------------------------------------------------------------------------------
def _section(title: str, body: str) -> str:
    anchor = "".join(c if c.isalnum() else "-" for c in title.lower())
    return f"<section id='{anchor}'><h2>{e(title)}</h2>{body}</section>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1em 2em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}th,td{padding:.3em .6em;border-bottom:1px solid #eee;
text-align:right;vertical-align:top}th:first-child{text-align:left}thead th{background:#f5f5f5}
td.good{color:#137333;font-weight:600}td.bad{color:#b3261e;font-weight:600}
td.best{background:#e6f4ea}.grid{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;flex:1 1 420px;max-width:560px}figure svg{width:100%;height:auto}
figcaption{font-size:.85em;color:#555;text-align:center}.wide{overflow-x:auto}
table.variants{width:100%}table.variants td small{white-space:nowrap}
.failures{background:#fff4e5;border-left:4px solid #f29900;padding:.3em 1em}
.slices{flex:1 1 420px;max-width:560px}.slices figure{max-width:none}
.slider{margin:.5em 0}code{font-size:.85em;color:#555}.words li{margin:.2em 0}
"""
JS = """
(function(){
  var range=document.getElementById('slice-range');
  if(!range){return;}
  var slices=document.querySelectorAll('.slices .slice');
  var label=document.getElementById('slice-label');
  function show(i){
    slices.forEach(function(el){el.hidden=(el.dataset.i!==String(i));});
    var cap=slices[i].querySelector('figcaption');
    label.textContent=cap?cap.textContent:'';
  }
  range.addEventListener('input',function(){show(range.value);});
  show(0);
})();
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} – mobility report</title><style>{CSS}</style></head><body>"
        f"<h1>{e(title)}</h1>"
        "<p class='lede'>A microsimulation with Eclipse SUMO: every vehicle is simulated "
        "individually on the road network below. This page was written by "
        "<code>mobility report</code> and works offline.</p>"
        f"{body}<script>{JS}</script></body></html>\n"
    )
