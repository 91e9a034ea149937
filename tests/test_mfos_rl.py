"""M-FOS-RL: the meta-policy trained by PPO against exact naive learners
(Lu et al. 2022, https://arxiv.org/abs/2205.01447)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.solvers.rl.ppo import PPOConfig
from detente.solvers.shaping.mfos import mfos_game, run_steps
from detente.solvers.shaping.mfos_rl import (
    MFOSRLConfig,
    MFOSRLState,
    make_meta_rollout,
    make_mfos_rl,
    meta_policy,
    train_mfos_rl,
)

_TINY = MFOSRLConfig(
    inner_episodes=6,
    num_envs=4,
    updates=3,
    eval_opponents=4,
    ppo=PPOConfig(gae_lambda=1.0, minibatches=2, epochs=2),
)


def test_rollout_is_the_meta_game():
    """Replay a sampled rollout with an independent loop: the meta-state is
    (sigmoid(own last logits), sigmoid(opponent's logits)); the reward is the
    exact per-step value of the sampled logits; the naive learner ascends
    jax.grad of its own value with lr 1; log-probabilities are the Gaussian's."""
    game = mfos_game("ipd")
    config = _TINY
    policy = meta_policy(game, config)
    params = policy.init(jax.random.PRNGKey(0))
    out = jax.jit(make_meta_rollout(game, config))(
        params, jax.random.split(jax.random.PRNGKey(1), 4)
    )
    tr = out.transitions
    assert tr.obs.shape == (4, 6, 10) and tr.action.shape == (4, 6, 5)
    assert out.rewards.shape == (4, 6, 2) and out.opponent_final.shape == (4, 5)
    np.testing.assert_array_equal(tr.done, np.tile([False] * 5 + [True], (4, 1)))
    np.testing.assert_array_equal(tr.reward, out.rewards[..., 0])

    obs, act = np.asarray(tr.obs, np.float64), np.asarray(tr.action, np.float64)
    np.testing.assert_allclose(obs[:, 0, :5], 0.5)  # theta_1^{-1} = 0
    np.testing.assert_allclose(obs[:, 1:, :5], 1 / (1 + np.exp(-act[:, :-1])), rtol=1e-5)
    theta_2 = np.log(obs[..., 5:] / (1 - obs[..., 5:]))  # [E, T, 5]
    theta_2_next = np.concatenate([theta_2[:, 1:], np.asarray(out.opponent_final)[:, None]], 1)
    a, b = (
        jnp.asarray(act.reshape(24, 5), jnp.float32),
        jnp.asarray(theta_2.reshape(24, 5), jnp.float32),
    )
    values = jax.vmap(lambda x, y: (1 - 0.96) * game.values((x, y)))(a, b)
    grad_2 = jax.vmap(jax.grad(lambda y, x: game.values((x, y))[1]))(b, a)
    np.testing.assert_allclose(out.rewards.reshape(24, 2), values, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(b + grad_2, theta_2_next.reshape(24, 5), rtol=1e-3, atol=1e-3)

    _, pi, value = policy.apply(
        params, policy.initial_carry((4,)), jnp.swapaxes(tr.obs, 0, 1), None
    )
    mean = np.asarray(jnp.swapaxes(pi.mean, 0, 1), np.float64)
    std = np.exp(np.asarray(params["params"]["heads"]["log_std"], np.float64))
    logp = (-0.5 * ((act - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    np.testing.assert_allclose(tr.log_prob, logp, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tr.value, jnp.swapaxes(value, 0, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_envs", 0),
        ("updates", -1),
        ("reward_scale", 0.0),
        ("meta_state", "mine"),
        ("network", "mlp"),
        ("ppo", {"lr": 1e-3}),
    ],
)
def test_bad_config(field, value):
    with pytest.raises(ValueError, match=field):
        MFOSRLConfig(**{field: value})


def test_bad_minibatches_and_network():
    from detente.solvers.rl.policy import NetworkConfig

    with pytest.raises(ValueError, match="minibatches"):
        MFOSRLConfig(num_envs=3, inner_episodes=5, ppo=PPOConfig(minibatches=4))
    with pytest.raises(ValueError, match="network"):
        MFOSRLConfig(network=NetworkConfig(continuous=False))
    with pytest.raises(ValueError, match="game"):
        make_mfos_rl("ipd", _TINY)


# 64 meta-episodes x 80 updates: seeds 0, 1, 2 gave M-FOS -0.86, -0.83, -0.84
# against the naive learner's -1.36, -1.44, -1.46
_SMALL = dataclasses.replace(
    MFOSRLConfig(), num_envs=64, updates=80, ppo=dataclasses.replace(MFOSRLConfig().ppo, lr=6e-3)
)


@pytest.fixture(scope="module")
def small():
    """The trainer of ``_SMALL`` on the IPD and its compiled step (shared by two tests)."""
    trainer = make_mfos_rl(mfos_game("ipd"), _SMALL)
    return trainer, jax.jit(trainer.step)


def _same(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def test_trainer_in_chunks_is_bit_identical(small):
    """A scan of 2 updates then one update = three single updates, bit for bit."""
    trainer, step = small
    state0 = jax.jit(trainer.init)(jax.random.PRNGKey(2))
    assert isinstance(state0, MFOSRLState) and state0.key.dtype == jnp.uint32
    a, ms = state0, []
    for _ in range(3):
        a, m = step(a)
        ms.append(m)
    b, m2 = jax.jit(lambda s: run_steps(trainer, s, 2))(state0)
    b, m3 = step(b)
    assert _same(a, b) and int(b.update) == 3
    for name in m3:
        np.testing.assert_array_equal(
            [float(m[name]) for m in ms], np.append(m2[name], m3[name]), err_msg=name
        )
    assert all(np.isfinite(float(v)) for v in m3.values())


def test_mfos_rl_beats_the_naive_learner(small):
    """At a small budget (64 meta-episodes x 80 updates), M-FOS-RL shapes the
    naive learner: its reward is clearly above the learner's and above -1.6,
    where playing uniformly gets about -2.5 (the learner defects)."""
    trainer, step = small
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    fitness = []
    for _ in range(trainer.num_steps):
        state, m = step(state)
        fitness.append(float(m["fitness"]))
    f = np.asarray(fitness)
    assert f.shape == (80,) and np.all(np.isfinite(f))
    assert f[0] < -2.3  # untrained: about uniform play
    ev = jax.jit(trainer.evaluate)(state)
    assert ev["rewards"].shape == (100, 2)
    assert ev["p_cooperate"].shape == ev["agent_p_cooperate"].shape == (5,)
    m, n = np.asarray(ev["mean_reward"])
    assert m > -1.6 and m > n + 0.2, (m, n)
    ms, ns = np.asarray(ev["sampled_mean_reward"])
    assert ms > -1.6 and ms > ns + 0.2, (ms, ns)


@pytest.mark.slow
def test_mfos_rl_extorts_at_larger_budget():
    """256 meta-episodes x 500 updates: ZD extortion, as M-FOS-ES (measured:
    M-FOS -0.50, naive learner -2.08 per step)."""
    res = train_mfos_rl(jax.random.PRNGKey(0), mfos_game("ipd"), MFOSRLConfig(updates=500))
    m, n = np.asarray(res.evaluation["mean_reward"])
    assert m > -1.0 and n < -2.0, (m, n)
