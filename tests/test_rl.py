"""The shared PPO / IPPO pieces (``detente.solvers.rl``).

Closed forms first (GAE against a plain loop, the PPO gradient against the
policy-gradient formula, distributions against scipy), then learning checks
with budgets of seconds (PPO learner vs always-defect in the sampled IPD,
IPPO in the Coin Game against a Monte-Carlo random-play baseline), then the
Trainer contract (same key, same numbers; chunked steps equal one scan).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from detente.games.coin_game import CoinGame
from detente.games.iterated_env import IteratedMatrixGame, fixed_strategy, memory_one_action
from detente.solvers.rl.distributions import Categorical, Gaussian
from detente.solvers.rl.ippo import IPPOConfig, make_ippo, train_ippo
from detente.solvers.rl.learner import make_ppo_learner
from detente.solvers.rl.networks import ActorCritic, RecurrentActorCritic
from detente.solvers.rl.policy import NetworkConfig, make_policy, policy_step
from detente.solvers.rl.ppo import (
    PPOConfig,
    gae,
    make_optimizer,
    make_ppo_batch,
    make_ppo_loss,
    ppo_loss,
    ppo_update,
)
from detente.solvers.rl.types import Transition

# ----------------------------------------------------------------------------
# GAE


def _gae_loop(r, v, d, last, gamma, lam):
    """Schulman et al. 2016 by the definition, one column at a time."""
    T = r.shape[0]
    adv = np.zeros_like(r)
    for col in range(r.shape[1]):
        a_next, v_next = 0.0, last[col]
        for t in reversed(range(T)):
            nd = 0.0 if d[t, col] else 1.0
            delta = r[t, col] + gamma * nd * v_next - v[t, col]
            a_next = delta + gamma * lam * nd * a_next
            adv[t, col] = a_next
            v_next = v[t, col]
    return adv, adv + v


def _gae_data():
    rng = np.random.default_rng(0)
    T, B = 9, 3
    r = rng.normal(size=(T, B))
    v = rng.normal(size=(T, B))
    d = np.zeros((T, B), bool)
    d[2, 0] = d[5, 0] = d[4, 1] = d[8, 2] = True  # ends mid-sequence and at the last step
    last = rng.normal(size=B)
    return r, v, d, last


def test_gae_matches_reference_loop():
    r, v, d, last = _gae_data()
    with jax.enable_x64(True):
        adv, tgt = gae(r, v, d, last, 0.97, 0.9)
        adv, tgt = np.asarray(adv), np.asarray(tgt)
    ref_adv, ref_tgt = _gae_loop(r, v, d, last, 0.97, 0.9)
    np.testing.assert_allclose(adv, ref_adv, atol=1e-6)
    np.testing.assert_allclose(tgt, ref_tgt, atol=1e-6)
    # float32 (the default) agrees too
    adv32, _ = gae(jnp.float32(r), jnp.float32(v), d, jnp.float32(last), 0.97, 0.9)
    np.testing.assert_allclose(adv32, ref_adv, atol=1e-5)


def test_gae_lambda_one_is_bootstrapped_return_and_zero_is_td_error():
    r, v, d, last = _gae_data()
    gamma = 0.9
    T, B = r.shape
    with jax.enable_x64(True):
        _, tgt1 = gae(r, v, d, last, gamma, 1.0)
        adv0, _ = gae(r, v, d, last, gamma, 0.0)
        tgt1, adv0 = np.asarray(tgt1), np.asarray(adv0)
    # lam = 1: sum_k gamma^k r_{t+k} to the episode's end, plus gamma^(T-t) V_T if it runs on.
    for col in range(B):
        for t in range(T):
            g, k = 0.0, t
            while True:
                g += gamma ** (k - t) * r[k, col]
                if d[k, col]:
                    break
                k += 1
                if k == T:
                    g += gamma ** (T - t) * last[col]
                    break
            assert tgt1[t, col] == pytest.approx(g, abs=1e-9)
    # lam = 0: one-step TD errors
    v_next = np.concatenate([v[1:], last[None]])
    np.testing.assert_allclose(adv0, r + gamma * (1 - d) * v_next - v, atol=1e-12)


# ----------------------------------------------------------------------------
# PPO loss


_LOSS = dict(clip_eps=0.2, vf_coef=0.0, ent_coef=0.0)


def test_ppo_loss_gradient_is_vanilla_policy_gradient_at_old_policy():
    rng = np.random.default_rng(1)
    B, A = 6, 4
    theta = jnp.asarray(rng.normal(size=(B, A)), jnp.float32)
    actions = jnp.asarray(rng.integers(0, A, size=B))
    adv = jnp.asarray(rng.normal(size=B), jnp.float32)
    zeros = jnp.zeros(B)

    def loss(th, normalize):
        lp = Categorical.create(th).log_prob(actions)
        old = jax.lax.stop_gradient(lp)
        out, _ = ppo_loss(
            lp, old, adv, zeros, zeros, zeros, zeros, **_LOSS, normalize_advantages=normalize
        )
        return out

    # grad log softmax(theta_b)[a_b] = onehot(a_b) - softmax(theta_b)
    score = jax.nn.one_hot(actions, A) - jax.nn.softmax(theta)
    a_n = (adv - adv.mean()) / (adv.std() + 1e-8)
    for normalize, a in ((False, adv), (True, a_n)):
        expected = -(a[:, None] * score) / B  # -mean_b(A_b grad log pi_b)
        got = jax.jit(jax.grad(loss), static_argnums=1)(theta, normalize)
        np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(
    "ratio, adv, grad",
    [
        (1.5, 1.0, 0.0),  # above 1 + eps with A > 0: clipped, no push further up
        (1.5, -1.0, 1.5),  # above 1 + eps with A < 0: unclipped, d/dx -(r A) = -A r
        (0.5, -1.0, 0.0),  # below 1 - eps with A < 0: clipped
        (0.5, 1.0, -0.5),  # below 1 - eps with A > 0: unclipped
        (1.1, 1.0, -1.1),  # inside the trust region
    ],
)
def test_ppo_loss_clipping(ratio, adv, grad):
    a = jnp.array([adv])
    z = jnp.zeros(1)

    def loss(x):  # x = log pi(a), old log-prob 0, so r = exp(x)
        out, _ = ppo_loss(x, z, a, z, z, z, z, **_LOSS, normalize_advantages=False)
        return out

    x = jnp.array([np.log(ratio)], jnp.float32)
    np.testing.assert_allclose(jax.grad(loss)(x), [grad], atol=1e-6)
    _, info = ppo_loss(x, z, a, z, z, z, z, **_LOSS, normalize_advantages=False)
    assert float(info.clip_frac) == (1.0 if abs(ratio - 1) > 0.2 else 0.0)
    assert float(info.approx_kl) == pytest.approx(ratio - 1 - np.log(ratio), rel=1e-5)


def test_ppo_value_clipping_and_entropy_terms():
    z = jnp.zeros(1)
    kw = dict(clip_eps=0.2, vf_coef=0.5, ent_coef=0.1, normalize_advantages=False)

    def loss(v, clip_value=True):
        out, _ = ppo_loss(
            z, z, z, v, z, jnp.array([2.0]), jnp.array([0.7]), clip_value=clip_value, **kw
        )
        return out

    v = jnp.array([1.0])  # moved 1.0 from the old value 0: the clipped value 0.2 is further from 2
    # 0.5 * vf_coef * max((1 - 2)^2, (0.2 - 2)^2) - ent_coef * 0.7
    assert float(loss(v)) == pytest.approx(0.5 * 0.5 * 3.24 - 0.07, abs=1e-6)
    np.testing.assert_allclose(jax.grad(loss)(v), [0.0], atol=1e-7)  # the clipped term is constant
    assert float(loss(v, False)) == pytest.approx(0.5 * 0.5 * 1.0 - 0.07, abs=1e-6)
    np.testing.assert_allclose(jax.grad(loss)(v, False), [0.5 * (1.0 - 2.0)], atol=1e-6)


# ----------------------------------------------------------------------------
# ppo_update


def test_ppo_update_uses_every_row_once_per_epoch():
    """A loss linear in the parameters has gradient ``mean_mb(x)``; with SGD the
    total step is ``-lr * epochs * sum_mb mean_mb(x) = -lr * epochs * M * mean(x)``
    exactly when the minibatches partition the batch."""
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(12, 3)), jnp.float32)
    params = {"w": jnp.zeros(3)}
    opt = optax.sgd(0.1)

    def loss_fn(p, mb):
        per = mb @ p["w"]
        return per.mean() + 1.0, {"n": jnp.asarray(mb.shape[0], jnp.float32)}

    new, _, info = ppo_update(
        params, opt.init(params), opt, x, loss_fn, jax.random.PRNGKey(0), epochs=2, minibatches=3
    )
    np.testing.assert_allclose(new["w"], -0.1 * 2 * 3 * np.asarray(x).mean(0), atol=1e-6)
    assert float(info.aux["n"]) == 4.0  # each minibatch has 12 / 3 rows
    assert info.loss.shape == () and info.grad_norm.shape == ()
    with pytest.raises(ValueError, match="minibatches=5"):
        ppo_update(
            params,
            opt.init(params),
            opt,
            x,
            loss_fn,
            jax.random.PRNGKey(0),
            epochs=1,
            minibatches=5,
        )


# ----------------------------------------------------------------------------
# Distributions


def test_categorical_matches_scipy_and_masks():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 5)).astype(np.float32)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    a = np.array([0, 4, 2, 1])
    mask = np.array([[1, 1, 0, 1, 0]] * 4, bool)

    @jax.jit
    def numbers(logits):
        pi, pim = Categorical.create(logits), Categorical.create(logits, mask=mask)
        keys = jax.random.split(jax.random.PRNGKey(0), 20000)
        grad = jax.grad(lambda lg: Categorical.create(lg, mask=mask).entropy().sum())(logits)
        return dict(
            log_prob=pi.log_prob(a),
            entropy=pi.entropy(),
            masked_probs=pim.probs,
            masked_log_prob=pim.log_prob(jnp.full(4, 2)),
            masked_entropy=pim.entropy(),
            samples=jax.vmap(pim.sample)(keys),  # [20000, 4]
            grad=grad,
        )

    out = jax.tree_util.tree_map(np.asarray, numbers(logits))
    np.testing.assert_allclose(out["log_prob"], np.log(p[np.arange(4), a]), atol=1e-6)
    np.testing.assert_allclose(out["entropy"], stats.entropy(p, axis=-1), atol=1e-6)
    pm = np.where(mask, p, 0.0)
    pm /= pm.sum(-1, keepdims=True)
    np.testing.assert_allclose(out["masked_probs"], pm, atol=1e-6)
    assert np.all(np.isneginf(out["masked_log_prob"]))
    np.testing.assert_allclose(out["masked_entropy"], stats.entropy(pm, axis=-1), atol=1e-6)
    samples = out["samples"]
    assert not np.isin(samples, [2, 4]).any()
    freq = np.stack([(samples == k).mean(0) for k in range(5)], -1)
    np.testing.assert_allclose(freq, pm, atol=0.015)
    # entropy gradients stay finite with masked actions, and are 0 there
    assert np.all(np.isfinite(out["grad"])) and np.all(out["grad"][~mask] == 0)


def test_gaussian_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    mean = rng.normal(size=3)
    log_std = rng.normal(size=3) * 0.5
    x = rng.normal(size=(5, 3))
    with jax.enable_x64(True):
        pi = Gaussian(jnp.asarray(mean), jnp.asarray(log_std))
        lp, ent = np.asarray(pi.log_prob(jnp.asarray(x))), float(pi.entropy())
        s = np.asarray(jax.vmap(pi.sample)(jax.random.split(jax.random.PRNGKey(1), 20000)))
    ref = stats.multivariate_normal(mean, np.diag(np.exp(2 * log_std)))
    np.testing.assert_allclose(lp, ref.logpdf(x), rtol=1e-10)
    assert ent == pytest.approx(ref.entropy(), rel=1e-10)
    np.testing.assert_allclose(s.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(s.std(0), np.exp(log_std), rtol=0.03)


# ----------------------------------------------------------------------------
# Networks


def test_mlp_and_gaussian_heads_shapes():
    net = ActorCritic(action_dim=3, hidden_sizes=(8,), continuous=True, log_std_init=-1.0)
    params = jax.jit(net.init)(jax.random.PRNGKey(0), jnp.zeros(4))
    pi, value = jax.eval_shape(net.apply, params, jnp.ones((7, 4)))
    assert pi.mean.shape == pi.log_std.shape == (7, 3) and value.shape == (7,)
    np.testing.assert_allclose(params["params"]["heads"]["log_std"], [-1.0] * 3)
    discrete = ActorCritic(action_dim=5)
    shapes = jax.eval_shape(discrete.init, jax.random.PRNGKey(0), jnp.zeros(4))
    pi, value = jax.eval_shape(discrete.apply, shapes, jnp.ones((7, 4)))
    assert isinstance(pi, Categorical) and pi.logits.shape == (7, 5) and value.shape == (7,)


def test_gru_reset_splits_sequences():
    """A sequence with an episode start in the middle equals the two episodes
    run separately from zero carries."""
    net = RecurrentActorCritic(action_dim=3, hidden_size=8, embed_sizes=(8,), head_sizes=(8,))
    T, B, F = 7, 4, 4  # rows 0 and 1 are checked; 2 and 3 only pad to the shape used below
    obs = np.random.default_rng(1).normal(size=(T, B, F)).astype(np.float32)
    reset = np.zeros((T, B), bool)
    reset[0] = True
    reset[3, 0] = True  # row 0: episodes [0, 3) and [3, 7)
    reset[5, 1] = True  # row 1: episodes [0, 5) and [5, 7)
    carry0 = jnp.full((B, 8), 0.7)  # ignored: reset at t = 0
    params = jax.jit(net.init)(jax.random.PRNGKey(0), carry0, (obs, reset))
    apply = jax.jit(net.apply)
    _, (pi, value) = apply(params, carry0, (obs, reset))
    # Each episode alone, from a zero carry, as a row starting at t = 0 (padded
    # with zeros after its end; the GRU is causal, so the padding changes nothing).
    episodes = [(0, 0, 3), (0, 3, 7), (1, 0, 5), (1, 5, 7)]
    alone = np.zeros((T, B, F), np.float32)
    for j, (row, a, b) in enumerate(episodes):
        alone[: b - a, j] = obs[a:b, row]
    zero = RecurrentActorCritic.initial_carry((B,), 8)
    _, (pi_a, value_a) = apply(params, zero, (alone, np.zeros((T, B), bool)))
    for j, (row, a, b) in enumerate(episodes):
        np.testing.assert_allclose(pi.logits[a:b, row], pi_a.logits[: b - a, j], atol=1e-6)
        np.testing.assert_allclose(value[a:b, row], value_a[: b - a, j], atol=1e-6)
    # the test can fail: without the mid-sequence resets the second episodes differ
    only_first = np.zeros((T, B), bool)
    only_first[0] = True
    _, (_, value_c) = apply(params, carry0, (obs, only_first))
    assert np.abs(np.asarray(value_c - value)[3:, 0]).min() > 1e-5
    assert np.abs(np.asarray(value_c - value)[5:, 1]).min() > 1e-5
    np.testing.assert_array_equal(value_c[:3], value[:3])


@pytest.mark.parametrize("kind", ["gru", pytest.param("mlp", marks=pytest.mark.slow)])
def test_ppo_batch_replays_the_acting_policy(kind):
    """At the acting parameters the loss replays the stored log-probs (ratio 1,
    KL 0); for the GRU that needs the stored carries and mid-rollout resets."""
    net = NetworkConfig(kind=kind, hidden_sizes=(8,), gru_size=8, embed_sizes=(8,))
    policy = make_policy((3, 2), 4, net)  # obs [3, 2], flattened inside
    config = PPOConfig()
    params = jax.jit(policy.init)(jax.random.PRNGKey(0))
    params = jax.tree_util.tree_map(lambda x: 3.0 * x, params)  # far from uniform
    E, T = 4, 6
    obs = jnp.asarray(np.random.default_rng(1).normal(size=(T, E, 3, 2)), jnp.float32)
    reset = np.zeros((T, E), bool)
    reset[0] = reset[2, 1] = reset[4, 3] = True
    carry0 = 0.5 * jnp.ones((E, policy.initial_carry((1,)).shape[-1]))
    loss_fn = make_ppo_loss(policy, config)

    @jax.jit
    def replay(reset_replay):
        def body(carry, xs):
            o, rs, k = xs
            carry, a, lp, v = policy_step(policy, params, carry, o, rs, k)
            return carry, (a, lp, v)

        keys = jax.random.split(jax.random.PRNGKey(2), T)
        _, (a, lp, v) = jax.lax.scan(body, carry0, (obs, jnp.asarray(reset), keys))
        done = jnp.concatenate([jnp.asarray(reset)[1:], jnp.zeros((1, E), bool)])
        tr = Transition(obs, a, jnp.ones((T, E)), done, lp, v)
        tr = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), tr)  # [E, T]
        batch = make_ppo_batch(policy, config, tr, jnp.zeros(E), reset=reset_replay, carry=carry0)
        return batch, loss_fn(params, batch)[1]

    batch, info = replay(jnp.asarray(reset.T))
    lead = (E, T) if kind == "gru" else (E * T, 1)
    assert batch.obs.shape == (*lead, 3, 2) and batch.advantages.shape == lead
    assert float(info.approx_kl) < 1e-9 and float(info.clip_frac) == 0.0
    _, wrong = replay(jnp.zeros((E, T), bool).at[:, 0].set(True))  # resets forgotten
    if kind == "gru":
        assert float(wrong.approx_kl) > 1e-6
    else:  # an MLP has no memory: resets do not matter
        assert float(wrong.approx_kl) < 1e-9


# ----------------------------------------------------------------------------
# PPO learner vs a fixed strategy (sampled IPD)


def test_ppo_learner_learns_to_defect_against_always_defect():
    """LOLA payoffs: defecting against a defector pays -2, cooperating -3, so
    a PPO learner's defection rate must rise from about 1/2 to above 0.9."""
    env = IteratedMatrixGame(num_steps=8)
    params = env.default_params()
    cfg = PPOConfig(lr=0.02, gamma=0.9, ent_coef=0.0, epochs=2, minibatches=2)
    learner = make_ppo_learner(env, cfg, agent=0, network=NetworkConfig(hidden_sizes=(16,)))
    defect = fixed_strategy("always_defect")
    E, U = 16, 25

    def episode(state, key):
        k_reset, k_steps = jax.random.split(key)
        ts0 = env.reset(k_reset, params)

        def body(ts, k):
            ka, kb, ke = jax.random.split(k, 3)
            a0, lp, v = learner.act(state, ts.obs[0], ka)
            a1 = memory_one_action(kb, defect, ts.obs[1])
            nxt = env.step(ke, ts.state, jnp.stack([a0, a1]), params)
            return nxt, Transition(ts.obs[0], a0, nxt.rewards[0], nxt.done, lp, v)

        ts, tr = jax.lax.scan(body, ts0, jax.random.split(k_steps, env.num_steps))
        return tr, ts.obs[0]

    @jax.jit
    def train(key):
        def update(state, k):
            k_play, k_upd = jax.random.split(k)
            tr, last = jax.vmap(episode, in_axes=(None, 0))(state, jax.random.split(k_play, E))
            return learner.update(state, tr, last, k_upd), (tr.action == 1).mean()

        k_init, k_run = jax.random.split(key)
        return jax.lax.scan(update, learner.init(k_init), jax.random.split(k_run, U))[1]

    rate = np.asarray(train(jax.random.PRNGKey(0)))  # defection rate per update
    assert 0.3 < rate[0] < 0.7
    assert rate[-3:].mean() > 0.9
    state = jax.eval_shape(learner.init, jax.random.PRNGKey(1))  # shapes only, no compile
    a, lp, v = jax.eval_shape(learner.act, state, jnp.eye(5)[0], jax.random.PRNGKey(2))
    assert a.shape == lp.shape == v.shape == () and a.dtype == jnp.int32


