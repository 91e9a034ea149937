"""Soft permutation maps of observations and actions, and the expected return of transformed policies.

The building blocks of expected-return symmetries (Muglich, Forkel, van der
Pol and Foerster 2025, "Expected Return Symmetries", ICLR,
https://arxiv.org/abs/2502.01711); the discovery and Other-Play with the
discovered maps are in :mod:`detente.solvers.zsc.ers`.

**Maps.** A map ``phi`` is a pair of square matrices, :class:`SoftMap`
``(obs [D, D], action [A, A])``, doubly stochastic while it is learned
(:func:`sinkhorn` of logits) and permutation matrices once discretised
(:func:`symmetry_of_map`, a linear assignment). The paper parameterises
``phi_theta`` by networks on observations and actions and lets them act on a
continuous extension of the observation space (App. E); here both are
relaxed permutations, so the discretised map is exactly a
:class:`~detente.games.symmetry.Symmetry` that
:mod:`detente.solvers.zsc.other_play` can use.

**Transformed policy.** ``phi(pi)`` acts on a policy as the Other-Play wrapper
acts on a seat: it shows ``pi`` the observation ``O o`` and plays action ``b``
with probability ``sum_c A[c, b] pi(c | O o)``, renormalised over the legal
actions. For the map of a :class:`Symmetry` ``g`` (:func:`map_of_symmetry`:
``O[i, obs_perm[i]] = 1``, ``A[action_perm[b], b] = 1``) that is
``pi(action_perm[b] | g.o)``, the policy an agent ``pi`` plays in the original
game when :class:`~detente.solvers.zsc.other_play.OtherPlayEnv` gives its seat
``g``. Composition: ``phi(psi(pi))`` is the map :func:`compose_maps` ``(phi,
psi)``, with ``O = O_psi O_phi`` and ``A = A_psi A_phi``.

**Expected return** (the paper's ``J``): :func:`make_ers_objective` builds
``J(phi(pi_k))`` (self-play of the transformed policy, both seats) and
``XP(pi_i, phi(pi_j))`` (the paper's Eq. 11), either from sampled episodes
with a score-function (policy-gradient) surrogate whose gradient is
REINFORCE's with a leave-one-out baseline, for any two-player environment, or
in closed form for the one-shot :class:`~detente.games.coordination.LeverGame`
(:func:`~detente.games.coordination.lever_value`).

**Regularisers.** :func:`invertibility_penalty` ``||O^T O - I||^2 +
||A^T A - I||^2`` (mean squares) is zero exactly for permutation matrices
among doubly stochastic ones, the inverse of a permutation being its
transpose; it stands for the paper's reconstruction penalty on observations
(App. E, Alg. 2), which needs no inverse network here. Closure (compositions must also preserve the expected
return) is scored by :func:`closure_penalty`.

**Groups.** :func:`~detente.games.symmetry.generated_group` enumerates the group
a stack of maps generates (breadth first, bounded); :func:`word_sampler` draws long random
words in them when that group is too large to stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from detente._checks import bad_value, check_choice, check_positive_int
from detente.games.coordination import LeverGame, lever_value
from detente.games.symmetry import Symmetry
from detente.solvers.rl.policy import NetworkConfig, make_policy

__all__ = [
    "ERSObjective",
    "SoftMap",
    "closure_penalty",
    "compose_maps",
    "identity_map",
    "invertibility_penalty",
    "make_ers_objective",
    "map_of_symmetry",
    "sinkhorn",
    "symmetry_of_map",
    "transform_obs",
    "transform_probs",
    "word_sampler",
]

_TINY = 1e-30


class SoftMap(NamedTuple):
    """A map ``phi`` of observations and actions (leading axes allowed on both).

    Attributes:
        obs: ``[D, D]`` ``O``, the observation map ``o -> O o`` on flattened observations.
        action: ``[A, A]`` ``A``, the action map: ``phi(pi)(b) ~ sum_c A[c, b] pi(c)``.
    """

    obs: chex.Array  # [D, D]
    action: chex.Array  # [A, A]


def sinkhorn(logits: chex.Array, num_iters: int) -> chex.Array:
    """A doubly stochastic matrix from ``logits [..., n, n]``: Sinkhorn's alternating normalisation.

    ``num_iters`` rounds of row then column normalisation in the log domain
    (Sinkhorn 1964; Mena et al. 2018, https://arxiv.org/abs/1802.08665), ending
    on columns, so columns sum to 1 exactly and rows approximately.
    """

    def body(_, log_p):
        log_p = log_p - jax.nn.logsumexp(log_p, axis=-1, keepdims=True)
        return log_p - jax.nn.logsumexp(log_p, axis=-2, keepdims=True)

    return jnp.exp(jax.lax.fori_loop(0, num_iters, body, logits))


def identity_map(num_features: int, num_actions: int) -> SoftMap:
    """The identity map (``D x D`` and ``A x A`` identity matrices)."""
    return SoftMap(jnp.eye(num_features), jnp.eye(num_actions))


def map_of_symmetry(g: Symmetry) -> SoftMap:
    """The permutation matrices of a :class:`Symmetry` (or a stack ``[G]``), as a :class:`SoftMap`.

    ``O[i, obs_perm[i]] = 1`` and ``A[action_perm[b], b] = 1``, so the
    transformed policy is ``pi(action_perm[b] | g.o)`` (module docstring).
    """
    d, a = g.obs_perm.shape[-1], g.action_perm.shape[-1]
    obs = jax.nn.one_hot(g.obs_perm, d, dtype=jnp.float32)
    action = jnp.swapaxes(jax.nn.one_hot(g.action_perm, a, dtype=jnp.float32), -1, -2)
    return SoftMap(obs, action)


def _assignment(m: np.ndarray) -> np.ndarray:
    """``perm[r]``: the column assigned to row ``r`` by a maximum-weight assignment."""
    rows, cols = linear_sum_assignment(m, maximize=True)
    perm = np.empty(m.shape[0], np.int32)
    perm[rows] = cols
    return perm


def symmetry_of_map(m: SoftMap) -> Symmetry:
    """The nearest permutations of a :class:`SoftMap` (or a stack), as a :class:`Symmetry`.

    Each matrix is discretised by a maximum-weight linear assignment
    (``scipy.optimize.linear_sum_assignment``), so the result is a bijection
    even where the soft matrix is not yet sharp; a row-wise argmax is not.
    Runs in numpy, outside jit.

    Args:
        m: ``obs [..., D, D]``, ``action [..., A, A]``.

    Returns:
        A :class:`Symmetry` (stacked ``[...]``): ``obs_perm[i]`` the column
        assigned to row ``i`` of ``O``, ``action_perm[b]`` the row assigned to
        column ``b`` of ``A``; ``state_perm`` is ``None`` (a discovered map acts
        on observations and actions only).
    """
    obs, act = np.asarray(m.obs, np.float64), np.asarray(m.action, np.float64)
    lead = obs.shape[:-2]
    if act.shape[:-2] != lead:
        raise bad_value("m", (obs.shape, act.shape), "obs [..., D, D] and action [..., A, A]")
    obs_flat = obs.reshape((-1,) + obs.shape[-2:])
    act_flat = act.reshape((-1,) + act.shape[-2:])
    obs_perm = np.stack([_assignment(x) for x in obs_flat]).reshape(lead + obs.shape[-1:])
    act_perm = np.stack([_assignment(x.T) for x in act_flat]).reshape(lead + act.shape[-1:])
    return Symmetry(
        obs_perm=jnp.asarray(obs_perm), action_perm=jnp.asarray(act_perm), state_perm=None
    )


def compose_maps(phi: SoftMap, psi: SoftMap) -> SoftMap:
    """The map of ``phi(psi(pi))`` (``psi`` applied to the policy first): ``(O_psi O_phi, A_psi A_phi)``.

    For maps of symmetries, ``compose_maps(map_of_symmetry(g), map_of_symmetry(h))
    == map_of_symmetry(compose(h, g))`` (:func:`detente.games.symmetry.compose`).
    """
    return SoftMap(psi.obs @ phi.obs, psi.action @ phi.action)


def transform_obs(m: SoftMap | Symmetry, obs: chex.Array, obs_shape: tuple[int, ...]) -> chex.Array:
    """``O o`` for observations ``[..., *obs_shape]`` (float result, same shape).

    ``m`` may be a :class:`Symmetry` (a hard map): then ``O o`` is the gather
    ``o[obs_perm]``, the same numbers as with :func:`map_of_symmetry` ``(m)``
    without the ``D x D`` product.
    """
    k = len(obs_shape)
    lead = obs.shape[: obs.ndim - k]
    flat = jnp.asarray(obs, jnp.float32).reshape(lead + (-1,))
    out = flat[..., m.obs_perm] if isinstance(m, Symmetry) else flat @ m.obs.T
    return out.reshape(obs.shape)


def transform_probs(
    m: SoftMap | Symmetry, probs: chex.Array, mask: chex.Array | None = None
) -> chex.Array:
    """``phi``'s action part on probabilities ``[..., A]``: ``p'_b ~ mask_b sum_c A[c, b] p_c``.

    For a :class:`Symmetry` ``m`` that sum is the gather ``p[action_perm[b]]``.
    """
    q = probs[..., m.action_perm] if isinstance(m, Symmetry) else probs @ m.action
    if mask is not None:
        q = jnp.where(mask, q, 0.0)
    return q / jnp.maximum(q.sum(-1, keepdims=True), _TINY)


def _identity_like(m: SoftMap | Symmetry, num_actions: int) -> SoftMap | Symmetry:
    """The identity in ``m``'s representation (unbatched)."""
    d = m.obs_perm.shape[-1] if isinstance(m, Symmetry) else m.obs.shape[-1]
    if isinstance(m, Symmetry):
        return Symmetry(
            obs_perm=jnp.arange(d, dtype=jnp.int32),
            action_perm=jnp.arange(num_actions, dtype=jnp.int32),
            state_perm=None,
        )
    return identity_map(d, num_actions)


def invertibility_penalty(m: SoftMap) -> chex.Array:
    """``mean((O^T O - I)^2) + mean((A^T A - I)^2)``: 0 for permutation matrices.

    A doubly stochastic matrix with ``P^T P = I`` is a permutation matrix, so
    the penalty is zero exactly on bijections and positive on any blurred or
    many-to-one map (leading axes give a stack of penalties).
    """

    def one(p):
        n = p.shape[-1]
        gram = jnp.swapaxes(p, -1, -2) @ p
        return jnp.mean((gram - jnp.eye(n)) ** 2, axis=(-2, -1))

    return one(m.obs) + one(m.action)


# ----------------------------------------------------------------------------
# Expected return of transformed policies


class ERSObjective(NamedTuple):
    """Expected returns of transformed pool policies (from :func:`make_ers_objective`).

    Attributes:
        self_play: ``(key, params [K, ...], m) -> (returns [K], surrogate [K])``:
            ``J(phi(pi_k))``, both seats playing ``phi(pi_k)``.
        cross_play: ``(key, params_i, params_j, m) -> (return [], surrogate [])``:
            ``XP(pi_i, phi(pi_j))``, both seat orders.
        exact: whether the values are closed forms (then ``surrogate ==
            returns`` and ``key`` is unused).
        num_features: ``D``; ``num_actions``: ``A``.

    The surrogate's value is the estimate and its gradient with respect to
    ``m`` is the policy-gradient estimate of the return's gradient (exact for
    the closed form). Pool parameters are never differentiated. ``m`` is a
    :class:`SoftMap`, or a :class:`Symmetry` to score a hard map by gathers.
    """

    self_play: Callable[..., tuple[chex.Array, chex.Array]]
    cross_play: Callable[..., tuple[chex.Array, chex.Array]]
    exact: bool
    num_features: int
    num_actions: int


def _exact_objective(env, policy, env_params) -> tuple[Callable, Callable]:
    # the one-shot lever game shows a constant observation (D = 1, so O = [[1]]): the
    # policies are evaluated once, untransformed, and only the action map acts
    obs = jnp.ones((1, 1) + tuple(env.observation_shape), jnp.float32)

    def probs(params):
        _, pi, _ = policy.apply(params, policy.initial_carry((1,)), obs, jnp.ones((1, 1), bool))
        return jax.nn.softmax(jax.lax.stop_gradient(pi.logits[0, 0]))

    def self_play(key, params, m):
        del key
        q = transform_probs(m, jax.vmap(probs)(params))  # [K, A]
        v = lever_value(env_params, q, q)
        return v, v

    def cross_play(key, params_i, params_j, m):
        del key
        v = lever_value(env_params, probs(params_i), transform_probs(m, probs(params_j)))
        return v, v

    return self_play, cross_play


def _rollout_objective(env, policy, env_params, num_episodes, max_steps):
    shape = tuple(env.observation_shape)
    n_act = int(env.num_actions)
    e = num_episodes

    def seat_probs(params, m, carry, obs, mask, first):
        o = transform_obs(m, obs, shape)  # [E, *shape]
        carry, pi, _ = policy.apply(params, carry, o[None], jnp.full((1, e), first))
        return carry, transform_probs(m, jax.nn.softmax(pi.logits[0]), mask)

    def episodes(key, params2, maps2):
        """``E`` episodes, seat ``s`` playing ``maps2[s](pi_s)``: (returns [E], log-prob sums [E])."""
        params2 = jax.lax.stop_gradient(params2)
        k_reset, k_loop = jax.random.split(key)
        ts = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, e), env_params)
        carry = policy.initial_carry((2, e))
        zero = jnp.zeros(e, jnp.float32)

        def body(c, t):
            ts, carry, alive, ret, logp = c
            obs = jnp.swapaxes(ts.obs, 0, 1)  # [2, E, *shape]
            mask = jnp.swapaxes(ts.action_mask, 0, 1)  # [2, E, A]
            carry, q = jax.vmap(seat_probs, in_axes=(0, 0, 0, 0, 0, None))(
                params2, maps2, carry, obs, mask, t == 0
            )
            k_act, k_step = jax.random.split(jax.random.fold_in(k_loop, t))
            log_q = jnp.log(jnp.maximum(q, _TINY))  # [2, E, A]
            a = jax.random.categorical(k_act, jax.lax.stop_gradient(log_q))  # [2, E]
            lp = jnp.take_along_axis(log_q, a[..., None], -1)[..., 0].sum(0)  # [E]
            nxt = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_step, e), ts.state, a.T, env_params
            )
            ret = ret + jnp.where(alive, nxt.rewards.mean(-1), 0.0)
            logp = logp + jnp.where(alive, lp, 0.0)
            alive = alive & ~(nxt.terminated | nxt.truncated)
            return (nxt, carry, alive, ret, logp), None

        init = (ts, carry, jnp.ones(e, bool), zero, zero)
        (_, _, _, ret, logp), _ = jax.lax.scan(body, init, jnp.arange(max_steps))
        return ret, logp

    def surrogate(ret, logp):
        baseline = (ret.sum() - ret) / max(ret.shape[0] - 1, 1)  # leave-one-out
        adv = jax.lax.stop_gradient(ret - baseline)
        return ret.mean() + jnp.mean(adv * (logp - jax.lax.stop_gradient(logp)))

    def pair(params_a, params_b, m_a, m_b):
        stack = lambda x, y: jax.tree_util.tree_map(lambda u, v: jnp.stack([u, v]), x, y)  # noqa: E731
        return stack(params_a, params_b), stack(m_a, m_b)

    def self_play(key, params, m):
        def one(k, p):
            ret, logp = episodes(k, *pair(p, p, m, m))
            return ret.mean(), surrogate(ret, logp)

        k = params_count(params)
        return jax.vmap(one)(jax.random.split(key, k), params)

    def cross_play(key, params_i, params_j, m):
        eye = _identity_like(m, n_act)
        k0, k1 = jax.random.split(key)
        r0, l0 = episodes(k0, *pair(params_i, params_j, eye, m))
        r1, l1 = episodes(k1, *pair(params_j, params_i, m, eye))
        return (r0.mean() + r1.mean()) / 2, (surrogate(r0, l0) + surrogate(r1, l1)) / 2

    return self_play, cross_play


