"""Machine facts, load average and alternating timings, shared by the benchmarks.

:func:`time_alternating` is the timing loop of the side-by-side benchmarks
(``coin_game.py``, ``hanabi_env.py``, ``hanabi_ippo.py``): every program is
compiled first, then all are timed in turn, ``repeats`` rounds, so that a
change of the machine's load weighs on each of them alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def load_average() -> float:
    """The 1-minute load average (how busy the machine was)."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def machine_facts(**extra) -> dict:
    """Python, platform, CPUs, date, CPU model, the commit measured and any
    uncommitted library files, plus ``extra`` (e.g. library versions)."""
    facts = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        **extra,
    }
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        facts["cpu"] = next((ln.split(":", 1)[1].strip() for ln in lines if "Model name" in ln), "")
    except OSError:
        facts["cpu"] = ""
    root = Path(__file__).resolve().parent.parent
    try:  # read-only: which code was measured
        git = ["git", "-C", str(root)]
        facts["commit"] = subprocess.run(
            git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            git + ["status", "--porcelain", "--", "solvers", "games", "analysis", "src"],
            capture_output=True,
            text=True,
        ).stdout.split("\n")
        facts["uncommitted_library_files"] = [ln[3:] for ln in dirty if ln.strip()]
    except OSError:
        pass
    return facts


def time_call(fn: Callable, arg: Any) -> tuple[Any, float]:
    """``(fn(arg), seconds)``, waiting for the result (``jax.block_until_ready``)."""
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(arg))
    return out, time.perf_counter() - t0


def time_alternating(
    progs: Mapping[str, tuple[Callable, Any]],
    results: Mapping[str, dict],
    repeats: int,
    work: float,
) -> float:
    """Time every ``fn(arg)`` of ``progs`` ``repeats`` times, in turn, round by round.

    Args:
        progs: ``{name: (fn, arg)}``, each already called once (compiled).
        results: ``{name: dict}`` holding ``"first_call_s"`` (the first
            call's time, compilation included) and ``"times_s"`` (a list);
            the timings are appended there, then ``best_s``, ``median_s``,
            ``steps_per_s`` and ``median_steps_per_s`` (``work`` per best and
            per median time), ``compile_s`` (first call minus the median,
            at least 0), ``cpu_times_s`` (this process's CPU seconds, all
            threads, per call: less sensitive than wall time to other jobs
            on a shared machine) and ``cpu_best_s`` are added.
        repeats: rounds.
        work: the steps one call does (``batch * steps``).

    Returns:
        The 1-minute load average before the first round.
    """
    load = load_average()
    cpu: dict[str, list[float]] = {name: [] for name in progs}
    for _ in range(repeats):  # alternate, so that load changes weigh on all
        for name, (fn, arg) in progs.items():
            c0 = time.process_time()
            results[name]["times_s"].append(time_call(fn, arg)[1])
            cpu[name].append(time.process_time() - c0)
    for name in progs:
        r = results[name]
        best, med = min(r["times_s"]), statistics.median(r["times_s"])
        r.update(
            best_s=best,
            median_s=med,
            steps_per_s=work / best,
            median_steps_per_s=work / med,
            compile_s=max(r["first_call_s"] - med, 0.0),
            cpu_times_s=cpu[name],
            cpu_best_s=min(cpu[name]),
        )
    return load
