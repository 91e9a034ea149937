"""Checkpoints of pytrees of arrays in safetensors files, without pickle.

A checkpoint is one ``.safetensors`` file (https://github.com/huggingface/safetensors):
every leaf of the state pytree is a tensor named by its key path
(:func:`jax.tree_util.keystr`, e.g. ``['state'].params['Dense_0']['kernel']``),
and the header's string metadata holds the step, the caller's ``meta`` (as
JSON) and a structure fingerprint (the leaves' paths, shapes and dtypes). Nothing
is executed when a file is read back: the tree structure comes from the
caller's ``template``, and the file must match it leaf for leaf, so a
checkpoint of another trainer or another config is refused with a
``ValueError`` that names the first leaf that differs.

Files are written atomically (a temporary file in the same folder, flushed to
disk, then renamed over the target), so a killed process leaves either the
previous checkpoint or the new one, never half a file. In a folder, checkpoints
are named ``ckpt-{step:09d}.safetensors``::

    save_checkpoint(checkpoint_path(d, 30), state, 30, {"seed": 0})
    prune_checkpoints(d, keep=3)
    state, step, meta = load_checkpoint(latest_checkpoint(d), template)

Typed PRNG keys (``jax.random.key``) are stored as their raw ``uint32`` data
and wrapped again on load with the template's implementation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import safetensors.numpy
from safetensors import safe_open

from detente._checks import bad_value, check_positive_int
from detente.io import to_jsonable

__all__ = [
    "CheckpointInfo",
    "checkpoint_path",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "prune_checkpoints",
    "read_checkpoint_info",
    "save_checkpoint",
]

FORMAT = "detente-checkpoint-1"
_NAME = re.compile(r"^ckpt-(\d{9,})\.safetensors$")


class CheckpointInfo(NamedTuple):
    """What a checkpoint's header says, read without loading the arrays.

    Attributes:
        step: the step the state was saved at.
        meta: the caller's metadata (a JSON object).
        leaves: ``{key path: (shape, dtype name)}`` of the stored state.
        fingerprint: a SHA-256 hex digest of ``leaves``.
    """

    step: int
    meta: dict
    leaves: dict[str, tuple[tuple[int, ...], str]]
    fingerprint: str


def _is_key(x) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _leaf_spec(x) -> tuple[tuple[int, ...], str]:
    """``(shape, dtype name)`` of a leaf as stored (typed keys as their uint32 data)."""
    if _is_key(x):
        if isinstance(x, jax.ShapeDtypeStruct):
            x = jax.eval_shape(jax.random.key_data, x)
        else:
            x = jax.random.key_data(x)
        return tuple(x.shape), "uint32"
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    return tuple(int(d) for d in x.shape), np.dtype(x.dtype).name


def _flatten(tree) -> tuple[list[str], list[Any], Any]:
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    names = [jax.tree_util.keystr(p) for p, _ in path_leaves]
    if len(set(names)) != len(names):  # cannot happen for standard pytrees
        raise ValueError("two leaves of the state share a key path; cannot name them")
    return names, [x for _, x in path_leaves], treedef


def _fingerprint(leaves: dict[str, tuple[tuple[int, ...], str]]) -> str:
    text = json.dumps([[k, list(s), d] for k, (s, d) in leaves.items()])
    return hashlib.sha256(text.encode()).hexdigest()


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """The file name of the checkpoint of ``step`` in ``directory``."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise bad_value("step", step, "a non-negative integer")
    return Path(directory) / f"ckpt-{int(step):09d}.safetensors"


