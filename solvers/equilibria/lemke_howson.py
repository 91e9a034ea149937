"""One Nash equilibrium of a two-player game by the Lemke-Howson algorithm, in JAX.

Pure JAX with fixed shapes: the complementary pivoting runs in one
``lax.while_loop``, so :func:`lemke_howson` jits and vmaps over games and
starting labels (``jax.vmap(lemke_howson, in_axes=(None, 0))(payoffs, labels)``
runs every label of one game in one program).

Labels follow the usual convention (von Stengel 2002; nashpy): ``0, ..., m-1``
are the row player's actions, ``m, ..., m+n-1`` the column player's.

Method (von Stengel, "Computing Equilibria for Two-Person Games", Handbook of
Game Theory vol. 3, 2002, ch. 45; Nisan et al., "Algorithmic Game Theory",
2007, ch. 3; Shoham and Leyton-Brown, "Multiagent Systems", 2009, sec. 4.2).
Shift and scale both payoff matrices into ``[1, 2]`` (this changes no
equilibrium) and take the polytopes ``P = {x >= 0 : B^T x <= 1}`` and
``Q = {y >= 0 : A y <= 1}``. Their tableaux share one column per label: in
``Q`` the slacks ``r = 1 - A y`` carry labels ``0..m-1`` and ``y`` carries
``m..m+n-1``; in ``P`` ``x`` carries ``0..m-1`` and the slacks
``s = 1 - B^T x`` carry ``m..m+n-1``. Starting from the artificial
equilibrium ``(0, 0)``, the dropped label ``k`` enters the basis of the
tableau where it is non-basic; the variable that leaves it enters the other
tableau, and so on until label ``k`` leaves. The leaving variable is chosen
by the lexicographic minimum-ratio test on ``[rhs | basis inverse]`` (the
columns of the initial slack basis), so degenerate games do not cycle (von
Stengel 2002, on degenerate games). Floating-point ties are resolved with a
relative tolerance of ``1000 eps``; in float32 expect strategies accurate to
about 1e-5, under ``jax.enable_x64(True)`` to about 1e-12.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_positive_int
from detente.games.normal_form import NormalFormGame
from detente.solvers.equilibria.metrics import as_payoffs

__all__ = ["LemkeHowsonResult", "lemke_howson"]


class LemkeHowsonResult(NamedTuple):
    """An equilibrium found by Lemke-Howson.

    Attributes:
        x: ``[m]`` the row player's mixed strategy.
        y: ``[n]`` the column player's mixed strategy.
        num_pivots: ``[]`` int, pivots taken.
        converged: ``[]`` bool, whether a completely labelled pair was reached
            within ``max_pivots`` (and, under tracing, the label was in range).
    """

    x: chex.Array  # [m]
    y: chex.Array  # [n]
    num_pivots: chex.Array  # []
    converged: chex.Array  # []


def default_max_pivots(m: int, n: int) -> int:
    """Pivot budget used when none is given: ``max(1000, 100 (m + n)^2)``.

    Lemke-Howson paths can be exponentially long in the worst case (Savani
    and von Stengel, "Hard-to-Solve Bimatrix Games", Econometrica 2006);
    typical ones take a few times ``m + n`` pivots.
    """
    return max(1000, 100 * (m + n) ** 2)


def _normalise(M: chex.Array) -> chex.Array:
    """Affine map of ``M`` into ``[1, 2]``: positive entries, no equilibrium changed."""
    lo, hi = M.min(), M.max()
    span = jnp.where(hi > lo, hi - lo, 1.0)
    return 1.0 + (M - lo) / span


def _lemke_howson(A: chex.Array, B: chex.Array, k: chex.Array, max_pivots: int):
    m, n = A.shape
    L = m + n
    dtype = A.dtype
    tol = 1e3 * jnp.finfo(dtype).eps
    A, B = _normalise(A), _normalise(B)

    # Rows 0..m-1: tableau of Q, [I_m | A | 1]; rows m..m+n-1: tableau of P, [B^T | I_n | 1].
    T = jnp.concatenate(
        [
            jnp.concatenate([jnp.eye(m, dtype=dtype), A, jnp.ones((m, 1), dtype)], axis=1),
            jnp.concatenate([B.T, jnp.eye(n, dtype=dtype), jnp.ones((n, 1), dtype)], axis=1),
        ]
    )  # [L, L + 1]
    basis = jnp.arange(L, dtype=jnp.int32)  # basic variable (= its label) of each row
    rows_l = jnp.arange(L)
    in_q = rows_l < m  # [L] row belongs to Q's tableau
    cols_l = jnp.arange(L + 1)
    # Lexicographic keys of each row: rhs, then its block's initial-basis columns (B^-1).
    width = 1 + max(m, n)

    def pad(M):
        return jnp.pad(M, ((0, 0), (0, width - 1 - M.shape[1])))

    valid_label = (k >= 0) & (k < L)
    k = jnp.clip(k, 0, L - 1)

    def cond(state):
        _, _, _, _, steps, done, failed = state
        return ~done & ~failed & (steps < max_pivots)

    def body(state):
        # One-hot selections instead of dynamic indexing: they vectorise under vmap.
        T, basis, entering, pivot_in_q, steps, _, _ = state
        rows = in_q == pivot_in_q
        e_col = cols_l == entering  # [L + 1]
        col = jnp.where(e_col[None, :], T, 0.0).sum(axis=1)  # [L]
        cand = rows & (col > tol)
        keys = jnp.concatenate(
            [T[:, L:], jnp.concatenate([pad(T[:m, :m]), pad(T[m:, m:L])])], axis=1
        )  # [L, width]
        safe = jnp.where(cand, col, 1.0)
        for j in range(width):  # keep the rows whose j-th ratio is minimal
            ratio = keys[:, j] / safe
            best = jnp.min(jnp.where(cand, ratio, jnp.inf))
            cand = cand & (ratio <= best + tol * (1.0 + jnp.abs(best)))
        failed = ~cand.any()
        e_row = rows_l == jnp.argmax(cand)  # [L], the pivot row
        leaving = jnp.where(e_row, basis, 0).sum(dtype=jnp.int32)
        pivot_row = jnp.where(e_row[:, None], T, 0.0).sum(axis=0)  # [L + 1]
        pivot_row = pivot_row / jnp.where(e_row, col, 0.0).sum()
        factor = jnp.where(rows & ~e_row, col, 0.0)
        T_new = T - factor[:, None] * pivot_row[None, :]
        T_new = jnp.where(e_row[:, None], pivot_row[None, :], T_new)
        T_new = jnp.where(e_col[None, :] & rows[:, None], e_row[:, None].astype(dtype), T_new)
        T = jnp.where(failed, T, T_new)
        basis = jnp.where(e_row & ~failed, entering, basis)
        return (T, basis, leaving, ~pivot_in_q, steps + 1, leaving == k, failed)

    # Label k < m is x_k, non-basic in P; label k >= m is y_{k-m}, non-basic in Q.
    start = (T, basis, k, k >= m, jnp.zeros((), jnp.int32), ~valid_label, jnp.zeros((), bool))
    T, basis, _, _, steps, done, failed = jax.lax.while_loop(cond, body, start)

    rhs = T[:, L]
    is_x = ~in_q & (basis < m)  # P rows whose basic variable is some x_i
    is_y = in_q & (basis >= m)  # Q rows whose basic variable is some y_j
    x = jnp.where(is_x[:, None] & (basis[:, None] == jnp.arange(m)), rhs[:, None], 0.0).sum(0)
    y = jnp.where(is_y[:, None] & (basis[:, None] == m + jnp.arange(n)), rhs[:, None], 0.0)
    y = y.sum(0)
    converged = done & ~failed & valid_label
    nan = jnp.asarray(jnp.nan, dtype)
    x = jnp.where(valid_label, x / x.sum(), nan)
    y = jnp.where(valid_label, y / y.sum(), nan)
    return LemkeHowsonResult(x=x, y=y, num_pivots=steps, converged=converged)


_lemke_howson_jit = jax.jit(_lemke_howson, static_argnums=3)


def lemke_howson(
    game: NormalFormGame | chex.Array,
    initial_dropped_label: int | chex.Array = 0,
    max_pivots: int | None = None,
) -> LemkeHowsonResult:
    """One Nash equilibrium of a bimatrix game by the Lemke-Howson algorithm.

    Lemke and Howson, "Equilibrium Points of Bimatrix Games", J. SIAM 1964;
    the tableau method with the lexicographic minimum-ratio test of von
    Stengel, "Computing Equilibria for Two-Person Games", Handbook of Game
    Theory vol. 3, 2002, ch. 45. In a nondegenerate game every label
    gives a well-defined path, so the result is the equilibrium any correct
    implementation (e.g. nashpy's ``lemke_howson``) reaches from that label.

    Args:
        game: a two-player :class:`NormalFormGame` or its ``[2, m, n]`` payoffs
            (``payoffs[0]`` the row player's ``A``, ``payoffs[1]`` the column
            player's ``B``).
        initial_dropped_label: the label dropped first, an int in
            ``[0, m + n)``: ``i < m`` is the row player's action ``i``,
            ``m + j`` the column player's action ``j``. May be a traced int
            (vmap over labels); a traced label out of range gives NaN
            strategies and ``converged=False``.
        max_pivots: static pivot budget (default :func:`default_max_pivots`).

    Returns:
        A :class:`LemkeHowsonResult` ``(x [m], y [n], num_pivots, converged)``,
        in the payoffs' dtype.

    Raises:
        ValueError: for a game that is not two-player, bad payoffs, a concrete
            label out of range or a bad ``max_pivots``.

    Examples:
        >>> from detente.games import matching_pennies
        >>> res = lemke_howson(matching_pennies(), 0)
        >>> res.x.round(4).tolist(), bool(res.converged)
        ([0.5, 0.5], True)
    """
    u = as_payoffs(game)
    if u.shape[0] != 2:
        raise bad_value("game.payoffs.shape", u.shape, "[2, m, n] (a two-player game)")
    m, n = u.shape[1:]
    if max_pivots is None:
        max_pivots = default_max_pivots(m, n)
    check_positive_int("max_pivots", max_pivots)
    k = initial_dropped_label
    if not isinstance(k, jax.core.Tracer):
        kk = np.asarray(k)
        if kk.shape != () or kk.dtype.kind not in "iu" or not 0 <= int(kk) < m + n:
            raise bad_value(
                "initial_dropped_label", k, f"an integer label in [0, {m + n}) (m={m}, n={n})"
            )
    return _lemke_howson_jit(u[0], u[1], jnp.asarray(k, jnp.int32), max_pivots)
