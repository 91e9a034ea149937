"""Phase portraits of naive learning and LOLA on matching pennies and Tandem.

The fixed-point picture behind two claims of the opponent-shaping papers:

* one-shot matching pennies (sigmoid policies, the zoo's payoffs, player 1's
  table ``[[1, -1], [-1, 1]]``, zero-sum; ``lr = alpha = 1`` as in the SOS
  notebook): naive learners circle the mixed equilibrium (1/2, 1/2), a centre
  of the learning field with eigenvalues ``+-i/4`` (the discrete steps spiral
  out), whereas LOLA makes it attracting, eigenvalues ``-alpha/16 +- i/4``
  (Foerster et al. 2018, "Learning with Opponent-Learning Awareness",
  https://arxiv.org/abs/1709.04326, Sec. 4.1; Letcher et al. 2019, "Stable
  Opponent Shaping in Differentiable Games", https://arxiv.org/abs/1811.08469,
  Sec. 6);
* Tandem (``L1 = (x+y)^2 - 2x``, ``L2 = (x+y)^2 - 2y``, ``lr = alpha = 0.1``):
  naive learning's fixed points are the line ``x + y = 1`` (eigenvalues 0
  along it, -4 across it), and LOLA moves them off it, to ``x + y = 1 / (1 -
  2 alpha) = 1.25`` in LOLA's code form (``lola``), eigenvalues 0 and ``-4 (1 -
  2 alpha)`` (Letcher et al. 2019, Sec. 5: LOLA does not preserve the game's
  fixed points; their form of LOLA overshoots to 4/3, see ``sos_tandem.py``).

Both players use the same rule. The expected values are closed forms derived
in ``tests/test_analysis_stability.py``. For each game and rule the script
finds the fixed points in the plotted box (Levenberg-Marquardt from a grid of
starts, :func:`detente.analysis.stability.find_fixed_points`), labels them
from the field's Jacobian, runs the learning map from every grid point
(basins) and from four starts (trajectories), and draws the field's
streamlines with the fixed points marked by stability.

Budget: the default is a 15 x 15 grid and 200 learning steps (seconds);
``--full`` a 41 x 41 grid and 1000 steps, finer fixed-point starts (21 x 21).

Usage:
    python paper_figures/phase_portraits.py [--full] [--out DIR] [--grid N] [--steps T]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import _common
import jax
import numpy as np

from detente import __version__
from detente.analysis import paper_plots
from detente.analysis.phase import phase_analysis, phase_summary
from detente.analysis.phase_plot import plot_phase_portrait
from detente.games import make_differentiable
from detente.io import write_json, write_output_dir
from detente.solvers.dynamics import DynamicsHParams

NAME = "phase_portraits"
PAPER = {
    "title": "Stable Opponent Shaping in Differentiable Games",
    "authors": "Letcher, Foerster, Balduzzi, Rocktaeschel, Whiteson",
    "venue": "ICLR 2019",
    "url": "https://arxiv.org/abs/1811.08469",
    "result": "Sec. 5-6: naive learning and LOLA on matching pennies and Tandem "
    "(with Foerster et al. 2018, LOLA, Sec. 4.1)",
}
GAMES = {  # settings per game: step size, look-ahead, plotted coordinates and box
    "matching_pennies": {"lr": 1.0, "lookahead": 1.0, "space": "policy", "bounds": (0.02, 0.98)},
    "tandem": {"lr": 0.1, "lookahead": 0.1, "space": "params", "bounds": (-2.0, 3.0)},
}
RULES = ("naive", "lola")
DEFAULT = {"grid_size": 15, "steps": 200, "fixed_point_grid": 9}
FULL = {"grid_size": 41, "steps": 1000, "fixed_point_grid": 21}
TOL = 1e-4  # eigenvalues and fixed-line positions, float32
REFERENCE = {
    "matching_pennies,naive": "one fixed point (1/2, 1/2), a centre: eigenvalues +-i/4; "
    "naive learners cycle",
    "matching_pennies,lola": "(1/2, 1/2) attracting: eigenvalues -alpha/16 +- i/4",
    "tandem,naive": "fixed points x + y = 1, eigenvalues 0 and -4",
    "tandem,lola": "fixed points x + y = 1/(1 - 2 alpha) = 1.25, eigenvalues 0 and -3.2",
}


def parse(argv):
    p = argparse.ArgumentParser(prog=f"{NAME}.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=f"runs/{NAME}", help=f"output folder (default runs/{NAME})")
    p.add_argument(
        "--full",
        action="store_true",
        help=f"finer grid: {FULL['grid_size']}^2 points, {FULL['steps']} steps "
        f"(default {DEFAULT['grid_size']}^2, {DEFAULT['steps']})",
    )
    p.add_argument("--grid", type=int, default=None, help="override the grid points per axis")
    p.add_argument("--steps", type=int, default=None, help="override the learning steps")
    args = p.parse_args(argv)
    budget = dict(FULL if args.full else DEFAULT)
    if args.grid is not None:
        budget["grid_size"] = args.grid
    if args.steps is not None:
        budget["steps"] = args.steps
    if budget["grid_size"] < 2:
        raise SystemExit(f"--grid={budget['grid_size']} is not allowed: expected an integer >= 2")
    if budget["steps"] < 1:
        raise SystemExit(f"--steps={budget['steps']} is not allowed: expected a positive integer")
    return args, budget


def run(budget: dict) -> dict:
    """``{(game, rule): (game object, analysis dict, summary dict)}``."""
    out = {}
    for key, s in GAMES.items():
        game = make_differentiable(key)
        hp = DynamicsHParams(lr=s["lr"], lookahead=s["lookahead"])
        for rule in RULES:
            analysis = phase_analysis(
                game,
                (rule, rule),
                hp,
                bounds=s["bounds"],
                grid_size=budget["grid_size"],
                steps=budget["steps"],
                space=s["space"],
                fixed_point_grid=budget["fixed_point_grid"],
            )
            out[key, rule] = (
                game,
                analysis,
                phase_summary(game, (rule, rule), hp, analysis, s["space"]),
            )
    return out


def _eigs(fp) -> np.ndarray:
    return np.asarray(fp.eigenvalues)


def _complex(z: complex) -> str:
    """``a+bi`` with 4 decimals and no sign on a part that prints as zero."""
    re = _common._show("{:.4f}", z.real)
    im = _common._show("{:.4f}", abs(z.imag))
    sign = "-" if z.imag < 0 and float(im) != 0 else "+"
    return f"{re}{sign}{im}i"


def _complexes(zs) -> str:
    return "[" + ", ".join(_complex(z) for z in zs) + "]"


def compare(results: dict) -> list[_common.Check]:
    """Our fixed points against the closed forms."""
    checks = []
    c = 0.25
    for rule in RULES:
        _, analysis, _ = results["matching_pennies", rule]
        fps = analysis["fixed_points"]
        alpha = GAMES["matching_pennies"]["lookahead"]
        re = 0.0 if rule == "naive" else -alpha * c**2
        want = np.array([re - 1j * c, re + 1j * c])
        label = "neutral" if rule == "naive" else "stable"
        ok = (
            len(fps) == 1
            and np.allclose(fps[0].theta, 0.0, atol=TOL)
            and np.allclose(_eigs(fps[0]), want, atol=TOL)
            and fps[0].label == label
        )
        shown = ", ".join(f"{fp.label} {_complexes(_eigs(fp))}" for fp in fps) or "none"
        checks.append(
            _common.claim_check(
                f"MP {rule}: fixed points, eigenvalues",
                f"(1/2, 1/2) {label}, {_complexes(want)}",
                shown,
                ok,
                f"one fixed point, at logits 0, eigenvalues within {TOL:g}",
            )
        )
    alpha = GAMES["tandem"]["lookahead"]
    for rule, line, nonzero in (
        ("naive", 1.0, -4.0),
        ("lola", 1 / (1 - 2 * alpha), -4.0 * (1 - 2 * alpha)),
    ):
        _, analysis, _ = results["tandem", rule]
        fps = analysis["fixed_points"]
        sums = np.array([fp.theta.sum() for fp in fps])
        ok = (
            len(fps) >= 2
            and np.allclose(sums, line, atol=TOL)
            and all(np.allclose(_eigs(fp), [nonzero, 0.0], atol=TOL) for fp in fps)
            and all(fp.label == "neutral" for fp in fps)
        )
        checks.append(
            _common.claim_check(
                f"Tandem {rule}: fixed line x + y, eigenvalues",
                f"{line:.4f}, [{nonzero:g}, 0]",
                f"{len(fps)} points, x + y {sums.min():.4f}..{sums.max():.4f}"
                if len(fps)
                else "none",
                ok,
                f"every fixed point on the line and eigenvalues within {TOL:g}",
            )
        )
    return checks


def print_table(results: dict) -> None:
    rows = [("game", "rule", "fixed points", "eigenvalues (first)", "radius I+lrJ", "basins")]
    for (key, rule), (_, analysis, summary) in results.items():
        fps = analysis["fixed_points"]
        counts = ", ".join(f"{n} {lab}" for lab, n in summary["label_counts"].items() if n)
        eig = _complexes(_eigs(fps[0])) if fps else "-"
        radius = f"{fps[0].spectral_radius:.4f}" if fps else "-"
        b = summary["basins"]
        basins = f"{100 * sum(b['fractions']):.0f}% reach one, {100 * b['none']:.0f}% none"
        rows.append((key, rule, counts or "none", eig, radius, basins))
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if k == 0:
            print("-+-".join("-" * w for w in widths))


def draw(path, key: str, rule: str, game, analysis: dict) -> None:
    """One phase portrait; Tandem panels also show the game's fixed line x + y = 1."""
    s = GAMES[key]
    fig, axes = paper_plots.figure(1, 1, panel_size=(5.4, 5.8))
    ax = plot_phase_portrait(
        game,
        analysis["field"],
        fixed_points=analysis["fixed_points"],
        trajectories=analysis["trajectories"],
        basins=analysis["basins"],
        title=f"{key}: {rule} vs {rule} (lr {s['lr']:g}, look-ahead {s['lookahead']:g})",
        ax=axes[0],
    )
    if key == "tandem":
        xs = np.array(ax.get_xlim())
        ax.plot(xs, 1.0 - xs, "k--", linewidth=0.9, zorder=4)
        x0 = xs[1] - 0.35 * (xs[1] - xs[0])
        ax.annotate(
            "x + y = 1",
            (x0, 1.0 - x0 + 0.3),
            fontsize=8,
            rotation=-45,
            zorder=6,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )
    paper_plots.save(fig, path)


