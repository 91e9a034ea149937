"""Independent PPO (IPPO) for every agent of a detente environment.

Each agent runs PPO on its own observations and rewards, treating the others
as part of the environment (de Witt et al. 2020, "Is Independent Learning
All You Need in the StarCraft Multi-Agent Challenge?",
https://arxiv.org/abs/2011.09533; PPO: Schulman et al. 2017,
https://arxiv.org/abs/1707.06347). Agents have separate parameters, or one
shared set (``share_params``: self-play on the agents' own-view
observations). Policies are MLPs or GRUs (:class:`NetworkConfig`). Legal-
action masks (``TimeStep.action_mask``) are honoured when acting and when
learning: illegal actions have probability 0 in the sampled actions and in
PPO's log-probabilities and entropies
(:func:`~detente.solvers.rl.policy.mask_policy`; with all-``True`` masks
the actions and parameter updates are those of an unmasked policy, bit for
bit). An
episode's end, ``terminated`` or ``truncated`` (the Coin Game and the
iterated games end by time limit), stops bootstrapping in GAE, as in
purejaxrl and pax.

:func:`make_ippo` returns a :class:`~detente.training.Trainer`: ``init(key)``
starts ``num_envs`` environments; ``step`` plays ``num_steps`` steps in each
(:func:`~detente.env.auto_reset`, so episodes continue across updates) and
then takes one PPO update per parameter set; ``evaluate`` plays a fresh
rollout. The state carries its PRNG key, so a run split into chunks gives
the same numbers. :func:`train_ippo` scans ``step`` under ``jit``; vmap it
over keys for seeds.

Example:
    >>> from detente.games.coin_game import CoinGame
    >>> cfg = IPPOConfig(num_envs=8, num_steps=16, num_updates=3)
    >>> state, metrics = train_ippo(jax.random.PRNGKey(0), CoinGame(), cfg)
    >>> metrics["reward_0"].shape
    (3,)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_positive_int
from detente.env import auto_reset
from detente.solvers.rl.policy import NetworkConfig, make_policy, policy_step
from detente.solvers.rl.ppo import PPOConfig, make_optimizer, ppo_learn
from detente.solvers.rl.types import Transition
from detente.training import Trainer, raw_key

__all__ = ["IPPOConfig", "IPPOState", "make_ippo", "train_ippo"]

_EVAL_FOLD = 0x5EED  # evaluate's key: fold_in(state.key, _EVAL_FOLD); training never uses it


@dataclasses.dataclass(frozen=True)
class IPPOConfig:
    """Static configuration of IPPO.

    Attributes:
        num_envs: ``E``, parallel environments.
        num_steps: ``T``, steps per environment in each update's rollout
            (purejaxrl's ``NUM_STEPS``; not the number of updates).
        num_updates: PPO updates of a full run (``Trainer.num_steps``).
        ppo: PPO hyperparameters.
        network: MLP or GRU (categorical actions).
        share_params: one parameter set for all agents (their data pooled)
            instead of one per agent.
        turn_based: learn only from the acting agent's rows (needs
            ``share_params``; an MLP only: a recurrent policy, which needs
            whole sequences, learns from every row as with ``False``, so a
            config may switch networks freely). For turn-based games such as
            Hanabi, where at each step one agent chooses and the others'
            masks allow a single action (the no-op): a row with one legal
            action has log-probability 0 and entropy 0 under the masked
            policy, so it adds nothing to the policy gradient. GAE still
            runs over every agent's whole trajectory (the waiting steps'
            shared rewards and values flow into the advantages and value
            targets, unchanged); then each PPO update uses, per environment
            step, only the row of the agent with the most legal actions
            (the first such agent on a tie), ``E * T`` rows instead of
            ``N * E * T``: a fixed-size gather, about ``N`` times less work.
            The critic is then trained at acting observations only. Losses
            and advantage standardisation are over those rows; the metric
            ``multi_actor_frac`` is the fraction of steps where more than
            one agent had a choice (0 in a turn-based game; the other
            choosers' rows are not learnt from).
    """

    num_envs: int = 16
    num_steps: int = 128
    num_updates: int = 100
    ppo: PPOConfig = PPOConfig()
    network: NetworkConfig = NetworkConfig()
    share_params: bool = False
    turn_based: bool = False

    def __post_init__(self):
        for name in ("num_envs", "num_steps", "num_updates"):
            check_positive_int(name, getattr(self, name))
        if not isinstance(self.ppo, PPOConfig):
            raise bad_value("ppo", self.ppo, "a PPOConfig")
        if not isinstance(self.network, NetworkConfig):
            raise bad_value("network", self.network, "a NetworkConfig")
        if self.network.continuous:
            raise bad_value("network.continuous", True, "False (environment actions are discrete)")
        if not isinstance(self.share_params, bool):
            raise bad_value("share_params", self.share_params, "True or False")
        if not isinstance(self.turn_based, bool):
            raise bad_value("turn_based", self.turn_based, "True or False")
        if self.turn_based and not self.share_params:
            raise bad_value("turn_based", True, "False unless share_params=True")


class IPPOState(NamedTuple):
    """State of an IPPO run (``L`` parameter sets: 1 shared, else one per agent).

    Attributes:
        params: flax parameters, leaves ``[L, ...]``.
        opt_state: optimiser states, leaves ``[L, ...]``.
        env_state: environment states, leaves ``[E, ...]``.
        obs: ``[E, N, *obs_shape]`` the current observations.
        action_mask: ``[E, N, A]`` bool, the legal actions at ``obs``.
        done: ``[E]`` bool, ``obs`` starts an episode (resets GRU carries).
        carry: ``[N, E, H]`` policy carries (``H = 0`` for an MLP).
        key: ``[2]`` uint32 PRNG key.
    """

    params: Any
    opt_state: Any
    env_state: Any
    obs: chex.Array
    action_mask: chex.Array
    done: chex.Array
    carry: chex.Array
    key: chex.Array


def make_ippo(env: Any, config: IPPOConfig, env_params: Any = None) -> Trainer:
    """Build the IPPO :class:`~detente.training.Trainer` for ``env``.

    The three functions are compiled once per ``(env, config)`` and shared by
    every trainer built with equal arguments (and by :func:`train_ippo`), so a
    resumed run does not compile again; they stay vmappable (over keys, over
    states). An unhashable ``env`` gets plain, uncompiled functions.

    Args:
        env: a detente environment (``CoinGame``, ``IteratedMatrixGame``, ...).
        config: static configuration.
        env_params: the environment's params (default ``env.default_params()``).

    Returns:
        ``Trainer(init, step, evaluate, num_steps=config.num_updates)``:

        * ``init(key) -> IPPOState``;
        * ``step(state) -> (state, metrics)``, one rollout and one PPO update
          per parameter set. ``metrics`` (scalars): ``reward_i``, agent ``i``'s
          mean reward per step in the rollout; for each per-agent ``[N]``
          entry ``k`` of ``TimeStep.info`` (CoinGame: ``own_coin``,
          ``other_coin``), ``k_i`` its mean per step; and for each parameter
          set ``l``: ``loss_l``, ``policy_loss_l``, ``value_loss_l``,
          ``entropy_l``, ``approx_kl_l``, ``clip_frac_l`` (averages over the
          update's optimiser steps); with ``turn_based`` (MLP), ``multi_actor_frac``;
        * ``evaluate(state) -> dict``: a fresh rollout of ``num_envs x
          num_steps`` from new episodes (key ``fold_in(state.key, ...)``,
          state unchanged): ``"mean_reward"`` ``[N]`` per step, each
          per-agent info entry's mean per step ``[N]``, and with CoinGame's
          counts ``"own_coin_rate"`` ``[N]``, the fraction of agent ``i``'s
          pickups that were its own coin (0 without pickups).

    Raises:
        ValueError: if the batch does not split into ``config.ppo.minibatches``.
    """
    if not isinstance(config, IPPOConfig):
        raise bad_value("config", config, "an IPPOConfig")
    if env_params is None:
        env_params = env.default_params()
    plain = _build(env, config, env_params)  # validates
    try:
        hash(env)
    except TypeError:
        return plain
    static = dict(env=env, config=config)
    return Trainer(
        init=functools.partial(_init, env_params=env_params, **static),
        step=functools.partial(_step, env_params=env_params, **static),
        evaluate=functools.partial(_evaluate, env_params=env_params, **static),
        num_steps=config.num_updates,
    )


def _build(env: Any, config: IPPOConfig, env_params: Any) -> Trainer:
    """The uncompiled trainer of :func:`make_ippo`."""
    n = int(env.num_agents)
    e, t = config.num_envs, config.num_steps
    num_sets = 1 if config.share_params else n
    rows = (n if config.share_params else 1) * e
    samples = rows if config.network.recurrent else rows * t
    turn_based = config.turn_based and not config.network.recurrent
    if turn_based:  # one acting row per environment step
        samples = e * t
    if samples % config.ppo.minibatches:
        what = "environments" if config.network.recurrent else "samples (envs x steps)"
        raise bad_value(
            "ppo.minibatches",
            config.ppo.minibatches,
            f"a divisor of the {samples} {what} per parameter set",
        )
    set_of_agent = np.zeros(n, np.int32) if config.share_params else np.arange(n, dtype=np.int32)
    policy = make_policy(env.observation_shape, int(env.num_actions), config.network)
    optimizer = make_optimizer(config.ppo, config.num_updates)
    env_step = jax.vmap(auto_reset(env), in_axes=(0, 0, 0, None))
    env_reset = jax.vmap(env.reset, in_axes=(0, None))
    act = jax.vmap(functools.partial(policy_step, policy), in_axes=(0, 0, 0, None, 0, 0))

    def per_agent(params):
        return jax.tree_util.tree_map(lambda p: p[set_of_agent], params)

    def rollout(params, env_state, obs, mask, done, carry, key, length):
        agent_params = per_agent(params)

        def body(c, keys):  # keys [N + E, 2]: one per agent, one per environment
            env_state, obs, mask, done, carry = c
            obs_n = jnp.swapaxes(obs, 0, 1)  # [N, E, ...]
            mask_n = jnp.swapaxes(mask, 0, 1)  # [N, E, A]
            carry, action, log_prob, value = act(agent_params, carry, obs_n, done, keys[:n], mask_n)
            ts = env_step(keys[n:], env_state, action.T, env_params)
            tr = Transition(
                obs=obs_n,
                action=action,
                reward=ts.rewards.T,
                done=jnp.broadcast_to(ts.done, (n, e)),
                log_prob=log_prob,
                value=value,
                action_mask=mask_n,
            )
            return (ts.state, ts.obs, ts.action_mask, ts.done, carry), (tr, done, ts.info)

        (env_state, obs, mask, done, carry), (traj, resets, info) = jax.lax.scan(
            body, (env_state, obs, mask, done, carry), jax.random.split(key, (length, n + e))
        )
        # traj leaves [T, N, E, ...], resets [T, E], info leaves [T, E, ...]
        return (env_state, obs, mask, done, carry), traj, resets, info

    def agent_info(info):
        """Per-agent info entries, leaves ``[T, E, N]``, as ``{name: [N] mean per step}``."""
        return {
            k: jnp.mean(v, axis=(0, 1), dtype=jnp.float32)
            for k, v in info.items()
            if jnp.ndim(v) == 3 and v.shape[-1] == n
        }

    def init(key: chex.PRNGKey) -> IPPOState:
        key = raw_key(key)
        k_net, k_env, key = jax.random.split(key, 3)
        params = jax.lax.map(policy.init, jax.random.split(k_net, num_sets))
        ts = env_reset(jax.random.split(k_env, e), env_params)
        return IPPOState(
            params=params,
            opt_state=jax.vmap(optimizer.init)(params),
            env_state=ts.state,
            obs=ts.obs,
            action_mask=jnp.asarray(ts.action_mask, bool),
            done=jnp.ones((e,), bool),
            carry=policy.initial_carry((n, e)),
            key=key,
        )

    def acting_rows(mask):
        """``[T, N, E, A]`` masks -> ``([1, E * T]`` rows of the pooled batch, multi-actor frac)``.

        The pooled MLP batch holds step ``t`` of agent ``i`` in environment
        ``j`` at row ``(i * E + j) * T + t``; the acting agent has the most
        legal actions.
        """
        legal = jnp.sum(mask, axis=-1)  # [T, N, E]
        actor = jnp.argmax(legal, axis=1)  # [T, E]
        idx = (actor * e + jnp.arange(e)) * t + jnp.arange(t)[:, None]  # [T, E]
        multi = jnp.mean(jnp.sum(legal > 1, axis=1) > 1, dtype=jnp.float32)
        return idx.T.reshape(1, e * t).astype(jnp.int32), multi

    def learn(params, opt_state, transitions, last_value, key, reset, carry, rows):
        return ppo_learn(
            policy,
            config.ppo,
            optimizer,
            params,
            opt_state,
            transitions,
            last_value,
            key,
            reset=reset,
            carry=carry,
            rows=rows,
        )

    def step(state: IPPOState) -> tuple[IPPOState, dict]:
        keys = jax.random.split(state.key, 2 + num_sets)
        key, k_roll, k_upd = keys[0], keys[1], keys[2:]
        (env_state, obs, mask, done, carry), traj, resets, info = rollout(
            state.params,
            state.env_state,
            state.obs,
            state.action_mask,
            state.done,
            state.carry,
            k_roll,
            t,
        )
        _, _, last_value = jax.vmap(policy.apply, in_axes=(0, 0, 0, None))(
            per_agent(state.params), carry, jnp.swapaxes(obs, 0, 1)[:, None], done[None]
        )  # [N, 1, E]
        # Per agent, environment-major: [N, E, T, ...].
        data = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 0, 2), traj)
        data_reset = jnp.broadcast_to(resets.T, (n, e, t))
        data_last = last_value[:, 0]
        data_carry = state.carry
        if config.share_params:  # pool the agents: [1, N * E, ...]
            pool = lambda x: x.reshape(1, n * e, *x.shape[2:])
            data, data_reset, data_last, data_carry = jax.tree_util.tree_map(
                pool, (data, data_reset, data_last, data_carry)
            )
        data_rows, multi = acting_rows(traj.action_mask) if turn_based else (None, None)
        params, opt_state, upd = jax.vmap(learn)(
            state.params,
            state.opt_state,
            data,
            data_last,
            k_upd,
            data_reset,
            data_carry,
            data_rows,
        )
        metrics = {f"reward_{i}": traj.reward[:, i].mean() for i in range(n)}
        if turn_based:
            metrics["multi_actor_frac"] = multi
        for k, v in agent_info(info).items():
            metrics.update({f"{k}_{i}": v[i] for i in range(n)})
        for name, v in upd.aux._asdict().items():
            key_name = "loss" if name == "total" else name
            metrics.update({f"{key_name}_{s}": v[s] for s in range(num_sets)})
        new = IPPOState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            action_mask=mask,
            done=done,
            carry=carry,
            key=key,
        )
        return new, metrics

    def evaluate(state: IPPOState) -> dict:
        k_env, k_roll = jax.random.split(jax.random.fold_in(state.key, _EVAL_FOLD))
        ts = env_reset(jax.random.split(k_env, e), env_params)
        _, traj, _, info = rollout(
            state.params,
            ts.state,
            ts.obs,
            jnp.asarray(ts.action_mask, bool),
            jnp.ones((e,), bool),
            policy.initial_carry((n, e)),
            k_roll,
            t,
        )
        out = {"mean_reward": traj.reward.mean(axis=(0, 2))}
        out.update(agent_info(info))
        if "own_coin" in out and "other_coin" in out:
            picked = out["own_coin"] + out["other_coin"]
            out["own_coin_rate"] = jnp.where(
                picked > 0, out["own_coin"] / jnp.where(picked > 0, picked, 1.0), 0.0
            )
        return out

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=config.num_updates)


_static = functools.partial(jax.jit, static_argnames=("env", "config"))


@_static
def _init(key, *, env_params, env, config):
    return _build(env, config, env_params).init(key)


@_static
def _step(state, *, env_params, env, config):
    return _build(env, config, env_params).step(state)


@_static
def _evaluate(state, *, env_params, env, config):
    return _build(env, config, env_params).evaluate(state)


@_static
def _run(state, *, env_params, env, config):
    step = _build(env, config, env_params).step
    return jax.lax.scan(lambda s, _: step(s), state, None, config.num_updates)


def train_ippo(
    key: chex.PRNGKey, env: Any, config: IPPOConfig, env_params: Any = None
) -> tuple[IPPOState, dict]:
    """Run ``config.num_updates`` IPPO updates: ``init``, then one compiled ``lax.scan`` of ``step``.

    Vmappable over keys: ``jax.vmap(lambda k: train_ippo(k, env, config))(keys)``.

    Args:
        key: PRNG key; the same key gives bit-identical numbers.
        env: the environment (hashable: a frozen dataclass).
        config: static configuration.
        env_params: the environment's params (default ``env.default_params()``).

    Returns:
        ``(final_state, metrics)``, ``metrics`` the dict of :func:`make_ippo`'s
        ``step`` with leaves ``[num_updates]``.
    """
    trainer = make_ippo(env, config, env_params)
    if env_params is None:
        env_params = env.default_params()
    state = trainer.init(key)
    return _run(state, env_params=env_params, env=env, config=config)
