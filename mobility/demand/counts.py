"""Demand fitted to traffic counts, and how well a run reproduces them (GEH).

A planner's city comes with counts per road and interval, not with routes. SUMO's
``routeSampler.py`` picks, among candidate routes (random trips, OD flows or a route file),
a set of vehicles whose passages over the counted edges match the counts; this module turns
the user's counts file into its input, runs it, and after the run compares the simulated
counts with the counted ones by the GEH statistic (UK DMRB: GEH < 5 at >= 85 % of sites is
a good fit), using ``sumolib.statistics.geh``.

A vehicle counts on an edge when it drives onto it or departs on it (SUMO edge data
``entered + departed``): routeSampler's own definition, a route that holds the edge.
A count site is one edge in one interval; GEH takes hourly flows, so counts over other
interval lengths are scaled to vehicles per hour first. Only intervals that lie wholly inside
the run's window are fitted and compared (a window without any is an error).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from mobility import sumo
from mobility.config import CountsDemand, ODDemand, RandomTripsDemand, RoutesDemand, ScenarioSpec
from mobility.errors import DemandError
from mobility.kpis import Kpi
from mobility.network.net import Network
from mobility.sim.parts import RunContext, SumoInputs

CSV_COLUMNS = ("edge", "interval_begin", "interval_end", "count")
COUNTED_ADDITIONAL = "counted.add.xml"
COUNTED_OUTPUT = "counted.xml"
COUNTS_TABLE = "counts.parquet"
GEH_OK = 5.0

KPIS = (
    Kpi(
        "counts_geh_under_5_share",
        "count sites with GEH < 5",
        "share",
        "higher",
        "Share of count sites (edge and interval) whose simulated flow is within GEH 5 of "
        "the count; UK DMRB asks for at least 0.85.",
    ),
    Kpi(
        "counts_geh_mean",
        "mean GEH",
        "GEH",
        "lower",
        "Mean GEH statistic over the count sites (hourly flows, simulated against counted).",
    ),
    Kpi(
        "counts_sites",
        "count sites",
        "sites",
        "neither",
        "Count sites (edge and interval) inside the run's window compared with the run.",
    ),
)


@dataclass(frozen=True)
class Count:
    """Vehicles counted on one edge over one interval [begin, end) in s."""

    edge: str
    begin: float
    end: float
    count: float


def read_counts(demand: CountsDemand) -> list[Count]:
    """The counts of a CSV (per edge, or per detector of ``demand.detectors``) or a SUMO
    edgedata file, checked row by row."""
    path = demand.counts
    if path.name.lower().endswith(".xml"):
        counts = _read_xml(path, demand.attribute)
    else:
        counts = _read_csv(path, demand.detectors)
    if not counts:
        msg = f"{path}: no counts found (field `demand.counts`); give at least one row"
        raise DemandError(msg)
    return counts


def _read_csv(path: Path, detectors: Path | None) -> list[Count]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        where = "detector" if "detector" in fields and "edge" not in fields else "edge"
        missing = [c for c in (where, *CSV_COLUMNS[1:]) if c not in fields]
        if missing:
            msg = (
                f"{path}: column(s) {', '.join(missing)} missing (field `demand.counts`); "
                f"a counts CSV has the header {','.join(CSV_COLUMNS)} (or detector instead "
                "of edge, with `demand.detectors`)"
            )
            raise DemandError(msg)
        rows = [(line, row) for line, row in enumerate(reader, start=2)]
    if where == "edge":
        return [_csv_row(path, line, row, row["edge"]) for line, row in rows]
    lanes = detector_edges(path, detectors)
    summed: dict[tuple[str, float, float], Count] = {}
    for line, row in rows:
        name = (row["detector"] or "").strip()
        if name not in lanes:
            msg = (
                f"{path}, line {line}: detector {name!r} is not in "
                f"{detectors.name if detectors else 'demand.detectors'} (field "
                "`demand.counts`); use the ids of the detectors file"
            )
            raise DemandError(msg)
        c = _csv_row(path, line, row, lanes[name])
        key = (c.edge, c.begin, c.end)
        # detectors on the lanes of one road add up to the road's count
        prior = summed.get(key)
        summed[key] = c if prior is None else Count(c.edge, c.begin, c.end, prior.count + c.count)
    return list(summed.values())


def detector_edges(counts: Path, detectors: Path | None) -> dict[str, str]:
    """Detector id -> the edge of its lane, from a SUMO additional file (induction loops,
    lane area detectors)."""
    if detectors is None:
        msg = (
            f"{counts}: counts per detector need the detectors' positions; give "
            "`demand.detectors: detectors.add.xml` (SUMO inductionLoop / e1Detector elements)"
        )
        raise DemandError(msg)
    tags = ["inductionLoop", "e1Detector", "laneAreaDetector", "e2Detector"]
    import sumolib  # on first use: sumolib pulls numpy and its net reader in

    found = {}
    for det in sumolib.xml.parse(str(detectors), tags, heterogeneous=True):
        lane = det.lane if det.hasAttribute("lane") else (det.lanes or "").split()[0]
        found[det.id] = lane.rsplit("_", 1)[0]
    return found


def _csv_row(path: Path, line: int, row: dict[str, str], edge: str | None) -> Count:
    try:
        begin, end, count = (float(row[c]) for c in CSV_COLUMNS[1:])
    except (TypeError, ValueError):
        msg = (
            f"{path}, line {line}: interval_begin, interval_end and count must be numbers "
            f"(seconds, vehicles), got {[row.get(c) for c in CSV_COLUMNS[1:]]}; fix that row"
        )
        raise DemandError(msg) from None
    return _checked(path, f"line {line}", Count((edge or "").strip(), begin, end, count))


def _read_xml(path: Path, attribute: str) -> list[Count]:
    import sumolib  # on first use: sumolib pulls numpy and its net reader in

    counts = []
    try:
        for interval in sumolib.xml.parse(str(path), "interval", heterogeneous=True):
            begin, end = float(interval.begin), float(interval.end)
            for edge in interval.edge or []:
                if edge.hasAttribute(attribute):
                    where = f"interval {begin:g}-{end:g}, edge {edge.id}"
                    count = Count(edge.id, begin, end, float(getattr(edge, attribute)))
                    counts.append(_checked(path, where, count))
    except (ValueError, TypeError, AttributeError) as exc:
        msg = f"{path}: not a SUMO edgedata file of counts ({exc}); fix the file (`demand.counts`)"
        raise DemandError(msg) from None
    return counts


def _checked(path: Path, where: str, c: Count) -> Count:
    problem = ""
    if not c.edge:
        problem = "the edge is empty"
    elif not (math.isfinite(c.begin) and math.isfinite(c.end)) or c.end <= c.begin:
        problem = f"interval_end ({c.end:g}) must be after interval_begin ({c.begin:g})"
    elif not math.isfinite(c.count) or c.count < 0:
        problem = f"count ({c.count:g}) must be a number of vehicles >= 0"
    if problem:
        raise DemandError(f"{path}, {where}: {problem} (field `demand.counts`); fix that row")
    return c


def check_counts(demand: CountsDemand, network: Network) -> None:
    """Every counted edge, and what the candidates name, is in the network."""
    from mobility.demand.build import check_zones

    for c in read_counts(demand):
        if not network.has_edge(c.edge):
            msg = (
                f"{demand.counts}: counted edge {c.edge!r} is not in the network "
                f"{network.path.name} (field `demand.counts`); use edge ids listed by "
                "`mobility net export`"
            )
            raise DemandError(msg)
    if isinstance(demand.candidates, RoutesDemand):
        _check_candidate_routes(demand.candidates.path, network)
    elif isinstance(demand.candidates, ODDemand):
        check_zones(demand.candidates, network)


def _check_candidate_routes(path: Path, network: Network) -> None:
    """Candidate routes (named or inside vehicles) exist and use only edges of the net."""
    import sumolib  # on first use: sumolib pulls numpy and its net reader in

    found = 0
    for route in sumolib.xml.parse(str(path), "route"):
        found += 1
        missing = [e for e in (route.edges or "").split() if not network.has_edge(e)]
        if missing:
            msg = (
                f"{path}: route {route.id or found!r} uses edge {missing[0]!r}, which is not "
                f"in the network {network.path.name}; fix the route file or give the network "
                "it was made for (field `demand.candidates`)"
            )
            raise DemandError(msg)
    if not found:
        msg = (
            f"{path}: no <route> found (field `demand.candidates`); routeSampler chooses among "
            "routes, so give a route file (trips without routes go through duarouter first)"
        )
        raise DemandError(msg)


def fit_counts(demand: CountsDemand, spec: ScenarioSpec, network: Network, out: Path) -> Path:
    """Routes sampled by routeSampler from the candidates so that they match the counts."""
    counts = [c for c in read_counts(demand) if inside(c, spec.begin, spec.end)]
    if not counts:
        msg = (
            f"{demand.counts}: no count interval lies inside the run's window "
            f"{spec.begin:g}-{spec.end:g} s (field `demand.counts`); move the window (begin, "
            "end) over the counts or check the file's times are in seconds"
        )
        raise DemandError(msg)
    edgedata = out / "counts.edgedata.xml"
    edgedata.write_text(edgedata_xml(counts))
    candidates = _candidate_routes(demand, spec, network, out / "candidates")
    routes = out / "routes.rou.xml"
    cmd = [
        *sumo.tool("routeSampler.py"),
        f"--route-files={candidates}",
        f"--edgedata-files={edgedata}",
        "--edgedata-attribute=count",
        f"--output-file={routes}",
        f"--seed={spec.seed}",
        f"--begin={spec.begin}",
        f"--end={spec.end}",
        "--prefix=c",
        '--attributes=departLane="best" departSpeed="max"',
    ]
    if demand.optimize:
        cmd.append("--optimize=full")
    proc = sumo.run_tool(cmd, cwd=out)
    if proc.returncode != 0 or not routes.exists():
        details = sumo.error_lines(proc.stderr + proc.stdout)
        raise DemandError(f"field `demand`: routeSampler could not fit the counts:\n{details}")
    return routes


def inside(c: Count, begin: float, end: float) -> bool:
    """Whether the count's interval lies in the window [begin, end]."""
    return c.begin >= begin and c.end <= end


