"""Self-play vs Other-Play in the lever game: training, learned levers, cross-play (Hu et al. 2020).

Reproduces, with the library's trainers, the lever-game experiment of
"'Other-Play' for Zero-Shot Coordination" (Hu, Lerer, Peysakhovich, Foerster,
ICML 2020, https://arxiv.org/abs/2003.02979, Sec. 6.1; the game is the
paper's Fig. 1): two players each pull one of ten levers and both get the
lever's payoff if they pull the same one, nothing otherwise; nine levers pay
1.0 and one pays 0.9 (:class:`detente.games.coordination.LeverGame`, default
payoffs, the 0.9 lever is lever 9). The paper's claims:

* **Self-play** (SP) agents each settle on one of the nine 1.0-levers, an
  arbitrary convention: 1.0 with themselves, but two independently trained
  agents meet on the same lever with probability 1/9, so their expected
  cross-play is 1/9.
* **Other-Play** (OP) trains against a partner whose levers are relabelled by
  a uniformly random payoff-preserving permutation every episode; the only
  lever no relabelling moves is the 0.9 one, so OP agents all pick it: 0.9
  in self-play and in cross-play.

``S`` SP and ``S`` OP agents are trained (:func:`detente.solvers.zsc.selfplay.train_selfplay`,
:func:`detente.solvers.zsc.other_play.train_other_play`, one compiled program
per method, vmapped over seeds) at the default IPPO budgets of
:func:`detente.solvers.zsc.configs.zsc_config` (both an MLP with one hidden
layer of 16 on the constant observation; Other-Play with an entropy bonus,
see that module for why). Then all ``2S`` agents play ONE ``2S x 2S``
cross-play matrix (:func:`detente.analysis.crossplay.crossplay`, every ordered
pair in both seat orders, sampled actions, one compiled program). Reported
per method: self-play (the diagonal of the method's block) and cross-play
(its off-diagonal cells) with standard errors, SP-vs-OP cross-play, the
fraction of OP seeds on the 0.9 lever and of SP seeds on a 1.0 lever, and the
closed forms (:func:`detente.games.coordination.reference_values`: SP 1.0,
XP 1/9, OP 0.9). Because the one-shot game's value is bilinear in the two
policies, the exact matrix ``J(p_i, p_j) = sum_a p_i(a) p_j(a) payoff(a)``
(:func:`detente.games.coordination.lever_value`) is computed too and the
sampled matrix is compared with it.

The SP cross-play check is only meaningful with many seeds: for ``S`` seeds
on independent, uniformly random 1.0-levers, the indicators "pair ``(i, j)``
on the same lever" are pairwise independent Bernoulli(1/9), so the
cross-play of ``S`` perfect seeds has mean 1/9 and standard deviation
``sqrt((1/9)(8/9) / C(S, 2))``: 0.029 for 16 seeds (a 0.05 tolerance is 1.7
standard deviations: perfect seeds fail it about 6 % of the time), 0.014 for
32 and 0.007 for 64.

Budgets: the default (16 seeds per method, the configs' 150 SP and 2000 OP
PPO updates, 128 cross-play episodes per pair and seat order) takes about 50 s
on this shared 2-core CPU, most of it compiling; ``--full`` uses 64 seeds per
method (a 128 x 128 matrix) for a tighter cross-play estimate, about 80 s.
The paper's own seed count was not available to us. ``--steps``
sets the Other-Play updates, ``--selfplay-steps`` the self-play ones.

Usage:
    python paper_figures/other_play_lever.py [--full] [--out DIR] [--seed N]
        [--seeds S] [--steps T] [--selfplay-steps T] [--episodes E]
"""

from __future__ import annotations

import dataclasses
import math
import time

import _common
import jax
import jax.numpy as jnp
import numpy as np

from detente.analysis import paper_plots
from detente.analysis.crossplay import crossplay, group_summary
from detente.games.coordination import (
    LeverGame,
    lever_value,
    other_play_value,
    reference_values,
)
from detente.solvers.zsc.configs import zsc_config
from detente.solvers.zsc.other_play import train_other_play
from detente.solvers.zsc.selfplay import action_probs, agent_params, selfplay_policy, train_selfplay

