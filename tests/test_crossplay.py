"""Cross-play matrices (analysis/crossplay.py) and agent files (solvers/zsc/agents.py).

Known values: hand-built deterministic agents on Other-Play's lever game give
the payoffs on the diagonal and zeros elsewhere; uniform agents give
``sum(payoffs) / A^2`` (z-test); a recurrent agent's matrix equals a plain
Python rollout of the same policies; agent files round-trip bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.analysis import crossplay as cp
from detente.analysis.crossplay import (
    crossplay,
    crossplay_heatmap,
    group_summary,
    make_crossplay,
    summarize,
    to_json,
)
from detente.env import TimeStep
from detente.games.coordination import OTHER_PLAY_PAYOFFS, IteratedLeverGame, LeverGame
from detente.solvers.rl.policy import NetworkConfig, make_policy
from detente.solvers.zsc.agents import (
    load_agents,
    network_from_json,
    network_to_json,
    save_agents,
)

LINEAR = NetworkConfig(hidden_sizes=())  # logits = obs @ kernel + bias
PAYOFFS = np.asarray(OTHER_PLAY_PAYOFFS, np.float32)


def linear_agents(biases, num_features: int = 1):
    """A stack of linear policies with zero kernels: agent k's logits are ``biases[k]``."""
    b = jnp.asarray(biases, jnp.float32)  # [K, A]
    k, a = b.shape
    return {
        "params": {
            "heads": {
                "actor_out": {"bias": b, "kernel": jnp.zeros((k, num_features, a))},
                "critic_out": {
                    "bias": jnp.zeros((k, 1)),
                    "kernel": jnp.zeros((k, num_features, 1)),
                },
            }
        }
    }


def random_agents(network, obs_shape, num_actions, k, seed, scale=0.5):
    """``k`` agents with N(0, scale^2) parameters (numpy; no compilation)."""
    template = jax.eval_shape(make_policy(obs_shape, num_actions, network).init, jax.random.key(0))
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(
        lambda t: (scale * rng.standard_normal((k, *t.shape))).astype(t.dtype), template
    )


def lever_pullers(levers, num_levers: int = 10, strength: float = 50.0):
    """Agent ``k`` pulls lever ``levers[k]`` (all other actions have probability < e^-49)."""
    return linear_agents(strength * np.eye(num_levers)[np.asarray(levers)])


@dataclasses.dataclass(frozen=True)
class MaskedLevers:
    """One-shot lever game whose last lever is illegal for both players."""

    num_levers: int = 4
    num_agents: ClassVar[int] = 2
    observation_shape: ClassVar[tuple[int, ...]] = (1,)

    @property
    def num_actions(self) -> int:
        return self.num_levers

    def default_params(self):
        return jnp.arange(1.0, self.num_levers + 1.0)  # payoffs 1, 2, 3, 4 (4 illegal)

    def _ts(self, done, rewards):
        mask = jnp.broadcast_to(
            jnp.arange(self.num_levers) < self.num_levers - 1, (2, self.num_levers)
        )
        return TimeStep(
            obs=jnp.ones((2, 1)),
            state=jnp.asarray(done),
            rewards=rewards,
            terminated=jnp.asarray(done),
            truncated=jnp.asarray(False),
            action_mask=mask,
            info={},
        )

    def reset(self, key, params):
        return self._ts(False, jnp.zeros(2))

    def step(self, key, state, actions, params):
        illegal = jnp.any(actions == self.num_levers - 1)
        r = jnp.where(actions[0] == actions[1], params[actions[0]], 0.0)
        r = jnp.where(illegal, -100.0, r)  # would show up in the returns
        return self._ts(True, jnp.stack([r, r]))


# ----------------------------------------------------------------------------
# Known values on the lever game


