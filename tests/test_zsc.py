"""Zero-shot coordination trainers (``detente.solvers.zsc``) and action masks in ``solvers.rl``.

Known values first: with all legal actions a masked policy is the unmasked
one bit for bit; with masks, illegal actions get probability 0 in acting and
in PPO's loss (approx-KL exactly 0 on the acting policy's own batch) and are
never taken in IPPO rollouts. The Other-Play wrapper sends the environment
``g_i^-1 a_i`` and shows ``g_i o_i`` and ``g_i mask_i``, with the two seats'
symmetries independent and uniform. In the lever game of Hu et al. 2020
(https://arxiv.org/abs/2003.02979), self-play agents settle on one lever each
(1.0 with themselves, cross-play near 1/9 between seeds) and Other-Play agents
on the 0.9 lever (0.9 in self-play and in cross-play).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from detente.env import TimeStep
from detente.games.coordination import (
    IteratedLeverGame,
    LeverGame,
    other_play_value,
    reference_values,
)
from detente.games.symmetry import Symmetry, stack_symmetries
from detente.solvers.rl.distributions import Categorical
from detente.solvers.rl.ippo import IPPOConfig, train_ippo
from detente.solvers.rl.policy import NetworkConfig, make_policy, mask_policy, policy_step
from detente.solvers.rl.ppo import (
    PPOConfig,
    make_optimizer,
    make_ppo_batch,
    make_ppo_loss,
    ppo_learn,
)
from detente.solvers.rl.types import Transition
from detente.solvers.zsc.other_play import OtherPlayEnv, other_play_env, train_other_play
from detente.solvers.zsc.selfplay import (
    action_probs,
    agent_params,
    check_selfplay_config,
    selfplay_policy,
    train_selfplay,
)

# XLA's optimisation level 1 compiles the trainers about 4x faster on CPU than
# the default, for about the same run time; level 0 is faster still to compile
# and fits programs that run for a moment.
FAST = {"xla_backend_optimization_level": 1}
QUICK = {"xla_backend_optimization_level": 0}

# ----------------------------------------------------------------------------
# A small environment with real legal-action masks


@struct.dataclass
class _MaskParams:
    enforce: chex.Array  # [] bool: show the legal sets as masks (else all-True masks)


class _MaskState(NamedTuple):
    legal: chex.Array  # [2, A] bool
    t: chex.Array  # []


@dataclasses.dataclass(frozen=True)
class _RandomLegalSets:
    """Each step every agent gets a random non-empty set of legal actions (its observation).

    An illegal action pays 1, a legal one 0: a policy that ignored masks would
    learn to play illegal actions. ``info["illegal"]`` ``[2]`` counts them
    against the hidden legal sets, also when ``params.enforce`` is False and
    the masks shown are all True. Episodes last 4 steps.
    """

    num_agents: ClassVar[int] = 2
    num_actions: ClassVar[int] = 5
    observation_shape: ClassVar[tuple[int, ...]] = (5,)

    def default_params(self):
        return _MaskParams(enforce=jnp.asarray(True))

    def _draw(self, key):
        k1, k2 = jax.random.split(key)
        bits = jax.random.bernoulli(k1, 0.4, (2, self.num_actions))
        forced = jax.nn.one_hot(jax.random.randint(k2, (2,), 0, self.num_actions), 5, dtype=bool)
        return bits | forced

    def _ts(self, state, rewards, illegal, params):
        mask = jnp.where(params.enforce, state.legal, jnp.ones_like(state.legal))
        return TimeStep(
            obs=state.legal.astype(jnp.float32),
            state=state,
            rewards=rewards,
            terminated=jnp.asarray(False),
            truncated=state.t >= 4,
            action_mask=mask,
            info={"illegal": illegal},
        )

    def reset(self, key, params):
        state = _MaskState(legal=self._draw(key), t=jnp.asarray(0, jnp.int32))
        return self._ts(state, jnp.zeros(2), jnp.zeros(2), params)

    def step(self, key, state, actions, params):
        illegal = (~state.legal[jnp.arange(2), actions]).astype(jnp.float32)
        new = _MaskState(legal=self._draw(key), t=state.t + 1)
        return self._ts(new, illegal, illegal, params)


def _shift_group(n: int) -> Symmetry:
    """The cyclic shifts of ``n`` actions, acting on a per-action observation of size ``n``."""
    gs = []
    for s in range(n):
        forward = (np.arange(n) + s) % n
        gather = np.argsort(forward)  # (g.o)[forward[a]] = o[a]
        gs.append(
            Symmetry(
                obs_perm=jnp.asarray(gather),
                action_perm=jnp.asarray(forward),
                state_perm=jnp.asarray(gather),
            )
        )
    return stack_symmetries(gs)


# ----------------------------------------------------------------------------
# Masks in the PPO pieces


def test_mask_policy_known_values_and_all_true_identity():
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)), jnp.float32)
    pi = Categorical.create(logits)
    same = mask_policy(pi, jnp.ones((6, 4), bool))
    key = jax.random.PRNGKey(3)
    a = jnp.arange(6) % 4
    for f in (
        lambda d: d.logits,
        lambda d: d.entropy(),
        lambda d: d.sample(key),
        lambda d: d.log_prob(a),
        lambda d: d.mode(),
    ):
        np.testing.assert_array_equal(f(same), f(pi))
    # zero logits, legal {0, 1} of 3: probs 1/2, 1/2, 0; entropy log 2; illegal log-prob -inf
    m = mask_policy(Categorical.create(jnp.zeros((1, 3))), jnp.array([[True, True, False]]))
    np.testing.assert_allclose(m.probs, [[0.5, 0.5, 0.0]], atol=1e-7)
    np.testing.assert_allclose(m.entropy(), [np.log(2.0)], rtol=1e-6)
    assert np.isneginf(m.log_prob(jnp.array([2])))[0]
    samples = jax.vmap(m.sample)(jax.random.split(key, 2000))
    assert set(np.unique(samples).tolist()) == {0, 1}


def _batch_and_loss(kind: str, masks: bool):
    """Act with a masked policy, then PPO's loss on the same parameters."""
    net = NetworkConfig(kind=kind, hidden_sizes=(8,), gru_size=8, embed_sizes=(8,))
    policy = make_policy((3,), 4, net)
    params = jax.tree_util.tree_map(lambda x: 4.0 * x, policy.init(jax.random.PRNGKey(0)))
    e, t = 4, 5
    rng = np.random.default_rng(1)
    obs = jnp.asarray(rng.normal(size=(t, e, 3)), jnp.float32)
    mask = jnp.asarray(rng.random((t, e, 4)) < 0.5).at[..., 2].set(True)
    reset = jnp.zeros((t, e), bool).at[0].set(True)

    def body(carry, xs):
        o, m, r, k = xs
        carry, a, lp, v = policy_step(policy, params, carry, o, r, k, mask=m)
        return carry, (a, lp, v)

    keys = jax.random.split(jax.random.PRNGKey(2), t)
    _, (a, lp, v) = jax.lax.scan(body, policy.initial_carry((e,)), (obs, mask, reset, keys))
    tr = Transition(
        obs,
        a,
        jnp.ones((t, e)),
        jnp.zeros((t, e), bool),
        lp,
        v,
        action_mask=mask if masks else None,
    )
    tr = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), tr)
    batch = make_ppo_batch(policy, PPOConfig(), tr, jnp.zeros(e))
    return a, mask, make_ppo_loss(policy, PPOConfig())(params, batch)[1]


