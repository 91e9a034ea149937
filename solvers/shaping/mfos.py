"""M-FOS-ES: model-free opponent shaping trained by evolution strategies.

Lu, Willi, de Witt and Foerster 2022, "Model-Free Opponent Shaping", ICML,
https://arxiv.org/abs/2205.01447.

The meta-game. Each meta-step is one inner episode of an exact differentiable
game (the infinitely repeated memory-1 game of
:func:`detente.games.differentiable.iterated`): its outcome is the exact
per-step reward ``(1 - gamma) V_i(theta_1, theta_2)``. The opponent is a
naive learner (player 2) that, after every inner episode, takes one exact
gradient step ``theta_2 <- theta_2 + lr grad_2 V_2(theta_1, theta_2)``
(:func:`detente.solvers.dynamics.make_rule` ``("naive")``). The M-FOS agent
(player 1) has a meta-policy, a small MLP ``pi_phi``, that maps the meta-state
``s_t`` -- both inner policies ``(sigmoid(theta_1^{t-1}), sigmoid(theta_2^t))``
(10 numbers; ``theta_1^{-1} = 0``) or the opponent's alone (5 numbers) -- to
its own inner policy logits for the next inner episode,
``theta_1^t = pi_phi(s_t)``. A meta-episode is ``T`` inner episodes (100 in the
paper) against a naive learner started at ``theta_2^0 ~ N(0, I)``; M-FOS's
fitness is its mean per-step reward over the meta-episode, averaged over a
batch of opponents.

M-FOS-ES trains ``phi`` with OpenAI-ES (Salimans et al. 2017,
https://arxiv.org/abs/1703.03864; evosax's ``Open_ES``, antithetic sampling,
centred-rank fitness shaping, Adam), the paper's ES variant of M-FOS.
evosax *minimises*, so it is told ``-fitness``.
Everything is compiled: the meta-episode is a ``lax.scan`` over inner
episodes, vmapped over opponents and over the ES population, and the
generations are a ``lax.scan`` too; every member of one generation meets the
same opponents (common random numbers).

Example:
    >>> import jax
    >>> from detente.games import make_differentiable
    >>> from detente.solvers.shaping.mfos import MFOSConfig, train_mfos_es
    >>> game = make_differentiable("ipd")
    >>> res = train_mfos_es(jax.random.PRNGKey(0), game, MFOSConfig(generations=10))
    >>> res.fitness.shape
    (10,)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.games.differentiable import DifferentiableGame
from detente.solvers.dynamics import DynamicsHParams, make_rule

META_STATES = ("both", "opponent")


@dataclasses.dataclass(frozen=True)
class MFOSConfig:
    """Static configuration of M-FOS-ES.

    Attributes:
        inner_episodes: ``T``, inner episodes per meta-episode (paper: 100).
        population_size: ES population (even: antithetic pairs).
        generations: ES generations.
        hidden_size: width of the meta-policy's two hidden layers.
        opponents: naive learners per fitness evaluation (vmapped).
        sigma: ES perturbation standard deviation.
        lr: Adam step size of the ES mean.
        opponent_lr: the naive learner's step size (paper: 1).
        opponent_init_std: ``theta_2^0 ~ N(0, opponent_init_std^2 I)``.
        meta_state: ``"both"`` (both inner policies, 10 numbers) or
            ``"opponent"`` (the opponent's, 5 numbers).
        eval_opponents: opponents of the final evaluation of the ES mean.
    """

    inner_episodes: int = 100
    population_size: int = 64
    generations: int = 300
    hidden_size: int = 16
    opponents: int = 16
    sigma: float = 0.1
    lr: float = 0.03
    opponent_lr: float = 1.0
    opponent_init_std: float = 1.0
    meta_state: str = "both"
    eval_opponents: int = 256

    def __post_init__(self):
        for f in (
            "inner_episodes",
            "population_size",
            "generations",
            "hidden_size",
            "opponents",
            "eval_opponents",
        ):
            check_positive_int(f, getattr(self, f))
        if self.population_size % 2:
            raise bad_value(
                "population_size", self.population_size, "an even number (antithetic pairs)"
            )
        check_finite("sigma", self.sigma, low=0.0, low_inclusive=False)
        check_finite("lr", self.lr, low=0.0, low_inclusive=False)
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
    """

    meta_params: Any
    fitness: chex.Array  # [G]
    best_fitness: chex.Array  # [G]
    final_rewards: chex.Array  # [T, 2]
    final_mean_rewards: chex.Array  # [2]


def _check_game(game: DifferentiableGame) -> None:
    if not isinstance(game, DifferentiableGame) or game.num_players != 2:
        raise bad_value("game", getattr(game, "name", game), "a two-player DifferentiableGame")


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
        game: a two-player differentiable game (e.g. ``make_differentiable("ipd")``).
        config: static configuration.

    Returns:
        A pure function; vmap it over keys (opponents) and meta-parameters.
    """
    policy = make_meta_policy(game, config)
    naive = make_rule("naive")
    hparams = DynamicsHParams(lr=config.opponent_lr)
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
        delta_2, _ = naive.update(1, thetas, naive.init(thetas), game, hparams)
        return (theta_1, theta_2 + delta_2, meta_params), (r, theta_1, theta_2)

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


def _make_es(game: DifferentiableGame, config: MFOSConfig, template):
    from evosax.algorithms import Open_ES  # lazy: optional heavy import

    return Open_ES(
        population_size=config.population_size,
        solution=template,
        optimizer=optax.adam(config.lr),
        std_schedule=optax.constant_schedule(config.sigma),
    )


@functools.partial(jax.jit, static_argnames=("config",))
def _train(key, game, config):
    """The compiled ES loop (cached per config and game structure)."""
    k_init, k_es, k_gen, k_eval = jax.random.split(key, 4)
    params0 = init_meta_params(k_init, game, config)
    es = _make_es(game, config, params0)
    es_params = es.default_params
    pop_fitness = jax.vmap(make_fitness(game, config), in_axes=(0, None))

    def generation(state, k):
        k_ask, k_opp, k_tell = jax.random.split(k, 3)
        population, state = es.ask(k_ask, state, es_params)
        f, _ = pop_fitness(population, k_opp)  # [P]
        state, _ = es.tell(k_tell, population, -f, state, es_params)  # evosax minimises
        return state, (f.mean(), f.max(), jnp.isnan(f).any())

    state = es.init(k_es, params0, es_params)
    state, (f_mean, f_best, nan) = jax.lax.scan(
        generation, state, jax.random.split(k_gen, config.generations)
    )
    meta_params = es.get_mean(state)
    episode = jax.vmap(make_meta_episode(game, config), in_axes=(None, 0))
    out = episode(meta_params, jax.random.split(k_eval, config.eval_opponents))
    final = out.rewards.mean(axis=0)  # [T, 2]
    return meta_params, f_mean, f_best, nan, final


def train_mfos_es(key: chex.PRNGKey, game: DifferentiableGame, config: MFOSConfig) -> MFOSResult:
    """Train an M-FOS meta-policy against exact naive learners with OpenAI-ES.

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
    meta_params, f_mean, f_best, nan, final = _train(key, game, config)
    nan = np.asarray(nan)
    if nan.any():
        g = int(np.argmax(nan))
        raise ValueError(
            f"fitness is NaN at generation {g} of {config.generations}: "
            f"reduce sigma={config.sigma} or lr={config.lr}"
        )
    if not np.all(np.isfinite(np.asarray(final))):
        raise ValueError("final evaluation rewards are not finite")
    return MFOSResult(
        meta_params=meta_params,
        fitness=f_mean,
        best_fitness=f_best,
        final_rewards=final,
        final_mean_rewards=final.mean(axis=0),
    )
