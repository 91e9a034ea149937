"""Shaper against naive learners: the IPD and the CoinGame (Khan et al. 2024).

Reproduces, on a CPU budget, the two opponent-shaping results of "Scaling
Opponent Shaping to High Dimensional Games" (Khan, Willi, Kwan, Tacchetti,
Lu, Grefenstette, Rocktaeschel, Foerster, AAMAS 2024,
https://arxiv.org/abs/2312.12568) that issue 4 asks for:

1. **IPD, Shaper vs a naive learner.** Shaper (a GRU whose memory runs
   across inner episodes, trained by OpenAI-ES) meets a fresh
   policy-gradient naive learner (:func:`detente.solvers.shaping.learners.pg_learner`:
   tabular memory-one logits, REINFORCE, lr 1, gamma 0.96) for ``M`` inner
   episodes of the sampled IPD (LOLA's payoffs CC -1, CD -3, DC 0, DD -2).
   The claim (M-FOS's, Lu et al. 2022, https://arxiv.org/abs/2205.01447, and
   Shaper's): the shaper *extorts* the learner, its per-step reward above
   mutual cooperation (-1) while the learner's falls below mutual defection
   (-2). Plotted: both per-step rewards over ES generations, and the
   learner's final P(cooperate | start, CC, CD, DC, DD).
2. **CoinGame, Shaper vs PPO against PPO vs PPO.** Shaper meets a fresh PPO
   learner (:func:`detente.solvers.rl.make_ppo_learner`, MLP) for ``M``
   inner episodes of ``E`` parallel 3x3 CoinGames; the baseline is two PPO
   learners (:func:`detente.solvers.rl.make_ippo`) with the same inner
   budget (``M`` updates of ``E`` episodes each). The claim (issue 4's
   acceptance; the paper's CoinGame result): Shaper's own reward is higher
   than a PPO agent's in PPO vs PPO, over at least 8 seeds (mean +- standard
   error). Plotted: own rewards and own-coin rates (the fraction of each
   agent's picked-up coins that were its own).

Budgets. The paper's runs (IPD: population 1000, 100 x 100 inner steps,
thousands of generations; CoinGame: population 1000, 600 inner episodes)
need accelerators; the default here is sized for minutes on a laptop CPU
(see ``DEFAULT`` and ``paper_figures/README.md``), ``--full`` is larger,
``--quick`` is a smoke test.

Usage:
    python paper_figures/shaper.py [--quick | --full] [--out DIR] [--seed N]
        [--seeds S] [--steps G]
"""

from __future__ import annotations

import dataclasses
import time

import _common
import jax
import numpy as np

from detente.games.coin_game import CoinGame
from detente.games.iterated_env import IteratedMatrixGame
from detente.solvers.rl import IPPOConfig, NetworkConfig, PPOConfig, make_ppo_learner, train_ippo
from detente.solvers.shaping.learners import pg_learner
from detente.solvers.shaping.shaper import ShaperConfig, train_shaper

NAME = "shaper"
PAPER = {
    "title": "Scaling Opponent Shaping to High Dimensional Games",
    "authors": "Khan, Willi, Kwan, Tacchetti, Lu, Grefenstette, Rocktaeschel, Foerster",
    "venue": "AAMAS 2024",
    "url": "https://arxiv.org/abs/2312.12568",
    "result": "Shaper vs naive learners: IPD extortion; CoinGame own reward above PPO vs PPO",
}
REFERENCE = {
    "IPD, Shaper vs NL": "Shaper's per-step reward > -1 (mutual cooperation) and the naive "
    "learner's < -2 (mutual defection): ZD extortion, as M-FOS (Lu et al. 2022)",
    "CoinGame, Shaper vs PPO": "Shaper's own per-step reward above PPO's in PPO vs PPO "
    "(same inner budget), mean +- s.e.m. over >= 8 seeds (issue 4's acceptance)",
}


@dataclasses.dataclass(frozen=True)
class Setting:
    """Everything a budget fixes (``seeds``/``steps`` are ``_common.Budget``'s)."""

    ipd_seeds: int
    ipd: ShaperConfig
    ipd_steps: int  # T, steps per IPD inner episode
    coin_seeds: int
    coin: ShaperConfig
    coin_steps: int  # T, steps per CoinGame inner episode


