"""Actor-critic networks (flax.linen) shared by every PPO trainer in detente.

* :class:`ActorCritic`: an MLP actor and an MLP critic on flat observations,
  ``obs [..., F] -> (pi, value [...])``.
* :class:`RecurrentActorCritic`: an embedding layer, a GRU whose carry is
  zeroed where an episode starts, then actor and critic heads; it runs over a
  time-major sequence, ``(carry [B, H], (obs [T, B, F], reset [T, B])) ->
  (carry [B, H], (pi, value [T, B]))``, so one module serves rollouts
  (``T = 1``) and training on whole sequences. The reset inside the scan is
  the pattern of purejaxrl's ``ScannedRNN`` (Lu et al. 2022, "Discovered
  Policy Optimisation", https://arxiv.org/abs/2210.05639).

``pi`` is a :class:`~detente.solvers.rl.distributions.Categorical` over
``action_dim`` actions (``pi.logits: [..., A]``), or with ``continuous=True``
a :class:`~detente.solvers.rl.distributions.Gaussian` over ``action_dim``
real numbers whose log standard deviation is a learnable state-independent
parameter ``log_std [action_dim]`` (M-FOS-RL, whose actions are inner-policy
logits). Weights start as ``N(0, gain^2 / fan_in)`` with gain ``sqrt 2`` in
hidden layers, 0.01 in the actor's output layer (a near-uniform initial
policy) and 1.0 in the critic's (the gains of the PPO implementation details,
Huang et al. 2022,
https://iclr-blog-track.github.io/2022/03/25/ppo-implementation-details/).
Those use orthogonal matrices; here the GRU's recurrent kernel too is
scaled-normal, because an orthogonal initialiser calls LAPACK's QR, and
batched LAPACK inside vmapped jitted programs can deadlock in jaxlib 0.10
(``benchmarks/hang_investigation.md``); it also compiles slowly.

Examples:
    >>> net = ActorCritic(action_dim=5)
    >>> params = net.init(jax.random.key(0), jnp.zeros(36))
    >>> pi, value = net.apply(params, jnp.zeros((8, 36)))
    >>> pi.logits.shape, value.shape
    ((8, 5), (8,))
"""

from __future__ import annotations

from collections.abc import Sequence

import chex
import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from detente._checks import check_choice
from detente.solvers.rl.distributions import Categorical, Gaussian

__all__ = ["ACTIVATIONS", "ActorCritic", "RecurrentActorCritic"]

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


def _init(gain: float):
    """Scaled-normal weights ``N(0, gain^2 / fan_in)``, no LAPACK (see the module docstring)."""
    return nn.initializers.variance_scaling(gain**2, "fan_in", "normal")


def _dense(features: int, gain: float, name: str) -> nn.Dense:
    return nn.Dense(features, kernel_init=_init(gain), bias_init=nn.initializers.zeros, name=name)


def _mlp(x: chex.Array, sizes: Sequence[int], activation: str, prefix: str) -> chex.Array:
    act = ACTIVATIONS[check_choice("activation", activation, ACTIVATIONS)]
    for i, size in enumerate(sizes):
        x = act(_dense(size, np.sqrt(2.0), f"{prefix}_{i}")(x))
    return x


class _Heads(nn.Module):
    """Actor and critic heads on features ``[..., F]`` (separate MLP torsos).

    Parameter names: ``actor_0 .. actor_{k-1}``, ``actor_out``, ``log_std``
    (continuous only), ``critic_0 .. critic_{k-1}``, ``critic_out``.
    """

    action_dim: int
    hidden_sizes: Sequence[int]
    activation: str
    continuous: bool
    log_std_init: float

    @nn.compact
    def __call__(self, x: chex.Array):
        a = _mlp(x, self.hidden_sizes, self.activation, "actor")
        out = _dense(self.action_dim, 0.01, "actor_out")(a)
        if self.continuous:
            log_std = self.param(
                "log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,)
            )
            pi = Gaussian(mean=out, log_std=jnp.broadcast_to(log_std, out.shape))
        else:
            pi = Categorical.create(out)
        c = _mlp(x, self.hidden_sizes, self.activation, "critic")
        value = _dense(1, 1.0, "critic_out")(c)[..., 0]
        return pi, value


