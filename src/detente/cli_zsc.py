"""``detente zsc``: train zero-shot-coordination agents and compare them in cross-play.

``detente zsc train METHOD --game GAME --seeds N --out DIR`` trains ``N``
agents (one per seed, all seeds one compiled program) with self-play or
Other-Play (IPPO with one policy in both seats,
:mod:`detente.solvers.zsc`), then plays every ordered pair of them
(:func:`detente.analysis.crossplay.crossplay`) and writes::

    DIR/summary.json        method, game, seeds, updates, wall time, the
                            self_play and cross_play summaries (mean, sem),
                            the matrix (returns, sem), per-seed final rewards
                            (and, in the lever games, each agent's lever)
    DIR/config.json         the resolved IPPO config and settings
    DIR/agents.safetensors  the trained agents (no pickle; metadata inside)
    DIR/metrics.npz         per-update training metrics [updates, seeds]
    DIR/training.png        the training reward of every seed
    DIR/crossplay.png       the cross-play heatmap
    DIR/checkpoints/        the last checkpoints (safetensors)

While it trains, everything lives in ``DIR.partial/``; ``DIR`` appears only
when the run is complete. A killed run continues with the same command and
``--resume`` and ends with the numbers of an uninterrupted run.

``detente zsc crossplay DIR... --out DIR`` loads the agents of several runs
(of one game and one network; say, self-play and Other-Play) and writes the
cross-play matrix of all of them, with the summaries per pair of runs.

Bad input exits with status 2 and one line on stderr, and writes nothing.

Reference: Hu, Lerer, Peysakhovich and Foerster 2020, "Other-Play for
Zero-Shot Coordination", ICML, https://arxiv.org/abs/2003.02979.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detente._checks import bad_value, check_positive_int
from detente.cli_shape import parse_overrides

# ----------------------------------------------------------------------------
# Games and methods


@dataclasses.dataclass(frozen=True)
class GameSpec:
    """One ``--game``: how to build it and how many cross-play episodes to play.

    The training budgets are :func:`detente.solvers.zsc.configs.zsc_config`'s.
    """

    description: str
    build: Callable[[], Any]  # () -> (env, env_params)
    episodes: int  # cross-play episodes per pair and seat order


def _lever(iterated: bool):
    def build():
        from detente.games.coordination import IteratedLeverGame, LeverGame

        env = IteratedLeverGame() if iterated else LeverGame()
        return env, env.default_params()

    return build


def _noisy(iterated: bool):
    def build():
        from detente.games.noisy import noisy_lever_game
        from detente.solvers.zsc.nzsc import EVAL_SIGMAS

        return noisy_lever_game(iterated, sigma_levels=EVAL_SIGMAS)

    return build


def _hanabi():
    from detente.games.hanabi import HanabiGame

    env = HanabiGame()
    return env, env.default_params()


GAMES = {
    "lever": GameSpec(
        "the Other-Play lever game: 10 levers, nine pay 1.0 and one 0.9, one shot",
        _lever(False),
        episodes=256,
    ),
    "iterated-lever": GameSpec(
        "the iterated lever game: 10 rounds, each player sees the partner's last lever",
        _lever(True),
        episodes=64,
    ),
    "noisy-lever": GameSpec(
        "the noisy lever game (NZSC): 3 levers around 5, each agent sees them with its own "
        "Gaussian noise, sigma drawn from {0, 1, 2, 4} per episode; one shot",
        _noisy(False),
        episodes=256,
    ),
    "iterated-noisy-lever": GameSpec(
        "the noisy lever game over 16 rounds (NZSC; GRU policies)",
        _noisy(True),
        episodes=64,
    ),
    "hanabi": GameSpec(
        "two-player Hanabi (JaxMARL's hanabi, legal-action masks), score 0-25",
        _hanabi,
        episodes=16,
    ),
}
METHODS = {
    "selfplay": "IPPO self-play, one policy in both seats (MLP or GRU)",
    "other-play": "Other-Play: self-play with an independent random symmetry per seat "
    "and episode (Hu et al. 2020)",
    "common-knowledge": "Other-Play on a noisy game with every noise level 0 (the NZSC "
    "baseline: trained on the true payoffs, evaluated under noise; noisy games only)",
    "equivariant": "self-play of a weight-tied equivariant MLP over a symmetry subgroup "
    "(--group; Muglich et al. 2022), with the game's Other-Play budget",
    "ers-discover": "learn expected-return symmetries from the agents of a self-play run "
    "(--pool RUN; --set ERSConfig fields; Muglich et al. 2025); writes symmetries.safetensors",
    "ers-op": "Other-Play with the symmetries of an ers-discover run (--symmetries DIR) "
    "in place of the game's own",
}
# the subgroup an equivariant policy uses when --group is not given (lever: D9, 18 elements)
DEFAULT_GROUP = {"lever": "dihedral", "iterated-lever": "dihedral", "hanabi": "full"}
NOISY = ("noisy-lever", "iterated-noisy-lever")  # NZSC games: their summaries add the noise sweep


def list_text() -> str:
    """The ``--list`` text."""
    lines = ["methods:"]
    lines += [f"  {k:<15} {v}" for k, v in METHODS.items()]
    lines.append("games:")
    from detente.solvers.zsc.configs import ZSC_CONFIGS
    from detente.solvers.zsc.nzsc import NZSC_CONFIGS

    for k, g in GAMES.items():
        lines.append(f"  {k:<15} {g.description}")
        configs = {**ZSC_CONFIGS, **NZSC_CONFIGS}
        budgets = [f"{m} {c.num_updates}" for (gg, m), c in configs.items() if gg == k]
        lines.append(f"  {'':<15} default updates: {', '.join(budgets)}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# Arguments


def add_parser(sub) -> None:
    p = sub.add_parser(
        "zsc",
        help="zero-shot coordination: train self-play / Other-Play agents, cross-play matrices",
        description="Train zero-shot-coordination agents and compare them in cross-play.",
    )
    zsub = p.add_subparsers(dest="zsc_command", required=True, parser_class=type(p))
    t = zsub.add_parser(
        "train",
        help="train N agents (one per seed) and their cross-play matrix",
        description="Train N agents with METHOD on GAME; write DIR/summary.json (self_play, "
        "cross_play, matrix), agents.safetensors, metrics.npz, plots and checkpoints/.",
    )
    t.add_argument("method", nargs="?", help="the method (see --list)")
    t.add_argument("--list", action="store_true", help="list methods and games")
    t.add_argument("--game", default="lever", help="the game (default lever)")
    t.add_argument("--seeds", type=int, default=16, metavar="N", help="agents (default 16)")
    t.add_argument("--seed", type=int, default=0, metavar="S", help="base seed (default 0)")
    t.add_argument(
        "--updates", type=int, default=None, metavar="U", help="PPO updates (default: the game's)"
    )
    t.add_argument(
        "--network", default=None, choices=("mlp", "gru"), help="policy network (default: game's)"
    )
    t.add_argument(
        "--episodes",
        type=int,
        default=None,
        metavar="E",
        help="cross-play episodes per pair and seat order (default: the game's)",
    )
    t.add_argument(
        "--group",
        default=None,
        metavar="KIND",
        help="equivariant: the subgroup, trivial|cyclic|dihedral|full (default: the game's)",
    )
    t.add_argument(
        "--pool", default=None, metavar="RUN", help="ers-discover: a self-play run's folder"
    )
    t.add_argument(
        "--symmetries",
        default=None,
        metavar="DIR",
        help="ers-op: an ers-discover folder (or its symmetries.safetensors)",
    )
    t.add_argument("--out", default=None, metavar="DIR", help="output folder")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run")
    t.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="K",
        help="updates between checkpoints (default: a tenth of the run)",
    )
    t.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override an IPPOConfig field (num_envs, num_steps, ppo.lr, network.gru_size, ...)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress lines")

    c = zsub.add_parser(
        "crossplay",
        help="the cross-play matrix of the agents of several runs",
        description="Load the agents of one or more `detente zsc train` folders (same game and "
        "network) and write the cross-play matrix of all of them.",
    )
    c.add_argument("runs", nargs="*", metavar="RUN", help="folders written by `detente zsc train`")
    c.add_argument("--out", default=None, metavar="DIR", help="output folder (required)")
    c.add_argument(
        "--episodes", type=int, default=None, metavar="E", help="episodes per pair and seat order"
    )
    c.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    c.add_argument("--greedy", action="store_true", help="greedy instead of sampled actions")
    c.add_argument(
        "--symmetrize",
        default=None,
        metavar="KIND",
        help="play the agents symmetrized over a subgroup: trivial|cyclic|dihedral|full "
        "(Muglich et al. 2022's symmetrizer; no retraining)",
    )


def _check_seed(value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_value("--seed", value, "a non-negative integer")


def _config(game: str, method: str, overrides: list[str], updates: int | None, network):
    """The IPPOConfig of a run: ``zsc_config(game, method)``, then ``--network``,
    ``--updates`` and ``--set`` (``FIELD=V``, ``ppo.FIELD=V``, ``network.FIELD=V``)."""
    from detente.solvers.rl.ippo import IPPOConfig
    from detente.solvers.rl.policy import NetworkConfig
    from detente.solvers.rl.ppo import PPOConfig
    from detente.solvers.zsc.configs import zsc_config

    # an equivariant policy's self-play objective is the Other-Play objective (its trap
    # included), so it trains with the Other-Play budget (solvers/zsc/configs.py)
    if game in NOISY:
        from detente.solvers.zsc.nzsc import nzsc_config

        base = nzsc_config(game, "selfplay" if method == "selfplay" else "other-play")
    else:
        base = zsc_config(game, "other-play" if method in ("equivariant", "ers-op") else method)
    nested = {"ppo": base.ppo, "network": base.network}
    if network is not None and network != base.network.kind:
        nested["network"] = NetworkConfig(kind=network)
    classes = {"ppo": PPOConfig, "network": NetworkConfig}
    for part, cls in classes.items():
        items = [s.strip()[len(part) + 1 :] for s in overrides if s.strip().startswith(part + ".")]
        nested[part] = dataclasses.replace(nested[part], **parse_overrides(cls, items, "--set"))
    top = [s for s in overrides if s.split("=", 1)[0].strip().split(".")[0] not in classes]
    fields = {f.name for f in dataclasses.fields(IPPOConfig)} - {"ppo", "network", "share_params"}
    for s in top:
        if s.split("=", 1)[0].strip() not in fields:
            raise bad_value(
                "--set",
                s,
                "FIELD=VALUE with FIELD one of " + ", ".join(sorted(fields)) + ", ppo.*, network.*",
            )
    values = parse_overrides(IPPOConfig, top)
    if updates is not None:
        check_positive_int("--updates", updates)
        values["num_updates"] = updates
    return dataclasses.replace(base, **values, **nested)


def _group_kind(args) -> str | None:
    """The subgroup of an ``equivariant`` run (``--group`` or the game's default), else None."""
    from detente.games.symmetry import SUBGROUPS

    if args.method != "equivariant":
        if args.group is not None:
            raise bad_value("--group", args.group, "only with the equivariant method")
        return None
    kind = DEFAULT_GROUP[args.game] if args.group is None else args.group
    if kind not in SUBGROUPS:
        raise bad_value("--group", kind, "one of " + ", ".join(SUBGROUPS))
    return kind


def _equivariant(network, env, kind: str, mode: str = "weight-tied"):
    """``network`` made equivariant over ``env``'s subgroup ``kind`` (weight-tied or symmetrizer)."""
    from detente.solvers.zsc.equivariant import equivariant_network
    from detente.solvers.zsc.symmetrizer import group_spec

    return equivariant_network(network, group_spec(env, kind), mode=mode)


def _config_json(config) -> dict:
    from detente.io import to_jsonable

    return json.loads(json.dumps(to_jsonable(dataclasses.asdict(config))))


# ----------------------------------------------------------------------------
# train


def _train(args) -> int:
    import jax
    import numpy as np

    from detente import checkpoint as ckpt
    from detente.analysis.crossplay import crossplay
    from detente.io import write_json
    from detente.solvers.zsc.agents import save_agents
    from detente.solvers.zsc.other_play import other_play_env
    from detente.solvers.zsc.selfplay import agent_params, make_selfplay
    from detente.training import run_trainer, vmap_trainer

    if args.list:
        print(list_text())
        return 0
    if args.method is None:
        raise bad_value("method", None, "a method name (see `detente zsc train --list`)")
    if args.method not in METHODS:
        raise bad_value("method", args.method, "one of " + ", ".join(METHODS))
    if args.game not in GAMES:
        raise bad_value("--game", args.game, "one of " + ", ".join(GAMES))
    for flag, method in (("pool", "ers-discover"), ("symmetries", "ers-op")):
        if getattr(args, flag) is not None and args.method != method:
            raise bad_value(f"--{flag}", getattr(args, flag), f"only with the {method} method")
        if getattr(args, flag) is None and args.method == method:
            raise bad_value(f"--{flag}", None, f"a folder (required by {method})")
    if args.game in NOISY and args.method not in ("selfplay", "other-play", "common-knowledge"):
        raise bad_value("method", args.method, "selfplay, other-play or common-knowledge here")
    if args.method == "common-knowledge" and args.game not in NOISY:
        raise bad_value("--game", args.game, "a noisy game: " + ", ".join(NOISY))
    _check_seed(args.seed)
    if args.method == "ers-discover":
        return _ers_discover(args)
    check_positive_int("--seeds", args.seeds)
    spec = GAMES[args.game]
    episodes = spec.episodes if args.episodes is None else args.episodes
    check_positive_int("--episodes", episodes)
    config = _config(args.game, args.method, args.overrides, args.updates, args.network)
    group = _group_kind(args)
    every = args.checkpoint_every or max(1, config.num_updates // 10)
    check_positive_int("--checkpoint-every", every)
    out = Path(args.out or f"runs/zsc-{args.method}-{args.game}")
    partial = out.parent / f"{out.name}.partial"
    for p in (out, partial):
        if p.exists() and not p.is_dir():
            raise bad_value("--out", str(out), f"a folder path ({p} is a file)")
    ckdir = partial / "checkpoints"
    settings = {
        "method": args.method,
        "game": args.game,
        "seeds": args.seeds,
        "seed": args.seed,
        "config": _config_json(config),
    }
    if group is not None:
        settings["group"] = group
    if args.symmetries is not None:
        from detente.solvers.zsc.ers import ers_group, load_symmetries

        symmetries, ers_meta = load_symmetries(args.symmetries)
        if ers_meta.get("game") != args.game:
            raise bad_value("--symmetries", args.symmetries, f"maps discovered in {args.game}")
        settings["symmetries"] = str(Path(args.symmetries).resolve())
    if ckpt.latest_checkpoint(ckdir) is not None:
        if not args.resume:
            raise ValueError(
                f"an interrupted run is in {partial}: add --resume to continue it, "
                "or delete that folder to start again"
            )
        old = ckpt.read_checkpoint_info(ckpt.latest_checkpoint(ckdir)).meta.get("meta", {})
        if old.get("settings") != settings:
            raise ValueError(
                f"--resume: the run in {partial} has other settings ({old.get('settings')}); "
                "use its command or delete that folder"
            )

    env, env_params = spec.build()
    if group is not None:
        config = dataclasses.replace(config, network=_equivariant(config.network, env, group))
    if args.method == "other-play":
        train_env, train_params = other_play_env(env, None, env_params)
    elif args.method == "common-knowledge":
        from detente.solvers.zsc.nzsc import common_knowledge_params

        train_env, train_params = other_play_env(env, None, common_knowledge_params(env_params))
    elif args.method == "ers-op":
        train_env, train_params = other_play_env(env, ers_group(symmetries), env_params)
    else:
        train_env, train_params = env, env_params
    trainer = vmap_trainer(make_selfplay(train_env, config, train_params), args.seeds)
    partial.mkdir(parents=True, exist_ok=True)
    write_json(partial / "config.json", {"command": "zsc train", **settings, "episodes": episodes})
    label = f"{args.method} {args.game} x{args.seeds}"
    if not args.quiet:
        print(
            f"detente zsc train {label}: {config.num_updates} updates, checkpoints in {ckdir}",
            file=sys.stderr,
            flush=True,
        )
    t0 = time.perf_counter()
    try:
        result = run_trainer(
            trainer,
            jax.random.PRNGKey(args.seed),
            config.num_updates,
            chunk=every,
            checkpoint_dir=ckdir,
            checkpoint_every=every,
            resume=args.resume,
            progress=not args.quiet,
            label=label,
            meta={"settings": settings},
        )
    except KeyboardInterrupt:
        print(f"detente: interrupted; continue with --resume ({ckdir})", file=sys.stderr)
        return 130
    wall = time.perf_counter() - t0
    agents = agent_params(result.state)
    t1 = time.perf_counter()
    xp = crossplay(
        env, config.network, agents, None, jax.random.PRNGKey(args.seed + 1), episodes, env_params
    )
    xp_wall = time.perf_counter() - t1
    names = [f"seed{s}" for s in range(args.seeds)]
    summary = {
        "method": args.method,
        "game": args.game,
        "game_name": spec.description,
        "seeds": args.seeds,
        "seed": args.seed,
        "updates": config.num_updates,
        "wall_time_s": wall,
        "crossplay_wall_time_s": xp_wall,
        "resumed_from": result.resumed_from,
        **_crossplay_json(xp, names),
        "final_reward_per_step": np.asarray(result.metrics["reward_0"])[-1].tolist(),
    }
    if args.game in ("lever", "iterated-lever"):
        summary["levers"] = _levers(env, env_params, config, agents)
    if args.game in NOISY and args.seeds >= 2:
        summary["noise"] = _noise_sweep(env, env_params, config, agents, args.seed, episodes)
    metadata = {"method": args.method, "game": args.game, "settings": settings}

    def write(tmp: Path):
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "config.json", {"command": "zsc train", **settings, "episodes": episodes})
        save_agents(tmp / "agents.safetensors", config.network, agents, metadata, names=names)
        np.savez_compressed(tmp / "metrics.npz", **result.metrics)
        _plot_training(result.metrics, tmp / "training.png", label)
        _heatmap(xp, tmp / "crossplay.png", names, label)
        (tmp / "checkpoints").mkdir()
        for p in ckpt.list_checkpoints(ckdir):
            shutil.copy2(p, tmp / "checkpoints" / p.name)

    _finish(out, write)
    shutil.rmtree(partial, ignore_errors=True)
    _print(summary, out, label)
    return 0


def _ers_discover(args) -> int:
    """``detente zsc train ers-discover --pool RUN``: maps learned from a self-play pool."""
    import jax
    import numpy as np

    from detente.io import to_jsonable, write_json
    from detente.solvers.zsc.agents import load_agents
    from detente.solvers.zsc.ers import SYMMETRIES_FILE, ERSConfig, discover_ers, save_symmetries

    config = ERSConfig(**parse_overrides(ERSConfig, args.overrides, "--set"))
    if args.updates is not None:
        raise bad_value("--updates", args.updates, "not with ers-discover (use --set num_steps=N)")
    agents = load_agents(args.pool)
    game = agents.metadata[0].get("game")
    if game != args.game:
        raise bad_value("--pool", args.pool, f"a run of --game {args.game} (it is {game})")
    out = Path(args.out or f"runs/zsc-ers-{args.game}")
    if out.exists() and not out.is_dir():
        raise bad_value("--out", str(out), "a folder path (a file of that name exists)")
    env, env_params = GAMES[args.game].build()
    t0 = time.perf_counter()
    res = discover_ers(
        jax.random.PRNGKey(args.seed), env, agents.network, agents.params, config, env_params
    )
    wall = time.perf_counter() - t0
    act = np.asarray(res.symmetries.action_perm)
    summary = {
        "method": "ers-discover",
        "game": args.game,
        "pool": str(Path(args.pool).resolve()),
        "pool_agents": agents.num_agents,
        "pool_used": int(np.sum(res.pool)),
        "maps_learned": int(res.kept.size),
        "maps_valid": int(np.sum(res.valid)),
        "maps_kept": int(act.shape[0]),
        "kept_action_perms": act.tolist(),
        "fixed_actions": [np.flatnonzero(a == np.arange(a.size)).tolist() for a in act],
        "objective": to_jsonable(res.objective),
        "baseline": to_jsonable(res.baseline),
        "group_checked": res.group_checked,
        "group_closed": res.group_closed,
        "wall_time_s": wall,
    }
    settings = {"game": args.game, "pool": summary["pool"], "seed": args.seed}
    settings["config"] = _config_json(config)

    def write(tmp: Path):
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "config.json", {"command": "zsc train ers-discover", **settings})
        save_symmetries(tmp / SYMMETRIES_FILE, res.symmetries, settings)

    _finish(out, write)
    print(f"detente zsc ers-discover {args.game}: {agents.num_agents} pool agents")
    print(f"  maps kept   {summary['maps_kept']} of {summary['maps_learned']} learned")
    print(f"  checked     {res.group_checked} elements of their group")
    print(f"wrote {out}/")
    return 0


