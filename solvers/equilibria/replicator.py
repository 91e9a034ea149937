"""Continuous-time population dynamics of normal-form games and their integrator.

A population state is a mixed strategy. ``deviation_payoffs`` gives each
population's fitness vector, the expected payoff of each of its actions
against the other populations' states; a *rule* maps a state ``x`` and its
fitness ``f`` to the time derivative ``dx/dt``:

=================  ==========================================================
``replicator``     ``x * (f - x.f)`` (Taylor & Jonker 1978)
``boltzmannq``     ``x * (f - x.f) / T - x * (log x - x.log x)``, Q-learning
                   with Boltzmann exploration (Tuyls et al. 2003)
``qpg``            ``x * (x * r - sum(x^2 r))`` with ``r = f - x.f``, Q-based
                   policy gradient (Srinivasan et al. 2018)
``logit_dynamics`` ``softmax(lam * f) - x``, whose rest points are the logit
                   quantal response equilibria (Fudenberg & Levine 1998, ch. 4)
=================  ==========================================================

These are the rules of OpenSpiel's ``open_spiel.python.egt.dynamics`` (whose
``replicator``, ``boltzmannq`` and ``qpg`` take the same ``(state, fitness)``
arguments), written in ``jax.numpy``. ``single_population_field`` is the
symmetric-game field (one population playing ``A [k, k]`` against itself,
``f = A x``); ``multi_population_field`` gives one population per player of
an ``N``-player game, ``f_i = u_i(., x_-i)``: for a bimatrix game ``(A, B)``
that is ``dx/dt = x * (A y - x.A y)``, ``dy/dt = y * (B^T x - x.B y)``.
``integrate`` runs any field forward in time with Euler or RK4 steps in a
``lax.scan``.

Everything is a pure function of arrays, so ``jax.vmap`` runs a batch of
games, states or temperatures without recompiling.

References:
    Taylor & Jonker, "Evolutionarily stable strategies and game dynamics",
    Mathematical Biosciences 40, 1978, https://doi.org/10.1016/0025-5564(78)90077-9.
    Hofbauer & Sigmund, "Evolutionary Games and Population Dynamics", CUP 1998.
    Tuyls, Verbeeck & Lenaerts, "A selection-mutation model for Q-learning in
    multi-agent systems", AAMAS 2003, https://doi.org/10.1145/860575.860687.
    Bloembergen, Tuyls, Hennes & Kaisers, "Evolutionary Dynamics of
    Multi-Agent Learning: A Survey", JAIR 53, 2015, https://doi.org/10.1613/jair.4818.
    Srinivasan et al., "Actor-Critic Policy Optimization in Partially
    Observable Multiagent Environments", NeurIPS 2018, https://arxiv.org/abs/1810.09026.
    Fudenberg & Levine, "The Theory of Learning in Games", MIT Press 1998.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_choice, check_positive_int
from detente.solvers.equilibria.metrics import _deviation_payoffs as _action_values
from detente.solvers.equilibria.metrics import as_payoffs

__all__ = [
    "PopulationTrajectory",
    "boltzmannq",
    "integrate",
    "logit_dynamics",
    "multi_population_field",
    "qpg",
    "replicator",
    "single_population_field",
]

Strategies = tuple[chex.Array, ...]  # N x [A_i]
Rule = Callable[[chex.Array, chex.Array], chex.Array]

_SIMPLEX_TOL = 1e-5  # loose enough for float32 inputs


# ----------------------------------------------------------------------------
# Input checks (values are checked only when concrete, i.e. outside jit/vmap)


def _concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array, or ``None`` when it is a tracer (inside jit/vmap)."""
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x)


def _float_array(field: str, x) -> chex.Array:
    try:
        arr = jnp.asarray(x)
    except (TypeError, ValueError):
        raise bad_value(field, x, "a numeric array") from None
    if arr.dtype.kind not in "biuf":
        raise bad_value(field, f"array of dtype {arr.dtype}", "real numbers")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def _check_finite_array(field: str, arr) -> None:
    c = _concrete(arr)
    if c is not None and not np.all(np.isfinite(c)):
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(c))[0])
        raise bad_value(field, f"array with a non-finite entry at {first}", "finite numbers")