class ActorCritic(nn.Module):
    """MLP actor-critic: ``obs [..., F] -> (pi, value [...])``.

    Attributes:
        action_dim: number of actions (categorical) or action dimensions
            (``continuous``).
        hidden_sizes: widths of the hidden layers of the actor and of the
            critic (separate torsos).
        activation: ``"tanh"`` or ``"relu"``.
        continuous: Gaussian actions with a learnable ``log_std`` instead of
            categorical ones.
        log_std_init: initial log standard deviation (``continuous`` only).

    Parameters: ``params["heads"]`` holds ``actor_i``, ``actor_out``,
    ``critic_i``, ``critic_out`` and, when ``continuous``, ``log_std``.
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    continuous: bool = False
    log_std_init: float = 0.0

    @nn.compact
    def __call__(self, obs: chex.Array):
        """Args: obs ``[..., F]`` float. Returns: ``(pi, value [...])``."""
        return _Heads(
            self.action_dim,
            self.hidden_sizes,
            self.activation,
            self.continuous,
            self.log_std_init,
            name="heads",
        )(obs)


class _ResetGRU(nn.Module):
    """One GRU step that first zeroes the carry of rows whose episode starts."""

    features: int

    @nn.compact
    def __call__(self, carry: chex.Array, inputs):
        x, reset = inputs  # [B, F], [B]
        carry = jnp.where(reset[..., None], jnp.zeros_like(carry), carry)
        cell = nn.GRUCell(
            features=self.features, kernel_init=_init(1.0), recurrent_kernel_init=_init(1.0)
        )
        return cell(carry, x)


class RecurrentActorCritic(nn.Module):
    """GRU actor-critic over time-major sequences.

    ``__call__(carry [B, H], (obs [T, B, F], reset [T, B]))`` returns
    ``(carry [B, H], (pi [T, B], value [T, B]))``. At step ``t`` the carry is
    set to zero where ``reset[t]`` is true (``obs[t]`` is the first
    observation of an episode) before the GRU reads ``obs[t]``, so one
    sequence holding several episodes gives the same outputs as the
    episodes run one by one from zero carries.

    Attributes:
        action_dim: number of actions (categorical) or action dimensions
            (``continuous``).
        hidden_size: ``H``, the GRU's width.
        embed_sizes: dense layers before the GRU.
        head_sizes: hidden layers of the actor and critic heads after the GRU.
        activation: ``"tanh"`` or ``"relu"``.
        continuous: Gaussian actions with a learnable ``log_std``.
        log_std_init: initial log standard deviation (``continuous`` only).

    Parameters: ``embed_i``, ``gru`` (the GRU cell) and ``heads`` (as in
    :class:`ActorCritic`).
    """

    action_dim: int
    hidden_size: int = 64
    embed_sizes: Sequence[int] = (64,)
    head_sizes: Sequence[int] = (64,)
    activation: str = "tanh"
    continuous: bool = False
    log_std_init: float = 0.0

    @nn.compact
    def __call__(self, carry: chex.Array, inputs):
        obs, reset = inputs  # [T, B, F], [T, B]
        x = _mlp(obs, self.embed_sizes, self.activation, "embed")
        scan = nn.scan(
            _ResetGRU,
            variable_broadcast="params",
            split_rngs={"params": False},
            in_axes=0,
            out_axes=0,
        )
        carry, h = scan(self.hidden_size, name="gru")(carry, (x, reset))
        pi, value = _Heads(
            self.action_dim,
            self.head_sizes,
            self.activation,
            self.continuous,
            self.log_std_init,
            name="heads",
        )(h)
        return carry, (pi, value)

    @staticmethod
    def initial_carry(batch_shape: Sequence[int], hidden: int, dtype=jnp.float32) -> chex.Array:
        """``[*batch_shape, hidden]`` zeros, the carry before any observation."""
        return jnp.zeros((*tuple(batch_shape), hidden), dtype)
