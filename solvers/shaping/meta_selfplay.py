"""Meta-self-play of M-FOS: two meta-policies trained together, with annealed
mixing of naive-learner opponents.

Lu, Willi, de Witt and Foerster 2022, "Model-Free Opponent Shaping", ICML,
https://arxiv.org/abs/2205.01447, Sec. 5 (M-FOS vs M-FOS) and the authors'
``main_mfos_self.py``: two M-FOS agents ``A`` (player 1) and ``B`` (player 2)
are trained at once; before each update a mixing weight ``lambda`` (1 at
first, annealed linearly to 0) is the probability that the update is made
against fresh naive learners (each agent against its own) rather than
against the other agent. Without that curriculum the meta-learners end at
mutual defection (measured below).

The self-play meta-game. Both agents' inner policies start at
``theta^{-1} ~ N(0, init_std^2 I)``; before inner episode ``t`` agent ``A``
sees ``s^A_t = (sigmoid(theta_A^{t-1}), sigmoid(theta_B^{t-1}))`` and agent
``B`` the mirror ``(sigmoid(theta_B^{t-1}), sigmoid(theta_A^{t-1}))`` (the
authors' meta-state: both inner policies of the last episode, own first);
both choose at once, ``theta_A^t = pi_A(s^A_t)``, ``theta_B^t = pi_B(s^B_t)``,
and receive the exact per-step rewards ``(1 - gamma) V(theta_A^t, theta_B^t)``.
Against naive learners each agent plays the meta-game of
:func:`detente.solvers.shaping.mfos.make_meta_episode` (agent ``B`` through
:func:`swap_players`, so that it keeps its role of player 2).

Training. The paper trains both agents with PPO; here they are trained by
OpenAI-ES (evosax ``Open_ES``), each population evaluated against the other
agent's current ES mean (or against naive learners), sharded over devices
with :func:`detente.batching.map_blocks_sharded`. The mixing coin is drawn
from the state's key, one per generation, for both agents (as in the
authors' code). In a symmetric game (the IPD, chicken) the two agents may
share one meta-policy (:attr:`SelfPlayConfig.shared`, the default there):
its members meet the shared mean. Measured in the IPD at the default budget
(400 generations, 32 members x 8 games, mixing annealed over 250): the
shared policy ends at mutual cooperation, -1.00 per step each, in 3 of 3
seeds (and 2 of 2 at 600 generations); two separate policies in only 0 to 2
of 3 seeds in each of five settings tried (ES step 0.01 or 0.03, population
32 or 64, 8 to 32 games, sigma 0.03 or 0.1): one learner's updates exploit
the other's; without the naive-learner curriculum (``anneal_generations=1``)
the shared policy ends at mutual defection, -2.00, in 3 of 3 seeds.

Example:
    >>> from detente.solvers.shaping.mfos import mfos_game
    >>> res = train_mfos_selfplay(jax.random.PRNGKey(0), mfos_game("ipd"), SelfPlayConfig())
    >>> res.evaluation["mean_reward"]  # both near mutual cooperation (-1)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_finite
from detente.games.differentiable import DifferentiableGame
from detente.solvers.shaping.mfos import (
    MetaPolicy,
    MFOSConfig,
    check_es_config,
    make_es,
    make_meta_episode,
    make_population_fitness,
    nan_generation,
    raw_key,
    run_steps,
    unlabelled,
)
from detente.training import Trainer

__all__ = [
    "SelfPlayConfig",
    "SelfPlayEpisode",
    "SelfPlayResult",
    "SelfPlayState",
    "make_mfos_selfplay",
    "make_selfplay_episode",
    "is_symmetric",
    "mixing_weight",
    "resolve_shared",
    "swap_players",
    "train_mfos_selfplay",
]

_EVAL_TAG = 0x5E1F  # folded into the state's key for the evaluation


@dataclasses.dataclass(frozen=True)
class SelfPlayConfig:
    """Static configuration of M-FOS meta-self-play (hashable).

    Attributes:
        inner_episodes: ``T``, inner episodes per meta-episode (paper: 100).
        population_size: each agent's ES population (even).
        generations: ES generations (``Trainer.num_steps``).
        hidden_size: width of each meta-policy's two hidden layers.
        opponents: meta-episodes per fitness evaluation (random initial inner
            policies, or fresh naive learners).
        sigma: ES perturbation standard deviation.
        lr: Adam step size of the ES means (the authors' code lowers PPO's
            step size tenfold for self-play).
        anneal_generations: generations over which the mixing weight falls
            from 1 to 0 (:func:`mixing_weight`); the authors' code: 667 of
            1024 updates.
        opponent_lr: the naive learners' step size (paper: 1).
        init_std: initial inner logits ``~ N(0, init_std^2)`` (both agents'
            in self-play, the naive learners').
        eval_opponents: meta-episodes of the final evaluation.
        member_block: ES members per compiled block of
            :func:`~detente.batching.map_blocks_sharded` (``None``: the whole
            population, or its share per device).
        shared: one meta-policy for both agents (each member meets the
            shared ES mean) instead of two; only for symmetric games
            (``payoffs[1] == payoffs[0].T``). ``None``: shared if ``game`` is
            symmetric (see the module docstring for why).
    """

    inner_episodes: int = 100
    population_size: int = 32
    generations: int = 400
    hidden_size: int = 16
    opponents: int = 8
    sigma: float = 0.1
    lr: float = 0.03
    anneal_generations: int = 250
    opponent_lr: float = 1.0
    init_std: float = 1.0
    eval_opponents: int = 256
    member_block: int | None = None
    shared: bool | None = None

    def __post_init__(self):
        if self.shared is not None and not isinstance(self.shared, bool):
            raise bad_value("shared", self.shared, "True, False or None (shared if symmetric)")
        check_es_config(
            self,
            ("inner_episodes", "hidden_size", "opponents", "eval_opponents", "anneal_generations"),
        )
        check_finite("opponent_lr", self.opponent_lr, low=0.0)
        check_finite("init_std", self.init_std, low=0.0)

    def naive_config(self) -> MFOSConfig:
        """The :class:`MFOSConfig` of the meta-games against naive learners."""
        return MFOSConfig(
            inner_episodes=self.inner_episodes,
            population_size=self.population_size,
            generations=self.generations,
            hidden_size=self.hidden_size,
            opponents=self.opponents,
            sigma=self.sigma,
            lr=self.lr,
            opponent_lr=self.opponent_lr,
            opponent_init_std=self.init_std,
            meta_state="both",
            eval_opponents=self.eval_opponents,
            member_block=self.member_block,
        )


@dataclasses.dataclass(frozen=True)
class _Swapped:
    """``value_fn`` or ``policy_fn`` with the players' order reversed (hashable)."""

    fn: Callable

    def __call__(self, params, thetas):
        out = self.fn(params, tuple(thetas)[::-1])
        return out[::-1] if isinstance(out, tuple) else jnp.flip(out, axis=0)


def swap_players(game: DifferentiableGame) -> DifferentiableGame:
    """The two-player ``game`` with the players' order reversed.

    ``swap_players(game).values((a, b)) == game.values((b, a))[::-1]``: the
    new player 1 is the old player 2 (its parameters in its own view), so an
    agent trained as player 1 of the swapped game plays player 2's role.
    """
    if not isinstance(game, DifferentiableGame) or game.num_players != 2:
        raise bad_value("game", getattr(game, "name", game), "a two-player DifferentiableGame")
    return dataclasses.replace(
        game,
        value_fn=_Swapped(game.value_fn),
        policy_fn=_Swapped(game.policy_fn),
        dims=game.dims[::-1],
        name=f"{game.name} (players swapped)",
    )


def is_symmetric(game: DifferentiableGame) -> bool:
    """Whether the stage game is symmetric, ``payoffs[1] == payoffs[0].T`` (so
    that one policy, in its own view, can play both roles). ``False`` for a
    game without a ``[2, A, A]`` payoff table in its params."""
    payoffs = game.params.get("payoffs") if isinstance(game.params, dict) else None
    if payoffs is None or jnp.ndim(payoffs) != 3 or game.dims[0] != game.dims[1]:
        return False
    p = np.asarray(payoffs)
    return p.shape[0] == 2 and bool(np.allclose(p[1], p[0].T))


def resolve_shared(game: DifferentiableGame, config: SelfPlayConfig) -> bool:
    """``config.shared``, or (``None``) whether ``game`` is symmetric.

    Raises:
        ValueError: ``shared=True`` for an asymmetric game, or ``None`` for a
            game whose payoffs are traced (pass ``True`` or ``False``).
    """
    payoffs = game.params.get("payoffs") if isinstance(game.params, dict) else None
    if isinstance(payoffs, jax.core.Tracer):
        if config.shared is None:
            raise bad_value("shared", None, "True or False when the game's payoffs are traced")
        return config.shared
    if config.shared and not is_symmetric(game):
        raise bad_value(
            "shared", True, "False for an asymmetric game (payoffs[1] != payoffs[0].T), e.g. IMP"
        )
    return is_symmetric(game) if config.shared is None else config.shared


def mixing_weight(generation: chex.Array, anneal_generations: int) -> chex.Array:
    """``lambda_g = max(0, 1 - g / anneal_generations)``: the probability that
    generation ``g`` trains against naive learners."""
    g = jnp.asarray(generation, jnp.float32)
    return jnp.maximum(0.0, 1.0 - g / anneal_generations)


class SelfPlayEpisode(NamedTuple):
    """One self-play meta-episode (add leading axes for vmaps).

    Attributes:
        rewards: ``[T, 2]`` per-step rewards of (A, B) in each inner episode.
        thetas_a: ``[T, d_1]`` A's inner logits.
        thetas_b: ``[T, d_2]`` B's inner logits (own view).
    """

    rewards: chex.Array  # [T, 2]
    thetas_a: chex.Array  # [T, d_1]
    thetas_b: chex.Array  # [T, d_2]


class SelfPlayState(NamedTuple):
    """The trainer state of :func:`make_mfos_selfplay`.

    Attributes:
        es: ``(es_A, es_B)`` the two evosax ``Open_ES`` states.
        generation: ``[]`` int32, generations done.
        key: ``[2]`` uint32, the run's PRNG key.
    """

    es: Any
    generation: chex.Array  # []
    key: chex.Array  # [2]


class SelfPlayResult(NamedTuple):
    """Result of :func:`train_mfos_selfplay`.

    Attributes:
        params: ``(params_A, params_B)`` the final ES means.
        metrics: ``{name: [G]}`` the metrics of every generation.
        evaluation: ``Trainer.evaluate`` of the final state.
        state: the final :class:`SelfPlayState`.
    """

    params: Any
    metrics: dict
    evaluation: dict
    state: SelfPlayState


def _policies(game: DifferentiableGame, config: SelfPlayConfig):
    d1, d2 = game.dims
    return (
        MetaPolicy(hidden_size=config.hidden_size, out_dim=d1),
        MetaPolicy(hidden_size=config.hidden_size, out_dim=d2),
    )


def _init_params(key, game: DifferentiableGame, config: SelfPlayConfig):
    s = jnp.zeros((sum(game.dims),))
    pa, pb = _policies(game, config)
    ka, kb = jax.random.split(key)
    return pa.init(ka, s), pb.init(kb, s)


def make_selfplay_episode(game: DifferentiableGame, config: SelfPlayConfig):
    """Build ``episode(params_A, params_B, key) -> SelfPlayEpisode``.

    ``key`` draws the initial inner logits of both agents.
    """
    pol_a, pol_b = _policies(game, config)
    d1, d2 = game.dims

    def inner(carry, _):
        th_a, th_b, params_a, params_b = carry
        p_a, p_b = jax.nn.sigmoid(th_a), jax.nn.sigmoid(th_b)
        th_a = pol_a.apply(params_a, jnp.concatenate([p_a, p_b]))
        th_b = pol_b.apply(params_b, jnp.concatenate([p_b, p_a]))
        r = game.step_scale * game.values((th_a, th_b))
        return (th_a, th_b, params_a, params_b), (r, th_a, th_b)

    def episode(params_a, params_b, key: chex.PRNGKey) -> SelfPlayEpisode:
        ka, kb = jax.random.split(key)
        th_a = config.init_std * jax.random.normal(ka, (d1,))
        th_b = config.init_std * jax.random.normal(kb, (d2,))
        _, (r, tha, thb) = jax.lax.scan(
            inner, (th_a, th_b, params_a, params_b), None, length=config.inner_episodes
        )
        return SelfPlayEpisode(rewards=r, thetas_a=tha, thetas_b=thb)

    return episode


def make_mfos_selfplay(game: DifferentiableGame, config: SelfPlayConfig) -> Trainer:
    """M-FOS meta-self-play trained by ES, as a :class:`~detente.training.Trainer`.

    Args:
        game: a two-player differentiable game (the paper's: ``mfos_game``).
        config: static configuration.

    Returns:
        ``Trainer(init, step, evaluate, num_steps=config.generations)``:

        * ``step``: one generation of both agents; metrics ``fitness`` (mean
          of both populations' mean fitness), ``fitness_0`` / ``fitness_1``
          (A's and B's population mean), ``reward_0`` / ``reward_1`` (the
          same: each agent's per-step reward in this generation's games),
          ``vs_naive`` (1 if this generation was played against naive
          learners, else 0) and ``mixing`` (``lambda_g``);
        * ``evaluate``: the two ES means against each other on
          ``config.eval_opponents`` random starts: ``"mean_reward"`` ``[2]``
          (A, B) per step over the meta-episode, ``"rewards"`` ``[T, 2]``,
          ``"p_cooperate"`` ``[2, d]`` A's and B's last inner policies (own
          view: P(C | start, CC, CD, DC, DD) in the iterated games) averaged
          over starts; and each against fresh naive
          learners: ``"naive_mean_reward"`` ``[2, 2]``, row ``i`` = (agent
          ``i``, its naive learner).
    """
    if not isinstance(game, DifferentiableGame) or game.num_players != 2:
        raise bad_value("game", getattr(game, "name", game), "a two-player DifferentiableGame")
    naive_cfg = config.naive_config()
    template = _init_params(jax.random.PRNGKey(0), game, config)
    if (
        jax.tree_util.tree_structure(template[0]) != jax.tree_util.tree_structure(template[1])
        or game.dims[0] != game.dims[1]
    ):
        raise bad_value("game.dims", game.dims, "equal dimensions for both players")
    shared = resolve_shared(game, config)
    es = make_es(config, template[0])
    es_params = es.default_params
    n_opp = config.opponents
    selfplay = make_selfplay_episode(game, config)
    vs_naive = (
        make_meta_episode(game, naive_cfg),
        make_meta_episode(swap_players(game), naive_cfg),
    )

    def naive_rewards(i):  # member of agent i vs naive learners: [2] (own, naive)
        def fn(params, other, key):
            del other
            out = jax.vmap(vs_naive[i], in_axes=(None, 0))(params, jax.random.split(key, n_opp))
            return out.rewards.mean(axis=(0, 1))

        return fn

    def self_rewards(i):  # member of agent i vs the other's mean: [2] (own, other)
        def fn(params, other, key):
            a, b = (params, other) if i == 0 else (other, params)
            out = jax.vmap(selfplay, in_axes=(None, None, 0))(a, b, jax.random.split(key, n_opp))
            r = out.rewards.mean(axis=(0, 1))
            return r if i == 0 else r[::-1]

        return fn

    P, blk = config.population_size, config.member_block
    pop_naive = [make_population_fitness(naive_rewards(i), P, blk) for i in (0, 1)]
    pop_self = [make_population_fitness(self_rewards(i), P, blk) for i in (0, 1)]

    def init(key: chex.PRNGKey) -> SelfPlayState:
        k_init, k_es, k_run = jax.random.split(raw_key(key), 3)
        pa, pb = _init_params(k_init, game, config)
        ka, kb = jax.random.split(k_es)
        es_state = (es.init(ka, pa, es_params), es.init(kb, pb, es_params))
        if shared:
            es_state = (es_state[0], es_state[0])
        return SelfPlayState(es=es_state, generation=jnp.zeros((), jnp.int32), key=k_run)

    def step(state: SelfPlayState):
        key, k_mix, k_ask_a, k_ask_b, k_opp, k_tell = jax.random.split(state.key, 6)
        lam = mixing_weight(state.generation, config.anneal_generations)
        use_naive = jax.random.uniform(k_mix) < lam
        pop_a, es_a = es.ask(k_ask_a, state.es[0], es_params)
        pop_b, es_b = es.ask(k_ask_b, state.es[1], es_params)
        mean_a, mean_b = es.get_mean(state.es[0]), es.get_mean(state.es[1])
        k_a, k_b = jax.random.split(k_opp)

        def against_naive(_):
            if shared:
                r = pop_naive[0](pop_a, mean_a, k_a)
                return r, r
            return pop_naive[0](pop_a, mean_b, k_a), pop_naive[1](pop_b, mean_a, k_b)

        def against_each_other(_):  # common random starts for both agents
            if shared:  # members meet the shared mean
                r = pop_self[0](pop_a, mean_a, k_a)
                return r, r
            return pop_self[0](pop_a, mean_b, k_a), pop_self[1](pop_b, mean_a, k_a)

        r_a, r_b = jax.lax.cond(use_naive, against_naive, against_each_other, None)  # [P, 2]
        ka, kb = jax.random.split(k_tell)
        es_a, _ = es.tell(ka, pop_a, -r_a[:, 0], es_a, es_params)  # evosax minimises
        es_b, _ = es.tell(kb, pop_b, -r_b[:, 0], es_b, es_params)
        if shared:  # one meta-policy plays both roles
            es_b = es_a
        f0, f1 = r_a[:, 0].mean(), r_b[:, 0].mean()
        metrics = {
            "fitness": 0.5 * (f0 + f1),
            "fitness_0": f0,
            "fitness_1": f1,
            "reward_0": f0,
            "reward_1": f1,
            "vs_naive": use_naive.astype(jnp.float32),
            "mixing": lam,
        }
        new = SelfPlayState(es=(es_a, es_b), generation=state.generation + 1, key=key)
        return new, metrics

    def evaluate(state: SelfPlayState) -> dict:
        pa, pb = es.get_mean(state.es[0]), es.get_mean(state.es[1])
        k_self, k_na, k_nb = jax.random.split(jax.random.fold_in(state.key, _EVAL_TAG), 3)
        m = config.eval_opponents
        out = jax.vmap(selfplay, in_axes=(None, None, 0))(pa, pb, jax.random.split(k_self, m))
        rewards = out.rewards.mean(axis=0)  # [T, 2]
        na = jax.vmap(vs_naive[0], in_axes=(None, 0))(pa, jax.random.split(k_na, m))
        nb = jax.vmap(vs_naive[1], in_axes=(None, 0))(pb, jax.random.split(k_nb, m))
        return {
            "mean_reward": rewards.mean(axis=0),
            "rewards": rewards,
            "p_cooperate": jnp.stack(
                [
                    jax.nn.sigmoid(out.thetas_a[:, -1]).mean(axis=0),
                    jax.nn.sigmoid(out.thetas_b[:, -1]).mean(axis=0),
                ]
            ),
            "naive_mean_reward": jnp.stack(
                [na.rewards.mean(axis=(0, 1)), nb.rewards.mean(axis=(0, 1))]
            ),
        }

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=config.generations)