NAME = "other_play_lever"
PAPER = {
    "title": "'Other-Play' for Zero-Shot Coordination",
    "authors": "Hu, Lerer, Peysakhovich, Foerster",
    "venue": "ICML 2020",
    "url": "https://arxiv.org/abs/2003.02979",
    "result": "Sec. 6.1: the lever game (Fig. 1), self-play vs Other-Play in self- and cross-play",
}
METHODS = ("selfplay", "other-play")
SHORT = {"selfplay": "SP", "other-play": "OP"}
TITLES = {"selfplay": "self-play", "other-play": "Other-Play"}
TOL = 0.05
EPISODES = 128
DEFAULT = _common.Budget(seeds=16, steps=zsc_config("lever", "other-play").num_updates)
FULL = _common.Budget(seeds=64, steps=zsc_config("lever", "other-play").num_updates)
FULL_NOTE = (
    "more seeds for a tighter cross-play estimate; steps are Other-Play's PPO updates, "
    "self-play keeps its config's "
    f"{zsc_config('lever', 'selfplay').num_updates} (--selfplay-steps)"
)
# XLA's optimisation level 1: the lever programs compile about 4x faster on CPU
# for a similar run time (see train_selfplay's docstring)
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
REFERENCE = {
    "self_play_selfplay": 1.0,
    "cross_play_selfplay": 1.0 / 9.0,
    "self_play_other_play": 0.9,
    "cross_play_other_play": 0.9,
    "selfplay_vs_other_play": 0.0,
    "source": "Sec. 6.1 in words: SP agents score 1.0 with themselves and 1/9 in expectation "
    "with independently trained SP agents; OP agents pick the 0.9 lever, 0.9 in self- and "
    "cross-play. The numbers are the closed forms (detente.games.coordination."
    "reference_values); SP vs OP is 0 when SP sits on a 1.0 lever and OP on the 0.9 lever",
}


def configs(args, budget: _common.Budget) -> dict:
    """The IPPO config of each method at this budget (``num_updates`` overridden)."""
    sp_steps = args.selfplay_steps
    if sp_steps is not None and sp_steps < 1:
        raise SystemExit(f"--selfplay-steps={sp_steps} is not allowed: expected a positive integer")
    sp = zsc_config("lever", "selfplay")
    op = zsc_config("lever", "other-play")
    out = {
        "selfplay": dataclasses.replace(sp, num_updates=sp_steps or sp.num_updates),
        "other-play": dataclasses.replace(op, num_updates=budget.steps),
    }
    if out["selfplay"].network != out["other-play"].network:
        raise SystemExit(
            "the self-play and Other-Play networks differ: one cross-play matrix needs one"
        )
    return out


def train(method: str, config, keys, env: LeverGame) -> dict:
    """Train ``S`` agents of ``method``; their lever probabilities and training curves (numpy)."""
    fn = train_selfplay if method == "selfplay" else train_other_play
    states, metrics = fn(keys, env, config, compiler_options=COMPILER_OPTIONS)
    params = agent_params(states)  # leaves [S, ...]
    policy = selfplay_policy(env, config)
    obs = jnp.ones((1, *env.observation_shape))  # the game's constant observation
    probs = jax.vmap(lambda q: action_probs(policy, q, obs))(params)[:, 0]  # [S, A]
    return {
        "params": params,
        "probs": np.asarray(probs, np.float64),
        "reward": np.asarray(metrics["reward_0"], np.float64),  # [S, U] mean reward per episode
        "entropy": np.asarray(metrics["entropy_0"], np.float64),  # [S, U]
    }


def _summary(s) -> dict:
    return {"mean": s.mean, "sem": s.sem, "n": s.n}


def _agreement(xp, exact: np.ndarray, exact_sq: np.ndarray) -> dict:
    """How well the sampled matrix agrees with the exact one.

    A cell's episode return is ``payoff(a)`` when both pull lever ``a``, else 0,
    so its exact per-episode variance is ``E[r^2] - J^2`` with
    ``E[r^2] = sum_a p_i(a) p_j(a) payoff(a)^2``; the sampled mean of ``2E``
    episodes (both seat orders) then has standard error ``sqrt(var / 2E)``.
    Returns ``pooled_z``, the sum of all cells' differences over its standard
    error ``sqrt(sum_ij sem_ij^2)`` (about N(0, 1) when the program samples
    the policies correctly; cells are independent), and ``mean_z2``, the mean
    of the cells' squared z-scores over the cells with a positive variance
    (about 1; near-deterministic cells, where one rare episode gives a large z,
    make it heavy-tailed, which is why no per-cell maximum is reported).
    """
    var = np.maximum(exact_sq - exact**2, 0.0)
    sem = np.sqrt(var / (2 * xp.num_episodes))
    diff = xp.returns - exact
    live = sem > 1e-6
    total_sem = math.sqrt(float((sem**2).sum()))
    return {
        "cells_with_variance": int(live.sum()),
        "pooled_z": float(diff.sum() / total_sem) if total_sem > 0 else math.nan,
        "mean_z2": float(np.mean((diff[live] / sem[live]) ** 2)) if live.any() else math.nan,
    }


