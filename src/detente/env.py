"""The functional environment contract shared by every Dec-POMDP in detente.

An environment is an object with static shape attributes and two pure
functions (gymnax's ``reset``/``step`` with ``params``, JaxMARL's multi-agent
layout, arrays with a leading agent axis instead of dicts)::

    ts = env.reset(key, params)                  # TimeStep, rewards 0
    ts = env.step(key, ts.state, actions, params)  # actions: [num_agents] int

Game constants (payoffs, episode length where it is not shape-fixing, noise
levels) live in ``params``, a pytree, so ``jax.vmap`` runs a batch of games
without recompiling; shape-fixing choices are constructor arguments.
``terminated`` (the game ended) is kept apart from ``truncated`` (a time
limit cut it), as in gymnax 1.0. :func:`auto_reset` turns ``step`` into one
that starts a new episode after either.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Protocol

import chex
import jax
import jax.numpy as jnp


class TimeStep(NamedTuple):
    """What ``reset`` and ``step`` return.

    Attributes:
        obs: ``[num_agents, *observation_shape]`` each agent's observation.
        state: the environment state (a pytree).
        rewards: ``[num_agents]`` rewards of the transition (0 after reset).
        terminated: ``[]`` bool, the episode ended inside the game.
        truncated: ``[]`` bool, the episode was cut by a time limit.
        action_mask: ``[num_agents, num_actions]`` bool, legal actions.
        info: a dict of extra arrays (fixed structure per environment).
    """

    obs: chex.Array
    state: Any
    rewards: chex.Array
    terminated: chex.Array
    truncated: chex.Array
    action_mask: chex.Array
    info: dict

    @property
    def done(self) -> chex.Array:
        """``terminated | truncated``."""
        return self.terminated | self.truncated


class Environment(Protocol):
    """Static attributes and pure functions of a detente environment."""

    num_agents: int
    num_actions: int
    observation_shape: tuple[int, ...]

    def default_params(self) -> Any: ...

    def reset(self, key: chex.PRNGKey, params: Any) -> TimeStep: ...

    def step(self, key: chex.PRNGKey, state: Any, actions: chex.Array, params: Any) -> TimeStep: ...


def auto_reset(env: Environment):
    """``step`` that begins a new episode once the current one is done.

    The returned ``TimeStep`` keeps the finishing transition's rewards,
    ``terminated`` and ``truncated``, but its ``obs``, ``state`` and
    ``action_mask`` are those of the fresh episode (the JaxMARL/gymnax
    convention), so a ``lax.scan`` over steps never stops.
    """

    def step(key: chex.PRNGKey, state: Any, actions: chex.Array, params: Any) -> TimeStep:
        k_step, k_reset = jax.random.split(key)
        ts = env.step(k_step, state, actions, params)
        fresh = env.reset(k_reset, params)
        pick = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(ts.done, x, y), a, b)
        return ts._replace(
            obs=pick(fresh.obs, ts.obs),
            state=pick(fresh.state, ts.state),
            action_mask=pick(fresh.action_mask, ts.action_mask),
        )

    return step


@dataclasses.dataclass(frozen=True)
class Wrapper:
    """Base of environments that wrap another: the wrapped ``env``'s static shapes.

    A frozen dataclass (hashable when ``env`` is, so a trainer compiles once per
    wrapper); subclasses add their own fields and ``reset``/``step`` (and
    override a shape where they change it, e.g. a longer observation).

    Attributes:
        env: the wrapped environment.
    """

    env: Any

    @property
    def num_agents(self) -> int:
        return int(self.env.num_agents)

    @property
    def num_actions(self) -> int:
        return int(self.env.num_actions)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.env.observation_shape)
