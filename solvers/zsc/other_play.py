"""Other-Play: self-play on an environment relabelled by random symmetries.

Other-Play (Hu et al. 2020, "Other-Play for Zero-Shot Coordination", ICML,
https://arxiv.org/abs/2003.02979, Sec. 4, Eq. 3) maximises the return of a
policy ``pi`` with a partner that plays ``pi`` under a uniformly random
symmetry ``phi`` of the Dec-POMDP, ``J(pi, phi(pi))``, so that ``pi`` cannot
rely on arbitrary conventions that a symmetry breaks (which of nine equal
levers to pull, which colour a hint means).

Here that is an environment wrapper, :class:`OtherPlayEnv`, and Other-Play is
plain self-play (:func:`~detente.solvers.zsc.selfplay.train_selfplay`, IPPO
with shared parameters) on the wrapped environment. At every reset the
wrapper draws one symmetry ``g_i`` per agent, independently and uniformly,
keeps it for the episode, and

* shows agent ``i`` the observation ``g_i . o_i`` and the legal-action mask
  ``g_i . mask_i`` (:func:`~detente.games.symmetry.apply_obs`,
  :func:`~detente.games.symmetry.apply_mask`);
* sends the environment ``g_i^-1 . a_i`` for agent ``i``'s action ``a_i``
  (:func:`~detente.games.symmetry.apply_action` of
  :func:`~detente.games.symmetry.inverse`), so a legal ``a_i`` under the
  shown mask is legal in the environment.

Agent ``i`` therefore plays the policy ``g_i^-1 pi g_i`` in the original
game. Since ``g_1`` and ``g_2`` are independent and uniform over a group, the
relative symmetry between the partners (``g_1 g_2^-1``) is uniform too, for
any fixed ``g_1``: this is the Other-Play objective with a random ``phi`` on
the partner, averaged also over a random relabelling of the seat itself
(which leaves the return unchanged, ``g`` being a symmetry). Rewards,
``terminated``, ``truncated`` and ``info`` pass through unchanged.

Symmetries come from :mod:`detente.games.symmetry`: either a stacked group
``G`` (``env.symmetry_group(params)``; Hanabi's 120 colour permutations),
kept in :class:`OtherPlayParams` so it is data, not a compile-time constant,
or a sampling function ``(key, env_params) -> Symmetry`` (the lever games'
``env.random_symmetry`` draws from the full ``S_9``, too large to stack).

Learning dynamics (the one-shot lever game, nine levers paying 1.0 and one
0.9): in the class masses ``P_1`` (the nine) and ``P_2`` (the 0.9 lever),
Other-Play's objective is ``J = P_1^2 / 9 + 0.9 P_2^2``; its optimum is the
0.9 lever, but its gradient at the uniform policy (``P_2 = 0.1``) points
towards the nine 1.0 levers (the basins meet at ``P_2 ~ 0.11``), where ``J``
is only ``1/9``. An exact-gradient learner from a uniform start therefore
ends at ``1/9``; PPO finds the 0.9 lever through exploration: an entropy
bonus and small noisy batches keep the policy moving until it falls into the
0.9 lever's much deeper basin, and an annealed step size settles it there
(``tests/test_zsc.py``: ``ent_coef=0.25``, 16 environments, ``lr=2e-2``
annealed over 2000 updates; about 1 seed in 150 was still near the uniform
policy at the end).

Example:
    >>> from detente.games.coordination import LeverGame
    >>> from detente.solvers.rl.ppo import PPOConfig
    >>> from detente.solvers.zsc.selfplay import train_selfplay
    >>> op_env, op_params = other_play_env(LeverGame())
    >>> cfg = IPPOConfig(num_envs=8, num_steps=1, num_updates=4, share_params=True,
    ...                  ppo=PPOConfig(minibatches=2))
    >>> states, metrics = train_selfplay(jax.random.split(jax.random.key(0), 2),
    ...                                  op_env, cfg, op_params)
    >>> metrics["reward_0"].shape
    (2, 4)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct

from detente._checks import bad_value
from detente.env import TimeStep, Wrapper
from detente.games.symmetry import (
    Symmetry,
    apply_action,
    apply_mask,
    apply_obs,
    inverse,
    sample_symmetry,
)
from detente.solvers.rl.ippo import IPPOConfig, IPPOState
from detente.solvers.zsc.selfplay import train_selfplay

__all__ = [
    "OtherPlayEnv",
    "OtherPlayParams",
    "OtherPlayState",
    "other_play_env",
    "train_other_play",
]


@struct.dataclass
class OtherPlayParams:
    """Params of an :class:`OtherPlayEnv` (a pytree).

    Attributes:
        env: the wrapped environment's params.
        group: the stacked symmetry group sampled from (leaves ``[G, ...]``),
            or ``None`` when the wrapper has a sampling function.
    """

    env: Any
    group: Symmetry | None = None


class OtherPlayState(NamedTuple):
    """State of an :class:`OtherPlayEnv`.

    Attributes:
        env: the wrapped environment's state.
        symmetry: the episode's symmetries, one per agent (leaves ``[N, ...]``):
            agent ``i`` sees ``g_i . o_i`` and its action ``a`` is played as
            ``g_i^-1 . a``.
    """

    env: Any
    symmetry: Symmetry


@dataclasses.dataclass(frozen=True)
class OtherPlayEnv(Wrapper):
    """``env`` seen through independent random symmetries, one per agent and episode.

    A detente environment itself (``reset``/``step``/``default_params`` and
    the static shapes of ``env``). Build it with :func:`other_play_env`.

    Attributes:
        env: the wrapped environment (hashable).
        sampler: ``(key, env_params) -> Symmetry``, a uniformly random
            symmetry of ``env``; ``None`` to sample uniformly from
            ``params.group``.
    """

    sampler: Callable[[chex.PRNGKey, Any], Symmetry] | None = None

    def make_params(self, env_params: Any = None, group: Symmetry | None = None) -> OtherPlayParams:
        """The wrapper's params for ``env_params`` (default ``env.default_params()``).

        Args:
            env_params: the wrapped environment's params.
            group: the stacked group to sample from when there is no
                ``sampler`` (default ``env.symmetry_group(env_params)``).

        Raises:
            ValueError: if a group is given with a ``sampler``, or neither can
                be found.
        """
        if env_params is None:
            env_params = self.env.default_params()
        if self.sampler is not None:
            if group is not None:
                raise bad_value("group", "a Symmetry", "None (this wrapper samples with sampler)")
            return OtherPlayParams(env=env_params, group=None)
        if group is None:
            if not hasattr(self.env, "symmetry_group"):
                raise bad_value(
                    "env", type(self.env).__name__, "an env with symmetry_group(params)"
                )
            group = self.env.symmetry_group(env_params)
        _check_group(group, self.env)
        return OtherPlayParams(env=env_params, group=group)

    def default_params(self) -> OtherPlayParams:
        """:meth:`make_params` of the wrapped environment's default params."""
        return self.make_params()

    def _sample(self, key: chex.PRNGKey, params: OtherPlayParams) -> Symmetry:
        """``[N]`` stacked independent uniform symmetries."""
        keys = jax.random.split(key, self.num_agents)
        if self.sampler is not None:
            return jax.vmap(lambda k: self.sampler(k, params.env))(keys)
        if params.group is None:
            raise bad_value("params.group", None, "a stacked Symmetry (no sampler was given)")
        return jax.vmap(lambda k: sample_symmetry(k, params.group))(keys)

    def _view(self, ts: TimeStep, g: Symmetry, env_state: Any) -> TimeStep:
        """``ts`` as the agents see it under their symmetries ``g`` ``[N]``."""
        shape = self.observation_shape
        obs = jax.vmap(lambda h, o: apply_obs(h, o, shape))(g, ts.obs)
        mask = jax.vmap(apply_mask)(g, ts.action_mask)
        return ts._replace(
            obs=obs, action_mask=mask, state=OtherPlayState(env=env_state, symmetry=g)
        )

    def reset(self, key: chex.PRNGKey, params: OtherPlayParams) -> TimeStep:
        """Reset ``env`` and draw the episode's symmetries, one per agent.

        Returns:
            The wrapped environment's first ``TimeStep`` with ``obs[i] = g_i . o_i``
            and ``action_mask[i] = g_i . mask_i``; ``state`` an
            :class:`OtherPlayState`.
        """
        k_env, k_sym = jax.random.split(key)
        ts = self.env.reset(k_env, params.env)
        return self._view(ts, self._sample(k_sym, params), ts.state)

    def step(
        self,
        key: chex.PRNGKey,
        state: OtherPlayState,
        actions: chex.Array,
        params: OtherPlayParams,
    ) -> TimeStep:
        """Play ``g_i^-1 . a_i`` for every agent ``i`` in the wrapped environment.

        Args:
            key: the wrapped environment's step key.
            state: the current :class:`OtherPlayState`.
            actions: ``[N]`` int actions in the agents' (relabelled) view.
            params: the wrapper's params.

        Returns:
            The wrapped environment's ``TimeStep`` with observations and masks
            relabelled by the episode's symmetries; rewards, ``terminated``,
            ``truncated`` and ``info`` unchanged.
        """
        chex.assert_shape(actions, (self.num_agents,))
        env_actions = jax.vmap(lambda h, a: apply_action(inverse(h), a))(state.symmetry, actions)
        ts = self.env.step(key, state.env, env_actions, params.env)
        return self._view(ts, state.symmetry, ts.state)


