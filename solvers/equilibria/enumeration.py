"""All Nash equilibria of two-player games: vertex enumeration, batched in JAX.

The equilibrium set of a bimatrix game ``(A, B)`` (``A, B [m, n]``, the row
and column player's rewards) can be infinite; it is a finite union of convex
polytopes (the maximal Nash subsets), and this module returns their extreme
points, the *extreme equilibria*: the set Gambit's ``enummixed`` returns. They
are the completely labelled vertex pairs ``(x, y) != (0, 0)`` of the
best-response polytopes

    P = {x in R^m : x >= 0, B^T x <= 1},    Q = {y in R^n : A y <= 1, y >= 0},

normalised to ``(x / sum(x), y / sum(y))``, with the payoffs first moved into
``[1, 2]`` by a positive affine map (which changes no equilibrium). Labels
``0..m-1`` are the row player's actions (``x_i = 0`` in ``P``, ``(A y)_i = 1``
in ``Q``), ``m..m+n-1`` the column player's (``(B^T x)_j = 1``, ``y_j = 0``).
References: von Stengel, "Computing equilibria for two-person games",
Handbook of Game Theory vol. 3, 2002, ch. 45, sec. 3 and 6
(https://doi.org/10.1016/S1574-0005(02)03008-4); Avis, Rosenberg, Savani and
von Stengel, "Enumeration of Nash equilibria for two-player games", Economic
Theory 42, 2010 (https://doi.org/10.1007/s00199-009-0449-x), for degenerate
games.

Method (fixed shapes, vmappable, no LAPACK call): all ``C(m + n, m)`` bases of
both polytopes are solved at once by Cramer's rule from shared minors (see
:mod:`detente.solvers.equilibria._polytope`); a basis point is a vertex when
it is feasible within ``tol``, and its labels make a bit-mask. A vertex pair
where neither vertex has more labels than its dimension is complementary
basis for basis, so those pairs are matched index to index with no search.
When a vertex of a block of games has more labels (a degenerate game), each
degenerate vertex is kept once (its least basis in label order) and matched
by mask arithmetic, ``mask_x | mask_y == all labels``, against every vertex of
the other polytope; only blocks that hold a degenerate vertex run that branch.
Matches are compacted into ``max_equilibria`` slots, and the count says when
some did not fit.

Tolerances: labels and feasibility are judged within ``tol`` (default 1e-9 in
float64) on the ``[1, 2]`` scale, singular bases by ``|det| <= det_tol``;
both are raised to 100 times the payoffs' own float resolution relative to
their range when that is larger (payoffs such as ``1e6 + 0.1 k`` keep their
ties only to about 1e-9). Small integer payoffs are exact, since the map into
``[1, 2]`` scales by a power of two.

Speed (``benchmarks/equilibria.py``, float64, a 2-core CPU shared with other
jobs): 1.7e5 to 2.7e5 random 4 x 4 and 1.0e4 to 3.2e4 random 6 x 6 games per
second depending on the load, 68x to 96x and 23x to 68x pygambit's float
``enummixed_solve`` in the same runs, with the same sets on all 1,000 games.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_finite, check_positive_int
from detente.batching import map_blocks
from detente.games.normal_form import NormalFormGame
from detente.solvers.equilibria._polytope import (
    PolytopeTables,
    basis_pairs,
    basis_point,
    compact,
    label_masks,
    least_basis,
    max_vertices,
    payoff_resolution,
    polytope_tables,
    solve_bases,
    take_per_batch,
    to_unit_interval,
)

__all__ = [
    "EquilibriumSet",
    "make_enumerate_equilibria",
    "nash_equilibria",
    "nash_equilibria_batch",
]

MAX_BASES = 50_000
"""Largest ``C(m + n, m)`` accepted (9 x 9 games): the work grows with it."""

DEFAULT_DEGENERATE = 32
"""Default slots for the degenerate vertices of each polytope (capped by
McMullen's bound, so never exceeded up to 5 x 5; random 6 x 6 games with
payoffs in ``{0, 1}`` have up to about 30)."""


class EquilibriumSet(NamedTuple):
    """The extreme equilibria of a bimatrix game, in fixed-size slots.

    Batched results (:func:`nash_equilibria_batch`) carry a leading ``[G]`` axis.

    Attributes:
        x: ``[K, m]`` row player's strategies; rows where ``valid`` is false are 0.
        y: ``[K, n]`` column player's strategies.
        valid: ``[K]`` bool, the slots holding an equilibrium (the first ``count``).
        count: ``[]`` int32, extreme equilibria found (can exceed ``K``).
        overflow: ``[]`` bool, some equilibria did not fit (``count > K``, or
            more degenerate vertices than ``max_degenerate``): the set is incomplete.
    """

    x: chex.Array  # [K, m]
    y: chex.Array  # [K, n]
    valid: chex.Array  # [K]
    count: chex.Array  # []
    overflow: chex.Array  # []


class _Config(NamedTuple):
    """Static sizes of one compiled enumeration."""

    m: int
    n: int
    max_equilibria: int  # K
    max_degenerate: tuple[int, int]  # slots for degenerate vertices of P and Q
    tol: float | None
    det_tol: float | None


@functools.cache
def _tables(m: int, n: int) -> tuple[PolytopeTables, PolytopeTables]:
    pairs = basis_pairs(m, n)
    rows, cols = list(range(m)), [m + j for j in range(n)]
    tp = polytope_tables(m, n, pairs, zero_label=rows, tight_label=cols)
    tq = polytope_tables(n, m, [(s, t) for t, s in pairs], zero_label=cols, tight_label=rows)
    return tp, tq


def vertex_bounds(m: int, n: int) -> tuple[int, int]:
    """Most non-zero vertices ``P`` and ``Q`` can have (McMullen's bound, capped
    by the number of bases): the slots that never overflow."""
    bases = math.comb(m + n, m)
    return (
        min(max_vertices(m, m + n), bases) - 1,
        min(max_vertices(n, m + n), bases) - 1,
    )


def default_tolerances(dtype) -> tuple[float, float]:
    """``(tol, det_tol)`` for a float dtype: ``(1e-9, 1e-12)`` in float64,
    ``(1e-5, 1e-5)`` in float32."""
    if jnp.dtype(dtype) == jnp.float64:
        return 1e-9, 1e-12
    return 1e-5, 1e-5


def _enumerate(cfg: _Config, payoffs: chex.Array):
    """The kernel: ``payoffs [2, m, n, ...]`` (batch axes last) ->
    ``(EquilibriumSet with batch axes last, degenerate vertex count [...])``."""
    m, n, K = cfg.m, cfg.n, cfg.max_equilibria
    tp, tq = _tables(m, n)
    VP, VQ = vertex_bounds(m, n)
    DP, DQ = cfg.max_degenerate
    B = math.comb(m + n, m)
    batch = payoffs.shape[3:]
    lead = (1,) * len(batch)
    full = (1 << (m + n)) - 1
    tol, det_tol = default_tolerances(payoffs.dtype)
    tol = tol if cfg.tol is None else cfg.tol
    det_tol = det_tol if cfg.det_tol is None else cfg.det_tol

    # Each polytope's tolerances are raised to 100 x its payoffs' float
    # resolution on the [1, 2] scale when that is larger (payoffs such as
    # 1e6 + 0.1 k carry ties only to about 1e-9 of their range).
    res_a, res_b = payoff_resolution(payoffs[0]), payoff_resolution(payoffs[1])
    tol_p, tol_q = jnp.maximum(tol, 100 * res_b), jnp.maximum(tol, 100 * res_a)
    det_p, det_q = jnp.maximum(det_tol, 100 * res_b), jnp.maximum(det_tol, 100 * res_a)
    bp = solve_bases(tp, to_unit_interval(payoffs[1]), tol_p, det_p)
    bq = solve_bases(tq, jnp.swapaxes(to_unit_interval(payoffs[0]), 0, 1), tol_q, det_q)
    # complementary non-degenerate vertices: basis b of P with basis b of Q
    direct = bp.feasible & bp.simple & bq.feasible & bq.simple  # [B, ...]
    degenerate = jnp.any(bp.feasible & ~bp.simple) | jnp.any(bq.feasible & ~bq.simple)
    zeros = jnp.zeros(batch, jnp.int32)

    def non_degenerate(ops):
        ((sel, count),) = compact([ops[-1]], [K])
        return sel, sel, count, count > K, zeros

    def general(ops):
        mp, mq, p_ns, q_ns, p_feas, q_feas, p_simple, q_simple, direct = ops
        p_nd, q_nd = p_feas & p_simple, q_feas & q_simple
        p_dg = p_feas & ~p_simple & least_basis(tp, p_ns, mp)
        q_dg = q_feas & ~q_simple & least_basis(tq, q_ns, mq)

        found = compact([p_nd, q_nd, p_dg, q_dg], [VP, VQ, DP, DQ])

        def slots(i, mask):
            idx, cnt = found[i]
            ok = jnp.arange(idx.shape[0]).reshape((idx.shape[0],) + lead) < cnt
            return idx, jnp.where(ok, take_per_batch(mask, idx), 0), cnt

        i_pnd, m_pnd, c_pnd = slots(0, mp)
        i_qnd, m_qnd, c_qnd = slots(1, mq)
        i_pdg, m_pdg, c_pdg = slots(2, mp)
        i_qdg, m_qdg, c_qdg = slots(3, mq)
        # degenerate P vertices with every Q vertex; degenerate Q vertices with
        # the non-degenerate P vertices. An empty slot has mask 0 and matches nothing.
        i_q = jnp.concatenate([i_qnd, i_qdg], axis=0)
        m_q = jnp.concatenate([m_qnd, m_qdg], axis=0)
        pq = ((m_pdg[:, None] | m_q[None]) == full) & (m_pdg[:, None] != 0) & (m_q[None] != 0)
        qp = ((m_qdg[:, None] | m_pnd[None]) == full) & (m_qdg[:, None] != 0) & (m_pnd[None] != 0)

        def flat(a, shape):
            return jnp.broadcast_to(a, shape).reshape((-1,) + batch)

        arange = jnp.broadcast_to(jnp.arange(B, dtype=jnp.int32).reshape((B,) + lead), direct.shape)
        flags = jnp.concatenate([direct, flat(pq, pq.shape), flat(qp, qp.shape)], axis=0)
        bx = jnp.concatenate(
            [arange, flat(i_pdg[:, None], pq.shape), flat(i_pnd[None], qp.shape)], axis=0
        )
        by = jnp.concatenate(
            [arange, flat(i_q[None], pq.shape), flat(i_qdg[:, None], qp.shape)], axis=0
        )
        ((sel, count),) = compact([flags], [K])
        over = (count > K) | (c_pdg > DP) | (c_qdg > DQ) | (c_pnd > VP) | (c_qnd > VQ)
        ndeg = jnp.maximum(c_pdg, c_qdg)
        return take_per_batch(bx, sel), take_per_batch(by, sel), count, over, ndeg

    # Only small operands enter the branches (passing the solved bases made
    # XLA's conditional twice as slow as the whole degenerate branch).
    ops = (
        label_masks(tp, bp, tol_p),
        label_masks(tq, bq, tol_q),
        bp.nonsingular,
        bq.nonsingular,
        bp.feasible,
        bq.feasible,
        bp.simple,
        bq.simple,
        direct,
    )
    sx, sy, count, overflow, ndeg = jax.lax.cond(degenerate, general, non_degenerate, ops)
    valid = jnp.arange(K).reshape((K,) + lead) < count
    zx = basis_point(tp, bp, sx)  # [K, m, ...]
    zy = basis_point(tq, bq, sy)  # [K, n, ...]
    ok = valid[:, None]
    zx, zy = jnp.where(zx > 0, zx, 0.0), jnp.where(zy > 0, zy, 0.0)  # -tol..0 (and -0.0) to 0
    x = jnp.where(ok, zx / jnp.where(ok, jnp.sum(zx, axis=1, keepdims=True), 1.0), 0.0)
    y = jnp.where(ok, zy / jnp.where(ok, jnp.sum(zy, axis=1, keepdims=True), 1.0), 0.0)
    return EquilibriumSet(x, y, valid, count, overflow), ndeg


def _config(m, n, max_equilibria, max_degenerate, tol, det_tol) -> _Config:
    m, n = check_positive_int("m", m), check_positive_int("n", n)
    if math.comb(m + n, m) > MAX_BASES:
        raise bad_value(
            "(m, n)", (m, n), f"a game with C(m + n, m) <= {MAX_BASES} bases (up to 9 x 9)"
        )
    VP, VQ = vertex_bounds(m, n)
    K = min(VP, VQ) if max_equilibria is None else max_equilibria
    K = check_positive_int("max_equilibria", K)
    d = DEFAULT_DEGENERATE if max_degenerate is None else max_degenerate
    d = check_positive_int("max_degenerate", d)
    D = (min(d, VP), min(d, VQ))
    if tol is not None:
        tol = check_finite("tol", tol, low=0.0, low_inclusive=False, high=1e-2)
    if det_tol is not None:
        det_tol = check_finite("det_tol", det_tol, low=0.0, low_inclusive=False, high=1e-2)
    return _Config(m, n, K, D, tol, det_tol)


def _blocked(cfg: _Config, payoffs: chex.Array, block: int):
    """``payoffs [G, 2, m, n] -> (EquilibriumSet [G, ...], degenerate count [G])``:
    the batch-last kernel on blocks of ``block`` games in a loop (bounded memory;
    each gather in the kernel then copies whole rows of ``block`` games)."""

    def one_block(pb):  # [block, 2, m, n]
        eq, ndeg = _enumerate(cfg, jnp.moveaxis(pb, 0, -1))
        return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, -1, 0), (eq, ndeg))

    return map_blocks(one_block, payoffs, min(block, payoffs.shape[0]))


def make_enumerate_equilibria(
    m: int,
    n: int,
    *,
    max_equilibria: int | None = None,
    max_degenerate: int | None = None,
    tol: float | None = None,
    det_tol: float | None = None,
    block: int = 128,
) -> Callable[[chex.Array], EquilibriumSet]:
    """Build a pure function that returns every extreme equilibrium of an ``m x n`` game.

    The function has fixed shapes, so it jits once and vmaps over a batch of
    games of one size: ``jax.jit(jax.vmap(make_enumerate_equilibria(4, 4)))``.
    Under ``jax.vmap`` it runs its own batching rule: blocks of ``block``
    games in a loop with the batch axis last, and the degenerate-game branch
    only for blocks that hold a degenerate vertex.

    It computes in the payoffs' float dtype. Use float64 (``jax.enable_x64``):
    small integer payoffs are then exact, and on random games the sets match
    Gambit's rational arithmetic. float32 also works, with looser default
    tolerances and no clear gain in speed on CPU: random integer payoffs in
    ``0..3`` (4 x 4 and 6 x 6) gave the float64 sets, but on Gaussian games
    coordinates are only good to about 1e-5 and a nearly degenerate basis can
    be misjudged: 2047 of 2048 random 4 x 4 games and 2042 of 2048 random
    6 x 6 games gave the float64 set within 1e-4 (1743 and 998 within 1e-6).

    Args:
        m, n: the numbers of actions of the row and column player.
        max_equilibria: ``K``, the output slots. Default: the most extreme
            equilibria a non-degenerate game of this size can have (McMullen's
            bound on the vertices of ``P`` or ``Q``); degenerate games can have
            more, which sets ``overflow``.
        max_degenerate: slots for the degenerate vertices of each polytope
            (default :data:`DEFAULT_DEGENERATE`, capped by McMullen's bound);
            more degenerate vertices than that set ``overflow``. Larger slots
            cost time on blocks that hold a degenerate game.
        tol: a coordinate or slack of a basis point (payoffs moved into
            ``[1, 2]``) within ``tol`` of 0 is a label, below ``-tol`` makes
            it infeasible. Default ``1e-9`` in float64, ``1e-5`` in float32;
            raised per game to 100x the payoffs' float resolution relative to
            their range when that is larger (module doc).
        det_tol: bases with ``|det| <= det_tol`` are singular. Default
            ``1e-12`` in float64, ``1e-5`` in float32; raised like ``tol``.
        block: games per block under ``jax.vmap``.

    Returns:
        ``enumerate(payoffs) -> EquilibriumSet``, ``payoffs [2, m, n]`` with
        ``payoffs[0] = A`` (row player) and ``payoffs[1] = B`` (column player).
        Equilibria come in no particular order.

    Raises:
        ValueError: for non-positive sizes or slots, or a game too large
            (more than ``MAX_BASES`` bases).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> with jax.enable_x64(True):
        ...     f = jax.jit(make_enumerate_equilibria(2, 2))
        ...     eqs = f(jnp.asarray([[[3.0, 0.0], [0.0, 2.0]], [[2.0, 0.0], [0.0, 3.0]]]))
        >>> int(eqs.count), bool(eqs.overflow)
        (3, False)

    References:
        von Stengel 2002, Handbook of Game Theory vol. 3, ch. 45, sec. 3 and 6;
        Avis, Rosenberg, Savani and von Stengel, Economic Theory 42, 2010.
    """
    cfg = _config(m, n, max_equilibria, max_degenerate, tol, det_tol)
    block = check_positive_int("block", block)
    _tables(cfg.m, cfg.n)

    @jax.custom_batching.custom_vmap
    def kernel(payoffs):
        return _enumerate(cfg, payoffs)[0]

    @kernel.def_vmap
    def kernel_batched(axis_size, in_batched, payoffs):  # payoffs [G, 2, m, n]
        del axis_size, in_batched  # called only when payoffs is batched
        return _blocked(cfg, payoffs, block)[0], EquilibriumSet(*(True,) * 5)

    def enumerate_equilibria(payoffs: chex.Array) -> EquilibriumSet:
        payoffs = jnp.asarray(payoffs)
        if payoffs.shape != (2, cfg.m, cfg.n):
            raise bad_value("payoffs.shape", payoffs.shape, f"(2, {cfg.m}, {cfg.n})")
        if not jnp.issubdtype(payoffs.dtype, jnp.floating):
            payoffs = payoffs.astype(jnp.result_type(float))
        return kernel(payoffs)

    return enumerate_equilibria


# ----------------------------------------------------------------------------
# Wrappers: validation, float64, blocks, retries


def _validate(payoffs, field: str, batched: bool) -> np.ndarray:
    """``payoffs`` as a float64 numpy array ``[2, m, n]`` (``[G, 2, m, n]`` if batched)."""
    if isinstance(payoffs, NormalFormGame):
        if payoffs.num_players != 2:
            raise bad_value(f"{field}.num_players", payoffs.num_players, "2 (a bimatrix game)")
        payoffs = payoffs.payoffs
    try:
        arr = np.asarray(payoffs)
    except (ValueError, TypeError):
        raise bad_value(field, payoffs, "a rectangular numeric array") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise bad_value(field, f"array of dtype {arr.dtype}", "real numbers")
    want = "[G, 2, m, n]" if batched else "[2, m, n]"
    lead = 1 if batched else 0
    if arr.ndim != 3 + lead:
        if not batched and arr.ndim >= 2 and arr.shape[0] == arr.ndim - 1 and arr.shape[0] != 2:
            raise bad_value(f"{field}.shape", arr.shape, f"{want}: two players, got {arr.shape[0]}")
        raise bad_value(f"{field}.shape", arr.shape, want)
    if arr.shape[lead] != 2:
        raise bad_value(f"{field}.shape", arr.shape, f"{want}: two players")
    if min(arr.shape) < 1:
        raise bad_value(f"{field}.shape", arr.shape, f"{want} with G, m, n >= 1")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise bad_value(
            field, f"array with a non-finite entry {arr[bad]} at {bad}", "finite payoffs"
        )
    return arr


@functools.lru_cache(maxsize=64)
def _single_program(cfg: _Config):
    """One game, jitted (cached per configuration)."""
    return jax.jit(lambda payoffs: _enumerate(cfg, payoffs))


@functools.lru_cache(maxsize=64)
def _batch_program(cfg: _Config, block: int):
    """``[C, 2, m, n] -> (EquilibriumSet [C, ...], degenerate count [C])``, jitted."""
    return jax.jit(lambda payoffs: _blocked(cfg, payoffs, block))


def _pad_slots(eq: EquilibriumSet, K: int) -> EquilibriumSet:
    """Pad the slot axis (axis 1 of ``x``, ``y``, ``valid``) to ``K``."""
    extra = K - eq.valid.shape[1]
    if extra <= 0:
        return eq
    pad = [(0, 0), (0, extra)]
    return eq._replace(
        x=np.pad(eq.x, pad + [(0, 0)]), y=np.pad(eq.y, pad + [(0, 0)]), valid=np.pad(eq.valid, pad)
    )


def _run_batch(cfg: _Config, payoffs: np.ndarray, block: int, chunk: int):
    """Run the batch program over chunks of a fixed size (one compilation per size)."""
    g = payoffs.shape[0]
    size = min(chunk, max(block, 1 << max(0, (g - 1).bit_length())))
    size = -(-size // block) * block
    prog = _batch_program(cfg, block)
    outs, ndegs = [], []
    with jax.enable_x64(True):
        for start in range(0, g, size):
            part = payoffs[start : start + size]
            if part.shape[0] < size:  # pad with copies of the last game
                part = np.concatenate([part, np.repeat(part[-1:], size - part.shape[0], 0)])
            eq, nd = prog(jnp.asarray(part))
            outs.append(jax.tree_util.tree_map(np.asarray, eq))
            ndegs.append(np.asarray(nd))
    eq = EquilibriumSet(*(np.concatenate(parts)[:g] for parts in zip(*outs, strict=True)))
    return eq, np.concatenate(ndegs)[:g]


def nash_equilibria_batch(
    payoffs,
    *,
    tol: float | None = None,
    max_equilibria: int = 32,
    max_degenerate: int = DEFAULT_DEGENERATE,
    block: int = 128,
    chunk: int = 8192,
) -> EquilibriumSet:
    """Every extreme equilibrium of each of a batch of ``m x n`` bimatrix games.

    Runs in float64 on blocks of ``block`` games (batch axis last inside the
    kernel, so each gather copies whole rows), in chunks of at most ``chunk``
    games per call, so memory stays bounded and one compilation serves any
    batch size up to ``chunk``. Games that overflow the first pass's slots
    are run again with the slots they need; no equilibrium is dropped.

    Args:
        payoffs: ``[G, 2, m, n]`` real payoffs, ``payoffs[g, 0]`` the row
            player's matrix ``A`` and ``payoffs[g, 1]`` the column player's ``B``.
        tol: label / feasibility tolerance (default ``1e-9``); see
            :func:`make_enumerate_equilibria`.
        max_equilibria: slots of the first pass (games with more are rerun).
        max_degenerate: degenerate-vertex slots of the first pass.
        block: games per block of the compiled loop.
        chunk: most games per compiled call.

    Returns:
        :class:`EquilibriumSet` of numpy arrays with a leading ``[G]`` axis:
        ``x [G, K, m]``, ``y [G, K, n]``, ``valid [G, K]``, ``count [G]``,
        ``overflow [G]`` (all false), ``K`` the slots the batch needed.

    Raises:
        ValueError: for a payoff array that is not ``[G, 2, m, n]``, has
            non-finite entries, or an empty axis; for bad slot or block sizes.

    Example:
        >>> import numpy as np
        >>> games = np.random.default_rng(0).normal(size=(100, 2, 3, 3))
        >>> eqs = nash_equilibria_batch(games)
        >>> eqs.x.shape[0], bool(eqs.overflow.any())
        (100, False)

    References:
        von Stengel 2002, Handbook of Game Theory vol. 3, ch. 45; Avis,
        Rosenberg, Savani and von Stengel, Economic Theory 42, 2010.
    """
    arr = _validate(payoffs, "payoffs", batched=True)
    block = check_positive_int("block", block)
    chunk = check_positive_int("chunk", chunk)
    _, _, m, n = arr.shape
    cfg = _config(m, n, max_equilibria, max_degenerate, tol, None)
    eq, ndeg = _run_batch(cfg, arr, block, chunk)
    VP, VQ = vertex_bounds(m, n)
    while np.any(eq.overflow):
        bad = np.flatnonzero(eq.overflow)
        # degenerate-vertex counts are exact; equilibrium counts are exact once
        # no degenerate vertex was left out
        dmax = int(ndeg[bad].max())
        K = max(int(eq.count[bad].max()), cfg.max_equilibria)
        K = 1 << (K - 1).bit_length()
        D = max(dmax, cfg.max_degenerate[0], cfg.max_degenerate[1])
        D = min(1 << (D - 1).bit_length(), max(VP, VQ))
        cfg = _config(m, n, K, D, tol, None)
        again, nd = _run_batch(cfg, arr[bad], block, chunk)
        width = max(K, eq.valid.shape[1])
        eq, again = _pad_slots(eq, width), _pad_slots(again, width)
        for field, new in zip(eq, again, strict=True):
            field[bad] = new
        ndeg[bad] = nd
    return eq


def nash_equilibria(
    game_or_payoffs, *, tol: float | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every extreme equilibrium of one bimatrix game, as a list of strategy pairs.

    Computed in float64; the compiled program is cached per game size.

    Args:
        game_or_payoffs: a two-player :class:`~detente.games.NormalFormGame`
            or an array ``[2, m, n]`` (``[0]`` the row player's payoffs ``A``,
            ``[1]`` the column player's ``B``).
        tol: label / feasibility tolerance (default ``1e-9``); see
            :func:`make_enumerate_equilibria`.

    Returns:
        ``[(x, y), ...]``: ``x [m]`` and ``y [n]`` float64 numpy arrays, the
        extreme points of every component of the equilibrium set (Gambit's
        ``enummixed`` set), in no particular order.

    Raises:
        ValueError: for a game that does not have two players, a wrong shape,
            an empty strategy set, or non-finite payoffs.

    Example:
        >>> from detente.games import battle_of_the_sexes
        >>> [(x.round(2).tolist(), y.round(2).tolist()) for x, y in
        ...  sorted(nash_equilibria(battle_of_the_sexes()), key=lambda e: -e[0][0])]
        [([1.0, 0.0], [1.0, 0.0]), ([0.6, 0.4], [0.4, 0.6]), ([0.0, 1.0], [0.0, 1.0])]

    References:
        von Stengel 2002, Handbook of Game Theory vol. 3, ch. 45; Avis,
        Rosenberg, Savani and von Stengel, Economic Theory 42, 2010.
    """
    arr = _validate(game_or_payoffs, "game_or_payoffs", batched=False)
    _, m, n = arr.shape
    VP, VQ = vertex_bounds(m, n)
    K = 1 << (min(VP * VQ, 64) - 1).bit_length()  # rarely too few; then rerun
    while True:
        cfg = _config(m, n, K, max(VP, VQ), tol, None)  # degenerate slots never overflow
        with jax.enable_x64(True):
            eq, _ = _single_program(cfg)(jnp.asarray(arr))
            eq = jax.tree_util.tree_map(np.asarray, eq)
        if not eq.overflow:
            break
        K = 1 << (int(eq.count) - 1).bit_length()
    return [(eq.x[k].copy(), eq.y[k].copy()) for k in range(int(eq.count))]
