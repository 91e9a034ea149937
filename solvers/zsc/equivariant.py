"""Equivariant policies for zero-shot coordination: weight-tied networks and one network spec.

Muglich et al. 2022, "Equivariant Networks for Zero-Shot Coordination",
NeurIPS, https://arxiv.org/abs/2210.12124: a policy that satisfies
``pi(g . o) = g . pi(o)`` for every symmetry ``g`` of a group ``G`` cannot
break those symmetries by convention, so independently trained copies agree
on them. Two ways to get one, both behind one hashable spec,
:class:`EquivariantNetwork`:

* ``mode="symmetrizer"``: any network averaged over the group
  (:func:`~detente.solvers.zsc.symmetrizer.symmetrize`); the parameters are
  the plain network's, so :func:`symmetrized` gives a trained agent's
  symmetrized view without retraining (the paper's
  "coordination-improvement operator");
* ``mode="weight-tied"``: an MLP actor-critic whose layers are equivariant by
  construction, trained from scratch (:class:`EquivariantActorCritic`).

**Weight-tied layers.** Every layer maps between permutation representations
of ``G`` (``rho(g) x = x[p_g]``, gather maps): the observation ``o`` ``[D]``
with ``obs_perm``; hidden layers in the *regular representation* times ``C``
channels, ``[G, C]`` features with ``(g . h)[k, c] = h[g^-1 k, c]`` (the
group's own multiplication table; every equivariant linear map is then a
group convolution, and no information is lost to a smaller representation);
the actor's logits with the action permutation of
:func:`~detente.games.symmetry.apply_logits`; the critic's value with the
trivial representation (invariant). A layer stores an unconstrained kernel
``V`` ``[n_in, n_out]`` and bias, and uses their projection onto the
equivariant subspace, the Reynolds operator
``W = mean_g rho_in(g)^T V rho_out(g)`` (same for the bias). For a group,
that mean over ``g`` is the mean of ``V`` over each orbit of index pairs
``(i, o) -> (p_g[i], q_g[o])`` (orbit-stabiliser), which is how it is
computed: one segment mean, ``O(n_in n_out)``, whatever ``G``. ``V`` starts
at ``N(0, gain^2 m / n_in)`` for an orbit of size ``m``, so the projected
``W`` has a plain dense layer's ``N(0, gain^2 / n_in)`` entries (gains of
:mod:`detente.solvers.rl.networks`). Pointwise activations commute with
permutations, so the network is exactly equivariant (up to float rounding).
GRU torsos are not built weight-tied (only the symmetrizer wraps a GRU).

Example::

    from detente.solvers.zsc.symmetrizer import group_spec
    group = group_spec(LeverGame(), "dihedral")                 # 18 elements
    net = equivariant_network(NetworkConfig(hidden_sizes=(16,)), group)
    config = dataclasses.replace(zsc_config("lever", "other-play"), network=net)
    states, _ = train_selfplay(keys, LeverGame(), config)      # unchanged trainer
    sym = symmetrized(zsc_config("lever", "selfplay").network, group)  # no retraining
    crossplay(LeverGame(), sym, sp_params, None, key, 64)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_choice
from detente.solvers.rl.distributions import Categorical
from detente.solvers.rl.networks import ACTIVATIONS
from detente.solvers.rl.policy import NetworkConfig, Policy, make_policy
from detente.solvers.zsc.symmetrizer import GroupSpec, symmetrize

__all__ = [
    "MODES",
    "EquivariantActorCritic",
    "EquivariantDense",
    "EquivariantNetwork",
    "PermRep",
    "equivariant_network",
    "multiplication_table",
    "symmetrized",
]

MODES = ("symmetrizer", "weight-tied")


# ----------------------------------------------------------------------------
# Permutation representations and their equivariant linear maps


@dataclasses.dataclass(frozen=True, eq=False)
class PermRep:
    """A permutation representation of a group of ``G`` elements (hashed by identity).

    Attributes:
        perms: ``[G, n]`` int gather maps, ``rho(g) x = x[perms[g]]``, with
            ``rho(g) rho(h) = rho(g h)`` in the composition of
            :func:`~detente.games.symmetry.compose`.
    """

    perms: np.ndarray  # [G, n]

    @property
    def size(self) -> int:
        return int(self.perms.shape[1])


def multiplication_table(group: GroupSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(mult [G, G], inv [G])``: ``mult[x, y]`` is the index of ``compose(x, y)``.

    Raises:
        ValueError: if ``group`` is not closed (a product or inverse is missing).
    """
    obs, act = (a.astype(np.int64) for a in group.arrays)
    index = {(o.tobytes(), a.tobytes()): i for i, (o, a) in enumerate(zip(obs, act, strict=True))}
    g = obs.shape[0]
    mult = np.empty((g, g), np.int32)
    for x in range(g):
        for y in range(g):  # x after y: obs_perm = y.obs[x.obs], action_perm = x.act[y.act]
            k = index.get((obs[y][obs[x]].tobytes(), act[x][act[y]].tobytes()))
            if k is None:
                raise bad_value("group", group, "a group (closed under composition)")
            mult[x, y] = k
    eye = [i for i in range(g) if (mult[i] == np.arange(g)).all()]
    if len(eye) != 1:
        raise bad_value("group", group, "a group with one identity")
    inv = np.argmax(mult == eye[0], axis=1).astype(np.int32)
    return mult, inv