def _check_group(group: Any, env: Any) -> None:
    if not isinstance(group, Symmetry):
        raise bad_value("group", type(group).__name__, "a stacked Symmetry [G]")
    a = int(env.num_actions)
    if jnp.ndim(group.action_perm) != 2 or group.action_perm.shape[-1] != a:
        raise bad_value("group.action_perm.shape", tuple(jnp.shape(group.action_perm)), f"[G, {a}]")


def other_play_env(
    env: Any,
    symmetries: Symmetry | Callable[[chex.PRNGKey, Any], Symmetry] | None = None,
    env_params: Any = None,
) -> tuple[OtherPlayEnv, OtherPlayParams]:
    """Wrap ``env`` for Other-Play and build the wrapper's params.

    Args:
        env: a hashable detente environment with symmetries.
        symmetries: a stacked group (``Symmetry`` with leaves ``[G, ...]``), a
            sampling function ``(key, env_params) -> Symmetry`` that draws a
            uniformly random symmetry, or ``None``: ``env.random_symmetry`` if
            the environment has one (the lever games: the full group), else
            ``env.symmetry_group(env_params)`` (Hanabi: 120 colour
            permutations).
        env_params: the environment's params (default ``env.default_params()``).

    Returns:
        ``(OtherPlayEnv, OtherPlayParams)``; train with
        ``train_selfplay(keys, op_env, config, op_params)`` or
        :func:`train_other_play`.

    Raises:
        ValueError: if ``symmetries`` is of another type or no symmetries
            can be found.
    """
    if env_params is None:
        env_params = env.default_params()
    if symmetries is None:
        sampler = getattr(env, "random_symmetry", None)
        if sampler is not None:
            symmetries = sampler
        elif hasattr(env, "symmetry_group"):
            symmetries = env.symmetry_group(env_params)
        else:
            raise bad_value(
                "symmetries",
                None,
                "a stacked Symmetry or a sampler (the env has neither random_symmetry "
                "nor symmetry_group)",
            )
    if isinstance(symmetries, Symmetry):
        wrapped = OtherPlayEnv(env=env, sampler=None)
        return wrapped, wrapped.make_params(env_params, group=symmetries)
    if callable(symmetries):
        wrapped = OtherPlayEnv(env=env, sampler=symmetries)
        return wrapped, wrapped.make_params(env_params)
    raise bad_value(
        "symmetries",
        type(symmetries).__name__,
        "a stacked Symmetry, a function (key, env_params) -> Symmetry, or None",
    )


