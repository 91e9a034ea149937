"""Tests of the NZSC meta-Dec-POMDP wrapper and the noisy lever games (games/noisy.py)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.coin_game import CoinGame
from detente.games.coordination import IteratedLeverGame, LeverGame, LeverParams, lever_value
from detente.games.iterated_env import IteratedMatrixGame
from detente.games.noisy import (
    NLG_MEAN,
    NLG_MISS,
    NLG_PRIOR_SCALE,
    NoisyGame,
    lever_oracle_value,
    noisy_lever_game,
)

T = 6  # steps rolled out in the zero-noise comparison


def _rollout(env, params, key, num_steps):
    """Rewards [T, N], done flags [T], env-part observations [T + 1, N, ...] under random actions."""
    k_reset, k_act, k_step = jax.random.split(key, 3)
    ts = env.reset(k_reset, params)

    def body(ts, ks):
        ka, kst = ks
        actions = jax.random.randint(ka, (env.num_agents,), 0, env.num_actions)
        ts = env.step(kst, ts.state, actions, params)
        return ts, (ts.obs, ts.rewards, ts.terminated, ts.truncated, ts.action_mask)

    keys = (jax.random.split(k_act, num_steps), jax.random.split(k_step, num_steps))
    _, out = jax.lax.scan(body, ts, keys)
    return ts.obs, out


@pytest.mark.parametrize(
    "game",
    [IteratedLeverGame(3, 4), IteratedMatrixGame(T), CoinGame(episode_length=T)],
    ids=["lever", "matrix", "coin"],
)
def test_zero_noise_reduces_to_the_game(game):
    """sigma = 0 and prior scale 0: same rewards, flags, masks and env observations, same keys."""
    env = NoisyGame(game, ("payoffs",), obs_sigma=True, obs_prior=True)
    params = env.make_params(sigma=0.0, prior_scale=0.0)
    key = jax.random.key(3)
    obs0, (obs, rew, term, trunc, mask) = jax.jit(_rollout, static_argnums=(0, 3))(
        env, params, key, T
    )
    # The same rollout in the bare game, its reset key being the wrapper's k_env.
    k_reset, k_act, k_step = jax.random.split(key, 3)
    k_env = jax.random.split(k_reset, 4)[0]
    base = game.default_params()
    ts = game.reset(k_env, base)
    ref_obs0 = ts.obs
    for t in range(T):
        a = jax.random.randint(jax.random.split(k_act, T)[t], (2,), 0, game.num_actions)
        ts = game.step(jax.random.split(k_step, T)[t], ts.state, a, base)
        np.testing.assert_array_equal(rew[t], ts.rewards)
        assert bool(term[t]) == bool(ts.terminated) and bool(trunc[t]) == bool(ts.truncated)
        np.testing.assert_array_equal(mask[t], ts.action_mask)
        d = math.prod(game.observation_shape)
        np.testing.assert_array_equal(obs[t][:, :d], ts.obs.reshape(2, -1).astype(obs.dtype))
    d = math.prod(game.observation_shape)
    np.testing.assert_array_equal(obs0[:, :d], ref_obs0.reshape(2, -1).astype(obs0.dtype))
    # The appended parts: each view is the true (= base) payoffs, sigma 0, the prior.
    flat = np.ravel(base.payoffs)
    tail = np.concatenate([flat, [0.0], flat, [0.0]])
    np.testing.assert_array_equal(obs0[:, d:], np.broadcast_to(tail, (2, tail.size)))
    assert obs0.shape == (2, *env.observation_shape)


def test_observation_depends_only_on_own_noise():
    """Changing agent 1's sigma or noise key leaves agent 0's view and observation bit-identical."""
    env, params = noisy_lever_game(iterated=True, sigma=(1.0, 2.0))
    true = env.reset(jax.random.key(0), params).state.true_params
    keys = jax.random.split(jax.random.key(1), 2)
    other_keys = jnp.concatenate([keys[:1], jax.random.split(jax.random.key(7), 1)])
    reset = jax.jit(env.reset_from)
    k_env = jax.random.key(2)
    a = reset(k_env, true, jnp.array([1.0, 2.0]), keys, params)
    b = reset(k_env, true, jnp.array([1.0, 4.0]), keys, params)
    c = reset(k_env, true, jnp.array([1.0, 2.0]), other_keys, params)
    for other in (b, c):
        np.testing.assert_array_equal(a.obs[0], other.obs[0])
        assert not np.array_equal(a.obs[1], other.obs[1])
    # Through reset: agent 0's view ignores params.sigma[1].
    v = jax.jit(lambda s: env.reset(jax.random.key(5), params.replace(sigma=s)).obs)
    np.testing.assert_array_equal(v(jnp.array([1.0, 2.0]))[0], v(jnp.array([1.0, 3.0]))[0])


def test_views_unbiased_with_right_spread_and_batch_of_levels():
    """Monte-Carlo mean/std of the views vs the true payoffs and sigma; vmap over noise levels."""
    env, params = noisy_lever_game(sigma=0.0)
    true = env.reset(jax.random.key(0), params).state.true_params
    sigmas = jnp.array([0.5, 1.0, 4.0])
    n = 20_000

    def views(sig, key):  # [n, N, D] for one noise level, in one program for all levels
        p = params.replace(sigma=jnp.full(2, sig))
        ks = jax.random.split(key, n)
        return jax.vmap(lambda k: env.reset_from(k, true, p.sigma, jax.random.split(k, 2), p))(
            ks
        ).state.views

    out = jax.jit(jax.vmap(views))(sigmas, jax.random.split(jax.random.key(1), 3))
    pay = np.asarray(true.payoffs)
    for s, v in zip(np.asarray(sigmas), np.asarray(out), strict=True):
        se = s / math.sqrt(n)
        assert np.all(np.abs(v.mean(0) - pay) < 5 * se), (v.mean(0), pay)
        # std of a sample std of n normals: s / sqrt(2 (n - 1))
        assert np.all(np.abs(v.std(0) - s) < 5 * s / math.sqrt(2 * n)), v.std(0)
    # independent agents: correlation of the two agents' noise ~ 0
    e = np.asarray(out[1]) - pay
    corr = np.corrcoef(e[:, 0, 0], e[:, 1, 0])[0, 1]
    assert abs(corr) < 5 / math.sqrt(n)


def test_prior_and_sampled_levels():
    """The true payoffs follow N(mean, scale^2); per-episode sigmas are uniform over the levels."""
    levels = (0.0, 1.0, 2.0, 4.0)
    env, params = noisy_lever_game(iterated=True, sigma_levels=levels)
    n = 20_000
    st = jax.jit(jax.vmap(lambda k: env.reset(k, params).state))(
        jax.random.split(jax.random.key(4), n)
    )
    pay = np.asarray(st.true_params.payoffs)
    assert abs(pay.mean() - NLG_MEAN) < 5 * NLG_PRIOR_SCALE / math.sqrt(3 * n)
    assert abs(pay.std() - NLG_PRIOR_SCALE) < 0.05
    sig = np.asarray(st.sigma)
    freq = np.array([(sig == lv).mean() for lv in levels])
    np.testing.assert_allclose(freq, 0.25, atol=5 * math.sqrt(0.25 * 0.75 / (2 * n)))
    # the view's error has the agent's own drawn sigma
    err = np.asarray(st.views) - pay[:, None, :]
    for lv in levels[1:]:
        sel = err[sig == lv]
        assert abs(sel.std() - lv) < 0.05 * lv


def test_rewards_use_true_payoffs():
    """A known case: views far from the truth, rewards still the true payoff or the penalty."""
    game = LeverGame(3)
    env = NoisyGame(game, ("payoffs",))
    base = LeverParams.create((1.0, 2.0, 3.0), miss=-2.0)
    params = env.make_params(base, sigma=100.0, prior_scale=0.0)
    ts = env.reset(jax.random.key(0), params)
    assert not np.allclose(ts.state.views, base.payoffs)  # the agents see noise
    step = jax.jit(env.step)
    for a, want in (((0, 0), 1.0), ((2, 2), 3.0), ((0, 1), -2.0)):
        r = step(jax.random.key(1), ts.state, jnp.array(a), params).rewards
        np.testing.assert_array_equal(r, [want, want])
    # With a prior, the true payoffs of the episode (in the state) are what pays.
    params = env.make_params(base, sigma=1.0, prior_scale=1.0)
    ts = env.reset(jax.random.key(0), params)
    true = ts.state.true_params.payoffs
    assert not np.allclose(true, base.payoffs)
    r = env.step(jax.random.key(1), ts.state, jnp.array([1, 1]), params).rewards
    np.testing.assert_array_equal(r, [true[1], true[1]])
    # lever_value with the penalty: p = q = uniform -> mean(payoffs) / 3 - 2 * 2/3
    u = jnp.full(3, 1 / 3)
    np.testing.assert_allclose(lever_value(base, u, u), 2.0 / 3 - 4.0 / 3, rtol=1e-6)


def test_oracle_values():
    """E[max] matches mean + scale * E[max of 3 N(0,1)] = 3 / (2 sqrt(pi)); greedy = it at sigma 0."""
    env, params = noisy_lever_game(sigma=0.0)
    o = lever_oracle_value(jax.random.key(0), env, params, num_samples=20_000)
    exact = NLG_MEAN + NLG_PRIOR_SCALE * 3 / (2 * math.sqrt(math.pi))
    assert abs(o.common_knowledge - exact) < 5 * o.common_knowledge_se
    assert o.greedy == pytest.approx(o.common_knowledge, rel=1e-6)
    # With noise the greedy agents miscoordinate: strictly below, above the penalty.
    noisy = lever_oracle_value(
        jax.random.key(0), env, params.replace(sigma=jnp.full(2, 4.0)), 20_000
    )
    assert NLG_MISS < noisy.greedy < noisy.common_knowledge - 10 * noisy.greedy_se


def test_bad_input_names_the_field():
    game = LeverGame(3)
    with pytest.raises(ValueError, match="fields"):
        NoisyGame(game, ("rewards",))
    with pytest.raises(ValueError, match="fields"):
        NoisyGame(game, "payoffs")
    env = NoisyGame(game)
    with pytest.raises(ValueError, match="sigma"):
        env.make_params(sigma=-1.0)
    with pytest.raises(ValueError, match="sigma"):
        env.make_params(sigma=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="prior_scale"):
        env.make_params(prior_scale=-0.5)
    with pytest.raises(ValueError, match="sigma_levels"):
        NoisyGame(game, sample_sigma=True).make_params()
    with pytest.raises(ValueError, match="sigma_levels"):
        noisy_lever_game(sigma_levels=(1.0, -1.0))
    with pytest.raises(ValueError, match="miss"):
        noisy_lever_game(miss=float("nan"))
    assert hash(env) == hash(NoisyGame(LeverGame(3)))
