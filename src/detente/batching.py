"""Batching helpers shared by every trainer: seeds, hyperparameter grids, sharding.

Trainers are pure functions ``train(key, hparams, ...)``; callers vmap them.
These helpers build the batch axes so that no trainer repeats that code:

* :func:`seed_keys` - one PRNG key per seed index, independent of batch size
  (seed ``s`` always gets ``fold_in(PRNGKey(seed), s)``);
* :func:`product_grid` - the cartesian product of hyperparameter values,
  flattened to one leading axis;
* :func:`map_blocks` - runs a function over fixed-size blocks of a batch in a
  loop, so every element goes through the same compiled block program and its
  result does not depend on the batch size (vectorised and tail code paths
  round differently, and chaotic learning dynamics amplify that);
* :func:`map_blocks_sharded` - the same, with the batch split over
  ``jax.devices()`` when there are several: each device loops over its own
  blocks (``jax.shard_map``), so a multi-GPU host, or a CPU host exposing its
  cores as devices (:func:`cpu_devices_flag`), runs them in parallel;
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value


def seed_keys(seed: int, num_seeds: int, start: int = 0) -> chex.Array:
    """``[num_seeds, ...]`` keys for seed indices ``start .. start + num_seeds - 1``.

    Seed index ``s`` always gets ``fold_in(PRNGKey(seed), s)``, so a seed's
    result does not depend on how many other seeds ran beside it.
    """
    if num_seeds < 1:
        raise bad_value("num_seeds", num_seeds, "a positive integer")
    base = jax.random.PRNGKey(seed)
    idx = jnp.arange(start, start + num_seeds, dtype=jnp.uint32)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(idx)


def product_grid(axes: Mapping[str, Sequence[float]]) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Cartesian product of hyperparameter values, flattened to one axis.

    Args:
        axes: ``name -> values``; every name gets one leading-axis array.

    Returns:
        ``(columns, points)``: ``columns[name]`` is a ``[G]`` array and
        ``points[g]`` the ``g``-th combination as a dict, in row-major order
        of ``axes``.

    Example:
        >>> cols, pts = product_grid({"lr": [0.5, 1.0], "lookahead": [1.0]})
        >>> cols["lr"].tolist(), pts[1]
        ([0.5, 1.0], {'lr': 1.0, 'lookahead': 1.0})
    """
    names = list(axes)
    for name in names:
        if len(axes[name]) == 0:
            raise bad_value(name, list(axes[name]), "at least one value")
    points = [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(list(axes[n]) for n in names))
    ]
    columns = {n: np.asarray([p[n] for p in points], dtype=float) for n in names}
    return columns, points


def map_blocks(fn, xs, block: int, count=None):
    """Apply ``fn`` to fixed-size blocks of ``xs``'s leading axis, in a loop.

    ``xs`` (a pytree) is padded, by repeating its last element, to a multiple
    of ``block`` and cut into ``[num_blocks, block, ...]``; ``fn`` maps a block
    to a pytree whose leaves lead with the block axis. The blocks run in a
    ``lax.while_loop`` whose trip count ``count`` should be a traced value
    (pass it as an argument of the enclosing ``jit``) so that XLA cannot
    unroll or specialise the loop: every element then goes through the same
    compiled block program, whatever the batch size and its place in it.

    Args:
        fn: ``block of xs -> pytree`` with leading axis ``block``.
        xs: pytree with a common leading axis ``n``.
        block: block size.
        count: number of blocks as a traced int32 scalar; default
            ``ceil(n / block)`` as a constant.

    Returns:
        ``fn``'s outputs concatenated over blocks and cut back to ``n``.
    """
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    num_blocks = -(-n // block)
    pad = num_blocks * block - n

    def split(x):
        if pad:
            x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0)
        return x.reshape((num_blocks, block) + x.shape[1:])

    blocks = jax.tree_util.tree_map(split, xs)
    first = jax.tree_util.tree_map(lambda x: x[0], blocks)
    shapes = jax.eval_shape(fn, first)
    buf = jax.tree_util.tree_map(lambda s: jnp.zeros((num_blocks,) + s.shape, s.dtype), shapes)
    count = jnp.asarray(num_blocks if count is None else count, jnp.int32)

    def body(carry):
        i, buf = carry
        xb = jax.tree_util.tree_map(
            lambda x: jax.lax.dynamic_index_in_dim(x, i, keepdims=False), blocks
        )
        yb = fn(xb)
        buf = jax.tree_util.tree_map(
            lambda b, y: jax.lax.dynamic_update_index_in_dim(b, y, i, 0), buf, yb
        )
        return i + 1, buf

    _, buf = jax.lax.while_loop(lambda c: c[0] < count, body, (jnp.asarray(0, jnp.int32), buf))
    return jax.tree_util.tree_map(lambda b: b.reshape((num_blocks * block,) + b.shape[2:])[:n], buf)


def device_count() -> int:
    """Number of devices the batch of :func:`map_blocks_sharded` is split over."""
    return len(jax.devices())


def blocks_per_device(n: int, block: int, devices: int | None = None) -> int:
    """Blocks each device runs in :func:`map_blocks_sharded` for a batch of ``n``."""
    devices = devices or device_count()
    return max(1, -(-n // (block * devices)))


def map_blocks_sharded(fn, xs, block: int, count, *args):
    """:func:`map_blocks` with the batch split over ``jax.devices()``.

    ``xs`` is padded (by repeating its last element) to ``devices * block *
    count`` elements and split into one contiguous shard per device; each
    device runs ``map_blocks(lambda xb: fn(xb, *args), shard, block, count)``
    under ``jax.shard_map``. Every element still goes through the same
    compiled block program, so its result does not depend on the batch size
    or on the number of devices. On one device this is :func:`map_blocks`.

    Args:
        fn: ``(block of xs, *args) -> pytree`` with leading axis ``block``.
        xs: pytree with a common leading axis ``n``.
        block: block size.
        count: blocks per device, a traced int32 scalar (see
            :func:`blocks_per_device`) so that XLA cannot specialise the loop.
        *args: pytrees passed unchanged (replicated) to every call of ``fn``.

    Returns:
        ``fn``'s outputs concatenated over blocks and cut back to ``n``.
    """
    devices = jax.devices()
    if len(devices) < 2:
        return map_blocks(lambda xb: fn(xb, *args), xs, block, count)
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    total = blocks_per_device(n, block, len(devices)) * block * len(devices)
    if total > n:
        xs = jax.tree_util.tree_map(
            lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], total - n, axis=0)], axis=0), xs
        )
    P = jax.sharding.PartitionSpec
    mesh = jax.sharding.Mesh(np.asarray(devices), ("batch",))

    def local(xs, count, *args):
        return map_blocks(lambda xb: fn(xb, *args), xs, block, count)

    run = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P("batch"), P()) + (P(),) * len(args),
        out_specs=P("batch"),
        check_vma=False,
    )
    out = run(xs, jnp.asarray(count, jnp.int32), *args)
    return jax.tree_util.tree_map(lambda x: x[:n], out)


def cpu_devices_flag(count: int | None = None) -> str:
    """The ``XLA_FLAGS`` entry that exposes ``count`` CPU cores as JAX devices.

    XLA's CPU backend runs one program on one device; splitting a batch over
    several host "devices" (one per core) lets :func:`map_blocks_sharded` run
    blocks on every core at once. Set it before JAX starts, e.g.
    ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
    """
    import os

    return f"--xla_force_host_platform_device_count={count or os.cpu_count() or 1}"