def edgedata_xml(counts: list[Count]) -> str:
    """Counts as a SUMO edgedata file (attribute ``count``), one interval per time span."""
    spans: dict[tuple[float, float], list[Count]] = {}
    for c in counts:
        spans.setdefault((c.begin, c.end), []).append(c)
    body = []
    for (b, e), rows in sorted(spans.items()):
        edges = "".join(f'    <edge id={quoteattr(c.edge)} count="{c.count:g}"/>\n' for c in rows)
        body.append(f'  <interval id="counts" begin="{b:g}" end="{e:g}">\n{edges}  </interval>\n')
    return "<data>\n" + "".join(body) + "</data>\n"


def _candidate_routes(
    demand: CountsDemand, spec: ScenarioSpec, network: Network, out: Path
) -> Path:
    """The route file routeSampler chooses from, made by the demand builders themselves."""
    from mobility.demand.build import od_trips, random_trips

    candidates = demand.candidates
    if isinstance(candidates, RoutesDemand):
        return candidates.path
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(candidates, ODDemand):
        return od_trips(candidates, spec, network, out)
    trips = RandomTripsDemand(
        type="random",
        vehicles_per_hour=candidates.routes_per_hour,
        fringe_factor=candidates.fringe_factor,
        min_distance=candidates.min_distance,
    )
    return random_trips(trips, spec, network, out)


