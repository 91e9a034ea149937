"""LOLA-DiCE: DiCE derivatives against the exact finite-horizon value, and the
IPD outcome (Foerster et al. 2018, DiCE, https://arxiv.org/abs/1802.05098)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.iterated_env import IteratedMatrixGame
from detente.games.zoo import prisoners_dilemma
from detente.solvers.rl.types import Transition
from detente.solvers.shaping.dice import (
    DiceConfig,
    dice_objective,
    fit_values,
    magic_box,
    make_lola_dice,
    make_lola_dice_gradient,
    sample_episodes,
)
from detente.solvers.shaping.learners import (
    finite_horizon_values,
    memory_one_log_prob,
    reinforce_gradient,
)

GAMMA = 0.96
T = 8
GAME = prisoners_dilemma()
THETAS = 0.7 * jax.random.normal(jax.random.PRNGKey(3), (2, 5))
ENV = IteratedMatrixGame(num_steps=T)
PARAMS = IteratedMatrixGame.params_from(GAME, GAMMA)
K, B = 100, 64  # independent batches, episodes per batch


def V(t1, t2):
    """Exact T-step discounted values [2] (matrix powers; checked by test_learners)."""
    return finite_horizon_values(GAME.payoffs, GAMMA, (t1, t2), T)


def _assert_within_mc_error(estimates, exact, n_se=5.0):
    """Mean of K independent estimates within n_se standard errors, elementwise;
    and the exact value is resolved (the check could fail for a wrong estimator)."""
    est = np.asarray(estimates, np.float64)
    mean, se = est.mean(0), est.std(0, ddof=1) / np.sqrt(est.shape[0])
    exact = np.asarray(exact, np.float64)
    assert np.linalg.norm(exact) > 5 * np.linalg.norm(se)
    np.testing.assert_array_less(np.abs(mean - exact), n_se * se)


def test_magic_box_is_one_with_score_function_derivatives():
    x = jnp.array(0.7)
    assert float(magic_box(x)) == 1.0
    assert float(jax.grad(magic_box)(x)) == 1.0
    assert float(jax.grad(jax.grad(magic_box))(x)) == 1.0
    # d/dx [box(f(x))] = f'(x), d2 = f'' + f'^2 (the score-function terms)
    f = lambda x: jnp.sin(x)  # noqa: E731
    g2 = jax.grad(jax.grad(lambda x: magic_box(f(x))))(x)
    np.testing.assert_allclose(g2, -jnp.sin(x) + jnp.cos(x) ** 2, rtol=1e-6)


def _exact_lola_gradient(lr):
    """grad_1 V_1(theta_1, theta_2 + lr grad_2 V_2(theta_1, theta_2)), exact."""

    def f(a):
        b = THETAS[1] + lr * jax.grad(lambda b: V(a, b)[1])(THETAS[1])
        return V(a, b)[0]

    return jax.grad(f)(THETAS[0])


@pytest.fixture(scope="module")
def estimates():
    """K independent batch estimates of every quantity, one compiled program."""
    config = DiceConfig(batch_size=B, episode_length=T, gamma=GAMMA)  # baseline "mean"
    grad_fn = make_lola_dice_gradient(ENV, PARAMS, config, num_lookahead=1)
    values = jnp.zeros((2, 5))
    th0, th1 = THETAS

    @jax.jit
    @jax.vmap
    def estimate(key):
        k_tr, k_lola = jax.random.split(key)
        tr = sample_episodes(ENV, PARAMS, (th0, th1), k_tr, B)

        def grad_1(value=None, mean=False):
            return jax.grad(lambda a: dice_objective((a, th1), tr, 0, GAMMA, value, mean))(th0)

        obj_2 = lambda b, a: dice_objective((a, b), tr, 1, GAMMA, None, True)  # noqa: E731
        seat0, seat1 = (jax.tree_util.tree_map(lambda x, i=i: x[i], tr) for i in (0, 1))
        lola_0, lola_term = jax.jvp(  # value and d/d lr_in at lr_in = 0
            lambda lr: grad_fn(THETAS, values, k_lola, 0, lr)[0], (0.0,), (1.0,)
        )
        return {
            "none": grad_1(),
            "mean": grad_1(mean=True),
            "value": grad_1(value=jnp.full(5, -15.0)),
            "reinforce": reinforce_gradient(th0, seat0, GAMMA, "none"),
            "none_2": jax.grad(lambda b: dice_objective((th0, b), tr, 1, GAMMA))(th1),
            "reinforce_2": reinforce_gradient(th1, seat1, GAMMA, "none"),
            "cross": jax.jacfwd(jax.grad(obj_2), argnums=1)(th1, th0),
            "lola_0": lola_0,
            "lola_term": lola_term,
            "log_prob_error": jnp.abs(
                tr.log_prob - jax.vmap(memory_one_log_prob)(THETAS, tr.obs, tr.action)
            ).max(),
        }

    out = estimate(jax.random.split(jax.random.PRNGKey(0), K))
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def exact():
    """The exact quantities from V_T by jax, one compiled program."""

    @jax.jit
    def compute(thetas):
        th0, th1 = thetas
        return {
            "grad": jax.grad(lambda a: V(a, th1)[0])(th0),
            "cross": jax.jacfwd(jax.grad(lambda b, a: V(a, b)[1]), argnums=1)(th1, th0),
            "lola_term": jax.jacfwd(_exact_lola_gradient)(0.0),
        }

    return {k: np.asarray(v) for k, v in compute(THETAS).items()}


@pytest.mark.parametrize("baseline", ["none", "mean", "value"])
def test_dice_first_derivative_matches_exact_gradient(estimates, exact, baseline):
    _assert_within_mc_error(estimates[baseline], exact["grad"])


def test_sampled_log_probs_are_the_policies(estimates):
    assert estimates["log_prob_error"].max() < 1e-5


def test_dice_first_derivative_is_reinforce_on_the_same_samples(estimates):
    """Without a baseline, grad L_1 = sum_t gamma^t grad log pi(a_t) G_t exactly."""
    np.testing.assert_allclose(estimates["none"], estimates["reinforce"], rtol=1e-4, atol=1e-4)
    # and for player 2 (its own rewards and view)
    np.testing.assert_allclose(estimates["none_2"], estimates["reinforce_2"], rtol=1e-4, atol=1e-4)


def test_dice_cross_derivative_matches_exact(estimates, exact):
    """The LOLA term's core: grad_1 grad_2 L_2 vs grad_1 grad_2 V_2, [5, 5]."""
    _assert_within_mc_error(estimates["cross"], exact["cross"])


