"""Shaper (Khan et al. 2024, https://arxiv.org/abs/2312.12568): rollout, ES trainer, results.

The default tests compile seven small programs; the acceptance run (Shaper
extorts the naive learner), the PPO CoinGame pairing and the four-device
sharding check are marked ``slow``.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.coin_game import CoinGame
from detente.games.iterated_env import FIXED_STRATEGIES, IteratedMatrixGame
from detente.solvers.rl.types import InnerLearner
from detente.solvers.shaping.learners import PGConfig, fixed_learner, pg_learner
from detente.solvers.shaping.shaper import (
    ShaperConfig,
    ShaperNetwork,
    init_shaper_params,
    make_shaper,
    make_shaper_episode,
    opponent_p_cooperate,
    train_shaper,
)

IPD = IteratedMatrixGame(num_steps=8)
IPD_PARAMS = IPD.default_params()  # LOLA's payoffs: CC -1, CD -3, DC 0, DD -2
DEFECT = fixed_learner("always_defect")
TINY = ShaperConfig(
    inner_episodes=4,
    num_envs=2,
    population_size=16,
    generations=25,
    opponents=2,
    hidden_size=8,
    sigma=0.1,
    lr=0.05,
    eval_opponents=4,
    member_block=4,
)
PG_ENV = IteratedMatrixGame(num_steps=16)
PG = pg_learner()  # one object: train_shaper's compiled program is reused across tests
SMALL = ShaperConfig(
    inner_episodes=8,
    num_envs=2,
    population_size=16,
    generations=20,
    opponents=4,
    hidden_size=8,
    sigma=0.1,
    lr=0.05,
    eval_opponents=16,
)


# ----------------------------------------------------------------------------
# The rollout


def _deterministic_params(key, config, scale=1e4):
    """Random GRU weights and a huge actor head: Shaper plays its argmax action."""
    params = init_shaper_params(key, IPD, config)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(11), len(leaves))
    leaves = [jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    params = jax.tree_util.tree_unflatten(treedef, leaves)
    head = params["params"]["Dense_0"]
    params["params"]["Dense_0"] = {k: scale * v for k, v in head.items()}
    return params


def _reference(params, config, opponent_probs, num_episodes, num_steps):
    """Python loop over steps: deterministic Shaper (argmax) vs a deterministic memory-one policy.

    Returns ``(rewards [M, 2], hidden_start [M, H])``.
    """
    net = ShaperNetwork(hidden_size=config.hidden_size, num_actions=2)
    apply = jax.jit(net.apply)
    payoffs = np.asarray(IPD_PARAMS.payoffs)
    eye = np.eye(5, dtype=np.float32)
    h = np.zeros(config.hidden_size, np.float32)
    rewards, starts = [], []
    for _ in range(num_episodes):
        if config.context == "within":
            h = np.zeros_like(h)
        starts.append(h)
        s0 = s1 = 0  # start state, each player's own view
        seen, total = [], np.zeros(2)
        for _ in range(num_steps):
            h_new, logits = apply(params, jnp.asarray(h), jnp.asarray(eye[s0]))
            a0 = int(np.argmax(logits))
            a1 = 0 if opponent_probs[s1] > 0.5 else 1
            total += payoffs[:, a0, a1]
            seen.append(eye[s0])
            if config.context != "across":
                h = np.asarray(h_new)
            s0, s1 = 1 + 2 * a0 + a1, 1 + 2 * a1 + a0
        if config.context == "across":
            h = np.asarray(apply(params, jnp.asarray(h), jnp.asarray(np.mean(seen, 0)))[0])
        rewards.append(total / num_steps)
    return np.stack(rewards), np.stack(starts)


@pytest.mark.parametrize("context", ["both", "within", "across"])
def test_rollout_matches_python_loop(context):
    """Against tit-for-tat (deterministic), the compiled meta-episode equals a plain loop,
    and the context ablation is real: ``"within"`` starts every inner episode from the
    initial carry, ``"both"`` and ``"across"`` from a carried one."""
    config = ShaperConfig(inner_episodes=5, num_envs=2, hidden_size=8, context=context)
    params = _deterministic_params(jax.random.PRNGKey(1), config)
    episode = jax.jit(make_shaper_episode(IPD, IPD_PARAMS, fixed_learner("tit_for_tat"), config))
    out = episode(params, jax.random.PRNGKey(3))
    tft = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    rewards, starts = _reference(params, config, tft, 5, IPD.num_steps)
    assert out.rewards.shape == (5, 2)
    assert out.hidden_start.shape == (5, 2, 8)
    assert out.coins is None
    np.testing.assert_allclose(out.rewards, rewards, atol=1e-6)
    for e in range(2):  # deterministic play: both envs identical
        np.testing.assert_allclose(out.hidden_start[:, e], starts, atol=1e-5)
    if context != "within":  # the memory carries over: each episode starts where the last ended
        np.testing.assert_array_equal(out.hidden_start[1:], out.hidden_end[:-1])
    norms = np.linalg.norm(np.asarray(out.hidden_start), axis=-1)  # [M, E]
    assert np.all(norms[0] == 0.0)
    if context == "within":
        assert np.all(norms == 0.0)
    else:
        assert np.all(norms[1:] > 1e-2)


def test_batch_average():
    """Batch averaging: every inner episode after the first starts, in all E envs, from
    the mean of the E hidden states the previous one ended with (which differ: the
    opponent plays at random)."""
    config = ShaperConfig(inner_episodes=3, num_envs=4, hidden_size=8, batch_average=True)
    params = _deterministic_params(jax.random.PRNGKey(2), config, scale=1.0)
    episode = jax.jit(make_shaper_episode(IPD, IPD_PARAMS, fixed_learner("random"), config))
    out = episode(params, jax.random.PRNGKey(4))
    start, end = np.asarray(out.hidden_start), np.asarray(out.hidden_end)  # [M, E, H]
    assert np.all(np.abs(end - end.mean(axis=1, keepdims=True)).max(axis=(1, 2)) > 1e-3)
    mean_end = np.broadcast_to(end[:-1].mean(axis=1, keepdims=True), start[1:].shape)
    np.testing.assert_allclose(start[1:], mean_end, atol=1e-6)
    np.testing.assert_array_equal(start[0], 0.0)


# ----------------------------------------------------------------------------
# The trainer against always-defect: one compiled loop, run whole and in chunks


@pytest.fixture(scope="module")
def defect():
    """TINY vs always-defect: 25 generations in one call and as 10 + 15, same program."""
    trainer = make_shaper(IPD, IPD_PARAMS, DEFECT, TINY)
    start = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    shapes = jax.eval_shape(trainer.step, start)[1]
    buf = {k: jnp.zeros((TINY.generations,), v.dtype) for k, v in shapes.items()}

    def steps(carry, n):
        def body(i, c):
            state, buf = c
            new, m = trainer.step(state)
            return new, {k: buf[k].at[state.generation].set(m[k]) for k in buf}

        return jax.lax.fori_loop(0, n, body, carry)

    run = jax.jit(steps)
    whole = run((start, buf), 25)
    split = run(run((start, buf), 10), 15)
    return {"trainer": trainer, "whole": whole, "split": split, "metric_names": set(shapes)}


def test_learns_to_defect_against_always_defect(defect):
    """Against always-defect, c = Shaper's cooperation rate gives r_0 = -2 - c and
    r_1 = -2 + 2c, so r_1 + 2 r_0 = -6 exactly; the best response defects (r_0 -> -2)."""
    state, m = defect["whole"]
    f = np.asarray(m["fitness"])
    assert np.all(np.asarray(m["best_fitness"]) >= f)
    np.testing.assert_allclose(
        np.asarray(m["reward_1"]) + 2 * np.asarray(m["reward_0"]), -6.0, atol=1e-4
    )
    np.testing.assert_array_equal(m["reward_0"], m["fitness"])
    assert f[0] < -2.3  # a near-uniform start cooperates about half the time
    assert f[-1] > -2.05, f  # the population (mean and perturbations) defects


def test_opponent_p_cooperate_reads_memory_one_policies():
    for name in ("tit_for_tat", "grim", "always_defect", "random"):
        learner = fixed_learner(name)
        p = opponent_p_cooperate(learner, learner.init(None), jax.random.PRNGKey(0))
        np.testing.assert_allclose(p, FIXED_STRATEGIES[name], atol=1e-6)
    pg = pg_learner(PGConfig(theta=(0.0, 1.0, -1.0, 2.0, -3.0)))
    p = opponent_p_cooperate(pg, pg.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    np.testing.assert_allclose(p, jax.nn.sigmoid(jnp.array([0.0, 1.0, -1.0, 2.0, -3.0])), 1e-6)


def test_steps_in_chunks_equal_one_run(defect):
    """The Trainer contract: 10 + 15 steps from ``init`` equal 25 steps, bit for bit."""
    whole, split = defect["whole"], defect["split"]
    assert int(split[0].generation) == TINY.generations
    assert defect["trainer"].num_steps == TINY.generations
    for x, y in zip(
        jax.tree_util.tree_leaves(split), jax.tree_util.tree_leaves(whole), strict=True
    ):
        np.testing.assert_array_equal(x, y)
    assert defect["metric_names"] == {"fitness", "best_fitness", "reward_0", "reward_1"}


# ----------------------------------------------------------------------------
# train_shaper against the policy-gradient naive learner


@pytest.fixture(scope="module")
def pg_run():
    return train_shaper(jax.random.PRNGKey(0), PG_ENV, PG_ENV.default_params(), PG, SMALL)


def test_beats_naive_learner_at_tiny_budget(pg_run):
    """Against the policy-gradient naive learner, Shaper ends ahead of it."""
    r0, r1 = np.asarray(pg_run.evaluation["mean_reward"])
    assert r0 > r1 + 0.1, (r0, r1)
    f = np.asarray(pg_run.fitness)
    assert f.shape == (SMALL.generations,)
    assert f[-5:].mean() > f[:5].mean()
    p = np.asarray(pg_run.evaluation["p_cooperate"])
    assert p.shape == (5,) and np.all((p >= 0) & (p <= 1))


def test_same_key_same_numbers(pg_run):
    params = PG_ENV.default_params()
    again = train_shaper(jax.random.PRNGKey(0), PG_ENV, params, PG, SMALL)
    other = train_shaper(jax.random.PRNGKey(1), PG_ENV, params, PG, SMALL)
    np.testing.assert_array_equal(again.fitness, pg_run.fitness)
    np.testing.assert_array_equal(again.evaluation["rewards"], pg_run.evaluation["rewards"])
    assert not np.array_equal(other.fitness, pg_run.fitness)


def test_nan_fitness_names_generation(pg_run):
    params = PG_ENV.default_params()
    nan_params = params.replace(payoffs=params.payoffs.at[0, 1, 1].set(jnp.nan))
    with pytest.raises(ValueError, match="NaN at generation 0"):
        train_shaper(jax.random.PRNGKey(0), PG_ENV, nan_params, PG, SMALL)


# ----------------------------------------------------------------------------
# CoinGame


def _uniform_learner(num_actions: int) -> InnerLearner:
    """A test-local learner that plays uniformly at random and never learns."""

    def act(state, obs, key):
        a = jax.random.randint(key, (), 0, num_actions)
        return a, -jnp.log(jnp.float32(num_actions)), jnp.zeros(())

    return InnerLearner(
        init=lambda key: jnp.zeros(()), act=act, update=lambda s, tr, obs, key: s + 1
    )


def _coin_evaluation(opponent):
    env = CoinGame(episode_length=4, reward_final_step=True)
    config = ShaperConfig(
        inner_episodes=2,
        num_envs=2,
        population_size=4,
        hidden_size=8,
        embed_size=8,
        eval_opponents=128,
    )
    trainer = make_shaper(env, env.default_params(), opponent(env), config)
    return jax.jit(trainer.evaluate)(trainer.init(jax.random.PRNGKey(0)))


def _check_coins(ev):
    """With the final step scored, r_i = own_i + other_i - 2 other_j per step (payoffs
    1, 1, -2): the rewards follow from the coin counts."""
    assert set(ev) == {"mean_reward", "rewards", "coins", "own_coin_rate"}
    c = np.asarray(ev["coins"])  # [agent, (own, other)] per step
    assert c.shape == (2, 2) and np.all(c > 0)
    expected = c[:, 0] + c[:, 1] - 2 * c[::-1, 1]
    np.testing.assert_allclose(ev["mean_reward"], expected, atol=1e-5)
    np.testing.assert_allclose(ev["own_coin_rate"], c[:, 0] / c.sum(1), rtol=1e-5)


def test_coin_game_evaluation():
    """Against a uniformly random opponent; it walks independently of the coins' colours,
    so half the coins it picks up are its own."""
    ev = _coin_evaluation(lambda env: _uniform_learner(env.num_actions))
    _check_coins(ev)
    assert abs(float(ev["own_coin_rate"][1]) - 0.5) < 0.1, ev["own_coin_rate"]


@pytest.mark.slow
def test_coin_game_evaluation_against_ppo():
    from detente.solvers.rl import PPOConfig, make_ppo_learner

    _check_coins(
        _coin_evaluation(lambda env: make_ppo_learner(env, PPOConfig(minibatches=2), agent=1))
    )


# ----------------------------------------------------------------------------
# Sharding


CHILD = textwrap.dedent(
    """
    import json, jax, numpy as np
    import test_shaper as t
    from detente.solvers.shaping.shaper import make_shaper

    tr = make_shaper(t.IPD, t.IPD_PARAMS, t.DEFECT, t.TINY)
    state, m = jax.jit(tr.step)(jax.jit(tr.init)(jax.random.PRNGKey(0)))
    print(json.dumps({"devices": len(jax.devices()),
                      "metrics": {k: float(v) for k, v in m.items()}}))
    """
)


@pytest.mark.slow
def test_population_sharded_over_four_devices(defect):
    """The population's fitness runs through map_blocks_sharded: on 4 CPU devices (one
    block of 4 members each) the first generation matches the one-device run (4 blocks)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(__file__), *filter(None, [env.get("PYTHONPATH")])]
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    four = json.loads(proc.stdout.strip().splitlines()[-1])
    assert four["devices"] == 4
    _, m = defect["whole"]
    for k, v in four["metrics"].items():
        np.testing.assert_allclose(v, float(m[k][0]), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("population_size", 3),
        ("population_size", 0),
        ("inner_episodes", 0),
        ("num_envs", 1.5),
        ("generations", -1),
        ("sigma", 0.0),
        ("lr", float("nan")),
        ("context", "history"),
        ("batch_average", 1),
        ("embed_size", -1),
        ("member_block", 0),
    ],
)
def test_bad_config(field, value):
    with pytest.raises(ValueError, match=field):
        ShaperConfig(**{field: value})


