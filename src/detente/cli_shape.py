"""``detente shape METHOD --game GAME --opponent LEARNER --out DIR``: train an opponent shaper.

Builds the method's :class:`~detente.training.Trainer` from a registry
(:data:`METHODS`; the trainers are imported lazily), runs it with
:func:`~detente.training.run_trainer` (progress on stderr, NaN checks,
safetensors checkpoints) and writes the output folder::

    DIR/summary.json    method, game, opponent, seed, generations, wall time,
                        mean_reward [agent, opponent] of the final evaluation,
                        the opponent's p_cooperate {start, CC, CD, DC, DD}
                        (iterated games) or own_coin_rate (CoinGame), ...
    DIR/config.json     the resolved configs (method and opponent) and settings
    DIR/metrics.npz     every metric per step, and the evaluation's arrays
    DIR/training.png    both players' reward curves over the steps
    DIR/checkpoints/    the last checkpoints (safetensors; no pickle)

**Checkpoints and "nothing half-written".** While a run trains, everything
lives in the sibling folder ``DIR.partial/`` (``config.json`` and
``checkpoints/``, each file written atomically). ``DIR`` itself appears only
when the run has finished: it is assembled in a temporary folder (the
checkpoints hard-linked or copied in) and renamed into place
(:func:`detente.io.write_output_dir`), then ``DIR.partial/`` is removed. So
``DIR`` is always complete, and a killed run leaves ``DIR.partial/`` behind:
the same command with ``--resume`` continues from its latest checkpoint and
ends with the numbers an uninterrupted run gives. ``--resume`` on a finished
``DIR`` (say with more ``--generations``) continues from ``DIR/checkpoints``.
Without ``--resume`` an existing ``DIR.partial/`` is refused (exit 2), and a
finished ``DIR`` is replaced only once the new run is complete.

Bad input (method, game, opponent, ``--set``) exits with status 2 and one
line on stderr, and writes nothing.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detente._checks import bad_value, check_positive_int

STATE_NAMES = ("start", "CC", "CD", "DC", "DD")
ITERATED = ("ipd", "imp", "chicken")
# name -> (differentiable game name, zoo stage game, discount); the exact M-FOS
# methods take the M-FOS paper's games (detente.solvers.shaping.mfos.mfos_game)
_ITERATED_GAMES = {
    "ipd": ("ipd", "prisoners_dilemma", 0.96),
    "imp": ("imp", "matching_pennies", 0.96),
    "chicken": ("ichicken", "chicken", 0.96),
}
GAME_DESCRIPTIONS = {
    "ipd": "iterated prisoner's dilemma (LOLA's payoffs: CC -1, CD -3, DC 0, DD -2), gamma 0.96",
    "imp": "iterated matching pennies (zero-sum, [[1, -1], [-1, 1]]), gamma 0.96 (M-FOS's)",
    "chicken": "chicken (crash -100), gamma 0.96: one-shot for the exact M-FOS methods "
    "(as M-FOS's code), iterated for the sampled ones",
    "coingame": "the 3x3 Coin Game (M-FOS / JaxMARL rules)",
}
STEP_FIELDS = ("generations", "num_updates", "updates", "num_steps")


# ----------------------------------------------------------------------------
# The registry


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One ``detente shape`` method.

    Attributes:
        modules: candidate modules (the first that defines ``factory`` is used).
        factory: the name of the trainer factory in that module; its ``config``
            argument must be annotated with a frozen dataclass (``--set``
            parses against that class's fields).
        games: the ``--game`` values it accepts.
        opponents: ``() -> names``, the ``--opponent`` values (the first is
            the default; a callable because some come from registries that
            are imported only when needed).
        build: ``(factory, game, opponent, config, opponent_config) -> Trainer``.
        description: one line for ``--list``.
        opponent_config: ``(game, opponent) -> (config class or None,
            defaults)`` of the opponent's own config (``--set opponent.FIELD``).
        fixed_config: ``(game, opponent) -> {field: value}`` of the method's
            config implied by ``--game`` / ``--opponent`` (``--set`` may
            override those other than ``opponent``).
    """

    modules: tuple[str, ...]
    factory: str
    games: tuple[str, ...]
    opponents: Callable[[], tuple[str, ...]]
    build: Callable[..., Any]
    description: str
    opponent_config: Callable[[str, str], tuple[type | None, dict]] = lambda g, o: (None, {})
    fixed_config: Callable[[str, str], dict] = lambda g, o: {}


