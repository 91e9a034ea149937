"""LOLA-DiCE on the sampled iterated 2x2 games.

Foerster, Farquhar, Al-Shedivat, Rocktaeschel, Xing and Whiteson 2018,
"DiCE: The Infinitely Differentiable Monte-Carlo Estimator", ICML,
https://arxiv.org/abs/1802.05098 (Sec. 3 and 5.2), applied to LOLA
(Foerster et al. 2018, https://arxiv.org/abs/1709.04326).

**DiCE.** For a batch of episodes of both agents' memory-one logit policies
(:func:`sample_episodes`), agent ``i``'s DiCE
objective is

    ``L_i = mean_e sum_t  box(tau_t) gamma^t r^i_t``
    ``      + mean_e sum_t (1 - box(w_t)) gamma^t b_i(s^i_t)``    (baseline)

with ``box(x) = exp(x - stop_gradient(x))`` (the MagicBox: 1 in value, its
derivatives reproduce the score-function terms to every order),
``w_t = log pi_1(a^1_t | s^1_t) + log pi_2(a^2_t | s^2_t)`` the log-probability
of step ``t``'s stochastic nodes and ``tau_t = sum_{k <= t} w_k`` that of every
node ``r_t`` depends on. Every derivative of ``L_i``, of any order in
``(theta_1, theta_2)``, is an unbiased estimate of the same derivative of the
finite-horizon value ``V_i = E[sum_t gamma^t r^i_t]``.

Variance reduction (``DiceConfig.baseline``), both unbiased at every order:

* ``"value"``: the DiCE paper's baseline term (written above) with ``b_i`` a tabular
  value per own-view memory-one state fitted to the discounted return-to-go.
  It reduces the variance of the first derivative only (Farquhar et al. 2019,
  "Loaded DiCE", https://arxiv.org/abs/1909.10549).
* ``"mean"`` (default): each ``gamma^t r_t`` minus the mean of the other
  episodes' at the same ``t``, as the authors' released code does (it
  subtracts the plain batch mean). A constant times ``box(tau_t)`` has zero
  expectation at every order, and this one also cuts the variance of the
  second-order (LOLA) terms. On the IPD at the default settings (8 seeds,
  200 updates) LOLA-DiCE ends at -1.11 per step with it, -1.64 with
  ``"value"`` and -1.90 with none; naive learners end at -2.00.

**LOLA-DiCE.** Agent ``i`` looks ahead ``n`` steps of the other agent ``j``'s
DiCE gradient ascent,

    ``theta_j^{k+1} = theta_j^k + lr_in grad_j L_j(theta_i, theta_j^k; D_k)``,

each on fresh rollouts ``D_k`` of ``(theta_i, theta_j^k)``, and differentiates
its own DiCE objective on fresh rollouts of ``(theta_i, theta_j^n)`` through
those steps: ``g_i = grad_{theta_i} L_i(theta_i, theta_j^n(theta_i))``; it
then takes an outer step with ``lr_out``. Both agents do so at once
(:func:`make_lola_dice`), or agent 2 is a naive learner (no look-ahead).

Settings. The defaults follow the DiCE paper's IPD experiment and its public
code: LOLA's payoffs (CC -1, CD -3, DC 0, DD -2), gamma 0.96, episodes of 150
steps, ``lr_in = 0.3``, ``lr_out = 0.2``, 200 updates, plain gradient steps
(the authors' TensorFlow release uses SGD for both loops; a popular PyTorch
reproduction uses Adam for the outer one, ``optimizer="adam"``). The batch
size is 128 (the PyTorch reproduction's; the authors' release script
defaults to 512 and its stored IPD results use 64). One look-ahead step by
default (the paper varies 0 to 3; the authors' script uses 2).
Both agents start at ``theta = 0`` (cooperate with probability 1/2
everywhere), as the PyTorch reproduction does; ``init_std`` draws
``theta ~ N(0, init_std^2)`` instead (LOLA's exact experiments use 1: at the
default budget it ends at -1.12, 8 seeds, but with short episodes of 40 steps
some seeds then fall to mutual defection, which none does from 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.games.differentiable import iterated
from detente.games.iterated_env import IteratedMatrixGame, IteratedParams
from detente.games.normal_form import NormalFormGame
from detente.solvers.rl.types import Transition
from detente.solvers.shaping.learners import (
    NUM_STATES,
    OPTIMIZERS,
    discount_weights,
    make_optimizer,
    memory_one_log_prob,
    reward_to_go,
)
from detente.training import Trainer

OPPONENTS = ("lola", "pg")
BASELINES = ("none", "mean", "value")


def magic_box(x: chex.Array) -> chex.Array:
    """DiCE's MagicBox ``exp(x - stop_gradient(x))``: 1 in value, ``d box(x) = box(x) dx``."""
    return jnp.exp(x - jax.lax.stop_gradient(x))


