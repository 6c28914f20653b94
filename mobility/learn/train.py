"""``mobility signals train``: PPO in the twin of a scenario, checkpointed after every update.

The folder holds the checkpoint (:mod:`mobility.learn.checkpoint`) and ``metrics.jsonl``
(one line per update). Seeded: the run's key is ``PRNGKey(seed)`` split once per update, and
the key to go on with is saved, so a run resumed from its folder takes the same updates as
one that was never interrupted.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mobility.errors import SpecError
from mobility.learn.checkpoint import META, load_checkpoint, save_checkpoint

METRICS = "metrics.jsonl"


def train(
    spec,
    out: Path,
    *,
    updates: int,
    seed: int = 0,
    resume: bool = True,
    envs: int = 16,
    reward: str = "queue",
    progress: Callable[[int, dict[str, float]], None] | None = None,
    env_bundle: Any = None,
) -> dict[str, Any]:
    """Train until ``updates`` updates are done in ``out`` (going on from its checkpoint when
    ``resume``); the checkpoint's meta. ``env_bundle``: a prebuilt (env, params, layout)."""
    import jax
    import jax.numpy as jnp

    from mobility.learn.env_build import scenario_env
    from mobility.learn.ppo import PPOConfig, TrainState, init_train, update

    env, params, layout = env_bundle or scenario_env(spec, reward=reward)
    config = PPOConfig(envs=envs).fitted(params)
    key = jax.random.PRNGKey(seed)
    ts = init_train(key, env, params, config)
    feats = int(ts.params["w0"].shape[0])
    meta = {
        "scenario": spec.name,
        "tls": list(layout.tls),
        "features": int(feats),
        "phases": config.phases,
        "lanes": config.lanes,
        "env": dataclasses.asdict(env),
        "ppo": dataclasses.asdict(config),
        "seed": seed,
    }
    out = Path(out)
    if resume and (out / META).is_file():
        saved, opt, info = load_checkpoint(out, field="--out")
        changed = [
            k
            for k in ("features", "phases", "lanes", "env", "ppo", "seed")
            if info.get(k) != meta[k]
        ]
        if changed:
            msg = (
                f"field `--out`: the checkpoint in {out} was trained with other "
                f"{', '.join(changed)}; give a new folder or --no-resume to start over"
            )
            raise SpecError(msg)
        treedef = jax.tree_util.tree_structure(ts.opt)
        ts = TrainState(
            {k: jnp.asarray(v) for k, v in saved.items()},
            jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in opt]),
            jnp.asarray(info["update"], jnp.int32),
        )
        key = jnp.asarray(np.array(info["key"], np.uint32))
        _keep_metrics_until(out / METRICS, int(info["update"]))
    else:
        out.mkdir(parents=True, exist_ok=True)
        (out / METRICS).write_text("")
    done = int(ts.update)
    with (out / METRICS).open("a") as log:
        while done < updates:
            key, k = jax.random.split(key)
            ts, metrics = update(ts, k, env, params, config)
            done = int(ts.update)
            row = {"update": done, **{n: float(v) for n, v in metrics.items()}}
            log.write(json.dumps(row) + "\n")
            log.flush()
            save_checkpoint(out, ts, {**meta, "key": np.asarray(key).tolist()})
            if progress is not None:
                progress(done, row)
    return json.loads((out / META).read_text()) if (out / META).is_file() else meta


def _keep_metrics_until(path: Path, update: int) -> None:
    """Drop metrics lines past the checkpoint (an update interrupted before its checkpoint
    was saved is done again on resume)."""
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = [x for x in lines if x.strip() and json.loads(x)["update"] <= update]
    path.write_text("".join(x + "\n" for x in kept))
