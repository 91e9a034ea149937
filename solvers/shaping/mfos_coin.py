"""M-FOS in the CoinGame: a per-episode context from a recurrent summary, trained by ES.

Lu, Willi, de Witt and Foerster 2022, "Model-Free Opponent Shaping", ICML,
https://arxiv.org/abs/2205.01447, Sec. 6.3 (the Coin Game).

The meta-game. As in :mod:`detente.solvers.shaping.mfos`, each meta-step is
one inner episode and a meta-episode is ``M`` of them against one freshly
initialised learner (agent 1, an
:class:`~detente.solvers.rl.types.InnerLearner`, e.g. the PPO learner of
:func:`detente.solvers.rl.make_ppo_learner`), played in ``E`` parallel
environments; the learner updates once after every inner episode on the
``E`` episodes it just played. In the exact games the meta-state is the pair
of inner policies and the meta-policy outputs the next inner policy. In the
CoinGame the inner policies are neural networks, so M-FOS replaces both by
learned pieces (the paper's construction):

* **meta-state** ``c_k [H]``, the *context* of inner episode ``k``: a GRU
  ``g_phi`` (the *summary*) reads M-FOS's observations ``o_0 .. o_{T-1}`` of
  inner episode ``k - 1`` (which show where both agents went and which coins
  they took) and ``c_k = sigmoid(W_c s_T + b_c)`` of its last state
  ``s_T``, averaged over the ``E`` environments (:attr:`MFOSCoinConfig.batch_average`,
  as in the authors' code), so that the learner's batch sees one inner policy;
  ``c_0 = 1`` (the unconditioned policy) at the start of every meta-episode;
* **meta-policy -> inner policy**: M-FOS's policy in inner episode ``k``
  is ``pi_phi(a_t | o_{<=t}, c_k)``, a second GRU ``h_{t+1} = f_phi(h_t, o_t)``
  (reset to 0 at the start of every inner episode: the inner policy's own
  within-episode history) whose output is gated by the context,
  ``logits = W_a (c_k * h_{t+1}) + b_a``. The context selects, and the meta-
  learning shapes, which inner policy M-FOS plays against the learner's
  current state; it is constant within an inner episode.

So the only memory that crosses inner-episode boundaries is the context
(and, with ``summary="meta"``, the summary GRU's state): both are reset per
meta-episode, not per inner episode. With the default ``summary="episode"``
the summary GRU starts from zero in every inner episode, so ``c_{k+1}``
summarises inner episode ``k`` alone (the authors' code); ``"meta"`` carries
it over the meta-episode, so ``c_{k+1}`` summarises episodes ``0 .. k``.
Either way ``c_{k+1}`` depends on nothing that happens after inner episode
``k`` (``tests/test_mfos_coin.py`` checks this by changing later episodes).

Shaper (:mod:`detente.solvers.shaping.shaper`, Khan et al. 2024,
https://arxiv.org/abs/2312.12568) is the simplification of this design: one
GRU whose state carries across inner episodes plays both roles.

Training. The parameters ``phi`` (both GRUs, their embeddings and heads) are
trained by OpenAI-ES, M-FOS's ES variant (evosax ``Open_ES``: antithetic
sampling, centred ranks, Adam), on M-FOS's mean per-step reward over the
meta-episode. The rollout and the trainer are Shaper's
(:func:`~detente.solvers.shaping._shaper_rollout.make_shaper_episode`,
:func:`~detente.solvers.shaping.shaper.make_shaper`): this module only
supplies the agent (:func:`make_mfos_coin_agent`, a
:class:`~detente.solvers.shaping._shaper_rollout.RecurrentAgent`) through
:meth:`MFOSCoinConfig.recurrent_agent`. Hence everything Shaper's trainer
does holds here: the population's fitness runs through
:func:`detente.batching.map_blocks_sharded`; every member of a generation
meets the same opponents with the same random numbers; :func:`make_mfos_coin`
is a :class:`~detente.training.Trainer` whose state carries its PRNG key, so
a run split into chunks gives bit-identical numbers; ``evaluate`` reports
own-coin rates in the CoinGame.

The agent runs in any two-agent detente environment (the sampled iterated
games too); it was built for, and is measured in, the CoinGame.

Example:
    >>> from detente.games.coin_game import CoinGame
    >>> from detente.solvers.rl import PPOConfig, make_ppo_learner
    >>> env = CoinGame(episode_length=4)
    >>> ppo = make_ppo_learner(env, PPOConfig(minibatches=2), agent=1)
    >>> cfg = MFOSCoinConfig(inner_episodes=2, num_envs=2, population_size=4,
    ...                      generations=2, eval_opponents=2)
    >>> res = train_mfos_coin(jax.random.PRNGKey(0), env, env.default_params(), ppo, cfg)
    >>> res.evaluation["own_coin_rate"].shape
    (2,)
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_choice
from detente.solvers.rl.types import InnerLearner
from detente.solvers.shaping._shaper_rollout import RecurrentAgent, check_recurrent_es_config
from detente.solvers.shaping.shaper import ShaperResult, make_shaper, train_shaper
from detente.training import Trainer

__all__ = [
    "SUMMARIES",
    "MFOSCoinCarry",
    "MFOSCoinConfig",
    "MFOSCoinNetwork",
    "make_mfos_coin",
    "make_mfos_coin_agent",
    "train_mfos_coin",
]

SUMMARIES = ("episode", "meta")


@dataclasses.dataclass(frozen=True)
class MFOSCoinConfig:
    """Static configuration of M-FOS in the CoinGame (hashable: a ``jit`` static argument).

    The defaults are the CPU budget of ``paper_figures/shaper.py``'s CoinGame
    run (its Shaper numbers sit next to M-FOS's at the same budget).

    Attributes:
        inner_episodes: ``M``, inner episodes per meta-episode.
        num_envs: ``E``, parallel environments per opponent; the opponent
            updates on the batch of ``E`` episodes it just played.
        population_size: ES population (even: antithetic pairs).
        generations: ES generations of a full run (``Trainer.num_steps``).
        opponents: fresh opponents per fitness evaluation (vmapped).
        hidden_size: ``H``, the width of both GRUs and of the context.
        embed_size: width of the ReLU layer before each GRU (0: none).
        sigma: ES perturbation standard deviation.
        lr: Adam step size of the ES mean.
        summary: ``"episode"`` (the summary GRU restarts at every inner
            episode: the context summarises the last one, as the authors'
            code) or ``"meta"`` (it carries over the meta-episode).
        batch_average: average the context over the ``E`` environments
            (default, as the authors' code), so all ``E`` play one inner policy.
        eval_opponents: opponents of ``Trainer.evaluate``.
        member_block: ES members per compiled block of
            :func:`~detente.batching.map_blocks_sharded` (``None``: the whole
            population, or its share per device, in one block).
        inner_steps: ``T``; ``None`` takes the environment's episode length.
    """

    inner_episodes: int = 32
    num_envs: int = 4
    population_size: int = 32
    generations: int = 200
    opponents: int = 1
    hidden_size: int = 16
    embed_size: int = 16
    sigma: float = 0.1
    lr: float = 0.05
    summary: str = "episode"
    batch_average: bool = True
    eval_opponents: int = 16
    member_block: int | None = None
    inner_steps: int | None = None

    def __post_init__(self):
        check_recurrent_es_config(self)
        check_choice("summary", self.summary, SUMMARIES)

    def recurrent_agent(self, env) -> RecurrentAgent:
        """M-FOS's agent in ``env`` (:func:`make_mfos_coin_agent`)."""
        return make_mfos_coin_agent(env, self)


class MFOSCoinNetwork(nn.Module):
    """M-FOS's networks: the inner policy ``pi_phi(a | h, c)`` and the summary ``g_phi``.

    Methods (``apply(params, ..., method=...)``):

    * :meth:`act`: ``(h [H], c [H], o [D]) -> (h' [H], logits [A])``, the
      inner policy: optional ReLU embedding, GRU cell, context gate
      ``c * h'``, linear head (zero at init: an untrained M-FOS plays
      uniformly at random);
    * :meth:`summarise`: ``(s [H], o [D]) -> s' [H]``, one step of the summary GRU
      (its own embedding);
    * :meth:`context`: ``s [H] -> c [H] = sigmoid(W_c s + b_c)``.

    ``__call__`` runs all three (for ``init``).
    """

    hidden_size: int
    num_actions: int
    embed_size: int = 0

    def setup(self):
        if self.embed_size:
            self.actor_embed = nn.Dense(self.embed_size)
            self.summary_embed = nn.Dense(self.embed_size)
        self.actor_gru = nn.GRUCell(features=self.hidden_size)
        self.actor_head = nn.Dense(self.num_actions, kernel_init=nn.initializers.zeros)
        self.summary_gru = nn.GRUCell(features=self.hidden_size)
        self.context_head = nn.Dense(self.hidden_size)

    def act(self, h: chex.Array, c: chex.Array, obs: chex.Array):
        x = nn.relu(self.actor_embed(obs)) if self.embed_size else obs
        h, y = self.actor_gru(h, x)
        return h, self.actor_head(c * y)

    def summarise(self, s: chex.Array, obs: chex.Array) -> chex.Array:
        x = nn.relu(self.summary_embed(obs)) if self.embed_size else obs
        s, _ = self.summary_gru(s, x)
        return s

    def context(self, s: chex.Array) -> chex.Array:
        return jax.nn.sigmoid(self.context_head(s))

    def __call__(self, h: chex.Array, s: chex.Array, c: chex.Array, obs: chex.Array):
        h, logits = self.act(h, c, obs)
        s = self.summarise(s, obs)
        return h, s, self.context(s), logits


class MFOSCoinCarry(NamedTuple):
    """M-FOS's memory in ``E`` environments.

    Attributes:
        actor: ``[E, H]`` the inner policy's GRU state (0 at every inner
            episode's start).
        summary: ``[E, H]`` the summary GRU's state (0 at every inner
            episode's start with ``summary="episode"``, at the meta-episode's
            start with ``"meta"``).
        context: ``[E, H]`` the meta-state ``c_k`` of the current inner
            episode (1 in the first).
    """

    actor: chex.Array  # [E, H]
    summary: chex.Array  # [E, H]
    context: chex.Array  # [E, H]


def _check_config(config) -> None:
    if not isinstance(config, MFOSCoinConfig):
        raise bad_value("config", config, "an MFOSCoinConfig")


def make_mfos_coin_agent(env, config: MFOSCoinConfig) -> RecurrentAgent:
    """M-FOS as the rollout's :class:`~detente.solvers.shaping._shaper_rollout.RecurrentAgent`.

    * ``initial_carry(E)``: actor and summary states 0, context 1;
    * ``begin``: the actor state (and, with ``summary="episode"``, the
      summary state) back to 0; the context is kept;
    * ``step``: the inner policy acts on ``(h, c_k, o_t)``; the summary GRU
      reads ``o_t``;
    * ``end``: ``c_{k+1} = sigmoid(W_c s_T + b_c)`` per environment, averaged
      over them with ``batch_average``; the record is the per-environment
      ``c_{k+1}`` ``[E, H]`` before averaging.

    Args:
        env: a two-agent detente environment (M-FOS is agent 0).
        config: :class:`MFOSCoinConfig`.

    Returns:
        The agent; its ``init(key)`` gives the flax params of
        :class:`MFOSCoinNetwork` (flax defaults, zero actor head).
    """
    _check_config(config)
    net = MFOSCoinNetwork(
        hidden_size=config.hidden_size,
        num_actions=int(env.num_actions),
        embed_size=config.embed_size,
    )
    H = config.hidden_size
    D = int(np.prod(env.observation_shape))

    def init(key):
        z = jnp.zeros((H,))
        return net.init(key, z, z, jnp.ones((H,)), jnp.zeros((D,)))

    def initial_carry(e: int) -> MFOSCoinCarry:
        zeros = jnp.zeros((e, H), jnp.float32)
        return MFOSCoinCarry(actor=zeros, summary=zeros, context=jnp.ones((e, H), jnp.float32))

    def begin(params, carry: MFOSCoinCarry) -> MFOSCoinCarry:
        del params
        summary = jnp.zeros_like(carry.summary) if config.summary == "episode" else carry.summary
        return carry._replace(actor=jnp.zeros_like(carry.actor), summary=summary)

    def step(params, carry: MFOSCoinCarry, obs: chex.Array):
        act = jax.vmap(lambda h, c, o: net.apply(params, h, c, o, method=net.act))
        summarise = jax.vmap(lambda s, o: net.apply(params, s, o, method=net.summarise))
        h, logits = act(carry.actor, carry.context, obs)  # [E, H], [E, A]
        s = summarise(carry.summary, obs)  # [E, H]
        return carry._replace(actor=h, summary=s), logits

    def end(params, carry: MFOSCoinCarry, obs: chex.Array):
        del obs  # the summary GRU has read them step by step
        c = jax.vmap(lambda s: net.apply(params, s, method=net.context))(carry.summary)  # [E, H]
        c_next = c
        if config.batch_average:
            c_next = jnp.broadcast_to(c.mean(axis=0, keepdims=True), c.shape)
        return carry._replace(context=c_next), c

    return RecurrentAgent(init=init, initial_carry=initial_carry, begin=begin, step=step, end=end)


def make_mfos_coin(env, env_params, opponent: InnerLearner, config: MFOSCoinConfig) -> Trainer:
    """M-FOS-ES (CoinGame agent) as a :class:`~detente.training.Trainer`: one ES generation per ``step``.

    Shaper's ES trainer (:func:`~detente.solvers.shaping.shaper.make_shaper`)
    with M-FOS's agent (:func:`make_mfos_coin_agent`).

    Args:
        env: a two-agent detente environment, e.g.
            :class:`~detente.games.coin_game.CoinGame`; M-FOS is agent 0.
        env_params: its params.
        opponent: the inner learner playing agent 1 (a fresh one per
            meta-episode), e.g. ``make_ppo_learner(env, PPOConfig(), agent=1)``.
        config: :class:`MFOSCoinConfig`.

    Returns:
        ``Trainer(init, step, evaluate, num_steps=config.generations)`` with
        ``make_shaper``'s state (:class:`~detente.solvers.shaping.mfos.MFOSState`),
        metrics (``fitness``, ``best_fitness``, ``reward_0``, ``reward_1``)
        and evaluation (``mean_reward`` ``[2]``, ``rewards`` ``[M, 2]``; in
        the CoinGame ``own_coin_rate`` ``[2]`` and ``coins`` ``[2, 2]`` per
        step; in the iterated games the opponents' final ``p_cooperate``).

    Raises:
        ValueError: for a config that is not an :class:`MFOSCoinConfig`, or a
            bad environment or opponent.
    """
    _check_config(config)
    return make_shaper(env, env_params, opponent, config)


def train_mfos_coin(
    key: chex.PRNGKey, env, env_params, opponent: InnerLearner, config: MFOSCoinConfig
) -> ShaperResult:
    """Train M-FOS against fresh ``opponent`` learners with OpenAI-ES, in one compiled scan.

    :func:`~detente.solvers.shaping.shaper.train_shaper` with M-FOS's agent:
    ``init``, ``config.generations`` steps of :func:`make_mfos_coin`, then
    ``evaluate``.

    Args:
        key: PRNG key; the same key gives the same numbers.
        env: a two-agent detente environment; M-FOS is agent 0.
        env_params: its params.
        opponent: the inner learner playing agent 1.
        config: :class:`MFOSCoinConfig`.

    Returns:
        :class:`~detente.solvers.shaping.shaper.ShaperResult` (``params``:
        the final ES mean, :class:`MFOSCoinNetwork`'s params).

    Raises:
        ValueError: for a bad config, environment or opponent, or if a
            fitness is NaN (naming the first such generation).
    """
    _check_config(config)
    return train_shaper(key, env, env_params, opponent, config)
