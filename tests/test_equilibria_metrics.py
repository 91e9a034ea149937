"""Metrics of a strategy profile, checked against closed forms and brute-force loops."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games import (
    battle_of_the_sexes,
    biased_rock_paper_scissors,
    matching_pennies,
    prisoners_dilemma,
    rock_paper_scissors,
)
from detente.solvers.equilibria.metrics import (
    best_response_values,
    best_responses,
    coarse_correlated_gap,
    correlated_gap,
    deviation_payoffs,
    expected_payoffs,
    exploitability,
    nash_conv,
    price_of_anarchy,
    price_of_stability,
    social_welfare,
)

# Textbook chicken (Aumann 1974's example as in most lecture notes); action 0 = dare, 1 = chicken.
# (dare, dare) = (0, 0), (dare, chicken) = (7, 2), (chicken, dare) = (2, 7), (chicken, chicken) = (6, 6).
CHICKEN = np.stack([np.array([[0.0, 7.0], [2.0, 6.0]]), np.array([[0.0, 2.0], [7.0, 6.0]])])


def brute_expected(u, strategies):
    """sum_a u[:, a] prod_i s_i(a_i), by an explicit loop over joint actions."""
    out = np.zeros(u.shape[0])
    for a in itertools.product(*(range(k) for k in u.shape[1:])):
        out += u[(slice(None), *a)] * np.prod([s[ai] for s, ai in zip(strategies, a, strict=True)])
    return out


def random_profile(rng, shape):
    return [rng.dirichlet(np.ones(k)) for k in shape]


# --- NashConv: zero at equilibria, known values elsewhere -----------------------

EQUILIBRIA = [
    (matching_pennies, [[0.5, 0.5], [0.5, 0.5]]),
    (rock_paper_scissors, [[1 / 3] * 3, [1 / 3] * 3]),
    (biased_rock_paper_scissors, [[1 / 16, 10 / 16, 5 / 16]] * 2),
    (battle_of_the_sexes, [[1.0, 0.0], [1.0, 0.0]]),
    (battle_of_the_sexes, [[0.0, 1.0], [0.0, 1.0]]),
    # mixed BoS: the column player's 2/5 on Bach makes 3 q = 2 (1 - q); the row's 3/5 makes 2 p = 3 (1 - p)
    (battle_of_the_sexes, [[3 / 5, 2 / 5], [2 / 5, 3 / 5]]),
    (prisoners_dilemma, [[0.0, 1.0], [0.0, 1.0]]),
]


@pytest.mark.parametrize("make, profile", EQUILIBRIA)
def test_nash_conv_zero_at_equilibria(make, profile):
    with jax.enable_x64(True):
        game = make()
        u = np.asarray(game.payoffs, dtype=np.float64)
        assert float(nash_conv(u, profile)) == pytest.approx(0.0, abs=1e-12)
        assert float(exploitability(u, profile)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("make, profile", EQUILIBRIA)
def test_nash_conv_positive_after_perturbation(make, profile):
    # Perturb one player's strategy towards a non-best-response direction: the
    # other player (or the perturbed one) gains by deviating. All these
    # equilibria are strict or the unique equilibrium, so NashConv must rise.
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        u = np.asarray(make().payoffs, dtype=np.float64)
        for _ in range(5):
            noisy = [0.8 * np.asarray(s) + 0.2 * rng.dirichlet(np.ones(len(s))) for s in profile]
            assert float(nash_conv(u, noisy)) > 1e-9


def test_nash_conv_closed_forms():
    # Matching pennies, x = (0.6, 0.4), y = (1/2, 1/2): the row player has no
    # gain (both actions pay 0); the column player gets -0.2 from heads and 0.2
    # from tails, 0 now: NashConv 0.2, exploitability 0.1.
    mp = matching_pennies()
    assert float(nash_conv(mp, [[0.6, 0.4], [0.5, 0.5]])) == pytest.approx(0.2, abs=1e-6)
    assert float(exploitability(mp, [[0.6, 0.4], [0.5, 0.5]])) == pytest.approx(0.1, abs=1e-6)
    # LOLA's PD at (C, C): each gets -1, defecting gets 0: NashConv 2.
    assert float(nash_conv(prisoners_dilemma(), [[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(2.0)
    # RPS, rock against uniform: the column player gains 1 by paper.
    rps = rock_paper_scissors()
    assert float(nash_conv(rps, [[1.0, 0.0, 0.0], [1 / 3] * 3])) == pytest.approx(1.0, abs=1e-6)


def test_exploitability_is_half_the_zero_sum_best_response_gap():
    rng = np.random.default_rng(1)
    for _ in range(5):
        a = rng.standard_normal((3, 4))
        x, y = rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(4))
        expected = 0.5 * ((a @ y).max() - (x @ a).min())
        with jax.enable_x64(True):
            got = float(exploitability(np.stack([a, -a]), [x, y]))
        assert got == pytest.approx(expected, abs=1e-12)


# --- payoffs and best responses against loops ----------------------------------


def test_expected_and_deviation_payoffs_match_loops_three_players():
    rng = np.random.default_rng(2)
    u = rng.standard_normal((3, 2, 3, 4))
    s = random_profile(rng, (2, 3, 4))
    with jax.enable_x64(True):
        np.testing.assert_allclose(expected_payoffs(u, s), brute_expected(u, s), atol=1e-12)
        devs = deviation_payoffs(u, s)
        for i in range(3):
            for a in range(u.shape[i + 1]):
                pure = list(s)
                pure[i] = np.eye(u.shape[i + 1])[a]
                assert float(devs[i][a]) == pytest.approx(brute_expected(u, pure)[i], abs=1e-12)
        np.testing.assert_allclose(best_response_values(u, s), [d.max() for d in devs], atol=1e-12)
        assert float(social_welfare(u, s)) == pytest.approx(brute_expected(u, s).sum(), abs=1e-12)


def test_stacked_profile_equals_tuple_profile():
    rng = np.random.default_rng(3)
    u = rng.standard_normal((2, 3, 3))
    s = random_profile(rng, (3, 3))
    assert float(nash_conv(u, np.stack(s))) == pytest.approx(float(nash_conv(u, s)), abs=1e-6)


def test_best_responses_battle_of_the_sexes():
    bos = battle_of_the_sexes()
    # Against y = (2/5, 3/5) the row player is indifferent: both actions pay 6/5.
    br = best_responses(bos, [[1.0, 0.0], [0.4, 0.6]])
    np.testing.assert_array_equal(br.pure[0], [True, True])
    np.testing.assert_allclose(br.mixed[0], [0.5, 0.5])
    # The column player answers Bach with Bach (2 > 0).
    np.testing.assert_array_equal(br.pure[1], [True, False])
    np.testing.assert_allclose(br.values, [1.2, 2.0], atol=1e-6)


def test_vmap_and_jit_over_games_and_profiles():
    rng = np.random.default_rng(4)
    u = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    xs = rng.dirichlet(np.ones(3), size=6).astype(np.float32)
    ys = rng.dirichlet(np.ones(3), size=6).astype(np.float32)
    batched = jax.jit(jax.vmap(nash_conv))(jnp.asarray(u), (jnp.asarray(xs), jnp.asarray(ys)))
    looped = [float(nash_conv(u[b], [xs[b], ys[b]])) for b in range(6)]
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-6)
    stacked = jax.vmap(exploitability)(jnp.asarray(u), jnp.stack([xs, ys], axis=1))
    np.testing.assert_allclose(stacked, np.asarray(looped) / 2, rtol=1e-5, atol=1e-6)


# --- correlated gaps -------------------------------------------------------------


def test_correlated_gaps_chicken():
    # Aumann's CE of chicken, 1/4 (dare, chicken), 1/4 (chicken, dare), 1/2 (chicken, chicken).
    ce = np.array([[0.0, 0.25], [0.25, 0.5]])
    assert float(correlated_gap(CHICKEN, ce)) == pytest.approx(0.0, abs=1e-6)
    # Uniform: told "dare", the row player gets 0/4 + 7/4 but 2/4 + 6/4 = 2 by
    # chickening: gain 1/4. With two actions the coarse constraint is the same
    # (committing to chicken: E[u(C, a_2)] = 4 against E[u] = 15/4).
    uniform = np.full((2, 2), 0.25)
    assert float(correlated_gap(CHICKEN, uniform)) == pytest.approx(0.25, abs=1e-6)
    assert float(coarse_correlated_gap(CHICKEN, uniform)) == pytest.approx(0.25, abs=1e-6)
    # Product of the mixed Nash equilibrium (2/3 on chicken each) is a CE.
    p = np.array([1 / 3, 2 / 3])
    assert float(correlated_gap(CHICKEN, np.outer(p, p))) == pytest.approx(0.0, abs=1e-6)


def test_correlated_gaps_rps_diagonal_is_coarse_but_not_correlated():
    # RPS with 1/3 on each tie (R,R), (P,P), (S,S): every player gets 0, and any
    # fixed action also averages 0 against the uniform marginal: a CCE. Told
    # "rock", the row player knows the other plays rock, and paper wins 1 with
    # probability 1/3: the correlated gap is 1/3.
    diag = np.eye(3) / 3
    assert float(coarse_correlated_gap(rock_paper_scissors(), diag)) == pytest.approx(0, abs=1e-6)
    assert float(correlated_gap(rock_paper_scissors(), diag)) == pytest.approx(1 / 3, abs=1e-6)


# --- welfare ratios ---------------------------------------------------------------


def test_price_of_anarchy_and_stability_closed_forms():
    # Axelrod's PD: optimum 6 at (C, C), the only equilibrium (D, D) has welfare 2.
    pd = prisoners_dilemma("textbook")
    assert price_of_anarchy(pd, np.array([[1, 1]])) == pytest.approx(3.0)
    assert price_of_stability(pd, [[[0.0, 1.0], [0.0, 1.0]]]) == pytest.approx(3.0)
    # Chicken: optimum 12; pure equilibria welfare 9, the mixed one 2 * 14/3 = 28/3.
    eqs = [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]], [[1 / 3, 2 / 3], [1 / 3, 2 / 3]]]
    assert price_of_anarchy(CHICKEN, eqs) == pytest.approx(12 / 9, rel=1e-12)
    assert price_of_stability(CHICKEN, eqs) == pytest.approx(12 / (28 / 3), rel=1e-12)
    # BoS: optimum 5 = the pure equilibria; the mixed one pays 6/5 each.
    bos = battle_of_the_sexes()
    bos_eqs = [[[1.0, 0.0], [1.0, 0.0]], [[3 / 5, 2 / 5], [2 / 5, 3 / 5]]]
    assert price_of_anarchy(bos, bos_eqs) == pytest.approx(5 / 2.4, rel=1e-6)
    assert price_of_stability(bos, bos_eqs) == pytest.approx(1.0)


def test_price_of_anarchy_rejects_non_positive_welfare_and_no_equilibria():
    with pytest.raises(ValueError, match="welfare"):
        price_of_anarchy(prisoners_dilemma(), np.array([[1, 1]]))  # LOLA's PD: all negative
    with pytest.raises(ValueError, match="equilibria"):
        price_of_stability(CHICKEN, [])
    with pytest.raises(ValueError, match="equilibria"):
        price_of_anarchy(CHICKEN, np.zeros((0, 2), int))
    with pytest.raises(ValueError, match="equilibria"):
        price_of_anarchy(CHICKEN, np.array([[0, 2]]))


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "profile, field",
    [
        ([[0.5, 0.6], [0.5, 0.5]], r"profile\[0\]"),  # sums to 1.1
        ([[0.0, 0.0], [0.5, 0.5]], r"profile\[0\]"),  # the zero strategy
        ([[1.5, -0.5], [0.5, 0.5]], r"profile\[0\]"),  # negative
        ([[0.5, 0.5], [0.2, 0.3, 0.5]], r"profile\[1\]\.shape"),  # wrong length
        ([[0.5, 0.5]], r"len\(profile\)"),  # one strategy for two players
        ([[np.nan, 1.0], [0.5, 0.5]], r"profile\[0\]"),
    ],
)
def test_bad_profiles(profile, field):
    with pytest.raises(ValueError, match=field):
        nash_conv(matching_pennies(), profile)


def test_bad_payoffs():
    with pytest.raises(ValueError, match="game"):
        nash_conv([[[1, 2], [3]], [[1, 2], [3, 4]]], [[0.5, 0.5], [0.5, 0.5]])  # ragged
    with pytest.raises(ValueError, match="non-finite"):
        nash_conv(np.full((2, 2, 2), np.nan), [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="tol"):
        best_responses(matching_pennies(), [[0.5, 0.5], [0.5, 0.5]], tol=-1.0)
    with pytest.raises(ValueError, match="joint"):
        correlated_gap(CHICKEN, np.full((2, 2), 0.3))
