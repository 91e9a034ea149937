"""Equilibria that are solutions of linear programs, solved with HiGHS.

Two-player zero-sum games (maximin strategies and the value) and correlated
and coarse correlated equilibria of ``N``-player games, optimising a linear
objective over the equilibrium polytope. Inputs and outputs are numpy (float64);
the LPs run in ``scipy.optimize.linprog(method="highs")`` outside JAX.

References:
    von Neumann, "Zur Theorie der Gesellschaftsspiele", Math. Annalen 1928;
    Shoham and Leyton-Brown, "Multiagent Systems", Cambridge 2009, sec. 4.1
    (zero-sum LP) and 4.6 (correlated equilibrium LP). Aumann, "Subjectivity
    and Correlation in Randomized Strategies", J. Math. Econ. 1974; Hannan,
    "Approximation to Bayes Risk in Repeated Play", 1957; Moulin and Vial,
    "Strategically Zero-Sum Games", IJGT 1978 (coarse correlated equilibrium).
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import numpy as np
from scipy.optimize import linprog

from detente._checks import bad_value
from detente.games.normal_form import NormalFormGame
from detente.solvers.equilibria.metrics import as_payoffs

__all__ = [
    "CorrelatedSolution",
    "ZeroSumSolution",
    "coarse_correlated_equilibrium",
    "correlated_equilibrium",
    "solve_zero_sum",
]

ZERO_SUM_ATOL = 1e-9
"""Tolerance on ``payoffs[0] + payoffs[1] == const`` for a game given to :func:`solve_zero_sum`."""


class ZeroSumSolution(NamedTuple):
    """Solution of a two-player zero-sum game with row matrix ``A``.

    Attributes:
        value: the row player's value ``max_x min_y x^T A y = min_y max_x x^T A y``.
        x: ``[m]`` a maximin strategy of the row player.
        y: ``[n]`` a minimax strategy of the column player.
    """

    value: float
    x: np.ndarray  # [m]
    y: np.ndarray  # [n]


class CorrelatedSolution(NamedTuple):
    """A (coarse) correlated equilibrium and its objective value.

    Attributes:
        distribution: ``[A_1, ..., A_N]`` joint distribution over action profiles.
        value: the objective at ``distribution`` (``sum_a c(a) p(a)``).
    """

    distribution: np.ndarray  # [A_1, ..., A_N]
    value: float


def _solve(c, a_ub, b_ub, a_eq, b_eq, bounds, what: str):
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:  # cannot happen for these LPs: they are feasible and bounded
        raise RuntimeError(f"{what}: HiGHS failed with status {res.status}: {res.message}")
    return res


def _maximin(a: np.ndarray) -> tuple[float, np.ndarray]:
    """``max_x min_j (x^T a)_j`` over the simplex, and the maximiser."""
    m, n = a.shape
    # variables (x, v): max v  s.t.  v - (a^T x)_j <= 0,  sum x = 1,  x >= 0.
    res = _solve(
        c=np.r_[np.zeros(m), -1.0],
        a_ub=np.c_[-a.T, np.ones(n)],
        b_ub=np.zeros(n),
        a_eq=np.r_[np.ones(m), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
        what="solve_zero_sum",
    )
    x = np.clip(res.x[:m], 0.0, None)
    return float(res.x[m]), x / x.sum()


def solve_zero_sum(game_or_matrix: NormalFormGame | chex.Array) -> ZeroSumSolution:
    """Maximin strategies and value of a two-player zero-sum game by linear programming.

    The row player solves ``max v`` s.t. ``A^T x >= v 1``, ``1^T x = 1``,
    ``x >= 0``; the column player the same LP for ``-A^T``. By von Neumann's
    minimax theorem both values agree and ``(x, y)`` is a Nash equilibrium
    (Shoham and Leyton-Brown, "Multiagent Systems", 2009, sec. 4.1).

    Args:
        game_or_matrix: the row player's payoff matrix ``A`` ``[m, n]`` (the
            column player gets ``-A``), or a two-player :class:`NormalFormGame`
            (or its ``[2, m, n]`` payoffs) that is zero-sum or constant-sum;
            ``A = payoffs[0]``. For the maximin strategy of a general-sum game's
            row player, pass ``payoffs[0]`` itself.

    Returns:
        A :class:`ZeroSumSolution` ``(value, x, y)``; ``value`` is the row
        player's (with ``A = payoffs[0]``).

    Raises:
        ValueError: for a bad matrix, a game with other than two players, or a
            game that is not constant-sum.

    Examples:
        >>> from detente.games import matching_pennies
        >>> sol = solve_zero_sum(matching_pennies())
        >>> round(sol.value, 9), sol.x.round(9).tolist()
        (0.0, [0.5, 0.5])
    """
    try:
        ndim = np.ndim(game_or_matrix)
    except ValueError:  # ragged
        raise bad_value(
            "game_or_matrix", game_or_matrix, "a rectangular [m, n] matrix or [2, m, n] payoffs"
        ) from None
    if isinstance(game_or_matrix, NormalFormGame) or ndim == 3:
        u = np.asarray(as_payoffs(game_or_matrix), dtype=float)
        if u.shape[0] != 2:
            raise bad_value("game.num_players", u.shape[0], "2 (a two-player zero-sum game)")
        total = u[0] + u[1]
        if np.ptp(total) > ZERO_SUM_ATOL * max(1.0, float(np.abs(u).max())):
            raise bad_value(
                "game",
                f"payoffs[0] + payoffs[1] ranging over [{total.min():g}, {total.max():g}]",
                "a zero-sum or constant-sum game; pass payoffs[0] for the row "
                "player's maximin strategy in a general-sum game",
            )
        a = u[0]
    else:
        try:
            a = np.asarray(game_or_matrix, dtype=float)
        except (TypeError, ValueError):
            raise bad_value(
                "game_or_matrix", game_or_matrix, "a rectangular real [m, n] matrix"
            ) from None
        if a.ndim != 2 or min(a.shape) < 1:
            raise bad_value("game_or_matrix.shape", a.shape, "[m, n] with m, n >= 1")
        if not np.all(np.isfinite(a)):
            raise bad_value("game_or_matrix", "a matrix with non-finite entries", "finite payoffs")
    value, x = _maximin(a)
    neg_value, y = _maximin(-a.T)
    # The two LPs are each other's duals: -neg_value == value up to solver tolerance.
    return ZeroSumSolution(value=0.5 * (value - neg_value), x=x, y=y)


def _deviation_rows(u: np.ndarray, coarse: bool) -> np.ndarray:
    """Constraint rows ``G p <= 0``, one per (player, recommendation, deviation) or (player, deviation).

    For player ``i``, ``gain[d, a] = u_i(d, a_-i) - u_i(a)``. Correlated: row
    ``(i, r, d)`` is ``gain[d, a] 1[a_i = r]``; coarse: row ``(i, d)`` is ``gain[d, a]``.
    """
    n = u.shape[0]
    shape = u.shape[1:]
    rows = []
    for i in range(n):
        ui = u[i]
        dev = np.expand_dims(np.moveaxis(ui, i, 0), axis=i + 1)  # [A_i(d), ..., 1 at i, ...]
        gain = dev - ui[None]  # [A_i, A_1, ..., A_N]
        if coarse:
            rows.append(gain.reshape(shape[i], -1))
            continue
        for r in range(shape[i]):
            onehot = np.zeros(shape[i])
            onehot[r] = 1.0
            sel = np.reshape(onehot, [1] * (i + 1) + [shape[i]] + [1] * (n - i - 1))
            g = (gain * sel).reshape(shape[i], -1)
            rows.append(np.delete(g, r, axis=0))  # deviating to r itself is a zero row
    return np.concatenate(rows, axis=0)


def _objective(u: np.ndarray, objective) -> np.ndarray:
    if isinstance(objective, str):
        if objective != "welfare":
            raise bad_value("objective", objective, '"welfare" or an array over joint outcomes')
        return u.sum(axis=0)
    try:
        c = np.asarray(objective, dtype=float)
    except (TypeError, ValueError):
        raise bad_value(
            "objective", objective, f'"welfare" or an array of shape {u.shape[1:]}'
        ) from None
    if c.shape != u.shape[1:]:
        raise bad_value("objective.shape", c.shape, f"{u.shape[1:]} (one entry per joint outcome)")
    if not np.all(np.isfinite(c)):
        raise bad_value("objective", "an array with non-finite entries", "finite coefficients")
    return c


def _correlated(game, objective, maximise: bool, coarse: bool) -> CorrelatedSolution:
    if not isinstance(maximise, bool):
        raise bad_value("maximise", maximise, "True or False")
    u = np.asarray(as_payoffs(game), dtype=float)
    c = _objective(u, objective)
    g = _deviation_rows(u, coarse)
    size = c.size
    sign = -1.0 if maximise else 1.0
    res = _solve(
        c=sign * c.ravel(),
        a_ub=g,
        b_ub=np.zeros(g.shape[0]),
        a_eq=np.ones((1, size)),
        b_eq=[1.0],
        bounds=[(0, None)] * size,
        what="coarse_correlated_equilibrium" if coarse else "correlated_equilibrium",
    )
    p = np.clip(res.x, 0.0, None)
    p = (p / p.sum()).reshape(u.shape[1:])
    return CorrelatedSolution(distribution=p, value=float((c * p).sum()))


def correlated_equilibrium(
    game: NormalFormGame | chex.Array, objective="welfare", maximise: bool = True
) -> CorrelatedSolution:
    """A correlated equilibrium of an ``N``-player game that optimises a linear objective.

    Solves over joint distributions ``p`` on action profiles: optimise
    ``sum_a c(a) p(a)`` subject to, for every player ``i`` and every pair of
    own actions ``r != d``,
    ``sum_{a_-i} p(r, a_-i) [u_i(d, a_-i) - u_i(r, a_-i)] <= 0``: no player
    gains by disobeying a recommendation ``r`` (Aumann, "Subjectivity and
    Correlation in Randomized Strategies", J. Math. Econ. 1974; Shoham and
    Leyton-Brown, "Multiagent Systems", 2009, sec. 4.6). The LP has
    ``prod_i A_i`` variables and ``sum_i A_i (A_i - 1)`` constraints.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        objective: ``"welfare"`` (the sum of payoffs, ``c(a) = sum_i u_i(a)``) or
            an array ``c`` of shape ``[A_1, ..., A_N]``, e.g. ``payoffs[i]`` for
            player ``i``'s payoff.
        maximise: maximise (default) or minimise the objective.

    Returns:
        A :class:`CorrelatedSolution` ``(distribution [A_1, ..., A_N], value)``.

    Raises:
        ValueError: for a bad game, objective or flag.
    """
    return _correlated(game, objective, maximise, coarse=False)


def coarse_correlated_equilibrium(
    game: NormalFormGame | chex.Array, objective="welfare", maximise: bool = True
) -> CorrelatedSolution:
    """A coarse correlated equilibrium of an ``N``-player game that optimises a linear objective.

    As :func:`correlated_equilibrium`, but a player may only deviate before
    seeing its recommendation: for every player ``i`` and action ``d``,
    ``sum_a p(a) [u_i(d, a_-i) - u_i(a)] <= 0`` (Hannan 1957; Moulin and Vial,
    "Strategically Zero-Sum Games", IJGT 1978). Every correlated equilibrium
    is a coarse one, so the optimum is at least the correlated optimum. These
    are the limits of no-external-regret play.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        objective: ``"welfare"`` or an array ``c`` of shape ``[A_1, ..., A_N]``.
        maximise: maximise (default) or minimise the objective.

    Returns:
        A :class:`CorrelatedSolution` ``(distribution [A_1, ..., A_N], value)``.

    Raises:
        ValueError: for a bad game, objective or flag.
    """
    return _correlated(game, objective, maximise, coarse=True)
