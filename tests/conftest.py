"""Test-session settings.

XLA's CPU backend at optimisation level 1 compiles the many small programs of the test
suite about twice as fast as the default level (measured: tests/test_mfos_coin.py with
tests/test_cli_zsc.py, 107 s -> 56 s on 2 cores), and no test here depends on the
optimiser's choices. It is set before JAX is first imported and is inherited by the CLI
subprocesses the tests start; an ``XLA_FLAGS`` that already names the level wins.

Each test module's compiled programs are dropped when it ends: one pytest process
compiles well over a thousand XLA programs, and keeping them all grew it past 4.8 GB and
once ended in a segmentation fault inside XLA's CPU compiler late in a full run (the
failing test passes alone).
"""

import gc
import os

import pytest

_LEVEL = "--xla_backend_optimization_level"
_flags = os.environ.get("XLA_FLAGS", "")
if _LEVEL not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} {_LEVEL}=1".strip()


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    yield
    import jax

    jax.clear_caches()
    gc.collect()
