"""All extreme Nash equilibria of bimatrix games, against Gambit and textbook values.

The oracle is pygambit's ``enummixed_solve(game, rational=True)``: exact
rational vertex enumeration, which returns the extreme points of every
component of the equilibrium set (sometimes more than once in degenerate
games, so sets are compared, in both directions, by max-abs distance).
Gambit gets integer payoffs so that its arithmetic is exact; Gaussian games
are rounded to two decimals and given to Gambit multiplied by 100 (a positive
scaling changes no equilibrium) and to detente as the decimals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import detente.solvers.equilibria.enumeration as enumeration
from detente.games import (
    NormalFormGame,
    battle_of_the_sexes,
    biased_rock_paper_scissors,
    chicken,
    matching_pennies,
    prisoners_dilemma,
    pure_coordination,
    rock_paper_scissors,
    stag_hunt,
)
from detente.solvers.equilibria.enumeration import (
    EquilibriumSet,
    make_enumerate_equilibria,
    nash_equilibria,
    nash_equilibria_batch,
)

# ----------------------------------------------------------------------------
# helpers


def gambit_equilibria(int_payoffs) -> list[tuple[np.ndarray, np.ndarray]]:
    """Extreme equilibria by pygambit's exact rational vertex enumeration."""
    gbt = pytest.importorskip("pygambit")
    a = np.asarray(int_payoffs)
    assert np.array_equal(a, np.round(a)), "give Gambit integers so rational mode is exact"
    game = gbt.Game.from_arrays(a[0].astype(int).astype(object), a[1].astype(int).astype(object))
    res = gbt.nash.enummixed_solve(game, rational=True)
    players = list(game.players)
    return [tuple(np.array([float(v) for _, v in eq[p]]) for p in players) for eq in res.equilibria]


def distance(e, f) -> float:
    return max(np.abs(e[0] - f[0]).max(), np.abs(e[1] - f[1]).max())


def assert_same_set(ours, ref, tol=1e-6, what=""):
    """Every equilibrium of each list is within ``tol`` of one of the other."""
    for e in ours:
        assert any(distance(e, f) < tol for f in ref), f"{what}: extra {e}; reference {ref}"
    for f in ref:
        assert any(distance(e, f) < tol for e in ours), f"{what}: missing {f}; found {ours}"


def as_list(eq: EquilibriumSet, g=None):
    """The valid ``(x, y)`` of one game of a (batched) EquilibriumSet."""
    x, y, valid = (np.asarray(a) if g is None else np.asarray(a)[g] for a in eq[:3])
    return [(x[k], y[k]) for k in np.flatnonzero(valid)]


def assert_nash(payoffs, eqs, tol=1e-9):
    """Each pair is a Nash equilibrium: no pure deviation gains more than ``tol``."""
    A, B = np.asarray(payoffs, float)
    for x, y in eqs:
        assert np.all(x >= 0) and np.all(y >= 0)
        assert abs(x.sum() - 1) < 1e-12 and abs(y.sum() - 1) < 1e-12
        scale = max(1.0, np.abs(A).max(), np.abs(B).max())
        assert (A @ y).max() - x @ A @ y <= tol * scale
        assert (x @ B).max() - x @ B @ y <= tol * scale


def random_games(shape, count, seed):
    """``(ours [count, 2, m, n] float, gambit's [count, 2, m, n] int)``, three kinds in turn:
    integers 0..3, integers 0..1 (both often degenerate), Gaussian to two decimals."""
    rng = np.random.default_rng(seed)
    ours, ints = [], []
    for i in range(count):
        if i % 3 == 0:
            p = rng.integers(0, 4, size=(2, *shape))
            ours.append(p.astype(float))
        elif i % 3 == 1:
            p = rng.integers(0, 2, size=(2, *shape))
            ours.append(p.astype(float))
        else:
            p = np.round(rng.normal(size=(2, *shape)) * 100)
            ours.append(p / 100)
        ints.append(p)
    return np.stack(ours), np.stack(ints)


# ----------------------------------------------------------------------------
# 300 random games against Gambit

