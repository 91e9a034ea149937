"""Noisy games: the meta-Dec-POMDP of noisy zero-shot coordination, and the noisy lever games.

Anwar, Pandian, Wan, Krueger, Foerster 2024, "Noisy Zero-Shot Coordination:
Breaking The Common Knowledge Assumption In Zero-Shot Coordination Games",
https://arxiv.org/abs/2411.04976 (NZSC). In NZSC the agents do not share
the game they play: a ground-truth game ``theta`` is drawn from a prior
``P(theta)`` and agent ``i`` sees only its own noisy version
``theta_i ~ N_i(. | theta)``; only the prior and the noise model are common
knowledge. The paper reduces this to ordinary zero-shot coordination on a
*meta-Dec-POMDP* whose state holds the true game: reset draws ``theta`` and
the views, agent ``i`` observes its view (and then the game's observations),
and transitions and rewards are those of ``theta``.

:class:`NoisyGame` builds that meta-Dec-POMDP around any detente environment
whose params are a pytree (a ``flax.struct`` dataclass or a NamedTuple):

* ``fields`` names the float params leaves that are uncertain
  (``("payoffs",)`` for the lever games, an iterated matrix game and CoinGame);
* the **prior** draws the true params from the base params ``params.env``:
  by default ``theta_f = base_f + prior_scale * z`` (``z ~ N(0, I)``) for
  every field ``f``; any ``(key, base_params, noisy_params) -> params``;
* the **noise model** draws each agent's view: by default
  ``theta_{i,f} = theta_f + sigma_i * z_i``; any
  ``(key, true_params, sigma_i) -> params``;
* agent ``i``'s noise level ``sigma_i`` is ``params.sigma[i]``, or, with
  ``sample_sigma=True``, drawn per episode uniformly from
  ``params.sigma_levels`` (the paper code's ``sigma_rand``).

Agent ``i``'s observation is ``concat(flatten(o_i), view_i[, sigma_i][,
prior])`` with ``o_i`` the game's observation of ``i`` (cast to float),
``view_i`` ``[D]`` its noisy fields flattened in ``fields`` order, and, when
asked, its own noise level (``obs_sigma``) and the prior's parameters
(``obs_prior``: the base fields ``[D]`` and ``prior_scale``). Every agent's
view is drawn from its own key and its own ``sigma_i`` only, so what agent
``i`` observes does not depend on the other agents' noise. Steps use the
true params; action masks, ``terminated``, ``truncated`` pass through.

Symmetries: with ``field_action_axes`` (which axis of each field is indexed
by actions), a symmetry of the wrapped game lifts to the wrapper
(:meth:`NoisyGame.lift_symmetry`: the views and the true params are
relabelled with the actions); :meth:`NoisyGame.symmetry_group` and
:meth:`NoisyGame.permute_state` make the wrapper an environment with
symmetries for Other-Play and :func:`~detente.games.symmetry.check_symmetry`.

:func:`noisy_lever_game` builds the paper's one-shot and iterated noisy lever
games (with ``field_action_axes=(0,)``: their lever permutations, ``S_3``)
and :func:`lever_oracle_value` their reference returns.

Example:
    >>> env, params = noisy_lever_game(sigma=1.0)
    >>> ts = env.reset(jax.random.key(0), params)
    >>> ts.obs.shape, env.observation_shape
    ((2, 9), (9,))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from detente._checks import bad_value, check_finite, check_positive_int
from detente.env import TimeStep, Wrapper
from detente.games.coordination import IteratedLeverGame, LeverGame, LeverParams
from detente.games.symmetry import Symmetry

__all__ = [
    "NLG_MEAN",
    "NLG_MISS",
    "NLG_PRIOR_SCALE",
    "NLG_SIGMA_LEVELS",
    "LeverOracle",
    "NoisyGame",
    "NoisyParams",
    "NoisyState",
    "gaussian_noise",
    "gaussian_prior",
    "lever_oracle_value",
    "noisy_lever_game",
]

# The noisy lever game's constants, from the authors' code
# (github.com/ashishp166/Noisy-Zero-Shot-Coordination, config/NLG.yaml).
NLG_MEAN: float = 5.0
"""Prior mean of every lever's payoff (``r_mean = [5, 5, 5]``)."""
NLG_PRIOR_SCALE: float = 2.0
"""Prior standard deviation of the payoffs (``sigma = 2``)."""
NLG_MISS: float = -2.0
"""Reward when the agents pull different levers (``non_coordinating_reward = -2``)."""
NLG_SIGMA_LEVELS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0)
"""Per-episode noise levels (``sigma_values``)."""
NLG_NUM_ROUNDS: int = 16
"""Rounds of the iterated game (``num_agent_steps = 16``)."""


