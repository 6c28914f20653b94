"""The report's interactive map: pan, zoom, hover, a time slider and layers, fully offline.

Drawn with Leaflet (BSD-2-Clause, https://leafletjs.com), inlined from the ``xstatic-leaflet``
package: a well-kept library (the OpenStreetMap site's own) whose ``CRS.Simple`` draws the
net's own projected metres with no tiles, and whose canvas renderer hit-tests thousands of
roads for hover. The package (rather than a copy committed here) keeps the library and its
licence notice versioned by pip; its ``@preserve`` header stays in the inlined code. Its few
CSS icons become data URIs, so nothing is fetched when the report is opened.

What the map holds is one JSON document (:func:`map_data`): coordinates rounded to 0.1 m
and relative to the net's south-west corner, values rounded to what a reader can see, so a
5,000-road net stays well under 5 MB (see ``tests/test_report_map*.py``).
"""

from __future__ import annotations

import base64
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mobility.report.words import span

ROUND_M = 1  # decimals of a coordinate (0.1 m)
MOST_CONFLICTS = 10_000  # drawn at most (~0.7 MB): collisions, brakings, then lowest TTC


@functools.cache
def leaflet() -> tuple[str, str]:
    """Leaflet's JS and CSS from the xstatic-leaflet package, icons inlined as data URIs."""
    import xstatic.pkg.leaflet as pkg

    data = Path(pkg.BASE_DIR)
    js = (data / "leaflet.js").read_text(encoding="utf-8")
    js = js.replace("//# sourceMappingURL=leaflet.js.map", "")
    # The attribution link (not shown: attributionControl is off) written as the same JS
    # string with "\/": the page then names no online address, as the report tests demand.
    js = js.replace('href="https://leafletjs.com"', 'href="https:\\/\\/leafletjs.com"')
    css = (data / "leaflet.css").read_text(encoding="utf-8")
    for image in sorted((data / "images").glob("*.png")):
        uri = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
        css = css.replace(f"url(images/{image.name})", f"url({uri})")
    return js, css


def _num(values: Any, digits: int) -> list[float | None]:
    """Numbers rounded for the page; NaN (no traffic) as null."""
    out = []
    for v in np.asarray(values, dtype=float):
        out.append(None if not math.isfinite(v) else round(float(v), digits))
    return out


def map_data(
    edges: pd.DataFrame,
    slices: list[tuple[float, float, pd.Series]],
    signals: pd.DataFrame,
    *,
    stops: list[tuple[float, float, str]] = (),
    counts: pd.DataFrame | None = None,
    conflicts: pd.DataFrame | None = None,
    paths: list[tuple[str, list[str]]] = (),
) -> dict[str, Any]:
    """Everything the map draws, as plain JSON: roads (geometry, id, name, whole-run KPIs),
    congestion per time slice, signals with their delay, shuttle stops, count sites and
    the safety run part's conflicts (collisions, emergency brakings), shuttle lines' paths."""
    geoms = [np.asarray(g.coords)[:, :2] for g in edges.geometry]
    allxy = np.vstack(geoms) if geoms else np.zeros((1, 2))
    x0, y0 = allxy.min(axis=0)
    x1, y1 = allxy.max(axis=0)

    def xy(points: np.ndarray) -> list[float]:
        return [round(float(v), ROUND_M) for v in (points - (x0, y0)).ravel()]

    ids = edges["edge_id"].astype(str).tolist()
    column = lambda name: edges[name] if name in edges else pd.Series(np.nan, index=edges.index)  # noqa: E731
    data: dict[str, Any] = {
        "size": [round(float(x1 - x0), 1), round(float(y1 - y0), 1)],
        "edges": {
            "id": ids,
            "name": edges["name"].fillna("").astype(str).tolist() if "name" in edges else [],
            "xy": [xy(g) for g in geoms],
            "vehicles": _num(column("entered"), 0),
            "speed": _num(column("speed_relative"), 2),
            "co2": _num(column("co2_g_per_m"), 2),
            "loss": _num(column("time_loss_s") / column("left").where(column("left") > 0), 1),
        },
        "slices": [
            {
                "label": span(b, e),
                "begin": float(b),
                "end": float(e),
                "speed": _num(edges["edge_id"].map(rel), 2),
            }
            for b, e, rel in slices
        ],
        "signals": [
            [*xy(np.array([[r.x, r.y]])), str(r.junction_id), _num([r.delay_per_vehicle_s], 1)[0]]
            for r in signals.itertuples()
        ],
        "stops": [[*xy(np.array([p[:2]])), *p[2:]] for p in stops],
        "counts": [],
        "conflicts": _conflict_points(conflicts, xy) if conflicts is not None else [],
        "paths": [],
    }
    index = {edge: i for i, edge in enumerate(ids)}
    for line, route in paths:
        data["paths"].append([line, [index[edge] for edge in route if edge in index]])
    if counts is not None and len(counts):
        mids = {
            i: g.interpolate(0.5, normalized=True) for i, g in zip(ids, edges.geometry, strict=True)
        }
        for r in counts.itertuples():
            mid = mids.get(str(r.edge_id))
            if mid is None:
                continue
            data["counts"].append(
                [
                    *xy(np.array([[mid.x, mid.y]])),
                    str(r.edge_id),
                    span(r.interval_begin, r.interval_end),
                    float(r.counted),
                    float(r.simulated),
                    round(float(r.geh), 2),
                ]
            )
    return data


def _conflict_points(table: pd.DataFrame, xy: Any) -> list[list[Any]]:
    """One entry per row of ``conflicts.parquet`` placed on the net: x, y, time (s), kind,
    conflict type, vehicle classes, min TTC (s), PET (s), max DRAC (m/s^2), decel (m/s^2);
    beyond :data:`MOST_CONFLICTS`, the most severe (so a long city run stays under 5 MB)."""
    placed = table[np.isfinite(table["x"].astype(float)) & np.isfinite(table["y"].astype(float))]
    if len(placed) > MOST_CONFLICTS:
        rank = placed["kind"].map({"collision": 0, "emergency_braking": 1}).fillna(2)
        order = placed.assign(_rank=rank).sort_values(["_rank", "min_ttc"], na_position="last")
        placed = order.head(MOST_CONFLICTS).sort_index()
    out = []
    for r in placed.itertuples():
        pair = str(r.ego_class) + (f" / {r.foe_class}" if r.foe_class else "")
        out.append(
            [
                *xy(np.array([[r.x, r.y]])),
                round(float(r.time), 1),
                str(r.kind),
                str(r.conflict_type or ""),
                pair,
                *_num([r.min_ttc, r.pet, r.max_drac, r.decel], 2),
            ]
        )
    return out


def line_paths(run_dir: Path) -> list[tuple[str, list[str]]]:
    """Each shuttle line's distinct paths (line, edges), from the run's ``shuttles.rou.xml``
    (a GTFS line's trips may take several)."""
    import sumolib

    path = run_dir / "shuttles.rou.xml"
    if not path.is_file():
        return []
    seen: dict[tuple[str, tuple[str, ...]], None] = {}
    for vehicle in sumolib.xml.parse(str(path), "vehicle"):
        if vehicle.route and vehicle.line:
            seen[(vehicle.line, tuple(vehicle.route[0].edges.split()))] = None
    return [(line, list(edges)) for line, edges in seen]


def stop_places(run_dir: Path, edges: pd.DataFrame) -> list[tuple[float, float, str]]:
    """(x, y, "id name") of every busStop the run loaded (shuttle lines, GTFS transit), from
    the additional files in its folder: the stops as SUMO placed them, not as the spec named
    them (a GTFS line's stops exist only there)."""
    import sumolib

    lines = edges.set_index("edge_id")
    places = []
    for name in ("shuttles.add.xml", "transit.stops.add.xml"):
        path = run_dir / name
        if not path.is_file():
            continue
        for stop in sumolib.xml.parse(str(path), "busStop"):
            edge = stop.lane.rsplit("_", 1)[0]
            if edge not in lines.index:
                continue
            geom, length = lines.at[edge, "geometry"], float(lines.at[edge, "length_m"] or 0)
            mid = (float(stop.startPos) + float(stop.endPos)) / 2
            p = geom.interpolate(min(mid / length, 1.0) if length > 0 else 0.5, normalized=True)
            label = f"{stop.id} {stop.attr_name or ''}".strip()
            places.append((float(p.x), float(p.y), label))
    return places


def interactive_map(data: dict[str, Any]) -> str:
    """The map's HTML: Leaflet and its CSS inline, the data as JSON, the code that draws."""
    js, css = leaflet()
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        f"<style>{css}{MAP_CSS}</style>"
        "<div class='imap'><div id='imap' role='application' aria-label='interactive map'>"
        "</div><div class='imap-bar'><label>time slice <input type='range' id='imap-range' "
        "min='0' value='0' step='1'></label> <span id='imap-label'></span>"
        "<span class='imap-legend'></span></div></div>"
        f"<script type='application/json' id='imap-data'>{payload}</script>"
        f"<script>{js}</script><script>{MAP_JS}</script>"
    )


