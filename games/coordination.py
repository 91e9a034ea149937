"""The lever coordination games of Other-Play, one-shot and iterated.

Two players each pull one of ``A`` levers; both get ``payoffs[a]`` if they pull
the same lever ``a`` and ``miss`` (default 0) otherwise (Hu et al. 2020, "Other-Play for
Zero-Shot Coordination", ICML, https://arxiv.org/abs/2003.02979, Fig. 1: ten
levers, nine pay 1.0 and one pays 0.9). The default payoffs
:data:`OTHER_PLAY_PAYOFFS` put the 0.9 lever last; the paper fixes no index
for it (its figure only draws it apart), and any order gives an isomorphic
game.

* :class:`LeverGame` is the one-shot game: a constant observation (``[2, 1]``
  ones, nothing is observed), one step, ``terminated=True``.
* :class:`IteratedLeverGame` repeats it ``num_rounds`` times; each player
  observes the partner's previous lever, a one-hot of size ``A``, plus a
  first-round flag (``observation_shape = (A + 1,)``); ``truncated`` at the
  last round. ``num_rounds`` is static (a constructor argument, like
  :class:`~detente.games.iterated_env.IteratedMatrixGame`'s ``num_steps``),
  which keeps scans over an episode a fixed length.

Payoffs live in :class:`LeverParams`, a pytree: ``jax.vmap`` over a batch of
payoff vectors runs without recompiling.

Symmetries (:mod:`detente.games.symmetry`): the symmetries of both games are
the lever permutations ``sigma`` with ``payoffs[sigma[a]] = payoffs[a]``
(exact float equality), applied to both players' actions and, in the iterated
game, to the observed lever one-hot. For the default payoffs the group is
``S_9 x S_1``, ``9! = 362880`` elements: too many to stack in a program.
Hence three ways in:

* :func:`random_symmetry` / ``env.random_symmetry(key, params)`` draws a
  uniformly random element of the *full* group inside jit (params may be
  traced): what Other-Play samples every episode.
* ``env.symmetry_group(params, max_size=...)`` stacks the full group when its
  order is at most ``max_size`` (default 5040), else the subgroup
  :func:`cyclic_subgroup` (the product of the cyclic shifts within each
  equal-payoff class, order ``prod_c k_c``; 9 elements for the default). Both
  start with the identity and act transitively on every class, so Other-Play's
  one-shot objective, which only needs ``E_g[p_{g(a)}]`` (the class mean of
  ``p``), is the same under either. It needs concrete params (numpy).
* :func:`full_symmetry_group` always enumerates (raises above ``max_size``).
* :func:`dihedral_subgroup` (rotations and reflections within each class,
  18 elements for the default) and ``env.symmetry_subgroup(kind, params)``
  (``"trivial"``, ``"cyclic"``, ``"dihedral"``, ``"full"``, the entry of
  :func:`detente.games.symmetry.symmetry_subgroup`) give smaller groups for
  equivariant policies, whose cost grows with the group's order.

Closed forms (one-shot game, both players' policies ``p, q`` over levers):
:func:`lever_value` ``= sum_a p_a q_a payoffs_a``; :func:`other_play_value`
``= sum_a p_a E_g[p_{g(a)}] payoffs_a``; :func:`reference_values` gives the
self-play optimum (``max payoffs``, 1.0), the expected cross-play of two
independently symmetry-broken self-play optima (``max / #argmax``, 1/9) and
the Other-Play optimum (``max_c payoff_c / k_c``, 0.9).

Examples:
    >>> env = LeverGame()
    >>> params = env.default_params()
    >>> ts = env.reset(jax.random.key(0), params)
    >>> ts = env.step(jax.random.key(1), ts.state, jnp.array([9, 9]), params)
    >>> ts.rewards.tolist(), bool(ts.terminated)
    ([0.8999999761581421, 0.8999999761581421], True)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import ClassVar, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from detente._checks import bad_value, check_choice, check_finite, check_positive_int
from detente.env import TimeStep
from detente.games.symmetry import SUBGROUPS, Symmetry, generated_group, trivial_group

__all__ = [
    "OTHER_PLAY_PAYOFFS",
    "IteratedLeverGame",
    "LeverGame",
    "LeverParams",
    "LeverState",
    "LeverValues",
    "cyclic_subgroup",
    "dihedral_subgroup",
    "full_symmetry_group",
    "lever_value",
    "other_play_value",
    "random_lever_permutation",
    "random_symmetry",
    "reference_values",
]

OTHER_PLAY_PAYOFFS: tuple[float, ...] = (1.0,) * 9 + (0.9,)
"""Hu et al. 2020, Fig. 1: nine levers pay 1.0, one pays 0.9 (put last here)."""

NUM_AGENTS = 2
DEFAULT_MAX_GROUP = 5040


@struct.dataclass
class LeverParams:
    """Payoffs of a lever game (a pytree; vmappable).

    Build with :meth:`LeverParams.create` (validates); the plain constructor
    does not check.

    Attributes:
        payoffs: ``[A]`` float, both players' reward when both pull lever ``a``.
        miss: ``[]`` float, both players' reward when they pull different
            levers (the noisy lever game's miscoordination penalty), or
            ``None`` (the default, an empty pytree node): 0.
    """

    payoffs: chex.Array  # [A]
    miss: chex.Array | None = None  # [] or None (= 0)

    @classmethod
    def create(
        cls,
        payoffs=OTHER_PLAY_PAYOFFS,
        *,
        num_levers: int | None = None,
        miss: float | None = None,
        dtype=jnp.float32,
    ) -> LeverParams:
        """Validate ``payoffs`` and build the params.

        Args:
            payoffs: ``[A]`` real, finite payoffs, ``A >= 2``.
            num_levers: if given, the required ``A``.
            miss: the finite miscoordination reward, or ``None`` (0, not stored).
            dtype: float dtype of the stored payoffs.

        Returns:
            The params.

        Raises:
            ValueError: naming ``payoffs``, the value and what is allowed.
        """
        try:
            arr = np.asarray(payoffs, dtype=np.float64)
        except (TypeError, ValueError):
            raise bad_value("payoffs", payoffs, "a [num_levers] array of real numbers") from None
        want = "[num_levers] with num_levers >= 2" if num_levers is None else f"[{num_levers}]"
        if (
            arr.ndim != 1
            or arr.shape[0] < 2
            or (num_levers is not None and arr.shape[0] != num_levers)
        ):
            raise bad_value("payoffs.shape", arr.shape, f"a 1-D shape {want}")
        if not np.isfinite(arr).all():
            raise bad_value("payoffs", payoffs, "finite real numbers")
        if miss is not None:
            miss = jnp.asarray(check_finite("miss", miss), dtype)
        return cls(payoffs=jnp.asarray(arr, dtype), miss=miss)


class LeverState(NamedTuple):
    """State of a lever game.

    Attributes:
        last: ``[2]`` int32, each player's lever in the last round, -1 before
            the first.
        t: ``[]`` int32, rounds played in this episode.
    """

    last: chex.Array  # [2]
    t: chex.Array  # []


def _check_params(params: LeverParams, num_levers: int) -> None:
    if not isinstance(params, LeverParams):
        raise bad_value("params", type(params).__name__, "LeverParams")
    if tuple(params.payoffs.shape) != (num_levers,):
        raise bad_value("params.payoffs.shape", tuple(params.payoffs.shape), f"({num_levers},)")
    if params.miss is not None and jnp.shape(params.miss) != ():
        raise bad_value("params.miss.shape", jnp.shape(params.miss), "() (a scalar) or None")


def _payoff_classes(payoffs) -> list[np.ndarray]:
    """Levers grouped by equal payoff (numpy; classes in order of first lever)."""
    p = np.asarray(payoffs)
    if p.ndim != 1:
        raise bad_value(
            "params.payoffs.shape", p.shape, "[A] (one game; these helpers need concrete params)"
        )
    classes: dict[float, list[int]] = {}
    for a, v in enumerate(p.tolist()):
        classes.setdefault(v, []).append(a)
    return [np.asarray(c, np.int64) for c in classes.values()]


def random_lever_permutation(key: chex.PRNGKey, payoffs: chex.Array) -> chex.Array:
    """A uniformly random payoff-preserving lever permutation (jit-able; payoffs may be traced).

    Sorting the levers by payoff with random tie-breaks, and separately by
    payoff with index tie-breaks, lines the members of every equal-payoff class
    up in the same block of positions; mapping the second order onto the first
    gives each class a uniformly random bijection onto itself.

    Args:
        key: PRNG key.
        payoffs: ``[A]`` payoffs.

    Returns:
        ``[A]`` int32 forward map ``sigma`` with ``payoffs[sigma] == payoffs``.
    """
    n = payoffs.shape[-1]
    u = jax.random.uniform(key, (n,))
    shuffled = jnp.argsort(u)
    rand_order = shuffled[jnp.argsort(payoffs[shuffled], stable=True)]
    base_order = jnp.argsort(payoffs, stable=True)
    return jnp.zeros(n, jnp.int32).at[base_order].set(rand_order.astype(jnp.int32))


@dataclasses.dataclass(frozen=True)
class _LeverBase:
    num_agents: ClassVar[int] = NUM_AGENTS

    def default_params(self) -> LeverParams:
        """Other-Play's payoffs (:data:`OTHER_PLAY_PAYOFFS`) for 10 levers; else 1.0 and a last 0.9."""
        n = self.num_levers
        pay = OTHER_PLAY_PAYOFFS if n == 10 else (1.0,) * (n - 1) + (0.9,)
        return LeverParams.create(pay)

    @property
    def num_actions(self) -> int:
        return self.num_levers

    def _reward(self, actions, params):
        a = jnp.asarray(actions, jnp.int32)
        dtype = params.payoffs.dtype
        miss = jnp.zeros((), dtype) if params.miss is None else jnp.asarray(params.miss, dtype)
        r = jnp.where(a[0] == a[1], params.payoffs[a[0]], miss)
        return jnp.stack([r, r]), a

    # -- symmetries -------------------------------------------------------

    def lever_symmetry(self, sigma: chex.Array) -> Symmetry:
        """The symmetry that relabels lever ``a`` as ``sigma[a]``.

        Args:
            sigma: ``[A]`` (or a stack ``[G, A]``) int forward maps; may be traced.

        Returns:
            A :class:`~detente.games.symmetry.Symmetry` (stacked for a stack)
            with ``action_perm = sigma``, ``state_perm`` the lever gather map
            ``argsort(sigma)`` (the :mod:`detente.games.symmetry` convention),
            and ``obs_perm`` moving the observed lever one-hot with the levers
            (iterated game; the flag stays) or ``[0]`` (one-shot game).
        """
        sigma = jnp.asarray(sigma, jnp.int32)
        if sigma.shape[-1:] != (self.num_levers,) or sigma.ndim not in (1, 2):
            raise bad_value(
                "sigma.shape", sigma.shape, f"[{self.num_levers}] or [G, {self.num_levers}]"
            )
        inv = jnp.argsort(sigma, axis=-1).astype(jnp.int32)
        return Symmetry(obs_perm=self._obs_perm(inv), action_perm=sigma, state_perm=inv)

    def reset(self, key: chex.PRNGKey, params: LeverParams) -> TimeStep:
        """The start state (no lever pulled yet: the first-round flag in the iterated game), rewards 0; ``key`` unused."""
        del key
        _check_params(params, self.num_levers)
        state = LeverState(last=jnp.full(NUM_AGENTS, -1, jnp.int32), t=jnp.asarray(0, jnp.int32))
        return self._timestep(state, jnp.zeros(NUM_AGENTS, params.payoffs.dtype), params)

    def permute_state(self, state: LeverState, g: Symmetry) -> LeverState:
        """The state ``g.s``: the last levers relabelled by ``g.action_perm`` (-1 stays)."""
        last = jnp.where(state.last >= 0, g.action_perm[jnp.maximum(state.last, 0)], state.last)
        return state._replace(last=last)

    def random_symmetry(self, key: chex.PRNGKey, params: LeverParams) -> Symmetry:
        """A uniformly random element of the full symmetry group (jit-able)."""
        return self.lever_symmetry(random_lever_permutation(key, params.payoffs))

    def symmetry_group(self, params: LeverParams, max_size: int = DEFAULT_MAX_GROUP) -> Symmetry:
        """The payoff-preserving lever permutations, stacked ``[G]``, identity first.

        The full group if its order ``prod_c k_c!`` is at most ``max_size``,
        else :func:`cyclic_subgroup` (see the module docstring). Needs
        concrete params.
        """
        order = math.prod(math.factorial(len(c)) for c in _payoff_classes(params.payoffs))
        if order <= max_size:
            return full_symmetry_group(self, params, max_size=max_size)
        return cyclic_subgroup(self, params)

    def symmetry_subgroup(
        self, kind: str, params: LeverParams, max_size: int = DEFAULT_MAX_GROUP
    ) -> Symmetry:
        """A named subgroup (:func:`detente.games.symmetry.symmetry_subgroup`), identity first.

        Args:
            kind: ``"trivial"`` (1 element), ``"cyclic"``
                (:func:`cyclic_subgroup`, 9 for the default payoffs),
                ``"dihedral"`` (:func:`dihedral_subgroup`, 18) or ``"full"``
                (:func:`full_symmetry_group`; raises above ``max_size``, as
                for the default payoffs' ``9!``).
            params: concrete params.
            max_size: the largest full group enumerated.

        Returns:
            The stacked subgroup.
        """
        check_choice("kind", kind, SUBGROUPS)
        if kind == "full":
            return full_symmetry_group(self, params, max_size=max_size)
        if kind == "dihedral":
            return dihedral_subgroup(self, params)
        cyclic = cyclic_subgroup(self, params)
        return trivial_group(cyclic) if kind == "trivial" else cyclic


@dataclasses.dataclass(frozen=True)
class LeverGame(_LeverBase):
    """The one-shot lever game of Other-Play (Hu et al. 2020, Fig. 1).

    Observations are ``[2, 1]`` ones (nothing is observed); ``step`` pays both
    players ``payoffs[a]`` if both pull lever ``a``, else 0, and ends the
    episode (``terminated=True``). Every lever is legal. ``info["step"]`` is
    the number of rounds played (0 or 1).

    Args:
        num_levers: ``A`` (static, at least 2; default 10).
    """

    num_levers: int = 10
    observation_shape: ClassVar[tuple[int, ...]] = (1,)

    def __post_init__(self):
        check_positive_int("num_levers", self.num_levers)
        if self.num_levers < 2:
            raise bad_value("num_levers", self.num_levers, "an integer >= 2")

    def _obs_perm(self, inv):
        return jnp.zeros(inv.shape[:-1] + (1,), jnp.int32)

    def observation(self, state: LeverState, params: LeverParams):
        """``(obs [2, 1], action_mask [2, A])`` of a state."""
        del state
        obs = jnp.ones((NUM_AGENTS, 1), params.payoffs.dtype)
        return obs, jnp.ones((NUM_AGENTS, self.num_levers), bool)

    def _timestep(self, state, rewards, params) -> TimeStep:
        obs, mask = self.observation(state, params)
        return TimeStep(
            obs=obs,
            state=state,
            rewards=rewards,
            terminated=state.t >= 1,
            truncated=jnp.asarray(False),
            action_mask=mask,
            info={"step": state.t},
        )

    def step(
        self, key: chex.PRNGKey, state: LeverState, actions: chex.Array, params: LeverParams
    ) -> TimeStep:
        """Both players pull a lever; the episode ends.

        Args:
            key: unused (deterministic).
            state: the current state.
            actions: ``[2]`` int levers.
            params: the payoffs.

        Returns:
            ``rewards = [payoffs[a], payoffs[a]]`` if ``actions == [a, a]``,
            else ``[miss, miss]`` (0 by default); ``terminated=True``.
        """
        del key
        chex.assert_shape(actions, (NUM_AGENTS,))
        rewards, a = self._reward(actions, params)
        return self._timestep(LeverState(last=a, t=state.t + 1), rewards, params)


@dataclasses.dataclass(frozen=True)
class IteratedLeverGame(_LeverBase):
    """The lever game repeated ``num_rounds`` times, each player seeing the partner's last lever.

    ``obs[i]`` ``[A + 1]`` is the one-hot of the partner's lever in the
    previous round, with the last feature the first-round flag (1 before the
    first round, all lever features 0 then). Each round pays as the one-shot
    :class:`LeverGame`; ``truncated`` is set after round ``num_rounds``,
    ``terminated`` never. Every lever is legal. ``info["step"]`` is the
    number of rounds played.

    Args:
        num_levers: ``A`` (static, at least 2; default 10).
        num_rounds: episode length (static, positive; default 10).
    """

    num_levers: int = 10
    num_rounds: int = 10

    def __post_init__(self):
        check_positive_int("num_levers", self.num_levers)
        if self.num_levers < 2:
            raise bad_value("num_levers", self.num_levers, "an integer >= 2")
        check_positive_int("num_rounds", self.num_rounds)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return (self.num_levers + 1,)

    def _obs_perm(self, inv):
        flag = jnp.full(inv.shape[:-1] + (1,), self.num_levers, jnp.int32)
        return jnp.concatenate([inv, flag], axis=-1)

    def observation(self, state: LeverState, params: LeverParams):
        """``(obs [2, A + 1], action_mask [2, A])`` of a state."""
        dtype = params.payoffs.dtype
        partner = state.last[::-1]  # [2]: what each player sees
        onehot = jax.nn.one_hot(partner, self.num_levers, dtype=dtype)  # -1 -> zeros
        first = (partner < 0).astype(dtype)[:, None]
        obs = jnp.concatenate([onehot, first], axis=-1)
        return obs, jnp.ones((NUM_AGENTS, self.num_levers), bool)

    def _timestep(self, state, rewards, params) -> TimeStep:
        obs, mask = self.observation(state, params)
        return TimeStep(
            obs=obs,
            state=state,
            rewards=rewards,
            terminated=jnp.asarray(False),
            truncated=state.t >= self.num_rounds,
            action_mask=mask,
            info={"step": state.t},
        )

    def step(
        self, key: chex.PRNGKey, state: LeverState, actions: chex.Array, params: LeverParams
    ) -> TimeStep:
        """Play one round.

        Args:
            key: unused (deterministic).
            state: the current state.
            actions: ``[2]`` int levers.
            params: the payoffs.

        Returns:
            Rewards as in :meth:`LeverGame.step`; each player then observes the
            partner's lever; ``truncated`` after round ``num_rounds``.
        """
        del key
        chex.assert_shape(actions, (NUM_AGENTS,))
        rewards, a = self._reward(actions, params)
        return self._timestep(LeverState(last=a, t=state.t + 1), rewards, params)


# ----------------------------------------------------------------------------
# Groups


def random_symmetry(env: _LeverBase, key: chex.PRNGKey, params: LeverParams) -> Symmetry:
    """A uniformly random payoff-preserving symmetry of a lever game (jit-able).

    Same as ``env.random_symmetry(key, params)``; see
    :func:`random_lever_permutation`.
    """
    return env.random_symmetry(key, params)


def full_symmetry_group(
    env: _LeverBase, params: LeverParams, max_size: int = DEFAULT_MAX_GROUP
) -> Symmetry:
    """Every payoff-preserving lever permutation, stacked ``[G]``, identity first.

    Args:
        env: a :class:`LeverGame` or :class:`IteratedLeverGame`.
        params: concrete params.
        max_size: the largest order enumerated.

    Returns:
        The group, ``G = prod_c k_c!`` over the equal-payoff classes ``c``.

    Raises:
        ValueError: if ``G > max_size`` (use :func:`random_symmetry` or
            :func:`cyclic_subgroup`).
    """
    classes = _payoff_classes(params.payoffs)
    order = math.prod(math.factorial(len(c)) for c in classes)
    if order > max_size:
        raise bad_value(
            "symmetry group order",
            order,
            f"at most max_size={max_size}; sample with random_symmetry or use cyclic_subgroup",
        )
    n = env.num_levers
    sigmas = []
    for perms in itertools.product(*(itertools.permutations(c.tolist()) for c in classes)):
        sigma = np.arange(n)
        for c, p in zip(classes, perms, strict=True):
            sigma[c] = p
        sigmas.append(sigma)  # the first product is the identity
    return env.lever_symmetry(np.stack(sigmas))


def cyclic_subgroup(env: _LeverBase, params: LeverParams) -> Symmetry:
    """The product of cyclic shifts within each equal-payoff class, stacked ``[G]``.

    Element ``(s_1, ..., s_C)`` shifts the ``k_c`` levers of class ``c``
    (in index order) by ``s_c`` places; ``G = prod_c k_c`` (9 for the default
    payoffs), identity first. A subgroup acting transitively on every class.

    Args:
        env: a :class:`LeverGame` or :class:`IteratedLeverGame`.
        params: concrete params.

    Returns:
        The stacked subgroup.
    """
    classes = _payoff_classes(params.payoffs)
    n = env.num_levers
    sigmas = []
    for shifts in itertools.product(*(range(len(c)) for c in classes)):
        sigma = np.arange(n)
        for c, s in zip(classes, shifts, strict=True):
            sigma[c] = np.roll(c, -s)
        sigmas.append(sigma)
    return env.lever_symmetry(np.stack(sigmas))


def dihedral_subgroup(env: _LeverBase, params: LeverParams) -> Symmetry:
    """The product of the dihedral groups of each equal-payoff class, stacked ``[G]``.

    The ``k_c`` levers of class ``c`` (in index order) are the corners of a
    ``k_c``-gon; its rotations and reflections form ``D_{k_c}``, of order
    ``2 k_c`` for ``k_c >= 3`` (2 for ``k_c = 2``, 1 for ``k_c = 1``); ``G``
    is their product (18 for the default payoffs), generated by
    :func:`~detente.games.symmetry.generated_group` from one rotation and one
    reflection per class. It contains :func:`cyclic_subgroup`, identity first.

    Args:
        env: a :class:`LeverGame` or :class:`IteratedLeverGame`.
        params: concrete params.

    Returns:
        The stacked subgroup.
    """
    classes = _payoff_classes(params.payoffs)
    n = env.num_levers
    gens = []
    for c in classes:
        for moved in (np.roll(c, -1), c[::-1]):  # rotation, reflection
            sigma = np.arange(n)
            sigma[c] = moved
            gens.append(sigma)
    order = math.prod(2 * len(c) if len(c) >= 3 else len(c) for c in classes)
    return generated_group(env.lever_symmetry(np.stack(gens)), max_size=max(order, 1))


# ----------------------------------------------------------------------------
# Closed forms (one-shot game)


class LeverValues(NamedTuple):
    """Reference values of a one-shot lever game.

    Attributes:
        self_play: the self-play optimum ``max_a payoffs_a``.
        cross_play: expected return of two independently trained self-play
            optima, each on a uniformly random maximal lever:
            ``max / #{a: payoffs_a = max}``.
        other_play: the Other-Play optimum ``max_c payoff_c / k_c`` over
            equal-payoff classes ``c`` of size ``k_c`` (for non-negative
            payoffs, where the objective ``sum_c P_c^2 payoff_c / k_c`` of the
            class masses ``P_c`` is convex; reached by a
            deterministic policy on that class; its self-play and cross-play
            are both ``payoff_c`` when ``k_c = 1``).
    """

    self_play: float
    cross_play: float
    other_play: float


def lever_value(params: LeverParams, p: chex.Array, q: chex.Array) -> chex.Array:
    """Expected reward when the players pull levers with probabilities ``p`` and ``q`` ``[..., A]``.

    ``sum_a p_a q_a payoffs_a + miss (1 - sum_a p_a q_a)`` (jit/vmap-able).
    """
    both = p * q
    value = jnp.sum(both * params.payoffs, axis=-1)
    if params.miss is not None:
        value = value + params.miss * (1 - jnp.sum(both, axis=-1))
    return value


def other_play_value(params: LeverParams, p: chex.Array) -> chex.Array:
    """Other-Play's objective of the one-shot lever game for a policy ``p`` ``[..., A]``.

    ``J(p) = E_g[sum_a p_a (g.p)_a payoffs_a] = sum_a p_a E_g[p_{g(a)}] payoffs_a``
    with ``g`` uniform over the payoff-preserving permutations, where
    ``E_g[p_{g(a)}]`` is the mean of ``p`` over ``a``'s equal-payoff class
    (Hu et al. 2020, Eq. 3 applied to the lever game). Jit/vmap-able.
    """
    pay = params.payoffs
    same = (pay[..., :, None] == pay[..., None, :]).astype(p.dtype)  # [A, A]
    class_mean = jnp.einsum("...ab,...b->...a", same, p) / same.sum(-1)
    if params.miss is None:
        return jnp.sum(p * class_mean * pay, axis=-1)
    return jnp.sum(p * class_mean * (pay - params.miss), axis=-1) + params.miss


def reference_values(params: LeverParams) -> LeverValues:
    """:class:`LeverValues` of concrete params (1.0, 1/9, 0.9 for the default).

    Raises:
        ValueError: for negative payoffs (the closed forms assume ``payoffs >= 0``).
    """
    pay = np.asarray(params.payoffs, np.float64)
    if params.miss is not None and float(params.miss) != 0.0:
        raise bad_value("params.miss", float(params.miss), "0 or None (the closed forms assume it)")
    if (pay < 0).any():
        raise bad_value("params.payoffs", pay.tolist(), "non-negative payoffs")
    top = pay.max()
    classes = _payoff_classes(pay)
    return LeverValues(
        self_play=float(top),
        cross_play=float(top / np.sum(pay == top)),
        other_play=float(max(pay[c[0]] / len(c) for c in classes)),
    )
