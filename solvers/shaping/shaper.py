"""Shaper: a recurrent opponent shaper whose memory spans inner episodes, trained by ES.

Khan, Willi, Kwan, Tacchetti, Lu, Grefenstette, Rocktaeschel and Foerster
2024, "Scaling Opponent Shaping to High Dimensional Games", AAMAS,
https://arxiv.org/abs/2312.12568.

The meta-game. A meta-episode is ``M`` inner episodes of ``T`` steps
against one freshly initialised learner (the opponent, agent 1), played in
``E`` parallel environments. The opponent is an
:class:`~detente.solvers.rl.types.InnerLearner`: it acts at every step and
updates once after every inner episode, on the batch of ``E`` episodes it
just played (a naive learner: it ignores that the shaper learns). Shaper
(agent 0) is a single recurrent policy, a GRU ``h_{t+1} = f_phi(h_t, o_t)``
with a linear actor head ``pi_phi(a | h_{t+1})``, acting at every step of
every inner episode. Its hidden state is **not** reset at inner-episode
boundaries: it carries the *history* of the current episode (the paper's
intra-episode information) and the *context*, the opponent's learning so
far (inter-episode information), in one memory. Shaper's fitness is its
mean per-step reward over the meta-episode, averaged over opponents; its
parameters ``phi`` are trained by OpenAI-ES (Salimans et al. 2017,
https://arxiv.org/abs/1703.03864; evosax's ``Open_ES``: antithetic
sampling, centred ranks, Adam), the paper's training method. evosax
*minimises*, so it is told ``-fitness``.

The paper analyses which information a shaper needs: *history* (within
the current inner episode) and *context* (across inner episodes, the
opponent's learning). The ablations of that memory are
:attr:`ShaperConfig.context` (the option names are ours):

* ``"both"`` (Shaper): history and context, the hidden state is carried
  across inner episodes;
* ``"within"`` (history only, no context): the hidden state is reset to
  the initial carry at the start of every inner episode, so Shaper cannot
  see how the opponent has learned (a recurrent naive best responder);
* ``"across"`` (context only, no history): the hidden state is held fixed
  during an inner episode (the actor reads ``f_phi(h, o_t)`` but the carry
  is not advanced) and advanced once per inner episode, on the episode's
  mean observation (for the iterated games: the visitation frequencies of
  start, CC, CD, DC, DD), as M-FOS conditions its per-episode policy on a
  summary of the last episode.

:attr:`ShaperConfig.batch_average` is the paper's batch averaging (the
technique it calls "previously implicit in the literature"): at every
inner-episode boundary the ``E`` hidden states are replaced by their mean,
so that the opponent's update sees one shaping policy across its batch.

Everything is compiled: inner steps, inner episodes and ES generations are
``lax.scan`` loops; environments, opponents and ES members are vmapped; the
population's fitness runs through :func:`detente.batching.map_blocks_sharded`,
so it is split over ``jax.devices()`` when there are several. Every member
of one generation meets the same opponents with the same random numbers.

:func:`make_shaper` returns a :class:`~detente.training.Trainer` (one ES
generation per ``step``; the state carries its PRNG key, so a run split
into chunks by one compiled chunk program gives bit-identical numbers);
:func:`train_shaper` runs it as one ``lax.scan``.

Example:
    >>> from detente.games.iterated_env import IteratedMatrixGame
    >>> from detente.solvers.shaping.learners import pg_learner
    >>> env = IteratedMatrixGame(num_steps=10)
    >>> cfg = ShaperConfig(inner_episodes=4, population_size=4, generations=2, opponents=2)
    >>> res = train_shaper(jax.random.PRNGKey(0), env, env.default_params(), pg_learner(), cfg)
    >>> res.fitness.shape, res.evaluation["rewards"].shape
    ((2,), (4, 2))
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente.batching import blocks_per_device, map_blocks_sharded
from detente.games.iterated_env import IteratedMatrixGame
from detente.solvers.rl.types import InnerLearner
from detente.solvers.shaping._shaper_rollout import (
    CONTEXTS,
    ShaperConfig,
    ShaperEpisode,
    ShaperNetwork,
    _check,
    episode_length,
    init_shaper_params,
    make_shaper_episode,
    opponent_p_cooperate,
)
from detente.solvers.shaping.mfos import MFOSState, make_es
from detente.training import Trainer, raw_key

__all__ = [
    "CONTEXTS",
    "ShaperConfig",
    "ShaperEpisode",
    "ShaperNetwork",
    "ShaperResult",
    "ShaperState",
    "episode_length",
    "init_shaper_params",
    "make_shaper_episode",
    "make_shaper",
    "opponent_p_cooperate",
    "run_generations",
    "train_shaper",
]

_EVAL_TAG = 0x5E7A  # folded into the state's key for the evaluation's opponents


ShaperState = MFOSState  # the ES trainer state is the same as M-FOS-ES's


class ShaperResult(NamedTuple):
    """Result of :func:`train_shaper`.

    Attributes:
        params: the final ES mean, Shaper's flax params.
        fitness: ``[G]`` mean population fitness per generation.
        best_fitness: ``[G]`` best member's fitness per generation.
        reward_0: ``[G]`` Shaper's per-step reward, population mean.
        reward_1: ``[G]`` the opponent's per-step reward, population mean.
        evaluation: ``Trainer.evaluate`` of the final state (see
            :func:`make_shaper`).
        state: the final :class:`ShaperState` (for resuming).
    """

    params: Any
    fitness: chex.Array  # [G]
    best_fitness: chex.Array  # [G]
    reward_0: chex.Array  # [G]
    reward_1: chex.Array  # [G]
    evaluation: dict
    state: ShaperState


# ----------------------------------------------------------------------------
# The trainer


def _strong(tree):
    """Strongly typed leaves, so that ``step`` returns exactly ``init``'s types.

    evosax mixes weakly typed scalars into its state; a jitted ``step`` fed
    its own output would otherwise compile twice.
    """
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.result_type(x)), tree)


def make_shaper(env, env_params, opponent: InnerLearner, config: ShaperConfig) -> Trainer:
    """Shaper as a :class:`~detente.training.Trainer`: one ES generation per ``step``.

    Args:
        env: a two-agent detente environment, e.g.
            :class:`~detente.games.iterated_env.IteratedMatrixGame` or
            :class:`~detente.games.coin_game.CoinGame`; Shaper is agent 0.
        env_params: its params.
        opponent: the inner learner playing agent 1 (a fresh one per
            meta-episode, from ``opponent.init``).
        config: static configuration.

    Returns:
        ``Trainer(init, step, evaluate, num_steps=config.generations)``:

        * ``init(key) -> ShaperState``;
        * ``step(state) -> (state, metrics)``, metrics ``fitness`` (population
          mean), ``best_fitness`` (population max), ``reward_0`` and
          ``reward_1`` (per-step rewards of Shaper and opponent, population
          mean), all scalars;
        * ``evaluate(state) -> dict``: the ES mean against
          ``config.eval_opponents`` fresh opponents: ``"mean_reward"`` ``[2]``
          per-step over the meta-episode, ``"rewards"`` ``[M, 2]`` per inner
          episode; for iterated matrix games ``"p_cooperate"`` ``[5]``, the
          opponents' final P(C | start, CC, CD, DC, DD), averaged over
          opponents; for the CoinGame ``"own_coin_rate"`` ``[2]``, the
          fraction of each agent's picked-up coins that were its own, and
          ``"coins"`` ``[2, 2]``, the coins (own, other's) each agent picked
          up per step.
    """
    _check(env, opponent)
    T = episode_length(env, config)
    P = config.population_size
    template = init_shaper_params(jax.random.PRNGKey(0), env, config)
    es = make_es(config, template)
    es_params = es.default_params
    meta_episode = make_shaper_episode(env, env_params, opponent, config)
    block = config.member_block or -(-P // len(jax.devices()))
    count = blocks_per_device(P, block)

    def member_rewards(params, key):  # [2]: mean over opponents, episodes
        keys = jax.random.split(key, config.opponents)
        out = jax.vmap(meta_episode, in_axes=(None, 0))(params, keys)
        return out.rewards.mean(axis=(0, 1))

    def block_rewards(members, key):  # [B, 2]
        return jax.vmap(member_rewards, in_axes=(0, None))(members, key)

    def init(key: chex.PRNGKey) -> ShaperState:
        key = raw_key(key)
        k_init, k_es, k_run = jax.random.split(key, 3)
        params0 = init_shaper_params(k_init, env, config)
        state = _strong(es.init(k_es, params0, es_params))
        return ShaperState(es=state, generation=jnp.zeros((), jnp.int32), key=k_run)

    def step(state: ShaperState):
        key, k_ask, k_opp, k_tell = jax.random.split(state.key, 4)
        population, es_state = es.ask(k_ask, state.es, es_params)
        r = map_blocks_sharded(block_rewards, population, block, count, k_opp)  # [P, 2]
        f = r[:, 0]
        es_state, _ = es.tell(k_tell, population, -f, es_state, es_params)  # evosax minimises
        es_state = _strong(es_state)
        metrics = {
            "fitness": f.mean(),
            "best_fitness": f.max(),
            "reward_0": r[:, 0].mean(),
            "reward_1": r[:, 1].mean(),
        }
        return ShaperState(es=es_state, generation=state.generation + 1, key=key), metrics

    def evaluate(state: ShaperState) -> dict:
        params = es.get_mean(state.es)
        key = jax.random.fold_in(state.key, _EVAL_TAG)
        k_eps, k_probe = jax.random.split(key)
        out = jax.vmap(meta_episode, in_axes=(None, 0))(
            params, jax.random.split(k_eps, config.eval_opponents)
        )
        rewards = out.rewards.mean(axis=0)  # [M, 2]
        result = {"mean_reward": rewards.mean(axis=0), "rewards": rewards}
        if isinstance(env, IteratedMatrixGame):
            probe = jax.vmap(opponent_p_cooperate, in_axes=(None, 0, 0, None))
            dtype = jnp.result_type(env_params.payoffs)
            p = probe(
                opponent,
                out.opponent_state,
                jax.random.split(k_probe, config.eval_opponents),
                dtype,
            )
            result["p_cooperate"] = p.mean(axis=0)
        if out.coins is not None:
            c = out.coins.sum(axis=(0, 1))  # [2 agents, (own, other)]
            steps = config.eval_opponents * config.inner_episodes * config.num_envs * T
            result["coins"] = c / steps
            result["own_coin_rate"] = c[:, 0] / jnp.maximum(c.sum(axis=-1), 1)
        return result

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=config.generations)


def run_generations(trainer: Trainer, state, num: int):
    """``num`` ES generations as one ``lax.scan``: ``(state, metrics [num])``."""
    return jax.lax.scan(lambda s, _: trainer.step(s), state, None, length=num)


@functools.partial(jax.jit, static_argnames=("env", "opponent", "config"))
def _train(key, env_params, env, opponent, config):
    trainer = make_shaper(env, env_params, opponent, config)
    state, metrics = run_generations(trainer, trainer.init(key), config.generations)
    return state, metrics, trainer.evaluate(state)


def train_shaper(
    key: chex.PRNGKey, env, env_params, opponent: InnerLearner, config: ShaperConfig
) -> ShaperResult:
    """Train Shaper against fresh ``opponent`` learners with OpenAI-ES.

    ``init`` then ``config.generations`` ``step`` s in one compiled
    ``lax.scan``, then ``evaluate``.

    Args:
        key: PRNG key; the same key gives the same numbers.
        env: a two-agent detente environment; Shaper is agent 0.
        env_params: its params.
        opponent: the inner learner playing agent 1.
        config: static configuration.

    Returns:
        :class:`ShaperResult`.

    Raises:
        ValueError: for a bad environment or opponent, or if a fitness is
            NaN (the message names the first such generation).
    """
    _check(env, opponent)
    state, metrics, evaluation = _train(raw_key(key), env_params, env, opponent, config)
    f = np.asarray(metrics["fitness"])
    if np.isnan(f).any():
        g = int(np.argmax(np.isnan(f)))
        raise ValueError(
            f"fitness is NaN at generation {g} of {config.generations}: check the environment's "
            f"rewards and the opponent, or reduce sigma={config.sigma} or lr={config.lr}"
        )
    es = make_es(config, init_shaper_params(jax.random.PRNGKey(0), env, config))
    return ShaperResult(
        params=es.get_mean(state.es),
        fitness=metrics["fitness"],
        best_fitness=metrics["best_fitness"],
        reward_0=metrics["reward_0"],
        reward_1=metrics["reward_1"],
        evaluation=evaluation,
        state=state,
    )
