"""LOLA on exact iterated matching pennies (Foerster et al. 2018, Sec. 4.1).

Reproduces the exact-value iterated matching pennies (IMP) result of "Learning
with Opponent-Learning Awareness" (Foerster, Chen, Al-Shedivat, Whiteson,
Abbeel, Mordatch, AAMAS 2018, https://arxiv.org/abs/1709.04326): two LOLA
learners converge near the Nash equilibrium, P(heads) = 1/2 in all five
states, while two naive learners cycle around it.

Setting, as in the paper and LOLA's code (alshedivat/lola, ``lola/train_exact.py``
with ``scripts/run_lola.py`` defaults): player 1's payoffs ``[[1, -1], [-1, 1]]``
(heads = action 0), zero-sum, gamma 0.9 (``make_differentiable("imp")``), five
logits per player (start, CC, CD, DC, DD in its own view, C = heads) drawn from
N(0, 1), 200 simultaneous steps of size 1 and look-ahead 1 on the exact
discounted value, with LOLA's shaping term only (``lola``).

A run counts as "at the Nash" when all ten probabilities (both players, five
states) are within 0.05 of 1/2 at the last step.

Budget: the default is 64 seeds; ``--full`` runs 100, the number of independent
runs of LOLA's released exact-value script (2 trials x 50 episodes). The
paper's text as available to us does not state the count.

Usage:
    python paper_figures/lola_imp.py [--full] [--out DIR] [--seed N] [--seeds S] [--steps T]
"""

from __future__ import annotations

import time

import _common
import jax
import numpy as np

from detente.analysis import paper_plots
from detente.games import make_differentiable
from detente.solvers import DynamicsConfig, simulate

NAME = "lola_imp"
PAPER = {
    "title": "Learning with Opponent-Learning Awareness",
    "authors": "Foerster, Chen, Al-Shedivat, Whiteson, Abbeel, Mordatch",
    "venue": "AAMAS 2018",
    "url": "https://arxiv.org/abs/1709.04326",
    "result": "Sec. 4.1: exact-value iterated matching pennies, NL-Ex and LOLA-Ex",
}
DEFAULT = _common.Budget(seeds=64, steps=200)
FULL = _common.Budget(seeds=100, steps=200)
FULL_NOTE = "LOLA's exact-value script runs 2 trials x 50 episodes"
LR, LOOKAHEAD = 1.0, 1.0
PAIRINGS = (("naive", "naive"), ("lola", "lola"))
NASH = 0.5
RADIUS = 0.05  # "at the Nash": every probability within this of 1/2
TAIL = 0.1  # fraction of the run over which movement is measured
REFERENCE = {
    "lola,lola": "converges to the Nash equilibrium: P(heads) near 0.5 in all five states",
    "naive,naive": "does not converge: the policies cycle around the equilibrium",
    "radius": RADIUS,
}
LOLA_MIN_FRACTION = 0.8  # pass: at least this fraction of LOLA runs at the Nash
NAIVE_MAX_FRACTION = 0.1  # pass: at most this fraction of naive runs at the Nash
CYCLE_MIN_MOVE = 0.05  # pass: naive policies still move this much over the tail


def run(budget: _common.Budget, seed: int):
    """Run both pairings; returns ``(game, {pairing: numpy Trajectory})``."""
    game = make_differentiable("imp")
    trajs = simulate(
        game,
        PAIRINGS,
        num_seeds=budget.seeds,
        grid={"lr": [LR], "lookahead": [LOOKAHEAD]},
        config=DynamicsConfig(steps=budget.steps),
        seed=seed,
    )
    return game, jax.tree_util.tree_map(np.asarray, trajs)


def heads_probabilities(game, tr) -> np.ndarray:
    """``[S, R, N, 5]`` P(heads) per seed, record, player and own-view state."""
    policies = jax.vmap(jax.vmap(lambda *th: game.policies(th)))
    probs = policies(*(t[0] for t in tr.thetas))
    return np.stack([np.asarray(p) for p in probs], axis=2)


def analyse(game, trajs) -> tuple[dict, dict]:
    """Per pairing: distance to the Nash, fraction of runs at it, late movement.

    Returns:
        ``(pairs, arrays)``: JSON-ready numbers per pairing and the arrays to save.
    """
    pairs, arrays = {}, {}
    for pairing in PAIRINGS:
        tr = trajs[pairing]
        p = heads_probabilities(game, tr)  # [S, R, N, 5]
        dev = np.abs(p - NASH).max(axis=(2, 3))  # [S, R]
        records = p.shape[1]
        back = max(1, int(round(TAIL * (records - 1))))
        tail = p[:, -1 - back :]
        moved = np.abs(tail - tail[:, -1:]).max(axis=(1, 2, 3))  # [S]
        label = ",".join(pairing)
        pairs[label] = {
            "learners": list(pairing),
            "at_nash_fraction": float((dev[:, -1] <= RADIUS).mean()),
            "max_deviation_median": float(np.median(dev[:, -1])),
            "max_deviation_mean": float(dev[:, -1].mean()),
            "p_heads_mean": p[:, -1].mean(0),  # [N, 5]
            "p_heads_std": p[:, -1].std(0),
            "tail_movement_median": float(np.median(moved)),
            "per_step_reward": tr.rewards[0, :, -1].mean(0),
            "diverged_seeds": int((tr.diverged_at[0] >= 0).sum()),
        }
        arrays[f"{label}/p_heads"] = p
        arrays[f"{label}/max_deviation"] = dev
        arrays[f"{label}/diverged_at"] = tr.diverged_at[0]
    return pairs, arrays


