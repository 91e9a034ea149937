"""PPO / IPPO pieces shared by every reinforcement-learning trainer in detente.

* :mod:`~detente.solvers.rl.distributions`: :class:`Categorical` (with action
  masks) and diagonal :class:`Gaussian`;
* :mod:`~detente.solvers.rl.networks`: :class:`ActorCritic` (MLP) and
  :class:`RecurrentActorCritic` (GRU with episode resets), flax.linen;
* :mod:`~detente.solvers.rl.policy`: :func:`make_policy`, one sequence
  interface over both networks;
* :mod:`~detente.solvers.rl.ppo`: :func:`gae`, :func:`ppo_loss`,
  :func:`ppo_update` (the contract every PPO trainer codes against), and
  :func:`ppo_learn` that joins them for a policy;
* :mod:`~detente.solvers.rl.ippo`: independent PPO as a
  :class:`~detente.training.Trainer` (:func:`make_ippo`, :func:`train_ippo`);
* :mod:`~detente.solvers.rl.learner`: :func:`make_ppo_learner`, a PPO
  :class:`InnerLearner` for the shapers (M-FOS, Shaper).

References: Schulman et al. 2016 (GAE), https://arxiv.org/abs/1506.02438;
Schulman et al. 2017 (PPO), https://arxiv.org/abs/1707.06347; de Witt et al.
2020 (IPPO), https://arxiv.org/abs/2011.09533.
"""

from detente.solvers.rl.distributions import Categorical, Gaussian
from detente.solvers.rl.ippo import IPPOConfig, IPPOState, make_ippo, train_ippo
from detente.solvers.rl.learner import PPOLearnerState, make_ppo_learner
from detente.solvers.rl.networks import ActorCritic, RecurrentActorCritic
from detente.solvers.rl.policy import (
    MaskedCategorical,
    NetworkConfig,
    Policy,
    make_policy,
    mask_policy,
    policy_step,
)
from detente.solvers.rl.ppo import (
    PPOBatch,
    PPOConfig,
    PPOLossInfo,
    PPOUpdateInfo,
    gae,
    make_optimizer,
    make_ppo_batch,
    make_ppo_loss,
    ppo_learn,
    ppo_loss,
    ppo_update,
)
from detente.solvers.rl.types import InnerLearner, Transition

__all__ = [
    "ActorCritic",
    "Categorical",
    "Gaussian",
    "IPPOConfig",
    "IPPOState",
    "InnerLearner",
    "MaskedCategorical",
    "NetworkConfig",
    "PPOBatch",
    "PPOConfig",
    "PPOLearnerState",
    "PPOLossInfo",
    "PPOUpdateInfo",
    "Policy",
    "RecurrentActorCritic",
    "Transition",
    "gae",
    "make_ippo",
    "make_optimizer",
    "make_policy",
    "make_ppo_batch",
    "make_ppo_learner",
    "make_ppo_loss",
    "mask_policy",
    "policy_step",
    "ppo_learn",
    "ppo_loss",
    "ppo_update",
    "train_ippo",
]
