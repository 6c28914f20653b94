"""A content-addressed cache for built networks and generated demand.

Entries are keyed by everything their output depends on (spec, input file hashes, SUMO
version, builder revision) and written into a temporary folder renamed into place only when
complete, so an interrupted build never leaves a half entry and concurrent builders (Ray
workers on one node) never see one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from mobility import sumo
from mobility.rundir import owner_tag, remove_stale

# Bump when a builder's options change, so cached outputs of the old builder are not reused.
BUILD_REVISION = 1


def cache_root() -> Path:
    """Where built networks and demand live: ``$MOBILITY_CACHE`` or ``~/.cache/mobility``."""
    root = os.environ.get("MOBILITY_CACHE") or Path.home() / ".cache" / "mobility"
    return Path(root)


def cached_build(kind: str, key: dict, build: Callable[[Path], Path], filename: str) -> Path:
    """Return ``cache/kind/<hash>/filename``, calling ``build(tmp_dir) -> Path`` if absent.

    ``key`` must hold everything the output depends on. Used for networks and demand.
    """
    key = {**key, "sumo": sumo.version(), "revision": BUILD_REVISION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    final = cache_root() / kind / digest[:20]
    target = final / filename
    if target.exists():
        return target
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final.parent)  # what killed builders left behind
    tmp = final.parent / f".{digest[:8]}.tmp-{owner_tag()}"
    tmp.mkdir()
    try:
        built = build(tmp)
        if built.name != filename:
            built.rename(tmp / filename)
        (tmp / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True, default=str))
        try:
            tmp.rename(final)
        except OSError:  # another process built it meanwhile: theirs is as good as ours
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