def test_lola_dice_lookahead_term_matches_exact(estimates, exact):
    """d/d lr_in at 0 of agent 1's LOLA-DiCE gradient (the shaping term
    (grad_1 grad_2 V_2)^T grad_2 V_1 plus (grad_2 grad_1 V_1) grad_2 V_2),
    estimated on independent look-ahead and outer batches, is unbiased."""
    _assert_within_mc_error(estimates["lola_term"], exact["lola_term"])


def test_lola_dice_gradient_without_lookahead_step_is_the_naive_gradient(estimates, exact):
    _assert_within_mc_error(estimates["lola_0"], exact["grad"])


@pytest.mark.slow
def test_lola_dice_gradient_matches_exact_lookahead_gradient():
    """The full one-step look-ahead gradient at lr_in = 0.3 (bias O(lr_in^2 / B),
    below the Monte-Carlo error here)."""
    config = DiceConfig(batch_size=B, episode_length=T, gamma=GAMMA)
    grad_fn = make_lola_dice_gradient(ENV, PARAMS, config, num_lookahead=1)
    values = jnp.zeros((2, 5))
    estimate = jax.jit(jax.vmap(lambda k: grad_fn(THETAS, values, k, 0, 0.3)[0]))
    exact = jax.jit(_exact_lola_gradient)(0.3)
    _assert_within_mc_error(estimate(jax.random.split(jax.random.PRNGKey(4), K)), exact)


