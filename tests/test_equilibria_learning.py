"""Learning in normal-form games: population dynamics, fictitious play, regret
matching and logit QRE, against OpenSpiel's egt dynamics, scipy's ODE solver,
pygambit's logit QRE tracer, hand-computed play and closed forms.

Every test runs in float64 (an autouse fixture enters ``jax.enable_x64(True)``).
NashConv and the (coarse) correlated equilibrium gaps are computed inline with
numpy from best-response values, independently of the code under test.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games import (
    biased_rock_paper_scissors,
    matching_pennies,
    rock_paper_scissors,
    stag_hunt,
)
from detente.solvers.equilibria.learning import (
    conditional_regret_matching,
    fictitious_play,
    logit_qre,
    logit_response,
    regret_matching,
)
from detente.solvers.equilibria.metrics import deviation_payoffs
from detente.solvers.equilibria.replicator import (
    boltzmannq,
    integrate,
    logit_dynamics,
    multi_population_field,
    qpg,
    replicator,
    single_population_field,
)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


# Shapley (1964): unique equilibrium uniform/uniform; fictitious play cycles.
SHAPLEY = np.stack(
    [
        np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
    ]
)
# Asymmetric matching pennies: Nash x = (1/2, 1/2), y = (1/3, 2/3).
ASYM_MP = np.stack([np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])])


def f64(game):
    """A zoo game's payoff tensor as float64 (zoo games built at collection are float32)."""
    return np.asarray(game.payoffs, np.float64)


def random_zero_sum(seed, m, n):
    a = np.random.default_rng(seed).uniform(-1, 1, (m, n))
    return np.stack([a, -a])


def random_interior(rng, k):
    return rng.dirichlet(np.ones(k) * 2.0)


# --- inline oracles ----------------------------------------------------------


def np_action_values(payoffs, strategies):
    """u_i(., s_-i) by explicit einsum over the joint action."""
    n = payoffs.shape[0]
    letters = "abcdefgh"[:n]
    out = []
    for i in range(n):
        others = [f"{letters[j]}" for j in range(n) if j != i]
        spec = f"{letters},{','.join(others)}->{letters[i]}" if others else f"{letters}->{letters}"
        out.append(np.einsum(spec, payoffs[i], *[strategies[j] for j in range(n) if j != i]))
    return out


def nash_conv(payoffs, strategies):
    """sum_i max_a u_i(a, s_-i) - u_i(s)."""
    values = np_action_values(np.asarray(payoffs), [np.asarray(s) for s in strategies])
    return float(sum(v.max() - v @ np.asarray(s) for v, s in zip(values, strategies, strict=True)))


def correlated_gaps(payoffs, joint):
    """(max CCE gain, max CE gain) of a joint distribution over all players' deviations."""
    payoffs, joint = np.asarray(payoffs), np.asarray(joint)
    cce = ce = -np.inf
    for i in range(payoffs.shape[0]):
        u = np.moveaxis(payoffs[i], i, 0)  # [A_i, rest]
        mu = np.moveaxis(joint, i, 0)
        base = np.sum(u * mu)
        for k in range(u.shape[0]):
            cce = max(cce, np.sum(u[k][None] * mu) - base)
            for j in range(u.shape[0]):
                ce = max(ce, np.sum((u[k] - u[j]) * mu[j]))
    return cce, ce


# --- population dynamics vs OpenSpiel ---------------------------------------


@pytest.fixture(scope="module")
def egt():
    pytest.importorskip("pyspiel")
    from open_spiel.python.egt import dynamics

    return dynamics


