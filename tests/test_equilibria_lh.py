"""Lemke-Howson against nashpy (an independent integer-pivoting implementation),
closed forms and NashConv, on nondegenerate and degenerate games."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games import battle_of_the_sexes, matching_pennies, prisoners_dilemma
from detente.solvers.equilibria.lemke_howson import lemke_howson

# Every label of every game in a batch, one compiled program per shape.
solve_all = jax.jit(jax.vmap(jax.vmap(lemke_howson, in_axes=(None, 0)), in_axes=(0, None)))


BATCH = 8  # games per call: equal batches share one compiled program per shape


def all_labels(u):
    """``u`` [G, 2, m, n] float64 -> LemkeHowsonResult with leading [G, m + n]."""
    m, n = u.shape[2:]
    return solve_all(jnp.asarray(u), jnp.arange(m + n))


def max_nash_conv(u, res):
    """Largest NashConv over games and labels, in numpy: sum of best-deviation gains."""
    x, y = np.asarray(res.x), np.asarray(res.y)  # [G, K, m], [G, K, n]
    a, b = u[:, 0], u[:, 1]  # [G, m, n]
    ay = np.einsum("gmn,gkn->gkm", a, y)  # row payoffs of each pure row
    xb = np.einsum("gkm,gmn->gkn", x, b)  # column payoffs of each pure column
    gain_x = ay.max(-1) - np.einsum("gkm,gkm->gk", x, ay)
    gain_y = xb.max(-1) - np.einsum("gkn,gkn->gk", y, xb)
    return float((gain_x + gain_y).max())


@pytest.mark.parametrize("shape", [(3, 3), (4, 6)])
def test_matches_nashpy_on_random_nondegenerate_games(shape):
    nash = pytest.importorskip("nashpy")
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    u = rng.standard_normal((BATCH, 2, *shape))  # Gaussian games are nondegenerate a.s.
    with jax.enable_x64(True):
        res = all_labels(u)
        assert bool(res.converged.all())
        assert max_nash_conv(u, res) < 1e-9
    for g in range(u.shape[0]):
        game = nash.Game(u[g, 0], u[g, 1])
        for k in range(sum(shape)):
            x, y = game.lemke_howson(initial_dropped_label=k)
            np.testing.assert_allclose(res.x[g, k], x, atol=1e-6)
            np.testing.assert_allclose(res.y[g, k], y, atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 8)])
def test_results_are_accessible_equilibria_per_gambit(shape):
    # nashpy's float "integer pivoting" overflows on paths this long (NaN, or an
    # endless loop), so the oracle here is Gambit's exact (rational) lcp_solve,
    # which returns every equilibrium reachable by Lemke-Howson paths from the
    # artificial equilibrium (Shapley 1974's accessible set): each label's
    # result must be one of them.
    gbt = pytest.importorskip("pygambit")
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    u = np.round(1000 * rng.standard_normal((BATCH, 2, *shape)))  # integers for exact rationals
    with jax.enable_x64(True):
        res = all_labels(u)
        assert bool(res.converged.all())
        assert max_nash_conv(u, res) < 1e-9
    for g in range(BATCH):
        game = gbt.Game.from_arrays(u[g, 0].astype(int).tolist(), u[g, 1].astype(int).tolist())
        players = list(game.players)
        accessible = [
            [np.array([float(e[s]) for s in p.strategies]) for p in players]
            for e in gbt.nash.lcp_solve(game, rational=True).equilibria
        ]
        for k in range(sum(shape)):
            assert any(
                np.allclose(res.x[g, k], x, atol=1e-9) and np.allclose(res.y[g, k], y, atol=1e-9)
                for x, y in accessible
            ), (g, k)


def test_von_stengel_example_equilibria():
    # The 3x2 example of von Stengel (Nisan et al., "Algorithmic Game Theory",
    # 2007, ch. 3): A = [[3, 3], [2, 5], [0, 6]], B = [[3, 2], [2, 6], [3, 1]],
    # equilibria ((1,0,0),(1,0)), ((4/5,1/5,0),(2/3,1/3)), ((0,1/3,2/3),(1/3,2/3)).
    # The middle one has index -1, and Lemke-Howson never ends there from the
    # artificial equilibrium; label 0 (row 0 becomes a best response) gives the pure one.
    u = np.array([[[3, 3], [2, 5], [0, 6]], [[3, 2], [2, 6], [3, 1]]], float)[None]
    eqs = [([1, 0, 0], [1, 0]), ([0, 1 / 3, 2 / 3], [1 / 3, 2 / 3])]
    with jax.enable_x64(True):
        res = all_labels(u)
    found = set()
    for k in range(5):
        hits = [
            e
            for e, (x, y) in enumerate(eqs)
            if np.allclose(res.x[0, k], x, atol=1e-9) and np.allclose(res.y[0, k], y, atol=1e-9)
        ]
        assert len(hits) == 1, (k, res.x[0, k], res.y[0, k])
        found.add(hits[0])
    assert found == {0, 1}
    np.testing.assert_allclose(res.x[0, 0], [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(res.y[0, 0], [1, 0], atol=1e-9)


@pytest.mark.parametrize(
    "u",
    [
        # von Stengel's degenerate variant: B's first row ties, (1,0,0) has two best responses
        np.array([[[3, 3], [2, 5], [0, 6]], [[3, 3], [2, 6], [3, 1]]], float),
        np.zeros((2, 3, 2)),  # every profile is an equilibrium
        np.stack([np.eye(3)[:, :2], np.eye(3)[:, :2]]),  # coordination with an idle row
    ],
    ids=["von_stengel_degenerate", "constant", "coordination"],
)
def test_degenerate_games_terminate_at_equilibria(u):
    with jax.enable_x64(True):
        res = all_labels(u[None])
        assert bool(res.converged.all())
        assert max_nash_conv(u[None], res) < 1e-12


def test_random_degenerate_integer_games():
    # Payoffs in {0, 1, 2} tie everywhere; the lexicographic rule must not cycle.
    rng = np.random.default_rng(5)
    for _ in range(5):
        u = rng.integers(0, 3, size=(BATCH, 2, 3, 3)).astype(float)
        with jax.enable_x64(True):
            res = all_labels(u)
            assert bool(res.converged.all())
            assert max_nash_conv(u, res) < 1e-9
            assert int(res.num_pivots.max()) < 100


def small_games():
    """Matching pennies, battle of the sexes and LOLA's PD, float32 [3, 2, 2, 2]."""
    games = (matching_pennies(), battle_of_the_sexes(), prisoners_dilemma())
    return jnp.stack([g.payoffs for g in games])


