"""The SUMO configuration of a run, written into its run directory.

A run is started from this ``run.sumocfg`` (and nothing else), so the same file replays the
run in ``sumo-gui`` or the raw ``sumo`` binary, which the overhead benchmark does. Output
paths are relative: SUMO resolves them against the configuration file's folder.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from mobility.config import ScenarioSpec
from mobility.sim.parts import SumoInputs

# Output file names inside a run directory, as SUMO writes them (renamed after the run).
RAW_TRIPS = "tripinfo.raw.parquet"
RAW_EDGES = "edgedata.raw.parquet"
RAW_EDGE_EMISSIONS = "edge_emissions.raw.parquet"
RAW_TIMELINE = "summary.raw.parquet"
STATISTICS = "statistics.xml"
SUMO_LOG = "sumo.log"
CONFIG = "run.sumocfg"
ADDITIONAL = "outputs.add.xml"


def write_sumocfg(spec: ScenarioSpec, *, net: Path, inputs: SumoInputs, folder: Path) -> Path:
    """Write ``run.sumocfg`` into ``folder`` from the network and the parts' inputs."""
    options = {
        "input": {
            "net-file": str(net),
            "route-files": ",".join(str(r) for r in inputs.routes),
            "additional-files": ",".join(str(a) for a in inputs.additional),
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
        "report": {
            "log": SUMO_LOG,
            "no-step-log": "true",
            "duration-log.statistics": "false",
        },
    }
    for section, values in inputs.options.items():  # outputs, taxi devices, personinfo, ...
        options.setdefault(section, {}).update(values)
    cfg = folder / CONFIG
    cfg.write_text(_config_xml(options))
    return cfg


def output_options(spec: ScenarioSpec) -> dict[str, dict[str, str]]:
    """The outputs every run writes: tripinfo (unfinished and undeparted included), the
    per-step summary, end statistics and, when asked, emissions."""
    options = {
        "output": {
            "tripinfo-output": RAW_TRIPS,
            "tripinfo-output.write-unfinished": "true",
            "tripinfo-output.write-undeparted": "true",
            "summary-output": RAW_TIMELINE,
            "statistic-output": STATISTICS,
        }
    }
    if spec.outputs.emissions:
        options["emissions"] = {"device.emissions.probability": "1"}
    return options


def _config_xml(options: dict[str, dict[str, str]]) -> str:
    sections = "".join(
        f"  <{section}>\n"
        + "".join(f"    <{k} value={quoteattr(v)}/>\n" for k, v in values.items())
        + f"  </{section}>\n"
        for section, values in options.items()
    )
    return f"<configuration>\n{sections}</configuration>\n"


def edgedata_xml(spec: ScenarioSpec) -> str:
    """The edge-data definitions (traffic, and emissions when asked) of ``outputs.add.xml``."""
    period = f"{spec.outputs.edgedata_period:g}"
    lines = [f'  <edgeData id="traffic" period="{period}" file="{RAW_EDGES}"/>\n']
    if spec.outputs.emissions:
        lines.append(
            f'  <edgeData id="emissions" type="emissions" period="{period}" '
            f'file="{RAW_EDGE_EMISSIONS}"/>\n'
        )
    return "<additional>\n" + "".join(lines) + "</additional>\n"