def _differentiable(game: str):
    """The M-FOS paper's exact game (``mfos_game``), else the registered iterated one."""
    try:
        from detente.solvers.shaping.mfos import mfos_game
    except ImportError:
        from detente.games import make_differentiable

        return make_differentiable(_ITERATED_GAMES[game][0])
    return mfos_game(game)


def _stage_game(game: str):
    from detente.games import zoo

    return getattr(zoo, _ITERATED_GAMES[game][1])()


def _env(game: str, length: int | None):
    """The sampled environment and its params for ``game``."""
    if game == "coingame":
        from detente.games.coin_game import CoinGame

        env = CoinGame() if length is None else CoinGame(episode_length=length)
        return env, env.default_params()
    from detente.games.iterated_env import IteratedMatrixGame

    env = IteratedMatrixGame() if length is None else IteratedMatrixGame(num_steps=length)
    return env, IteratedMatrixGame.params_from(_stage_game(game), _ITERATED_GAMES[game][2])


def _build_exact(factory, game, opponent, config, opponent_config):
    del opponent, opponent_config  # the exact naive learner, built by the trainer
    return factory(_differentiable(game), config)


def _inner_learners() -> dict:
    try:
        from detente.solvers.shaping.learners import INNER_LEARNERS
    except ImportError:
        return {}
    return INNER_LEARNERS


def _shaper_opponents() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*_inner_learners(), "ppo"]))


def _sampled_opponent_config(game: str, opponent: str):
    if opponent == "ppo":
        from detente.solvers.rl.ppo import PPOConfig

        return PPOConfig, {}
    if opponent == "pg":
        from detente.solvers.shaping.learners import PGConfig

        return PGConfig, ({"gamma": _ITERATED_GAMES[game][2]} if game in ITERATED else {})
    return None, {}


def _build_shaper(factory, game, opponent, config, opponent_config):
    length = getattr(config, "inner_steps", None)
    env, params = _env(game, length)
    if opponent == "ppo":
        from detente.solvers.rl import make_ppo_learner

        learner = make_ppo_learner(env, opponent_config, agent=1)
    else:
        if game == "coingame":
            raise bad_value("--opponent", opponent, "ppo (the only learner of the Coin Game)")
        learner = _inner_learners()[opponent](opponent_config)
    return factory(env, params, learner, config)


def _build_dice(factory, game, opponent, config, opponent_config):
    del opponent, opponent_config  # config.opponent (fixed_config)
    return factory(config, _stage_game(game))


METHODS: dict[str, MethodSpec] = {
    "mfos-es": MethodSpec(
        modules=("detente.solvers.shaping.mfos",),
        factory="make_mfos_es",
        games=ITERATED,
        opponents=lambda: ("naive",),
        build=_build_exact,
        description="M-FOS trained by evolution strategies vs the exact naive learner "
        "(Lu et al. 2022)",
    ),
    "mfos-rl": MethodSpec(
        modules=("detente.solvers.shaping.mfos_rl",),
        factory="make_mfos_rl",
        games=ITERATED,
        opponents=lambda: ("naive",),
        build=_build_exact,
        description="M-FOS trained by PPO vs the exact naive learner (Lu et al. 2022)",
    ),
    "mfos-selfplay": MethodSpec(
        modules=("detente.solvers.shaping.mfos", "detente.solvers.shaping.meta_selfplay"),
        factory="make_mfos_selfplay",
        games=ITERATED,
        opponents=lambda: ("self",),
        build=_build_exact,
        description="M-FOS meta-self-play: two M-FOS agents, with annealed mixing of naive "
        "learners (Lu et al. 2022)",
    ),
    "shaper": MethodSpec(
        modules=("detente.solvers.shaping.shaper",),
        factory="make_shaper",
        games=(*ITERATED, "coingame"),
        opponents=_shaper_opponents,
        build=_build_shaper,
        opponent_config=_sampled_opponent_config,
        description="Shaper, a recurrent shaper trained by ES, vs sampled-game learners "
        "(Khan et al. 2024)",
    ),
    "mfos-coin": MethodSpec(
        modules=("detente.solvers.shaping.mfos_coin",),
        factory="make_mfos_coin",
        games=("coingame",),
        opponents=lambda: ("ppo",),
        build=_build_shaper,
        opponent_config=_sampled_opponent_config,
        description="M-FOS-ES in the CoinGame: a context from a GRU summary of the last inner "
        "episode conditions the inner policy (Lu et al. 2022)",
    ),
    "lola-dice": MethodSpec(
        modules=("detente.solvers.shaping.dice",),
        factory="make_lola_dice",
        games=ITERATED,
        opponents=lambda: ("lola", "pg"),
        build=_build_dice,
        fixed_config=lambda g, o: {"opponent": o, "gamma": _ITERATED_GAMES[g][2]},
        description="LOLA-DiCE on sampled iterated games (Foerster et al. 2018)",
    ),
}
"""``detente shape`` methods: name -> :class:`MethodSpec`."""