def dice_objective(
    thetas: tuple[chex.Array, chex.Array],
    transitions: Transition,
    agent: int,
    gamma: float | chex.Array,
    value: chex.Array | None = None,
    mean_baseline: bool = False,
) -> chex.Array:
    """Agent ``agent``'s DiCE objective on a batch of episodes (to be maximised).

    Args:
        thetas: ``(theta_1 [5], theta_2 [5])`` both agents' logits; the
            objective is differentiable to any order in both.
        transitions: both seats' experience, leading axes ``[2, E, T]`` (as
            :func:`~detente.solvers.shaping.learners.play_episodes` returns);
            each row is one episode from its first step.
        agent: 0 or 1, whose rewards are summed (an int or a traced int).
        gamma: discount.
        value: optional ``[5]`` baseline ``b(s)`` per own-view state of
            ``agent`` (treated as a constant).
        mean_baseline: subtract from each discounted reward ``gamma^t r_t``
            the mean of the other episodes' at the same ``t`` (leave-one-out,
            independent of the episode, so unbiased at every order; the
            authors' code subtracts the plain batch mean).

    Returns:
        ``[]`` ``mean_e sum_t box(tau_t) gamma^t r_t`` plus the baseline term.
    """
    if isinstance(agent, int):
        check_choice("agent", agent, (0, 1))
    chex.assert_rank(transitions.reward, 3)
    lp = jnp.stack(
        [memory_one_log_prob(thetas[k], transitions.obs[k], transitions.action[k]) for k in (0, 1)]
    )  # [2, E, T]
    w = lp.sum(0)  # [E, T] log-prob of each step's stochastic nodes
    tau = jnp.cumsum(w, axis=-1)  # [E, T] every node r_t depends on
    disc = discount_weights(transitions.done[agent], gamma)  # [E, T]
    reward = disc * transitions.reward[agent]  # [E, T]
    num_episodes = reward.shape[0]
    if mean_baseline and num_episodes > 1:
        others = (reward.sum(0, keepdims=True) - reward) / (num_episodes - 1)
        reward = reward - jax.lax.stop_gradient(others)
    objective = jnp.sum(magic_box(tau) * reward, axis=-1)
    if value is not None:
        b = transitions.obs[agent] @ jax.lax.stop_gradient(value)  # [E, T]
        objective = objective + jnp.sum((1.0 - magic_box(w)) * disc * b, axis=-1)
    return objective.mean()


def fit_values(
    value: chex.Array, transitions: Transition, agent: int, gamma: float, lr: float
) -> chex.Array:
    """Move the tabular baseline toward the batch's mean return-to-go per state.

    ``b(s) <- b(s) + lr (mean {G_t : s_t = s} - b(s))`` over the states the
    batch visits (others are left alone): an exponential moving average of the
    Monte-Carlo value; ``lr = 1`` is the batch fit.

    Args:
        value: ``[5]`` current baseline of ``agent``.
        transitions: ``[2, E, T]`` experience.
        agent: 0 or 1 (may be traced).
        gamma: discount.
        lr: fraction in ``[0, 1]``.

    Returns:
        ``[5]`` the new baseline.
    """
    g = reward_to_go(transitions.reward[agent], transitions.done[agent], gamma)  # [E, T]
    obs = transitions.obs[agent]  # [E, T, 5]
    counts = obs.sum((0, 1))
    means = jnp.einsum("ets,et->s", obs, g) / jnp.maximum(counts, 1.0)
    return value + lr * jnp.where(counts > 0, means - value, 0.0)


