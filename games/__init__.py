"""Games as data plus pure functions.

Normal-form games (:class:`NormalFormGame`, the zoo, Gambit ``.nfg`` files,
the OpenSpiel bridge), differentiable games (one-shot, iterated memory-1
with exact values, and the polynomial games of the SOS and COLA papers), and
environments in the functional API of :mod:`detente.env` (the sampled
iterated matrix game :class:`IteratedMatrixGame`, :class:`CoinGame`, the
Other-Play lever games :class:`LeverGame` and :class:`IteratedLeverGame`,
and two-player Hanabi through JaxMARL, :class:`HanabiGame`, imported lazily),
and Dec-POMDP symmetries as data (:class:`Symmetry`, :mod:`detente.games.symmetry`),
and the noisy meta-Dec-POMDP of noisy zero-shot coordination around any game with
pytree params (:class:`NoisyGame`, :func:`noisy_lever_game`).
"""

from detente.games.coin_game import CoinGame, CoinGameParams, CoinGameState
from detente.games.coordination import (
    OTHER_PLAY_PAYOFFS,
    IteratedLeverGame,
    LeverGame,
    LeverParams,
    LeverState,
    cyclic_subgroup,
    dihedral_subgroup,
    full_symmetry_group,
    lever_value,
    other_play_value,
    random_lever_permutation,
    random_symmetry,
    reference_values,
)
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
from detente.games.noisy import (
    LeverOracle,
    NoisyGame,
    NoisyParams,
    NoisyState,
    gaussian_noise,
    gaussian_prior,
    lever_oracle_value,
    noisy_lever_game,
)
from detente.games.normal_form import NormalFormGame
from detente.games.openspiel import from_openspiel, to_openspiel
from detente.games.symmetry import (
    SUBGROUPS,
    Symmetry,
    SymmetryCheck,
    apply_action,
    apply_logits,
    apply_mask,
    apply_obs,
    check_symmetry,
    compose,
    generated_group,
    group_element,
    group_size,
    identity_symmetry,
    inverse,
    is_group,
    sample_symmetry,
    stack_symmetries,
    symmetry_subgroup,
    symmetry_violations,
    trivial_group,
)
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
    "noisy_lever_game",
    "lever_oracle_value",
    "gaussian_prior",
    "gaussian_noise",
    "NoisyState",
    "NoisyParams",
    "NoisyGame",
    "LeverOracle",
    "CoinGame",
    "CoinGameParams",
    "CoinGameState",
    "DIFFERENTIABLE_GAMES",
    "DifferentiableGame",
    "FIXED_STRATEGIES",
    "HanabiGame",
    "IteratedLeverGame",
    "IteratedMatrixGame",
    "IteratedParams",
    "IteratedState",
    "LeverGame",
    "LeverParams",
    "LeverState",
    "NORMAL_FORM_GAMES",
    "NormalFormGame",
    "OTHER_PLAY_PAYOFFS",
    "STATE_NAMES",
    "Symmetry",
    "SymmetryCheck",
    "apply_action",
    "apply_logits",
    "apply_mask",
    "apply_obs",
    "balduzzi",
    "battle_of_the_sexes",
    "biased_rock_paper_scissors",
    "SUBGROUPS",
    "check_symmetry",
    "chicken",
    "compose",
    "cyclic_subgroup",
    "fixed_strategy",
    "from_openspiel",
    "dihedral_subgroup",
    "full_symmetry_group",
    "generated_group",
    "group_element",
    "group_size",
    "hamiltonian",
    "identity_symmetry",
    "inverse",
    "is_group",
    "iterated",
    "lever_value",
    "make_differentiable",
    "make_normal_form",
    "matching_pennies",
    "memory_one_action",
    "one_shot",
    "other_play_value",
    "prisoners_dilemma",
    "pure_coordination",
    "random_lever_permutation",
    "random_symmetry",
    "read_nfg",
    "reference_values",
    "rock_paper_scissors",
    "sample_symmetry",
    "solve_diagonally_dominant",
    "stack_symmetries",
    "stag_hunt",
    "state_distribution",
    "symmetry_subgroup",
    "symmetry_violations",
    "trivial_group",
    "tandem",
    "to_openspiel",
    "ultimatum",
    "write_nfg",
]


def __getattr__(name):  # the JaxMARL import is heavy: only on first use
    if name == "HanabiGame":
        from detente.games.hanabi import HanabiGame

        return HanabiGame
    raise AttributeError(f"module 'detente.games' has no attribute {name!r}")