def _import_factory(name: str, spec: MethodSpec):
    """The factory and its module, or a ValueError saying it does not exist yet."""
    tried = []
    for module_name in spec.modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is not None and module_name.startswith(e.name):
                tried.append(f"{module_name} does not exist")
                continue
            raise ValueError(f"method {name!r} cannot be imported: {e}") from None
        factory = getattr(module, spec.factory, None)
        if callable(factory):
            return factory
        tried.append(f"{module_name} has no {spec.factory}")
    raise ValueError(f"method {name!r} is not available yet ({'; '.join(tried)})")


def _config_class(factory) -> type:
    """The frozen dataclass the factory takes as ``config`` (from its annotations)."""
    try:
        hints = typing.get_type_hints(factory)
    except Exception as e:
        raise ValueError(f"cannot read the config type of {factory.__name__}: {e}") from None
    hint = hints.get("config")
    candidates = typing.get_args(hint) or (hint,)
    for c in candidates:
        if dataclasses.is_dataclass(c) and isinstance(c, type):
            return c
    raise ValueError(f"{factory.__name__} has no dataclass-typed 'config' argument")


# ----------------------------------------------------------------------------
# --set key=value against a frozen dataclass


def _parse_value(field: str, text: str, hint) -> Any:
    """Parse ``text`` as a value of type ``hint`` (int, float, bool, str, tuples, Optional)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if type(None) in args:  # Optional[...] / X | None
        if text.strip().lower() == "none":
            return None
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else hint
        args, origin = typing.get_args(hint), typing.get_origin(hint)
    t = text.strip()
    if hint is bool:
        low = t.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise bad_value(f"--set {field}", text, "true or false")
    if hint is int:
        try:
            return int(t)
        except ValueError:
            raise bad_value(f"--set {field}", text, "an integer") from None
    if hint is float:
        try:
            return float(t)
        except ValueError:
            raise bad_value(f"--set {field}", text, "a number") from None
    if hint is str:
        return t
    if origin is tuple:
        item = args[0] if args else str
        parts = [p for p in t.strip("()[]").split(",") if p.strip()]
        return tuple(_parse_value(field, p, item) for p in parts)
    try:
        return json.loads(t)
    except json.JSONDecodeError:
        return t


def parse_overrides(config_class: type, items: list[str], what: str = "--set") -> dict:
    """``["lr=0.1", "context=within"]`` -> ``{"lr": 0.1, "context": "within"}``.

    Raises:
        ValueError: for an item without ``=``, an unknown field (listing the
            allowed ones) or a value of the wrong type.
    """
    hints = typing.get_type_hints(config_class)
    fields = [f.name for f in dataclasses.fields(config_class)]
    out = {}
    for item in items:
        if "=" not in item:
            raise bad_value(what, item, "FIELD=VALUE")
        k, v = item.split("=", 1)
        k = k.strip()
        if k not in fields:
            raise bad_value(what, item, f"a field of {config_class.__name__}: " + ", ".join(fields))
        out[k] = _parse_value(k, v, hints[k])
    return out


# ----------------------------------------------------------------------------
# Arguments


def add_parser(sub) -> None:
    p = sub.add_parser(
        "shape",
        help="train an opponent shaper (M-FOS, Shaper, LOLA-DiCE) with checkpoints and resume",
        description="Train an opponent-shaping method against a learner on a game; write "
        "DIR/summary.json, config.json, metrics.npz, training.png and checkpoints/. "
        "A killed run continues with --resume and ends with the same numbers.",
    )
    p.add_argument("method", nargs="?", help="the method (see --list)")
    p.add_argument("--list", action="store_true", help="list methods, games and opponents")
    p.add_argument("--game", default="ipd", help="the game (default ipd)")
    p.add_argument(
        "--opponent",
        default=None,
        metavar="LEARNER",
        help="the learner to shape (default: the method's first)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default runs/shape-METHOD-GAME-OPP)",
    )
    p.add_argument(
        "--generations",
        type=int,
        default=None,
        metavar="N",
        help="training steps (ES generations / updates; default: the method's config)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint of DIR"
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="K",
        help="steps between checkpoints (default: a tenth of the run)",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=None,
        metavar="C",
        help="steps per compiled call and progress line (default: --checkpoint-every)",
    )
    p.add_argument(
        "--keep", type=int, default=3, metavar="K", help="checkpoints to keep (default 3)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field of the method's config (repeatable); "
        "opponent.FIELD=VALUE for the opponent's config",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def list_methods() -> str:
    """The ``--list`` text: methods (with availability), games, opponents."""
    lines = ["methods:"]
    for name, spec in METHODS.items():
        try:
            factory = _import_factory(name, spec)
            status = ""
            cfg = _config_class(factory).__name__
        except ValueError as e:
            status, cfg = f"  [unavailable: {e}]", "-"
        lines.append(f"  {name:<15} {spec.description}{status}")
        if not status:
            lines.append(
                f"  {'':<15} games: {', '.join(spec.games)}; opponents: "
                f"{', '.join(spec.opponents())}; config: {cfg}"
            )
    lines.append("games:")
    for g, text in GAME_DESCRIPTIONS.items():
        lines.append(f"  {g:<15} {text}")
    return "\n".join(lines)


def _jsonable(obj) -> Any:
    from detente.io import to_jsonable

    return json.loads(json.dumps(to_jsonable(obj)))


@dataclasses.dataclass
class _Plan:
    method: str
    game: str
    opponent: str
    seed: int
    spec: MethodSpec
    factory: Any
    config: Any
    opponent_config: Any
    steps: int | None  # the config's steps field, None: trainer.num_steps
    out: Path
    partial: Path
    resume_from: Path | None  # the checkpoint folder to resume from, if any
    chunk: int | None
    checkpoint_every: int | None
    keep: int

    def settings(self) -> dict:
        """What a resumed run must share with the run it continues (JSON)."""
        return _jsonable(
            {
                "method": self.method,
                "game": self.game,
                "opponent": self.opponent,
                "seed": self.seed,
                "config": dataclasses.asdict(self.config),
                "opponent_config": (
                    dataclasses.asdict(self.opponent_config)
                    if dataclasses.is_dataclass(self.opponent_config)
                    else None
                ),
            }
        )


def _validate(args) -> _Plan:
    """Check every input before anything is computed or written."""
    from detente import checkpoint as ckpt

    if args.method is None:
        raise bad_value("method", None, "a method name (see `detente shape --list`)")
    if args.method not in METHODS:
        raise bad_value("method", args.method, "one of " + ", ".join(METHODS))
    spec = METHODS[args.method]
    factory = _import_factory(args.method, spec)
    if args.game not in spec.games:
        raise bad_value("--game", args.game, f"for {args.method}, one of " + ", ".join(spec.games))
    opponents = spec.opponents()
    opponent = args.opponent or opponents[0]
    if opponent not in opponents:
        raise bad_value(
            "--opponent", opponent, f"for {args.method}, one of " + ", ".join(opponents)
        )
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or args.seed < 0:
        raise bad_value("--seed", args.seed, "a non-negative integer")
    check_positive_int("--keep", args.keep)

    config_class = _config_class(factory)
    own = [s for s in args.overrides if not s.strip().startswith("opponent.")]
    opp = [
        s.strip()[len("opponent.") :] for s in args.overrides if s.strip().startswith("opponent.")
    ]
    values = parse_overrides(config_class, own)
    fixed = spec.fixed_config(args.game, opponent)
    if "opponent" in fixed and "opponent" in values:
        raise bad_value(
            "--set", f"opponent={values['opponent']}", "no opponent field: use --opponent"
        )
    values = {**fixed, **values}
    step_field = next(
        (f for f in STEP_FIELDS if f in {x.name for x in dataclasses.fields(config_class)}), None
    )
    if args.generations is not None:
        check_positive_int("--generations", args.generations)
        if step_field is None:
            raise bad_value(
                "--generations",
                args.generations,
                f"unset: {config_class.__name__} has no steps field",
            )
        values[step_field] = args.generations
    try:
        config = config_class(**values)
    except TypeError as e:  # a config without defaults
        raise ValueError(f"cannot build {config_class.__name__}: {e}") from None

    opp_class, opp_defaults = spec.opponent_config(args.game, opponent)
    opponent_config = None
    if opp_class is not None:
        opp_values = {**opp_defaults, **parse_overrides(opp_class, opp, "--set opponent.")}
        opponent_config = opp_class(**opp_values)
    elif opp:
        raise bad_value(
            "--set", "opponent." + opp[0], f"no opponent field: {opponent!r} has no config"
        )

    out = Path(args.out or f"runs/shape-{args.method}-{args.game}-{opponent}")
    if out.exists() and not out.is_dir():
        raise bad_value("--out", str(out), "a folder path (a file of that name exists)")
    partial = out.parent / f"{out.name}.partial"
    if partial.exists() and not partial.is_dir():
        raise bad_value("--out", str(out), f"a folder path ({partial} is a file)")

    steps = getattr(config, step_field) if step_field else None
    every = args.checkpoint_every
    if every is not None:
        check_positive_int("--checkpoint-every", every)
    if args.chunk is not None:
        check_positive_int("--chunk", args.chunk)

    resume_from = None
    if ckpt.latest_checkpoint(partial / "checkpoints") is not None:
        if not args.resume:
            raise ValueError(
                f"an interrupted run is in {partial}: add --resume to continue it, "
                "or delete that folder to start again"
            )
        resume_from = partial / "checkpoints"
    elif args.resume and ckpt.latest_checkpoint(out / "checkpoints") is not None:
        resume_from = out / "checkpoints"

    plan = _Plan(
        method=args.method,
        game=args.game,
        opponent=opponent,
        seed=args.seed,
        spec=spec,
        factory=factory,
        config=config,
        opponent_config=opponent_config,
        steps=steps,
        out=out,
        partial=partial,
        resume_from=resume_from,
        chunk=args.chunk,
        checkpoint_every=every,
        keep=args.keep,
    )
    if resume_from is not None:
        _check_resume(plan)
    return plan


def _check_resume(plan: _Plan) -> None:
    """The checkpoint must come from the same method, game, opponent, seed and config."""
    from detente import checkpoint as ckpt

    path = ckpt.latest_checkpoint(plan.resume_from)
    info = ckpt.read_checkpoint_info(path)
    old = info.meta.get("meta", {}).get("settings")
    if not isinstance(old, dict):
        raise ValueError(f"{path} was not written by `detente shape`; cannot resume from it")
    new = plan.settings()
    ignore = set(STEP_FIELDS)
    for k in ("method", "game", "opponent", "seed"):
        if old.get(k) != new[k]:
            raise ValueError(
                f"--resume: the checkpoint in {plan.resume_from} is of {k}={old.get(k)!r}, "
                f"not {new[k]!r}"
            )
    for part in ("config", "opponent_config"):
        a, b = old.get(part) or {}, new[part] or {}
        for k in sorted(set(a) | set(b)):
            if k not in ignore and a.get(k) != b.get(k):
                raise ValueError(
                    f"--resume: the checkpoint in {plan.resume_from} was made with "
                    f"{'opponent.' if part == 'opponent_config' else ''}{k}={a.get(k)!r}, "
                    f"not {b.get(k)!r}"
                )
    if plan.steps is not None and info.step > plan.steps:
        raise bad_value(
            "--generations", plan.steps, f"at least {info.step}, the step of {path.name}"
        )
    driver = info.meta.get("driver", {})
    if plan.chunk is None:
        plan.chunk = driver.get("chunk")  # the same chunk calls as the interrupted run
    if plan.checkpoint_every is None:
        plan.checkpoint_every = info.meta.get("meta", {}).get("checkpoint_every")


# ----------------------------------------------------------------------------
# The run


def run(args) -> int:
    """``detente shape``: validate, train (or resume), write the output folder."""
    if args.list:
        print(list_methods())
        return 0
    plan = _validate(args)
    trainer = plan.spec.build(
        plan.factory, plan.game, plan.opponent, plan.config, plan.opponent_config
    )

    import jax

    from detente import checkpoint as ckpt
    from detente.io import write_json
    from detente.training import Trainer, run_trainer

    if not isinstance(trainer, Trainer):
        raise ValueError(f"{plan.spec.factory} returned {type(trainer).__name__}, not a Trainer")
    steps = trainer.num_steps if plan.steps is None else plan.steps
    every = plan.checkpoint_every or max(1, steps // 10)
    chunk = plan.chunk or every
    config_json = {
        "command": "shape",
        **plan.settings(),
        "generations": steps,
        "checkpoint_every": every,
        "chunk": chunk,
        "version": _version(),
    }

    ckdir = plan.partial / "checkpoints"
    if plan.resume_from is not None and plan.resume_from != ckdir:
        # a finished run continued: copy its checkpoints, leave DIR as it is until the end
        ckdir.mkdir(parents=True, exist_ok=True)
        for p in ckpt.list_checkpoints(plan.resume_from):
            shutil.copy2(p, ckdir / p.name)
    write_json(plan.partial / "config.json", config_json)

    label = f"{plan.method} {plan.game} vs {plan.opponent}"
    if not args.quiet:
        print(
            f"detente shape {label}: {steps} steps, seed {plan.seed}, "
            f"checkpoints every {every} in {ckdir}",
            file=sys.stderr,
            flush=True,
        )
    t0 = time.perf_counter()
    try:
        result = run_trainer(
            trainer,
            jax.random.PRNGKey(plan.seed),
            steps,
            chunk=chunk,
            checkpoint_dir=ckdir,
            checkpoint_every=every,
            keep_checkpoints=plan.keep,
            resume=plan.resume_from is not None,
            progress=not args.quiet,
            label=label,
            meta={"settings": plan.settings(), "checkpoint_every": every},
        )
    except KeyboardInterrupt:
        print(
            f"detente: interrupted; continue with the same command and --resume "
            f"(checkpoints in {ckdir})",
            file=sys.stderr,
        )
        return 130
    wall = time.perf_counter() - t0
    summary, arrays = _summarise(plan, steps, result, wall)
    _write(plan, summary, config_json, arrays, result.metrics, ckdir)
    _print_summary(summary, plan)
    return 0


def _version() -> str:
    from detente import __version__

    return __version__


def _summarise(plan: _Plan, steps: int, result, wall: float) -> tuple[dict, dict]:
    """``summary.json`` (small numbers, named) and the evaluation's larger arrays."""
    import numpy as np

    ev = result.evaluation
    summary = {
        "method": plan.method,
        "game": plan.game,
        "game_name": GAME_DESCRIPTIONS[plan.game],
        "opponent": plan.opponent,
        "seed": plan.seed,
        "generations": steps,
        "wall_time_s": wall,
        "resumed_from": result.resumed_from,
        "mean_reward": {"agent": None, "opponent": None},
    }
    if "mean_reward" in ev:
        r = np.asarray(ev["mean_reward"]).ravel()
        summary["mean_reward"] = {"agent": float(r[0]), "opponent": float(r[-1])}
    arrays = {}
    for k, v in ev.items():
        v = np.asarray(v)
        if k == "mean_reward":
            continue
        if k.endswith("p_cooperate") and v.shape[-1:] == (5,) and v.ndim in (1, 2):
            # [5] one player's P(C | start, CC, CD, DC, DD); [2, 5] both: agent, opponent
            rows = {k: v} if v.ndim == 1 else {"agent_p_cooperate": v[0], "p_cooperate": v[1]}
            for name, row in rows.items():
                summary[name] = dict(zip(STATE_NAMES, map(float, row), strict=True))
        elif k == "own_coin_rate" and v.size == 2:
            summary["own_coin_rate"] = {"agent": float(v[0]), "opponent": float(v[1])}
        elif v.size <= 10 and k != "rewards":
            summary[k] = v
        else:
            arrays[f"evaluation/{k}"] = v
    tail = max(1, steps // 10)
    summary["final_metrics"] = {
        k: float(np.asarray(v)[-1]) for k, v in result.metrics.items() if np.asarray(v).ndim == 1
    }
    summary["mean_metrics_last_10pct"] = {
        k: float(np.asarray(v)[-tail:].mean())
        for k, v in result.metrics.items()
        if np.asarray(v).ndim == 1
    }
    return summary, arrays


def _write(plan: _Plan, summary, config_json, arrays, metrics, ckdir: Path) -> None:
    import numpy as np

    from detente import checkpoint as ckpt
    from detente.io import write_json, write_output_dir

    def write(tmp: Path):
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "config.json", config_json)
        np.savez_compressed(tmp / "metrics.npz", **metrics, **arrays)
        _plot(plan, metrics, tmp / "training.png")
        (tmp / "checkpoints").mkdir()
        for p in ckpt.list_checkpoints(ckdir):
            try:  # the partial folder keeps its files until DIR is in place
                os.link(p, tmp / "checkpoints" / p.name)
            except OSError:
                shutil.copy2(p, tmp / "checkpoints" / p.name)

    write_output_dir(plan.out, write)
    shutil.rmtree(plan.partial, ignore_errors=True)


