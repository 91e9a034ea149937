"""Symmetry-aware zero-shot coordination in the lever game: SP, OP, ERS-OP, symmetrizer, equivariant.

Compares, in the one-shot lever game of Hu et al. 2020 (ten levers, nine pay
1.0 and one 0.9, both players are paid only if they pull the same lever;
:class:`detente.games.coordination.LeverGame`), the ways of not breaking the
game's symmetries by an arbitrary convention from

* "Expected Return Symmetries" (Muglich, Forkel, van der Pol, Foerster, ICLR
  2025, https://arxiv.org/abs/2502.01711): symmetries are *learned* from a
  pool of self-play agents (maps of observations and actions that keep every
  pool agent's expected return) and replace the true ones in Other-Play, and
* "Equivariant Networks for Zero-Shot Coordination" (Muglich, Schroeder de
  Witt, van der Pol, Whiteson, Foerster, NeurIPS 2022,
  https://arxiv.org/abs/2210.12124): a policy equivariant under a group ``G``,
  ``pi(g . o) = g . pi(o)``, either a trained agent averaged over ``G`` (the
  symmetrizer, the paper's "coordination-improvement operator", no
  retraining) or weight-tied equivariant layers trained from scratch.

Methods, ``S`` seeds each (the names of ``summary.json``):

* ``selfplay`` (SP): :func:`~detente.solvers.zsc.selfplay.train_selfplay` at
  ``zsc_config("lever", "selfplay")``; each seed picks one of the nine
  1.0-levers: 1.0 with itself, 1/9 in expectation with another seed.
* ``other-play`` (OP): :func:`~detente.solvers.zsc.other_play.train_other_play`
  with the true symmetries (``S_9`` on the 1.0-levers); the 0.9 lever, the
  only one no symmetry moves: 0.9 in self- and cross-play.
* ``ers-other-play`` (ERS-OP): :func:`~detente.solvers.zsc.ers.discover_ers`
  on the ``S`` SP agents as the pool (:class:`~detente.solvers.zsc.ers.ERSConfig`
  defaults), then :func:`~detente.solvers.zsc.ers.train_ers_other_play` with
  the kept maps at the Other-Play config and seeds. The ERS paper's claim:
  the maps send 1.0-levers to 1.0-levers and never move the 0.9 lever, and
  Other-Play with them matches Other-Play with the true symmetries (0.9).
* ``symmetrized-cyclic`` / ``symmetrized-dihedral`` (SP+C9 / SP+D9): the SP
  agents, unchanged parameters, seen through
  :func:`~detente.solvers.zsc.equivariant.symmetrized` over the cyclic (9
  elements) or dihedral (18) subgroup of
  :func:`~detente.solvers.zsc.symmetrizer.group_spec`. Both act transitively
  on the nine 1.0-levers, so the logits of those are replaced by their mean:
  an agent sure of one 1.0-lever becomes uniform over the nine, 1/9 in self-
  and cross-play (the symmetrizer removes the arbitrary convention, and with
  it the agent's own coordination; it cannot move mass to the 0.9 lever).
* ``equivariant`` (EQ-D9): weight-tied equivariant MLP
  (:func:`~detente.solvers.zsc.equivariant.equivariant_network`, dihedral
  group D9, 18 elements) trained from scratch by self-play at the Other-Play
  config (its entropy bonus and annealed step size): an equivariant policy
  puts the same probability on all nine 1.0-levers, so its self-play
  objective is Other-Play's and its optimum the 0.9 lever. D9, not C9: over
  48 seeds of this config D9 networks reached the 0.9 lever 48 times, C9
  networks (two channels per hidden unit group instead of one) 44 times, the
  rest staying in the objective's 1/9 trap near the uniform policy.

Cross-play (:func:`detente.analysis.crossplay.crossplay`, both seat orders,
sampled actions): one matrix per network, i.e. one ``3S x 3S`` matrix of the
SP, OP and ERS-OP agents (one MLP; its off-diagonal blocks give SP x OP and
OP x ERS-OP) and one ``S x S`` matrix for each of SP+C9, SP+D9 and EQ-D9.
Per method: self-play (the diagonal of its block) and cross-play (the
off-diagonal cells) with standard errors, the seeds on the 0.9 lever, and the
exact values: the game's value is bilinear, ``J(p_i, p_j) = sum_a p_i(a) p_j(a)
payoff(a)`` (:func:`detente.games.coordination.lever_value`) of the agents'
probabilities (through each method's own network), which each sampled matrix
is compared with. The closed forms are :func:`~detente.games.coordination.reference_values`.

Budgets: the default is 16 seeds per method at the configs' budgets (150 SP
updates, 2000 updates for OP, ERS-OP and EQ; ERS pool = the 16 SP agents),
``--full`` 32 seeds; ``--steps`` sets the OP, ERS-OP and EQ updates,
``--selfplay-steps`` the SP ones, ``--ers-maps`` / ``--ers-steps`` the
discovery's maps and Adam steps. The SP cross-play check has the seed-sampling
standard deviation of ``paper_figures/other_play_lever.py`` (0.029 for 16 seeds).

Usage:
    python paper_figures/symmetry_lever.py [--full] [--out DIR] [--seed N] [--seeds S]
        [--steps T] [--selfplay-steps T] [--episodes E] [--ers-maps M] [--ers-steps T]
"""

