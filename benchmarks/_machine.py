"""Machine facts and load average, recorded by every benchmark next to its figures."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path


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
