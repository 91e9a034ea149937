"""Pure Nash equilibria and iterated elimination of dominated actions."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games import (
    NormalFormGame,
    battle_of_the_sexes,
    chicken,
    matching_pennies,
    prisoners_dilemma,
    pure_coordination,
    rock_paper_scissors,
)
from detente.solvers.equilibria.pure import (
    iterated_elimination,
    pure_equilibria,
    pure_equilibrium_mask,
)


def brute_pure_nash(u):
    """Pure equilibria by looping over profiles, players and deviations."""
    out = []
    for a in itertools.product(*(range(k) for k in u.shape[1:])):
        stable = True
        for i in range(u.shape[0]):
            for d in range(u.shape[i + 1]):
                dev = list(a)
                dev[i] = d
                if u[(i, *dev)] > u[(i, *a)]:
                    stable = False
        if stable:
            out.append(list(a))
    return out


def brute_strict_elimination(u):
    """Iterated strict pure domination, removing every dominated action of every player at once."""
    kept = [list(range(k)) for k in u.shape[1:]]
    while True:
        drop = []
        for i in range(u.shape[0]):
            for a in kept[i]:
                for b in kept[i]:
                    others = [kept[j] for j in range(u.shape[0]) if j != i]
                    if b != a and all(
                        u[(i, *t[:i], b, *t[i:])] > u[(i, *t[:i], a, *t[i:])]
                        for t in itertools.product(*others)
                    ):
                        drop.append((i, a))
                        break
        if not drop:
            return kept
        for i, a in drop:
            kept[i].remove(a)


# --- pure equilibria ------------------------------------------------------------------


def test_pure_equilibria_of_the_zoo():
    assert pure_equilibria(prisoners_dilemma()).tolist() == [[1, 1]]
    assert pure_equilibria(prisoners_dilemma("textbook")).tolist() == [[1, 1]]
    assert pure_equilibria(matching_pennies()).shape == (0, 2)
    assert pure_equilibria(rock_paper_scissors()).shape == (0, 2)
    assert pure_equilibria(battle_of_the_sexes()).tolist() == [[0, 0], [1, 1]]
    assert pure_equilibria(chicken()).tolist() == [[0, 1], [1, 0]]
    assert pure_equilibria(pure_coordination(3)).tolist() == [[0, 0], [1, 1], [2, 2]]


def test_three_player_coordination():
    # Everyone gets 1 if all three pick the same action, else 0. With two
    # actions the odd one out always gains by joining: only (0,0,0), (1,1,1).
    # With three actions, all-different profiles are equilibria too (no single
    # deviation makes the choice unanimous): 3 + 3! = 9.
    for k, expected in [(2, 2), (3, 9)]:
        same = np.zeros((k, k, k))
        for a in range(k):
            same[a, a, a] = 1.0
        u = np.stack([same] * 3)
        got = pure_equilibria(u).tolist()
        assert len(got) == expected
        assert got == brute_pure_nash(u)
        if k == 3:
            assert [0, 1, 2] in got and [2, 0, 1] in got and [0, 0, 1] not in got


def test_random_three_player_games_match_brute_force():
    rng = np.random.default_rng(0)
    found = 0
    for _ in range(10):
        u = rng.integers(0, 3, size=(3, 2, 3, 2)).astype(float)  # many ties
        got = pure_equilibria(u).tolist()
        assert got == brute_pure_nash(u)
        found += len(got)
    assert found > 0


def test_mask_vmaps_over_games():
    rng = np.random.default_rng(1)
    u = rng.integers(0, 4, size=(8, 2, 3, 3)).astype(np.float32)
    masks = jax.jit(jax.vmap(pure_equilibrium_mask))(jnp.asarray(u))
    for b in range(8):
        assert np.argwhere(np.asarray(masks[b])).tolist() == brute_pure_nash(u[b])


def test_tolerance():
    # Row player: action 1 pays 1e-3 more than action 0 against everything.
    u = np.stack([[[0.0, 0.0], [1e-3, 1e-3]], np.zeros((2, 2))])
    assert pure_equilibria(u).tolist() == [[1, 0], [1, 1]]
    assert pure_equilibria(u, tol=1e-2).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    with pytest.raises(ValueError, match="tol"):
        pure_equilibria(u, tol=-1.0)
    with pytest.raises(ValueError, match="non-finite"):
        pure_equilibria(np.full((2, 2, 2), np.nan))


# --- dominance --------------------------------------------------------------------------


def test_prisoners_dilemma_reduces_to_defection():
    res = iterated_elimination(prisoners_dilemma())
    assert [k.tolist() for k in res.kept] == [[1], [1]]
    np.testing.assert_allclose(res.game.payoffs, [[[-2.0]], [[-2.0]]])


def test_gibbons_iterated_example():
    # Gibbons, "Game Theory for Applied Economists", 1992, sec. 1.1.B: rows Up,
    # Down; columns Left, Middle, Right. Right is dominated by Middle; then Down
    # by Up; then Left by Middle: (Up, Middle) remains.
    a = [[1, 1, 0], [0, 0, 2]]
    b = [[0, 2, 1], [3, 1, 0]]
    res = iterated_elimination(np.stack([a, b]).astype(float))
    assert [k.tolist() for k in res.kept] == [[0], [1]]
    np.testing.assert_allclose(res.game.payoffs, [[[1.0]], [[2.0]]])


def test_dominated_only_by_a_mixture():
    # Rows (3, 0), (0, 3), (1, 1): neither pure row beats (1, 1) everywhere,
    # but the 50/50 mixture pays (1.5, 1.5) > (1, 1). The column player's
    # payoffs leave both columns undominated.
    a = [[3, 0], [0, 3], [1, 1]]
    b = [[1, 0], [0, 1], [0, 0]]
    u = np.stack([a, b]).astype(float)
    pure_only = iterated_elimination(u, mixed=False)
    assert [k.tolist() for k in pure_only.kept] == [[0, 1, 2], [0, 1]]
    with_mixed = iterated_elimination(u, mixed=True)
    assert [k.tolist() for k in with_mixed.kept] == [[0, 1], [0, 1]]
    assert with_mixed.game.num_actions == (2, 2)


def test_weak_domination():
    # Row 1 pays (1, 0) against row 0's (1, 1): weakly, not strictly, dominated.
    u = np.stack([[[1.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    assert [k.tolist() for k in iterated_elimination(u).kept] == [[0, 1], [0, 1]]
    assert [k.tolist() for k in iterated_elimination(u, strict=False).kept] == [[0], [0, 1]]
    # Weak domination by a mixture: (2, 0) and (0, 2) mix to (1, 1) >= (1, 0.5).
    u = np.stack([[[2.0, 0.0], [0.0, 2.0], [1.0, 0.5]], np.zeros((3, 2))])
    assert [k.tolist() for k in iterated_elimination(u, strict=False).kept][0] == [0, 1, 2]
    weak_mixed = iterated_elimination(u, strict=False, mixed=True)
    assert weak_mixed.kept[0].tolist() == [0, 1]


@pytest.mark.parametrize("mixed", [False, True])
def test_strict_elimination_is_order_independent(mixed):
    # Relabel players and actions at random: the sweep then visits actions in a
    # different order, and strict elimination must keep the same actions.
    rng = np.random.default_rng(2)
    removed = 0
    for _ in range(6):
        shape = (3, 4, 3)
        # a per-action bonus makes domination common
        u = rng.integers(0, 4, size=(3, *shape)).astype(float)
        for i in range(3):
            bonus = rng.integers(0, 4, size=shape[i]).astype(float)
            u[i] += np.reshape(bonus, [1] * i + [shape[i]] + [1] * (2 - i))
        base = [set(k.tolist()) for k in iterated_elimination(u, mixed=mixed).kept]
        if not mixed:
            assert base == [set(k) for k in brute_strict_elimination(u)]
        removed += sum(shape) - sum(len(k) for k in base)
        for _ in range(3):
            players = rng.permutation(3)
            actions = [rng.permutation(k) for k in shape]
            v = u[(slice(None), *np.ix_(*actions))][players]  # relabel actions, then players
            v = np.transpose(v, [0, *(1 + players)])
            kept = iterated_elimination(v, mixed=mixed).kept
            for new_i, old_i in enumerate(players):
                assert set(actions[old_i][kept[new_i]].tolist()) == base[old_i]
    assert removed > 0


def test_equilibria_survive_strict_elimination():
    rng = np.random.default_rng(3)
    for _ in range(5):
        u = rng.integers(0, 5, size=(2, 4, 4)).astype(float)
        kept = iterated_elimination(u, mixed=True).kept
        for a in pure_equilibria(u).tolist():
            assert a[0] in kept[0] and a[1] in kept[1]


def test_elimination_bad_input():
    with pytest.raises(ValueError, match="strict"):
        iterated_elimination(prisoners_dilemma(), strict="yes")
    with pytest.raises(ValueError, match="mixed"):
        iterated_elimination(prisoners_dilemma(), mixed=1)
    with pytest.raises(ValueError, match="tol"):
        iterated_elimination(prisoners_dilemma(), tol=float("nan"))
    with pytest.raises(ValueError, match="game"):
        iterated_elimination([[[1, 2], [3]], [[1, 2], [3, 4]]])
    assert isinstance(iterated_elimination(prisoners_dilemma()).game, NormalFormGame)
