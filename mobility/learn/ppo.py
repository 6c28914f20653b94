"""PPO in JAX over the twin's learning environment, one policy shared by every light.

Each light is an agent with its own reward (independent PPO with shared parameters, as
MPLight and RESCO's IPPO do). Episodes have the scenario's fixed length and all
environments start together, so a rollout is one whole episode per environment (no
auto-reset) and the advantage (GAE) runs back from its end. One update: roll out
``envs`` episodes under ``vmap``, then ``epochs`` passes of clipped-objective minibatch
steps with optax's Adam. Everything of an update is one jitted function of
(:class:`TrainState`, key), so a training run compiles once.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import optax

from mobility.core.learning_env import EnvParams, SignalEnv
from mobility.learn.policy import apply_policy, init_policy, policy_input


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Settings of a training run (static: they shape the compiled update)."""

    envs: int = 16  # episodes per update
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-3
    gamma: float = 0.95
    lam: float = 0.9
    clip: float = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    hidden: int = 64
    reward_scale: float = 0.1
    # the policy's size: lane slots and phases per light it takes (a light of the scenario
    # with more raises the size to its own); padded so that it can serve other maps too
    lanes: int = 16
    phases: int = 8

    def fitted(self, params: EnvParams) -> PPOConfig:
        """This config with its policy size raised to the scenario's lights where they are
        larger."""
        return dataclasses.replace(
            self,
            lanes=max(self.lanes, int(params.in_mask.shape[1])),
            phases=max(self.phases, int(params.phase_mask.shape[1])),
        )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    params: dict  # policy parameters (see mobility.learn.policy)
    opt: optax.OptState
    update: jax.Array  # [] int updates done


def optimizer(config: PPOConfig) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr, eps=1e-5)
    )


def init_train(key: jax.Array, env: SignalEnv, params: EnvParams, config: PPOConfig) -> TrainState:
    """Fresh policy parameters for the environment's feature and phase sizes."""
    obs, _ = env.reset(key, params)
    feats, _ = observe_padded(env, params, obs, config)
    policy = init_policy(key, feats.shape[-1], config.phases, config.hidden)
    return TrainState(policy, optimizer(config).init(policy), jnp.zeros((), jnp.int32))


def observe_padded(env: SignalEnv, params: EnvParams, obs, config: PPOConfig):
    """(features [T, F], phase mask [T, P]) of the policy (:func:`policy_input`)."""
    return policy_input(
        config.lanes,
        config.phases,
        obs.in_vehicles,
        obs.in_halting,
        obs.phase,
        obs.phase_age,
        params.in_mask,
        params.lane_served,
        params.phase_mask,
    )


def rollout(key, env: SignalEnv, params: EnvParams, policy, sample: bool, config: PPOConfig):
    """One episode: (features [D, T, F], actions [D, T], log-probs, values, rewards [D, T],
    phase masks [D, T, P]). ``sample``: draw actions from the policy; else take its most
    likely phase."""
    k_reset, k_run = jax.random.split(key)
    obs, state = env.reset(k_reset, params)

    def body(carry, k):
        obs, state = carry
        feats, mask = observe_padded(env, params, obs, config)
        logits, value = apply_policy(policy, feats, mask)
        action = jax.random.categorical(k, logits) if sample else logits.argmax(axis=-1)
        logp = jax.nn.log_softmax(logits)[jnp.arange(action.shape[0]), action]
        obs, state, reward, _, _ = env.step(k, state, action, params)
        return (obs, state), (feats, action, logp, value, reward, mask)

    keys = jax.random.split(k_run, env.decisions)
    _, out = jax.lax.scan(body, (obs, state), keys)
    return out


def random_rollout(key, env: SignalEnv, params: EnvParams) -> jax.Array:
    """[D, T] rewards of a policy choosing uniformly among each light's phases."""
    k_reset, k_run = jax.random.split(key)
    _obs, state = env.reset(k_reset, params)

    def body(state, k):
        logits = jnp.where(params.phase_mask > 0, 0.0, -1e9)
        action = jax.random.categorical(k, logits)
        _, state, reward, _, _ = env.step(k, state, action, params)
        return state, reward

    return jax.lax.scan(body, state, jax.random.split(k_run, env.decisions))[1]