@dataclasses.dataclass(frozen=True)
class DiceConfig:
    """Static configuration of LOLA-DiCE (defaults: the DiCE paper's IPD setting).

    Attributes:
        opponent: agent 2's rule: ``"lola"`` (LOLA-DiCE too) or ``"pg"`` (the
            naive policy-gradient learner: its own DiCE gradient, no look-ahead).
        num_lookahead: ``n``, look-ahead steps of the opponent's learning
            (0: both agents naive).
        batch_size: episodes per rollout batch (every look-ahead step and the
            outer step sample their own).
        episode_length: steps per episode.
        gamma: discount.
        lr_in: step size of the imagined opponent steps.
        lr_out: step size of the agents' own (outer) steps.
        optimizer: outer optimiser, ``"sgd"`` or ``"adam"``.
        baseline: variance reduction: ``"value"`` (the paper's learned
            baseline, tabular per state, see :func:`fit_values`), ``"mean"``
            (the leave-one-out batch mean of each step's discounted reward,
            as the authors' code), or ``"none"``.
        value_lr: baseline fitting rate in ``[0, 1]`` (``"value"`` only).
        init_std: ``theta ~ N(0, init_std^2 I)`` at ``init``.
        num_updates: outer updates of a full run (``Trainer.num_steps``).
    """

    opponent: str = "lola"
    num_lookahead: int = 1
    batch_size: int = 128
    episode_length: int = 150
    gamma: float = 0.96
    lr_in: float = 0.3
    lr_out: float = 0.2
    optimizer: str = "sgd"
    baseline: str = "mean"
    value_lr: float = 0.5
    init_std: float = 0.0
    num_updates: int = 200

    def __post_init__(self):
        check_choice("opponent", self.opponent, OPPONENTS)
        n = self.num_lookahead
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise bad_value("num_lookahead", n, "a non-negative integer")
        for f in ("batch_size", "episode_length", "num_updates"):
            check_positive_int(f, getattr(self, f))
        check_finite("gamma", self.gamma, low=0.0, high=1.0, high_inclusive=False)
        check_finite("lr_in", self.lr_in, low=0.0)
        check_finite("lr_out", self.lr_out, low=0.0, low_inclusive=False)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("baseline", self.baseline, BASELINES)
        check_finite("value_lr", self.value_lr, low=0.0, high=1.0)
        check_finite("init_std", self.init_std, low=0.0)