def test_bad_env_and_opponent():
    with pytest.raises(ValueError, match="opponent"):
        make_shaper(IPD, IPD_PARAMS, "naive", TINY)
    with pytest.raises(ValueError, match="env"):
        make_shaper("ipd", IPD_PARAMS, DEFECT, TINY)
    with pytest.raises(ValueError, match="inner_steps"):
        make_shaper(IPD, IPD_PARAMS, DEFECT, ShaperConfig(inner_steps=3))


# ----------------------------------------------------------------------------
# Acceptance (issue 4), paper-style budget


@pytest.mark.slow
def test_shaper_extorts_naive_learner():
    """Shaper vs the policy-gradient naive learner in the IPD: Shaper's per-step reward
    above mutual cooperation (-1), the learner's below mutual defection (-2), as M-FOS.
    About 13 minutes on a busy 2-core CPU."""
    env = IteratedMatrixGame(num_steps=50)
    config = ShaperConfig(
        inner_episodes=100,
        num_envs=2,
        population_size=64,
        generations=400,
        opponents=4,
        sigma=0.1,
        lr=0.05,
        eval_opponents=32,
    )
    res = train_shaper(jax.random.PRNGKey(0), env, env.default_params(), pg_learner(), config)
    r0, r1 = np.asarray(res.evaluation["mean_reward"])
    assert r0 > -1.0, (r0, r1)
    assert r1 < -2.0, (r0, r1)


@pytest.mark.slow
def test_paper_figure_quick(tmp_path):
    """``paper_figures/shaper.py --quick`` writes its folder (about 2 minutes)."""
    figures = os.path.join(os.path.dirname(os.path.dirname(__file__)), "paper_figures")
    sys.path.insert(0, figures)
    try:
        import shaper as script
    finally:
        sys.path.remove(figures)
    out = tmp_path / "shaper"
    summary = script.main(["--quick", "--out", str(out)])
    assert {p.name for p in out.iterdir()} == {
        "summary.json",
        "config.json",
        "arrays.npz",
        "shaper.png",
    }
    saved = json.loads((out / "summary.json").read_text())
    assert saved["passed"] == summary["passed"] == all(c["passed"] for c in saved["checks"])
    assert len(saved["checks"]) == 3
    assert saved["ours"]["coin"]["seeds"] == 8
