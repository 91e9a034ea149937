"""Noisy zero-shot coordination: cross-play against the noise level in the noisy lever games.

"Noisy Zero-Shot Coordination: Breaking The Common Knowledge Assumption In
Zero-Shot Coordination Games" (Anwar, Pandian, Wan, Krueger, Foerster 2024,
https://arxiv.org/abs/2411.04976): each episode draws a true lever game
(three levers, payoffs around a common mean) and each agent sees it through
its own Gaussian noise; coordinating on the best lever needs conventions that
survive the partner seeing different numbers. The paper's claim, checked
here: agents trained across the noisy games (NZSC) keep more cross-play
return as the noise grows than agents trained with common knowledge of the
true payoffs and then evaluated under noise, most in the iterated game, where
agents can adapt to their partner.

Games (:func:`detente.games.noisy.noisy_lever_game`, numbers of the authors'
code): one-shot (MLP policies) and iterated over 16 rounds (GRU policies),
noise levels drawn per episode from ``{0, 1, 2, 4}`` during NZSC training.
Methods, ``S`` seeds each (:mod:`detente.solvers.zsc.nzsc`):

* ``nzsc``: Other-Play over lever permutations across the noisy games
  (:func:`~detente.solvers.zsc.nzsc.train_nzsc`);
* ``common-knowledge``: the same on the same games with every noise level 0;
* ``population``: the paper code's robust variant
  (:func:`~detente.solvers.zsc.nzsc.train_nzsc_population`): per seed,
  ``K`` self-play partners across the noisy games, then a learner trained
  against them, partners drawn ``~ score ** -power``;
* ``selfplay``: self-play across the noisy games (a reference: arbitrary
  conventions).

Evaluation (:func:`~detente.solvers.zsc.nzsc.evaluate_under_noise`): every
pair of a method's agents, both seat orders, both agents at the same noise
level ``sigma`` in ``{0, 1, 2, 4}``, greedy actions unless ``--sampled``,
next to the best achievable return (``E[max_a theta_a]`` per round) and two
agents pulling the argmax of their own view.

Checks: nothing beats the best achievable return; at zero noise NZSC and
common-knowledge agents both reach the optimum in self-play (the issue's
zero-noise agreement); NZSC ahead of common knowledge at the largest noise
level in the iterated game (the paper's claim) and in the one-shot game.

Budgets: the default is 8 seeds, 1,000 one-shot and 300 iterated updates, 4
partners per population seed; ``--full`` 16 seeds and 1,000 iterated updates;
``--quick`` a smoke test (2 seeds, 10 updates, 2 partners).

Usage:
    python paper_figures/nzsc_noise.py [--full | --quick] [--out DIR] [--seed N]
        [--seeds S] [--steps T] [--one-shot-steps T] [--episodes E] [--sampled]
"""

from __future__ import annotations

import dataclasses
import math
import time

import _common
import jax
import numpy as np

from detente.analysis import paper_plots
from detente.games.noisy import noisy_lever_game
from detente.solvers.zsc.nzsc import (
    EVAL_SIGMAS,
    evaluate_under_noise,
    nzsc_config,
    train_nzsc,
    train_nzsc_population,
)
from detente.solvers.zsc.population import PopulationConfig
from detente.solvers.zsc.selfplay import agent_params

