"""M-FOS-ES against the exact naive learner (Lu et al. 2022, https://arxiv.org/abs/2205.01447)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.differentiable import make_differentiable
from detente.solvers.shaping.mfos import (
    MFOSConfig,
    init_meta_params,
    make_meta_episode,
    make_meta_policy,
    train_mfos_es,
)


def _random_meta_params(key, game, config, scale=1.0):
    """Meta-params with every leaf perturbed (the output layer starts at zero)."""
    params = init_meta_params(key, game, config)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
    leaves = [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, leaves)


@pytest.mark.parametrize("meta_state", ["both", "opponent"])
def test_meta_episode_matches_python_loop(meta_state):
    game = make_differentiable("ipd")
    config = MFOSConfig(inner_episodes=12, meta_state=meta_state)
    params = _random_meta_params(jax.random.PRNGKey(1), game, config)
    key = jax.random.PRNGKey(3)
    out = jax.jit(make_meta_episode(game, config))(params, key)

    # Independent loop: game.values and jax.grad of V_2, no detente dynamics.
    policy = make_meta_policy(game, config)
    theta_2 = jax.random.normal(key, (5,))
    theta_1 = jnp.zeros(5)
    grad_v2 = jax.jit(jax.grad(lambda t2, t1: game.values((t1, t2))[1]))
    values = jax.jit(lambda t1, t2: game.values((t1, t2)))
    apply = jax.jit(policy.apply)
    rewards, opp = [], [theta_2]
    for _ in range(config.inner_episodes):
        s = jax.nn.sigmoid(theta_2)
        if meta_state == "both":
            s = jnp.concatenate([jax.nn.sigmoid(theta_1), s])
        theta_1 = apply(params, s)
        rewards.append((1 - 0.96) * values(theta_1, theta_2))
        theta_2 = theta_2 + 1.0 * grad_v2(theta_2, theta_1)
        opp.append(theta_2)

    assert out.rewards.shape == (12, 2)
    assert out.opponent_thetas.shape == (13, 5)
    np.testing.assert_allclose(out.rewards, np.stack(rewards), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.opponent_thetas, np.stack(opp), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.agent_thetas[-1], theta_1, rtol=1e-5, atol=1e-5)


def test_always_defect_against_naive_learner():
    """M-FOS always defects: with ``c`` the naive learner's discounted cooperation
    frequency, ``r_1 = -2 + 2c`` and ``r_2 = -2 - c`` (LOLA payoffs), so
    ``r_1 + 2 r_2 = -6`` exactly; defection is the naive learner's best response,
    so ``c -> 0`` and both rewards tend to -2."""
    game = make_differentiable("ipd")
    config = MFOSConfig(inner_episodes=100)
    params = init_meta_params(jax.random.PRNGKey(0), game, config)
    params = jax.tree_util.tree_map(jnp.zeros_like, params)
    params["params"]["Dense_2"]["bias"] = jnp.full((5,), -30.0)  # P(cooperate) ~ 1e-13
    episode = jax.jit(jax.vmap(make_meta_episode(game, config), in_axes=(None, 0)))
    r = np.asarray(episode(params, jax.random.split(jax.random.PRNGKey(2), 8)).rewards)  # [8, T, 2]
    np.testing.assert_allclose(r[..., 0] + 2 * r[..., 1], -6.0, atol=1e-4)
    assert np.all(r[..., 0] <= -2 + 2 + 1e-6) and np.all(r[..., 0] >= -2 - 1e-5)
    assert np.all(r[..., 1] >= -3 - 1e-5) and np.all(r[..., 1] <= -2 + 1e-5)
    # the naive learner's reward rises (never falls by more than rounding) to -2
    assert np.all(np.diff(r[..., 1], axis=1) >= -1e-5)
    np.testing.assert_allclose(r[:, -1, :], -2.0, atol=0.02)
    assert np.all(r[:, 0, 1] < r[:, -1, 1] - 0.05)


@pytest.fixture(scope="module")
def ipd_run():
    config = MFOSConfig(
        generations=200, population_size=32, opponents=8, eval_opponents=64, sigma=0.1, lr=0.03
    )
    return train_mfos_es(jax.random.PRNGKey(0), make_differentiable("ipd"), config)


def test_es_improves_fitness(ipd_run):
    f = np.asarray(ipd_run.fitness)
    assert f.shape == (200,)
    assert np.all(np.isfinite(f))
    assert f[-10:].mean() > f[0] + 1.0
    assert np.all(np.asarray(ipd_run.best_fitness) >= f - 1e-6)


def test_mfos_extorts_naive_learner(ipd_run):
    """The paper's result: M-FOS's per-step reward is above mutual cooperation
    (-1) while the naive learner's is below mutual defection (-2)."""
    m, n = np.asarray(ipd_run.final_mean_rewards)
    assert ipd_run.final_rewards.shape == (100, 2)
    assert m > -1.0, (m, n)
    assert n < -2.0, (m, n)


_SMALL = MFOSConfig(
    inner_episodes=10, generations=3, population_size=4, opponents=2, eval_opponents=2
)


def test_same_key_same_numbers():
    game = make_differentiable("ipd")
    a = train_mfos_es(jax.random.PRNGKey(5), game, _SMALL)
    b = train_mfos_es(jax.random.PRNGKey(5), game, _SMALL)
    c = train_mfos_es(jax.random.PRNGKey(6), game, _SMALL)
    np.testing.assert_array_equal(a.fitness, b.fitness)
    np.testing.assert_array_equal(a.final_rewards, b.final_rewards)
    assert not np.array_equal(a.fitness, c.fitness)


def test_nan_fitness_names_generation():
    game = make_differentiable("ipd")
    # same structure as the game above (gamma is a traced param): no recompile
    nan_game = dataclasses.replace(game, params={**game.params, "gamma": jnp.float32(jnp.nan)})
    with pytest.raises(ValueError, match="NaN at generation 0"):
        train_mfos_es(jax.random.PRNGKey(0), nan_game, _SMALL)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("population_size", 3),
        ("population_size", 0),
        ("inner_episodes", 0),
        ("generations", 1.5),
        ("sigma", 0.0),
        ("lr", float("nan")),
        ("meta_state", "mine"),
    ],
)
def test_bad_config(field, value):
    with pytest.raises(ValueError, match=field):
        MFOSConfig(**{field: value})


def test_bad_game():
    with pytest.raises(ValueError, match="game"):
        train_mfos_es(jax.random.PRNGKey(0), "ipd", MFOSConfig(generations=1))
