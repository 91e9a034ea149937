"""Small dense linear solves made of elementwise operations only.

``jnp.linalg.solve`` lowers to LAPACK custom calls on CPU. In jaxlib 0.10.x
those kernels split a large batch over XLA's intra-op thread pool and block on
it from inside that pool, which deadlocks at 0 % CPU once every worker does so
(about 3,125 batched 4x4 solves on a 2-core machine; see
``benchmarks/hang_investigation.md`` and jax-ml/jax#36927). The solvers here
are unrolled over the static matrix size, so they emit no custom call: under
``vmap`` they vectorise across the batch and cannot hang that way.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def solve_diagonally_dominant(A: chex.Array, b: chex.Array) -> chex.Array:
    """Solve ``A x = b`` for a small strictly diagonally dominant ``A``.

    Gaussian elimination without pivoting, stable for row- or
    column-diagonally-dominant matrices, which ``I - gamma P`` (and its
    transpose) are for a stochastic ``P`` and ``gamma < 1``.

    Args:
        A: ``[n, n]`` matrix, strictly diagonally dominant by rows or columns.
        b: ``[n]`` right-hand side.

    Returns:
        ``[n]`` solution ``x``.
    """
    n = A.shape[-1]
    # Rows as separate vectors: every update is an elementwise op that fuses
    # under vmap (row updates through ``.at[]`` run about 3x slower here).
    rows = [A[i] for i in range(n)]
    rhs = [b[i] for i in range(n)]
    for k in range(n):
        for i in range(k + 1, n):
            f = rows[i][k] / rows[k][k]
            rows[i] = rows[i] - f * rows[k]
            rhs[i] = rhs[i] - f * rhs[k]
    x = [None] * n
    for i in reversed(range(n)):
        acc = rhs[i]
        for j in range(i + 1, n):
            acc = acc - rows[i][j] * x[j]
        x[i] = acc / rows[i][i]
    return jnp.stack(x)


def solve_small(A: chex.Array, b: chex.Array) -> chex.Array:
    """Solve ``A x = b`` for a small general ``A`` by elimination with partial pivoting.

    Args:
        A: ``[n, n]`` non-singular matrix (``n`` static and small, say <= 32).
        b: ``[n]`` right-hand side.

    Returns:
        ``[n]`` solution ``x``.
    """
    n = A.shape[-1]
    M = jnp.concatenate([A, b[:, None]], axis=1)  # [n, n + 1]
    for k in range(n):
        p = k + jnp.argmax(jnp.abs(M[k:, k]))
        row_k, row_p = M[k], M[p]
        M = M.at[p].set(row_k).at[k].set(row_p)
        f = M[k + 1 :, k] / M[k, k]
        M = M.at[k + 1 :].add(-f[:, None] * M[k])
    return _back_substitute(M, n)


def solve_rolled(A: chex.Array, b: chex.Array) -> chex.Array:
    """Solve ``A x = b`` by Gauss-Jordan elimination with partial pivoting, in a loop.

    The same arithmetic as :func:`solve_small`, but rolled in a
    ``lax.fori_loop`` over pivots instead of unrolled: it compiles in a
    fraction of the time for larger ``n`` (Newton steps of a QRE homotopy),
    at some speed per solve. Pure ``jnp``, no LAPACK custom call.

    Args:
        A: ``[n, n]`` non-singular matrix.
        b: ``[n]`` right-hand side.

    Returns:
        ``[n]`` solution ``x``.
    """
    n = A.shape[0]
    M = jnp.concatenate([A, b[:, None]], axis=1)  # [n, n + 1]
    idx = jnp.arange(n)

    def eliminate(k, M):
        p = jnp.argmax(jnp.where(idx >= k, jnp.abs(M[:, k]), -1.0))
        row_k, row_p = M[k], M[p]
        M = M.at[p].set(row_k).at[k].set(row_p)
        f = jnp.where(idx != k, M[:, k] / M[k, k], 0.0)
        return M - f[:, None] * M[k][None, :]

    M = jax.lax.fori_loop(0, n, eliminate, M)
    return M[:, n] / jnp.diagonal(M)


def _back_substitute(M: chex.Array, n: int) -> chex.Array:
    """Solve the upper-triangular system held in ``M = [U | c]``, ``[n, n + 1]``."""
    x = jnp.zeros((n,), M.dtype)
    for i in reversed(range(n)):
        x = x.at[i].set((M[i, n] - jnp.dot(M[i, i + 1 : n], x[i + 1 :])) / M[i, i])
    return x