# ----------------------------------------------------------------------------
# Params, state, prior and noise


@struct.dataclass
class NoisyParams:
    """Params of a :class:`NoisyGame` (a pytree; vmap over noise levels without recompiling).

    Build with :meth:`NoisyGame.make_params` (validates).

    Attributes:
        env: the wrapped game's base params, the prior's centre.
        prior_scale: ``[]`` float, the default prior's standard deviation.
        sigma: ``[N]`` float, each agent's noise level (used unless the game
            has ``sample_sigma``).
        sigma_levels: ``[L]`` float, the levels each agent's noise level is
            drawn from, uniformly and independently per episode (used with
            ``sample_sigma``).
    """

    env: Any
    prior_scale: chex.Array  # []
    sigma: chex.Array  # [N]
    sigma_levels: chex.Array  # [L]


class NoisyState(NamedTuple):
    """State of a :class:`NoisyGame`.

    Attributes:
        env: the wrapped game's state.
        true_params: the episode's ground-truth game params.
        views: ``[N, D]`` each agent's noisy fields, flattened in ``fields`` order.
        sigma: ``[N]`` each agent's noise level in this episode.
    """

    env: Any
    true_params: Any
    views: chex.Array  # [N, D]
    sigma: chex.Array  # [N]


def _leaves_normal(key, tree, fields):
    """``{f: standard normal like tree.f}`` with one key per field."""
    keys = jax.random.split(key, len(fields))
    out = {}
    for k, f in zip(keys, fields, strict=True):
        x = getattr(tree, f)
        out[f] = jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
    return out


def _replace(params, updates: dict):
    if hasattr(params, "_replace"):  # NamedTuple
        return params._replace(**updates)
    return dataclasses.replace(params, **updates)


def gaussian_prior(fields: tuple[str, ...]):
    """The default prior: ``theta_f = base_f + prior_scale * N(0, I)`` for every field.

    Args:
        fields: the uncertain params fields.

    Returns:
        ``(key, base_params, noisy_params) -> true_params``.
    """

    def prior(key, base, params: NoisyParams):
        z = _leaves_normal(key, base, fields)
        scale = params.prior_scale
        return _replace(base, {f: getattr(base, f) + scale * z[f] for f in fields})

    return prior


def gaussian_noise(fields: tuple[str, ...]):
    """The default noise model: ``theta_{i,f} = theta_f + sigma_i * N(0, I)``.

    Args:
        fields: the uncertain params fields.

    Returns:
        ``(key, true_params, sigma_i) -> agent i's view (params)``.
    """

    def noise(key, true, sigma):
        z = _leaves_normal(key, true, fields)
        return _replace(true, {f: getattr(true, f) + sigma * z[f] for f in fields})

    return noise


# ----------------------------------------------------------------------------
# The wrapper


