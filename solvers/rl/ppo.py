"""Proximal policy optimisation: GAE, the clipped loss, the minibatch loop.

Pure array functions that every PPO-trained agent in detente shares (IPPO,
the PPO inner learner, M-FOS-RL, Shaper):

* :func:`gae`: generalised advantage estimation by a reverse ``lax.scan``
  (Schulman et al. 2016, "High-Dimensional Continuous Control Using
  Generalized Advantage Estimation", https://arxiv.org/abs/1506.02438);
* :func:`ppo_loss`: the clipped surrogate, the clipped value loss and the
  entropy bonus, on arrays the caller computed with its own network
  (Schulman et al. 2017, "Proximal Policy Optimization Algorithms",
  https://arxiv.org/abs/1707.06347, Eq. 7 and 9);
* :func:`ppo_update`: ``epochs`` passes over shuffled minibatches of a batch
  pytree, one optimiser step per minibatch;
* :func:`make_ppo_batch`, :func:`make_ppo_loss` and :func:`ppo_learn`: the
  three together for a :class:`~detente.solvers.rl.policy.Policy` and a batch
  of :class:`~detente.solvers.rl.types.Transition` ``[E, T]``.

:class:`PPOConfig` holds the hyperparameters; :func:`make_optimizer` builds
the optax chain (global-norm clipping, Adam, optional linear annealing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from detente._checks import bad_value, check_finite, check_positive_int
from detente.solvers.rl.policy import Policy, mask_policy
from detente.solvers.rl.types import Transition

__all__ = [
    "PPOBatch",
    "PPOConfig",
    "PPOLossInfo",
    "PPOUpdateInfo",
    "gae",
    "make_optimizer",
    "make_ppo_batch",
    "make_ppo_loss",
    "ppo_learn",
    "ppo_loss",
    "ppo_update",
]


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters (static; hashable, so usable as a jit static argument).

    Attributes:
        lr: Adam step size.
        gamma: discount in ``[0, 1]``.
        gae_lambda: GAE's ``lambda`` in ``[0, 1]``.
        clip_eps: the ratio clip ``epsilon`` (also clips the value update).
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the value loss.
        max_grad_norm: global gradient-norm clip.
        epochs: passes over each batch.
        minibatches: minibatches per pass.
        anneal_lr: decay ``lr`` linearly to 0 over the run (needs the number
            of updates, see :func:`make_optimizer`).
        normalize_advantages: standardise advantages per minibatch.
        clip_value: clip the value update to ``clip_eps`` around the old value.
    """

    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    epochs: int = 4
    minibatches: int = 4
    anneal_lr: bool = False
    normalize_advantages: bool = True
    clip_value: bool = True

    def __post_init__(self):
        check_finite("lr", self.lr, low=0.0, low_inclusive=False)
        check_finite("gamma", self.gamma, low=0.0, high=1.0)
        check_finite("gae_lambda", self.gae_lambda, low=0.0, high=1.0)
        check_finite("clip_eps", self.clip_eps, low=0.0, low_inclusive=False)
        check_finite("ent_coef", self.ent_coef, low=0.0)
        check_finite("vf_coef", self.vf_coef, low=0.0)
        check_finite("max_grad_norm", self.max_grad_norm, low=0.0, low_inclusive=False)
        check_positive_int("epochs", self.epochs)
        check_positive_int("minibatches", self.minibatches)
        for name in ("anneal_lr", "normalize_advantages", "clip_value"):
            if not isinstance(getattr(self, name), bool):
                raise bad_value(name, getattr(self, name), "True or False")


def make_optimizer(config: PPOConfig, num_updates: int | None = None):
    """``clip_by_global_norm(max_grad_norm)`` then Adam (eps 1e-5).

    Args:
        config: the hyperparameters.
        num_updates: PPO updates of the run; required with ``anneal_lr``,
            whose step size falls linearly from ``lr`` to 0 over
            ``num_updates * epochs * minibatches`` optimiser steps.

    Returns:
        An ``optax.GradientTransformation``.
    """
    lr: Any = config.lr
    if config.anneal_lr:
        if num_updates is None:
            raise bad_value("num_updates", num_updates, "a positive integer with anneal_lr=True")
        check_positive_int("num_updates", num_updates)
        total = num_updates * config.epochs * config.minibatches
        lr = optax.linear_schedule(config.lr, 0.0, total)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))