RULES = {
    "replicator": (replicator, "replicator", {}),
    "boltzmannq": (
        functools.partial(boltzmannq, temperature=0.7),
        "boltzmannq",
        {"temperature": 0.7},
    ),
    "qpg": (qpg, "qpg", {}),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_single_population_field_matches_openspiel(egt, rule):
    ours, theirs_name, kw = RULES[rule]
    theirs = functools.partial(getattr(egt, theirs_name), **kw)
    rng = np.random.default_rng(0)
    for k in (2, 3, 5):
        for _ in range(4):
            A = rng.normal(size=(k, k))
            dyn = egt.SinglePopulationDynamics(np.stack([A, A.T]), theirs)
            for _ in range(5):
                x = random_interior(rng, k)
                got = single_population_field(A, x, rule=ours)
                np.testing.assert_allclose(got, dyn(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 2, 3, 4), (4, 2, 2, 2, 2)])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_multi_population_field_matches_openspiel(egt, rule, shape):
    # OpenSpiel takes the same [N, A_1, ..., A_N] tensor, but one flat state.
    ours, theirs_name, kw = RULES[rule]
    theirs = functools.partial(getattr(egt, theirs_name), **kw)
    rng = np.random.default_rng(1)
    for _ in range(3):
        payoffs = rng.normal(size=shape)
        dyn = egt.MultiPopulationDynamics(payoffs, theirs)
        for _ in range(5):
            xs = [random_interior(rng, k) for k in shape[1:]]
            got = multi_population_field(payoffs, xs, rule=ours)
            assert len(got) == shape[0]
            np.testing.assert_allclose(np.concatenate(got), dyn(np.concatenate(xs)), atol=1e-12)


def test_bimatrix_field_closed_form():
    # dx/dt = x * (A y - x.A y), dy/dt = y * (B^T x - x.B y), hand-computed.
    A, B = ASYM_MP
    x, y = np.array([0.25, 0.75]), np.array([0.5, 0.5])
    dx, dy = multi_population_field(ASYM_MP, (x, y))
    # A y = (1, 0.5), x.Ay = 0.625; B^T x = (0.75, 0.25), x.By = 0.5
    np.testing.assert_allclose(dx, [0.25 * 0.375, 0.75 * -0.125], atol=1e-15)
    np.testing.assert_allclose(dy, [0.5 * 0.25, 0.5 * -0.25], atol=1e-15)
    v = deviation_payoffs(ASYM_MP, (x, y))
    np.testing.assert_allclose(v[0], A @ y)
    np.testing.assert_allclose(v[1], B.T @ x)


def test_rk4_trajectory_matches_scipy(egt):
    from scipy.integrate import solve_ivp

    rng = np.random.default_rng(2)
    payoffs = rng.normal(size=(2, 3, 2))
    dyn = egt.MultiPopulationDynamics(payoffs, egt.replicator)
    x0 = (np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.4]))
    traj = integrate(lambda s: multi_population_field(payoffs, s), x0, 0.01, 300, method="rk4")
    assert traj.states[0].shape == (301, 3) and traj.states[1].shape == (301, 2)
    ts = np.asarray(traj.times)
    np.testing.assert_allclose(ts[[0, 100, 300]], [0.0, 1.0, 3.0], atol=1e-12)
    ref = solve_ivp(
        lambda t, s: dyn(s),
        (0, 3),
        np.concatenate(x0),
        t_eval=ts,
        rtol=1e-12,
        atol=1e-13,
        method="DOP853",
    )
    got = np.concatenate([np.asarray(s) for s in traj.states], axis=1)
    np.testing.assert_allclose(got, ref.y.T, atol=1e-8)


def test_euler_trajectory_matches_openspiel_steps(egt):
    A = np.asarray(biased_rock_paper_scissors().payoffs[0])
    dyn = egt.SinglePopulationDynamics(np.stack([A, A.T]), egt.replicator)
    x = np.array([0.5, 0.3, 0.2])
    traj = integrate(lambda s: replicator(s, A @ s), x, 0.05, 200, method="euler")
    for t in range(201):
        np.testing.assert_allclose(traj.states[t], x, atol=1e-12)
        x = x + 0.05 * dyn(x)