@dataclasses.dataclass(frozen=True)
class NoisyGame(Wrapper):
    """The NZSC meta-Dec-POMDP of ``env`` (see the module docstring).

    A detente environment itself: ``reset``/``step``/``default_params``,
    ``num_agents``, ``num_actions`` and ``observation_shape``. Hashable when
    ``prior`` and ``noise`` are (plain functions are).

    Attributes:
        env: the wrapped game (hashable), whose params are a ``flax.struct``
            dataclass or a NamedTuple.
        fields: names of the uncertain float fields of the params.
        prior: ``(key, base_params, noisy_params) -> true_params``, or ``None``
            for :func:`gaussian_prior`.
        noise: ``(key, true_params, sigma_i) -> view params``, or ``None`` for
            :func:`gaussian_noise`. Only ``fields`` of the result are used.
        sample_sigma: draw each agent's noise level per episode from
            ``params.sigma_levels`` (static).
        obs_sigma: append the agent's own noise level to its observation.
        obs_prior: append the prior's parameters (the base fields and
            ``prior_scale``) to every observation.
        field_action_axes: for the symmetries (:meth:`symmetry_group`), one
            entry per field: the axis of that field indexed by the wrapped
            game's actions (``0`` for the lever games' ``payoffs [A]``), or
            ``None`` for a field that a relabelling of actions leaves in
            place; ``None`` (the default): the wrapper has no symmetries.

    Raises:
        ValueError: if ``fields`` is empty, repeats a name, or names something
            that is not a float array of ``env.default_params()``; if
            ``field_action_axes`` does not give one axis (or ``None``) per
            field, each axis of size ``num_actions``.
    """

    fields: tuple[str, ...] = ("payoffs",)
    prior: Callable | None = None
    noise: Callable | None = None
    sample_sigma: bool = False
    obs_sigma: bool = False
    obs_prior: bool = False
    field_action_axes: tuple[int | None, ...] | None = None

    def __post_init__(self):
        fields = self.fields
        if isinstance(fields, str) or not isinstance(fields, tuple) or not fields:
            raise bad_value("fields", fields, "a non-empty tuple of params field names")
        if len(set(fields)) != len(fields):
            raise bad_value("fields", fields, "distinct names")
        base = self.env.default_params()
        for f in fields:
            x = getattr(base, f, None) if isinstance(f, str) else None
            if x is None or not jnp.issubdtype(jnp.result_type(x), jnp.floating):
                names = [n for n in dir(base) if not n.startswith("_")]
                raise bad_value(
                    "fields", f, f"names of float array fields of the params (params has {names})"
                )
        axes = self.field_action_axes
        if axes is not None:
            ok = isinstance(axes, tuple) and len(axes) == len(fields)
            for f, ax in zip(fields, axes if ok else (), strict=False):
                shape = jnp.shape(getattr(base, f))
                ok = ok and (
                    ax is None
                    or (
                        isinstance(ax, int)
                        and 0 <= ax < len(shape)
                        and shape[ax] == self.num_actions
                    )
                )
            if not ok:
                raise bad_value(
                    "field_action_axes",
                    axes,
                    f"None or one entry per field {fields}: None or an axis of size num_actions",
                )

    # -- shapes -----------------------------------------------------------

    @property
    def view_size(self) -> int:
        """``D``, the number of uncertain scalars (the fields' total size)."""
        base = self.env.default_params()
        return sum(int(np.prod(jnp.shape(getattr(base, f)))) for f in self.fields)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        d = self.view_size
        size = math.prod(self.env.observation_shape) + d
        size += int(self.obs_sigma) + (d + 1) * int(self.obs_prior)
        return (size,)

    # -- params -----------------------------------------------------------

    def make_params(
        self,
        env_params: Any = None,
        *,
        sigma: float | tuple[float, ...] = 0.0,
        prior_scale: float = 0.0,
        sigma_levels: tuple[float, ...] | None = None,
    ) -> NoisyParams:
        """Validate and build the wrapper's params.

        Args:
            env_params: the base params (default ``env.default_params()``).
            sigma: every agent's noise level, or one per agent ``[N]``; ``>= 0``.
            prior_scale: the default prior's standard deviation, ``>= 0``.
            sigma_levels: ``[L]`` levels ``>= 0`` to draw from per episode;
                required with ``sample_sigma``, default ``(sigma[0],)`` otherwise.

        Returns:
            The :class:`NoisyParams` (float dtype of the first field).

        Raises:
            ValueError: naming ``sigma``, ``prior_scale`` or ``sigma_levels``.
        """
        if env_params is None:
            env_params = self.env.default_params()
        dtype = jnp.result_type(getattr(env_params, self.fields[0]))
        n = self.num_agents
        sig = np.asarray(sigma, np.float64) if np.ndim(sigma) else np.full(n, float(sigma))
        if sig.shape != (n,) or not np.isfinite(sig).all() or (sig < 0).any():
            raise bad_value("sigma", sigma, f"a finite number >= 0 or {n} of them")
        scale = check_finite("prior_scale", prior_scale, low=0.0)
        if sigma_levels is None:
            if self.sample_sigma:
                raise bad_value("sigma_levels", None, "[L] levels >= 0 (sample_sigma is set)")
            sigma_levels = (float(sig[0]),)
        lev = np.asarray(sigma_levels, np.float64)
        if lev.ndim != 1 or lev.size == 0 or not np.isfinite(lev).all() or (lev < 0).any():
            raise bad_value("sigma_levels", sigma_levels, "a non-empty 1-D list of numbers >= 0")
        return NoisyParams(
            env=env_params,
            prior_scale=jnp.asarray(scale, dtype),
            sigma=jnp.asarray(sig, dtype),
            sigma_levels=jnp.asarray(lev, dtype),
        )

    def default_params(self) -> NoisyParams:
        """:meth:`make_params` with no noise and a prior of scale 0 (the base game)."""
        levels = (0.0,) if self.sample_sigma else None
        return self.make_params(sigma_levels=levels)

    # -- views ------------------------------------------------------------

    def flatten_fields(self, env_params: Any) -> chex.Array:
        """``[D]`` the ``fields`` of ``env_params`` flattened and concatenated."""
        return jnp.concatenate([jnp.ravel(getattr(env_params, f)) for f in self.fields])

    def unflatten_fields(self, flat: chex.Array, env_params: Any) -> Any:
        """``env_params`` with its ``fields`` replaced by ``flat`` ``[D]`` (inverse of flatten)."""
        out, i = {}, 0
        for f in self.fields:
            x = getattr(env_params, f)
            k = int(np.prod(jnp.shape(x)))
            out[f] = flat[i : i + k].reshape(jnp.shape(x)).astype(jnp.result_type(x))
            i += k
        return _replace(env_params, out)

    def view_params(self, state: NoisyState) -> Any:
        """Each agent's view as game params, stacked ``[N]`` (e.g. to play a
        common-knowledge policy on the agent's own view)."""
        return jax.vmap(lambda v: self.unflatten_fields(v, state.true_params))(state.views)

    def draw_views(self, noise_keys: chex.Array, true_params: Any, sigma: chex.Array) -> chex.Array:
        """``[N, D]`` agent ``i``'s view from ``noise_keys[i]`` and ``sigma[i]`` only."""
        noise = self.noise if self.noise is not None else gaussian_noise(self.fields)
        return jax.vmap(lambda k, s: self.flatten_fields(noise(k, true_params, s)))(
            noise_keys, sigma
        )

    def draw_sigma(self, key: chex.PRNGKey, params: NoisyParams) -> chex.Array:
        """``[N]`` the episode's noise levels (``params.sigma``, or drawn from the levels)."""
        if not self.sample_sigma:
            return params.sigma
        idx = jax.random.randint(key, (self.num_agents,), 0, params.sigma_levels.shape[0])
        return params.sigma_levels[idx]

    # -- symmetries -------------------------------------------------------

    def _view_gather(self, action_perm: chex.Array) -> chex.Array:
        """``[D]`` gather map over the flat view under the action relabelling ``action_perm``."""
        inv = jnp.argsort(action_perm).astype(jnp.int32)  # slot a now holds old slot inv[a]
        base, parts, offset = self.env.default_params(), [], 0
        for f, ax in zip(self.fields, self.field_action_axes, strict=True):
            shape = jnp.shape(getattr(base, f))
            idx = jnp.arange(math.prod(shape), dtype=jnp.int32).reshape(shape)
            if ax is not None:
                idx = jnp.take(idx, inv, axis=ax)
            parts.append(jnp.ravel(idx) + offset)
            offset += math.prod(shape)
        return jnp.concatenate(parts)

    def lift_symmetry(self, g: Symmetry) -> Symmetry:
        """The wrapper's symmetry induced by a symmetry ``g`` of the wrapped game.

        The wrapped game's part of the observation moves by ``g.obs_perm``;
        the view, the true params and the prior's base fields in the
        observation are relabelled along ``field_action_axes`` by
        ``g.action_perm``; the noise levels and ``prior_scale`` stay. It is a
        symmetry of the meta-Dec-POMDP when ``g`` is one of the game and the
        prior and noise model are exchangeable under it (the default Gaussian
        ones are, when ``g`` preserves the base params).

        Args:
            g: a symmetry of ``env``, or a stack ``[G]``.

        Returns:
            The lifted :class:`~detente.games.symmetry.Symmetry` (stacked for a
            stack), ``state_perm = {"env": g.state_perm, "view": [D] gather}``.

        Raises:
            ValueError: if the wrapper has no ``field_action_axes``.
        """
        if self.field_action_axes is None:
            raise bad_value(
                "field_action_axes", None, "an axis (or None) per field to have symmetries"
            )
        if jnp.ndim(g.action_perm) == 2:
            return jax.vmap(self.lift_symmetry)(g)
        d_env, d = math.prod(self.env.observation_shape), self.view_size
        view = self._view_gather(g.action_perm)
        parts = [jnp.asarray(g.obs_perm, jnp.int32), d_env + view]
        at = d_env + d
        if self.obs_sigma:
            parts.append(jnp.array([at], jnp.int32))
            at += 1
        if self.obs_prior:
            parts += [at + view, jnp.array([at + d], jnp.int32)]
        return Symmetry(
            obs_perm=jnp.concatenate(parts),
            action_perm=jnp.asarray(g.action_perm, jnp.int32),
            state_perm={"env": g.state_perm, "view": view},
        )

    def symmetry_group(self, params: NoisyParams, **kwargs) -> Symmetry:
        """The wrapped game's group at the prior's centre, lifted (:meth:`lift_symmetry`).

        ``env.symmetry_group(params.env, **kwargs)``, identity first: for the
        noisy lever games (every lever's prior mean equal) all ``A!`` lever
        permutations. Needs concrete params.
        """
        return self.lift_symmetry(self.env.symmetry_group(params.env, **kwargs))

    def permute_state(self, state: NoisyState, g: Symmetry) -> NoisyState:
        """The state ``g.s``: the game's state, the true params and the views relabelled."""
        d_env = math.prod(self.env.observation_shape)
        inner = Symmetry(
            obs_perm=g.obs_perm[:d_env], action_perm=g.action_perm, state_perm=g.state_perm["env"]
        )
        view = g.state_perm["view"]
        true = self.unflatten_fields(
            self.flatten_fields(state.true_params)[view], state.true_params
        )
        return state._replace(
            env=self.env.permute_state(state.env, inner),
            true_params=true,
            views=state.views[:, view],
        )

    # -- the environment --------------------------------------------------

    def _observe(self, ts: TimeStep, state: NoisyState, params: NoisyParams) -> TimeStep:
        n, dtype = self.num_agents, state.views.dtype
        parts = [ts.obs.reshape(n, -1).astype(dtype), state.views]
        if self.obs_sigma:
            parts.append(state.sigma[:, None].astype(dtype))
        if self.obs_prior:
            prior = jnp.concatenate([self.flatten_fields(params.env), params.prior_scale[None]])
            parts.append(jnp.broadcast_to(prior.astype(dtype), (n, prior.shape[0])))
        info = dict(ts.info)
        info["noise_sigma"] = state.sigma
        return ts._replace(obs=jnp.concatenate(parts, axis=-1), state=state, info=info)

    def reset_from(
        self,
        key: chex.PRNGKey,
        true_params: Any,
        sigma: chex.Array,
        noise_keys: chex.Array,
        params: NoisyParams,
    ) -> TimeStep:
        """Start an episode of a given true game with given noise (common random numbers).

        Args:
            key: the wrapped game's reset key.
            true_params: the ground-truth game params.
            sigma: ``[N]`` noise levels.
            noise_keys: ``[N]`` keys, agent ``i``'s view drawn from ``noise_keys[i]``.
            params: the wrapper's params (for the prior part of observations).

        Returns:
            The first ``TimeStep`` (``state`` a :class:`NoisyState`).
        """
        ts = self.env.reset(key, true_params)
        dtype = jnp.result_type(params.sigma)
        sigma = jnp.asarray(sigma, dtype)
        views = self.draw_views(noise_keys, true_params, sigma).astype(dtype)
        state = NoisyState(env=ts.state, true_params=true_params, views=views, sigma=sigma)
        return self._observe(ts, state, params)

    def reset(self, key: chex.PRNGKey, params: NoisyParams) -> TimeStep:
        """Draw the true game, the noise levels and every agent's view, and reset the game.

        ``key`` splits into ``(k_env, k_prior, k_sigma, k_noise)``: the wrapped
        game is reset with ``k_env``; agent ``i``'s view uses
        ``split(k_noise, N)[i]``.

        Returns:
            The wrapped game's first ``TimeStep`` with the observations
            described in the module docstring, ``state`` a
            :class:`NoisyState`, ``info["noise_sigma"]`` ``[N]``.
        """
        k_env, k_prior, k_sigma, k_noise = jax.random.split(key, 4)
        prior = self.prior if self.prior is not None else gaussian_prior(self.fields)
        true_params = prior(k_prior, params.env, params)
        sigma = self.draw_sigma(k_sigma, params)
        noise_keys = jax.random.split(k_noise, self.num_agents)
        return self.reset_from(k_env, true_params, sigma, noise_keys, params)

    def step(
        self, key: chex.PRNGKey, state: NoisyState, actions: chex.Array, params: NoisyParams
    ) -> TimeStep:
        """Step the wrapped game under the true params.

        Args:
            key: the wrapped game's step key (passed unchanged).
            state: the current :class:`NoisyState`.
            actions: ``[N]`` int actions.
            params: the wrapper's params.

        Returns:
            The wrapped game's ``TimeStep`` (rewards, done flags, masks
            unchanged) with the noisy observations.
        """
        ts = self.env.step(key, state.env, actions, state.true_params)
        return self._observe(ts, state._replace(env=ts.state), params)