@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_ppo_loss_recomputes_the_masked_policy(kind):
    run = jax.jit(_batch_and_loss, static_argnums=(0, 1), compiler_options=QUICK)
    a, mask, info = run(kind, True)
    assert bool(jnp.take_along_axis(mask, a[..., None], -1).all())  # every action legal
    assert float(info.approx_kl) == 0.0 and float(info.clip_frac) == 0.0
    # without the masks in the batch the loss sees another policy: ratios move
    _, _, wrong = run(kind, False)
    assert float(wrong.approx_kl) > 1e-3


def test_ppo_learn_all_true_mask_is_bit_identical():
    policy = make_policy((3,), 4, NetworkConfig(hidden_sizes=(8,)))
    config = PPOConfig(minibatches=2, epochs=2)
    opt = make_optimizer(config)
    params = policy.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    e, t = 4, 6
    tr = Transition(
        obs=jnp.asarray(rng.normal(size=(e, t, 3)), jnp.float32),
        action=jnp.asarray(rng.integers(0, 4, (e, t)), jnp.int32),
        reward=jnp.asarray(rng.normal(size=(e, t)), jnp.float32),
        done=jnp.asarray(rng.random((e, t)) < 0.2),
        log_prob=jnp.full((e, t), -np.log(4.0), jnp.float32),
        value=jnp.zeros((e, t)),
    )

    @functools.partial(jax.jit, compiler_options=QUICK)
    def learn(tr):
        return ppo_learn(
            policy, config, opt, params, opt.init(params), tr, jnp.zeros(e), jax.random.PRNGKey(1)
        )[0]

    plain = learn(tr)
    masked = learn(tr._replace(action_mask=jnp.ones((e, t, 4), bool)))
    for x, y in zip(
        jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(masked), strict=True
    ):
        np.testing.assert_array_equal(x, y)


