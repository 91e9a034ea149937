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
* :mod:`~detente.solvers.zsc.agents`: agents saved and loaded without pickle
  (:func:`save_agents`, :func:`load_agents`), so a cross-play matrix
  (:func:`detente.analysis.crossplay.crossplay`) can mix runs and methods.

References: Hu et al. 2020, "Other-Play for Zero-Shot Coordination", ICML,
https://arxiv.org/abs/2003.02979; de Witt et al. 2020 (IPPO),
https://arxiv.org/abs/2011.09533.
"""

from detente.solvers.zsc.agents import AGENTS_FILE, AgentSet, load_agents, save_agents
from detente.solvers.zsc.configs import ZSC_CONFIGS, zsc_config
from detente.solvers.zsc.other_play import (
    OtherPlayEnv,
    OtherPlayParams,
    OtherPlayState,
    other_play_env,
    train_other_play,
)
from detente.solvers.zsc.selfplay import (
    action_probs,
    agent_params,
    check_selfplay_config,
    make_selfplay,
    selfplay_policy,
    train_selfplay,
)

__all__ = [
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
