"""Symmetry algebra of detente.games.symmetry: laws, group checks, actions on obs/logits."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.symmetry import (
    Symmetry,
    apply_action,
    apply_logits,
    apply_mask,
    apply_obs,
    check_symmetry,
    compose,
    group_element,
    group_size,
    inverse,
    is_group,
    sample_symmetry,
    stack_symmetries,
)

D, A, K = 6, 4, 3  # obs size, actions, state payload size


def _random(rng) -> Symmetry:
    return Symmetry(
        obs_perm=jnp.asarray(rng.permutation(D), jnp.int32),
        action_perm=jnp.asarray(rng.permutation(A), jnp.int32),
        state_perm={"colour": jnp.asarray(rng.permutation(K), jnp.int32)},
    )


def _identity() -> Symmetry:
    return Symmetry(
        obs_perm=jnp.arange(D, dtype=jnp.int32),
        action_perm=jnp.arange(A, dtype=jnp.int32),
        state_perm={"colour": jnp.arange(K, dtype=jnp.int32)},
    )


def _equal(g: Symmetry, h: Symmetry) -> bool:
    leaves = zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(h), strict=True)
    return all(np.array_equal(x, y) for x, y in leaves)


def _sym_from_action(sigma) -> Symmetry:
    """Action perm sigma; obs = one-hot of the action (gather map = inverse of sigma)."""
    sigma = np.asarray(sigma)
    inv = np.argsort(sigma)
    return Symmetry(
        obs_perm=jnp.asarray(inv, jnp.int32),
        action_perm=jnp.asarray(sigma, jnp.int32),
        state_perm=jnp.asarray(inv, jnp.int32),
    )


def test_obs_rule_and_action_rule_on_known_values():
    g = Symmetry(
        obs_perm=jnp.array([2, 0, 1]), action_perm=jnp.array([1, 2, 0]), state_perm=jnp.zeros(1)
    )
    # (g.o)[i] = o[obs_perm[i]]
    assert apply_obs(g, jnp.array([10.0, 20.0, 30.0])).tolist() == [30.0, 10.0, 20.0]
    assert apply_action(g, jnp.array([0, 1, 2])).tolist() == [1, 2, 0]
    # logit of action a moves to action_perm[a]
    assert apply_logits(g, jnp.array([5.0, 6.0, 7.0])).tolist() == [7.0, 5.0, 6.0]
    assert apply_mask(g, jnp.array([True, False, False])).tolist() == [False, True, False]


def test_group_laws_on_random_permutations():
    rng = np.random.default_rng(0)
    e = _identity()
    for _ in range(6):
        f, g, h = _random(rng), _random(rng), _random(rng)
        assert _equal(compose(e, g), g) and _equal(compose(g, e), g)
        assert _equal(compose(g, inverse(g)), e) and _equal(compose(inverse(g), g), e)
        assert _equal(compose(f, compose(g, h)), compose(compose(f, g), h))
        assert _equal(inverse(compose(g, h)), compose(inverse(h), inverse(g)))


def test_compose_is_g_after_h_on_obs_actions_logits_masks_state():
    rng = np.random.default_rng(1)
    obs = jnp.asarray(rng.normal(size=(5, 2, 3)))  # batch 5, obs_shape (2, 3): D = 6
    logits = jnp.asarray(rng.normal(size=(5, A)))
    mask = jnp.asarray(rng.random((5, A)) < 0.5)
    a = jnp.asarray(rng.integers(0, A, size=7))
    x = jnp.asarray(rng.normal(size=K))  # a per-colour state array, gathered by state_perm
    for _ in range(4):
        g, h = _random(rng), _random(rng)
        gh = compose(g, h)
        np.testing.assert_array_equal(apply_obs(gh, obs), apply_obs(g, apply_obs(h, obs)))
        np.testing.assert_array_equal(apply_action(gh, a), apply_action(g, apply_action(h, a)))
        np.testing.assert_array_equal(
            apply_logits(gh, logits), apply_logits(g, apply_logits(h, logits))
        )
        np.testing.assert_array_equal(apply_mask(gh, mask), apply_mask(g, apply_mask(h, mask)))
        sp = lambda s, v: v[s.state_perm["colour"]]  # noqa: E731
        np.testing.assert_array_equal(sp(gh, x), sp(g, sp(h, x)))
        # apply_obs acts on the flattened observation
        flat = obs.reshape(5, D)[:, g.obs_perm].reshape(obs.shape)
        np.testing.assert_array_equal(apply_obs(g, obs), flat)
        np.testing.assert_array_equal(apply_obs(g, obs, obs_shape=(2, 3)), flat)


def test_one_hot_obs_and_actions_move_together():
    # an equivariant policy "play the action you see" stays equivariant under g
    for sigma in itertools.permutations(range(4)):
        g = _sym_from_action(sigma)
        for b in range(4):
            o = jax.nn.one_hot(b, 4)
            assert int(jnp.argmax(apply_obs(g, o))) == int(apply_action(g, b))
            np.testing.assert_array_equal(apply_logits(g, 10 * o), 10 * apply_obs(g, o))


def test_apply_logits_matches_transformed_samples():
    g = Symmetry(
        obs_perm=jnp.arange(1), action_perm=jnp.array([2, 3, 1, 0]), state_perm=jnp.zeros(1)
    )
    logits = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    # exact: P_{g.pi}(action_perm[a]) = P_pi(a)
    p_new = jax.nn.softmax(apply_logits(g, logits))
    np.testing.assert_allclose(p_new[g.action_perm], jax.nn.softmax(logits), rtol=1e-6)
    # sampled: both histograms agree with [p(g^-1 b)]_b
    n = 40_000
    k1, k2 = jax.random.split(jax.random.key(0))
    direct = jax.random.categorical(k1, apply_logits(g, logits), shape=(n,))
    moved = apply_action(g, jax.random.categorical(k2, logits, shape=(n,)))
    want = np.array([0.4, 0.3, 0.1, 0.2])  # b=0 <- a=3, b=1 <- a=2, b=2 <- a=0, b=3 <- a=1
    for s in (direct, moved):
        freq = np.bincount(np.asarray(s), minlength=4) / n
        np.testing.assert_allclose(freq, want, atol=0.01)


def test_is_group_on_small_groups():
    s3 = [_sym_from_action(p) for p in itertools.permutations(range(3))]
    assert is_group(stack_symmetries(s3))
    c3 = [_sym_from_action(p) for p in [(0, 1, 2), (1, 2, 0), (2, 0, 1)]]
    assert is_group(stack_symmetries(c3))
    assert is_group(stack_symmetries([_sym_from_action((0, 1, 2)), _sym_from_action((1, 0, 2))]))
    # not closed: a 3-cycle without its square
    assert not is_group(stack_symmetries(c3[:2]))
    # two transpositions generate S3: not closed
    assert not is_group(
        stack_symmetries([s3[0], _sym_from_action((1, 0, 2)), _sym_from_action((0, 2, 1))])
    )
    # no identity
    assert not is_group(stack_symmetries([_sym_from_action((1, 0, 2))]))
    # pairs: same action perms, mismatched obs perm -> the pair set is not closed
    odd = Symmetry(
        obs_perm=jnp.array([0, 1, 2]), action_perm=jnp.array([1, 0, 2]), state_perm=jnp.zeros(3)
    )
    swap = _sym_from_action((1, 0, 2))
    assert not is_group(stack_symmetries([s3[0], swap, odd]))
    # a row that is not a permutation
    broken = Symmetry(
        obs_perm=jnp.array([[0, 1, 2], [0, 0, 2]]),
        action_perm=jnp.array([[0, 1, 2], [1, 0, 2]]),
        state_perm=jnp.zeros((2, 3)),
    )
    assert not is_group(broken)


def test_group_size_element_and_uniform_sampling():
    s3 = stack_symmetries([_sym_from_action(p) for p in itertools.permutations(range(3))])
    assert group_size(s3) == 6
    np.testing.assert_array_equal(group_element(s3, 3).action_perm, s3.action_perm[3])
    keys = jax.random.split(jax.random.key(0), 6000)
    drawn = jax.jit(lambda ks: jax.lax.map(lambda k: sample_symmetry(k, s3).action_perm, ks))(keys)
    index = {tuple(np.asarray(p)): i for i, p in enumerate(s3.action_perm)}
    counts = np.bincount([index[tuple(r)] for r in np.asarray(drawn)], minlength=6)
    np.testing.assert_allclose(counts / 6000, 1 / 6, atol=0.025)
    with pytest.raises(ValueError, match="action_perm.ndim"):
        group_size(group_element(s3, 0))


def test_inverse_and_compose_vmap_over_a_stack():
    s3 = stack_symmetries([_sym_from_action(p) for p in itertools.permutations(range(3))])
    prods = jax.vmap(compose)(s3, jax.vmap(inverse)(s3))
    np.testing.assert_array_equal(prods.action_perm, np.tile(np.arange(3), (6, 1)))
    np.testing.assert_array_equal(prods.obs_perm, np.tile(np.arange(3), (6, 1)))


def test_apply_obs_bad_shape_and_check_symmetry_bad_inputs():
    g = _random(np.random.default_rng(0))
    with pytest.raises(ValueError, match="obs.shape"):
        apply_obs(g, jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match="obs.shape"):
        apply_obs(g, jnp.zeros((2, 6)), obs_shape=(3, 2))

    class NoPermute:
        pass

    with pytest.raises(ValueError, match="permute_state"):
        check_symmetry(NoPermute(), None, g, jax.random.key(0))
