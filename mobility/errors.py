"""The errors a user can cause, and only those.

Every subclass of :class:`MobilityError` carries a message that names the file, the field
and the fix; the CLI prints it without a traceback and exits with status 2. Internal bugs
are not wrapped: they keep their traceback.
"""

from __future__ import annotations


class MobilityError(Exception):
    """Base of all user-facing errors."""

    exit_code = 2


class SpecError(MobilityError):
    """A scenario or sweep file is malformed, incomplete or inconsistent."""


class NetworkError(MobilityError):
    """A network cannot be built or read (netconvert/netgenerate/SUMO refused it)."""


class DemandError(MobilityError):
    """Demand cannot be generated: unknown zone, OD pair without a route, router failure."""


class SimulationError(MobilityError):
    """SUMO stopped with an error; the message carries the relevant lines of its log."""


class RunDirError(MobilityError):
    """A folder is not a run directory, or a run directory is incomplete."""
