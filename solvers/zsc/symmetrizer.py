"""The symmetrizer: any policy made equivariant by averaging it over a group of symmetries.

Muglich et al. 2022, "Equivariant Networks for Zero-Shot Coordination",
NeurIPS, https://arxiv.org/abs/2210.12124, turn a policy ``pi`` into the
group-averaged policy (their "coordination-improvement operator")::

    pi_G(o) = mean over g in G of  g^-1 . pi(g . o)

with ``g . o`` the permuted observation (:func:`~detente.games.symmetry.apply_obs`)
and ``g^-1 . pi`` the policy whose action ``a`` gets the number ``pi`` gave
to ``g(a)``. For every ``h`` in ``G``, ``pi_G(h . o) = h . pi_G(o)``
(substitute ``k = g h``: the mean over ``g`` is the mean over ``k``), so a
symmetrized agent can no longer break the symmetries of ``G`` by
convention. Here the average is over the policy's *logits* (log-probabilities
before any legal-action mask), as for a network's outputs in the paper; the
value is averaged too (so it is invariant). It costs ``|G|`` forward passes
and no training: :func:`symmetrize` wraps any
:class:`~detente.solvers.rl.policy.Policy`, MLP or GRU, trained or not.

**Exactness needs a group.** The identity above uses that ``{g h : g in G}
= G`` for each ``h`` in ``G``, i.e. that ``G`` is closed under composition.
For a set ``S`` that is not closed, ``pi_S(h . o) = h . mean_{k in S h}
k^-1 . pi(k . o)``: the average runs over the shifted set ``S h``, which
differs from ``S``, so ``pi_S`` is equivariant only by accident (it is a
partial average, between ``pi`` and the symmetrized policy).
:class:`GroupSpec` records whether it is a group (:attr:`GroupSpec.closed`).

A group travels as a :class:`GroupSpec`, a hashable (jit-static, JSON-able)
record of the observation and action permutations; :func:`group_spec` builds
one from an env and a subgroup name (:func:`~detente.games.symmetry.symmetry_subgroup`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value
from detente.games.symmetry import Symmetry, is_group, symmetry_subgroup
from detente.solvers.rl.distributions import Categorical
from detente.solvers.rl.policy import Policy

__all__ = ["GroupSpec", "group_spec", "symmetrize"]


def _perm_rows(field: str, rows: Any) -> tuple[tuple[int, ...], ...]:
    arr = np.asarray(rows)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1 or arr.dtype.kind not in "iu":
        raise bad_value(f"{field}.shape", arr.shape, "a non-empty integer stack [G, n]")
    if not (np.sort(arr, axis=1) == np.arange(arr.shape[1])).all():
        raise bad_value(field, arr.tolist()[:2], "a permutation of 0..n-1 in every row")
    return tuple(tuple(int(x) for x in r) for r in arr)


@dataclasses.dataclass(frozen=True, repr=False)
class GroupSpec:
    """A stack of symmetries as hashable data: a jit-static network field and a JSON record.

    Only what a policy sees is kept: ``obs_perm`` and ``action_perm`` (the
    conventions of :mod:`detente.games.symmetry`); ``state_perm`` is
    dropped, and elements equal on both are merged (:meth:`create`).

    Attributes:
        name: a label (e.g. ``"HanabiGame/dihedral"``), part of the identity.
        obs_perm: ``G`` rows of ``D`` ints, gather maps of the flattened observation.
        action_perm: ``G`` rows of ``A`` ints, forward maps of the actions.
    """

    name: str
    obs_perm: tuple[tuple[int, ...], ...]  # [G][D]
    action_perm: tuple[tuple[int, ...], ...]  # [G][A]

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise bad_value("name", self.name, "a non-empty string")
        object.__setattr__(self, "obs_perm", _perm_rows("obs_perm", self.obs_perm))
        object.__setattr__(self, "action_perm", _perm_rows("action_perm", self.action_perm))
        if len(self.obs_perm) != len(self.action_perm):
            raise bad_value(
                "len(action_perm)",
                len(self.action_perm),
                f"{len(self.obs_perm)} (one per obs_perm)",
            )
        if len(set(zip(self.obs_perm, self.action_perm, strict=True))) != len(self.obs_perm):
            raise bad_value("elements", self.name, "distinct (build with GroupSpec.create)")

    def __hash__(self) -> int:  # cached: a jit static argument is hashed on every call
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.name, self.obs_perm, self.action_perm))
            object.__setattr__(self, "_hash", h)
        return h

    def __repr__(self) -> str:
        return (
            f"GroupSpec(name={self.name!r}, size={self.size}, "
            f"num_features={self.num_features}, num_actions={self.num_actions})"
        )

    @classmethod
    def create(cls, group: Symmetry, name: str) -> GroupSpec:
        """The spec of a stacked :class:`~detente.games.symmetry.Symmetry` ``[G]``.

        Elements with equal ``(obs_perm, action_perm)`` are merged (first kept),
        so a group of states maps to the group a policy sees.

        Raises:
            ValueError: if ``group`` is not a stack of permutations.
        """
        if not isinstance(group, Symmetry):
            raise bad_value("group", type(group).__name__, "a stacked Symmetry [G]")
        obs = np.asarray(group.obs_perm)
        act = np.asarray(group.action_perm)
        if obs.ndim != 2 or act.ndim != 2:
            raise bad_value("group", (obs.shape, act.shape), "a stack: [G, D] and [G, A]")
        keep, seen = [], set()
        for i, (o, a) in enumerate(zip(obs, act, strict=True)):
            k = (o.tobytes(), a.tobytes())
            if k not in seen:
                seen.add(k)
                keep.append(i)
        return cls(name=name, obs_perm=obs[keep], action_perm=act[keep])

    @property
    def size(self) -> int:
        """``G``, the number of elements."""
        return len(self.obs_perm)

    @property
    def num_features(self) -> int:
        """``D``, the flattened observation size."""
        return len(self.obs_perm[0])

    @property
    def num_actions(self) -> int:
        """``A``, the number of actions."""
        return len(self.action_perm[0])

    @functools.cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(obs_perm [G, D], action_perm [G, A])`` int32 numpy arrays."""
        return np.asarray(self.obs_perm, np.int32), np.asarray(self.action_perm, np.int32)

    def symmetry(self) -> Symmetry:
        """The elements as a stacked :class:`~detente.games.symmetry.Symmetry` (``state_perm=()``)."""
        obs, act = self.arrays
        return Symmetry(obs_perm=jnp.asarray(obs), action_perm=jnp.asarray(act), state_perm=())

    @functools.cached_property
    def closed(self) -> bool:
        """Whether the elements form a group (:func:`~detente.games.symmetry.is_group`)."""
        return is_group(self.symmetry())

    def to_json(self) -> dict:
        """``{"name", "obs_perm", "action_perm"}`` with lists of lists."""
        return {
            "name": self.name,
            "obs_perm": [list(r) for r in self.obs_perm],
            "action_perm": [list(r) for r in self.action_perm],
        }

    @classmethod
    def from_json(cls, obj: Any) -> GroupSpec:
        """The spec of :meth:`to_json`'s object.

        Raises:
            ValueError: for missing fields or bad permutations.
        """
        if not isinstance(obj, dict) or set(obj) != {"name", "obs_perm", "action_perm"}:
            raise bad_value("group", obj, "a JSON object with name, obs_perm and action_perm")
        return cls(name=obj["name"], obs_perm=obj["obs_perm"], action_perm=obj["action_perm"])


