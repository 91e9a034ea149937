"""Lever games of Other-Play (detente.games.coordination): dynamics, symmetries, closed forms."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.env import auto_reset
from detente.games.coordination import (
    OTHER_PLAY_PAYOFFS,
    IteratedLeverGame,
    LeverGame,
    LeverParams,
    cyclic_subgroup,
    full_symmetry_group,
    lever_value,
    other_play_value,
    random_lever_permutation,
    reference_values,
)
from detente.games.symmetry import (
    Symmetry,
    apply_logits,
    apply_obs,
    check_symmetry,
    group_element,
    group_size,
    is_group,
)

ENVS = [LeverGame(), IteratedLeverGame(num_rounds=3)]


@functools.cache
def _sampler():
    return jax.jit(jax.vmap(random_lever_permutation))


def _random_sigmas(payoffs, n, seed=1):
    """``n`` draws of random_lever_permutation (one compiled program per n)."""
    keys = jax.random.split(jax.random.key(seed), n)
    return _sampler()(keys, jnp.broadcast_to(payoffs, (n,) + payoffs.shape))


SWAP_09 = [9, 1, 2, 3, 4, 5, 6, 7, 8, 0]  # swaps the 0.9 lever with a 1.0 lever


# ----------------------------------------------------------------------------
# Params and construction


def test_default_payoffs_are_other_plays():
    assert OTHER_PLAY_PAYOFFS == (1.0,) * 9 + (0.9,)
    p = LeverGame().default_params()
    np.testing.assert_allclose(p.payoffs, [1.0] * 9 + [0.9])
    np.testing.assert_allclose(LeverGame(num_levers=3).default_params().payoffs, [1, 1, 0.9])


@pytest.mark.parametrize(
    ("payoffs", "match"),
    [
        ([1.0], "payoffs.shape"),
        ([[1.0, 1.0]], "payoffs.shape"),
        ([1.0, np.nan], "payoffs="),
        ([1.0, np.inf, 0.0], "payoffs="),
        (["a", "b"], "payoffs="),
    ],
)
def test_params_validation(payoffs, match):
    with pytest.raises(ValueError, match=match):
        LeverParams.create(payoffs)


def test_params_num_levers_and_env_validation():
    with pytest.raises(ValueError, match=r"payoffs.shape.*\[10\]"):
        LeverParams.create([1.0, 1.0, 0.9], num_levers=10)
    for bad in (0, 1, 2.5, "10"):
        with pytest.raises(ValueError, match="num_levers"):
            LeverGame(num_levers=bad)
        with pytest.raises(ValueError, match="num_levers"):
            IteratedLeverGame(num_levers=bad)
    with pytest.raises(ValueError, match="num_rounds"):
        IteratedLeverGame(num_rounds=0)
    with pytest.raises(ValueError, match="params.payoffs.shape"):
        LeverGame(num_levers=4).reset(jax.random.key(0), LeverParams.create([1.0, 1.0, 0.9]))
    with pytest.raises(ValueError, match="params"):
        LeverGame().reset(jax.random.key(0), {"payoffs": jnp.ones(10)})


# ----------------------------------------------------------------------------
# Dynamics


def test_one_shot_known_values():
    env = LeverGame()
    params = env.default_params()
    ts = env.reset(jax.random.key(0), params)
    assert ts.obs.shape == (2, 1) and ts.obs.tolist() == [[1.0], [1.0]]
    assert ts.action_mask.shape == (2, 10) and bool(ts.action_mask.all())
    assert not bool(ts.terminated) and not bool(ts.truncated)
    for acts, want in [([3, 3], 1.0), ([9, 9], 0.9), ([3, 4], 0.0), ([9, 0], 0.0)]:
        nxt = env.step(jax.random.key(1), ts.state, jnp.array(acts), params)
        np.testing.assert_allclose(nxt.rewards, [want, want], rtol=1e-6)
        assert bool(nxt.terminated) and not bool(nxt.truncated)
        assert nxt.obs.tolist() == [[1.0], [1.0]]


def test_iterated_known_values():
    env = IteratedLeverGame(num_levers=4, num_rounds=3)
    params = LeverParams.create([1.0, 1.0, 1.0, 0.5])
    ts = env.reset(jax.random.key(0), params)
    assert env.observation_shape == (5,) and env.num_actions == 4
    assert ts.obs.tolist() == [[0, 0, 0, 0, 1]] * 2
    ts = env.step(jax.random.key(1), ts.state, jnp.array([2, 1]), params)
    assert ts.rewards.tolist() == [0.0, 0.0]
    # player 0 sees the partner's lever 1, player 1 sees lever 2; the flag is off
    assert ts.obs.tolist() == [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0]]
    assert not bool(ts.truncated)
    ts = env.step(jax.random.key(2), ts.state, jnp.array([3, 3]), params)
    assert ts.rewards.tolist() == [0.5, 0.5] and not bool(ts.truncated)
    ts = env.step(jax.random.key(3), ts.state, jnp.array([0, 0]), params)
    assert ts.rewards.tolist() == [1.0, 1.0]
    assert bool(ts.truncated) and not bool(ts.terminated)
    assert int(ts.info["step"]) == 3


def test_iterated_episode_return_under_auto_reset():
    env = IteratedLeverGame(num_levers=10, num_rounds=4)
    params = env.default_params()
    step = auto_reset(env)

    def run(params):
        ts = env.reset(jax.random.key(0), params)

        def body(ts, k):
            # copy the partner's last lever, lever 9 in the first round
            seen = jnp.argmax(ts.obs[:, :10], -1)
            a = jnp.where(ts.obs[:, 10] > 0, 9, seen)
            nxt = step(k, ts.state, a, params)
            return nxt, (nxt.rewards, nxt.truncated)

        _, (r, tr) = jax.lax.scan(body, ts, jax.random.split(jax.random.key(1), 8))
        return r, tr

    r, tr = jax.jit(run)(params)
    np.testing.assert_allclose(r[:, 0], [0.9] * 8, rtol=1e-6)
    assert tr.tolist() == [False, False, False, True] * 2


def test_jit_and_vmap_over_params_without_recompiling():
    env = IteratedLeverGame(num_levers=3, num_rounds=2)
    traces = []

    def payoff_of(params, actions):
        traces.append(1)
        ts = env.reset(jax.random.key(0), params)
        return env.step(jax.random.key(1), ts.state, actions, params).rewards[0]

    f = jax.jit(jax.vmap(payoff_of, in_axes=(0, None)))
    batch1 = LeverParams(payoffs=jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    batch2 = LeverParams(payoffs=jnp.array([[7.0, 8.0, 9.0], [0.5, 0.25, 0.125]]))
    np.testing.assert_allclose(f(batch1, jnp.array([2, 2])), [3.0, 6.0])
    np.testing.assert_allclose(f(batch2, jnp.array([1, 1])), [8.0, 0.25])
    np.testing.assert_allclose(f(batch2, jnp.array([0, 1])), [0.0, 0.0])
    assert len(traces) == 1


# ----------------------------------------------------------------------------
# Symmetries


@pytest.mark.parametrize("env", ENVS, ids=["one_shot", "iterated"])
def test_check_accepts_equal_payoff_permutations(env):
    params = env.default_params()
    group = env.symmetry_group(params)  # 9! > 5040: the cyclic subgroup
    assert group_size(group) == 9 and is_group(group)
    np.testing.assert_array_equal(group_element(group, 0).action_perm, np.arange(10))
    # plus 16 uniformly drawn elements of the full S_9, checked in the same program
    sigmas = _random_sigmas(params.payoffs, 16)
    rand = env.lever_symmetry(sigmas)
    both = jax.tree_util.tree_map(lambda x, y: jnp.concatenate([x, y]), group, rand)
    res = check_symmetry(env, params, both, jax.random.key(0), num_states=8, num_steps=4)
    assert res.ok and res.reward.shape == (25,)
    assert float(res.reward.max()) == 0.0 and float(res.dynamics.max()) == 0.0


@pytest.mark.parametrize("env", ENVS, ids=["one_shot", "iterated"])
def test_check_rejects_swapping_the_09_lever(env):
    params = env.default_params()
    res = check_symmetry(env, params, env.lever_symmetry(jnp.array(SWAP_09)), jax.random.key(0))
    assert not res.ok
    np.testing.assert_allclose(res.reward, 0.1, rtol=1e-5)


def test_check_rejects_obs_perm_not_matching_action_perm():
    env = ENVS[1]
    params = env.default_params()
    good = env.lever_symmetry(jnp.array([1, 0, 2, 3, 4, 5, 6, 7, 8, 9]))
    assert check_symmetry(env, params, good, jax.random.key(0)).ok
    bad = Symmetry(
        obs_perm=jnp.arange(11), action_perm=good.action_perm, state_perm=good.state_perm
    )
    res = check_symmetry(env, params, bad, jax.random.key(0))
    assert not res.ok
    assert float(res.reward) == 0.0 and float(res.dynamics) == 1.0


def test_full_group_of_a_small_game():
    env = IteratedLeverGame(num_levers=5, num_rounds=2)
    params = LeverParams.create([1.0, 0.5, 1.0, 1.0, 0.5])
    group = env.symmetry_group(params)  # 3! * 2! = 12 <= 5040: the full group
    perms = {tuple(p) for p in np.asarray(group.action_perm)}
    want = {
        p
        for p in itertools.permutations(range(5))
        if all(params.payoffs[p[a]] == params.payoffs[a] for a in range(5))
    }
    assert group_size(group) == 12 and perms == want
    np.testing.assert_array_equal(group.action_perm[0], np.arange(5))
    assert is_group(group)
    assert check_symmetry(env, params, group, jax.random.key(0), num_states=4, num_steps=3).ok
    cyc = cyclic_subgroup(env, params)
    assert group_size(cyc) == 6 and is_group(cyc)
    with pytest.raises(ValueError, match="max_size"):
        full_symmetry_group(env, params, max_size=11)
    with pytest.raises(ValueError, match="max_size"):
        full_symmetry_group(LeverGame(), LeverGame().default_params())


def test_random_lever_permutation_is_uniform_over_the_full_group():
    # one program: 3000 draws for [1, .5, 1, 1] and one each for three other payoff vectors
    others = jnp.array([[1.0, 1.0, 2.0, 2.0], [3.0, 1.0, 1.0, 3.0], [1.0, 2.0, 3.0, 4.0]])
    batch = jnp.concatenate([jnp.tile(jnp.array([[1.0, 0.5, 1.0, 1.0]]), (3000, 1)), others])
    keys = jax.random.split(jax.random.key(0), batch.shape[0])
    all_sig = np.asarray(_sampler()(keys, batch))
    sig = all_sig[:3000]
    assert (sig[:, 1] == 1).all()
    assert (np.sort(sig, 1) == np.arange(4)).all()
    counts = {}
    for row in map(tuple, sig):
        counts[row] = counts.get(row, 0) + 1
    assert len(counts) == 6
    np.testing.assert_allclose(np.array(list(counts.values())) / 3000, 1 / 6, atol=0.03)
    # traced params: each permutation preserves its own payoffs
    np.testing.assert_array_equal(np.take_along_axis(batch, all_sig, 1), batch)
    np.testing.assert_array_equal(all_sig[-1], np.arange(4))


def test_equivariant_policy_commutes_with_symmetries():
    # "copy the partner's last lever": pi(g.o) = g.pi(o) (Hu et al. 2020, Sec. 4)
    env = IteratedLeverGame(num_rounds=3)
    g = env.random_symmetry(jax.random.key(3), env.default_params())
    obs = jax.nn.one_hot(jnp.arange(10), 11)  # [10, 11], each a seen lever
    policy = lambda o: 5.0 * o[..., :10]  # noqa: E731
    np.testing.assert_array_equal(policy(apply_obs(g, obs)), apply_logits(g, policy(obs)))


# ----------------------------------------------------------------------------
# Closed forms


def test_reference_values_and_other_play_value():
    params = LeverGame().default_params()
    ref = reference_values(params)
    assert ref.self_play == 1.0
    assert ref.cross_play == pytest.approx(1 / 9)
    assert ref.other_play == pytest.approx(0.9)
    eye = jnp.eye(10)
    np.testing.assert_allclose(other_play_value(params, eye[9]), 0.9, rtol=1e-6)
    np.testing.assert_allclose(other_play_value(params, eye[0]), 1 / 9, rtol=1e-6)
    uniform_ones = jnp.array([1 / 9] * 9 + [0.0])
    np.testing.assert_allclose(other_play_value(params, uniform_ones), 1 / 9, rtol=1e-6)
    np.testing.assert_allclose(lever_value(params, eye[0], eye[0]), 1.0)
    # cross-play of self-play optima on independent uniform 1.0 levers: 1/9
    xp = jnp.mean(lever_value(params, eye[:9, None, :], eye[None, :9, :]))  # [9, 9] pairs
    np.testing.assert_allclose(xp, 1 / 9, rtol=1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        reference_values(LeverParams.create([1.0, -1.0]))


def test_other_play_value_equals_group_average():
    # brute force E_g[ sum_a p_a (g.p)_a payoff_a ] over the enumerated full group
    env = LeverGame(num_levers=5)
    params = LeverParams.create([1.0, 0.5, 1.0, 1.0, 0.5])
    group = full_symmetry_group(env, params)
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = jnp.asarray(rng.dirichlet(np.ones(5)), jnp.float32)
        # partner plays g.p: lever b with probability p[g^-1(b)]
        partner = p[group.state_perm]  # [G, A]; state_perm = argsort(sigma)
        brute = jnp.mean(lever_value(params, p[None], partner))
        np.testing.assert_allclose(other_play_value(params, p), brute, rtol=1e-5)
    # no policy beats the reference optimum (the objective is convex in the class masses)
    ps = jnp.asarray(rng.dirichlet(np.ones(5) * 0.3, size=2000), jnp.float32)
    best = reference_values(params).other_play
    assert float(jax.vmap(lambda p: other_play_value(params, p))(ps).max()) <= best + 1e-6
    np.testing.assert_allclose(best, 1 / 3)  # max(1.0 / 3, 0.5 / 2)
