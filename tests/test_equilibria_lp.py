"""Zero-sum, correlated and coarse correlated equilibria by linear programming.

Checked against nashpy's minimax LP, closed forms and an independent loop over
the equilibrium constraints.
"""

import itertools

import numpy as np
import pytest

from detente.games import (
    NormalFormGame,
    battle_of_the_sexes,
    biased_rock_paper_scissors,
    matching_pennies,
    prisoners_dilemma,
    rock_paper_scissors,
)
from detente.solvers.equilibria.lp import (
    coarse_correlated_equilibrium,
    correlated_equilibrium,
    solve_zero_sum,
)

# Textbook chicken (Aumann 1974's example in most lecture notes); action 0 = dare, 1 = chicken.
# (dare, dare) = (0, 0), (dare, chicken) = (7, 2), (chicken, dare) = (2, 7), (chicken, chicken) = (6, 6).
CHICKEN = np.stack([np.array([[0.0, 7.0], [2.0, 6.0]]), np.array([[0.0, 2.0], [7.0, 6.0]])])


def max_violation(u, p, coarse):
    """Largest gain from a deviation, by explicit loops over players, actions and outcomes."""
    n = u.shape[0]
    worst = -np.inf
    profiles = list(itertools.product(*(range(k) for k in u.shape[1:])))
    for i in range(n):
        recs = [None] if coarse else range(u.shape[i + 1])
        for r in recs:
            for d in range(u.shape[i + 1]):
                gain = 0.0
                for a in profiles:
                    if r is not None and a[i] != r:
                        continue
                    dev = list(a)
                    dev[i] = d
                    gain += p[a] * (u[(i, *dev)] - u[(i, *a)])
                worst = max(worst, gain)
    return worst


# --- zero-sum ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3), (4, 6), (5, 2)])
def test_zero_sum_matches_nashpy(shape):
    nash = pytest.importorskip("nashpy")
    rng = np.random.default_rng(sum(shape))
    for _ in range(3):
        a = rng.standard_normal(shape)
        sol = solve_zero_sum(a)
        # nashpy's Game(A) is zero-sum with B = -A; linear_program() returns the
        # row player's maximin strategy for A and the column player's for B^T = -A^T.
        x, y = nash.Game(a).linear_program()
        np.testing.assert_allclose(sol.x, x, atol=1e-6)
        np.testing.assert_allclose(sol.y, y, atol=1e-6)
        assert sol.value == pytest.approx(x @ a @ y, abs=1e-6)
        # minimax theorem: x guarantees the value against every column, y holds every row to it
        assert (sol.x @ a).min() == pytest.approx(sol.value, abs=1e-7)
        assert (a @ sol.y).max() == pytest.approx(sol.value, abs=1e-7)


def test_zero_sum_closed_forms():
    # RPS: value 0, uniform.
    sol = solve_zero_sum(rock_paper_scissors())
    assert sol.value == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(sol.x, [1 / 3] * 3, atol=1e-9)
    np.testing.assert_allclose(sol.y, [1 / 3] * 3, atol=1e-9)
    # Biased RPS (OpenSpiel's lp_solver_test matrix): (1/16, 10/16, 5/16), value 0.
    sol = solve_zero_sum(biased_rock_paper_scissors())
    assert sol.value == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(sol.x, [1 / 16, 10 / 16, 5 / 16], atol=1e-7)
    np.testing.assert_allclose(sol.y, [1 / 16, 10 / 16, 5 / 16], atol=1e-7)
    # 2x2 without a saddle point, [[a, b], [c, d]] = [[2, -1], [-1, 1]]:
    # v = (ad - bc) / (a + d - b - c) = 1/5, x_1 = (d - c) / 5 = 2/5, y_1 = (d - b) / 5 = 2/5.
    sol = solve_zero_sum([[2.0, -1.0], [-1.0, 1.0]])
    assert sol.value == pytest.approx(0.2, abs=1e-9)
    np.testing.assert_allclose(sol.x, [0.4, 0.6], atol=1e-9)
    np.testing.assert_allclose(sol.y, [0.4, 0.6], atol=1e-9)
    # A constant-sum game gives the same strategies, value of payoffs[0].
    shifted = NormalFormGame.create(np.stack([[[2.0, -1.0], [-1.0, 1.0]], [[3, 6], [6, 4.0]]]))
    assert solve_zero_sum(shifted).value == pytest.approx(0.2, abs=1e-6)


def test_zero_sum_rejects_bad_games():
    with pytest.raises(ValueError, match="zero-sum"):
        solve_zero_sum(prisoners_dilemma())
    with pytest.raises(ValueError, match="num_players"):
        solve_zero_sum(NormalFormGame.create(np.zeros((3, 2, 2, 2))))
    with pytest.raises(ValueError, match="game_or_matrix"):
        solve_zero_sum([[1.0, np.nan]])
    with pytest.raises(ValueError, match="game_or_matrix"):
        solve_zero_sum([1.0, 2.0])
    with pytest.raises(ValueError, match="game"):
        solve_zero_sum([[[1, 2], [3]], [[1, 2], [3, 4]]])  # ragged


# --- correlated equilibria -----------------------------------------------------------