def params_count(params: Any) -> int:
    """``K``, the leading axis of stacked parameters."""
    return int(jax.tree_util.tree_leaves(params)[0].shape[0])


def make_ers_objective(
    env: Any,
    network: NetworkConfig,
    env_params: Any = None,
    *,
    estimator: str = "auto",
    num_episodes: int = 32,
    max_steps: int = 1,
) -> ERSObjective:
    """The expected return ``J`` of transformed pool policies, closed form or sampled.

    Args:
        env: a two-player detente environment with discrete actions.
        network: the pool's network config (MLP or GRU).
        env_params: its params (default ``env.default_params()``).
        estimator: ``"exact"`` (the one-shot :class:`LeverGame` only:
            :func:`~detente.games.coordination.lever_value` of the transformed
            first-step policies), ``"rollout"`` (``num_episodes`` sampled
            episodes per agent and seat order, any env) or ``"auto"`` (exact
            for a ``LeverGame``, else rollout).
        num_episodes: ``E`` (rollout), at least 2 (leave-one-out baseline).
        max_steps: steps per episode (rollout, static): the env's horizon;
            an episode still running after it is cut (its partial return counts).

    Returns:
        An :class:`ERSObjective`; its functions are pure and vmap-able over maps.

    Raises:
        ValueError: naming ``estimator``, ``num_episodes``, ``max_steps`` or ``env``.
    """
    check_choice("estimator", estimator, ("auto", "exact", "rollout"))
    check_positive_int("max_steps", max_steps)
    if check_positive_int("num_episodes", num_episodes) < 2:
        raise bad_value("num_episodes", num_episodes, "an integer >= 2")
    if int(getattr(env, "num_agents", 0)) != 2:
        raise bad_value("env.num_agents", getattr(env, "num_agents", None), "2")
    if env_params is None:
        env_params = env.default_params()
    lever = isinstance(env, LeverGame)
    if estimator == "exact" and not lever:
        raise bad_value("estimator", estimator, "'rollout' or 'auto' (exact needs a LeverGame)")
    exact = lever if estimator == "auto" else estimator == "exact"
    policy = make_policy(env.observation_shape, int(env.num_actions), network)
    if exact:
        sp, xp = _exact_objective(env, policy, env_params)
    else:
        sp, xp = _rollout_objective(env, policy, env_params, num_episodes, max_steps)
    d = int(np.prod(env.observation_shape))
    return ERSObjective(sp, xp, exact, d, int(env.num_actions))