def _payoff_tensor(game) -> chex.Array:
    """The ``[N, A_1, ..., A_N]`` payoff tensor of a game or of an array, checked."""
    return as_payoffs(game, field="payoffs")


def _check_simplex(field: str, x, size: int, dtype) -> chex.Array:
    arr = _float_array(field, x).astype(dtype)
    if arr.shape != (size,):
        raise bad_value(f"{field}.shape", arr.shape, f"({size},)")
    c = _concrete(arr)
    if c is not None and (
        not np.all(np.isfinite(c))
        or c.min() < -_SIMPLEX_TOL
        or abs(c.sum() - 1.0) > _SIMPLEX_TOL * size
    ):
        raise bad_value(field, c.tolist(), "a probability vector: entries >= 0 summing to 1")
    return arr


def _check_strategies(field: str, strategies, num_actions: Sequence[int], dtype) -> Strategies:
    n = len(num_actions)
    if not isinstance(strategies, (tuple, list)):
        raise bad_value(field, strategies, f"a sequence of {n} probability vectors")
    if len(strategies) != n:
        raise bad_value(f"len({field})", len(strategies), f"one strategy per player ({n})")
    return tuple(
        _check_simplex(f"{field}[{i}]", s, a, dtype)
        for i, (s, a) in enumerate(zip(strategies, num_actions, strict=True))
    )


def _uniform(num_actions: Sequence[int], dtype) -> Strategies:
    return tuple(jnp.full((a,), 1.0 / a, dtype) for a in num_actions)


# ----------------------------------------------------------------------------
# Fitness


# ----------------------------------------------------------------------------
# Rules: (state x [k], fitness f [k]) -> dx/dt [k]


def replicator(x: chex.Array, fitness: chex.Array) -> chex.Array:
    """Replicator dynamics ``dx/dt = x * (f - x.f)`` (Taylor & Jonker 1978).

    Args:
        x: ``[k]`` population state (a probability vector).
        fitness: ``[k]`` fitness of each type.

    Returns:
        ``[k]`` time derivative of ``x``.
    """
    return x * (fitness - jnp.dot(x, fitness))


def _xlogx_terms(x: chex.Array) -> chex.Array:
    """``log x - x.log x`` with ``0 log 0 = 0`` (finite on the boundary where x_i = 0)."""
    safe = jnp.where(x > 0, x, 1.0)
    log_x = jnp.where(x > 0, jnp.log(safe), 0.0)
    return log_x - jnp.dot(x, log_x)


def boltzmannq(x: chex.Array, fitness: chex.Array, temperature=1.0) -> chex.Array:
    """Boltzmann Q-learning dynamics (selection-mutation), Tuyls et al. 2003.

    ``dx/dt = x * (f - x.f) / T - x * (log x - x.log x)``: replicator
    selection at temperature ``T`` plus entropy-seeking mutation (Bloembergen
    et al. 2015, JAIR, eq. 10). Entries with ``x_i = 0`` stay at 0.

    Args:
        x: ``[k]`` population state.
        fitness: ``[k]`` fitness of each type.
        temperature: ``T > 0``, the exploration temperature (scalar, may be traced).

    Returns:
        ``[k]`` time derivative of ``x``.
    """
    return replicator(x, fitness) / temperature - x * _xlogx_terms(x)


def qpg(x: chex.Array, fitness: chex.Array) -> chex.Array:
    """Q-based policy gradient dynamics ``x * (x * r - sum(x^2 r))``, ``r = f - x.f``.

    From Srinivasan et al., "Actor-Critic Policy Optimization in Partially
    Observable Multiagent Environments", NeurIPS 2018, eq. 12,
    https://arxiv.org/abs/1810.09026.

    Args:
        x: ``[k]`` population state.
        fitness: ``[k]`` fitness of each type.

    Returns:
        ``[k]`` time derivative of ``x``.
    """
    r = fitness - jnp.dot(x, fitness)
    return x * (x * r - jnp.sum(x**2 * r))


