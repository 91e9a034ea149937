"""The trainer contract shared by every iterative trainer in detente.

A trainer is three pure functions over a state pytree that carries
everything, its PRNG key included, so that ``step`` applied ``n`` times from
``init(key)`` gives the same numbers however the ``n`` steps are split
between runs (the basis of checkpoint and resume)::

    state = trainer.init(key)
    state, metrics = trainer.step(state)   # one ES generation / one PPO update
    numbers = trainer.evaluate(state)      # final numbers of the run

:func:`run_trainer` drives a trainer: compiled chunks of ``lax.scan(step)``,
progress on stderr, NaN/inf detection in the metrics, safetensors checkpoints
(:mod:`detente.checkpoint`) and resume from the latest one, bit-identical to
an uninterrupted run::

    res = run_trainer(trainer, key, checkpoint_dir="run/checkpoints", resume=True)
    res.metrics["fitness"]   # [num_steps]
    res.evaluation["mean_reward"]
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente import checkpoint as ckpt
from detente._checks import bad_value, check_positive_int


class Trainer(NamedTuple):
    """Three pure, jittable functions.

    Attributes:
        init: ``key -> state``; a pytree of arrays (no Python scalars, no
            typed PRNG keys: raw ``uint32`` keys), the key included.
        step: ``state -> (state, metrics)``; one iteration. ``metrics`` is a
            dict of scalar arrays with a fixed structure (e.g. ``"fitness"``,
            ``"reward_0"``, ``"reward_1"``).
        evaluate: ``state -> dict of arrays``; the final numbers, at least
            ``"mean_reward"``: ``[num_players]`` per-step rewards.
        num_steps: the default number of iterations of a full run.
    """

    init: Callable[[chex.PRNGKey], Any]
    step: Callable[[Any], tuple[Any, dict]]
    evaluate: Callable[[Any], dict]
    num_steps: int


# ----------------------------------------------------------------------------
# The driver: chunks, progress, NaN detection, checkpoints and resume


class RunResult(NamedTuple):
    """What :func:`run_trainer` returns.

    Attributes:
        state: the trainer's final state (JAX arrays).
        metrics: ``{name: [num_steps, ...]}`` numpy arrays, the metrics of
            every step of the run, those before a resume included.
        evaluation: ``trainer.evaluate(state)`` as numpy arrays.
        resumed_from: the step of the checkpoint the run resumed from
            (``0`` for a run started from ``trainer.init``).
    """

    state: Any
    metrics: dict
    evaluation: dict
    resumed_from: int


def chunk_bounds(num_steps: int, chunk: int, start: int = 0) -> list[tuple[int, int]]:
    """The ``(begin, end)`` steps of the compiled calls of a run.

    Chunks end at the multiples of ``chunk`` and at ``num_steps``, so the calls
    are a function of ``(num_steps, chunk)`` alone: a run resumed from a
    checkpoint (always written at a chunk end) makes the same calls as the
    uninterrupted run from there on.

    Examples:
        >>> chunk_bounds(25, 10)
        [(0, 10), (10, 20), (20, 25)]
        >>> chunk_bounds(25, 10, start=20)
        [(20, 25)]
    """
    bounds, s = [], start
    while s < num_steps:
        e = min((s // chunk + 1) * chunk, num_steps)
        bounds.append((s, e))
        s = e
    return bounds


_COMPILED: collections.OrderedDict = collections.OrderedDict()  # fn -> {kind: jitted}
_COMPILED_SIZE = 16


def _compiled(fn: Callable, kind: str) -> Callable:
    """``jax.jit(fn)`` (``"plain"``) or the jitted ``lax.scan`` of a step over a
    static number of steps (``"chunk"``), cached per function so that runs of
    the same trainer in one process compile once (the last few functions)."""
    cache = _COMPILED.pop(fn, {})
    _COMPILED[fn] = cache
    while len(_COMPILED) > _COMPILED_SIZE:
        _COMPILED.popitem(last=False)
    if kind not in cache:
        if kind == "chunk":

            def run_chunk(state, length):
                state, metrics = jax.lax.scan(lambda s, _: fn(s), state, None, length=length)
                # strong types out, as in: no recompilation for the next chunk
                return _strong_types(state), metrics

            cache[kind] = jax.jit(run_chunk, static_argnums=1)
        else:
            cache[kind] = jax.jit(fn)
    return cache[kind]


def _strong_types(tree):
    """The same values without weak types (traceable; keys left alone)."""

    def leaf(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return x
        return jax.lax.convert_element_type(x, x.dtype)

    return jax.tree_util.tree_map(leaf, tree)


def _metric_template(run_chunk, state_template, num_steps: int, chunk: int, start: int) -> dict:
    """One step's metrics as ``ShapeDtypeStruct`` s, traced with the first chunk
    the run will compile (the trace is cached: no extra tracing)."""
    bounds = chunk_bounds(num_steps, chunk, start)
    length = bounds[0][1] - bounds[0][0] if bounds else min(chunk, num_steps)
    _, metrics = run_chunk.eval_shape(state_template, length)
    if not isinstance(metrics, dict):
        raise bad_value("trainer.step metrics", type(metrics).__name__, "a dict of arrays")
    return {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in metrics.items()}


def _key_list(key) -> list[int]:

    if jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key).ravel().tolist()


def _strong(tree):
    """Device arrays without weak types, the same for a fresh and a loaded state."""

    def leaf(x):
        if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
            return x
        return jnp.asarray(np.asarray(x))

    return jax.tree_util.tree_map(leaf, tree)


def _first_nonfinite(metrics: dict, begin: int) -> tuple[str, int, float] | None:

    first = None
    for name, arr in metrics.items():
        arr = np.asarray(arr)
        if not np.issubdtype(arr.dtype, np.inexact):
            continue
        bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            if first is None or begin + i < first[1]:
                value = arr[i].ravel()[~np.isfinite(arr[i].ravel())][0]
                first = (name, begin + i, float(value))
    return first


_SHOWN_FIRST = ("fitness", "reward_0", "reward_1")


def _metric_text(metrics: dict, limit: int = 4) -> str:

    names = [n for n in _SHOWN_FIRST if n in metrics]
    names += [n for n in metrics if n not in names]
    parts = []
    for n in names:
        arr = np.asarray(metrics[n])
        if arr.ndim >= 1 and arr.shape[0] and np.issubdtype(arr.dtype, np.number):
            parts.append(f"{n} {float(np.mean(arr[-1])):.4g}")  # the mean over seeds if vmapped
        if len(parts) == limit:
            break
    return "  ".join(parts)


def _seconds(s: float) -> str:
    s = int(round(s))
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class _Progress:
    """A rich progress bar on a terminal, else one plain line per chunk (stderr)."""

    def __init__(self, enabled: bool, total: int, start: int, label: str):
        self.enabled, self.total, self.start, self.label = enabled, total, start, label
        self.t0 = time.perf_counter()
        self.t_first = None  # end of the first chunk (which includes compilation)
        self.s_first = start
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(label, total=total, completed=start, metrics="")

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def update(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first, self.s_first = now, step
        text = _metric_text(metrics)
        if self.bar is not None:
            self.bar.update(self.task, completed=step, metrics=text)
            return
        eta = "?"
        if step > self.s_first:
            rate = (now - self.t_first) / (step - self.s_first)
            eta = _seconds(rate * (self.total - step))
        elif step >= self.total:
            eta = "0:00"
        pct = 100 * step / self.total
        print(
            f"{self.label} step {step}/{self.total} ({pct:.0f}%)  {text}  "
            f"[{_seconds(now - self.t0)} elapsed, ETA {eta}]",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_trainer(
    trainer: Trainer,
    key: chex.PRNGKey,
    num_steps: int | None = None,
    *,
    chunk: int | None = None,
    checkpoint_dir=None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 3,
    resume: bool = False,
    progress: bool = True,
    label: str = "train",
    meta: dict | None = None,
    on_chunk: Callable[[int, Any, dict], None] | None = None,
) -> RunResult:
    """Run a :class:`Trainer` in compiled chunks, with progress, checkpoints and resume.

    Each chunk is one call of ``jax.jit(lax.scan(trainer.step))``; chunks
    end at the multiples of ``chunk`` and at ``num_steps``
    (:func:`chunk_bounds`), so at most two programs are compiled (the full
    chunk and the last partial one) and a resumed run makes exactly the same
    calls as an uninterrupted one: its numbers are bit-identical. After every
    chunk the metrics are checked for NaN/inf (before any checkpoint of that
    chunk is written), the progress line is updated, a checkpoint is written
    when due, and ``on_chunk`` is called.

    Checkpoints (:mod:`detente.checkpoint`, safetensors, no pickle) hold the
    trainer state and the metrics of all steps so far; they are written at
    the first chunk end at or after every ``checkpoint_every`` steps since
    the last one, and at the end of the run, and only the latest
    ``keep_checkpoints`` are kept.

    Args:
        trainer: the trainer.
        key: PRNG key given to ``trainer.init``.
        num_steps: steps of the run (default ``trainer.num_steps``).
        chunk: steps per compiled call (default: ``checkpoint_every`` if
            given, else about a twentieth of the run). Keep it fixed when
            resuming to get bit-identical numbers.
        checkpoint_dir: folder of the checkpoints (``None``: no checkpoints).
        checkpoint_every: steps between checkpoints (default ``chunk``).
        keep_checkpoints: how many checkpoints to keep.
        resume: continue from the latest checkpoint in ``checkpoint_dir``
            (state and metrics history) if there is one; start fresh if there
            is none. Without it, a ``checkpoint_dir`` that already holds
            checkpoints is refused.
        progress: show progress on stderr (a rich bar on a terminal, else one
            line per chunk with the step, the latest metrics and the ETA).
        label: the name shown in the progress line.
        meta: JSON metadata stored in every checkpoint (e.g. the config);
            read it back with :func:`detente.checkpoint.read_checkpoint_info`
            under ``meta["meta"]``.
        on_chunk: ``on_chunk(step, state, chunk_metrics)`` after every chunk,
            ``step`` the number of steps done, ``chunk_metrics`` numpy arrays.

    Returns:
        :class:`RunResult`.

    Raises:
        ValueError: for bad arguments; for a metric that is NaN or infinite,
            naming the metric and the step (0-based); for a checkpoint that
            does not match the trainer (structure, shapes, dtypes), the key
            or ``num_steps``; or for existing checkpoints without ``resume``.

    Example::

        trainer = make_mfos_es(mfos_game("ipd"), MFOSConfig(generations=300))
        res = run_trainer(trainer, jax.random.PRNGKey(0), checkpoint_dir="ckpt",
                          checkpoint_every=30, resume=True)  # resumes if "ckpt" has any
        res.metrics["fitness"].shape   # (300,)
        res.evaluation["mean_reward"]  # [2]
    """

    if not isinstance(trainer, Trainer):
        raise bad_value("trainer", type(trainer).__name__, "a detente.training.Trainer")
    num_steps = check_positive_int(
        "num_steps", trainer.num_steps if num_steps is None else num_steps
    )
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    if chunk is None:
        chunk = checkpoint_every or max(1, -(-num_steps // 20))
    check_positive_int("chunk", chunk)
    check_positive_int("keep_checkpoints", keep_checkpoints)
    every = checkpoint_every or chunk
    if resume and checkpoint_dir is None:
        raise bad_value("resume", resume, "False when checkpoint_dir is None")

    key_list = _key_list(key)
    run_chunk = _compiled(trainer.step, "chunk")
    state_template = jax.tree_util.tree_map(  # strong types, as _strong gives
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), jax.eval_shape(trainer.init, key)
    )
    start, history, state = 0, None, None
    latest = ckpt.latest_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    if latest is not None and not resume:
        raise ValueError(
            f"checkpoint_dir={str(checkpoint_dir)!r} already holds checkpoints "
            f"({latest.name}): pass resume=True to continue that run, or use an empty folder"
        )
    if latest is not None:
        info = ckpt.read_checkpoint_info(latest)
        driver = info.meta.get("driver", {})
        if driver.get("key") != key_list:
            raise ValueError(
                f"checkpoint {str(latest)!r} was started from key {driver.get('key')}, "
                f"not {key_list}: resume with the same key (seed)"
            )
        if info.step > num_steps:
            raise ValueError(
                f"checkpoint {str(latest)!r} is at step {info.step}, past num_steps={num_steps}"
            )
        metric_template = _metric_template(run_chunk, state_template, num_steps, chunk, info.step)
        template = {
            "state": state_template,
            "metrics": {
                k: jax.ShapeDtypeStruct((info.step, *v.shape), v.dtype)
                for k, v in metric_template.items()
            },
        }
        loaded, start, _ = ckpt.load_checkpoint(latest, template)
        state = loaded["state"]
        history = {k: [np.asarray(v)] for k, v in loaded["metrics"].items()}
    else:
        metric_template = _metric_template(run_chunk, state_template, num_steps, chunk, 0)
        state = _compiled(trainer.init, "plain")(key)
        history = {k: [] for k in metric_template}
    state = _strong(state)
    driver_meta = {"key": key_list, "num_steps": num_steps, "chunk": chunk}

    def stacked():
        return {
            k: np.concatenate(v) if v else np.zeros((0, *t.shape), t.dtype)
            for (k, v), t in zip(history.items(), metric_template.values(), strict=True)
        }

    def save(step):
        ckpt.save_checkpoint(
            ckpt.checkpoint_path(checkpoint_dir, step),
            {"state": state, "metrics": stacked()},
            step,
            {"driver": driver_meta, "meta": meta or {}},
        )
        ckpt.prune_checkpoints(checkpoint_dir, keep_checkpoints)

    bar = _Progress(progress, num_steps, start, label)
    try:
        if start:
            bar.message(f"{label}: resumed from {latest.name} at step {start}/{num_steps}")
        last_saved = start
        for begin, end in chunk_bounds(num_steps, chunk, start):
            state, metrics = run_chunk(state, end - begin)
            metrics = jax.device_get(metrics)
            bad = _first_nonfinite(metrics, begin)
            if bad is not None:
                name, step, value = bad
                where = (
                    f"; the last checkpoint is at step {last_saved}"
                    if checkpoint_dir is not None and last_saved
                    else ""
                )
                raise ValueError(
                    f"metric {name!r} is {value} at step {step} (0-based, of {num_steps}): "
                    f"the run diverged{where}"
                )
            for k, v in metrics.items():
                history[k].append(np.asarray(v))
            if checkpoint_dir is not None and (end - last_saved >= every or end == num_steps):
                save(end)
                last_saved = end
            bar.update(end, metrics)
            if on_chunk is not None:
                on_chunk(end, state, metrics)
    finally:
        bar.close()
    evaluation = jax.device_get(_compiled(trainer.evaluate, "plain")(state))
    return RunResult(
        state=state,
        metrics=stacked(),
        evaluation={k: np.asarray(v) for k, v in evaluation.items()},
        resumed_from=start,
    )


def raw_key(key: chex.PRNGKey) -> chex.Array:
    """``key`` as a raw ``[2]`` uint32 key, the form a trainer state holds."""
    key = jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key.astype(jnp.uint32)


def vmap_trainer(trainer: Trainer, num_seeds: int) -> Trainer:
    """One :class:`Trainer` that runs ``trainer`` for ``num_seeds`` seeds at once.

    ``init(key)`` splits ``key`` into ``num_seeds`` keys and vmaps
    ``trainer.init`` over them; ``step`` and ``evaluate`` are vmapped, so every
    state leaf, metric and evaluated array gains a leading ``[num_seeds]``
    axis. Seed ``s`` of the result equals ``trainer`` run alone from
    ``jax.random.split(key, num_seeds)[s]``. :func:`run_trainer` drives it
    like any trainer (one compiled program for all seeds; checkpoints hold
    all seeds; progress shows the mean over seeds).
    """
    check_positive_int("num_seeds", num_seeds)

    def init(key: chex.PRNGKey):
        return jax.vmap(trainer.init)(jax.random.split(jnp.asarray(key), num_seeds))

    return Trainer(
        init=init,
        step=jax.vmap(trainer.step),
        evaluate=jax.vmap(trainer.evaluate),
        num_steps=trainer.num_steps,
    )