# ----------------------------------------------------------------------------
# IPPO in the Coin Game

COIN_CONFIG = IPPOConfig(
    num_envs=32,
    num_steps=32,
    num_updates=60,
    ppo=PPOConfig(lr=3e-3, gamma=0.9, ent_coef=0.01, epochs=4, minibatches=4),
    network=NetworkConfig(hidden_sizes=(32, 32)),
)


@pytest.fixture(scope="module")
def coin_run():
    env = CoinGame()
    state, metrics = train_ippo(jax.random.PRNGKey(0), env, COIN_CONFIG)
    return env, state, jax.tree_util.tree_map(np.asarray, metrics)


def _uniform_policy(state):
    """The state with every actor output layer zeroed: logits 0, uniformly random play."""

    def zero(path, x):
        return jnp.zeros_like(x) if "actor_out" in [getattr(p, "key", "") for p in path] else x

    return state._replace(params=jax.tree_util.tree_map_with_path(zero, state.params))


def _pickups(out):
    """Coins picked up per step by the pair."""
    return float(np.sum(out["own_coin"]) + np.sum(out["other_coin"]))


def test_ippo_coin_game_picks_up_coins_faster_than_random(coin_run):
    env, state, m = coin_run
    evaluate = make_ippo(env, COIN_CONFIG).evaluate  # compiled inside
    # Monte-Carlo of uniformly random play: the same rollout with all logits 0.
    random_out = evaluate(_uniform_policy(state))
    random_rate = _pickups(random_out)
    assert 0.3 < random_rate < 0.6  # each agent lands on each coin on roughly 1/9 of steps
    picked = sum(m[f"{k}_{i}"] for k in ("own_coin", "other_coin") for i in range(2))  # [U]
    assert picked[:3].mean() < random_rate + 0.1  # starts near random play
    assert picked[-10:].mean() > random_rate + 0.35
    assert np.all(np.isfinite(m["loss_0"])) and np.all(np.isfinite(m["loss_1"]))

    out = evaluate(state)  # a fresh rollout of the trained agents
    assert out["mean_reward"].shape == (2,)
    assert _pickups(out) > random_rate + 0.35
    assert np.all((out["own_coin_rate"] >= 0) & (out["own_coin_rate"] <= 1))
    # own and other's coins pay 1 each, and a coin taken costs its owner 2 (last steps pay 0)
    np.testing.assert_array_less(out["mean_reward"], out["own_coin"] + out["other_coin"] + 1e-6)