def sample_episodes(
    env: IteratedMatrixGame,
    params: IteratedParams,
    thetas: tuple[chex.Array, chex.Array],
    key: chex.PRNGKey,
    num_episodes: int,
) -> Transition:
    """Episodes of both memory-one logit policies (no gradient flows through sampling).

    Each agent plays C (action 0) when a uniform draw falls below
    ``sigmoid(theta_i @ obs_i)``, as
    :func:`~detente.games.iterated_env.memory_one_action` does; the draws are
    made up front (one ``[E, T, 2]`` array), which keeps the compiled rollout
    small. The game itself is deterministic given the actions, so ``reset``
    and ``step`` get ``key`` only to fill their unused argument.

    Args:
        env: the iterated game (``env.num_steps`` steps an episode).
        params: its constants.
        thetas: ``(theta_1 [5], theta_2 [5])``.
        key: PRNG key.
        num_episodes: ``E`` (static).

    Returns:
        A :class:`Transition` with leading axes ``[2, E, T]`` (seat first);
        ``log_prob`` of the actions taken, ``value`` 0.
    """
    check_positive_int("num_episodes", num_episodes)
    th = jax.lax.stop_gradient(jnp.stack(thetas))  # [2, 5]
    u = jax.random.uniform(key, (num_episodes, env.num_steps, 2), th.dtype)

    def episode(u_e):
        def body(ts, u_t):
            logit = jnp.sum(ts.obs * th, axis=-1)  # [2]
            action = jnp.where(u_t < jax.nn.sigmoid(logit), 0, 1).astype(jnp.int32)
            nxt = env.step(key, ts.state, action, params)
            log_prob = jax.nn.log_sigmoid(jnp.where(action == 0, logit, -logit))
            out = Transition(
                obs=ts.obs,
                action=action,
                reward=nxt.rewards,
                done=jnp.broadcast_to(nxt.done, (2,)),
                log_prob=log_prob,
                value=jnp.zeros_like(log_prob),
            )
            return nxt, out

        _, tr = jax.lax.scan(body, env.reset(key, params), u_e)
        return tr  # leaves [T, 2, ...]

    tr = jax.vmap(episode)(u)  # [E, T, 2, ...]
    return jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 2, 0), tr)


def make_lola_dice_gradient(
    env: IteratedMatrixGame, params: IteratedParams, config: DiceConfig, num_lookahead: int
) -> Callable:
    """Build agent ``i``'s LOLA-DiCE gradient with ``num_lookahead`` look-ahead steps.

    Args:
        env: the iterated game (``env.num_steps`` steps an episode).
        params: its constants.
        config: batch size, gamma, baseline.
        num_lookahead: ``n`` (static); 0 gives the naive DiCE gradient.

    Returns:
        ``grad_fn(thetas [2, 5], values [2, 5], key, agent, lr_in) ->
        (g [5], transitions [2, E, T])``: the ascent direction
        ``grad_{theta_i} L_i(theta_i, theta_j^n(theta_i))`` and the outer
        rollouts (for fitting the baseline). ``agent`` (0 or 1) may be traced,
        so both agents' gradients vmap into one program; ``lr_in`` is a
        (differentiable) scalar.
    """
    gamma = config.gamma

    def objective(thetas, tr, k, values):
        value = values[k] if config.baseline == "value" else None
        return dice_objective(thetas, tr, k, gamma, value, config.baseline == "mean")

    def grad_fn(thetas, values, key, agent, lr_in):
        i, j = agent, 1 - agent
        keys = jax.random.split(key, num_lookahead + 1)

        def pair(theta_i, theta_j):  # (player 1, player 2)
            first = i == 0
            return (jnp.where(first, theta_i, theta_j), jnp.where(first, theta_j, theta_i))

        def outer(theta_i):
            theta_j = thetas[j]
            for k in range(num_lookahead):
                tr = sample_episodes(
                    env, params, pair(theta_i, theta_j), keys[k], config.batch_size
                )

                def inner(th_j, th_i=theta_i, tr=tr):
                    return objective(pair(th_i, th_j), tr, j, values)

                theta_j = theta_j + lr_in * jax.grad(inner)(theta_j)
            tr = sample_episodes(env, params, pair(theta_i, theta_j), keys[-1], config.batch_size)
            return objective(pair(theta_i, theta_j), tr, i, values), tr

        return jax.grad(outer, has_aux=True)(thetas[i])

    return grad_fn


class LolaDiceState(NamedTuple):
    """State of the LOLA-DiCE trainer.

    Attributes:
        thetas: ``[2, 5]`` both agents' logits (own view: start, CC, CD, DC, DD).
        values: ``[2, 5]`` both agents' tabular baselines.
        opt_state: the outer optimiser's state over ``thetas`` (elementwise,
            so one state serves both agents).
        key: ``[2]`` uint32 PRNG key.
    """

    thetas: chex.Array  # [2, 5]
    values: chex.Array  # [2, 5]
    opt_state: Any
    key: chex.Array  # [2]


