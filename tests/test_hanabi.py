"""Two-player Hanabi: step-for-step identity with JaxMARL, legal play, colour symmetries.

The oracle is JaxMARL's own ``HanabiEnv`` (``reset``/``step`` with its
auto-reset, ``get_legal_moves``), run on the same keys and actions. Compiled
programs are shared through module fixtures (Hanabi's step takes seconds to
compile).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from detente.env import auto_reset  # noqa: E402
from detente.games.hanabi import (  # noqa: E402
    NOOP,
    OBS_LAYOUT,
    HanabiGame,
    HanabiParams,
    colour_action_perm,
    colour_obs_perm,
    colour_permutations,
    random_legal_scores,
)
from detente.games.symmetry import (  # noqa: E402
    check_symmetry,
    compose,
    group_element,
    is_group,
    stack_symmetries,
)

NUM_GAMES, NUM_STEPS = 4, 300


@pytest.fixture(scope="module")
def env():
    return HanabiGame()


@pytest.fixture(scope="module")
def first(env):
    """The first TimeStep of a game (jitted once for the module)."""
    return jax.jit(env.reset)(jax.random.key(3), env.default_params())


@pytest.fixture(scope="module")
def ours(env):
    """``NUM_GAMES`` runs of ``NUM_STEPS`` uniformly random legal moves, auto-reset, jit(vmap)."""
    params = env.default_params()
    step = auto_reset(env)

    def run(key):
        k0, ks = jax.random.split(key)
        ts = env.reset(k0, params)

        def body(ts, k):
            k_a, k_s = jax.random.split(k)
            a = jax.random.categorical(k_a, jnp.where(ts.action_mask, 0.0, -jnp.inf), axis=-1)
            nxt = step(k_s, ts.state, a, params)
            return nxt, (ts.obs, ts.action_mask, a, nxt.rewards, nxt.terminated, nxt.info)

        _, out = jax.lax.scan(body, ts, jax.random.split(ks, NUM_STEPS))
        return out

    keys = jax.random.split(jax.random.key(0), NUM_GAMES)
    out = jax.jit(jax.vmap(run))(keys)
    return keys, jax.tree_util.tree_map(np.asarray, out)


def test_trajectories_equal_jaxmarl(ours):
    """Same keys, same actions: JaxMARL's obs, legal moves, rewards and dones, bit for bit."""
    from jaxmarl.environments.hanabi.hanabi import HanabiEnv

    jm = HanabiEnv(num_agents=2)
    names = jm.agents

    @jax.jit
    def theirs(key, actions):  # JaxMARL's public step auto-resets with split(key)[1]
        k0, ks = jax.random.split(key)
        obs, state = jm.reset(k0)

        def body(c, x):
            state, obs = c
            k, a = x
            _, k_s = jax.random.split(k)
            legal = jm.get_legal_moves(state)
            o = jnp.stack([obs[n] for n in names])
            m = jnp.stack([legal[n] for n in names])
            obs, state, r, d, _ = jm.step(k_s, state, {n: a[i] for i, n in enumerate(names)})
            return (state, obs), (o, m, r["__all__"], d["__all__"])

        _, out = jax.lax.scan(body, (state, obs), (jax.random.split(ks, NUM_STEPS), actions))
        return out

    keys, (obs, mask, actions, rewards, terminated, _) = ours
    for b in range(NUM_GAMES):
        o, m, r, d = (np.asarray(x) for x in theirs(keys[b], actions[b]))
        np.testing.assert_array_equal(obs[b], o)
        np.testing.assert_array_equal(mask[b], m > 0)
        np.testing.assert_array_equal(rewards[b], np.stack([r, r], axis=-1))
        np.testing.assert_array_equal(terminated[b], d)
    assert terminated.sum() >= 4 * NUM_GAMES  # several whole games, resets included


