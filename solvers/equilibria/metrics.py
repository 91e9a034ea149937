"""How far a strategy profile is from equilibrium, and how good it is for the players.

A *profile* is one mixed strategy per player: a tuple or list of ``N`` arrays,
``profile[i]`` of shape ``[A_i]``, non-negative and summing to one. When every
player has the same number of actions ``A``, a stacked array of shape ``[N, A]``
is accepted too. A *game* is a :class:`~detente.games.NormalFormGame` or its
payoff tensor ``[N, A_1, ..., A_N]`` (rewards, higher is better).

Every function here except :func:`price_of_anarchy` and
:func:`price_of_stability` is pure JAX: jit it, and vmap it over a batch of
games and profiles (``jax.vmap(nash_conv)(payoffs, profiles)`` with payoffs
``[B, N, A_1, ..., A_N]`` and a profile whose arrays carry a leading ``[B]``).
Inputs are validated when they are concrete (outside ``jit``/``vmap``); traced
inputs are checked for shape only. Per-player results are always tuples of
``N`` arrays, whatever the profile's format.

References:
    Lanctot et al., "A Unified Game-Theoretic Approach to Multiagent
    Reinforcement Learning", NeurIPS 2017, https://arxiv.org/abs/1711.00832
    (NashConv). Koutsoupias and Papadimitriou, "Worst-case Equilibria", STACS
    1999 (price of anarchy). Anshelevich et al., "The Price of Stability for
    Network Design with Fair Cost Allocation", FOCS 2004 (price of stability).
    Aumann, "Subjectivity and Correlation in Randomized Strategies", J. Math.
    Econ. 1974 (correlated equilibrium); Moulin and Vial, "Strategically Zero-Sum
    Games", IJGT 1978 (coarse correlated equilibrium).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_finite
from detente.games.normal_form import NormalFormGame

__all__ = [
    "BestResponses",
    "best_response_values",
    "best_responses",
    "coarse_correlated_gap",
    "correlated_gap",
    "deviation_payoffs",
    "expected_payoffs",
    "exploitability",
    "nash_conv",
    "price_of_anarchy",
    "price_of_stability",
    "social_welfare",
]

Profile = Sequence[chex.Array] | chex.Array
"""``N`` mixed strategies, ``[A_i]`` each, or a stacked ``[N, A]`` array."""

PROB_ATOL = 1e-5
"""Tolerance on ``sum(profile[i]) == 1`` and ``profile[i] >= 0`` for concrete inputs."""


def _is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def as_payoffs(game: NormalFormGame | chex.Array, field: str = "game") -> chex.Array:
    """The payoff tensor ``[N, A_1, ..., A_N]`` of ``game``, validated when concrete.

    Args:
        game: a :class:`NormalFormGame` or an array-like payoff tensor.
        field: the name used in error messages.

    Returns:
        The payoffs as a float JAX array.

    Raises:
        ValueError: for a ragged, non-numeric or non-finite tensor, or a shape
            that is not ``[N, A_1, ..., A_N]``.
    """
    if isinstance(game, NormalFormGame):
        return game.payoffs
    if _is_traced(game):
        u = jnp.asarray(game)
        if u.ndim < 2 or u.shape[0] != u.ndim - 1:
            raise bad_value(f"{field}.shape", u.shape, "[N, A_1, ..., A_N] with N = ndim - 1")
        return u
    try:
        return NormalFormGame.create(game).payoffs
    except ValueError as e:  # NormalFormGame names the payoffs' fields itself
        raise ValueError(str(e) if field == "payoffs" else f"{field}: {e}") from None


def as_profile(profile: Profile, num_actions: Sequence[int], field: str = "profile") -> tuple:
    """Per-player strategies as a tuple of ``N`` arrays ``[A_i]``, validated when concrete.

    Args:
        profile: ``N`` probability vectors (tuple or list), or a ``[N, A]`` array
            when every player has ``A`` actions.
        num_actions: ``(A_1, ..., A_N)``.
        field: the name used in error messages.

    Returns:
        A tuple of ``N`` float arrays.

    Raises:
        ValueError: for a wrong number of strategies, a wrong length, a negative
            or non-finite entry, or a vector that does not sum to one.
    """
    n = len(num_actions)
    if isinstance(profile, (list, tuple)):
        strategies = tuple(profile)
    else:
        arr = profile if _is_traced(profile) else np.asarray(profile)
        if arr.ndim != 2:
            raise bad_value(
                f"{field}.shape",
                arr.shape,
                f"a tuple of {n} strategies or a stacked [N, A] array with N={n}",
            )
        strategies = tuple(arr[i] for i in range(arr.shape[0]))
    if len(strategies) != n:
        raise bad_value(f"len({field})", len(strategies), f"one strategy per player ({n})")
    out = []
    for i, (s, a) in enumerate(zip(strategies, num_actions, strict=True)):
        if _is_traced(s):
            if jnp.shape(s) != (a,):
                raise bad_value(f"{field}[{i}].shape", jnp.shape(s), f"({a},)")
            out.append(s)
            continue
        try:
            v = np.asarray(s, dtype=float)
        except (TypeError, ValueError):
            raise bad_value(f"{field}[{i}]", s, f"a probability vector of length {a}") from None
        if v.shape != (a,):
            raise bad_value(f"{field}[{i}].shape", v.shape, f"({a},)")
        if not np.all(np.isfinite(v)) or np.any(v < -PROB_ATOL):
            raise bad_value(f"{field}[{i}]", v.tolist(), "finite non-negative probabilities")
        if abs(v.sum() - 1.0) > PROB_ATOL:
            raise bad_value(
                f"{field}[{i}]",
                v.tolist(),
                f"probabilities summing to 1 (sum is {v.sum():.6g})",
            )
        out.append(jnp.asarray(s, dtype=jnp.result_type(float)))
    return tuple(out)


def _prepare(game, profile) -> tuple[chex.Array, tuple]:
    u = as_payoffs(game)
    return u, as_profile(profile, u.shape[1:])


def expected_payoffs(game: NormalFormGame | chex.Array, profile: Profile) -> chex.Array:
    """Every player's expected payoff under independent mixed strategies.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        profile: ``N`` mixed strategies (see the module docstring).

    Returns:
        ``[N]``: ``u_i(s) = sum_a payoffs[i, a] prod_j s_j(a_j)``.
    """
    u, s = _prepare(game, profile)
    return NormalFormGame(payoffs=u).expected_payoffs(list(s))


def _deviation_payoffs(u: chex.Array, s: tuple) -> tuple:
    n = len(s)
    out = []
    for i in range(n):
        t = jnp.moveaxis(u[i], i, -1)  # [A_-i..., A_i]
        for j in range(n):
            if j != i:
                t = jnp.tensordot(s[j], t, axes=1)  # contracts the leading axis
        out.append(t)
    return tuple(out)


def deviation_payoffs(game: NormalFormGame | chex.Array, profile: Profile) -> tuple:
    """Each player's payoff for each of its pure actions against the others' strategies.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        profile: ``N`` mixed strategies.

    Returns:
        A tuple of ``N`` arrays, entry ``i`` of shape ``[A_i]``:
        ``u_i(a_i, s_-i)`` for every pure action ``a_i``.
    """
    u, s = _prepare(game, profile)
    return _deviation_payoffs(u, s)


def best_response_values(game: NormalFormGame | chex.Array, profile: Profile) -> chex.Array:
    """Each player's best payoff from a unilateral deviation, ``max_{a_i} u_i(a_i, s_-i)``.

    A pure best response attains the best over all mixed deviations, so this is
    the value of a best response (Shoham and Leyton-Brown, "Multiagent
    Systems", 2009, sec. 3.3).

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        profile: ``N`` mixed strategies.

    Returns:
        ``[N]`` best-response values.
    """
    u, s = _prepare(game, profile)
    return jnp.stack([d.max() for d in _deviation_payoffs(u, s)])


class BestResponses(NamedTuple):
    """Best responses of every player to the others' strategies in a profile.

    Attributes:
        values: ``[N]`` best-response values ``max_{a_i} u_i(a_i, s_-i)``.
        pure: ``N`` boolean arrays ``[A_i]``, true for the pure best responses
            (within ``tol`` of the best).
        mixed: ``N`` arrays ``[A_i]``, the uniform mixture over the pure best
            responses (a mixed best response).
    """

    values: chex.Array  # [N]
    pure: tuple  # N x [A_i] bool
    mixed: tuple  # N x [A_i] float


def best_responses(
    game: NormalFormGame | chex.Array, profile: Profile, tol: float = 1e-6
) -> BestResponses:
    """Pure best-response sets and a mixed best response of every player.

    Action ``a_i`` is a best response when ``u_i(a_i, s_-i) >= max - tol``.
    Every mixture of best responses is a best response (Shoham and
    Leyton-Brown, "Multiagent Systems", 2009, sec. 3.3); the uniform one is returned.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        profile: ``N`` mixed strategies.
        tol: absolute payoff tolerance for ties, ``>= 0``.

    Returns:
        A :class:`BestResponses`.
    """
    if not _is_traced(tol):
        check_finite("tol", tol, low=0.0)
    u, s = _prepare(game, profile)
    devs = _deviation_payoffs(u, s)
    values = jnp.stack([d.max() for d in devs])
    pure = tuple(d >= d.max() - tol for d in devs)
    mixed = tuple(p / p.sum() for p in pure)
    return BestResponses(values=values, pure=pure, mixed=mixed)


def nash_conv(game: NormalFormGame | chex.Array, profile: Profile) -> chex.Array:
    """NashConv: the sum over players of what a unilateral deviation gains.

    ``NashConv(s) = sum_i [max_{a_i} u_i(a_i, s_-i) - u_i(s)]``; it is zero
    exactly at a Nash equilibrium and positive elsewhere (Lanctot et al.,
    "A Unified Game-Theoretic Approach to Multiagent Reinforcement Learning",
    NeurIPS 2017, https://arxiv.org/abs/1711.00832).

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        profile: ``N`` mixed strategies.

    Returns:
        Scalar NashConv, ``>= 0`` up to rounding.
    """
    u, s = _prepare(game, profile)
    devs = _deviation_payoffs(u, s)
    # u_i(s) = <s_i, u_i(., s_-i)>: one contraction serves both terms.
    return sum(d.max() - jnp.dot(si, d) for d, si in zip(devs, s, strict=True))


def exploitability(game: NormalFormGame | chex.Array, profile: Profile) -> chex.Array:
    """Exploitability: NashConv divided by the number of players.

    This is OpenSpiel's ``exploitability`` (``NashConv / N``). In a two-player
    zero-sum game with row matrix ``A`` it is the usual
    ``(max_x' x'^T A y - min_y' x^T A y') / 2``, the mean of what a best
    responder wins against each player, since ``u_1(s) + u_2(s) = 0`` cancels
    (Lanctot et al., NeurIPS 2017, https://arxiv.org/abs/1711.00832). Papers
    that report the sum rather than the mean are reporting :func:`nash_conv`.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        profile: ``N`` mixed strategies.

    Returns:
        Scalar exploitability.
    """
    u = as_payoffs(game)
    return nash_conv(u, profile) / u.shape[0]


def social_welfare(game: NormalFormGame | chex.Array, profile: Profile) -> chex.Array:
    """Utilitarian social welfare: the sum of the players' expected payoffs.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        profile: ``N`` mixed strategies.

    Returns:
        Scalar ``sum_i u_i(s)``.
    """
    return expected_payoffs(game, profile).sum()


def _deviation_gains(u: chex.Array) -> list:
    """``gain_i[d, a] = u_i(d, a_-i) - u_i(a)``, ``[A_i, A_1, ..., A_N]`` per player."""
    out = []
    for i in range(u.shape[0]):
        ui = u[i]
        dev = jnp.moveaxis(ui, i, 0)  # [A_i(d), A_-i...]
        dev = jnp.expand_dims(dev, axis=i + 1)  # broadcast over the recommended a_i
        out.append(dev - ui[None])
    return out


def correlated_gap(game: NormalFormGame | chex.Array, joint: chex.Array) -> chex.Array:
    """The largest gain from disobeying a recommendation drawn from ``joint``.

    ``max_{i, a_i, d} sum_{a_-i} p(a_i, a_-i) [u_i(d, a_-i) - u_i(a_i, a_-i)]``,
    clipped at zero: ``joint`` is a correlated equilibrium iff this is zero
    (Aumann, "Subjectivity and Correlation in Randomized Strategies", J. Math.
    Econ. 1974; Shoham and Leyton-Brown, "Multiagent Systems", 2009, sec. 3.4.5).

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        joint: ``[A_1, ..., A_N]`` joint distribution over action profiles.

    Returns:
        Scalar ``epsilon >= 0``: ``joint`` is an ``epsilon``-correlated equilibrium.
    """
    u = as_payoffs(game)
    p = _as_joint(joint, u.shape[1:])
    n = u.shape[0]
    worst = jnp.zeros((), u.dtype)
    for i, g in enumerate(_deviation_gains(u)):
        # sum over a_-i, keep (d, a_i): [A_i, A_i]
        others = tuple(k + 1 for k in range(n) if k != i)
        worst = jnp.maximum(worst, (g * p[None]).sum(axis=others).max())
    return worst


def coarse_correlated_gap(game: NormalFormGame | chex.Array, joint: chex.Array) -> chex.Array:
    """The largest gain from committing to one action before seeing the recommendation.

    ``max_{i, d} sum_a p(a) [u_i(d, a_-i) - u_i(a)]``, clipped at zero:
    ``joint`` is a coarse correlated equilibrium iff this is zero (Moulin and
    Vial, "Strategically Zero-Sum Games", IJGT 1978; Hannan 1957).

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        joint: ``[A_1, ..., A_N]`` joint distribution over action profiles.

    Returns:
        Scalar ``epsilon >= 0``.
    """
    u = as_payoffs(game)
    p = _as_joint(joint, u.shape[1:])
    worst = jnp.zeros((), u.dtype)
    for g in _deviation_gains(u):
        axes = tuple(range(1, g.ndim))
        worst = jnp.maximum(worst, (g * p[None]).sum(axis=axes).max())
    return worst


def _as_joint(joint, num_actions) -> chex.Array:
    if _is_traced(joint):
        if jnp.shape(joint) != tuple(num_actions):
            raise bad_value("joint.shape", jnp.shape(joint), f"{tuple(num_actions)}")
        return joint
    v = np.asarray(joint, dtype=float)
    if v.shape != tuple(num_actions):
        raise bad_value("joint.shape", v.shape, f"{tuple(num_actions)}")
    if not np.all(np.isfinite(v)) or np.any(v < -PROB_ATOL) or abs(v.sum() - 1) > PROB_ATOL:
        raise bad_value("joint", "array", "finite non-negative probabilities summing to 1")
    return jnp.asarray(joint, dtype=jnp.result_type(float))


# --- welfare ratios (host-side: they raise on values) --------------------------


def _equilibrium_welfares(u: np.ndarray, equilibria) -> np.ndarray:
    n = u.shape[0]
    if isinstance(equilibria, np.ndarray | jax.Array) and np.issubdtype(
        np.asarray(equilibria).dtype, np.integer
    ):
        a = np.asarray(equilibria)
        if a.ndim != 2 or a.shape[1] != n:
            raise bad_value("equilibria.shape", a.shape, f"[K, {n}] pure action profiles")
        if a.shape[0] == 0:
            raise bad_value("equilibria", "an empty array", "at least one equilibrium")
        if np.any(a < 0) or np.any(a >= np.asarray(u.shape[1:])):
            raise bad_value("equilibria", a.tolist(), f"actions below {u.shape[1:]}")
        return u.sum(axis=0)[tuple(a.T)]
    equilibria = list(equilibria)
    if not equilibria:
        raise bad_value("equilibria", equilibria, "at least one equilibrium")
    out = []
    for k, e in enumerate(equilibria):
        as_profile(e, u.shape[1:], field=f"equilibria[{k}]")  # validates
        strategies = [np.asarray(s, dtype=float) for s in e]  # float64, not float32
        w = u.sum(axis=0)
        for s in reversed(strategies):
            w = w @ s
        out.append(float(w))
    return np.array(out)


def _welfare_ratio(game, equilibria, pick) -> float:
    u = np.asarray(as_payoffs(game), dtype=float)
    optimum = float(u.sum(axis=0).max())
    welfare = _equilibrium_welfares(u, equilibria)
    w = float(pick(welfare))
    if optimum <= 0 or w <= 0:
        raise bad_value(
            "welfare (optimum, equilibrium)",
            (optimum, w),
            "positive optimal and equilibrium welfare; the ratio is undefined otherwise "
            "(shift the payoffs by a constant if that is meaningful for your game)",
        )
    return optimum / w


def price_of_anarchy(game: NormalFormGame | chex.Array, equilibria) -> float:
    """Price of anarchy: optimal welfare over the worst equilibrium's welfare.

    ``PoA = max_a W(a) / min_{s in E} W(s)`` with ``W`` the sum of payoffs and
    the maximum over pure outcomes (welfare is linear in the joint distribution,
    so no mixed or correlated outcome does better). Defined for welfare
    maximisation with positive welfare; ``PoA >= 1`` when ``E`` holds
    equilibria (Koutsoupias and Papadimitriou, "Worst-case Equilibria", STACS
    1999; Nisan et al., "Algorithmic Game Theory", 2007, ch. 17).

    Not traceable: it checks values and raises.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        equilibria: the equilibria to rank: a list of profiles (each ``N`` mixed
            strategies or a stacked ``[N, A]`` array) or an integer array
            ``[K, N]`` of pure action profiles (the output of
            :func:`detente.solvers.equilibria.pure.pure_equilibria`).

    Returns:
        The ratio as a float.

    Raises:
        ValueError: for no equilibria, or when the optimal or the worst
            equilibrium welfare is not positive (the ratio is undefined).
    """
    return _welfare_ratio(game, equilibria, np.min)


def price_of_stability(game: NormalFormGame | chex.Array, equilibria) -> float:
    """Price of stability: optimal welfare over the best equilibrium's welfare.

    ``PoS = max_a W(a) / max_{s in E} W(s)``, for welfare maximisation with
    positive welfare (Anshelevich et al., "The Price of Stability for Network
    Design with Fair Cost Allocation", FOCS 2004). ``1 <= PoS <= PoA``.

    Not traceable: it checks values and raises.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        equilibria: as in :func:`price_of_anarchy`.

    Returns:
        The ratio as a float.

    Raises:
        ValueError: for no equilibria, or non-positive optimal or best
            equilibrium welfare.
    """
    return _welfare_ratio(game, equilibria, np.max)
