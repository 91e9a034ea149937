"""Containers shared by the PPO pieces, the inner learners and the shapers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex


class Transition(NamedTuple):
    """One agent's experience, time-major inside (add leading axes for envs).

    Attributes:
        obs: ``[T, *obs_shape]`` the observation the action was taken on.
        action: ``[T]`` (int) or ``[T, d]`` (continuous) actions.
        reward: ``[T]`` rewards of the transitions.
        done: ``[T]`` bool, the episode ended with this transition.
        log_prob: ``[T]`` log-probability of ``action`` under the acting policy.
        value: ``[T]`` the critic's value of ``obs`` (0 where there is none).
        action_mask: optional ``[T, A]`` bool, the legal actions at ``obs``
            (``TimeStep.action_mask``); ``None`` means all legal. PPO
            renormalises the policy over them when it recomputes
            log-probabilities and entropies.
    """

    obs: chex.Array
    action: chex.Array
    reward: chex.Array
    done: chex.Array
    log_prob: chex.Array
    value: chex.Array
    action_mask: chex.Array | None = None


class InnerLearner(NamedTuple):
    """A learner without memory across episodes, as pure functions.

    The shapers (M-FOS, Shaper) play against one of these: they call ``act``
    at every step of an inner episode and ``update`` once after it.

    Attributes:
        init: ``key -> state`` (a pytree: parameters, optimiser state).
        act: ``(state, obs [*obs_shape], key) -> (action [], log_prob [], value [])``.
        update: ``(state, transitions, last_obs, key) -> state``, one learning
            step on a batch of inner episodes: ``transitions`` is a
            :class:`Transition` with leading axes ``[E, T]`` (``E`` parallel
            environments), ``last_obs`` ``[E, *obs_shape]`` the observation
            after the last step (for bootstrapping).
    """

    init: Callable[[chex.PRNGKey], Any]
    act: Callable[[Any, chex.Array, chex.PRNGKey], tuple[chex.Array, chex.Array, chex.Array]]
    update: Callable[[Any, Transition, chex.Array, chex.PRNGKey], Any]
