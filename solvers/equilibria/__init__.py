"""Equilibria of normal-form games and learning in games.

* all Nash equilibria of two-player games by vertex enumeration
  (:mod:`~detente.solvers.equilibria.enumeration`), one by Lemke-Howson
  (:mod:`~detente.solvers.equilibria.lemke_howson`);
* linear programs: zero-sum games, correlated and coarse correlated
  equilibria (:mod:`~detente.solvers.equilibria.lp`);
* pure equilibria and iterated elimination of dominated strategies
  (:mod:`~detente.solvers.equilibria.pure`);
* population dynamics (replicator and friends,
  :mod:`~detente.solvers.equilibria.replicator`), fictitious play, regret
  matching and logit QRE (:mod:`~detente.solvers.equilibria.learning`);
* the metrics of a profile: best responses, NashConv, exploitability,
  welfare, prices of anarchy and stability
  (:mod:`~detente.solvers.equilibria.metrics`).
"""

from detente.solvers.equilibria.enumeration import (
    EquilibriumSet,
    make_enumerate_equilibria,
    nash_equilibria,
    nash_equilibria_batch,
)
from detente.solvers.equilibria.learning import (
    ConditionalRegretMatchingResult,
    FictitiousPlayResult,
    QREResult,
    RegretMatchingResult,
    conditional_regret_matching,
    fictitious_play,
    logit_qre,
    logit_response,
    regret_matching,
)
from detente.solvers.equilibria.lemke_howson import LemkeHowsonResult, lemke_howson
from detente.solvers.equilibria.lp import (
    CorrelatedSolution,
    ZeroSumSolution,
    coarse_correlated_equilibrium,
    correlated_equilibrium,
    solve_zero_sum,
)
from detente.solvers.equilibria.metrics import (
    BestResponses,
    best_response_values,
    best_responses,
    coarse_correlated_gap,
    correlated_gap,
    deviation_payoffs,
    expected_payoffs,
    exploitability,
    nash_conv,
    price_of_anarchy,
    price_of_stability,
    social_welfare,
)
from detente.solvers.equilibria.pure import (
    Elimination,
    iterated_elimination,
    pure_equilibria,
    pure_equilibrium_mask,
)
from detente.solvers.equilibria.replicator import (
    PopulationTrajectory,
    boltzmannq,
    integrate,
    logit_dynamics,
    multi_population_field,
    qpg,
    replicator,
    single_population_field,
)

__all__ = [
    "BestResponses",
    "ConditionalRegretMatchingResult",
    "CorrelatedSolution",
    "Elimination",
    "EquilibriumSet",
    "FictitiousPlayResult",
    "LemkeHowsonResult",
    "PopulationTrajectory",
    "QREResult",
    "RegretMatchingResult",
    "ZeroSumSolution",
    "best_response_values",
    "best_responses",
    "boltzmannq",
    "coarse_correlated_equilibrium",
    "coarse_correlated_gap",
    "conditional_regret_matching",
    "correlated_equilibrium",
    "correlated_gap",
    "deviation_payoffs",
    "expected_payoffs",
    "exploitability",
    "fictitious_play",
    "integrate",
    "iterated_elimination",
    "lemke_howson",
    "logit_dynamics",
    "logit_qre",
    "logit_response",
    "make_enumerate_equilibria",
    "multi_population_field",
    "nash_conv",
    "nash_equilibria",
    "nash_equilibria_batch",
    "price_of_anarchy",
    "price_of_stability",
    "pure_equilibria",
    "pure_equilibrium_mask",
    "qpg",
    "regret_matching",
    "replicator",
    "single_population_field",
    "social_welfare",
    "solve_zero_sum",
]
