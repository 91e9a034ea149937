"""Pure-strategy Nash equilibria and iterated elimination of dominated strategies.

:func:`pure_equilibrium_mask` is pure JAX (jit it, vmap it over a batch of
games); :func:`pure_equilibria` lists the profiles it marks, on the host,
since their number depends on the game. :func:`iterated_elimination` runs on
the host with numpy and, for domination by mixed strategies, one
``scipy.optimize.linprog`` (HiGHS) call per test.

References:
    Osborne and Rubinstein, "A Course in Game Theory", MIT Press 1994, ch. 4
    (dominated actions, iterated elimination); Shoham and
    Leyton-Brown, "Multiagent Systems", Cambridge 2009, sec. 3.4.3 and 4.5.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linprog

from detente._checks import bad_value, check_finite
from detente.games.normal_form import NormalFormGame
from detente.solvers.equilibria.metrics import as_payoffs

__all__ = [
    "Elimination",
    "is_dominated",
    "iterated_elimination",
    "pure_equilibria",
    "pure_equilibrium_mask",
]


def pure_equilibrium_mask(game: NormalFormGame | chex.Array, tol: float = 1e-6) -> chex.Array:
    """Which joint action profiles are pure Nash equilibria, all at once.

    Profile ``a`` is an equilibrium when every player's payoff is within
    ``tol`` of its best unilateral deviation:
    ``u_i(a) >= max_{d} u_i(d, a_-i) - tol`` for all ``i`` (Osborne and
    Rubinstein 1994, def. 14.1).

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        tol: absolute payoff tolerance, ``>= 0``.

    Returns:
        ``[A_1, ..., A_N]`` booleans.
    """
    u = as_payoffs(game)
    ok = jnp.ones(u.shape[1:], bool)
    for i in range(u.shape[0]):
        ok = ok & (u[i] >= u[i].max(axis=i, keepdims=True) - tol)
    return ok


_mask_jit = jax.jit(pure_equilibrium_mask)


def pure_equilibria(game: NormalFormGame | chex.Array, tol: float = 1e-6) -> np.ndarray:
    """All pure-strategy Nash equilibria of an ``N``-player game.

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        tol: absolute payoff tolerance for a profitable deviation, ``>= 0``.

    Returns:
        ``[K, N]`` int array of action profiles in lexicographic order; ``K = 0``
        when there is none (matching pennies).

    Examples:
        >>> from detente.games import prisoners_dilemma
        >>> pure_equilibria(prisoners_dilemma()).tolist()
        [[1, 1]]
    """
    check_finite("tol", tol, low=0.0)
    u = as_payoffs(game)
    return np.argwhere(np.asarray(_mask_jit(u, tol))).astype(np.int64)


# --- dominance ----------------------------------------------------------------


def _rows(u_i: np.ndarray, i: int) -> np.ndarray:
    """Player ``i``'s payoffs as ``[A_i, prod A_-i]``: one row per own action."""
    return np.moveaxis(u_i, i, 0).reshape(u_i.shape[i], -1)


