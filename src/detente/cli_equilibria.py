"""``detente equilibria GAME_OR_NFG_FILE``: every equilibrium of a normal-form game.

Two-player games: all Nash equilibria (the extreme points of every component,
by vertex enumeration). Games with more players: the pure equilibria. Each
equilibrium is printed with its payoffs, welfare and NashConv;
``DIR/summary.json`` holds ``equilibria`` (per-player mixed strategies),
``payoffs`` and ``welfare`` (one entry per equilibrium), plus the price of
anarchy and of stability where they are defined.
"""

from __future__ import annotations

import os
from pathlib import Path

from detente._checks import bad_value, check_finite


def add_parser(sub) -> None:
    p = sub.add_parser(
        "equilibria",
        help="all Nash equilibria of a zoo game or a Gambit .nfg file",
        description="Every Nash equilibrium of a normal-form game: all extreme equilibria "
        "of a two-player game, the pure equilibria of a game with more players.",
    )
    p.add_argument("game", nargs="?", help="zoo game name (see --list) or path to a .nfg file")
    p.add_argument("--list", action="store_true", help="list the zoo games, then exit")
    p.add_argument("--tol", default="1e-9", help="tolerance of the best-response tests")
    p.add_argument("--out", default=None, help="output folder (default runs/equilibria-GAME)")


def list_games() -> str:
    from detente.games import NORMAL_FORM_GAMES

    lines = ["normal-form games (or pass a Gambit .nfg file):"]
    for name, make in sorted(NORMAL_FORM_GAMES.items()):
        g = make()
        lines.append(f"  {name:<28} {'x'.join(map(str, g.num_actions)):<8} {g.name}")
    return "\n".join(lines)


def _load_game(text: str):
    from detente.games import NORMAL_FORM_GAMES, make_normal_form, read_nfg

    if text.endswith(".nfg") or os.sep in text or os.path.isfile(text):
        if not os.path.isfile(text):
            raise bad_value("game", text, "a zoo game name or the path of an existing .nfg file")
        return read_nfg(text), Path(text).stem
    if text not in NORMAL_FORM_GAMES:
        raise bad_value(
            "game", text, "a .nfg file or one of " + ", ".join(sorted(NORMAL_FORM_GAMES))
        )
    return make_normal_form(text), text


def run(args) -> int:
    import jax

    if args.game is None:
        raise bad_value("game", None, "a zoo game name or a .nfg file (see --list)")
    tol = check_finite("--tol", args.tol, low=0.0, low_inclusive=False)
    with jax.enable_x64(True):
        game, stem = _load_game(args.game)
        out = Path(args.out or f"runs/equilibria-{stem}")
        if out.exists() and not out.is_dir():
            raise bad_value("--out", str(out), "a folder path (a file of that name exists)")
        summary = solve(game, tol)
    summary["game"] = args.game
    _print(summary)

    from detente.io import write_json, write_output_dir

    path = write_output_dir(out, lambda tmp: write_json(tmp / "summary.json", summary))
    print(f"wrote {path}/summary.json")
    return 0


def solve(game, tol: float) -> dict:
    """All equilibria of ``game`` with their payoffs, welfare and NashConv (host-side)."""
    import numpy as np

    from detente.solvers.equilibria import (
        expected_payoffs,
        nash_conv,
        nash_equilibria,
        price_of_anarchy,
        price_of_stability,
        pure_equilibria,
    )

    u = np.asarray(game.payoffs, dtype=np.float64)
    if game.num_players == 2:
        method = "all extreme Nash equilibria (vertex enumeration)"
        equilibria = [tuple(np.asarray(s) for s in e) for e in nash_equilibria(u, tol=tol)]
    else:
        method = "pure Nash equilibria (games with more than two players)"
        equilibria = []
        for a in pure_equilibria(u):
            equilibria.append(
                tuple(np.eye(k)[int(ai)] for k, ai in zip(game.num_actions, a, strict=True))
            )
    payoffs = [np.asarray(expected_payoffs(u, e), dtype=float) for e in equilibria]
    summary = {
        "game_name": game.name,
        "num_actions": list(game.num_actions),
        "method": method,
        "equilibria": [[np.asarray(s, dtype=float) for s in e] for e in equilibria],
        "payoffs": payoffs,
        "welfare": [float(p.sum()) for p in payoffs],
        "nash_conv": [float(nash_conv(u, e)) for e in equilibria],
        "optimal_welfare": float(u.sum(axis=0).max()),
    }
    for key, fn in (
        ("price_of_anarchy", price_of_anarchy),
        ("price_of_stability", price_of_stability),
    ):
        try:
            summary[key] = fn(u, equilibria) if equilibria else None
        except ValueError:  # undefined for non-positive welfare
            summary[key] = None
    return summary


def _fmt(v) -> str:
    return "(" + ", ".join(f"{float(x):.4g}" for x in v) + ")"


def _print(s: dict) -> None:
    print(
        f"detente equilibria {s['game']}: {s['game_name']} ({'x'.join(map(str, s['num_actions']))})"
    )
    print(f"{s['method']}: {len(s['equilibria'])} found")
    for k, (e, p, w, c) in enumerate(
        zip(s["equilibria"], s["payoffs"], s["welfare"], s["nash_conv"], strict=True)
    ):
        strategies = "  ".join(f"p{i + 1} {_fmt(x)}" for i, x in enumerate(e))
        print(f"  [{k}] {strategies}")
        print(f"      payoffs {_fmt(p)}  welfare {w:.4g}  NashConv {c:.1e}")
    extra = [f"optimal welfare {s['optimal_welfare']:.4g}"]
    for key, label in (
        ("price_of_anarchy", "price of anarchy"),
        ("price_of_stability", "price of stability"),
    ):
        if s.get(key) is not None:
            extra.append(f"{label} {s[key]:.4g}")
    print("  " + ", ".join(extra))