def analyse(
    runs: dict, xp, exact: np.ndarray, exact_sq: np.ndarray, payoffs: np.ndarray, s: int
) -> dict:
    """JSON-ready numbers: block summaries, lever choices, the exact matrix's summaries."""
    groups = [SHORT[m] for m in METHODS for _ in range(s)]
    blocks = group_summary(xp, groups)
    top = payoffs.max()
    unique = int(np.flatnonzero(payoffs != top)[0])  # the 0.9 lever
    ours = {"methods": {}}
    eye = np.eye(s, dtype=bool)
    for k, m in enumerate(METHODS):
        p = runs[m]["probs"]  # [S, A]
        block = blocks[f"{SHORT[m]}|{SHORT[m]}"]
        ex = exact[k * s : (k + 1) * s, k * s : (k + 1) * s]
        lever = p.argmax(-1)
        counts = np.bincount(lever, minlength=payoffs.size)
        # cross-play implied by the seeds' levers if every seed played its lever surely
        implied = (
            float((counts * (counts - 1) * payoffs).sum() / (s * (s - 1))) if s > 1 else math.nan
        )
        ours["methods"][m] = {
            "self_play": _summary(block["self_play"]),
            "cross_play": _summary(block["cross_play"]),
            "exact_self_play": float(np.diag(ex).mean()),
            "exact_cross_play": float(ex[~eye].mean()) if s > 1 else math.nan,
            "lever_per_seed": lever,
            "p_lever_per_seed": p.max(-1),
            "seeds_per_lever": counts,
            "frac_on_unique_lever": float(np.mean(p[:, unique] >= 0.9)),
            "frac_on_top_lever": float(np.mean(p[:, payoffs == top].max(-1) >= 0.9)),
            "mean_p_unique_lever": float(p[:, unique].mean()),
            "implied_cross_play": implied,
            "other_play_objective": float(np.mean(runs[m]["op_value"])),
            "final_train_reward": float(
                runs[m]["reward"][:, -max(1, runs[m]["reward"].shape[1] // 20) :].mean()
            ),
            "updates": int(runs[m]["reward"].shape[1]),
        }
    cross = blocks["SP|OP"]["cross_play"]
    ours["selfplay_vs_other_play"] = _summary(cross)
    ours["exact_selfplay_vs_other_play"] = float(exact[:s, s:].mean())
    ours["matrix"] = {
        "size": int(xp.returns.shape[0]),
        "episodes_per_pair_and_order": xp.num_episodes,
        "unfinished": xp.unfinished,
        "max_abs_sampled_minus_exact": float(np.abs(xp.returns - exact).max()),
        **_agreement(xp, exact, exact_sq),
    }
    # seed-sampling standard deviation of SP cross-play for perfect, uniformly random seeds
    n_top = int(np.sum(payoffs == top))
    q = 1.0 / n_top
    pairs = s * (s - 1) / 2
    ours["selfplay_cross_play_null_sd"] = (
        math.sqrt(q * (1 - q) / pairs) * top if pairs else math.nan
    )
    ours["unique_lever"] = unique
    return ours


def compare(ours: dict, ref) -> list[_common.Check]:
    """Our numbers against the paper's claims (closed forms, tolerance 0.05)."""
    sp, op = ours["methods"]["selfplay"], ours["methods"]["other-play"]
    null_sd = ours["selfplay_cross_play_null_sd"]

    def show(x):
        return f"{x['mean']:.3f} +- {x['sem']:.3f}"

    def close(name, x, target, rule_note=""):
        mean = x["mean"]
        ok = bool(np.isfinite(mean) and abs(mean - target) <= TOL)
        return _common.Check(
            name=name,
            paper=f"{target:.3f}",
            ours=show(x),
            passed=ok,
            rule=f"|ours - paper| <= {TOL:g}{rule_note}",
        )

    return [
        close("SP agents: self-play (diagonal)", sp["self_play"], ref.self_play),
        close(
            "SP agents: cross-play (off-diagonal)",
            sp["cross_play"],
            ref.cross_play,
            f" (seed sampling alone: sd {null_sd:.3f} at {ours['matrix']['size'] // 2} seeds)",
        ),
        close("OP agents: self-play (diagonal)", op["self_play"], ref.other_play),
        close("OP agents: cross-play (off-diagonal)", op["cross_play"], ref.other_play),
        _common.claim_check(
            "cross-play: OP above SP",
            "OP (0.9) > SP (1/9)",
            f"{op['cross_play']['mean']:.3f} vs {sp['cross_play']['mean']:.3f}",
            op["cross_play"]["mean"] > sp["cross_play"]["mean"],
            "OP's mean off-diagonal return > SP's",
        ),
    ]


def print_details(ours: dict, payoffs: np.ndarray) -> None:
    for m in METHODS:
        e = ours["methods"][m]
        print(
            f"{TITLES[m]:<10} ({e['updates']} updates) levers per seed "
            f"{e['lever_per_seed'].tolist()}; seeds per lever {e['seeds_per_lever'].tolist()}; "
            f"on the 0.9 lever {e['frac_on_unique_lever']:.0%}, on a 1.0 lever "
            f"{e['frac_on_top_lever']:.0%}; exact SP {e['exact_self_play']:.3f} "
            f"XP {e['exact_cross_play']:.3f}; XP implied by the levers {e['implied_cross_play']:.3f}; "
            f"OP objective {e['other_play_objective']:.3f}"
        )
    x = ours["selfplay_vs_other_play"]
    mat = ours["matrix"]
    print(
        f"SP vs OP cross-play {x['mean']:.3f} +- {x['sem']:.3f} (exact "
        f"{ours['exact_selfplay_vs_other_play']:.3f}); {mat['size']}x{mat['size']} matrix, "
        f"{mat['episodes_per_pair_and_order']} episodes per pair and seat order, sampled vs exact "
        f"max |diff| {mat['max_abs_sampled_minus_exact']:.3f}; payoffs {payoffs.tolist()}"
    )


# ----------------------------------------------------------------------------
# Figure


def _lever_labels(payoffs: np.ndarray) -> list[str]:
    return [f"{a}\n({v:g})" for a, v in enumerate(payoffs.tolist())]


def _curves(ax, runs: dict, configs_: dict, ref) -> None:
    """Training reward per method, mean +- s.e.m. over seeds, against episodes per seed."""
    for m in METHODS:
        r = runs[m]["reward"]  # [S, U]
        c = configs_[m]
        x = np.arange(1, r.shape[1] + 1) * c.num_envs * c.num_steps
        mid = r.mean(0)
        sem = r.std(0, ddof=1) / math.sqrt(r.shape[0]) if r.shape[0] > 1 else np.zeros_like(mid)
        label = {
            "selfplay": "self-play (reward with itself)",
            "other-play": "Other-Play (reward with a relabelled self)",
        }[m]
        (line,) = ax.plot(x, mid, label=label)
        ax.fill_between(x, mid - sem, mid + sem, alpha=0.25, color=line.get_color(), lw=0)
    for name, y in (("1.0", ref.self_play), ("0.9", ref.other_play), ("1/9", ref.cross_play)):
        ax.axhline(y, color="k", ls=":", lw=1)
        ax.annotate(
            name, (1.0, y), xycoords=("axes fraction", "data"), ha="right", va="bottom", size=7
        )
    ax.set_xscale("log")
    ax.set(
        xlabel="episodes per seed",
        ylabel="mean training reward (mean +- s.e.m.)",
        title="training",
        ylim=(-0.02, 1.05),
    )
    ax.legend(fontsize=7, loc="lower right")


def _levers(ax, probs: np.ndarray, payoffs: np.ndarray, title: str) -> None:
    im = ax.imshow(
        probs, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest"
    )
    ax.set_xticks(np.arange(payoffs.size))
    ax.set_xticklabels(_lever_labels(payoffs), fontsize=7)
    ax.set(xlabel="lever (payoff)", ylabel="seed", title=title)
    ax.figure.colorbar(im, ax=ax, label="P(lever)")


def _heatmap(ax, xp, s: int) -> None:
    im = ax.imshow(xp.returns, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.axhline(s - 0.5, color="w", lw=1)
    ax.axvline(s - 0.5, color="w", lw=1)
    ticks = [0.5 * (s - 1), s + 0.5 * (s - 1)]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["SP agents", "OP agents"])
    ax.set_yticks(ticks)
    ax.set_yticklabels(["SP agents", "OP agents"], rotation=90, va="center")
    ax.set(xlabel="partner", ylabel="agent", title=f"cross-play, {2 * s} x {2 * s} (one program)")
    ax.figure.colorbar(im, ax=ax, label="mean return")


def _bars(ax, ours: dict, ref) -> None:
    """SP and XP per method with s.e.m. bars and the closed forms as black ticks."""
    sp, op = ours["methods"]["selfplay"], ours["methods"]["other-play"]
    x_sp_op = ours["selfplay_vs_other_play"]
    bars = [
        ("SP\nself-play", sp["self_play"], ref.self_play, "C0"),
        ("SP\ncross-play", sp["cross_play"], ref.cross_play, "C0"),
        ("OP\nself-play", op["self_play"], ref.other_play, "C1"),
        ("OP\ncross-play", op["cross_play"], ref.other_play, "C1"),
        ("SP x OP", x_sp_op, 0.0, "C2"),
    ]
    xs = np.arange(len(bars))
    means = [b[1]["mean"] for b in bars]
    sems = [0.0 if not np.isfinite(b[1]["sem"]) else b[1]["sem"] for b in bars]
    ax.bar(xs, means, yerr=sems, capsize=3, color=[b[3] for b in bars])
    for x, b in zip(xs, bars, strict=True):
        ax.plot(
            [x - 0.4, x + 0.4],
            [b[2], b[2]],
            color="k",
            lw=2,
            label="closed form" if x == 0 else None,
        )
        ax.annotate(
            f"{b[1]['mean']:.3f}",
            (x, max(b[1]["mean"] + sems[x], b[2])),
            ha="center",
            va="bottom",
            size=7,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_xticks(xs)
    ax.set_xticklabels([b[0] for b in bars], fontsize=8)
    ax.set(ylim=(0.0, 1.12), ylabel="mean return (+- s.e.m.)", title="self-play and cross-play")
    ax.legend(fontsize=7, loc="upper right")


def _counts(ax, ours: dict, payoffs: np.ndarray, s: int) -> None:
    counts = {TITLES[m]: ours["methods"][m]["seeds_per_lever"] for m in METHODS}
    paper_plots.grouped_bars(
        ax,
        counts,
        _lever_labels(payoffs),
        ylim=(0.0, s + 0.5),
        ylabel="seeds",
        title="most probable lever per seed",
    )
    top = payoffs.max()
    n_top = int(np.sum(payoffs == top))
    ax.axhline(s / n_top, color="C0", ls=":", lw=1)
    ax.annotate(
        f"S/{n_top}", (0.0, s / n_top), xycoords=("axes fraction", "data"), size=7, va="bottom"
    )
    ax.set_xlabel("lever (payoff)")
    ax.tick_params(axis="x", labelsize=7)


def draw(
    path, runs: dict, configs_: dict, xp, ours: dict, payoffs: np.ndarray, ref, s: int
) -> None:
    fig, axes = paper_plots.figure(2, 3, panel_size=(5.2, 4.2))
    _curves(axes[0], runs, configs_, ref)
    _levers(axes[1], runs["selfplay"]["probs"], payoffs, "self-play agents: learned levers")
    _levers(axes[2], runs["other-play"]["probs"], payoffs, "Other-Play agents: learned levers")
    _heatmap(axes[3], xp, s)
    _bars(axes[4], ours, ref)
    _counts(axes[5], ours, payoffs, s)
    paper_plots.save(fig, path)


# ----------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = _common.make_parser(
        NAME, __doc__.splitlines()[0], default=DEFAULT, full=FULL, full_note=FULL_NOTE
    )
    parser.add_argument(
        "--selfplay-steps",
        type=int,
        default=None,
        help=f"self-play PPO updates (default the config's "
        f"{zsc_config('lever', 'selfplay').num_updates})",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        default=EPISODES,
        help=f"cross-play episodes per pair and seat order (default {EPISODES}; at least 2)",
    )
    args = parser.parse_args(argv)
    budget = _common.resolve_budget(args, DEFAULT, FULL)
    if args.episodes < 2:
        raise SystemExit(f"--episodes={args.episodes} is not allowed: expected an integer >= 2")
    cfg = configs(args, budget)
    s = budget.seeds
    env = LeverGame()
    params = env.default_params()
    payoffs = np.round(np.asarray(params.payoffs, np.float64), 6)  # float32 0.9 -> 0.9
    ref = reference_values(params)
    print(
        f"{NAME}: {s} seeds per method; self-play {cfg['selfplay'].num_updates} updates x "
        f"{cfg['selfplay'].num_envs} episodes, Other-Play {cfg['other-play'].num_updates} x "
        f"{cfg['other-play'].num_envs}; {2 * s}x{2 * s} cross-play, {args.episodes} episodes "
        "per pair and seat order",
        flush=True,
    )
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(args.seed)
    runs, seconds = {}, {}
    for k, m in enumerate(METHODS):
        t = time.perf_counter()
        keys = jax.random.split(jax.random.fold_in(key, k), s)
        runs[m] = train(m, cfg[m], keys, env)
        runs[m]["op_value"] = np.asarray(other_play_value(params, jnp.asarray(runs[m]["probs"])))
        seconds[m] = time.perf_counter() - t
        p = runs[m]["probs"]
        print(
            f"{TITLES[m]}: levers {p.argmax(-1).tolist()}, P(lever) min "
            f"{p.max(-1).min():.3f} ({seconds[m]:.0f} s)",
            flush=True,
        )
    t = time.perf_counter()
    all_params = jax.tree_util.tree_map(
        lambda a, b: jnp.concatenate([a, b]),
        runs["selfplay"]["params"],
        runs["other-play"]["params"],
    )
    xp = crossplay(
        env,
        cfg["selfplay"].network,
        all_params,
        None,
        jax.random.fold_in(key, 2),
        args.episodes,
        params,
    )
    seconds["crossplay"] = time.perf_counter() - t
    probs = np.concatenate([runs[m]["probs"] for m in METHODS])  # [2S, A]
    pi = jnp.asarray(probs)
    exact = np.asarray(lever_value(params, pi[:, None], pi[None]), np.float64)  # [2S, 2S]
    squared = params.replace(payoffs=params.payoffs**2)
    exact_sq = np.asarray(lever_value(squared, pi[:, None], pi[None]), np.float64)  # E[r^2]
    total = time.perf_counter() - t0
    print(f"cross-play done ({seconds['crossplay']:.0f} s)", flush=True)
    ours = analyse(runs, xp, exact, exact_sq, payoffs, s)
    ours["seconds"] = seconds
    checks = compare(ours, ref)
    print_details(ours, payoffs)
    _common.print_table(f"{PAPER['result']} ({s} seeds per method, {total:.0f} s)", checks)
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, total)
    config = _common.run_config(
        NAME,
        argv,
        args,
        budget,
        game="LeverGame(num_levers=10): both players get payoffs[a] if both pull lever a, else 0",
        payoffs=payoffs,
        methods={m: dataclasses.asdict(cfg[m]) for m in METHODS},
        other_play_symmetries="a uniformly random payoff-preserving lever permutation per "
        "agent and episode (LeverGame.random_symmetry, the full group S_9 x S_1)",
        crossplay={
            "agents": f"{s} self-play then {s} Other-Play agents",
            "episodes_per_pair_and_seat_order": args.episodes,
            "actions": "sampled from each policy",
            "seat_orders": "both, averaged",
        },
        compiler_options=COMPILER_OPTIONS,
        seed_keys="jax.random.split(jax.random.fold_in(PRNGKey(seed), k), seeds), "
        "k = 0 self-play, 1 Other-Play, 2 cross-play",
    )
    arrays = {
        "payoffs": payoffs,
        "crossplay/returns": xp.returns,
        "crossplay/sem": xp.sem,
        "crossplay/seat_returns": xp.seat_returns,
        "crossplay/exact": exact,
        "crossplay/groups": np.array([SHORT[m] for m in METHODS for _ in range(s)]),
    }
    for m in METHODS:
        for k in ("probs", "reward", "entropy", "op_value"):
            arrays[f"{SHORT[m].lower()}/{k}"] = runs[m][k]
    _common.write_outputs(
        args.out,
        summary,
        config,
        arrays,
        lambda p: draw(p, runs, cfg, xp, ours, payoffs, ref, s),
        f"{NAME}.png",
    )
    return summary


if __name__ == "__main__":
    main()
