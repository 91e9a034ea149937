"""Wall time for M-FOS-ES to reach extortion against the exact naive learner on the IPD.

The work is the issue's acceptance setting. The game is the exact IPD (LOLA's
payoffs, gamma 0.96). The naive learner steps with lr 1 after each of 100
inner episodes. M-FOS is trained with
:func:`detente.solvers.shaping.mfos.train_mfos_es` (population 32, 8 opponents
per evaluation, ES step size ``--lr``, 0.1 by default as in the tests).
*Extortion* is met when the final meta-policy, scored on 64 fresh opponents,
gets more than -1 per step while the naive learner gets less than -2. With
``--game imp`` (matching pennies, the paper's gamma 0.96) the target is instead
M-FOS above 0.6 per step.

For each generation budget, the script runs a fresh training from the same
seed. It reports the wall time of one call, which includes compilation, and of
a second call on the compiled program, with the two rewards. The time to
extortion is the time of the smallest budget that extorts. There is no peer
in this script: no published implementation of M-FOS on the exact IPD runs
here.

Example:
    python benchmarks/mfos_ipd.py --out runs/mfos_ipd.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_facts  # noqa: E402

from detente.io import write_json  # noqa: E402
from detente.solvers.shaping.mfos import MFOSConfig, mfos_game, train_mfos_es  # noqa: E402


def reached(game: str, m: float, n: float) -> bool:
    """IPD: extortion (M-FOS > -1, naive < -2); IMP: M-FOS > 0.6."""
    return (m > -1.0 and n < -2.0) if game == "ipd" else m > 0.6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generations", default="50,100,150,200", help="budgets, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--game", choices=("ipd", "imp"), default="ipd")
    ap.add_argument("--lr", type=float, default=0.1, help="the ES mean's Adam step size")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args(argv)
    facts = machine_facts()
    print(f"machine: {facts['cpu_count']} CPUs, {facts.get('cpu', '')}; {facts['date']}")
    game = mfos_game(args.game)
    target = "extortion" if args.game == "ipd" else "above 0.6"
    rows, first_extortion = [], None
    for g in [int(x) for x in args.generations.split(",")]:
        config = MFOSConfig(
            generations=g, population_size=32, opponents=8, eval_opponents=64, sigma=0.1, lr=args.lr
        )
        key = jax.random.PRNGKey(args.seed)
        t0 = time.perf_counter()
        res = jax.block_until_ready(train_mfos_es(key, game, config))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(train_mfos_es(key, game, config))
        steady = time.perf_counter() - t0
        m, n = (float(x) for x in np.asarray(res.final_mean_rewards))
        extorts = reached(args.game, m, n)
        rows.append(
            {"generations": g, "first_call_s": first, "steady_s": steady, "mfos": m, "naive": n}
            | {"extorts": extorts}
        )
        print(
            f"  {g:4d} generations: first call {first:6.1f} s, compiled {steady:6.1f} s;"
            f" M-FOS {m:+.3f}, naive {n:+.3f} per step -> {target if extorts else 'not yet'}",
            flush=True,
        )
        if extorts and first_extortion is None:
            first_extortion = rows[-1]
    if first_extortion:
        print(
            f"time to {target}: {first_extortion['generations']} generations,"
            f" {first_extortion['first_call_s']:.1f} s with compilation,"
            f" {first_extortion['steady_s']:.1f} s compiled"
        )
    else:
        print(f"no budget reached {target}")
    if args.out:
        write_json(
            args.out,
            {
                "benchmark": f"M-FOS-ES vs exact naive learner, {args.game}: wall time to target",
                "game": args.game,
                "lr": args.lr,
                "command": " ".join([Path(sys.executable).name] + sys.argv),
                "machine": facts,
                "runs": rows,
                "first_extortion": first_extortion,
            },
        )
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
