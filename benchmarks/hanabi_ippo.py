"""Hanabi IPPO self-play on a CPU: training steps/s beside JaxMARL's raw env; a learning curve.

Two measurements, in one script run:

1. **Throughput** (always). IPPO self-play training
   (:func:`detente.solvers.zsc.selfplay.make_selfplay`, one shared MLP in
   both seats, legal-action masks, PPO updates included) on
   :class:`detente.games.hanabi.HanabiGame` at ``B`` parallel games, against
   JaxMARL's raw ``HanabiEnv`` stepping the same ``B`` games with uniformly
   random legal moves (``benchmarks/hanabi_env.py``'s JaxMARL program, its
   public ``step`` with auto-reset). One env step is one turn of one game on
   both sides. IPPO's rate is ``updates * B * num_steps / time`` of one
   compiled ``lax.scan`` of ``--updates`` updates (rollout, GAE, ``epochs x
   minibatches`` Adam steps); the raw rate is ``B * steps / time`` of one
   compiled scan of the same number of turns. Both are compiled first, then
   timed in turn, ``--repeats`` times each, alternating, so that a change of
   the machine's load weighs on both; best and median are reported, and the
   ratio of the best process CPU times (steadier than wall time when other
   jobs share the machine). The settings are those that learn in part 2
   (:data:`LEARNING_CONFIG`: two relu layers of 64, one PPO epoch of 4
   minibatches, ``turn_based``: the update learns from the acting seat's
   rows only) at ``B`` games; ``--epochs``, ``--all-rows`` (every seat's
   rows, as before ``turn_based``) and ``--hidden`` change them
   (``--hidden 512,512`` is JaxMARL's IPPO-FF Hanabi network size, about 8x
   slower here: the network dominates on a CPU).

2. **Learning curve** (``--learn-seconds S``). Trains one seed of
   :data:`LEARNING_CONFIG` for ``S`` seconds of wall time (compilation
   included), in compiled chunks of ``--chunk`` updates, and records after
   every chunk the mean final score of the games that ended during it (the
   episode return, bomb-0: 0 after losing every life), the env steps and the
   wall time. The trained agent is then scored in self-play on fresh games
   (:func:`detente.analysis.crossplay.crossplay` of the agent with itself,
   both seat orders, sampled and greedy actions) next to uniformly random
   legal play (:func:`detente.games.hanabi.random_legal_scores`). With
   ``--plot`` the curve is drawn; with ``--agents`` the agent is saved
   (:func:`detente.solvers.zsc.agents.save_agents`).

The learning config was chosen on this 2-core CPU (shared with other jobs,
load 4-7 then) by 2-minute probes: one-layer MLPs of 16, 64 and 128 units
and two layers of 64 and 256, learning rates 5e-4 to 2e-3, 64 to 256 games x
32 or 64 turns per update. Per env step all network sizes learn about
equally fast early on, so the small ones (3-5x faster per step than 256x256)
learn fastest per second; and small updates (64 games x 32 turns) reach a
score of 3 in about 250k turns where 256 x 64 needs about 800k. JaxMARL's
IPPO-FF Hanabi baseline (``baselines/IPPO/config/ippo_ff_hanabi.yaml``: lr
5e-4, 1,024 envs x 128 steps, 4 epochs x 4 minibatches, 512-unit relu
layers, 1e10 steps on a GPU) sets the other hyperparameters. Then
``turn_based`` (the update skips the waiting seat's no-op rows, half of
the data, which carry no policy gradient) with one PPO epoch instead of
four: at equal process CPU time (150 s, compilation excluded, 2 seeds,
one after the other) the mean final score of the training games in the
last tenth was 3.71 (3.69, 3.73; 2.5-2.7 M turns) against 3.61 (3.69,
3.53; 1.2-1.3 M turns) for every row x 4 epochs, and 4.12 (3.71, 4.53)
for ``turn_based`` x 2 epochs, which trains at only about 0.5x the raw
env's rate.

Measured here (2 AMD EPYC cores, shared): 10 minutes of learning,
compilation included, reach a self-play score of 4.68 (1,024 fresh games,
sampled actions; greedy 4.69) from 0 for random legal play, 8.9 M turns
at load 2.6-6.7 (before ``turn_based``, 4 epochs: 4.8, greedy 4.9, 11.1 M
turns at load 1.7); IPPO trains at 0.53x the raw env's rate at 1,024 games
(best; 0.65x median, 0.66x in CPU time) against 0.25x (0.27x, 0.23x) with
every row and 4 epochs, alternating in one process each (load 4-6).

Example:
    python benchmarks/hanabi_ippo.py --out runs/hanabi_ippo.json
    python benchmarks/hanabi_ippo.py --learn-seconds 600 --out runs/hanabi_ippo_learn.json \\
        --plot runs/hanabi_ippo_learn.png --agents runs/hanabi_ippo_agent.safetensors

References: de Witt et al. 2020, "Is Independent Learning All You Need in the
StarCraft Multi-Agent Challenge?", https://arxiv.org/abs/2011.09533 (IPPO);
Rutherford et al. 2024, "JaxMARL", https://arxiv.org/abs/2311.10090 (the
Hanabi env and its IPPO baseline); Bard et al. 2020, "The Hanabi Challenge",
https://arxiv.org/abs/1902.00506.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _machine import load_average, machine_facts, time_alternating, time_call

from detente.env import Wrapper
from detente.io import write_json
from detente.solvers.rl.ippo import IPPOConfig
from detente.solvers.zsc.configs import zsc_config

# the default Hanabi self-play config; the update count is a cap: the learning run stops on
# wall time (no lr annealing)
LEARNING_CONFIG = dataclasses.replace(zsc_config("hanabi", "selfplay"), num_updates=1_000_000)


@dataclasses.dataclass(frozen=True)
class EpisodeScore(Wrapper):
    """``env`` with two per-agent ``info`` entries from which IPPO's metrics give the score.

    ``info["episode_score"]`` (``[N]`` float32) is ``info["score"]`` (the
    final score, bomb-0) on the step that ends an episode and 0 elsewhere;
    ``info["episode_end"]`` (``[N]`` float32) is 1 on that step. IPPO
    reports each as a mean per step (``episode_score_0``,
    ``episode_end_0``), so their ratio is the mean final score of the games
    that ended in the rollout. Everything else passes through.
    """

    def default_params(self):
        return self.env.default_params()

    def _add(self, ts):
        end = jnp.asarray(ts.done, jnp.float32)
        score = jnp.asarray(ts.info["score"], jnp.float32) * end
        n = self.num_agents
        info = {
            **ts.info,
            "episode_score": jnp.full((n,), score),
            "episode_end": jnp.full((n,), end),
        }
        return ts._replace(info=info)

    def reset(self, key, params):
        return self._add(self.env.reset(key, params))

    def step(self, key, state, actions, params):
        return self._add(self.env.step(key, state, actions, params))


def _strong(tree):
    """Device arrays without weak types, so a compiled chunk is not traced again on its output."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), tree)


