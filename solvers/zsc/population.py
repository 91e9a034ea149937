"""Training one agent against a fixed population of partners, sampled where it does worst.

The population-based robust variant of noisy zero-shot coordination (Anwar,
Pandian, Wan, Krueger, Foerster 2024, https://arxiv.org/abs/2411.04976, the
variant of the paper's code): a learner is trained with IPPO against a frozen
population of ``K`` self-play partners; every episode draws one partner with
probability proportional to a power of the inverse of the learner's recent
score with it,

``p_k  ~  max(J_k, min_score) ** -power``,

so the partners it coordinates worst with are met most (``power = 0``:
uniform; larger powers move towards the worst case). ``J_k`` is re-measured
between phases of the run (a fresh rollout against each partner alone), the
first phase sampling uniformly. The same machinery trains a best response to
any fixed population (``power = 0``).

* :class:`PopulationEnv` turns a two-player environment into a one-player one:
  the learner's seat is drawn uniformly per episode, the other seat is
  played by the drawn partner (its own recurrent state, legal-action masks,
  sampled actions), and the learner sees its own observation, mask and reward.
* :func:`train_against_population` runs the phases (one compiled program,
  vmapped over seeds, each seed with its own population).

Example::

    partners = agent_params(train_selfplay(keys_k, env, sp_config, params)[0])  # [K, ...]
    states, out = train_against_population(
        keys[:1], env, config, jax.tree.map(lambda x: x[None], partners), sp_config.network,
        params, PopulationConfig(phases=10, power=2.0))
    learner = agent_params(states)  # acts in env itself, in either seat
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from detente._checks import bad_value, check_positive_int
from detente.env import TimeStep, Wrapper
from detente.solvers.rl.ippo import IPPOConfig, IPPOState, make_ippo
from detente.solvers.rl.policy import NetworkConfig, make_policy, mask_policy
from detente.solvers.zsc.ers_maps import params_count

__all__ = [
    "PopulationConfig",
    "PopulationEnv",
    "PopulationParams",
    "PopulationState",
    "partner_weights",
    "train_against_population",
]


@struct.dataclass
class PopulationParams:
    """Params of :class:`PopulationEnv`.

    Attributes:
        env: the wrapped environment's params.
        partners: the population's parameters, leaves ``[K, ...]``.
        probs: ``[K]`` the probability of drawing each partner per episode.
    """

    env: Any
    partners: Any
    probs: chex.Array  # [K]


class PopulationState(NamedTuple):
    """State of :class:`PopulationEnv` (one episode).

    Attributes:
        env: the wrapped environment's state.
        partner: ``[]`` int32 the partner of the episode.
        seat: ``[]`` int32 the learner's seat (0 or 1).
        carry: the partner's recurrent state (batch ``[1]``).
        obs, mask: the partner's current observation and legal actions.
        first: ``[]`` bool, the partner's next action starts the episode.
    """

    env: Any
    partner: chex.Array
    seat: chex.Array
    carry: Any
    obs: chex.Array
    mask: chex.Array
    first: chex.Array


@dataclasses.dataclass(frozen=True)
class PopulationEnv(Wrapper):
    """A one-player view of a two-player ``env`` whose other seat a frozen partner plays.

    Attributes:
        env: a two-player detente environment with discrete actions.
        network: the partners' :class:`~detente.solvers.rl.policy.NetworkConfig`.
    """

    network: NetworkConfig = NetworkConfig()

    def __post_init__(self):
        if int(getattr(self.env, "num_agents", 0)) != 2:
            raise bad_value("env.num_agents", getattr(self.env, "num_agents", None), "2")
        if not isinstance(self.network, NetworkConfig):
            raise bad_value("network", self.network, "a NetworkConfig")

    @property
    def num_agents(self) -> int:
        return 1

    @property
    def _policy(self):
        return make_policy(self.env.observation_shape, int(self.env.num_actions), self.network)

    def make_params(self, env_params: Any, partners: Any, probs: Any = None) -> PopulationParams:
        """Params with ``partners`` (leaves ``[K, ...]``), drawn uniformly unless ``probs``."""
        k = params_count(partners)
        probs = jnp.full((k,), 1.0 / k) if probs is None else jnp.asarray(probs, jnp.float32)
        return PopulationParams(env=env_params, partners=partners, probs=probs)

    def default_params(self) -> PopulationParams:
        raise bad_value("params", None, "PopulationEnv.make_params(env_params, partners)")

    def _view(self, ts: TimeStep, seat, extra: dict) -> TimeStep:
        return TimeStep(
            obs=ts.obs[seat][None],
            state=extra,
            rewards=ts.rewards[seat][None],
            terminated=ts.terminated,
            truncated=ts.truncated,
            action_mask=ts.action_mask[seat][None],
            info={},
        )

    def reset(self, key: chex.PRNGKey, params: PopulationParams) -> TimeStep:
        k_env, k_partner, k_seat = jax.random.split(key, 3)
        ts = self.env.reset(k_env, params.env)
        partner = jax.random.categorical(k_partner, jnp.log(params.probs)).astype(jnp.int32)
        seat = jax.random.randint(k_seat, (), 0, 2, jnp.int32)
        state = PopulationState(
            env=ts.state,
            partner=partner,
            seat=seat,
            carry=self._policy.initial_carry((1,)),
            obs=ts.obs[1 - seat],
            mask=ts.action_mask[1 - seat],
            first=jnp.ones((), bool),
        )
        return self._view(ts, seat, state)

    def step(
        self,
        key: chex.PRNGKey,
        state: PopulationState,
        actions: chex.Array,
        params: PopulationParams,
    ) -> TimeStep:
        k_partner, k_env = jax.random.split(key)
        theta = jax.tree_util.tree_map(lambda x: x[state.partner], params.partners)
        carry, pi, _ = self._policy.apply(
            theta, state.carry, state.obs[None, None], jnp.reshape(state.first, (1, 1))
        )
        pi = jax.tree_util.tree_map(lambda x: x[0, 0], pi)
        other = mask_policy(pi, state.mask).sample(k_partner)
        mine = jnp.asarray(actions, jnp.int32).reshape(())
        joint = jnp.where(state.seat == 0, jnp.stack([mine, other]), jnp.stack([other, mine]))
        ts = self.env.step(k_env, state.env, joint, params.env)
        new = state._replace(
            env=ts.state,
            carry=carry,
            obs=ts.obs[1 - state.seat],
            mask=ts.action_mask[1 - state.seat],
            first=jnp.zeros((), bool),
        )
        return self._view(ts, state.seat, new)


@dataclasses.dataclass(frozen=True)
class PopulationConfig:
    """How :func:`train_against_population` reweights the partners.

    Attributes:
        phases: the run's ``num_updates`` split into this many phases; the
            partners' probabilities are recomputed before each phase after
            the first (which samples uniformly).
        power: ``p_k ~ max(J_k, min_score) ** -power`` (0: uniform throughout).
        min_score: scores below it count as it (the mean reward per step
            with a partner can be 0 or negative, e.g. the lever games' miss).
    """

    phases: int = 10
    power: float = 1.0
    min_score: float = 0.1

    def __post_init__(self):
        check_positive_int("phases", self.phases)
        for name, lo in (("power", 0.0), ("min_score", 1e-9)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= lo):
                raise bad_value(name, v, f"a finite number >= {lo:g}")


def partner_weights(scores: chex.Array, config: PopulationConfig) -> chex.Array:
    """``[K]`` probabilities ``~ max(scores, min_score) ** -power``."""
    w = jnp.maximum(scores, config.min_score) ** -config.power
    return w / w.sum()


def train_against_population(
    keys: chex.Array,
    env: Any,
    config: IPPOConfig,
    partners: Any,
    partner_network: NetworkConfig,
    env_params: Any = None,
    population: PopulationConfig | None = None,
    *,
    compiler_options: Mapping[str, Any] | None = None,
) -> tuple[IPPOState, dict]:
    """Train ``S`` learners, learner ``s`` against its own population ``partners[s]``.

    Args:
        keys: ``[S, 2]`` raw keys or ``[S]`` typed keys.
        env: a hashable two-player environment (the partners' own).
        config: the learner's IPPO config (``num_updates`` divisible by
            ``population.phases``).
        partners: leaves ``[S, K, ...]``, ``K >= 1`` partners per learner.
        partner_network: the partners' network config.
        env_params: ``env``'s params (default ``env.default_params()``).
        population: a :class:`PopulationConfig` (default ``PopulationConfig()``).
        compiler_options: XLA options for the compiled program.

    Returns:
        ``(states, out)``: the learners' :class:`~detente.solvers.rl.ippo.IPPOState`
        (leaves ``[S, ...]``; :func:`~detente.solvers.zsc.selfplay.agent_params`
        gives agents that act in ``env``), and ``out`` with ``"metrics"``
        (IPPO's, leaves ``[S, num_updates]``), ``"scores"`` ``[S, phases, K]``
        (the learner's mean reward per step with each partner, measured before
        each phase) and ``"probs"`` ``[S, phases, K]`` (the probabilities each
        phase used).

    Raises:
        ValueError: for a bad config, population or key count.
    """
    population = PopulationConfig() if population is None else population
    if not isinstance(population, PopulationConfig):
        raise bad_value("population", population, "a PopulationConfig")
    if not isinstance(config, IPPOConfig):
        raise bad_value("config", config, "an IPPOConfig")
    if config.num_updates % population.phases:
        raise bad_value(
            "config.num_updates",
            config.num_updates,
            f"a multiple of population.phases = {population.phases}",
        )
    if env_params is None:
        env_params = env.default_params()
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    s = keys.shape[0]
    leaves = jax.tree_util.tree_leaves(partners)
    if not leaves or any(x.ndim < 2 or x.shape[0] != s for x in leaves):
        raise bad_value("partners", "leaf shapes", f"[S = {s}, K, ...] (one population per key)")
    k = int(leaves[0].shape[1])
    try:
        hash(env)
    except TypeError:
        raise bad_value("env", type(env).__name__, "a hashable environment") from None
    penv = PopulationEnv(env, partner_network)
    options = tuple(sorted((compiler_options or {}).items()))
    return _program(penv, config, population, k, options)(keys, partners, env_params)


@functools.lru_cache(maxsize=8)
def _program(
    penv: PopulationEnv, config: IPPOConfig, population: PopulationConfig, k: int, options
):
    """The compiled run of :func:`train_against_population`, one per static setting."""
    per_phase = config.num_updates // population.phases

    def one(key, pop, env_params):
        params = penv.make_params(env_params, pop)
        state = make_ippo(penv, config, params).init(key)

        def scores_of(state):
            def with_partner(onehot):
                ev = make_ippo(penv, config, params.replace(probs=onehot)).evaluate(state)
                return ev["mean_reward"][0]

            return jax.vmap(with_partner)(jnp.eye(k))

        def phase(state, i):
            scores = scores_of(state)
            probs = jnp.where(i == 0, jnp.full((k,), 1.0 / k), partner_weights(scores, population))
            step = make_ippo(penv, config, params.replace(probs=probs)).step
            state, metrics = jax.lax.scan(lambda st, _: step(st), state, None, per_phase)
            return state, (metrics, scores, probs)

        state, (metrics, scores, probs) = jax.lax.scan(phase, state, jnp.arange(population.phases))
        metrics = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), metrics)
        return state, {"metrics": metrics, "scores": scores, "probs": probs}

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)), compiler_options=dict(options) or None)