class CountsPart:
    """After a counts run: the simulated count of every count site and its GEH.

    It asks SUMO for edge data over exactly the count intervals (one ``edgeData`` per
    interval length, restricted to the counted edges), so the comparison does not depend on
    the run's own ``edgedata_period``. Does nothing for other demand types."""

    def __init__(self) -> None:
        self._counts: list[Count] = []

    def check(self, ctx: RunContext) -> None:
        """The demand check (:func:`check_counts`) covers the counts file."""

    def prepare(self, ctx: RunContext) -> SumoInputs:
        demand = ctx.spec.demand
        if not isinstance(demand, CountsDemand):
            return SumoInputs()
        begin, end = ctx.spec.begin, ctx.spec.end
        self._counts = [c for c in read_counts(demand) if inside(c, begin, end)]
        (ctx.folder / COUNTED_ADDITIONAL).write_text(counted_xml(self._counts))
        return SumoInputs(additional=[Path(COUNTED_ADDITIONAL)])

    def attach(self, engine: object) -> None:
        """SUMO writes the edge data itself."""

    def finish(self, folder: Path) -> dict[str, float]:
        if not self._counts:
            return {}
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = geh_rows(self._counts, simulated_counts(folder / COUNTED_OUTPUT))
        pq.write_table(pa.Table.from_pylist(rows), folder / COUNTS_TABLE)
        (folder / COUNTED_OUTPUT).unlink()
        return geh_kpis([r["geh"] for r in rows])


