"""M-FOS-ES: model-free opponent shaping trained by evolution strategies.

Lu, Willi, de Witt and Foerster 2022, "Model-Free Opponent Shaping", ICML,
https://arxiv.org/abs/2205.01447.

The meta-game. Each meta-step is one inner episode of an exact differentiable
game (the infinitely repeated memory-1 game of
:func:`detente.games.differentiable.iterated`): its outcome is the exact
per-step reward ``(1 - gamma) V_i(theta_1, theta_2)``. The opponent is a
naive learner (player 2) that, after every inner episode, takes one exact
gradient step ``theta_2 <- theta_2 + lr grad_2 V_2(theta_1, theta_2)`` on its
*discounted* value, as in the authors' code (the step of
:func:`detente.solvers.dynamics.make_rule` ``("naive")``, computed as the one
partial gradient :func:`detente.solvers.dynamics.partial_grad`: the same
numbers to float rounding, 2.3 times faster than the rule's full Jacobian).
The M-FOS agent (player 1) has a meta-policy, a small MLP ``pi_phi``, that maps the meta-state
``s_t`` -- both inner policies ``(sigmoid(theta_1^{t-1}), sigmoid(theta_2^t))``
(10 numbers; ``theta_1^{-1} = 0``) or the opponent's alone (5 numbers) -- to
its own inner policy logits for the next inner episode,
``theta_1^t = pi_phi(s_t)``. A meta-episode is ``T`` inner episodes (100 in the
paper) against a naive learner started at ``theta_2^0 ~ N(0, I)``; M-FOS's
fitness is its mean per-step reward over the meta-episode, averaged over a
batch of opponents.

The paper's games are :data:`MFOS_GAMES` (:func:`mfos_game`): the IPD and
iterated matching pennies with ``gamma = 0.96`` and one-shot chicken. Note
that ``make_differentiable("imp")`` is LOLA's matching pennies with
``gamma = 0.9``: there the naive learner's step (lr 1 on a value of scale
``1 / (1 - gamma)``) is 2.5 times smaller and M-FOS-ES reaches only about
0.38 per step (a greedy best responder, which plays the best response to the
learner's current policy in every inner episode, 0.34), against 0.87 to 0.90
at the paper's ``gamma = 0.96`` (:class:`MFOSConfig` defaults, 3 seeds).

M-FOS-ES trains ``phi`` with OpenAI-ES (Salimans et al. 2017,
https://arxiv.org/abs/1703.03864; evosax's ``Open_ES``, antithetic sampling,
centred-rank fitness shaping, Adam), the paper's ES variant of M-FOS.
evosax *minimises*, so it is told ``-fitness``.
Everything is compiled: the meta-episode is a ``lax.scan`` over inner
episodes, vmapped over opponents and over the ES population, and the
generations are a ``lax.scan`` too; every member of one generation meets the
same opponents (common random numbers). The population's fitness runs through
:func:`detente.batching.map_blocks_sharded`, so it is split over
``jax.devices()`` when there are several.

:func:`make_mfos_es` returns the :class:`~detente.training.Trainer` (one ES
generation per ``step``; the state carries its PRNG key, so a run split into
chunks gives bit-identical numbers); :func:`train_mfos_es` runs it.

Example:
    >>> import jax
    >>> from detente.solvers.shaping.mfos import MFOSConfig, mfos_game, train_mfos_es
    >>> res = train_mfos_es(jax.random.PRNGKey(0), mfos_game("ipd"), MFOSConfig(generations=10))
    >>> res.fitness.shape
    (10,)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.batching import blocks_per_device, map_blocks_sharded
from detente.games import zoo
from detente.games.differentiable import DifferentiableGame, iterated, make_differentiable
from detente.solvers.dynamics import partial_grad
from detente.training import Trainer, raw_key

__all__ = [
    "META_STATES",
    "MFOS_GAMES",
    "MFOSConfig",
    "MFOSResult",
    "MFOSState",
    "MetaEpisode",
    "MetaPolicy",
    "init_meta_params",
    "make_fitness",
    "make_meta_episode",
    "make_es",
    "make_meta_policy",
    "make_mfos_es",
    "make_population_fitness",
    "member_block_size",
    "meta_state_size",
    "mfos_game",
    "naive_gradient",
    "nan_generation",
    "raw_key",
    "run_steps",
    "train_mfos_es",
    "unlabelled",
]

META_STATES = ("both", "opponent")
_EVAL_TAG = 0x3F05  # folded into the state's key for the evaluation's opponents

MFOS_GAMES: dict[str, Callable[[], DifferentiableGame]] = {
    "ipd": lambda: make_differentiable("ipd"),
    "imp": lambda: iterated(zoo.matching_pennies(), gamma=0.96),
    "chicken": lambda: make_differentiable("chicken"),
}
"""The M-FOS paper's games, as in the authors' code (``src/environments.py``).

