"""Sampled iterated two-player two-action matrix games as a functional environment.

:class:`IteratedMatrixGame` plays a stage game (prisoner's dilemma, matching
pennies, chicken, stag hunt, ...) ``num_steps`` times. Each agent observes the
memory-one state in its *own* view, a one-hot over five states

    ``(start, CC, CD, DC, DD)``

where the first letter is the agent's own last action and ``C`` is action 0:
exactly the order of :func:`detente.games.differentiable.iterated`, whose
exact discounted value ``V_i = p0^T (I - gamma P)^{-1} r_i`` is what sampled
rollouts of memory-one policies estimate (Foerster et al. 2018, "Learning
with Opponent-Learning Awareness", https://arxiv.org/abs/1709.04326,
Sec. 3.3; the sampled environment of their code and of Lu et al. 2022,
"Model-Free Opponent Shaping", https://arxiv.org/abs/2205.01447).

The payoffs and the discount live in :class:`IteratedParams`, a pytree, so
``jax.vmap`` over params runs a batch of games without recompiling; the
episode length ``num_steps`` is static.

Memory-one policies are ``[5]`` vectors of cooperation probabilities in the
own-view order; :func:`memory_one_action` samples from one, and
:data:`FIXED_STRATEGIES` holds the classic ones (always cooperate, always
defect, tit-for-tat, grim, random). :func:`rollout` plays many episodes.

Examples:
    >>> from detente.games import prisoners_dilemma
    >>> env = IteratedMatrixGame(num_steps=3)
    >>> params = IteratedMatrixGame.params_from(prisoners_dilemma(), gamma=0.96)
    >>> ts = env.reset(jax.random.key(0), params)
    >>> ts = env.step(jax.random.key(1), ts.state, jnp.array([0, 1]), params)
    >>> ts.rewards.tolist(), ts.obs.argmax(-1).tolist()
    ([-3.0, 0.0], [2, 3])
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.env import TimeStep
from detente.games.normal_form import NormalFormGame

__all__ = [
    "FIXED_STRATEGIES",
    "IteratedMatrixGame",
    "IteratedParams",
    "IteratedRollout",
    "IteratedState",
    "fixed_strategy",
    "memory_one_action",
    "rollout",
]

NUM_STATES = 5  # start, CC, CD, DC, DD
# The joint state index j (player 1's view, 0 = start, 1 + 2 a_1 + a_2 after
# joint action (a_1, a_2)) as player 2 sees it: CD and DC swap.
_SWAP_VIEW = (0, 1, 3, 2, 4)


@struct.dataclass
class IteratedParams:
    """Game constants of an iterated matrix game (a pytree; vmappable).

    Attributes:
        payoffs: ``[2, 2, 2]`` stage payoffs, ``payoffs[i, a_1, a_2]`` the
            reward of player ``i`` (the :class:`NormalFormGame` convention).
        gamma: ``[]`` discount, used only for the discount weights reported in
            ``info`` and for discounted returns; the dynamics ignore it.
    """

    payoffs: chex.Array  # [2, 2, 2]
    gamma: chex.Array  # []


class IteratedState(NamedTuple):
    """State of an iterated matrix game.

    Attributes:
        joint: ``[]`` int32, the last joint state in player 1's view:
            0 = start, ``1 + 2 a_1 + a_2`` after joint action ``(a_1, a_2)``
            (1 CC, 2 CD, 3 DC, 4 DD).
        t: ``[]`` int32, the number of steps played in this episode.
    """

    joint: chex.Array  # []
    t: chex.Array  # []


@dataclasses.dataclass(frozen=True)
class IteratedMatrixGame:
    """A two-player two-action stage game repeated ``num_steps`` times.

    Observations are each agent's one-hot memory-one state in its own view,
    ``obs: [2, 5]`` over ``(start, CC, CD, DC, DD)`` with the agent's own last
    action first. ``step`` pays ``payoffs[:, a_1, a_2]``; ``truncated`` is set
    on the ``num_steps``-th step, ``terminated`` never (the game has no end of
    its own). ``info`` holds

    * ``"step"``: ``[]`` int32, the steps played so far in the episode, and
    * ``"discount"``: ``[]`` float, ``gamma ** (step - 1)``, the weight of this
      transition's rewards in the discounted return ``sum_t gamma^t r_t``
      (0 after ``reset``, whose rewards are 0).

    Args:
        num_steps: the episode length (static).
    """

    num_steps: int = 100
    num_agents: ClassVar[int] = 2
    num_actions: ClassVar[int] = 2
    observation_shape: ClassVar[tuple[int, ...]] = (NUM_STATES,)

    def __post_init__(self):
        check_positive_int("num_steps", self.num_steps)

    @staticmethod
    def params_from(game: NormalFormGame, gamma: float = 0.96) -> IteratedParams:
        """Params for a two-player two-action stage game.

        Args:
            game: the stage game, ``payoffs: [2, 2, 2]``.
            gamma: discount in ``[0, 1)``.

        Returns:
            ``IteratedParams(payoffs=game.payoffs, gamma=gamma)``.

        Raises:
            ValueError: for a game that is not two-player two-action, or a
                gamma outside ``[0, 1)``.
        """
        if not isinstance(game, NormalFormGame):
            raise bad_value("game", game, "a NormalFormGame")
        if game.num_actions != (2, 2):
            raise bad_value(
                "game.num_actions", game.num_actions, "a two-player two-action stage game (2, 2)"
            )
        gamma = check_finite("gamma", gamma, low=0.0, high=1.0, high_inclusive=False)
        dtype = game.payoffs.dtype
        return IteratedParams(payoffs=game.payoffs, gamma=jnp.asarray(gamma, dtype))

    def default_params(self) -> IteratedParams:
        """LOLA's iterated prisoner's dilemma (CC -1, CD -3, DC 0, DD -2), gamma 0.96."""
        from detente.games.zoo import prisoners_dilemma

        return self.params_from(prisoners_dilemma(), 0.96)

    def _timestep(self, state, rewards, discount, params) -> TimeStep:
        views = jnp.stack([state.joint, jnp.asarray(_SWAP_VIEW, jnp.int32)[state.joint]])
        obs = jax.nn.one_hot(views, NUM_STATES, dtype=params.payoffs.dtype)  # [2, 5]
        return TimeStep(
            obs=obs,
            state=state,
            rewards=rewards,
            terminated=jnp.asarray(False),
            truncated=state.t >= self.num_steps,
            action_mask=jnp.ones((self.num_agents, self.num_actions), bool),
            info={"step": state.t, "discount": discount},
        )

    def reset(self, key: chex.PRNGKey, params: IteratedParams) -> TimeStep:
        """The start state, rewards 0.

        Args:
            key: unused (the start state is deterministic).
            params: the game constants.

        Returns:
            A ``TimeStep`` with ``obs[i]`` the one-hot of ``start``.
        """
        del key
        dtype = params.payoffs.dtype
        state = IteratedState(joint=jnp.asarray(0, jnp.int32), t=jnp.asarray(0, jnp.int32))
        return self._timestep(state, jnp.zeros(2, dtype), jnp.zeros((), dtype), params)

    def step(
        self, key: chex.PRNGKey, state: IteratedState, actions: chex.Array, params: IteratedParams
    ) -> TimeStep:
        """Play one round.

        Args:
            key: unused (the dynamics are deterministic given the actions).
            state: the current state.
            actions: ``[2]`` int, each agent's action (0 = cooperate / action 0).
            params: the game constants.

        Returns:
            A ``TimeStep`` with ``rewards = payoffs[:, a_1, a_2]`` and each
            agent's own-view observation of the new joint state.
        """
        del key
        chex.assert_shape(actions, (2,))
        a = jnp.asarray(actions, jnp.int32)
        rewards = params.payoffs[:, a[0], a[1]]
        discount = params.gamma**state.t
        new = IteratedState(joint=1 + 2 * a[0] + a[1], t=state.t + 1)
        return self._timestep(new, rewards, discount.astype(params.payoffs.dtype), params)


# ----------------------------------------------------------------------------
# Memory-one policies


def memory_one_action(key: chex.PRNGKey, probs: chex.Array, obs: chex.Array) -> chex.Array:
    """Sample an action from a memory-one policy.

    Args:
        key: PRNG key.
        probs: ``[5]`` probabilities of cooperating (action 0) in the own-view
            states ``(start, CC, CD, DC, DD)``.
        obs: ``[5]`` the agent's one-hot own-view observation.

    Returns:
        ``[]`` int32 action: 0 (cooperate) with probability ``probs @ obs``, else 1.
    """
    chex.assert_shape([probs, obs], (NUM_STATES,))
    p = jnp.dot(probs, obs)
    return jnp.where(jax.random.uniform(key, (), p.dtype) < p, 0, 1).astype(jnp.int32)


# Cooperation probabilities in the own-view order (start, CC, CD, DC, DD),
# own last action first. Grim as a memory-one strategy: C at the start and
# after CC, D otherwise. For deterministic play this is grim trigger
# (cooperate until the opponent defects once, then defect forever): it
# cooperates while every round so far was CC; the first opponent defection
# leaves state CD, so grim defects; from then on its own last action is D, so
# the state is never CC again and it defects forever. (Grim itself never
# defects first, so "someone defected" and "the opponent defected" agree.)
FIXED_STRATEGIES: dict[str, tuple[float, ...]] = {
    "always_cooperate": (1.0, 1.0, 1.0, 1.0, 1.0),
    "always_defect": (0.0, 0.0, 0.0, 0.0, 0.0),
    "tit_for_tat": (1.0, 1.0, 0.0, 1.0, 0.0),
    "grim": (1.0, 1.0, 0.0, 0.0, 0.0),
    "random": (0.5, 0.5, 0.5, 0.5, 0.5),
}
"""Classic memory-one strategies: name -> P(cooperate) in (start, CC, CD, DC, DD).

