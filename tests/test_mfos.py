"""M-FOS-ES against the exact naive learner (Lu et al. 2022, https://arxiv.org/abs/2205.01447)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.differentiable import make_differentiable
from detente.solvers.dynamics import DynamicsHParams, make_rule
from detente.solvers.shaping.mfos import (
    MFOSConfig,
    MFOSState,
    init_meta_params,
    make_meta_episode,
    make_meta_policy,
    make_mfos_es,
    mfos_game,
    naive_gradient,
    run_steps,
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


# 100 generations of 32 members x 8 opponents x 100 inner episodes (about 17 s of CPU)
_RUN = MFOSConfig(
    generations=100, population_size=32, opponents=8, eval_opponents=64, sigma=0.1, lr=0.1
)


@pytest.fixture(scope="module")
def ipd_run():
    return train_mfos_es(jax.random.PRNGKey(0), make_differentiable("ipd"), _RUN)


def test_es_improves_fitness(ipd_run):
    f = np.asarray(ipd_run.fitness)
    assert f.shape == (100,)
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


def test_same_key_same_numbers(ipd_run):
    game = make_differentiable("ipd")
    b = train_mfos_es(jax.random.PRNGKey(0), game, _RUN)  # the compiled program of ipd_run
    c = train_mfos_es(jax.random.PRNGKey(6), game, _RUN)
    np.testing.assert_array_equal(ipd_run.fitness, b.fitness)
    np.testing.assert_array_equal(ipd_run.final_rewards, b.final_rewards)
    assert not np.array_equal(ipd_run.fitness, c.fitness)


def test_nan_fitness_names_generation():
    game = make_differentiable("ipd")
    # same structure as the game above (gamma is a traced param): no recompile
    nan_game = dataclasses.replace(game, params={**game.params, "gamma": jnp.float32(jnp.nan)})
    with pytest.raises(ValueError, match="NaN at generation 0"):
        train_mfos_es(jax.random.PRNGKey(0), nan_game, _RUN)


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
        ("member_block", 0),
    ],
)
def test_bad_config(field, value):
    with pytest.raises(ValueError, match=field):
        MFOSConfig(**{field: value})


def test_bad_game():
    with pytest.raises(ValueError, match="game"):
        train_mfos_es(jax.random.PRNGKey(0), "ipd", MFOSConfig(generations=1))


def test_naive_gradient_is_the_naive_rule():
    """The naive learner's step is ``make_rule("naive")``'s (lr 1), to float rounding."""
    game = mfos_game("ipd")
    k1, k2 = jax.random.split(jax.random.PRNGKey(4))
    thetas = (jax.random.normal(k1, (5,)), jax.random.normal(k2, (5,)))
    rule = make_rule("naive")
    delta, _ = jax.jit(lambda th: rule.update(1, th, (), game, DynamicsHParams(lr=1.0)))(thetas)
    grad = jax.jit(lambda th: naive_gradient(game, th, 1))(thetas)
    np.testing.assert_allclose(grad, delta, rtol=1e-4, atol=1e-4)
    assert float(jnp.abs(delta).max()) > 0.1


def test_paper_games():
    """The authors' code plays IMP at gamma 0.96 (LOLA's IMP, ``"imp"``, at 0.9)."""
    imp, ipd = mfos_game("imp"), mfos_game("ipd")
    np.testing.assert_allclose(float(imp.params["gamma"]), 0.96, rtol=1e-6)
    np.testing.assert_allclose(float(imp.step_scale), 0.04, rtol=1e-5)
    np.testing.assert_allclose(float(make_differentiable("imp").params["gamma"]), 0.9, rtol=1e-6)
    np.testing.assert_allclose(float(ipd.params["gamma"]), 0.96, rtol=1e-6)
    assert mfos_game("chicken").dims == (1, 1)
    with pytest.raises(ValueError, match="game"):
        mfos_game("pennies")


def _same(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


_SMALL = MFOSConfig(
    inner_episodes=10, generations=3, population_size=4, opponents=2, eval_opponents=2
)


def test_trainer_in_chunks_is_bit_identical(ipd_run):
    """Steps in chunks (a scan of 2, then one step) = three single steps, bit for bit."""
    trainer = make_mfos_es(mfos_game("ipd"), _SMALL)
    assert trainer.num_steps == _SMALL.generations == 3
    state0 = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    assert isinstance(state0, MFOSState) and state0.key.dtype == jnp.uint32
    step = jax.jit(trainer.step)
    a, ms = state0, []
    for _ in range(3):
        a, m = step(a)
        ms.append(m)
    b, m2 = jax.jit(lambda s: run_steps(trainer, s, 2))(state0)
    b, m3 = step(b)
    assert _same(a, b) and int(b.generation) == 3
    assert sorted(m3) == ["best_fitness", "fitness", "reward_0", "reward_1"]
    for name in m3:
        np.testing.assert_array_equal([float(m[name]) for m in ms], np.append(m2[name], m3[name]))
    # train_mfos_es's result holds the trainer's evaluation
    ev = ipd_run.evaluation
    assert ev["mean_reward"].shape == (2,) and ev["rewards"].shape == (100, 2)
    assert ev["p_cooperate"].shape == ev["agent_p_cooperate"].shape == (5,)
    np.testing.assert_array_equal(ipd_run.final_mean_rewards, ev["mean_reward"])
    np.testing.assert_allclose(
        ipd_run.final_mean_rewards, ipd_run.final_rewards.mean(axis=0), rtol=1e-6
    )
    assert int(ipd_run.state.generation) == _RUN.generations


def test_evaluate_untrained_against_independent_loop():
    """An untrained meta-policy plays the uniform inner policy (its output layer is
    zero): ``agent_p_cooperate`` is exactly 1/2, and the naive learners' final
    cooperation and rewards match an independent Monte-Carlo loop (jax.grad of
    V_2, other opponents) to sampling error."""
    game = mfos_game("ipd")
    config = MFOSConfig(inner_episodes=30, eval_opponents=512)
    trainer = make_mfos_es(game, config)
    ev = jax.jit(trainer.evaluate)(jax.jit(trainer.init)(jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(ev["agent_p_cooperate"], 0.5)

    def oracle(key):
        theta_1 = jnp.zeros(5)

        def body(theta_2, _):
            r = (1 - 0.96) * game.values((theta_1, theta_2))
            g = jax.grad(lambda t: game.values((theta_1, t))[1])(theta_2)
            return theta_2 + g, r

        theta_2, r = jax.lax.scan(body, jax.random.normal(key, (5,)), None, length=30)
        return jax.nn.sigmoid(theta_2), r

    p, r = jax.jit(jax.vmap(oracle))(jax.random.split(jax.random.PRNGKey(99), 512))
    # M-FOS cooperates half the time: with c the naive learner's discounted
    # cooperation, r_1 = -2.5 + 2c and r_2 = -1 - c, so r_1 + 2 r_2 = -4.5
    np.testing.assert_allclose(ev["rewards"] @ np.array([1.0, 2.0]), -4.5, atol=1e-4)
    # standard errors: p about 0.003, rewards about 0.015 per inner episode
    np.testing.assert_allclose(ev["p_cooperate"], p.mean(axis=0), atol=0.02)
    np.testing.assert_allclose(ev["rewards"], r.mean(axis=0), atol=0.07)
    # against a uniform player, defection is the naive learner's best response
    assert np.all(np.asarray(ev["p_cooperate"]) < 0.25)


@pytest.fixture(scope="module")
def imp_run():
    return train_mfos_es(jax.random.PRNGKey(0), mfos_game("imp"), _RUN)


def test_mfos_exploits_naive_learner_in_matching_pennies(imp_run):
    """The paper's IMP (gamma 0.96): M-FOS wins at least 0.6 per step (zero-sum)."""
    m, n = np.asarray(imp_run.final_mean_rewards)
    np.testing.assert_allclose(m + n, 0.0, atol=1e-5)
    assert m > 0.6, m


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mfos_imp_at_larger_budget(seed):
    config = MFOSConfig(
        generations=300, population_size=64, opponents=16, eval_opponents=256, lr=0.1
    )
    res = train_mfos_es(jax.random.PRNGKey(seed), mfos_game("imp"), config)
    assert float(res.final_mean_rewards[0]) > 0.7, res.final_mean_rewards