def _chunk_program(trainer, length: int):
    return jax.jit(lambda s: jax.lax.scan(lambda c, _: trainer.step(c), s, None, length))


def _config(
    base: IPPOConfig,
    num_envs: int,
    num_steps: int,
    hidden: tuple[int, ...],
    epochs: int,
    turn_based: bool,
) -> IPPOConfig:
    return dataclasses.replace(
        base,
        num_envs=num_envs,
        num_steps=num_steps,
        network=dataclasses.replace(base.network, hidden_sizes=hidden),
        ppo=dataclasses.replace(base.ppo, epochs=epochs),
        turn_based=turn_based,
    )


# ----------------------------------------------------------------------------
# 1. Throughput


def ippo_program(config: IPPOConfig, updates: int, seed: int = 0):
    """``(fn, state)``: ``fn(state)`` runs ``updates`` IPPO self-play updates on Hanabi."""
    from detente.games.hanabi import HanabiGame
    from detente.solvers.zsc.selfplay import make_selfplay

    trainer = make_selfplay(HanabiGame(), config)
    state = _strong(trainer.init(jax.random.PRNGKey(seed)))
    return _chunk_program(trainer, updates), state


def measure_throughput(
    batch: int,
    num_steps: int,
    updates: int,
    repeats: int,
    hidden: tuple[int, ...],
    epochs: int = LEARNING_CONFIG.ppo.epochs,
    turn_based: bool = LEARNING_CONFIG.turn_based,
) -> dict:
    """IPPO training steps/s and JaxMARL raw steps/s on ``batch`` games, alternating."""
    from hanabi_env import jaxmarl_program

    config = _config(LEARNING_CONFIG, batch, num_steps, hidden, epochs, turn_based)
    turns = updates * num_steps
    progs = {
        "jaxmarl_raw": jaxmarl_program(batch, turns),
        "detente_ippo": ippo_program(config, updates),
    }
    res = {
        name: {"first_call_s": time_call(fn, arg)[1], "times_s": []}
        for name, (fn, arg) in progs.items()
    }
    load = time_alternating(progs, res, repeats, batch * turns)
    ippo, raw = res["detente_ippo"], res["jaxmarl_raw"]
    return {
        "batch": batch,
        "num_steps": num_steps,
        "updates_per_call": updates,
        "env_steps_per_call": batch * turns,
        "network": dataclasses.asdict(config.network),
        "ppo": dataclasses.asdict(config.ppo),
        "turn_based": config.turn_based,
        **res,
        "ratio_best": ippo["steps_per_s"] / raw["steps_per_s"],
        "ratio_median": ippo["median_steps_per_s"] / raw["median_steps_per_s"],
        "ratio_cpu": raw["cpu_best_s"] / ippo["cpu_best_s"],
        "load_before": load,
        "load_after": load_average(),
    }