def save_checkpoint(
    path: str | os.PathLike, state: Any, step: int, meta: dict | None = None
) -> Path:
    """Write ``state`` (a pytree of arrays) to a safetensors file, atomically.

    Args:
        path: the file to write (its folder is created).
        state: a pytree whose leaves are arrays (JAX or numpy; typed PRNG keys
            are stored as their ``uint32`` data).
        step: the step the state belongs to (a non-negative int).
        meta: JSON-serialisable metadata stored in the header (e.g. the
            resolved config), returned by :func:`load_checkpoint`.

    Returns:
        The path written.

    Raises:
        ValueError: for a leaf that is not an array, a negative step or
            metadata that is not JSON.
    """
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise bad_value("step", step, "a non-negative integer")
    names, leaves, _ = _flatten(state)
    leaves = jax.device_get([jax.random.key_data(x) if _is_key(x) else x for x in leaves])
    tensors, specs = {}, {}
    for name, x in zip(names, leaves, strict=True):
        arr = np.asarray(x)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise bad_value(f"state leaf {name}", type(x).__name__, "an array of numbers or bools")
        tensors[name] = np.array(arr, order="C", copy=True)  # keeps 0-d shapes
        specs[name] = (tuple(arr.shape), arr.dtype.name)
    try:
        meta_text = json.dumps(to_jsonable(meta or {}), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise bad_value("meta", meta, f"a JSON-serialisable dict ({e})") from None
    header = {
        "format": FORMAT,
        "step": str(int(step)),
        "meta": meta_text,
        "leaves": json.dumps([[k, list(s), d] for k, (s, d) in specs.items()]),
        "fingerprint": _fingerprint(specs),
    }
    data = safetensors.numpy.save(tensors, metadata=header)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read a checkpoint's header (step, meta, leaf specs) without its arrays.

    Raises:
        ValueError: if the file is not a detente checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"checkpoint {str(path)!r} is not a safetensors file: {e}") from None
    if header.get("format") != FORMAT:
        raise ValueError(
            f"checkpoint {str(path)!r} is not a detente checkpoint "
            f"(format {header.get('format')!r}, expected {FORMAT!r})"
        )
    leaves = {k: (tuple(s), d) for k, s, d in json.loads(header["leaves"])}
    return CheckpointInfo(
        step=int(header["step"]),
        meta=json.loads(header["meta"]),
        leaves=leaves,
        fingerprint=header["fingerprint"],
    )


def load_checkpoint(path: str | os.PathLike, template: Any) -> tuple[Any, int, dict]:
    """Read a checkpoint back into the structure of ``template``.

    Args:
        path: a file written by :func:`save_checkpoint`.
        template: a pytree with the expected structure, shapes and dtypes:
            arrays or :class:`jax.ShapeDtypeStruct` (e.g.
            ``jax.eval_shape(trainer.init, key)``).

    Returns:
        ``(state, step, meta)``: ``state`` has ``template``'s tree structure
        and numpy leaves (typed PRNG keys re-wrapped as JAX key arrays).

    Raises:
        ValueError: if the file is not a detente checkpoint, or its leaves
            differ from the template's (a missing or unexpected leaf, a shape
            or a dtype), naming the first difference -- the checkpoint of
            another trainer or of another config.
    """
    info = read_checkpoint_info(path)
    names, leaves, treedef = _flatten(template)
    want = {n: _leaf_spec(x) for n, x in zip(names, leaves, strict=True)}
    where = f"checkpoint {str(path)!r} does not match the expected state"
    missing = [n for n in want if n not in info.leaves]
    extra = [n for n in info.leaves if n not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing leaves {missing[:3]}" + (" ..." if len(missing) > 3 else ""))
        if extra:
            parts.append(f"unexpected leaves {extra[:3]}" + (" ..." if len(extra) > 3 else ""))
        raise ValueError(
            f"{where}: {'; '.join(parts)} (a checkpoint of another trainer or config?)"
        )
    for n, (shape, dtype) in want.items():
        got_shape, got_dtype = info.leaves[n]
        if got_shape != shape or got_dtype != dtype:
            raise ValueError(
                f"{where}: leaf {n} is {got_dtype}{list(got_shape)} in the file, "
                f"expected {dtype}{list(shape)} (a checkpoint of another config?)"
            )
    arrays = safetensors.numpy.load_file(str(path))
    out = []
    for n, t in zip(names, leaves, strict=True):
        x = arrays[n]
        if _is_key(t):
            x = jax.random.wrap_key_data(x, impl=_key_impl(t))
        out.append(x)
    return jax.tree_util.tree_unflatten(treedef, out), info.step, info.meta


def _key_impl(template):
    """The PRNG implementation of a typed-key template (array or ShapeDtypeStruct)."""
    if isinstance(template, jax.ShapeDtypeStruct):
        return template.dtype._impl.name  # no public accessor for abstract keys
    return jax.random.key_impl(template)


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The checkpoints in ``directory`` ordered by step (temporary files ignored)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint of the highest step in ``directory``, or ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def prune_checkpoints(directory: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the ``keep`` latest checkpoints (and stale temporary files).

    Returns:
        The paths deleted.
    """
    check_positive_int("keep", keep)
    found = list_checkpoints(directory)
    gone = found[:-keep]
    d = Path(directory)
    if d.is_dir():  # leftovers of a write killed before its rename
        gone += [p for p in d.glob(".ckpt-*.safetensors.tmp-*")]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone
