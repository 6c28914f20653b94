"""Per-edge and per-junction KPIs of a run, on the network's geometry, and GeoPackage export.

``edges.parquet`` holds SUMO's edgedata per interval; here it is reduced to one row per road
(whole run) or kept per interval (time slices of the congestion map). Delay at a junction
is the time lost on the roads that enter it (SUMO's ``timeLoss`` per edge), divided by the
vehicles that left those roads: the delay of the approach, the usual measure for a signal.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from mobility.network.geo import edges_frame, junctions_frame, write_geopackage
from mobility.report.load import RunData

MG_PER_G = 1e3


def weighted_by_edge(frame: pd.DataFrame, column: str) -> pd.Series:
    """Per edge (sorted ids): ``column`` averaged with weights ``sampledSeconds``, over the
    rows where it is known and the weight positive; NaN for an edge without such a row.

    Vectorised (two grouped sums) rather than a Python call per edge: at city size the
    per-edge ``groupby.apply`` was most of the report's time."""
    edges = frame.groupby("edge_id").size().index
    weights = frame["sampledSeconds"]
    used = frame[column].notna() & (weights > 0)
    keys = frame.loc[used, "edge_id"]
    total = (frame.loc[used, column] * weights[used]).groupby(keys).sum()
    mean = total / weights[used].groupby(keys).sum()
    return mean.reindex(edges)


def edge_kpis(run: RunData, net: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """One row per road: geometry, attributes and the run's KPIs over the whole run."""
    net = edges_frame(run.net_path) if net is None else net
    e = run.edges
    grouped = e.groupby("edge_id")
    table = pd.DataFrame(
        {
            "sampled_s": grouped["sampledSeconds"].sum(),
            "entered": grouped["entered"].sum(),
            "left": grouped["left"].sum(),
            "time_loss_s": grouped["timeLoss"].sum(),
            "waiting_s": grouped["waitingTime"].sum(),
            "flow_veh_h": grouped["flow"].mean(),
            "density_veh_km": grouped["density"].mean(),
        }
    )
    table["speed_mps"] = weighted_by_edge(e, "speed")
    table["speed_relative"] = weighted_by_edge(e, "speedRelative")
    if "CO2_abs" in e:
        table["co2_kg"] = grouped["CO2_abs"].sum() / 1e6
    out = net.merge(table, left_on="edge_id", right_index=True, how="left")
    if "co2_kg" in out:
        out["co2_g_per_m"] = out["co2_kg"] * 1e3 / out["length_m"]
    return out


def edge_slices(run: RunData, *, most: int = 12) -> list[tuple[float, float, pd.Series]]:
    """Speed over free speed per edge for each time slice (merged to at most ``most``)."""
    e = run.edges
    begins = np.sort(e["interval_begin"].unique())
    groups = np.array_split(begins, min(most, len(begins))) if len(begins) else []
    slices = []
    for group in groups:
        part = e[e["interval_begin"].isin(group)]
        rel = weighted_by_edge(part, "speedRelative")
        slices.append((float(group[0]), float(part["interval_end"].max()), rel))
    return slices


def junction_delays(run: RunData, edges: gpd.GeoDataFrame) -> pd.DataFrame:
    """Delay per vehicle on the approaches of each signalised junction, with its position."""
    junctions = junctions_frame(run.net_path)
    signalised = junctions[junctions["signalised"]]
    approach = edges.groupby("to_junction")[["time_loss_s", "left"]].sum()
    frame = signalised.merge(approach, left_on="junction_id", right_index=True, how="left")
    frame["delay_per_vehicle_s"] = frame["time_loss_s"] / frame["left"].where(frame["left"] > 0)
    frame["delay_veh_h"] = frame["time_loss_s"] / 3600.0
    frame["x"] = frame.geometry.x
    frame["y"] = frame.geometry.y
    return pd.DataFrame(frame.drop(columns="geometry"))


def export_gpkg(run: RunData, out: Path | str) -> list[str]:
    """Edges with their KPIs as a GeoPackage: layer ``edges`` in the net's CRS, and
    ``edges_wgs84`` in longitude/latitude when the net is geo-referenced."""
    return write_geopackage({"edges": edge_kpis(run)}, out)
