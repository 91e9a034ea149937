"""Sampled-game inner learners: REINFORCE against the exact gradient, fixed
strategies, the registry (Williams 1992; LOLA, https://arxiv.org/abs/1709.04326)."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.differentiable import iterated
from detente.games.iterated_env import FIXED_STRATEGIES, IteratedMatrixGame
from detente.games.zoo import prisoners_dilemma
from detente.solvers.shaping.learners import (
    INNER_LEARNERS,
    PairConfig,
    PGConfig,
    discount_weights,
    finite_horizon_values,
    fixed_learner,
    logit_act,
    make_inner_learner,
    make_pair_trainer,
    pg_learner,
    play_episodes,
    reinforce_gradient,
    reward_to_go,
)

GAMMA = 0.96
T = 8


def _brute_force_values(payoffs, gamma, thetas, T):
    """Sum over all 4^T joint action sequences (numpy, float64)."""
    th = [np.asarray(t, np.float64) for t in thetas]
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    v = np.zeros(2)
    for seq in itertools.product(range(4), repeat=T):
        prob, ret, s1, s2 = 1.0, np.zeros(2), 0, 0
        for t, j in enumerate(seq):
            a1, a2 = divmod(j, 2)
            p1, p2 = sig(th[0][s1]), sig(th[1][s2])
            prob *= (p1 if a1 == 0 else 1 - p1) * (p2 if a2 == 0 else 1 - p2)
            ret += gamma**t * np.asarray(payoffs)[:, a1, a2]
            s1, s2 = 1 + 2 * a1 + a2, 1 + 2 * a2 + a1  # own views
        v += prob * ret
    return v


def test_finite_horizon_values_match_enumeration_and_infinite_limit():
    game = prisoners_dilemma()
    thetas = tuple(jax.random.normal(jax.random.PRNGKey(0), (2, 5)))
    values = jax.jit(finite_horizon_values, static_argnums=(3,))
    exact3 = values(game.payoffs, 0.9, thetas, 3)
    np.testing.assert_allclose(exact3, _brute_force_values(game.payoffs, 0.9, thetas, 3), rtol=1e-5)
    long = values(game.payoffs, GAMMA, thetas, 700)
    infinite = jax.jit(iterated(game, GAMMA).values)(thetas)
    np.testing.assert_allclose(long, infinite, rtol=1e-4)


def test_reward_to_go_and_discount_weights_restart_at_episode_ends():
    r = jnp.array([1.0, 2.0, 3.0, 4.0])
    done = jnp.array([False, True, False, True])
    np.testing.assert_allclose(reward_to_go(r, done, 0.5), [2.0, 2.0, 5.0, 4.0])
    np.testing.assert_allclose(discount_weights(done, 0.5), [1.0, 0.5, 1.0, 0.5])


@pytest.fixture(scope="module")
def reinforce_estimates():
    """K independent batch estimates of grad_1 V_T, both baselines, one program."""
    thetas = tuple(0.7 * jax.random.normal(jax.random.PRNGKey(3), (2, 5)))
    env = IteratedMatrixGame(num_steps=T)
    params = IteratedMatrixGame.params_from(prisoners_dilemma(), GAMMA)
    acts = tuple(functools.partial(logit_act, t) for t in thetas)
    K, B = 100, 64

    @jax.jit
    @jax.vmap
    def estimate(key):
        tr, _ = play_episodes(env, params, acts, key, B)
        seat0 = jax.tree_util.tree_map(lambda x: x[0], tr)
        return {b: reinforce_gradient(thetas[0], seat0, GAMMA, b) for b in ("none", "mean")}

    out = estimate(jax.random.split(jax.random.PRNGKey(0), K))
    payoffs = prisoners_dilemma().payoffs
    exact = jax.jit(jax.grad(lambda a: finite_horizon_values(payoffs, GAMMA, (a, thetas[1]), T)[0]))
    return np.asarray(exact(thetas[0])), {k: np.asarray(v, np.float64) for k, v in out.items()}


@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_reinforce_gradient_is_unbiased_for_exact_gradient(reinforce_estimates, baseline):
    """Mean of K independent batch estimates vs grad_1 V_T, within 5 standard errors."""
    exact, est = reinforce_estimates
    g = est[baseline]
    mean, se = g.mean(0), g.std(0, ddof=1) / np.sqrt(g.shape[0])
    assert np.linalg.norm(exact) > 5 * np.linalg.norm(se)  # resolved: the check can fail
    np.testing.assert_array_less(np.abs(mean - exact), 5 * se)
    if baseline == "mean":  # the leave-one-out baseline reduces the variance
        assert np.all(est["mean"].std(0) < est["none"].std(0))


def test_logit_act_samples_sigmoid_and_reports_log_prob():
    theta = jnp.array([0.3, -1.0, 2.0, 0.0, -0.5])
    n = 2000
    obs = jax.nn.one_hot(jnp.tile(jnp.arange(5), n), 5)
    keys = jax.random.split(jax.random.PRNGKey(0), obs.shape[0])
    act = jax.jit(jax.vmap(logit_act, in_axes=(None, 0, 0)))
    a, lp, v = (np.asarray(x) for x in act(theta, obs, keys))
    p = np.asarray(jax.nn.sigmoid(theta), np.float64)
    freq = np.array([(a[i::5] == 0).mean() for i in range(5)])
    np.testing.assert_array_less(np.abs(freq - p), 4 * np.sqrt(p * (1 - p) / n))
    ps = p[np.arange(a.size) % 5]
    np.testing.assert_allclose(lp, np.where(a == 0, np.log(ps), np.log1p(-ps)), rtol=1e-5)
    assert np.all(v == 0)


@pytest.mark.parametrize("name", sorted(INNER_LEARNERS))
def test_registry_conformance(name):
    """Every entry: init/act/update trace under jit with the InnerLearner shapes
    (jax.eval_shape: traced, not compiled), and the state structure is kept."""
    learner = make_inner_learner(name)
    opp = make_inner_learner("random")
    env = IteratedMatrixGame(num_steps=6)
    params = env.default_params()

    def run(key):
        k0, k1, k2, k3 = jax.random.split(key, 4)
        state, opp_state = learner.init(k0), opp.init(k1)
        acts = (
            lambda o, k: learner.act(state, o, k),
            lambda o, k: opp.act(opp_state, o, k),
        )
        tr, last_obs = play_episodes(env, params, acts, k2, 4)
        seat0 = jax.tree_util.tree_map(lambda x: x[0], tr)
        return state, learner.update(state, seat0, last_obs[0], k3), tr, last_obs

    state, new, tr, last_obs = jax.eval_shape(run, jax.random.PRNGKey(0))
    assert tr.obs.shape == (2, 4, 6, 5) and tr.action.shape == (2, 4, 6)
    assert tr.reward.shape == tr.log_prob.shape == tr.value.shape == (2, 4, 6)
    assert last_obs.shape == (2, 4, 5)
    assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(state)
    assert all(
        a.shape == b.shape and a.dtype == b.dtype
        for a, b in zip(
            jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(state), strict=True
        )
    )
    if name in FIXED_STRATEGIES:
        probs = learner.init(jax.random.PRNGKey(0))
        np.testing.assert_array_equal(probs, FIXED_STRATEGIES[name])
        assert learner.update(probs, None, None, None) is probs


def test_fixed_strategies_play_their_known_outcomes():
    """Per-step rewards over T = 10 (LOLA payoffs CC -1, CD -3, DC 0, DD -2):
    TFT vs always-defect (-3 + 9 (-2)) / 10 and (0 + 9 (-2)) / 10; grim vs
    always-cooperate -1 each; TFT vs grim -1 each; always-defect vs
    always-cooperate 0 and -3."""
    pairs = [
        ("tit_for_tat", "always_defect", [-2.1, -1.8]),
        ("grim", "always_cooperate", [-1.0, -1.0]),
        ("tit_for_tat", "grim", [-1.0, -1.0]),
        ("always_defect", "always_cooperate", [0.0, -3.0]),
    ]
    probs = jnp.array([[FIXED_STRATEGIES[a], FIXED_STRATEGIES[b]] for a, b, _ in pairs])
    fixed = fixed_learner("random")  # act does not depend on the name, only init
    env = IteratedMatrixGame(num_steps=10)
    params = env.default_params()

    @jax.jit
    @jax.vmap
    def play(pr):
        acts = tuple(functools.partial(fixed.act, pr[i]) for i in (0, 1))
        tr, _ = play_episodes(env, params, acts, jax.random.PRNGKey(0), 3)
        return tr.reward.mean(axis=(1, 2)), tr.log_prob

    rewards, log_prob = play(probs)
    np.testing.assert_allclose(rewards, [r for *_, r in pairs], rtol=1e-6)
    assert np.all(np.asarray(log_prob) == 0.0)  # deterministic strategies


def test_pg_learns_to_defect_against_always_defect():
    pair = make_pair_trainer(
        pg_learner(PGConfig(theta=(0.0,) * 5)),
        fixed_learner("always_defect"),
        config=PairConfig(episode_length=50, num_episodes=32),
    )
    run = jax.jit(lambda s: jax.lax.scan(lambda c, _: pair.step(c), s, None, length=40))
    state, _ = run(pair.init(jax.random.PRNGKey(0)))
    p = jax.nn.sigmoid(state.learner_states[0].theta)
    visited = np.array([0, 2, 4])  # start, CD (own C, opponent D), DD
    np.testing.assert_array_less(p[visited], 0.1)


@pytest.fixture(scope="module")
def pg_vs_pg():
    pair = make_pair_trainer(
        make_inner_learner("pg"),
        make_inner_learner("pg"),
        config=PairConfig(episode_length=50, num_episodes=32),
    )
    step = jax.jit(pair.step)
    state = pair.init(jax.random.PRNGKey(0))
    states, metrics = [state], []
    for _ in range(60):
        state, m = step(state)
        states.append(state)
        metrics.append(m)
    return pair, step, states, metrics


def test_pg_vs_pg_drifts_to_mutual_defection(pg_vs_pg):
    """Naive learners in the IPD: per-step reward about -2 (LOLA paper, Fig. 3)."""
    _, _, _, metrics = pg_vs_pg
    r = np.mean([(m["reward_0"] + m["reward_1"]) / 2 for m in metrics[-10:]])
    assert -2.05 < r < -1.9


def test_pair_trainer_chunks_match_and_key_determines_result(pg_vs_pg):
    pair, step, states, metrics = pg_vs_pg
    two = jax.jit(lambda s: jax.lax.scan(lambda c, _: pair.step(c), s, None, length=2))
    s_scan, m_scan = two(states[0])
    for a, b in zip(s_scan.learner_states, states[2].learner_states, strict=True):
        np.testing.assert_allclose(a.theta, b.theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s_scan.key, states[2].key)
    np.testing.assert_allclose(m_scan["reward_0"][1], metrics[1]["reward_0"])
    again, _ = step(pair.init(jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(again.learner_states[0].theta, states[1].learner_states[0].theta)
    assert not np.allclose(states[1].learner_states[0].theta, states[0].learner_states[0].theta)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"lr": 0.0}, "lr"),
        ({"gamma": 1.0}, "gamma"),
        ({"init_std": -1.0}, "init_std"),
        ({"baseline": "value"}, "baseline"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"theta": (0.0, 0.0)}, "theta"),
    ],
)
def test_pg_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        PGConfig(**kwargs)


def test_bad_names_and_configs_raise():
    with pytest.raises(ValueError, match="opponent='ppo'.*pg"):
        make_inner_learner("ppo")
    with pytest.raises(ValueError, match="opponent='nice'"):
        fixed_learner("nice")
    with pytest.raises(ValueError, match="config"):
        make_inner_learner("grim", PGConfig())
    with pytest.raises(ValueError, match="config"):
        pg_learner({"lr": 1.0})
    with pytest.raises(ValueError, match="num_episodes"):
        PairConfig(num_episodes=0)
    with pytest.raises(ValueError, match="episode_length"):
        PairConfig(episode_length=2.5)
