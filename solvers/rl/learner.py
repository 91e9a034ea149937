"""A PPO learner as an :class:`~detente.solvers.rl.types.InnerLearner`.

The opponent that M-FOS and Shaper shape in the Coin Game (Lu et al. 2022,
"Model-Free Opponent Shaping", https://arxiv.org/abs/2205.01447, Sec. 6.3;
Khan et al. 2024, "Scaling Opponent Shaping to High Dimensional Games",
https://arxiv.org/abs/2312.12568): a memoryless MLP policy that, after every
batch of inner episodes it played, takes one PPO update (Schulman et al.
2017, https://arxiv.org/abs/1707.06347) on them. The shaper drives it
through the three functions of the interface::

    learner = make_ppo_learner(env, PPOConfig(), agent=1)
    state = learner.init(key)
    action, log_prob, value = learner.act(state, obs_1, key)     # per env, per step
    state = learner.update(state, transitions, last_obs_1, key)  # per inner batch

``act`` takes one observation; vmap it over environments. ``update`` takes
``Transition`` ``[E, T]`` built from what ``act`` returned and the
environment's rewards and ``done`` flags for this agent.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from detente._checks import bad_value
from detente.solvers.rl.policy import NetworkConfig, make_policy
from detente.solvers.rl.ppo import PPOConfig, make_optimizer, ppo_learn
from detente.solvers.rl.types import InnerLearner, Transition

__all__ = ["PPOLearnerState", "make_ppo_learner"]


class PPOLearnerState(NamedTuple):
    """State of a PPO inner learner.

    Attributes:
        params: the actor-critic's flax parameters.
        opt_state: the optimiser's state.
    """

    params: Any
    opt_state: Any


def make_ppo_learner(
    env: Any,
    config: PPOConfig,
    agent: int,
    *,
    network: NetworkConfig | None = None,
    num_updates: int | None = None,
) -> InnerLearner:
    """A memoryless PPO learner playing ``agent`` in ``env``.

    Args:
        env: a detente environment (``num_agents``, ``num_actions``,
            ``observation_shape``), e.g. ``CoinGame()`` or
            ``IteratedMatrixGame()``.
        config: PPO hyperparameters; ``config.epochs * config.minibatches``
            optimiser steps per ``update``, and ``E * T`` must be a multiple
            of ``config.minibatches``.
        agent: which agent it plays (``0 .. num_agents - 1``); the caller
            feeds it that agent's observations and rewards.
        network: an MLP (``kind="mlp"``) with categorical actions (default
            ``NetworkConfig()``: two hidden layers of 64, tanh).
        num_updates: updates per life of the learner, needed only with
            ``config.anneal_lr``.

    Returns:
        An :class:`InnerLearner`:

        * ``init(key) -> PPOLearnerState``;
        * ``act(state, obs [*obs_shape], key) -> (action [] int32, log_prob [], value [])``;
        * ``update(state, transitions: Transition [E, T], last_obs [E, *obs_shape], key)
          -> PPOLearnerState``: GAE with ``config.gamma``/``gae_lambda`` (``done``
          cuts bootstrapping; the value of ``last_obs`` bootstraps the rest),
          then ``config.epochs`` passes of ``config.minibatches`` minibatches.

    Raises:
        ValueError: for a bad ``agent`` or a recurrent or continuous ``network``.
    """
    if not isinstance(config, PPOConfig):
        raise bad_value("config", config, "a PPOConfig")
    num_agents = int(env.num_agents)
    if isinstance(agent, bool) or not isinstance(agent, int) or not 0 <= agent < num_agents:
        raise bad_value("agent", agent, f"an agent index in 0..{num_agents - 1}")
    network = NetworkConfig() if network is None else network
    if not isinstance(network, NetworkConfig) or network.recurrent or network.continuous:
        raise bad_value(
            "network", network, "NetworkConfig(kind='mlp', continuous=False) (memoryless)"
        )
    obs_shape = tuple(env.observation_shape)
    policy = make_policy(obs_shape, int(env.num_actions), network)
    optimizer = make_optimizer(config, num_updates)

    def init(key: chex.PRNGKey) -> PPOLearnerState:
        params = policy.init(key)
        return PPOLearnerState(params=params, opt_state=optimizer.init(params))

    def act(state: PPOLearnerState, obs: chex.Array, key: chex.PRNGKey):
        chex.assert_shape(obs, obs_shape)
        _, pi, value = policy.apply(
            state.params, policy.initial_carry((1,)), obs[None, None], jnp.zeros((1, 1), bool)
        )
        pi = jax.tree_util.tree_map(lambda x: x[0, 0], pi)
        action = pi.sample(key)
        return action, pi.log_prob(action), value[0, 0]

    def update(
        state: PPOLearnerState, transitions: Transition, last_obs: chex.Array, key: chex.PRNGKey
    ) -> PPOLearnerState:
        e = transitions.reward.shape[0]
        chex.assert_shape(last_obs, (e, *obs_shape))
        _, _, last_value = policy.apply(
            state.params, policy.initial_carry((e,)), last_obs[None], jnp.zeros((1, e), bool)
        )
        params, opt_state, _ = ppo_learn(
            policy,
            config,
            optimizer,
            state.params,
            state.opt_state,
            transitions,
            last_value[0],
            key,
        )
        return PPOLearnerState(params=params, opt_state=opt_state)

    return InnerLearner(init=init, act=act, update=update)