@pytest.mark.parametrize("greedy", [False, True])
def test_deterministic_agents_give_payoffs_on_the_diagonal(greedy):
    env = LeverGame()
    res = crossplay(
        env, LINEAR, lever_pullers(range(10)), None, jax.random.key(0), 4, greedy=greedy
    )
    np.testing.assert_allclose(res.returns, np.diag(PAYOFFS), rtol=0, atol=1e-7)
    np.testing.assert_allclose(res.seat_returns, np.stack([np.diag(PAYOFFS)] * 2), atol=1e-7)
    np.testing.assert_array_equal(res.sem, 0.0)
    assert res.self_play.mean == pytest.approx(PAYOFFS.mean()) and res.self_play.n == 10
    assert res.self_play.sem == pytest.approx(PAYOFFS.std(ddof=1) / math.sqrt(10), rel=1e-5)
    assert res.cross_play == (0.0, 0.0, 45)
    np.testing.assert_array_equal(res.mean_length, 1.0)
    assert res.unfinished == 0.0 and res.same_agents and res.greedy == greedy


def test_two_stacks_match_the_closed_form():
    """Rows: pull 0, pull 9, uniform; columns: pull 9, pull 3, uniform, pull 5.

    With lever distributions p (row) and q (column), one episode returns
    payoffs_a with probability p_a q_a, so a cell's mean is
    sum_a p_a q_a payoffs_a (two uniform agents: 9.9 / 100) and its variance
    sum_a p_a q_a payoffs_a^2 - mean^2. Deterministic cells are exact, the
    others pass z-tests.
    """
    env = LeverGame()
    eye, flat = np.eye(10), np.full((1, 10), 0.1)
    p = np.concatenate([eye[[0, 9]], flat])  # [3, 10]
    q = np.concatenate([eye[[9, 3]], flat, eye[[5]]])  # [4, 10]
    a, b = linear_agents(np.where(p == 1, 50.0, 0.0)), linear_agents(np.where(q == 1, 50.0, 0.0))
    e = 2000
    res = crossplay(env, LINEAR, a, b, jax.random.key(1), e)
    mean = np.einsum("ia,ja,a->ij", p, q, PAYOFFS)
    var = np.einsum("ia,ja,a->ij", p, q, PAYOFFS**2) - mean**2
    det = var < 1e-9
    assert det.sum() == 6
    np.testing.assert_allclose(res.returns[det], mean[det], atol=1e-7)
    np.testing.assert_array_equal(res.sem[det], 0.0)
    se = np.sqrt(var[~det] / (2 * e))
    z = (res.returns[~det] - mean[~det]) / se
    assert np.abs(z).max() < 4.5, z
    z_all = (res.returns[~det] - mean[~det]).sum() / np.sqrt((se**2).sum())
    assert abs(z_all) < 4.0
    np.testing.assert_allclose(res.sem[~det], se, rtol=0.15)  # the sems estimate the truth
    assert math.isnan(res.self_play.mean) and not res.same_agents
    assert res.cross_play.n == 12 and res.cross_play.mean == pytest.approx(res.returns.mean())
    # the raw program with the same static arguments: shapes, and no new compilation
    before = cp._TRACES
    run = make_crossplay(env, LINEAR, e)
    out = run(a, b, jax.random.PRNGKey(3), env.default_params(), jnp.int32(5))
    assert cp._TRACES == before
    assert out.returns.shape == (2, 3, 4, e) and out.length.dtype == jnp.int32
    assert out.finished.dtype == jnp.bool_ and bool(out.finished.all())
    np.testing.assert_allclose(out.returns[:, 1, 0], 0.9, atol=1e-7)


def test_masks_are_respected():
    """Uniform agents play uniformly over the 3 legal levers: (1 + 2 + 3) / 9; an agent
    preferring the illegal lever falls back to its other (equal) logits."""
    env = MaskedLevers()
    biases = np.zeros((2, 4))
    biases[1, 3] = 50.0  # agent 1 wants the illegal lever 3
    res = crossplay(env, LINEAR, linear_agents(biases), None, jax.random.key(3), 3000)
    assert (res.returns >= 0).all()  # -100 would mark an illegal action
    se = math.sqrt((14 / 9 - (6 / 9) ** 2) / 6000)
    np.testing.assert_array_less(np.abs(res.returns - 6 / 9), 4.5 * se)
    greedy = crossplay(
        env, LINEAR, lever_pullers([3, 2], 4), None, jax.random.key(3), 2, greedy=True
    )
    # greedy over the legal levers: agent 0's best legal lever (all tied) is lever 0
    np.testing.assert_allclose(greedy.returns, [[1, 0], [0, 3]], atol=1e-7)