from __future__ import annotations

import dataclasses
import math
import time

import _common
import jax
import jax.numpy as jnp
import numpy as np
from other_play_lever import COMPILER_OPTIONS, _agreement, _lever_labels, _summary

from detente.analysis import paper_plots
from detente.analysis.crossplay import crossplay, group_summary
from detente.games.coordination import LeverGame, lever_value, reference_values
from detente.games.symmetry import generated_group, identity_symmetry, stack_symmetries
from detente.solvers.rl.policy import make_policy
from detente.solvers.zsc.configs import zsc_config
from detente.solvers.zsc.equivariant import equivariant_network, symmetrized
from detente.solvers.zsc.ers import ERSConfig, discover_ers, train_ers_other_play
from detente.solvers.zsc.other_play import train_other_play
from detente.solvers.zsc.selfplay import action_probs, agent_params, train_selfplay
from detente.solvers.zsc.symmetrizer import group_spec

NAME = "symmetry_lever"
PAPER = {
    "title": "Expected Return Symmetries; Equivariant Networks for Zero-Shot Coordination",
    "authors": "Muglich, Forkel, van der Pol, Foerster; "
    "Muglich, Schroeder de Witt, van der Pol, Whiteson, Foerster",
    "venue": "ICLR 2025; NeurIPS 2022",
    "url": "https://arxiv.org/abs/2502.01711",
    "also": "https://arxiv.org/abs/2210.12124",
    "result": "the lever game: SP, OP with true and with expected-return symmetries, "
    "symmetrized SP agents and equivariant agents in self- and cross-play",
}
METHODS = (
    "selfplay",
    "other-play",
    "ers-other-play",
    "symmetrized-cyclic",
    "symmetrized-dihedral",
    "equivariant",
)
SHORT = {
    "selfplay": "SP",
    "other-play": "OP",
    "ers-other-play": "ERS-OP",
    "symmetrized-cyclic": "SP+C9",
    "symmetrized-dihedral": "SP+D9",
    "equivariant": "EQ-D9",
}
# one cross-play matrix per network
MATRICES = {
    "mlp": ("selfplay", "other-play", "ers-other-play"),
    "symmetrized-cyclic": ("symmetrized-cyclic",),
    "symmetrized-dihedral": ("symmetrized-dihedral",),
    "equivariant": ("equivariant",),
}
TOL = 0.05
EPISODES = 128
MAX_ORDER = 5040  # largest generated ERS group enumerated for its order
_OP_UPDATES = zsc_config("lever", "other-play").num_updates
DEFAULT = _common.Budget(seeds=16, steps=_OP_UPDATES)
FULL = _common.Budget(seeds=32, steps=_OP_UPDATES)
FULL_NOTE = (
    "more seeds for tighter cross-play estimates; steps are the Other-Play, ERS-OP and "
    f"equivariant PPO updates, self-play keeps its config's "
    f"{zsc_config('lever', 'selfplay').num_updates} (--selfplay-steps)"
)
REFERENCE = {
    "selfplay": {"self_play": 1.0, "cross_play": 1.0 / 9.0},
    "other-play": {"self_play": 0.9, "cross_play": 0.9},
    "ers-other-play": {"self_play": 0.9, "cross_play": 0.9},
    "symmetrized-cyclic": {"self_play": 1.0 / 9.0, "cross_play": 1.0 / 9.0},
    "symmetrized-dihedral": {"self_play": 1.0 / 9.0, "cross_play": 1.0 / 9.0},
    "equivariant": {"self_play": 0.9, "cross_play": 0.9},
    "ers_other_play_minus_other_play": 0.0,
    "source": "closed forms (detente.games.coordination.reference_values): SP 1.0 / 1/9; "
    "OP, ERS-OP (ERS paper: Other-Play with discovered symmetries matches Other-Play with "
    "the true ones) and equivariant agents (EQC paper: equivariance = Other-Play's "
    "objective) 0.9 on the 0.9 lever; an SP agent on one 1.0-lever symmetrized over a "
    "group transitive on the nine is uniform over them: 1/9 in self- and cross-play",
}


