"""Self-play vs Other-Play in two-player Hanabi: cross-play on a CPU budget (Hu et al. 2020).

The Hanabi experiment of "'Other-Play' for Zero-Shot Coordination" (Hu,
Lerer, Peysakhovich, Foerster, ICML 2020, https://arxiv.org/abs/2003.02979,
Sec. 6.2), at the scale of a laptop CPU. The paper trains SAD agents
(recurrent Q-learning, billions of transitions on GPUs) with and without
Other-Play and reports self-play and cross-play scores (out of 25); the
numbers quoted here are those of this project's design notes (SAD 23.98 /
2.53, SAD+OP 23.93 / 15.28, self-play / cross-play): self-play agents settle
on arbitrary conventions (which colour a hint means) and fail with
independently trained partners, Other-Play agents, trained with partners
whose colours are relabelled by a random permutation, keep most of their
score.

Here ``S`` self-play (SP) and ``S`` Other-Play (OP) agents are trained with
the library's IPPO (:mod:`detente.solvers.zsc`, one shared MLP per agent,
legal-action masks, :class:`detente.games.hanabi.HanabiGame`, the JaxMARL
game). Other-Play is IPPO on
:class:`~detente.solvers.zsc.other_play.OtherPlayEnv` over Hanabi's 120
colour permutations (:meth:`~detente.games.hanabi.HanabiGame.symmetry_group`,
an independent uniform permutation per agent and episode). Self-play is the
same wrapper whose 120 group elements are all the identity (so every
observation and action passes unchanged: plain self-play), which puts all
``2S`` agents in ONE compiled training program, vmapped over the agents'
keys and groups. Then all ``2S`` agents play one ``2S x 2S`` cross-play
matrix (:func:`detente.analysis.crossplay.crossplay`: every ordered pair in
both seat orders, sampled actions, one compiled program). Reported per
method: self-play (the diagonal of its block) and cross-play (its
off-diagonal cells) with standard errors, SP-vs-OP cross-play, and uniformly
random legal play (:func:`detente.games.hanabi.random_legal_scores`; it
bombs out, scoring about 0 under the bomb-0 rule).

What a CPU budget can show, and is checked: the agents learn (self-play and
Other-Play agents beat random legal play, in self-play and, for Other-Play,
in cross-play). What it cannot: the paper's scores, and the collapse of
self-play cross-play, need agents far past this budget's, whose conventions
have not yet specialised. At ``--full`` (measured, seed 0) every agent
scores 4-5 with every partner: self-play agents 4.57 +- 0.04 in self-play and
4.46 +- 0.03 in cross-play, Other-Play agents 4.37 +- 0.22 and 4.41 +- 0.09,
self-play x Other-Play 4.54, random legal play 0.00. The paper's numbers
are printed beside ours, not judged.

Budgets (all at ``benchmarks/hanabi_ippo.py``'s learning config: 64 games x
32 turns per PPO update, 4 epochs x 4 minibatches, two relu layers of 64, lr
1e-3): the default (2 agents per method, 60 updates, about 120k turns per
agent) takes about a minute on this 2-core CPU, a third of it compiling, and
reaches scores of about 2 (plus about 5 minutes for the ERS block below; ``--no-ers``
skips it); ``--full`` (4 agents per method, 1,700 updates,
3.5M turns per agent, what that benchmark's 10-minute single-agent run
reaches under a load of 5) took 43 minutes here (load 1.5-4).
``--quick`` is a smoke test (8 games x 8 turns, 2 updates). The small
budgets compile with XLA's optimisation level 1 (2-3x faster to compile, the
same run time).

Other-Play with expected-return symmetries (Muglich et al. 2025,
https://arxiv.org/abs/2502.01711; issue 6): :func:`ers_candidates` (the 120 colour
symmetries and relabellings that are not symmetries) scored on the self-play agents by
:func:`~detente.solvers.zsc.ers.discover_ers` with ``candidates``, then Other-Play with
the kept maps' group (:func:`ers_other_play`), played among themselves.

Usage:
    python paper_figures/hanabi_crossplay.py [--full | --quick] [--out DIR] [--seed N]
        [--seeds S] [--steps T] [--episodes E] [--greedy] [--symmetrize KIND] [--no-ers]
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import _common
import jax
import jax.numpy as jnp
import numpy as np

from detente.analysis import paper_plots
from detente.analysis.crossplay import crossplay, group_summary
from detente.games.hanabi import (
    HanabiGame,
    colour_action_perm,
    colour_obs_perm,
    colour_permutations,
    random_legal_scores,
)
from detente.games.symmetry import Symmetry
from detente.solvers.rl.ippo import IPPOConfig, train_ippo
from detente.solvers.rl.policy import NetworkConfig
from detente.solvers.rl.ppo import PPOConfig
from detente.solvers.zsc.equivariant import symmetrized
from detente.solvers.zsc.ers import ERSConfig, discover_ers, ers_group, train_ers_other_play
from detente.solvers.zsc.other_play import other_play_env
from detente.solvers.zsc.selfplay import agent_params
from detente.solvers.zsc.symmetrizer import group_spec

NAME = "hanabi_crossplay"
PAPER = {
    "title": "'Other-Play' for Zero-Shot Coordination",
    "authors": "Hu, Lerer, Peysakhovich, Foerster",
    "venue": "ICML 2020",
    "url": "https://arxiv.org/abs/2003.02979",
    "result": "Sec. 6.2: two-player Hanabi, self-play and cross-play of self-play (SAD) "
    "and Other-Play (SAD+OP) agents",
}
METHODS = ("selfplay", "other-play")
SHORT = {"selfplay": "SP", "other-play": "OP"}
TITLES = {"selfplay": "self-play", "other-play": "Other-Play"}
REFERENCE = {
    "selfplay": {"method": "SAD", "self_play": 23.98, "cross_play": 2.53},
    "other-play": {"method": "SAD+OP", "self_play": 23.93, "cross_play": 15.28},
    "max_score": 25,
    "source": "the Other-Play paper's Hanabi table (Sec. 6.2) as quoted in this project's "
    "design notes (docs: shared/design.md, reference results); not re-read from the paper "
    "here. SAD agents: recurrent Q-learning with the simplified action decoder, greedy at "
    "test time, a GPU budget; ours: IPPO with an MLP on a CPU budget, sampled actions",
}
# benchmarks/hanabi_ippo.py's LEARNING_CONFIG: what learns fastest per second on this CPU
LEARNING = IPPOConfig(
    num_envs=64,
    num_steps=32,
    num_updates=1700,
    share_params=True,
    ppo=PPOConfig(lr=1e-3, ent_coef=0.01, epochs=4, minibatches=4),
    network=NetworkConfig(hidden_sizes=(64, 64), activation="relu"),
)
# XLA's optimisation level 1 compiles the training program 2-3x faster on this CPU
# (about 10 s instead of 16-29 s) for the same run time at the small budgets, and
# about 6 % slower at the full one, where the compilation does not matter.
FAST_COMPILE = {"xla_backend_optimization_level": 1}
SETTINGS = {
    "quick": dict(
        config=dataclasses.replace(LEARNING, num_envs=8, num_steps=8),
        episodes=2,
        compiler_options=FAST_COMPILE,
    ),
    "default": dict(
        config=LEARNING,
        episodes=64,
        compiler_options=FAST_COMPILE,
    ),
    "full": dict(config=LEARNING, episodes=128, compiler_options=None),
}
DEFAULT = _common.Budget(seeds=2, steps=60)
FULL = _common.Budget(seeds=4, steps=1700)
QUICK = _common.Budget(seeds=2, steps=2)
FULL_NOTE = (
    "3.5M turns per agent, what benchmarks/hanabi_ippo.py's 10-minute single-agent "
    "learning run reaches on this CPU under a load of 5, for each of the 8 agents"
)
RANDOM_GAMES = 1024


# ----------------------------------------------------------------------------
# Training: all 2S agents in one program


def training_envs():
    """``(op_env, sp_params, op_params)``: Hanabi's Other-Play wrapper and its params per method.

    ``op_params`` sample from the 120 colour permutations; ``sp_params`` from
    120 copies of the identity, under which the wrapper shows every
    observation and mask and plays every action unchanged (plain self-play;
    ``tests/test_paper_figures_zsc.py`` checks it step for step).
    """
    env = HanabiGame()
    env_params = env.default_params()
    group = env.symmetry_group(env_params)
    identity = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x[:1], x.shape), group)
    op_env, op_params = other_play_env(env, group, env_params)
    return op_env, op_env.make_params(env_params, group=identity), op_params


def _train_all(keys, params, *, env, config):
    return jax.vmap(lambda k, p: train_ippo(k, env, config, p))(keys, params)


@functools.lru_cache(maxsize=4)
def _compiled(options: tuple):
    """``_train_all`` jitted with XLA ``options`` (one jitted function per options)."""
    return jax.jit(
        _train_all, static_argnames=("env", "config"), compiler_options=dict(options) or None
    )


def train(config: IPPOConfig, s: int, key: jax.Array, compiler_options: dict | None = None) -> dict:
    """Train ``s`` self-play then ``s`` Other-Play agents in one compiled program.

    Both methods are IPPO on the Other-Play wrapper of Hanabi; self-play's
    group is the identity repeated 120 times (every observation and action
    unchanged), Other-Play's the 120 colour permutations, so the two differ
    only in data and share the program.

    Returns:
        ``params`` (leaves ``[2s, ...]``, self-play first) and the per-update
        ``reward`` and ``entropy`` (``[2s, U]`` numpy).
    """
    op_env, sp_params, op_params = training_envs()
    params = jax.tree_util.tree_map(lambda a, b: jnp.stack([a] * s + [b] * s), sp_params, op_params)
    keys = jnp.concatenate(
        [jax.random.split(jax.random.fold_in(key, k), s) for k in range(len(METHODS))]
    )
    options = tuple(sorted((compiler_options or {}).items()))
    states, metrics = _compiled(options)(keys, params, env=op_env, config=config)
    return {
        "params": agent_params(states),
        "reward": np.asarray(metrics["reward_0"], np.float64),  # [2S, U] mean reward per turn
        "entropy": np.asarray(metrics["entropy_0"], np.float64),  # [2S, U]
    }


# ----------------------------------------------------------------------------
# Other-Play with expected-return symmetries (issue 6)

ERS_MISMATCHED = 40  # candidates that relabel observations and colour hints differently
ERS_SETTINGS = {  # rollout scoring of the candidates on the self-play pool
    "quick": dict(eval_episodes=2, max_steps=8, tolerance=25.0),
    "default": dict(eval_episodes=64, max_steps=100, tolerance=0.5),
    "full": dict(eval_episodes=128, max_steps=100, tolerance=0.4),
}


def ers_candidates(key: jax.Array, num_mismatched: int = ERS_MISMATCHED) -> Symmetry:
    """The candidate family of ERS discovery on Hanabi: colour relabellings, matched or not.

    The 120 colour permutations applied to observations and colour hints
    alike (the game's symmetries), then ``num_mismatched`` maps that relabel
    the observation by one permutation and the colour hints by another
    (drawn uniformly, never equal): not symmetries, and a self-play pool
    whose hints carry colour conventions loses return under them. Restricting
    the search to this family is prior knowledge (that colours matter as a
    block); learning 658 x 658 observation maps needs a GPU budget.
    """
    sig = colour_permutations()
    k1, k2 = jax.random.split(key)
    i = np.asarray(jax.random.randint(k1, (num_mismatched,), 0, len(sig)))
    j = (i + np.asarray(jax.random.randint(k2, (num_mismatched,), 1, len(sig)))) % len(sig)
    obs_sig = np.concatenate([np.arange(len(sig)), i])
    hint_sig = np.concatenate([np.arange(len(sig)), j])
    return Symmetry(
        obs_perm=jnp.asarray(np.stack([colour_obs_perm(np.argsort(sig[k])) for k in obs_sig])),
        action_perm=jnp.asarray(np.stack([colour_action_perm(sig[k]) for k in hint_sig])),
        state_perm=None,
    )


def ers_other_play(
    config: IPPOConfig, s: int, key: jax.Array, sp_params, level: str, compiler_options
) -> tuple[dict, object]:
    """Discover ERS among :func:`ers_candidates` from the self-play agents, then Other-Play with them.

    Returns ``(numbers, params)``: the discovery's counts and the ERS-OP agents'
    parameters (``None`` when no map is kept). Other-Play uses the Other-Play
    agents' keys (``fold_in(key, 1)``), so the two differ only in the group.
    """
    cfg = ERSConfig(**ERS_SETTINGS[level], pool_tolerance=25.0, max_group_size=120)
    env = HanabiGame()
    cands = ers_candidates(jax.random.fold_in(key, 5))
    res = discover_ers(
        jax.random.fold_in(key, 6), env, config.network, sp_params, cfg, candidates=cands
    )
    matched = np.arange(res.kept.size) < len(colour_permutations())
    numbers = {
        "candidates": {"symmetries": int(matched.sum()), "mismatched": int((~matched).sum())},
        "valid": {
            "symmetries": int(res.valid[matched].sum()),
            "mismatched": int(res.valid[~matched].sum()),
        },
        "kept": {
            "symmetries": int(res.kept[matched].sum()),
            "mismatched": int(res.kept[~matched].sum()),
        },
        "group_checked": res.group_checked,
        "group_closed": res.group_closed,
        "pool_returns": res.baseline.tolist(),
        "largest_change": {
            name: float(np.abs(res.returns[sel] - res.baseline).max())
            for name, sel in (("symmetries", matched), ("mismatched", ~matched))
        },
        "scoring": dataclasses.asdict(cfg),
    }
    if not res.kept.any():
        return numbers, None
    group = ers_group(res, max_group_size=cfg.max_group_size)
    numbers["group_size"] = int(group.action_perm.shape[0]) if isinstance(group, Symmetry) else None
    keys = jax.random.split(jax.random.fold_in(key, 1), s)
    states, _ = train_ers_other_play(
        keys, env, config, res, max_group_size=cfg.max_group_size, compiler_options=compiler_options
    )
    return numbers, agent_params(states)


# ----------------------------------------------------------------------------
# Numbers


def _summary(x) -> dict:
    return {"mean": float(x.mean), "sem": float(x.sem), "n": int(x.n)}


def analyse(run: dict, xp, rnd: np.ndarray, s: int) -> dict:
    """JSON-ready numbers: block summaries, random play, the matrix, the paper comparison."""
    blocks = group_summary(xp, [SHORT[m] for m in METHODS for _ in range(s)])
    ours: dict = {"methods": {}}
    for k, m in enumerate(METHODS):
        block = blocks[f"{SHORT[m]}|{SHORT[m]}"]
        r = run["reward"][k * s : (k + 1) * s]
        tail = max(1, r.shape[1] // 10)
        ours["methods"][m] = {
            "self_play": _summary(block["self_play"]),
            "cross_play": _summary(block["cross_play"]),
            "final_train_reward_per_turn": float(r[:, -tail:].mean()),
            "updates": int(r.shape[1]),
        }
    ours["selfplay_vs_other_play"] = _summary(blocks["SP|OP"]["cross_play"])
    ours["random_legal"] = {
        "mean": float(rnd.mean()),
        "sem": float(rnd.std(ddof=1) / math.sqrt(rnd.size)),
        "n": int(rnd.size),
    }
    ours["matrix"] = {
        "size": int(xp.returns.shape[0]),
        "episodes_per_pair_and_order": xp.num_episodes,
        "unfinished": xp.unfinished,
        "greedy": xp.greedy,
        "mean_length": float(np.mean(xp.mean_length)),
    }
    ours["paper_comparison"] = {
        m: {
            "paper_method": REFERENCE[m]["method"],
            "paper_self_play": REFERENCE[m]["self_play"],
            "paper_cross_play": REFERENCE[m]["cross_play"],
            "paper_ratio": REFERENCE[m]["cross_play"] / REFERENCE[m]["self_play"],
            "ours_self_play": ours["methods"][m]["self_play"]["mean"],
            "ours_cross_play": ours["methods"][m]["cross_play"]["mean"],
            "ours_ratio": _ratio(ours["methods"][m]),
        }
        for m in METHODS
    }
    return ours


def analyse_symmetrized(xp, xp_sym, kind: str, s: int) -> dict:
    """The self-play agents symmetrized over ``kind`` (issue 6) against the plain ones.

    ``cross_play_change`` is paired: per unordered pair of self-play agents,
    symmetrized cross-play minus plain cross-play (both seat orders averaged),
    mean and sem over the ``S (S - 1) / 2`` pairs; ``self_play_change`` the
    same over the ``S`` agents.
    """
    plain = xp.returns[:s, :s]
    sym = xp_sym.returns
    iu = np.triu_indices(s, 1)
    dx = 0.5 * (sym[iu] + sym.T[iu]) - 0.5 * (plain[iu] + plain.T[iu])
    ds = np.diag(sym) - np.diag(plain)

    def ms(d):
        return {
            "mean": float(d.mean()) if d.size else math.nan,
            "sem": float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.nan,
            "n": int(d.size),
        }

    return {
        "group": kind,
        "group_size": None,
        "self_play": _summary(xp_sym.self_play),
        "cross_play": _summary(xp_sym.cross_play),
        "self_play_change": ms(ds),
        "cross_play_change": ms(dx),
    }


def _ratio(e: dict) -> float:
    sp, xp = e["self_play"]["mean"], e["cross_play"]["mean"]
    return xp / sp if np.isfinite(sp) and np.isfinite(xp) and sp > 0 else math.nan


def _above(x: dict, base: dict) -> tuple[bool, float]:
    """``x`` above ``base`` by more than two standard errors of the difference (0 if NaN)."""
    sem = lambda d: d["sem"] if np.isfinite(d["sem"]) else 0.0  # noqa: E731
    margin = 2.0 * math.sqrt(sem(x) ** 2 + sem(base) ** 2)
    return bool(np.isfinite(x["mean"]) and x["mean"] > base["mean"] + margin), margin


def compare(ours: dict) -> list[_common.Check]:
    """What a CPU budget can show: the agents beat random legal play."""
    rnd = ours["random_legal"]
    checks = []
    for m, part in (
        ("selfplay", "self_play"),
        ("other-play", "self_play"),
        ("other-play", "cross_play"),
    ):
        x = ours["methods"][m][part]
        ok, margin = _above(x, rnd)
        ref = REFERENCE[m]
        checks.append(
            _common.claim_check(
                f"{SHORT[m]} agents: {part.replace('_', '-')} above random legal play",
                f"{ref['method']} {ref[part]:.2f} (random legal play about 0)",
                f"{x['mean']:.2f} +- {x['sem']:.2f} vs random {rnd['mean']:.2f}",
                ok,
                f"ours > random + 2 s.e.m. of the difference ({margin:.2f})",
            )
        )
    return checks


def print_details(ours: dict) -> None:
    print("\npaper (GPU, SAD) beside ours (CPU, IPPO MLP); printed, not judged:")
    print(
        f"  {'':12s} {'paper SP':>9s} {'paper XP':>9s} {'XP/SP':>6s}   {'ours SP':>8s} "
        f"{'ours XP':>8s} {'XP/SP':>6s}"
    )
    for m, c in ours["paper_comparison"].items():
        print(
            f"  {TITLES[m]:12s} {c['paper_self_play']:9.2f} {c['paper_cross_play']:9.2f}"
            f" {c['paper_ratio']:6.2f}   {c['ours_self_play']:8.2f} {c['ours_cross_play']:8.2f}"
            f" {c['ours_ratio']:6.2f}"
        )
    x, r, mat = ours["selfplay_vs_other_play"], ours["random_legal"], ours["matrix"]
    print(
        f"  SP x OP cross-play {x['mean']:.2f} +- {x['sem']:.2f}; random legal play "
        f"{r['mean']:.2f} +- {r['sem']:.2f} ({r['n']} games); {mat['size']}x{mat['size']} matrix, "
        f"{mat['episodes_per_pair_and_order']} episodes per pair and seat order, mean length "
        f"{mat['mean_length']:.1f} turns, unfinished {mat['unfinished']:.3f}"
    )
    if "ers_other_play" in ours:
        e = ours["ers_other_play"]
        kept, valid = e["kept"], e["valid"]
        line = (
            f"  ERS from the SP agents: valid {valid['symmetries']}/{e['candidates']['symmetries']}"
            f" colour symmetries, {valid['mismatched']}/{e['candidates']['mismatched']} mismatched"
            f" relabellings; kept {kept['symmetries']} + {kept['mismatched']}"
        )
        if "cross_play" in e:
            sp, xp = e["self_play"], e["cross_play"]
            line += (
                f"; ERS-OP self-play {sp['mean']:.2f} +- {sp['sem']:.2f}, cross-play "
                f"{xp['mean']:.2f} +- {xp['sem']:.2f}"
            )
        print(line)
    if "symmetrized_selfplay" in ours:
        y = ours["symmetrized_selfplay"]
        sp, xp, d = y["self_play"], y["cross_play"], y["cross_play_change"]
        print(
            f"  SP symmetrized over {y['group']} ({y['group_size']} colour permutations): "
            f"self-play {sp['mean']:.2f} +- {sp['sem']:.2f}, cross-play {xp['mean']:.2f} +- "
            f"{xp['sem']:.2f}, cross-play change vs plain {d['mean']:+.2f} +- {d['sem']:.2f} "
            "(paired over pairs)"
        )


# ----------------------------------------------------------------------------
# Figure


def _curves(ax, run: dict, config: IPPOConfig, s: int) -> None:
    x = np.arange(1, run["reward"].shape[1] + 1) * config.num_envs * config.num_steps
    curves = {TITLES[m]: run["reward"][k * s : (k + 1) * s] for k, m in enumerate(METHODS)}
    paper_plots.mean_band(
        ax,
        curves,
        x=x / 1e6,
        band="std",
        xlabel="turns per agent (millions)",
        ylabel="training reward per turn",
        title="training (mean +- s.d. over agents)",
    )


def _heatmap(ax, xp, s: int) -> None:
    r = xp.returns
    im = ax.imshow(r, cmap="viridis", vmin=0.0, interpolation="nearest")
    ax.axhline(s - 0.5, color="w", lw=1)
    ax.axvline(s - 0.5, color="w", lw=1)
    labels = [f"{SHORT[m]}{i}" for m in METHODS for i in range(s)]
    ax.set_xticks(np.arange(2 * s))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yticks(np.arange(2 * s))
    ax.set_yticklabels(labels, fontsize=7)
    if 2 * s <= 12:
        for i in range(2 * s):
            for j in range(2 * s):
                ax.text(j, i, f"{r[i, j]:.2f}", ha="center", va="center", size=7, color="w")
    ax.set(xlabel="partner", ylabel="agent", title=f"cross-play, {2 * s} x {2 * s} (one program)")
    ax.figure.colorbar(im, ax=ax, label="mean score")


def _bars(ax, ours: dict) -> None:
    """Our SP and XP per method beside the paper's (a GPU budget) and random legal play."""
    labels = ["SP\nself-play", "SP\ncross-play", "OP\nself-play", "OP\ncross-play"]
    parts = [
        ("selfplay", "self_play"),
        ("selfplay", "cross_play"),
        ("other-play", "self_play"),
        ("other-play", "cross_play"),
    ]
    mean = np.array([ours["methods"][m][p]["mean"] for m, p in parts])
    sem = np.array([ours["methods"][m][p]["sem"] for m, p in parts])
    paper = np.array([REFERENCE[m][p] for m, p in parts])
    if "cross_play" in ours.get("ers_other_play", {}):  # nor an ERS row (a later paper)
        e = ours["ers_other_play"]
        labels += ["ERS-OP\nself-play", "ERS-OP\ncross-play"]
        mean = np.append(mean, [e["self_play"]["mean"], e["cross_play"]["mean"]])
        sem = np.append(sem, [e["self_play"]["sem"], e["cross_play"]["sem"]])
        paper = np.append(paper, [np.nan, np.nan])
    if "symmetrized_selfplay" in ours:  # the paper has no symmetrized SAD row
        sym = ours["symmetrized_selfplay"]
        labels += [f"SP sym {sym['group']}\nself-play", f"SP sym {sym['group']}\ncross-play"]
        mean = np.append(mean, [sym["self_play"]["mean"], sym["cross_play"]["mean"]])
        sem = np.append(sem, [sym["self_play"]["sem"], sym["cross_play"]["sem"]])
        paper = np.append(paper, [np.nan, np.nan])
    paper_plots.grouped_bars(
        ax,
        {"ours (IPPO, CPU)": np.nan_to_num(mean), "paper (SAD, GPU)": np.nan_to_num(paper)},
        labels,
        errors={"ours (IPPO, CPU)": np.nan_to_num(sem)},
        ylim=(0.0, 25.5),
        ylabel="mean score (out of 25)",
        title="self-play and cross-play",
        legend_loc="upper right",
    )
    rnd = ours["random_legal"]["mean"]
    ax.axhline(rnd, color="k", ls=":", lw=1)
    ax.annotate("random legal", (0.0, rnd), xycoords=("axes fraction", "data"), size=7, va="bottom")
    for x, (m_, s_) in enumerate(zip(mean, sem, strict=True)):
        if np.isfinite(m_):
            ax.annotate(
                f"{m_:.2f}",
                (x - 0.2, m_ + (s_ if np.isfinite(s_) else 0.0)),
                ha="center",
                va="bottom",
                size=7,
                xytext=(0, 2),
                textcoords="offset points",
            )


def draw(path, run: dict, config: IPPOConfig, xp, ours: dict, s: int) -> None:
    fig, axes = paper_plots.figure(1, 3, panel_size=(5.2, 4.2))
    _curves(axes[0], run, config, s)
    _heatmap(axes[1], xp, s)
    _bars(axes[2], ours)
    paper_plots.save(fig, path)


# ----------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = _common.make_parser(
        NAME, __doc__.splitlines()[0], default=DEFAULT, full=FULL, full_note=FULL_NOTE
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny batches, 2 updates")
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="cross-play episodes per pair and seat order (default 64; --full 128; at least 2)",
    )
    parser.add_argument(
        "--greedy", action="store_true", help="greedy (most probable legal) actions in cross-play"
    )
    parser.add_argument(
        "--symmetrize",
        default="dihedral",
        choices=("none", "cyclic", "dihedral", "full"),
        help="also play the self-play agents symmetrized over this colour subgroup "
        "(issue 6; default dihedral, 10 elements; full = all 120, about 10x slower)",
    )
    parser.add_argument(
        "--no-ers",
        dest="ers",
        action="store_false",
        help="skip Other-Play with expected-return symmetries discovered from the self-play "
        "agents among colour relabellings (issue 6)",
    )
    args = parser.parse_args(argv)
    if args.quick and args.full:
        raise SystemExit("--quick and --full exclude each other")
    level = "quick" if args.quick else "full" if args.full else "default"
    base = {"quick": QUICK, "default": DEFAULT, "full": FULL}[level]
    budget = _common.resolve_budget(args, base, base)
    episodes = SETTINGS[level]["episodes"] if args.episodes is None else args.episodes
    if episodes < 2:
        raise SystemExit(f"--episodes={episodes} is not allowed: expected an integer >= 2")
    config = dataclasses.replace(SETTINGS[level]["config"], num_updates=budget.steps)
    s = budget.seeds
    turns = config.num_envs * config.num_steps * config.num_updates
    print(
        f"{NAME}: {s} agents per method, {config.num_updates} updates x {config.num_envs} games"
        f" x {config.num_steps} turns ({turns / 1e6:.2f}M turns per agent), MLP "
        f"{config.network.hidden_sizes} relu; {2 * s}x{2 * s} cross-play, {episodes} episodes"
        " per pair and seat order",
        flush=True,
    )
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(args.seed)
    seconds = {}
    run = train(config, s, key, SETTINGS[level]["compiler_options"])
    seconds["train"] = time.perf_counter() - t0
    print(f"trained {2 * s} agents ({seconds['train']:.0f} s)", flush=True)
    t = time.perf_counter()
    env = HanabiGame()

    def play(network, params, k: int):
        """The cross-play matrix of ``params`` (key ``fold_in(key, k)``)."""
        return crossplay(
            env, network, params, None, jax.random.fold_in(key, k), episodes, greedy=args.greedy
        )

    xp = play(config.network, run["params"], 2)
    seconds["crossplay"] = time.perf_counter() - t
    sp_params = jax.tree_util.tree_map(lambda x: x[:s], run["params"])  # the self-play agents
    xp_sym = None
    if args.symmetrize != "none":
        t = time.perf_counter()
        group = group_spec(env, args.symmetrize)
        xp_sym = play(symmetrized(config.network, group), sp_params, 4)
        seconds["crossplay_symmetrized"] = time.perf_counter() - t
    xp_ers = None
    if args.ers:
        t = time.perf_counter()
        compiler_options = SETTINGS[level]["compiler_options"]
        ers, ers_params = ers_other_play(config, s, key, sp_params, level, compiler_options)
        if ers_params is not None:
            xp_ers = play(config.network, ers_params, 7)
        seconds["ers_other_play"] = time.perf_counter() - t
    t = time.perf_counter()
    rnd = np.asarray(random_legal_scores(jax.random.fold_in(key, 3), RANDOM_GAMES).score, float)
    seconds["random_legal"] = time.perf_counter() - t
    total = time.perf_counter() - t0
    print(f"cross-play done ({seconds['crossplay']:.0f} s)", flush=True)
    ours = analyse(run, xp, rnd, s)
    if xp_sym is not None:
        ours["symmetrized_selfplay"] = analyse_symmetrized(xp, xp_sym, args.symmetrize, s)
        ours["symmetrized_selfplay"]["group_size"] = group.size
    if args.ers:
        ours["ers_other_play"] = ers
        if xp_ers is not None:
            ours["ers_other_play"]["self_play"] = _summary(xp_ers.self_play)
            ours["ers_other_play"]["cross_play"] = _summary(xp_ers.cross_play)
    ours["seconds"] = seconds
    checks = compare(ours)
    print_details(ours)
    _common.print_table(f"{PAPER['result']} ({s} agents per method, {total:.0f} s)", checks)
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, total)
    cfg = _common.run_config(
        NAME,
        argv,
        args,
        budget,
        level=level,
        game="two-player Hanabi (detente.games.hanabi.HanabiGame over JaxMARL's hanabi): "
        "5 colours, 5 ranks, hands of 5, 8 information and 3 life tokens; score 0-25, "
        "bomb-0 (0 after losing the third life)",
        ippo=dataclasses.asdict(config),
        methods={
            "selfplay": "IPPO, one shared policy, OtherPlayEnv whose 120 group elements are all "
            "the identity (plain self-play)",
            "other-play": "IPPO on OtherPlayEnv over the 120 colour permutations, an independent "
            "uniform permutation per agent and episode",
        },
        crossplay={
            "agents": f"{s} self-play then {s} Other-Play agents",
            "episodes_per_pair_and_seat_order": episodes,
            "actions": "greedy" if args.greedy else "sampled from each policy",
            "seat_orders": "both, averaged",
        },
        random_legal_games=RANDOM_GAMES,
        compiler_options=SETTINGS[level]["compiler_options"],
        seed_keys="jax.random.split(jax.random.fold_in(PRNGKey(seed), k), seeds), "
        "k = 0 self-play, 1 Other-Play; fold_in 2 cross-play, 3 random play",
    )
    arrays = {
        "crossplay/returns": xp.returns,
        "crossplay/sem": xp.sem,
        "crossplay/seat_returns": xp.seat_returns,
        "crossplay/mean_length": xp.mean_length,
        "crossplay/groups": np.array([SHORT[m] for m in METHODS for _ in range(s)]),
        "random_legal/score": rnd,
    }
    if xp_ers is not None:
        arrays["ers_other_play/returns"] = xp_ers.returns
        arrays["ers_other_play/sem"] = xp_ers.sem
    if xp_sym is not None:
        arrays["symmetrized_selfplay/returns"] = xp_sym.returns
        arrays["symmetrized_selfplay/sem"] = xp_sym.sem
    for k, m in enumerate(METHODS):
        for name in ("reward", "entropy"):
            arrays[f"{SHORT[m].lower()}/{name}"] = run[name][k * s : (k + 1) * s]
    _common.write_outputs(
        args.out,
        summary,
        cfg,
        arrays,
        lambda p: draw(p, run, config, xp, ours, s),
        f"{NAME}.png",
    )
    return summary


if __name__ == "__main__":
    main()