# ----------------------------------------------------------------------------
# Recurrent policies: compare with a plain Python rollout


def _reference_returns(env, policy, params):
    """Greedy episodes of every ordered pair, stepped one call at a time (no vmap)."""
    apply, step = jax.jit(policy.apply), jax.jit(env.step)
    k = jax.tree_util.tree_leaves(params)[0].shape[0]
    agent = lambda i: jax.tree_util.tree_map(lambda x: x[i], params)
    env_params = env.default_params()
    out = np.zeros((2, k, k))
    for i in range(k):
        for j in range(k):
            for order, (s0, s1) in enumerate([(i, j), (j, i)]):
                ts = env.reset(jax.random.key(0), env_params)
                carries = [policy.initial_carry((1,)), policy.initial_carry((1,))]
                total, first = 0.0, True
                while True:
                    acts = []
                    for seat, who in enumerate((s0, s1)):
                        c, pi, _ = apply(
                            agent(who),
                            carries[seat],
                            ts.obs[seat][None, None],
                            jnp.full((1, 1), first),
                        )
                        carries[seat] = c
                        logits = np.where(ts.action_mask[seat], pi.logits[0, 0], -np.inf)
                        acts.append(int(np.argmax(logits)))
                    ts = step(jax.random.key(0), ts.state, jnp.array(acts), env_params)
                    total += float(ts.rewards.mean())
                    first = False
                    if bool(ts.done):
                        break
                out[order, i, j] = total
    return out


def test_recurrent_agents_match_a_python_rollout():
    env = IteratedLeverGame(num_levers=4, num_rounds=5)
    net = NetworkConfig(kind="gru", gru_size=8, embed_sizes=(8,), hidden_sizes=())
    policy = make_policy(env.observation_shape, env.num_actions, net)
    params = random_agents(net, env.observation_shape, env.num_actions, 3, seed=4)
    # sharpen the actor so the greedy choices are far from ties
    params["params"]["heads"]["actor_out"]["kernel"] *= 100.0
    res = crossplay(env, net, params, None, jax.random.key(5), 2, greedy=True)
    want = _reference_returns(env, policy, params)
    np.testing.assert_allclose(res.seat_returns, want, atol=1e-5)
    assert len(np.unique(want)) > 1  # the policies do depend on what they saw
    np.testing.assert_array_equal(res.mean_length, 5.0)
    assert res.unfinished == 0.0
    cut = crossplay(env, net, params, None, jax.random.key(5), 2, max_steps=2, greedy=True)
    assert cut.unfinished == 1.0
    np.testing.assert_array_equal(cut.mean_length, 2.0)


# ----------------------------------------------------------------------------
# One compiled program


def test_no_recompilation_across_calls_with_the_same_shapes():
    """New parameter values, keys, env params and max_steps reuse the compiled program."""
    env = LeverGame()
    crossplay(env, LINEAR, lever_pullers(range(10)), None, jax.random.key(6), 4)
    before = cp._TRACES
    assert before >= 1
    cheap = env.default_params().replace(payoffs=jnp.linspace(0.1, 1.0, 10))
    agents = lever_pullers([4, 4, 7, 1, 0, 0, 2, 3, 5, 6])
    res = crossplay(env, LINEAR, agents, None, jax.random.key(7), 4, cheap, 3)
    crossplay(env, LINEAR, linear_agents(np.zeros((10, 10))), None, jax.random.key(8), 4)
    assert cp._TRACES == before
    np.testing.assert_allclose(res.returns[0, 1], 0.5, atol=1e-6)  # both pull lever 4: 0.5


# ----------------------------------------------------------------------------
# Summaries, JSON, heatmap


def test_summaries():
    r = np.array([[1.0, 0.2, 0.0], [0.4, 0.8, 0.1], [0.0, 0.3, 0.6]])
    sp, xp = summarize(r, same_agents=True)
    assert sp.mean == pytest.approx(0.8) and sp.sem == pytest.approx(0.2 / math.sqrt(3))
    pairs = np.array([0.3, 0.0, 0.2])
    assert xp.mean == pytest.approx(1.0 / 6) and xp.n == 3
    assert xp.sem == pytest.approx(pairs.std(ddof=1) / math.sqrt(3))
    with pytest.raises(ValueError, match="square"):
        summarize(r[:2], same_agents=True)


