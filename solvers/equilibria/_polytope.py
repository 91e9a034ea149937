"""Every basis of a best-response polytope of a bimatrix game, solved at once.

Internal to :mod:`detente.solvers.equilibria.enumeration`. For an ``r x c``
matrix ``C`` with positive entries, the polytope

    Z = {z in R^r : z >= 0, C^T z <= 1}

has ``r + c`` labelled constraints: row ``i`` is "``z_i = 0``" and column ``j``
is "``(C^T z)_j = 1``" (von Stengel 2002, "Computing equilibria for two-person
games", Handbook of Game Theory vol. 3, ch. 45, sec. 3; player 1's polytope
``P`` has ``C = B``, player 2's ``Q`` has ``C = A^T``). A basis picks ``r`` of
the constraints: the rows ``R`` that may be non-zero and the columns ``K``
that are tight, ``|R| = |K| = k``; its point solves ``C[R, K]^T z_R = 1``.
There are ``C(r + c, r)`` bases. Each is solved by Cramer's rule from minors
of the bordered matrix ``[C; 1^T]`` (a row of ones appended):

* ``det C[R, K]``, a *plain* minor; all of them are computed level by level
  (size 1, 2, ...) by Laplace expansion along the last row;
* ``z_i = +-det([C; 1][(R - i) + ones, K]) / det C[R, K]`` for ``i`` in ``R``
  (Cramer: row ``i`` replaced by ones);
* the slack ``1 - (C^T z)_j = +-det([C; 1][R + ones, K + j]) / det C[R, K]``
  for ``j`` not in ``K`` (Schur complement of the bordered block).

The *ones* minors (those with the row of ones) are alternating sums of plain
minors. So each basis needs exactly ``c`` numbers besides its determinant:
its ``k`` coordinates and its ``c - k`` slacks; the other ``r`` labels hold by
construction. The index and sign tables are built with numpy once per shape;
the traced program is row gathers and elementwise arithmetic (no LAPACK
call), and works on any trailing batch shape.

Degenerate vertices have more than ``r`` labels and several bases. Each
vertex keeps its least basis in label order: the greedy basis of the matroid
of its tight constraints, which is the only basis of the vertex from which no
exchange "drop basis label ``g``, add tight label ``l < g``" stays
non-singular (the exchange criterion for a minimum-weight matroid basis;
Oxley, "Matroid Theory", 2nd ed., 2011, sec. 1.8).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def basis_pairs(m: int, n: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """All ``(T, S)``, ``T`` a set of the ``m`` rows and ``S`` of the ``n``
    columns with ``|T| = |S|``: ``C(m + n, m)`` pairs, by size, then lexicographic."""
    out = []
    for k in range(min(m, n) + 1):
        for t in itertools.combinations(range(m), k):
            for s in itertools.combinations(range(n), k):
                out.append((t, s))
    return out


def max_vertices(d: int, facets: int) -> int:
    """McMullen's upper bound on the vertices of a ``d``-polytope with ``facets`` facets.

    McMullen, "The maximum numbers of faces of a convex polytope",
    Mathematika 17, 1970; tight for the duals of cyclic polytopes.
    """
    if facets <= d:
        return 1
    lo, hi = d // 2, (d + 1) // 2
    return math.comb(facets - hi, lo) + math.comb(facets - lo - 1, hi - 1)


class PolytopeTables(NamedTuple):
    """Static (numpy) index tables for the polytope ``z >= 0, C^T z <= 1``, ``C [r, c]``.

    Bases are indexed ``b = 0 .. B-1``; ``E`` is the widest exchange list.
    """

    r: int
    c: int
    levels: list  # per size k = 1..min(r, c): (ent [N_k, k], sub [N_k, k], sign [N_k, k])
    ones_idx: np.ndarray  # [N_o, kmax + 1] plain minors summed into each ones minor
    ones_sign: np.ndarray  # [N_o, kmax + 1] in {-1, 0, 1}
    det_idx: np.ndarray  # [B] plain-minor index of det C[R, K]
    val_idx: np.ndarray  # [B, c] ones-minor index of each coordinate / slack
    val_sign: np.ndarray  # [B, c]
    val_bit: np.ndarray  # [B, c] game-label bit that each value decides (value 0: label)
    basis_bits: np.ndarray  # [B] game-label bits that hold by construction
    z_idx: np.ndarray  # [B, r] ones-minor index of z_i (the constant 0 when i is not in R)
    z_sign: np.ndarray  # [B, r]
    origin: np.ndarray  # [B] bool: k = 0, the basis of the point z = 0
    exch_idx: np.ndarray  # [B, E] basis beta - g + l for basis label g, entering label l < g
    exch_bit: np.ndarray  # [B, E] bit of l (0 pads)


def polytope_tables(r: int, c: int, bases, zero_label, tight_label) -> PolytopeTables:
    """Index and sign tables for the polytope ``z >= 0, C^T z <= 1`` with ``C [r, c]``.

    Args:
        r, c: the shape of ``C``.
        bases: the ``C(r + c, r)`` pairs ``(R, K)`` of sorted tuples, ``|R| = |K|``.
        zero_label: ``[r]`` game label (bit position) of "``z_i = 0``".
        tight_label: ``[c]`` game label of "``(C^T z)_j = 1``".

    Returns:
        The tables; see :class:`PolytopeTables`.
    """
    kmax = min(r, c)
    plain = {((), ()): 0}  # index 0: the empty minor, 1
    levels = []
    for k in range(1, kmax + 1):
        keys = [
            (rr, kk)
            for rr in itertools.combinations(range(r), k)
            for kk in itertools.combinations(range(c), k)
        ]
        ent = np.zeros((len(keys), k), np.int32)
        sub = np.zeros((len(keys), k), np.int32)
        sign = np.zeros((len(keys), k), np.int8)
        for a, (rr, kk) in enumerate(keys):
            for q in range(k):  # Laplace expansion along the last row of C[R, K]
                ent[a, q] = rr[-1] * c + kk[q]
                sub[a, q] = plain[(rr[:-1], kk[:q] + kk[q + 1 :])]
                sign[a, q] = (-1) ** (k - 1 + q)
        base = len(plain)
        for a, key in enumerate(keys):
            plain[key] = base + a
        levels.append((ent, sub, sign))
    # Ones minors det([C; 1][R + ones, K]), |K| = |R| + 1, expanded along the ones row.
    ones: dict = {}
    o_idx, o_sign = [], []
    for k in range(min(r, c - 1) + 1):
        for rr in itertools.combinations(range(r), k):
            for kk in itertools.combinations(range(c), k + 1):
                ones[(rr, kk)] = len(o_idx)
                pad = kmax - k
                o_idx.append([plain[(rr, kk[:q] + kk[q + 1 :])] for q in range(k + 1)] + [0] * pad)
                o_sign.append([(-1) ** (k + q) for q in range(k + 1)] + [0] * pad)
    zero = len(o_idx)  # index of a constant 0 appended to the ones minors
    nb = len(bases)
    det_idx = np.zeros(nb, np.int32)
    val_idx = np.zeros((nb, c), np.int32)
    val_sign = np.zeros((nb, c), np.int8)
    val_bit = np.zeros((nb, c), np.int32)
    basis_bits = np.zeros(nb, np.int32)
    z_idx = np.full((nb, r), zero, np.int32)
    z_sign = np.zeros((nb, r), np.int8)
    for b, (rr, kk) in enumerate(bases):
        k = len(rr)
        det_idx[b] = plain[(rr, kk)]
        e = 0
        for p, i in enumerate(rr):  # z_i by Cramer: row p replaced by ones, moved last
            z_idx[b, i] = ones[(rr[:p] + rr[p + 1 :], kk)]
            z_sign[b, i] = (-1) ** (k - 1 - p)
            val_idx[b, e], val_sign[b, e] = z_idx[b, i], z_sign[b, i]
            val_bit[b, e] = 1 << int(zero_label[i])
            e += 1
        for j in range(c):
            if j in kk:
                basis_bits[b] |= 1 << int(tight_label[j])
            else:  # slack_j: column j moved from last to its sorted place q
                kj = tuple(sorted(kk + (j,)))
                q = kj.index(j)
                val_idx[b, e], val_sign[b, e] = ones[(rr, kj)], (-1) ** (k - q)
                val_bit[b, e] = 1 << int(tight_label[j])
                e += 1
        for i in range(r):
            if i not in rr:
                basis_bits[b] |= 1 << int(zero_label[i])
    # Exchanges for the least-basis test.
    sets = [frozenset(int(lab) for lab in range(32) if bb >> lab & 1) for bb in basis_bits]
    index = {s: b for b, s in enumerate(sets)}
    total = r + c
    ex = [
        [(index[(s - {g}) | {lab}], 1 << lab) for g in s for lab in range(g) if lab not in s]
        for s in sets
    ]
    width = max(1, max(len(x) for x in ex))
    exch_idx = np.zeros((nb, width), np.int32)
    exch_bit = np.zeros((nb, width), np.int32)
    for b, row in enumerate(ex):
        for w, (bi, bit) in enumerate(row):
            exch_idx[b, w], exch_bit[b, w] = bi, bit
    assert all(len(s) == r for s in sets) and total <= 31
    return PolytopeTables(
        r=r,
        c=c,
        levels=levels,
        ones_idx=np.asarray(o_idx, np.int32),
        ones_sign=np.asarray(o_sign, np.int8),
        det_idx=det_idx,
        val_idx=val_idx,
        val_sign=val_sign,
        val_bit=val_bit,
        basis_bits=basis_bits,
        z_idx=z_idx,
        z_sign=z_sign,
        origin=np.asarray([len(rr) == 0 for rr, _ in bases]),
        exch_idx=exch_idx,
        exch_bit=exch_bit,
    )


def _tail(a: np.ndarray, nbatch: int) -> np.ndarray:
    """Append ``nbatch`` singleton axes so a static table broadcasts over the batch."""
    return a.reshape(a.shape + (1,) * nbatch)


def take_static(a: jax.Array, idx: np.ndarray) -> jax.Array:
    """``a[idx]`` along axis 0 for a static index table of any shape.

    Done as one flat row gather: on CPU, XLA copies whole rows, several times
    faster than a gather with a multi-dimensional index.
    """
    idx = np.asarray(idx)
    return jnp.take(a, idx.reshape(-1), axis=0).reshape(idx.shape + a.shape[1:])


def take_per_batch(a: jax.Array, idx: jax.Array) -> jax.Array:
    """``out[s..., g] = a[idx[s..., g], g]``: a gather along axis 0 whose index
    differs per batch element. ``a [N, *batch]``; ``idx [*lead, *batch]``."""
    batch = a.shape[1:]
    size = math.prod(batch)
    lane = jnp.arange(size, dtype=jnp.int32).reshape(batch)
    return jnp.take(a.reshape(-1), idx * size + lane, axis=0)


class Bases(NamedTuple):
    """Every basis of one polytope, solved (``...`` = trailing batch shape)."""

    ones: jax.Array  # [N_o + 1, ...] Cramer numerators (ones minors), then a 0
    det: jax.Array  # [B, ...] det C[R, K]
    values: jax.Array  # [B, c, ...] the basis point's k coordinates and c - k slacks
    nonsingular: jax.Array  # [B, ...] bool
    feasible: jax.Array  # [B, ...] bool: non-singular, in the polytope, not the origin
    simple: jax.Array  # [B, ...] bool: no label beyond the basis (if feasible: a
    #                                    non-degenerate vertex)


def solve_bases(t: PolytopeTables, C: jax.Array, tol, det_tol) -> Bases:
    """Solve every basis of ``z >= 0, C^T z <= 1`` for ``C [r, c, ...]`` (entries >= 1).

    Args:
        t: the tables of this shape.
        C: ``[r, c, ...]`` the constraint matrix, batch axes last.
        tol: a coordinate or slack within ``tol`` of 0 is a label; below ``-tol``,
            infeasible. A float or an array of the batch shape.
        det_tol: a basis with ``|det C[R, K]| <= det_tol`` is singular (same shapes).

    Returns:
        :class:`Bases`.
    """
    r, c = t.r, t.c
    nb = C.ndim - 2
    dtype = C.dtype
    flat = C.reshape((r * c,) + C.shape[2:])
    minors = jnp.ones((1,) + C.shape[2:], dtype)
    for ent, sub, sign in t.levels:
        terms = take_static(flat, ent) * take_static(minors, sub)  # [N_k, k, ...]
        level = jnp.sum(terms * _tail(sign, nb).astype(dtype), axis=1)
        minors = jnp.concatenate([minors, level], axis=0)
    ones = jnp.sum(take_static(minors, t.ones_idx) * _tail(t.ones_sign, nb).astype(dtype), 1)
    ones = jnp.concatenate([ones, jnp.zeros((1,) + ones.shape[1:], dtype)], axis=0)
    det = take_static(minors, t.det_idx)  # [B, ...]
    nonsingular = jnp.abs(det) > det_tol
    inv = 1.0 / jnp.where(nonsingular, det, 1.0)
    values = take_static(ones, t.val_idx) * (_tail(t.val_sign, nb).astype(dtype) * inv[:, None])
    feasible = nonsingular & jnp.all(values >= -tol, axis=1) & ~_tail(t.origin, nb)
    simple = jnp.all(jnp.abs(values) > tol, axis=1)
    return Bases(ones, det, values, nonsingular, feasible, simple)


def label_masks(t: PolytopeTables, bases: Bases, tol) -> jax.Array:
    """``[B, ...]`` int32 bit-mask of the game labels of each basis point."""
    nb = bases.det.ndim - 1
    extra = jnp.where(jnp.abs(bases.values) <= tol, _tail(t.val_bit, nb), 0)
    return _tail(t.basis_bits, nb) | jnp.sum(extra, axis=1)


def least_basis(t: PolytopeTables, nonsingular: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, ...]`` bool: no exchange for a smaller tight label stays non-singular,
    so the basis is its point's least basis (module doc)."""
    nb = mask.ndim - 1
    tight = (mask[:, None] & _tail(t.exch_bit, nb)) != 0  # [B, E, ...]
    return ~jnp.any(tight & take_static(nonsingular, t.exch_idx), axis=1)


