"""The Coin Game against JaxMARL's ``coin_game`` (recorded and live) and hand-computed steps."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.env import auto_reset
from detente.games.coin_game import CoinGame, CoinGameParams, CoinGameState

REFERENCE = Path(__file__).parent / "data" / "coin_game_reference.npz"
RIGHT, LEFT, UP, DOWN, STAY = range(5)


def jaxmarl_plumbing(env, params, num_outer):
    """detente's ``step``/``reset`` with JaxMARL's key plumbing (its public ``step``).

    JaxMARL splits ``key`` into ``(k1, k_outer)``, runs the transition on ``k1``
    (respawn from ``split(k1)[1]``), starts the next inner episode with
    ``reset(split(k1)[0])`` when ``num_inner_steps`` steps are done, and
    restarts everything with ``reset(k_outer)`` after ``num_outer`` inner
    episodes. Only that plumbing lives here; the transition, the reset draw,
    the observations and the rewards are detente's.
    """

    def run(reset_key, step_keys, actions):
        ts0 = env.reset(reset_key, params)

        def body(carry, x):
            state, outer_t = carry
            k, a = x
            k1, k_outer = jax.random.split(k)
            ts = env.step(k1, state, a, params)
            inner = env.reset(jax.random.split(k1)[0], params)
            fresh = env.reset(k_outer, params)
            outer_t = outer_t + ts.truncated.astype(jnp.int32)
            done = outer_t >= num_outer

            def pick(x, y, z):
                return jnp.where(done, x, jnp.where(ts.truncated, y, z))

            state = jax.tree_util.tree_map(pick, fresh.state, inner.state, ts.state)
            obs = pick(fresh.obs, inner.obs, ts.obs)
            outer_t = jnp.where(done, 0, outer_t)
            rec = (obs, state, outer_t, ts.rewards, ts.truncated, done, ts.info)
            return (state, outer_t), rec

        _, (obs, states, outer_t, rew, trunc, done, info) = jax.lax.scan(
            body, (ts0.state, jnp.zeros((), jnp.int32)), (step_keys, actions)
        )
        cat = lambda first, seq: jnp.concatenate([first[None], seq], axis=0)
        states = jax.tree_util.tree_map(cat, ts0.state, states)
        outer_t = cat(jnp.zeros((), jnp.int32), outer_t)
        return cat(ts0.obs, obs), states, outer_t, rew, trunc, done, info

    return jax.jit(jax.vmap(run))


def positions(states):
    """``[..., 4, 2]``: red, blue, red coin, blue coin (JaxMARL's order)."""
    return np.concatenate([np.asarray(states.agent_pos), np.asarray(states.coin_pos)], axis=-2)


def check_pickups(stats, done, info):
    """JaxMARL's cumulative pickup statistics against detente's per-step ``info``."""
    ours = np.stack(
        [info["own_coin"][..., 0], info["other_coin"][..., 0]]
        + [info["own_coin"][..., 1], info["other_coin"][..., 1]],
        axis=-1,
    )  # [N, T, 4]: red own, red other, blue own, blue other
    delta = stats[:, 1:].astype(np.int32) - stats[:, :-1]
    keep = ~np.asarray(done)  # JaxMARL clears its statistics at the outer reset
    np.testing.assert_array_equal(delta[keep], ours[keep])
    assert ours.sum() > 1000  # the sequences do pick up coins


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(REFERENCE))


@pytest.mark.parametrize("egocentric", [False, True])
def test_recorded_jaxmarl_identity(ref, egocentric):
    """1,000 sequences x 25 steps recorded from JaxMARL 0.2.0: identical states, obs, rewards."""
    n_in, n_out = int(ref["num_inner_steps"]), int(ref["num_outer_steps"])
    env = CoinGame(episode_length=n_in, egocentric=egocentric, rng="jaxmarl")
    params = (
        CoinGameParams.from_jaxmarl(ref["custom_payoffs"]) if egocentric else env.default_params()
    )
    run = jaxmarl_plumbing(env, params, n_out)
    obs, states, outer_t, rew, trunc, done, info = jax.device_get(
        run(ref["reset_keys"], ref["step_keys"], ref["actions"].astype(np.int32))
    )
    assert ref["actions"].shape == (1000, 25, 2)
    np.testing.assert_array_equal(positions(states), ref["positions"])
    np.testing.assert_array_equal(states.t, ref["step"])
    np.testing.assert_array_equal(outer_t, ref["outer_t"])
    np.testing.assert_array_equal(trunc, ref["inner_done"])
    np.testing.assert_array_equal(done, ref["done"])
    expected_rew = ref["rewards_custom"] if egocentric else ref["rewards"]
    np.testing.assert_array_equal(rew, expected_rew)
    bits = ref["obs_ego_bits" if egocentric else "obs_abs_bits"]
    expected_obs = np.unpackbits(bits, axis=-1, count=36).astype(np.int8)
    assert obs.dtype == np.int8
    np.testing.assert_array_equal(obs, expected_obs)
    check_pickups(ref["pickups"], done, info)
    # the reference is not degenerate: coins are picked up, both payoff sets pay
    assert (expected_rew < 0).any() and (expected_rew > 0).any()
    assert trunc.sum() == 2000 and done.sum() == 1000