def logit_dynamics(x: chex.Array, fitness: chex.Array, lam=1.0) -> chex.Array:
    """Logit (smoothed best-response) dynamics ``dx/dt = softmax(lam * f) - x``.

    Its rest points are the logit quantal response equilibria at ``lam``
    (Fudenberg & Levine 1998, ch. 4; McKelvey & Palfrey 1995).

    Args:
        x: ``[k]`` population state.
        fitness: ``[k]`` fitness of each type.
        lam: ``lambda >= 0``, the precision (inverse temperature; may be traced).

    Returns:
        ``[k]`` time derivative of ``x``.
    """
    return jax.nn.softmax(lam * fitness) - x


# ----------------------------------------------------------------------------
# Vector fields


def single_population_field(A, x, rule: Rule = replicator) -> chex.Array:
    """One population playing the symmetric game ``A`` against itself: ``rule(x, A x)``.

    With the default rule this is ``dx_i/dt = x_i ((A x)_i - x^T A x)``
    (Taylor & Jonker 1978). OpenSpiel's ``SinglePopulationDynamics`` takes the
    ``[2, k, k]`` tensor ``(A, A^T)`` of the same game.

    Args:
        A: ``[k, k]`` payoff matrix, ``A[i, j]`` the payoff of type ``i``
            against type ``j``.
        x: ``[k]`` population state (a probability vector).
        rule: ``(x, fitness) -> dx/dt``, e.g. :func:`replicator` or
            ``functools.partial(boltzmannq, temperature=0.5)``.

    Returns:
        ``[k]`` time derivative of ``x``.

    Raises:
        ValueError: if ``A`` is not a finite square matrix or ``x`` is not on
            the simplex of matching size.

    Example:
        >>> from detente.games import rock_paper_scissors
        >>> A = rock_paper_scissors().payoffs[0]
        >>> single_population_field(A, jnp.ones(3) / 3).tolist()
        [0.0, 0.0, 0.0]
    """
    A = _float_array("A", A)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise bad_value("A.shape", A.shape, "[k, k], a square payoff matrix")
    _check_finite_array("A", A)
    x = _check_simplex("x", x, A.shape[0], A.dtype)
    return rule(x, A @ x)


def multi_population_field(game, strategies, rule: Rule | Sequence[Rule] = replicator):
    """One population per player: ``dx_i/dt = rule_i(x_i, u_i(., x_-i))``.

    For a bimatrix game ``(A, B)`` and the replicator rule,
    ``dx/dt = x * (A y - x.A y)`` and ``dy/dt = y * (B^T x - x.B y)``
    (Hofbauer & Sigmund 1998, sec. 10.1). This is OpenSpiel's
    ``MultiPopulationDynamics``, which takes the same ``[N, A_1, ..., A_N]``
    payoff tensor but one flat state vector (the ``x_i`` concatenated).

    Args:
        game: a :class:`~detente.games.NormalFormGame` or its payoff tensor
            ``[N, A_1, ..., A_N]``.
        strategies: ``N`` probability vectors, ``strategies[i]`` of shape ``[A_i]``.
        rule: one rule for every population, or a sequence of ``N`` rules.

    Returns:
        Tuple of ``N`` arrays, the time derivatives ``dx_i/dt`` of shape ``[A_i]``.

    Raises:
        ValueError: for a malformed game, strategies off the simplex, or a
            wrong number of rules.

    Example:
        >>> from detente.games import matching_pennies
        >>> dx, dy = multi_population_field(matching_pennies(), ([0.5, 0.5], [0.5, 0.5]))
        >>> dx.tolist(), dy.tolist()
        ([0.0, 0.0], [0.0, 0.0])
    """
    payoffs = _payoff_tensor(game)
    n = payoffs.shape[0]
    s = _check_strategies("strategies", strategies, payoffs.shape[1:], payoffs.dtype)
    rules = tuple(rule) if isinstance(rule, (tuple, list)) else (rule,) * n
    if len(rules) != n or not all(callable(r) for r in rules):
        raise bad_value("rule", rule, f"a callable (x, fitness) -> dx or a sequence of {n} of them")
    values = _action_values(payoffs, s)
    return tuple(r(x, f) for r, x, f in zip(rules, s, values, strict=True))