def basis_point(t: PolytopeTables, bases: Bases, b: jax.Array) -> jax.Array:
    """The points ``z [S, r, ...]`` of the bases ``b [S, ...]`` (per-batch indices)."""
    z_idx = jnp.moveaxis(jnp.take(jnp.asarray(t.z_idx), b, axis=0), -1, 1)  # [S, r, ...]
    z_sign = jnp.moveaxis(jnp.take(jnp.asarray(t.z_sign), b, axis=0), -1, 1)
    num = take_per_batch(bases.ones, z_idx)
    det = take_per_batch(bases.det, b)
    return num * z_sign.astype(num.dtype) / jnp.where(det == 0, 1.0, det)[:, None]


def to_unit_interval(X: jax.Array) -> jax.Array:
    """``1 + (X - min X) / 2^e`` with ``2^e >= max X - min X``: entries in ``[1, 2]``.

    A positive affine map, so no equilibrium changes; the power-of-two scale
    keeps small integer payoffs exact in floating point."""
    lo = X.min(axis=(0, 1))
    _, e = jnp.frexp(X.max(axis=(0, 1)) - lo)
    return (X - lo) / jnp.ldexp(jnp.ones_like(lo), e) + 1.0


def payoff_resolution(X: jax.Array) -> jax.Array:
    """``[...]`` float spacing of ``X [r, c, ...]`` relative to its range: the
    rounding noise of its entries once :func:`to_unit_interval` maps them into ``[1, 2]``."""
    span = X.max(axis=(0, 1)) - X.min(axis=(0, 1))
    top = jnp.abs(X).max(axis=(0, 1))
    return jnp.finfo(X.dtype).eps * top / jnp.where(span > 0, span, 1.0)