def _reference(method: str, ref) -> tuple[float, float]:
    """``(self-play, cross-play)`` closed forms of ``method`` from :class:`LeverValues`."""
    if method == "selfplay":
        return ref.self_play, ref.cross_play
    if method.startswith("symmetrized"):
        return ref.cross_play, ref.cross_play
    return ref.other_play, ref.other_play


def configs(args, budget: _common.Budget, env: LeverGame) -> dict:
    """Each method's IPPO config at this budget (symmetrized methods: the SP config's network)."""
    sp_steps = args.selfplay_steps
    if sp_steps is not None and sp_steps < 1:
        raise SystemExit(f"--selfplay-steps={sp_steps} is not allowed: expected a positive integer")
    sp = zsc_config("lever", "selfplay")
    sp = dataclasses.replace(sp, num_updates=sp_steps or sp.num_updates)
    op = dataclasses.replace(zsc_config("lever", "other-play"), num_updates=budget.steps)
    if sp.network != op.network:
        raise SystemExit("the self-play and Other-Play networks differ: one matrix needs one")
    cyclic, dihedral = group_spec(env, "cyclic"), group_spec(env, "dihedral")
    return {
        "selfplay": sp,
        "other-play": op,
        "ers-other-play": op,
        "symmetrized-cyclic": dataclasses.replace(sp, network=symmetrized(sp.network, cyclic)),
        "symmetrized-dihedral": dataclasses.replace(sp, network=symmetrized(sp.network, dihedral)),
        "equivariant": dataclasses.replace(op, network=equivariant_network(op.network, dihedral)),
    }


def lever_probs(env: LeverGame, network, params) -> np.ndarray:
    """``[S, A]`` lever probabilities of a stack of agents on the constant observation."""
    policy = make_policy(env.observation_shape, int(env.num_actions), network)
    obs = jnp.ones((1, *env.observation_shape))
    return np.asarray(jax.vmap(lambda q: action_probs(policy, q, obs))(params)[:, 0], np.float64)