# ----------------------------------------------------------------------------
# GAE


def gae(
    rewards: chex.Array,
    values: chex.Array,
    dones: chex.Array,
    last_value: chex.Array,
    gamma: float,
    lam: float,
) -> tuple[chex.Array, chex.Array]:
    """Generalised advantage estimates and value targets, time-major.

    With ``d_t`` = ``dones[t]`` (the episode ended with transition ``t``, so
    nothing is bootstrapped across it) and ``V_T`` = ``last_value``::

        delta_t = r_t + gamma (1 - d_t) V_{t+1} - V_t
        A_t     = delta_t + gamma lam (1 - d_t) A_{t+1},   A_T = 0
        target_t = A_t + V_t

    ``lam = 1`` gives discounted returns bootstrapped with ``V_T``; ``lam = 0``
    gives the one-step TD errors (Schulman et al. 2016, Eq. 16).

    Args:
        rewards: ``[T, ...]`` rewards.
        values: ``[T, ...]`` the critic's values of the observations.
        dones: ``[T, ...]`` bool (or 0/1).
        last_value: ``[...]`` the value of the observation after step ``T - 1``.
        gamma: discount.
        lam: GAE ``lambda``.

    Returns:
        ``(advantages [T, ...], targets [T, ...])``.
    """
    rewards = jnp.asarray(rewards)
    values = jnp.asarray(values, rewards.dtype)
    chex.assert_equal_shape([rewards, values, dones])
    chex.assert_shape(last_value, rewards.shape[1:])
    not_done = 1.0 - jnp.asarray(dones, rewards.dtype)

    def body(carry, xs):
        adv_next, v_next = carry
        r, v, nd = xs
        delta = r + gamma * nd * v_next - v
        adv = delta + gamma * lam * nd * adv_next
        return (adv, v), adv

    init = (jnp.zeros_like(last_value, rewards.dtype), jnp.asarray(last_value, rewards.dtype))
    _, adv = jax.lax.scan(body, init, (rewards, values, not_done), reverse=True)
    return adv, adv + values


# ----------------------------------------------------------------------------
# Loss


class PPOLossInfo(NamedTuple):
    """Terms of :func:`ppo_loss` (scalars, or averages of them).

    Attributes:
        total: the loss.
        policy_loss: the clipped surrogate's negative.
        value_loss: ``0.5 mean(max(sq. error, clipped sq. error))``.
        entropy: mean entropy.
        approx_kl: ``mean((r - 1) - log r)``, an estimate of ``KL(old || new)``.
        clip_frac: fraction of samples whose ratio left ``[1 - eps, 1 + eps]``.
    """

    total: chex.Array
    policy_loss: chex.Array
    value_loss: chex.Array
    entropy: chex.Array
    approx_kl: chex.Array
    clip_frac: chex.Array