def is_dominated(
    rows: np.ndarray, a: int, *, strict: bool = True, mixed: bool = False, tol: float = 1e-9
) -> bool:
    """Whether own action ``a`` is dominated by another action or by a mixture of them.

    Strict: some ``sigma`` with ``sum_b sigma_b u(b, t) > u(a, t)`` for every
    opponents' profile ``t``. Weak: ``>=`` everywhere and ``>`` somewhere.
    With ``mixed=False`` ``sigma`` is a pure action ``b != a``; with
    ``mixed=True`` a mixture of the actions other than ``a``, found by a linear
    program (Shoham and Leyton-Brown 2009, sec. 4.5.1).

    Args:
        rows: ``[A_i, T]`` payoffs of the player's actions against the ``T``
            opponents' pure profiles.
        a: the action tested.
        strict: strict (default) or weak domination.
        mixed: allow dominating mixtures.
        tol: payoff margin that counts as strictly better.

    Returns:
        True if ``a`` is dominated.
    """
    others = np.delete(rows, a, axis=0)  # [A_i - 1, T]
    if others.shape[0] == 0:
        return False
    diff = others - rows[a][None]  # [A_i - 1, T]
    if not mixed:
        if strict:
            return bool(np.any(np.all(diff > tol, axis=1)))
        return bool(np.any(np.all(diff >= -tol, axis=1) & np.any(diff > tol, axis=1)))
    k, t = diff.shape
    if strict:
        # max eps  s.t.  diff^T sigma >= eps,  sum sigma = 1,  sigma >= 0.
        c = np.r_[np.zeros(k), -1.0]
        a_ub = np.c_[-diff.T, np.ones(t)]
        res = linprog(
            c,
            A_ub=a_ub,
            b_ub=np.zeros(t),
            A_eq=np.r_[np.ones(k), 0.0][None],
            b_eq=[1.0],
            bounds=[(0, None)] * k + [(None, None)],
            method="highs",
        )
        return bool(res.status == 0 and -res.fun > tol)
    # max sum_t (diff^T sigma)_t  s.t.  diff^T sigma >= 0,  sum sigma = 1,  sigma >= 0.
    res = linprog(
        -diff.sum(axis=1),
        A_ub=-diff.T,
        b_ub=np.full(t, tol),
        A_eq=np.ones((1, k)),
        b_eq=[1.0],
        bounds=[(0, None)] * k,
        method="highs",
    )
    return bool(res.status == 0 and -res.fun > tol)


class Elimination(NamedTuple):
    """The game left after iterated elimination of dominated actions.

    Attributes:
        game: the reduced :class:`NormalFormGame`, ``[N, K_1, ..., K_N]``.
        kept: ``N`` int arrays, ``kept[i]`` the original indices (increasing) of
            player ``i``'s surviving actions.
    """

    game: NormalFormGame
    kept: tuple


def iterated_elimination(
    game: NormalFormGame | chex.Array,
    strict: bool = True,
    mixed: bool = False,
    tol: float = 1e-9,
) -> Elimination:
    """Iterated elimination of dominated actions.

    Sweeps players ``0, ..., N-1`` and, for each, its actions in index order,
    removing an action as soon as it is dominated in the current reduced game;
    sweeps repeat until one removes nothing. For strict domination (pure or
    mixed) the result does not depend on that order (Gilboa, Kalai and Zemel,
    "On the Order of Eliminating Dominated Strategies", Oper. Res. Letters
    1990; Osborne and Rubinstein 1994, sec. 4.2); for weak domination it can,
    and this order is the one used. Every Nash equilibrium survives strict
    elimination (Shoham and Leyton-Brown 2009, sec. 4.5).

    Args:
        game: ``[N, A_1, ..., A_N]`` payoffs or a :class:`NormalFormGame`.
        strict: strict (default) or weak domination.
        mixed: also remove actions dominated only by a mixture of the player's
            other actions (one linear program per test).
        tol: payoff margin that counts as strictly better, ``>= 0``.

    Returns:
        An :class:`Elimination`: the reduced game and the kept action indices.

    Examples:
        >>> from detente.games import prisoners_dilemma
        >>> [k.tolist() for k in iterated_elimination(prisoners_dilemma()).kept]
        [[1], [1]]
    """
    if not isinstance(strict, bool):
        raise bad_value("strict", strict, "True or False")
    if not isinstance(mixed, bool):
        raise bad_value("mixed", mixed, "True or False")
    check_finite("tol", tol, low=0.0)
    name = game.name if isinstance(game, NormalFormGame) else ""
    u = np.asarray(as_payoffs(game), dtype=float)
    n = u.shape[0]
    kept = [np.arange(k) for k in u.shape[1:]]
    changed = True
    while changed:
        changed = False
        for i in range(n):
            a = 0
            while a < len(kept[i]):
                sub = u[(i, *np.ix_(*kept))]
                if is_dominated(_rows(sub, i), a, strict=strict, mixed=mixed, tol=tol):
                    kept[i] = np.delete(kept[i], a)
                    changed = True
                else:
                    a += 1
    reduced = u[(slice(None), *np.ix_(*kept))]
    label = f"{name} reduced" if name else "reduced"
    return Elimination(
        game=NormalFormGame.create(reduced, name=label, dtype=as_payoffs(game).dtype),
        kept=tuple(kept),
    )