def train(method: str, config, keys, env: LeverGame, symmetries=None) -> dict:
    """Train ``S`` agents of ``method``; parameters, lever probabilities, training curves."""
    if method == "other-play":
        states, metrics = train_other_play(keys, env, config, compiler_options=COMPILER_OPTIONS)
    elif method == "ers-other-play":
        states, metrics = train_ers_other_play(
            keys, env, config, symmetries, compiler_options=COMPILER_OPTIONS
        )
    else:  # selfplay, equivariant (self-play of an equivariant network)
        states, metrics = train_selfplay(keys, env, config, compiler_options=COMPILER_OPTIONS)
    params = agent_params(states)  # leaves [S, ...]
    return {
        "params": params,
        "probs": lever_probs(env, config.network, params),
        "reward": np.asarray(metrics["reward_0"], np.float64),  # [S, U]
    }


def orbit_sizes(perms: np.ndarray) -> np.ndarray:
    """``[A]`` size of each action's orbit under the group generated by ``perms`` ``[K, A]``."""
    root = np.arange(perms.shape[1])

    def find(a: int) -> int:
        while root[a] != a:
            a = root[a]
        return a

    for sigma in perms:
        for a, b in enumerate(sigma.tolist()):
            root[find(a)] = find(b)
    labels = np.array([find(a) for a in range(root.size)])
    return np.bincount(labels, minlength=root.size)[labels]


def discover(key, env: LeverGame, network, pool_params, ers_config: ERSConfig) -> tuple:
    """ERS discovery on the pool; ``(result, symmetries for Other-Play, numbers)``.

    When no map is kept (a pool too untrained to tell symmetries apart), ERS-OP
    falls back to the identity: Other-Play over the trivial group, i.e. self-play.
    """
    res = discover_ers(key, env, network, pool_params, ers_config)
    ap = np.asarray(res.symmetries.action_perm)  # [K, A]
    kept = ap.shape[0]
    syms = res.symmetries if kept else stack_symmetries([identity_symmetry(env)])
    pay = np.round(np.asarray(env.default_params().payoffs, np.float64), 6)
    unique = int(np.flatnonzero(pay != pay.max())[0])
    try:
        order = int(generated_group(syms, MAX_ORDER).action_perm.shape[0])
    except ValueError:  # e.g. S_9 on the nine 1.0-levers, 362880 elements
        order = None
    learned = np.asarray(res.maps.action_perm)
    info = {
        "maps_learned": int(learned.shape[0]),
        "maps_valid": int(np.sum(res.valid)),
        "maps_kept": kept,
        "pool_agents_used": int(np.sum(res.pool)),
        "kept_action_perms": ap,
        "kept_preserve_payoffs": bool(kept and (pay[ap] == pay).all()),
        "kept_fix_unique_lever": bool(kept and (ap[:, unique] == unique).all()),
        # maps scoring like the identity on the pool that move the 0.9 lever (dropped by closure)
        "valid_maps_moving_unique_lever": int(np.sum(res.valid & (learned[:, unique] != unique))),
        "group_order": order,  # None: more than MAX_ORDER elements
        # P(g fixes lever a) for g uniform on the generated group, 1 / |orbit(a)|
        # (orbit-stabiliser): lever a's Other-Play value per unit payoff (1/9 on every
        # 1.0-lever for a group transitive on the nine)
        "p_fixed_per_lever": 1.0 / orbit_sizes(np.asarray(syms.action_perm)),
        "fallback_identity": not kept,
    }
    return res, syms, info


