"""Record JaxMARL's ``coin_game`` on random action sequences, for ``tests/test_coin_game.py``.

Writes ``tests/data/coin_game_reference.npz``: JaxMARL's states, observations,
rewards and pickup statistics along ``N`` random action sequences of ``T``
steps, with the keys and actions that produced them, so that the test can
replay them in detente without JaxMARL installed. Nothing of JaxMARL's code is
stored: only its outputs.

Each sequence starts from ``env.reset(reset_key)`` and calls JaxMARL's public
``env.step(step_keys[t], state, actions[t])`` (inner resets after
``NUM_INNER`` steps, outer auto-reset after ``NUM_OUTER`` inner episodes). Three
JaxMARL configurations see the same keys and actions: the default (flat,
absolute observations, payoffs ``[[1, 1, -2], [1, 1, -2]]``), ``egocentric``
observations, and the asymmetric non-integer payoffs ``CUSTOM_PAYOFFS``; their
positions must agree (checked here), only observations or rewards differ.

Needs ``pip install jaxmarl==0.2.0`` (it leaves jax, flax and optax as they are).

Usage:
    python tests/data/make_coin_game_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

N, T = 1000, 25
NUM_INNER, NUM_OUTER = 10, 2  # an inner reset at steps 10 and 20, an outer reset at step 20
CUSTOM_PAYOFFS = [[0.5, 1.5, -2.5], [1.25, 0.75, -0.3]]  # JaxMARL's layout (rows by coin colour)
OUT = Path(__file__).with_name("coin_game_reference.npz")


def run(env, reset_keys, step_keys, actions):
    """JaxMARL's reset, then ``T`` public ``step`` calls, vmapped over sequences."""

    def one(k0, ks, acts):
        obs, state = env.reset(k0)

        def body(carry, x):
            obs, state = carry
            k, a = x
            obs2, state2, rew, dones, info = env.step(k, state, {"0": a[0], "1": a[1]})
            rec = (
                obs,
                state,
                jnp.stack([rew["0"], rew["1"]]),
                info["inner_episode_done"],
                dones["__all__"],
            )
            return (obs2, state2), rec

        (obs_T, state_T), (obs_seq, st_seq, rew, inner, done) = jax.lax.scan(
            body, (obs, state), (ks, acts)
        )
        # append the final observation and state: T + 1 of each
        cat = lambda seq, last: jnp.concatenate([seq, last[None]], axis=0)
        obs_all = {a: cat(obs_seq[a], obs_T[a]) for a in obs_seq}
        st_all = jax.tree_util.tree_map(cat, st_seq, state_T)
        return obs_all, st_all, rew, inner, done

    return jax.jit(jax.vmap(one))(reset_keys, step_keys, actions)


def main() -> int:
    import jaxmarl
    from jaxmarl.environments.coin_game import CoinGame

    rng = np.random.default_rng(20240607)
    base = jax.random.split(jax.random.PRNGKey(7), N)
    reset_keys = jax.vmap(lambda k: jax.random.split(k)[0])(base)
    step_keys = jax.vmap(lambda k: jax.random.split(jax.random.split(k)[1], T))(base)
    actions = jnp.asarray(rng.integers(0, 5, size=(N, T, 2)), jnp.int32)

    kw = dict(num_inner_steps=NUM_INNER, num_outer_steps=NUM_OUTER)
    obs_a, st_a, rew_a, inner_a, done_a = run(CoinGame(**kw), reset_keys, step_keys, actions)
    obs_e, st_e, _, _, _ = run(CoinGame(egocentric=True, **kw), reset_keys, step_keys, actions)
    _, st_c, rew_c, _, _ = run(
        CoinGame(payoff_matrix=CUSTOM_PAYOFFS, **kw), reset_keys, step_keys, actions
    )

    def positions(st):  # [N, T + 1, 4, 2]: red, blue, red coin, blue coin
        return np.stack(
            [np.asarray(x) for x in (st.red_pos, st.blue_pos, st.red_coin_pos, st.blue_coin_pos)],
            axis=2,
        )

    pos = positions(st_a)
    assert np.array_equal(pos, positions(st_e)) and np.array_equal(pos, positions(st_c))
    # JaxMARL's pickup statistics, summed over outer steps: red own, red other, blue own, blue other
    stats = np.stack(
        [
            np.asarray(x).astype(np.int32).sum(-1)
            for x in (st_a.red_coop, st_a.red_defect, st_a.blue_coop, st_a.blue_defect)
        ],
        axis=-1,
    )  # [N, T + 1, 4]
    obs_abs = np.stack([np.asarray(obs_a["0"]), np.asarray(obs_a["1"])], axis=2)  # [N, T+1, 2, 36]
    obs_ego = np.stack([np.asarray(obs_e["0"]), np.asarray(obs_e["1"])], axis=2)
    assert set(np.unique(obs_abs)) <= {0, 1} and set(np.unique(obs_ego)) <= {0, 1}
    np.savez_compressed(
        OUT,
        jaxmarl_version=np.asarray(jaxmarl.__version__),
        jax_version=np.asarray(jax.__version__),
        num_inner_steps=np.asarray(NUM_INNER),
        num_outer_steps=np.asarray(NUM_OUTER),
        custom_payoffs=np.asarray(CUSTOM_PAYOFFS, np.float32),
        reset_keys=np.asarray(jax.random.key_data(reset_keys), np.uint32),  # [N, 2]
        step_keys=np.asarray(jax.random.key_data(step_keys), np.uint32),  # [N, T, 2]
        actions=np.asarray(actions, np.int8),  # [N, T, 2]
        positions=pos.astype(np.int8),  # [N, T + 1, 4, 2]
        step=np.asarray(st_a.step, np.int8),  # [N, T + 1]
        outer_t=np.asarray(st_a.outer_t, np.int8),  # [N, T + 1]
        pickups=stats.astype(np.int8),  # [N, T + 1, 4]
        rewards=np.asarray(rew_a, np.float32),  # [N, T, 2]
        rewards_custom=np.asarray(rew_c, np.float32),  # [N, T, 2]
        inner_done=np.asarray(inner_a),  # [N, T]
        done=np.asarray(done_a),  # [N, T]
        obs_abs_bits=np.packbits(obs_abs.astype(np.uint8), axis=-1),  # [N, T + 1, 2, 5]
        obs_ego_bits=np.packbits(obs_ego.astype(np.uint8), axis=-1),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB), jaxmarl {jaxmarl.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
