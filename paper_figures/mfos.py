"""M-FOS against naive learners (IPD, IMP, chicken) and in meta-self-play (Lu et al. 2022).

Reproduces, with the library's M-FOS-ES, the exact-game results of
"Model-Free Opponent Shaping" (Lu, Willi, de Witt, Foerster, ICML 2022,
https://arxiv.org/abs/2205.01447, Sec. 5):

1. **M-FOS vs a naive learner** in the paper's three games
   (:func:`detente.solvers.shaping.mfos.mfos_game`, the authors'
   ``src/environments.py``): the IPD (LOLA's payoffs CC -1, CD -3, DC 0,
   DD -2, gamma 0.96), iterated matching pennies (player 1's table
   ``[[1, -1], [-1, 1]]``, zero-sum, gamma 0.96, heads = action 0) and
   one-shot chicken (``[[0, -1], [1, -100]]``, swerve = action 0). Each
   meta-step is one inner episode whose outcome is the exact per-step reward
   ``(1 - gamma) V``; the naive learner (player 2, logits
   ``theta_2^0 ~ N(0, I)``) takes one exact gradient step of size 1 on its own
   discounted value after every inner episode; the M-FOS meta-policy (an MLP,
   two tanh layers of 16) reads both inner policies of the last episode and
   writes its own inner logits for the next one; a meta-episode is 100 inner
   episodes. The meta-policy is trained by OpenAI-ES (evosax ``Open_ES``, the
   paper's ES variant of M-FOS; the paper's main variant is PPO). The paper's
   claims: M-FOS learns ZD extortion in the IPD -- its per-step reward above
   mutual cooperation (-1) while the naive learner's falls below mutual
   defection (-2) -- and exploits the naive learner in IMP and chicken.
2. **Meta-self-play** in the IPD
   (:func:`detente.solvers.shaping.meta_selfplay.train_mfos_selfplay`): two
   M-FOS agents trained together by ES, each generation played against fresh
   naive learners with probability ``lambda`` (annealed linearly from 1 to 0
   over the first 5/8 of the generations, as the authors' ``main_mfos_self.py``
   anneals over 667 of 1024 updates), else against each other. The paper's
   claim: meta-self-play reaches the socially optimal outcome, mutual
   cooperation (-1 per step each).

The numeric thresholds judged here are issue 4's acceptance criteria (IPD
M-FOS > -1 and naive < -2; IMP M-FOS >= +0.6; chicken M-FOS >= +0.8;
self-play both >= -1.2); the paper states the claims above in words and
figures. Every reported reward is the final ES mean's per-step reward
averaged over the 100 inner episodes of a meta-episode and over 256 fresh
naive learners (or random starts), then over seeds.

Budgets: the default (1 seed, 100 generations of 32 members x 8 opponents;
self-play 200 generations) is the budget of the M-FOS tests
(``tests/test_mfos.py``) and takes about two minutes on a busy 2-core CPU,
mostly compilation; ``--full`` (3 seeds, 300 generations of 64 x 16;
self-play 400 generations, ``SelfPlayConfig()``) is that of the slow M-FOS
tests and takes about four minutes. ``--quick`` (2 generations of tiny
populations) is a smoke test. The authors' ES run (``main_mfos_ga.py``: 2048 species
x 128 opponents, 64 generations of a select-the-best GA) and their PPO runs
(4096 meta-episodes x 1024 updates) need a GPU.

Usage:
    python paper_figures/mfos.py [--full] [--out DIR] [--seed N] [--seeds S]
        [--steps G] [--selfplay-steps G] [--quick]
"""

from __future__ import annotations

import dataclasses
import time

import _common
import jax
import numpy as np

from detente.analysis import paper_plots
from detente.solvers.shaping.meta_selfplay import SelfPlayConfig, train_mfos_selfplay
from detente.solvers.shaping.mfos import MFOSConfig, mfos_game, train_mfos_es

