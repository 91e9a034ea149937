"""Hanabi environment steps per second: detente's adapter vs JaxMARL's raw ``hanabi`` env.

Both run the same program: ``jax.jit(jax.vmap(rollout))`` over ``B`` parallel
two-player games, each a ``lax.scan`` of ``--steps`` turns in which both
players draw uniformly random legal moves from their masks (the acting
player among its legal moves, the waiting one the no-op), with the same
draws on both sides, auto-reset when a game ends, and the rewards, the
game ends and the observations summed into the carry so that XLA cannot
drop any of the work. JaxMARL is ``HanabiEnv().step`` (its public step with
its auto-reset) with ``get_legal_moves`` and dict actions; detente is
``auto_reset(HanabiGame())`` with ``TimeStep.action_mask``. Both play the
same games for the same keys (``tests/test_hanabi.py`` checks that), so the
sums printed must agree exactly. Steps per second = ``B * steps / time`` of
one compiled call, ``jax.block_until_ready`` around it.

The two run in one process under one jax, compiled first, then timed in
turn, ``--repeats`` times each, alternating, so that a change of the
machine's load weighs on both; the best and the median are reported.

Example:
    python benchmarks/hanabi_env.py --out runs/hanabi_env.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from _machine import load_average, machine_facts, time_alternating, time_call

from detente.io import write_json

LABELS = {"jaxmarl": "JaxMARL HanabiEnv", "detente": "detente HanabiGame"}


def _legal_draw(key, mask):
    """``[2]`` uniformly random legal actions from ``[2, 21]`` masks."""
    return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf), axis=-1)


def detente_program(batch: int, steps: int):
    from detente.env import auto_reset
    from detente.games.hanabi import HanabiGame

    env = HanabiGame()
    params = env.default_params()
    step = auto_reset(env)

    def rollout(key):
        key, k0 = jax.random.split(key)
        ts = env.reset(k0, params)

        def body(carry, _):
            key, ts, rew, ends, obs = carry
            key, k_a, k_s = jax.random.split(key, 3)
            actions = _legal_draw(k_a, ts.action_mask)
            ts = step(k_s, ts.state, actions, params)
            return (key, ts, rew + ts.rewards[0], ends + ts.done, obs + ts.obs.sum()), None

        init = (key, ts, jnp.zeros(()), jnp.zeros((), jnp.int32), jnp.zeros(()))
        (_, _, rew, ends, obs), _ = jax.lax.scan(body, init, None, length=steps)
        return rew, ends, obs

    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    return jax.jit(jax.vmap(rollout)), keys


def jaxmarl_program(batch: int, steps: int):
    from jaxmarl.environments.hanabi.hanabi import HanabiEnv

    env = HanabiEnv(num_agents=2)
    names = env.agents

    def rollout(key):
        key, k0 = jax.random.split(key)
        obs, state = env.reset(k0)

        def body(carry, _):
            key, state, obs, rew, ends, total = carry
            key, k_a, k_s = jax.random.split(key, 3)
            legal = env.get_legal_moves(state)
            mask = jnp.stack([legal[n] for n in names]) > 0
            actions = _legal_draw(k_a, mask)
            obs, state, r, d, _ = env.step(k_s, state, {n: actions[i] for i, n in enumerate(names)})
            total = total + sum(obs[n].sum() for n in names)
            return (key, state, obs, rew + r["__all__"], ends + d["__all__"], total), None

        init = (key, state, obs, jnp.zeros(()), jnp.zeros((), jnp.int32), jnp.zeros(()))
        (_, _, _, rew, ends, total), _ = jax.lax.scan(body, init, None, length=steps)
        return rew, ends, total

    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    return jax.jit(jax.vmap(rollout)), keys


def measure(batch: int, steps: int, repeats: int) -> dict:
    builders = {"jaxmarl": jaxmarl_program, "detente": detente_program}
    progs, res = {}, {}
    for name, build in builders.items():
        fn, keys = build(batch, steps)
        (rew, ends, obs), first = time_call(fn, keys)
        progs[name] = (fn, keys)
        res[name] = {
            "first_call_s": first,
            "reward_sum": float(rew.sum()),
            "games_ended": int(ends.sum()),
            "obs_sum": float(obs.sum()),
            "times_s": [],
        }
    load = time_alternating(progs, res, repeats, batch * steps)
    d, j = res["detente"], res["jaxmarl"]
    d["ratio_best"] = d["steps_per_s"] / j["steps_per_s"]
    d["ratio_median"] = d["median_steps_per_s"] / j["median_steps_per_s"]
    same = all(d[k] == j[k] for k in ("reward_sum", "games_ended"))
    res.update(
        batch=batch,
        steps=steps,
        same_games=same,
        load_before=load,
        load_after=load_average(),
    )
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="1024", help="parallel games, comma list")
    ap.add_argument("--steps", type=int, default=200, help="turns per game in one call")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per implementation")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args(argv)

    try:
        import jaxmarl
    except ImportError:
        print("jaxmarl is not installed (pip install jaxmarl>=0.2): the adapter needs it")
        return 1
    facts = machine_facts(
        jax=jax.__version__,
        backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()],
        jaxmarl=jaxmarl.__version__,
    )
    print(
        f"machine: {facts['cpu_count']} CPUs, {facts.get('cpu', '')}; jax {facts['jax']}"
        f" ({facts['backend']}) for both; jaxmarl {jaxmarl.__version__}; {facts['date']}"
    )
    runs = []
    for b in [int(x) for x in args.batches.split(",") if x.strip()]:
        r = measure(b, args.steps, args.repeats)
        runs.append(r)
        for name in ("jaxmarl", "detente"):
            x = r[name]
            ratio = (
                f"; {x['ratio_best']:.2f}x JaxMARL best, {x['ratio_median']:.2f}x median"
                if "ratio_best" in x
                else ""
            )
            print(
                f"  B={b:6d} {LABELS[name]:20s} {x['steps_per_s'] / 1e3:8.1f} k steps/s best,"
                f" {x['median_steps_per_s'] / 1e3:8.1f} median; compile {x['compile_s']:4.1f} s;"
                f" games ended {x['games_ended']}, reward sum {x['reward_sum']:.0f}{ratio}",
                flush=True,
            )
        print(
            f"  same games on both sides: {r['same_games']}"
            f" (load {r['load_before']:.1f} -> {r['load_after']:.1f})",
            flush=True,
        )
    result = {
        "benchmark": "Hanabi env steps per second, jit(vmap) + lax.scan, random legal moves",
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "machine": facts,
        "runs": runs,
    }
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    print(
        "JSON "
        + json_line(
            {
                "batch": [r["batch"] for r in runs],
                "jaxmarl_steps_per_s": [round(r["jaxmarl"]["steps_per_s"]) for r in runs],
                "detente_steps_per_s": [round(r["detente"]["steps_per_s"]) for r in runs],
                "ratio_best": [round(r["detente"]["ratio_best"], 3) for r in runs],
                "same_games": [r["same_games"] for r in runs],
            }
        )
    )
    return 0


def json_line(obj) -> str:
    import json

    return json.dumps(obj, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