# ----------------------------------------------------------------------------
# 2. Learning curve


def learn(
    seconds: float, chunk: int, seed: int, config: IPPOConfig, eval_episodes: int
) -> tuple[dict, Any]:
    """Train one seed for ``seconds`` of wall time; the curve and the agent's scores.

    Returns:
        ``(result, agent)``: ``result`` holds ``curve`` (one row per chunk:
        ``update``, ``env_steps``, ``wall_s`` since the start, compilation
        included, ``score`` the mean final score of the games that ended in
        the chunk, ``games``, ``entropy``, ``load``), the final self-play
        scores, the random-legal baseline and timings; ``agent`` the
        parameters (leaves ``[1, ...]``).
    """
    from detente.analysis.crossplay import crossplay
    from detente.games.hanabi import HanabiGame, random_legal_scores
    from detente.solvers.zsc.selfplay import agent_params, make_selfplay

    env = HanabiGame()
    trainer = make_selfplay(EpisodeScore(env), config)
    run = _chunk_program(trainer, chunk)
    steps_per_update = config.num_envs * config.num_steps
    curve = []
    t0 = time.perf_counter()
    state = _strong(trainer.init(jax.random.PRNGKey(seed)))
    update = 0
    while True:
        state, m = jax.block_until_ready(run(state))
        update += chunk
        wall = time.perf_counter() - t0
        m = jax.device_get(m)
        games = float(np.sum(m["episode_end_0"])) * steps_per_update
        score = float(np.sum(m["episode_score_0"]) / max(np.sum(m["episode_end_0"]), 1e-12))
        curve.append(
            {
                "update": update,
                "env_steps": update * steps_per_update,
                "wall_s": wall,
                "score": score,
                "games": round(games),
                "entropy": float(np.mean(m["entropy_0"])),
                "load": load_average(),
            }
        )
        print(
            f"  update {update:5d}  {update * steps_per_update / 1e6:6.2f} M steps"
            f"  {wall:6.0f} s  score {score:5.2f}  entropy {curve[-1]['entropy']:.3f}"
            f"  load {curve[-1]['load']:.1f}",
            flush=True,
        )
        if wall >= seconds or update + chunk > config.num_updates:
            break
    train_wall = time.perf_counter() - t0
    agent = jax.tree_util.tree_map(lambda x: x[None], agent_params(state))
    key = jax.random.PRNGKey(seed + 1)
    evals = {}
    for mode in ("sampled", "greedy"):
        xp = crossplay(
            env, config.network, agent, None, key, eval_episodes, greedy=mode == "greedy"
        )
        evals[mode] = {"score": float(xp.returns[0, 0]), "sem": float(xp.sem[0, 0])}
    rnd = np.asarray(random_legal_scores(jax.random.PRNGKey(seed + 2), 2 * eval_episodes).score)
    first = curve[0]
    result = {
        "seed": seed,
        "budget_s": seconds,
        "train_wall_s": train_wall,
        "first_chunk_s": first["wall_s"],
        "updates": update,
        "env_steps": update * steps_per_update,
        "steps_per_s_after_first_chunk": (
            (update - chunk) * steps_per_update / (train_wall - first["wall_s"])
            if update > chunk
            else None
        ),
        "score_first_chunk": first["score"],
        "score_last_chunk": curve[-1]["score"],
        "selfplay_eval": evals,
        "eval_games": 2 * eval_episodes,
        "random_legal": {
            "score": float(rnd.mean()),
            "sem": float(rnd.std(ddof=1) / np.sqrt(rnd.size)),
            "games": int(rnd.size),
        },
        "config": _jsonable_config(config),
        "curve": curve,
    }
    return result, agent