# ----------------------------------------------------------------------------
# The noisy lever games


def noisy_lever_game(
    iterated: bool = False,
    num_levers: int = 3,
    *,
    sigma: float | tuple[float, ...] = 0.0,
    sigma_levels: tuple[float, ...] | None = None,
    mean: float = NLG_MEAN,
    prior_scale: float = NLG_PRIOR_SCALE,
    miss: float = NLG_MISS,
    num_rounds: int = NLG_NUM_ROUNDS,
    obs_sigma: bool = True,
    obs_prior: bool = True,
) -> tuple[NoisyGame, NoisyParams]:
    """The one-shot or iterated noisy lever game of NZSC (Anwar et al. 2024).

    Every episode each lever's payoff is drawn ``N(mean, prior_scale^2)``,
    agent ``i`` sees the payoffs plus ``N(0, sigma_i^2)`` noise, both get the
    true payoff of their lever if they pull the same one and ``miss``
    otherwise. Defaults from the authors' code (config/NLG.yaml): three
    levers, ``mean = 5``, ``prior_scale = 2``, ``miss = -2``, 16 rounds,
    levels :data:`NLG_SIGMA_LEVELS`. Chosen here: observations carry the
    agent's own ``sigma_i`` and the prior (``mean`` per lever and
    ``prior_scale``) by default (the code's ``include_agent_noise_sigmas`` /
    ``include_r_mean_noise_sigma``; its extra noisy copy of the partner's
    sigma is left out); the iterated game's observation of the partner's last
    lever is :class:`~detente.games.coordination.IteratedLeverGame`'s.

    Args:
        iterated: the iterated game (:class:`IteratedLeverGame`) instead of
            the one-shot one (:class:`LeverGame`).
        num_levers: ``A`` (static).
        sigma: every agent's noise level, or one per agent.
        sigma_levels: if given, each agent's noise level is drawn uniformly
            from these every episode (``sigma`` is then unused).
        mean: prior mean of every payoff.
        prior_scale: prior standard deviation of the payoffs.
        miss: miscoordination reward.
        num_rounds: rounds of the iterated game (static).
        obs_sigma: observe the own noise level.
        obs_prior: observe the prior's parameters.

    Returns:
        ``(NoisyGame, NoisyParams)``.

    Raises:
        ValueError: naming the bad argument.
    """
    game = IteratedLeverGame(num_levers, num_rounds) if iterated else LeverGame(num_levers)
    mean = check_finite("mean", mean)
    base = LeverParams.create((mean,) * num_levers, num_levers=num_levers, miss=miss)
    env = NoisyGame(
        game,
        ("payoffs",),
        sample_sigma=sigma_levels is not None,
        obs_sigma=obs_sigma,
        obs_prior=obs_prior,
        field_action_axes=(0,),
    )
    params = env.make_params(base, sigma=sigma, prior_scale=prior_scale, sigma_levels=sigma_levels)
    return env, params