def _plot(plan: _Plan, metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    names = {"reward_0": f"{plan.method} (agent)", "reward_1": f"{plan.opponent} (opponent)"}
    shown = [k for k in names if k in metrics] or [k for k in ("fitness",) if k in metrics]
    for k in shown:
        y = np.asarray(metrics[k])
        ax.plot(np.arange(1, len(y) + 1), y, label=names.get(k, k))
    if plan.game in ITERATED:
        g = _stage_game(plan.game)
        p = np.asarray(g.payoffs)
        ax.axhline(p[0, 0, 0], color="grey", ls=":", lw=1, label=f"mutual C ({p[0, 0, 0]:g})")
        ax.axhline(p[0, 1, 1], color="grey", ls="--", lw=1, label=f"mutual D ({p[0, 1, 1]:g})")
    ax.set_xlabel("step (generation / update)")
    ax.set_ylabel("per-step reward")
    ax.set_title(f"{plan.method}: {plan.game} vs {plan.opponent}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print_summary(summary: dict, plan: _Plan) -> None:
    r = summary["mean_reward"]
    resumed = f" (resumed from step {summary['resumed_from']})" if summary["resumed_from"] else ""
    print(
        f"detente shape {plan.method} --game {plan.game} --opponent {plan.opponent}: "
        f"{summary['generations']} steps in {summary['wall_time_s']:.1f} s{resumed}"
    )
    if r["agent"] is not None:
        print(f"  mean per-step reward   agent {r['agent']:8.3f}   opponent {r['opponent']:8.3f}")
    if "p_cooperate" in summary:
        pc = summary["p_cooperate"]
        print("  opponent P(C)   " + "  ".join(f"{k} {v:.2f}" for k, v in pc.items()))
    if "agent_p_cooperate" in summary:
        pc = summary["agent_p_cooperate"]
        print("  agent P(C)      " + "  ".join(f"{k} {v:.2f}" for k, v in pc.items()))
    if "own_coin_rate" in summary:
        c = summary["own_coin_rate"]
        print(f"  own-coin rate   agent {c['agent']:.2f}   opponent {c['opponent']:.2f}")
    print(f"wrote {plan.out}/ (summary.json, config.json, metrics.npz, training.png, checkpoints/)")