# ----------------------------------------------------------------------------
# Meta-self-play


def test_swap_players():
    from detente.solvers.shaping.meta_selfplay import swap_players

    for name in ("imp", "ipd"):
        game = mfos_game(name)
        swapped = swap_players(game)
        a, b = jax.random.normal(jax.random.PRNGKey(0), (2, 5))
        np.testing.assert_allclose(swapped.values((a, b)), game.values((b, a))[::-1], rtol=1e-6)
        pa, pb = swapped.policies((a, b))
        np.testing.assert_allclose(pa, jax.nn.sigmoid(a), rtol=1e-6)
        assert swap_players(swapped).dims == game.dims
    # matching pennies is zero-sum, player 1 the matcher: as player 2 of the
    # swapped game it still wins when both play heads (action 0)
    heads, tails = jnp.full(5, 30.0), jnp.full(5, -30.0)
    np.testing.assert_allclose(
        swap_players(mfos_game("imp")).values((heads, heads)) * 0.04, [-1.0, 1.0], atol=1e-4
    )
    np.testing.assert_allclose(
        swap_players(mfos_game("imp")).values((tails, heads)) * 0.04, [1.0, -1.0], atol=1e-4
    )
    with pytest.raises(ValueError, match="game"):
        swap_players("ipd")


def test_mixing_weight():
    from detente.solvers.shaping.meta_selfplay import mixing_weight

    np.testing.assert_allclose(mixing_weight(jnp.arange(6), 4), [1, 0.75, 0.5, 0.25, 0, 0])


