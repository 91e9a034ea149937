"""The sampled iterated matrix game against hand-computed steps and the exact memory-1 value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.env import auto_reset
from detente.games import (
    NormalFormGame,
    chicken,
    iterated,
    matching_pennies,
    prisoners_dilemma,
    rock_paper_scissors,
    stag_hunt,
)
from detente.games.iterated_env import (
    FIXED_STRATEGIES,
    IteratedMatrixGame,
    IteratedParams,
    fixed_strategy,
    memory_one_action,
    rollout,
)

# own-view state indices
START, CC, CD, DC, DD = range(5)


def _ipd(gamma=0.96):
    return IteratedMatrixGame.params_from(prisoners_dilemma(), gamma)


def test_step_for_step_rewards_and_own_views():
    env = IteratedMatrixGame(num_steps=4)
    params = _ipd()
    ts = env.reset(jax.random.key(0), params)
    assert ts.obs.shape == (2, 5)
    np.testing.assert_array_equal(ts.obs, np.eye(5)[[START, START]])
    np.testing.assert_array_equal(ts.rewards, [0.0, 0.0])
    assert ts.action_mask.shape == (2, 2) and bool(ts.action_mask.all())
    assert int(ts.info["step"]) == 0 and not bool(ts.done)

    # (a_1, a_2), rewards in LOLA's IPD, player 1's view, player 2's view
    script = [
        ((0, 0), (-1.0, -1.0), CC, CC),
        ((0, 1), (-3.0, 0.0), CD, DC),  # 1 cooperated, 2 defected
        ((1, 0), (0.0, -3.0), DC, CD),  # 1 defected, 2 cooperated
        ((1, 1), (-2.0, -2.0), DD, DD),
    ]
    for t, (actions, rewards, view1, view2) in enumerate(script):
        ts = env.step(jax.random.key(t), ts.state, jnp.array(actions), params)
        np.testing.assert_array_equal(ts.rewards, rewards)
        np.testing.assert_array_equal(ts.obs, np.eye(5)[[view1, view2]])
        assert int(ts.info["step"]) == t + 1
        np.testing.assert_allclose(ts.info["discount"], 0.96**t, rtol=1e-6)
        assert not bool(ts.terminated)
        assert bool(ts.truncated) == (t == 3)
        assert bool(ts.action_mask.all())


def test_step_uses_payoffs_of_any_stage_game():
    # asymmetric payoffs: every entry distinct, so a swapped index would show
    payoffs = np.arange(8.0).reshape(2, 2, 2)
    params = IteratedMatrixGame.params_from(NormalFormGame.create(payoffs), 0.5)
    env = IteratedMatrixGame(num_steps=2)
    ts = env.reset(jax.random.key(0), params)
    for a1 in (0, 1):
        for a2 in (0, 1):
            out = env.step(jax.random.key(1), ts.state, jnp.array([a1, a2]), params)
            np.testing.assert_array_equal(out.rewards, payoffs[:, a1, a2])


def test_fixed_strategies_table():
    assert set(FIXED_STRATEGIES) == {
        "always_cooperate",
        "always_defect",
        "tit_for_tat",
        "grim",
        "random",
    }
    # (start, CC, CD, DC, DD), own last action first
    np.testing.assert_array_equal(fixed_strategy("tit_for_tat"), [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(fixed_strategy("grim"), [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(fixed_strategy("random"), [0.5] * 5)


def test_memory_one_action_reads_the_observed_state():
    probs = jnp.array([1.0, 0.0, 1.0, 0.0, 0.3])
    keys = jax.random.split(jax.random.key(3), 20_000)
    for s, p in enumerate(probs.tolist()):
        obs = jax.nn.one_hot(s, 5)
        acts = jax.vmap(memory_one_action, (0, None, None))(keys, probs, obs)
        coop = float(jnp.mean(acts == 0))
        if p in (0.0, 1.0):
            assert coop == p
        else:  # 20,000 draws: se = sqrt(.21 / 20000) ~ 0.0032
            assert abs(coop - p) < 4 * 0.0033


_roll = jax.jit(rollout, static_argnums=(0, 4))


def _play(name1, name2, num_steps=40):
    env = IteratedMatrixGame(num_steps=num_steps)
    pol = jnp.stack([fixed_strategy(name1), fixed_strategy(name2)])
    return _roll(env, _ipd(), pol, jax.random.key(0), 2)


def test_tft_vs_tft_cooperates_forever():
    out = _play("tit_for_tat", "tit_for_tat")
    np.testing.assert_array_equal(out.actions, 0)
    np.testing.assert_array_equal(out.rewards, -1.0)
    np.testing.assert_allclose(out.returns, -(1 - 0.96**40) / (1 - 0.96), rtol=1e-5)


def test_tft_vs_always_defect():
    out = _play("tit_for_tat", "always_defect")
    np.testing.assert_array_equal(out.rewards[:, 0], [[-3.0, 0.0]] * 2)
    np.testing.assert_array_equal(out.rewards[:, 1:], -2.0)
    expect = np.array([-3.0, 0.0]) - 2.0 * (0.96 - 0.96**40) / (1 - 0.96)
    np.testing.assert_allclose(out.returns, [expect] * 2, rtol=1e-5)


def test_grim_never_forgives_a_single_defection():
    env = IteratedMatrixGame(num_steps=30)
    params = _ipd()
    grim = fixed_strategy("grim")
    opponent = jnp.zeros(30, jnp.int32).at[5].set(1)  # cooperates, except once at t = 5

    def body(ts, x):
        k, a2 = x
        a1 = memory_one_action(k, grim, ts.obs[0])
        nxt = env.step(k, ts.state, jnp.stack([a1, a2]), params)
        return nxt, (a1, nxt.rewards)

    ts0 = env.reset(jax.random.key(0), params)
    _, (a1, rewards) = jax.lax.scan(body, ts0, (jax.random.split(jax.random.key(1), 30), opponent))
    np.testing.assert_array_equal(a1[:6], 0)
    np.testing.assert_array_equal(a1[6:], 1)
    np.testing.assert_array_equal(rewards[5], [-3.0, 0.0])
    np.testing.assert_array_equal(rewards[6:], np.tile([0.0, -3.0], (24, 1)))


# Monte-Carlo rollouts against the exact value V = p0^T (I - gamma P)^-1 r


def test_monte_carlo_matches_exact_memory_one_value():
    gamma, num_steps, episodes = 0.96, 400, 4096
    games = [prisoners_dilemma(), matching_pennies(), chicken(), stag_hunt()]
    params = jax.tree_util.tree_map(
        lambda *x: jnp.stack(x), *[IteratedMatrixGame.params_from(g, gamma) for g in games]
    )
    logits = jax.random.normal(jax.random.key(7), (len(games), 2, 5))
    env = IteratedMatrixGame(num_steps=num_steps)
    run = jax.jit(jax.vmap(lambda p, pol, k: rollout(env, p, pol, k, episodes).returns))
    keys = jax.random.split(jax.random.key(11), len(games))
    returns = np.asarray(run(params, jax.nn.sigmoid(logits), keys), np.float64)  # [G, E, 2]

    for g, game in enumerate(games):
        exact = np.asarray(iterated(game, gamma).values((logits[g, 0], logits[g, 1])))
        mean = returns[g].mean(0)
        se = returns[g].std(0, ddof=1) / np.sqrt(episodes)
        # truncation after num_steps steps changes the value by at most this
        tail = gamma**num_steps * float(np.abs(game.payoffs).max()) / (1 - gamma)
        assert np.all(se > 0), game.name
        assert np.all(np.abs(mean - exact) < 4 * se + tail + 1e-3), (game.name, mean, exact, se)


def test_exact_finite_horizon_value_by_enumeration():
    # independent of `iterated`: E[sum_t gamma^t r_t] over T = 3 steps, by a
    # numpy forward pass over the joint-state distribution
    gamma, T = 0.9, 3
    game = chicken()
    pay = np.asarray(game.payoffs, np.float64)
    probs = np.array([[0.9, 0.2, 0.7, 0.4, 0.6], [0.3, 0.8, 0.1, 0.5, 0.95]])
    swap = [0, 1, 3, 2, 4]
    dist = np.eye(5)[0]
    expect = np.zeros(2)
    for t in range(T):
        new = np.zeros(5)
        for j in range(5):
            c1, c2 = probs[0, j], probs[1, swap[j]]
            for a1 in (0, 1):
                for a2 in (0, 1):
                    w = dist[j] * (c1 if a1 == 0 else 1 - c1) * (c2 if a2 == 0 else 1 - c2)
                    expect += gamma**t * w * pay[:, a1, a2]
                    new[1 + 2 * a1 + a2] += w
        dist = new
    env = IteratedMatrixGame(num_steps=T)
    params = IteratedMatrixGame.params_from(game, gamma)
    ret = np.asarray(_roll(env, params, jnp.asarray(probs), jax.random.key(5), 50_000).returns)
    se = ret.std(0, ddof=1) / np.sqrt(len(ret))
    assert np.all(np.abs(ret.mean(0) - expect) < 4 * se + 1e-4), (ret.mean(0), expect, se)


# Batching and auto-reset


def test_vmap_over_games_compiles_once():
    env = IteratedMatrixGame(num_steps=5)
    traces = []

    def returns(p, k):
        traces.append(1)
        pol = jnp.stack([fixed_strategy("tit_for_tat"), fixed_strategy("always_defect")])
        return rollout(env, p, pol, k, 3).returns

    run = jax.jit(jax.vmap(returns))
    rng = np.random.default_rng(0)
    for _ in range(2):
        pay = rng.normal(size=(8, 2, 2, 2)).astype(np.float32)
        params = IteratedParams(payoffs=jnp.asarray(pay), gamma=jnp.linspace(0.1, 0.9, 8))
        out = np.asarray(run(params, jax.random.split(jax.random.key(0), 8)))
        # TFT vs AD: CD first, then DD for four steps
        g = np.asarray(params.gamma)[:, None]
        expect = pay[:, :, 0, 1] + pay[:, :, 1, 1] * (g + g**2 + g**3 + g**4)
        np.testing.assert_allclose(out, np.repeat(expect[:, None], 3, 1), rtol=1e-5, atol=1e-5)
    assert len(traces) == 1


def test_auto_reset_starts_a_new_episode():
    env = IteratedMatrixGame(num_steps=3)
    params = _ipd()
    step = jax.jit(auto_reset(env))
    ts = env.reset(jax.random.key(0), params)
    seen = []
    for t in range(7):
        ts = step(jax.random.key(t), ts.state, jnp.array([0, 1]), params)
        seen.append((bool(ts.truncated), int(ts.state.t), int(ts.obs[0].argmax())))
        np.testing.assert_array_equal(ts.rewards, [-3.0, 0.0])  # the finished step's rewards
    assert seen == [
        (False, 1, CD),
        (False, 2, CD),
        (True, 0, START),
        (False, 1, CD),
        (False, 2, CD),
        (True, 0, START),
        (False, 1, CD),
    ]


# Bad input


def test_bad_input():
    with pytest.raises(ValueError, match="game.num_actions"):
        IteratedMatrixGame.params_from(rock_paper_scissors())
    three = NormalFormGame.create(np.zeros((3, 2, 2, 2)))
    with pytest.raises(ValueError, match="game.num_actions"):
        IteratedMatrixGame.params_from(three)
    for gamma in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            IteratedMatrixGame.params_from(prisoners_dilemma(), gamma)
    for n in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_steps"):
            IteratedMatrixGame(num_steps=n)
    with pytest.raises(ValueError, match="strategy='tft'.*tit_for_tat"):
        fixed_strategy("tft")
    with pytest.raises(ValueError, match="num_episodes"):
        rollout(IteratedMatrixGame(2), _ipd(), jnp.ones((2, 5)), jax.random.key(0), 0)
