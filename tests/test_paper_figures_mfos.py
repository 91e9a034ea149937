"""Smoke test of ``paper_figures/mfos.py`` (Lu et al. 2022, https://arxiv.org/abs/2205.01447).

The script's ``main`` runs at the ``--quick`` budget (3 ES generations of 4
members, 3 self-play generations) into a temporary folder; the test checks
the folder, the keys of ``summary.json`` and ``arrays.npz``, that every
reported reward is finite and inside its game's payoff range, and the exact
identities that hold at any budget (matching pennies is zero-sum). The
paper's thresholds are printed, not asserted: they need the default budget
(``tests/test_mfos.py`` asserts them at that budget). Compilation dominates
the runtime.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"
SUMMARY_KEYS = {"paper", "reference", "ours", "checks", "passed", "seconds"}
CHECK_KEYS = {"name", "paper", "ours", "passed", "rule"}
PAYOFF_RANGE = {"ipd": (-3.0, 0.0), "imp": (-1.0, 1.0), "chicken": (-100.0, 1.0)}
POLICY_SIZE = {"ipd": 5, "imp": 5, "chicken": 1}
GENERATIONS = 3


def _script():
    """Import ``paper_figures/mfos.py`` the way ``python paper_figures/mfos.py`` runs it."""
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    return importlib.import_module("mfos")


def _in_range(x, game, tol=1e-4):
    lo, hi = PAYOFF_RANGE[game]
    x = np.asarray(x, float)
    return bool(np.all(np.isfinite(x)) and np.all(x >= lo - tol) and np.all(x <= hi + tol))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / "mfos"
    argv = ["--out", str(out), "--quick", "--steps", str(GENERATIONS)]
    returned = _script().main([*argv, "--selfplay-steps", str(GENERATIONS)])
    return out, returned


def test_output_folder_and_summary(run):
    out, returned = run
    assert {p.name for p in out.iterdir()} == {
        "summary.json",
        "config.json",
        "arrays.npz",
        "mfos.png",
    }
    assert (out / "mfos.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["paper"]["url"] == "https://arxiv.org/abs/2205.01447"
    assert set(summary["reference"]) >= {"ipd", "imp", "chicken", "selfplay", "source"}
    assert len(summary["checks"]) == 5
    for check in summary["checks"]:
        assert CHECK_KEYS == set(check)
        assert isinstance(check["passed"], bool)
        # the paper's thresholds at this budget, for the record (not asserted)
        print(f"{check['name']}: paper {check['paper']}, ours {check['ours']}, {check['passed']}")
    assert summary["passed"] == all(c["passed"] for c in summary["checks"])
    assert summary["passed"] == returned["passed"]
    assert math.isfinite(summary["seconds"]) and summary["seconds"] > 0

    config = json.loads((out / "config.json").read_text())
    assert config["script"] == "paper_figures/mfos.py"
    assert config["steps"] == config["mfos_es"]["generations"] == GENERATIONS
    assert config["selfplay"]["generations"] == GENERATIONS
    assert config["selfplay"]["anneal_generations"] == 2  # round(0.625 * 3)
    assert config["mfos_es"]["inner_episodes"] == 100  # the paper's T


def test_rewards_finite_and_in_payoff_ranges(run):
    out, _ = run
    ours = json.loads((out / "summary.json").read_text())["ours"]
    assert set(ours["games"]) == {"ipd", "imp", "chicken"}
    for game, e in ours["games"].items():
        assert e["payoff_range"] == list(PAYOFF_RANGE[game])
        assert _in_range([e["mfos_reward"], e["naive_reward"]], game), (game, e)
        assert _in_range(e["mean_reward_per_seed"], game)
        assert _in_range(e["last_episode_reward"], game)
        for who in ("mfos", "naive"):
            p = np.asarray(e[f"p_action_0_{who}"])
            assert p.shape == (POLICY_SIZE[game],)
            assert np.all((p >= 0) & (p <= 1))
        assert len(e["state_labels"]) == POLICY_SIZE[game]
    # matching pennies is zero-sum: the two per-step rewards cancel exactly
    imp = ours["games"]["imp"]
    assert abs(imp["mfos_reward"] + imp["naive_reward"]) < 1e-4
    sp = ours["selfplay"]
    assert _in_range(sp["reward"], "ipd") and _in_range(sp["naive_mean_reward"], "ipd")
    p = np.asarray(sp["p_cooperate"])
    assert p.shape == (2, 5) and np.all((p >= 0) & (p <= 1))
    # anneal over 2 of 3 generations: generation 0 always plays naive learners
    # (lambda = 1), generation 2 never (lambda = 0)
    assert 1 <= sp["generations_vs_naive"][0] <= 2


def test_arrays(run):
    out, _ = run
    with np.load(out / "arrays.npz") as z:
        for game in ("ipd", "imp", "chicken"):
            assert z[f"{game}/fitness"].shape == (1, GENERATIONS)
            assert z[f"{game}/reward_1"].shape == (1, GENERATIONS)
            assert z[f"{game}/episode_rewards"].shape == (1, 100, 2)
            assert _in_range(z[f"{game}/episode_rewards"], game)
            assert _in_range(z[f"{game}/fitness"], game)
            # the exact per-inner-episode rewards average to the reported mean
            np.testing.assert_allclose(
                z[f"{game}/episode_rewards"].mean(1), z[f"{game}/mean_reward"], rtol=1e-4, atol=1e-4
            )
            assert np.all(z[f"{game}/best_fitness"] >= z[f"{game}/fitness"] - 1e-6)
        np.testing.assert_allclose(z["selfplay/mixing"][0], [1.0, 0.5, 0.0])
        assert z["selfplay/episode_rewards"].shape == (1, 100, 2)
        assert _in_range(z["selfplay/fitness_0"], "ipd")


@pytest.mark.parametrize(
    "argv",
    [["--quick", "--full"], ["--selfplay-steps", "0"], ["--steps", "0"], ["--seeds", "-1"]],
)
def test_bad_arguments_exit(argv, tmp_path):
    with pytest.raises(SystemExit):
        _script().main(["--out", str(tmp_path / "never"), *argv])
    assert not (tmp_path / "never").exists()
