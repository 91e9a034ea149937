"""The ``detente`` command line.

* ``detente dynamics GAME`` runs pairings of learning rules on a differentiable
  game over many seeds and writes an output folder (``summary.json``,
  ``config.json``, ``trajectories.npz``, ``dynamics.png``);
* ``detente equilibria GAME_OR_NFG_FILE`` lists every equilibrium of a
  normal-form game (:mod:`detente.cli_equilibria`);
* ``detente phase GAME --learners A,B`` draws the phase portrait of a
  two-parameter game with its fixed points (:mod:`detente.cli_phase`);
* ``detente shape METHOD --game GAME --opponent LEARNER`` trains an opponent
  shaper (M-FOS, Shaper, LOLA-DiCE) with progress, checkpoints and
  ``--resume`` (:mod:`detente.cli_shape`);
* ``detente zsc train METHOD --game GAME --seeds N`` trains zero-shot-
  coordination agents (self-play, Other-Play) and their cross-play matrix;
  ``detente zsc crossplay RUN...`` compares the agents of several runs
  (:mod:`detente.cli_zsc`).

Bad input exits with status 2 and one line on stderr, and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from detente import __version__, cli_equilibria, cli_phase, cli_shape, cli_zsc
from detente._checks import bad_value, check_finite, check_positive_int

DEFAULT_PAIRINGS = ("naive,naive", "lola,lola", "lola,naive")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise _UsageError(f"{self.prog}: {message}")


def _floats(field: str, text: str) -> list[float]:
    values = []
    for part in str(text).split(","):
        values.append(check_finite(field, part.strip()))
    return values


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="detente", description="Multi-agent game theory research in JAX.")
    p.add_argument("--version", action="version", version=f"detente {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = sub.add_parser(
        "dynamics",
        help="learning dynamics of pairings of learning rules on a differentiable game",
        description="Run pairings of learning rules on a differentiable game over many seeds.",
    )
    d.add_argument("game", nargs="?", help="game name (see --list)")
    d.add_argument("--list", action="store_true", help="list the games and learners, then exit")
    d.add_argument(
        "--learners",
        action="append",
        metavar="A,B",
        help="one learner per player, comma-separated; repeat for more pairings "
        f"(default: {' '.join(DEFAULT_PAIRINGS)})",
    )
    d.add_argument("--seeds", type=int, default=256, help="random initialisations (default 256)")
    d.add_argument("--steps", type=int, default=200, help="learning steps (default 200)")
    d.add_argument("--lr", default="1.0", help="step size(s), comma-separated grid (default 1)")
    d.add_argument(
        "--lookahead",
        default=None,
        help="look-ahead rate(s) alpha, comma-separated grid (default: equal to --lr)",
    )
    d.add_argument("--init-std", type=float, default=1.0, help="init N(0, std^2) (default 1)")
    d.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    d.add_argument("--precision", default="float32", help="float32 (default) or float64")
    d.add_argument("--out", default=None, help="output folder (default runs/dynamics-GAME)")
    cli_equilibria.add_parser(sub)
    cli_phase.add_parser(sub)
    cli_shape.add_parser(sub)
    cli_zsc.add_parser(sub)
    return p


def _list_dynamics() -> str:
    from detente.games import DIFFERENTIABLE_GAMES
    from detente.solvers import LEARNING_RULES

    lines = ["games:"]
    for name, make in DIFFERENTIABLE_GAMES.items():
        lines.append(f"  {name:<20} {make().name}")
    lines.append("learners:")
    lines.append("  " + ", ".join(LEARNING_RULES))
    return "\n".join(lines)


def _validate_dynamics(args):
    """Check every input before any computation or write; returns resolved settings."""
    from detente.games import DIFFERENTIABLE_GAMES
    from detente.solvers import LEARNING_RULES

    if args.game is None:
        raise bad_value("game", None, "a game name (see `detente dynamics --list`)")
    if args.game not in DIFFERENTIABLE_GAMES:
        raise bad_value("game", args.game, "one of " + ", ".join(DIFFERENTIABLE_GAMES))
    check_positive_int("--seeds", args.seeds)
    check_positive_int("--steps", args.steps)
    if args.precision not in ("float32", "float64"):
        raise bad_value("--precision", args.precision, "float32 or float64")
    check_finite("--init-std", args.init_std, low=0.0)
    lrs = _floats("--lr", args.lr)
    las = lrs if args.lookahead is None else _floats("--lookahead", args.lookahead)
    pairings = []
    for text in args.learners or DEFAULT_PAIRINGS:
        names = tuple(n.strip() for n in text.split(","))
        for n in names:
            if n not in LEARNING_RULES:
                raise bad_value("--learners", n, "learners among " + ", ".join(LEARNING_RULES))
        pairings.append(names)
    if args.lookahead is None:
        points = [{"lr": lr, "lookahead": lr} for lr in lrs]
    else:
        points = [{"lr": lr, "lookahead": la} for lr in lrs for la in las]
    out = Path(args.out or f"runs/dynamics-{args.game}")
    if out.exists() and not out.is_dir():
        raise bad_value("--out", str(out), "a folder path (a file of that name exists)")
    return pairings, points, out


def _run_dynamics(args) -> int:
    pairings, points, out = _validate_dynamics(args)

    import jax

    if args.precision == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from detente.games import make_differentiable
    from detente.io import write_json, write_output_dir
    from detente.solvers import DynamicsConfig, converged, simulate, stack_hparams

    game = make_differentiable(args.game)
    n = game.num_players
    for names in pairings:
        if len(names) != n:
            raise bad_value("--learners", ",".join(names), f"{n} comma-separated learners")
    dtype = jnp.float64 if args.precision == "float64" else jnp.float32
    config = DynamicsConfig(steps=args.steps, init_std=args.init_std)
    hparams = stack_hparams({k: [p[k] for p in points] for k in points[0]}, dtype)
    print(
        f"detente dynamics {args.game}: {game.name}; {len(pairings)} pairing(s) x "
        f"{len(points)} grid point(s) x {args.seeds} seeds, {args.steps} steps, {args.precision}",
        flush=True,
    )
    t0 = time.perf_counter()
    trajs = simulate(
        game,
        pairings,
        num_seeds=args.seeds,
        hparams=hparams,
        config=config,
        seed=args.seed,
        dtype=dtype,
    )
    trajs = jax.tree_util.tree_map(np.asarray, trajs)
    elapsed = time.perf_counter() - t0

    summary = {
        "game": args.game,
        "game_name": game.name,
        "seeds": args.seeds,
        "steps": args.steps,
        "precision": args.precision,
        "seconds": elapsed,
        "policy_labels": list(game.policy_labels),
        "pairings": {},
    }
    arrays, curves, final_policies = {}, {}, {}
    for names in pairings:
        tr = trajs[tuple(names)]
        conv = np.asarray(converged(tr))
        for g, point in enumerate(points):
            label = ",".join(names)
            if len(points) > 1:
                label += " [" + ", ".join(f"{k}={v:g}" for k, v in point.items()) + "]"
            final = tr.rewards[g, :, -1, :]  # [S, N]
            pol = jax.vmap(lambda *th: game.policies(th))(
                *(jnp.asarray(t[g, :, -1]) for t in tr.thetas)
            )
            policy_mean = [np.asarray(p).mean(0) for p in pol]
            diverged = int((tr.diverged_at[g] >= 0).sum())
            summary["pairings"][label] = {
                "learners": list(names),
                "hparams": point,
                "mean_reward": final.mean(0),
                "std_reward": final.std(0),
                "policy_mean": policy_mean,
                "converged_fraction": float(conv[g].mean()),
                "diverged_seeds": diverged,
            }
            curves[label] = tr.rewards[g]
            final_policies[label] = np.stack(policy_mean)
            arrays[f"{label}/rewards"] = tr.rewards[g]
            for i, t in enumerate(tr.thetas):
                arrays[f"{label}/thetas_{i}"] = t[g]
            arrays[f"{label}/diverged_at"] = tr.diverged_at[g]

    _print_summary(summary, game.policy_labels)

    from detente.analysis.plots import plot_dynamics

    def write(tmp: Path):
        write_json(tmp / "summary.json", summary)
        write_json(
            tmp / "config.json",
            {
                "command": "dynamics",
                "game": args.game,
                "learners": [list(p) for p in pairings],
                "grid": points,
                "seeds": args.seeds,
                "steps": args.steps,
                "seed": args.seed,
                "init_std": args.init_std,
                "precision": args.precision,
                "version": __version__,
            },
        )
        np.savez_compressed(tmp / "trajectories.npz", **arrays)
        plot_dynamics(
            curves,
            final_policies,
            game.policy_labels,
            tmp / "dynamics.png",
            title=f"{args.game}: {game.name}",
        )

    path = write_output_dir(out, write)
    print(f"wrote {path}/ (summary.json, config.json, trajectories.npz, dynamics.png)")
    return 0


def _print_summary(summary, labels) -> None:
    for label, e in summary["pairings"].items():
        print(
            f"\n{label}   (converged {100 * e['converged_fraction']:.0f}% of seeds"
            + (f", {e['diverged_seeds']} diverged" if e["diverged_seeds"] else "")
            + ")"
        )
        print(
            f"  {'player':<8}{'final per-step reward':>24}   policy mean "
            + " ".join(f"{lab:>6}" for lab in labels)
        )
        for i, (m, s) in enumerate(zip(e["mean_reward"], e["std_reward"], strict=True)):
            pol = " ".join(f"{float(x):6.2f}" for x in e["policy_mean"][i])
            print(f"  {i + 1:<8}{float(m):>14.3f} +/- {float(s):<6.3f}   {'':>11} {pol}")


def main(argv=None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "dynamics":
            if args.list:
                print(_list_dynamics())
                return 0
            return _run_dynamics(args)
        if args.command == "equilibria":
            if args.list:
                print(cli_equilibria.list_games())
                return 0
            return cli_equilibria.run(args)
        if args.command == "phase":
            return cli_phase.run(args)
        if args.command == "shape":
            return cli_shape.run(args)
        if args.command == "zsc":
            return cli_zsc.run(args)
    except (_UsageError, ValueError) as e:
        print(f"detente: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