def make_lola_dice(config: DiceConfig | None = None, game: NormalFormGame | None = None) -> Trainer:
    """LOLA-DiCE (or LOLA-DiCE vs a naive PG learner) on a sampled iterated 2x2 game.

    Args:
        config: :class:`DiceConfig` (defaults: the DiCE paper's IPD setting).
        game: the stage game (default: LOLA's prisoner's dilemma, CC -1,
            CD -3, DC 0, DD -2).

    Returns:
        A :class:`Trainer`. ``step`` is one outer update of both agents;
        its metrics ``reward_0``, ``reward_1`` are the exact per-step rewards
        ``(1 - gamma) V_i`` (:func:`detente.games.differentiable.iterated`) of
        the thetas that played that step. ``evaluate`` gives those of the
        current thetas, ``"mean_reward" [2]``, and ``"p_cooperate" [2, 5]``.

    Example:
        >>> trainer = make_lola_dice(DiceConfig(batch_size=8, episode_length=20))
        >>> state = trainer.init(jax.random.PRNGKey(0))
        >>> state, metrics = jax.jit(trainer.step)(state)
        >>> trainer.evaluate(state)["p_cooperate"].shape
        (2, 5)
    """
    config = DiceConfig() if config is None else config
    if not isinstance(config, DiceConfig):
        raise bad_value("config", config, "a DiceConfig or None")
    if game is None:
        from detente.games.zoo import prisoners_dilemma

        game = prisoners_dilemma()
    env = IteratedMatrixGame(num_steps=config.episode_length)
    params = IteratedMatrixGame.params_from(game, config.gamma)
    exact = iterated(game, config.gamma)
    opt = make_optimizer(config.optimizer, config.lr_out)
    grad_lola = make_lola_dice_gradient(env, params, config, config.num_lookahead)
    n_opp = config.num_lookahead if config.opponent == "lola" else 0
    grad_opp = make_lola_dice_gradient(env, params, config, n_opp)

    def per_step(thetas):
        return exact.step_scale * exact.values((thetas[0], thetas[1]))

    def init(key: chex.PRNGKey) -> LolaDiceState:
        k_theta, key = jax.random.split(key)
        thetas = config.init_std * jax.random.normal(k_theta, (2, NUM_STATES))
        return LolaDiceState(
            thetas=thetas, values=jnp.zeros_like(thetas), opt_state=opt.init(thetas), key=key
        )

    def step(state: LolaDiceState):
        key, k0, k1 = jax.random.split(state.key, 3)
        lr_in = jnp.asarray(config.lr_in, state.thetas.dtype)
        agents = jnp.arange(2)
        if config.opponent == "lola":  # one program for both agents
            grads, tr = jax.vmap(grad_lola, in_axes=(None, None, 0, 0, None))(
                state.thetas, state.values, jnp.stack([k0, k1]), agents, lr_in
            )
        else:
            g0, tr0 = grad_lola(state.thetas, state.values, k0, 0, lr_in)
            g1, tr1 = grad_opp(state.thetas, state.values, k1, 1, lr_in)
            grads = jnp.stack([g0, g1])
            tr = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), tr0, tr1)
        upd, opt_state = opt.update(-grads, state.opt_state, state.thetas)  # optax minimises
        thetas = state.thetas + upd
        values = state.values
        if config.baseline == "value":  # agent a fits on its outer batch tr[a]
            fit = lambda v, t, a: fit_values(v, t, a, config.gamma, config.value_lr)  # noqa: E731
            values = jax.vmap(fit)(values, tr, agents)
        r = per_step(state.thetas)
        new = LolaDiceState(thetas=thetas, values=values, opt_state=opt_state, key=key)
        return new, {"reward_0": r[0], "reward_1": r[1]}

    def evaluate(state: LolaDiceState) -> dict:
        return {"mean_reward": per_step(state.thetas), "p_cooperate": jax.nn.sigmoid(state.thetas)}

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=config.num_updates)
