"""``detente phase GAME --learners A,B``: the phase portrait of a two-parameter game.

Draws the learning rule pairing's vector field, a few trajectories and its
fixed points (marked by stability), and writes ``DIR/phase.png`` and
``DIR/summary.json`` (fixed points with Jacobian eigenvalues and labels, basin
fractions).
"""

from __future__ import annotations

from pathlib import Path

from detente._checks import bad_value, check_finite, check_positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "phase",
        help="phase portrait and fixed points of a learning rule pairing on a two-parameter game",
        description="Vector field, trajectories, fixed points and their stability, and basins "
        "of attraction of a pairing of learning rules on a game with one parameter per player.",
    )
    p.add_argument(
        "game", help="a two-parameter differentiable game, e.g. matching_pennies, tandem"
    )
    p.add_argument("--learners", default="naive,naive", metavar="A,B", help="one per player")
    p.add_argument("--lr", type=float, default=0.1, help="step size (default 0.1)")
    p.add_argument("--lookahead", type=float, default=1.0, help="look-ahead alpha (default 1)")
    p.add_argument("--grid", type=int, default=41, help="grid points per axis (default 41)")
    p.add_argument("--steps", type=int, default=500, help="steps of the basin runs (default 500)")
    p.add_argument("--out", default=None, help="output folder (default runs/phase-GAME-A-B)")


def run(args) -> int:
    from detente.analysis.phase import run_phase

    learners = tuple(s.strip() for s in args.learners.split(","))
    lr = check_finite("--lr", args.lr, low=0.0, low_inclusive=False)
    lookahead = check_finite("--lookahead", args.lookahead, low=0.0)
    check_positive_int("--grid", args.grid)
    check_positive_int("--steps", args.steps)
    out = Path(args.out or f"runs/phase-{args.game}-{'-'.join(learners)}")
    if out.exists() and not out.is_dir():
        raise bad_value("--out", str(out), "a folder path (a file of that name exists)")
    run_phase(
        args.game,
        learners,
        lr=lr,
        lookahead=lookahead,
        grid_size=args.grid,
        steps=args.steps,
        out=out,
        verbose=True,
    )
    return 0
