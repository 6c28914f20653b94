"""Write the synthetic inputs of ``experiments/west_oakland_city.yaml``: zones, a GTFS feed
and traffic counts for the bundled West Oakland extract.

Nothing here is real data about West Oakland beyond its streets (OpenStreetMap): the zones
are three bands of longitude, the bus line and its timetable are made up along 8th Street,
and the counts are what a "truth" run of OD flows between the zones produced (vehicles per
edge and 10 minutes at 12 count sites). They exist so the example and the tests show the
whole chain (counts -> routes, zones from GIS, GTFS -> buses) offline.

    PYTHONPATH=. python experiments/data/west-oakland/make_data.py
"""

from __future__ import annotations

import tempfile
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import yaml
from shapely.geometry import box

HERE = Path(__file__).resolve().parent
OSM = HERE.parents[2] / "networks" / "west-oakland" / "west-oakland.osm.bz2"
BEGIN, END, SLICE = 28200, 30600, 600  # 07:50-08:30, counts per 10 minutes
CUTS = (-122.3010, -122.2960)  # zone borders (longitude)
SITES = 12  # count sites: the busiest roads of the truth run


def zones() -> Path:
    west, east = -122.32, -122.28
    shapes = [
        box(west, 37.80, CUTS[0], 37.82),
        box(*(CUTS[0], 37.80, CUTS[1], 37.82)),
        box(CUTS[1], 37.80, east, 37.82),
    ]
    frame = gpd.GeoDataFrame(
        {"name": ["west", "central", "east"]}, geometry=shapes, crs="EPSG:4326"
    )
    path = HERE / "zones.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def clock(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def feed() -> Path:
    stops = [
        ("s1", "8th St & Wood St", 37.80841, -122.30274),
        ("s2", "8th St & Union St", 37.80787, -122.30125),
        ("s3", "8th St & Chester St", 37.80650, -122.29500),
    ]
    trips, times = (
        ["route_id,service_id,trip_id"],
        ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"],
    )
    for i in range(8):  # every 10 minutes from 07:40
        trip, start = f"8_{i}", 7 * 3600 + 40 * 60 + 600 * i
        trips.append(f"8,weekdays,{trip}")
        for k, (stop, dt) in enumerate([("s1", 0), ("s2", 90), ("s3", 240)], start=1):
            times.append(f"{trip},{clock(start + dt)},{clock(start + dt)},{stop},{k}")
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
        "WO,West Oakland Example Transit,https://example.org,America/Los_Angeles\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"{i},{n},{lat},{lon}\n" for i, n, lat, lon in stops),
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
        "8,WO,8,8th Street,3\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
        "start_date,end_date\nweekdays,1,1,1,1,1,0,0,20260101,20271231\n",
        "calendar_dates.txt": "service_id,date,exception_type\n",
        "trips.txt": "\n".join(trips) + "\n",
        "stop_times.txt": "\n".join(times) + "\n",
    }
    path = HERE / "gtfs.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # same bytes each time
            z.writestr(info, text)
    return path


def counts(zones_file: Path) -> Path:
    from mobility import Scenario

    flows = [
        (a, b, 120)
        for a in ("west", "central", "east")
        for b in ("west", "central", "east")
        if a != b
    ]
    truth = {
        "name": "west-oakland-truth",
        "seed": 101,
        "begin": BEGIN,
        "end": END,
        "network": {"type": "osm", "path": str(OSM)},
        "demand": {
            "type": "od",
            "zones": {"file": str(zones_file), "id": "name"},
            "flows": [{"from": a, "to": b, "vehicles_per_hour": v} for a, b, v in flows],
        },
        "outputs": {"edgedata_period": SLICE, "emissions": False},
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "truth.yaml"
        spec.write_text(yaml.safe_dump(truth))
        run = Scenario.from_yaml(spec).run(Path(tmp) / "runs").run_dir
        edges = pq.read_table(run / "edges.parquet").to_pandas()
    edges["count"] = edges["entered"] + edges["departed"]
    busiest = edges.groupby("edge_id")["count"].sum().nlargest(SITES).index
    rows = edges[edges["edge_id"].isin(busiest)].sort_values(["edge_id", "interval_begin"])
    path = HERE / "counts.csv"
    with path.open("w") as f:
        f.write("edge,interval_begin,interval_end,count\n")
        for r in rows.itertuples():
            f.write(f"{r.edge_id},{r.interval_begin:g},{r.interval_end:g},{r.count:g}\n")
    return path


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zones()
    print(z, feed(), counts(z))
