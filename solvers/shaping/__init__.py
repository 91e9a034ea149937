"""Model-free opponent shaping (issue 4, in progress).

M-FOS (Lu et al., "Model-Free Opponent Shaping", ICML 2022) against the exact
naive learner on iterated games, trained by evolution strategies (evosax).
Shaper, M-FOS-RL and the sampled-game learners are still to come.
"""

from detente.solvers.shaping.mfos import (
    MetaEpisode,
    MetaPolicy,
    MFOSConfig,
    MFOSResult,
    init_meta_params,
    make_fitness,
    make_meta_episode,
    make_meta_policy,
    train_mfos_es,
)

__all__ = [
    "MFOSConfig",
    "MFOSResult",
    "MetaEpisode",
    "MetaPolicy",
    "init_meta_params",
    "make_fitness",
    "make_meta_episode",
    "make_meta_policy",
    "train_mfos_es",
]