@pytest.mark.slow  # about 15 s, 4 s of it importing jaxmarl; the recorded test above runs always
def test_live_jaxmarl_identity():
    """Fresh keys and actions against an installed JaxMARL: grid obs, egocentric, custom payoffs."""
    pytest.importorskip("jaxmarl")
    from jaxmarl.environments.coin_game import CoinGame as JaxMARLCoinGame

    n, steps, n_in, n_out = 1000, 24, 5, 3
    payoff_matrix = [[2.0, -0.5, -1.5], [0.25, 3.0, -4.0]]
    theirs = JaxMARLCoinGame(
        num_inner_steps=n_in,
        num_outer_steps=n_out,
        cnn=True,
        egocentric=True,
        payoff_matrix=payoff_matrix,
    )
    ours = CoinGame(episode_length=n_in, egocentric=True, grid_obs=True, rng="jaxmarl")
    params = CoinGameParams.from_jaxmarl(payoff_matrix)
    base = jax.random.split(jax.random.PRNGKey(123), n)
    reset_keys = jax.vmap(lambda k: jax.random.split(k)[0])(base)
    step_keys = jax.vmap(lambda k: jax.random.split(jax.random.split(k)[1], steps))(base)
    actions = jax.random.randint(jax.random.PRNGKey(5), (n, steps, 2), 0, 5)

    def jaxmarl_run(k0, ks, acts):
        obs, state = theirs.reset(k0)

        def body(carry, x):
            obs, state = carry
            obs2, state2, rew, dones, _ = theirs.step(x[0], state, {"0": x[1][0], "1": x[1][1]})
            pos = jnp.stack(
                [state2.red_pos, state2.blue_pos, state2.red_coin_pos, state2.blue_coin_pos]
            )
            return (obs2, state2), (
                jnp.stack([obs2["0"], obs2["1"]]),
                pos,
                jnp.stack([rew["0"], rew["1"]]),
                dones["__all__"],
            )

        _, out = jax.lax.scan(body, (obs, state), (ks, acts))
        return out

    j_obs, j_pos, j_rew, j_done = jax.device_get(
        jax.jit(jax.vmap(jaxmarl_run))(reset_keys, step_keys, actions)
    )
    obs, states, _, rew, _, done, _ = jax.device_get(
        jaxmarl_plumbing(ours, params, n_out)(reset_keys, step_keys, actions)
    )
    assert obs.shape == (n, steps + 1, 2, 3, 3, 4)
    np.testing.assert_array_equal(obs[:, 1:], j_obs)
    np.testing.assert_array_equal(positions(states)[:, 1:], j_pos)
    np.testing.assert_array_equal(rew, j_rew)
    np.testing.assert_array_equal(done, j_done)
    assert (j_rew != 0).mean() > 0.1


def test_fast_rng_same_dynamics_as_recorded(ref):
    """rng="fast" only changes the draws: from JaxMARL's recorded states and
    actions, the moves, rewards, pickups and the coins not picked up agree."""
    env = CoinGame(episode_length=int(ref["num_inner_steps"]))  # rng="fast"
    pos = ref["positions"].astype(np.int32)  # [N, T + 1, 4, 2]
    n, t = ref["actions"].shape[:2]
    states = CoinGameState(
        agent_pos=pos[:, :-1, :2].reshape(-1, 2, 2),
        coin_pos=pos[:, :-1, 2:].reshape(-1, 2, 2),
        t=ref["step"][:, :-1].reshape(-1).astype(np.int32),
    )
    keys = jax.random.split(jax.random.PRNGKey(11), n * t)
    acts = ref["actions"].reshape(-1, 2).astype(np.int32)
    ts = jax.device_get(
        jax.jit(jax.vmap(lambda k, s, a: env.step(k, s, a, env.default_params())))(
            keys, states, acts
        )
    )
    np.testing.assert_array_equal(ts.rewards, ref["rewards"].reshape(-1, 2))
    np.testing.assert_array_equal(ts.truncated, ref["inner_done"].reshape(-1))
    live = ~ref["inner_done"].reshape(-1)  # JaxMARL's next state is a fresh episode there
    nxt = pos[:, 1:].reshape(-1, 4, 2)
    np.testing.assert_array_equal(ts.state.agent_pos[live], nxt[live, :2])
    kept = (ts.info["own_coin"] + ts.info["other_coin"][:, ::-1]) == 0  # [N*T, 2] coin not picked
    both = live[:, None] & kept
    np.testing.assert_array_equal(ts.state.coin_pos[both], nxt[:, 2:][both])
    moved = live[:, None] & ~kept
    assert moved.sum() > 1000 and (ts.state.coin_pos[moved] != nxt[:, 2:][moved]).any()