def test_chicken_correlated_equilibria_closed_forms():
    # CE constraints of chicken (p_dc = p(dare, chicken) etc.):
    #   2 p_cd >= p_cc, p_dc >= 2 p_dd (row), 2 p_dc >= p_cc, p_cd >= 2 p_dd (column).
    # Welfare = 9 (p_dc + p_cd) + 12 p_cc = 9 - 9 p_dd + 3 p_cc.
    # Max: p_dd = 0, p_cc = 2 p_dc = 2 p_cd -> (0, 1/4; 1/4, 1/2), welfare 10.5.
    best = correlated_equilibrium(CHICKEN)
    assert best.value == pytest.approx(10.5, abs=1e-7)
    np.testing.assert_allclose(best.distribution, [[0.0, 0.25], [0.25, 0.5]], atol=1e-7)
    # Min: p_cc = 0, p_dd as large as p_dc = p_cd = 2 p_dd allow -> p_dd = 1/5, welfare 36/5.
    worst = correlated_equilibrium(CHICKEN, maximise=False)
    assert worst.value == pytest.approx(7.2, abs=1e-7)
    np.testing.assert_allclose(worst.distribution, [[0.2, 0.4], [0.4, 0.0]], atol=1e-7)
    # Mixed Nash: chicken with probability 2/3 (7 p = 2 + 4 p), payoff 14/3 each:
    # welfare 28/3 ~ 9.33, strictly inside [7.2, 10.5].
    assert worst.value < 28 / 3 < best.value
    # Two actions each: the coarse constraints are the correlated ones.
    assert coarse_correlated_equilibrium(CHICKEN).value == pytest.approx(10.5, abs=1e-7)


def test_objective_array_and_minimise():
    bos = battle_of_the_sexes()
    u = np.asarray(bos.payoffs, dtype=float)
    # The row player's best CE is (Bach, Bach), payoff 3; its worst is the mixed Nash's 6/5
    # (the worst CE payoff of a 2x2 coordination game is the mixed equilibrium's).
    assert correlated_equilibrium(bos, objective=u[0]).value == pytest.approx(3.0, abs=1e-7)
    assert correlated_equilibrium(bos, u[0], maximise=False).value == pytest.approx(1.2, abs=1e-7)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 2)])
def test_correlated_constraints_hold_and_cce_dominates(shape):
    rng = np.random.default_rng(len(shape))
    gaps = []
    for _ in range(4):
        u = rng.integers(-5, 6, size=(len(shape), *shape)).astype(float)
        ce = correlated_equilibrium(u)
        cce = coarse_correlated_equilibrium(u)
        for sol in (ce, cce):
            assert sol.distribution.shape == shape
            assert sol.distribution.min() >= 0
            assert sol.distribution.sum() == pytest.approx(1.0, abs=1e-9)
            assert sol.value == pytest.approx((u.sum(0) * sol.distribution).sum(), abs=1e-9)
        assert max_violation(u, ce.distribution, coarse=False) <= 1e-7
        assert max_violation(u, cce.distribution, coarse=True) <= 1e-7
        # every CE is a CCE, so the best CCE welfare is at least the best CE welfare
        assert cce.value >= ce.value - 1e-7
        gaps.append(cce.value - ce.value)
    if shape == (3, 3):
        assert max(gaps) > 1e-3  # some of these games separate the two polytopes


def test_nash_product_is_a_correlated_equilibrium():
    # BoS mixed Nash (3/5, 2/5), (2/5, 3/5); MP (1/2, 1/2); chicken (1/3, 2/3) each.
    cases = [
        (np.asarray(battle_of_the_sexes().payoffs, float), [0.6, 0.4], [0.4, 0.6]),
        (np.asarray(matching_pennies().payoffs, float), [0.5, 0.5], [0.5, 0.5]),
        (CHICKEN, [1 / 3, 2 / 3], [1 / 3, 2 / 3]),
    ]
    for u, x, y in cases:
        p = np.outer(x, y)
        assert max_violation(u, p, coarse=False) <= 1e-12
        welfare = (u.sum(0) * p).sum()
        assert correlated_equilibrium(u, maximise=False).value <= welfare + 1e-7
        assert correlated_equilibrium(u).value >= welfare - 1e-7


@pytest.mark.parametrize("make", [rock_paper_scissors, biased_rock_paper_scissors])
def test_every_cce_of_a_zero_sum_game_pays_the_value(make):
    # In a two-player zero-sum game every coarse correlated equilibrium gives the
    # row player exactly the value (0 here): maximising and minimising agree.
    u = np.asarray(make().payoffs, float)
    hi = coarse_correlated_equilibrium(u, objective=u[0])
    lo = coarse_correlated_equilibrium(u, objective=u[0], maximise=False)
    assert hi.value == pytest.approx(0.0, abs=1e-7)
    assert lo.value == pytest.approx(0.0, abs=1e-7)


def test_correlated_bad_input():
    with pytest.raises(ValueError, match="objective"):
        correlated_equilibrium(CHICKEN, objective="utilitarian")
    with pytest.raises(ValueError, match=r"objective\.shape"):
        correlated_equilibrium(CHICKEN, objective=np.ones(3))
    with pytest.raises(ValueError, match="maximise"):
        coarse_correlated_equilibrium(CHICKEN, maximise="yes")
    with pytest.raises(ValueError, match="non-finite"):
        correlated_equilibrium(np.full((2, 2, 2), np.inf))