def analyse(matrices: dict, runs: dict, payoffs: np.ndarray, s: int) -> dict:
    """JSON-ready numbers per method and per matrix."""
    top = payoffs.max()
    unique = int(np.flatnonzero(payoffs != top)[0])
    eye = np.eye(s, dtype=bool)
    ours = {"methods": {}, "matrices": {}}
    for name, mat in matrices.items():
        xp, exact = mat["xp"], mat["exact"]
        blocks = group_summary(xp, [SHORT[m] for m in MATRICES[name] for _ in range(s)])
        ours["matrices"][name] = {
            "methods": list(MATRICES[name]),
            "size": int(xp.returns.shape[0]),
            "episodes_per_pair_and_order": xp.num_episodes,
            "unfinished": xp.unfinished,
            "max_abs_sampled_minus_exact": float(np.abs(xp.returns - exact).max()),
            **_agreement(xp, exact, mat["exact_sq"]),
        }
        for k, m in enumerate(MATRICES[name]):
            p = runs[m]["probs"]
            block = blocks[f"{SHORT[m]}|{SHORT[m]}"]
            ex = exact[k * s : (k + 1) * s, k * s : (k + 1) * s]
            mass = p[:, payoffs == top]  # [S, 9]
            lever = p.argmax(-1)
            ours["methods"][m] = {
                "self_play": _summary(block["self_play"]),
                "cross_play": _summary(block["cross_play"]),
                "exact_self_play": float(np.diag(ex).mean()),
                "exact_cross_play": float(ex[~eye].mean()),
                "lever_per_seed": lever,
                "seeds_per_lever": np.bincount(lever, minlength=payoffs.size),
                "seeds_on_unique_lever": int(np.sum(p[:, unique] >= 0.9)),
                "seeds_on_top_lever": int(np.sum(mass.max(-1) >= 0.9)),
                "mean_p_unique_lever": float(p[:, unique].mean()),
                # max over seeds of |p(a) / mass - 1/9| on the nine: 0 for an equivariant policy
                "top_lever_spread": float(
                    np.abs(mass / mass.sum(-1, keepdims=True) - 1.0 / mass.shape[1]).max()
                ),
                "updates": int(runs[m]["reward"].shape[1]),
            }
        for g, h in (("SP", "OP"), ("OP", "ERS-OP"), ("SP", "ERS-OP")):
            if f"{g}|{h}" in blocks:
                ours[f"{g}_x_{h}"] = _summary(blocks[f"{g}|{h}"]["cross_play"])
    q = 1.0 / int(np.sum(payoffs == top))
    ours["selfplay_cross_play_null_sd"] = math.sqrt(q * (1 - q) / (s * (s - 1) / 2)) * top
    ours["unique_lever"] = unique
    return ours


def compare(ours: dict, ref) -> list[_common.Check]:
    """Every method's self- and cross-play against its closed form, and the ERS claims."""
    checks = []
    for m in METHODS:
        e = ours["methods"][m]
        for block, target in zip(("self_play", "cross_play"), _reference(m, ref), strict=True):
            x = e[block]
            note = (
                f" (seed-sampling s.d. {ours['selfplay_cross_play_null_sd']:.3f})"
                if (m, block) == ("selfplay", "cross_play")
                else ""
            )
            checks.append(
                _common.Check(
                    name=f"{SHORT[m]}: {block.replace('_', '-')}",
                    paper=f"{target:.3f}",
                    ours=f"{x['mean']:.3f} +- {x['sem']:.3f}",
                    passed=bool(np.isfinite(x["mean"]) and abs(x["mean"] - target) <= TOL),
                    rule=f"|ours - paper| <= {TOL:g}{note}",
                )
            )
    ers = ours["ers"]
    checks.append(
        _common.claim_check(
            "ERS maps: 1.0-levers among themselves, 0.9 lever fixed",
            "all kept maps",
            f"{ers['maps_kept']} kept of {ers['maps_learned']}, group order "
            f"{ers['group_order'] or f'> {MAX_ORDER}'}",
            ers["kept_preserve_payoffs"] and ers["kept_fix_unique_lever"],
            "at least one map kept, every kept map preserves payoffs and fixes the 0.9 lever",
        )
    )
    xp = {m: ours["methods"][m]["cross_play"]["mean"] for m in ("other-play", "ers-other-play")}
    diff = xp["ers-other-play"] - xp["other-play"]
    checks.append(
        _common.claim_check(
            "ERS-OP cross-play minus OP cross-play",
            "0 (matches)",
            f"{diff:+.3f}",
            bool(np.isfinite(diff) and abs(diff) <= TOL),
            f"|ERS-OP - OP| <= {TOL:g}",
        )
    )
    return checks