``"ipd"``: LOLA's payoffs (CC -1, CD -3, DC 0, DD -2), ``gamma = 0.96``;
``"imp"``: matching pennies, ``gamma = 0.96`` (not LOLA's 0.9 of
``make_differentiable("imp")``); ``"chicken"``: the one-shot game of chicken
with a crash at -100 (:func:`detente.games.zoo.chicken`).
"""


def mfos_game(name: str) -> DifferentiableGame:
    """One of the M-FOS paper's games (:data:`MFOS_GAMES`): ``"ipd"``, ``"imp"``, ``"chicken"``."""
    check_choice("game", name, MFOS_GAMES)
    return MFOS_GAMES[name]()


def check_es_config(config, counts: tuple[str, ...]) -> None:
    """Validate the fields every ES trainer's config shares, plus positive ``counts``.

    ``population_size`` and ``generations`` positive, the population even
    (antithetic pairs), ``member_block`` ``None`` or positive, ``sigma`` and
    ``lr`` positive; raises ``ValueError`` naming the field.
    """
    for f in ("population_size", "generations", *counts):
        check_positive_int(f, getattr(config, f))
    if config.population_size % 2:
        raise bad_value(
            "population_size", config.population_size, "an even number (antithetic pairs)"
        )
    if config.member_block is not None:
        check_positive_int("member_block", config.member_block)
    check_finite("sigma", config.sigma, low=0.0, low_inclusive=False)
    check_finite("lr", config.lr, low=0.0, low_inclusive=False)


@dataclasses.dataclass(frozen=True)
class MFOSConfig:
    """Static configuration of M-FOS-ES (hashable: a ``jit`` static argument).

    Attributes:
        inner_episodes: ``T``, inner episodes per meta-episode (paper: 100).
        population_size: ES population (even: antithetic pairs).
        generations: ES generations (``Trainer.num_steps``).
        hidden_size: width of the meta-policy's two hidden layers.
        opponents: naive learners per fitness evaluation (vmapped).
        sigma: ES perturbation standard deviation.
        lr: Adam step size of the ES mean (0.1 reaches the IPD's extortion and
            IMP's 0.6 within 100 generations of 32 members; 0.03 needs about
            twice as many).
        opponent_lr: the naive learner's step size (paper: 1).
        opponent_init_std: ``theta_2^0 ~ N(0, opponent_init_std^2 I)``.
        meta_state: ``"both"`` (both inner policies, 10 numbers) or
            ``"opponent"`` (the opponent's, 5 numbers).
        eval_opponents: opponents of the final evaluation of the ES mean.
        member_block: ES members per compiled block of
            :func:`~detente.batching.map_blocks_sharded` (``None``: the whole
            population, or its share per device, in one block).
    """

    inner_episodes: int = 100
    population_size: int = 64
    generations: int = 300
    hidden_size: int = 16
    opponents: int = 16
    sigma: float = 0.1
    lr: float = 0.1
    opponent_lr: float = 1.0
    opponent_init_std: float = 1.0
    meta_state: str = "both"
    eval_opponents: int = 256
    member_block: int | None = None

    def __post_init__(self):
        check_es_config(self, ("inner_episodes", "hidden_size", "opponents", "eval_opponents"))
        check_finite("opponent_lr", self.opponent_lr, low=0.0)
        check_finite("opponent_init_std", self.opponent_init_std, low=0.0)
        check_choice("meta_state", self.meta_state, META_STATES)