def compare(pairs: dict) -> list[_common.Check]:
    """Our numbers against the paper's claims."""
    lola, nl = pairs["lola,lola"], pairs["naive,naive"]
    return [
        _common.claim_check(
            "LOLA vs LOLA runs at the Nash",
            "converge to Nash",
            f"{100 * lola['at_nash_fraction']:.0f}%",
            lola["at_nash_fraction"] >= LOLA_MIN_FRACTION,
            f">= {100 * LOLA_MIN_FRACTION:.0f}% with all |p - 1/2| <= {RADIUS}",
        ),
        _common.claim_check(
            "LOLA vs LOLA mean P(heads)",
            "0.50 (Nash)",
            f"{np.min(lola['p_heads_mean']):.3f}..{np.max(lola['p_heads_mean']):.3f}",
            np.all(np.abs(np.asarray(lola["p_heads_mean"]) - NASH) <= RADIUS),
            f"every mean within {RADIUS} of 1/2",
        ),
        _common.claim_check(
            "NL vs NL runs at the Nash",
            "do not converge",
            f"{100 * nl['at_nash_fraction']:.0f}%",
            nl["at_nash_fraction"] <= NAIVE_MAX_FRACTION,
            f"<= {100 * NAIVE_MAX_FRACTION:.0f}%",
        ),
        _common.claim_check(
            "NL vs NL late movement (median)",
            "cycle",
            f"{nl['tail_movement_median']:.2f}",
            nl["tail_movement_median"] >= CYCLE_MIN_MOVE,
            f"max |p_t - p_T| over the last {100 * TAIL:.0f}% of steps >= {CYCLE_MIN_MOVE}",
        ),
    ]


def print_details(pairs: dict, labels) -> None:
    print(f"{'pairing':<12}{'player':>7}  mean final P(heads) " + " ".join(labels))
    for label, e in pairs.items():
        for i in range(2):
            ph = " ".join(
                f"{x:.2f}".rjust(len(n)) for x, n in zip(e["p_heads_mean"][i], labels, strict=True)
            )
            print(f"{label if i == 0 else '':<12}{i + 1:>7}  {'':19} {ph}")
        print(
            f"{'':<12}at the Nash {100 * e['at_nash_fraction']:.0f}%, median max|p - 1/2| "
            f"{e['max_deviation_median']:.3f}, late movement {e['tail_movement_median']:.3f}, "
            f"{e['diverged_seeds']} diverged"
        )


def draw(path, arrays: dict, num_phase: int = 4) -> None:
    """Phase plots of P(heads | start) for NL and LOLA, and the convergence curves."""
    fig, axes = paper_plots.figure(1, 4, panel_size=(4.2, 3.8))
    names = {"naive,naive": "NL vs NL", "lola,lola": "LOLA vs LOLA"}
    for ax, (label, name) in zip(axes[:2], names.items(), strict=True):
        p = arrays[f"{label}/p_heads"][:num_phase]  # [K, R, N, 5]
        paper_plots.trajectory_panel(
            ax,
            p[:, :, 0, 0],
            p[:, :, 1, 0],
            target=(NASH, NASH),
            xlabel="player 1 P(heads | start)",
            ylabel="player 2 P(heads | start)",
            title=f"{name}: {p.shape[0]} seeds",
        )
    paper_plots.mean_band(
        axes[2],
        {name: arrays[f"{label}/max_deviation"] for label, name in names.items()},
        band="quartiles",
        refs={f"radius {RADIUS}": RADIUS},
        ylabel="max over 10 probabilities of |p - 1/2|",
        title="distance to the Nash (median, quartiles)",
    )
    axes[2].set_yscale("log")
    for label, name in names.items():
        frac = (arrays[f"{label}/max_deviation"] <= RADIUS).mean(0)
        axes[3].plot(np.arange(frac.shape[0]), frac, label=name)
    axes[3].set_ylim(-0.02, 1.02)
    axes[3].set_xlabel("step")
    axes[3].set_ylabel(f"fraction of seeds within {RADIUS} of 1/2")
    axes[3].set_title("runs at the Nash")
    axes[3].legend(fontsize=7)
    paper_plots.save(fig, path)


def main(argv=None) -> dict:
    parser = _common.make_parser(
        NAME, __doc__.splitlines()[0], default=DEFAULT, full=FULL, full_note=FULL_NOTE
    )
    args = parser.parse_args(argv)
    budget = _common.resolve_budget(args, DEFAULT, FULL)
    print(
        f"{NAME}: exact IMP (gamma 0.9), lr {LR}, look-ahead {LOOKAHEAD}, "
        f"{budget.seeds} seeds x {budget.steps} steps",
        flush=True,
    )
    t0 = time.perf_counter()
    game, trajs = run(budget, args.seed)
    seconds = time.perf_counter() - t0
    labels = game.policy_labels
    pairs, arrays = analyse(game, trajs)
    checks = compare(pairs)
    print_details(pairs, labels)
    _common.print_table(f"{PAPER['result']} ({budget.seeds} seeds, {seconds:.0f} s)", checks)
    ours = {"state_labels": list(labels), "pairings": pairs}
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, seconds)
    config = _common.run_config(
        NAME,
        argv,
        args,
        budget,
        game="imp",
        game_name=game.name,
        payoffs="player 1 [[1, -1], [-1, 1]], zero-sum; heads = action 0",
        gamma=0.9,
        pairings=[list(p) for p in PAIRINGS],
        lr=LR,
        lookahead=LOOKAHEAD,
        init_std=1.0,
        radius=RADIUS,
    )
    _common.write_outputs(
        args.out, summary, config, arrays, lambda path: draw(path, arrays), "lola_imp.png"
    )
    return summary


if __name__ == "__main__":
    main()