def test_group_summary_json_and_heatmap(tmp_path):
    env = LeverGame()
    levers = [0, 0, 1, 2, 3, 9, 9, 9, 9, 9]
    res = crossplay(env, LINEAR, lever_pullers(levers), None, jax.random.key(9), 4)
    groups = group_summary(res, ["sp"] * 5 + ["op"] * 5)
    assert groups["sp|sp"]["self_play"].mean == pytest.approx(1.0)
    assert groups["sp|sp"]["cross_play"].mean == pytest.approx(2 / 20)  # pairs (0,1),(1,0)
    assert groups["sp|sp"]["cross_play"].n == 10
    assert groups["op|op"]["cross_play"].mean == pytest.approx(0.9)
    assert groups["sp|op"]["cross_play"] == (0.0, 0.0, 25)
    labels = [f"agent {i}" for i in range(10)]
    text = json.dumps(to_json(res, labels), allow_nan=False)
    back = json.loads(text)
    np.testing.assert_allclose(back["returns"], res.returns)
    assert back["cross_play"]["n"] == 45 and back["labels"]["rows"] == labels
    assert back["self_play"]["mean"] == pytest.approx(np.mean([1, 1, 1, 1, 1] + [0.9] * 5))
    png = crossplay_heatmap(res, tmp_path / "xp.png", labels, title="lever game")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="labels"):
        crossplay_heatmap(res, tmp_path / "bad.png", ["a"])


def test_bad_inputs():
    env = LeverGame()
    a = lever_pullers([0, 1])
    with pytest.raises(ValueError, match="num_episodes=0"):
        crossplay(env, LINEAR, a, None, jax.random.key(0), 0)
    with pytest.raises(ValueError, match="max_steps=0"):
        crossplay(env, LINEAR, a, None, jax.random.key(0), 2, max_steps=0)
    bad = jax.tree_util.tree_map(lambda x: x, a)
    bad["params"]["heads"]["critic_out"]["bias"] = jnp.zeros((3, 1))
    with pytest.raises(ValueError, match="params_a leading axes"):
        crossplay(env, LINEAR, bad, None, jax.random.key(0), 2)
    with pytest.raises(ValueError, match="greedy"):
        make_crossplay(env, LINEAR, 2, greedy=1)


# ----------------------------------------------------------------------------
# Agent files


@pytest.mark.parametrize(
    "network",
    [
        NetworkConfig(),
        NetworkConfig(kind="gru", gru_size=16, embed_sizes=(), hidden_sizes=(8,)),
        NetworkConfig(hidden_sizes=(32, 16, 8), activation="relu"),
    ],
)
def test_network_config_json_round_trip(network):
    text = json.dumps(network_to_json(network))
    assert network_from_json(json.loads(text)) == network
    with pytest.raises(ValueError, match="network fields"):
        network_from_json({**json.loads(text), "width": 3})


@pytest.mark.parametrize(
    "network",
    [
        NetworkConfig(hidden_sizes=(16,)),
        NetworkConfig(kind="gru", gru_size=8, embed_sizes=(), hidden_sizes=()),
    ],
)
def test_save_load_round_trip_is_bit_exact(tmp_path, network):
    env = IteratedLeverGame(num_levers=4, num_rounds=3)
    params = random_agents(network, env.observation_shape, env.num_actions, 3, seed=10)
    meta = {"method": "selfplay", "game": "iterated_lever", "seeds": [0, 1, 2]}
    path = save_agents(tmp_path / "run_a", network, params, meta)
    assert path.name == "agents.safetensors"
    agents = load_agents(tmp_path / "run_a")
    assert agents.network == network and agents.metadata == [meta]
    assert agents.names == ["run_a/0", "run_a/1", "run_a/2"]
    assert agents.num_features == 5 and agents.num_actions == 4
    flat_a = jax.tree_util.tree_leaves_with_path(params)
    flat_b = jax.tree_util.tree_leaves_with_path(agents.params)
    assert [p for p, _ in flat_a] == [p for p, _ in flat_b]
    for (_, x), (_, y) in zip(flat_a, flat_b, strict=True):
        assert np.asarray(x).dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), y)


