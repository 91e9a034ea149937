"""Fixed points of learning dynamics and their local stability.

A pairing of learning rules on a differentiable game (naive vs naive, LOLA vs
LOLA, LOLA vs naive, ...) is the discrete map

    ``theta -> theta + Delta(theta)``,

with ``Delta`` the players' joint update (:func:`detente.solvers.dynamics.rule_update_fn`)
and ``theta`` the players' parameters concatenated into one ``[d]`` vector.
Its continuous-time limit is the vector field ``F(theta) = Delta(theta) / lr``
(for every rule here ``Delta = -lr * direction``, so ``F = -direction``
whatever the step size). A fixed point is a root of ``F``; its local stability
under the flow is read from the eigenvalues of the Jacobian ``J = dF/dtheta``
(Hartman-Grobman; Strogatz, "Nonlinear Dynamics and Chaos", 2nd ed. 2015,
Ch. 6), and under the discrete map from the spectral radius of ``I + lr J``
(below 1: attracting). This is the analysis of Letcher et al. 2019, "Stable
Opponent Shaping in Differentiable Games" (https://arxiv.org/abs/1811.08469,
Sec. 2 and 4) and Balduzzi et al. 2018, "The Mechanics of n-Player
Differentiable Games" (https://arxiv.org/abs/1802.05642, Sec. 2-3).

:func:`find_fixed_points` runs a Levenberg-Marquardt iteration (damped
Gauss-Newton on ``|F|^2 / 2``, Newton's method as the damping vanishes;
Nocedal & Wright, "Numerical Optimization", 2nd ed. 2006, Sec. 10.3) from many
starts, vmapped in one jitted program, keeps the roots (``|F| < tol``),
removes duplicates and classifies each with :func:`classify`.

Example:
    >>> from detente.games import make_differentiable
    >>> from detente.solvers.dynamics import DynamicsHParams
    >>> game = make_differentiable("matching_pennies")
    >>> fps = find_fixed_points(game, ("lola", "lola"), DynamicsHParams(lr=1.0, lookahead=1.0),
    ...                         grid=5, bounds=(-2.0, 2.0))
    >>> [(fp.label, bool(abs(fp.theta).max() < 1e-5)) for fp in fps]
    [('stable', True)]
    >>> fps[0].eigenvalues.round(4)  # -alpha/16 +- i/4
    array([-0.0625-0.25j, -0.0625+0.25j])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_finite, check_positive_int
from detente.games.differentiable import DifferentiableGame, Thetas
from detente.linalg import solve_small
from detente.solvers.dynamics import DynamicsHParams, LearningRule, make_rule, rule_update_fn

__all__ = [
    "LABELS",
    "FixedPoint",
    "classify",
    "field_jacobian",
    "find_fixed_points",
    "grid_starts",
    "make_field",
    "make_update_map",
    "resolve_learners",
    "stability_label",
]

LABELS = ("stable", "unstable", "saddle", "neutral")
Learners = str | Sequence[str | LearningRule]


class FixedPoint(NamedTuple):
    """A fixed point of a pairing's dynamics and its local stability.

    Attributes:
        theta: ``[d]`` joint parameters, the players' vectors concatenated.
        field_norm: ``|F(theta)|``, the residual (0 at an exact fixed point).
        eigenvalues: ``[d]`` complex eigenvalues of ``J = dF/dtheta``, sorted by
            real part, then imaginary part.
        spectral_radius: ``max |1 + lr * lambda|``, the spectral radius of the
            discrete map's Jacobian ``I + lr J`` (below 1: the learning
            iteration is locally attracting).
        label: stability under the continuous-time field: ``"stable"`` (every
            ``Re lambda < -eig_tol``), ``"unstable"`` (every ``Re lambda >
            eig_tol``), ``"saddle"`` (some of each) or ``"neutral"`` (otherwise:
            some ``|Re lambda| <= eig_tol``, e.g. a centre or a line of fixed
            points, where the linearisation does not decide).
    """

    theta: np.ndarray  # [d]
    field_norm: float
    eigenvalues: np.ndarray  # [d] complex
    spectral_radius: float
    label: str


# ----------------------------------------------------------------------------
# The update map and its field


def resolve_learners(game: DifferentiableGame, learners: Learners) -> tuple[LearningRule, ...]:
    """One :class:`LearningRule` per player from names (``"lola,naive"`` or a
    sequence of names or rules); raises ``ValueError`` for an unknown name or
    the wrong count."""
    if isinstance(learners, str):
        learners = [s.strip() for s in learners.split(",")]
    learners = list(learners)
    for r in learners:
        if not isinstance(r, (str, LearningRule)):
            raise bad_value("learners", learners, "rule names or LearningRule objects")
    rules = tuple(make_rule(r) if isinstance(r, str) else r for r in learners)
    if len(rules) != game.num_players:
        shown = ",".join(r.name for r in rules)
        raise bad_value(
            "learners", shown, f"{game.num_players} learners for {game.name or 'this game'}"
        )
    return rules


def _check_hparams(hparams: DynamicsHParams | None) -> DynamicsHParams:
    hparams = DynamicsHParams() if hparams is None else hparams
    if not isinstance(hparams, DynamicsHParams):
        raise bad_value("hparams", hparams, "a DynamicsHParams")
    if np.ndim(hparams.lr) != 0:
        raise bad_value("hparams.lr", np.shape(hparams.lr), "a scalar step size (vmap outside)")
    check_finite("hparams.lr", hparams.lr, low=0.0, low_inclusive=False)
    return hparams


def _split(theta: chex.Array, dims: tuple[int, ...]) -> Thetas:
    """``[d] -> (theta_1 [d_1], ..., theta_N [d_N])``."""
    offsets = np.cumsum(dims)[:-1].tolist()
    return tuple(jnp.split(theta, offsets))


def _flatten(thetas) -> chex.Array:
    return jnp.concatenate([jnp.ravel(t) for t in thetas])


def _field_fn(rules: tuple[LearningRule, ...]):
    """``(game, hparams, theta [d]) -> F(theta) [d]``."""

    def field(game, hparams, theta):
        deltas = rule_update_fn(rules, game, hparams)(_split(theta, game.dims))
        return _flatten(deltas) / hparams.lr

    return field


def make_field(
    game: DifferentiableGame, learners: Learners, hparams: DynamicsHParams | None = None
) -> Callable[[chex.Array], chex.Array]:
    """The continuous-time field ``F(theta) = Delta(theta) / lr`` of a pairing.

    Args:
        game: the differentiable game.
        learners: one rule per player (names or :class:`LearningRule`).
        hparams: step size ``lr > 0``, look-ahead and the rules' constants.

    Returns:
        ``theta [d] -> F(theta) [d]`` (pure; jit and vmap it).
    """
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    field = _field_fn(rules)
    return lambda theta: field(game, hparams, theta)


def make_update_map(
    game: DifferentiableGame, learners: Learners, hparams: DynamicsHParams | None = None
) -> Callable[[chex.Array], chex.Array]:
    """The discrete learning map ``theta -> theta + Delta(theta)`` on ``[d]`` vectors."""
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    update = rule_update_fn(rules, game, hparams)
    return lambda theta: theta + _flatten(update(_split(theta, game.dims)))


# ----------------------------------------------------------------------------
# Compiled programs, cached for registered rules


def _solve_program(rules: tuple[LearningRule, ...], steps: int):
    """``(game, hparams, starts [K, d], mu0) -> (theta [K, d], |F| [K], F [K, d],
    J [K, d, d])`` after Levenberg-Marquardt iterations (``F`` and ``J`` at the end)."""
    field = _field_fn(rules)

    def solve_one(game, hparams, theta0, mu0):
        F = lambda th: field(game, hparams, th)
        eye = jnp.eye(theta0.shape[0], dtype=theta0.dtype)

        def sq(f):
            return jnp.where(jnp.all(jnp.isfinite(f)), jnp.vdot(f, f), jnp.inf)

        def step(carry, t):
            th, mu, f, _ = carry
            J = jax.jacfwd(F)(th)
            # (J^T J + mu I) s = -J^T F; a step is kept only if it lowers |F|.
            # The last pass (t == steps) only evaluates J at the final point.
            s = solve_small(J.T @ J + mu * eye, -(J.T @ f))
            th_new = th + s
            f_new = F(th_new)
            better = jnp.all(jnp.isfinite(th_new)) & (sq(f_new) < sq(f)) & (t < steps)
            th = jnp.where(better, th_new, th)
            f = jnp.where(better, f_new, f)
            mu = jnp.clip(jnp.where(better, mu * 0.3, mu * 4.0), 1e-12, 1e12)
            return (th, mu, f, J), None

        d = theta0.shape[0]
        carry0 = (theta0, mu0, F(theta0), jnp.zeros((d, d), theta0.dtype))
        (th, _, f, J), _ = jax.lax.scan(step, carry0, jnp.arange(steps + 1))
        return th, jnp.sqrt(sq(f)), f, J

    return jax.jit(jax.vmap(solve_one, in_axes=(None, None, 0, None)))


def _linearise_program(rules: tuple[LearningRule, ...]):
    """``(game, hparams, theta [K, d]) -> (F [K, d], J [K, d, d])``."""
    field = _field_fn(rules)

    def linearise_one(game, hparams, theta):
        F = lambda th: field(game, hparams, th)
        return F(theta), jax.jacfwd(F)(theta)

    return jax.jit(jax.vmap(linearise_one, in_axes=(None, None, 0)))


@functools.lru_cache(maxsize=64)
def _cached_solve(names: tuple[str, ...], steps: int):
    return _solve_program(tuple(make_rule(n) for n in names), steps)


@functools.lru_cache(maxsize=64)
def _cached_linearise(names: tuple[str, ...]):
    return _linearise_program(tuple(make_rule(n) for n in names))


def _registered_names(learners) -> tuple[str, ...] | None:
    """The learners' names when every one is a registered name (compiled programs are
    then reused across calls), else ``None``."""
    names = [s.strip() for s in learners.split(",")] if isinstance(learners, str) else learners
    return tuple(names) if all(isinstance(n, str) for n in names) else None


def _solve_for(learners, rules, steps: int):
    """The compiled solver, reused across calls for registered rules."""
    names = _registered_names(learners)
    return _cached_solve(names, steps) if names else _solve_program(rules, steps)


def _linearise_for(learners, rules):
    """The compiled linearisation, reused across calls for registered rules."""
    names = _registered_names(learners)
    return _cached_linearise(names) if names else _linearise_program(rules)


def pad_batch(x: np.ndarray, minimum: int | None = None) -> np.ndarray:
    """Pad a batch ``[K, d]`` with copies of its first row to ``max(minimum,
    next power of 2)`` rows, so that batches of similar sizes share one
    compiled program (default ``minimum``: 256 rows for ``d = 2``, fewer for
    larger ``d``, where each row costs more)."""
    k = x.shape[0]
    if minimum is None:
        d = int(np.prod(x.shape[1:])) or 1
        minimum = min(256, max(16, 512 // d))
    size = max(minimum, 1 << max(k - 1, 0).bit_length())
    return np.concatenate([x, np.repeat(x[:1], size - k, axis=0)]) if size > k else x


# ----------------------------------------------------------------------------
# Classification


def stability_label(eigenvalues, eig_tol: float = 1e-4) -> str:
    """Label a fixed point from the eigenvalues of the field's Jacobian.

    Args:
        eigenvalues: complex eigenvalues of ``dF/dtheta``.
        eig_tol: a real part within ``eig_tol`` of 0 counts as 0.

    Returns:
        ``"stable"`` (all ``Re < -eig_tol``), ``"unstable"`` (all ``Re >
        eig_tol``), ``"saddle"`` (some below ``-eig_tol`` and some above
        ``eig_tol``) or ``"neutral"`` (otherwise).
    """
    re = np.real(np.asarray(eigenvalues))
    if re.size == 0:
        return "neutral"
    if np.all(re < -eig_tol):
        return "stable"
    if np.all(re > eig_tol):
        return "unstable"
    if np.any(re < -eig_tol) and np.any(re > eig_tol):
        return "saddle"
    return "neutral"


def _as_flat(game: DifferentiableGame, theta) -> np.ndarray:
    if isinstance(theta, (tuple, list)) and len(theta) == game.num_players:
        parts = [np.ravel(np.asarray(t)) for t in theta]
        if [p.size for p in parts] == list(game.dims):
            return np.concatenate(parts)
    flat = np.ravel(np.asarray(theta))
    if flat.shape != (sum(game.dims),):
        raise bad_value(
            "theta",
            np.shape(theta),
            f"a [{sum(game.dims)}] vector (players' parameters concatenated, dims "
            f"{game.dims}) or one vector per player",
        )
    return flat


def _fixed_point(theta, f, J, lr: float, eig_tol: float) -> FixedPoint:
    J = np.asarray(J, dtype=np.float64)
    lam = np.linalg.eigvals(J) if np.all(np.isfinite(J)) else np.full(J.shape[0], np.nan + 0j)
    lam = lam[np.lexsort((lam.imag, lam.real))]
    # clean the sign of zero imaginary parts of real eigenvalues
    lam = np.where(np.abs(lam.imag) <= 1e-12 * (1 + np.abs(lam)), lam.real + 0j, lam)
    return FixedPoint(
        theta=np.asarray(theta, dtype=np.float64),
        field_norm=float(np.linalg.norm(np.asarray(f, np.float64))),
        eigenvalues=lam,
        spectral_radius=float(np.max(np.abs(1.0 + lr * lam))) if lam.size else 0.0,
        label=stability_label(lam, eig_tol),
    )


def field_jacobian(
    game: DifferentiableGame, learners: Learners, hparams: DynamicsHParams | None, theta
) -> np.ndarray:
    """``[d, d]`` Jacobian ``dF/dtheta`` of the pairing's field at ``theta`` (``[d]`` or
    one vector per player)."""
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    flat = jnp.asarray(_as_flat(game, theta), jnp.result_type(float))
    _, J = _linearise_for(learners, rules)(game, hparams, flat[None])
    return np.asarray(J[0])


def classify(
    game: DifferentiableGame,
    learners: Learners,
    hparams: DynamicsHParams | None,
    theta,
    *,
    eig_tol: float = 1e-4,
) -> FixedPoint:
    """Linearise a pairing's dynamics at a given point and label it.

    Args:
        game: the differentiable game.
        learners: one rule per player (names or rules).
        hparams: step size and the rules' constants.
        theta: the point, ``[d]`` or one vector per player.
        eig_tol: a real part within ``eig_tol`` of 0 counts as 0.

    Returns:
        A :class:`FixedPoint` (its ``field_norm`` tells whether ``theta`` is
        one: the label is meaningful only where it is near 0).
    """
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    eig_tol = check_finite("eig_tol", eig_tol, low=0.0)
    flat = jnp.asarray(_as_flat(game, theta), jnp.result_type(float))
    f, J = _linearise_for(learners, rules)(game, hparams, flat[None])
    return _fixed_point(flat, f[0], J[0], float(hparams.lr), eig_tol)


# ----------------------------------------------------------------------------
# Search


def grid_starts(bounds, size: int, dim: int) -> np.ndarray:
    """``[size^dim, dim]`` points of a regular grid over ``bounds``.

    Args:
        bounds: ``(lo, hi)`` for every axis, or one ``(lo, hi)`` per axis.
        size: points per axis.
        dim: number of axes.
    """
    check_positive_int("grid", size)
    b = _box(bounds, dim)
    axes = [np.linspace(lo, hi, size) for lo, hi in b]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)


def _dedup(points: np.ndarray, norms: np.ndarray, tol: float) -> list[int]:
    """Indices of representatives: best residual first, then greedily farther than ``tol``."""
    kept: list[int] = []
    for k in np.argsort(norms, kind="stable"):
        if all(np.max(np.abs(points[k] - points[j])) > tol for j in kept):
            kept.append(int(k))
    return kept


def _box(bounds, dim: int) -> np.ndarray:
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape == (2,):
        b = np.tile(b, (dim, 1))
    if b.shape != (dim, 2) or not np.all(np.isfinite(b)) or np.any(b[:, 0] > b[:, 1]):
        raise bad_value(
            "bounds", bounds, f"finite (lo, hi) with lo <= hi, or {dim} such pairs (one per axis)"
        )
    return b


def find_fixed_points(
    game: DifferentiableGame,
    learners: Learners,
    hparams: DynamicsHParams | None = None,
    *,
    bounds=(-3.0, 3.0),
    grid: int | None = None,
    starts=None,
    num_starts: int = 64,
    seed: int = 0,
    steps: int = 60,
    tol: float = 1e-5,
    dedup_tol: float = 1e-3,
    eig_tol: float = 1e-4,
    dtype=None,
) -> tuple[FixedPoint, ...]:
    """Fixed points of a pairing's dynamics inside a box, found from many starts.

    Each start runs ``steps`` Levenberg-Marquardt iterations on ``|F|^2 / 2``
    (all starts vmapped in one jitted program); a start whose final residual
    is below ``tol`` and which ends inside ``bounds`` is a fixed point. The box
    matters for sigmoid or softmax policies, whose field vanishes
    asymptotically as the logits saturate: those "points at infinity" leave
    the box and are dropped. Points within ``dedup_tol`` (max-norm) of a
    better one are dropped too; a continuum of fixed points (a line, as in
    Tandem under naive learning) is returned as the separate points the
    starts reached on it.

    Args:
        game: the differentiable game.
        learners: one rule per player (names, ``"lola,naive"``, or rules).
        hparams: step size ``lr > 0`` (for the spectral radius), look-ahead and
            the rules' constants (default :class:`DynamicsHParams`).
        bounds: the search box: ``(lo, hi)`` for every parameter or one pair
            per parameter; ``None`` (only with ``starts``) keeps every root.
        grid: points per axis of a regular grid over ``bounds`` as starts
            (``grid^d`` of them, so only for small ``d``); or else
        starts: ``[K, d]`` initial points; or else
        num_starts: uniform random starts in ``bounds`` from ``seed``.
        steps: iterations per start.
        tol: residual ``|F|`` below which a point counts as fixed.
        dedup_tol: max-norm distance under which two points are one.
        eig_tol: a real part within ``eig_tol`` of 0 counts as 0 (labels).
        dtype: float dtype (default JAX's default float; ``float64`` needs x64).

    Returns:
        The fixed points found, as :class:`FixedPoint`, sorted by ``theta``.
    """
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    steps = check_positive_int("steps", steps)
    tol = check_finite("tol", tol, low=0.0, low_inclusive=False)
    dedup_tol = check_finite("dedup_tol", dedup_tol, low=0.0)
    eig_tol = check_finite("eig_tol", eig_tol, low=0.0)
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    d = sum(game.dims)
    box = None if bounds is None else _box(bounds, d)
    if starts is not None:
        x0 = np.asarray(starts, dtype=np.float64)
        if x0.ndim != 2 or x0.shape[1] != d or x0.shape[0] < 1:
            raise bad_value("starts", np.shape(starts), f"[K, {d}] initial points, K >= 1")
        if not np.all(np.isfinite(x0)):
            raise bad_value("starts", "non-finite entries", "finite initial points")
    elif box is None:
        raise bad_value("bounds", bounds, "a box (lo, hi) unless starts are given")
    elif grid is not None:
        x0 = grid_starts(box, grid, d)
    else:
        check_positive_int("num_starts", num_starts)
        x0 = np.random.default_rng(seed).uniform(box[:, 0], box[:, 1], size=(num_starts, d))
    solve = _solve_for(learners, rules, steps)
    k = x0.shape[0]
    padded = pad_batch(x0)  # fewer distinct shapes, fewer compilations
    theta, norm, f, J = solve(game, hparams, jnp.asarray(padded, dtype), jnp.asarray(1e-3, dtype))
    theta, norm = np.asarray(theta, np.float64)[:k], np.asarray(norm, np.float64)[:k]
    f, J = np.asarray(f)[:k], np.asarray(J)[:k]
    ok = np.isfinite(norm) & (norm < tol) & np.all(np.isfinite(theta), axis=1)
    if box is not None:
        slack = 1e-6 * (1.0 + np.abs(box))
        ok &= np.all((theta >= box[:, 0] - slack[:, 0]) & (theta <= box[:, 1] + slack[:, 1]), 1)
    theta, norm, f, J = theta[ok], norm[ok], f[ok], J[ok]
    if theta.shape[0] == 0:
        return ()
    keep = _dedup(theta, norm, dedup_tol)
    lr = float(hparams.lr)
    out = [_fixed_point(theta[k], f[k], J[k], lr, eig_tol) for k in keep]
    return tuple(sorted(out, key=lambda fp: tuple(fp.theta)))