def test_ippo_never_plays_an_illegal_action():
    """IPPO on an env that pays for illegal actions: with masks shown, none in any update."""
    env = _RandomLegalSets()
    cfg = IPPOConfig(
        num_envs=8,
        num_steps=8,
        num_updates=30,
        network=NetworkConfig(hidden_sizes=(16,)),
        ppo=PPOConfig(lr=3e-3, minibatches=2),
    )
    run = jax.jit(
        lambda p: train_ippo(jax.random.PRNGKey(0), env, cfg, p)[1],
        compiler_options=QUICK,
    )
    shown = run(_MaskParams(enforce=jnp.asarray(True)))
    hidden = run(_MaskParams(enforce=jnp.asarray(False)))  # same program, all-True masks
    for m in (shown, hidden):
        assert all(np.isfinite(np.asarray(v)).all() for v in m.values())
    for i in range(2):
        assert float(jnp.max(shown[f"illegal_{i}"])) == 0.0
        # the counter works: without masks illegal actions are played, and learnt
        assert float(hidden[f"illegal_{i}"][0]) > 0.2
        assert float(hidden[f"illegal_{i}"][-5:].mean()) > float(hidden[f"illegal_{i}"][:5].mean())


# ----------------------------------------------------------------------------
# The Other-Play wrapper


def test_other_play_wrapper_maps_observations_masks_and_actions():
    env = _RandomLegalSets()
    group = _shift_group(5)
    op_env, op_params = other_play_env(env, group)
    assert isinstance(op_env, OtherPlayEnv) and op_params.group is group
    key = jax.random.PRNGKey(4)
    reset = jax.jit(op_env.reset, compiler_options=QUICK)
    step = jax.jit(op_env.step, compiler_options=QUICK)
    ts = reset(key, op_params)
    inner = env.reset(jax.random.split(key)[0], op_params.env)  # the wrapper's env key
    for _ in range(3):
        g = jax.tree_util.tree_map(np.asarray, ts.state.symmetry)  # leaves [2, ...]
        raw_obs, raw_mask = np.asarray(inner.obs), np.asarray(inner.action_mask)
        for i in range(2):
            np.testing.assert_array_equal(np.asarray(ts.obs[i]), raw_obs[i][g.obs_perm[i]])
            shown = np.zeros(5, bool)
            shown[g.action_perm[i]] = raw_mask[i]  # mask(g.s)[g(a)] = mask(s)[a]
            np.testing.assert_array_equal(np.asarray(ts.action_mask[i]), shown)
        # the observation is the legal set: both move with the symmetry alike
        np.testing.assert_array_equal(np.asarray(ts.obs) > 0.5, np.asarray(ts.action_mask))
        # legal actions in the agents' view, played as g_i^-1 a_i
        a = np.array([np.flatnonzero(np.asarray(ts.action_mask[i]))[-1] for i in range(2)])
        k = jax.random.PRNGKey(int(a.sum()) + 10)
        nxt = step(k, ts.state, jnp.asarray(a), op_params)
        sent = np.array([np.argsort(g.action_perm[i])[a[i]] for i in range(2)])
        expect = env.step(k, inner.state, jnp.asarray(sent), op_params.env)
        np.testing.assert_array_equal(np.asarray(nxt.info["illegal"]), [0.0, 0.0])
        np.testing.assert_array_equal(
            np.asarray(nxt.state.env.legal), np.asarray(expect.state.legal)
        )
        np.testing.assert_array_equal(np.asarray(nxt.rewards), np.asarray(expect.rewards))
        ts, inner = nxt, expect