def closure_penalty(
    objective: ERSObjective, key: chex.PRNGKey, params: Any, maps: SoftMap, baseline: chex.Array
) -> chex.Array:
    """Closure regulariser: mean ``|J(phi(psi(pi_k))) - J(pi_k)|`` over ordered pairs and agents.

    Zero when every composition of two maps of ``maps`` (a map with itself
    included) preserves every pool agent's expected return, as for a group of
    true symmetries; positive when some composition changes it (the paper's
    Alg. 2: compositions of ER symmetries must be ER symmetries).

    Args:
        objective: from :func:`make_ers_objective`.
        key: PRNG key (rollout estimator).
        params: pool parameters ``[K, ...]``.
        maps: a stack of ``S`` maps (leaves ``[S, ...]``).
        baseline: ``[K]`` the agents' own returns ``J(pi_k)``.

    Returns:
        A scalar.
    """
    s = maps.obs.shape[0]
    pairs = jax.vmap(lambda f: jax.vmap(lambda g: compose_maps(f, g))(maps))(maps)
    flat = jax.tree_util.tree_map(lambda x: x.reshape((s * s,) + x.shape[2:]), pairs)
    keys = jax.random.split(key, s * s)
    ret, _ = jax.vmap(lambda k, m: objective.self_play(k, params, m))(keys, flat)  # [S*S, K]
    return jnp.mean(jnp.abs(ret - baseline))