def _reps(group: GroupSpec, channels: Sequence[int]):
    """The representations of an actor-critic's layers (module docstring)."""
    obs, act = group.arrays
    g = obs.shape[0]
    mult, inv = multiplication_table(group)
    left = mult[inv]  # [G, G]: left[g, k] = g^-1 k, the regular representation's gather map
    hidden = tuple(
        PermRep((left[:, :, None] * c + np.arange(c)).reshape(g, -1).astype(np.int32))
        for c in channels
    )
    logits = np.argsort(act, axis=1).astype(np.int32)  # apply_logits gathers with inv(action_perm)
    return PermRep(obs), hidden, PermRep(logits), PermRep(np.zeros((g, 1), np.int32))


@dataclasses.dataclass(frozen=True, eq=False)
class _Orbits:
    """Orbits of a layer's index pairs: ``ids [n_in, n_out]``, ``counts [K]``; bias ``[n_out]``, ``[K_b]``."""

    ids: np.ndarray
    counts: np.ndarray
    bias_ids: np.ndarray
    bias_counts: np.ndarray


def _orbit_ids(canon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, ids, counts = np.unique(canon.ravel(), return_inverse=True, return_counts=True)
    return ids.reshape(canon.shape).astype(np.int32), counts.astype(np.float32)


def _orbits(rep_in: PermRep, rep_out: PermRep) -> _Orbits:
    """Orbit labels of ``(i, o) -> (p_g[i], q_g[o])``: each pair's smallest image over ``G``."""
    n_out = rep_out.size
    canon = np.full((rep_in.size, n_out), np.iinfo(np.int64).max, np.int64)
    canon_b = np.full(n_out, np.iinfo(np.int64).max, np.int64)
    for p, q in zip(rep_in.perms.astype(np.int64), rep_out.perms.astype(np.int64), strict=True):
        np.minimum(canon, p[:, None] * n_out + q[None, :], out=canon)
        np.minimum(canon_b, q, out=canon_b)
    ids, counts = _orbit_ids(canon)
    bias_ids, bias_counts = _orbit_ids(canon_b)
    return _Orbits(ids, counts, bias_ids, bias_counts)


def _project(v: chex.Array, ids: np.ndarray, counts: np.ndarray) -> chex.Array:
    """The Reynolds projection: every entry replaced by its orbit's mean."""
    sums = jax.ops.segment_sum(v.ravel(), jnp.asarray(ids.ravel()), num_segments=counts.size)
    return (sums / jnp.asarray(counts))[ids]


class EquivariantDense(nn.Module):
    """A dense layer projected onto the ``G``-equivariant maps ``rho_in -> rho_out``.

    ``y = x W + b`` with ``W``, ``b`` the Reynolds projections of free
    parameters ``kernel [n_in, n_out]`` and ``bias [n_out]`` (module
    docstring), so ``y(rho_in(g) x) = rho_out(g) y(x)`` for every ``g``.

    Attributes:
        rep_in: the input's representation (``n_in`` features).
        rep_out: the output's representation (``n_out`` features).
        gain: ``W``'s entries start as ``N(0, gain^2 / n_in)``.
    """

    rep_in: PermRep
    rep_out: PermRep
    gain: float

    @nn.compact
    def __call__(self, x: chex.Array) -> chex.Array:
        orb = _orbits(self.rep_in, self.rep_out)
        n_in, n_out = self.rep_in.size, self.rep_out.size
        scale = self.gain / math.sqrt(n_in) * np.sqrt(orb.counts[orb.ids])  # [n_in, n_out]

        def kernel_init(key, shape, dtype=jnp.float32):
            return jax.random.normal(key, shape, dtype) * jnp.asarray(scale, dtype)

        v = self.param("kernel", kernel_init, (n_in, n_out))
        b = self.param("bias", nn.initializers.zeros, (n_out,))
        w = _project(v, orb.ids, orb.counts)
        return x @ w + _project(b, orb.bias_ids, orb.bias_counts)


class EquivariantActorCritic(nn.Module):
    """Weight-tied equivariant MLP actor-critic: ``obs [..., D] -> (pi, value [...])``.

    Separate actor and critic torsos (as
    :class:`~detente.solvers.rl.networks.ActorCritic`) of
    :class:`EquivariantDense` layers: observation representation, then
    ``len(hidden)`` regular-representation layers, then the logits'
    representation (actor) or the trivial one (critic, invariant value).
    Parameter names: ``actor_i``, ``actor_out``, ``critic_i``, ``critic_out``.

    Attributes:
        obs_rep: ``[G, D]``; hidden: one ``[G, G C_i]`` per hidden layer;
        logits_rep: ``[G, A]``; value_rep: ``[G, 1]``; activation: ``"tanh"`` or ``"relu"``.
    """

    obs_rep: PermRep
    hidden: tuple[PermRep, ...]
    logits_rep: PermRep
    value_rep: PermRep
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: chex.Array):
        act = ACTIVATIONS[self.activation]
        reps = (self.obs_rep, *self.hidden)

        def torso(x, prefix):
            for i in range(len(self.hidden)):
                x = act(
                    EquivariantDense(reps[i], reps[i + 1], math.sqrt(2.0), name=f"{prefix}_{i}")(x)
                )
            return x

        logits = EquivariantDense(reps[-1], self.logits_rep, 0.01, name="actor_out")(
            torso(obs, "actor")
        )
        value = EquivariantDense(reps[-1], self.value_rep, 1.0, name="critic_out")(
            torso(obs, "critic")
        )
        return Categorical.create(logits), value[..., 0]