@functools.partial(jax.jit, static_argnames=("config",))
def _train(key, game, config):
    trainer = make_mfos_selfplay(game, config)
    state, metrics = run_steps(trainer, trainer.init(key), config.generations)
    return state, metrics, trainer.evaluate(state)


def train_mfos_selfplay(
    key: chex.PRNGKey, game: DifferentiableGame, config: SelfPlayConfig
) -> SelfPlayResult:
    """Train two M-FOS agents by meta-self-play (one compiled scan), then evaluate.

    Raises:
        ValueError: for a bad game, or if a fitness is NaN (naming the first
            such generation).
    """
    if not isinstance(game, DifferentiableGame) or game.num_players != 2:
        raise bad_value("game", getattr(game, "name", game), "a two-player DifferentiableGame")
    config = dataclasses.replace(config, shared=resolve_shared(game, config))
    state, metrics, evaluation = _train(raw_key(key), unlabelled(game), config)
    g = nan_generation(metrics, ("fitness_0", "fitness_1"))
    if g is not None:
        raise ValueError(
            f"fitness is NaN at generation {g} of {config.generations}: "
            f"reduce sigma={config.sigma} or lr={config.lr}"
        )
    es = make_es(config, _init_params(jax.random.PRNGKey(0), game, config)[0])
    params = (es.get_mean(state.es[0]), es.get_mean(state.es[1]))
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    return SelfPlayResult(params=params, metrics=metrics, evaluation=evaluation, state=state)