def test_random_legal_play(ours):
    """No illegal move; one actor per turn; scores in [0, 25]; an episode's return is its score."""
    _, (obs, mask, actions, rewards, terminated, info) = ours
    assert not info["illegal_action"].any()
    # exactly one player may act (not the no-op); the other may only send the no-op
    acting = mask[..., :NOOP].any(-1)  # [B, T, 2]
    np.testing.assert_array_equal(acting.sum(-1), 1)
    np.testing.assert_array_equal(mask[..., NOOP], ~acting)
    np.testing.assert_array_equal(actions[~acting], NOOP)
    assert ((info["score"] >= 0) & (info["score"] <= 25)).all()
    assert ((info["fireworks"] >= 0) & (info["fireworks"] <= 25)).all()
    saw_bomb_penalty = False
    for b in range(NUM_GAMES):
        start = 0
        for t in np.flatnonzero(terminated[b]):
            episode = rewards[b, start : t + 1, 0]
            assert episode.sum() == info["score"][b, t]
            saw_bomb_penalty |= bool(episode.min() < 0)
            start = t + 1
    # random play loses its lives: the last reward takes back the fireworks (bomb-0)
    assert saw_bomb_penalty


def test_waiting_player_is_ignored_and_illegal_flagged(env, first):
    params = env.default_params()
    ts = first
    # player 0 acts: play card 0 with four different moves of the waiting player;
    # player 0 sending the no-op is illegal
    pairs = jnp.array([[5, NOOP], [5, 0], [5, 12], [NOOP, NOOP], [5, 5]])
    batch = jax.jit(jax.vmap(env.step, in_axes=(None, None, 0, None)))
    out = batch(jax.random.key(4), ts.state, pairs, params)
    for i in (1, 2, 4):
        np.testing.assert_array_equal(out.obs[i], out.obs[0])
        np.testing.assert_array_equal(out.action_mask[i], out.action_mask[0])
    assert out.info["illegal_action"].tolist() == [False, False, False, True, False]
    # player 1 acts next, then only player 0 may send the no-op
    np.testing.assert_array_equal(out.action_mask[:, 0], np.tile(np.arange(21) == NOOP, (5, 1)))
    assert out.action_mask[:, 1, :NOOP].any(-1).all() and not out.action_mask[:, 1, NOOP].any()
    assert ts.action_mask[0, :NOOP].any() and int(env.current_player(ts.state)) == 0


@pytest.mark.slow  # its own compiled program (about 10 s); random legal play is tested above
def test_random_legal_scores():
    res = random_legal_scores(jax.random.key(1), 32)
    assert res.finished.all()
    assert ((res.score >= 0) & (res.score <= 25)).all()
    assert ((res.fireworks >= 0) & (res.fireworks <= 25)).all()
    assert (res.score <= res.fireworks).all()


def test_layout_and_index_maps():
    # the layout covers the 658 features once, in order
    ends = [start + int(np.prod(shape)) for _, start, shape, _ in OBS_LAYOUT]
    starts = [start for _, start, _, _ in OBS_LAYOUT]
    assert starts[0] == 0 and ends[-1] == 658 and starts[1:] == ends[:-1]
    sigmas = colour_permutations()
    assert sigmas.shape == (120, 5) and len({tuple(s) for s in sigmas}) == 120
    np.testing.assert_array_equal(sigmas[0], np.arange(5))
    # swapping R and Y: hints R (10) and Y (11) swap, nothing else
    swap = np.array([1, 0, 2, 3, 4])
    expected = np.arange(21)
    expected[[10, 11]] = [11, 10]
    np.testing.assert_array_equal(colour_action_perm(swap), expected)
    perm = colour_obs_perm(swap)  # a gather map: feature i comes from perm[i]
    assert perm[0] == 5 and perm[5] == 0  # partner's card 0: (R, 1) <-> (Y, 1)
    assert perm[25 + 4] == 25 + 5 + 4  # partner's card 1: (R, 5) <- (Y, 5)
    assert perm[125:167].tolist() == list(range(125, 167))  # missing cards, deck stay
    assert perm[167] == 172 and perm[172] == 167  # fireworks R1 <-> Y1
    assert perm[203] == 213 and perm[203 + 10] == 203  # discards of R <-> Y
    assert perm[261] == 262 and perm[266] == 266  # last colour hint swaps, rank hint stays
    assert perm[281] == 286  # last card (R, 1) <- (Y, 1)
    assert perm[308] == 313 and perm[308 + 25] == 308 + 26  # belief of card 0, colour hint R
    assert perm[308 + 30] == 308 + 30  # rank hints stay
    moved = np.flatnonzero(perm != np.arange(658))
    # colour-carrying features moved by a transposition: 2 of 5 colours in each colour block
    # partner hand 5*2*5, fireworks 2*5, discards 2*10, hint 2, last card 2*5, beliefs 10*(2*5 + 2)
    assert moved.size == 50 + 10 + 20 + 2 + 10 + 120
    with pytest.raises(ValueError, match="state_perm"):
        colour_obs_perm([0, 0, 1, 2, 3])


