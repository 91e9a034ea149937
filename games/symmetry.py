"""Symmetries of Dec-POMDPs as data: pairs of observation and action permutations.

A symmetry ``g`` of a Dec-POMDP (Hu et al. 2020, "Other-Play for Zero-Shot
Coordination", ICML, https://arxiv.org/abs/2003.02979, Sec. 3) relabels
observations and actions so that the game is unchanged: rewards, legal
actions and dynamics commute with ``g``. Here ``g`` is a :class:`Symmetry`, a
pytree of integer index arrays, so a stack of them (leading ``[G]`` axis) is a
group that ``jax.vmap`` walks, and one sampled inside a jitted trainer is just
an indexed gather:

* ``obs_perm`` ``[D]`` (``D = prod(env.observation_shape)``) is a *gather*
  map: ``(g.o).ravel()[i] = o.ravel()[obs_perm[i]]``;
* ``action_perm`` ``[A]`` is a *forward* map: ``g`` sends action ``a`` to
  ``action_perm[a]``;
* ``state_perm`` is an env-specific pytree of integer permutations that the
  env's ``permute_state(state, g)`` uses (Hanabi: a colour permutation
  ``[5]``; the lever games: a lever permutation ``[A]``). Its leaves are
  **gather maps, composed like ``obs_perm``**: a permuted per-colour array is
  ``x_g[c] = x[state_perm[c]]`` (slot ``c`` of ``g.s`` holds what slot
  ``state_perm[c]`` of ``s`` held). If an env's natural payload is a forward
  map ``sigma`` (colour ``c`` becomes ``sigma[c]``), store
  ``argsort(sigma)``; otherwise :func:`compose` composes it in the wrong order.

Composition ``compose(g, h)`` is "``g`` after ``h``" (apply ``h`` first), and
for every group element ``apply_obs(compose(g, h), o) ==
apply_obs(g, apply_obs(h, o))``, likewise for actions, logits and masks.

An environment with symmetries provides two methods:

* ``env.symmetry_group(params) -> Symmetry`` stacked ``[G]``, element 0 the
  identity (it may be a subgroup when the full group is too large to stack;
  the env's docstring says which), and
* ``env.permute_state(state, g) -> state``, the state ``g.s``;
* optionally ``env.symmetry_subgroup(kind, params) -> Symmetry``, named
  subgroups (``"trivial"``, ``"cyclic"``, ``"dihedral"``, ``"full"``) for
  :func:`symmetry_subgroup`; :func:`generated_group` closes any set of
  generators into a group.

Optionally ``env.observation(state, params) -> (obs, action_mask)``
(``[N, *observation_shape]``, ``[N, A]``): with it, :func:`check_symmetry`
also compares the observation and mask of ``g.s`` at the first state of each
episode; without it, observations and masks of ``g.s`` are compared through
the step that reaches ``s`` (every state but an episode's first).

Every function but :func:`is_group` and :func:`check_symmetry` is pure jnp,
jit- and vmap-able, and works on one :class:`Symmetry`; vmap it for a stack.

Examples:
    >>> import jax.numpy as jnp
    >>> g = Symmetry(obs_perm=jnp.array([1, 0, 2]), action_perm=jnp.array([1, 0]),
    ...              state_perm=jnp.array([1, 0]))
    >>> apply_obs(g, jnp.array([10.0, 20.0, 30.0])).tolist()
    [20.0, 10.0, 30.0]
    >>> apply_logits(g, jnp.array([0.0, 5.0])).tolist()
    [5.0, 0.0]
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from detente._checks import bad_value, check_choice, check_positive_int
from detente.env import TimeStep

__all__ = [
    "Symmetry",
    "SymmetryCheck",
    "apply_action",
    "apply_logits",
    "apply_mask",
    "apply_obs",
    "check_symmetry",
    "SUBGROUPS",
    "compose",
    "generated_group",
    "group_element",
    "group_size",
    "identity_symmetry",
    "inverse",
    "is_group",
    "sample_symmetry",
    "stack_symmetries",
    "symmetry_subgroup",
    "symmetry_violations",
    "trivial_group",
]

SUBGROUPS = ("trivial", "cyclic", "dihedral", "full")
"""The subgroup kinds of :func:`symmetry_subgroup`, smallest first."""


@struct.dataclass
class Symmetry:
    """One Dec-POMDP symmetry ``g``, or a stack of them (leading ``[G]`` on every leaf).

    Attributes:
        obs_perm: ``[D]`` int32 gather map over the flattened observation,
            ``(g.o).ravel()[i] = o.ravel()[obs_perm[i]]``.
        action_perm: ``[A]`` int32 forward map, ``g`` sends action ``a`` to
            ``action_perm[a]``.
        state_perm: env-specific pytree of int32 gather maps for
            ``env.permute_state`` (composed like ``obs_perm``).
    """

    obs_perm: chex.Array  # [D] (or [G, D])
    action_perm: chex.Array  # [A] (or [G, A])
    state_perm: Any  # pytree of [K] int32 (or [G, K])


def _inv(p: chex.Array) -> chex.Array:
    """Inverse permutation along the last axis (a scatter: cheaper to compile than a sort)."""
    p = jnp.asarray(p)
    if p.ndim == 1:
        return jnp.zeros(p.shape, jnp.int32).at[p].set(jnp.arange(p.shape[0], dtype=jnp.int32))
    return jax.vmap(_inv)(p)


def identity_symmetry(env: Any, params: Any = None) -> Symmetry:
    """The identity element of ``env``'s symmetry group.

    Args:
        env: an environment with ``symmetry_group(params)``.
        params: its params (default ``env.default_params()``).

    Returns:
        Element 0 of ``env.symmetry_group(params)`` (the identity by contract).
    """
    if params is None:
        params = env.default_params()
    return group_element(env.symmetry_group(params), 0)


def compose(g: Symmetry, h: Symmetry) -> Symmetry:
    """``g`` after ``h`` (apply ``h`` first).

    Args:
        g, h: single symmetries of the same env.

    Returns:
        The symmetry ``g h``: ``obs_perm = h.obs_perm[g.obs_perm]``,
        ``action_perm = g.action_perm[h.action_perm]``, and every
        ``state_perm`` leaf composed like ``obs_perm``.
    """
    return Symmetry(
        obs_perm=h.obs_perm[g.obs_perm],
        action_perm=g.action_perm[h.action_perm],
        state_perm=jax.tree_util.tree_map(lambda gs, hs: hs[gs], g.state_perm, h.state_perm),
    )


def inverse(g: Symmetry) -> Symmetry:
    """The inverse ``g^-1`` (argsort of every permutation), so ``compose(g, inverse(g))`` is the identity."""
    return jax.tree_util.tree_map(_inv, g)


def _split_obs_shape(shape: tuple[int, ...], d: int) -> int:
    """Number of trailing axes of ``shape`` whose product is ``d`` (the fewest)."""
    prod = 1
    for k in range(len(shape) + 1):
        if prod == d:
            return k
        if k == len(shape):
            break
        prod *= shape[len(shape) - 1 - k]
    raise bad_value("obs.shape", shape, f"trailing axes whose product is the obs_perm size {d}")


def apply_obs(g: Symmetry, obs: chex.Array, obs_shape: tuple[int, ...] | None = None) -> chex.Array:
    """The transformed observation ``g.o``.

    Args:
        g: a single symmetry.
        obs: ``[..., *obs_shape]`` observations (any leading batch axes).
        obs_shape: the observation shape; default: the fewest trailing axes of
            ``obs`` whose product is ``D = obs_perm.shape[-1]`` (extra leading
            axes of size 1 in the observation shape do not change the result).

    Returns:
        Same shape as ``obs``: ``(g.o).ravel()[i] = o.ravel()[obs_perm[i]]``
        for each observation.
    """
    d = g.obs_perm.shape[-1]
    if obs_shape is None:
        k = _split_obs_shape(tuple(obs.shape), d)
    else:
        k = len(tuple(obs_shape))
        if tuple(obs.shape[len(obs.shape) - k :]) != tuple(obs_shape) or math.prod(obs_shape) != d:
            raise bad_value("obs.shape", obs.shape, f"[..., *{tuple(obs_shape)}] with prod {d}")
    lead = obs.shape[: obs.ndim - k]
    flat = obs.reshape(lead + (d,))
    return jnp.take(flat, g.obs_perm, axis=-1).reshape(obs.shape)


def apply_action(g: Symmetry, a: chex.Array) -> chex.Array:
    """The transformed action ``g(a) = action_perm[a]`` (``a`` int, any shape)."""
    return g.action_perm[a]


def apply_logits(g: Symmetry, logits: chex.Array) -> chex.Array:
    """Logits of the transformed policy ``g.pi``.

    If ``logits`` ``[..., A]`` are those of ``pi(. | o)``, the result puts the
    logit of action ``a`` on ``g(a)``: ``out[..., action_perm[a]] = logits[..., a]``,
    i.e. ``logits[..., inverse(action_perm)]``. Sampling from the result gives
    the same distribution as sampling from ``logits`` and applying
    :func:`apply_action`.
    """
    return jnp.take(logits, _inv(g.action_perm), axis=-1)


def apply_mask(g: Symmetry, mask: chex.Array) -> chex.Array:
    """The transformed legal-action mask ``[..., A]``: ``out[..., action_perm[a]] = mask[..., a]``."""
    return jnp.take(mask, _inv(g.action_perm), axis=-1)


def group_size(G: Symmetry) -> int:
    """Number of elements of a stacked group (the leading axis of ``action_perm``)."""
    if G.action_perm.ndim != 2:
        raise bad_value("G.action_perm.ndim", G.action_perm.ndim, "2 (a stack [G, A])")
    return int(G.action_perm.shape[0])


def group_element(G: Symmetry, i) -> Symmetry:
    """Element ``i`` (int or traced int) of a stacked group."""
    return jax.tree_util.tree_map(lambda x: x[i], G)


def sample_symmetry(key: chex.PRNGKey, G: Symmetry) -> Symmetry:
    """A uniformly random element of a stacked group (jit-able)."""
    i = jax.random.randint(key, (), 0, G.action_perm.shape[0])
    return group_element(G, i)


def stack_symmetries(gs) -> Symmetry:
    """Stack a sequence of single symmetries into a group ``[G]`` (order kept)."""
    gs = list(gs)
    if not gs:
        raise bad_value("gs", gs, "a non-empty sequence of Symmetry")
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *gs)


def is_group(G: Symmetry) -> bool:
    """Whether a stack is closed under :func:`compose` and :func:`inverse`.

    Compares elements as ``(obs_perm, action_perm)`` pairs, in numpy
    (outside jit, ``O(G^2)``); also requires every row to be a permutation.

    Args:
        G: a stacked group ``[G]``.

    Returns:
        True if the set of pairs contains the identity, every inverse and
        every product.
    """
    obs = np.asarray(G.obs_perm)
    act = np.asarray(G.action_perm)
    if obs.ndim != 2 or act.ndim != 2 or obs.shape[0] != act.shape[0]:
        raise bad_value("G", (obs.shape, act.shape), "a stack: obs_perm [G, D], action_perm [G, A]")
    d, a = obs.shape[1], act.shape[1]
    for perms, n in ((obs, d), (act, a)):
        if not (np.sort(perms, axis=1) == np.arange(n)).all():
            return False
    elems = {
        (o.tobytes(), p.tobytes())
        for o, p in zip(obs.astype(np.int64), act.astype(np.int64), strict=True)
    }
    eye = (np.arange(d, dtype=np.int64).tobytes(), np.arange(a, dtype=np.int64).tobytes())
    if eye not in elems:
        return False
    obs64, act64 = obs.astype(np.int64), act.astype(np.int64)
    for o, p in zip(obs64, act64, strict=True):
        if (np.argsort(o).tobytes(), np.argsort(p).tobytes()) not in elems:
            return False
    # products g h for all pairs: obs = h.obs[g.obs], act = g.act[h.act]
    for og, pg in zip(obs64, act64, strict=True):
        prod_obs = obs64[:, og]  # [G, D]: h.obs_perm[g.obs_perm] for every h
        prod_act = pg[act64]  # [G, A]: g.action_perm[h.action_perm]
        for o, p in zip(prod_obs, prod_act, strict=True):
            if (o.tobytes(), p.tobytes()) not in elems:
                return False
    return True


# ----------------------------------------------------------------------------
# Generated groups and named subgroups


def generated_group(generators, max_size: int = 5040) -> Symmetry:
    """The group generated by ``generators``: breadth-first closure under :func:`compose`.

    Starting from the identity, every element found is multiplied on the left
    by every generator (numpy, outside jit) until nothing new appears; for
    finite permutation groups this closure contains every inverse, so the
    result is the generated group. Two elements are the same when all their
    permutations (``obs_perm``, ``action_perm`` and every ``state_perm``
    leaf) are.

    Args:
        generators: a stack ``[K]`` of symmetries, or a sequence of single ones
            (of one env: equal shapes).
        max_size: the largest order accepted.

    Returns:
        The group stacked ``[G]`` (jnp int32 leaves), identity first, then in
        order of discovery (the generators' first powers early).

    Raises:
        ValueError: if there are no generators, a leaf is not a permutation,
            or the group has more than ``max_size`` elements.
    """
    check_positive_int("max_size", max_size)
    if isinstance(generators, Symmetry):
        gens = generators if generators.action_perm.ndim == 2 else stack_symmetries([generators])
    else:
        gens = stack_symmetries(generators)
    treedef = jax.tree_util.tree_structure(gens)
    leaves = [np.asarray(x, np.int64) for x in jax.tree_util.tree_leaves(gens)]
    if any(x.ndim != 2 or x.shape[0] != leaves[0].shape[0] for x in leaves):
        raise bad_value("generators", [x.shape for x in leaves], "a stack [K, n] per leaf")
    for x in leaves:
        if not (np.sort(x, axis=1) == np.arange(x.shape[1])).all():
            raise bad_value("generators", x.tolist()[:2], "permutations in every leaf")
    # leaves in field order: obs_perm, action_perm (the one forward map), state_perm leaves
    act_i = 1
    gen_list = [[x[k] for x in leaves] for k in range(leaves[0].shape[0])]

    def mul(g, h):  # g after h: gather leaves compose as h[g], the forward action_perm as g[h]
        return [g[i][h[i]] if i == act_i else h[i][g[i]] for i in range(len(g))]

    def key(e):
        return b"|".join(x.tobytes() for x in e)

    eye = [np.arange(x.shape[1], dtype=np.int64) for x in leaves]
    found, seen, frontier = [eye], {key(eye)}, [eye]
    while frontier:
        nxt = []
        for e in frontier:
            for s in gen_list:
                p = mul(s, e)
                kp = key(p)
                if kp not in seen:
                    if len(found) == max_size:
                        raise bad_value(
                            "group order", f"> {max_size}", f"at most max_size={max_size}"
                        )
                    seen.add(kp)
                    found.append(p)
                    nxt.append(p)
        frontier = nxt
    stacked = [jnp.asarray(np.stack([e[i] for e in found]), jnp.int32) for i in range(len(eye))]
    return jax.tree_util.tree_unflatten(treedef, stacked)


def symmetry_subgroup(env: Any, kind: str, env_params: Any = None) -> Symmetry:
    """A named subgroup of ``env``'s symmetry group, stacked ``[G]``, identity first.

    The entry point for any env with symmetries: an env that defines
    ``symmetry_subgroup(kind, params)`` answers itself (the lever games:
    cyclic 9 / dihedral 18 elements for the default payoffs; Hanabi's colour
    group: 1 / 5 / 10 / 120); any other env answers ``"full"`` with
    ``env.symmetry_group(params)`` and ``"trivial"`` with its identity.
    Subgroups trade coverage for cost, as in Muglich et al. 2022,
    "Equivariant Networks for Zero-Shot Coordination", NeurIPS,
    https://arxiv.org/abs/2210.12124 (subgroups of Hanabi's colour group).

    Args:
        env: an environment with ``symmetry_group(params)``.
        kind: one of :data:`SUBGROUPS`: ``"trivial"`` (the identity alone),
            ``"cyclic"``, ``"dihedral"``, ``"full"``.
        env_params: its params (default ``env.default_params()``).

    Returns:
        The subgroup, a :class:`Symmetry` stack.

    Raises:
        ValueError: for an unknown ``kind``, one the env does not provide, or
            an env without symmetries.
    """
    check_choice("kind", kind, SUBGROUPS)
    if env_params is None:
        env_params = env.default_params()
    own = getattr(env, "symmetry_subgroup", None)
    if callable(own):
        return own(kind, env_params)
    if not callable(getattr(env, "symmetry_group", None)):
        raise bad_value("env", type(env).__name__, "an env with a symmetry_group(params) method")
    if kind == "full":
        return env.symmetry_group(env_params)
    if kind == "trivial":
        return trivial_group(env.symmetry_group(env_params))
    raise bad_value(
        "kind", kind, f"'trivial' or 'full' ({type(env).__name__} defines no symmetry_subgroup)"
    )


def trivial_group(G: Symmetry) -> Symmetry:
    """The identity of a stacked group alone, stacked ``[1]`` (element 0 by contract)."""
    return jax.tree_util.tree_map(lambda x: x[:1], G)


# ----------------------------------------------------------------------------
# Checking that a pair is a symmetry of a game


class SymmetryCheck(NamedTuple):
    """Result of :func:`check_symmetry`.

    The violations are maxima over the visited states and agents; each is
    ``[]`` for one symmetry, ``[G]`` for a stack.

    Attributes:
        ok: True when every violation is at most ``atol`` (for a stack: for
            every element).
        obs: max ``|obs(g.s) - g.obs(s)|`` (at episode starts, only when the
            env has ``observation``; else 0).
        mask: number of mismatches of ``mask(g.s)`` vs ``g.mask(s)`` (ditto).
        reward: max ``|r(g.s, g.a) - r(s, a)|``.
        dynamics: max over the next states of ``|obs(s'_g) - g.obs(s')|`` and
            mismatched mask entries, plus 1 for any ``terminated`` or
            ``truncated`` that differs, where ``s' = step(s, a)`` and
            ``s'_g = step(g.s, g.a)`` with the same key.
    """

    ok: bool
    obs: np.ndarray
    mask: np.ndarray
    reward: np.ndarray
    dynamics: np.ndarray


def _random_legal(noise, mask):
    """Uniform legal action per agent from pre-drawn ``noise`` ``[N, A]`` (argmax of masked noise)."""
    return jnp.argmax(jnp.where(mask, noise, -1.0), axis=-1).astype(jnp.int32)


def symmetry_violations(
    env: Any, params: Any, g: Symmetry, key: chex.PRNGKey, num_states: int = 16, num_steps: int = 8
) -> tuple[chex.Array, chex.Array, chex.Array, chex.Array]:
    """The four violations of :class:`SymmetryCheck` as jnp scalars (pure, jit/vmap-able over ``g``).

    Args:
        env: the environment (needs ``permute_state``; ``observation`` optional).
        params: its params.
        g: a single symmetry.
        key: PRNG key for the trajectories and the env's steps.
        num_states: number of independent random trajectories (static).
        num_steps: steps per trajectory (static); an episode that ends
            restarts with ``env.reset``.

    Returns:
        ``(obs, mask, reward, dynamics)`` maximal violations, float32 scalars.
    """
    observe = getattr(env, "observation", None)
    f32 = jnp.float32

    def gap(x, y):
        return jnp.max(jnp.abs(jnp.asarray(x, f32) - jnp.asarray(y, f32)), initial=0.0)

    def mismatch(x, y):
        return jnp.sum(jnp.asarray(x) != jnp.asarray(y)).astype(f32)

    def at_state(ts, noise, k_step):
        gs = env.permute_state(ts.state, g)
        if observe is not None:
            o_g, m_g = observe(gs, params)
            v_obs = gap(o_g, apply_obs(g, ts.obs))
            v_mask = mismatch(m_g, apply_mask(g, ts.action_mask))
        else:
            v_obs = v_mask = jnp.zeros((), f32)
        a = _random_legal(noise, ts.action_mask)  # [N]
        nxt = env.step(k_step, ts.state, a, params)
        nxt_g = env.step(k_step, gs, apply_action(g, a), params)
        v_rew = gap(nxt_g.rewards, nxt.rewards)
        v_dyn = jnp.maximum(
            gap(nxt_g.obs, apply_obs(g, nxt.obs)),
            mismatch(nxt_g.action_mask, apply_mask(g, nxt.action_mask)),
        )
        v_dyn = v_dyn + mismatch(nxt_g.terminated, nxt.terminated)
        v_dyn = v_dyn + mismatch(nxt_g.truncated, nxt.truncated)
        return nxt, jnp.stack([v_obs, v_mask, v_rew, v_dyn])

    # all randomness drawn up front (a few threefry calls keep compile times short)
    n_agents, n_act = env.num_agents, env.num_actions
    k_noise, k_keys = jax.random.split(key)
    # drawn flat: a multi-axis uniform compiles ~8x slower on CPU in jax 0.10 (threefry)
    noise = jax.random.uniform(k_noise, (num_states * num_steps * n_agents * n_act,))
    noise = noise.reshape(num_states, num_steps, n_agents, n_act)
    keys = jax.random.split(k_keys, num_states * (2 * num_steps + 1))
    keys = keys.reshape((num_states, 2 * num_steps + 1) + keys.shape[1:])

    def trajectory(noise_s, keys_s):
        ts0 = env.reset(keys_s[0], params)

        def body(ts: TimeStep, xs):
            noise_t, k_step, k_reset = xs
            nxt, v = at_state(ts, noise_t, k_step)
            fresh = env.reset(k_reset, params)
            ts_next = jax.tree_util.tree_map(lambda x, y: jnp.where(nxt.done, x, y), fresh, nxt)
            return ts_next, v

        xs = (noise_s, keys_s[1 : 1 + num_steps], keys_s[1 + num_steps :])
        _, vs = jax.lax.scan(body, ts0, xs)
        return vs.max(0)

    v = jax.vmap(trajectory)(noise, keys).max(0)
    return v[0], v[1], v[2], v[3]


def check_symmetry(
    env: Any,
    params: Any,
    g: Symmetry,
    key: chex.PRNGKey,
    num_states: int = 16,
    num_steps: int = 8,
    atol: float = 1e-5,
) -> SymmetryCheck:
    """Check that ``g`` (or every element of a stack) is a symmetry of ``env``.

    Walks ``num_states`` random legal trajectories of ``num_steps`` steps
    (restarting finished episodes); at every visited state ``s`` with a
    uniformly random legal joint action ``a`` it checks, using
    ``env.permute_state(s, g)``, that ``step(g.s, g.a)`` has the rewards,
    ``terminated`` and ``truncated`` of ``step(s, a)`` and that its next
    state is ``g`` of the next state (observations and masks of every agent
    compared; the step's key is the same in both, so the env's randomness
    must be a function of the key that ``permute_state`` keeps consistent),
    and, where the env has ``observation(state, params)``, that
    ``obs(g.s) = g.obs(s)`` and ``mask(g.s) = g.mask(s)``. This is the
    definition of a Dec-POMDP symmetry in Hu et al. 2020, "Other-Play for
    Zero-Shot Coordination", https://arxiv.org/abs/2003.02979, Sec. 3,
    tested on sampled states.

    Args:
        env: the environment.
        params: its params.
        g: a symmetry, or a stack ``[G]`` (checked with ``jax.vmap``).
        key: PRNG key.
        num_states: trajectories per symmetry (static, positive).
        num_steps: steps per trajectory (static, positive).
        atol: largest violation still accepted.

    Returns:
        A :class:`SymmetryCheck`.

    Raises:
        ValueError: if ``env`` has no ``permute_state``, or for a bad count.
    """
    if not callable(getattr(env, "permute_state", None)):
        raise bad_value("env", type(env).__name__, "an env with a permute_state(state, g) method")
    check_positive_int("num_states", num_states)
    check_positive_int("num_steps", num_steps)
    if g.action_perm.ndim not in (1, 2):
        raise bad_value("g.action_perm.ndim", g.action_perm.ndim, "1 (one symmetry) or 2 (a stack)")

    stacked = g.action_perm.ndim == 2
    try:
        hash(env)
    except TypeError:  # an unhashable env: compile for this call only
        fn = jax.jit(_violations, static_argnums=(0, 4, 5, 6))
    else:
        fn = _violations_jit
    v = [np.asarray(x) for x in fn(env, params, g, key, num_states, num_steps, stacked)]
    ok = bool(all((x <= atol).all() for x in v))
    return SymmetryCheck(ok=ok, obs=v[0], mask=v[1], reward=v[2], dynamics=v[3])


def _violations(env, params, g, key, num_states, num_steps, stacked):
    def one(h):
        return symmetry_violations(env, params, h, key, num_states, num_steps)

    return jax.vmap(one)(g) if stacked else one(g)


# compiled once per (env, num_states, num_steps, stacked) and argument shapes
_violations_jit = jax.jit(_violations, static_argnums=(0, 4, 5, 6))
