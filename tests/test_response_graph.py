"""Response graphs, sink components and alpha-Rank.

Known structure (zoo payoffs): the prisoner's dilemma's only sink is (D, D);
matching pennies' response graph is the 4-cycle HH -> HT -> TT -> TH -> HH;
rock-paper-scissors in one population is the cycle R -> P -> S -> R. Oracles:
pygambit's ``enumpure_solve`` for pure equilibria, OpenSpiel's
``open_spiel.python.egt.alpharank.compute`` for alpha-Rank (multi-population
with one payoff table per player indexed by the joint profile, profiles in
row-major order; single population with one table ``M[r, s]``).
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from detente.analysis.response_graph import (
    AlphaRank,
    alpha_rank,
    response_graph,
    sink_components,
    stationary_distribution,
)
from detente.games import zoo
from detente.solvers.equilibria.pure import pure_equilibria

ZOO = {name: make() for name, make in zoo.NORMAL_FORM_GAMES.items()}


def _random_game(shape, seed, integers=False):
    rng = np.random.default_rng(seed)
    size = (len(shape), *shape)
    return rng.integers(-3, 4, size=size).astype(float) if integers else rng.normal(size=size)


# --- response graphs ---------------------------------------------------------------


def test_prisoners_dilemma_graph_and_sink():
    g = response_graph(zoo.prisoners_dilemma())
    # LOLA's payoffs: T - R = 0 - (-1) = 1 and P - S = -2 - (-3) = 1
    want = {((0, 0), (1, 0)), ((0, 0), (0, 1)), ((0, 1), (1, 1)), ((1, 0), (1, 1))}
    assert set(g.edges) == want
    assert all(d["gain"] == pytest.approx(1.0) for _, _, d in g.edges(data=True))
    assert g.edges[(0, 0), (1, 0)]["player"] == 0 and g.edges[(0, 0), (0, 1)]["player"] == 1
    assert sink_components(g) == [frozenset({(1, 1)})]


def test_matching_pennies_sink_is_the_four_cycle():
    g = response_graph(zoo.matching_pennies())
    cycle = [(0, 0), (0, 1), (1, 1), (1, 0)]
    assert set(g.edges) == {(cycle[k], cycle[(k + 1) % 4]) for k in range(4)}
    assert all(d["weight"] == pytest.approx(2.0) for _, _, d in g.edges(data=True))
    assert sink_components(g) == [frozenset(cycle)]
    unweighted = response_graph(zoo.matching_pennies(), weighted=False)
    assert all(d["weight"] == 1.0 for _, _, d in unweighted.edges(data=True))


def test_rock_paper_scissors_single_and_multi_population():
    rps = zoo.rock_paper_scissors()
    single = response_graph(rps, population="single")
    assert set(single.edges) == {(0, 1), (1, 2), (2, 0)}  # R -> P -> S -> R
    assert sink_components(single) == [frozenset({0, 1, 2})]
    multi = response_graph(rps)
    # a best-response cycle through all three diagonal profiles ...
    for edge in [((0, 0), (1, 0)), ((1, 0), (1, 2)), ((1, 2), (2, 2)), ((2, 2), (2, 0))]:
        assert multi.has_edge(*edge)
    # ... and no pure equilibrium: every profile is in the one sink component
    assert sink_components(multi) == [frozenset(itertools.product(range(3), repeat=2))]
    with pytest.raises(ValueError, match="symmetric"):
        response_graph(zoo.battle_of_the_sexes(), population="single")


def _gambit_pure(u):
    gbt = pytest.importorskip("pygambit")
    game = gbt.Game.from_arrays(*[np.asarray(a) for a in u])
    out = []
    for eq in gbt.nash.enumpure_solve(game).equilibria:
        out.append(
            tuple(int(np.argmax([float(eq[s]) for s in p.strategies])) for p in game.players)
        )
    return sorted(out)


@pytest.mark.parametrize(
    "u",
    [np.asarray(g.payoffs, float) for g in ZOO.values()]
    + [_random_game((3, 3), s, integers=True) for s in range(4)]
    + [_random_game((2, 3, 2), s, integers=True) for s in range(2)],
)
def test_pure_equilibria_are_the_singleton_sinks(u):
    g = response_graph(u)
    singletons = sorted(next(iter(c)) for c in sink_components(g) if len(c) == 1)
    solver = sorted(tuple(int(a) for a in p) for p in pure_equilibria(u))
    assert singletons == solver == _gambit_pure(u)
    # the condensation's sinks are what networkx calls attracting components
    assert {frozenset(c) for c in nx.attracting_components(g)} == set(sink_components(g))


# --- alpha-Rank --------------------------------------------------------------------


def _openspiel(tables, **kw):
    alpharank = pytest.importorskip("open_spiel.python.egt.alpharank")
    rhos, _, pi, _, _ = alpharank.compute([np.asarray(t, float) for t in tables], **kw)
    return rhos, pi


@pytest.mark.parametrize(
    "u, alphas, m",
    [
        (np.asarray(zoo.prisoners_dilemma().payoffs, float), (0.1, 1.0, 5.0), 50),
        (np.asarray(zoo.matching_pennies().payoffs, float), (0.1, 1.0, 5.0), 50),
        (np.asarray(zoo.rock_paper_scissors().payoffs, float), (0.1, 1.0, 5.0), 50),
        (np.asarray(zoo.stag_hunt().payoffs, float), (0.1, 0.3), 20),
        (_random_game((3, 4), 0), (0.1, 1.0, 3.0), 30),
        (_random_game((2, 3, 2), 1), (0.5, 2.0), 30),
    ],
)
def test_alpha_rank_matches_openspiel_multi_population(u, alphas, m):
    for alpha in alphas:
        ours = alpha_rank(u, alpha=alpha, m=m)
        rhos, pi = _openspiel(list(u), m=m, alpha=alpha)
        np.testing.assert_allclose(ours.pi, pi, atol=1e-9)
        np.testing.assert_allclose(ours.fixation, rhos, atol=1e-12)
        np.testing.assert_allclose(ours.transition.sum(1), 1.0, atol=1e-12)
        np.testing.assert_allclose(ours.pi @ ours.transition, ours.pi, atol=1e-12)


@pytest.mark.parametrize("selection, local", [("local", True), ("moran", False)])
@pytest.mark.parametrize(
    "name", ["rock_paper_scissors", "biased_rock_paper_scissors", "stag_hunt", "prisoners_dilemma"]
)
def test_alpha_rank_matches_openspiel_single_population(name, selection, local):
    game = ZOO[name]
    for alpha in (0.5, 3.0):
        ours = alpha_rank(game, alpha=alpha, m=20, population="single", selection=selection)
        rhos, pi = _openspiel(
            [np.asarray(game.payoffs[0])], m=20, alpha=alpha, use_local_selection_model=local
        )
        np.testing.assert_allclose(ours.pi, pi, atol=1e-9)
        np.testing.assert_allclose(ours.fixation, rhos, atol=1e-12)
        assert ours.profiles.shape == (len(pi), 1)


def test_alpha_rank_closed_forms():
    # alpha = 0: neutral drift, a symmetric chain, uniform scores
    res = alpha_rank(zoo.battle_of_the_sexes(), alpha=0.0)
    np.testing.assert_allclose(res.pi, 0.25)
    np.testing.assert_allclose(res.fixation[0, 1], 1 / 50)
    # matching pennies: every move has gain +-2, so the 4-cycle is uniform for any alpha
    for alpha in (0.3, 10.0, 1e4):
        np.testing.assert_allclose(alpha_rank(zoo.matching_pennies(), alpha=alpha).pi, 0.25)
    res = alpha_rank(zoo.prisoners_dilemma(), alpha=10.0)
    assert isinstance(res, AlphaRank)
    assert res.profiles.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert res.profiles[res.ranking[0]].tolist() == [1, 1]


@pytest.mark.parametrize(
    "u",
    [
        np.asarray(zoo.prisoners_dilemma().payoffs, float),
        np.asarray(zoo.stag_hunt().payoffs, float),
        np.asarray(zoo.battle_of_the_sexes().payoffs, float),
        np.asarray(zoo.chicken().payoffs, float),
        _random_game((3, 3), 3),
        _random_game((4, 3), 4),
        _random_game((2, 2, 3), 5),
    ],
)
def test_large_alpha_mass_sits_on_the_sink_components(u):
    # Omidshafiei et al. 2019, Theorem 2.1.4 (games without payoff ties)
    sinks = sink_components(response_graph(u))
    in_sink = {p for c in sinks for p in c}
    shape = u.shape[1:]
    for alpha, bound in ((50.0 / _min_gap(u), 1e-12), (1e6, 1e-300)):
        res = alpha_rank(u, alpha=alpha, m=50)
        outside = sum(
            res.pi[np.ravel_multi_index(tuple(p), shape)]
            for p in res.profiles
            if tuple(p) not in in_sink
        )
        assert outside <= bound
        assert np.isclose(res.pi.sum(), 1.0)


def _min_gap(u):
    g = response_graph(u)
    return min(d["gain"] for _, _, d in g.edges(data=True))


def test_stationary_distribution_against_a_linear_solve():
    rng = np.random.default_rng(0)
    P = rng.uniform(size=(6, 6))
    P /= P.sum(1, keepdims=True)
    with np.errstate(divide="ignore"):
        pi = stationary_distribution(np.log(P))
    A = np.vstack([P.T - np.eye(6), np.ones(6)])
    want = np.linalg.lstsq(A, np.r_[np.zeros(6), 1.0], rcond=None)[0]
    np.testing.assert_allclose(pi, want, atol=1e-12)
    reducible = np.log(np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]) + 1e-300)
    reducible[reducible < -600] = -np.inf
    with pytest.raises(ValueError, match="irreducible"):
        stationary_distribution(reducible)


def test_bad_inputs():
    pd = zoo.prisoners_dilemma()
    with pytest.raises(ValueError, match="alpha"):
        alpha_rank(pd, alpha=-1.0)
    with pytest.raises(ValueError, match="m="):
        alpha_rank(pd, m=1)
    with pytest.raises(ValueError, match="selection"):
        alpha_rank(pd, population="single", selection="global")
    with pytest.raises(ValueError, match="population"):
        alpha_rank(zoo.battle_of_the_sexes(), population="single")
    with pytest.raises(ValueError, match="payoffs"):
        response_graph(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="population"):
        response_graph(pd, population="both")