def test_replicator_constants_of_motion():
    # One population on RPS conserves x1 x2 x3; two populations on matching
    # pennies conserve log x0 + log x1 + log y0 + log y1 (Hofbauer & Sigmund 1998).
    A = np.asarray(rock_paper_scissors().payoffs[0])
    traj = integrate(lambda s: replicator(s, A @ s), jnp.array([0.6, 0.3, 0.1]), 0.01, 1000)
    h = np.prod(np.asarray(traj.states), axis=1)
    assert np.max(np.abs(h / h[0] - 1)) < 1e-7
    assert np.max(np.abs(traj.states[:, 0] - traj.states[0, 0])) > 0.1  # it does move
    mp = matching_pennies().payoffs
    x0 = (jnp.array([0.8, 0.2]), jnp.array([0.3, 0.7]))
    traj = integrate(lambda s: multi_population_field(mp, s), x0, 0.01, 1000)
    h = np.sum(np.log(np.asarray(traj.states[0])), 1) + np.sum(
        np.log(np.asarray(traj.states[1])), 1
    )
    assert np.max(np.abs(h - h[0])) < 1e-7
    for s in traj.states:
        np.testing.assert_allclose(np.sum(s, axis=1), 1.0, atol=1e-12)


# --- fictitious play -----------------------------------------------------------


@pytest.mark.parametrize(
    "name,payoffs",
    [
        ("rps", f64(rock_paper_scissors())),
        ("mp", f64(matching_pennies())),
        ("brps", f64(biased_rock_paper_scissors())),
        ("random 4x5", random_zero_sum(0, 4, 5)),
        ("random 4x5 b", random_zero_sum(1, 4, 5)),
    ],
)
def test_fictitious_play_zero_sum_nash_conv_goes_to_zero(name, payoffs):
    res = fictitious_play(payoffs, 4000)
    xs, ys = (np.asarray(s) for s in res.average_strategies)
    nc = [nash_conv(payoffs, (xs[t], ys[t])) for t in (10, 100, 1000, 4000)]
    assert nc[0] > nc[1] > nc[2] > nc[3], nc
    scale = float(np.ptp(np.asarray(payoffs)))
    assert nc[3] < 0.02 * scale, nc  # Robinson (1951): NashConv -> 0


def test_fictitious_play_coordination_by_hand():
    # Both get 2 for (0, 0), 1 for (1, 1), 0 otherwise. Beliefs x = (0.2, 0.8),
    # y = (0.9, 0.1) count as round 0. Round 1: player 1 sees action 0 worth
    # 1.8 > 0.1 and plays 0; player 2 sees 0.4 < 0.8 and plays 1. Round 2:
    # x = (0.6, 0.4), y = (0.45, 0.55): both play 0 (0.9 > 0.55, 1.2 > 0.4),
    # and then stay at the pure equilibrium (0, 0).
    a = np.array([[2.0, 0.0], [0.0, 1.0]])
    T = 40
    res = fictitious_play(np.stack([a, a]), T, initial_strategies=([0.2, 0.8], [0.9, 0.1]))
    acts = np.asarray(res.actions)
    assert acts[0].tolist() == [0, 1]
    assert np.all(acts[1:] == 0)
    t = np.arange(T + 1)
    x0 = (0.2 + t) / (t + 1)
    y0 = np.where(t == 0, 0.9, (t - 0.1) / (t + 1))
    np.testing.assert_allclose(res.average_strategies[0][:, 0], x0, atol=1e-12)
    np.testing.assert_allclose(res.average_strategies[1][:, 0], y0, atol=1e-12)
    np.testing.assert_allclose(res.average_strategies[1][:, 1], 1 - y0, atol=1e-12)


