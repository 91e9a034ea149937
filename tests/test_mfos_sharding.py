"""M-FOS-ES's population split over four CPU "devices" (child process), against one device."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

CHILD = textwrap.dedent(
    """
    import json, sys, jax, numpy as np
    sys.path.insert(0, {here!r})
    from test_mfos_sharding import BLOCKS, population, population_rewards_for

    assert len(jax.devices()) == 4
    pop, key = population()
    out = {{
        str(block): np.asarray(population_rewards_for(block)(pop, key)).tolist()
        for block in BLOCKS
    }}
    print(json.dumps(out))
    """
)

P = 10  # not a multiple of 4 devices x block: the padding is exercised
BLOCKS = (None, 1)  # None: ceil(P / devices) members a block


def _config(member_block=None):
    from detente.solvers.shaping.mfos import MFOSConfig

    return MFOSConfig(
        inner_episodes=6,
        population_size=P,
        opponents=3,
        eval_opponents=4,
        generations=2,
        member_block=member_block,
    )


def population():
    """``P`` random meta-policies (every leaf perturbed) and a key for the opponents."""
    import jax

    from detente.solvers.shaping.mfos import init_meta_params, mfos_game

    @jax.jit
    def make(key):
        k_init, k_noise = jax.random.split(key)
        params = init_meta_params(k_init, mfos_game("ipd"), _config())
        leaves, treedef = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(k_noise, len(leaves))
        leaves = [
            x[None] + 0.5 * jax.random.normal(k, (P,) + x.shape)
            for x, k in zip(leaves, keys, strict=True)
        ]
        return jax.tree_util.tree_unflatten(treedef, leaves)

    return make(jax.random.PRNGKey(0)), jax.random.PRNGKey(2)


def population_rewards_for(member_block):
    """The compiled ``[P, 2]`` population rewards with ``member_block`` members a block."""
    import jax

    from detente.solvers.shaping.mfos import make_fitness, make_population_fitness, mfos_game

    fitness = make_fitness(mfos_game("ipd"), _config(member_block))
    return jax.jit(make_population_fitness(lambda p, k: fitness(p, k)[1], P, member_block))


def test_population_sharded_over_four_devices():
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(here=here)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:  # the one-device reference meanwhile, in this process
        pop, key = population()
        one = np.asarray(population_rewards_for(1)(pop, key))
        stdout, stderr = child.communicate(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])

    assert one.shape == (P, 2)
    assert np.all(np.isfinite(one)) and np.ptp(one[:, 0]) > 1e-3  # members differ
    for block in BLOCKS:
        # Every member's rewards: the same, up to float32 rounding, on one device
        # or split over four, whatever the block size (another block size or
        # device count is another XLA program: the last bit may differ).
        np.testing.assert_allclose(out[str(block)], one, rtol=2e-6, atol=1e-6)
