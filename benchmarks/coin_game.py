"""Coin Game environment steps per second: detente vs JaxMARL's ``coin_game``.

Both run the same program: ``jax.jit(jax.vmap(rollout))`` over ``B`` parallel
games, each a ``lax.scan`` of ``--steps`` steps with uniformly random actions
drawn inside the scan (the same draws on both sides), auto-reset at the end
of each episode of 10 steps, and the rewards and the observations summed
into the carry so that XLA cannot drop any of the work. detente is
``auto_reset(CoinGame(episode_length=10))``; JaxMARL is
``CoinGame(num_inner_steps=10, num_outer_steps=10).step`` (its public step:
inner reset every 10 steps, outer auto-reset every 100, its statistics kept),
flat observations on both sides. detente runs twice: with its default
``rng="fast"`` (JaxMARL's distributions from about a tenth of the random
bits) and with ``rng="jaxmarl"`` (JaxMARL's own random draws, the same games
for the same keys). Steps per second = ``B * steps / time`` of
one compiled call, ``jax.block_until_ready`` around it.

The two run in one process under one jax (``pip install jaxmarl==0.2.0`` leaves
jax 0.10.2 as it is), compiled first, then timed in turn, ``--repeats`` times
each, alternating, so that a change of the machine's load weighs on both; the
best and the median of each are reported. The mean absolute reward per step is
printed for each as a check that they play the same game (they use different keys, so the
means agree only statistically). Without JaxMARL, only detente is measured.

Example:
    python benchmarks/coin_game.py --out runs/coin_game.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from _machine import load_average, machine_facts, time_alternating, time_call

from detente.io import write_json

EPISODE = 10
LABELS = {
    "jaxmarl": "JaxMARL coin_game",
    "detente": "detente (rng='fast')",
    "detente_jaxmarl_rng": "detente (rng='jaxmarl')",
}


def detente_program(batch: int, steps: int, rng: str = "fast"):
    from detente.env import auto_reset
    from detente.games.coin_game import CoinGame

    env = CoinGame(episode_length=EPISODE, rng=rng)
    params = env.default_params()
    step = auto_reset(env)

    def rollout(key):
        key, k0 = jax.random.split(key)
        ts = env.reset(k0, params)

        def body(carry, _):
            key, state, rew, obs = carry
            key, k_a, k_s = jax.random.split(key, 3)
            actions = jax.random.randint(k_a, (2,), 0, 5)
            ts = step(k_s, state, actions, params)
            rew = rew + jnp.abs(ts.rewards)
            return (key, ts.state, rew, obs + ts.obs.sum(-1, dtype=jnp.int32)), None

        init = (key, ts.state, jnp.zeros(2), jnp.zeros(2, jnp.int32))
        (_, _, rew, obs), _ = jax.lax.scan(body, init, None, length=steps)
        return rew, obs

    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    return jax.jit(jax.vmap(rollout)), keys


def jaxmarl_program(batch: int, steps: int):
    from jaxmarl.environments.coin_game import CoinGame

    env = CoinGame(num_inner_steps=EPISODE, num_outer_steps=10)

    def rollout(key):
        key, k0 = jax.random.split(key)
        obs0, state = env.reset(k0)

        def body(carry, _):
            key, state, rew, obs = carry
            key, k_a, k_s = jax.random.split(key, 3)
            actions = jax.random.randint(k_a, (2,), 0, 5)
            o, state, r, _, _ = env.step(k_s, state, {"0": actions[0], "1": actions[1]})
            rew = rew + jnp.abs(jnp.stack([r["0"], r["1"]]))
            obs = obs + jnp.stack([o["0"].sum(dtype=jnp.int32), o["1"].sum(dtype=jnp.int32)])
            return (key, state, rew, obs), None

        init = (key, state, jnp.zeros(2), jnp.zeros(2, jnp.int32))
        (_, _, rew, obs), _ = jax.lax.scan(body, init, None, length=steps)
        return rew, obs

    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    return jax.jit(jax.vmap(rollout)), keys


def measure(batch: int, steps: int, repeats: int, with_jaxmarl: bool) -> dict:
    builders = {
        "detente": detente_program,
        "detente_jaxmarl_rng": lambda b, s: detente_program(b, s, rng="jaxmarl"),
    }
    if with_jaxmarl:
        builders["jaxmarl"] = jaxmarl_program
    progs, res = {}, {}
    for name, build in builders.items():
        fn, keys = build(batch, steps)
        (rew, obs), first = time_call(fn, keys)
        progs[name] = (fn, keys)
        res[name] = {
            "first_call_s": first,
            "mean_abs_reward_per_step": (rew.mean(0) / steps).tolist(),
            "mean_obs_sum_per_step": (obs.mean(0) / steps).tolist(),
            "times_s": [],
        }
    load = time_alternating(progs, res, repeats, batch * steps)
    if "jaxmarl" in res:
        for name in ("detente", "detente_jaxmarl_rng"):
            r, j = res[name], res["jaxmarl"]
            r["ratio_best"] = r["steps_per_s"] / j["steps_per_s"]
            r["ratio_median"] = r["median_steps_per_s"] / j["median_steps_per_s"]
    res.update(batch=batch, steps=steps, load_before=load, load_after=load_average())
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="1024,16384", help="parallel games, comma list")
    ap.add_argument("--steps", type=int, default=200, help="steps per game in one call")
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per implementation")
    ap.add_argument("--no-jaxmarl", action="store_true", help="detente only")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args(argv)

    with_jaxmarl = not args.no_jaxmarl
    jaxmarl_version = None
    if with_jaxmarl:
        try:
            import jaxmarl

            jaxmarl_version = jaxmarl.__version__
        except ImportError:
            print("jaxmarl is not installed (pip install jaxmarl==0.2.0): detente only")
            with_jaxmarl = False
    facts = machine_facts(
        jax=jax.__version__,
        backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()],
        jaxmarl=jaxmarl_version,
    )
    print(
        f"machine: {facts['cpu_count']} CPUs, {facts.get('cpu', '')}; jax {facts['jax']}"
        f" ({facts['backend']}) for both; jaxmarl {jaxmarl_version}; {facts['date']}"
    )
    runs = []
    for b in [int(x) for x in args.batches.split(",") if x.strip()]:
        r = measure(b, args.steps, args.repeats, with_jaxmarl)
        runs.append(r)
        for name in ("jaxmarl", "detente", "detente_jaxmarl_rng"):
            if name in r:
                x = r[name]
                ratio = (
                    f"; {x['ratio_best']:.2f}x JaxMARL best, {x['ratio_median']:.2f}x median"
                    if "ratio_best" in x
                    else ""
                )
                print(
                    f"  B={b:6d} {LABELS[name]:26s} {x['steps_per_s'] / 1e6:6.2f} M steps/s best,"
                    f" {x['median_steps_per_s'] / 1e6:6.2f} median; compile {x['compile_s']:4.1f} s;"
                    f" |reward|/step {[round(v, 3) for v in x['mean_abs_reward_per_step']]}{ratio}",
                    flush=True,
                )
        print(f"  (load {r['load_before']:.1f} -> {r['load_after']:.1f})", flush=True)
    if args.out:
        result = {
            "benchmark": "Coin Game env steps per second, jit(vmap) + lax.scan, random actions",
            "command": " ".join([Path(sys.executable).name] + sys.argv),
            "machine": facts,
            "episode_length": EPISODE,
            "runs": runs,
        }
        write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