NAME = "mfos"
PAPER = {
    "title": "Model-Free Opponent Shaping",
    "authors": "Lu, Willi, de Witt, Foerster",
    "venue": "ICML 2022",
    "url": "https://arxiv.org/abs/2205.01447",
    "result": "Sec. 5: M-FOS vs naive learners (IPD, IMP, chicken) and M-FOS meta-self-play",
}
GAMES = ("ipd", "imp", "chicken")
GAME_TITLES = {"ipd": "IPD", "imp": "IMP", "chicken": "Chicken"}
PAYOFFS = {
    "ipd": "LOLA convention: CC -1, CD -3, DC 0, DD -2; gamma 0.96",
    "imp": "player 1 [[1, -1], [-1, 1]], zero-sum, heads = action 0; gamma 0.96",
    "chicken": "one-shot, player 1 [[0, -1], [1, -100]], player 2 its transpose; swerve = action 0",
}
PAYOFF_RANGE = {"ipd": (-3.0, 0.0), "imp": (-1.0, 1.0), "chicken": (-100.0, 1.0)}
STATE_LABELS = {
    "ipd": ("start", "CC", "CD", "DC", "DD"),
    "imp": ("start", "HH", "HT", "TH", "TT"),
    "chicken": ("one-shot",),
}
ACTION_0 = {"ipd": "cooperate", "imp": "heads", "chicken": "swerve"}
REFERENCE = {
    "ipd": "M-FOS learns ZD extortion against the naive learner: its per-step reward is "
    "above mutual cooperation (-1), the naive learner's below mutual defection (-2)",
    "imp": "M-FOS exploits the naive learner (zero-sum): M-FOS >= +0.6 per step",
    "chicken": "M-FOS exploits the naive learner (it goes straight, the learner swerves): "
    "M-FOS >= +0.8 per step",
    "selfplay": "M-FOS vs M-FOS in the IPD reaches the socially optimal outcome, mutual "
    "cooperation: both >= -1.2 per step",
    "source": "claims from the paper's abstract and Sec. 5; the numeric thresholds are "
    "issue 4's acceptance criteria (the paper's own table was not available to us)",
}
IPD_MFOS_MIN, IPD_NAIVE_MAX = -1.0, -2.0
IMP_MFOS_MIN, CHICKEN_MFOS_MIN, SELFPLAY_MIN = 0.6, 0.8, -1.2
ANNEAL_FRACTION = 0.625  # self-play: lambda reaches 0 after this fraction of generations


@dataclasses.dataclass(frozen=True)
class Setting:
    """Everything a budget fixes: seeds, the ES run against naive learners, self-play."""

    seeds: int
    es: MFOSConfig
    selfplay: SelfPlayConfig


def _selfplay(generations: int) -> SelfPlayConfig:
    anneal = max(1, round(ANNEAL_FRACTION * generations))
    return SelfPlayConfig(generations=generations, anneal_generations=anneal, eval_opponents=256)


SETTINGS = {
    # a smoke test: seconds of running, the rest is compilation
    "quick": Setting(
        seeds=1,
        es=MFOSConfig(generations=2, population_size=4, opponents=2, eval_opponents=8),
        selfplay=dataclasses.replace(
            _selfplay(2), population_size=4, opponents=2, eval_opponents=8
        ),
    ),
    # tests/test_mfos.py: 100 generations of 32 members x 8 opponents, lr 0.1
    "default": Setting(
        seeds=1,
        es=MFOSConfig(
            generations=100, population_size=32, opponents=8, sigma=0.1, lr=0.1, eval_opponents=256
        ),
        selfplay=_selfplay(200),
    ),
    # the slow M-FOS tests: 300 generations of 64 x 16; SelfPlayConfig() (400, annealed over 250)
    "full": Setting(
        seeds=3,
        es=MFOSConfig(
            generations=300, population_size=64, opponents=16, sigma=0.1, lr=0.1, eval_opponents=256
        ),
        selfplay=_selfplay(400),
    ),
}
DEFAULT = _common.Budget(seeds=1, steps=100)
FULL = _common.Budget(seeds=3, steps=300)
FULL_NOTE = "the slow M-FOS tests: population 64 x 16 opponents; self-play 400 generations"