NAME = "nzsc_noise"
PAPER = {
    "title": "Noisy Zero-Shot Coordination: Breaking The Common Knowledge Assumption In "
    "Zero-Shot Coordination Games",
    "authors": "Anwar, Pandian, Wan, Krueger, Foerster",
    "venue": "arXiv 2024",
    "url": "https://arxiv.org/abs/2411.04976",
    "result": "cross-play return against the noise level, NZSC vs common-knowledge training, "
    "one-shot and iterated noisy lever games",
}
GAMES = {"one-shot": False, "iterated": True}
GAME_NAMES = {"one-shot": "noisy-lever", "iterated": "iterated-noisy-lever"}
METHODS = ("nzsc", "common-knowledge", "population", "selfplay")
TITLES = {
    "nzsc": "NZSC (OP across noise)",
    "common-knowledge": "common knowledge",
    "population": "population (robust)",
    "selfplay": "self-play across noise",
}
REFERENCE = {
    "claim": "NZSC-trained agents keep more cross-play return than common-knowledge-trained "
    "ones as the noise grows, most in the iterated game where agents can adapt",
    "zero_noise": "with zero noise both reach the optimum (the issue's acceptance)",
    "source": "the paper's abstract and lever-game experiments; its numbers are not quoted "
    "here (no table of them was read), only the direction of the effect",
}
DEFAULT = _common.Budget(seeds=8, steps=300)
FULL = _common.Budget(seeds=16, steps=1000)
QUICK = _common.Budget(seeds=2, steps=10)
ONE_SHOT_STEPS = {"quick": 10, "default": 1000, "full": 1000}
POPULATION = {"quick": 2, "default": 4, "full": 4}
POWER = 1.0
EPISODES = {"quick": 4, "default": 256, "full": 512}
ORACLE = {"quick": 1000, "default": 100_000, "full": 100_000}
FAST = {"xla_backend_optimization_level": 1}


def game_config(game: str, updates: int):
    """The game's default IPPO config with ``updates`` PPO updates (every method uses it)."""
    return dataclasses.replace(nzsc_config(GAME_NAMES[game], "other-play"), num_updates=updates)


def train(method: str, config, keys, env, params, k: int) -> dict:
    """``{"params": [S, ...], "reward": [S, U]}`` of one method on one game."""
    if method == "population":
        phases = math.gcd(config.num_updates, 10)
        states, out = train_nzsc_population(
            keys,
            env,
            config,
            params,
            population_size=k,
            population=PopulationConfig(phases=phases, power=POWER),
            compiler_options=FAST,
        )
        return {
            "params": agent_params(states),
            "reward": np.asarray(out["metrics"]["reward_0"], np.float64),
            "scores": np.asarray(out["scores"], np.float64),
            "probs": np.asarray(out["probs"], np.float64),
        }
    states, metrics = train_nzsc(
        keys,
        env,
        config,
        params,
        method="selfplay" if method == "selfplay" else "other-play",
        common_knowledge=method == "common-knowledge",
        compiler_options=FAST,
    )
    return {"params": agent_params(states), "reward": np.asarray(metrics["reward_0"], np.float64)}