class MetaPolicy(nn.Module):
    """``pi_phi``: meta-state ``[S]`` -> own inner-policy logits ``[d_1]``.

    Two tanh hidden layers; the output layer starts at zero, so an untrained
    meta-policy plays the uniform inner policy.
    """

    hidden_size: int
    out_dim: int

    @nn.compact
    def __call__(self, s: chex.Array) -> chex.Array:
        h = nn.tanh(nn.Dense(self.hidden_size)(s))
        h = nn.tanh(nn.Dense(self.hidden_size)(h))
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.zeros)(h)


class MetaEpisode(NamedTuple):
    """One meta-episode (add leading axes for vmapped opponents / members).

    Attributes:
        rewards: ``[T, 2]`` exact per-step rewards of (M-FOS, naive learner)
            in each inner episode.
        agent_thetas: ``[T, d_1]`` M-FOS's inner logits in each inner episode.
        opponent_thetas: ``[T + 1, d_2]`` the naive learner's logits before
            each inner episode, and after the last update.
    """

    rewards: chex.Array  # [T, 2]
    agent_thetas: chex.Array  # [T, d_1]
    opponent_thetas: chex.Array  # [T + 1, d_2]


class MFOSState(NamedTuple):
    """An ES trainer's state (M-FOS-ES, Shaper): everything one generation needs.

    Attributes:
        es: the evosax ``Open_ES`` state (mean, Adam state, ...).
        generation: ``[]`` int32, generations done.
        key: ``[2]`` uint32, the run's PRNG key (advanced by every ``step``).
    """

    es: Any
    generation: chex.Array  # []
    key: chex.Array  # [2]


class MFOSResult(NamedTuple):
    """Result of :func:`train_mfos_es`.

    Attributes:
        meta_params: the final ES mean, the meta-policy's flax params.
        fitness: ``[G]`` mean fitness of each generation's population.
        best_fitness: ``[G]`` best member's fitness in each generation.
        final_rewards: ``[T, 2]`` per-step rewards of the final meta-policy
            per inner episode, averaged over ``eval_opponents`` fresh opponents.
        final_mean_rewards: ``[2]`` the same averaged over the meta-episode:
            (M-FOS, naive learner).
        reward_1: ``[G]`` the naive learners' per-step reward, population mean
            (``fitness`` is M-FOS's).
        evaluation: ``Trainer.evaluate`` of the final state (see
            :func:`make_mfos_es`).
        state: the final :class:`MFOSState` (for resuming).
    """

    meta_params: Any
    fitness: chex.Array  # [G]
    best_fitness: chex.Array  # [G]
    final_rewards: chex.Array  # [T, 2]
    final_mean_rewards: chex.Array  # [2]
    reward_1: chex.Array  # [G]
    evaluation: dict
    state: MFOSState


def _check_game(game: DifferentiableGame) -> None:
    if not isinstance(game, DifferentiableGame) or game.num_players != 2:
        raise bad_value("game", getattr(game, "name", game), "a two-player DifferentiableGame")


def naive_gradient(game: DifferentiableGame, thetas, i: int) -> chex.Array:
    """``grad_i V_i(thetas)``: the exact naive learner's ascent direction (its
    step is ``lr`` times this; Foerster et al. 2018, LOLA, Sec. 3.1)."""
    return partial_grad(lambda th: game.values(th)[i], tuple(thetas), i)


def make_meta_policy(game: DifferentiableGame, config: MFOSConfig) -> MetaPolicy:
    """The meta-policy module for ``game`` (output: player 1's ``d_1`` logits)."""
    _check_game(game)
    return MetaPolicy(hidden_size=config.hidden_size, out_dim=game.dims[0])


