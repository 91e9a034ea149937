"""Model-free opponent shaping and the learners it shapes.

* M-FOS (Lu et al., "Model-Free Opponent Shaping", ICML 2022): the meta-game
  against exact naive learners, trained by evolution strategies
  (:func:`make_mfos_es`) or PPO (:func:`make_mfos_rl`), and meta-self-play
  with annealed naive-learner mixing (:func:`make_mfos_selfplay`);
* Shaper (Khan et al., "Scaling Opponent Shaping to High Dimensional Games",
  AAMAS 2024): a recurrent shaper whose memory runs across inner episodes,
  trained by ES against any :class:`~detente.solvers.rl.InnerLearner`
  (:func:`make_shaper`), on sampled iterated games and CoinGame;
* M-FOS in CoinGame (:func:`make_mfos_coin`): the meta-state is a GRU summary
  of the previous inner episode that gates M-FOS's inner policy, trained by ES
  on Shaper's rollout;
* sampled-game inner learners: the policy-gradient naive learner
  (:func:`pg_learner`), fixed strategies (:func:`fixed_learner`), the registry
  :data:`INNER_LEARNERS`, and LOLA-DiCE (:func:`make_lola_dice`; Foerster et
  al., "DiCE", ICML 2018).

Every trainer is a :class:`detente.training.Trainer`; run one with
:func:`detente.training.run_trainer` (progress, checkpoints, resume) or
``detente shape METHOD``.
"""

from detente.solvers.shaping._shaper_rollout import CONTEXTS as SHAPER_CONTEXTS
from detente.solvers.shaping._shaper_rollout import (
    ShaperConfig,
    ShaperEpisode,
    ShaperNetwork,
    init_shaper_params,
    make_shaper_episode,
    opponent_p_cooperate,
)
from detente.solvers.shaping.dice import (
    DiceConfig,
    LolaDiceState,
    dice_objective,
    magic_box,
    make_lola_dice,
)
from detente.solvers.shaping.learners import (
    INNER_LEARNERS,
    PGConfig,
    PGState,
    finite_horizon_values,
    fixed_learner,
    make_inner_learner,
    make_pair_trainer,
    pg_learner,
    play_episodes,
    reinforce_gradient,
)
from detente.solvers.shaping.meta_selfplay import (
    SelfPlayConfig,
    SelfPlayResult,
    SelfPlayState,
    is_symmetric,
    make_mfos_selfplay,
    mixing_weight,
    swap_players,
    train_mfos_selfplay,
)
from detente.solvers.shaping.mfos import (
    MFOS_GAMES,
    MetaEpisode,
    MetaPolicy,
    MFOSConfig,
    MFOSResult,
    MFOSState,
    init_meta_params,
    make_fitness,
    make_meta_episode,
    make_meta_policy,
    make_mfos_es,
    make_population_fitness,
    mfos_game,
    naive_gradient,
    train_mfos_es,
)
from detente.solvers.shaping.mfos_coin import (
    SUMMARIES,
    MFOSCoinCarry,
    MFOSCoinConfig,
    MFOSCoinNetwork,
    make_mfos_coin,
    make_mfos_coin_agent,
    train_mfos_coin,
)
from detente.solvers.shaping.mfos_rl import (
    MFOSRLConfig,
    MFOSRLResult,
    MFOSRLState,
    make_meta_rollout,
    make_mfos_rl,
    train_mfos_rl,
)
from detente.solvers.shaping.shaper import ShaperResult, ShaperState, make_shaper, train_shaper

__all__ = [
    "INNER_LEARNERS",
    "MFOS_GAMES",
    "SHAPER_CONTEXTS",
    "SUMMARIES",
    "DiceConfig",
    "LolaDiceState",
    "MFOSCoinCarry",
    "MFOSCoinConfig",
    "MFOSCoinNetwork",
    "MFOSConfig",
    "MFOSRLConfig",
    "MFOSRLResult",
    "MFOSRLState",
    "MFOSResult",
    "MFOSState",
    "MetaEpisode",
    "MetaPolicy",
    "PGConfig",
    "PGState",
    "SelfPlayConfig",
    "SelfPlayResult",
    "SelfPlayState",
    "ShaperConfig",
    "ShaperEpisode",
    "ShaperNetwork",
    "ShaperResult",
    "ShaperState",
    "dice_objective",
    "finite_horizon_values",
    "fixed_learner",
    "init_meta_params",
    "init_shaper_params",
    "is_symmetric",
    "magic_box",
    "make_fitness",
    "make_inner_learner",
    "make_lola_dice",
    "make_meta_episode",
    "make_meta_policy",
    "make_meta_rollout",
    "make_mfos_coin",
    "make_mfos_coin_agent",
    "make_mfos_es",
    "make_mfos_rl",
    "make_mfos_selfplay",
    "make_pair_trainer",
    "make_population_fitness",
    "make_shaper",
    "make_shaper_episode",
    "mfos_game",
    "mixing_weight",
    "naive_gradient",
    "opponent_p_cooperate",
    "pg_learner",
    "play_episodes",
    "reinforce_gradient",
    "swap_players",
    "train_mfos_coin",
    "train_mfos_es",
    "train_mfos_rl",
    "train_mfos_selfplay",
    "train_shaper",
]