def print_details(ours: dict) -> None:
    for m in METHODS:
        e = ours["methods"][m]
        print(
            f"{SHORT[m]:<7} ({e['updates']} updates) levers {e['lever_per_seed'].tolist()}; "
            f"on the 0.9 lever {e['seeds_on_unique_lever']}, on a 1.0 lever "
            f"{e['seeds_on_top_lever']}; exact SP {e['exact_self_play']:.3f} "
            f"XP {e['exact_cross_play']:.3f}; 1.0-lever spread {e['top_lever_spread']:.2e}"
        )
    ers = ours["ers"]
    print(
        f"ERS: {ers['maps_kept']} of {ers['maps_learned']} maps kept ({ers['maps_valid']} valid, "
        f"{ers['valid_maps_moving_unique_lever']} valid ones moving the 0.9 lever, dropped); "
        f"generated group of order {ers['group_order'] or f'> {MAX_ORDER}'}; P(g fixes lever) "
        f"{np.round(ers['p_fixed_per_lever'], 3).tolist()}"
    )
    for name, mat in ours["matrices"].items():
        print(
            f"matrix {name} ({mat['size']}x{mat['size']}): sampled vs exact max |diff| "
            f"{mat['max_abs_sampled_minus_exact']:.3f}, pooled z {mat['pooled_z']:.2f}, "
            f"mean z^2 {mat['mean_z2']:.2f}"
        )


# ----------------------------------------------------------------------------
# Figure


def _bars(ax, ours: dict, ref) -> None:
    """Self-play and cross-play per method, s.e.m. bars, the closed forms as lines."""
    labels = [SHORT[m] for m in METHODS]
    values = {
        kind: np.array([ours["methods"][m][block]["mean"] for m in METHODS])
        for kind, block in (("self-play", "self_play"), ("cross-play", "cross_play"))
    }
    errors = {
        kind: np.nan_to_num(np.array([ours["methods"][m][block]["sem"] for m in METHODS]))
        for kind, block in (("self-play", "self_play"), ("cross-play", "cross_play"))
    }
    paper_plots.grouped_bars(
        ax,
        values,
        labels,
        errors=errors,
        ylim=(0.0, 1.12),
        ylabel="mean return (+- s.e.m.)",
        title="self-play and cross-play per method",
        legend_loc="upper right",
    )
    for name, y in (("1.0", ref.self_play), ("0.9", ref.other_play), ("1/9", ref.cross_play)):
        ax.axhline(y, color="k", ls=":", lw=1)
        ax.annotate(
            name, (0.0, y), xycoords=("axes fraction", "data"), ha="left", va="bottom", size=7
        )
    ax.tick_params(axis="x", labelsize=8)


def _levers(ax, runs: dict, payoffs: np.ndarray) -> None:
    paper_plots.grouped_bars(
        ax,
        {SHORT[m]: runs[m]["probs"].mean(0) for m in METHODS},
        _lever_labels(payoffs),
        ylim=(0.0, 1.0),
        ylabel="P(lever), mean over seeds",
        title="lever probabilities",
        legend_ncol=2,
    )
    ax.set_xlabel("lever (payoff)")
    ax.tick_params(axis="x", labelsize=7)


def _maps(ax, ers: dict, payoffs: np.ndarray) -> None:
    ap = ers["kept_action_perms"]
    if ap.shape[0] == 0:
        ax.text(0.5, 0.5, "no map kept", ha="center", va="center")
        ax.set_axis_off()
        return
    im = ax.imshow(ap, cmap="tab10", vmin=-0.5, vmax=9.5, aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(payoffs.size))
    ax.set_xticklabels(_lever_labels(payoffs), fontsize=7)
    ax.set_yticks(np.arange(ap.shape[0]))
    ax.set(xlabel="lever a (payoff)", ylabel="kept map", title="ERS: kept lever maps sigma(a)")
    ax.figure.colorbar(im, ax=ax, label="sigma(a)", ticks=np.arange(payoffs.size))