def resolve(args) -> Setting:
    """The setting of the ``--quick`` / default / ``--full`` budget with ``--seeds`` /
    ``--steps`` / ``--selfplay-steps`` applied."""
    if args.quick and args.full:
        raise SystemExit("--quick and --full exclude each other")
    s = SETTINGS["quick" if args.quick else "full" if args.full else "default"]
    base = _common.Budget(seeds=s.seeds, steps=s.es.generations)
    budget = _common.resolve_budget(args, base, base)
    s = dataclasses.replace(
        s, seeds=budget.seeds, es=dataclasses.replace(s.es, generations=budget.steps)
    )
    if args.selfplay_steps is not None:
        if args.selfplay_steps < 1:
            raise SystemExit(
                f"--selfplay-steps={args.selfplay_steps} is not allowed: expected a positive integer"
            )
        anneal = max(1, round(ANNEAL_FRACTION * args.selfplay_steps))
        s = dataclasses.replace(
            s,
            selfplay=dataclasses.replace(
                s.selfplay, generations=args.selfplay_steps, anneal_generations=anneal
            ),
        )
    return s


def run_naive(game_name: str, s: Setting, seed: int) -> dict:
    """M-FOS-ES vs the exact naive learner in one game, ``s.seeds`` seeds (numpy arrays)."""
    game = mfos_game(game_name)
    runs = [train_mfos_es(jax.random.PRNGKey(seed + i), game, s.es) for i in range(s.seeds)]
    return {
        "fitness": np.stack([np.asarray(r.fitness) for r in runs]),  # [S, G] M-FOS
        "reward_1": np.stack([np.asarray(r.reward_1) for r in runs]),  # [S, G] naive learner
        "best_fitness": np.stack([np.asarray(r.best_fitness) for r in runs]),  # [S, G]
        "episode_rewards": np.stack([np.asarray(r.final_rewards) for r in runs]),  # [S, T, 2]
        "mean_reward": np.stack([np.asarray(r.final_mean_rewards) for r in runs]),  # [S, 2]
        "p_naive": np.stack([np.asarray(r.evaluation["p_cooperate"]) for r in runs]),  # [S, d]
        "p_mfos": np.stack([np.asarray(r.evaluation["agent_p_cooperate"]) for r in runs]),
    }


def run_selfplay(s: Setting, seed: int) -> dict:
    """M-FOS meta-self-play in the IPD, ``s.seeds`` seeds (numpy arrays)."""
    game = mfos_game("ipd")
    runs = [
        train_mfos_selfplay(jax.random.PRNGKey(seed + i), game, s.selfplay) for i in range(s.seeds)
    ]
    out = {
        k: np.stack([r.metrics[k] for r in runs])  # [S, G]
        for k in ("fitness_0", "fitness_1", "vs_naive", "mixing")
    }
    ev = [jax.tree_util.tree_map(np.asarray, r.evaluation) for r in runs]
    out["episode_rewards"] = np.stack([e["rewards"] for e in ev])  # [S, T, 2]
    out["mean_reward"] = np.stack([e["mean_reward"] for e in ev])  # [S, 2]
    out["p_cooperate"] = np.stack([e["p_cooperate"] for e in ev])  # [S, 2, 5]
    out["naive_mean_reward"] = np.stack([e["naive_mean_reward"] for e in ev])  # [S, 2, 2]
    return out


def analyse(naive: dict, selfplay: dict) -> dict:
    """JSON-ready numbers: means over seeds, with the per-seed values."""
    ours = {"games": {}}
    for g, r in naive.items():
        m = r["mean_reward"]
        ours["games"][g] = {
            "mfos_reward": float(m[:, 0].mean()),
            "naive_reward": float(m[:, 1].mean()),
            "mean_reward_per_seed": m,  # [S, 2] (M-FOS, naive learner)
            "last_episode_reward": r["episode_rewards"][:, -1].mean(0),  # [2]
            "final_fitness": float(r["fitness"][:, -1].mean()),
            "p_action_0_naive": r["p_naive"].mean(0),
            "p_action_0_mfos": r["p_mfos"].mean(0),
            "state_labels": list(STATE_LABELS[g]),
            "action_0": ACTION_0[g],
            "payoff_range": list(PAYOFF_RANGE[g]),
        }
    m = selfplay["mean_reward"]
    ours["selfplay"] = {
        "game": "ipd",
        "reward": m.mean(0),  # [2] (A, B)
        "reward_per_seed": m,
        "last_episode_reward": selfplay["episode_rewards"][:, -1].mean(0),
        "p_cooperate": selfplay["p_cooperate"].mean(0),  # [2, 5]
        "naive_mean_reward": selfplay["naive_mean_reward"].mean(0),  # [2, 2]
        "generations_vs_naive": selfplay["vs_naive"].sum(1),  # [S]
        "state_labels": list(STATE_LABELS["ipd"]),
        "payoff_range": list(PAYOFF_RANGE["ipd"]),
    }
    return ours


