"""``detente zsc``: clean failures, the output folder, cross-play of several runs, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from detente.cli import main

# A tiny lever-game budget: startup and compilation dominate.
TINY = ["--game", "lever", "--seeds", "3", "--updates", "12", "--episodes", "16", "--quiet"]


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("detente: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train"], "method=None"),
        (["train", "nosuch"], "method='nosuch'"),
        (["train", "selfplay", "--game", "chess"], "--game='chess'"),
        (["train", "selfplay", "--seeds", "0"], "--seeds=0"),
        (["train", "selfplay", "--seed", "-2"], "--seed=-2"),
        (["train", "selfplay", "--updates", "0"], "--updates=0"),
        (["train", "selfplay", "--set", "nosuch=1"], "FIELD one of"),
        (["train", "selfplay", "--set", "ppo.lr=-1"], "lr=-1.0"),
        (["train", "selfplay", "--set", "network.kind=cnn"], "kind='cnn'"),
        (["train", "selfplay", "--set", "num_envs"], "FIELD=VALUE"),
        (["train", "common-knowledge", "--game", "lever"], "--game='lever'"),
        (["train", "equivariant", "--game", "noisy-lever"], "method='equivariant'"),
        (["crossplay", "--out", "x"], "RUN=None"),
        (["crossplay", "nowhere"], "--out=None"),
        (["crossplay", "nowhere", "--out", "x"], "nowhere"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(argv, needle, capsys, tmp_path):
    out = tmp_path / "out"
    if "--out" not in argv and argv[0] == "train":
        argv = [*argv, "--out", str(out)]
    assert main(["zsc", *argv]) == 2
    assert needle in one_error_line(capsys)
    assert not out.exists() and not Path(str(out) + ".partial").exists()


def test_list(capsys):
    assert main(["zsc", "train", "--list"]) == 0
    text = capsys.readouterr().out
    for name in ("selfplay", "other-play", "lever", "iterated-lever", "hanabi", "noisy-lever"):
        assert name in text


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("zsc")
    for method in ("selfplay", "other-play"):
        argv = ["zsc", "train", method, *TINY, "--checkpoint-every", "4"]
        assert main([*argv, "--out", str(root / method)]) == 0
    return root


def test_train_writes_the_output_folder(runs):
    d = runs / "selfplay"
    names = {p.name for p in d.iterdir()}
    assert {"summary.json", "config.json", "agents.safetensors", "metrics.npz"} <= names
    assert {"training.png", "crossplay.png", "checkpoints"} <= names
    s = json.loads((d / "summary.json").read_text())
    assert s["method"] == "selfplay" and s["seeds"] == 3 and s["updates"] == 12
    m = np.asarray(s["matrix"]["returns"])
    assert m.shape == (3, 3) and np.all((m >= 0) & (m <= 1))
    assert s["self_play"]["mean"] == pytest.approx(np.mean(np.diag(m)))
    off = m[~np.eye(3, dtype=bool)]
    assert s["cross_play"]["mean"] == pytest.approx(off.mean())
    assert len(s["levers"]) == 3 and all(0 <= x["lever"] < 10 for x in s["levers"])
    metrics = np.load(d / "metrics.npz")
    assert metrics["reward_0"].shape == (12, 3)
    assert not Path(str(d) + ".partial").exists()


def test_crossplay_of_two_runs(runs, tmp_path, capsys):
    out = tmp_path / "xp"
    assert main(["zsc", "crossplay", str(runs / "selfplay"), str(runs / "other-play"),
                 "--out", str(out), "--episodes", "8"]) == 0  # fmt: skip
    s = json.loads((out / "summary.json").read_text())
    assert np.asarray(s["matrix"]["returns"]).shape == (6, 6)
    assert s["methods"] == ["selfplay", "other-play"]
    assert set(s["by_run"]) == {
        "selfplay|selfplay", "selfplay|other-play", "other-play|selfplay", "other-play|other-play"
    }  # fmt: skip
    assert (out / "crossplay.png").stat().st_size > 0
    assert "cross-play" in capsys.readouterr().out


def test_resume_from_a_checkpoint_ends_with_the_same_numbers(runs, tmp_path, capsys):
    """A run stopped after its step-8 checkpoint and resumed equals the uninterrupted run."""
    full = runs / "selfplay"
    out = tmp_path / "again"
    partial = tmp_path / "again.partial"
    (partial / "checkpoints").mkdir(parents=True)
    shutil.copy2(full / "checkpoints" / "ckpt-000000008.safetensors", partial / "checkpoints")
    argv = ["zsc", "train", "selfplay", *TINY, "--checkpoint-every", "4", "--out", str(out)]
    assert main(argv) == 2  # an interrupted run is there: --resume is needed
    assert "--resume" in one_error_line(capsys)
    assert main([*argv, "--resume"]) == 0
    a, b = load_file(full / "agents.safetensors"), load_file(out / "agents.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    sa = json.loads((full / "summary.json").read_text())
    sb = json.loads((out / "summary.json").read_text())
    assert sb["resumed_from"] == 8
    assert sa["matrix"] == sb["matrix"]
    assert not partial.exists()


def test_noisy_game_run_adds_the_noise_sweep(tmp_path, capsys):
    """A common-knowledge run on the noisy lever game: cross-play at sigma 0, 1, 2, 4."""
    out = tmp_path / "ck"
    argv = ["zsc", "train", "common-knowledge", "--game", "noisy-lever", "--seeds", "2"]
    assert main([*argv, "--updates", "4", "--episodes", "8", "--quiet", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    n = s["noise"]
    assert n["sigmas"] == [0.0, 1.0, 2.0, 4.0]
    # the best achievable return does not depend on the noise; the argmax of one's own
    # view reaches it at sigma 0 and falls below it with noise
    assert np.allclose(n["best"], n["best"][0], rtol=0.03)
    assert n["argmax_of_own_view"][0] == pytest.approx(n["best"][0], rel=0.03)
    assert n["argmax_of_own_view"][-1] < n["best"][-1]
    assert json.loads((out / "config.json").read_text())["method"] == "common-knowledge"
    assert "sigma 4" in capsys.readouterr().out
