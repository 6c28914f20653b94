"""The SUMO configuration of a run, written into its run directory.

A run is started from this ``run.sumocfg`` (and nothing else), so the same file replays the
run in ``sumo-gui`` or the raw ``sumo`` binary, which the overhead benchmark does. Output
paths are relative: SUMO resolves them against the configuration file's folder.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from mobility.config import ScenarioSpec

# Output file names inside a run directory, as SUMO writes them (renamed after the run).
RAW_TRIPS = "tripinfo.raw.parquet"
RAW_EDGES = "edgedata.raw.parquet"
RAW_EDGE_EMISSIONS = "edge_emissions.raw.parquet"
RAW_TIMELINE = "summary.raw.parquet"
STATISTICS = "statistics.xml"
SUMO_LOG = "sumo.log"
CONFIG = "run.sumocfg"
ADDITIONAL = "outputs.add.xml"


def write_sumocfg(
    spec: ScenarioSpec,
    *,
    net: Path,
    routes: list[Path],
    folder: Path,
    additional: list[Path] = (),
    extra: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write ``run.sumocfg`` and the edge-data definitions into ``folder``; return the cfg.

    ``extra`` adds options by section (``{"output": {"stop-output": ...}}``).
    """
    outputs_add = folder / ADDITIONAL
    outputs_add.write_text(_edgedata_xml(spec))
    options = {
        "input": {
            "net-file": str(net),
            "route-files": ",".join(str(r) for r in routes),
            "additional-files": ",".join([ADDITIONAL, *(str(a) for a in additional)]),
        },
        "time": {
            "begin": f"{spec.begin:g}",
            "end": f"{spec.end:g}",
            "step-length": f"{spec.step_length:g}",
        },
        "processing": {
            "time-to-teleport": f"{spec.time_to_teleport:g}",
        },
        "random_number": {"seed": str(spec.seed)},
        "output": {
            "tripinfo-output": RAW_TRIPS,
            "tripinfo-output.write-unfinished": "true",
            "tripinfo-output.write-undeparted": "true",
            "summary-output": RAW_TIMELINE,
            "statistic-output": STATISTICS,
        },
        "report": {
            "log": SUMO_LOG,
            "no-step-log": "true",
            "duration-log.statistics": "false",
        },
    }
    if spec.outputs.emissions:
        options["emissions"] = {"device.emissions.probability": "1"}
    for section, values in (extra or {}).items():  # e.g. shuttles: taxi device, personinfo
        options.setdefault(section, {}).update(values)
    cfg = folder / CONFIG
    cfg.write_text(_config_xml(options))
    return cfg


def _config_xml(options: dict[str, dict[str, str]]) -> str:
    sections = "".join(
        f"  <{section}>\n"
        + "".join(f"    <{k} value={quoteattr(v)}/>\n" for k, v in values.items())
        + f"  </{section}>\n"
        for section, values in options.items()
    )
    return f"<configuration>\n{sections}</configuration>\n"


def _edgedata_xml(spec: ScenarioSpec) -> str:
    period = f"{spec.outputs.edgedata_period:g}"
    lines = [f'  <edgeData id="traffic" period="{period}" file="{RAW_EDGES}"/>\n']
    if spec.outputs.emissions:
        lines.append(
            f'  <edgeData id="emissions" type="emissions" period="{period}" '
            f'file="{RAW_EDGE_EMISSIONS}"/>\n'
        )
    return "<additional>\n" + "".join(lines) + "</additional>\n"