def compare(ours: dict) -> list[_common.Check]:
    """Our numbers against the paper's claims (issue 4's thresholds)."""
    ipd, imp, ch = (ours["games"][g] for g in GAMES)
    sp = np.asarray(ours["selfplay"]["reward"])
    per_seed = np.asarray(ours["selfplay"]["reward_per_seed"])  # [S, 2]
    sp_ok = int(np.all(per_seed >= SELFPLAY_MIN, axis=1).sum())
    return [
        _common.claim_check(
            "IPD: M-FOS per-step reward vs NL",
            f"> {IPD_MFOS_MIN:g} (ZD extortion)",
            f"{ipd['mfos_reward']:.3f}",
            ipd["mfos_reward"] > IPD_MFOS_MIN,
            f"seed mean > {IPD_MFOS_MIN:g}",
        ),
        _common.claim_check(
            "IPD: naive learner per-step reward",
            f"< {IPD_NAIVE_MAX:g}",
            f"{ipd['naive_reward']:.3f}",
            ipd["naive_reward"] < IPD_NAIVE_MAX,
            f"seed mean < {IPD_NAIVE_MAX:g}",
        ),
        _common.claim_check(
            "IMP: M-FOS per-step reward vs NL",
            f">= +{IMP_MFOS_MIN:g}",
            f"{imp['mfos_reward']:+.3f}",
            imp["mfos_reward"] >= IMP_MFOS_MIN,
            f"seed mean >= {IMP_MFOS_MIN:g}",
        ),
        _common.claim_check(
            "Chicken: M-FOS per-step reward vs NL",
            f">= +{CHICKEN_MFOS_MIN:g}",
            f"{ch['mfos_reward']:+.3f}",
            ch["mfos_reward"] >= CHICKEN_MFOS_MIN,
            f"seed mean >= {CHICKEN_MFOS_MIN:g}",
        ),
        _common.claim_check(
            "IPD meta-self-play: both per-step rewards",
            f">= {SELFPLAY_MIN:g} (cooperation)",
            f"{sp[0]:.3f} / {sp[1]:.3f} ({sp_ok}/{len(per_seed)} seeds)",
            bool(np.all(sp >= SELFPLAY_MIN)),
            f"both seed means >= {SELFPLAY_MIN:g}",
        ),
    ]


def print_details(ours: dict) -> None:
    for g in GAMES:
        e = ours["games"][g]
        labels = e["state_labels"]
        print(
            f"{GAME_TITLES[g]:<8} M-FOS {e['mfos_reward']:+.3f}  naive {e['naive_reward']:+.3f}"
            f"  (per seed M-FOS {np.round(e['mean_reward_per_seed'][:, 0], 3).tolist()})"
        )
        for who in ("mfos", "naive"):
            p = " ".join(
                f"{n}={x:.2f}" for n, x in zip(labels, e[f"p_action_0_{who}"], strict=True)
            )
            print(f"{'':<8} P({e['action_0']}) {who:<5} {p}")
    sp = ours["selfplay"]
    print(
        f"self-play (IPD) A {sp['reward'][0]:+.3f}  B {sp['reward'][1]:+.3f}; "
        f"vs naive learners A {sp['naive_mean_reward'][0][0]:+.3f}, "
        f"B {sp['naive_mean_reward'][1][0]:+.3f}"
    )
    for i, who in enumerate("AB"):
        p = " ".join(
            f"{n}={x:.2f}" for n, x in zip(sp["state_labels"], sp["p_cooperate"][i], strict=True)
        )
        print(f"{'':<8} P(cooperate) {who} {p}")


