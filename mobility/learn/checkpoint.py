"""Policy checkpoints: ``policy.npz`` (the parameters and Adam's state, as arrays) and
``policy.json`` (what the policy was trained for: its feature and phase sizes, the
environment and PPO settings, the updates done and the key to go on with). numpy's own
format: readable without this package, no pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mobility.errors import SpecError

WEIGHTS = "policy.npz"
META = "policy.json"


def save_checkpoint(folder: Path, train_state, meta: dict[str, Any]) -> None:
    """Write atomically (temp files, then rename): an interrupted save keeps the last one."""
    import jax

    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"params/{k}": np.asarray(v) for k, v in train_state.params.items()}
    opt = jax.tree_util.tree_leaves(train_state.opt)
    arrays.update({f"opt/{i}": np.asarray(x) for i, x in enumerate(opt)})
    tmp = folder / (WEIGHTS + ".tmp.npz")
    np.savez(tmp, **arrays)
    meta_tmp = folder / (META + ".tmp")
    meta_tmp.write_text(json.dumps({**meta, "update": int(train_state.update)}, indent=1))
    os.replace(tmp, folder / WEIGHTS)
    os.replace(meta_tmp, folder / META)


def load_checkpoint(folder: Path | str, *, field: str = "path") -> tuple[dict, list, dict]:
    """(policy parameters, optimizer state leaves, meta); SpecError naming ``field`` when the
    folder holds no readable checkpoint."""
    folder = Path(folder)
    weights, meta = folder / WEIGHTS, folder / META
    if not weights.is_file() or not meta.is_file():
        msg = (
            f"field `{field}`: {folder} holds no policy checkpoint ({WEIGHTS} and {META}); "
            "train one with `mobility signals train SPEC -o FOLDER` and give that folder"
        )
        raise SpecError(msg)
    try:
        info = json.loads(meta.read_text())
        with np.load(weights) as data:
            params = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("params/")}
            opt_keys = sorted(
                (k for k in data.files if k.startswith("opt/")), key=lambda k: int(k[4:])
            )
            opt = [data[k] for k in opt_keys]
        sizes = {k: int(info[k]) for k in ("features", "phases", "lanes")}
        if params["w0"].shape[0] != sizes["features"] or params["pi_w"].shape[1] != sizes["phases"]:
            raise ValueError(f"weights do not match the sizes in {META}")
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        msg = (
            f"field `{field}`: the policy checkpoint in {folder} is unreadable ({exc}); "
            "train it again with `mobility signals train SPEC -o FOLDER`"
        )
        raise SpecError(msg) from None
    return params, opt, info
