"""Transit from GTFS: a tiny synthetic feed on the bundled West Oakland extract, imported
with SUMO's gtfs2pt, as background buses of a run."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sumolib
import yaml
from conftest import GRID3, OSM, small_scenario

from mobility import Scenario
from mobility.config import load_spec
from mobility.errors import DemandError, SpecError
from mobility.report import build_report
from mobility.scenario import check_scenario

# Stops on 8th Street (eastbound) and Wood Street, by longitude and latitude of the OSM
# extract; route 8 every 10 minutes from 08:00 to 08:50 on weekdays, route W likewise.
STOPS = [
    ("s1", "8th St & Wood St west", 37.80841, -122.30274),
    ("s2", "8th St & Wood St east", 37.80787, -122.30125),
    ("s3", "8th St & Chester St", 37.80650, -122.29500),
    ("w1", "Wood St & 7th St", 37.80722, -122.30222),
    ("w2", "Wood St & 9th St", 37.80920, -122.30110),
]
LINES = {"W8": ("8", [("s1", 0), ("s2", 90), ("s3", 240)]), "WW": ("W", [("w1", 0), ("w2", 120)])}
MONDAY, SUNDAY = "2026-11-30", "2026-11-29"


def clock(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def write_feed(path: Path, *, leave_out: str = "", slow: str = "", short: str = "") -> Path:
    """A GTFS zip (no calendar_dates.txt: optional in GTFS, gtfs2pt wants it, we add it);
    trip ``slow`` takes a minute longer to its second stop (its own times, not its route's),
    trip ``short`` ends at its second stop (a second stop sequence of the route)."""
    trips, times = (
        ["route_id,service_id,trip_id"],
        ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"],
    )
    for route, (_, stops) in LINES.items():
        for i in range(6):
            trip, start = f"{route}_{i}", 8 * 3600 + 600 * i
            trips.append(f"{route},weekdays,{trip}")
            for k, (stop, dt) in enumerate(stops, start=1):
                dt += 60 if trip == slow and k > 1 else 0
                if trip == short and k > 2:
                    continue
                times.append(f"{trip},{clock(start + dt)},{clock(start + dt)},{stop},{k}")
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
        "WO,West Oakland Test,https://example.org,America/Los_Angeles\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"{i},{n},{lat},{lon}\n" for i, n, lat, lon in STOPS),
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
        "W8,WO,8,8th Street,3\nWW,WO,W,Wood Street,3\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
        "start_date,end_date\nweekdays,1,1,1,1,1,0,0,20260101,20271231\n",
        "trips.txt": "\n".join(trips) + "\n",
        "stop_times.txt": "\n".join(times) + "\n",
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            if name != leave_out:
                z.writestr(name, text)
    return path


def transit_spec(feed: Path, **transit: object) -> dict:
    return small_scenario(
        name="buses",
        network={"type": "osm", "path": str(OSM)},
        begin=28500,
        end=30600,
        demand={"type": "random", "vehicles_per_hour": 60, "fringe_factor": 5},
        outputs={"edgedata_period": 2100, "emissions": False},
        transit={"gtfs": str(feed), "date": MONDAY, "routes": ["8"], **transit},
    )


def test_gtfs_route_runs_as_background_buses(tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.zip")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(transit_spec(feed)))
    result = Scenario.from_yaml(tmp_path / "s.yaml").run(tmp_path / "runs")
    stops = {
        s.attr_name: s
        for s in sumolib.xml.parse(str(result.run_dir / "transit.stops.add.xml"), "busStop")
    }
    assert set(stops) == {n for _, n, *_ in STOPS[:3]}  # route 8's stops only
    assert stops["8th St & Wood St west"].lane.startswith("395356578")  # eastbound 8th St
    trips = result.table("trips")
    buses = trips[trips["vType"] == "bus"]
    # trips leave s1 at 08:00, 08:10, ..., 08:50; those leaving in the window [28500, 30600)
    # run: 08:00, 08:10, 08:20 (each bus enters 10 s before its first stop's departure)
    assert sorted(buses["depart"]) == [28790, 29390, 29990]
    arrived = buses[buses["arrival"] > 0]
    assert len(arrived) >= 2  # the last may still be on its way at the end
    # a bus waits for each stop's departure time: it cannot arrive before 4 minutes
    assert ((arrived["arrival"] - arrived["depart"]) >= 240).all()


@pytest.mark.parametrize(
    ("case", "words"),
    [
        (
            "route",
            "no route '99' in feed.zip (by route_id or route_short_name); the feed has: W8 (8)",
        ),
        ("file", "not a complete GTFS feed, stop_times.txt missing"),
        ("plain", "the network grid3x3.net.xml is not geo-referenced"),
    ],
)
def test_bad_transit_inputs_are_named_with_the_fix(write_spec, tmp_path, case, words) -> None:
    feed = write_feed(tmp_path / "feed.zip", leave_out="stop_times.txt" if case == "file" else "")
    spec = transit_spec(feed, routes=["99"] if case == "route" else ["8"])
    if case == "plain":
        spec["network"] = str(GRID3)
    with pytest.raises(DemandError) as err:
        check_scenario(load_spec(write_spec(spec)))
    assert words in str(err.value)


def test_a_day_without_service_is_an_error(tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.zip")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(transit_spec(feed, date=SUNDAY)))
    with pytest.raises(
        DemandError, match=r"no trip of route\(s\) W8 in feed\.zip runs on 2026-11-29"
    ):
        Scenario.from_yaml(tmp_path / "s.yaml").run(tmp_path / "runs")


def test_gtfs_route_run_by_autonomous_shuttles(tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.zip", slow="W8_1", short="W8_2")
    spec = transit_spec(feed)  # route 8: run by the shuttles, so no background bus
    spec["shuttles"] = [{"service": "line", "name": "l8", "gtfs_route": "8", "dwell": 15}]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    result = Scenario.from_yaml(tmp_path / "s.yaml").run(tmp_path / "runs")
    trips = result.table("trips")
    assert not (trips["vType"] == "bus").any()
    shuttles = trips[trips["vType"] == "shuttle_l8"].sort_values("depart")
    # the timetable of the day in the window: 08:00, 08:10, 08:20, less 10 s to reach the
    # first stop and the 15 s dwell
    assert shuttles["depart"].tolist() == [28775, 29375, 29975]
    # each shuttle serves the feed's three stops of route 8 in order (SUMO's stop output)
    calls = pq.read_table(result.run_dir / "stops.parquet").to_pandas()
    first = calls[calls["vehicle"] == "l8.0"].sort_values("arrival")
    assert first["stop"].tolist() == ["l8.s1", "l8.s2", "l8.s3"]
    # ... and keeps the feed's timetable: it leaves each stop at the feed's departure time
    # (trip W8_0: 08:00:00, 08:01:30, 08:04:00; the slow W8_1 08:10:00, 08:12:30, 08:15:00),
    # where a 15 s dwell alone would leave 08:01:30 and 08:04:00 early
    for vehicle, leaves in (("l8.0", [28800, 28890, 29040]), ("l8.1", [29400, 29550, 29700])):
        left = calls[calls["vehicle"] == vehicle].sort_values("arrival")["departure"]
        assert [int(t) for t in left] == leaves
    # the short trip W8_2 runs its own stop sequence, ending at s2 (08:21:30)
    short = calls[calls["vehicle"] == "l8.2"].sort_values("arrival")
    assert short["stop"].tolist() == ["l8.s1", "l8.s2"]
    assert [int(t) for t in short["departure"]] == [30000, 30090]
    # the feed's times leave room to drive: every departure on time, none late
    assert calls["delay"].tolist() == [0.0] * len(calls)
    assert result.kpis["shuttle_schedule_delay_mean_s"] == 0.0
    assert result.kpis["shuttle_on_time_share"] == 1.0
    written = yaml.safe_load((result.run_dir / "spec.yaml").read_text())
    assert written["shuttles"][0]["gtfs_route"] == "8" and not written["shuttles"][0]["stops"]
    # the report's interactive map shows the line's three stops where SUMO put them
    page = build_report(result.run_dir).read_text()
    data = json.loads(re.search(r"id='imap-data'>(.*?)</script>", page).group(1))
    assert [stop[2] for stop in data["stops"]] == [f"l8.{i} {n}" for i, n, *_ in STOPS[:3]]
    # ... and the line's two paths (the short trip's ends on s2's road)
    ids = data["edges"]["id"]
    paths = sorted([line, [ids[i] for i in edges]] for line, edges in data["paths"])
    full = ["395356578", "250665456", "-6358365#2", "-6358365#0"]
    assert paths[1] == ["l8", full] and paths[0][0] == "l8"
    assert full[: len(paths[0][1])] == paths[0][1] and len(paths[0][1]) < len(full)
    # ... the static shuttle map has them (no depot, so without them it is left out) and
    # the line-stops table lists them by the feed's names, with the departure delay
    assert "data-kind='shuttle-map'" in page
    table = page[page.index("line-stops") :]
    names = [n for _, n, *_ in STOPS[:3]]
    assert [table.index(n.replace("&", "&amp;")) for n in names] == sorted(
        table.index(n.replace("&", "&amp;")) for n in names
    )


def test_stop_times_of_a_trip_follow_the_feed() -> None:
    """A loop calls twice at one stop (each call its own time), a stop without times (not a
    timepoint) keeps the previous departure, times past 24:00 and the next service day add
    up, and stop ids with characters a stop id cannot hold are written with `_`."""
    from mobility.demand.transit import _calls, _safe, _trip_of

    times = [("a", "23:59:00", "23:59:30"), ("b", "", ""), ("a", "24:05:00", "24:05:10")]
    assert _calls(["gtfs_a", "gtfs_b", "gtfs_a"], times, 86400.0) == [
        ("gtfs_a", 86400.0 + 86340, 86400.0 + 86370),
        ("gtfs_b", 86400.0 + 86370, 86400.0 + 86370),
        ("gtfs_a", 86400.0 + 86700, 86400.0 + 86710),
    ]
    assert _trip_of("W8.1.trimmed.1") == ("W8.1", 1)
    assert _safe("de:08111:6115 B") == "de_08111_6115_B"


def test_a_trip_calling_at_an_unknown_stop_is_named(write_spec) -> None:
    line = {
        "service": "line",
        "name": "l",
        "stops": [{"id": "a", "edge": "A0A1"}, {"id": "b", "edge": "A1A2"}],
        "trips": [
            {
                "depart": 10,
                "route": ["A0A1", "A1A2"],
                "calls": [
                    {"stop": "a", "arrival": 20, "until": 30},
                    {"stop": "c", "arrival": 40, "until": 50},
                ],
            }
        ],
    }
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(small_scenario(shuttles=[line])))
    assert (
        "field `shuttles.0`: trips.0.calls.1: stop 'c' is not one of the line's stops (a, b)"
        in str(err.value)
    )


def test_trips_of_frequencies_run_one_by_one(tmp_path: Path) -> None:
    """A trip of frequencies.txt (every 15 min from 08:00 to 08:30) becomes one trip per
    departure, each at the template's spacing (gtfs2pt alone runs it once, at 08:00)."""
    from mobility.demand.transit import with_gtfs_lines
    from mobility.scenario import scenario_network

    feed = write_feed(tmp_path / "plain.zip")
    with zipfile.ZipFile(feed) as src, zipfile.ZipFile(tmp_path / "feed.zip", "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr(
            "frequencies.txt",
            "trip_id,start_time,end_time,headway_secs\nW8_0,08:00:00,08:30:00,900\n",
        )
    spec = transit_spec(tmp_path / "feed.zip")
    spec["shuttles"] = [{"service": "line", "name": "l8", "gtfs_route": "8", "dwell": 15}]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    spec = load_spec(tmp_path / "s.yaml")
    line = with_gtfs_lines(spec, scenario_network(spec)).shuttles[0]
    leaves = [[c.until for c in trip.calls] for trip in line.trips]
    # 08:00 and 08:15 from the frequency, 08:10 and 08:20 as listed (W8_1, W8_2)
    assert leaves == [[t, t + 90, t + 240] for t in (28800, 29400, 29700, 30000)]