def test_fictitious_play_stag_hunt_miscoordination_cycle():
    # Simultaneous FP can miscoordinate forever (Fudenberg & Levine 1998, ch. 2):
    # from x = (0.6, 0.4), y = (0.4, 0.6) player 1 plays hare, stag, hare, ...
    # and player 2 stag, hare, stag, ...; after 2k rounds x_stag = (0.6 + k) /
    # (1 + 2k) stays above 1/2 and y_stag = (0.4 + k) / (1 + 2k) below, so the
    # beliefs converge to the mixed equilibrium (1/2, 1/2) while play never
    # coordinates.
    T = 40
    res = fictitious_play(stag_hunt(), T, initial_strategies=([0.6, 0.4], [0.4, 0.6]))
    acts = np.asarray(res.actions)
    np.testing.assert_array_equal(acts[0::2], np.tile([1, 0], (T // 2, 1)))
    np.testing.assert_array_equal(acts[1::2], np.tile([0, 1], (T // 2, 1)))
    k = np.arange(T // 2 + 1)
    np.testing.assert_allclose(
        res.average_strategies[0][0::2, 0], (0.6 + k) / (1 + 2 * k), atol=1e-6
    )
    np.testing.assert_allclose(
        res.average_strategies[1][0::2, 0], (0.4 + k) / (1 + 2 * k), atol=1e-6
    )


def test_fictitious_play_shapley_does_not_converge():
    T = 4000
    res = fictitious_play(SHAPLEY, T)
    xs, ys = (np.asarray(s) for s in res.average_strategies)
    assert nash_conv(SHAPLEY, (np.ones(3) / 3, np.ones(3) / 3)) < 1e-12  # the equilibrium
    # NashConv stays bounded away from zero: never below 0.25 after 1000 rounds.
    nc = [nash_conv(SHAPLEY, (xs[t], ys[t])) for t in range(1000, T + 1, 50)]
    assert min(nc) > 0.25
    # The joint action cycles, and each run of one joint action is longer than
    # the one before it by a factor bounded above 1 (geometric growth).
    acts = np.asarray(res.actions)
    change = np.flatnonzero(np.any(acts[1:] != acts[:-1], axis=1)) + 1
    runs = np.diff(change)  # complete runs only
    assert len(runs) >= 10
    ratios = runs[4:] / runs[3:-1]
    assert np.all(ratios > 1.3), ratios
    # FP on rock-paper-scissors over the same horizon does converge.
    rps = rock_paper_scissors().payoffs
    r = fictitious_play(rps, T)
    assert nash_conv(rps, [s[-1] for s in r.average_strategies]) < 0.05


def test_fictitious_play_is_best_response_play_in_three_players():
    rng = np.random.default_rng(3)
    payoffs = rng.normal(size=(3, 2, 3, 4))
    res = fictitious_play(payoffs, 40)
    avgs = [np.asarray(s) for s in res.average_strategies]
    acts = np.asarray(res.actions)
    for t in range(40):
        values = np_action_values(payoffs, [a[t] for a in avgs])
        for i in range(3):
            assert values[i][acts[t, i]] == pytest.approx(values[i].max(), abs=1e-12)
            np.testing.assert_allclose(
                avgs[i][t + 1],
                (avgs[i][t] * (t + 1) + np.eye(payoffs.shape[i + 1])[acts[t, i]]) / (t + 2),
            )


def test_fictitious_play_random_ties_use_the_key():
    rps = rock_paper_scissors().payoffs  # uniform beliefs: every action ties in round 1
    a = fictitious_play(rps, 40, key=jax.random.key(0))
    b = fictitious_play(rps, 40, key=jax.random.key(0))
    np.testing.assert_array_equal(a.actions, b.actions)
    firsts = {
        tuple(np.asarray(fictitious_play(rps, 40, key=jax.random.key(s)).actions[0]))
        for s in range(12)
    }
    assert len(firsts) > 1
    assert np.asarray(fictitious_play(rps, 40).actions[0]).tolist() == [0, 0]  # lowest index


# --- regret matching -----------------------------------------------------------


@pytest.mark.parametrize(
    "payoffs",
    [f64(biased_rock_paper_scissors()), random_zero_sum(0, 4, 5), random_zero_sum(1, 4, 5)],
)
def test_regret_matching_zero_sum_nash_conv(payoffs):
    scale = float(np.ptp(np.asarray(payoffs)))
    out = {}
    for plus in (False, True):
        res = regret_matching(payoffs, 3000, plus=plus, linear_averaging=plus)
        xs, ys = (np.asarray(s) for s in res.average_strategies)
        out[plus] = [nash_conv(payoffs, (xs[t - 1], ys[t - 1])) for t in (10, 100, 1000, 3000)]
        assert out[plus][0] > out[plus][1] > out[plus][2] > out[plus][3] - 1e-9, out
        assert out[plus][3] < 0.01 * scale, out
        if plus:
            assert np.all(np.asarray(res.cumulative_regrets[0]) >= 0)
    assert out[True][3] < out[False][3]  # RM+ with linear averaging is faster here


@pytest.mark.parametrize("payoffs", [f64(rock_paper_scissors()), f64(matching_pennies())])
def test_sampled_regret_matching_zero_sum_nash_conv(payoffs):
    # From uniform the expected update never moves (all regrets are zero), so
    # RPS and MP are run with sampled play.
    res = regret_matching(payoffs, 4000, sampled=True, key=jax.random.key(0))
    xs, ys = (np.asarray(s) for s in res.average_strategies)
    nc = [nash_conv(payoffs, (xs[t - 1], ys[t - 1])) for t in (10, 4000)]
    assert nc[1] < 0.1 < nc[0], nc


def test_regret_matching_cce_gap_bound_three_players():
    # Expected update: the CCE gain of the joint distribution for deviating to
    # a equals R_i(a) / T exactly, and Blackwell's condition gives
    # max_a R_i(a) <= ||R_i^+||_2 <= Delta_i sqrt(A_i T) (Hart & Mas-Colell 2000).
    payoffs = np.random.default_rng(4).uniform(-1, 1, (3, 2, 3, 2))
    gaps = {}
    for T in (100, 2000):
        res = regret_matching(payoffs, T)
        cce, _ = correlated_gaps(payoffs, res.joint_distribution)
        regrets = max(float(np.max(r)) for r in res.cumulative_regrets) / T
        assert cce == pytest.approx(regrets, abs=1e-12)
        bound = max(np.ptp(payoffs[i]) * np.sqrt(payoffs.shape[i + 1] / T) for i in range(3))
        assert cce <= bound
        np.testing.assert_allclose(np.sum(res.joint_distribution), 1.0, atol=1e-12)
        gaps[T] = cce
    assert gaps[2000] < gaps[100] / 4


def test_sampled_regret_matching_cce_gap_shrinks_and_is_reproducible():
    payoffs = np.random.default_rng(5).uniform(-1, 1, (2, 3, 3))
    short = regret_matching(payoffs, 200, sampled=True, key=jax.random.key(7))
    long = regret_matching(payoffs, 4000, sampled=True, key=jax.random.key(7))
    again = regret_matching(payoffs, 4000, sampled=True, key=jax.random.key(7))
    other = regret_matching(payoffs, 4000, sampled=True, key=jax.random.key(8))
    for s, l, a in zip(
        short.average_strategies, long.average_strategies, again.average_strategies, strict=True
    ):
        np.testing.assert_array_equal(s, l[:200])  # a longer run extends a shorter one
        np.testing.assert_array_equal(l, a)
    assert not np.array_equal(long.joint_distribution, other.joint_distribution)
    counts = np.asarray(long.joint_distribution) * 4000
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)  # empirical frequencies
    g_short, _ = correlated_gaps(payoffs, short.joint_distribution)
    g_long, _ = correlated_gaps(payoffs, long.joint_distribution)
    assert g_long < g_short / 2 and g_long < 0.02, (g_short, g_long)


def test_conditional_regret_matching_ce_gap_shrinks():
    payoffs = np.random.default_rng(5).uniform(-1, 1, (2, 3, 3))
    T = 10000
    res = conditional_regret_matching(payoffs, jax.random.key(0), T)
    acts = np.asarray(res.actions)
    hist = np.zeros((3, 3))
    np.add.at(hist, (acts[:, 0], acts[:, 1]), 1.0)
    np.testing.assert_allclose(res.joint_distribution, hist / T, atol=1e-12)
    gaps = []
    for t in (300, 3000, T):
        h = np.zeros((3, 3))
        np.add.at(h, (acts[:t, 0], acts[:t, 1]), 1.0)
        gaps.append(correlated_gaps(payoffs, h / t)[1])
    assert gaps[0] > gaps[1] > gaps[2], gaps
    assert gaps[2] < 0.01, gaps
    same = conditional_regret_matching(payoffs, jax.random.key(0), T)
    np.testing.assert_array_equal(same.actions, res.actions)


def test_conditional_regret_matching_three_players():
    # Hart & Mas-Colell's procedure in a random 2 x 2 x 2 game: the CE gap of
    # the empirical joint play falls by more than half from 1,000 to 20,000 rounds.
    payoffs = np.random.default_rng(6).uniform(-1, 1, (3, 2, 2, 2))
    T = 20000
    res = conditional_regret_matching(payoffs, jax.random.key(1), T)
    acts = np.asarray(res.actions)
    early = np.histogramdd(acts[:1000], bins=[np.arange(3) - 0.5] * 3)[0] / 1000
    _, ce_early = correlated_gaps(payoffs, early)
    cce, ce = correlated_gaps(payoffs, res.joint_distribution)
    assert ce < 0.04 and ce < ce_early / 2, (ce_early, ce)
    # With two actions each, always playing k gains exactly what switching the
    # other action to k gains, so the CCE gap cannot exceed the CE gap.
    assert cce <= ce + 1e-12


# --- logit quantal response -----------------------------------------------------


def test_logit_at_zero_is_uniform():
    payoffs = np.random.default_rng(7).normal(size=(3, 2, 3, 2))
    s = (np.array([0.9, 0.1]), np.array([0.2, 0.3, 0.5]), np.array([0.4, 0.6]))
    for r, k in zip(logit_response(payoffs, s, 0.0), (2, 3, 2), strict=True):
        np.testing.assert_allclose(r, np.ones(k) / k, atol=1e-15)
    q = logit_qre(payoffs, 0.0)
    for r, k in zip(q.strategies, (2, 3, 2), strict=True):
        np.testing.assert_allclose(r, np.ones(k) / k, atol=1e-15)


def test_logit_response_formula():
    payoffs = np.random.default_rng(8).normal(size=(2, 3, 4))
    s = (np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.2, 0.3, 0.4]))
    r = logit_response(payoffs, s, 1.7)
    for got, v in zip(r, np_action_values(payoffs, s), strict=True):
        e = np.exp(1.7 * v)
        np.testing.assert_allclose(got, e / e.sum(), atol=1e-14)


def test_matching_pennies_qre_is_half_for_every_lambda():
    lams = jnp.array([0.0, 0.3, 1.0, 4.0, 25.0, 200.0])
    res = jax.vmap(lambda l: logit_qre(matching_pennies(), l))(lams)
    for s in res.strategies:
        np.testing.assert_allclose(s, 0.5, atol=1e-12)


def test_asymmetric_matching_pennies_qre_matches_gambit():
    gbt = pytest.importorskip("pygambit")
    lams = [0.5, 1.0, 2.0, 5.0, 10.0, 50.0]
    game = gbt.Game.from_arrays(*ASYM_MP)
    ref = gbt.qre.logit_solve_lambda(game, lams)
    ours = jax.vmap(lambda l: logit_qre(ASYM_MP, l))(jnp.array(lams))
    for k, r in enumerate(ref):
        assert r.lam == pytest.approx(lams[k], rel=1e-6)
        for i, player in enumerate(game.players):
            theirs = [float(r.profile[s]) for s in player.strategies]
            np.testing.assert_allclose(ours.strategies[i][k], theirs, atol=1e-8)


def test_three_player_qre_matches_gambit():
    gbt = pytest.importorskip("pygambit")
    payoffs = np.random.default_rng(3).integers(-5, 6, (3, 2, 3, 2)).astype(float)
    lams = [0.1, 0.3, 1.0, 3.0]
    game = gbt.Game.from_arrays(*payoffs)
    ref = gbt.qre.logit_solve_lambda(game, lams)
    for lam, r in zip(lams, ref, strict=True):
        ours = logit_qre(payoffs, lam)
        assert float(ours.residual) < 1e-12
        for i, player in enumerate(game.players):
            theirs = [float(r.profile[s]) for s in player.strategies]
            np.testing.assert_allclose(ours.strategies[i], theirs, atol=1e-7)


def test_qre_approaches_nash_and_solves_its_fixed_point():
    lams = jnp.array([2.0, 5.0, 10.0, 30.0, 100.0, 300.0])
    res = jax.vmap(lambda l: logit_qre(ASYM_MP, l))(lams)
    nash = (np.array([0.5, 0.5]), np.array([1 / 3, 2 / 3]))
    dist = [
        max(np.abs(res.strategies[i][k] - nash[i]).max() for i in range(2))
        for k in range(len(lams))
    ]
    assert all(a > b for a, b in zip(dist[:-1], dist[1:], strict=True)), dist
    assert dist[-1] < 2e-3
    for k, lam in enumerate(np.asarray(lams)):
        s = [np.asarray(x[k]) for x in res.strategies]
        for got, v in zip(s, np_action_values(ASYM_MP, s), strict=True):
            e = np.exp(lam * (v - v.max()))
            assert np.max(np.abs(got - e / e.sum())) < 1e-8
        assert float(res.residual[k]) < 1e-8


def test_logit_dynamics_rest_point_is_the_qre():
    lam = 3.0
    q = logit_qre(ASYM_MP, lam)
    rule = functools.partial(logit_dynamics, lam=lam)
    field = multi_population_field(ASYM_MP, q.strategies, rule=rule)
    for d in field:
        np.testing.assert_allclose(d, 0.0, atol=1e-12)
    x0 = (jnp.array([0.95, 0.05]), jnp.array([0.1, 0.9]))
    traj = integrate(lambda s: multi_population_field(ASYM_MP, s, rule=rule), x0, 0.1, 200)
    for s, t in zip(q.strategies, traj.states, strict=True):
        np.testing.assert_allclose(t[-1], s, atol=1e-6)


# --- batches: vmap equals the per-game loop, no recompilation ----------------------


def test_vmap_over_64_games_equals_per_game():
    rng = np.random.default_rng(9)
    B = 64
    P = rng.normal(size=(B, 2, 3, 3))
    x = rng.dirichlet(np.ones(3), size=B)
    y = rng.dirichlet(np.ones(3), size=B)
    keys = jax.random.split(jax.random.key(3), B)

    def traj(p, x0, y0, k):
        return integrate(lambda s: multi_population_field(p, s), (x0, y0), 0.05, 40).states

    fns = {
        "single": lambda p, x0, y0, k: single_population_field(p[0], x0),
        "multi": lambda p, x0, y0, k: multi_population_field(p, (x0, y0)),
        "boltzmannq": lambda p, x0, y0, k: multi_population_field(
            p, (x0, y0), rule=functools.partial(boltzmannq, temperature=0.5)
        ),
        "integrate": traj,
        "fp": lambda p, x0, y0, k: fictitious_play(p, 100, initial_strategies=(x0, y0)),
        "rm": lambda p, x0, y0, k: regret_matching(p, 100, plus=True),
        "rm_sampled": lambda p, x0, y0, k: regret_matching(p, 100, sampled=True, key=k),
        "crm": lambda p, x0, y0, k: conditional_regret_matching(p, k, 100),
        "logit_response": lambda p, x0, y0, k: logit_response(p, (x0, y0), 2.0),
        "qre": lambda p, x0, y0, k: logit_qre(p, 2.0),
    }

    # One program with every function, vmapped and per game: two compilations.
    def everything(p, x0, y0, k):
        return {name: f(p, x0, y0, k) for name, f in fns.items()}

    batched = jax.jit(jax.vmap(everything))(P, x, y, keys)
    one_game = jax.jit(everything)
    for b in range(B):
        one = one_game(P[b], x[b], y[b], keys[b])
        for name in fns:
            for u, v in zip(
                jax.tree.leaves(batched[name]), jax.tree.leaves(one[name]), strict=True
            ):
                np.testing.assert_allclose(u[b], v, atol=1e-10, err_msg=name)
    assert one_game._cache_size() == 1  # 64 games, one compilation


# --- bad input ---------------------------------------------------------------------


def _bad_cases():
    rps = rock_paper_scissors().payoffs
    A = np.asarray(rps[0])
    u = np.ones(3) / 3
    nan_game = np.array(rps).copy()
    nan_game[0, 0, 0] = np.nan
    field = lambda s: replicator(s, A @ s)
    return [
        ("A.shape", lambda: single_population_field(np.ones((2, 3)), np.ones(2) / 2)),
        ("A", lambda: single_population_field(np.full((2, 2), np.nan), np.ones(2) / 2)),
        ("x.shape", lambda: single_population_field(A, np.ones(2) / 2)),
        ("x", lambda: single_population_field(A, [0.5, 0.6, -0.1])),
        ("x", lambda: single_population_field(A, [0.5, 0.6, 0.1])),
        ("x", lambda: single_population_field(A, [np.nan, 0.5, 0.5])),
        ("payoffs.shape", lambda: multi_population_field(np.ones((3, 2, 2)), (u, u))),
        ("payoffs", lambda: multi_population_field(nan_game, (u, u))),
        ("len(strategies)", lambda: multi_population_field(rps, (u,))),
        ("strategies[1].shape", lambda: multi_population_field(rps, (u, np.ones(2) / 2))),
        ("profile[0]", lambda: deviation_payoffs(rps, ([1.0, 1.0, 0.0], u))),
        ("rule", lambda: multi_population_field(rps, (u, u), rule=(replicator,))),
        ("step_size", lambda: integrate(field, u, -0.1, 10)),
        ("step_size", lambda: integrate(field, u, 0.0, 10)),
        ("step_size", lambda: integrate(field, u, np.nan, 10)),
        ("num_steps", lambda: integrate(field, u, 0.1, 0)),
        ("num_steps", lambda: integrate(field, u, 0.1, 2.5)),
        ("method", lambda: integrate(field, u, 0.1, 10, method="rk45")),
        ("x0", lambda: integrate(field, np.array([np.nan, 0.5, 0.5]), 0.1, 10)),
        ("num_iterations", lambda: fictitious_play(rps, 0)),
        ("num_iterations", lambda: fictitious_play(rps, -5)),
        ("payoffs", lambda: fictitious_play(nan_game, 10)),
        (
            "initial_strategies[0]",
            lambda: fictitious_play(rps, 10, initial_strategies=([1.0, 0.5, 0.0], u)),
        ),
        ("key", lambda: fictitious_play(rps, 10, key=jnp.zeros(3))),
        ("key", lambda: regret_matching(rps, 10, sampled=True)),
        ("key", lambda: regret_matching(rps, 10, key=jax.random.key(0))),
        ("plus", lambda: regret_matching(rps, 10, plus=1)),
        ("num_iterations", lambda: regret_matching(rps, 0)),
        ("num_iterations", lambda: conditional_regret_matching(rps, jax.random.key(0), 0)),
        ("inertia", lambda: conditional_regret_matching(rps, jax.random.key(0), 10, inertia=-1.0)),
        ("key", lambda: conditional_regret_matching(rps, 3, 10)),
        ("lam", lambda: logit_qre(rps, -1.0)),
        ("lam", lambda: logit_qre(rps, np.inf)),
        ("lam", lambda: logit_response(rps, (u, u), np.nan)),
        ("num_continuation_steps", lambda: logit_qre(rps, 1.0, num_continuation_steps=0)),
        ("num_newton_steps", lambda: logit_qre(rps, 1.0, num_newton_steps=-1)),
    ]


@pytest.mark.parametrize("field,call", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_input_names_the_field(field, call):
    with pytest.raises(ValueError, match="^" + re.escape(field) + "="):
        call()