def main(argv=None) -> dict:
    args, budget = parse(argv)
    print(
        f"{NAME}: naive and LOLA on matching pennies and Tandem, grid {budget['grid_size']}^2, "
        f"{budget['steps']} steps",
        flush=True,
    )
    t0 = time.perf_counter()
    results = run(budget)
    seconds = time.perf_counter() - t0
    print_table(results)
    checks = compare(results)
    _common.print_table(f"{PAPER['result']} ({seconds:.0f} s)", checks)
    ours = {f"{key},{rule}": summary for (key, rule), (_, _, summary) in results.items()}
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, seconds)
    config = {
        "script": f"paper_figures/{NAME}.py",
        "argv": list(sys.argv[1:] if argv is None else argv),
        "full": bool(args.full),
        **budget,
        "games": GAMES,
        "rules": list(RULES),
        "payoffs": "matching pennies: player 1 [[1, -1], [-1, 1]], zero-sum, heads = action 0; "
        "Tandem: L1 = (x+y)^2 - 2x, L2 = (x+y)^2 - 2y",
        "versions": {
            "detente": __version__,
            "jax": jax.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    arrays = {}
    for (key, rule), (_, analysis, _) in results.items():
        f, b = analysis["field"], analysis["basins"]
        arrays[f"{key}/{rule}/field_u"] = f.u
        arrays[f"{key}/{rule}/field_v"] = f.v
        arrays[f"{key}/{rule}/basin_index"] = b.index
        arrays[f"{key}/{rule}/trajectories"] = analysis["trajectories"].thetas

    def write(tmp: Path):
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "config.json", config)
        np.savez_compressed(tmp / "arrays.npz", **arrays)
        for (key, rule), (game, analysis, _) in results.items():
            draw(tmp / f"{key}_{rule}.png", key, rule, game, analysis)

    path = write_output_dir(args.out, write)
    print(f"wrote {path}/ (summary.json, config.json, arrays.npz, 4 png)")
    return summary


if __name__ == "__main__":
    main()