# ----------------------------------------------------------------------------
# Groups of (obs_perm, action_perm) pairs, in numpy


def _rows(g: Symmetry) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(g.obs_perm, np.int64), np.asarray(g.action_perm, np.int64)


def _bfs(obs: np.ndarray, act: np.ndarray, max_size: int):
    """Breadth-first enumeration of the group generated by ``(obs [G, D], act [G, A])``.

    Returns ``(obs [N, D], act [N, A], parent [N], edge [N], closed)``: element
    0 is the identity; element ``n`` is ``compose(elements[parent[n]],
    gens[edge[n]])`` (generator applied to the policy after its parent).
    """
    d, a = obs.shape[1], act.shape[1]
    e_obs, e_act = [np.arange(d)[None]], [np.arange(a)[None]]
    parent, edge = [np.array([-1])], [np.array([-1])]
    seen = {np.concatenate([e_obs[0][0], e_act[0][0]]).tobytes()}
    front_obs, front_act, front_idx, n = e_obs[0], e_act[0], np.array([0]), 1
    g = obs.shape[0]
    while front_obs.shape[0] and n < max_size:
        # child = compose(parent, gen): obs = gen.obs[parent.obs], act = parent.act[gen.act]
        c_obs = obs[np.arange(g)[None, :, None], front_obs[:, None, :]].reshape(-1, d)
        c_act = front_act[np.arange(front_act.shape[0])[:, None, None], act[None]].reshape(-1, a)
        c_par = np.repeat(front_idx, g)
        c_edge = np.tile(np.arange(g), front_obs.shape[0])
        new = []
        for r, key in enumerate(np.concatenate([c_obs, c_act], 1)):
            b = key.tobytes()
            if b not in seen:
                seen.add(b)
                new.append(r)
                if n + len(new) >= max_size:
                    break
        new = np.asarray(new, np.int64)
        front_obs, front_act = c_obs[new], c_act[new]
        front_idx = n + np.arange(new.size)
        e_obs.append(front_obs), e_act.append(front_act)
        parent.append(c_par[new]), edge.append(c_edge[new])
        n += new.size
    closed = front_obs.shape[0] == 0
    cat = np.concatenate
    return cat(e_obs), cat(e_act), cat(parent), cat(edge), closed


