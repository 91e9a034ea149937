"""Exact LOLA on the iterated prisoner's dilemma: detente vs the SOS paper's notebook.

Seed-updates per second (one seed-update = one LOLA update of both players of
one seed) and compile time of :func:`detente.solvers.simulate`, side by side,
in one run on one machine, with the per-seed PyTorch implementation of
Letcher et al. 2019, "Stable Opponent Shaping in Differentiable Games"
(https://github.com/aletcher/stable-opponent-shaping, notebook
``stable_opponent_shaping.ipynb``).

The peer is not part of detente: pass the path of a checkout of that
repository with ``--sos-checkout``. The notebook's code cells that only import
modules and define functions (``ipd``, ``init_th``, ``get_gradient``,
``update_th``, ...) are executed unchanged; the cells that run experiments or
plot are skipped. Its own IPD loop is then timed:
``th = init_th(dims, 1)``, then ``th, losses = update_th(th, Ls, 1, 'lola')``
and the notebook's per-step record of ``(1 - gamma) * losses[0]``, for
``--steps`` steps per seed, seed after seed (the notebook has no batch, so its
rate does not depend on the number of seeds), in two halves of
``--peer-seconds``, one before and one after detente's measurements, so that
a change of the machine's load weighs on both sides. The notebook's ``'lola'`` is the
SOS paper's form of LOLA, ``(I - alpha H_o) xi - alpha chi``: detente's
``lola_sos``. detente's ``lola`` (the LOLA paper's form, shaping term only) is
reported beside it.

Each measurement runs in a fresh child process, one after another, so compile
times start cold, peak memory (``ru_maxrss``) is per configuration and torch's
threads never share the process with XLA's. For detente:

* ``first call``: ``simulate(...)`` on a fresh process, ``jax.block_until_ready``:
  tracing + compilation + one run;
* ``steady``: the program ``simulate`` compiled, run again on the same inputs
  (the jitted function is picked up as ``simulate`` builds it);
  seed-updates/s = seeds * steps / steady;
* ``compile`` = first call - steady.

A same-work check (its own child) runs seed 0 of detente's ``lola_sos`` and
the notebook's ``'lola'`` from one start in float64 (torch's default dtype set
to float64; player 2's logits mapped from detente's own-view order to the
notebook's joint-state order) and compares the end points after ``--steps``
steps. In float32 the two drift apart over 200 steps (learning at ``lr = 1``
amplifies rounding differences), so the check is made in float64.

Example:
    python benchmarks/lola_ipd.py --sos-checkout /tmp/sos-checkout --out lola_ipd.json
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _machine import load_average, machine_facts

from detente.io import write_json

NOTEBOOK = "stable_opponent_shaping.ipynb"
GAMMA = 0.96
# detente's player 2 sees joint state (a_1, a_2) as (a_2, a_1): CD <-> DC.
SWAP_VIEW = (0, 2, 1, 3)


# ----------------------------------------------------------------------------
# Child: the notebook


def notebook_namespace(checkout: str) -> dict:
    """Execute, unchanged, the notebook's code cells made only of imports and
    function definitions; return the namespace they define."""
    path = Path(checkout) / NOTEBOOK
    cells = json.loads(path.read_text())["cells"]
    ns: dict = {"__name__": "sos_notebook"}
    kept = []
    for k, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        body = ast.parse(src).body
        defs_only = body and all(
            isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))
            or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
            for n in body
        )
        if defs_only:
            exec(compile(src, f"{path}:cell{k}", "exec"), ns)
            kept.append(k)
    missing = [f for f in ("ipd", "init_th", "get_gradient", "update_th") if f not in ns]
    if missing:
        raise SystemExit(f"{path}: the notebook defines no {missing}; is this the SOS repository?")
    ns["_cells"] = kept
    return ns


def peer_child(cfg: dict) -> dict:
    import numpy as np
    import torch

    ns = notebook_namespace(cfg["checkout"])
    default_threads = torch.get_num_threads()
    torch.set_num_threads(default_threads)  # the machine's default, stated in the report
    dims, Ls = ns["ipd"](GAMMA)
    steps, alpha, algo = cfg["steps"], 1, "lola"

    def one_seed(th):
        # the notebook's IPD loop (its "IPD Results" cell), for one run and one algorithm
        losses_out = np.zeros(steps)
        for k in range(steps):
            th, losses = ns["update_th"](th, Ls, alpha, algo)
            losses_out[k] = (1 - GAMMA) * losses[0].data.numpy()[0]
        return th, losses_out

    out: dict = {
        "torch": torch.__version__,
        "torch_threads": default_threads,
        "cells": ns["_cells"],
    }
    torch.manual_seed(0)
    per_seed, finals = [], []
    budget, t_start = cfg["seconds"], time.perf_counter()
    c_start = time.process_time()
    while len(per_seed) < cfg["max_seeds"]:
        th = ns["init_th"](dims, 1)
        t0 = time.perf_counter()
        th, losses_out = one_seed(th)
        per_seed.append(time.perf_counter() - t0)
        finals.append(float(losses_out[-1]))
        if time.perf_counter() - t_start > budget:
            break
    cpu = time.process_time() - c_start
    # The first seed includes torch's warm-up; the rate is over the others when there are any.
    timed = per_seed[1:] or per_seed
    out.update(
        seeds_run=len(per_seed),
        first_seed_s=per_seed[0],
        seconds=sum(timed),
        rate=len(timed) * steps / sum(timed),
        cpu_rate=len(per_seed) * steps / cpu,
        mean_final_loss_step=float(np.mean(finals)),
        maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return out


# ----------------------------------------------------------------------------
# Child: detente


class _Capture:
    """Stands in for ``jax.jit`` inside ``detente.solvers.runner`` to keep the
    jitted function ``simulate`` builds and the arguments it calls it with."""

    def __init__(self, jax, store):
        self._jax, self._store = jax, store

    def __getattr__(self, name):
        return getattr(self._jax, name)

    def jit(self, fun=None, **kwargs):
        if fun is None:
            return lambda f: self.jit(f, **kwargs)
        jitted = self._jax.jit(fun, **kwargs)
        store = self._store

        def call(*args, **kw):
            store["fn"], store["args"], store["kwargs"] = jitted, args, kw
            return jitted(*args, **kw)

        return call


def detente_child(cfg: dict) -> dict:
    import jax
    import numpy as np

    import detente.solvers.runner as runner
    from detente.games import make_differentiable
    from detente.solvers import DynamicsConfig, simulate

    store: dict = {}
    runner.jax = _Capture(jax, store)
    game = make_differentiable("ipd")
    rule, seeds, steps = cfg["rule"], cfg["seeds"], cfg["steps"]
    config = DynamicsConfig(steps=steps, record_every=steps, seed_block=cfg["seed_block"])

    def call():
        return simulate(
            game,
            [(rule, rule)],
            num_seeds=seeds,
            grid={"lr": [1.0], "lookahead": [1.0]},
            config=config,
        )

    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(call())
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    res: dict = {"jax": jax.__version__, "first_call_s": first, "first_call_cpu_s": first_cpu}
    if "fn" in store:
        runs = []
        for _ in range(cfg["repeats"]):
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(store["fn"](*store["args"], **store["kwargs"]))
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        steady, steady_cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        res["steady_from"] = "compiled program re-run"
    else:  # the runner changed its jit call site: fall back to a second simulate() call
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(call())
        steady, steady_cpu = time.perf_counter() - t0, time.process_time() - c0
        res["steady_from"] = "second simulate() call"
    traj = out[(rule, rule)]
    rewards = np.asarray(traj.rewards[0, :, -1])  # [S, 2] per-step reward at the last step
    res.update(
        steady_s=steady,
        steady_cpu_s=steady_cpu,
        compile_s=max(first - steady, 0.0),
        rate=seeds * steps / steady,
        cpu_rate=seeds * steps / steady_cpu,
        mean_final_reward=rewards.mean(0).tolist(),
        diverged=int(np.sum(np.asarray(traj.diverged_at) >= 0)),
        maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return res


# ----------------------------------------------------------------------------
# Child: same-work check, float64, one process


def check_child(cfg: dict) -> dict:
    """Seed 0 of detente's ``lola_sos`` and the notebook's ``'lola'`` from one
    start, in float64 on both sides (torch's default dtype set to float64; the
    notebook's code is unchanged), stepped in lockstep; returns the largest
    parameter difference after 1, 10, 50 and ``steps`` updates. The first
    agree to rounding; LOLA at ``lr = 1`` can amplify rounding differences
    exponentially from some starts, so later ones may grow."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    import torch

    from detente.batching import seed_keys
    from detente.games import make_differentiable
    from detente.solvers import DynamicsHParams, init_thetas, joint_update, make_rule

    # The rule itself, stepped in a jitted loop in lockstep with the notebook.
    steps = cfg["steps"]
    game = make_differentiable("ipd")
    game = game.replace(
        params=jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), game.params)
    )
    rules = (make_rule("lola_sos"),) * 2
    hp = DynamicsHParams(lr=jnp.float64(1.0), lookahead=jnp.float64(1.0))

    @jax.jit
    def step(thetas):
        deltas = joint_update(rules, game, thetas, ((), ()), hp)[0]
        return tuple(t + d for t, d in zip(thetas, deltas, strict=True))

    thetas = init_thetas(seed_keys(0, 1)[0], game, 1.0, jnp.float64)

    torch.set_default_dtype(torch.float64)
    ns = notebook_namespace(cfg["checkout"])
    dims, Ls = ns["ipd"](GAMMA)
    own_to_joint = [0] + [1 + SWAP_VIEW[s] for s in range(4)]  # an involution
    start = [np.asarray(t, np.float64) for t in thetas]
    th = [
        torch.tensor(start[0], requires_grad=True),
        torch.tensor(start[1][own_to_joint], requires_grad=True),
    ]
    diffs = {}
    for k in range(1, steps + 1):
        thetas = step(thetas)
        th, _ = ns["update_th"](th, Ls, 1, "lola")
        if k in (1, 10, 50, steps):
            nb = [th[0].detach().numpy(), th[1].detach().numpy()[own_to_joint]]
            diffs[k] = float(
                max(np.abs(np.asarray(a) - b).max() for a, b in zip(thetas, nb, strict=True))
            )
    end_rewards = np.asarray(game.values(thetas) * game.step_scale).tolist()
    nb_rewards = [-(1 - GAMMA) * float(x) for x in Ls([t.detach() for t in th])]
    return {
        "steps": steps,
        "max_abs_theta_diff_after": diffs,
        "detente_end_rewards": end_rewards,
        "notebook_end_rewards": nb_rewards,
    }


