"""Traffic assignment from the command line: ``mobility assign`` and the TNTP reader.

The solvers are in the pure JAX core (:mod:`mobility.core.routing`); this package reads
the files they run on (TNTP networks and trips, SUMO nets) and writes their results.
Names are imported on first use, so registering the command does not load JAX.
"""

from mobility.lazy import lazy_exports

_EXPORTS = {
    "TntpNetwork": "tntp",
    "from_tntp": "tntp",
    "links_frame": "tntp",
    "read_flows": "tntp",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