_SP_SMALL = dict(inner_episodes=5, population_size=4, opponents=2, generations=3, eval_opponents=8)


def test_selfplay_trainer_untrained():
    """An untrained pair (uniform inner policies) gets exactly -1.5 each in the
    IPD, and r_1 + 2 r_2 = -4.5 against naive learners (the uniform-player
    identity); ``step``'s structure without compiling it."""
    from detente.solvers.shaping.meta_selfplay import (
        SelfPlayConfig,
        SelfPlayState,
        make_mfos_selfplay,
    )

    trainer = make_mfos_selfplay(mfos_game("ipd"), SelfPlayConfig(**_SP_SMALL))
    state0 = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    assert isinstance(state0, SelfPlayState)
    ev = jax.jit(trainer.evaluate)(state0)
    np.testing.assert_allclose(ev["mean_reward"], [-1.5, -1.5], rtol=1e-5)
    assert ev["p_cooperate"].shape == (2, 5)
    np.testing.assert_allclose(ev["p_cooperate"], 0.5)
    np.testing.assert_allclose(ev["naive_mean_reward"] @ np.array([1.0, 2.0]), -4.5, atol=1e-4)
    state, metrics = jax.eval_shape(trainer.step, state0)
    assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(state0)
    assert sorted(metrics) == sorted(
        ["fitness", "fitness_0", "fitness_1", "reward_0", "reward_1", "vs_naive", "mixing"]
    )
    with pytest.raises(ValueError, match="anneal_generations"):
        SelfPlayConfig(anneal_generations=0)


@pytest.mark.slow
def test_selfplay_trainer_in_chunks():
    """Chunks are bit-identical; with anneal_generations=1 only generation 0 is
    played against naive learners."""
    from detente.solvers.shaping.meta_selfplay import SelfPlayConfig, make_mfos_selfplay

    config = SelfPlayConfig(**_SP_SMALL, anneal_generations=1, shared=False)
    trainer = make_mfos_selfplay(mfos_game("ipd"), config)
    state0 = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    step = jax.jit(trainer.step)
    a, ms = state0, []
    for _ in range(3):
        a, m = step(a)
        ms.append(m)
    b, m2 = jax.jit(lambda s: run_steps(trainer, s, 2))(state0)
    b, m3 = step(b)
    assert _same(a, b)
    for name in ("fitness_0", "fitness_1", "vs_naive"):
        np.testing.assert_array_equal([float(m[name]) for m in ms], np.append(m2[name], m3[name]))
    np.testing.assert_array_equal([float(m["vs_naive"]) for m in ms], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal([float(m["mixing"]) for m in ms], [1.0, 0.0, 0.0])


def test_shared_policy_only_for_symmetric_games():
    from detente.solvers.shaping.meta_selfplay import (
        SelfPlayConfig,
        is_symmetric,
        make_mfos_selfplay,
        resolve_shared,
    )

    assert is_symmetric(mfos_game("ipd")) and is_symmetric(mfos_game("chicken"))
    assert not is_symmetric(mfos_game("imp"))
    assert resolve_shared(mfos_game("ipd"), SelfPlayConfig()) is True
    assert resolve_shared(mfos_game("imp"), SelfPlayConfig()) is False
    assert resolve_shared(mfos_game("ipd"), SelfPlayConfig(shared=False)) is False
    with pytest.raises(ValueError, match="shared"):
        make_mfos_selfplay(mfos_game("imp"), SelfPlayConfig(shared=True))
    with pytest.raises(ValueError, match="shared"):
        SelfPlayConfig(shared="yes")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_meta_selfplay_cooperates_in_the_ipd(seed):
    """The paper's meta-self-play result: both M-FOS agents (one shared
    meta-policy, the default in the symmetric IPD) end at mutual cooperation
    (-1 per step), far above mutual defection (-2). Measured: -1.00 each."""
    from detente.solvers.shaping.meta_selfplay import SelfPlayConfig, train_mfos_selfplay

    res = train_mfos_selfplay(jax.random.PRNGKey(seed), mfos_game("ipd"), SelfPlayConfig())
    assert np.all(np.asarray(res.evaluation["mean_reward"]) >= -1.2), res.evaluation


@pytest.mark.slow
def test_meta_selfplay_without_curriculum_defects():
    """Ablation: without naive-learner mixing the shared policy ends at mutual
    defection (measured -2.00 each in 3 of 3 seeds)."""
    from detente.solvers.shaping.meta_selfplay import SelfPlayConfig, train_mfos_selfplay

    config = SelfPlayConfig(anneal_generations=1)
    res = train_mfos_selfplay(jax.random.PRNGKey(0), mfos_game("ipd"), config)
    assert np.all(np.asarray(res.evaluation["mean_reward"]) < -1.8), res.evaluation