def cumsum0(x: jax.Array) -> jax.Array:
    """Inclusive cumulative sum along axis 0 (a scan over rows when batched:
    several times faster on CPU than ``jnp.cumsum`` there)."""
    if x.ndim == 1:
        return jnp.cumsum(x)

    def body(acc, row):
        acc = acc + row
        return acc, acc

    return jax.lax.scan(body, jnp.zeros(x.shape[1:], x.dtype), x)[1]


def _search(cs: jax.Array, slots: int) -> jax.Array:
    """For each slot ``s``, the first index with ``cs >= s + 1`` along axis 0 (a
    binary search per slot and batch element, ``log2 N`` gathers each)."""
    size, batch = cs.shape[0], cs.shape[1:]
    target = jnp.arange(1, slots + 1, dtype=jnp.int32).reshape((slots,) + (1,) * len(batch))

    def step(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        left = take_per_batch(cs, jnp.minimum(mid, size - 1)) >= target
        return jnp.where(left, lo, mid + 1), jnp.where(left, mid, hi)

    start = (jnp.zeros((slots,) + batch, jnp.int32), jnp.full((slots,) + batch, size, jnp.int32))
    lo, _ = jax.lax.fori_loop(0, max(1, math.ceil(math.log2(size + 1))), step, start)
    return jnp.minimum(lo, size - 1)


def compact(keeps: list[jax.Array], slots: list[int]) -> list[tuple[jax.Array, jax.Array]]:
    """Indices of the first ``slots[i]`` true entries of each ``keeps[i] [N_i, ...]``
    (along axis 0) and how many true entries there are (``[...]``).

    One cumulative sum and one scatter for all segments: each kept index goes
    to its rank, the rest to a spare slot; or, for one segment with few slots
    and many entries, a binary search of the cumulative sum per slot (a
    scatter costs per entry, a search per slot). Unused slots hold an
    arbitrary index.
    """
    batch = keeps[0].shape[1:]
    lead = (1,) * len(batch)
    sizes = [k.shape[0] for k in keeps]
    cs = cumsum0(jnp.concatenate(keeps, axis=0).astype(jnp.int32))  # [sum N, ...]
    if len(keeps) == 1 and slots[0] * math.log2(sizes[0] + 1) * 2 <= sizes[0]:
        return [(_search(cs, slots[0]), cs[-1])]  # few slots, many entries
    starts = np.cumsum([0] + sizes)
    offsets = np.cumsum([0] + list(slots))
    spare = int(offsets[-1])
    rank, before, counts = [], jnp.zeros(batch, jnp.int32), []
    for i, keep in enumerate(keeps):
        seg = cs[starts[i] : starts[i + 1]] - before  # rank + 1 within the segment
        rank.append(jnp.where(keep & (seg <= slots[i]), seg - 1 + int(offsets[i]), spare))
        before = cs[starts[i + 1] - 1]
        counts.append(seg[-1])
    rank = jnp.concatenate(rank, axis=0)  # [sum N, ...]
    src = np.concatenate([np.arange(size, dtype=np.int32) for size in sizes])
    src = jnp.broadcast_to(jnp.asarray(src).reshape((-1,) + lead), rank.shape)
    width = math.prod(batch)
    lane = jnp.arange(width, dtype=jnp.int32).reshape(batch)
    out = jnp.zeros(((spare + 1) * width,), jnp.int32)
    out = out.at[(rank * width + lane).reshape(-1)].set(src.reshape(-1))
    out = out.reshape((spare + 1,) + batch)
    return [(out[offsets[i] : offsets[i + 1]], counts[i]) for i in range(len(keeps))]