# ----------------------------------------------------------------------------
# The network spec


@dataclasses.dataclass(frozen=True)
class EquivariantNetwork(NetworkConfig):
    """A :class:`~detente.solvers.rl.policy.NetworkConfig` made ``G``-equivariant.

    A subclass, so every trainer and analysis that takes a ``NetworkConfig``
    (IPPO, self-play, Other-Play, :func:`~detente.analysis.crossplay.crossplay`,
    :func:`~detente.solvers.zsc.agents.save_agents`) takes it unchanged;
    :func:`~detente.solvers.rl.policy.make_policy` builds it with
    :meth:`make_policy`. Hashable (jit-static) and saved as JSON
    (:meth:`to_json`).

    Attributes:
        (the fields of ``NetworkConfig``): the network (``base``); for
            ``"weight-tied"``, a hidden layer of size ``h`` becomes
            ``C = ceil(h / G)`` channels of the regular representation,
            ``G C >= h`` features (about the plain network's width and
            per-step cost; wider layers make each gradient step move the
            logits further, which changed which lever the lever game's
            policies settled on).
        mode: ``"symmetrizer"`` (``base`` averaged over ``group``; ``base``'s
            parameters; MLP or GRU) or ``"weight-tied"`` (an
            :class:`EquivariantActorCritic`; MLP only).
        group: the symmetries, a :class:`~detente.solvers.zsc.symmetrizer.GroupSpec`
            (``"weight-tied"`` needs it closed).
    """

    mode: str = "symmetrizer"
    group: GroupSpec | None = None

    def __post_init__(self):
        super().__post_init__()
        check_choice("mode", self.mode, MODES)
        if not isinstance(self.group, GroupSpec):
            raise bad_value("group", self.group, "a GroupSpec (symmetrizer.group_spec)")
        if self.continuous:
            raise bad_value("continuous", True, "False (symmetries permute discrete actions)")
        if self.mode == "weight-tied":
            if self.kind != "mlp":
                raise bad_value("kind", self.kind, "'mlp' (weight-tied GRUs are not built)")
            if not self.group.closed:
                raise bad_value("group", self.group, "a group (closed) for weight tying")

    @property
    def base(self) -> NetworkConfig:
        """The plain network (this spec's ``NetworkConfig`` fields)."""
        return NetworkConfig(**_base_fields(self))

    def make_policy(self, obs_shape: Sequence[int], action_dim: int) -> Policy:
        """The equivariant :class:`~detente.solvers.rl.policy.Policy` (``make_policy`` calls it).

        Raises:
            ValueError: if ``obs_shape`` or ``action_dim`` do not match the group's.
        """
        obs_shape = tuple(int(s) for s in obs_shape)
        g = self.group
        if math.prod(obs_shape) != g.num_features:
            raise bad_value("obs_shape", obs_shape, f"{g.num_features} features (the group's)")
        if action_dim != g.num_actions:
            raise bad_value("action_dim", action_dim, f"{g.num_actions} (the group's)")
        if self.mode == "symmetrizer":
            return symmetrize(make_policy(obs_shape, action_dim, self.base), g)
        channels = tuple(-(-h // g.size) for h in self.hidden_sizes)  # ceil(h / G)
        obs_rep, hidden, logits_rep, value_rep = _reps(g, channels)
        module = EquivariantActorCritic(obs_rep, hidden, logits_rep, value_rep, self.activation)
        n_obs, d = len(obs_shape), g.num_features

        def init(key):
            return module.init(key, jnp.zeros((d,), jnp.float32))

        def apply(params, carry, obs, reset):
            del reset
            obs = jnp.asarray(obs)
            if obs.shape[obs.ndim - n_obs :] != obs_shape:
                raise bad_value("obs.shape", obs.shape, f"[T, B, *{obs_shape}]")
            x = obs.reshape(*obs.shape[: obs.ndim - n_obs], d).astype(jnp.float32)
            pi, value = module.apply(params, x)
            return carry, pi, value

        return Policy(
            init=init,
            initial_carry=lambda batch_shape: jnp.zeros((*tuple(batch_shape), 0), jnp.float32),
            apply=apply,
            recurrent=False,
            module=module,
        )

    def to_json(self) -> dict:
        """A JSON object: the ``NetworkConfig`` fields, ``mode`` and ``group`` (:meth:`GroupSpec.to_json`)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in _base_fields(self).items()}
        return {**out, "mode": self.mode, "group": self.group.to_json()}

    @classmethod
    def from_json(cls, obj: Mapping) -> EquivariantNetwork:
        """The spec of :meth:`to_json`'s object.

        Raises:
            ValueError: for unknown fields or bad values.
        """
        if not isinstance(obj, Mapping) or "group" not in obj:
            raise bad_value("network", obj, "a JSON object of EquivariantNetwork fields")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - set(names))
        if unknown:
            raise bad_value("network fields", unknown, f"names among {sorted(names)}")
        kwargs = {
            k: tuple(v) if isinstance(names[k].default, tuple) and isinstance(v, list) else v
            for k, v in obj.items()
        }
        kwargs["group"] = GroupSpec.from_json(dict(obj["group"]))
        return cls(**kwargs)


def _base_fields(network: NetworkConfig) -> dict[str, Any]:
    return {f.name: getattr(network, f.name) for f in dataclasses.fields(NetworkConfig)}


def equivariant_network(
    network: NetworkConfig, group: GroupSpec, mode: str = "weight-tied"
) -> EquivariantNetwork:
    """The spec of ``network`` made equivariant under ``group`` with ``mode``.

    Args:
        network: a plain :class:`~detente.solvers.rl.policy.NetworkConfig`.
        group: a :class:`~detente.solvers.zsc.symmetrizer.GroupSpec`
            (:func:`~detente.solvers.zsc.symmetrizer.group_spec`).
        mode: ``"weight-tied"`` (default) or ``"symmetrizer"``.

    Returns:
        An :class:`EquivariantNetwork`.

    Raises:
        ValueError: if ``network`` is already equivariant, or as
            :class:`EquivariantNetwork` does.
    """
    if not isinstance(network, NetworkConfig) or isinstance(network, EquivariantNetwork):
        raise bad_value("network", network, "a plain NetworkConfig")
    return EquivariantNetwork(**_base_fields(network), mode=mode, group=group)


def symmetrized(network: NetworkConfig, group: GroupSpec) -> EquivariantNetwork:
    """The symmetrizer spec of ``network``: its trained parameters work as they are.

    ``make_policy(obs_shape, A, symmetrized(net, group)).init`` is ``net``'s
    ``init``, so agents trained with ``net`` (e.g. from
    :func:`~detente.solvers.zsc.selfplay.agent_params` or
    :func:`~detente.solvers.zsc.agents.load_agents`) are evaluated, played in
    cross-play or saved as symmetrized agents with no retraining.
    """
    return equivariant_network(network, group, mode="symmetrizer")