def meta_state_size(game: DifferentiableGame, config: MFOSConfig) -> int:
    """Size of the meta-state: ``d_1 + d_2`` (``"both"``) or ``d_2`` (``"opponent"``)."""
    d1, d2 = game.dims
    return d1 + d2 if config.meta_state == "both" else d2


def init_meta_params(key: chex.PRNGKey, game: DifferentiableGame, config: MFOSConfig):
    """Initial meta-policy parameters (flax LeCun-normal hidden layers, zero output)."""
    policy = make_meta_policy(game, config)
    return policy.init(key, jnp.zeros((meta_state_size(game, config),)))


def make_meta_episode(game: DifferentiableGame, config: MFOSConfig):
    """Build ``meta_episode(meta_params, key) -> MetaEpisode`` against one naive learner.

    Inner episode ``t``: ``s_t = (sigmoid(theta_1^{t-1}), sigmoid(theta_2^t))``,
    ``theta_1^t = pi_phi(s_t)``, rewards ``(1 - gamma) V(theta_1^t, theta_2^t)``,
    then ``theta_2^{t+1} = theta_2^t + lr grad_2 V_2(theta_1^t, theta_2^t)``.
    ``key`` draws ``theta_2^0 ~ N(0, opponent_init_std^2 I)``.

    Args:
        game: a two-player differentiable game (e.g. ``mfos_game("ipd")``).
        config: static configuration.

    Returns:
        A pure function; vmap it over keys (opponents) and meta-parameters.
    """
    policy = make_meta_policy(game, config)
    d1, d2 = game.dims

    def inner(carry, _):
        theta_1_prev, theta_2, meta_params = carry
        pi_2 = jax.nn.sigmoid(theta_2)
        if config.meta_state == "both":
            s = jnp.concatenate([jax.nn.sigmoid(theta_1_prev), pi_2])
        else:
            s = pi_2
        theta_1 = policy.apply(meta_params, s)
        thetas = (theta_1, theta_2)
        r = game.step_scale * game.values(thetas)
        theta_2_next = theta_2 + config.opponent_lr * naive_gradient(game, thetas, 1)
        return (theta_1, theta_2_next, meta_params), (r, theta_1, theta_2)

    def meta_episode(meta_params, key: chex.PRNGKey) -> MetaEpisode:
        theta_2 = config.opponent_init_std * jax.random.normal(key, (d2,))
        theta_1 = jnp.zeros((d1,), theta_2.dtype)
        (_, theta_2_end, _), (r, th1, th2) = jax.lax.scan(
            inner, (theta_1, theta_2, meta_params), None, length=config.inner_episodes
        )
        return MetaEpisode(
            rewards=r,
            agent_thetas=th1,
            opponent_thetas=jnp.concatenate([th2, theta_2_end[None]]),
        )

    return meta_episode


def make_fitness(game: DifferentiableGame, config: MFOSConfig, num_opponents: int | None = None):
    """``fitness(meta_params, key) -> (fitness [], mean_rewards [2])``.

    The fitness is M-FOS's per-step reward averaged over the ``T`` inner
    episodes and ``num_opponents`` (default ``config.opponents``) naive learners.
    """
    n = (
        config.opponents
        if num_opponents is None
        else check_positive_int("num_opponents", num_opponents)
    )
    episode = jax.vmap(make_meta_episode(game, config), in_axes=(None, 0))

    def fitness(meta_params, key):
        out = episode(meta_params, jax.random.split(key, n))
        mean = out.rewards.mean(axis=(0, 1))  # [2]
        return mean[0], mean

    return fitness


