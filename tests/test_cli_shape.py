"""``detente shape``: clean failures, the registry, the output folder, and kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from detente import cli_shape
from detente.checkpoint import latest_checkpoint, read_checkpoint_info, save_checkpoint
from detente.cli import main
from detente.training import Trainer

# A tiny M-FOS-ES budget: startup and compilation dominate.
TINY = [
    "--set", "inner_episodes=10",
    "--set", "population_size=8",
    "--set", "opponents=4",
    "--set", "eval_opponents=8",
    "--set", "hidden_size=4",
]  # fmt: skip


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("detente: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["nosuch"], "method='nosuch'"),
        ([], "method=None"),
        (["mfos-es", "--game", "coingame"], "--game='coingame'"),
        (["lola-dice", "--game", "rps"], "--game='rps'"),
        (["mfos-es", "--opponent", "lola"], "--opponent='lola'"),
        (["shaper", "--opponent", "nosuch"], "--opponent='nosuch'"),
        (["mfos-es", "--set", "nosuch=1"], "a field of MFOSConfig: inner_episodes, "),
        (["mfos-es", "--set", "lr"], "FIELD=VALUE"),
        (["mfos-es", "--set", "population_size=eight"], "--set population_size='eight'"),
        (["mfos-es", "--set", "population_size=7"], "population_size=7"),  # the config's check
        (["mfos-es", "--set", "sigma=-1"], "sigma=-1.0"),
        (["mfos-es", "--set", "meta_state=nosuch"], "meta_state='nosuch'"),
        (["mfos-es", "--set", "opponent.lr=1"], "'naive' has no config"),
        (["shaper", "--set", "opponent.nosuch=1"], "a field of PGConfig"),
        (["lola-dice", "--set", "opponent=pg"], "use --opponent"),
        (["mfos-es", "--generations", "0"], "--generations=0"),
        (["mfos-es", "--seed", "-1"], "--seed=-1"),
        (["mfos-es", "--checkpoint-every", "0"], "--checkpoint-every=0"),
        (["mfos-es", "--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / "run"
    rc = main(["shape", *argv, "--out", str(out)])
    assert rc == 2
    assert needle in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_unavailable_method_is_one_line(tmp_path, capsys, monkeypatch):
    spec = cli_shape.METHODS["mfos-rl"]
    fake = type(spec)(**{**spec.__dict__, "modules": ("detente.solvers.shaping.no_such_module",)})
    monkeypatch.setitem(cli_shape.METHODS, "mfos-rl", fake)
    assert main(["shape", "mfos-rl", "--out", str(tmp_path / "r")]) == 2
    line = one_error_line(capsys)
    assert "'mfos-rl' is not available yet" in line and "no_such_module does not exist" in line
    missing = type(spec)(**{**spec.__dict__, "modules": ("detente.solvers.shaping.mfos",)})
    missing = type(spec)(**{**missing.__dict__, "factory": "make_nothing"})
    monkeypatch.setitem(cli_shape.METHODS, "mfos-rl", missing)
    assert main(["shape", "mfos-rl", "--out", str(tmp_path / "r")]) == 2
    assert "detente.solvers.shaping.mfos has no make_nothing" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_list(capsys):
    assert main(["shape", "--list"]) == 0
    text = capsys.readouterr().out
    for word in ("mfos-es", "shaper", "lola-dice", "coingame", "tit_for_tat", "MFOSConfig"):
        assert word in text


def test_parse_overrides_types():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class C:
        n: int = 1
        x: float = 0.5
        flag: bool = False
        name: str = "a"
        block: int | None = None
        theta: tuple[float, ...] | None = None

    got = cli_shape.parse_overrides(
        C, ["n=3", "x=1e-3", "flag=true", "name=within", "block=None", "theta=0.1,-2,3"]
    )
    assert got == {
        "n": 3,
        "x": 1e-3,
        "flag": True,
        "name": "within",
        "block": None,
        "theta": (0.1, -2.0, 3.0),
    }
    assert cli_shape.parse_overrides(C, ["block=4", "flag=0"]) == {"block": 4, "flag": False}
    with pytest.raises(ValueError, match=r"--set n='1.5' is not allowed: expected an integer"):
        cli_shape.parse_overrides(C, ["n=1.5"])
    with pytest.raises(ValueError, match="true or false"):
        cli_shape.parse_overrides(C, ["flag=maybe"])


def _args(*argv):
    parser = __import__("detente.cli", fromlist=["_parser"])._parser()
    return parser.parse_args(["shape", *argv])


@pytest.mark.parametrize(
    ("method", "game", "opponent", "sets"),
    [
        ("mfos-es", "chicken", "naive", []),
        ("mfos-selfplay", "imp", "self", ["anneal_generations=3"]),
        ("shaper", "imp", "pg", ["inner_steps=5"]),
        ("shaper", "ipd", "tit_for_tat", ["hidden_size=2"]),
        ("shaper", "coingame", "ppo", []),
        ("lola-dice", "chicken", "pg", []),
    ],
)
def test_registry_entries_build_trainers(tmp_path, method, game, opponent, sets):
    argv = [method, "--game", game, "--opponent", opponent, "--generations", "7"]
    argv += [x for s in sets for x in ("--set", s)]
    plan = cli_shape._validate(_args(*argv, "--out", str(tmp_path / "r")))
    trainer = plan.spec.build(plan.factory, game, opponent, plan.config, plan.opponent_config)
    assert isinstance(trainer, Trainer) and trainer.num_steps == 7
    assert plan.settings()["opponent"] == opponent
    if method == "lola-dice":
        assert plan.config.opponent == opponent and plan.config.gamma == 0.96
    if method == "shaper" and opponent == "pg":
        assert plan.opponent_config.gamma == 0.96  # the game's discount
    assert list(tmp_path.iterdir()) == []  # validation and building write nothing


def test_partial_run_needs_resume_and_the_same_settings(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["shape", "mfos-es", "--game", "ipd", "--seed", "1", *TINY, "--out", str(out)]
    plan = cli_shape._validate(_args(*base[1:]))
    # a checkpoint of an interrupted run (its contents are not read before the checks pass)
    save_checkpoint(
        tmp_path / "run.partial" / "checkpoints" / "ckpt-000000002.safetensors",
        {"x": np.zeros(1)},
        2,
        {"driver": {"chunk": 1}, "meta": {"settings": plan.settings(), "checkpoint_every": 1}},
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(base) == 2
    assert "an interrupted run is in" in one_error_line(capsys)
    assert main([*base, "--resume", "--seed", "2"]) == 2
    assert "is of seed=1, not 2" in one_error_line(capsys)
    assert main([*base, "--resume", "--set", "sigma=0.2"]) == 2
    assert "made with sigma=0.1, not 0.2" in one_error_line(capsys)
    assert main([*base, "--resume", "--generations", "1"]) == 2
    assert "--generations=1 is not allowed: expected at least 2" in one_error_line(capsys)
    assert main([*base, "--resume", "--game", "imp"]) == 2
    assert "is of game='ipd', not 'imp'" in one_error_line(capsys)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def _shape_cmd(out: Path, generations: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "detente.cli", "shape", "mfos-es", "--game", "ipd",
        "--generations", str(generations), "--seed", "3", *TINY, "--chunk", "1",
        "--out", str(out), *extra,
    ]  # fmt: skip


def test_kill_and_resume_ends_with_the_uninterrupted_numbers(tmp_path):
    """SIGKILL a real run after its first checkpoint; --resume ends bit-identical."""
    G = 100
    env = dict(
        os.environ,
        # the three runs share compiled programs (the same executables, a faster start)
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    ref, run = tmp_path / "ref", tmp_path / "run"
    ckdir = tmp_path / "run.partial" / "checkpoints"

    # the uninterrupted run (one checkpoint at its end; the same chunk calls)
    reference = subprocess.run(
        _shape_cmd(ref, G, "--checkpoint-every", str(G), "--quiet"),
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert "mean per-step reward" in reference.stdout

    # the run to kill: a checkpoint after every step; SIGKILL after the first one
    proc = subprocess.Popen(
        _shape_cmd(run, G, "--checkpoint-every", "1", "--keep", "2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while latest_checkpoint(ckdir) is None and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)  # no effect if it has already exited
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-3000:]
    assert not run.exists()  # a killed run leaves no output folder, only run.partial/
    killed_at = read_checkpoint_info(latest_checkpoint(ckdir)).step
    assert 1 <= killed_at < G

    # the output folder of a finished run
    assert sorted(p.name for p in ref.iterdir()) == [
        "checkpoints",
        "config.json",
        "metrics.npz",
        "summary.json",
        "training.png",
    ]
    assert not (tmp_path / "ref.partial").exists()
    assert [p.name for p in (ref / "checkpoints").iterdir()] == [f"ckpt-{G:09d}.safetensors"]
    summary = json.loads((ref / "summary.json").read_text())
    assert {"method", "game", "opponent", "seed", "generations", "wall_time_s"} <= set(summary)
    assert summary["generations"] == G and summary["seed"] == 3 and summary["resumed_from"] == 0
    r0, r1 = summary["mean_reward"]["agent"], summary["mean_reward"]["opponent"]
    # IPD per-step payoffs: each in [-3, 0]; the pair sums to -2 (CC), -3 (CD/DC) or -4 (DD)
    assert -3 <= r0 <= 0 and -3 <= r1 <= 0 and -4 <= r0 + r1 <= -2
    assert list(summary["p_cooperate"]) == ["start", "CC", "CD", "DC", "DD"]
    assert all(0 <= p <= 1 for p in summary["p_cooperate"].values())
    assert list(summary["agent_p_cooperate"]) == ["start", "CC", "CD", "DC", "DD"]
    config = json.loads((ref / "config.json").read_text())
    assert config["config"]["population_size"] == 8 and config["config"]["generations"] == G
    assert config["config"]["sigma"] == 0.1  # a default, resolved
    metrics = np.load(ref / "metrics.npz")
    assert metrics["fitness"].shape == (G,) and metrics["reward_1"].shape == (G,)
    assert metrics["evaluation/rewards"].shape == (10, 2)  # [inner episodes, players]
    np.testing.assert_allclose(metrics["evaluation/rewards"].mean(0), [r0, r1], rtol=1e-6)
    assert summary["final_metrics"]["fitness"] == float(metrics["fitness"][-1])
    assert (ref / "training.png").read_bytes()[:4] == b"\x89PNG"

    resumed = subprocess.run(
        _shape_cmd(run, G, "--resume", "--quiet"),
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"(resumed from step {killed_at})" in resumed.stdout
    assert not (tmp_path / "run.partial").exists()
    again = json.loads((run / "summary.json").read_text())
    assert again["resumed_from"] == killed_at
    for k in ("mean_reward", "p_cooperate", "agent_p_cooperate", "final_metrics"):
        assert again[k] == summary[k], k  # exactly the uninterrupted numbers
    resumed_metrics = np.load(run / "metrics.npz")
    assert sorted(resumed_metrics.files) == sorted(metrics.files)
    for k in metrics.files:
        np.testing.assert_array_equal(resumed_metrics[k], metrics[k])
    assert json.loads((run / "config.json").read_text())["chunk"] == 1
    assert (run / "checkpoints" / f"ckpt-{G:09d}.safetensors").exists()

    # --resume on the finished folder continues it with more generations
    more = subprocess.run(
        _shape_cmd(run, G + 10, "--resume", "--quiet"),
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert more.returncode == 0, more.stderr[-3000:]
    longer = np.load(run / "metrics.npz")
    assert longer["fitness"].shape == (G + 10,)
    np.testing.assert_array_equal(longer["fitness"][:G], metrics["fitness"])
    assert json.loads((run / "summary.json").read_text())["resumed_from"] == G
    assert not (tmp_path / "run.partial").exists()


# ----------------------------------------------------------------------------
# mfos-coin: M-FOS-ES in the CoinGame (detente.solvers.shaping.mfos_coin)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["mfos-coin", "--game", "ipd"], "--game='ipd'"),
        (["mfos-coin", "--game", "coingame", "--opponent", "pg"], "--opponent='pg'"),
        (["mfos-coin", "--game", "coingame", "--set", "summary=both"], "summary='both'"),
        (["mfos-coin", "--game", "coingame", "--set", "context=within"], "MFOSCoinConfig"),
    ],
)
def test_mfos_coin_bad_input(tmp_path, capsys, argv, needle):
    assert main(["shape", *argv, "--out", str(tmp_path / "run")]) == 2
    assert needle in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_mfos_coin_builds_a_trainer(tmp_path):
    from detente.solvers.rl.ppo import PPOConfig
    from detente.solvers.shaping.mfos_coin import MFOSCoinConfig

    argv = ["mfos-coin", "--game", "coingame", "--generations", "5", "--set", "summary=meta"]
    argv += ["--set", "opponent.lr=0.01", "--out", str(tmp_path / "r")]
    plan = cli_shape._validate(_args(*argv))
    assert plan.opponent == "ppo"  # the default, and only, opponent
    assert isinstance(plan.config, MFOSCoinConfig) and plan.config.summary == "meta"
    assert plan.opponent_config == PPOConfig(lr=0.01)
    trainer = plan.spec.build(plan.factory, "coingame", "ppo", plan.config, plan.opponent_config)
    assert isinstance(trainer, Trainer) and trainer.num_steps == 5
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_mfos_coin_run_writes_its_folder(tmp_path, capsys):
    """A two-generation run against PPO writes the output folder with own-coin rates."""
    out = tmp_path / "run"
    argv = ["shape", "mfos-coin", "--game", "coingame", "--generations", "2", "--quiet"]
    for s in ("inner_episodes=2", "num_envs=2", "population_size=4", "eval_opponents=2"):
        argv += ["--set", s]
    argv += ["--set", "opponent.minibatches=2", "--out", str(out)]
    assert main(argv) == 0
    assert "own-coin rate" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "mfos-coin" and summary["opponent"] == "ppo"
    rates = summary["own_coin_rate"]
    assert 0 <= rates["agent"] <= 1 and 0 <= rates["opponent"] <= 1
    metrics = np.load(out / "metrics.npz")
    assert metrics["fitness"].shape == (2,)
    assert metrics["evaluation/rewards"].shape == (2, 2)  # [inner episodes, players]
