"""Fixed points of learning dynamics and their stability, against closed forms.

Matching pennies with sigmoid policies (the zoo's payoffs, player 1's table
[[1, -1], [-1, 1]], zero-sum; p = sigmoid(x), q = sigmoid(y) the players'
P(heads)): V1 = (2p - 1)(2q - 1) = -V2. With L_i = -V_i,

    xi_1 = dL1/dx = -2 p' (2q - 1),     xi_2 = dL2/dy = 2 q' (2p - 1),

p' = p (1 - p) = 1/4 at the mixed equilibrium x = y = 0. Naive learning's
field F = -xi has Jacobian [[0, 1/4], [-1/4, 0]] there: eigenvalues +-i/4, a
centre (c = 1/4). LOLA in LOLA's code form adds alpha * chi with
chi_1 = (d xi_2/dx) grad_2 L1 = -8 p' q'^2 (2p - 1) (and symmetrically
chi_2 = -8 p'^2 q' (2q - 1)); at 0, d chi_1/dx = -8 q'^2 * 2 p'^2 = -16 c^4
= -c^2 = -1/16, so J = [[-alpha/16, 1/4], [-1/4, -alpha/16]], eigenvalues
-alpha c^2 +- i c = -alpha/16 +- i/4 (attracting). LOLA against a naive
learner shifts only player 1's row: eigenvalues of [[-alpha/16, 1/4],
[-1/4, 0]], -alpha/32 +- i sqrt(1/16 - alpha^2/1024).

Tandem (Letcher et al. 2019): L1 = (x+y)^2 - 2x, L2 = (x+y)^2 - 2y, so
xi_1 = xi_2 = 2(x + y) - 2: naive learning's fixed points are the line
x + y = 1 and J = -2 [[1, 1], [1, 1]] (eigenvalues 0 along the line, -4
across it). LOLA's code form adds alpha chi_i = 4 alpha (x + y): fixed line
x + y = 1 / (1 - 2 alpha), eigenvalues 0 and -4 (1 - 2 alpha); the SOS
paper's LOLA adds alpha (H_o xi)_i = 2 alpha (2(x + y) - 2) too: x + y =
(1 - 2 alpha) / (1 - 4 alpha) (= 4/3 at alpha 0.1, off the game's fixed
points), eigenvalues 0 and -4 (1 - 4 alpha).

Hamiltonian game (L1 = xy = -L2, Balduzzi et al. 2018): xi = (y, -x),
naive J = [[0, -1], [1, 0]] (eigenvalues +-i, a centre; simultaneous
gradient steps spiral out, spectral radius sqrt(1 + lr^2)); SGA adds
A^T xi = (x, y) with lambda = +1: J = [[-1, -1], [1, -1]], eigenvalues
-1 +- i (Balduzzi et al.'s Theorem: SGA converges on Hamiltonian games).

Balduzzi's game (L1 = x^2/2 + 10xy, L2 = y^2/2 - 10xy): naive J =
-[[1, 10], [-10, 1]], eigenvalues -1 +- 10i: stable in continuous time, but
the discrete map I + lr J has |1 - lr +- 10 i lr|^2 = 1 - 2 lr + 101 lr^2,
below 1 only for lr < 2/101 (the rotation-dominated case of Balduzzi et al.).
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from detente.analysis.stability import (
    FixedPoint,
    classify,
    field_jacobian,
    find_fixed_points,
    make_field,
    make_update_map,
    stability_label,
)
from detente.games import make_differentiable
from detente.solvers.dynamics import DynamicsHParams


def _sorted(z):
    z = np.asarray(z, dtype=complex)
    return z[np.lexsort((z.imag, z.real))]


# --- matching pennies: the acceptance test ----------------------------------


def test_matching_pennies_naive_is_a_centre_and_lola_attracts():
    # float32 (the default); the next test checks the same closed forms in float64
    game = make_differentiable("matching_pennies")
    lr, alpha = 1.0, 1.0
    hp = DynamicsHParams(lr=lr, lookahead=alpha)
    c = 0.25

    naive = find_fixed_points(game, ("naive", "naive"), hp, grid=5, bounds=(-3.0, 3.0))
    assert len(naive) == 1
    fp = naive[0]
    assert isinstance(fp, FixedPoint)
    np.testing.assert_allclose(fp.theta, [0.0, 0.0], atol=1e-5)
    assert fp.field_norm < 1e-6
    np.testing.assert_allclose(fp.eigenvalues, [-1j * c, 1j * c], atol=1e-6)
    assert fp.label == "neutral"
    # simultaneous gradient steps spiral out: |1 +- i lr c| > 1
    assert fp.spectral_radius == pytest.approx(math.hypot(1.0, lr * c), abs=1e-6)

    lola = find_fixed_points(game, "lola,lola", hp, grid=5, bounds=(-3.0, 3.0))
    assert len(lola) == 1
    fp = lola[0]
    np.testing.assert_allclose(fp.theta, [0.0, 0.0], atol=1e-5)
    re = -alpha * c**2
    np.testing.assert_allclose(fp.eigenvalues, [re - 1j * c, re + 1j * c], atol=1e-6)
    assert fp.label == "stable"
    assert fp.spectral_radius == pytest.approx(math.hypot(1 + lr * re, lr * c), abs=1e-6)
    assert fp.spectral_radius < 1


def test_matching_pennies_lola_eigenvalues_across_lookahead_and_against_naive():
    with jax.enable_x64(True):  # exact to rounding
        game = make_differentiable("matching_pennies")
        for alpha in (0.5, 2.0):
            hp = DynamicsHParams(lr=0.3, lookahead=alpha)
            fp = classify(game, ("lola", "lola"), hp, (np.zeros(1), np.zeros(1)))
            want = [-alpha / 16 - 0.25j, -alpha / 16 + 0.25j]
            np.testing.assert_allclose(fp.eigenvalues, want, atol=1e-12)
            fp = classify(game, ("lola", "naive"), hp, np.zeros(2))
            im = math.sqrt(1 / 16 - alpha**2 / 1024)
            np.testing.assert_allclose(
                fp.eigenvalues, [-alpha / 32 - 1j * im, -alpha / 32 + 1j * im], atol=1e-12
            )
            assert fp.label == "stable"
            # det(I + lr J) = 1 - lr alpha / 16 + lr^2 / 16 for LOLA vs naive
            det = np.prod(1 + 0.3 * fp.eigenvalues).real
            assert det == pytest.approx(1 - 0.3 * alpha / 16 + 0.09 / 16, abs=1e-12)


def test_off_equilibrium_point_is_not_fixed():
    game = make_differentiable("matching_pennies")
    fp = classify(game, ("naive", "naive"), DynamicsHParams(lr=1.0), np.array([1.0, -0.5]))
    # F = (2 p'(x) (2q - 1), -2 q'(y) (2p - 1))
    p, q = 1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(0.5))
    f = np.array([2 * p * (1 - p) * (2 * q - 1), -2 * q * (1 - q) * (2 * p - 1)])
    assert fp.field_norm == pytest.approx(np.linalg.norm(f), rel=1e-5)


# --- Tandem --------------------------------------------------------------------


def test_tandem_naive_has_a_line_of_fixed_points_with_a_zero_eigenvalue():
    game = make_differentiable("tandem")
    hp = DynamicsHParams(lr=0.1, lookahead=0.1)
    F = jax.jit(make_field(game, ("naive", "naive"), hp))
    for t in (-2.0, 0.0, 0.3, 1.5):
        np.testing.assert_allclose(np.asarray(F(np.array([t, 1.0 - t]))), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(F(np.array([1.0, 1.0]))), [-2.0, -2.0], atol=1e-6)
    fps = find_fixed_points(game, ("naive", "naive"), hp, grid=5, bounds=(-2.0, 2.0))
    assert len(fps) >= 3  # the starts land at different points of the line
    for fp in fps:
        assert fp.theta.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(fp.eigenvalues, [-4.0, 0.0], atol=1e-5)
        assert fp.label == "neutral"
        assert fp.spectral_radius == pytest.approx(1.0, abs=1e-5)  # |1 + lr * 0|
    J = field_jacobian(game, ("naive", "naive"), hp, fps[0].theta)
    np.testing.assert_allclose(J @ np.array([1.0, -1.0]), 0.0, atol=1e-6)  # along the line


@pytest.mark.parametrize(
    "rule, line, nonzero",
    [
        ("lola", lambda a: 1 / (1 - 2 * a), lambda a: -4 * (1 - 2 * a)),
        ("lola_sos", lambda a: (1 - 2 * a) / (1 - 4 * a), lambda a: -4 * (1 - 4 * a)),
    ],
)
def test_tandem_lola_moves_the_fixed_line(rule, line, nonzero):
    game = make_differentiable("tandem")
    alpha = 0.1
    hp = DynamicsHParams(lr=alpha, lookahead=alpha)
    fps = find_fixed_points(game, (rule, rule), hp, grid=3, bounds=(-2.0, 2.0))
    assert fps
    for fp in fps:
        assert fp.theta.sum() == pytest.approx(line(alpha), abs=1e-5)
        np.testing.assert_allclose(fp.eigenvalues, [nonzero(alpha), 0.0], atol=1e-5)
        assert fp.label == "neutral"
    # Letcher et al.: LOLA does not preserve the game's fixed points (x + y = 1)
    assert classify(game, (rule, rule), hp, np.array([0.5, 0.5])).field_norm > 0.1


# --- Hamiltonian and Balduzzi games ---------------------------------------------


def test_hamiltonian_game_naive_centre_and_sga_converges():
    game = make_differentiable("hamiltonian")
    hp = DynamicsHParams(lr=0.5)
    fps = find_fixed_points(game, ("naive", "naive"), hp, num_starts=8)
    assert len(fps) == 1
    np.testing.assert_allclose(fps[0].theta, 0.0, atol=1e-6)
    np.testing.assert_allclose(fps[0].eigenvalues, [-1j, 1j], atol=1e-6)
    assert fps[0].label == "neutral"
    assert fps[0].spectral_radius == pytest.approx(math.sqrt(1 + 0.5**2), rel=1e-6)
    fp = classify(game, ("sga", "sga"), hp, np.zeros(2))
    np.testing.assert_allclose(fp.eigenvalues, [-1 - 1j, -1 + 1j], atol=1e-6)
    assert fp.label == "stable"


def test_balduzzi_game_stable_flow_but_needs_a_small_step():
    game = make_differentiable("balduzzi")
    for lr in (0.01, 0.05):
        fp = classify(game, ("naive", "naive"), DynamicsHParams(lr=lr), np.zeros(2))
        np.testing.assert_allclose(fp.eigenvalues, [-1 - 10j, -1 + 10j], atol=1e-5)
        assert fp.label == "stable"
        assert fp.spectral_radius == pytest.approx(math.sqrt(1 - 2 * lr + 101 * lr**2), rel=1e-6)
        assert (fp.spectral_radius < 1) == (lr < 2 / 101)
    # the discrete map itself contracts at lr = 0.01 and expands at lr = 0.05
    for lr, shrinks in ((0.01, True), (0.05, False)):
        step = jax.jit(make_update_map(game, ("naive", "naive"), DynamicsHParams(lr=lr)))
        th = np.array([0.3, -0.2])
        for _ in range(200):
            th = step(th)
        assert (np.linalg.norm(np.asarray(th)) < 0.36) == shrinks


# --- labels and errors ---------------------------------------------------------------


def test_stability_labels():
    assert stability_label([-1.0, -2 + 1j, -2 - 1j]) == "stable"
    assert stability_label([1.0, 0.5]) == "unstable"
    assert stability_label([-1.0, 1.0]) == "saddle"
    assert stability_label([0.25j, -0.25j]) == "neutral"
    assert stability_label([-4.0, 0.0]) == "neutral"
    assert stability_label([-1.0, 1e-6], eig_tol=1e-4) == "neutral"
    assert stability_label([-1.0, 1e-3], eig_tol=1e-4) == "saddle"


def test_bad_inputs_raise_clear_errors():
    game = make_differentiable("matching_pennies")
    hp = DynamicsHParams(lr=1.0)
    with pytest.raises(ValueError, match="learner"):
        classify(game, ("naive", "nope"), hp, np.zeros(2))
    with pytest.raises(ValueError, match="learners"):
        classify(game, ("naive",), hp, np.zeros(2))
    with pytest.raises(ValueError, match="theta"):
        classify(game, ("naive", "naive"), hp, np.zeros(3))
    with pytest.raises(ValueError, match="hparams.lr"):
        classify(game, ("naive", "naive"), DynamicsHParams(lr=0.0), np.zeros(2))
    with pytest.raises(ValueError, match="bounds"):
        find_fixed_points(game, ("naive", "naive"), hp, grid=3, bounds=(1.0, -1.0))
    with pytest.raises(ValueError, match="starts"):
        find_fixed_points(game, ("naive", "naive"), hp, starts=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="tol"):
        find_fixed_points(game, ("naive", "naive"), hp, grid=3, tol=0.0)