def _noise_sweep(env, env_params, config, agents, seed: int, episodes: int) -> dict:
    """Cross-play at each NZSC noise level, next to the best achievable return."""
    import jax

    from detente.io import to_jsonable
    from detente.solvers.zsc.nzsc import evaluate_under_noise

    ev = evaluate_under_noise(
        env,
        config.network,
        agents,
        jax.random.PRNGKey(seed + 2),
        env_params,
        num_episodes=episodes,
    )
    fields = ("sigmas", "cross_play", "cross_play_sem", "self_play", "self_play_sem", "best")
    return to_jsonable({**{f: getattr(ev, f) for f in fields}, "argmax_of_own_view": ev.greedy})


def _crossplay_json(xp, names) -> dict:
    from detente.analysis.crossplay import to_json

    j = to_json(xp, names)
    return {
        "self_play": j["self_play"],
        "cross_play": j["cross_play"],
        "matrix": {"returns": j["returns"], "sem": j["sem"], "labels": j["labels"]["rows"]},
        "episodes_per_pair": j["num_episodes"],
    }


def _levers(env, env_params, config, agents) -> list[dict]:
    """Each agent's first-round lever probabilities (the lever games)."""
    import jax
    import numpy as np

    from detente.solvers.zsc.selfplay import action_probs, selfplay_policy

    ts = env.reset(jax.random.PRNGKey(0), env_params)
    policy = selfplay_policy(env, config)
    probs = jax.vmap(lambda p: action_probs(policy, p, ts.obs[:1]))(agents)[:, 0]
    probs = np.asarray(probs)
    payoffs = np.asarray(env_params.payoffs)
    return [
        {"lever": int(np.argmax(p)), "prob": float(p.max()), "payoff": float(payoffs[np.argmax(p)])}
        for p in probs
    ]