def _refs(game: str) -> dict:
    return {
        "ipd": {"mutual cooperation -1": -1.0, "mutual defection -2": -2.0},
        "imp": {"Nash 0": 0.0, f"acceptance +{IMP_MFOS_MIN:g}": IMP_MFOS_MIN},
        "chicken": {f"acceptance +{CHICKEN_MFOS_MIN:g}": CHICKEN_MFOS_MIN, "swerve -1": -1.0},
    }[game]


def _selfplay_curves(ax, sp: dict) -> None:
    """Both agents' population-mean rewards per generation, one thin line per seed
    over the generations played against each other; the generations played
    against naive learners are faint dots."""
    g = np.arange(1, sp["fitness_0"].shape[1] + 1)
    naive = sp["vs_naive"] > 0.5  # [S, G]
    for i, who in enumerate("AB"):
        f = sp[f"fitness_{i}"]  # [S, G]
        color = f"C{i}"
        for k in range(f.shape[0]):
            ax.plot(
                g,
                np.where(naive[k], np.nan, f[k]),
                color=color,
                lw=0.9,
                alpha=0.8,
                label=f"agent {who} vs {'BA'[i]}" if k == 0 else None,
            )
        ax.scatter(
            np.broadcast_to(g, f.shape)[naive],
            f[naive],
            s=4,
            alpha=0.3,
            color=color,
            label=f"agent {who} vs naive learners",
        )
    ax.axhline(-1, color="k", ls=":", lw=1)
    ax.axhline(-2, color="k", ls=":", lw=1)
    twin = ax.twinx()
    twin.plot(g, sp["mixing"][0], color="gray", ls="--", lw=0.8)
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("mixing weight lambda (P(vs naive))", color="gray", fontsize=8)
    ax.set(
        xlabel="ES generation",
        ylabel="per-step reward (population mean)",
        title="IPD meta-self-play: training",
    )
    ax.legend(fontsize=6, loc="lower right")


def draw(path, naive: dict, selfplay: dict, ours: dict) -> None:
    """Per game: ES fitness curves, per-inner-episode rewards, final policies;
    then the same three panels for meta-self-play."""
    fig, axes = paper_plots.figure(4, 3, panel_size=(4.8, 3.7))
    for row, g in enumerate(GAMES):
        r, e, title = naive[g], ours["games"][g], GAME_TITLES[g]
        ax = axes[3 * row]
        gens = np.arange(1, r["fitness"].shape[1] + 1)
        paper_plots.mean_band(
            ax,
            {"M-FOS": r["fitness"], "naive learner": r["reward_1"]},
            x=gens,
            refs=_refs(g),
            xlabel="ES generation",
            ylabel="per-step reward (population mean)",
            title=f"{title}: M-FOS-ES vs naive learner",
        )
        ax = axes[3 * row + 1]
        eps = r["episode_rewards"]  # [S, T, 2]
        paper_plots.mean_band(
            ax,
            {"M-FOS": eps[..., 0], "naive learner": eps[..., 1]},
            x=np.arange(1, eps.shape[1] + 1),
            refs=_refs(g),
            xlabel="inner episode",
            ylabel="per-step reward",
            title=f"{title}: final meta-policy, per inner episode",
        )
        if min(r["reward_1"].min(), eps.min()) < -10:  # chicken's crashes (-100)
            for a in axes[3 * row : 3 * row + 2]:
                a.set_yscale("symlog", linthresh=1.0)
        paper_plots.grouped_bars(
            axes[3 * row + 2],
            {
                "M-FOS (last inner policy)": e["p_action_0_mfos"],
                "naive learner": e["p_action_0_naive"],
            },
            STATE_LABELS[g],
            errors={
                "M-FOS (last inner policy)": r["p_mfos"].std(0),
                "naive learner": r["p_naive"].std(0),
            },
            ylim=(0.0, 1.05),
            ylabel=f"P({ACTION_0[g]}), own view",
            title=f"{title}: final inner policies",
        )
    _selfplay_curves(axes[9], selfplay)
    eps = selfplay["episode_rewards"]
    paper_plots.mean_band(
        axes[10],
        {"agent A": eps[..., 0], "agent B": eps[..., 1]},
        x=np.arange(1, eps.shape[1] + 1),
        refs=_refs("ipd"),
        xlabel="inner episode",
        ylabel="per-step reward",
        title="IPD meta-self-play: final meta-policies",
    )
    p = selfplay["p_cooperate"]  # [S, 2, 5]
    paper_plots.grouped_bars(
        axes[11],
        {"agent A": p[:, 0].mean(0), "agent B": p[:, 1].mean(0)},
        STATE_LABELS["ipd"],
        errors={"agent A": p[:, 0].std(0), "agent B": p[:, 1].std(0)},
        ylim=(0.0, 1.05),
        ylabel="P(cooperate), own view",
        title="IPD meta-self-play: last inner policies",
    )
    paper_plots.save(fig, path)


