"""Self-play for zero-shot coordination: IPPO with one policy in every seat.

A zero-shot-coordination agent is one seat-agnostic policy (Hu et al. 2020,
"Other-Play for Zero-Shot Coordination", ICML,
https://arxiv.org/abs/2003.02979, Sec. 2): a
:class:`~detente.solvers.rl.policy.NetworkConfig` and the parameters of
:func:`~detente.solvers.rl.policy.make_policy`. Self-play trains it with
independent PPO whose agents share one parameter set (IPPO's
``share_params=True``; de Witt et al. 2020, https://arxiv.org/abs/2011.09533),
with an MLP or a GRU, honouring the environment's legal-action masks. This
module is a thin layer over :mod:`detente.solvers.rl.ippo`; nothing of PPO is
written again.

* :func:`make_selfplay` is the :class:`~detente.training.Trainer` of one seed;
* :func:`train_selfplay` trains ``S`` seeds as one compiled program
  (``jax.vmap`` over keys), returning the final states (leaves ``[S, ...]``)
  and the metrics (leaves ``[S, num_updates]``);
* :func:`agent_params` turns final states into the trained agents, parameter
  leaves ``[S, ...]``, ready for cross-play
  (:mod:`detente.analysis.crossplay`) or for
  :func:`detente.solvers.zsc.agents.save_agents`;
* :func:`action_probs` evaluates agents' policies on given observations.

Other-Play (:mod:`detente.solvers.zsc.other_play`) is self-play on an
environment wrapped with random symmetries, so it reuses all of this.

Example:
    >>> from detente.games.coordination import LeverGame
    >>> from detente.solvers.rl.ppo import PPOConfig
    >>> cfg = IPPOConfig(num_envs=8, num_steps=1, num_updates=4, share_params=True,
    ...                  ppo=PPOConfig(minibatches=2))
    >>> keys = jax.random.split(jax.random.key(0), 3)
    >>> states, metrics = train_selfplay(keys, LeverGame(), cfg)
    >>> metrics["reward_0"].shape, jax.tree_util.tree_leaves(agent_params(states))[0].shape[0]
    ((3, 4), 3)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import chex
import jax
import jax.numpy as jnp

from detente._checks import bad_value
from detente.solvers.rl.ippo import IPPOConfig, IPPOState, make_ippo, train_ippo
from detente.solvers.rl.policy import Policy, make_policy, mask_policy
from detente.training import Trainer

__all__ = [
    "action_probs",
    "agent_params",
    "check_selfplay_config",
    "make_selfplay",
    "selfplay_policy",
    "train_selfplay",
]


def check_selfplay_config(config: IPPOConfig) -> IPPOConfig:
    """Return ``config`` if it is a self-play IPPO config (``share_params=True``).

    Raises:
        ValueError: naming ``config`` or ``config.share_params``.
    """
    if not isinstance(config, IPPOConfig):
        raise bad_value("config", config, "an IPPOConfig")
    if not config.share_params:
        raise bad_value(
            "config.share_params",
            config.share_params,
            "True (self-play trains one policy for every seat)",
        )
    return config


def selfplay_policy(env: Any, config: IPPOConfig) -> Policy:
    """The :class:`~detente.solvers.rl.policy.Policy` the agents of ``config`` use in ``env``."""
    return make_policy(env.observation_shape, int(env.num_actions), config.network)


def make_selfplay(env: Any, config: IPPOConfig, env_params: Any = None) -> Trainer:
    """The self-play :class:`~detente.training.Trainer` of one seed.

    Args:
        env: a detente environment (hashable, e.g. a frozen dataclass, so the
            trainer's functions are compiled once).
        config: IPPO configuration with ``share_params=True``.
        env_params: the environment's params (default ``env.default_params()``).

    Returns:
        :func:`~detente.solvers.rl.ippo.make_ippo`'s trainer: ``init(key) ->
        IPPOState`` (``params`` leaves ``[1, ...]``), ``step(state) -> (state,
        metrics)`` (``reward_i``, ``loss_0``, ``entropy_0``, ...), and
        ``evaluate(state)`` (``"mean_reward"`` ``[N]`` per step).

    Raises:
        ValueError: if ``config`` is not a self-play config.
    """
    return make_ippo(env, check_selfplay_config(config), env_params)


def _train_many(keys, env_params, *, env, config):
    return jax.vmap(lambda k: train_ippo(k, env, config, env_params))(keys)


@functools.lru_cache(maxsize=8)
def _compiled_train_many(options: tuple) -> Callable:
    """``_train_many`` jitted with XLA ``compiler_options`` (one jitted function per options)."""
    return jax.jit(
        _train_many, static_argnames=("env", "config"), compiler_options=dict(options) or None
    )


def train_selfplay(
    keys: chex.Array,
    env: Any,
    config: IPPOConfig,
    env_params: Any = None,
    *,
    compiler_options: Mapping[str, Any] | None = None,
) -> tuple[IPPOState, dict]:
    """Train ``S`` self-play agents, one per key, in one compiled program.

    Each seed is :func:`~detente.solvers.rl.ippo.train_ippo` (``init``, then a
    ``lax.scan`` of ``config.num_updates`` updates); the seeds are vmapped.
    The same keys give bit-identical agents.

    Args:
        keys: ``[S, 2]`` raw ``uint32`` keys or ``[S]`` typed keys
            (``jax.random.split(key, S)``).
        env: a hashable detente environment (``LeverGame()``, a Hanabi
            adapter, an :class:`~detente.solvers.zsc.other_play.OtherPlayEnv`).
        config: IPPO configuration with ``share_params=True``.
        env_params: the environment's params, shared by every seed (default
            ``env.default_params()``).
        compiler_options: XLA options for the compiled program, e.g.
            ``{"xla_backend_optimization_level": 1}``: on CPU a small
            program (the lever games) then compiles about 4x faster for a
            similar run time; the default (``None``) is XLA's.

    Returns:
        ``(states, metrics)``: an :class:`~detente.solvers.rl.ippo.IPPOState`
        with leaves ``[S, ...]`` (``params`` leaves ``[S, 1, ...]``) and the
        per-update metrics of :func:`make_selfplay`'s ``step``, leaves
        ``[S, num_updates]``. :func:`agent_params` extracts the agents.

    Raises:
        ValueError: for a non-self-play config, keys without a leading seed
            axis, or an unhashable ``env``.
    """
    check_selfplay_config(config)
    keys = jnp.asarray(keys) if not hasattr(keys, "dtype") else keys
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if keys.ndim != (1 if typed else 2) or keys.shape[0] < 1:
        raise bad_value(
            "keys.shape", tuple(keys.shape), "[S, 2] raw keys or [S] typed keys, S >= 1"
        )
    try:
        hash(env)
    except TypeError:
        raise bad_value("env", type(env).__name__, "a hashable environment") from None
    if compiler_options is not None and not isinstance(compiler_options, Mapping):
        raise bad_value("compiler_options", compiler_options, "a dict of XLA options or None")
    if env_params is None:
        env_params = env.default_params()
    options = tuple(sorted((compiler_options or {}).items()))
    return _compiled_train_many(options)(keys, env_params, env=env, config=config)


def agent_params(states: IPPOState) -> Any:
    """The trained agents of self-play states: the shared parameter set, its ``[1]`` axis dropped.

    Args:
        states: one :class:`~detente.solvers.rl.ippo.IPPOState` (``params``
            leaves ``[1, ...]``) or a stack of them from :func:`train_selfplay`
            (leaves ``[S, 1, ...]``; any number of leading axes, read from
            ``states.done`` ``[..., E]``).

    Returns:
        Parameters with leaves ``[...]`` (one agent) or ``[S, ...]`` (``S``
        agents), for :func:`~detente.solvers.rl.policy.make_policy` with the
        config's ``network``.

    Raises:
        ValueError: if ``states`` is not an ``IPPOState`` or holds more than
            one parameter set (``share_params=False``).
    """
    if not isinstance(states, IPPOState):
        raise bad_value("states", type(states).__name__, "an IPPOState (or a stack of them)")
    axis = jnp.ndim(states.done) - 1  # done is [E] in one state
    sets = jax.tree_util.tree_leaves(states.params)[0].shape[axis]
    if sets != 1:
        raise bad_value("number of parameter sets", sets, "1 (self-play: share_params=True)")
    return jax.tree_util.tree_map(lambda x: jnp.squeeze(x, axis), states.params)


def action_probs(
    policy: Policy,
    params: Any,
    obs: chex.Array,
    mask: chex.Array | None = None,
) -> chex.Array:
    """Probabilities ``pi(. | o)`` of memoryless agents (an MLP, or a GRU's first step).

    Args:
        policy: e.g. :func:`selfplay_policy`.
        params: one agent's parameters (leaves ``[...]``); vmap for a stack.
        obs: ``[B, *obs_shape]`` observations, each read as an episode's first.
        mask: optional ``[B, A]`` legal actions.

    Returns:
        ``[B, A]`` action probabilities (0 at illegal actions).
    """
    b = obs.shape[0]
    _, pi, _ = policy.apply(params, policy.initial_carry((b,)), obs[None], jnp.ones((1, b), bool))
    pi = jax.tree_util.tree_map(lambda x: x[0], pi)
    return mask_policy(pi, mask).probs