def test_load_mixes_runs_and_refuses_other_networks(tmp_path):
    env = LeverGame()
    save_agents(tmp_path / "sp.safetensors", LINEAR, lever_pullers(range(6)), {"m": "sp"})
    names = ["s0", "s1", "s2", "s3"]
    save_agents(tmp_path / "op", LINEAR, lever_pullers([9] * 4), {"m": "op"}, names=names)
    agents = load_agents(tmp_path / "sp.safetensors", tmp_path / "op")
    assert agents.names == [f"sp/{i}" for i in range(6)] + [f"op/{n}" for n in names]
    assert agents.source.tolist() == [0] * 6 + [1] * 4
    assert agents.metadata == [{"m": "sp"}, {"m": "op"}]
    res = crossplay(env, agents.network, agents.params, None, jax.random.key(12), 4)
    want = np.zeros((10, 10))
    want[:6, :6] = np.eye(6)
    want[6:, 6:] = 0.9
    np.testing.assert_allclose(res.returns, want, atol=1e-7)

    other = NetworkConfig(hidden_sizes=(4,))
    params = random_agents(other, (1,), 10, 2, seed=0)
    save_agents(tmp_path / "big", other, params)
    with pytest.raises(ValueError, match="big.*cannot be mixed") as err:
        load_agents(tmp_path / "op", tmp_path / "big")
    assert "hidden_sizes=(4,)" in str(err.value) and "hidden_sizes=()" in str(err.value)
    with pytest.raises(ValueError, match="path="):
        load_agents(tmp_path / "missing")


def test_save_refuses_params_that_do_not_match(tmp_path):
    ippo_shaped = jax.tree_util.tree_map(lambda x: x[:, None], lever_pullers([0, 1]))
    with pytest.raises(ValueError, match="leading axis of 1"):
        save_agents(tmp_path / "x", LINEAR, ippo_shaped)
    with pytest.raises(ValueError, match="names"):
        save_agents(tmp_path / "x", LINEAR, lever_pullers([0, 1]), names=["only one"])
    with pytest.raises(ValueError, match="not a stack"):
        save_agents(tmp_path / "x", NetworkConfig(hidden_sizes=(8,)), lever_pullers([0, 1]))
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------
# Hanabi (JaxMARL's game; its own compile, about 20 s on a CPU)


@pytest.mark.slow
def test_hanabi_uniform_agents_play_like_random_legal_play():
    """Zero-logit agents restricted to the legal moves are uniformly random legal
    players: their episode lengths match an independent rollout of random legal
    moves (z-test), and, like random legal play, they always bomb out (score 0)."""
    pytest.importorskip("jaxmarl")
    from detente.games.hanabi import MAX_TURNS, HanabiGame

    env = HanabiGame()
    params = env.default_params()
    e = 64
    agents = linear_agents(np.zeros((4, env.num_actions)), num_features=658)
    res = crossplay(env, LINEAR, agents, None, jax.random.key(13), e)
    assert res.returns.shape == (4, 4) and res.unfinished == 0.0
    np.testing.assert_array_equal(res.returns, 0.0)

    def length(k):  # reference: uniform over legal moves, both rows of the mask
        k0, ks = jax.random.split(k)
        ts = env.reset(k0, params)

        def body(c, k_t):
            ts, done, n = c
            a = jax.random.categorical(k_t, jnp.where(ts.action_mask, 0.0, -jnp.inf), axis=-1)
            nxt = env.step(k_t, ts.state, a, params)
            return (nxt, done | nxt.done, n + (~done).astype(jnp.int32)), None

        init = (ts, jnp.zeros((), bool), jnp.zeros((), jnp.int32))
        return jax.lax.scan(body, init, jax.random.split(ks, MAX_TURNS))[0][2]

    ref = np.asarray(jax.jit(jax.vmap(length))(jax.random.split(jax.random.key(14), 2048)))
    ours = res.mean_length.mean()
    se_ours = res.mean_length.std() / 4  # 16 cells, each a mean over 2 * 64 episodes
    se_ref = ref.std(ddof=1) / math.sqrt(ref.size)
    z = (ours - ref.mean()) / math.sqrt(se_ours**2 + se_ref**2)
    assert abs(z) < 4.5, (ours, ref.mean(), z)