def _heatmap(ax, xp, s: int) -> None:
    im = ax.imshow(xp.returns, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    names = [SHORT[m] for m in MATRICES["mlp"]]
    for k in range(1, len(names)):
        ax.axhline(k * s - 0.5, color="w", lw=1)
        ax.axvline(k * s - 0.5, color="w", lw=1)
    ticks = [(k + 0.5) * s - 0.5 for k in range(len(names))]
    ax.set_xticks(ticks)
    ax.set_xticklabels(names)
    ax.set_yticks(ticks)
    ax.set_yticklabels(names, rotation=90, va="center")
    n = xp.returns.shape[0]
    ax.set(xlabel="partner", ylabel="agent", title=f"cross-play, {n} x {n} (one MLP)")
    ax.figure.colorbar(im, ax=ax, label="mean return")


def draw(path, runs: dict, matrices: dict, ours: dict, payoffs: np.ndarray, ref, s: int) -> None:
    fig, axes = paper_plots.figure(2, 2, panel_size=(6.0, 4.4))
    _bars(axes[0], ours, ref)
    _levers(axes[1], runs, payoffs)
    _maps(axes[2], ours["ers"], payoffs)
    _heatmap(axes[3], matrices["mlp"]["xp"], s)
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
    parser.add_argument(
        "--ers-maps", type=int, default=ERSConfig.num_maps, help="maps learned by ERS discovery"
    )
    parser.add_argument(
        "--ers-steps", type=int, default=ERSConfig.num_steps, help="Adam steps per ERS map"
    )
    args = parser.parse_args(argv)
    budget = _common.resolve_budget(args, DEFAULT, FULL)
    if args.episodes < 2:
        raise SystemExit(f"--episodes={args.episodes} is not allowed: expected an integer >= 2")
    if budget.seeds < 2:
        raise SystemExit(f"--seeds={budget.seeds} is not allowed: expected an integer >= 2")
    try:
        ers_config = ERSConfig(num_maps=args.ers_maps, num_steps=args.ers_steps)
    except ValueError as err:
        raise SystemExit(f"--ers-maps / --ers-steps: {err}") from None
    env = LeverGame()
    cfg = configs(args, budget, env)
    s = budget.seeds
    params = env.default_params()
    payoffs = np.round(np.asarray(params.payoffs, np.float64), 6)  # float32 0.9 -> 0.9
    ref = reference_values(params)
    print(
        f"{NAME}: {s} seeds per method; self-play {cfg['selfplay'].num_updates} updates, "
        f"OP / ERS-OP / EQ {budget.steps}; ERS {ers_config.num_maps} maps x "
        f"{ers_config.num_steps} steps; {args.episodes} cross-play episodes per pair and order",
        flush=True,
    )
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(args.seed)
    runs, seconds = {}, {}

    def timed(label, fn):
        t = time.perf_counter()
        out = fn()
        seconds[label] = time.perf_counter() - t
        return out

    def keys(k):
        return jax.random.split(jax.random.fold_in(key, k), s)

    runs["selfplay"] = timed("selfplay", lambda: train("selfplay", cfg["selfplay"], keys(0), env))
    runs["other-play"] = timed(
        "other-play", lambda: train("other-play", cfg["other-play"], keys(1), env)
    )
    ers_res, syms, ers_info = timed(
        "ers-discovery",
        lambda: discover(
            jax.random.fold_in(key, 2),
            env,
            cfg["selfplay"].network,
            runs["selfplay"]["params"],
            ers_config,
        ),
    )
    # same seeds as OP: the two Other-Play variants differ only in their symmetries
    runs["ers-other-play"] = timed(
        "ers-other-play",
        lambda: train("ers-other-play", cfg["ers-other-play"], keys(1), env, syms),
    )
    for m in ("symmetrized-cyclic", "symmetrized-dihedral"):
        sp = runs["selfplay"]
        runs[m] = {**sp, "probs": lever_probs(env, cfg[m].network, sp["params"])}
    runs["equivariant"] = timed(
        "equivariant", lambda: train("equivariant", cfg["equivariant"], keys(3), env)
    )
    for m in METHODS:
        p = runs[m]["probs"]
        print(f"{SHORT[m]}: levers {p.argmax(-1).tolist()}, P(lever) min {p.max(-1).min():.3f}")

    matrices = {}
    squared = params.replace(payoffs=params.payoffs**2)
    for j, (name, methods) in enumerate(MATRICES.items()):
        stack = jax.tree_util.tree_map(
            lambda *xs: jnp.concatenate(xs), *[runs[m]["params"] for m in methods]
        )
        xp = timed(
            f"crossplay-{name}",
            lambda methods=methods, stack=stack, j=j: crossplay(
                env,
                cfg[methods[0]].network,
                stack,
                None,
                jax.random.fold_in(key, 10 + j),
                args.episodes,
                params,
            ),
        )
        pi = jnp.asarray(np.concatenate([runs[m]["probs"] for m in methods]))
        matrices[name] = {
            "xp": xp,
            "exact": np.asarray(lever_value(params, pi[:, None], pi[None]), np.float64),
            "exact_sq": np.asarray(lever_value(squared, pi[:, None], pi[None]), np.float64),
        }
    total = time.perf_counter() - t0
    ours = analyse(matrices, runs, payoffs, s)
    ours["ers"] = ers_info
    ours["seconds"] = seconds
    checks = compare(ours, ref)
    print_details(ours)
    _common.print_table(f"{PAPER['result']} ({s} seeds per method, {total:.0f} s)", checks)
    print(f"wall time {total:.0f} s", flush=True)
    summary = _common.summarize(PAPER, REFERENCE, ours, checks, total)
    config = _common.run_config(
        NAME,
        argv,
        args,
        budget,
        game="LeverGame(num_levers=10): both players get payoffs[a] if both pull lever a, else 0",
        payoffs=payoffs,
        methods={m: dataclasses.asdict(cfg[m]) for m in METHODS},
        ers=dataclasses.asdict(ers_config),
        ers_pool="the self-play agents of this run",
        crossplay={
            "matrices": {k: list(v) for k, v in MATRICES.items()},
            "episodes_per_pair_and_seat_order": args.episodes,
            "actions": "sampled from each policy",
            "seat_orders": "both, averaged",
        },
        compiler_options=COMPILER_OPTIONS,
        seed_keys="jax.random.split(jax.random.fold_in(PRNGKey(seed), k), seeds): k = 0 "
        "self-play, 1 Other-Play and ERS-OP, 3 equivariant; fold_in(.., 2) ERS discovery, "
        "fold_in(.., 10 + j) the j-th cross-play matrix",
    )
    arrays = {
        "payoffs": payoffs,
        "ers/maps_action_perm": np.asarray(ers_res.maps.action_perm),
        "ers/kept": ers_res.kept,
        "ers/valid": ers_res.valid,
        "ers/objective": ers_res.objective,
    }
    for name, mat in matrices.items():
        xp = mat["xp"]
        arrays[f"{name}/returns"] = xp.returns
        arrays[f"{name}/sem"] = xp.sem
        arrays[f"{name}/seat_returns"] = xp.seat_returns
        arrays[f"{name}/exact"] = mat["exact"]
        arrays[f"{name}/groups"] = np.array([SHORT[m] for m in MATRICES[name] for _ in range(s)])
    for m in METHODS:
        arrays[f"{m}/probs"] = runs[m]["probs"]
        arrays[f"{m}/reward"] = runs[m]["reward"]
    _common.write_outputs(
        args.out,
        summary,
        config,
        arrays,
        lambda p: draw(p, runs, matrices, ours, payoffs, ref, s),
        f"{NAME}.png",
    )
    return summary


if __name__ == "__main__":
    main()