def counted_xml(counts: list[Count]) -> str:
    """SUMO additional asking for edge data over each count interval, counted edges only."""
    spans = sorted({(c.begin, c.end) for c in counts})
    edges = " ".join(sorted({c.edge for c in counts}))
    body = "".join(
        f'  <edgeData id="counted_{i}" file="{COUNTED_OUTPUT}" begin="{b:g}" end="{e:g}" '
        f'period="{e - b:g}" edges={quoteattr(edges)} excludeEmpty="false"/>\n'
        for i, (b, e) in enumerate(spans)
    )
    return f"<additional>\n{body}</additional>\n"


def simulated_counts(path: Path) -> dict[tuple[str, float, float], float]:
    """(edge, begin, end) -> vehicles that entered or departed on the edge, from edge data."""
    import sumolib  # on first use: sumolib pulls numpy and its net reader in

    out: dict[tuple[str, float, float], float] = {}
    for interval in sumolib.xml.parse(str(path), "interval", heterogeneous=True):
        b, e = float(interval.begin), float(interval.end)
        for edge in interval.edge or []:
            entered = float(edge.entered) if edge.hasAttribute("entered") else 0.0
            departed = float(edge.departed) if edge.hasAttribute("departed") else 0.0
            out[(edge.id, b, e)] = entered + departed
    return out


def geh_rows(
    counts: list[Count], simulated: dict[tuple[str, float, float], float]
) -> list[dict[str, object]]:
    """One row per count site: counted, simulated, both per hour, and GEH."""
    from sumolib.statistics import geh

    rows = []
    for c in counts:
        sim = simulated.get((c.edge, c.begin, c.end), 0.0)
        per_hour = 3600.0 / (c.end - c.begin)
        rows.append(
            {
                "edge_id": c.edge,
                "interval_begin": c.begin,
                "interval_end": c.end,
                "counted": c.count,
                "simulated": sim,
                "counted_per_hour": c.count * per_hour,
                "simulated_per_hour": sim * per_hour,
                "geh": geh(sim * per_hour, c.count * per_hour),
            }
        )
    return rows


def geh_kpis(gehs: list[float]) -> dict[str, float]:
    """The KPIs of :data:`KPIS` from the GEH of every site."""
    n = len(gehs)
    return {
        "counts_geh_under_5_share": sum(g < GEH_OK for g in gehs) / n,
        "counts_geh_mean": sum(gehs) / n,
        "counts_sites": float(n),
    }