def test_fit_values_moves_toward_state_mean_return():
    """Hand-made batch, gamma 0.5: episode 1 visits start, CC, CD with rewards
    (1, 2, 4); episode 2 visits start, DD, DD with rewards (0, 8, 8)."""
    obs = jax.nn.one_hot(jnp.array([[0, 1, 2], [0, 4, 4]]), 5)  # [E, T, 5]
    rew = jnp.array([[1.0, 2.0, 4.0], [0.0, 8.0, 8.0]])
    done = jnp.array([[False, False, True]] * 2)
    zeros = jnp.zeros((2, 3))
    tr = Transition(
        obs=jnp.stack([obs, obs]),
        action=jnp.zeros((2, 2, 3), jnp.int32),
        reward=jnp.stack([rew, zeros]),
        done=jnp.stack([done, done]),
        log_prob=jnp.stack([zeros, zeros]),
        value=jnp.stack([zeros, zeros]),
    )
    # returns-to-go: episode 1 (1 + 2, 2 + 2, 4) = (3, 4, 4); episode 2 (6, 12, 8)
    v = fit_values(jnp.full(5, 2.0), tr, 0, 0.5, 1.0)
    np.testing.assert_allclose(v, [4.5, 4.0, 4.0, 2.0, 10.0])
    half = fit_values(jnp.full(5, 2.0), tr, 0, 0.5, 0.5)
    np.testing.assert_allclose(half, [3.25, 3.0, 3.0, 2.0, 6.0])


SMALL = DiceConfig(batch_size=32, episode_length=40, num_updates=60)
SEEDS = 2


@pytest.fixture(scope="module")
def small_run():
    """LOLA-DiCE vs LOLA-DiCE, small budget, 2 seeds: one compiled vmapped step."""
    trainer = make_lola_dice(SMALL)
    vstep = jax.jit(jax.vmap(trainer.step))
    init = jax.vmap(trainer.init)
    state = init(jax.random.split(jax.random.PRNGKey(0), SEEDS))
    states, metrics = [state], []
    for _ in range(SMALL.num_updates):
        state, m = vstep(state)
        states.append(state)
        metrics.append(m)
    return trainer, vstep, init, states, metrics, jax.jit(jax.vmap(trainer.evaluate))


def test_lola_dice_beats_naive_learning_in_the_ipd(small_run):
    """Small budget: LOLA-DiCE ends well above mutual defection (-2), where
    DiCE without look-ahead (naive learners) ends at this budget (-1.99)."""
    _, _, _, states, _, evaluate = small_run
    out = evaluate(states[-1])
    assert out["p_cooperate"].shape == (SEEDS, 2, 5)
    assert np.asarray(out["mean_reward"]).mean() > -1.6


def _numpy_per_step_rewards(thetas, gamma):
    """(1 - gamma) p0^T (I - gamma P)^-1 r_i, LOLA Sec. 3.3, in numpy float64."""
    sig = 1 / (1 + np.exp(-np.asarray(thetas, np.float64)))
    q1, q2 = sig[0, 0], sig[1, 0]
    p1, p2 = sig[0, 1:], sig[1, 1:][[0, 2, 1, 3]]  # player 2's own view -> joint
    p0 = np.array([q1 * q2, q1 * (1 - q2), (1 - q1) * q2, (1 - q1) * (1 - q2)])
    P = np.stack([p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)], axis=1)
    x = np.linalg.solve((np.eye(4) - gamma * P).T, p0)
    return (1 - gamma) * np.asarray(GAME.payoffs, np.float64).reshape(2, 4) @ x


def test_metrics_and_evaluate_are_exact_and_key_determines_run(small_run):
    trainer, vstep, init, states, metrics, evaluate = small_run
    again, _ = vstep(init(jax.random.split(jax.random.PRNGKey(0), SEEDS)))
    np.testing.assert_array_equal(again.thetas, states[1].thetas)
    assert not np.allclose(states[1].thetas, states[0].thetas)
    # metrics and evaluate: exact per-step rewards of the thetas (numpy oracle)
    thetas = np.asarray(states[5].thetas, np.float64)  # [seeds, 2, 5]
    r = np.array([_numpy_per_step_rewards(th, SMALL.gamma) for th in thetas])
    np.testing.assert_allclose(metrics[5]["reward_0"], r[:, 0], rtol=1e-4)
    np.testing.assert_allclose(metrics[5]["reward_1"], r[:, 1], rtol=1e-4)
    out = evaluate(states[5])
    np.testing.assert_allclose(out["mean_reward"], r, rtol=1e-4)
    np.testing.assert_allclose(out["p_cooperate"], 1 / (1 + np.exp(-thetas)), rtol=1e-5)