# ----------------------------------------------------------------------------
# Integration in time


class PopulationTrajectory(NamedTuple):
    """States visited by :func:`integrate`.

    Attributes:
        times: ``[T + 1]`` times ``0, h, ..., T h``.
        states: the state pytree with a leading ``[T + 1]`` axis; ``states[0]``
            is the initial state (for a tuple of strategies: ``N x [T + 1, A_i]``).
    """

    times: chex.Array  # [T + 1]
    states: Any  # pytree of [T + 1, ...]


def _axpy(a, x, y):
    """``y + a * x`` over pytrees."""
    return jax.tree.map(lambda xi, yi: yi + a * xi, x, y)


def _euler_step(field, x, h):
    return _axpy(h, field(x), x)


def _rk4_step(field, x, h):
    k1 = field(x)
    k2 = field(_axpy(h / 2, k1, x))
    k3 = field(_axpy(h / 2, k2, x))
    k4 = field(_axpy(h, k3, x))
    return jax.tree.map(
        lambda xi, a, b, c, d: xi + h / 6 * (a + 2 * b + 2 * c + d), x, k1, k2, k3, k4
    )


_STEPS = {"euler": _euler_step, "rk4": _rk4_step}


def integrate(
    field: Callable[[Any], Any],
    x0,
    step_size,
    num_steps: int,
    method: str = "rk4",
) -> PopulationTrajectory:
    """Integrate ``dx/dt = field(x)`` from ``x0`` with fixed steps in a ``lax.scan``.

    ``field`` should be the unchecked form of a vector field, such as
    ``lambda x: replicator(x, A @ x)``; the checked fields above also work
    (their checks are skipped inside the scan, where values are traced). Both
    steps keep ``sum(x) = 1`` up to rounding, since each field sums to zero;
    Euler steps that are too long can leave the simplex (``x_i < 0``).

    Args:
        field: ``state -> d state / dt`` on a pytree of arrays.
        x0: initial state, a pytree of float arrays (e.g. ``[k]`` or a tuple
            ``N x [A_i]``).
        step_size: ``h > 0`` (may be traced, e.g. under ``vmap``).
        num_steps: number of steps ``T`` (static).
        method: ``"euler"`` or ``"rk4"`` (classical fourth-order Runge-Kutta).

    Returns:
        A :class:`PopulationTrajectory` with the ``T + 1`` states.

    Raises:
        ValueError: for a non-positive or non-finite ``step_size``, a
            non-positive ``num_steps`` or an unknown ``method``.

    Example:
        >>> A = jnp.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
        >>> traj = integrate(lambda x: replicator(x, A @ x), jnp.array([0.5, 0.3, 0.2]), 0.01, 100)
        >>> traj.states.shape
        (101, 3)
    """
    check_positive_int("num_steps", num_steps)
    check_choice("method", method, tuple(_STEPS))
    h = _concrete(step_size)
    if h is not None and (h.shape != () or not np.isfinite(h) or h <= 0):
        raise bad_value("step_size", step_size, "a finite number > 0")
    leaves = jax.tree.leaves(x0)
    if not leaves:
        raise bad_value("x0", x0, "a pytree of float arrays")
    for leaf in leaves:
        _check_finite_array("x0", leaf)
    x0 = jax.tree.map(lambda leaf: _float_array("x0", leaf), x0)
    dtype = jnp.result_type(*jax.tree.leaves(x0))
    h = jnp.asarray(step_size, dtype)
    step = _STEPS[method]

    def body(x, _):
        x = step(field, x, h)
        return x, x

    _, xs = jax.lax.scan(body, x0, None, length=num_steps)
    states = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), x0, xs)
    times = h * jnp.arange(num_steps + 1, dtype=dtype)
    return PopulationTrajectory(times=times, states=states)
