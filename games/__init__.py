"""Games as data plus pure functions.

Normal-form games (:class:`NormalFormGame`, the zoo, Gambit ``.nfg`` files,
the OpenSpiel bridge), differentiable games (one-shot, iterated memory-1
with exact values, and the polynomial games of the SOS and COLA papers), and
environments in the functional API of :mod:`detente.env` (the sampled
iterated matrix game :class:`IteratedMatrixGame` and :class:`CoinGame`).
"""

from detente.games.coin_game import CoinGame, CoinGameParams, CoinGameState
from detente.games.differentiable import (
    DIFFERENTIABLE_GAMES,
    STATE_NAMES,
    DifferentiableGame,
    balduzzi,
    hamiltonian,
    iterated,
    make_differentiable,
    one_shot,
    solve_diagonally_dominant,
    state_distribution,
    tandem,
    ultimatum,
)
from detente.games.gambit import read_nfg, write_nfg
from detente.games.iterated_env import (
    FIXED_STRATEGIES,
    IteratedMatrixGame,
    IteratedParams,
    IteratedState,
    fixed_strategy,
    memory_one_action,
)
from detente.games.normal_form import NormalFormGame
from detente.games.openspiel import from_openspiel, to_openspiel
from detente.games.zoo import (
    NORMAL_FORM_GAMES,
    battle_of_the_sexes,
    biased_rock_paper_scissors,
    chicken,
    make_normal_form,
    matching_pennies,
    prisoners_dilemma,
    pure_coordination,
    rock_paper_scissors,
    stag_hunt,
)

__all__ = [
    "CoinGame",
    "CoinGameParams",
    "CoinGameState",
    "DIFFERENTIABLE_GAMES",
    "FIXED_STRATEGIES",
    "IteratedMatrixGame",
    "IteratedParams",
    "IteratedState",
    "NORMAL_FORM_GAMES",
    "STATE_NAMES",
    "DifferentiableGame",
    "NormalFormGame",
    "balduzzi",
    "battle_of_the_sexes",
    "biased_rock_paper_scissors",
    "chicken",
    "fixed_strategy",
    "from_openspiel",
    "hamiltonian",
    "iterated",
    "make_differentiable",
    "make_normal_form",
    "matching_pennies",
    "memory_one_action",
    "one_shot",
    "prisoners_dilemma",
    "pure_coordination",
    "read_nfg",
    "rock_paper_scissors",
    "solve_diagonally_dominant",
    "stag_hunt",
    "state_distribution",
    "tandem",
    "to_openspiel",
    "ultimatum",
    "write_nfg",
]