def test_colour_group_is_a_group(env):
    G = env.symmetry_group(env.default_params())
    assert G.obs_perm.shape == (120, 658) and G.action_perm.shape == (120, 21)
    assert G.state_perm.shape == (120, 5)
    np.testing.assert_array_equal(G.obs_perm[0], np.arange(658))
    np.testing.assert_array_equal(G.action_perm[0], np.arange(21))
    assert is_group(G)
    # a colour swap that leaves the observation alone is not in the group
    bad = G.replace(obs_perm=G.obs_perm.at[1].set(jnp.arange(658)))
    assert not is_group(bad)


def test_colour_symmetries_checked(env):
    """All 120 colour permutations are symmetries; hint swaps without their features are not."""
    params = env.default_params()
    G = env.symmetry_group(params)
    swap = int(np.flatnonzero((colour_permutations() == [1, 0, 2, 3, 4]).all(1))[0])
    g = group_element(G, swap)
    no_obs = g.replace(obs_perm=jnp.arange(658, dtype=g.obs_perm.dtype))  # the acceptance case
    ident = group_element(G, 0)
    hint_only = ident.replace(action_perm=g.action_perm)  # hints swapped, state and obs not
    stack = stack_symmetries([group_element(G, i) for i in range(120)] + [no_obs, hint_only])
    res = check_symmetry(env, params, stack, jax.random.key(0), num_states=4, num_steps=24)
    assert not res.ok
    for v in (res.obs, res.mask, res.reward, res.dynamics):
        np.testing.assert_array_equal(v[:120], 0.0)
    assert res.obs[120] > 0 and res.dynamics[120] > 0  # obs(g.s) differs from o
    assert res.mask[121] > 0 and res.dynamics[121] > 0  # hint legality and outcome differ


def test_permute_state_matches_relabelled_game(env, first):
    """``permute_state`` relabels the cards as the colour map says."""
    params = env.default_params()
    ts = first
    G = env.symmetry_group(params)
    for i in (1, 57, 119):
        g = group_element(G, i)
        sigma = colour_permutations()[i]
        s = env.permute_state(ts.state, g)
        col = np.asarray(ts.state.game.player_hands).sum(-1).argmax(-1)  # [2, 5] colours
        col_g = np.asarray(s.game.player_hands).sum(-1).argmax(-1)
        np.testing.assert_array_equal(col_g, sigma[col])
        rank = np.asarray(ts.state.game.player_hands).sum(-2).argmax(-1)
        np.testing.assert_array_equal(np.asarray(s.game.player_hands).sum(-2).argmax(-1), rank)
    # permute_state is an action of the group: g.(h.s) = (g h).s
    g, h = group_element(G, 33), group_element(G, 101)
    left = env.permute_state(env.permute_state(ts.state, h), g)
    right = env.permute_state(ts.state, compose(g, h))
    for x, y in zip(jax.tree_util.tree_leaves(left), jax.tree_util.tree_leaves(right), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(left.game.deck, ts.state.game.deck)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(actions=jnp.array([0, 1, 2])), "actions.shape"),
        (dict(params=None), "params"),
    ],
)
def test_bad_input(env, first, bad, match):
    params = env.default_params()
    ts = first
    kw = dict(key=jax.random.key(1), state=ts.state, actions=jnp.array([5, NOOP]), params=params)
    kw.update(bad)
    with pytest.raises(ValueError, match=match):
        env.step(**kw)


def test_params_are_an_empty_pytree(env):
    assert jax.tree_util.tree_leaves(HanabiParams()) == []
    assert env.default_params() == HanabiParams()
