"""Inner learners for the sampled iterated 2x2 games.

Each factory returns an :class:`~detente.solvers.rl.types.InnerLearner`
(``init``, ``act``, ``update``, pure functions) that plays one seat of
:class:`detente.games.iterated_env.IteratedMatrixGame`, whose observation is
the agent's own-view one-hot memory-one state ``(start, CC, CD, DC, DD)``
with action 0 = cooperate (C).

* :func:`pg_learner` -- the policy-gradient naive learner: five tabular
  logits, ``P(C | s) = sigmoid(theta[s])`` (the parameterisation of
  :func:`detente.games.differentiable.iterated`, so its exact gradient is the
  expectation of this learner's estimate), updated by REINFORCE (Williams
  1992, "Simple statistical gradient-following algorithms for connectionist
  reinforcement learning", Machine Learning 8) on a batch of episodes: the
  sampled-game counterpart of LOLA's naive learner (Foerster et al. 2018,
  "Learning with Opponent-Learning Awareness", https://arxiv.org/abs/1709.04326,
  Sec. 3.2 and 4.1).
* :func:`fixed_learner` -- the classic strategies of
  :data:`~detente.games.iterated_env.FIXED_STRATEGIES`; ``update`` is the
  identity.
* :data:`INNER_LEARNERS` -- the registry by name (``--opponent NAME`` in the
  CLI); :func:`make_inner_learner` builds one.

:func:`play_episodes` plays a batch of episodes between two learners and
returns each agent's :class:`~detente.solvers.rl.types.Transition`;
:func:`make_pair_trainer` turns two learners into a
:class:`~detente.training.Trainer` (one batch of episodes and one update of
both per step).

Example:
    >>> import jax
    >>> from detente.solvers.shaping.learners import make_inner_learner, make_pair_trainer
    >>> pair = make_pair_trainer(make_inner_learner("pg"), make_inner_learner("always_defect"))
    >>> state = pair.init(jax.random.PRNGKey(0))
    >>> state, metrics = pair.step(state)
    >>> sorted(metrics)
    ['reward_0', 'reward_1']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.games.iterated_env import (
    FIXED_STRATEGIES,
    IteratedMatrixGame,
    IteratedParams,
    fixed_strategy,
    memory_one_action,
)
from detente.games.normal_form import NormalFormGame
from detente.solvers.rl.types import InnerLearner, Transition
from detente.training import Trainer

NUM_STATES = 5  # start, CC, CD, DC, DD (own view)
BASELINES = ("none", "mean")
OPTIMIZERS = ("sgd", "adam")


# ----------------------------------------------------------------------------
# Memory-one log-probabilities and discounting (shared with dice.py)


def memory_one_log_prob(theta: chex.Array, obs: chex.Array, action: chex.Array) -> chex.Array:
    """``log pi_theta(action | obs)`` of the tabular memory-one logit policy.

    Args:
        theta: ``[5]`` logits, ``P(C | s) = sigmoid(theta[s])``.
        obs: ``[..., 5]`` one-hot own-view states.
        action: ``[...]`` int actions, 0 = cooperate.

    Returns:
        ``[...]`` log-probabilities, differentiable in ``theta``.
    """
    logit = obs @ theta
    return jnp.where(action == 0, jax.nn.log_sigmoid(logit), jax.nn.log_sigmoid(-logit))


def discount_weights(done: chex.Array, gamma: float | chex.Array) -> chex.Array:
    """``gamma ** k`` with ``k`` the steps since the episode began.

    Args:
        done: ``[..., T]`` bool, the episode ended with this transition; the
            first transition is assumed to start an episode.
        gamma: discount.

    Returns:
        ``[..., T]`` weights: 1 on each episode's first step.
    """

    done = jnp.asarray(done)
    t = jnp.arange(done.shape[-1])
    # index of the first step of the episode each step belongs to
    ended = jnp.concatenate([jnp.zeros_like(done[..., :1]), done[..., :-1]], axis=-1)
    start = jax.lax.cummax(jnp.where(ended, t, 0), axis=done.ndim - 1)
    return jnp.asarray(gamma, jnp.result_type(float)) ** (t - start)


def reward_to_go(reward: chex.Array, done: chex.Array, gamma: float | chex.Array) -> chex.Array:
    """Discounted reward-to-go ``G_t = r_t + gamma G_{t+1}``, cut at episode ends.

    Args:
        reward: ``[..., T]`` rewards.
        done: ``[..., T]`` bool episode ends (no bootstrap after them nor
            after the last step: the finite-horizon return).
        gamma: discount.

    Returns:
        ``[..., T]`` returns-to-go.
    """

    def body(g, x):
        r, d = x
        g = r + gamma * jnp.where(d, 0.0, g)
        return g, g

    r = jnp.moveaxis(reward, -1, 0)
    d = jnp.moveaxis(jnp.asarray(done), -1, 0)
    _, g = jax.lax.scan(body, jnp.zeros(r.shape[1:], r.dtype), (r, d), reverse=True)
    return jnp.moveaxis(g, 0, -1)


_SWAP_JOINT = (0, 2, 1, 3)  # joint state (a_1, a_2) in player 2's own view


def finite_horizon_values(
    payoffs: chex.Array, gamma: float | chex.Array, thetas: tuple[chex.Array, chex.Array], T: int
) -> chex.Array:
    """Exact ``V_i = E[sum_{t<T} gamma^t r^i_t]`` of two memory-one logit policies.

    The finite-horizon counterpart of
    :func:`detente.games.differentiable.iterated` (same payoffs, states and
    parameterisation): ``x_0`` is the distribution of the first joint action,
    ``x_{t+1} = x_t P`` and ``V_i = sum_t gamma^t x_t . r_i`` over the joint
    states (CC, CD, DC, DD); differentiable in both thetas to any order. It is
    the exact value that the sampled estimators here estimate.

    Args:
        payoffs: ``[2, 2, 2]`` stage payoffs ``payoffs[i, a_1, a_2]``.
        gamma: discount.
        thetas: ``(theta_1 [5], theta_2 [5])`` own-view logits of cooperating.
        T: episode length (static).

    Returns:
        ``[2]`` both players' discounted values of a ``T``-step episode.
    """
    check_positive_int("T", T)
    t1, t2 = thetas
    q1, q2 = jax.nn.sigmoid(t1[0]), jax.nn.sigmoid(t2[0])
    p1 = jax.nn.sigmoid(t1[1:])
    p2 = jax.nn.sigmoid(t2[1:][jnp.array(_SWAP_JOINT)])
    x0 = jnp.stack([q1 * q2, q1 * (1 - q2), (1 - q1) * q2, (1 - q1) * (1 - q2)])
    P = jnp.stack([p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)], axis=1)
    r = jnp.asarray(payoffs).reshape(2, 4)  # [N, joint state]

    def body(carry, _):
        x, disc = carry
        return (x @ P, disc * gamma), disc * (r @ x)

    _, v = jax.lax.scan(body, (x0, jnp.ones((), x0.dtype)), None, length=T)
    return v.sum(0)


# ----------------------------------------------------------------------------
# Policy-gradient naive learner


@dataclasses.dataclass(frozen=True)
class PGConfig:
    """Static configuration of :func:`pg_learner`.

    Attributes:
        lr: step size (the exact naive learner of LOLA's code uses 1 on the
            discounted value, whose gradient this learner estimates).
        gamma: discount of the return the learner maximises.
        init_std: ``theta ~ N(0, init_std^2 I)`` at ``init`` (LOLA: 1).
        theta: optional fixed ``[5]`` initial logits (overrides ``init_std``).
        baseline: ``"mean"`` subtracts, at each step ``t``, the mean
            return-to-go of the *other* episodes of the batch (leave-one-out,
            so the estimate stays unbiased); ``"none"`` uses plain REINFORCE.
        optimizer: ``"sgd"`` (plain gradient ascent) or ``"adam"``.
    """

    lr: float = 1.0
    gamma: float = 0.96
    init_std: float = 1.0
    theta: tuple[float, ...] | None = None
    baseline: str = "mean"
    optimizer: str = "sgd"

    def __post_init__(self):
        check_finite("lr", self.lr, low=0.0, low_inclusive=False)
        check_finite("gamma", self.gamma, low=0.0, high=1.0, high_inclusive=False)
        check_finite("init_std", self.init_std, low=0.0)
        check_choice("baseline", self.baseline, BASELINES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.theta is not None:
            if len(self.theta) != NUM_STATES:
                raise bad_value("theta", self.theta, f"{NUM_STATES} logits or None")
            for x in self.theta:
                check_finite("theta", x)


class PGState(NamedTuple):
    """State of :func:`pg_learner`.

    Attributes:
        theta: ``[5]`` logits of cooperating in (start, CC, CD, DC, DD).
        opt_state: the optax state.
    """

    theta: chex.Array  # [5]
    opt_state: Any


def make_optimizer(name: str, lr: float) -> optax.GradientTransformation:
    """``optax.sgd(lr)`` or ``optax.adam(lr)`` by name (``"sgd"``, ``"adam"``)."""
    check_choice("optimizer", name, OPTIMIZERS)
    return optax.sgd(lr) if name == "sgd" else optax.adam(lr)


def reinforce_gradient(
    theta: chex.Array, transitions: Transition, gamma: float, baseline: str = "mean"
) -> chex.Array:
    """REINFORCE estimate of ``grad_theta E[sum_t gamma^t r_t]``.

    ``g = mean_e sum_t gamma^t grad log pi(a_t | s_t) (G_t - b_t)`` with
    ``G_t`` the discounted reward-to-go and ``b_t`` the leave-one-out batch
    mean of ``G_t`` (``baseline="mean"``) or 0 (``"none"``). ``gamma^t`` counts
    steps from each episode's start, so the estimate is unbiased for the
    finite-horizon discounted value (Williams 1992; Sutton and Barto 2018,
    "Reinforcement Learning: An Introduction", Sec. 13.3).

    Args:
        theta: ``[5]`` logits.
        transitions: the learner's experience, leading axes ``[E, T]``,
            each row starting at an episode's first step.
        gamma: discount.
        baseline: ``"mean"`` or ``"none"``.

    Returns:
        ``[5]`` the gradient estimate (ascent direction).
    """
    check_choice("baseline", baseline, BASELINES)
    chex.assert_rank(transitions.reward, 2)
    g = reward_to_go(transitions.reward, transitions.done, gamma)  # [E, T]
    num_episodes = g.shape[0]
    if baseline == "mean" and num_episodes > 1:
        g = g - (g.sum(0, keepdims=True) - g) / (num_episodes - 1)
    w = discount_weights(transitions.done, gamma) * g  # [E, T]
    w = jax.lax.stop_gradient(w)

    def surrogate(th):
        lp = memory_one_log_prob(th, transitions.obs, transitions.action)  # [E, T]
        return jnp.sum(lp * w) / num_episodes

    return jax.grad(surrogate)(theta)


def logit_act(theta: chex.Array, obs: chex.Array, key: chex.PRNGKey):
    """Act with the memory-one logit policy: ``(action [], log_prob [], value 0)``.

    Plays C (action 0) with probability ``sigmoid(theta @ obs)``, sampled as
    :func:`~detente.games.iterated_env.memory_one_action` does.
    """
    action = memory_one_action(key, jax.nn.sigmoid(theta), obs)
    log_prob = memory_one_log_prob(theta, obs, action)
    return action, log_prob, jnp.zeros((), log_prob.dtype)


def pg_learner(config: PGConfig | None = None) -> InnerLearner:
    """The policy-gradient naive learner on the sampled iterated 2x2 games.

    Tabular memory-one logits ``theta [5]``; ``act`` plays C with probability
    ``sigmoid(theta @ obs)`` (value output 0); ``update`` takes one optimiser
    step along :func:`reinforce_gradient` (ascent) on the batch of episodes.

    Args:
        config: :class:`PGConfig` (defaults if None).

    Returns:
        An :class:`InnerLearner` whose state is a :class:`PGState`.
    """
    config = PGConfig() if config is None else config
    if not isinstance(config, PGConfig):
        raise bad_value("config", config, "a PGConfig or None")
    opt = make_optimizer(config.optimizer, config.lr)

    def init(key: chex.PRNGKey) -> PGState:
        if config.theta is not None:
            theta = jnp.asarray(config.theta, jnp.result_type(float))
        else:
            theta = config.init_std * jax.random.normal(key, (NUM_STATES,))
        return PGState(theta=theta, opt_state=opt.init(theta))

    def act(state: PGState, obs: chex.Array, key: chex.PRNGKey):
        return logit_act(state.theta, obs, key)

    def update(state: PGState, transitions: Transition, last_obs: chex.Array, key) -> PGState:
        del last_obs, key  # Monte-Carlo returns of finite episodes: no bootstrap
        g = reinforce_gradient(state.theta, transitions, config.gamma, config.baseline)
        upd, opt_state = opt.update(-g, state.opt_state, state.theta)  # optax minimises
        return PGState(theta=optax.apply_updates(state.theta, upd), opt_state=opt_state)

    return InnerLearner(init=init, act=act, update=update)


# ----------------------------------------------------------------------------
# Fixed strategies


def fixed_learner(name: str) -> InnerLearner:
    """A strategy of :data:`FIXED_STRATEGIES` as an :class:`InnerLearner` that never learns.

    Args:
        name: one of ``always_cooperate``, ``always_defect``, ``tit_for_tat``,
            ``grim``, ``random``.

    Returns:
        An :class:`InnerLearner` whose state is the ``[5]`` cooperation
        probabilities; ``update`` returns it unchanged; ``act`` reports the
        action's log-probability (0 for a deterministic strategy) and value 0.
    """
    check_choice("opponent", name, FIXED_STRATEGIES)

    def init(key: chex.PRNGKey) -> chex.Array:
        del key
        return fixed_strategy(name)

    def act(probs: chex.Array, obs: chex.Array, key: chex.PRNGKey):
        action = memory_one_action(key, probs, obs)
        p = obs @ probs
        log_prob = jnp.log(jnp.where(action == 0, p, 1.0 - p))
        return action, log_prob, jnp.zeros((), p.dtype)

    def update(probs, transitions, last_obs, key):
        del transitions, last_obs, key
        return probs

    return InnerLearner(init=init, act=act, update=update)


# ----------------------------------------------------------------------------
# Registry


def _fixed_factory(name: str) -> Callable[..., InnerLearner]:
    def factory(config=None) -> InnerLearner:
        if config is not None:
            raise bad_value("config", config, f"None (the fixed strategy {name!r} has no config)")
        return fixed_learner(name)

    return factory


INNER_LEARNERS: dict[str, Callable[..., InnerLearner]] = {
    "pg": pg_learner,
    **{name: _fixed_factory(name) for name in FIXED_STRATEGIES},
    # "ppo" (CoinGame, MLP/GRU policies) is provided by detente.solvers.rl and
    # registered here once it exists.
}
"""Sampled-game inner learners by name: ``name -> factory(config=None) -> InnerLearner``."""


def make_inner_learner(name: str, config: Any = None) -> InnerLearner:
    """Build a registered inner learner (see :data:`INNER_LEARNERS`).

    Args:
        name: a key of :data:`INNER_LEARNERS` (``"pg"``, ``"always_defect"``, ...).
        config: the learner's config (:class:`PGConfig` for ``"pg"``), None
            for defaults; fixed strategies take none.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    check_choice("opponent", name, INNER_LEARNERS)
    return INNER_LEARNERS[name](config)


