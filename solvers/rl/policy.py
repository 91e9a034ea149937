"""A network and its observation handling behind one sequence interface.

:func:`make_policy` wraps :class:`~detente.solvers.rl.networks.ActorCritic`
or :class:`~detente.solvers.rl.networks.RecurrentActorCritic` so that every
trainer calls both the same way, on time-major sequences::

    carry, pi, value = policy.apply(params, carry, obs, reset)
    # carry [B, H], obs [T, B, *obs_shape], reset [T, B] -> pi [T, B], value [T, B]

The observations are flattened to ``[T, B, F]`` and cast to float (CoinGame
observations are int8). An MLP ignores ``reset`` and has an empty carry
``[B, 0]``; a GRU zeroes its carry where ``reset`` is true. Rollouts call it
with ``T = 1`` (:func:`policy_step`), training with whole sequences, and an
MLP's training batch may be any flattening ``[T * B, 1]`` of its data.

Legal-action masks (``TimeStep.action_mask``, e.g. Hanabi's) restrict a
categorical ``pi`` with :func:`mask_policy`: illegal actions get probability
0 and are never sampled. A row whose mask is all ``True`` keeps the network's
numbers bit for bit, so environments without real masks take the same actions
and parameter updates as they would without them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.solvers.rl.distributions import Categorical
from detente.solvers.rl.networks import ACTIVATIONS, ActorCritic, RecurrentActorCritic

__all__ = [
    "NETWORKS",
    "MaskedCategorical",
    "NetworkConfig",
    "Policy",
    "make_policy",
    "mask_policy",
    "policy_step",
]

NETWORKS = ("mlp", "gru")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Static choice of network.

    Attributes:
        kind: ``"mlp"`` (:class:`ActorCritic`) or ``"gru"``
            (:class:`RecurrentActorCritic`).
        hidden_sizes: the MLP's hidden layers; for the GRU, its heads' hidden
            layers after the GRU.
        gru_size: the GRU's width ``H`` (``"gru"`` only).
        embed_sizes: dense layers before the GRU (``"gru"`` only).
        activation: ``"tanh"`` or ``"relu"``.
        continuous: Gaussian actions (``action_dim`` reals) instead of
            categorical ones.
        log_std_init: initial log standard deviation of Gaussian actions.
    """

    kind: str = "mlp"
    hidden_sizes: tuple[int, ...] = (64, 64)
    gru_size: int = 64
    embed_sizes: tuple[int, ...] = (64,)
    activation: str = "tanh"
    continuous: bool = False
    log_std_init: float = 0.0

    def __post_init__(self):
        check_choice("kind", self.kind, NETWORKS)
        check_choice("activation", self.activation, ACTIVATIONS)
        for name in ("hidden_sizes", "embed_sizes"):
            sizes = getattr(self, name)
            if not isinstance(sizes, tuple):
                raise bad_value(name, sizes, "a tuple of positive integers")
            for s in sizes:
                check_positive_int(name, s)
        check_positive_int("gru_size", self.gru_size)
        if not isinstance(self.continuous, bool):
            raise bad_value("continuous", self.continuous, "True or False")
        check_finite("log_std_init", self.log_std_init)

    @property
    def recurrent(self) -> bool:
        return self.kind == "gru"


class Policy(NamedTuple):
    """Pure functions of an actor-critic (see the module docstring).

    Attributes:
        init: ``key -> params``.
        initial_carry: ``batch_shape -> carry [*batch_shape, H]`` zeros
            (``H = 0`` for an MLP).
        apply: ``(params, carry [B, H], obs [T, B, *obs_shape], reset [T, B])
            -> (carry [B, H], pi [T, B], value [T, B])``.
        recurrent: whether the carry matters (``"gru"``).
        module: the flax module (for callers that need it directly).
    """

    init: Callable[[chex.PRNGKey], Any]
    initial_carry: Callable[[Sequence[int]], chex.Array]
    apply: Callable[..., tuple[chex.Array, Any, chex.Array]]
    recurrent: bool
    module: Any


def make_policy(
    obs_shape: Sequence[int], action_dim: int, network: NetworkConfig = NetworkConfig()
) -> Policy:
    """Build the :class:`Policy` of ``network`` for observations ``obs_shape``.

    Args:
        obs_shape: one agent's observation shape (e.g. ``env.observation_shape``).
        action_dim: number of actions, or action dimensions when
            ``network.continuous``.
        network: the network choice.

    Returns:
        A :class:`Policy`.
    """
    obs_shape = tuple(int(s) for s in obs_shape)
    check_positive_int("action_dim", action_dim)
    if not isinstance(network, NetworkConfig):
        raise bad_value("network", network, "a NetworkConfig")
    build = getattr(network, "make_policy", None)
    if build is not None:  # a spec that builds its own policy (zsc.equivariant.EquivariantNetwork)
        return build(obs_shape, action_dim)
    n_obs = len(obs_shape)
    features = math.prod(obs_shape)

    def flat(obs):  # [T, B, *obs_shape] -> [T, B, F] float
        obs = jnp.asarray(obs)
        if obs.shape[obs.ndim - n_obs :] != obs_shape:
            raise bad_value("obs.shape", obs.shape, f"[T, B, *{obs_shape}]")
        x = obs.reshape(*obs.shape[: obs.ndim - n_obs], features)
        return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)

    if network.recurrent:
        module = RecurrentActorCritic(
            action_dim=action_dim,
            hidden_size=network.gru_size,
            embed_sizes=network.embed_sizes,
            head_sizes=network.hidden_sizes,
            activation=network.activation,
            continuous=network.continuous,
            log_std_init=network.log_std_init,
        )
        hidden = network.gru_size

        def init(key):
            x = jnp.zeros((1, 1, features), jnp.float32)
            return module.init(key, jnp.zeros((1, hidden)), (x, jnp.zeros((1, 1), bool)))

        def apply(params, carry, obs, reset):
            carry, (pi, value) = module.apply(params, carry, (flat(obs), jnp.asarray(reset)))
            return carry, pi, value

    else:
        module = ActorCritic(
            action_dim=action_dim,
            hidden_sizes=network.hidden_sizes,
            activation=network.activation,
            continuous=network.continuous,
            log_std_init=network.log_std_init,
        )
        hidden = 0

        def init(key):
            return module.init(key, jnp.zeros((features,), jnp.float32))

        def apply(params, carry, obs, reset):
            del reset
            pi, value = module.apply(params, flat(obs))
            return carry, pi, value

    def initial_carry(batch_shape):
        return jnp.zeros((*tuple(batch_shape), hidden), jnp.float32)

    return Policy(
        init=init,
        initial_carry=initial_carry,
        apply=apply,
        recurrent=network.recurrent,
        module=module,
    )