RANDOM = [((2, 2), 60), ((3, 3), 60), ((3, 5), 50), ((4, 4), 60), ((5, 4), 40), ((6, 6), 30)]
ORACLE_SLOTS = {"max_equilibria": 128, "max_degenerate": 64}  # no rerun: one compile per shape


@pytest.mark.parametrize("shape,count", RANDOM, ids=[f"{m}x{n}" for (m, n), _ in RANDOM])
def test_random_games_match_gambit(shape, count):
    pytest.importorskip("pygambit")
    ours, ints = random_games(shape, count, seed=sum(shape) * 100 + shape[0])
    eqs = nash_equilibria_batch(ours, **ORACLE_SLOTS)
    assert not eqs.overflow.any()
    degenerate = 0
    for g in range(count):
        found = as_list(eqs, g)
        ref = gambit_equilibria(ints[g])
        assert_same_set(found, ref, 1e-6, what=f"{shape} game {g}: {ints[g].tolist()}")
        assert_nash(ours[g], found)
        assert int(eqs.count[g]) == len(found)
        # each extreme equilibrium once (Gambit can list one twice)
        assert all(distance(e, f) > 1e-6 for i, e in enumerate(found) for f in found[:i])
        # unequal support sizes happen only in degenerate games
        degenerate += any(np.sum(x > 0) != np.sum(y > 0) for x, y in ref)
    assert degenerate > 0  # the sample does exercise degenerate games


def test_ties_survive_a_large_offset():
    # 1e6 + 0.1 k: float64 keeps the ties of the integer game only to about 1e-9
    # of the payoff range; the tolerances follow the payoffs' resolution
    pytest.importorskip("pygambit")
    ints = np.random.default_rng(5).integers(1, 4, size=(40, 2, 3, 3))
    eqs = nash_equilibria_batch(1e6 + 0.1 * ints, **ORACLE_SLOTS)
    for g in range(len(ints)):
        assert_same_set(as_list(eqs, g), gambit_equilibria(ints[g]), 1e-6, what=f"game {g}")


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (1, 4), (4, 1), (4, 6), (6, 4), (5, 5), (2, 6)])
def test_random_games_match_gambit_sweep(shape):
    pytest.importorskip("pygambit")
    ours, ints = random_games(shape, 150, seed=7 + shape[0] * 10 + shape[1])
    eqs = nash_equilibria_batch(ours)
    for g in range(len(ours)):
        assert_same_set(as_list(eqs, g), gambit_equilibria(ints[g]), 1e-6, what=f"{shape} {g}")


# ----------------------------------------------------------------------------
# textbook and degenerate examples

# von Stengel 2002, Handbook of Game Theory vol. 3, ch. 45, eq. (2.7) with
# B's first row made (3, 3) (sec. 2.6, "Degenerate games"): the pure strategy
# (1, 0, 0) has two best responses, and a line segment of equilibria.
VS_A = [[3, 3], [2, 5], [0, 6]]
VS_B = [[3, 3], [2, 6], [3, 1]]


def test_von_stengel_degenerate_example():
    found = nash_equilibria(np.array([VS_A, VS_B], float))
    known = [
        (np.array([1.0, 0, 0]), np.array([1.0, 0])),
        (np.array([1.0, 0, 0]), np.array([2 / 3, 1 / 3])),
        (np.array([0.0, 1 / 3, 2 / 3]), np.array([1 / 3, 2 / 3])),
    ]
    assert len(found) == 3
    assert_same_set(found, known, 1e-12)