def train_other_play(
    keys: chex.Array,
    env: Any,
    config: IPPOConfig,
    env_params: Any = None,
    symmetries: Symmetry | Callable[[chex.PRNGKey, Any], Symmetry] | None = None,
    *,
    compiler_options: Mapping[str, Any] | None = None,
) -> tuple[IPPOState, dict]:
    """Train ``S`` Other-Play agents, one per key, in one compiled program.

    :func:`other_play_env`, then
    :func:`~detente.solvers.zsc.selfplay.train_selfplay` on the wrapper.

    Args:
        keys: ``[S, 2]`` raw keys or ``[S]`` typed keys.
        env: a hashable detente environment with symmetries.
        config: IPPO configuration with ``share_params=True``.
        env_params: the environment's params (default ``env.default_params()``).
        symmetries: see :func:`other_play_env`.
        compiler_options: XLA options, see :func:`train_selfplay`.

    Returns:
        ``(states, metrics)`` as :func:`train_selfplay`'s (``env_state`` an
        :class:`OtherPlayState`); the agents, from
        :func:`~detente.solvers.zsc.selfplay.agent_params`, act in the
        original, unrelabelled environment.
    """
    op_env, op_params = other_play_env(env, symmetries, env_params)
    return train_selfplay(keys, op_env, config, op_params, compiler_options=compiler_options)