def test_small_games_float32():
    # Matching pennies: every label reaches (1/2, 1/2); BoS label 0 -> (B, B), 1 -> (S, S);
    # PD -> (D, D) from every label. Default float32.
    res = solve_all(small_games(), jnp.arange(4))
    assert res.x.dtype == jnp.float32
    assert bool(res.converged.all())
    np.testing.assert_allclose(res.x[0], np.full((4, 2), 0.5), atol=1e-6)
    np.testing.assert_allclose(res.y[0], np.full((4, 2), 0.5), atol=1e-6)
    np.testing.assert_allclose(res.x[1, :2], [[1, 0], [0, 1]], atol=1e-6)
    np.testing.assert_allclose(res.y[1, :2], [[1, 0], [0, 1]], atol=1e-6)
    np.testing.assert_allclose(res.x[2], np.tile([0.0, 1.0], (4, 1)), atol=1e-6)
    np.testing.assert_allclose(res.y[2], np.tile([0.0, 1.0], (4, 1)), atol=1e-6)


def test_pivot_budget_and_traced_labels():
    # Every path takes at least two pivots (the dropped label cannot leave at once).
    res = lemke_howson(matching_pennies(), 0, max_pivots=1)
    assert not bool(res.converged) and int(res.num_pivots) == 1
    # A traced label out of range cannot raise: NaN strategies, converged False.
    res = solve_all(small_games(), jnp.array([1, 4, -1, 0]))
    np.testing.assert_array_equal(res.converged, [[True, False, False, True]] * 3)
    assert np.isnan(np.asarray(res.x[:, 1:3])).all()
    assert not np.isnan(np.asarray(res.x[:, ::3])).any()


def test_bad_input():
    mp = matching_pennies()
    for label in (-1, 4, 1.5, "0", [0]):
        with pytest.raises(ValueError, match="initial_dropped_label"):
            lemke_howson(mp, label)
    with pytest.raises(ValueError, match="two-player"):
        lemke_howson(np.zeros((3, 2, 2, 2)), 0)
    with pytest.raises(ValueError, match="non-finite"):
        lemke_howson(np.full((2, 2, 2), np.nan), 0)
    with pytest.raises(ValueError, match="max_pivots"):
        lemke_howson(mp, 0, max_pivots=0)