# ----------------------------------------------------------------------------
# Playing learners against each other


ActFn = Callable[[chex.Array, chex.PRNGKey], tuple[chex.Array, chex.Array, chex.Array]]


def play_episodes(
    env: IteratedMatrixGame,
    params: IteratedParams,
    act_fns: tuple[ActFn, ActFn],
    key: chex.PRNGKey,
    num_episodes: int,
) -> tuple[Transition, chex.Array]:
    """Play ``num_episodes`` full episodes between two acting functions.

    Args:
        env: the iterated game (``env.num_steps`` steps an episode).
        params: its constants.
        act_fns: per seat, ``(obs [5], key) -> (action, log_prob, value)``
            (e.g. ``functools.partial(learner.act, state)``).
        key: PRNG key.
        num_episodes: ``E``, parallel episodes (static).

    Returns:
        ``(transitions, last_obs)``: a :class:`Transition` with leading axes
        ``[2, E, T]`` (seat first) and ``last_obs [2, E, 5]``.
    """
    check_positive_int("num_episodes", num_episodes)

    def episode(k):
        ts0 = env.reset(k, params)

        def body(ts, k_t):
            k0, k1, k_env = k_t
            a0, lp0, v0 = act_fns[0](ts.obs[0], k0)
            a1, lp1, v1 = act_fns[1](ts.obs[1], k1)
            actions = jnp.stack([a0, a1])
            nxt = env.step(k_env, ts.state, actions, params)
            out = Transition(
                obs=ts.obs,
                action=actions,
                reward=nxt.rewards,
                done=jnp.broadcast_to(nxt.done, (2,)),
                log_prob=jnp.stack([lp0, lp1]),
                value=jnp.stack([v0, v1]),
            )
            return nxt, out

        ts_end, tr = jax.lax.scan(body, ts0, jax.random.split(k, (env.num_steps, 3)))
        return tr, ts_end.obs  # tr leaves [T, 2, ...]

    tr, last_obs = jax.vmap(episode)(jax.random.split(key, num_episodes))
    # [E, T, 2, ...] -> [2, E, T, ...]
    tr = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 2, 0), tr)
    return tr, jnp.moveaxis(last_obs, 1, 0)