def _ipd_config(generations, inner_episodes, population, opponents, eval_opponents):
    return ShaperConfig(
        inner_episodes=inner_episodes,
        num_envs=2,
        population_size=population,
        generations=generations,
        opponents=opponents,
        hidden_size=16,
        sigma=0.1,
        lr=0.05,
        eval_opponents=eval_opponents,
    )


def _coin_config(generations, inner_episodes, population, envs, eval_opponents):
    return ShaperConfig(
        inner_episodes=inner_episodes,
        num_envs=envs,
        population_size=population,
        generations=generations,
        opponents=1,
        hidden_size=16,
        embed_size=16,
        sigma=0.1,
        lr=0.05,
        eval_opponents=eval_opponents,
    )


SETTINGS = {
    "quick": Setting(1, _ipd_config(4, 4, 8, 2, 8), 8, 8, _coin_config(2, 2, 4, 2, 2), 4),
    "default": Setting(
        1, _ipd_config(400, 100, 64, 4, 32), 50, 8, _coin_config(200, 32, 32, 4, 16), 8
    ),
    "full": Setting(
        3, _ipd_config(1000, 100, 128, 8, 128), 100, 16, _coin_config(500, 64, 64, 8, 32), 8
    ),
}
# Budget.seeds = CoinGame seeds, Budget.steps = IPD generations (for --help and overrides).
DEFAULT = _common.Budget(seeds=8, steps=400)
FULL = _common.Budget(seeds=16, steps=1000)
FULL_NOTE = "hours on a CPU, meant for a GPU; still below the paper's population of 1000"
PPO = PPOConfig(lr=0.01, gamma=0.96, ent_coef=0.01, epochs=2, minibatches=4)
NETWORK = NetworkConfig(hidden_sizes=(32, 32))
STATE_LABELS = ("start", "CC", "CD", "DC", "DD")


def resolve(args) -> Setting:
    """The setting of ``--quick`` / default / ``--full`` with ``--seeds`` / ``--steps``."""
    s = SETTINGS["quick" if args.quick else "full" if args.full else "default"]
    if args.seeds is not None:
        if args.seeds < 1:
            raise SystemExit(f"--seeds={args.seeds} is not allowed: expected a positive integer")
        s = dataclasses.replace(s, coin_seeds=args.seeds)
    if args.steps is not None:
        if args.steps < 1:
            raise SystemExit(f"--steps={args.steps} is not allowed: expected a positive integer")
        s = dataclasses.replace(s, ipd=dataclasses.replace(s.ipd, generations=args.steps))
    return s


def run_ipd(s: Setting, seed: int) -> dict:
    """Shaper vs the PG naive learner in the IPD, ``s.ipd_seeds`` seeds."""
    env = IteratedMatrixGame(num_steps=s.ipd_steps)
    learner = pg_learner()
    runs = [
        train_shaper(jax.random.PRNGKey(seed + i), env, env.default_params(), learner, s.ipd)
        for i in range(s.ipd_seeds)
    ]
    return {
        "fitness": np.stack([np.asarray(r.fitness) for r in runs]),  # [S, G]
        "reward_1": np.stack([np.asarray(r.reward_1) for r in runs]),  # [S, G]
        "mean_reward": np.stack([np.asarray(r.evaluation["mean_reward"]) for r in runs]),
        "episode_rewards": np.stack([np.asarray(r.evaluation["rewards"]) for r in runs]),
        "p_cooperate": np.stack([np.asarray(r.evaluation["p_cooperate"]) for r in runs]),
    }


def run_coin(s: Setting, seed: int) -> dict:
    """Shaper vs PPO, and PPO vs PPO with the same inner budget, ``s.coin_seeds`` seeds."""
    env = CoinGame(episode_length=s.coin_steps)
    cfg = s.coin
    opponent = make_ppo_learner(env, PPO, agent=1, network=NETWORK)
    shaper = [
        train_shaper(jax.random.PRNGKey(1000 + seed + i), env, env.default_params(), opponent, cfg)
        for i in range(s.coin_seeds)
    ]
    ippo = IPPOConfig(
        num_envs=cfg.num_envs,
        num_steps=s.coin_steps,
        num_updates=cfg.inner_episodes,
        ppo=PPO,
        network=NETWORK,
    )
    keys = jax.random.split(jax.random.PRNGKey(2000 + seed), s.coin_seeds)
    _, m = jax.jit(jax.vmap(lambda k: train_ippo(k, env, ippo)))(keys)
    m = jax.tree_util.tree_map(np.asarray, m)  # leaves [S, M]
    own = np.stack([m["own_coin_0"].mean(1), m["own_coin_1"].mean(1)], 1)  # [S, 2]
    other = np.stack([m["other_coin_0"].mean(1), m["other_coin_1"].mean(1)], 1)
    return {
        "shaper_mean_reward": np.stack([np.asarray(r.evaluation["mean_reward"]) for r in shaper]),
        "shaper_own_coin_rate": np.stack(
            [np.asarray(r.evaluation["own_coin_rate"]) for r in shaper]
        ),
        "shaper_fitness": np.stack([np.asarray(r.fitness) for r in shaper]),  # [S, G]
        "ppo_mean_reward": np.stack([m["reward_0"].mean(1), m["reward_1"].mean(1)], 1),
        "ppo_own_coin_rate": own / np.maximum(own + other, 1e-12),
    }