def gae(rewards: jax.Array, values: jax.Array, gamma: float, lam: float):
    """(advantages, returns) [D, ...] of one whole episode (nothing after its end)."""

    def back(carry, x):
        adv, next_value = carry
        r, v = x
        delta = r + gamma * next_value - v
        adv = delta + gamma * lam * adv
        return (adv, v), adv

    zeros = jnp.zeros_like(values[0])
    _, adv = jax.lax.scan(back, (zeros, zeros), (rewards, values), reverse=True)
    return adv, adv + values


@partial(jax.jit, static_argnames=("env", "config"))
def update(ts: TrainState, key: jax.Array, env: SignalEnv, params: EnvParams, config: PPOConfig):
    """One PPO update: (new TrainState, metrics)."""
    k_roll, k_perm = jax.random.split(key)
    keys = jax.random.split(k_roll, config.envs)
    feats, actions, logp, values, rewards, mask = jax.vmap(
        lambda k: rollout(k, env, params, ts.params, True, config)
    )(keys)  # [N, D, T, ...]
    rewards_s = rewards * config.reward_scale
    adv, ret = jax.vmap(lambda r, v: gae(r, v, config.gamma, config.lam))(rewards_s, values)
    n = feats.shape[0] * feats.shape[1] * feats.shape[2]
    batch = (
        feats.reshape(n, -1),
        actions.reshape(n),
        logp.reshape(n),
        adv.reshape(n),
        ret.reshape(n),
        mask.reshape(n, -1),
    )
    tx = optimizer(config)

    def loss_fn(policy, b):
        f, a, old_logp, adv, ret, m = b
        logits, value = apply_policy(policy, f, m)
        logps = jax.nn.log_softmax(logits)
        new_logp = logps[jnp.arange(a.shape[0]), a]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        ratio = jnp.exp(new_logp - old_logp)
        pg = -jnp.minimum(
            ratio * adv, jnp.clip(ratio, 1 - config.clip, 1 + config.clip) * adv
        ).mean()
        v_loss = 0.5 * ((value - ret) ** 2).mean()
        probs = jax.nn.softmax(logits)
        entropy = -(probs * jnp.where(m > 0, logps, 0.0)).sum(axis=-1).mean()
        total = pg + config.value_coef * v_loss - config.entropy_coef * entropy
        return total, (pg, v_loss, entropy)

    size = n // config.minibatches

    def epoch(carry, k):
        policy, opt = carry
        perm = jax.random.permutation(k, n)[: size * config.minibatches]
        mbs = jax.tree_util.tree_map(
            lambda x: x[perm].reshape(config.minibatches, size, *x.shape[1:]), batch
        )

        def mb(carry, b):
            policy, opt = carry
            (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(policy, b)
            upd, opt = tx.update(grads, opt, policy)
            return (optax.apply_updates(policy, upd), opt), (loss, *aux)

        return jax.lax.scan(mb, (policy, opt), mbs)

    (policy, opt), losses = jax.lax.scan(
        epoch, (ts.params, ts.opt), jax.random.split(k_perm, config.epochs)
    )
    loss, pg, v_loss, entropy = (x.mean() for x in losses)
    metrics = {
        "reward": rewards.mean(),  # per light and decision, unscaled (as `evaluate`)
        "episode_return": rewards.sum(axis=(1, 2)).mean(),  # all lights, whole episode
        "loss": loss,
        "policy_loss": pg,
        "value_loss": v_loss,
        "entropy": entropy,
    }
    return TrainState(policy, opt, ts.update + 1), metrics


@partial(jax.jit, static_argnames=("env", "episodes", "policy_kind", "config"))
def evaluate(
    key: jax.Array,
    env: SignalEnv,
    params: EnvParams,
    policy,
    episodes: int,
    policy_kind: str,
    config: PPOConfig,
) -> jax.Array:
    """[episodes] mean reward per light and decision of the greedy policy (``trained``) or a
    uniformly random one (``random``), on the episodes of ``key``."""
    keys = jax.random.split(key, episodes)
    if policy_kind == "random":
        rewards = jax.vmap(lambda k: random_rollout(k, env, params))(keys)
    else:
        rewards = jax.vmap(lambda k: rollout(k, env, params, policy, False, config)[4])(keys)
    return rewards.mean(axis=(1, 2))