DEGENERATE = {
    # matching pennies with the row player's first row duplicated: a segment
    # of equilibria, x = (t, 1/2 - t, 1/2), y = (1/2, 1/2)
    "duplicated_row": (
        [[[1, -1], [1, -1], [-1, 1]], [[-1, 1], [-1, 1], [1, -1]]],
        [([0.5, 0, 0.5], [0.5, 0.5]), ([0, 0.5, 0.5], [0.5, 0.5])],
    ),
    # every profile is an equilibrium: the extreme ones are the pure profiles
    "all_zero": (
        np.zeros((2, 2, 3)),
        [(np.eye(2)[i], np.eye(3)[j]) for i in range(2) for j in range(3)],
    ),
    # the column player is indifferent everywhere: y ranges over the row's
    # best-response regions
    "column_indifferent": (
        [[[3, 0, 1], [0, 2, 1]], [[5, 5, 5], [5, 5, 5]]],
        [
            ([1, 0], [1, 0, 0]),
            ([1, 0], [0.4, 0.6, 0]),
            ([1, 0], [0, 0, 1]),
            ([0, 1], [0.4, 0.6, 0]),
            ([0, 1], [0, 1, 0]),
            ([0, 1], [0, 0, 1]),
        ],
    ),
    "row_indifferent": (
        [[[0, 0], [0, 0]], [[1, 0], [0, 1]]],
        [([1, 0], [1, 0]), ([0.5, 0.5], [1, 0]), ([0, 1], [0, 1]), ([0.5, 0.5], [0, 1])],
    ),
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_examples(name):
    payoffs, known = DEGENERATE[name]
    found = nash_equilibria(np.asarray(payoffs, float))
    known = [(np.asarray(x, float), np.asarray(y, float)) for x, y in known]
    assert len(found) == len(known)
    assert_same_set(found, known, 1e-12, what=name)
    assert_nash(payoffs, found)


@pytest.mark.parametrize("name", ["von_stengel", *sorted(DEGENERATE)])
def test_degenerate_examples_match_gambit(name):
    pytest.importorskip("pygambit")
    payoffs = [VS_A, VS_B] if name == "von_stengel" else DEGENERATE[name][0]
    found = nash_equilibria(np.asarray(payoffs, float))
    assert_same_set(found, gambit_equilibria(payoffs), what=name)


def test_rock_paper_scissors_uniform():
    (eq,) = nash_equilibria(rock_paper_scissors())
    np.testing.assert_allclose(eq[0], [1 / 3] * 3, atol=1e-12, rtol=0)
    np.testing.assert_allclose(eq[1], [1 / 3] * 3, atol=1e-12, rtol=0)


def test_biased_rock_paper_scissors():
    # the zoo's table (OpenSpiel's LP test): (1/16, 10/16, 5/16) for both players;
    # built under x64 so that the payoff 0.05 is not rounded to float32
    with jax.enable_x64(True):
        game = biased_rock_paper_scissors()
    assert game.payoffs.dtype == jnp.float64
    (eq,) = nash_equilibria(game)
    np.testing.assert_allclose(eq[0], np.array([1, 10, 5]) / 16, atol=1e-12, rtol=0)
    np.testing.assert_allclose(eq[1], np.array([1, 10, 5]) / 16, atol=1e-12, rtol=0)


def test_matching_pennies():
    (eq,) = nash_equilibria(matching_pennies())
    np.testing.assert_allclose(np.concatenate(eq), [0.5] * 4, atol=1e-12, rtol=0)


def test_prisoners_dilemma_unique_defection():
    for game in (prisoners_dilemma(), prisoners_dilemma("textbook")):
        (eq,) = nash_equilibria(game)
        np.testing.assert_array_equal(np.concatenate(eq), [0, 1, 0, 1])  # action 1 = defect


def test_battle_of_the_sexes_three_equilibria():
    found = nash_equilibria(battle_of_the_sexes())
    known = [([1, 0], [1, 0]), ([0, 1], [0, 1]), ([0.6, 0.4], [0.4, 0.6])]
    assert len(found) == 3
    assert_same_set(found, [(np.array(x, float), np.array(y, float)) for x, y in known], 1e-12)


def test_coordination_games_pure_and_mixed():
    # stag hunt 2/1/0: (stag, stag), (hare, hare) and stag with probability 1/2
    known = [([1, 0], [1, 0]), ([0, 1], [0, 1]), ([0.5, 0.5], [0.5, 0.5])]
    assert_same_set(
        nash_equilibria(stag_hunt()), [(np.array(x, float), np.array(y, float)) for x, y in known]
    )
    # chicken (M-FOS): two asymmetric pure equilibria and swerve w.p. 0.99
    known = [([1, 0], [0, 1]), ([0, 1], [1, 0]), ([0.99, 0.01], [0.99, 0.01])]
    assert_same_set(
        nash_equilibria(chicken()), [(np.array(x, float), np.array(y, float)) for x, y in known]
    )
    # pure coordination with 3 actions: uniform play on every common support, 2^3 - 1 of them
    found = nash_equilibria(pure_coordination(3))
    known = []
    for mask in range(1, 8):
        s = np.array([(mask >> i) & 1 for i in range(3)], float)
        known.append((s / s.sum(), s / s.sum()))
    assert len(found) == 7
    assert_same_set(found, known, 1e-12)


# ----------------------------------------------------------------------------
# the pure function: vmap, jit, float32, overflow


def mixed_games(shape=(3, 3), count=24, seed=3):
    return random_games(shape, count, seed)[0]


def test_vmap_equals_per_game_and_batch_and_compiles_once():
    games = mixed_games()
    traces = []
    fn = make_enumerate_equilibria(3, 3, max_equilibria=32)

    def counted(p):
        traces.append(1)
        return fn(p)

    run = jax.jit(jax.vmap(counted))
    with jax.enable_x64(True):
        # no LAPACK call in the program (batched LAPACK can deadlock in jaxlib 0.10)
        assert "lapack" not in run.lower(jnp.asarray(games)).as_text().lower()
        batched = run(jnp.asarray(games))
        other = run(jnp.asarray(mixed_games(seed=4)))
    assert len(traces) == 1  # new payoff values, no new trace
    assert not np.array_equal(np.asarray(batched.x), np.asarray(other.x))
    wrapped = nash_equilibria_batch(games, **ORACLE_SLOTS)
    for g in range(len(games)):
        one = nash_equilibria(games[g])  # the same pure function, one game at a time
        assert int(batched.count[g]) == len(one) == int(wrapped.count[g])
        assert_same_set(as_list(batched, g), one, 1e-12)
        assert_same_set(as_list(wrapped, g), one, 1e-12)


def test_batch_wrapper_compiles_once(monkeypatch):
    kernel = enumeration._enumerate
    calls = []
    monkeypatch.setattr(enumeration, "_enumerate", lambda cfg, p: calls.append(1) or kernel(cfg, p))
    gauss = np.random.default_rng(0).normal(size=(40, 2, 2, 2))
    first = nash_equilibria_batch(gauss, block=8, chunk=64)
    traced = len(calls)  # map_blocks traces the block function for its shapes, then its loop
    second = nash_equilibria_batch(gauss[::-1] * 2.0, block=8, chunk=64)
    nash_equilibria_batch(gauss[:33], block=8, chunk=64)  # padded to the same 64-game program
    assert traced > 0 and len(calls) == traced
    assert not first.overflow.any() and np.array_equal(first.count, second.count[::-1])


def test_float32_integer_games_exact():
    # the power-of-two scaling keeps small integer payoffs exact in float32
    games = mixed_games(shape=(2, 3), count=30, seed=5)[::3]  # integers 0..3
    fn = jax.jit(jax.vmap(make_enumerate_equilibria(2, 3, max_equilibria=8)))
    eq32 = fn(jnp.asarray(games, jnp.float32))
    assert eq32.x.dtype == jnp.float32 and not eq32.overflow.any()
    for g in range(len(games)):
        assert_same_set(as_list(eq32, g), nash_equilibria(games[g]), 1e-6)


def test_batch_reruns_games_that_overflow():
    games = np.random.default_rng(11).integers(0, 2, size=(30, 2, 2, 2)).astype(float)
    small = nash_equilibria_batch(games, max_equilibria=1, max_degenerate=1)
    assert not small.overflow.any() and small.count.max() > 1
    for g in range(len(games)):
        assert_same_set(as_list(small, g), nash_equilibria(games[g]), 1e-12)


def test_equilibrium_set_shapes():
    fn = make_enumerate_equilibria(2, 3, max_equilibria=5)
    with jax.enable_x64(True):
        eq = jax.jit(fn)(jnp.zeros((2, 2, 3)))
    assert eq.x.shape == (5, 2) and eq.y.shape == (5, 3) and eq.valid.shape == (5,)
    assert eq.count.shape == () and eq.overflow.shape == ()
    # all 6 pure profiles are extreme equilibria: 5 fit, the count says 6, overflow is set
    assert int(eq.count) == 6 and bool(eq.overflow) and int(np.sum(eq.valid)) == 5
    batch = nash_equilibria_batch(np.zeros((4, 2, 2, 2)), **ORACLE_SLOTS)
    assert batch.x.shape == (4, 128, 2) and batch.y.shape == (4, 128, 2)
    assert batch.count.tolist() == [4] * 4 and batch.valid.sum(1).tolist() == [4] * 4


# ----------------------------------------------------------------------------
# bad input


def test_bad_input():
    three = NormalFormGame.create(np.zeros((3, 2, 2, 2)))
    with pytest.raises(ValueError, match="num_players"):
        nash_equilibria(three)
    with pytest.raises(ValueError, match="two players"):
        nash_equilibria(np.zeros((3, 2, 2, 2)))
    with pytest.raises(ValueError, match="two players"):
        nash_equilibria(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match=r"shape"):
        nash_equilibria(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="m, n >= 1"):
        nash_equilibria(np.zeros((2, 0, 3)))
    nan = np.zeros((2, 2, 2))
    nan[1, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"finite"):
        nash_equilibria(nan)
    with pytest.raises(ValueError, match="real numbers"):
        nash_equilibria(np.array([[["a", "b"]], [["c", "d"]]]))
    with pytest.raises(ValueError, match=r"\[G, 2, m, n\]"):
        nash_equilibria_batch(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="m, n >= 1"):
        nash_equilibria_batch(np.zeros((0, 2, 2, 2)))
    with pytest.raises(ValueError, match="block"):
        nash_equilibria_batch(np.zeros((1, 2, 2, 2)), block=0)
    with pytest.raises(ValueError, match="tol"):
        nash_equilibria(np.zeros((2, 2, 2)), tol=-1.0)
    with pytest.raises(ValueError, match="max_equilibria"):
        make_enumerate_equilibria(2, 2, max_equilibria=0)
    with pytest.raises(ValueError, match="m="):
        make_enumerate_equilibria(0, 2)
    with pytest.raises(ValueError, match="bases"):
        make_enumerate_equilibria(10, 10)
    fn = make_enumerate_equilibria(2, 2)
    with pytest.raises(ValueError, match=r"payoffs.shape"):
        fn(jnp.zeros((2, 2, 3)))


def test_nash_conv_zero_at_every_equilibrium_positive_elsewhere():
    """NashConv (Lanctot et al. 2017) is 0 at each enumerated equilibrium, > 0 off them."""
    from detente.solvers.equilibria import nash_conv, nash_equilibria_batch

    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        payoffs = rng.normal(size=(64, 2, 4, 4))
        eq = nash_equilibria_batch(payoffs)
        batched = jax.jit(jax.vmap(nash_conv))
        games, xs, ys = [], [], []
        for g in range(64):
            for k in np.flatnonzero(eq.valid[g]):
                games.append(payoffs[g])
                xs.append(eq.x[g, k])
                ys.append(eq.y[g, k])
        games, xs, ys = map(np.asarray, (games, xs, ys))
        at_eq = np.asarray(batched(games, (xs, ys)))
        assert len(at_eq) >= 64 and at_eq.max() < 1e-9
        # Mixing each equilibrium with the uniform profile leaves it (Gaussian games are
        # nondegenerate, so their equilibria are isolated) and NashConv turns positive.
        off = np.asarray(batched(games, (0.8 * xs + 0.05, 0.8 * ys + 0.05)))
        assert off.min() > 1e-6