def test_other_play_symmetries_independent_and_uniform():
    group = _shift_group(5)
    op_env, op_params = other_play_env(_RandomLegalSets(), group)
    n = 5000
    ts = jax.jit(jax.vmap(op_env.reset, in_axes=(0, None)), compiler_options=QUICK)(
        jax.random.split(jax.random.PRNGKey(0), n), op_params
    )
    idx = np.asarray(ts.state.symmetry.action_perm[..., 0])  # shift s sends 0 -> s: [n, 2]
    counts = np.zeros((5, 5))
    np.add.at(counts, (idx[:, 0], idx[:, 1]), 1)
    expected = n / 25
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 52.6  # chi-square, 24 degrees of freedom, p = 0.001
    rel = (idx[:, 0] - idx[:, 1]) % 5  # the relative shift between the partners
    np.testing.assert_allclose(np.bincount(rel, minlength=5) / n, 0.2, atol=0.03)


def test_other_play_env_validation():
    with pytest.raises(ValueError, match="symmetries"):
        other_play_env(_RandomLegalSets(), symmetries=3)
    with pytest.raises(ValueError, match="symmetries"):
        other_play_env(_RandomLegalSets())  # no random_symmetry, no symmetry_group
    with pytest.raises(ValueError, match="group.action_perm.shape"):
        other_play_env(LeverGame(num_levers=4), _shift_group(5))
    with pytest.raises(ValueError, match="config.share_params"):
        check_selfplay_config(IPPOConfig())
    with pytest.raises(ValueError, match="keys.shape"):
        train_selfplay(jax.random.PRNGKey(0), LeverGame(), IPPOConfig(share_params=True))


# ----------------------------------------------------------------------------
# The lever game of Other-Play: self-play vs Other-Play, 8 seeds per method

SEEDS = 8
# One configuration for both methods: only the symmetries differ. Other-Play
# needs exploration: at the uniform policy its objective's gradient favours the
# nine 1.0 levers (J = P_1^2 / 9 + 0.9 P_2^2 in the class masses, whose basin
# boundary P_2 ~ 0.11 lies just above uniform's 0.1), so an entropy bonus and
# small noisy batches keep the policy moving until it falls into the 0.9
# lever's deeper basin; the annealed step size then settles it there.
LEVER_CONFIG = IPPOConfig(
    num_envs=16,
    num_steps=1,
    num_updates=2000,
    share_params=True,
    network=NetworkConfig(hidden_sizes=(16,)),
    ppo=PPOConfig(lr=2e-2, ent_coef=0.25, minibatches=1, anneal_lr=True),
)


def test_other_play_objective_points_away_from_the_unique_lever_at_uniform():
    """Why Other-Play needs exploration here (the closed form behind LEVER_CONFIG).

    ``J(p) = p^T M p`` with ``(M p)_a`` the payoff times ``a``'s class mean of
    ``p``; at the uniform policy ``dJ/dz_9 = p_9 (2 (M p)_9 - 2 J) =
    0.1 (0.18 - 0.198) = -0.0018`` in the softmax logits ``z``.
    """
    params = LeverGame().default_params()
    grad = jax.grad(lambda z: other_play_value(params, jax.nn.softmax(z)))(jnp.zeros(10))
    np.testing.assert_allclose(grad[9], -0.0018, rtol=1e-4)
    np.testing.assert_allclose(grad[:9], 0.0018 / 9, rtol=1e-4)