MAP_CSS = """
.imap{margin:.5em 0 1em}#imap{height:520px;background:#fafafa;border:1px solid #ddd}
.imap-bar{margin:.4em 0;font-size:.9em}.imap-legend{margin-left:1em;color:#555}
.leaflet-tooltip{font-size:12px;line-height:1.35}
"""

# Hand-written (no library draws a SUMO net's KPIs): build the layers from the JSON document,
# colour roads per time slice, open a tooltip per road, circle markers for points.
MAP_JS = r"""
(function () {
  var el = document.getElementById('imap');
  if (!el || !window.L) { return; }
  var D = JSON.parse(document.getElementById('imap-data').textContent);
  var E = D.edges, n = E.id.length, slice = 0;
  var map = L.map(el, {crs: L.CRS.Simple, preferCanvas: true, minZoom: -12, maxZoom: 6,
                       zoomSnap: 0.25, attributionControl: false});
  var renderer = L.canvas({tolerance: 4});
  function ll(a, i) { return [a[i + 1], a[i]]; }
  function mix(c1, c2, t) {
    var r = c1.map(function (v, i) { return Math.round(v + (c2[i] - v) * t); });
    return 'rgb(' + r.join(',') + ')';
  }
  var RED = [215, 48, 39], YEL = [254, 224, 139], GRN = [26, 152, 80], PALE = [255, 255, 178];
  function congestion(v) {
    if (v === null || v === undefined) { return '#bbbbbb'; }
    v = Math.max(0, Math.min(1, v));
    return v < 0.5 ? mix(RED, YEL, v / 0.5) : mix(YEL, GRN, (v - 0.5) / 0.5);
  }
  var co2s = E.co2.filter(function (v) { return v !== null; });
  co2s.sort(function (a, b) { return a - b; });
  var co2top = co2s.length ? co2s[Math.floor(0.98 * (co2s.length - 1))] || 1 : 1;
  function co2colour(v) {
    if (v === null) { return '#bbbbbb'; }
    return mix(PALE, RED, Math.min(1, v / co2top));
  }
  function fmt(v, unit) { return v === null || v === undefined ? '–' : v + (unit || ''); }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) {
    return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; }); }
  function sliceSpeed(i) { return D.slices.length ? D.slices[slice].speed[i] : E.speed[i]; }
  function tip(i) {
    return '<b>' + esc(E.id[i]) + '</b>' + (E.name[i] ? ' ' + esc(E.name[i]) : '') +
      '<br>speed / limit: ' + fmt(sliceSpeed(i)) +
      (D.slices.length ? ' (' + esc(D.slices[slice].label) + ')' : '') +
      '<br>vehicles (whole run): ' + fmt(E.vehicles[i]) +
      '<br>delay per vehicle: ' + fmt(E.loss[i], ' s') +
      '<br>CO2: ' + fmt(E.co2[i], ' g/m');
  }
  function roads(colour, weight) {
    var group = L.layerGroup(), lines = [];
    for (var i = 0; i < n; i++) {
      var a = E.xy[i], pts = [];
      for (var k = 0; k < a.length; k += 2) { pts.push(ll(a, k)); }
      var line = L.polyline(pts, {renderer: renderer, color: colour(i), weight: weight,
                                  opacity: 0.9});
      line.bindTooltip(tip.bind(null, i), {sticky: true});
      line.edgeIndex = i;
      lines.push(line);
      group.addLayer(line);
    }
    group.lines = lines;
    return group;
  }
  var layers = {};
  layers.congestion = roads(function (i) { return congestion(sliceSpeed(i)); }, 4);
  layers.co2 = roads(function (i) { return co2colour(E.co2[i]); }, 4);
  function points(list, style, text) {
    var group = L.layerGroup();
    list.forEach(function (p) {
      var m = L.circleMarker([p[1], p[0]], Object.assign({renderer: renderer}, style(p)));
      m.bindTooltip(text(p));
      group.addLayer(m);
    });
    return group;
  }
  layers.signals = points(D.signals, function (p) {
    return {radius: 4 + Math.min(12, (p[3] || 0) / 5), color: '#333', weight: 1,
            fillColor: '#6a51a3', fillOpacity: 0.7};
  }, function (p) { return 'traffic light <b>' + esc(p[2]) + '</b><br>delay per vehicle: ' +
                           fmt(p[3], ' s'); });
  layers.stops = points(D.stops, function () {
    return {radius: 5, color: '#1f77b4', weight: 2, fillColor: '#fff', fillOpacity: 1};
  }, function (p) { return 'stop <b>' + esc(p[2] || '') + '</b>'; });
  layers.counts = points(D.counts, function (p) {
    return {radius: 6, color: '#222', weight: 1, fillOpacity: 0.9,
            fillColor: p[6] < 5 ? '#1a9850' : '#d73027'};
  }, function (p) { return 'count site <b>' + esc(p[2]) + '</b> (' + esc(p[3]) + ')<br>counted ' +
                           p[4] + ', simulated ' + p[5] + '<br>GEH ' + p[6]; });
  // conflicts of the safety run part: those of the time slice shown (all without slices),
  // collisions red, emergency brakings orange, conflicts purple sized by severity (TTC)
  var KIND = {collision: '#d73027', emergency_braking: '#fc8d59', conflict: '#762a83'};
  layers.conflicts = L.layerGroup();
  function conflictTip(p) {
    var type = p[4] ? ' <b>' + esc(p[4].replace('_', ' ')) + '</b>' : '';
    return esc(p[3].replace('_', ' ')) + type + ' at ' + fmt(p[2], ' s') + '<br>' + esc(p[5]) +
      (p[6] !== null ? '<br>min TTC: ' + fmt(p[6], ' s') : '') +
      (p[7] !== null ? '<br>PET: ' + fmt(p[7], ' s') : '') +
      (p[8] !== null ? '<br>max DRAC: ' + fmt(p[8], ' m/s²') : '') +
      (p[9] !== null ? '<br>deceleration: ' + fmt(p[9], ' m/s²') : '');
  }
  function showConflicts() {
    layers.conflicts.clearLayers();
    var s = D.slices.length ? D.slices[slice] : null;
    D.conflicts.forEach(function (p) {
      if (s && (p[2] < s.begin || p[2] >= s.end)) { return; }
      var ttc = p[6] === null ? 1.5 : p[6];
      var m = L.circleMarker([p[1], p[0]], {renderer: renderer, color: '#222', weight: 1,
        radius: 4 + 6 * Math.max(0, 1.5 - ttc) / 1.5, fillColor: KIND[p[3]] || '#762a83',
        fillOpacity: 0.85});
      m.bindTooltip(conflictTip(p));
      layers.conflicts.addLayer(m);
    });
  }
  // shuttle lines' paths: a wide pale band under the roads (drawn first), not hoverable
  layers.paths = L.layerGroup();
  D.paths.forEach(function (p) {
    p[1].forEach(function (i) {
      var a = E.xy[i], pts = [];
      for (var k = 0; k < a.length; k += 2) { pts.push(ll(a, k)); }
      layers.paths.addLayer(L.polyline(pts, {renderer: renderer, color: '#1f77b4', weight: 12,
                                             opacity: 0.3, interactive: false}));
    });
  });
  if (D.paths.length) { layers.paths.addTo(map); }
  layers.congestion.addTo(map);
  layers.signals.addTo(map);
  if (D.counts.length) { layers.counts.addTo(map); }
  if (D.stops.length) { layers.stops.addTo(map); }
  var base = {'Congestion (speed / speed limit)': layers.congestion,
              'CO2 per metre of road': layers.co2};
  var over = {'Traffic lights (delay)': layers.signals};
  if (D.paths.length) { over['Shuttle lines'] = layers.paths; }
  if (D.stops.length) { over['Shuttle and bus stops'] = layers.stops; }
  if (D.counts.length) { over['Count sites (GEH)'] = layers.counts; }
  if (D.conflicts.length) {
    layers.conflicts.addTo(map);
    var most = D.conflicts.length >= 10000 ? ', the 10,000 most severe' : '';
    over['Conflicts (safety, this time slice' + most + ')'] = layers.conflicts;
  }
  L.control.layers(base, over, {collapsed: false}).addTo(map);
  L.control.scale({imperial: false}).addTo(map);
  map.fitBounds([[0, 0], [D.size[1], D.size[0]]], {padding: [10, 10]});
  var range = document.getElementById('imap-range');
  var label = document.getElementById('imap-label');
  function show(i) {
    slice = Math.max(0, Math.min(D.slices.length - 1, i));
    label.textContent = D.slices.length ? D.slices[slice].label : 'whole run';
    layers.congestion.lines.forEach(function (line) {
      line.setStyle({color: congestion(sliceSpeed(line.edgeIndex))});
    });
    showConflicts();
  }
  range.max = String(Math.max(0, D.slices.length - 1));
  range.disabled = D.slices.length < 2;
  range.addEventListener('input', function () { show(Number(range.value)); });
  show(0);
  window.mobilityMap = {map: map, layers: layers, data: D, show: show};
})();
"""