def _with_inverses(obs: np.ndarray, act: np.ndarray):
    inv_obs, inv_act = np.argsort(obs, axis=1), np.argsort(act, axis=1)
    return np.concatenate([obs, inv_obs]), np.concatenate([act, inv_act])


def _as_symmetry(obs: np.ndarray, act: np.ndarray) -> Symmetry:
    return Symmetry(
        obs_perm=jnp.asarray(obs, jnp.int32),
        action_perm=jnp.asarray(act, jnp.int32),
        state_perm=None,
    )


def word_sampler(
    generators: Symmetry, length: int = 256
) -> Callable[[chex.PRNGKey, Any], Symmetry]:
    """A sampler of the group generated by ``generators``: a lazy random walk of ``length`` steps.

    Each step composes with a uniformly random element of the generators,
    their inverses and the identity (the identity makes the walk aperiodic),
    so the law of the result tends to the uniform distribution on the
    generated group as ``length`` grows. For groups too large to stack
    (``S_9`` on the lever game's nine 1.0-levers).

    Args:
        generators: a stacked :class:`Symmetry` ``[G]``.
        length: steps of the walk (static).

    Returns:
        ``(key, env_params) -> Symmetry`` (``state_perm`` ``None``), jit-able,
        for :func:`~detente.solvers.zsc.other_play.other_play_env`.
    """
    check_positive_int("length", length)
    obs, act = _with_inverses(*_rows(generators))
    d, a = obs.shape[1], act.shape[1]
    obs = jnp.asarray(np.concatenate([np.arange(d)[None], obs]), jnp.int32)
    act = jnp.asarray(np.concatenate([np.arange(a)[None], act]), jnp.int32)

    def sample(key, env_params=None):
        del env_params
        idx = jax.random.randint(key, (length,), 0, obs.shape[0])

        def body(c, i):
            o, p = c
            return (obs[i][o], p[act[i]]), None

        (o, p), _ = jax.lax.scan(body, (jnp.arange(d), jnp.arange(a)), idx)
        return Symmetry(
            obs_perm=o.astype(jnp.int32), action_perm=p.astype(jnp.int32), state_perm=None
        )

    return sample
