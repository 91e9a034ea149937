"""Shaper's meta-game: configuration, recurrent policy and meta-episode rollout.

The pieces of :mod:`detente.solvers.shaping.shaper` that do not involve
evolution strategies: :class:`ShaperConfig`, :class:`ShaperNetwork` (a GRU
with a linear actor head), :func:`make_shaper_episode` (``M`` inner episodes of
``T`` steps in ``E`` environments against one learning opponent, with the
paper's memory ablations) and :func:`opponent_p_cooperate`. See that
module's docstring for the method; reference: Khan et al. 2024, "Scaling
Opponent Shaping to High Dimensional Games", https://arxiv.org/abs/2312.12568.

The rollout drives agent 0 through a :class:`RecurrentAgent` (its parameters,
its memory and what happens to that memory at inner-episode boundaries), which
a config builds with ``config.recurrent_agent(env)``: :func:`shaper_agent`
for :class:`ShaperConfig`; M-FOS in the CoinGame
(:mod:`detente.solvers.shaping.mfos_coin`) brings its own and reuses the
rollout and the ES trainer unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_choice, check_positive_int
from detente.games.iterated_env import NUM_STATES
from detente.solvers.rl.types import InnerLearner, Transition
from detente.solvers.shaping.mfos import check_es_config

CONTEXTS = ("both", "within", "across")


def check_recurrent_es_config(config) -> None:
    """The checks shared by the recurrent ES shapers' configs (Shaper, M-FOS in CoinGame):
    the ES fields, ``embed_size >= 0``, ``inner_steps`` and ``batch_average``."""
    check_es_config(
        config, ("inner_episodes", "num_envs", "opponents", "hidden_size", "eval_opponents")
    )
    e = config.embed_size
    if isinstance(e, bool) or not isinstance(e, int) or e < 0:
        raise bad_value("embed_size", e, "a non-negative integer")
    if config.inner_steps is not None:
        check_positive_int("inner_steps", config.inner_steps)
    if not isinstance(config.batch_average, bool):
        raise bad_value("batch_average", config.batch_average, "True or False")


@dataclasses.dataclass(frozen=True)
class ShaperConfig:
    """Static configuration of Shaper (hashable: a ``jit`` static argument).

    Attributes:
        inner_episodes: ``M``, inner episodes per meta-episode (paper: 100 in
            the IPD, 600 in the CoinGame).
        num_envs: ``E``, parallel environments per opponent; the opponent
            updates on the batch of ``E`` episodes it just played.
        population_size: ES population (even: antithetic pairs).
        generations: ES generations of a full run (``Trainer.num_steps``).
        opponents: ``N``, fresh opponents per fitness evaluation (vmapped).
        hidden_size: ``H``, the GRU's width (paper: 16).
        embed_size: width of a ReLU layer before the GRU (0: none; the
            paper's CoinGame agent has one).
        sigma: ES perturbation standard deviation.
        lr: Adam step size of the ES mean.
        context: ``"both"``, ``"within"`` or ``"across"`` (module docstring).
        batch_average: average the ``E`` hidden states at inner-episode
            boundaries (the paper's batch averaging).
        eval_opponents: opponents of ``Trainer.evaluate``.
        member_block: ES members per compiled block of
            :func:`~detente.batching.map_blocks_sharded` (``None``: the whole
            population, or its share per device, in one block).
        inner_steps: ``T``; ``None`` takes the environment's episode length
            (``num_steps`` of an iterated game, ``episode_length`` of the
            CoinGame); required for an environment that has neither.
    """

    inner_episodes: int = 100
    num_envs: int = 2
    population_size: int = 64
    generations: int = 300
    opponents: int = 4
    hidden_size: int = 16
    embed_size: int = 0
    sigma: float = 0.04
    lr: float = 0.01
    context: str = "both"
    batch_average: bool = False
    eval_opponents: int = 64
    member_block: int | None = None
    inner_steps: int | None = None

    def __post_init__(self):
        check_recurrent_es_config(self)
        check_choice("context", self.context, CONTEXTS)

    def recurrent_agent(self, env) -> RecurrentAgent:
        """Shaper's policy and memory rules in ``env`` (:func:`shaper_agent`)."""
        return shaper_agent(env, self)


class ShaperNetwork(nn.Module):
    """Shaper's policy: ``(h [H], o [D]) -> (h' [H], logits [A])``.

    An optional ReLU embedding, a GRU cell (flax ``nn.GRUCell``) and a linear
    actor head on the new hidden state. The head starts at zero, so an
    untrained Shaper plays uniformly at random. There is no critic: ES needs
    none.
    """

    hidden_size: int
    num_actions: int
    embed_size: int = 0

    @nn.compact
    def __call__(self, h: chex.Array, obs: chex.Array):
        x = obs
        if self.embed_size:
            x = nn.relu(nn.Dense(self.embed_size)(x))
        h, y = nn.GRUCell(features=self.hidden_size)(h, x)
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.zeros)(y)
        return h, logits


class RecurrentAgent(NamedTuple):
    """Agent 0 of a meta-episode: a recurrent policy and its memory rules, as pure functions.

    :func:`make_shaper_episode` drives it in ``E`` parallel environments;
    ``carry`` is any pytree whose leaves lead with ``E``.

    Attributes:
        init: ``key -> params``, the parameters ES trains.
        initial_carry: ``E -> carry``, the memory at the start of a meta-episode.
        begin: ``(params, carry) -> carry`` at the start of every inner episode.
        step: ``(params, carry, obs [E, D]) -> (carry, logits [E, A])`` at
            every step (``obs`` flattened to floats).
        end: ``(params, carry, obs [T, E, D]) -> (carry, record)`` after every
            inner episode, given its observations: the carry the next inner
            episode begins from, and what the rollout records as
            :attr:`ShaperEpisode.hidden_end`.
    """

    init: Callable[[chex.PRNGKey], Any]
    initial_carry: Callable[[int], Any]
    begin: Callable[[Any, Any], Any]
    step: Callable[[Any, Any, chex.Array], tuple[Any, chex.Array]]
    end: Callable[[Any, Any, chex.Array], tuple[Any, Any]]


class ShaperEpisode(NamedTuple):
    """One meta-episode against one opponent (add leading axes for vmaps).

    Attributes:
        rewards: ``[M, 2]`` per-step rewards of (Shaper, opponent) in each
            inner episode, averaged over its ``T`` steps and ``E`` envs.
        hidden_start: ``[M, E, H]`` Shaper's hidden state at the first step of
            each inner episode (for another :class:`RecurrentAgent`: its
            carry, leaves ``[M, E, ...]``).
        hidden_end: ``[M, E, H]`` its hidden state after each inner episode,
            before batch averaging (with ``"across"``: after the per-episode
            step on the episode's mean observation); for another agent, the
            ``record`` of its ``end``, leaves ``[M, ...]``.
        coins: ``[M, 2, 2]`` for environments whose ``info`` counts coins
            (CoinGame): ``coins[m, i]`` = (own, other's) coins agent ``i``
            picked up in inner episode ``m``, summed over steps and envs;
            ``None`` otherwise.
        opponent_state: the opponent's learner state after its last update.
    """

    rewards: chex.Array  # [M, 2]
    hidden_start: Any  # [M, E, H]
    hidden_end: Any  # [M, E, H]
    coins: chex.Array | None  # [M, 2, 2]
    opponent_state: Any


# ----------------------------------------------------------------------------
# Checks and shapes


def episode_length(env, config: ShaperConfig) -> int:
    """``T``: ``config.inner_steps``, else the environment's episode length.

    Raises:
        ValueError: if neither is known, or if they disagree.
    """
    own = getattr(env, "num_steps", None) or getattr(env, "episode_length", None)
    if own is None and config.inner_steps is None:
        raise bad_value(
            "config.inner_steps",
            None,
            "the inner episode length for an environment without num_steps or episode_length",
        )
    if own is not None and config.inner_steps is not None and own != config.inner_steps:
        raise bad_value(
            "config.inner_steps", config.inner_steps, f"None or the environment's length {own}"
        )
    return int(own if own is not None else config.inner_steps)


def _check(env, opponent) -> None:
    if getattr(env, "num_agents", None) != 2:
        raise bad_value("env", env, "a two-agent detente Environment (Shaper is agent 0)")
    if not isinstance(opponent, InnerLearner) and not all(
        callable(getattr(opponent, f, None)) for f in ("init", "act", "update")
    ):
        raise bad_value("opponent", opponent, "an InnerLearner (init, act, update)")


def _obs_size(env) -> int:
    return int(np.prod(env.observation_shape))


def _network(env, config: ShaperConfig) -> ShaperNetwork:
    return ShaperNetwork(
        hidden_size=config.hidden_size,
        num_actions=int(env.num_actions),
        embed_size=config.embed_size,
    )


def init_shaper_params(key: chex.PRNGKey, env, config: ShaperConfig):
    """Initial parameters of ``config``'s agent (``config.recurrent_agent(env).init``);
    for Shaper: flax defaults for the GRU, zero actor head."""
    return config.recurrent_agent(env).init(key)


def shaper_agent(env, config: ShaperConfig) -> RecurrentAgent:
    """Shaper's :class:`RecurrentAgent`: one GRU state ``h [E, H]`` and the
    memory ablations of :attr:`ShaperConfig.context` and ``batch_average``.

    * ``begin``: ``"within"`` resets ``h`` to zeros; otherwise it carries on;
    * ``step``: ``h' = f(h, o)``, logits on ``h'``; ``"across"`` keeps ``h``;
    * ``end``: ``"across"`` advances ``h`` once on the episode's mean
      observation; ``batch_average`` replaces the ``E`` states by their mean
      (the record is the state before averaging).
    """
    net = _network(env, config)
    H = config.hidden_size

    def init(key):
        return net.init(key, jnp.zeros((H,)), jnp.zeros((_obs_size(env),)))

    def cell(params, h, obs):
        return jax.vmap(lambda hh, o: net.apply(params, hh, o))(h, obs)

    def begin(params, h):
        del params
        return jnp.zeros_like(h) if config.context == "within" else h

    def step(params, h, obs):
        h_new, logits = cell(params, h, obs)  # [E, H], [E, A]
        return (h if config.context == "across" else h_new), logits

    def end(params, h, obs):
        if config.context == "across":  # one step of memory per episode, on its summary
            h, _ = cell(params, h, obs.mean(axis=0))
        h_next = h
        if config.batch_average:
            h_next = jnp.broadcast_to(h.mean(axis=0, keepdims=True), h.shape)
        return h_next, h

    return RecurrentAgent(
        init=init,
        initial_carry=lambda e: jnp.zeros((e, H), jnp.float32),
        begin=begin,
        step=step,
        end=end,
    )


# ----------------------------------------------------------------------------
# The meta-episode


def make_shaper_episode(env, env_params, opponent: InnerLearner, config: ShaperConfig):
    """Build ``meta_episode(params, key) -> ShaperEpisode`` against one opponent.

    ``key`` draws the opponent's initial state and every random number of
    the ``M`` inner episodes (environment resets and steps, both agents'
    actions, the opponent's updates).

    Args:
        env: a two-agent detente environment (Shaper is agent 0).
        env_params: its params.
        opponent: the learner that plays agent 1.
        config: static configuration: :class:`ShaperConfig`, or any frozen
            config with its ``inner_episodes``, ``num_envs`` and
            ``inner_steps`` whose ``recurrent_agent(env)`` builds agent 0's
            :class:`RecurrentAgent` (e.g.
            :class:`~detente.solvers.shaping.mfos_coin.MFOSCoinConfig`).

    Returns:
        A pure function; vmap it over keys (opponents) and params (members).
    """
    _check(env, opponent)
    T, E = episode_length(env, config), config.num_envs
    agent = config.recurrent_agent(env)
    reset = jax.vmap(env.reset, in_axes=(0, None))
    env_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    opp_act = jax.vmap(opponent.act, in_axes=(None, 0, 0))
    info = jax.eval_shape(env.reset, jax.random.PRNGKey(0), env_params).info
    count_coins = "own_coin" in info and "other_coin" in info

    def flat(obs):  # [E, *obs_shape] -> [E, D] float
        return obs.reshape(obs.shape[0], -1).astype(jnp.float32)

    def episode(params, opp_state, h, key):
        """One inner episode in E envs; returns the next carry and its outputs."""
        h = agent.begin(params, h)
        h_start = h
        k_reset, k_steps, k_update = jax.random.split(key, 3)
        ts = reset(jax.random.split(k_reset, E), env_params)

        def body(carry, k):
            ts, h = carry
            k0, k1, k_env = jax.random.split(k, 3)
            o0 = flat(ts.obs[:, 0])
            h, logits = agent.step(params, h, o0)  # carry, [E, A]
            a0 = jax.random.categorical(k0, logits).astype(jnp.int32)
            a1, logp1, v1 = opp_act(opp_state, ts.obs[:, 1], jax.random.split(k1, E))
            actions = jnp.stack([a0, jnp.asarray(a1, jnp.int32)], axis=-1)  # [E, 2]
            nxt = env_step(jax.random.split(k_env, E), ts.state, actions, env_params)
            trans = Transition(
                obs=ts.obs[:, 1],
                action=a1,
                reward=nxt.rewards[:, 1],
                done=nxt.done,
                log_prob=logp1,
                value=v1,
            )
            coins = (
                jnp.stack([nxt.info["own_coin"], nxt.info["other_coin"]], axis=-1)  # [E, 2, 2]
                if count_coins
                else None
            )
            return (nxt, h), (trans, nxt.rewards, coins, o0)

        (last, h_end), (trans, rewards, coins, o0) = jax.lax.scan(
            body, (ts, h), jax.random.split(k_steps, T)
        )
        h_next, h_end = agent.end(params, h_end, o0)  # o0: [T, E, D]
        trans = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), trans)  # [E, T, ...]
        opp_state = opponent.update(opp_state, trans, last.obs[:, 1], k_update)
        out = (
            rewards.mean(axis=(0, 1)),  # [2]
            h_start,  # carry [E, ...]
            h_end,  # record
            None if coins is None else coins.sum(axis=(0, 1)),  # [2, 2]
        )
        return opp_state, h_next, out

    def meta_episode(params, key: chex.PRNGKey) -> ShaperEpisode:
        k_opp, k_eps = jax.random.split(key)
        opp_state = opponent.init(k_opp)
        h = agent.initial_carry(E)

        def body(carry, k):
            opp_state, h = carry
            opp_state, h, out = episode(params, opp_state, h, k)
            return (opp_state, h), out

        (opp_state, _), (rewards, h_start, h_end, coins) = jax.lax.scan(
            body, (opp_state, h), jax.random.split(k_eps, config.inner_episodes)
        )
        return ShaperEpisode(
            rewards=rewards,
            hidden_start=h_start,
            hidden_end=h_end,
            coins=coins,
            opponent_state=opp_state,
        )

    return meta_episode


def opponent_p_cooperate(opponent: InnerLearner, opp_state, key: chex.PRNGKey, dtype=jnp.float32):
    """``[5]`` the opponent's P(cooperate) in the own-view states (start, CC, CD, DC, DD).

    Reads the probability off ``act``'s log-probability of the action it
    samples on each one-hot state: ``exp(log_prob)`` if it cooperated (action
    0), else ``1 - exp(log_prob)``. Exact for any two-action policy of the
    current observation (memory-one learners).
    """
    states = jnp.eye(NUM_STATES, dtype=dtype)
    a, logp, _ = jax.vmap(opponent.act, in_axes=(None, 0, 0))(
        opp_state, states, jax.random.split(key, NUM_STATES)
    )
    p = jnp.exp(logp)
    return jnp.where(a == 0, p, 1.0 - p)
