"""Smoke test of ``paper_figures/other_play_lever.py`` (Hu et al. 2020, https://arxiv.org/abs/2003.02979).

The script's ``main`` runs at a tiny budget (2 seeds per method, 5 PPO
updates each, 4 cross-play episodes per pair and seat order) into a temporary
folder; the test checks the folder, the keys of ``summary.json`` and
``arrays.npz``, finiteness, and the identities that hold at any budget: the
closed forms of the lever game (1.0, 1/9, 0.9), the exact cross-play matrix
``J(p_i, p_j) = sum_a p_i(a) p_j(a) payoff(a)`` recomputed here from the saved
policies, the seed-sampling standard deviation of self-play cross-play, and
the bookkeeping of the lever counts. The paper's numbers need the default
budget (16 seeds; ``tests/test_zsc.py`` asserts the trainers' lever results);
they are printed here, not asserted. Compilation dominates the runtime.
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
NAME = "other_play_lever"
SUMMARY_KEYS = {"paper", "reference", "ours", "checks", "passed", "seconds"}
CHECK_KEYS = {"name", "paper", "ours", "passed", "rule"}
SEEDS, STEPS, EPISODES = 2, 5, 4
PAYOFFS = np.array([1.0] * 9 + [0.9])


def _script():
    """Import ``paper_figures/other_play_lever.py`` the way ``python paper_figures/...`` runs it."""
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    return importlib.import_module(NAME)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / NAME
    argv = ["--out", str(out), "--seeds", str(SEEDS), "--steps", str(STEPS)]
    returned = _script().main([*argv, "--selfplay-steps", str(STEPS), "--episodes", str(EPISODES)])
    return out, returned


def test_output_folder_summary_and_config(run):
    out, returned = run
    assert {p.name for p in out.iterdir()} == {
        "summary.json",
        "config.json",
        "arrays.npz",
        f"{NAME}.png",
    }
    assert (out / f"{NAME}.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["paper"]["url"] == "https://arxiv.org/abs/2003.02979"
    ref = summary["reference"]
    assert ref["self_play_selfplay"] == 1.0 and ref["cross_play_selfplay"] == pytest.approx(1 / 9)
    assert ref["self_play_other_play"] == ref["cross_play_other_play"] == 0.9
    assert len(summary["checks"]) == 5
    for check in summary["checks"]:
        assert CHECK_KEYS == set(check)
        assert isinstance(check["passed"], bool)
        print(f"{check['name']}: paper {check['paper']}, ours {check['ours']}, {check['passed']}")
    # the closed forms the first four checks compare with
    assert [c["paper"] for c in summary["checks"][:4]] == ["1.000", "0.111", "0.900", "0.900"]
    assert summary["passed"] == all(c["passed"] for c in summary["checks"])
    assert summary["passed"] == returned["passed"]
    assert math.isfinite(summary["seconds"]) and summary["seconds"] > 0

    config = json.loads((out / "config.json").read_text())
    assert config["script"] == f"paper_figures/{NAME}.py"
    assert config["seeds"] == SEEDS and config["steps"] == STEPS
    for method in ("selfplay", "other-play"):
        c = config["methods"][method]
        assert c["num_updates"] == STEPS and c["share_params"] is True
    assert config["methods"]["selfplay"]["network"] == config["methods"]["other-play"]["network"]
    assert config["crossplay"]["episodes_per_pair_and_seat_order"] == EPISODES
    np.testing.assert_allclose(config["payoffs"], PAYOFFS)


def test_numbers_finite_and_consistent(run):
    out, _ = run
    ours = json.loads((out / "summary.json").read_text())["ours"]
    assert set(ours["methods"]) == {"selfplay", "other-play"}
    for m, e in ours["methods"].items():
        for block in ("self_play", "cross_play"):
            assert 0.0 <= e[block]["mean"] <= 1.0, (m, block)
        assert e["self_play"]["n"] == SEEDS and e["cross_play"]["n"] == SEEDS * (SEEDS - 1) // 2
        assert math.isfinite(e["self_play"]["sem"])
        assert e["updates"] == STEPS
        assert sum(e["seeds_per_lever"]) == SEEDS and len(e["seeds_per_lever"]) == 10
        assert np.bincount(e["lever_per_seed"], minlength=10).tolist() == e["seeds_per_lever"]
        for k in ("frac_on_unique_lever", "frac_on_top_lever", "mean_p_unique_lever"):
            assert 0.0 <= e[k] <= 1.0
        for k in ("exact_self_play", "exact_cross_play", "implied_cross_play"):
            assert 0.0 <= e[k] <= 1.0
        # Other-Play's objective sum_c P_c^2 payoff_c / k_c of the class masses P_c lies between
        # its minimum over all policies, 1 / sum_c (k_c / payoff_c) = 0.9 / 9.1, and its optimum 0.9
        assert 0.9 / (1 + 9 * 0.9) - 1e-6 <= e["other_play_objective"] <= 0.9 + 1e-6
    assert 0.0 <= ours["selfplay_vs_other_play"]["mean"] <= 1.0
    assert ours["selfplay_vs_other_play"]["n"] == SEEDS * SEEDS
    assert ours["unique_lever"] == 9
    # pairwise-independent Bernoulli(1/9) indicators over C(S, 2) pairs
    pairs = SEEDS * (SEEDS - 1) / 2
    assert ours["selfplay_cross_play_null_sd"] == pytest.approx(math.sqrt(8 / 81 / pairs))
    mat = ours["matrix"]
    assert mat["size"] == 2 * SEEDS and mat["episodes_per_pair_and_order"] == EPISODES
    assert mat["unfinished"] == 0.0  # one-shot game: every episode ends after one step
    assert math.isfinite(mat["mean_z2"]) and mat["mean_z2"] >= 0
    assert math.isfinite(mat["pooled_z"])


def test_arrays_and_exact_matrix(run):
    out, _ = run
    ours = json.loads((out / "summary.json").read_text())["ours"]
    k = 2 * SEEDS
    with np.load(out / "arrays.npz") as z:
        np.testing.assert_allclose(z["payoffs"], PAYOFFS)
        probs = np.concatenate([z["sp/probs"], z["op/probs"]])  # [2S, A]
        assert probs.shape == (k, 10)
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
        for who in ("sp", "op"):
            assert z[f"{who}/reward"].shape == (SEEDS, STEPS)
            assert z[f"{who}/entropy"].shape == (SEEDS, STEPS)
            assert np.isfinite(z[f"{who}/reward"]).all()
            assert ((z[f"{who}/reward"] >= 0) & (z[f"{who}/reward"] <= 1)).all()
            # entropy of a 10-way categorical lies in [0, log 10]
            assert (
                (z[f"{who}/entropy"] >= -1e-5) & (z[f"{who}/entropy"] <= np.log(10) + 1e-5)
            ).all()
        # the exact expected returns of every ordered pair, recomputed in float64
        exact = np.einsum("ia,ja,a->ij", probs, probs, PAYOFFS)
        np.testing.assert_allclose(z["crossplay/exact"], exact, atol=1e-5)
        returns = z["crossplay/returns"]
        assert returns.shape == (k, k) and z["crossplay/sem"].shape == (k, k)
        assert z["crossplay/seat_returns"].shape == (2, k, k)
        np.testing.assert_allclose(z["crossplay/seat_returns"].mean(0), returns)
        # each cell is a mean of 2E episode returns in {0, 0.9, 1}: 0 <= r <= 1
        assert ((returns >= 0) & (returns <= 1)).all()
        assert z["crossplay/groups"].tolist() == ["SP"] * SEEDS + ["OP"] * SEEDS
        # the summaries are the blocks of the saved matrix
        sp = ours["methods"]["selfplay"]
        np.testing.assert_allclose(sp["self_play"]["mean"], np.diag(returns)[:SEEDS].mean())
        np.testing.assert_allclose(sp["exact_self_play"], np.diag(exact)[:SEEDS].mean(), atol=1e-5)
        np.testing.assert_allclose(
            ours["selfplay_vs_other_play"]["mean"], returns[:SEEDS, SEEDS:].mean()
        )
        op_p = z["op/probs"]
        assert ours["methods"]["other-play"]["frac_on_unique_lever"] == np.mean(op_p[:, 9] >= 0.9)


@pytest.mark.parametrize(
    "argv",
    [["--episodes", "1"], ["--selfplay-steps", "0"], ["--steps", "0"], ["--seeds", "0"]],
)
def test_bad_arguments_exit(argv, tmp_path):
    with pytest.raises(SystemExit):
        _script().main(["--out", str(tmp_path / "never"), *argv])
    assert not (tmp_path / "never").exists()
