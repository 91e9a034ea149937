"""M-FOS-RL: model-free opponent shaping with a meta-policy trained by PPO.

Lu, Willi, de Witt and Foerster 2022, "Model-Free Opponent Shaping", ICML,
https://arxiv.org/abs/2205.01447 (Sec. 4 and 5; the authors'
``main_mfos_ppo.py``), the paper's main variant.

The meta-game is that of :mod:`detente.solvers.shaping.mfos`: one meta-step
is one inner episode of an exact differentiable game against a naive learner
that takes one exact gradient step after each inner episode; a meta-episode
is ``T`` inner episodes against one fresh naive learner
(``theta_2^0 ~ N(0, I)``). Here the meta-policy is stochastic and trained by
PPO (Schulman et al. 2017, https://arxiv.org/abs/1707.06347): an MLP
actor-critic (:func:`detente.solvers.rl.policy.make_policy`) reads the
meta-state ``s_t`` (:class:`~detente.solvers.shaping.mfos.MFOSConfig`'s
``meta_state``: ``(sigmoid(theta_1^{t-1}), sigmoid(theta_2^t))``) and draws
the next inner policy's logits ``theta_1^t ~ N(mu_phi(s_t), diag(sigma^2))``
(a diagonal Gaussian with a learnable state-independent ``log sigma``); the
meta-reward is M-FOS's per-step reward in that inner episode. Every update
collects ``E`` meta-episodes in parallel (vmapped, sharded over devices with
:func:`detente.batching.map_blocks_sharded`), then takes one PPO update
(:func:`detente.solvers.rl.ppo.ppo_learn`: GAE, the clipped loss,
``epochs x minibatches`` Adam steps), the pieces every PPO trainer in
detente shares.

Differences from the authors' code: their actor has one hidden layer of 256
units and a state-dependent softplus variance, and standardises the
Monte-Carlo returns of each batch, one full-batch Adam step per epoch, with
4096 parallel meta-episodes and 1024 updates. Here: the shared actor-critic
(two hidden layers of 64, a state-independent ``log sigma``), Monte-Carlo
returns too (GAE with ``lambda = 1``; with 0.95 the policy stalled), rewards
scaled by :attr:`MFOSRLConfig.reward_scale`, 4 epochs of 4 minibatches, 256
meta-episodes. Measured on the IPD: 500 updates reach ZD extortion (M-FOS
-0.50, the naive learner -2.08 per step, seed 0); 80 updates of 64
meta-episodes (step size 6e-3) give M-FOS -0.86 / -0.83 / -0.84 against the
learner's -1.36 / -1.44 / -1.46 (seeds 0, 1, 2).

Example:
    >>> from detente.solvers.shaping.mfos import mfos_game
    >>> res = train_mfos_rl(jax.random.PRNGKey(0), mfos_game("ipd"), MFOSRLConfig(updates=10))
    >>> res.evaluation["mean_reward"].shape
    (2,)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.batching import blocks_per_device, map_blocks_sharded
from detente.games.differentiable import DifferentiableGame
from detente.solvers.rl.policy import NetworkConfig, Policy, make_policy
from detente.solvers.rl.ppo import PPOConfig, make_optimizer, ppo_learn
from detente.solvers.rl.types import Transition
from detente.solvers.shaping.mfos import (
    META_STATES,
    naive_gradient,
    nan_generation,
    raw_key,
    run_steps,
    unlabelled,
)
from detente.training import Trainer

__all__ = [
    "MFOSRLConfig",
    "MFOSRLResult",
    "MFOSRLState",
    "MetaRollout",
    "make_meta_rollout",
    "make_mfos_rl",
    "meta_policy",
    "train_mfos_rl",
]

_EVAL_TAG = 0x3F0E


@dataclasses.dataclass(frozen=True)
class MFOSRLConfig:
    """Static configuration of M-FOS-RL (hashable).

    Attributes:
        inner_episodes: ``T``, inner episodes (meta-steps) per meta-episode.
        num_envs: ``E``, meta-episodes (naive learners) per PPO update.
        updates: PPO updates of a run (``Trainer.num_steps``).
        ppo: PPO hyperparameters; ``E * T`` must be a multiple of
            ``ppo.minibatches``.
        network: the actor-critic; must be an MLP with ``continuous=True``.
        reward_scale: PPO learns from ``reward_scale`` times M-FOS's per-step
            reward. About ``1 - ppo.gamma`` keeps the meta-returns of order 1;
            unscaled, the value loss (returns of order 100) swamps the policy
            gradient under PPO's global-norm clipping and the policy stalls
            (the authors standardise the returns per batch instead). Metrics
            and evaluations are in unscaled rewards.
        opponent_lr: the naive learner's step size (paper: 1).
        opponent_init_std: ``theta_2^0 ~ N(0, opponent_init_std^2 I)``.
        meta_state: ``"both"`` or ``"opponent"`` (as in M-FOS-ES).
        eval_opponents: naive learners of ``Trainer.evaluate``.
        env_block: meta-episodes per compiled block of
            :func:`~detente.batching.map_blocks_sharded` (``None``: ``E``
            over the number of devices).
    """

    inner_episodes: int = 100
    num_envs: int = 256
    updates: int = 200
    ppo: PPOConfig = PPOConfig(lr=1e-3, gamma=0.99, gae_lambda=1.0, ent_coef=0.0)
    network: NetworkConfig = NetworkConfig(hidden_sizes=(64, 64), continuous=True)
    reward_scale: float = 0.01
    opponent_lr: float = 1.0
    opponent_init_std: float = 1.0
    meta_state: str = "both"
    eval_opponents: int = 256
    env_block: int | None = None

    def __post_init__(self):
        check_finite("reward_scale", self.reward_scale, low=0.0, low_inclusive=False)
        for f in ("inner_episodes", "num_envs", "updates", "eval_opponents"):
            check_positive_int(f, getattr(self, f))
        if self.env_block is not None:
            check_positive_int("env_block", self.env_block)
        if not isinstance(self.ppo, PPOConfig):
            raise bad_value("ppo", self.ppo, "a PPOConfig")
        if not isinstance(self.network, NetworkConfig):
            raise bad_value("network", self.network, "a NetworkConfig")
        if not self.network.continuous or self.network.recurrent:
            raise bad_value(
                "network", self.network, "an MLP with continuous=True (Gaussian logits)"
            )
        if (self.num_envs * self.inner_episodes) % self.ppo.minibatches:
            raise bad_value(
                "ppo.minibatches",
                self.ppo.minibatches,
                f"a divisor of num_envs * inner_episodes = {self.num_envs * self.inner_episodes}",
            )
        check_finite("opponent_lr", self.opponent_lr, low=0.0)
        check_finite("opponent_init_std", self.opponent_init_std, low=0.0)
        check_choice("meta_state", self.meta_state, META_STATES)


class MetaRollout(NamedTuple):
    """``E`` meta-episodes of the stochastic meta-policy (time-major inside).

    Attributes:
        transitions: :class:`~detente.solvers.rl.types.Transition` ``[E, T]``
            of the meta-agent (obs ``[E, T, S]``, action ``[E, T, d_1]``).
        rewards: ``[E, T, 2]`` per-step rewards of (M-FOS, naive learner).
        opponent_final: ``[E, d_2]`` the naive learners' logits after the last
            update.
    """

    transitions: Transition
    rewards: chex.Array  # [E, T, 2]
    opponent_final: chex.Array  # [E, d_2]


class MFOSRLState(NamedTuple):
    """The trainer state of :func:`make_mfos_rl`.

    Attributes:
        params: the actor-critic's flax parameters.
        opt_state: the optimiser's state.
        update: ``[]`` int32, updates done.
        key: ``[2]`` uint32, the run's PRNG key.
    """

    params: Any
    opt_state: Any
    update: chex.Array  # []
    key: chex.Array  # [2]


class MFOSRLResult(NamedTuple):
    """Result of :func:`train_mfos_rl`.

    Attributes:
        params: the final actor-critic parameters.
        metrics: ``{name: [U]}`` numpy arrays, the metrics of every update.
        evaluation: ``Trainer.evaluate`` of the final state.
        state: the final :class:`MFOSRLState`.
    """

    params: Any
    metrics: dict
    evaluation: dict
    state: MFOSRLState


def _check_game(game) -> None:
    if not isinstance(game, DifferentiableGame) or game.num_players != 2:
        raise bad_value("game", getattr(game, "name", game), "a two-player DifferentiableGame")


def meta_policy(game: DifferentiableGame, config: MFOSRLConfig) -> Policy:
    """The actor-critic: meta-state ``[S]`` -> Gaussian over ``d_1`` logits, value."""
    _check_game(game)
    d1, d2 = game.dims
    size = d1 + d2 if config.meta_state == "both" else d2
    return make_policy((size,), d1, config.network)


def make_meta_rollout(game: DifferentiableGame, config: MFOSRLConfig):
    """Build ``rollout(params, keys [B, 2], noise=1.0) -> MetaRollout`` of ``B`` meta-episodes.

    Key ``b`` draws naive learner ``b``'s initial logits and the meta-agent's
    actions in meta-episode ``b``: ``theta_1^t = mu + noise * sigma * eps``,
    ``eps ~ N(0, I)``; ``noise = 0`` plays the Gaussian's mean (``log_prob`` is
    then that of the mean). ``noise`` may be traced (one compiled program
    evaluates both).
    """
    policy = meta_policy(game, config)
    d1, d2 = game.dims
    values = jax.vmap(lambda t1, t2: game.step_scale * game.values((t1, t2)))
    naive = jax.vmap(lambda t1, t2: naive_gradient(game, (t1, t2), 1))

    def rollout(params, keys, noise=1.0) -> MetaRollout:
        b = keys.shape[0]
        split = jax.vmap(lambda k: jax.random.split(k, config.inner_episodes + 1))(keys)
        theta_2 = config.opponent_init_std * jax.vmap(lambda k: jax.random.normal(k, (d2,)))(
            split[:, 0]
        )
        theta_1 = jnp.zeros((b, d1), theta_2.dtype)
        carry0 = policy.initial_carry((b,))
        reset = jnp.zeros((1, b), bool)

        def body(carry, k):  # k: [B, 2], one key per meta-episode
            theta_1_prev, theta_2 = carry
            pi_2 = jax.nn.sigmoid(theta_2)
            if config.meta_state == "both":
                obs = jnp.concatenate([jax.nn.sigmoid(theta_1_prev), pi_2], axis=-1)
            else:
                obs = pi_2
            _, pi, value = policy.apply(params, carry0, obs[None], reset)
            pi = jax.tree_util.tree_map(lambda x: x[0], pi)  # [B, d_1]
            eps = jax.vmap(lambda kk: jax.random.normal(kk, (d1,), pi.mean.dtype))(k)
            action = pi.mean + noise * jnp.exp(pi.log_std) * eps
            r = values(action, theta_2)  # [B, 2]
            theta_2_next = theta_2 + config.opponent_lr * naive(action, theta_2)
            out = (obs, action, r, pi.log_prob(action), value[0])
            return (action, theta_2_next), out

        (_, theta_2_end), (obs, action, r, logp, value) = jax.lax.scan(
            body, (theta_1, theta_2), jnp.swapaxes(split[:, 1:], 0, 1)
        )
        em = lambda x: jnp.swapaxes(x, 0, 1)  # [T, B, ...] -> [B, T, ...]
        done = jnp.zeros((b, config.inner_episodes), bool).at[:, -1].set(True)
        trans = Transition(
            obs=em(obs),
            action=em(action),
            reward=em(r[..., 0]),
            done=done,
            log_prob=em(logp),
            value=em(value),
        )
        return MetaRollout(transitions=trans, rewards=em(r), opponent_final=theta_2_end)

    return rollout


def make_mfos_rl(game: DifferentiableGame, config: MFOSRLConfig) -> Trainer:
    """M-FOS-RL against exact naive learners as a :class:`~detente.training.Trainer`.

    Args:
        game: a two-player differentiable game, M-FOS is player 1
            (the paper's: :func:`~detente.solvers.shaping.mfos.mfos_game`).
        config: static configuration.

    Returns:
        ``Trainer(init, step, evaluate, num_steps=config.updates)``:

        * ``step``: ``E`` meta-episodes, then one PPO update; metrics
          ``fitness`` and ``reward_0`` (M-FOS's per-step reward in them),
          ``reward_1`` (the naive learners'), ``loss``, ``value_loss``,
          ``entropy``, ``approx_kl``, ``log_std`` (mean of the Gaussian's);
        * ``evaluate``: ``config.eval_opponents`` fresh naive learners
          against the *mean* action (``"mean_reward"`` ``[2]``, ``"rewards"``
          ``[T, 2]``, ``"p_cooperate"`` ``[d_2]`` the naive learners' final
          inner policy, ``"agent_p_cooperate"`` ``[d_1]`` M-FOS's last one)
          and against sampled actions (``"sampled_mean_reward"`` ``[2]``).
    """
    _check_game(game)
    policy = meta_policy(game, config)
    optimizer = make_optimizer(config.ppo, config.updates)
    rollout = make_meta_rollout(game, config)
    E = config.num_envs
    block = config.env_block or -(-E // len(jax.devices()))
    count = blocks_per_device(E, block)

    def sharded(fn, params, keys):  # the meta-episodes split over devices, in blocks
        return map_blocks_sharded(lambda kb, p: fn(p, kb), keys, block, count, params)

    def init(key: chex.PRNGKey) -> MFOSRLState:
        k_init, k_run = jax.random.split(raw_key(key))
        params = policy.init(k_init)
        return MFOSRLState(
            params=params,
            opt_state=optimizer.init(params),
            update=jnp.zeros((), jnp.int32),
            key=k_run,
        )

    def step(state: MFOSRLState):
        key, k_roll, k_learn = jax.random.split(state.key, 3)
        out = sharded(rollout, state.params, jax.random.split(k_roll, E))
        last_value = jnp.zeros((E,), out.transitions.reward.dtype)  # every episode is done
        trans = out.transitions._replace(reward=config.reward_scale * out.transitions.reward)
        params, opt_state, info = ppo_learn(
            policy, config.ppo, optimizer, state.params, state.opt_state, trans, last_value, k_learn
        )
        r = out.rewards.mean(axis=(0, 1))  # [2]
        metrics = {
            "fitness": r[0],
            "reward_0": r[0],
            "reward_1": r[1],
            "loss": info.loss,
            "value_loss": info.aux.value_loss,
            "entropy": info.aux.entropy,
            "approx_kl": info.aux.approx_kl,
            "log_std": jnp.mean(params["params"]["heads"]["log_std"]),
        }
        new = MFOSRLState(params=params, opt_state=opt_state, update=state.update + 1, key=key)
        return new, metrics

    def evaluate(state: MFOSRLState) -> dict:
        m = config.eval_opponents
        keys = jax.random.split(jax.random.fold_in(state.key, _EVAL_TAG), 2 * m).reshape(2, m, -1)
        noise = jnp.asarray([0.0, 1.0])  # the Gaussian's mean, then sampled logits
        out = jax.vmap(rollout, in_axes=(None, 0, 0))(state.params, keys, noise)
        rewards = out.rewards[0].mean(axis=0)  # [T, 2]
        return {
            "mean_reward": rewards.mean(axis=0),
            "rewards": rewards,
            "p_cooperate": jax.nn.sigmoid(out.opponent_final[0]).mean(axis=0),
            "agent_p_cooperate": jax.nn.sigmoid(out.transitions.action[0, :, -1]).mean(axis=0),
            "sampled_mean_reward": out.rewards[1].mean(axis=(0, 1)),
        }

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=config.updates)


@functools.partial(jax.jit, static_argnames=("config",))
def _train(key, game, config):
    trainer = make_mfos_rl(game, config)
    state, metrics = run_steps(trainer, trainer.init(key), config.updates)
    return state, metrics, trainer.evaluate(state)


def train_mfos_rl(
    key: chex.PRNGKey, game: DifferentiableGame, config: MFOSRLConfig
) -> MFOSRLResult:
    """Train M-FOS-RL (``config.updates`` PPO updates in one compiled scan), then evaluate.

    Raises:
        ValueError: for a bad game, or if a metric is NaN (naming the first
            such update).
    """
    _check_game(game)
    state, metrics, evaluation = _train(raw_key(key), unlabelled(game), config)
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    u = nan_generation(metrics, ("fitness", "loss"))
    if u is not None:
        raise ValueError(
            f"a metric is NaN at update {u} of {config.updates}: reduce ppo.lr={config.ppo.lr}"
        )
    return MFOSRLResult(params=state.params, metrics=metrics, evaluation=evaluation, state=state)
