"""Seeds split over several devices: four CPU "devices" in a child process."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

CHILD = textwrap.dedent(
    """
    import json, jax, jax.numpy as jnp, numpy as np
    from detente.batching import map_blocks, map_blocks_sharded, blocks_per_device
    from detente.games import make_differentiable
    from detente.solvers import DynamicsConfig, simulate

    assert len(jax.devices()) == 4
    xs = jnp.arange(50.0)
    f = lambda xb, c: jnp.sin(xb) * c + xb**2
    count = jnp.asarray(blocks_per_device(50, 4), jnp.int32)
    sharded = jax.jit(lambda x, c, n: map_blocks_sharded(f, x, 4, n, c))(xs, 3.0, count)
    plain = map_blocks(lambda xb: f(xb, 3.0), xs, 4)

    game = make_differentiable("ipd")
    cfg = DynamicsConfig(steps=3, record_every=1, seed_block=8)
    grid = {"lr": [1.0], "lookahead": [1.0]}
    big = simulate(game, [("lola", "lola")], num_seeds=101, grid=grid, config=cfg)
    part = simulate(game, [("lola", "lola")], num_seeds=7, first_seed=50, grid=grid, config=cfg)
    big, part = big[("lola", "lola")], part[("lola", "lola")]
    print(json.dumps({
        "sharded": np.asarray(sharded).tolist(), "plain": np.asarray(plain).tolist(),
        "shape": list(big.thetas[0].shape),
        "big": np.asarray(big.thetas[0][0, 50:57]).tolist(),
        "part": np.asarray(part.thetas[0][0]).tolist(),
    }))
    """
)


def test_seeds_sharded_over_four_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["sharded"], out["plain"], rtol=1e-6)
    assert out["shape"] == [1, 101, 4, 5]
    # A seed's result does not depend on the batch it ran in, sharded or not.
    np.testing.assert_array_equal(out["big"], out["part"])

    # ...and matches the one-device program up to float32 rounding (3 steps).
    from detente.games import make_differentiable
    from detente.solvers import DynamicsConfig, simulate

    one = simulate(
        make_differentiable("ipd"),
        [("lola", "lola")],
        num_seeds=7,
        first_seed=50,
        grid={"lr": [1.0], "lookahead": [1.0]},
        config=DynamicsConfig(steps=3, record_every=1, seed_block=8),
    )[("lola", "lola")]
    np.testing.assert_allclose(np.asarray(one.thetas[0][0]), out["part"], atol=1e-3)