def test_fast_rng_draws_are_uniform_and_independent():
    """Chi-square on the 81 joint cells of the reset's agents and coins and of
    the respawned coin pair (fixed seeds: the test is deterministic)."""
    scipy_stats = pytest.importorskip("scipy.stats")
    env = CoinGame()  # rng="fast"
    params = env.default_params()
    keys = jax.random.split(jax.random.PRNGKey(2), 81 * 200)
    reset = jax.jit(jax.vmap(lambda k: env.reset(k, params).state))(keys)
    # both coins picked up: red stays on its coin, blue stays on its coin
    s = state((0, 0), (2, 2), (0, 0), (2, 2))
    stay = jnp.array([STAY, STAY])
    spawn = jax.jit(jax.vmap(lambda k: env.step(k, s, stay, params).state.coin_pos))(keys)
    np.testing.assert_array_equal(env.step(keys[0], s, stay, params).info["own_coin"], [1, 1])
    cell = lambda p: np.asarray(p[..., 0] * 3 + p[..., 1])
    for pair in (reset.agent_pos, reset.coin_pos, spawn):
        c = cell(pair)  # [K, 2]
        counts = np.bincount(c[:, 0] * 9 + c[:, 1], minlength=81)
        assert scipy_stats.chisquare(counts).pvalue > 1e-3
    # the agents and the coins of one reset are independent of each other
    a, c = cell(reset.agent_pos)[:, 0], cell(reset.coin_pos)[:, 0]
    assert scipy_stats.chisquare(np.bincount(a * 9 + c, minlength=81)).pvalue > 1e-3


# ----------------------------------------------------------------------------
# Hand-written cases


def state(red, blue, red_coin, blue_coin, t=0):
    return CoinGameState(
        agent_pos=jnp.array([red, blue], jnp.int32),
        coin_pos=jnp.array([red_coin, blue_coin], jnp.int32),
        t=jnp.asarray(t, jnp.int32),
    )


ENV = CoinGame()
PARAMS = ENV.default_params()
KEY = jax.random.PRNGKey(0)


def step(s, a, env=ENV, params=PARAMS, key=KEY):
    return env.step(key, s, jnp.array(a), params)


def test_own_coin_pays_one():
    ts = step(state((0, 0), (2, 2), (0, 1), (1, 2)), [RIGHT, STAY], env=CoinGame(rng="jaxmarl"))
    np.testing.assert_array_equal(ts.rewards, [1.0, 0.0])
    np.testing.assert_array_equal(ts.info["own_coin"], [1, 0])
    np.testing.assert_array_equal(ts.info["other_coin"], [0, 0])
    # the red coin respawned with JaxMARL's draw; the blue coin did not move
    fresh = jax.random.randint(jax.random.split(KEY)[1], (2, 2), 0, 3)
    np.testing.assert_array_equal(ts.state.coin_pos, [fresh[0], [1, 2]])
    np.testing.assert_array_equal(ts.state.agent_pos, [[0, 1], [2, 2]])
    assert int(ts.state.t) == 1 and not bool(ts.truncated) and not bool(ts.terminated)


def test_other_coin_pays_one_and_costs_owner_two():
    ts = step(state((0, 0), (2, 2), (1, 1), (0, 1)), [RIGHT, STAY])
    np.testing.assert_array_equal(ts.rewards, [1.0, -2.0])
    np.testing.assert_array_equal(ts.info["other_coin"], [1, 0])
    ts = step(state((0, 0), (2, 1), (2, 2), (0, 2)), [STAY, RIGHT])  # blue takes red's coin
    np.testing.assert_array_equal(ts.rewards, [-2.0, 1.0])
    np.testing.assert_array_equal(ts.info["other_coin"], [0, 1])


