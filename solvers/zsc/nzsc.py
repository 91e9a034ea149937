"""Noisy zero-shot coordination: training across noisy games and cross-play under noise.

Anwar, Pandian, Wan, Krueger, Foerster 2024, "Noisy Zero-Shot Coordination:
Breaking The Common Knowledge Assumption In Zero-Shot Coordination Games",
https://arxiv.org/abs/2411.04976 (NZSC). A true game ``theta ~ P(theta)`` is
drawn every episode and agent ``i`` sees only its own noisy view
``theta_i ~ N(theta, sigma_i^2)``; NZSC is zero-shot coordination on the
meta-Dec-POMDP :class:`~detente.games.noisy.NoisyGame`. Nothing here is
specific to the noise: the trainers are the project's self-play and
Other-Play (:mod:`detente.solvers.zsc.selfplay`,
:mod:`detente.solvers.zsc.other_play`) run on the wrapper, and the
evaluation is :func:`detente.analysis.crossplay.crossplay` at each noise level.

* :func:`train_nzsc` trains ``S`` seeds (vmapped, one compiled program) with
  self-play or Other-Play over the wrapper's lever permutations
  (:meth:`~detente.games.noisy.NoisyGame.symmetry_group`), across the noise
  levels of the params (the NZSC agents), or, with
  ``common_knowledge=True``, on the same wrapper with every ``sigma_i = 0``
  (the common-knowledge baseline: the agents see the true payoffs, in the same
  observation layout, so they can be evaluated under noise unchanged).
  The params are traced, so both share one compiled program.
* :func:`evaluate_under_noise` plays every pair of a stack of agents (both
  seat orders) at each noise level ``sigma`` (both agents' ``sigma_i =
  sigma``), next to the best achievable return
  (:func:`~detente.games.noisy.lever_oracle_value`: ``E[max_a theta_a]`` per
  round, times the rounds) and the return of two agents that pull the argmax
  of their own view.
* :func:`nzsc_config` holds the default budgets (:data:`NZSC_CONFIGS`).
* :func:`train_nzsc_population` is the paper code's population-based robust
  variant: per seed, a population of self-play partners trained across the
  noisy games, then a learner trained against them
  (:func:`~detente.solvers.zsc.population.train_against_population`,
  partners drawn with probability ``~ score ** -power``).

Example:
    >>> env, params = noisy_lever_game(sigma_levels=(0.0, 1.0))
    >>> cfg = nzsc_config("noisy-lever", "other-play")
    >>> states, _ = train_nzsc(jax.random.split(jax.random.key(0), 2), env,
    ...                        dataclasses.replace(cfg, num_updates=2), params)
    >>> ev = evaluate_under_noise(env, cfg.network, agent_params(states),
    ...                           jax.random.key(1), params, num_episodes=8)
    >>> ev.cross_play.shape, ev.returns.shape
    ((4,), (4, 2, 2))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_choice, check_positive_int
from detente.analysis.crossplay import CrossPlayResult, crossplay
from detente.games.noisy import NoisyGame, NoisyParams, lever_oracle_value
from detente.solvers.rl.ippo import IPPOConfig, IPPOState
from detente.solvers.rl.policy import NetworkConfig
from detente.solvers.rl.ppo import PPOConfig
from detente.solvers.zsc.other_play import train_other_play
from detente.solvers.zsc.population import PopulationConfig, train_against_population
from detente.solvers.zsc.selfplay import agent_params, train_selfplay

__all__ = [
    "EVAL_SIGMAS",
    "NZSC_CONFIGS",
    "NoiseEvaluation",
    "common_knowledge_params",
    "evaluate_under_noise",
    "nzsc_config",
    "train_nzsc",
    "train_nzsc_population",
]

EVAL_SIGMAS: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0)
"""The noise levels of the NZSC evaluation (issue 7's acceptance levels)."""

METHODS = ("selfplay", "other-play")

_MLP = NetworkConfig(hidden_sizes=(32, 32), activation="relu")
_GRU = NetworkConfig(kind="gru", gru_size=32, embed_sizes=(32,), hidden_sizes=(32,))

# Budgets sized for a 2-core CPU (see the report in the module's tests and the README):
# the one-shot game's MLP reaches the common-knowledge optimum at sigma = 0 within 300
# updates of 64 episodes; the iterated game's GRU sees 16-round episodes.
_ONE_SHOT = IPPOConfig(
    num_envs=64,
    num_steps=1,
    num_updates=300,
    share_params=True,
    network=_MLP,
    ppo=PPOConfig(lr=1e-2, ent_coef=0.0, minibatches=1, epochs=4, anneal_lr=True),
)
_ITERATED = IPPOConfig(
    num_envs=32,
    num_steps=16,
    num_updates=300,
    share_params=True,
    network=_GRU,
    ppo=PPOConfig(lr=3e-3, ent_coef=0.0, minibatches=2, epochs=4, anneal_lr=True),
)
# self-play and Other-Play share each game's budget
NZSC_CONFIGS: dict[tuple[str, str], IPPOConfig] = {
    (game, method): config
    for game, config in (("noisy-lever", _ONE_SHOT), ("iterated-noisy-lever", _ITERATED))
    for method in ("selfplay", "other-play")
}


def nzsc_config(game: str, method: str) -> IPPOConfig:
    """The default config of ``method`` (``"selfplay"``, ``"other-play"``) on ``game``.

    Args:
        game: ``"noisy-lever"`` (one-shot, MLP) or ``"iterated-noisy-lever"`` (GRU).
        method: ``"selfplay"`` or ``"other-play"``.

    Raises:
        ValueError: for a pair without a default.
    """
    if (game, method) not in NZSC_CONFIGS:
        allowed = ", ".join(f"{g}/{m}" for g, m in NZSC_CONFIGS)
        raise bad_value("game/method", f"{game}/{method}", "one of " + allowed)
    return NZSC_CONFIGS[(game, method)]


def common_knowledge_params(params: NoisyParams) -> NoisyParams:
    """``params`` with every agent's noise level 0 (fixed or drawn): views are the true game.

    The prior is unchanged, so the true game still varies per episode; the
    observation layout is the same (the noise-level entry reads 0).
    """
    if not isinstance(params, NoisyParams):
        raise bad_value("params", type(params).__name__, "NoisyParams")
    return noise_params(params, 0.0)


def noise_params(params: NoisyParams, sigma: float) -> NoisyParams:
    """``params`` with both agents' noise level ``sigma`` (fixed and as the only level)."""
    return params.replace(
        sigma=jnp.full_like(params.sigma, sigma),
        sigma_levels=jnp.full_like(params.sigma_levels[:1], sigma),
    )


def train_nzsc(
    keys: chex.Array,
    env: NoisyGame,
    config: IPPOConfig,
    env_params: NoisyParams | None = None,
    *,
    method: str = "other-play",
    common_knowledge: bool = False,
    compiler_options: Mapping[str, Any] | None = None,
) -> tuple[IPPOState, dict]:
    """Train ``S`` agents on a noisy game, one per key, in one compiled program.

    Other-Play samples each agent's lever permutation from
    ``env.symmetry_group(env_params)`` (the lifted group: views, true payoffs
    and actions relabelled together).

    Args:
        keys: ``[S, 2]`` raw keys or ``[S]`` typed keys.
        env: a hashable :class:`~detente.games.noisy.NoisyGame` (for
            Other-Play, one with ``field_action_axes``, as
            :func:`~detente.games.noisy.noisy_lever_game` builds).
        config: IPPO config with ``share_params=True`` (:func:`nzsc_config`).
        env_params: the noisy game's params, e.g. with ``sigma_levels`` to
            train across noise levels (default ``env.default_params()``).
        method: ``"other-play"`` or ``"selfplay"``.
        common_knowledge: train with every noise level 0
            (:func:`common_knowledge_params`), the common-knowledge baseline.
        compiler_options: XLA options, see
            :func:`~detente.solvers.zsc.selfplay.train_selfplay`.

    Returns:
        ``(states, metrics)`` of :func:`~detente.solvers.zsc.selfplay.train_selfplay`
        (leaves ``[S, ...]``); :func:`~detente.solvers.zsc.selfplay.agent_params`
        gives agents that act in ``env`` itself.

    Raises:
        ValueError: for a bad ``method``, ``env`` or config.
    """
    check_choice("method", method, METHODS)
    if not isinstance(env, NoisyGame):
        raise bad_value("env", type(env).__name__, "a NoisyGame")
    if env_params is None:
        env_params = env.default_params()
    if common_knowledge:
        env_params = common_knowledge_params(env_params)
    if method == "selfplay":
        return train_selfplay(keys, env, config, env_params, compiler_options=compiler_options)
    group = env.symmetry_group(env_params)
    return train_other_play(keys, env, config, env_params, group, compiler_options=compiler_options)


def train_nzsc_population(
    keys: chex.Array,
    env: NoisyGame,
    config: IPPOConfig,
    env_params: NoisyParams | None = None,
    *,
    population_size: int = 4,
    population: PopulationConfig | None = None,
    partner_config: IPPOConfig | None = None,
    compiler_options: Mapping[str, Any] | None = None,
) -> tuple[IPPOState, dict]:
    """The population-based robust variant: per seed, self-play partners, then a learner against them.

    Seed ``s`` trains ``population_size`` self-play partners across the noisy
    games (:func:`train_nzsc` with ``method="selfplay"``, keys
    ``split(fold_in(keys[s], 1), K)``), then one learner against them (its
    key ``keys[s]``), partners drawn with probability proportional to
    ``max(score, min_score) ** -power`` of the learner's last measured
    score with each (:mod:`detente.solvers.zsc.population`).

    Args:
        keys: ``[S, 2]`` raw keys or ``[S]`` typed keys.
        env: a hashable :class:`~detente.games.noisy.NoisyGame`.
        config: the learner's IPPO config (``num_updates`` a multiple of
            ``population.phases``).
        env_params: the noisy game's params (default ``env.default_params()``).
        population_size: ``K`` partners per seed.
        population: a :class:`~detente.solvers.zsc.population.PopulationConfig`.
        partner_config: the partners' self-play config (default ``config``).
        compiler_options: XLA options.

    Returns:
        ``(states, out)`` of :func:`~detente.solvers.zsc.population.train_against_population`
        (the learners), ``out`` also holding ``"partners"`` (leaves ``[S, K, ...]``).

    Raises:
        ValueError: for a bad ``env``, ``population_size`` or config.
    """
    if not isinstance(env, NoisyGame):
        raise bad_value("env", type(env).__name__, "a NoisyGame")
    k = check_positive_int("population_size", population_size)
    partner_config = config if partner_config is None else partner_config
    if env_params is None:
        env_params = env.default_params()
    s = keys.shape[0]
    partner_keys = jax.vmap(lambda key: jax.random.split(jax.random.fold_in(key, 1), k))(keys)
    partner_keys = partner_keys.reshape((s * k,) + partner_keys.shape[2:])
    states, _ = train_nzsc(
        partner_keys,
        env,
        partner_config,
        env_params,
        method="selfplay",
        compiler_options=compiler_options,
    )
    partners = jax.tree_util.tree_map(
        lambda x: x.reshape((s, k) + x.shape[1:]), agent_params(states)
    )
    learners, out = train_against_population(
        keys,
        env,
        config,
        partners,
        partner_config.network,
        env_params,
        population,
        compiler_options=compiler_options,
    )
    return learners, {**out, "partners": partners}


class NoiseEvaluation(NamedTuple):
    """Cross-play of a stack of ``K`` agents at ``L`` noise levels.

    Returns are per episode (``rounds`` rounds). Self-play is the diagonal
    (sem over the ``K`` agents), cross-play the off-diagonal pairs (both seat
    orders; sem over the ``K (K - 1) / 2`` unordered pairs), as in
    :func:`~detente.analysis.crossplay.summarize`.

    Attributes:
        sigmas: ``[L]`` the noise levels (both agents').
        cross_play, cross_play_sem: ``[L]`` mean cross-play return and its sem.
        self_play, self_play_sem: ``[L]`` mean self-play return and its sem.
        returns: ``[L, K, K]`` the cross-play matrices.
        best, best_sem: ``[L]`` the best achievable return, ``E[max_a
            theta_a]`` per round times ``rounds`` (Monte Carlo; an upper bound
            at every level), and its sem.
        greedy, greedy_sem: ``[L]`` the return when both pull the argmax of
            their own view every round, and its sem.
        rounds: rounds per episode (1 for the one-shot game).
        results: the :class:`~detente.analysis.crossplay.CrossPlayResult` per level.
    """

    sigmas: np.ndarray
    cross_play: np.ndarray
    cross_play_sem: np.ndarray
    self_play: np.ndarray
    self_play_sem: np.ndarray
    returns: np.ndarray
    best: np.ndarray
    best_sem: np.ndarray
    greedy: np.ndarray
    greedy_sem: np.ndarray
    rounds: int
    results: tuple[CrossPlayResult, ...]


def evaluate_under_noise(
    env: NoisyGame,
    network: NetworkConfig,
    agents: Any,
    key: chex.PRNGKey,
    env_params: NoisyParams | None = None,
    sigmas: Sequence[float] = EVAL_SIGMAS,
    *,
    num_episodes: int = 256,
    oracle_samples: int = 100_000,
    greedy: bool = False,
) -> NoiseEvaluation:
    """Cross-play of ``agents`` under the same noise ``sigma`` for each level, with references.

    At each level both agents' noise is ``sigma`` (``sigma_levels = (sigma,)``
    too, so a wrapper that draws the levels per episode plays at ``sigma``).
    One cross-play program serves every level (the params are traced), and
    the same ``key`` at every level gives common random numbers (the same
    true games and standard-normal noise draws, scaled by ``sigma``).

    Args:
        env: a two-player :class:`~detente.games.noisy.NoisyGame` of a lever game.
        network: the agents' network config.
        agents: ``K >= 2`` agents, parameters with leaves ``[K, ...]``
            (:func:`~detente.solvers.zsc.selfplay.agent_params`).
        key: PRNG key.
        env_params: the noisy game's params (prior, penalty; the noise levels
            are replaced). Default ``env.default_params()``.
        sigmas: ``[L]`` noise levels ``>= 0``.
        num_episodes: episodes per pair and seat order.
        oracle_samples: Monte-Carlo episodes of the references per level.
        greedy: agents take their most probable action instead of sampling.

    Returns:
        A :class:`NoiseEvaluation`.

    Raises:
        ValueError: for a bad ``env``, ``sigmas`` or count.
    """
    if not isinstance(env, NoisyGame):
        raise bad_value("env", type(env).__name__, "a NoisyGame")
    sig = np.asarray(sigmas, np.float64)
    if sig.ndim != 1 or sig.size == 0 or not np.isfinite(sig).all() or (sig < 0).any():
        raise bad_value("sigmas", sigmas, "a non-empty 1-D list of finite numbers >= 0")
    check_positive_int("num_episodes", num_episodes)
    check_positive_int("oracle_samples", oracle_samples)
    if env_params is None:
        env_params = env.default_params()
    rounds = int(getattr(env.env, "num_rounds", 1))
    k_play, k_oracle = jax.random.split(key)
    results, refs = [], []
    for s in sig:
        p = noise_params(env_params, float(s))
        results.append(
            crossplay(env, network, agents, None, k_play, num_episodes, p, greedy=greedy)
        )
        refs.append(lever_oracle_value(k_oracle, env, p, oracle_samples))
    col = lambda f: np.array([f(r) for r in results])  # noqa: E731
    ref = lambda i: rounds * np.array([r[i] for r in refs])  # noqa: E731
    return NoiseEvaluation(
        sigmas=sig,
        cross_play=col(lambda r: r.cross_play.mean),
        cross_play_sem=col(lambda r: r.cross_play.sem),
        self_play=col(lambda r: r.self_play.mean),
        self_play_sem=col(lambda r: r.self_play.sem),
        returns=np.stack([r.returns for r in results]),
        best=ref(0),
        best_sem=ref(1),
        greedy=ref(2),
        greedy_sem=ref(3),
        rounds=rounds,
        results=tuple(results),
    )
