"""Results I/O: every experiment writes one output folder, atomically.

The folder holds ``summary.json`` (the numbers a reader quotes), the resolved
``config.json``, arrays (``.npz``) and plots (``.png``). It is assembled in a
temporary sibling folder and renamed into place at the end, so a crash or a
bad input never leaves a half-written folder behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/JAX scalars and arrays to plain JSON values (NaN -> None)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        return to_jsonable(arr.tolist()) if arr.ndim else to_jsonable(arr.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON (numpy and JAX values converted), atomically: a
    temporary file in the same folder, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def write_output_dir(out: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp_dir)`` and move the result to ``out`` atomically.

    The folder is built next to ``out`` (same filesystem) and renamed into
    place; an existing ``out`` is replaced only once the new one is complete.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)
    try:
        write(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