def test_both_agents_on_the_same_coin():
    # red (1, 0) -> right -> (1, 1); blue (0, 1) -> up (+1 row) -> (1, 1): the red coin
    ts = step(state((1, 0), (0, 1), (1, 1), (2, 2)), [RIGHT, UP])
    np.testing.assert_array_equal(ts.state.agent_pos, [[1, 1], [1, 1]])
    np.testing.assert_array_equal(ts.rewards, [1.0 - 2.0, 1.0])
    np.testing.assert_array_equal(ts.info["own_coin"], [1, 0])
    np.testing.assert_array_equal(ts.info["other_coin"], [0, 1])
    # one agent on both coins at once: red gets 1 + 1, blue loses 2
    ts = step(state((2, 1), (0, 0), (2, 2), (2, 2)), [RIGHT, STAY])
    np.testing.assert_array_equal(ts.rewards, [2.0, -2.0])
    # custom payoffs, per agent [own, other, own taken]
    params = CoinGameParams.create([[3.0, 5.0, -7.0], [11.0, 13.0, -17.0]])
    ts = step(state((1, 0), (0, 1), (1, 1), (2, 2)), [RIGHT, UP], params=params)
    np.testing.assert_array_equal(ts.rewards, [3.0 - 7.0, 13.0])


@pytest.mark.parametrize(
    "start, action, end",
    [
        ((0, 0), LEFT, (0, 2)),
        ((0, 0), DOWN, (2, 0)),
        ((2, 2), RIGHT, (2, 0)),
        ((2, 2), UP, (0, 2)),
        ((1, 1), UP, (2, 1)),
        ((1, 1), STAY, (1, 1)),
    ],
)
def test_moves_wrap_around(start, action, end):
    ts = step(state(start, (1, 2), (0, 1), (0, 1)), [action, STAY])
    np.testing.assert_array_equal(ts.state.agent_pos[0], end)


@pytest.mark.parametrize("rng", ["fast", "jaxmarl"])
def test_respawn_may_land_on_an_agent(rng):
    """JaxMARL redraws a picked-up coin on any of the 9 cells, agents' cells included."""
    env = CoinGame(rng=rng)
    s = state((0, 0), (2, 2), (0, 1), (1, 0))
    keys = jax.random.split(jax.random.PRNGKey(1), 400)
    coin = jax.jit(jax.vmap(lambda k: step(s, [RIGHT, STAY], env=env, key=k).state.coin_pos[0]))(
        keys
    )
    cells = {tuple(int(v) for v in c) for c in np.asarray(coin)}
    assert cells == {(r, c) for r in range(3) for c in range(3)}
    # a coin lying under an agent is taken only when the agent moves onto it or stays
    s = state((0, 0), (2, 2), (2, 2), (1, 0))
    np.testing.assert_array_equal(step(s, [STAY, LEFT]).rewards, [0.0, 0.0])
    np.testing.assert_array_equal(step(s, [STAY, STAY]).rewards, [-2.0, 1.0])


def test_observation_layout():
    s = state((0, 1), (2, 0), (1, 2), (0, 1))
    grid = CoinGame(grid_obs=True).observe(s)
    assert grid.shape == (2, 3, 3, 4) and grid.dtype == jnp.int8
    np.testing.assert_array_equal(ENV.observe(s), np.asarray(grid).reshape(2, 36))
    cells = lambda ch: {tuple(int(x) for x in c) for c in np.argwhere(np.asarray(ch))}
    # channels: own position, other agent, own coin, other coin
    for i, expect in enumerate(
        [[(0, 1), (2, 0), (1, 2), (0, 1)], [(2, 0), (0, 1), (0, 1), (1, 2)]]
    ):
        assert [cells(grid[i, :, :, ch]) for ch in range(4)] == [{e} for e in expect]
    ego = CoinGame(grid_obs=True, egocentric=True).observe(s)
    # red at (0, 1) shifts by (+1, 0): blue (2, 0) -> (0, 0), red coin -> (2, 2), blue coin -> (1, 1)
    assert [cells(ego[0, :, :, ch]) for ch in range(4)] == [{(1, 1)}, {(0, 0)}, {(2, 2)}, {(1, 1)}]
    # blue at (2, 0) shifts by (-1, +1): red -> (2, 2), blue coin -> (2, 2), red coin -> (0, 0)
    assert [cells(ego[1, :, :, ch]) for ch in range(4)] == [{(1, 1)}, {(2, 2)}, {(2, 2)}, {(0, 0)}]