class LeverOracle(NamedTuple):
    """Monte-Carlo reference returns per round of a noisy lever game (mean, standard error).

    Attributes:
        common_knowledge: ``E[max_a theta_a]``, the best return when the true
            payoffs are common knowledge (an upper bound under any noise).
        greedy: ``E[r]`` when each agent pulls the argmax of its own view (the
            naive play of common-knowledge-trained agents under noise).
        common_knowledge_se, greedy_se: their standard errors.
    """

    common_knowledge: float
    common_knowledge_se: float
    greedy: float
    greedy_se: float


def lever_oracle_value(
    key: chex.PRNGKey, env: NoisyGame, params: NoisyParams, num_samples: int = 100_000
) -> LeverOracle:
    """Reference returns of a noisy lever game by Monte Carlo over ``num_samples`` episodes.

    Draws the true payoffs, noise levels and views exactly as ``env.reset``
    does. For the default prior ``E[max_a theta_a] = mean + prior_scale E[max
    of A standard normals]`` (``0.8463`` for ``A = 3``, the figure the
    authors' code uses for "best reward possible"). Per round: multiply by
    the number of rounds for the iterated game's episode return.

    Args:
        key: PRNG key.
        env: a :class:`NoisyGame` of a lever game (params with ``payoffs``).
        params: its params.
        num_samples: episodes drawn.

    Returns:
        A :class:`LeverOracle`.
    """
    check_positive_int("num_samples", num_samples)

    def one(k):
        st = env.reset(k, params).state
        pay, miss = st.true_params.payoffs, st.true_params.miss
        picks = jnp.argmax(env.view_params(st).payoffs, axis=-1)  # [N]
        miss = jnp.zeros_like(pay[0]) if miss is None else miss
        greedy = jnp.where(jnp.all(picks == picks[0]), pay[picks[0]], miss)
        return jnp.max(pay), greedy

    best, greedy = jax.jit(jax.vmap(one))(jax.random.split(key, num_samples))
    se = lambda x: float(jnp.std(x) / jnp.sqrt(num_samples))
    return LeverOracle(float(best.mean()), se(best), float(greedy.mean()), se(greedy))