def _lever_policies(states, config):
    env = LeverGame()
    policy = selfplay_policy(env, config)
    probs = jax.vmap(lambda p: action_probs(policy, p, jnp.ones((1, 1))))(agent_params(states))
    return np.asarray(probs[:, 0])  # [S, A]


@pytest.fixture(scope="module")
def lever_runs():
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    sp, sp_metrics = train_selfplay(keys, LeverGame(), LEVER_CONFIG, compiler_options=FAST)
    op, op_metrics = train_other_play(keys, LeverGame(), LEVER_CONFIG, compiler_options=FAST)
    return (
        _lever_policies(sp, LEVER_CONFIG),
        _lever_policies(op, LEVER_CONFIG),
        sp_metrics,
        op_metrics,
    )


def _play(p, pay):
    """Exact expected returns of every ordered pair of policies ``p`` ``[S, A]``."""
    return np.einsum("ia,ja,a->ij", p, p, pay)


def test_selfplay_lever_game_breaks_symmetry(lever_runs):
    p, _, metrics, _ = lever_runs
    pay = np.asarray(LeverGame().default_params().payoffs)
    assert metrics["reward_0"].shape == (SEEDS, LEVER_CONFIG.num_updates)
    assert (p.max(-1) > 0.9).all()  # every seed pulls one lever
    # a 1.0 lever; the 0.9 lever is a local optimum of self-play too, reached
    # by about 1 seed in 30 with this configuration
    ones = pay[p.argmax(-1)] == 1.0
    assert ones.sum() >= SEEDS - 1
    xp = _play(p, pay)
    np.testing.assert_allclose(np.diag(xp)[ones], 1.0, atol=0.05)
    # cross-play: 1/9 expected for seeds on uniformly random 1.0 levers
    assert xp[~np.eye(SEEDS, dtype=bool)].mean() < 0.35
    assert len(set(p.argmax(-1).tolist())) >= 3  # different seeds, different conventions


def test_other_play_lever_game_picks_the_unique_lever(lever_runs):
    _, p, _, metrics = lever_runs
    params = LeverGame().default_params()
    pay = np.asarray(params.payoffs)
    # the 0.9 lever, the only one no symmetry moves; about 1 seed in 150 is
    # still exploring near the uniform policy after this budget
    on = p[:, 9] > 0.9
    assert on.sum() >= SEEDS - 1
    xp = _play(p[on], pay)
    ref = reference_values(params)  # Other-Play's optimum: 0.9 in self- and cross-play
    np.testing.assert_allclose(xp, ref.other_play, atol=0.05)
    assert _play(p, pay)[~np.eye(SEEDS, dtype=bool)].mean() > 0.65  # vs about 1/9 for self-play
    assert float(metrics["reward_0"][:, -100:].mean()) > 0.75  # sampled rewards at the end


# ----------------------------------------------------------------------------
# Recurrent self-play on the iterated lever game


@pytest.mark.slow  # ~16 s of CPU, most of it compiling the GRU trainer
def test_recurrent_selfplay_iterated_lever_game():
    env = IteratedLeverGame(num_levers=5, num_rounds=4)
    cfg = IPPOConfig(
        num_envs=16,
        num_steps=8,
        num_updates=80,
        share_params=True,
        network=NetworkConfig(kind="gru", gru_size=16, embed_sizes=(16,), hidden_sizes=(16,)),
        ppo=PPOConfig(lr=1e-2, ent_coef=0.0, minibatches=2),
    )
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    states, metrics = train_selfplay(keys, env, cfg, compiler_options=FAST)
    reward = np.asarray(metrics["reward_0"])  # [2, U] mean per round
    # random play: sum_a payoffs_a / A^2 = 4.9 / 25 per round; coordinated play 1.0
    assert (reward[:, :3].mean(1) < 0.4).all()
    assert (reward[:, -10:].mean(1) > 0.85).all()
    params = agent_params(states)
    template = make_policy(env.observation_shape, 5, cfg.network).init(jax.random.PRNGKey(0))
    for x, y in zip(
        jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(template), strict=True
    ):
        assert x.shape == (2, *y.shape)
