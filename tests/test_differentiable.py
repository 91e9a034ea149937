"""Differentiable games against closed forms and Monte-Carlo rollouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games import (
    NormalFormGame,
    chicken,
    iterated,
    make_differentiable,
    matching_pennies,
    one_shot,
    prisoners_dilemma,
    solve_diagonally_dominant,
    stag_hunt,
    state_distribution,
    tandem,
    ultimatum,
)
from detente.games.differentiable import DIFFERENTIABLE_GAMES


def _rollout_values(payoffs, gamma, t1, t2, episodes, rng):
    """Monte-Carlo discounted returns of memory-1 policies (own-view logits)."""
    sig = lambda x: 1 / (1 + np.exp(-np.asarray(x, float)))
    q = np.array([sig(t1[0]), sig(t2[0])])
    p1 = sig(t1[1:])  # own view (my last, opp last)
    p2 = sig(t2[1:])
    horizon = int(np.ceil(np.log(1e-7) / np.log(gamma)))
    a1 = (rng.random(episodes) >= q[0]).astype(int)  # 0 = C
    a2 = (rng.random(episodes) >= q[1]).astype(int)
    ret = np.zeros((2, episodes))
    disc = 1.0
    for _ in range(horizon):
        ret += disc * payoffs[:, a1, a2]
        disc *= gamma
        s1 = 2 * a1 + a2  # player 1's own view
        s2 = 2 * a2 + a1  # player 2's own view
        a1, a2 = (
            (rng.random(episodes) >= p1[s1]).astype(int),
            (rng.random(episodes) >= p2[s2]).astype(int),
        )
    return ret.mean(1), ret.std(1) / np.sqrt(episodes)


@pytest.mark.parametrize("stage", [prisoners_dilemma, matching_pennies, chicken, stag_hunt])
def test_iterated_value_matches_monte_carlo(stage):
    gamma = 0.9
    game = iterated(stage(), gamma)
    rng = np.random.default_rng(0)
    t1, t2 = rng.normal(size=5), rng.normal(size=5)
    exact = np.asarray(game.values((jnp.asarray(t1), jnp.asarray(t2))))
    mc, se = _rollout_values(np.asarray(stage().payoffs), gamma, t1, t2, 40_000, rng)
    assert np.all(np.abs(exact - mc) < 4 * se + 1e-6), (exact, mc, se)


def test_iterated_value_matches_matrix_inverse_and_per_step_scale():
    game = make_differentiable("ipd")
    key = jax.random.PRNGKey(3)
    t1, t2 = jax.random.normal(key, (2, 5))
    x = state_distribution(game.params, (t1, t2))
    assert np.isclose(float(x.sum()), 1 / (1 - 0.96), rtol=1e-5)
    # independent closed form with a dense inverse, joint-state order
    s = jax.nn.sigmoid
    p1 = s(t1[1:])
    p2 = s(t2[1:])[jnp.array([0, 2, 1, 3])]
    q1, q2 = s(t1[0]), s(t2[0])
    p0 = jnp.array([q1 * q2, q1 * (1 - q2), (1 - q1) * q2, (1 - q1) * (1 - q2)])
    P = jnp.stack([p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)], 1)
    M = np.linalg.inv(np.eye(4) - 0.96 * np.asarray(P, float))
    r = np.asarray(prisoners_dilemma().payoffs).reshape(2, 4)
    v = np.asarray(p0, float) @ M @ r.T
    np.testing.assert_allclose(game.values((t1, t2)), v, rtol=1e-4)
    per_step = game.values((t1, t2)) * game.step_scale
    assert np.all(per_step <= 0.0) and np.all(per_step >= -3.0)


def test_solve_diagonally_dominant_matches_numpy():
    rng = np.random.default_rng(1)
    for n in (2, 4, 7):
        A = rng.normal(size=(n, n))
        A += np.diag(np.abs(A).sum(1) + 0.1)
        b = rng.normal(size=n)
        np.testing.assert_allclose(
            solve_diagonally_dominant(jnp.asarray(A), jnp.asarray(b)),
            np.linalg.solve(A, b),
            rtol=1e-4,
            atol=1e-5,
        )


def test_general_small_solvers_match_numpy():
    from detente.linalg import solve_rolled, solve_small

    rng = np.random.default_rng(2)
    for n in (1, 3, 6):
        A = rng.normal(size=(n, n))
        if n > 1:
            A[0, 0] = 0.0  # needs pivoting
        b = rng.normal(size=n)
        for solve in (solve_small, solve_rolled):
            np.testing.assert_allclose(
                solve(jnp.asarray(A), jnp.asarray(b)), np.linalg.solve(A, b), rtol=1e-4, atol=1e-4
            )


def test_iterated_known_policies():
    """Always-cooperate vs always-cooperate earns R per step; TFT vs all-D earns ~P."""
    game = make_differentiable("ipd")
    big = 30.0
    allc = jnp.full(5, big)
    alld = jnp.full(5, -big)
    tft = jnp.array([big, big, -big, big, -big])  # start C; copy opponent's last action
    per = lambda a, b: np.asarray(game.values((a, b)) * game.step_scale)
    np.testing.assert_allclose(per(allc, allc), [-1, -1], atol=1e-5)
    np.testing.assert_allclose(per(alld, alld), [-2, -2], atol=1e-5)
    # TFT vs all-D: sucker once, then mutual defection
    expected_tft = (1 - 0.96) * (-3 + 0.96 * -2 / (1 - 0.96))
    np.testing.assert_allclose(per(tft, alld)[0], expected_tft, atol=1e-4)
    # own view: swapping seats swaps values
    np.testing.assert_allclose(per(alld, tft)[::-1], per(tft, alld), atol=1e-5)


def test_one_shot_values():
    mp = one_shot(matching_pennies())
    v = mp.values((jnp.array([0.3]), jnp.array([-1.2])))
    p, q = jax.nn.sigmoid(0.3), jax.nn.sigmoid(-1.2)
    v1 = p * q - p * (1 - q) - (1 - p) * q + (1 - p) * (1 - q)
    np.testing.assert_allclose(v, [v1, -v1], rtol=1e-5)
    rps = make_differentiable("rock_paper_scissors")
    np.testing.assert_allclose(rps.values((jnp.zeros(3), jnp.zeros(3))), [0, 0], atol=1e-6)


def test_polynomial_games():
    x, y = 0.4, -1.3
    L1, L2 = (x + y) ** 2 - 2 * x, (x + y) ** 2 - 2 * y
    np.testing.assert_allclose(
        tandem().losses((jnp.array([x]), jnp.array([y]))), [L1, L2], rtol=1e-5
    )
    np.testing.assert_allclose(
        make_differentiable("balduzzi").losses((jnp.array([x]), jnp.array([y]))),
        [0.5 * x * x + 10 * x * y, 0.5 * y * y - 10 * x * y],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        make_differentiable("hamiltonian").losses((jnp.array([x]), jnp.array([y]))),
        [x * y, -x * y],
        rtol=1e-5,
    )
    u = ultimatum().values((jnp.array([50.0]), jnp.array([0.0])))  # always fair
    np.testing.assert_allclose(u, [5.0, 5.0], rtol=1e-5)


def test_vmap_over_games_and_no_recompile():
    gammas = jnp.array([0.5, 0.9, 0.96])
    base = make_differentiable("ipd")
    games = jax.vmap(lambda g: base.replace(params={**base.params, "gamma": g}, step_scale=1 - g))(
        gammas
    )
    th = (jnp.ones(5), -jnp.ones(5))
    traces = []

    @jax.jit
    def per_step(game):
        traces.append(1)
        return game.values(th) * game.step_scale

    batched = jax.vmap(per_step)(games)
    for k, g in enumerate(gammas):
        single = iterated(prisoners_dilemma(), float(g))
        np.testing.assert_allclose(batched[k], single.values(th) * single.step_scale, rtol=1e-5)
    per_step(iterated(prisoners_dilemma(), 0.3))
    per_step(iterated(prisoners_dilemma(), 0.7))
    assert len(traces) == 1  # one trace serves the batch and every single game of this shape


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE_GAMES))
def test_registry_conformance(name):
    game = make_differentiable(name)
    th = tuple(jnp.linspace(-0.5, 0.5, d) for d in game.dims)
    v = game.values(th)
    assert v.shape == (game.num_players,) and np.all(np.isfinite(v))
    grads = jax.grad(lambda t: game.values(t).sum())(th)
    assert all(g.shape == t.shape for g, t in zip(grads, th, strict=True))
    pol = game.policies(th)
    assert len(pol) == game.num_players and len(game.policy_labels) == np.shape(pol[0])[-1]


def test_bad_inputs():
    with pytest.raises(ValueError, match="gamma"):
        iterated(prisoners_dilemma(), 1.0)
    with pytest.raises(ValueError, match="num_actions"):
        iterated(NormalFormGame.create(np.zeros((2, 3, 3))))
    with pytest.raises(ValueError, match="policy"):
        one_shot(NormalFormGame.create(np.zeros((2, 3, 3))), "sigmoid")
    with pytest.raises(ValueError, match="game"):
        make_differentiable("no_such_game")