# ----------------------------------------------------------------------------
# Parent


def run_child(kind: str, cfg: dict, timeout: float) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg")
    if cfg.get("cpu_devices", 1) > 1:  # expose that many CPU cores as JAX devices
        flag = f"--xla_force_host_platform_device_count={cfg['cpu_devices']}"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, json.dumps(cfg)]
    load = load_average()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "load_before": load}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "load_before": load}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(process_s=wall, load_before=load, load_after=load_average())
    return res


def measure_peer(args, max_seeds: int, when: str) -> dict:
    cfg = {
        "checkout": args.sos_checkout,
        "steps": args.steps,
        "seconds": args.peer_seconds / 2,
        "max_seeds": max_seeds,
    }
    res = run_child("peer", cfg, args.timeout)
    res["when"] = when
    if "error" not in res:
        print(
            f"  notebook lola ({when}): {res['seeds_run']} seeds, {res['rate']:.0f} seed-updates/s"
            f" (torch {res['torch']}, {res['torch_threads']} threads; load {res['load_before']:.1f})",
            flush=True,
        )
    return res


def combine_peer(halves: list[dict]) -> dict:
    """One rate over both halves: all timed seed-updates over all their time."""
    out = dict(halves[-1])
    seconds = sum(h["seconds"] for h in halves)
    updates = sum(h["rate"] * h["seconds"] for h in halves)
    out.update(
        rate=updates / seconds,
        seconds=seconds,
        seeds_run=sum(h["seeds_run"] for h in halves),
        cpu_rate=sum(h["cpu_rate"] for h in halves) / len(halves),
        mean_final_loss_step=sum(h["mean_final_loss_step"] * h["seeds_run"] for h in halves)
        / sum(h["seeds_run"] for h in halves),
        halves=halves,
    )
    return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sos-checkout", help="checkout of aletcher/stable-opponent-shaping (omit: detente only)"
    )
    ap.add_argument("--seeds", default="1,100,10000", help="seed counts for detente")
    ap.add_argument("--steps", type=int, default=200, help="LOLA updates per seed")
    ap.add_argument("--rules", default="lola_sos,lola", help="detente rules (both players)")
    ap.add_argument(
        "--seed-blocks",
        default="64,256,1024,10000",
        help="DynamicsConfig.seed_block values swept at the largest seed count, first rule",
    )
    ap.add_argument("--seed-block", type=int, default=64, help="seed_block elsewhere (default)")
    ap.add_argument(
        "--cpu-devices",
        default=f"{os.cpu_count() or 1},1",
        help="CPU cores exposed as JAX devices (XLA_FLAGS), comma list: the first is used for"
        " every run, the others are extra runs of the first rule at the largest seed count"
        " (default: nproc, then 1)",
    )
    ap.add_argument(
        "--other-seeds",
        help="seed counts for the rules after the first (default: the largest of --seeds)",
    )
    ap.add_argument(
        "--sweep-steps",
        type=int,
        default=50,
        help="steps per seed in the seed_block sweep (the rate is per step; saves time)",
    )
    ap.add_argument(
        "--peer-seconds",
        type=float,
        default=30.0,
        help="time budget for the notebook, split between before and after detente",
    )
    ap.add_argument("--repeats", type=int, default=1, help="steady-state runs (best is kept)")
    ap.add_argument("--timeout", type=float, default=600.0, help="limit per child process (s)")
    ap.add_argument("--no-check", action="store_true", help="skip the float64 same-work check")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        kind, cfg = args.child[0], json.loads(args.child[1])
        child = {"peer": peer_child, "check": check_child, "detente": detente_child}[kind]
        res = child(cfg)
        print(json.dumps(res))
        return 0

    seeds, rules = _ints(args.seeds), [r for r in args.rules.split(",") if r]
    devices = _ints(args.cpu_devices)
    blocks = _ints(args.seed_blocks)
    facts = machine_facts()
    print(f"machine: {facts['cpu_count']} CPUs, {facts.get('cpu', '')}; {facts['date']}")
    if facts.get("uncommitted_library_files"):
        print(
            "  uncommitted library files measured:", ", ".join(facts["uncommitted_library_files"])
        )
    t_all = time.perf_counter()

    # The notebook is timed in two halves, before and after detente, so that a
    # change of the machine's load during the run weighs on both sides alike.
    before = measure_peer(args, max(seeds), "before detente") if args.sos_checkout else None
    runs = []
    other = _ints(args.other_seeds) if args.other_seeds else [max(seeds)]
    dev = devices[0]
    todo = [(rules[0], s, args.seed_block, args.steps, dev) for s in seeds]
    todo += [(rules[0], max(seeds), args.seed_block, args.steps, d) for d in devices[1:]]
    todo += [(r, s, args.seed_block, args.steps, dev) for r in rules[1:] for s in other]
    todo += [
        (rules[0], max(seeds), b, args.sweep_steps, dev) for b in blocks if b != args.seed_block
    ]
    for rule, s, block, steps, d in todo:
        cfg = {
            "rule": rule,
            "seeds": s,
            "steps": steps,
            "seed_block": block,
            "repeats": args.repeats,
            "cpu_devices": d,
        }
        res = run_child("detente", cfg, args.timeout)
        res.update(rule=rule, seeds=s, seed_block=block, steps=steps, cpu_devices=d)
        runs.append(res)
        if "error" in res:
            print(f"  detente {rule} S={s} block={block}: {res['error']}", flush=True)
        else:
            print(
                f"  detente {rule:8s} S={s:6d} block={block:6d} steps={steps} devices={d}:"
                f" first call {res['first_call_s']:6.1f} s,"
                f" steady {res['steady_s']:7.3f} s, {res['rate']:10.0f} seed-updates/s"
                f" (load {res['load_before']:.1f})",
                flush=True,
            )

    peer = None
    if args.sos_checkout:
        peer = measure_peer(args, max(seeds), "after detente")
        halves = [before, peer] if before is not None else [peer]
        if all("error" not in h for h in halves):
            peer = combine_peer(halves)
            rates = ", ".join(f"{h['rate']:.0f} ({h['when']})" for h in halves)
            print(
                f"  notebook lola: {peer['seeds_run']} seeds x {args.steps} steps,"
                f" {peer['rate']:.0f} seed-updates/s overall; {rates}",
                flush=True,
            )
        else:
            peer = next(h for h in halves if "error" in h)
            print(f"  notebook: {peer['error']}")
    else:
        print("  no --sos-checkout: detente only, no ratio to the notebook")

    ok_peer = peer is not None and "error" not in peer
    print()
    head = (
        f"{'implementation':28s} {'dev':>3s} {'seeds':>6s} {'block':>6s} {'steps':>5s} {'compile s':>9s}"
        f" {'steady s':>9s} {'seed-upd/s':>11s} {'CPU-s rate':>11s} {'x notebook':>10s} {'RSS MiB':>8s}"
    )
    print(head)
    print("-" * len(head))
    if ok_peer:
        print(
            f"{'SOS notebook lola (torch)':28s} {'-':>3s} {'any':>6s} {'-':>6s} {args.steps:5d} {'-':>9s}"
            f" {args.steps / peer['rate']:9.3f} {peer['rate']:11.0f} {peer['cpu_rate']:11.0f}"
            f" {1:10.0f} {peer['maxrss_mib']:8.0f}"
        )
    for r in runs:
        if "error" in r:
            print(
                f"{'detente ' + r['rule']:28s} {r['cpu_devices']:3d} {r['seeds']:6d}"
                f" {r['seed_block']:6d}  {r['error']}"
            )
            continue
        ratio = r["rate"] / peer["rate"] if ok_peer else float("nan")
        r["ratio_to_notebook"] = ratio if ok_peer else None
        print(
            f"{'detente ' + r['rule']:28s} {r['cpu_devices']:3d} {r['seeds']:6d}"
            f" {r['seed_block']:6d} {r['steps']:5d}"
            f" {r['compile_s']:9.1f} {r['steady_s']:9.3f} {r['rate']:11.0f} {r['cpu_rate']:11.0f}"
            f" {ratio:10.0f} {r['maxrss_mib']:8.0f}"
        )

    target = None
    if ok_peer:
        big = [
            r
            for r in runs
            if "error" not in r and r["seeds"] == max(seeds) and r["rule"] == "lola_sos"
        ]
        if big:
            best = max(big, key=lambda r: r["rate"])
            default = next(
                (
                    r
                    for r in big
                    if r["seed_block"] == args.seed_block and r["cpu_devices"] == devices[0]
                ),
                best,
            )
            target = {
                "seeds": max(seeds),
                "required_ratio": 1000,
                "ratio_default_block": default["ratio_to_notebook"],
                "ratio_best_block": best["ratio_to_notebook"],
                "best_block": best["seed_block"],
                "met_default_block": default["ratio_to_notebook"] >= 1000,
            }
            print(
                f"\ntarget at {max(seeds)} seeds, lola_sos vs the notebook's lola: >= 1000x;"
                f" measured {default['ratio_to_notebook']:.0f}x (seed_block {args.seed_block}),"
                f" best {best['ratio_to_notebook']:.0f}x (seed_block {best['seed_block']}):"
                f" {'met' if target['met_default_block'] else 'NOT met'}"
            )
        main = next(
            (
                r
                for r in runs
                if "error" not in r
                and r["rule"] == rules[0]
                and r["seeds"] == max(seeds)
                and r["steps"] == args.steps
            ),
            None,
        )
        if main is not None:
            print(
                f"outcome after {args.steps} steps, player 1's mean per-step reward: notebook"
                f" {-peer['mean_final_loss_step']:.3f} ({peer['seeds_run']} seeds), detente"
                f" {main['mean_final_reward'][0]:.3f} ({main['seeds']} seeds)"
            )
    check = None
    if args.sos_checkout and not args.no_check:
        check = run_child(
            "check", {"checkout": args.sos_checkout, "steps": args.steps}, args.timeout
        )
        if "error" in check:
            print(f"same-work check: {check['error']}")
        else:
            print(
                "same work (float64, seed 0, one start): max |theta diff| after "
                + ", ".join(
                    f"{k} steps {v:.1e}" for k, v in check["max_abs_theta_diff_after"].items()
                )
                + f"; per-step rewards after {args.steps}: detente"
                f" {[round(x, 4) for x in check['detente_end_rewards']]}, notebook"
                f" {[round(x, 4) for x in check['notebook_end_rewards']]}"
            )
    total = time.perf_counter() - t_all
    print(f"\nwhole run: {total:.0f} s")
    if args.out:
        result = {
            "benchmark": "exact LOLA on IPD, seed-updates per second",
            "command": " ".join([Path(sys.executable).name] + sys.argv),
            "machine": facts,
            "steps": args.steps,
            "notebook": peer,
            "detente": runs,
            "target": target,
            "same_work_check": check,
            "total_s": total,
        }
        write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
