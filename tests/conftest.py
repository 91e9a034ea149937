"""Test-session settings.

XLA's CPU backend at optimisation level 1 compiles the many small programs of the test
suite about twice as fast as the default level (measured: tests/test_mfos_coin.py with
tests/test_cli_zsc.py, 107 s -> 56 s on 2 cores), and no test here depends on the
optimiser's choices. It is set before JAX is first imported and is inherited by the CLI
subprocesses the tests start; an ``XLA_FLAGS`` that already names the level wins.
"""

import os

_LEVEL = "--xla_backend_optimization_level"
_flags = os.environ.get("XLA_FLAGS", "")
if _LEVEL not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} {_LEVEL}=1".strip()