def main(argv=None) -> dict:
    parser = _common.make_parser(
        NAME, __doc__.splitlines()[0], default=DEFAULT, full=FULL, full_note=FULL_NOTE
    )
    parser.add_argument(
        "--selfplay-steps",
        type=int,
        default=None,
        help="override the meta-self-play generations (default 200, --full 400); "
        f"the mixing weight is annealed over the first {ANNEAL_FRACTION:g} of them",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke-test budget (2 generations, tiny populations)"
    )
    args = parser.parse_args(argv)
    s = resolve(args)
    budget = _common.Budget(seeds=s.seeds, steps=s.es.generations)
    print(
        f"{NAME}: {s.seeds} seed(s); vs naive learners {s.es.generations} ES generations "
        f"(population {s.es.population_size} x {s.es.opponents} opponents, "
        f"{s.es.inner_episodes} inner episodes); self-play {s.selfplay.generations} "
        f"generations (annealed over {s.selfplay.anneal_generations})",
        flush=True,
    )
    t0 = time.perf_counter()
    naive, seconds = {}, {}
    for g in GAMES:
        t = time.perf_counter()
        naive[g] = run_naive(g, s, args.seed)
        seconds[g] = time.perf_counter() - t
        m = naive[g]["mean_reward"].mean(0)
        print(
            f"{GAME_TITLES[g]}: M-FOS {m[0]:+.3f}, naive learner {m[1]:+.3f} ({seconds[g]:.0f} s)",
            flush=True,
        )
    t = time.perf_counter()
    selfplay = run_selfplay(s, args.seed)
    seconds["selfplay"] = time.perf_counter() - t
    total = time.perf_counter() - t0
    print(f"meta-self-play done ({seconds['selfplay']:.0f} s)", flush=True)
    ours = analyse(naive, selfplay)
    ours["seconds"] = seconds
    checks = compare(ours)
    print_details(ours)
    _common.print_table(f"{PAPER['result']} ({s.seeds} seed(s), {total:.0f} s)", checks)
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, total)
    config = _common.run_config(
        NAME,
        argv,
        args,
        budget,
        games={g: PAYOFFS[g] for g in GAMES},
        opponent="exact naive learner: one gradient step of size 1 on its discounted value "
        "after each inner episode, theta_2^0 ~ N(0, I)",
        mfos_es=dataclasses.asdict(s.es),
        selfplay=dataclasses.asdict(s.selfplay),
        selfplay_game="ipd",
        reward="(1 - gamma) V per step (one-shot chicken: V), final ES mean over "
        "eval_opponents fresh naive learners / random starts, averaged over 100 inner episodes",
    )
    arrays = {f"{g}/{k}": v for g, r in naive.items() for k, v in r.items()}
    arrays.update({f"selfplay/{k}": v for k, v in selfplay.items()})
    _common.write_outputs(
        args.out, summary, config, arrays, lambda p: draw(p, naive, selfplay, ours), f"{NAME}.png"
    )
    return summary


if __name__ == "__main__":
    main()