def analyse(evals: dict, runs: dict) -> dict:
    """JSON-ready numbers per game and method."""
    ours: dict = {}
    for game, per in evals.items():
        any_ev = next(iter(per.values()))
        ours[game] = {
            "sigmas": any_ev.sigmas.tolist(),
            "rounds": any_ev.rounds,
            "best": any_ev.best.tolist(),
            "best_sem": any_ev.best_sem.tolist(),
            "greedy_views": any_ev.greedy.tolist(),
            "greedy_views_sem": any_ev.greedy_sem.tolist(),
            "methods": {},
        }
        for m, ev in per.items():
            r = runs[game][m]["reward"]
            tail = max(1, r.shape[1] // 10)
            ours[game]["methods"][m] = {
                "cross_play": ev.cross_play.tolist(),
                "cross_play_sem": ev.cross_play_sem.tolist(),
                "self_play": ev.self_play.tolist(),
                "self_play_sem": ev.self_play_sem.tolist(),
                "final_train_reward_per_step": float(r[:, -tail:].mean()),
            }
    return ours


def _gap(a: dict, b: dict, i: int) -> tuple[float, float]:
    d = a["cross_play"][i] - b["cross_play"][i]
    return d, math.sqrt(a["cross_play_sem"][i] ** 2 + b["cross_play_sem"][i] ** 2)


def compare(ours: dict) -> list[_common.Check]:
    checks = []
    for game, g in ours.items():
        best, best_sem, meth = np.array(g["best"]), np.array(g["best_sem"]), g["methods"]
        over = [
            (m, i)
            for m, e in meth.items()
            for i in range(len(best))
            for part in ("cross_play", "self_play")
            if e[part][i] > best[i] + 3 * (e[f"{part}_sem"][i] + best_sem[i]) + 1e-6
        ]
        checks.append(
            _common.claim_check(
                f"{game}: no method above the best achievable return",
                "E[max_a theta_a] per round bounds every return",
                "none above" if not over else f"{len(over)} above: {over[:3]}",
                not over,
                "mean <= best + 3 (sem + best sem)",
            )
        )
        i0 = g["sigmas"].index(0.0) if 0.0 in g["sigmas"] else None
        if i0 is not None:
            sp = [meth[m]["self_play"][i0] for m in ("nzsc", "common-knowledge")]
            tol = 0.05 * best[i0]
            checks.append(
                _common.claim_check(
                    f"{game}: zero noise, NZSC and common-knowledge self-play at the optimum",
                    f"both {best[i0]:.2f}",
                    f"NZSC {sp[0]:.2f}, CK {sp[1]:.2f}",
                    bool(all(abs(x - best[i0]) <= tol for x in sp)),
                    f"within 5 % of the best ({tol:.2f})",
                )
            )
        top = int(np.argmax(g["sigmas"]))
        d, sem = _gap(meth["nzsc"], meth["common-knowledge"], top)
        checks.append(
            _common.claim_check(
                f"{game}: NZSC cross-play above common knowledge at sigma {g['sigmas'][top]:g}",
                "NZSC ahead as noise grows",
                f"NZSC - CK = {d:+.2f} +- {sem:.2f}",
                bool(d > 2 * sem),
                "difference > 2 sem",
            )
        )
    return checks


def print_details(ours: dict) -> None:
    for game, g in ours.items():
        print(f"\n{game} (cross-play / self-play per episode, mean +- sem over pairs / agents):")
        head = "".join(f"  sigma {s:<10g}" for s in g["sigmas"])
        print(f"  {'':24s}{head}")
        for m, e in g["methods"].items():
            cells = "".join(
                f"  {x:6.2f} +- {s:5.2f}"
                for x, s in zip(e["cross_play"], e["cross_play_sem"], strict=True)
            )
            print(f"  {TITLES[m]:24s}{cells}")
        print(f"  {'best achievable':24s}" + "".join(f"  {x:15.2f}" for x in g["best"]))
        print(f"  {'argmax of own view':24s}" + "".join(f"  {x:15.2f}" for x in g["greedy_views"]))


def draw(path, ours: dict) -> None:
    fig, axes = paper_plots.figure(1, len(ours), panel_size=(5.0, 4.0))
    for ax, (game, g) in zip(np.atleast_1d(axes), ours.items(), strict=True):
        x = np.asarray(g["sigmas"])
        for m, e in g["methods"].items():
            ax.errorbar(
                x, e["cross_play"], yerr=e["cross_play_sem"], marker="o", capsize=3, label=TITLES[m]
            )
        ax.plot(x, g["best"], "k--", lw=1, label="best achievable")
        ax.plot(x, g["greedy_views"], "k:", lw=1, label="argmax of own view")
        ax.set(
            xlabel="noise level sigma (both agents)",
            ylabel="cross-play return per episode",
            title=f"{game} noisy lever game",
        )
        ax.legend(fontsize=7)
    paper_plots.save(fig, path)


def main(argv=None) -> dict:
    parser = _common.make_parser(
        NAME,
        __doc__.splitlines()[0],
        default=DEFAULT,
        full=FULL,
        full_note="more seeds, the iterated game trained longer",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 seeds, 10 updates")
    parser.add_argument("--one-shot-steps", type=int, default=None, help="one-shot PPO updates")
    parser.add_argument("--episodes", type=int, default=None, help="episodes per pair and order")
    parser.add_argument("--sampled", action="store_true", help="sample actions in evaluation")
    parser.add_argument(
        "--games",
        default="one-shot,iterated",
        help="comma-separated games to run (default one-shot,iterated)",
    )
    args = parser.parse_args(argv)
    if args.quick and args.full:
        raise SystemExit("--quick and --full exclude each other")
    level = "quick" if args.quick else "full" if args.full else "default"
    base = {"quick": QUICK, "default": DEFAULT, "full": FULL}[level]
    budget = _common.resolve_budget(args, base, base)
    if budget.seeds < 2:
        raise SystemExit(f"--seeds={budget.seeds} is not allowed: expected an integer >= 2")
    one_shot = ONE_SHOT_STEPS[level] if args.one_shot_steps is None else args.one_shot_steps
    episodes = EPISODES[level] if args.episodes is None else args.episodes
    for name, v in (("--one-shot-steps", one_shot), ("--episodes", episodes)):
        if v < 1:
            raise SystemExit(f"{name}={v} is not allowed: expected a positive integer")
    games = [g.strip() for g in args.games.split(",") if g.strip()]
    if not games or any(g not in GAMES for g in games):
        raise SystemExit(
            f"--games={args.games!r} is not allowed: expected names from {list(GAMES)}"
        )
    k, s = POPULATION[level], budget.seeds
    updates = {"one-shot": one_shot, "iterated": budget.steps}
    print(
        f"{NAME}: {s} seeds per method; one-shot {one_shot} and iterated {budget.steps} updates; "
        f"{k} partners per population seed; {episodes} episodes per pair and order",
        flush=True,
    )
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(args.seed)
    runs, evals, seconds = {}, {}, {}
    for gi, (game, iterated) in enumerate(GAMES.items()):
        if game not in games:
            continue
        env, params = noisy_lever_game(iterated, sigma_levels=EVAL_SIGMAS)
        cfg = game_config(game, updates[game])
        runs[game], evals[game] = {}, {}
        for mi, m in enumerate(METHODS):
            t = time.perf_counter()
            keys = jax.random.split(jax.random.fold_in(key, 10 * gi + mi), s)
            runs[game][m] = train(m, cfg, keys, env, params, k)
            evals[game][m] = evaluate_under_noise(
                env,
                cfg.network,
                runs[game][m]["params"],
                jax.random.fold_in(key, 100 + gi),
                params,
                num_episodes=episodes,
                oracle_samples=ORACLE[level],
                greedy=not args.sampled,
            )
            seconds[f"{game}/{m}"] = time.perf_counter() - t
            print(f"  {game} {m}: {seconds[f'{game}/{m}']:.0f} s", flush=True)
    total = time.perf_counter() - t0
    ours = analyse(evals, runs)
    ours["seconds"] = seconds
    games_only = {g: ours[g] for g in games}
    checks = compare(games_only)
    print_details(games_only)
    _common.print_table(f"{PAPER['result']} ({s} seeds per method, {total:.0f} s)", checks)
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, total)
    config = _common.run_config(
        NAME,
        argv,
        args,
        budget,
        level=level,
        updates=updates,
        games=games,
        ippo={g: dataclasses.asdict(game_config(g, updates[g])) for g in games},
        population={"partners": k, "power": POWER, "phases": "gcd(updates, 10)"},
        evaluation={
            "sigmas": list(EVAL_SIGMAS),
            "episodes_per_pair_and_order": episodes,
            "actions": "sampled" if args.sampled else "greedy",
            "oracle_samples": ORACLE[level],
        },
        seed_keys="split(fold_in(PRNGKey(seed), 10 g + m), seeds) for game g and method m; "
        "fold_in(.., 100 + g) the evaluation",
    )
    arrays = {}
    for game in games:
        for m in METHODS:
            arrays[f"{game}/{m}/returns"] = evals[game][m].returns
            arrays[f"{game}/{m}/reward"] = runs[game][m]["reward"]
            for extra in ("scores", "probs"):
                if extra in runs[game][m]:
                    arrays[f"{game}/{m}/{extra}"] = runs[game][m][extra]
    _common.write_outputs(
        args.out, summary, config, arrays, lambda p: draw(p, games_only), f"{NAME}.png"
    )
    return summary


if __name__ == "__main__":
    main()