def member_block_size(population_size: int, member_block: int | None) -> int:
    """Members per block of :func:`map_blocks_sharded`: ``member_block``, or the
    population's share per device."""
    return member_block or -(-population_size // len(jax.devices()))


def make_population_fitness(
    member_rewards: Callable, population_size: int, member_block: int | None = None
):
    """``population_rewards(population, *args) -> [P, ...]``, sharded over devices.

    The population (a pytree with leading axis ``P``) is cut into blocks of
    ``member_block`` members (default: ``P`` over the number of devices),
    split over ``jax.devices()`` with :func:`detente.batching.map_blocks_sharded`
    and vmapped inside a block; ``args`` (keys, opponents) are shared by all
    members (common random numbers).

    Args:
        member_rewards: ``(member_params, *args) -> pytree`` for one member.
        population_size: ``P``.
        member_block: members per compiled block.

    Returns:
        A pure function of ``(population, *args)``.
    """
    block = member_block_size(population_size, member_block)
    count = blocks_per_device(population_size, block)

    def block_rewards(members, *args):
        return jax.vmap(member_rewards, in_axes=(0,) + (None,) * len(args))(members, *args)

    def population_rewards(population, *args):
        return map_blocks_sharded(block_rewards, population, block, count, *args)

    return population_rewards


def make_es(config, template):
    """evosax ``Open_ES`` for ``template``-shaped solutions, from ``config``'s
    ``population_size``, ``lr`` (Adam) and ``sigma`` (constant)."""
    from evosax.algorithms import Open_ES  # lazy: optional heavy import

    return Open_ES(
        population_size=config.population_size,
        solution=template,
        optimizer=optax.adam(config.lr),
        std_schedule=optax.constant_schedule(config.sigma),
    )


def make_mfos_es(game: DifferentiableGame, config: MFOSConfig) -> Trainer:
    """M-FOS-ES against exact naive learners as a :class:`~detente.training.Trainer`.

    Args:
        game: a two-player differentiable game, M-FOS is player 1
            (the paper's: :func:`mfos_game`).
        config: static configuration.

    Returns:
        ``Trainer(init, step, evaluate, num_steps=config.generations)``:

        * ``init(key) -> MFOSState``;
        * ``step(state) -> (state, metrics)``: one ES generation; metrics
          ``fitness`` (population mean of M-FOS's per-step reward),
          ``best_fitness`` (population max), ``reward_0`` and ``reward_1``
          (per-step rewards of M-FOS and the naive learners, population
          mean), all scalars;
        * ``evaluate(state) -> dict``: the ES mean against
          ``config.eval_opponents`` fresh naive learners: ``"mean_reward"``
          ``[2]`` per-step over the meta-episode, ``"rewards"`` ``[T, 2]`` per
          inner episode, ``"p_cooperate"`` ``[d_2]`` the naive learners' final
          inner policy (``sigmoid(theta_2)``: P(action 0 | start, CC, CD, DC,
          DD) in the iterated games) averaged over opponents, and
          ``"agent_p_cooperate"`` ``[d_1]`` M-FOS's last inner policy, averaged
          likewise.
    """
    _check_game(game)
    template = init_meta_params(jax.random.PRNGKey(0), game, config)
    es = make_es(config, template)
    es_params = es.default_params
    fitness = make_fitness(game, config)
    population_rewards = make_population_fitness(
        lambda params, key: fitness(params, key)[1], config.population_size, config.member_block
    )
    episode = jax.vmap(make_meta_episode(game, config), in_axes=(None, 0))

    def init(key: chex.PRNGKey) -> MFOSState:
        k_init, k_es, k_run = jax.random.split(raw_key(key), 3)
        params0 = init_meta_params(k_init, game, config)
        return MFOSState(
            es=es.init(k_es, params0, es_params), generation=jnp.zeros((), jnp.int32), key=k_run
        )

    def step(state: MFOSState):
        key, k_ask, k_opp, k_tell = jax.random.split(state.key, 4)
        population, es_state = es.ask(k_ask, state.es, es_params)
        r = population_rewards(population, k_opp)  # [P, 2]
        f = r[:, 0]
        es_state, _ = es.tell(k_tell, population, -f, es_state, es_params)  # evosax minimises
        metrics = {
            "fitness": f.mean(),
            "best_fitness": f.max(),
            "reward_0": f.mean(),
            "reward_1": r[:, 1].mean(),
        }
        return MFOSState(es=es_state, generation=state.generation + 1, key=key), metrics

    def evaluate(state: MFOSState) -> dict:
        params = es.get_mean(state.es)
        key = jax.random.fold_in(state.key, _EVAL_TAG)
        out = episode(params, jax.random.split(key, config.eval_opponents))
        rewards = out.rewards.mean(axis=0)  # [T, 2]
        return {
            "mean_reward": rewards.mean(axis=0),
            "rewards": rewards,
            "p_cooperate": jax.nn.sigmoid(out.opponent_thetas[:, -1]).mean(axis=0),
            "agent_p_cooperate": jax.nn.sigmoid(out.agent_thetas[:, -1]).mean(axis=0),
        }

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=config.generations)


