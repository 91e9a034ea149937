"""Phase portraits of learning dynamics on two-parameter games.

For a game with one parameter per player (one-shot two-action games with
sigmoid policies, Tandem, the Hamiltonian and Balduzzi games, the ultimatum
game) the pairing's dynamics live in the plane:

* :func:`vector_field`: the continuous-time field ``F = Delta / lr`` on a grid
  (see :mod:`detente.analysis.stability`), vmapped over the grid in one jit;
* :func:`trajectories`: runs of the discrete learning map from a few starts;
* :func:`basins_of_attraction`: the learning map run from every grid point,
  each start assigned to the fixed point it reaches;
* :func:`~detente.analysis.phase_plot.plot_phase_portrait` (in
  :mod:`detente.analysis.phase_plot`): streamlines, trajectories and fixed
  points marked by stability;
* :func:`run_phase`: all of it for a registered game, written to a folder
  (``phase.png``, ``summary.json``, ``arrays.npz``).

Coordinates: ``space="params"`` plots the raw parameters (logits for sigmoid
policies); ``space="policy"`` plots ``p_i = sigmoid(theta_i)``, player ``i``'s
probability of its first action, for games whose players are sigmoid
policies, with the field pushed forward, ``dp_i/dt = p_i (1 - p_i) F_i``.
Strogatz, "Nonlinear Dynamics and Chaos" (2nd ed., 2015), Ch. 5-6, for phase
portraits; Letcher et al. 2019, "Stable Opponent Shaping in Differentiable
Games" (https://arxiv.org/abs/1811.08469), for the games and rules.

Example:
    >>> from detente.games import make_differentiable
    >>> from detente.solvers.dynamics import DynamicsHParams
    >>> game, hp = make_differentiable("matching_pennies"), DynamicsHParams(lr=1.0)
    >>> field = vector_field(game, ("naive", "naive"), hp, make_grid((0.05, 0.95), 11),
    ...                      space="policy")
    >>> field.u.shape
    (11, 11)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.analysis.stability import (
    LABELS,
    FixedPoint,
    Learners,
    _check_hparams,
    _field_fn,
    _flatten,
    _registered_names,
    _split,
    find_fixed_points,
    pad_batch,
    resolve_learners,
)
from detente.games.differentiable import DifferentiableGame, make_differentiable
from detente.io import write_json, write_output_dir
from detente.solvers.dynamics import DynamicsHParams, make_rule, rule_update_fn

__all__ = [
    "DIVERGED",
    "NONE",
    "SPACES",
    "Basins",
    "Trajectories",
    "VectorField",
    "basins_of_attraction",
    "fixed_point_record",
    "make_grid",
    "phase_analysis",
    "phase_summary",
    "print_summary",
    "run_phase",
    "to_params",
    "to_space",
    "trajectories",
    "vector_field",
]

SPACES = ("params", "policy")
NONE, DIVERGED = -1, -2  # basin indices of starts that reach no fixed point / blow up


class VectorField(NamedTuple):
    """A planar vector field on a regular grid (``streamplot`` layout).

    Attributes:
        x: ``[nx]`` abscissae (player 1's coordinate).
        y: ``[ny]`` ordinates (player 2's coordinate).
        u: ``[ny, nx]`` rate of change of player 1's coordinate.
        v: ``[ny, nx]`` rate of change of player 2's coordinate.
        space: ``"params"`` or ``"policy"``.
    """

    x: np.ndarray  # [nx]
    y: np.ndarray  # [ny]
    u: np.ndarray  # [ny, nx]
    v: np.ndarray  # [ny, nx]
    space: str


class Trajectories(NamedTuple):
    """Runs of the discrete learning map.

    Attributes:
        thetas: ``[K, T + 1, 2]`` parameters at steps ``0 .. T``.
        points: ``[K, T + 1, 2]`` the same in the requested coordinates.
        diverged_at: ``[K]`` first step with non-finite parameters, ``-1`` if
            none; after it a run is frozen at its last finite point.
        space: ``"params"`` or ``"policy"``.
    """

    thetas: np.ndarray  # [K, T + 1, 2]
    points: np.ndarray  # [K, T + 1, 2]
    diverged_at: np.ndarray  # [K]
    space: str


class Basins(NamedTuple):
    """Where the learning map goes from each grid point.

    Attributes:
        x: ``[nx]`` abscissae of the starts (in ``space``).
        y: ``[ny]`` ordinates of the starts.
        index: ``[ny, nx]`` index of the fixed point reached, ``-1`` (none:
            still moving, cycling or escaping) or ``-2`` (diverged: non-finite).
        fractions: ``[K]`` fraction of the starts reaching each fixed point.
        none_fraction: fraction reaching none.
        diverged_fraction: fraction diverging.
        final: ``[ny, nx, 2]`` final parameters.
        space: ``"params"`` or ``"policy"``.
        steps: learning steps run from each start.
    """

    x: np.ndarray  # [nx]
    y: np.ndarray  # [ny]
    index: np.ndarray  # [ny, nx]
    fractions: np.ndarray  # [K]
    none_fraction: float
    diverged_fraction: float
    final: np.ndarray  # [ny, nx, 2]
    space: str
    steps: int


# ----------------------------------------------------------------------------
# Coordinates


def _check_planar(game: DifferentiableGame) -> None:
    if game.num_players != 2 or sum(game.dims) != 2:
        raise bad_value(
            "game",
            game.name or "this game",
            f"a two-player game with one parameter per player (got dims {game.dims}), "
            "such as matching_pennies, pd, chicken, stag_hunt, tandem, hamiltonian, "
            "balduzzi or ultimatum",
        )


def _sigmoid_players(game: DifferentiableGame) -> bool:
    probe = (jnp.asarray([0.7]), jnp.asarray([-1.3]))
    try:
        pol = game.policies(probe)
        first = np.array([float(np.ravel(pol[0])[0]), float(np.ravel(pol[1])[0])])
    except Exception:  # noqa: BLE001 - any failure means "not sigmoid players"
        return False
    return bool(np.allclose(first, 1.0 / (1.0 + np.exp(-np.array([0.7, -1.3]))), atol=1e-5))


def _check_space(game: DifferentiableGame, space: str) -> str:
    check_choice("space", space, SPACES)
    if space == "policy" and not _sigmoid_players(game):
        raise bad_value(
            "space",
            space,
            f"'params' for {game.name or 'this game'}: 'policy' needs players whose first "
            "action probability is sigmoid(theta_i) (one-shot two-action games, ultimatum)",
        )
    return space


def to_space(game: DifferentiableGame, thetas, space: str) -> np.ndarray:
    """Parameters ``[..., 2]`` in ``space`` coordinates (``sigmoid`` for ``"policy"``)."""
    _check_space(game, space)
    thetas = np.asarray(thetas, dtype=np.float64)
    return thetas if space == "params" else 1.0 / (1.0 + np.exp(-thetas))


def to_params(game: DifferentiableGame, points, space: str) -> np.ndarray:
    """Points ``[..., 2]`` in ``space`` coordinates back to parameters (``logit``)."""
    _check_space(game, space)
    points = np.asarray(points, dtype=np.float64)
    if space == "params":
        return points
    if np.any((points <= 0) | (points >= 1)):
        raise bad_value("points", "probabilities outside (0, 1)", "probabilities in (0, 1)")
    return np.log(points) - np.log1p(-points)


def make_grid(bounds, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Regular grid axes ``(x [size], y [size])`` over ``bounds``.

    Args:
        bounds: ``(lo, hi)`` for both axes or ``((x_lo, x_hi), (y_lo, y_hi))``.
        size: points per axis (at least 2).
    """
    check_positive_int("grid_size", size)
    if size < 2:
        raise bad_value("grid_size", size, "an integer >= 2")
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape == (2,):
        b = np.tile(b, (2, 1))
    if b.shape != (2, 2) or not np.all(np.isfinite(b)) or np.any(b[:, 0] >= b[:, 1]):
        raise bad_value(
            "bounds", bounds, "(lo, hi) with lo < hi, or ((x_lo, x_hi), (y_lo, y_hi)), finite"
        )
    return np.linspace(*b[0], size), np.linspace(*b[1], size)


def _grid_points(grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x [nx], y [ny], points [ny * nx, 2])``, row-major over ``y`` then ``x``."""
    try:
        x, y = (np.asarray(a, dtype=np.float64) for a in grid)
    except (TypeError, ValueError):
        raise bad_value("grid", grid, "a pair of 1-D axes (x, y), e.g. make_grid(...)") from None
    if x.ndim != 1 or y.ndim != 1 or x.size < 2 or y.size < 2:
        raise bad_value("grid", (np.shape(x), np.shape(y)), "two 1-D axes of >= 2 points each")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise bad_value("grid", "non-finite entries", "finite axes")
    X, Y = np.meshgrid(x, y)  # [ny, nx]
    return x, y, np.stack([X.ravel(), Y.ravel()], axis=-1)


# ----------------------------------------------------------------------------
# Compiled programs


def _field_program(rules):
    field = _field_fn(rules)
    return jax.jit(jax.vmap(field, in_axes=(None, None, 0)))


def _rollout_program(rules, steps: int, record: bool):
    """``(game, hparams, starts [K, d]) -> (path [K, T+1, d] or final [K, d],
    F(start) [K, d], |F(final)| [K], diverged_at [K])``."""
    field = _field_fn(rules)

    def one(game, hparams, theta0):
        update = rule_update_fn(rules, game, hparams)

        def step(carry, t):
            th, div = carry
            new = th + _flatten(update(_split(th, game.dims)))
            ok = jnp.all(jnp.isfinite(new))
            frozen = div >= 0
            th = jnp.where(frozen | ~ok, th, new)
            div = jnp.where(frozen, div, jnp.where(ok, -1, t + 1)).astype(jnp.int32)
            return (th, div), (th if record else None)

        start_bad = ~jnp.all(jnp.isfinite(theta0))
        carry0 = (theta0, jnp.where(start_bad, 0, -1).astype(jnp.int32))
        (th, div), path = jax.lax.scan(step, carry0, jnp.arange(steps))
        f = field(game, hparams, th)
        norm = jnp.where(jnp.all(jnp.isfinite(f)), jnp.linalg.norm(f), jnp.inf)
        out = jnp.concatenate([theta0[None], path]) if record else th
        return out, field(game, hparams, theta0), norm, div

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0)))


@functools.lru_cache(maxsize=64)
def _cached_field(names):
    return _field_program(tuple(make_rule(n) for n in names))


@functools.lru_cache(maxsize=64)
def _cached_rollout(names, steps, record):
    return _rollout_program(tuple(make_rule(n) for n in names), steps, record)


def _padded(program):
    """Run ``program(game, hparams, x [K, d])`` on a padded batch (see ``pad_batch``)."""

    def run(game, hparams, x):
        k = x.shape[0]
        out = program(game, hparams, jnp.asarray(pad_batch(np.asarray(x)), x.dtype))
        return jax.tree_util.tree_map(lambda a: np.asarray(a)[:k], out)

    return run


def _field_for(learners, rules):
    names = _registered_names(learners)
    return _padded(_cached_field(names) if names else _field_program(rules))


def _rollout_for(learners, rules, steps, record):
    names = _registered_names(learners)
    program = (
        _cached_rollout(names, steps, record) if names else _rollout_program(rules, steps, record)
    )
    return _padded(program)


def _dtype(dtype):
    return jnp.dtype(dtype or jnp.result_type(float))


# ----------------------------------------------------------------------------
# Field, trajectories, basins


def vector_field(
    game: DifferentiableGame,
    learners: Learners,
    hparams: DynamicsHParams | None,
    grid,
    *,
    space: str = "params",
    dtype=None,
) -> VectorField:
    """The pairing's continuous-time field ``F = Delta / lr`` on a grid.

    Args:
        game: a two-player game with one parameter per player.
        learners: one rule per player (names, ``"lola,naive"``, or rules).
        hparams: step size ``lr > 0``, look-ahead and the rules' constants.
        grid: axes ``(x [nx], y [ny])`` in ``space`` coordinates (:func:`make_grid`).
        space: ``"params"`` or ``"policy"`` (probabilities; see the module doc).
        dtype: float dtype (default JAX's default float).

    Returns:
        A :class:`VectorField`; in ``"policy"`` space ``(u, v)`` is
        ``(p_1 (1 - p_1) F_1, p_2 (1 - p_2) F_2)``.
    """
    _check_planar(game)
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    _check_space(game, space)
    x, y, pts = _grid_points(grid)
    theta = to_params(game, pts, space)
    F = np.asarray(_field_for(learners, rules)(game, hparams, jnp.asarray(theta, _dtype(dtype))))
    F = F.astype(np.float64)
    if space == "policy":
        F = pts * (1.0 - pts) * F
    shape = (y.size, x.size)
    return VectorField(x, y, F[:, 0].reshape(shape), F[:, 1].reshape(shape), space)


def trajectories(
    game: DifferentiableGame,
    learners: Learners,
    hparams: DynamicsHParams | None,
    starts,
    steps: int,
    *,
    space: str = "params",
    dtype=None,
) -> Trajectories:
    """Run the discrete learning map ``theta <- theta + Delta(theta)`` from each start.

    Args:
        game: a two-player game with one parameter per player.
        learners: one rule per player.
        hparams: step size, look-ahead and the rules' constants.
        starts: ``[K, 2]`` initial points in ``space`` coordinates.
        steps: number of learning steps.
        space: ``"params"`` or ``"policy"``.

    Returns:
        :class:`Trajectories` with ``steps + 1`` records per run.
    """
    _check_planar(game)
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    _check_space(game, space)
    steps = check_positive_int("steps", steps)
    s = np.asarray(starts, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2 or s.shape[0] < 1 or not np.all(np.isfinite(s)):
        raise bad_value("starts", np.shape(starts), "[K, 2] finite initial points, K >= 1")
    theta0 = to_params(game, s, space)
    path, _, _, div = _rollout_for(learners, rules, steps, True)(
        game, hparams, jnp.asarray(theta0, _dtype(dtype))
    )
    path = np.asarray(path, dtype=np.float64)
    return Trajectories(path, to_space(game, path, space), np.asarray(div), space)


def _fixed_point_array(fixed_points) -> np.ndarray:
    pts = [fp.theta if isinstance(fp, FixedPoint) else fp for fp in fixed_points]
    arr = np.asarray(pts, dtype=np.float64).reshape(len(pts), -1) if pts else np.zeros((0, 2))
    if arr.shape[1] != 2 or not np.all(np.isfinite(arr)):
        raise bad_value("fixed_points", arr.shape, "FixedPoints or [K, 2] finite parameters")
    return arr


def basins_of_attraction(
    game: DifferentiableGame,
    learners: Learners,
    hparams: DynamicsHParams | None,
    grid,
    steps: int,
    fixed_points: Sequence[FixedPoint] | np.ndarray,
    *,
    space: str = "params",
    tol: float = 1e-4,
    radius: float | None = None,
    dtype=None,
) -> Basins:
    """Run the learning map from every grid point and say which fixed point it reaches.

    A start reaches the nearest fixed point (in parameters) when its final
    point is a fixed point (``|F| <= tol``; on a continuum of fixed points the
    nearest one found stands for it) or lies within ``radius`` of one;
    otherwise it reaches none (``-1``), or diverged (``-2``) if its parameters
    became non-finite.

    Args:
        game: a two-player game with one parameter per player.
        learners: one rule per player.
        hparams: step size, look-ahead and the rules' constants.
        grid: axes ``(x [nx], y [ny])`` of the starts in ``space`` coordinates.
        steps: learning steps per start.
        fixed_points: the candidates (from :func:`find_fixed_points`), or ``[K, 2]``.
        space: coordinates of ``grid``.
        tol: field norm under which a final point counts as fixed.
        radius: distance (in parameters) under which a final point counts as
            arrived (default 2 % of the mean side of the starts' box).

    Returns:
        :class:`Basins`.
    """
    _check_planar(game)
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    _check_space(game, space)
    steps = check_positive_int("steps", steps)
    tol = check_finite("tol", tol, low=0.0)
    fps = _fixed_point_array(fixed_points)
    x, y, pts = _grid_points(grid)
    theta0 = to_params(game, pts, space)
    radius = _radius(theta0, radius)
    final, _, norm, div = _rollout_for(learners, rules, steps, False)(
        game, hparams, jnp.asarray(theta0, _dtype(dtype))
    )
    return _basins(x, y, final, norm, div, fps, tol, radius, space, steps)


def _radius(theta0: np.ndarray, radius) -> float:
    if radius is None:
        return 0.02 * float(np.mean(theta0.max(0) - theta0.min(0)))
    return check_finite("radius", radius, low=0.0)


def _basins(x, y, final, norm, div, fps, tol, radius, space, steps) -> Basins:
    """Assign final points ``[G, 2]`` to fixed points ``[K, 2]`` (see :func:`basins_of_attraction`)."""
    final, norm, div = (np.asarray(a) for a in (final, norm, div))
    final = final.astype(np.float64)
    index = np.full(final.shape[0], NONE, dtype=np.int64)
    if fps.shape[0]:
        dist = np.linalg.norm(final[:, None, :] - fps[None], axis=-1)  # [G, K]
        nearest = np.argmin(dist, axis=1)
        arrived = (norm <= tol) | (dist[np.arange(final.shape[0]), nearest] <= radius)
        index = np.where(arrived, nearest, NONE)
    index = np.where((div >= 0) | ~np.all(np.isfinite(final), axis=1), DIVERGED, index)
    total = index.size
    fractions = np.array([(index == k).sum() / total for k in range(fps.shape[0])])
    shape = (y.size, x.size)
    return Basins(
        x=x,
        y=y,
        index=index.reshape(shape),
        fractions=fractions,
        none_fraction=float((index == NONE).sum() / total),
        diverged_fraction=float((index == DIVERGED).sum() / total),
        final=final.reshape(*shape, 2),
        space=space,
        steps=steps,
    )


# ----------------------------------------------------------------------------
# Everything for one registered game, written to a folder


def fixed_point_record(game: DifferentiableGame, fp: FixedPoint, space: str = "params") -> dict:
    """A JSON-ready description of a fixed point (eigenvalues as ``[re, im]`` pairs)."""
    rec = {
        "theta": fp.theta.tolist(),
        "label": fp.label,
        "eigenvalues": [[float(z.real), float(z.imag)] for z in fp.eigenvalues],
        "spectral_radius": fp.spectral_radius,
        "field_norm": fp.field_norm,
    }
    if space == "policy":
        rec["policy"] = to_space(game, fp.theta, space).tolist()
    return rec


def _default_bounds(game: DifferentiableGame, space: str):
    return (0.02, 0.98) if space == "policy" else (-3.0, 3.0)


def phase_analysis(
    game: DifferentiableGame,
    learners: Learners,
    hparams: DynamicsHParams,
    *,
    bounds=None,
    grid_size: int = 21,
    steps: int = 300,
    space: str = "params",
    num_trajectories: int = 4,
    fixed_point_grid: int = 9,
    tol: float = 1e-4,
    seed: int = 0,
) -> dict:
    """Field, fixed points, trajectories and basins of one pairing on one game.

    The same as :func:`find_fixed_points` (from a ``fixed_point_grid^2``
    grid), :func:`vector_field`, :func:`trajectories` and
    :func:`basins_of_attraction` on a ``grid_size^2`` grid over ``bounds``,
    with the last three from one compiled rollout (the field is the first
    rollout step's ``F``), so a pairing compiles two programs in all.

    Returns:
        ``{"field", "fixed_points", "trajectories", "basins"}`` (the named
        results of this module).
    """
    _check_planar(game)
    rules = resolve_learners(game, learners)
    hparams = _check_hparams(hparams)
    _check_space(game, space)
    steps = check_positive_int("steps", steps)
    check_positive_int("num_trajectories", num_trajectories)
    check_positive_int("fixed_point_grid", fixed_point_grid)
    bounds = _default_bounds(game, space) if bounds is None else bounds
    axes = make_grid(bounds, grid_size)
    x, y, pts = _grid_points(axes)
    corners = to_params(game, np.array([[x[0], y[0]], [x[-1], y[-1]]]), space)
    fps = find_fixed_points(game, learners, hparams, bounds=corners.T, grid=fixed_point_grid)
    lo, hi = np.array([x[0], y[0]]), np.array([x[-1], y[-1]])
    starts = lo + (hi - lo) * np.random.default_rng(seed).uniform(
        0.12, 0.88, size=(num_trajectories, 2)
    )
    theta0 = to_params(game, np.concatenate([pts, starts]), space)
    path, f0, norm, div = _rollout_for(learners, rules, steps, True)(
        game, hparams, jnp.asarray(theta0, _dtype(None))
    )
    path, f0, norm, div = (np.asarray(a) for a in (path, f0, norm, div))
    path, f0 = path.astype(np.float64), f0.astype(np.float64)
    g = pts.shape[0]
    if space == "policy":
        f0 = pts * (1.0 - pts) * f0[:g]
    shape = (y.size, x.size)
    field = VectorField(x, y, f0[:g, 0].reshape(shape), f0[:g, 1].reshape(shape), space)
    traj = Trajectories(path[g:], to_space(game, path[g:], space), div[g:], space)
    basins = _basins(
        x,
        y,
        path[:g, -1],
        norm[:g],
        div[:g],
        _fixed_point_array(fps),
        tol,
        _radius(theta0[:g], None),
        space,
        steps,
    )
    return {"field": field, "fixed_points": fps, "trajectories": traj, "basins": basins}


def phase_summary(game, learners, hparams, analysis: dict, space: str) -> dict:
    """The JSON-ready numbers of :func:`phase_analysis`."""
    fps, basins = analysis["fixed_points"], analysis["basins"]
    counts = {label: sum(fp.label == label for fp in fps) for label in LABELS}
    return {
        "game": game.name,
        "learners": [r.name for r in resolve_learners(game, learners)],
        "lr": float(hparams.lr),
        "lookahead": float(hparams.lookahead),
        "space": space,
        "fixed_points": [fixed_point_record(game, fp, space) for fp in fps],
        "label_counts": counts,
        "basins": {
            "fractions": [float(f) for f in basins.fractions],
            "none": basins.none_fraction,
            "diverged": basins.diverged_fraction,
        },
        "trajectory_ends": analysis["trajectories"].thetas[:, -1].tolist(),
    }


def run_phase(
    game_name: str,
    learners: Learners,
    *,
    lr: float = 0.1,
    lookahead: float = 1.0,
    grid_size: int = 21,
    steps: int = 300,
    out,
    bounds=None,
    space: str = "params",
    num_trajectories: int = 4,
    seed: int = 0,
    verbose: bool = False,
) -> dict:
    """Phase portrait of a pairing on a registered two-parameter game, written to ``out``.

    Writes ``out/phase.png`` (streamlines, trajectories, fixed points by
    stability, basins), ``out/summary.json`` (settings, fixed points with
    eigenvalues as ``[re, im]`` pairs and labels, basin fractions, seconds)
    and ``out/arrays.npz`` (field, basins, trajectories), atomically.

    Args:
        game_name: a key of ``DIFFERENTIABLE_GAMES`` with one parameter per
            player (``matching_pennies``, ``pd``, ``chicken``, ``stag_hunt``,
            ``tandem``, ``hamiltonian``, ``balduzzi``, ``ultimatum``).
        learners: two rule names, ``"lola,naive"`` or a sequence.
        lr: step size, ``> 0``.
        lookahead: look-ahead rate ``alpha``, ``>= 0``.
        grid_size: grid points per axis (field and basins), ``>= 2``.
        steps: learning steps per trajectory and per basin start.
        out: output folder (replaced atomically).
        bounds: ``(lo, hi)`` or one pair per axis, in ``space`` coordinates
            (default ``(-3, 3)`` in parameters, ``(0.02, 0.98)`` in probabilities).
        space: ``"params"`` or ``"policy"``.
        num_trajectories: trajectories drawn.
        seed: picks the trajectories' starts.
        verbose: print the fixed points, basin fractions and the folder written.

    Returns:
        The summary written to ``summary.json``.

    Raises:
        ValueError: unknown game or learner, a game without exactly two
            parameters, or a bad number.
    """
    t0 = time.perf_counter()
    if not isinstance(game_name, str):
        raise bad_value("game", game_name, "the name of a registered differentiable game")
    game = make_differentiable(game_name)
    _check_planar(game)
    resolve_learners(game, learners)
    lr = check_finite("lr", lr, low=0.0, low_inclusive=False)
    lookahead = check_finite("lookahead", lookahead, low=0.0)
    if check_positive_int("grid_size", grid_size) < 2:
        raise bad_value("grid_size", grid_size, "an integer >= 2")
    check_positive_int("steps", steps)
    _check_space(game, space)
    hparams = DynamicsHParams(lr=lr, lookahead=lookahead)
    analysis = phase_analysis(
        game,
        learners,
        hparams,
        bounds=bounds,
        grid_size=grid_size,
        steps=steps,
        space=space,
        num_trajectories=num_trajectories,
        seed=seed,
    )
    summary = {"game_key": game_name, **phase_summary(game, learners, hparams, analysis, space)}
    summary.update(grid_size=grid_size, steps=steps, seconds=time.perf_counter() - t0)
    names = ",".join(summary["learners"])
    title = f"{game_name}: {names} (lr {lr:g}, look-ahead {lookahead:g})"

    def write(tmp: Path):
        from detente.analysis.phase_plot import plot_phase_portrait

        write_json(tmp / "summary.json", summary)
        np.savez_compressed(tmp / "arrays.npz", **_arrays(analysis))
        plot_phase_portrait(
            game,
            analysis["field"],
            fixed_points=analysis["fixed_points"],
            trajectories=analysis["trajectories"],
            basins=analysis["basins"],
            title=title,
            path=tmp / "phase.png",
        )

    path = write_output_dir(out, write)
    if verbose:
        print_summary(summary)
        print(f"wrote {path}/ (phase.png, summary.json, arrays.npz)", flush=True)
    return summary


def _fmt(v: float) -> str:
    """``v`` with 4 decimals, without a minus sign on a value that prints as zero."""
    text = f"{v:.4f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def print_summary(summary: dict, max_points: int = 10) -> None:
    """Print a :func:`run_phase` summary: settings, fixed points, basins."""
    print(
        f"{summary['game']}: {','.join(summary['learners'])}, lr {summary['lr']:g}, "
        f"look-ahead {summary['lookahead']:g}, {summary.get('steps', '?')} steps "
        f"({summary.get('seconds', 0.0):.1f} s)"
    )
    fps = summary["fixed_points"]
    counts = ", ".join(f"{n} {lab}" for lab, n in summary["label_counts"].items() if n)
    print(f"fixed points: {len(fps)}" + (f" ({counts})" if counts else ""))
    for k, fp in enumerate(fps[:max_points]):
        where = fp.get("policy", fp["theta"])
        eig = ", ".join(f"{re:.4g}{im:+.4g}i" for re, im in fp["eigenvalues"])
        coords = "policy" if "policy" in fp else "theta"
        print(
            f"  [{k}] {coords} ({', '.join(_fmt(v) for v in where)})  {fp['label']:<8} "
            f"eig [{eig}]  radius(I + lr J) {fp['spectral_radius']:.4f}"
        )
    if len(fps) > max_points:
        print(f"  ... and {len(fps) - max_points} more")
    b = summary["basins"]
    reached = sum(b["fractions"])
    print(
        f"basins: {100 * reached:.1f}% of starts reach a fixed point, "
        f"{100 * b['none']:.1f}% none, {100 * b['diverged']:.1f}% diverge"
    )


def _arrays(analysis: dict) -> dict:
    f, b, t = analysis["field"], analysis["basins"], analysis["trajectories"]
    fps = analysis["fixed_points"]
    return {
        "field_x": f.x,
        "field_y": f.y,
        "field_u": f.u,
        "field_v": f.v,
        "basin_index": b.index,
        "basin_final": b.final,
        "trajectories": t.thetas,
        "fixed_points": np.array([fp.theta for fp in fps]).reshape(len(fps), 2),
    }