def test_ippo_same_key_same_numbers(coin_run):
    env, _, m = coin_run
    _, again = train_ippo(jax.random.PRNGKey(0), env, COIN_CONFIG)
    for k in m:
        np.testing.assert_array_equal(m[k], np.asarray(again[k]))
    _, other = train_ippo(jax.random.PRNGKey(1), env, COIN_CONFIG)
    assert not np.array_equal(m["loss_0"], np.asarray(other["loss_0"]))


@pytest.mark.slow  # compiles the step program next to train_ippo's scan (~10 s of CPU)
def test_ippo_chunks_equal_scan(coin_run):
    """The run as a Python loop of compiled steps (chunks of one update) gives
    train_ippo's scan numbers bit for bit: metrics of every update, final state."""
    env, state, m = coin_run
    trainer = make_ippo(env, COIN_CONFIG)
    s = trainer.init(jax.random.PRNGKey(0))
    for u in range(COIN_CONFIG.num_updates):
        s, mu = trainer.step(s)
        for k in m:
            np.testing.assert_array_equal(np.asarray(mu[k]), m[k][u], err_msg=f"{k} at {u}")
    for a, b in zip(jax.tree_util.tree_leaves(s), jax.tree_util.tree_leaves(state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
def test_ippo_gru_coin_game_learns():
    config = dataclasses.replace(
        COIN_CONFIG,
        num_updates=80,
        network=NetworkConfig(kind="gru", gru_size=32, embed_sizes=(32,), hidden_sizes=(32,)),
    )
    env = CoinGame()
    state, m = train_ippo(jax.random.PRNGKey(0), env, config)
    picked = sum(np.asarray(m[f"{k}_{i}"]) for k in ("own_coin", "other_coin") for i in range(2))
    evaluate = make_ippo(env, config).evaluate
    random_rate = _pickups(evaluate(_uniform_policy(state)))
    assert picked[:3].mean() < random_rate + 0.1
    assert picked[-10:].mean() > random_rate + 0.3
    assert _pickups(evaluate(state)) > random_rate + 0.3


# ----------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: PPOConfig(lr=0.0), "lr"),
        (lambda: PPOConfig(gamma=1.5), "gamma"),
        (lambda: PPOConfig(gae_lambda=-0.1), "gae_lambda"),
        (lambda: PPOConfig(clip_eps=0), "clip_eps"),
        (lambda: PPOConfig(epochs=0), "epochs"),
        (lambda: PPOConfig(minibatches=2.5), "minibatches"),
        (lambda: PPOConfig(anneal_lr="yes"), "anneal_lr"),
        (lambda: NetworkConfig(kind="lstm"), "kind"),
        (lambda: NetworkConfig(hidden_sizes=[64]), "hidden_sizes"),
        (lambda: NetworkConfig(activation="gelu"), "activation"),
        (lambda: IPPOConfig(num_envs=0), "num_envs"),
        (lambda: IPPOConfig(network=NetworkConfig(continuous=True)), "network.continuous"),
        (lambda: make_optimizer(PPOConfig(anneal_lr=True)), "num_updates"),
        (lambda: make_ippo(CoinGame(), IPPOConfig(num_envs=3, num_steps=3)), "ppo.minibatches"),
        (lambda: make_ippo(CoinGame(), {"num_envs": 4}), "config"),
        (lambda: make_ppo_learner(CoinGame(), PPOConfig(), agent=2), "agent"),
        (
            lambda: make_ppo_learner(
                CoinGame(), PPOConfig(), agent=0, network=NetworkConfig(kind="gru")
            ),
            "network",
        ),
    ],
)
def test_bad_values_raise_naming_the_field(build, field):
    with pytest.raises(ValueError, match=rf"^{field}="):
        build()


def test_configs_are_hashable_static_arguments():
    cfg = dataclasses.replace(COIN_CONFIG, num_updates=3)
    assert hash(cfg) == hash(dataclasses.replace(COIN_CONFIG, num_updates=3))