def group_spec(env: Any, kind: str = "full", env_params: Any = None) -> GroupSpec:
    """The :class:`GroupSpec` of a named subgroup of ``env``'s symmetries.

    Args:
        env: an environment with symmetries.
        kind: ``"trivial"``, ``"cyclic"``, ``"dihedral"`` or ``"full"``
            (:func:`~detente.games.symmetry.symmetry_subgroup`).
        env_params: its params (default ``env.default_params()``).

    Returns:
        The spec, named ``"{EnvClass}/{kind}"``.
    """
    group = symmetry_subgroup(env, kind, env_params)
    return GroupSpec.create(group, f"{type(env).__name__}/{kind}")


def _group_arrays(group: GroupSpec | Symmetry) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(group, GroupSpec):
        return group.arrays
    if isinstance(group, Symmetry):
        return GroupSpec.create(group, "group").arrays
    raise bad_value("group", type(group).__name__, "a GroupSpec or a stacked Symmetry [G]")


def symmetrize(policy: Policy, group: GroupSpec | Symmetry) -> Policy:
    """The symmetrized policy ``pi_G(o) = mean_g g^-1 . pi(g . o)`` (see the module docstring).

    For every element ``g`` the inner policy reads ``g . o`` with its own
    recurrent state; its logits are mapped back with ``g^-1``
    (``out[a] = logits[g(a)]``) and averaged over ``G``, and so are the values.
    The averaged logits are the network's unmasked log-probabilities, so the
    caller masks as usual (:func:`~detente.solvers.rl.policy.mask_policy`);
    the mean of log-softmax outputs differs from the mean of raw logits by a
    per-row constant, which the renormalisation removes. Every term is finite
    (an unmasked log-softmax), so no ``-inf - -inf`` or ``0 * inf`` path
    exists.

    Args:
        policy: any categorical :class:`~detente.solvers.rl.policy.Policy`
            (MLP: carry ``[B, 0]``; GRU: carry ``[B, H]``).
        group: the ``G`` symmetries (a :class:`GroupSpec` or a stacked
            :class:`~detente.games.symmetry.Symmetry`); exact equivariance
            needs a group (closed), see the module docstring.

    Returns:
        A :class:`~detente.solvers.rl.policy.Policy` with the inner
        policy's ``init`` (so the same parameters), a carry ``[B, G * H]``
        (``G`` inner carries side by side, one array per batch row, opaque
        to trainers and cross-play), and ``apply(params, carry [B, G H], obs
        [T, B, *obs_shape], reset [T, B]) -> (carry, pi [T, B], value [T,
        B])`` running the inner policy once on a batch of ``B G`` rows.
    """
    if not isinstance(policy, Policy):
        raise bad_value("policy", type(policy).__name__, "a Policy (make_policy)")
    obs_perm, action_perm = _group_arrays(group)
    g, d = obs_perm.shape
    a = action_perm.shape[1]
    h = int(jax.eval_shape(lambda: policy.initial_carry((1,))).shape[-1])
    rows = np.arange(g)[:, None]

    def initial_carry(batch_shape):
        return jnp.zeros((*tuple(batch_shape), g * h), jnp.float32)

    def apply(params, carry, obs, reset):
        obs = jnp.asarray(obs)
        if obs.ndim < 2 or math.prod(obs.shape[2:]) != d:
            raise bad_value("obs.shape", obs.shape, f"[T, B, *obs_shape] with prod(obs_shape)={d}")
        t, b, tail = obs.shape[0], obs.shape[1], obs.shape[2:]
        obs_g = jnp.take(obs.reshape(t, b, d), obs_perm, axis=-1)  # [T, B, G, D]
        obs_g = obs_g.reshape(t, b * g, *tail)
        reset_g = jnp.repeat(jnp.asarray(reset), g, axis=1)  # [T, B G]
        carry_g, pi, value = policy.apply(params, carry.reshape(b * g, h), obs_g, reset_g)
        if not isinstance(pi, Categorical):
            raise bad_value("policy's pi", type(pi).__name__, "a Categorical (discrete actions)")
        if pi.logits.shape[-1] != a:
            raise bad_value("number of actions", pi.logits.shape[-1], f"{a} (the group's)")
        logits = pi.logits.reshape(t, b, g, a)[:, :, rows, action_perm]  # g^-1 . pi(g . o)
        return (
            carry_g.reshape(b, g * h),
            Categorical.create(logits.mean(axis=2)),
            value.reshape(t, b, g).mean(axis=2),
        )

    return Policy(
        init=policy.init,
        initial_carry=initial_carry,
        apply=apply,
        recurrent=policy.recurrent,
        module=policy.module,
    )