def test_final_step_pays_nothing_unless_asked():
    s = state((0, 0), (2, 2), (0, 1), (1, 2), t=9)
    ts = step(s, [RIGHT, STAY])
    assert bool(ts.truncated) and not bool(ts.terminated)
    np.testing.assert_array_equal(ts.rewards, [0.0, 0.0])  # JaxMARL's convention
    np.testing.assert_array_equal(ts.info["own_coin"], [1, 0])  # the pickup still counts
    ts = step(s, [RIGHT, STAY], env=CoinGame(reward_final_step=True))
    assert bool(ts.truncated)
    np.testing.assert_array_equal(ts.rewards, [1.0, 0.0])


def test_auto_reset_after_episode_length():
    env = CoinGame(episode_length=3)
    params = env.default_params()
    step_fn = auto_reset(env)
    ts0 = env.reset(jax.random.PRNGKey(3), params)

    def body(state, k):
        ts = step_fn(k, state, jnp.array([UP, LEFT]), params)
        return ts.state, (ts.state.t, ts.truncated, ts.terminated, ts.obs, env.observe(ts.state))

    _, (t, trunc, term, obs, obs_of_state) = jax.lax.scan(
        body, ts0.state, jax.random.split(jax.random.PRNGKey(4), 7)
    )
    np.testing.assert_array_equal(t, [1, 2, 0, 1, 2, 0, 1])
    np.testing.assert_array_equal(trunc, [0, 0, 1, 0, 0, 1, 0])
    assert not np.asarray(term).any()
    np.testing.assert_array_equal(obs, obs_of_state)  # the fresh episode's observation


def test_vmap_over_64_payoffs_compiles_once():
    traces = []

    def rollout(params, key):
        traces.append(1)
        step_fn = auto_reset(ENV)
        ts = ENV.reset(key, params)

        def body(s, k):
            k_a, k_s = jax.random.split(k)
            a = jax.random.randint(k_a, (2,), 0, 5)
            ts = step_fn(k_s, s, a, params)
            return ts.state, ts.rewards

        _, rew = jax.lax.scan(body, ts.state, jax.random.split(key, 30))
        return rew.sum(0)

    run = jax.jit(jax.vmap(rollout, in_axes=(0, None)))
    key = jax.random.PRNGKey(0)
    scales = jnp.linspace(0.0, 2.0, 64)
    batch = CoinGameParams(payoffs=scales[:, None, None] * PARAMS.payoffs[None])
    out1 = run(batch, key)
    out2 = run(CoinGameParams(payoffs=-batch.payoffs), key)
    assert len(traces) == 1
    # same key, same moves: returns scale with the payoffs
    np.testing.assert_allclose(out1, scales[:, None] * out1[-1] / 2.0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out2, -out1)
    assert float(jnp.abs(out1[-1]).sum()) > 0


# ----------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "payoffs, match",
    [
        ([[1.0, 1.0], [1.0, 1.0]], r"payoffs\.shape=\(2, 2\)"),
        ([[1.0, 1.0, -2.0]] * 3, r"payoffs\.shape=\(3, 3\)"),
        ([1.0, float("nan"), -2.0], "finite"),
        ("abc", "payoffs"),
    ],
)
def test_bad_payoffs(payoffs, match):
    with pytest.raises(ValueError, match=match):
        CoinGameParams.create(payoffs)


def test_bad_config_and_inputs():
    with pytest.raises(ValueError, match="episode_length=0.*positive integer"):
        CoinGame(episode_length=0)
    with pytest.raises(ValueError, match="rng='numpy'.*fast, jaxmarl"):
        CoinGame(rng="numpy")
    with pytest.raises(ValueError, match="egocentric='yes'"):
        CoinGame(egocentric="yes")
    with pytest.raises(ValueError, match=r"params\.payoffs\.shape=\(3,\)"):
        ENV.step(
            KEY,
            state((0, 0), (1, 1), (2, 2), (0, 2)),
            jnp.array([0, 0]),
            CoinGameParams(jnp.ones(3)),
        )
    with pytest.raises(ValueError, match="params=None"):
        ENV.reset(KEY, None)
    with pytest.raises(ValueError, match=r"actions\.shape=\(3,\)"):
        ENV.step(KEY, state((0, 0), (1, 1), (2, 2), (0, 2)), jnp.array([0, 0, 0]), PARAMS)
    with pytest.raises(ValueError, match=r"payoff_matrix\.shape=\(3,\)"):
        CoinGameParams.from_jaxmarl([1.0, 1.0, -2.0])


def test_from_jaxmarl_swaps_blue_row():
    p = CoinGameParams.from_jaxmarl([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(p.payoffs, [[1.0, 2.0, 3.0], [5.0, 4.0, 6.0]])
    assert ENV.observation_shape == (36,) and ENV.num_agents == 2 and ENV.num_actions == 5
