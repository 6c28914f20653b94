"""The ``zones: {file: ..., id: ...}`` section, shared by OD demand and shuttle riders.

A leaf module (pydantic only) so that both :mod:`mobility.config` and
:mod:`mobility.shuttles.spec` (which the config imports) can use it. What the file's
polygons mean for a network is :mod:`mobility.demand.zones`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class ZonesFile(BaseModel):
    """Zones as polygons of a GIS file (GeoJSON, GeoPackage, shapefile), named by ``id``.

    A road belongs to a zone when its midpoint lies inside the polygon
    (:mod:`mobility.demand.zones`). Coordinates are in the file's CRS (taken to the net's),
    or, for a file without one, in the net's own projected metres.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Path
    id: str = Field(min_length=1, description="the field (column) holding each zone's name")
    layer: str | None = Field(None, description="layer of a GeoPackage; the first if absent")

    @field_validator("file", mode="before")
    @classmethod
    def _resolve(cls, value: Any, info: ValidationInfo) -> Path:
        """Relative to the YAML file, and readable: as ``mobility.config`` resolves paths
        (repeated here, in a few lines, because the config imports this module)."""
        path = Path(str(value)).expanduser()
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        path = path.resolve()
        fix = "fix the path (relative paths start at the YAML file)"
        if not path.exists():
            raise ValueError(f"file not found: {path}; {fix}")
        if path.is_dir() or not os.access(path, os.R_OK):
            raise ValueError(f"{path} is not a readable file; {fix}")
        return path