def _jsonable_config(config: IPPOConfig) -> dict:
    from detente.io import to_jsonable

    return json.loads(json.dumps(to_jsonable(dataclasses.asdict(config))))


def plot_curve(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result["curve"]
    steps = np.array([r["env_steps"] for r in c]) / 1e6
    wall = np.array([r["wall_s"] for r in c]) / 60
    score = np.array([r["score"] for r in c])
    rnd = result["random_legal"]["score"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, x, label in ((axes[0], steps, "env steps (millions)"), (axes[1], wall, "wall (min)")):
        ax.plot(x, score, color="tab:blue", lw=1.5, label="IPPO self-play (training games)")
        ax.axhline(rnd, color="gray", ls="--", lw=1, label=f"random legal play ({rnd:.2f})")
        ax.set_xlabel(label)
        ax.set_ylabel("mean final score")
        ax.set_ylim(bottom=0)
    sp = result["selfplay_eval"]["sampled"]["score"]
    axes[1].set_title(f"final self-play score {sp:.2f} (sampled)", fontsize=9)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Hanabi, IPPO self-play on this CPU", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------
# Command line


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise SystemExit(
            f"--hidden={text!r} is not allowed: expected positive integers, e.g. 64,64"
        )
    return sizes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=1024, help="parallel games (default 1024)")
    ap.add_argument("--num-steps", type=int, default=32, help="IPPO steps per update per game")
    ap.add_argument("--updates", type=int, default=2, help="IPPO updates per timed call")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per implementation")
    ap.add_argument(
        "--hidden", default="64,64", help="MLP layers for the throughput run (default 64,64)"
    )
    ap.add_argument(
        "--epochs",
        type=int,
        default=LEARNING_CONFIG.ppo.epochs,
        help=f"PPO epochs for the throughput run (default {LEARNING_CONFIG.ppo.epochs})",
    )
    ap.add_argument(
        "--all-rows",
        action="store_true",
        help="throughput run: learn from every seat's rows (turn_based=False), not only the"
        " acting seat's",
    )
    ap.add_argument("--no-throughput", action="store_true", help="skip part 1")
    ap.add_argument(
        "--learn-seconds", type=float, default=0.0, help="run part 2 for this long (0: skip it)"
    )
    ap.add_argument("--chunk", type=int, default=40, help="updates per compiled chunk (part 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the learning run")
    ap.add_argument("--eval-episodes", type=int, default=512, help="self-play games per seat order")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--plot", help="draw the learning curve here (.png)")
    ap.add_argument("--agents", help="save the trained agent here (.safetensors)")
    args = ap.parse_args(argv)
    for name in ("batch", "num_steps", "updates", "repeats", "epochs", "chunk", "eval_episodes"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')}={getattr(args, name)} is not allowed")
    hidden = _hidden(args.hidden)

    try:
        import jaxmarl
    except ImportError:
        print("jaxmarl is not installed (pip install jaxmarl>=0.2): the Hanabi adapter needs it")
        return 1
    facts = machine_facts(
        jax=jax.__version__,
        backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()],
        jaxmarl=jaxmarl.__version__,
    )
    print(
        f"machine: {facts['cpu_count']} CPUs, {facts.get('cpu', '')}; jax {facts['jax']}"
        f" ({facts['backend']}); jaxmarl {jaxmarl.__version__}; {facts['date']};"
        f" load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    result: dict = {
        "benchmark": "Hanabi IPPO self-play training steps/s vs JaxMARL raw env steps/s; "
        "learning curve",
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "machine": facts,
    }
    line: dict = {}
    if not args.no_throughput:
        t = measure_throughput(
            args.batch,
            args.num_steps,
            args.updates,
            args.repeats,
            hidden,
            args.epochs,
            LEARNING_CONFIG.turn_based and not args.all_rows,
        )
        result["throughput"] = t
        net = "x".join(str(h) for h in hidden)
        print(
            f"\nthroughput at B={t['batch']} games, IPPO: {t['updates_per_call']} updates x"
            f" {t['num_steps']} steps per call, MLP {net} relu, {t['ppo']['epochs']}"
            f" epochs x {t['ppo']['minibatches']} minibatches,"
            f" {'acting seat rows only' if t['turn_based'] else 'all rows'}"
        )
        print(f"  {'':34s} {'best':>12s} {'median':>12s} {'compile':>8s}")
        for name, label in (
            ("jaxmarl_raw", "JaxMARL HanabiEnv, random legal"),
            ("detente_ippo", "detente IPPO training (learning)"),
        ):
            x = t[name]
            print(
                f"  {label:34s} {x['steps_per_s'] / 1e3:8.1f} k/s"
                f" {x['median_steps_per_s'] / 1e3:8.1f} k/s {x['compile_s']:6.1f} s"
            )
        print(
            f"  IPPO / raw env: {t['ratio_best']:.2f} best, {t['ratio_median']:.2f} median"
            f" (load {t['load_before']:.1f} -> {t['load_after']:.1f});"
            f" {t['ratio_cpu']:.2f} in process CPU time (best)",
            flush=True,
        )
        line.update(
            batch=t["batch"],
            hidden=list(hidden),
            epochs=args.epochs,
            turn_based=t["turn_based"],
            jaxmarl_raw_steps_per_s=round(t["jaxmarl_raw"]["steps_per_s"]),
            ippo_steps_per_s=round(t["detente_ippo"]["steps_per_s"]),
            ratio_best=round(t["ratio_best"], 3),
            ratio_cpu=round(t["ratio_cpu"], 3),
        )
    if args.learn_seconds > 0:
        c = LEARNING_CONFIG
        print(
            f"\nlearning: {args.learn_seconds:.0f} s, {c.num_envs} games x {c.num_steps} steps per"
            f" update, MLP {c.network.hidden_sizes} relu, lr {c.ppo.lr}",
            flush=True,
        )
        res, agent = learn(args.learn_seconds, args.chunk, args.seed, c, args.eval_episodes)
        result["learning"] = res
        ev, rnd = res["selfplay_eval"], res["random_legal"]
        print(
            f"  {res['env_steps'] / 1e6:.2f} M env steps in {res['train_wall_s']:.0f} s"
            f" (first chunk with compilation {res['first_chunk_s']:.0f} s)"
        )
        print(
            f"  training games: score {res['score_first_chunk']:.2f} (first chunk) ->"
            f" {res['score_last_chunk']:.2f} (last chunk)"
        )
        print(
            f"  self-play, {res['eval_games']} fresh games: sampled"
            f" {ev['sampled']['score']:.2f} +/- {ev['sampled']['sem']:.2f}, greedy"
            f" {ev['greedy']['score']:.2f} +/- {ev['greedy']['sem']:.2f}; random legal play"
            f" {rnd['score']:.2f} +/- {rnd['sem']:.2f}",
            flush=True,
        )
        line.update(
            learn_seconds=round(res["train_wall_s"]),
            learn_env_steps=res["env_steps"],
            selfplay_score=round(ev["sampled"]["score"], 3),
            selfplay_score_greedy=round(ev["greedy"]["score"], 3),
            random_legal_score=round(rnd["score"], 3),
        )
        if args.plot:
            plot_curve(res, args.plot)
            print(f"wrote {args.plot}")
        if args.agents:
            from detente.solvers.zsc.agents import save_agents

            path = save_agents(
                args.agents,
                c.network,
                agent,
                {"method": "selfplay", "game": "hanabi", "source": "benchmarks/hanabi_ippo.py"},
                names=[f"seed{args.seed}"],
            )
            print(f"wrote {path}")
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    print("JSON " + json.dumps(line, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