def test_step_twice_equals_two_step_scan():
    """The state carries everything (key, optimiser, baseline): chunked runs
    match. A cheap configuration (no look-ahead) that also runs the naive
    PG opponent and the learned baseline."""
    config = DiceConfig(
        batch_size=8, episode_length=12, num_lookahead=0, opponent="pg", baseline="value"
    )
    trainer = make_lola_dice(config)
    step = jax.jit(trainer.step)
    state = trainer.init(jax.random.PRNGKey(1))
    s1, m1 = step(state)
    s2, m2 = step(s1)
    two = jax.jit(lambda s: jax.lax.scan(lambda c, _: trainer.step(c), s, None, length=2))
    s_scan, m_scan = two(state)
    for a, b in zip(jax.tree_util.tree_leaves(s2), jax.tree_util.tree_leaves(s_scan), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(s2.key, s_scan.key)
    np.testing.assert_allclose(m_scan["reward_0"], [m1["reward_0"], m2["reward_0"]], rtol=1e-6)
    assert np.all(np.asarray(s1.values) < 0)  # the baseline was fitted to IPD returns


@pytest.mark.slow
@pytest.mark.parametrize("opponent", ["lola", "pg"])
def test_lola_dice_at_paper_settings(opponent):
    """DiCE paper, Fig. 4: LOLA-DiCE vs LOLA-DiCE in the IPD, 200 updates,
    batch 128, episodes of 150 steps; average per-step reward above -1.4,
    while naive learners (no look-ahead) fall to -2. Against the naive PG
    learner LOLA-DiCE gets the higher reward (as LOLA vs NL in the LOLA paper)."""
    config = DiceConfig(opponent=opponent)
    trainer = make_lola_dice(config)

    @jax.jit
    @jax.vmap
    def run(key):
        state, _ = jax.lax.scan(
            lambda s, _: trainer.step(s), trainer.init(key), None, length=config.num_updates
        )
        return trainer.evaluate(state)

    out = run(jax.random.split(jax.random.PRNGKey(0), 4))
    r = np.asarray(out["mean_reward"])  # [seeds, 2]
    if opponent == "lola":
        assert r.mean() >= -1.4
        naive = make_lola_dice(dataclasses.replace(config, num_lookahead=0, num_updates=60))
        state = naive.init(jax.random.PRNGKey(0))
        state, _ = jax.jit(lambda s: jax.lax.scan(lambda c, _: naive.step(c), s, None, length=60))(
            state
        )
        assert np.asarray(naive.evaluate(state)["mean_reward"]).mean() < -1.9
    else:  # LOLA-DiCE shapes the naive learner: measured -0.86 vs -1.93
        assert r[:, 0].mean() > -1.2
        assert r[:, 1].mean() < r[:, 0].mean() - 0.5


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"opponent": "naive"}, "opponent"),
        ({"num_lookahead": -1}, "num_lookahead"),
        ({"batch_size": 0}, "batch_size"),
        ({"episode_length": 1.5}, "episode_length"),
        ({"gamma": 1.0}, "gamma"),
        ({"lr_in": -0.1}, "lr_in"),
        ({"lr_out": 0.0}, "lr_out"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"baseline": "critic"}, "baseline"),
        ({"value_lr": 2.0}, "value_lr"),
        ({"init_std": float("nan")}, "init_std"),
        ({"num_updates": 0}, "num_updates"),
    ],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DiceConfig(**kwargs)
    with pytest.raises(ValueError, match="config"):
        make_lola_dice({"batch_size": 8})