def ppo_loss(
    log_prob: chex.Array,
    old_log_prob: chex.Array,
    advantages: chex.Array,
    value: chex.Array,
    old_value: chex.Array,
    targets: chex.Array,
    entropy: chex.Array,
    *,
    clip_eps: float,
    vf_coef: float,
    ent_coef: float,
    normalize_advantages: bool = True,
    clip_value: bool = True,
) -> tuple[chex.Array, PPOLossInfo]:
    """The PPO loss on arrays of one shape (any, e.g. ``[B]`` or ``[T, B]``).

    With ``r = exp(log_prob - old_log_prob)`` and ``A`` the (standardised)
    advantages::

        L_pi = -mean(min(r A, clip(r, 1 - eps, 1 + eps) A))
        L_V  = 0.5 mean(max((V - G)^2, (V_old + clip(V - V_old, -eps, eps) - G)^2))
        L    = L_pi + vf_coef L_V - ent_coef mean(H)

    ``old_log_prob``, ``advantages``, ``old_value`` and ``targets`` are held
    constant (``stop_gradient``). At ``log_prob == old_log_prob`` the gradient
    of ``L_pi`` is the vanilla policy gradient ``-mean(A grad log pi)``.

    Args:
        log_prob: log-probabilities of the taken actions under the current policy.
        old_log_prob: the same under the policy that acted.
        advantages: advantage estimates.
        value: the current critic's values.
        old_value: the acting critic's values.
        targets: value targets (e.g. GAE's).
        entropy: the current policy's entropies.
        clip_eps: ratio clip ``eps``.
        vf_coef: value-loss weight.
        ent_coef: entropy-bonus weight.
        normalize_advantages: standardise ``A`` (mean 0, std 1, ``+1e-8``).
        clip_value: clip the value update (else plain squared error).

    Returns:
        ``(loss [], PPOLossInfo)``.
    """
    chex.assert_equal_shape([log_prob, old_log_prob, advantages, value, old_value, targets])
    sg = jax.lax.stop_gradient
    old_log_prob, advantages, old_value, targets = map(
        sg, (old_log_prob, advantages, old_value, targets)
    )
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = jnp.minimum(
        ratio * advantages, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    )
    policy_loss = -surrogate.mean()
    err = (value - targets) ** 2
    if clip_value:
        clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        err = jnp.maximum(err, (clipped - targets) ** 2)
    value_loss = 0.5 * err.mean()
    ent = entropy.mean()
    total = policy_loss + vf_coef * value_loss - ent_coef * ent
    info = PPOLossInfo(
        total=total,
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy=ent,
        approx_kl=sg(((ratio - 1.0) - log_ratio).mean()),
        clip_frac=sg((jnp.abs(ratio - 1.0) > clip_eps).mean(dtype=ratio.dtype)),
    )
    return total, info


# ----------------------------------------------------------------------------
# The minibatch loop


class PPOUpdateInfo(NamedTuple):
    """Averages over the ``epochs * minibatches`` optimiser steps of :func:`ppo_update`.

    Attributes:
        loss: ``[]`` mean loss.
        aux: the mean of ``loss_fn``'s auxiliary output (same structure).
        grad_norm: ``[]`` mean global gradient norm (before clipping).
    """

    loss: chex.Array
    aux: Any
    grad_norm: chex.Array


