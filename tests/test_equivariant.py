"""Equivariant policies: subgroups, the symmetrizer, weight-tied networks, lever-game acceptance.

Muglich et al. 2022, "Equivariant Networks for Zero-Shot Coordination",
NeurIPS, https://arxiv.org/abs/2210.12124. Known values: group orders
(``C_9``: 9, ``D_9 x 1``: 18, Hanabi's ``C_5, D_5, S_5``: 5, 10, 120);
``pi(g . o) = g . pi(o)`` for every element, to 1e-6; a symmetrized lever
policy puts ``1/9`` of its 1.0-lever mass on each of the nine, and its
cross-play matrix matches the exact ``lever_value`` of its probabilities;
weight-tied policies trained by self-play pull the 0.9 lever (Other-Play's
optimum, ``reference_values(...).other_play``).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.analysis.crossplay import crossplay
from detente.games.coordination import (
    IteratedLeverGame,
    LeverGame,
    cyclic_subgroup,
    dihedral_subgroup,
    lever_value,
    reference_values,
)
from detente.games.hanabi import HanabiGame
from detente.games.symmetry import (
    generated_group,
    group_element,
    group_size,
    is_group,
    stack_symmetries,
    symmetry_subgroup,
)
from detente.solvers.rl.policy import NetworkConfig, make_policy, mask_policy
from detente.solvers.zsc.agents import load_agents, save_agents
from detente.solvers.zsc.configs import zsc_config
from detente.solvers.zsc.equivariant import (
    EquivariantNetwork,
    equivariant_network,
    symmetrized,
)
from detente.solvers.zsc.selfplay import action_probs, agent_params, train_selfplay
from detente.solvers.zsc.symmetrizer import GroupSpec, group_spec, symmetrize

FAST = {"xla_backend_optimization_level": 1}
SEEDS = 8
LEVER = LeverGame()
PAY = np.asarray(LEVER.default_params().payoffs)


# ----------------------------------------------------------------------------
# Subgroups


def _rows(g):
    return {
        (o.tobytes(), a.tobytes())
        for o, a in zip(np.asarray(g.obs_perm), np.asarray(g.action_perm), strict=True)
    }


def test_subgroup_orders_and_closure():
    lever = IteratedLeverGame()
    orders = {k: group_size(symmetry_subgroup(lever, k)) for k in ("trivial", "cyclic", "dihedral")}
    assert orders == {"trivial": 1, "cyclic": 9, "dihedral": 18}
    full_hanabi = _rows(HanabiGame().symmetry_group())
    for kind, order in (("trivial", 1), ("cyclic", 5), ("dihedral", 10), ("full", 120)):
        g = symmetry_subgroup(HanabiGame(), kind)
        assert group_size(g) == order and is_group(g)
        assert (np.asarray(g.action_perm[0]) == np.arange(21)).all()  # identity first
        assert _rows(g) <= full_hanabi
    params = lever.default_params()
    cyc, dih = cyclic_subgroup(lever, params), dihedral_subgroup(lever, params)
    assert is_group(cyc) and is_group(dih) and _rows(cyc) < _rows(dih)
    # the 0.9 lever is fixed by every element; the nine form one orbit
    assert (np.asarray(dih.action_perm)[:, 9] == 9).all()
    assert set(np.asarray(dih.action_perm)[:, 0].tolist()) == set(range(9))
    # a transposition generates a group of order 2; S_5 needs two generators
    swap = np.arange(10)
    swap[[0, 1]] = [1, 0]
    assert group_size(generated_group(lever.lever_symmetry(swap))) == 2
    # a 5-cycle and a transposition generate all of S_5
    full = HanabiGame().symmetry_group()
    cycle = 33  # itertools.permutations(range(5)) row 33 is (1, 2, 3, 4, 0)
    assert np.asarray(full.state_perm[cycle]).tolist() == [4, 0, 1, 2, 3]
    s5 = generated_group(jax.tree_util.tree_map(lambda x: x[jnp.array([cycle, 1])], full))
    assert group_size(s5) == 120 and _rows(s5) == full_hanabi
    with pytest.raises(ValueError, match="max_size"):
        generated_group(HanabiGame().symmetry_group(), max_size=100)
    with pytest.raises(ValueError, match="kind"):
        symmetry_subgroup(lever, "octahedral")
    with pytest.raises(ValueError, match="max_size"):
        symmetry_subgroup(lever, "full")  # 9! elements


# ----------------------------------------------------------------------------
# Exact equivariance on sampled observations


@functools.lru_cache(maxsize=2)
def _random_trajectories(env, batch=8, steps=6):
    """Observations ``[T, B, D]`` and masks ``[T, B, A]`` of the acting seat, random legal play."""
    params = env.default_params()
    k_reset, k_play = jax.random.split(jax.random.key(0))

    @jax.jit
    def play():
        ts = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, batch), params)

        def body(ts, k):
            k_act, k_step = jax.random.split(k)
            noise = jax.random.uniform(k_act, ts.action_mask.shape)
            a = jnp.argmax(jnp.where(ts.action_mask, noise, -1.0), -1)
            seat = jnp.argmax(ts.action_mask.sum(-1), -1)  # Hanabi: the acting row; levers: 0
            rows = jnp.arange(batch)
            out = (ts.obs[rows, seat], ts.action_mask[rows, seat])
            nxt = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_step, batch), ts.state, a, params
            )
            return nxt, out

        return jax.lax.scan(body, ts, jax.random.split(k_play, steps))[1]

    return play()


def _equivariance_error(policy, params, group, obs, mask):
    """Max over elements of ``|pi(g.o) - g.pi(o)|`` (masked probabilities) and ``|v(g.o) - v(o)|``.

    Also returns the spread of the probabilities and the largest value (scales).
    """
    t, b = obs.shape[:2]
    reset = jnp.zeros((t, b), bool).at[0].set(True)
    obs_perm, act_perm = (jnp.asarray(x) for x in group.arrays)

    def run(o, m):
        _, pi, v = policy.apply(params, policy.initial_carry((b,)), o, reset)
        return mask_policy(pi, m).probs, v

    @jax.jit
    def errors():
        p0, v0 = run(obs, mask)

        def one(op, ap):
            inv = jnp.argsort(ap)  # g . p puts p[a] on g(a)
            p1, v1 = run(jnp.take(obs, op, axis=-1), jnp.take(mask, inv, axis=-1))
            return jnp.abs(p1 - jnp.take(p0, inv, axis=-1)).max(), jnp.abs(v1 - v0).max()

        perr, verr = jax.vmap(one)(obs_perm, act_perm)
        return perr.max(), verr.max(), p0.std(), jnp.abs(v0).max()

    return tuple(float(x) for x in errors())


def _scramble(params, key):
    """Every parameter redrawn: kernels ``N(0, 4 / fan_in)``, biases ``N(0, 1/4)``.

    Outputs far from uniform (unlike the 0.01-gain actor at init), logits of order one.
    """
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    scale = [2.0 / np.sqrt(x.shape[-2]) if x.ndim >= 2 else 0.5 for x in leaves]
    return tree.unflatten(
        [s * jax.random.normal(k, x.shape) for k, x, s in zip(keys, leaves, scale, strict=True)]
    )


@pytest.mark.parametrize(
    "game, base, mode",
    [
        ("lever", NetworkConfig(hidden_sizes=(16,)), "symmetrizer"),
        ("lever", NetworkConfig(hidden_sizes=(16,)), "weight-tied"),
        (
            "lever",
            NetworkConfig(kind="gru", gru_size=8, embed_sizes=(8,), hidden_sizes=(8,)),
            "symmetrizer",
        ),
        ("hanabi", NetworkConfig(hidden_sizes=(32,), activation="relu"), "symmetrizer"),
        ("hanabi", NetworkConfig(hidden_sizes=(32,), activation="relu"), "weight-tied"),
    ],
)
def test_exact_equivariance(game, base, mode):
    env = IteratedLeverGame(num_rounds=4) if game == "lever" else HanabiGame()
    group = group_spec(env, "dihedral")  # D_9 x 1 (18) or D_5 (10)
    obs, mask = _random_trajectories(env)
    net = equivariant_network(base, group, mode=mode)
    policy = make_policy(env.observation_shape, env.num_actions, net)
    params = _scramble(policy.init(jax.random.key(1)), jax.random.key(2))
    perr, verr, spread, vscale = _equivariance_error(policy, params, group, obs, mask)
    assert perr < 1e-6 and verr < 1e-6 * max(1.0, vscale)
    assert spread > 0.02  # probabilities far from uniform, so the check has teeth
    # the plain network with the same parameters is not equivariant
    if mode == "symmetrizer" and game == "lever":
        plain = make_policy(env.observation_shape, env.num_actions, base)
        assert _equivariance_error(plain, params, group, obs, mask)[0] > 1e-2


def test_non_closed_set_is_not_equivariant():
    env = IteratedLeverGame(num_rounds=4)
    cyc = group_spec(env, "cyclic")
    g = cyc.symmetry()
    pair = GroupSpec.create(stack_symmetries([group_element(g, 0), group_element(g, 1)]), "pair")
    assert not pair.closed and cyc.closed
    obs, mask = _random_trajectories(env)
    base = make_policy(env.observation_shape, env.num_actions, NetworkConfig(hidden_sizes=(16,)))
    params = _scramble(base.init(jax.random.key(1)), jax.random.key(2))
    err_pair = _equivariance_error(symmetrize(base, pair), params, pair, obs, mask)[0]
    err_cyc = _equivariance_error(symmetrize(base, cyc), params, cyc, obs, mask)[0]
    assert err_cyc < 1e-6 < 1e-2 < err_pair
    with pytest.raises(ValueError, match="closed"):
        equivariant_network(NetworkConfig(), pair, mode="weight-tied")


def test_spec_validation_and_hashing():
    group = group_spec(LEVER, "cyclic")
    net = symmetrized(NetworkConfig(hidden_sizes=(16,)), group)
    assert isinstance(net, NetworkConfig) and net.base == NetworkConfig(hidden_sizes=(16,))
    again = symmetrized(NetworkConfig(hidden_sizes=(16,)), group_spec(LEVER, "cyclic"))
    assert net == again and hash(net) == hash(again) and net != net.base
    assert EquivariantNetwork.from_json(net.to_json()) == net
    with pytest.raises(ValueError, match="mode"):
        equivariant_network(NetworkConfig(), group, mode="tied")
    with pytest.raises(ValueError, match="kind"):
        equivariant_network(NetworkConfig(kind="gru"), group, mode="weight-tied")
    with pytest.raises(ValueError, match="network"):
        symmetrized(net, group)
    with pytest.raises(ValueError, match="obs_shape"):
        make_policy((3,), 10, net)


# ----------------------------------------------------------------------------
# The lever game: symmetrized self-play agents


@pytest.fixture(scope="module")
def selfplay_agents():
    config = zsc_config("lever", "selfplay")
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    states, _ = train_selfplay(keys, LEVER, config, compiler_options=FAST)
    return config.network, agent_params(states)


def _probs(network, params):
    policy = make_policy(LEVER.observation_shape, LEVER.num_actions, network)
    return np.asarray(jax.vmap(lambda q: action_probs(policy, q, jnp.ones((1, 1))))(params)[:, 0])


def test_symmetrizer_makes_selfplay_agents_uniform_over_the_nine(selfplay_agents, tmp_path):
    network, params = selfplay_agents
    p = _probs(network, params)
    assert (PAY[p.argmax(-1)] == 1.0).sum() >= SEEDS - 1 and (p.max(-1) > 0.9).all()
    sym = symmetrized(network, group_spec(LEVER, "cyclic"))
    q = _probs(sym, params)
    mass = q[:, :9].sum(-1, keepdims=True)
    np.testing.assert_allclose(q[:, :9] / mass, 1.0 / 9.0, atol=1e-3)
    # any subgroup transitive on the nine gives the same policy (the class mean of the logits)
    np.testing.assert_allclose(
        _probs(symmetrized(network, group_spec(LEVER, "dihedral")), params), q, atol=1e-6
    )

    exact = np.asarray(lever_value(LEVER.default_params(), q[:, None], q[None]))  # [K, K]
    res = crossplay(LEVER, sym, params, None, jax.random.key(1), 1000)
    off = ~np.eye(SEEDS, dtype=bool)
    for measured, want in (
        (res.self_play, np.diag(exact).mean()),
        (res.cross_play, exact[off].mean()),
    ):
        assert abs(measured.mean - want) < 4 * measured.sem + 1e-3
    assert (np.abs(res.returns - exact) < 5 * res.sem + 1e-3).all()
    # about 1/9 in self-play and cross-play alike (1/9 exactly with no mass on the 0.9 lever)
    assert abs(res.self_play.mean - 1 / 9) < 0.02 and abs(res.cross_play.mean - 1 / 9) < 0.02
    assert np.diag(np.einsum("ia,ja,a->ij", p, p, PAY)).mean() > 0.95  # before: self-play ~1

    # the symmetrized view round-trips through an agents file, parameters unchanged
    save_agents(tmp_path / "sym", sym, params, {"method": "selfplay+symmetrizer"})
    agents = load_agents(tmp_path / "sym")
    assert agents.network == sym
    np.testing.assert_array_equal(_probs(agents.network, agents.params), q)


# ----------------------------------------------------------------------------
# The lever game: weight-tied equivariant policies trained from scratch


def test_weight_tied_selfplay_pulls_the_unique_lever(tmp_path):
    """IPPO self-play of an equivariant policy optimises Other-Play's objective; its config works.

    8 seeds cost about what 3 do here: compiling dominates (about 30 s wall).
    """
    op = zsc_config("lever", "other-play")
    net = equivariant_network(op.network, group_spec(LEVER, "cyclic"))
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    states, _ = train_selfplay(
        keys, LEVER, dataclasses.replace(op, network=net), compiler_options=FAST
    )
    params = agent_params(states)
    p = _probs(net, params)
    np.testing.assert_allclose(p[:, :9], p[:, :1].repeat(9, 1), atol=1e-6)  # equivariant
    on = p[:, 9] > 0.9  # the 0.9 lever, the only one no symmetry moves
    assert on.sum() >= SEEDS - 1
    kept = jax.tree_util.tree_map(lambda x: x[on], params)
    res = crossplay(LEVER, net, kept, None, jax.random.key(1), 256)
    assert abs(res.cross_play.mean - reference_values(LEVER.default_params()).other_play) < 0.05
    save_agents(tmp_path / "eq", net, params)
    agents = load_agents(tmp_path / "eq")
    assert agents.network == net
    np.testing.assert_array_equal(_probs(agents.network, agents.params), p)