class MaskedCategorical(NamedTuple):
    """A :class:`Categorical` restricted to legal actions, exact where nothing is masked.

    Each method computes both the network's distribution ``pi`` and the
    restricted one and picks per row: rows whose mask is all ``True`` get
    ``pi``'s numbers from ``pi``'s own computation, so an environment without
    real masks takes the same actions and the same parameter updates, bit for
    bit, as it would without them (renormalising already normalised logits
    would move the last bits). Only reduced diagnostics such as the mean
    entropy may differ in their last bit, since XLA sums the selected rows
    in another order.

    Attributes:
        pi: the unrestricted distribution, logits ``[..., A]``.
        restricted: ``pi`` renormalised over the legal actions (``-inf`` elsewhere).
        full: ``[..., 1]`` bool, the row's mask is all ``True``.
    """

    pi: Categorical
    restricted: Categorical
    full: chex.Array

    @property
    def logits(self) -> chex.Array:
        """``[..., A]`` normalised log-probabilities (``-inf`` at illegal actions)."""
        return jnp.where(self.full, self.pi.logits, self.restricted.logits)

    @property
    def probs(self) -> chex.Array:
        """``[..., A]`` probabilities (0 at illegal actions)."""
        return jnp.exp(self.logits)

    def sample(self, key: chex.PRNGKey) -> chex.Array:
        """``[...]`` int32 actions, never an illegal one."""
        return jnp.where(self.full[..., 0], self.pi.sample(key), self.restricted.sample(key))

    def log_prob(self, action: chex.Array) -> chex.Array:
        """``[...]`` log-probabilities (``-inf`` for an illegal action)."""
        return jnp.where(
            self.full[..., 0], self.pi.log_prob(action), self.restricted.log_prob(action)
        )

    def entropy(self) -> chex.Array:
        """``[...]`` entropies over the legal actions."""
        return jnp.where(self.full[..., 0], self.pi.entropy(), self.restricted.entropy())

    def mode(self) -> chex.Array:
        """``[...]`` int32 most probable legal actions."""
        return jnp.where(self.full[..., 0], self.pi.mode(), self.restricted.mode())


def mask_policy(pi: Categorical, mask: chex.Array | None) -> Categorical | MaskedCategorical:
    """``pi`` restricted to the legal actions ``mask`` (renormalised over them).

    Args:
        pi: a :class:`Categorical` with logits ``[..., A]``.
        mask: ``[..., A]`` bool, ``True`` at legal actions (at least one per
            row), or ``None`` (``pi`` returned as is).

    Returns:
        A :class:`MaskedCategorical` (``sample``, ``log_prob``, ``entropy``,
        ``mode``, ``logits``, ``probs`` like :class:`Categorical`'s): illegal
        actions have probability 0; rows with an all-``True`` mask give
        ``pi``'s numbers bit for bit, gradients included.
    """
    if mask is None:
        return pi
    if not isinstance(pi, Categorical):
        raise bad_value("pi", type(pi).__name__, "a Categorical (masks need discrete actions)")
    mask = jnp.asarray(mask, bool)
    chex.assert_equal_shape([pi.logits, mask])
    return MaskedCategorical(
        pi=pi,
        restricted=Categorical.create(pi.logits, mask),
        full=jnp.all(mask, axis=-1, keepdims=True),
    )


def policy_step(
    policy: Policy,
    params: Any,
    carry: chex.Array,
    obs: chex.Array,
    reset: chex.Array,
    key: chex.PRNGKey,
    mask: chex.Array | None = None,
) -> tuple[chex.Array, chex.Array, chex.Array, chex.Array]:
    """One acting step of a batch: ``T = 1`` through :attr:`Policy.apply`, then a sample.

    Args:
        policy: the policy.
        params: its parameters.
        carry: ``[B, H]`` carries.
        obs: ``[B, *obs_shape]`` observations.
        reset: ``[B]`` bool, ``obs`` starts an episode.
        key: PRNG key.
        mask: optional ``[B, A]`` bool legal actions (categorical policies);
            illegal actions are never sampled (:func:`mask_policy`).

    Returns:
        ``(carry [B, H], action [B] or [B, d], log_prob [B], value [B])``.
    """
    carry, pi, value = policy.apply(params, carry, obs[None], jnp.asarray(reset)[None])
    pi = mask_policy(jax.tree_util.tree_map(lambda x: x[0], pi), mask)
    action = pi.sample(key)
    return carry, action, pi.log_prob(action), value[0]