Tit-for-tat cooperates first and then copies the opponent's last action
(Axelrod, "The Evolution of Cooperation", 1984); grim is grim trigger (see the
comment above its entry); random cooperates with probability 1/2 everywhere.
"""


def fixed_strategy(name: str, dtype=None) -> chex.Array:
    """The ``[5]`` cooperation probabilities of a strategy in :data:`FIXED_STRATEGIES`.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    check_choice("strategy", name, FIXED_STRATEGIES)
    return jnp.asarray(FIXED_STRATEGIES[name], dtype or jnp.result_type(float))


# ----------------------------------------------------------------------------
# Rollouts


class IteratedRollout(NamedTuple):
    """Sampled episodes of an iterated matrix game.

    Attributes:
        actions: ``[E, T, 2]`` int32 actions.
        rewards: ``[E, T, 2]`` rewards.
        returns: ``[E, 2]`` discounted returns ``sum_t gamma^t r_t``.
    """

    actions: chex.Array  # [E, T, 2]
    rewards: chex.Array  # [E, T, 2]
    returns: chex.Array  # [E, 2]


def rollout(
    env: IteratedMatrixGame,
    params: IteratedParams,
    policies: chex.Array,
    key: chex.PRNGKey,
    num_episodes: int,
) -> IteratedRollout:
    """Play ``num_episodes`` episodes of ``env.num_steps`` steps with memory-one policies.

    A ``jax.lax.scan`` over steps, ``jax.vmap`` over episodes; jit it (with
    ``env`` and ``num_episodes`` static) or vmap it over params and policies.

    Args:
        env: the environment.
        params: the game constants.
        policies: ``[2, 5]`` each agent's P(cooperate) in its own view.
        key: PRNG key.
        num_episodes: number of independent episodes (static).

    Returns:
        An :class:`IteratedRollout`.
    """
    check_positive_int("num_episodes", num_episodes)
    chex.assert_shape(policies, (2, NUM_STATES))

    def episode(k):
        k_reset, k_steps = jax.random.split(k)
        ts0 = env.reset(k_reset, params)

        def body(ts, k_t):
            k_a, k_env = jax.random.split(k_t)
            ka = jax.random.split(k_a, 2)
            actions = jax.vmap(memory_one_action)(ka, policies, ts.obs)
            nxt = env.step(k_env, ts.state, actions, params)
            return nxt, (actions, nxt.rewards, nxt.info["discount"])

        _, (actions, rewards, disc) = jax.lax.scan(
            body, ts0, jax.random.split(k_steps, env.num_steps)
        )
        return actions, rewards, disc @ rewards

    actions, rewards, returns = jax.vmap(episode)(jax.random.split(key, num_episodes))
    return IteratedRollout(actions=actions, rewards=rewards, returns=returns)
