"""Response graphs of normal-form games and alpha-Rank.

The *response graph* of a game has one node per pure strategy profile and an
edge ``s -> s'`` for every strictly improving unilateral deviation: ``s'``
differs from ``s`` in player ``k``'s strategy only and pays player ``k``
strictly more. Its sink strongly connected components are the attractors of
better-response dynamics; the singleton sinks are exactly the pure Nash
equilibria. alpha-Rank (Omidshafiei, Papadimitriou, Piliouras, Tuyls,
Rowland, Lespiau, Czarnecki, Lanctot, Perolat, Munos, "alpha-Rank:
Multi-Agent Evaluation by Evolution", Scientific Reports 9, 9937 (2019),
https://doi.org/10.1038/s41598-019-45619-9, https://arxiv.org/abs/1903.01373)
ranks profiles by the stationary distribution of an evolutionary Markov chain
over them, with ranking intensity ``alpha`` and population size ``m``; as
``alpha -> infinity`` its mass concentrates on the sink components of the
response graph (their Theorem 2.1.4, for games without payoff ties between a
profile and its unilateral deviations).

Two population models, as in the paper:

* ``population="multi"`` (any ``N``-player game; the paper's Sec. 2.1.3):
  one population per player, nodes are profiles ``(s_1, ..., s_N)``; a mutant
  of population ``k`` switching ``s_k -> r_k`` fixates with probability
  ``rho = (1 - exp(-alpha df)) / (1 - exp(-m alpha df))`` (``1/m`` if ``df =
  0``), ``df = f_k(r) - f_k(s)``, ``f_k`` player ``k``'s payoff.
* ``population="single"`` (symmetric two-player games, ``payoffs[1] =
  payoffs[0].T``; Sec. 2.1.2): nodes are strategies of one population, ``M =
  payoffs[0]`` (``M[r, s]``: ``r``'s payoff against ``s``). With
  ``selection="local"`` (OpenSpiel's default) the mutant's fitness is its
  payoff against the resident, ``df = M[r, s] - M[s, r]`` in the same
  closed form; with ``selection="moran"`` fitness is the average payoff
  against the rest of a finite population of ``m``, and ``rho`` is the Moran
  fixation probability ``1 / (1 + sum_l prod_{p <= l} exp(-alpha (f_r(p) -
  f_s(m - p))))``.

Transitions ``C[s, r] = eta * rho`` for neighbours, ``eta = 1 / sum_k (|S_k|
- 1)``, and ``C[s, s] = 1 - sum_r C[s, r]``. The stationary distribution is
computed in log space by the Grassmann-Taksar-Heyman state reduction
(Grassmann, Taksar & Heyman, "Regenerative analysis and steady state
distributions for Markov chains", Operations Research 33(5), 1985), which
involves no subtraction, so it stays accurate at large ``alpha`` where the
chain is nearly reducible and an eigen-solver fails.

Example:
    >>> from detente.games import prisoners_dilemma
    >>> g = response_graph(prisoners_dilemma())
    >>> sink_components(g)
    [frozenset({(1, 1)})]
    >>> res = alpha_rank(prisoners_dilemma(), alpha=10.0)
    >>> res.profiles[res.ranking[0]].tolist()
    [1, 1]
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import networkx as nx
import numpy as np
from scipy.special import logsumexp

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.games.normal_form import NormalFormGame

__all__ = [
    "AlphaRank",
    "alpha_rank",
    "response_graph",
    "sink_components",
    "stationary_distribution",
]

POPULATIONS = ("multi", "single")
SELECTIONS = ("local", "moran")


class AlphaRank(NamedTuple):
    """alpha-Rank of a game.

    Attributes:
        profiles: ``[P, N]`` pure profiles, in C (row-major) order over the
            players' strategies (OpenSpiel's order); ``[S, 1]`` strategies for a
            single population.
        pi: ``[P]`` stationary distribution (the alpha-Rank scores).
        ranking: ``[P]`` profile indices by decreasing ``pi`` (ties: lower index first).
        transition: ``[P, P]`` Markov transition matrix ``C`` (rows sum to 1).
        fixation: ``[P, P]`` fixation probabilities ``rho[s, r]`` of each
            neighbouring mutant (0 off the neighbourhood and on the diagonal).
        alpha: the ranking intensity.
        m: the population size.
    """

    profiles: np.ndarray  # [P, N]
    pi: np.ndarray  # [P]
    ranking: np.ndarray  # [P]
    transition: np.ndarray  # [P, P]
    fixation: np.ndarray  # [P, P]
    alpha: float
    m: int


def _payoffs(game) -> np.ndarray:
    """``[N, A_1, ..., A_N]`` float64 payoffs of a game or an array (validated)."""
    if isinstance(game, NormalFormGame):
        return np.asarray(game.payoffs, dtype=np.float64)
    NormalFormGame.create(game)  # validation only: raises a clear ValueError
    return np.asarray(game, dtype=np.float64)


def _symmetric_matrix(u: np.ndarray) -> np.ndarray:
    if u.shape[0] != 2 or u.shape[1] != u.shape[2] or not np.allclose(u[1], u[0].T):
        raise bad_value(
            "population",
            "single",
            "'multi' for this game: a single population needs a symmetric two-player game "
            f"(payoffs[1] == payoffs[0].T, square); got payoffs of shape {u.shape}",
        )
    return u[0]


def _deviations(u: np.ndarray):
    """Yield ``(s, k, r, gain)`` for every profile ``s`` and unilateral deviation ``r``."""
    shape = u.shape[1:]
    for s in itertools.product(*(range(a) for a in shape)):
        for k, a_k in enumerate(shape):
            for b in range(a_k):
                if b != s[k]:
                    r = s[:k] + (b,) + s[k + 1 :]
                    yield s, k, r, u[(k, *r)] - u[(k, *s)]


def response_graph(
    game, *, population: str = "multi", weighted: bool = True, tol: float = 0.0
) -> nx.DiGraph:
    """The (strict better-) response graph of a normal-form game.

    Args:
        game: a :class:`NormalFormGame` or payoffs ``[N, A_1, ..., A_N]``.
        population: ``"multi"`` (nodes are profiles, tuples of ints) or
            ``"single"`` (symmetric two-player games; nodes are strategies,
            ints, and ``s -> r`` when ``M[r, s] > M[s, r]``: ``r`` beats ``s``
            head to head, the large-``alpha`` limit of the local selection model).
        weighted: edge ``weight`` is the gain (else 1); ``gain`` is always stored.
        tol: a gain must exceed ``tol`` to make an edge.

    Returns:
        A ``networkx.DiGraph``; multi-population edges also carry ``player``
        (the deviator).
    """
    check_choice("population", population, POPULATIONS)
    tol = check_finite("tol", tol, low=0.0)
    u = _payoffs(game)
    g = nx.DiGraph()
    if population == "single":
        M = _symmetric_matrix(u)
        g.add_nodes_from(range(M.shape[0]))
        for s, r in itertools.permutations(range(M.shape[0]), 2):
            gain = M[r, s] - M[s, r]
            if gain > tol:
                g.add_edge(s, r, gain=float(gain), weight=float(gain) if weighted else 1.0)
        return g
    g.add_nodes_from(itertools.product(*(range(a) for a in u.shape[1:])))
    for s, k, r, gain in _deviations(u):
        if gain > tol:
            g.add_edge(s, r, player=k, gain=float(gain), weight=float(gain) if weighted else 1.0)
    return g


def sink_components(graph: nx.DiGraph) -> list[frozenset]:
    """The sink strongly connected components (no edge leaves them), sorted.

    Computed on ``networkx.condensation``: a component is a sink when its
    node in the condensation has no successor.
    """
    cond = nx.condensation(graph)
    sinks = [frozenset(cond.nodes[c]["members"]) for c in cond.nodes if cond.out_degree(c) == 0]
    return sorted(sinks, key=lambda c: sorted(c))


def stationary_distribution(log_transition: np.ndarray) -> np.ndarray:
    """Stationary distribution of an irreducible chain from its log transition matrix.

    Grassmann-Taksar-Heyman state reduction (Operations Research 33(5), 1985)
    in log space: only sums of non-negative terms, so it stays accurate when
    the transition probabilities span hundreds of orders of magnitude. The
    diagonal is ignored (it is implied by the rows summing to 1).

    Args:
        log_transition: ``[P, P]`` ``log C`` (``-inf`` for impossible moves).

    Returns:
        ``[P]`` stationary distribution ``pi`` (``pi C = pi``, sums to 1).

    Raises:
        ValueError: if the chain is reducible.
    """
    L = np.array(log_transition, dtype=np.float64)
    n = L.shape[0]
    if L.shape != (n, n) or n < 1:
        raise bad_value("log_transition", L.shape, "a square [P, P] matrix")
    np.fill_diagonal(L, -np.inf)
    for k in range(n - 1, 0, -1):
        log_s = logsumexp(L[k, :k])
        if not np.isfinite(log_s):
            raise bad_value(
                "transition", f"state {k} with no path to states < {k}", "an irreducible chain"
            )
        L[:k, k] -= log_s
        L[:k, :k] = np.logaddexp(L[:k, :k], L[:k, k][:, None] + L[k, :k][None, :])
    log_pi = np.zeros(n)
    for k in range(1, n):
        log_pi[k] = logsumexp(log_pi[:k] + L[:k, k])
    return np.exp(log_pi - logsumexp(log_pi))


def _log_rho_closed_form(alpha: float, m: int, df: float) -> float:
    """``log rho`` with ``rho = (1 - e^{-u}) / (1 - e^{-m u}) = 1 / sum_{l<m} e^{-l u}``."""
    return -logsumexp(-alpha * df * np.arange(m))


def _log_rho_moran(alpha: float, m: int, M: np.ndarray, r: int, s: int) -> float:
    """``log rho`` of mutant ``r`` fixating in a population of ``s`` (finite-population fitness)."""
    p = np.arange(1, m)  # number of r-players
    f_r = ((p - 1) * M[r, r] + (m - p) * M[r, s]) / (m - 1)
    f_s = ((m - p - 1) * M[s, s] + p * M[s, r]) / (m - 1)
    partial = np.cumsum(-alpha * (f_r - f_s))  # log prod_{q <= l} e^{-alpha (...)}
    return -logsumexp(np.concatenate([[0.0], partial]))


def alpha_rank(
    game,
    *,
    alpha: float = 100.0,
    m: int = 50,
    population: str = "multi",
    selection: str = "local",
) -> AlphaRank:
    """alpha-Rank: the stationary distribution of the evolutionary chain over profiles.

    Omidshafiei et al. 2019, "alpha-Rank: Multi-Agent Evaluation by
    Evolution", Sci. Rep. 9, 9937, https://arxiv.org/abs/1903.01373
    (Sec. 2.1.2-2.1.3; see the module doc for the formulas).

    Args:
        game: a :class:`NormalFormGame` or payoffs ``[N, A_1, ..., A_N]``.
        alpha: ranking intensity, ``>= 0`` (0: neutral drift, uniform ``pi``).
        m: population size, ``>= 2``.
        population: ``"multi"`` (one population per player) or ``"single"``
            (symmetric two-player games).
        selection: single population only: ``"local"`` (fitness against the
            resident, OpenSpiel's default) or ``"moran"`` (finite-population
            average fitness).

    Returns:
        :class:`AlphaRank`.
    """
    alpha = check_finite("alpha", alpha, low=0.0)
    m = check_positive_int("m", m)
    if m < 2:
        raise bad_value("m", m, "an integer >= 2 (population size)")
    check_choice("population", population, POPULATIONS)
    check_choice("selection", selection, SELECTIONS)
    u = _payoffs(game)
    if population == "single":
        M = _symmetric_matrix(u)
        n = M.shape[0]
        profiles = np.arange(n)[:, None]
        log_rho = np.full((n, n), -np.inf)
        for s, r in itertools.permutations(range(n), 2):
            if selection == "local":
                log_rho[s, r] = _log_rho_closed_form(alpha, m, M[r, s] - M[s, r])
            else:
                log_rho[s, r] = _log_rho_moran(alpha, m, M, r, s)
        eta = 1.0 / max(n - 1, 1)
    else:
        shape = u.shape[1:]
        profiles = np.array(list(itertools.product(*(range(a) for a in shape))), dtype=np.int64)
        n = profiles.shape[0]
        log_rho = np.full((n, n), -np.inf)
        for s, _, r, gain in _deviations(u):
            i, j = np.ravel_multi_index(s, shape), np.ravel_multi_index(r, shape)
            log_rho[i, j] = _log_rho_closed_form(alpha, m, gain)
        eta = 1.0 / max(sum(a - 1 for a in shape), 1)
    log_c = np.log(eta) + log_rho
    pi = np.ones(1) if n == 1 else stationary_distribution(log_c)
    C = np.exp(log_c)
    np.fill_diagonal(C, 0.0)
    np.fill_diagonal(C, 1.0 - C.sum(axis=1))
    return AlphaRank(
        profiles=profiles,
        pi=pi,
        ranking=np.argsort(-pi, kind="stable"),
        transition=C,
        fixation=np.exp(log_rho),
        alpha=alpha,
        m=m,
    )
