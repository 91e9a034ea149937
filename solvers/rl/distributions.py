"""Action distributions of the PPO policies: categorical and diagonal Gaussian.

Two tiny NamedTuples (pytrees, so they pass through ``jax.vmap``,
``jax.lax.scan`` and flax modules) with ``sample``, ``log_prob`` and
``entropy``. They replace distrax, which detente does not depend on.

* :class:`Categorical` over ``A`` actions, from logits and an optional action
  mask: illegal actions get probability 0 and log-probability ``-inf``, and are
  never sampled.
* :class:`Gaussian` with a diagonal covariance, from a mean and a log standard
  deviation; ``log_prob`` and ``entropy`` sum over the action dimensions.

Examples:
    >>> pi = Categorical.create(jnp.zeros(3), mask=jnp.array([True, True, False]))
    >>> pi.probs.tolist()
    [0.5, 0.5, 0.0]
    >>> float(Gaussian(jnp.zeros(2), jnp.zeros(2)).entropy())  # log(2 pi e)
    2.837877...
"""

from __future__ import annotations

import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

__all__ = ["Categorical", "Gaussian"]

_LOG_2PI = math.log(2.0 * math.pi)


class Categorical(NamedTuple):
    """A categorical distribution over the last axis.

    Attributes:
        logits: ``[..., A]`` normalised log-probabilities (``log_softmax`` of
            the network's logits), ``-inf`` at masked actions. Build it with
            :meth:`create`; the plain constructor does not normalise.
    """

    logits: chex.Array  # [..., A]

    @classmethod
    def create(cls, logits: chex.Array, mask: chex.Array | None = None) -> Categorical:
        """The distribution ``softmax(logits)``, restricted to ``mask``.

        Args:
            logits: ``[..., A]`` unnormalised log-probabilities.
            mask: optional ``[..., A]`` bool, ``True`` at legal actions (at
                least one per row); masked actions get probability 0.

        Returns:
            The distribution, with normalised ``logits``.
        """
        logits = jnp.asarray(logits)
        if mask is not None:
            logits = jnp.where(mask, logits, -jnp.inf)
        return cls(logits=jax.nn.log_softmax(logits, axis=-1))

    @property
    def probs(self) -> chex.Array:
        """``[..., A]`` probabilities."""
        return jnp.exp(self.logits)

    def sample(self, key: chex.PRNGKey) -> chex.Array:
        """``[...]`` int32 actions (Gumbel-max over the legal actions)."""
        return jax.random.categorical(key, self.logits, axis=-1).astype(jnp.int32)

    def log_prob(self, action: chex.Array) -> chex.Array:
        """``[...]`` ``log pi(action)``; ``-inf`` for a masked action.

        Args:
            action: ``[...]`` int actions in ``0 .. A - 1``.
        """
        action = jnp.asarray(action, jnp.int32)
        return jnp.take_along_axis(self.logits, action[..., None], axis=-1)[..., 0]

    def entropy(self) -> chex.Array:
        """``[...]`` ``-sum_a pi(a) log pi(a)``; masked actions add 0 (NaN-free gradients)."""
        safe = jnp.where(jnp.isneginf(self.logits), 0.0, self.logits)
        return -jnp.sum(jnp.exp(self.logits) * safe, axis=-1)

    def mode(self) -> chex.Array:
        """``[...]`` int32 most probable actions."""
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


class Gaussian(NamedTuple):
    """A Gaussian with diagonal covariance over the last axis.

    Attributes:
        mean: ``[..., d]`` means.
        log_std: ``[..., d]`` (or broadcastable) log standard deviations.
    """

    mean: chex.Array  # [..., d]
    log_std: chex.Array  # [..., d]

    def sample(self, key: chex.PRNGKey) -> chex.Array:
        """``[..., d]`` ``mean + exp(log_std) * eps``, ``eps ~ N(0, I)``."""
        mean, log_std = jnp.broadcast_arrays(self.mean, self.log_std)
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)

    def log_prob(self, action: chex.Array) -> chex.Array:
        """``[...]`` ``sum_j log N(action_j; mean_j, std_j^2)``.

        Args:
            action: ``[..., d]`` real actions.
        """
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self) -> chex.Array:
        """``[...]`` ``sum_j (log std_j + (1 + log 2 pi) / 2)``."""
        log_std = jnp.broadcast_to(self.log_std, jnp.shape(self.mean))
        return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1)

    def mode(self) -> chex.Array:
        """``[..., d]`` the mean."""
        return self.mean