@dataclasses.dataclass(frozen=True)
class PairConfig:
    """Static configuration of :func:`make_pair_trainer`.

    Attributes:
        episode_length: steps of each inner episode.
        num_episodes: parallel episodes per update (the batch).
        num_updates: default number of steps of a full run.
        gamma: discount of the game params (the learners use their own).
    """

    episode_length: int = 100
    num_episodes: int = 64
    num_updates: int = 100
    gamma: float = 0.96

    def __post_init__(self):
        check_positive_int("episode_length", self.episode_length)
        check_positive_int("num_episodes", self.num_episodes)
        check_positive_int("num_updates", self.num_updates)
        check_finite("gamma", self.gamma, low=0.0, high=1.0, high_inclusive=False)


class PairState(NamedTuple):
    """State of :func:`make_pair_trainer`: both learners' states and the PRNG key."""

    learner_states: tuple[Any, Any]
    key: chex.Array  # [2] uint32


def make_pair_trainer(
    learner_0: InnerLearner,
    learner_1: InnerLearner,
    game: NormalFormGame | None = None,
    config: PairConfig | None = None,
) -> Trainer:
    """Two inner learners playing an iterated 2x2 game, as a :class:`Trainer`.

    Each ``step`` plays ``num_episodes`` episodes with the current states and
    updates both learners on their own transitions.

    Args:
        learner_0: the row player (seat 0).
        learner_1: the column player (seat 1).
        game: the stage game (default: LOLA's prisoner's dilemma, CC -1,
            CD -3, DC 0, DD -2).
        config: :class:`PairConfig`.

    Returns:
        A :class:`Trainer`; ``metrics`` and ``evaluate`` report the sampled
        mean per-step rewards ``reward_0``, ``reward_1`` / ``mean_reward [2]``
        of the episodes played (``evaluate`` plays a fresh batch).
    """
    config = PairConfig() if config is None else config
    env = IteratedMatrixGame(num_steps=config.episode_length)
    if game is None:
        from detente.games.zoo import prisoners_dilemma

        game = prisoners_dilemma()
    params = IteratedMatrixGame.params_from(game, config.gamma)
    learners = (learner_0, learner_1)

    def init(key: chex.PRNGKey) -> PairState:
        k0, k1, k = jax.random.split(key, 3)
        return PairState(learner_states=(learner_0.init(k0), learner_1.init(k1)), key=k)

    def _play(states, key):
        acts = tuple(
            (lambda obs, k, lrn=lrn, s=s: lrn.act(s, obs, k))
            for lrn, s in zip(learners, states, strict=True)
        )
        return play_episodes(env, params, acts, key, config.num_episodes)

    def step(state: PairState):
        key, k_play, k0, k1 = jax.random.split(state.key, 4)
        tr, last_obs = _play(state.learner_states, k_play)
        seat = lambda i: jax.tree_util.tree_map(lambda x: x[i], tr)  # noqa: E731
        new = tuple(
            lrn.update(s, seat(i), last_obs[i], k)
            for i, (lrn, s, k) in enumerate(
                zip(learners, state.learner_states, (k0, k1), strict=True)
            )
        )
        r = tr.reward.mean(axis=(1, 2))  # [2]
        return PairState(learner_states=new, key=key), {"reward_0": r[0], "reward_1": r[1]}

    def evaluate(state: PairState) -> dict:
        tr, _ = _play(state.learner_states, jax.random.fold_in(state.key, 1))
        return {"mean_reward": tr.reward.mean(axis=(1, 2))}

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=config.num_updates)
