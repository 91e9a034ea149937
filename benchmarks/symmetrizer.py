"""Cost per action of equivariant Hanabi policies against the group size (1, 5, 10, 120).

The symmetrizer of Muglich et al. 2022, "Equivariant Networks for Zero-Shot
Coordination", NeurIPS, https://arxiv.org/abs/2210.12124
(:func:`detente.solvers.zsc.symmetrizer.symmetrize`) runs the network on
``|G|`` permuted copies of every observation, so its cost should grow about
linearly in ``|G|``; a weight-tied network
(:class:`detente.solvers.zsc.equivariant.EquivariantActorCritic`) pays only
its projection, ``O(n_in n_out)`` per layer, whatever ``|G|``. This measures
both against the plain network on the same work.

Work: one forward pass (``policy.apply`` with ``T = 1``, then the legal-action
mask, as an acting step does) of a batch of ``B`` Hanabi observations taken
from random legal play, with the MLP of ``zsc_config("hanabi", "selfplay")``
(64 x 64, relu), randomly initialised; groups: the colour subgroups trivial
(1), ``C_5`` (5), ``D_5`` (10) and ``S_5`` (120)
(:func:`detente.games.hanabi.colour_subgroup`). Each variant is one jitted
function; after a compiling call, each timing is ``--calls`` calls in a row,
``jax.block_until_ready`` at the end, repeated ``--repeats`` times with the
variants alternating; best and median are reported per call and per action
(``time / B``), with the ratio to the plain network.

Example:
    python benchmarks/symmetrizer.py --out runs/symmetrizer.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from _machine import load_average, machine_facts, time_alternating, time_call

from detente.io import write_json

KINDS = (("trivial", 1), ("cyclic", 5), ("dihedral", 10), ("full", 120))


def observations(batch: int, steps: int = 8):
    """``[B, 658]`` observations and ``[B, 21]`` masks of the acting seat after random legal moves."""
    from detente.env import auto_reset
    from detente.games.hanabi import HanabiGame

    env = HanabiGame()
    params = env.default_params()
    step = auto_reset(env)

    @jax.jit
    def play(key):
        k0, k1 = jax.random.split(key)
        ts = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, batch), params)

        def body(ts, k):
            ka, ks = jax.random.split(k)
            a = jax.random.categorical(ka, jnp.where(ts.action_mask, 0.0, -jnp.inf), axis=-1)
            ts = jax.vmap(step, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, batch), ts.state, a, params
            )
            return ts, None

        ts, _ = jax.lax.scan(body, ts, jax.random.split(k1, steps))
        seat = jnp.argmax(ts.action_mask.sum(-1), -1)
        rows = jnp.arange(batch)
        return ts.obs[rows, seat], ts.action_mask[rows, seat]

    return play(jax.random.key(0))


def variants(include_weight_tied: bool):
    """``{label: (group size, network)}``: the plain MLP, the symmetrizer and weight-tied per group."""
    from detente.games.hanabi import HanabiGame
    from detente.solvers.zsc.configs import zsc_config
    from detente.solvers.zsc.equivariant import equivariant_network
    from detente.solvers.zsc.symmetrizer import group_spec

    base = zsc_config("hanabi", "selfplay").network
    out = {"plain MLP": (1, base)}
    for kind, _ in KINDS:
        group = group_spec(HanabiGame(), kind)
        out[f"symmetrizer {kind}"] = (group.size, equivariant_network(base, group, "symmetrizer"))
    if include_weight_tied:
        for kind, _ in KINDS:
            group = group_spec(HanabiGame(), kind)
            out[f"weight-tied {kind}"] = (group.size, equivariant_network(base, group))
    return out


def forward_fn(network):
    from detente.games.hanabi import HanabiGame
    from detente.solvers.rl.policy import make_policy, mask_policy

    env = HanabiGame()
    policy = make_policy(env.observation_shape, env.num_actions, network)
    params = policy.init(jax.random.key(1))

    @jax.jit
    def forward(params, obs, mask):
        b = obs.shape[0]
        _, pi, value = policy.apply(
            params, policy.initial_carry((b,)), obs[None], jnp.ones((1, b), bool)
        )
        probs = mask_policy(jax.tree_util.tree_map(lambda x: x[0], pi), mask).probs
        return probs, value[0]

    return forward, params


def _repeat(fn, args, calls: int):
    """``calls`` forward passes in a row; the last one's output (timed by ``time_call``)."""
    out = None
    for _ in range(calls):
        out = fn(*args)
    return out


def measure(batch: int, calls: int, repeats: int, include_weight_tied: bool) -> dict:
    obs, mask = observations(batch)
    progs, res = {}, {}
    for label, (g, network) in variants(include_weight_tied).items():
        fn, params = forward_fn(network)
        args = (params, obs, mask)
        (probs, _), first = time_call(lambda a, fn=fn: fn(*a), args)
        progs[label] = (lambda a, fn=fn: _repeat(fn, a, calls), args)
        res[label] = {
            "group_size": g,
            "first_call_s": first,
            "prob_sum": float(probs.sum()),
            "times_s": [],  # per round: `calls` forward passes
        }
    load = time_alternating(progs, res, repeats, work=batch * calls)
    plain = res["plain MLP"]["best_s"]
    for r in res.values():
        r.update(
            best_ms=1e3 * r["best_s"] / calls,
            median_ms=1e3 * r["median_s"] / calls,
            us_per_action=1e6 * r["best_s"] / (calls * batch),
            ratio_to_plain=r["best_s"] / plain,
            compile_s=max(r["first_call_s"] - r["median_s"] / calls, 0.0),
        )
    return {
        "batch": batch,
        "calls": calls,
        "variants": res,
        "load_before": load,
        "load_after": load_average(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=1024, help="observations per forward pass")
    ap.add_argument("--calls", type=int, default=10, help="forward passes per timing")
    ap.add_argument("--repeats", type=int, default=5, help="timings per variant")
    ap.add_argument("--no-weight-tied", action="store_true", help="symmetrizer rows only")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args(argv)

    facts = machine_facts(
        jax=jax.__version__,
        backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()],
    )
    print(
        f"machine: {facts['cpu_count']} CPUs, {facts.get('cpu', '')}; jax {facts['jax']}"
        f" ({facts['backend']}); {facts['date']}"
    )
    r = measure(args.batch, args.calls, args.repeats, not args.no_weight_tied)
    print(f"Hanabi forward pass, B={r['batch']} observations, MLP 64x64 relu")
    print(
        f"  {'variant':24s} {'|G|':>4s} {'best ms':>9s} {'median ms':>10s} {'us/action':>10s}"
        f" {'x plain':>8s} {'compile s':>9s}"
    )
    for label, x in r["variants"].items():
        print(
            f"  {label:24s} {x['group_size']:4d} {x['best_ms']:9.3f} {x['median_ms']:10.3f}"
            f" {x['us_per_action']:10.3f} {x['ratio_to_plain']:8.2f} {x['compile_s']:9.2f}",
            flush=True,
        )
    print(f"  (load {r['load_before']:.1f} -> {r['load_after']:.1f})")
    result = {
        "benchmark": "Hanabi policy forward pass vs group size: symmetrizer and weight-tied",
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "machine": facts,
        "run": r,
    }
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