def _finish(out: Path, write) -> None:
    from detente.io import write_output_dir

    write_output_dir(out, write)


def _plot_training(metrics: dict, path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    r = np.asarray(metrics["reward_0"])  # [updates, seeds]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(np.arange(1, len(r) + 1), r, color="tab:blue", alpha=0.3, lw=0.8)
    ax.plot(np.arange(1, len(r) + 1), r.mean(1), color="tab:blue", lw=2, label="mean over seeds")
    ax.set_xlabel("PPO update")
    ax.set_ylabel("reward per step")
    ax.set_title(label)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _heatmap(xp, path: Path, labels, title: str) -> None:
    from detente.analysis.crossplay import crossplay_heatmap

    crossplay_heatmap(xp, path, labels, title=title)


def _print(summary: dict, out: Path, label: str) -> None:
    sp, xp = summary["self_play"], summary["cross_play"]
    print(f"detente zsc {label}: {summary.get('updates', '-')} updates")
    print(f"  self-play   {_ms(sp)}")
    print(f"  cross-play  {_ms(xp)}")
    if "levers" in summary:
        levers = [d["lever"] for d in summary["levers"]]
        print(f"  levers      {levers}")
    if "noise" in summary:
        n = summary["noise"]
        rows = zip(n["sigmas"], n["cross_play"], n["cross_play_sem"], n["best"], strict=True)
        for sig, x, e, b in rows:
            xp = _ms({"mean": x, "sem": e})
            print(f"  sigma {sig:<5g} cross-play {xp} (best achievable {b:.3f})")
    print(f"wrote {out}/")


def _ms(s: dict) -> str:
    if s.get("mean") is None:
        return "-"
    sem = s.get("sem")
    return f"{s['mean']:.3f} +/- {sem:.3f}" if sem is not None else f"{s['mean']:.3f}"


# ----------------------------------------------------------------------------
# crossplay


def _crossplay(args) -> int:
    import jax

    from detente.analysis.crossplay import crossplay, group_summary
    from detente.io import to_jsonable, write_json
    from detente.solvers.zsc.agents import load_agents

    if not args.runs:
        raise bad_value("RUN", None, "one or more folders written by `detente zsc train`")
    if args.out is None:
        raise bad_value("--out", None, "an output folder")
    _check_seed(args.seed)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise bad_value("--out", str(out), "a folder path (a file of that name exists)")
    agents = load_agents(*args.runs)
    games = sorted({str(m.get("game")) for m in agents.metadata})
    if len(games) != 1 or games[0] not in GAMES:
        raise bad_value("RUN games", games, "runs of one game: " + ", ".join(GAMES))
    game = games[0]
    episodes = GAMES[game].episodes if args.episodes is None else args.episodes
    check_positive_int("--episodes", episodes)
    env, env_params = GAMES[game].build()
    network = agents.network
    if args.symmetrize is not None:
        from detente.games.symmetry import SUBGROUPS
        from detente.solvers.zsc.equivariant import EquivariantNetwork

        if args.symmetrize not in SUBGROUPS:
            raise bad_value("--symmetrize", args.symmetrize, "one of " + ", ".join(SUBGROUPS))
        if isinstance(network, EquivariantNetwork):
            raise bad_value("--symmetrize", args.symmetrize, "agents with a plain network")
        network = _equivariant(network, env, args.symmetrize, mode="symmetrizer")
    t0 = time.perf_counter()
    xp = crossplay(
        env,
        network,
        agents.params,
        None,
        jax.random.PRNGKey(args.seed),
        episodes,
        env_params,
        greedy=args.greedy,
    )
    wall = time.perf_counter() - t0
    runs = [Path(p).parent.name if Path(p).suffix else Path(p).name for p in agents.paths]
    groups = [runs[int(s)] for s in agents.source]
    summary = {
        "game": game,
        "runs": [str(p) for p in agents.paths],
        "methods": [m.get("method") for m in agents.metadata],
        "agents": agents.num_agents,
        "wall_time_s": wall,
        "greedy": args.greedy,
        "symmetrize": args.symmetrize,
        **_crossplay_json(xp, agents.names),
        "by_run": to_jsonable(
            {
                k: {kk: vv._asdict() for kk, vv in v.items()}
                for k, v in group_summary(xp, groups).items()
            }
        ),
    }

    def write(tmp: Path):
        write_json(tmp / "summary.json", summary)
        _heatmap(xp, tmp / "crossplay.png", agents.names, f"cross-play, {game}")

    _finish(out, write)
    _print(summary, out, f"crossplay {game}, {agents.num_agents} agents")
    for pair, s in summary["by_run"].items():
        print(f"  {pair:<40} self-play {_ms(s['self_play'])}   cross-play {_ms(s['cross_play'])}")
    return 0


def run(args) -> int:
    """``detente zsc``: dispatch to ``train`` or ``crossplay``."""
    if args.zsc_command == "train":
        return _train(args)
    return _crossplay(args)
