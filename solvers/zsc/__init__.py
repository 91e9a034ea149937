"""Zero-shot coordination: self-play, Other-Play, default budgets and agent files.

* :mod:`~detente.solvers.zsc.selfplay`: IPPO self-play with one policy in both
  seats (MLP or GRU, legal-action masks), vmapped over seeds
  (:func:`train_selfplay`), and :func:`agent_params` to pull out the agents;
* :mod:`~detente.solvers.zsc.other_play`: Other-Play as an environment wrapper
  (:func:`other_play_env`) that relabels each seat by an independent random
  symmetry every episode, trained by the same self-play code
  (:func:`train_other_play`);
* :mod:`~detente.solvers.zsc.configs`: the default budgets per game and method
  (:func:`zsc_config`);
* :mod:`~detente.solvers.zsc.symmetrizer` and
  :mod:`~detente.solvers.zsc.equivariant`: equivariant policies (Muglich et al.
  2022): the symmetrizer :func:`symmetrize` (a policy averaged over a group,
  applicable to trained agents through :func:`symmetrized`) and weight-tied
  equivariant networks (:func:`equivariant_network`), both plain
  :class:`~detente.solvers.rl.policy.NetworkConfig` specs that every trainer,
  cross-play and agent file accept;
* :mod:`~detente.solvers.zsc.ers` and :mod:`~detente.solvers.zsc.ers_maps`:
  expected-return symmetries (Muglich et al. 2025): :func:`discover_ers` learns
  observation/action permutations from a pool of self-play agents and keeps a
  set whose generated group preserves the pool's returns;
  :func:`train_ers_other_play` is Other-Play with them;
* :mod:`~detente.solvers.zsc.nzsc`: noisy zero-shot coordination (Anwar et al.
  2024): self-play / Other-Play across noisy games (:func:`train_nzsc`), the
  common-knowledge baseline, the population-based robust variant
  (:func:`train_nzsc_population`), cross-play against the noise level
  (:func:`evaluate_under_noise`);
* :mod:`~detente.solvers.zsc.population`: a learner trained against a frozen
  population of partners drawn where it scores worst (:class:`PopulationEnv`,
  :func:`train_against_population`);
* :mod:`~detente.solvers.zsc.agents`: agents saved and loaded without pickle
  (:func:`save_agents`, :func:`load_agents`), so a cross-play matrix
  (:func:`detente.analysis.crossplay.crossplay`) can mix runs and methods.

References: Hu et al. 2020, "Other-Play for Zero-Shot Coordination", ICML,
https://arxiv.org/abs/2003.02979; Muglich et al. 2022, "Equivariant Networks for
Zero-Shot Coordination", NeurIPS, https://arxiv.org/abs/2210.12124; Muglich, Forkel, van der Pol and Foerster 2025,
"Expected Return Symmetries", ICLR, https://arxiv.org/abs/2502.01711; de Witt et al. 2020 (IPPO),
https://arxiv.org/abs/2011.09533.
"""

from detente.solvers.zsc.agents import AGENTS_FILE, AgentSet, load_agents, save_agents
from detente.solvers.zsc.configs import ZSC_CONFIGS, zsc_config
from detente.solvers.zsc.equivariant import (
    EquivariantActorCritic,
    EquivariantDense,
    EquivariantNetwork,
    equivariant_network,
    symmetrized,
)
from detente.solvers.zsc.ers import (
    ERSConfig,
    ERSResult,
    discover_ers,
    ers_group,
    load_symmetries,
    save_symmetries,
    train_ers_other_play,
)
from detente.solvers.zsc.ers_maps import (
    SoftMap,
    closure_penalty,
    invertibility_penalty,
    make_ers_objective,
    map_of_symmetry,
    symmetry_of_map,
    word_sampler,
)
from detente.solvers.zsc.nzsc import (
    EVAL_SIGMAS,
    NZSC_CONFIGS,
    NoiseEvaluation,
    common_knowledge_params,
    evaluate_under_noise,
    nzsc_config,
    train_nzsc,
    train_nzsc_population,
)
from detente.solvers.zsc.other_play import (
    OtherPlayEnv,
    OtherPlayParams,
    OtherPlayState,
    other_play_env,
    train_other_play,
)
from detente.solvers.zsc.population import (
    PopulationConfig,
    PopulationEnv,
    partner_weights,
    train_against_population,
)
from detente.solvers.zsc.selfplay import (
    action_probs,
    agent_params,
    check_selfplay_config,
    make_selfplay,
    selfplay_policy,
    train_selfplay,
)
from detente.solvers.zsc.symmetrizer import GroupSpec, group_spec, symmetrize

__all__ = [
    "train_nzsc",
    "train_nzsc_population",
    "PopulationConfig",
    "PopulationEnv",
    "partner_weights",
    "train_against_population",
    "nzsc_config",
    "evaluate_under_noise",
    "common_knowledge_params",
    "NoiseEvaluation",
    "NZSC_CONFIGS",
    "EVAL_SIGMAS",
    "load_symmetries",
    "save_symmetries",
    "ers_group",
    "word_sampler",
    "train_ers_other_play",
    "symmetry_of_map",
    "map_of_symmetry",
    "make_ers_objective",
    "invertibility_penalty",
    "discover_ers",
    "closure_penalty",
    "SoftMap",
    "ERSResult",
    "ERSConfig",
    "symmetrized",
    "symmetrize",
    "group_spec",
    "equivariant_network",
    "GroupSpec",
    "EquivariantNetwork",
    "EquivariantDense",
    "EquivariantActorCritic",
    "AGENTS_FILE",
    "ZSC_CONFIGS",
    "AgentSet",
    "OtherPlayEnv",
    "OtherPlayParams",
    "OtherPlayState",
    "action_probs",
    "agent_params",
    "check_selfplay_config",
    "load_agents",
    "make_selfplay",
    "other_play_env",
    "save_agents",
    "selfplay_policy",
    "train_other_play",
    "train_selfplay",
    "zsc_config",
]