def ppo_update(
    params: Any,
    opt_state: Any,
    optimizer: optax.GradientTransformation,
    batch: Any,
    loss_fn: Callable[[Any, Any], tuple[chex.Array, Any]],
    key: chex.PRNGKey,
    *,
    epochs: int,
    minibatches: int,
    rows: chex.Array | None = None,
) -> tuple[Any, Any, PPOUpdateInfo]:
    """``epochs`` passes over ``batch`` in shuffled minibatches, one optimiser step each.

    Each epoch draws a permutation of the ``B`` rows of ``batch`` (or of the
    ``R`` entries of ``rows``) and splits it into ``minibatches`` equal
    parts; every row is used once per epoch.
    For a recurrent policy, pass sequences with the environment axis leading
    (``[E, T, ...]``) so minibatches split environments, not time.
    Everything is ``lax.scan``; call it inside ``jit`` (``optimizer`` and
    ``loss_fn`` are Python objects, static to the trace).

    Args:
        params: parameters (a pytree).
        opt_state: ``optimizer``'s state for ``params``.
        optimizer: an optax transformation.
        batch: a pytree whose leaves share the leading axis ``B``, a multiple
            of ``minibatches``.
        loss_fn: ``(params, minibatch) -> (loss [], aux)``.
        key: PRNG key for the permutations.
        epochs: passes over the batch.
        minibatches: optimiser steps per pass.
        rows: optional ``[R]`` int indices into ``B``, the only rows used
            (e.g. the acting seat's rows of a turn-based game); each
            minibatch gathers its ``R / minibatches`` rows straight from
            ``batch``, so the subset costs no extra copy. ``None``: all
            ``B`` rows (the numbers do not depend on whether this argument
            exists).

    Returns:
        ``(params, opt_state, PPOUpdateInfo)``.

    Raises:
        ValueError: if ``B`` (or ``R``) is not a multiple of ``minibatches``,
            leaves disagree on ``B``, or ``rows`` is not one-dimensional.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("minibatches", minibatches)
    sizes = {x.shape[0] for x in jax.tree_util.tree_leaves(batch)}
    if len(sizes) != 1:
        raise bad_value("batch leading sizes", sorted(sizes), "one common leading axis B")
    (size,) = sizes
    if rows is not None:
        if jnp.ndim(rows) != 1:
            raise bad_value("rows.shape", jnp.shape(rows), "[R], one axis of row indices")
        size = int(jnp.shape(rows)[0])
    if size % minibatches:
        what = "the number of rows" if rows is not None else "the batch's leading size"
        raise bad_value("minibatches", minibatches, f"a divisor of {what} {size}")
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def sgd_step(carry, minibatch):
        params, opt_state = carry
        (loss, aux), grads = grad_fn(params, minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), (loss, aux, optax.global_norm(grads))

    # [epochs * minibatches, B / minibatches] row indices: a permutation per epoch, cut in parts
    perms = jax.vmap(lambda k: jax.random.permutation(k, size))(jax.random.split(key, epochs))
    parts = perms.reshape(epochs * minibatches, size // minibatches)
    if rows is not None:
        parts = jnp.asarray(rows)[parts]

    def step(carry, idx):
        return sgd_step(carry, jax.tree_util.tree_map(lambda x: x[idx], batch))

    (params, opt_state), (loss, aux, gnorm) = jax.lax.scan(step, (params, opt_state), parts)
    mean = lambda x: jnp.mean(x, axis=0)
    info = PPOUpdateInfo(
        loss=mean(loss), aux=jax.tree_util.tree_map(mean, aux), grad_norm=mean(gnorm)
    )
    return params, opt_state, info


# ----------------------------------------------------------------------------
# Glue for a Policy and Transitions


class PPOBatch(NamedTuple):
    """The training data of one PPO update, environment-major.

    Attributes:
        obs: ``[B, T, *obs_shape]`` observations.
        action: ``[B, T]`` or ``[B, T, d]`` actions.
        log_prob: ``[B, T]`` log-probabilities under the acting policy.
        value: ``[B, T]`` the acting critic's values.
        advantages: ``[B, T]`` GAE advantages.
        targets: ``[B, T]`` value targets.
        reset: ``[B, T]`` bool, ``obs`` starts an episode.
        carry: ``[B, H]`` the policy's carry before ``obs[:, 0]``.
        action_mask: optional ``[B, T, A]`` bool legal actions at ``obs``
            (``None``: all legal); the loss's log-probabilities and entropies
            are those of the policy restricted to them.
    """

    obs: chex.Array
    action: chex.Array
    log_prob: chex.Array
    value: chex.Array
    advantages: chex.Array
    targets: chex.Array
    reset: chex.Array
    carry: chex.Array
    action_mask: chex.Array | None = None


def make_ppo_loss(policy: Policy, config: PPOConfig):
    """``loss_fn(params, batch: PPOBatch) -> (loss [], PPOLossInfo)`` for :func:`ppo_update`.

    Runs ``policy.apply`` over the minibatch's sequences (time-major inside)
    from its stored carries, restricts ``pi`` to ``mb.action_mask`` when there
    is one (:func:`~detente.solvers.rl.policy.mask_policy`, as when acting),
    then :func:`ppo_loss`.
    """

    def loss_fn(params, mb: PPOBatch):
        tm = lambda x: jnp.swapaxes(x, 0, 1)  # [B, T, ...] -> [T, B, ...]
        _, pi, value = policy.apply(params, mb.carry, tm(mb.obs), tm(mb.reset))
        if mb.action_mask is not None:
            pi = mask_policy(pi, tm(mb.action_mask))
        log_prob = pi.log_prob(tm(mb.action))
        return ppo_loss(
            log_prob,
            tm(mb.log_prob),
            tm(mb.advantages),
            value,
            tm(mb.value),
            tm(mb.targets),
            pi.entropy(),
            clip_eps=config.clip_eps,
            vf_coef=config.vf_coef,
            ent_coef=config.ent_coef,
            normalize_advantages=config.normalize_advantages,
            clip_value=config.clip_value,
        )

    return loss_fn


def make_ppo_batch(
    policy: Policy,
    config: PPOConfig,
    transitions: Transition,
    last_value: chex.Array,
    *,
    reset: chex.Array | None = None,
    carry: chex.Array | None = None,
) -> PPOBatch:
    """GAE on ``E`` rollouts of ``T`` steps, laid out for :func:`ppo_update`.

    An MLP's steps become ``E * T`` sequences of length 1 (shuffled
    individually); a recurrent policy keeps ``E`` whole sequences with their
    resets and initial carries, so minibatches split environments.

    Args:
        policy: the policy that acted.
        config: the hyperparameters (``gamma``, ``gae_lambda``).
        transitions: :class:`Transition` with leading axes ``[E, T]`` (its
            ``action_mask``, if any, goes into the batch).
        last_value: ``[E]`` the critic's value of the observation after the
            last step.
        reset: ``[E, T]`` bool, ``obs`` starts an episode (recurrent only;
            default: only at ``t = 0``).
        carry: ``[E, H]`` the carry before the first step (recurrent only;
            default zeros).

    Returns:
        A :class:`PPOBatch`, ``[E, T, ...]`` (recurrent) or ``[E * T, 1, ...]``.
    """
    e, t = transitions.reward.shape[:2]
    tm = lambda x: jnp.swapaxes(x, 0, 1)
    adv, targets = gae(
        tm(transitions.reward),
        tm(transitions.value),
        tm(transitions.done),
        last_value,
        config.gamma,
        config.gae_lambda,
    )
    if reset is None:
        reset = jnp.zeros((e, t), bool).at[:, 0].set(True)
    if carry is None:
        carry = policy.initial_carry((e,))
    batch = PPOBatch(
        obs=transitions.obs,
        action=transitions.action,
        log_prob=transitions.log_prob,
        value=transitions.value,
        advantages=tm(adv),
        targets=tm(targets),
        reset=jnp.asarray(reset, bool),
        carry=carry,
        action_mask=transitions.action_mask,
    )
    if not policy.recurrent:  # every step its own sequence of length 1
        flat = lambda x: x.reshape(e * t, 1, *x.shape[2:])
        batch = jax.tree_util.tree_map(flat, batch._replace(carry=None))
        batch = batch._replace(carry=policy.initial_carry((e * t,)))
    return batch


def ppo_learn(
    policy: Policy,
    config: PPOConfig,
    optimizer: optax.GradientTransformation,
    params: Any,
    opt_state: Any,
    transitions: Transition,
    last_value: chex.Array,
    key: chex.PRNGKey,
    *,
    reset: chex.Array | None = None,
    carry: chex.Array | None = None,
    rows: chex.Array | None = None,
) -> tuple[Any, Any, PPOUpdateInfo]:
    """One PPO update of ``policy`` on ``E`` parallel rollouts of ``T`` steps.

    :func:`make_ppo_batch` (GAE with ``config.gamma`` and
    ``config.gae_lambda``), then :func:`ppo_update` with
    :func:`make_ppo_loss` (``config.epochs`` x ``config.minibatches``).
    With ``rows``, GAE still runs over every step (advantages and value
    targets are those of the full rollouts), and the update uses only the
    chosen steps.

    Args:
        policy: the policy that acted.
        config: the hyperparameters.
        optimizer: e.g. :func:`make_optimizer` ``(config)``.
        params: the policy's parameters.
        opt_state: the optimiser state.
        transitions: :class:`Transition` with leading axes ``[E, T]``.
        last_value: ``[E]`` the critic's value of the observation after the
            last step.
        key: PRNG key for the minibatch permutations.
        reset: see :func:`make_ppo_batch`.
        carry: see :func:`make_ppo_batch`.
        rows: optional ``[R]`` indices of the steps to learn from, step
            ``(e, t)`` being row ``e * T + t`` (MLP policies only: a
            recurrent policy needs whole sequences).

    Returns:
        ``(params, opt_state, PPOUpdateInfo)`` (``aux`` a :class:`PPOLossInfo`).

    Raises:
        ValueError: for ``rows`` with a recurrent policy (or see :func:`ppo_update`).
    """
    if rows is not None and policy.recurrent:
        raise bad_value("rows", "an index array", "None for a recurrent policy (whole sequences)")
    batch = make_ppo_batch(policy, config, transitions, last_value, reset=reset, carry=carry)
    return ppo_update(
        params,
        opt_state,
        optimizer,
        batch,
        make_ppo_loss(policy, config),
        key,
        epochs=config.epochs,
        minibatches=config.minibatches,
        rows=rows,
    )