def _sem(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.std(0, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.zeros(x.shape[1:])


def analyse(ipd: dict, coin: dict) -> dict:
    """JSON-ready numbers."""
    return {
        "ipd": {
            "mean_reward": ipd["mean_reward"].mean(0),  # [2] shaper, learner
            "mean_reward_per_seed": ipd["mean_reward"],
            "last_episode_reward": ipd["episode_rewards"][:, -1].mean(0),
            "p_cooperate": ipd["p_cooperate"].mean(0),
            "final_fitness": ipd["fitness"][:, -1].mean(),
        },
        "coin": {
            "shaper_vs_ppo_reward": coin["shaper_mean_reward"].mean(0),  # [2]
            "shaper_vs_ppo_reward_sem": _sem(coin["shaper_mean_reward"]),
            "ppo_vs_ppo_reward": coin["ppo_mean_reward"].mean(0),
            "ppo_vs_ppo_reward_sem": _sem(coin["ppo_mean_reward"]),
            "shaper_vs_ppo_own_coin_rate": coin["shaper_own_coin_rate"].mean(0),
            "ppo_vs_ppo_own_coin_rate": coin["ppo_own_coin_rate"].mean(0),
            "seeds": len(coin["shaper_mean_reward"]),
        },
    }


def compare(ours: dict) -> list[_common.Check]:
    r0, r1 = ours["ipd"]["mean_reward"]
    c = ours["coin"]
    shaper, shaper_sem = c["shaper_vs_ppo_reward"][0], c["shaper_vs_ppo_reward_sem"][0]
    ppo, ppo_sem = c["ppo_vs_ppo_reward"][0], c["ppo_vs_ppo_reward_sem"][0]
    margin = 2 * float(np.hypot(shaper_sem, ppo_sem))
    return [
        _common.claim_check(
            "IPD: Shaper per-step reward", "> -1", f"{r0:.3f}", r0 > -1.0, "ours > -1"
        ),
        _common.claim_check(
            "IPD: naive learner per-step reward", "< -2", f"{r1:.3f}", r1 < -2.0, "ours < -2"
        ),
        _common.claim_check(
            "CoinGame: own reward, Shaper vs PPO > PPO vs PPO",
            "Shaper > PPO",
            f"{shaper:.3f} +- {shaper_sem:.3f} vs {ppo:.3f} +- {ppo_sem:.3f} ({c['seeds']} seeds)",
            shaper - ppo > margin and c["seeds"] >= 8,
            "difference > 2 combined s.e.m., >= 8 seeds",
        ),
    ]


def draw(path, ipd: dict, coin: dict, ours: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    ax = axes[0]
    g = np.arange(1, ipd["fitness"].shape[1] + 1)
    for y, label in ((ipd["fitness"], "Shaper"), (ipd["reward_1"], "naive learner (PG)")):
        ax.plot(g, y.mean(0), label=label)
    ax.axhline(-1, color="gray", ls="--", lw=0.8, label="mutual cooperation")
    ax.axhline(-2, color="gray", ls=":", lw=0.8, label="mutual defection")
    ax.set(
        xlabel="ES generation",
        ylabel="per-step reward (population mean)",
        title="IPD: Shaper vs naive learner",
    )
    ax.legend(fontsize=8)

    ax = axes[1]
    ax.bar(STATE_LABELS, ours["ipd"]["p_cooperate"], color="tab:orange")
    ax.set(
        ylim=(0, 1.05), ylabel="P(cooperate), own view", title="IPD: naive learner's final policy"
    )

    ax = axes[2]
    x = np.arange(2)
    c = ours["coin"]
    w = 0.38
    ax.bar(
        x - w / 2,
        c["shaper_vs_ppo_reward"],
        w,
        yerr=c["shaper_vs_ppo_reward_sem"],
        capsize=4,
        label="Shaper (0) vs PPO (1)",
    )
    ax.bar(
        x + w / 2,
        c["ppo_vs_ppo_reward"],
        w,
        yerr=c["ppo_vs_ppo_reward_sem"],
        capsize=4,
        label="PPO (0) vs PPO (1)",
    )
    ax.set_xticks(x, ["agent 0 (own)", "agent 1"])
    ax.set(ylabel="per-step reward (mean +- s.e.m.)", title=f"CoinGame, {c['seeds']} seeds")
    ax.axhline(0, color="gray", lw=0.6)
    ax.legend(fontsize=8)

    ax = axes[3]
    ax.bar(x - w / 2, c["shaper_vs_ppo_own_coin_rate"], w, label="Shaper (0) vs PPO (1)")
    ax.bar(x + w / 2, c["ppo_vs_ppo_own_coin_rate"], w, label="PPO (0) vs PPO (1)")
    ax.set_xticks(x, ["agent 0", "agent 1"])
    ax.set(ylim=(0, 1.05), ylabel="own coins / coins picked", title="CoinGame: own-coin rate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = _common.make_parser(
        NAME, __doc__.splitlines()[0], default=DEFAULT, full=FULL, full_note=FULL_NOTE
    )
    parser.add_argument("--quick", action="store_true", help="a smoke-test budget (seconds)")
    args = parser.parse_args(argv)
    if args.quick and args.full:
        raise SystemExit("--quick and --full exclude each other")
    s = resolve(args)
    budget = _common.Budget(seeds=s.coin_seeds, steps=s.ipd.generations)
    print(
        f"{NAME}: IPD {s.ipd_seeds} seed(s) x {s.ipd.generations} generations "
        f"(population {s.ipd.population_size}, {s.ipd.inner_episodes} x {s.ipd_steps} steps); "
        f"CoinGame {s.coin_seeds} seeds x {s.coin.generations} generations "
        f"(population {s.coin.population_size}, {s.coin.inner_episodes} x {s.coin_steps} "
        f"steps x {s.coin.num_envs} envs)",
        flush=True,
    )
    t0 = time.perf_counter()
    ipd = run_ipd(s, args.seed)
    t_ipd = time.perf_counter() - t0
    print(f"IPD done in {t_ipd:.0f} s", flush=True)
    coin = run_coin(s, args.seed)
    seconds = time.perf_counter() - t0
    print(f"CoinGame done in {seconds - t_ipd:.0f} s", flush=True)
    ours = analyse(ipd, coin)
    ours["seconds_ipd"] = t_ipd
    ours["seconds_coin"] = seconds - t_ipd
    checks = compare(ours)
    _common.print_table(f"{PAPER['result']} ({seconds:.0f} s)", checks)
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, seconds)
    config = _common.run_config(
        NAME,
        argv,
        args,
        budget,
        quick=bool(args.quick),
        ipd={
            "payoffs": "LOLA convention: CC -1, CD -3, DC 0, DD -2",
            "gamma": 0.96,
            "inner_steps": s.ipd_steps,
            "seeds": s.ipd_seeds,
            "shaper": dataclasses.asdict(s.ipd),
            "opponent": "pg_learner(PGConfig()): tabular memory-one REINFORCE, lr 1, gamma 0.96",
        },
        coin={
            "episode_length": s.coin_steps,
            "payoffs": "[[1, 1, -2], [1, 1, -2]]",
            "seeds": s.coin_seeds,
            "shaper": dataclasses.asdict(s.coin),
            "ppo": dataclasses.asdict(PPO),
            "network": dataclasses.asdict(NETWORK),
            "baseline": "IPPO, num_updates = inner_episodes, num_envs, num_steps = episode_length",
        },
    )
    arrays = {f"ipd/{k}": v for k, v in ipd.items()}
    arrays.update({f"coin/{k}": v for k, v in coin.items()})
    _common.write_outputs(
        args.out, summary, config, arrays, lambda p: draw(p, ipd, coin, ours), f"{NAME}.png"
    )
    return summary


if __name__ == "__main__":
    main()