def run_steps(trainer: Trainer, state, num: int):
    """``num`` steps of ``trainer`` as one ``lax.scan``: ``(state, metrics [num])``."""
    return jax.lax.scan(lambda s, _: trainer.step(s), state, None, length=num)


def unlabelled(game: DifferentiableGame) -> DifferentiableGame:
    """``game`` without its name and policy labels (static fields), so that games
    that differ only in payoffs and discount (the iterated IPD and IMP) share one
    compiled program when passed to a ``jit`` as a traced argument."""
    return dataclasses.replace(game, name="", policy_labels=())


@functools.partial(jax.jit, static_argnames=("config",))
def _train(key, game, config):
    """The compiled run (cached per config and game structure; ``game`` is traced)."""
    trainer = make_mfos_es(game, config)
    state, metrics = run_steps(trainer, trainer.init(key), config.generations)
    return state, metrics, trainer.evaluate(state)


def nan_generation(metrics: dict, names=("fitness",)) -> int | None:
    """The first generation whose metric in ``names`` is NaN, else ``None``."""
    bad = np.zeros(np.asarray(metrics[names[0]]).shape[0], bool)
    for n in names:
        bad |= np.isnan(np.asarray(metrics[n]))
    return int(np.argmax(bad)) if bad.any() else None


def train_mfos_es(key: chex.PRNGKey, game: DifferentiableGame, config: MFOSConfig) -> MFOSResult:
    """Train an M-FOS meta-policy against exact naive learners with OpenAI-ES.

    ``init`` then ``config.generations`` ``step`` s of :func:`make_mfos_es`
    in one compiled ``lax.scan``, then ``evaluate``.

    Args:
        key: PRNG key; the same key gives the same numbers.
        game: a two-player differentiable game, M-FOS is player 1.
        config: static configuration.

    Returns:
        :class:`MFOSResult`; ``fitness[g]`` is generation ``g``'s mean
        population fitness (M-FOS's per-step reward), and the final ES mean is
        evaluated on ``config.eval_opponents`` fresh opponents.

    Raises:
        ValueError: if a fitness is NaN; the message names the first such
            generation.
    """
    _check_game(game)
    state, metrics, evaluation = _train(raw_key(key), unlabelled(game), config)
    g = nan_generation(metrics)
    if g is not None:
        raise ValueError(
            f"fitness is NaN at generation {g} of {config.generations}: "
            f"reduce sigma={config.sigma} or lr={config.lr}"
        )
    final = evaluation["rewards"]
    if not np.all(np.isfinite(np.asarray(final))):
        raise ValueError("final evaluation rewards are not finite")
    es = make_es(config, init_meta_params(jax.random.PRNGKey(0), game, config))
    return MFOSResult(
        meta_params=es.get_mean(state.es),
        fitness=metrics["fitness"],
        best_fitness=metrics["best_fitness"],
        final_rewards=final,
        final_mean_rewards=evaluation["mean_reward"],
        reward_1=metrics["reward_1"],
        evaluation=evaluation,
        state=state,
    )
