"""Learning in repeated normal-form games: fictitious play, regret matching, logit QRE.

* :func:`fictitious_play`: every round each player best-responds to the
  others' empirical mixed strategies (Brown 1951; Robinson 1951).
* :func:`regret_matching`: each player plays in proportion to its positive
  cumulative (unconditional) regrets (Hart & Mas-Colell 2000, sec. 4(c)), or
  to the clipped regrets of regret-matching+ (Tammelin 2014). The average
  joint play approaches the coarse correlated equilibria; in two-player
  zero-sum games the average strategies approach a Nash equilibrium.
* :func:`conditional_regret_matching`: Hart & Mas-Colell's (2000) procedure
  on conditional (internal) regrets; the empirical distribution of joint play
  approaches the correlated equilibria.
* :func:`logit_response` and :func:`logit_qre`: the logit quantal response
  ``softmax(lam * u_i(., s_-i))`` and its fixed point, the logit quantal
  response equilibrium (McKelvey & Palfrey 1995), traced from ``lam = 0`` by
  continuation in ``lam`` with Newton corrections.

All are pure JAX functions of the payoff tensor ``[N, A_1, ..., A_N]`` (or a
:class:`~detente.games.NormalFormGame`), jitted with the number of rounds
static, so ``jax.vmap`` runs a batch of games, keys or ``lam`` values with one
compilation. Strategies are tuples of ``N`` arrays, ``[A_i]`` each.

References:
    Brown, "Iterative solution of games by fictitious play", in Activity
    Analysis of Production and Allocation, Wiley 1951.
    Robinson, "An iterative method of solving a game", Annals of Mathematics
    54(2), 1951, https://doi.org/10.2307/1969530.
    Shapley, "Some topics in two-person games", Advances in Game Theory,
    Annals of Mathematics Studies 52, 1964.
    Hart & Mas-Colell, "A simple adaptive procedure leading to correlated
    equilibrium", Econometrica 68(5), 2000, https://doi.org/10.1111/1468-0262.00153.
    Hart & Mas-Colell, "A General Class of Adaptive Strategies", Journal of
    Economic Theory 98(1), 2001, https://doi.org/10.1006/jeth.2000.2746.
    Tammelin, "Solving Large Imperfect Information Games Using CFR+", 2014,
    https://arxiv.org/abs/1407.5042.
    McKelvey & Palfrey, "Quantal Response Equilibria for Normal Form Games",
    Games and Economic Behavior 10(1), 1995, https://doi.org/10.1006/game.1995.1023.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_positive_int
from detente.linalg import solve_rolled
from detente.solvers.equilibria.replicator import (
    Strategies,
    _action_values,
    _check_strategies,
    _concrete,
    _payoff_tensor,
    _uniform,
)

__all__ = [
    "ConditionalRegretMatchingResult",
    "FictitiousPlayResult",
    "QREResult",
    "RegretMatchingResult",
    "conditional_regret_matching",
    "fictitious_play",
    "logit_qre",
    "logit_response",
    "regret_matching",
]


# ----------------------------------------------------------------------------
# Shared helpers


def _check_key(key) -> jax.Array:
    """A PRNG key: a typed key array of shape () or a raw ``uint32[2]`` key."""
    try:
        arr = jnp.asarray(key)
    except (TypeError, ValueError):
        raise bad_value(
            "key", key, "a PRNG key from jax.random.key or jax.random.PRNGKey"
        ) from None
    typed = jax.dtypes.issubdtype(arr.dtype, jax.dtypes.prng_key)
    if (typed and arr.shape != ()) or (
        not typed and (arr.dtype != jnp.uint32 or arr.shape != (2,))
    ):
        raise bad_value(
            "key",
            f"array of shape {arr.shape} and dtype {arr.dtype}",
            "a single PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed))",
        )
    return arr


def _outer(strategies: Strategies) -> chex.Array:
    """Product distribution ``[A_1, ..., A_N]`` of independent strategies."""
    out = strategies[0]
    for s in strategies[1:]:
        out = out[..., None] * s
    return out


def _round_uniforms(key, t, n: int, dtype) -> chex.Array:
    """``[n]`` uniforms on ``[0, 1)`` for round ``t``, drawn with ``fold_in(key, t)``."""
    k = jax.random.fold_in(key, jnp.asarray(t).astype(jnp.uint32))
    return jax.random.uniform(k, (n,), dtype)


def _sample(p: chex.Array, u: chex.Array) -> chex.Array:
    """Index drawn from probabilities ``p`` ``[k]`` by the inverse CDF at ``u`` in ``[0, 1)``."""
    c = jnp.cumsum(p)
    return jnp.sum(c[:-1] <= u * c[-1]).astype(jnp.int32)


def _check_lam(lam):
    c = _concrete(lam)
    if c is not None and (c.shape != () or not np.isfinite(c) or c < 0):
        raise bad_value("lam", lam, "a finite number >= 0")


# ----------------------------------------------------------------------------
# Fictitious play


class FictitiousPlayResult(NamedTuple):
    """Result of :func:`fictitious_play`.

    Attributes:
        average_strategies: ``N x [T + 1, A_i]``: row ``t`` is player ``i``'s
            empirical mixed strategy after ``t`` rounds, the initial strategy
            counting as round 0 (row 0).
        actions: ``[T, N]`` int32, the pure best responses played in rounds 1..T.
    """

    average_strategies: Strategies  # N x [T + 1, A_i]
    actions: chex.Array  # [T, N]


@functools.partial(jax.jit, static_argnames=("num_iterations", "random_ties"))
def _fictitious_play(payoffs, s0, key, num_iterations: int, random_ties: bool):
    n = payoffs.shape[0]

    def body(sums, t):
        avg = tuple(s / t for s in sums)  # t = 1 + rounds played so far
        values = _action_values(payoffs, avg)
        actions = []
        if random_ties:
            u = _round_uniforms(key, t, n, payoffs.dtype)
            for i, v in enumerate(values):
                ties = (v == jnp.max(v)).astype(v.dtype)
                actions.append(_sample(ties, u[i]))  # uniform over the maximisers
        else:
            actions = [jnp.argmax(v) for v in values]
        sums = tuple(
            s + jax.nn.one_hot(a, s.shape[0], dtype=s.dtype)
            for s, a in zip(sums, actions, strict=True)
        )
        avg = tuple(s / (t + 1) for s in sums)
        return sums, (avg, jnp.stack(actions).astype(jnp.int32))

    ts = jnp.arange(1, num_iterations + 1, dtype=payoffs.dtype)
    _, (avgs, actions) = jax.lax.scan(body, s0, ts)
    avgs = tuple(jnp.concatenate([s[None], a]) for s, a in zip(s0, avgs, strict=True))
    return FictitiousPlayResult(average_strategies=avgs, actions=actions)


def fictitious_play(
    game, num_iterations: int, *, initial_strategies=None, key=None
) -> FictitiousPlayResult:
    """Simultaneous discrete-time fictitious play (Brown 1951; Robinson 1951).

    Player ``i``'s belief about player ``j`` is ``j``'s empirical mixed
    strategy, the average of the initial strategy (weight 1, round 0) and of
    ``j``'s pure actions in rounds ``1..t``. In round ``t + 1`` every player
    plays a pure best response ``argmax_a u_i(a, s_-i^t)`` to its beliefs, all
    at once. Ties go to the lowest action index, or, when ``key`` is given, to
    a uniformly random maximiser (exactly equal values count as tied).

    The empirical strategies converge to the Nash equilibria in two-player
    zero-sum games (Robinson 1951), in 2 x 2 games (Miyasawa 1961) and in
    potential games (Monderer & Shapley 1996); in Shapley's (1964) 3 x 3 game
    play cycles with geometrically growing period and they do not converge.

    Args:
        game: a :class:`~detente.games.NormalFormGame` or its payoff tensor
            ``[N, A_1, ..., A_N]``.
        num_iterations: number of rounds ``T`` (static).
        initial_strategies: ``N`` probability vectors, the round-0 beliefs
            (default: uniform).
        key: optional PRNG key for random tie-breaking; the same key gives
            the same play.

    Returns:
        A :class:`FictitiousPlayResult`.

    Raises:
        ValueError: for a malformed game, initial strategies off the simplex,
            a non-positive ``num_iterations`` or a malformed key.

    Example:
        >>> from detente.games import matching_pennies
        >>> res = fictitious_play(matching_pennies(), 1000)
        >>> [float(abs(s[-1, 0] - 0.5)) < 0.05 for s in res.average_strategies]
        [True, True]
    """
    payoffs = _payoff_tensor(game)
    check_positive_int("num_iterations", num_iterations)
    shape, dtype = payoffs.shape[1:], payoffs.dtype
    s0 = (
        _uniform(shape, dtype)
        if initial_strategies is None
        else _check_strategies("initial_strategies", initial_strategies, shape, dtype)
    )
    random_ties = key is not None
    key = _check_key(key) if random_ties else jax.random.PRNGKey(0)
    return _fictitious_play(payoffs, s0, key, num_iterations, random_ties)


# ----------------------------------------------------------------------------
# Regret matching (unconditional regrets) and regret-matching+


class RegretMatchingResult(NamedTuple):
    """Result of :func:`regret_matching`.

    Attributes:
        average_strategies: ``N x [T, A_i]``: row ``t - 1`` is the (weighted)
            average of player ``i``'s mixed strategies of rounds ``1..t``.
        joint_distribution: ``[A_1, ..., A_N]``, the (weighted) distribution
            of joint play over the ``T`` rounds: the empirical distribution of
            the sampled joint actions, or (``sampled=False``) the average of
            the product strategies.
        cumulative_regrets: ``N x [A_i]``, the final cumulative regrets
            (regret-matching+: the clipped ones).
    """

    average_strategies: Strategies  # N x [T, A_i]
    joint_distribution: chex.Array  # [A_1, ..., A_N]
    cumulative_regrets: Strategies  # N x [A_i]


def _regret_matching_strategy(r: chex.Array) -> chex.Array:
    """Play in proportion to the positive part of ``r``; uniform when none is positive."""
    pos = jnp.maximum(r, 0.0)
    total = jnp.sum(pos)
    return jnp.where(total > 0, pos / jnp.where(total > 0, total, 1.0), 1.0 / r.shape[0])


@functools.partial(
    jax.jit, static_argnames=("num_iterations", "plus", "linear_averaging", "sampled")
)
def _regret_matching(payoffs, key, num_iterations, plus, linear_averaging, sampled):
    n = payoffs.shape[0]
    dtype = payoffs.dtype
    zeros = tuple(jnp.zeros((a,), dtype) for a in payoffs.shape[1:])
    init = (zeros, zeros, jnp.zeros(payoffs.shape[1:], dtype), jnp.zeros((), dtype))

    def body(carry, t):
        regrets, strat_sums, joint, wsum = carry
        sigma = tuple(_regret_matching_strategy(r) for r in regrets)
        if sampled:
            u = _round_uniforms(key, t, n, dtype)
            played = tuple(
                jax.nn.one_hot(_sample(s, u[i]), s.shape[0], dtype=dtype)
                for i, s in enumerate(sigma)
            )
        else:
            played = sigma
        values = _action_values(payoffs, played)  # u_i(., a_-i) or u_i(., sigma_-i)
        inst = tuple(v - jnp.dot(p, v) for v, p in zip(values, played, strict=True))
        regrets = tuple(r + d for r, d in zip(regrets, inst, strict=True))
        if plus:
            regrets = tuple(jnp.maximum(r, 0.0) for r in regrets)
        w = t if linear_averaging else jnp.ones((), dtype)
        strat_sums = tuple(m + w * s for m, s in zip(strat_sums, sigma, strict=True))
        joint = joint + w * _outer(played)
        wsum = wsum + w
        avg = tuple(m / wsum for m in strat_sums)
        return (regrets, strat_sums, joint, wsum), avg

    ts = jnp.arange(1, num_iterations + 1, dtype=dtype)
    (regrets, _, joint, wsum), avgs = jax.lax.scan(body, init, ts)
    return RegretMatchingResult(
        average_strategies=avgs, joint_distribution=joint / wsum, cumulative_regrets=regrets
    )


def regret_matching(
    game,
    num_iterations: int,
    *,
    plus: bool = False,
    linear_averaging: bool = False,
    sampled: bool = False,
    key=None,
) -> RegretMatchingResult:
    """Regret matching on unconditional regrets, simultaneous for all ``N`` players.

    In round ``t`` player ``i`` plays ``sigma_i^t`` proportional to the
    positive part of its cumulative regrets ``R_i^{t-1}`` (uniform when none
    is positive), then adds the regrets of the round,
    ``r_i(a) = u_i(a, a_-i) - u_i(a_i, a_-i)`` for sampled play, or their
    expectation ``u_i(a, sigma_-i) - u_i(sigma)`` when ``sampled=False``
    (Hart & Mas-Colell 2000, sec. 4(c); Hart & Mas-Colell 2001). Each
    player's average regret vanishes at rate ``O(1/sqrt(T))``, so the joint
    distribution of play approaches the coarse correlated equilibria, and in
    two-player zero-sum games the average strategies approach the Nash
    equilibria.

    Regret-matching+ (``plus=True``, Tammelin 2014) clips the cumulative
    regrets at zero after every round; CFR+ pairs it with linear averaging
    (``linear_averaging=True``: round ``t`` weighs ``t`` in the averages and
    in the joint distribution).

    Args:
        game: a :class:`~detente.games.NormalFormGame` or its payoff tensor
            ``[N, A_1, ..., A_N]``.
        num_iterations: number of rounds ``T`` (static).
        plus: use regret-matching+.
        linear_averaging: weigh round ``t`` by ``t`` in the averages.
        sampled: sample the joint action each round (needs ``key``) instead
            of the deterministic full-information update.
        key: PRNG key, required when ``sampled=True``; round ``t`` uses
            ``fold_in(key, t)``, so the same key gives the same play and a
            longer run extends a shorter one.

    Returns:
        A :class:`RegretMatchingResult`.

    Raises:
        ValueError: for a malformed game, a non-positive ``num_iterations``,
            a missing or malformed ``key`` when sampling, or a key given
            without sampling.

    Example:
        >>> from detente.games import rock_paper_scissors
        >>> res = regret_matching(rock_paper_scissors(), 2000)
        >>> float(jnp.max(jnp.abs(res.average_strategies[0][-1] - 1 / 3))) < 0.02
        True
    """
    payoffs = _payoff_tensor(game)
    check_positive_int("num_iterations", num_iterations)
    for name, flag in (
        ("plus", plus),
        ("linear_averaging", linear_averaging),
        ("sampled", sampled),
    ):
        if not isinstance(flag, bool):
            raise bad_value(name, flag, "True or False")
    if sampled and key is None:
        raise bad_value("key", key, "a PRNG key when sampled=True")
    if not sampled and key is not None:
        raise bad_value("key", "a key", "None when sampled=False (the update is deterministic)")
    key = _check_key(key) if sampled else jax.random.PRNGKey(0)
    return _regret_matching(payoffs, key, num_iterations, plus, linear_averaging, sampled)


# ----------------------------------------------------------------------------
# Conditional regret matching (Hart & Mas-Colell 2000)


class ConditionalRegretMatchingResult(NamedTuple):
    """Result of :func:`conditional_regret_matching`.

    Attributes:
        joint_distribution: ``[A_1, ..., A_N]``, the empirical distribution of
            the ``T`` joint actions played.
        actions: ``[T, N]`` int32, the joint actions of rounds 1..T.
    """

    joint_distribution: chex.Array  # [A_1, ..., A_N]
    actions: chex.Array  # [T, N]


@functools.partial(jax.jit, static_argnames=("num_iterations",))
def _conditional_regret_matching(payoffs, key, mu, num_iterations):
    n = payoffs.shape[0]
    dtype = payoffs.dtype
    sizes = payoffs.shape[1:]

    def body(carry, t):
        # sums[i][j, k]: sum over the rounds with a_i = j of u_i(k, a_-i) - u_i(a)
        sums, last, joint = carry
        u = _round_uniforms(key, t, n, dtype)
        played = []
        for i in range(n):
            e_j = jax.nn.one_hot(last[i], sizes[i], dtype=dtype)
            d = jnp.maximum(e_j @ sums[i] / jnp.maximum(t - 1.0, 1.0), 0.0) / mu[i]  # [A_i]
            d = d * (1.0 - e_j)
            p = d + e_j * jnp.maximum(1.0 - jnp.sum(d), 0.0)
            p = jnp.where(t == 1, 1.0 / sizes[i], p)  # round 1: uniform
            played.append(jax.nn.one_hot(_sample(p, u[i]), sizes[i], dtype=dtype))
        values = _action_values(payoffs, played)  # u_i(., a_-i)
        sums = tuple(
            s + e[:, None] * (v - jnp.dot(e, v))[None, :]
            for s, e, v in zip(sums, played, values, strict=True)
        )
        actions = jnp.stack([jnp.argmax(e) for e in played]).astype(jnp.int32)
        return (sums, actions, joint + _outer(tuple(played))), actions

    init = (
        tuple(jnp.zeros((a, a), dtype) for a in sizes),
        jnp.zeros((n,), jnp.int32),
        jnp.zeros(sizes, dtype),
    )
    ts = jnp.arange(1, num_iterations + 1, dtype=dtype)
    (_, _, joint), actions = jax.lax.scan(body, init, ts)
    return ConditionalRegretMatchingResult(
        joint_distribution=joint / num_iterations, actions=actions
    )


def conditional_regret_matching(
    game, key, num_iterations: int, *, inertia=None
) -> ConditionalRegretMatchingResult:
    """Hart & Mas-Colell's (2000) adaptive procedure on conditional regrets.

    Round 1 is uniformly random. After round ``t`` with ``a_i^t = j``, player
    ``i`` switches to ``k != j`` with probability ``max(D_i^t(j, k), 0) / mu_i``
    and otherwise repeats ``j``, where ``D_i^t(j, k) = (1/t) sum_{s <= t,
    a_i^s = j} [u_i(k, a_-i^s) - u_i(a^s)]`` is the average regret for not
    having played ``k`` whenever ``j`` was played. The empirical distribution
    of joint play converges almost surely to the set of correlated equilibria
    (Hart & Mas-Colell 2000, Main Theorem).

    Args:
        game: a :class:`~detente.games.NormalFormGame` or its payoff tensor
            ``[N, A_1, ..., A_N]``.
        key: PRNG key; round ``t`` uses ``fold_in(key, t)``.
        num_iterations: number of rounds ``T`` (static).
        inertia: ``mu > 0``, one for all players (may be traced). The default
            ``mu_i = 2 (A_i - 1) (max u_i - min u_i)`` (or 1 when ``u_i`` is
            constant) is large enough for the switching probabilities to sum
            to at most 1; a smaller ``mu`` is allowed and the stay
            probability is then clipped at 0.

    Returns:
        A :class:`ConditionalRegretMatchingResult`.

    Raises:
        ValueError: for a malformed game, key or ``inertia`` or a
            non-positive ``num_iterations``.

    Example:
        >>> import jax
        >>> from detente.games import chicken
        >>> res = conditional_regret_matching(chicken(), jax.random.key(0), 100)
        >>> res.joint_distribution.shape
        (2, 2)
    """
    payoffs = _payoff_tensor(game)
    check_positive_int("num_iterations", num_iterations)
    key = _check_key(key)
    n = payoffs.shape[0]
    if inertia is None:
        spread = jnp.max(payoffs.reshape(n, -1), axis=1) - jnp.min(payoffs.reshape(n, -1), axis=1)
        sizes = jnp.asarray(payoffs.shape[1:], payoffs.dtype)
        mu = jnp.where(spread > 0, 2.0 * jnp.maximum(sizes - 1.0, 1.0) * spread, 1.0)
    else:
        c = _concrete(inertia)
        if c is not None and (c.shape != () or not np.isfinite(c) or c <= 0):
            raise bad_value("inertia", inertia, "a finite number > 0")
        mu = jnp.full((n,), inertia, payoffs.dtype)
    return _conditional_regret_matching(payoffs, key, mu, num_iterations)


# ----------------------------------------------------------------------------
# Logit quantal response


def logit_response(game, strategies, lam) -> Strategies:
    """The logit (quantal) best response ``softmax(lam * u_i(., s_-i))`` of every player.

    ``lam = 0`` gives uniform play; ``lam -> inf`` the best response
    (McKelvey & Palfrey 1995).

    Args:
        game: a :class:`~detente.games.NormalFormGame` or its payoff tensor
            ``[N, A_1, ..., A_N]``.
        strategies: ``N`` probability vectors, ``strategies[i]`` of shape ``[A_i]``.
        lam: precision ``lambda >= 0`` (may be traced).

    Returns:
        Tuple of ``N`` probability vectors ``[A_i]``.

    Raises:
        ValueError: for a malformed game, strategies off the simplex or a
            negative or non-finite ``lam``.

    Example:
        >>> from detente.games import prisoners_dilemma
        >>> r = logit_response(prisoners_dilemma(), ([0.5, 0.5], [0.5, 0.5]), 0.0)
        >>> r[0].tolist()
        [0.5, 0.5]
    """
    payoffs = _payoff_tensor(game)
    s = _check_strategies("strategies", strategies, payoffs.shape[1:], payoffs.dtype)
    _check_lam(lam)
    return tuple(jax.nn.softmax(lam * v) for v in _action_values(payoffs, s))


class QREResult(NamedTuple):
    """Result of :func:`logit_qre`.

    Attributes:
        strategies: ``N x [A_i]``, the logit QRE at ``lam``.
        residual: ``[]``, ``max_i |s_i - softmax(lam * u_i(., s_-i))|``, the
            fixed-point error (about 1e-15 in float64 when converged).
    """

    strategies: Strategies  # N x [A_i]
    residual: chex.Array  # []


@functools.partial(jax.jit, static_argnames=("num_continuation_steps", "num_newton_steps"))
def _logit_qre(payoffs, lam, num_continuation_steps, num_newton_steps):
    sizes = payoffs.shape[1:]
    splits = np.cumsum(sizes)[:-1].tolist()
    dtype = payoffs.dtype
    lam = jnp.asarray(lam, dtype)

    def split(z):
        return tuple(jnp.split(z, splits))

    def F(z, l):
        # log s - log softmax(l * u(s)) with s = exp(z): zero exactly at a QRE.
        values = _action_values(payoffs, tuple(jnp.exp(zi) for zi in split(z)))
        return z - jnp.concatenate([jax.nn.log_softmax(l * v) for v in values])

    def body(z, k):
        l = lam * k / num_continuation_steps

        def newton_step(_, z):
            dz = solve_rolled(jax.jacfwd(F)(z, l), F(z, l))
            # Cap steps at 1 in log-probability: a trust region far from the branch.
            return z - dz / jnp.maximum(1.0, jnp.max(jnp.abs(dz)))

        return jax.lax.fori_loop(0, num_newton_steps, newton_step, z), None

    z0 = jnp.concatenate([jnp.full((a,), -np.log(a), dtype) for a in sizes])
    ks = jnp.arange(1, num_continuation_steps + 1, dtype=dtype)
    z, _ = jax.lax.scan(body, z0, ks)
    s = tuple(jax.nn.softmax(zi) for zi in split(z))  # exp(z_i), renormalised
    resp = tuple(jax.nn.softmax(lam * v) for v in _action_values(payoffs, s))
    residual = jnp.max(jnp.concatenate([jnp.abs(a - b) for a, b in zip(s, resp, strict=True)]))
    return QREResult(strategies=s, residual=residual)


def logit_qre(
    game, lam, *, num_continuation_steps: int = 32, num_newton_steps: int = 4
) -> QREResult:
    """The logit quantal response equilibrium at precision ``lam`` on the principal branch.

    A logit QRE is a profile with ``s_i = softmax(lam * u_i(., s_-i))`` for
    every player (McKelvey & Palfrey 1995). Starting from the uniform profile,
    the unique QRE at ``lam = 0``, the branch is followed in
    ``num_continuation_steps`` equal steps of ``lam``, each corrected by
    ``num_newton_steps`` Newton steps on ``log s_i - log softmax(lam u_i) = 0``
    in log-probabilities (a small dense solve, no LAPACK). Continuation in
    ``lam`` cannot pass a turning point of the branch (where it bends back in
    ``lam``, as it can in games with several equilibria); ``residual`` then
    stays large. Gambit's ``logit_solve_lambda`` follows the branch in arc
    length instead. As ``lam -> inf`` the principal branch approaches a Nash
    equilibrium, the logit limit (McKelvey & Palfrey 1995, Theorem 2).

    Args:
        game: a :class:`~detente.games.NormalFormGame` or its payoff tensor
            ``[N, A_1, ..., A_N]``.
        lam: precision ``lambda >= 0`` (may be traced: vmap over a grid).
        num_continuation_steps: steps in ``lam`` from 0 (static); raise it
            for large ``lam`` times the payoff scale.
        num_newton_steps: Newton corrections per step (static).

    Returns:
        A :class:`QREResult`.

    Raises:
        ValueError: for a malformed game, a negative or non-finite ``lam`` or
            non-positive step counts.

    Example:
        >>> from detente.games import matching_pennies
        >>> res = logit_qre(matching_pennies(), 3.0)
        >>> [s.tolist() for s in res.strategies]
        [[0.5, 0.5], [0.5, 0.5]]
    """
    payoffs = _payoff_tensor(game)
    _check_lam(lam)
    check_positive_int("num_continuation_steps", num_continuation_steps)
    check_positive_int("num_newton_steps", num_newton_steps)
    return _logit_qre(payoffs, lam, num_continuation_steps, num_newton_steps)
