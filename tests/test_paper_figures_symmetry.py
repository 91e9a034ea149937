"""Smoke test of ``paper_figures/symmetry_lever.py`` (Muglich et al. 2025, https://arxiv.org/abs/2502.01711).

The script's ``main`` runs at a tiny budget (2 seeds per method, 5 PPO
updates each, 4 ERS maps of 5 Adam steps, 4 cross-play episodes per pair and
seat order) into a temporary folder; the test checks the folder, the keys of
``summary.json`` and ``arrays.npz``, and the identities that hold at any
budget: the closed forms (1.0, 1/9, 0.9), every exact cross-play matrix
``J(p_i, p_j) = sum_a p_i(a) p_j(a) payoff(a)`` recomputed from the saved
policies, the summaries as blocks of the saved matrices, the symmetrized
agents as the softmax of the SP agents' logits averaged over the nine
1.0-levers (the same for the cyclic and the dihedral group; logits recovered
as ``log p`` up to a constant), the weight-tied agents' equal mass on the
nine, and the ERS check recomputed from the saved maps. The papers' numbers
need the default budget; they are printed here, not asserted.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.coordination import LeverGame
from detente.games.symmetry import generated_group

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"
NAME = "symmetry_lever"
SUMMARY_KEYS = {"paper", "reference", "ours", "checks", "passed", "seconds"}
METHODS = (
    "selfplay",
    "other-play",
    "ers-other-play",
    "symmetrized-cyclic",
    "symmetrized-dihedral",
    "equivariant",
)
MATRICES = {
    "mlp": ("selfplay", "other-play", "ers-other-play"),
    "symmetrized-cyclic": ("symmetrized-cyclic",),
    "symmetrized-dihedral": ("symmetrized-dihedral",),
    "equivariant": ("equivariant",),
}
SEEDS, STEPS, EPISODES, MAPS = 2, 5, 4, 4
PAYOFFS = np.array([1.0] * 9 + [0.9])


def lever_symmetry(perms: np.ndarray):
    """The stacked lever symmetries of ``[K, 10]`` lever permutations."""
    return LeverGame().lever_symmetry(jnp.asarray(perms))


def _script():
    """Import ``paper_figures/symmetry_lever.py`` the way ``python paper_figures/...`` runs it."""
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    return importlib.import_module(NAME)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / NAME
    argv = ["--out", str(out), "--seeds", str(SEEDS), "--steps", str(STEPS)]
    argv += ["--selfplay-steps", str(STEPS), "--episodes", str(EPISODES)]
    returned = _script().main([*argv, "--ers-maps", str(MAPS), "--ers-steps", "5"])
    ours = json.loads((out / "summary.json").read_text())["ours"]
    with np.load(out / "arrays.npz") as z:
        arrays = dict(z)
    return out, returned, ours, arrays


def test_output_folder_summary_and_config(run):
    out, returned, _, _ = run
    assert {p.name for p in out.iterdir()} == {
        "summary.json",
        "config.json",
        "arrays.npz",
        f"{NAME}.png",
    }
    assert (out / f"{NAME}.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["paper"]["url"] == "https://arxiv.org/abs/2502.01711"
    assert summary["paper"]["also"] == "https://arxiv.org/abs/2210.12124"
    ref = summary["reference"]
    assert ref["selfplay"] == {"self_play": 1.0, "cross_play": pytest.approx(1 / 9)}
    for m in ("other-play", "ers-other-play", "equivariant"):
        assert ref[m] == {"self_play": 0.9, "cross_play": 0.9}
    for m in ("symmetrized-cyclic", "symmetrized-dihedral"):
        assert ref[m]["self_play"] == ref[m]["cross_play"] == pytest.approx(1 / 9)
    checks = summary["checks"]
    assert len(checks) == 2 * len(METHODS) + 2
    for check in checks:
        assert {"name", "paper", "ours", "passed", "rule"} == set(check)
        print(f"{check['name']}: paper {check['paper']}, ours {check['ours']}, {check['passed']}")
    # the closed forms of the per-method checks, from reference_values
    assert [c["paper"] for c in checks[: 2 * len(METHODS)]] == [
        "1.000", "0.111", "0.900", "0.900", "0.900", "0.900",
        "0.111", "0.111", "0.111", "0.111", "0.900", "0.900",
    ]  # fmt: skip
    assert summary["passed"] == all(c["passed"] for c in checks) == returned["passed"]
    assert math.isfinite(summary["seconds"]) and summary["seconds"] > 0

    config = json.loads((out / "config.json").read_text())
    assert config["script"] == f"paper_figures/{NAME}.py"
    assert config["seeds"] == SEEDS and config["steps"] == STEPS
    for m in METHODS:
        assert config["methods"][m]["num_updates"] == STEPS
    assert config["ers"]["num_maps"] == MAPS and config["ers"]["num_steps"] == 5
    assert config["crossplay"]["matrices"] == {k: list(v) for k, v in MATRICES.items()}


def test_summaries_are_the_blocks_of_the_saved_matrices(run):
    _, _, ours, z = run
    s = SEEDS
    for name, methods in MATRICES.items():
        k = s * len(methods)
        returns, exact = z[f"{name}/returns"], z[f"{name}/exact"]
        assert returns.shape == exact.shape == z[f"{name}/sem"].shape == (k, k)
        np.testing.assert_allclose(z[f"{name}/seat_returns"].mean(0), returns)
        assert ((returns >= 0) & (returns <= 1)).all()  # means of episode returns in {0, 0.9, 1}
        probs = np.concatenate([z[f"{m}/probs"] for m in methods])  # [K, A]
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
        # the exact expected returns of every ordered pair, recomputed in float64
        np.testing.assert_allclose(
            exact, np.einsum("ia,ja,a->ij", probs, probs, PAYOFFS), atol=1e-5
        )
        mat = ours["matrices"][name]
        assert mat["size"] == k and mat["unfinished"] == 0.0
        assert mat["episodes_per_pair_and_order"] == EPISODES
        for j, m in enumerate(methods):
            e = ours["methods"][m]
            block = returns[j * s : (j + 1) * s, j * s : (j + 1) * s]
            ex = exact[j * s : (j + 1) * s, j * s : (j + 1) * s]
            off = ~np.eye(s, dtype=bool)
            np.testing.assert_allclose(e["self_play"]["mean"], np.diag(block).mean())
            np.testing.assert_allclose(e["cross_play"]["mean"], block[off].mean())
            np.testing.assert_allclose(e["exact_self_play"], np.diag(ex).mean(), atol=1e-6)
            np.testing.assert_allclose(e["exact_cross_play"], ex[off].mean(), atol=1e-6)
            assert e["self_play"]["n"] == s and e["cross_play"]["n"] == s * (s - 1) // 2
            p = z[f"{m}/probs"]
            assert e["seeds_on_unique_lever"] == int(np.sum(p[:, 9] >= 0.9))
            assert np.bincount(p.argmax(-1), minlength=10).tolist() == e["seeds_per_lever"]
    np.testing.assert_allclose(
        ours["OP_x_ERS-OP"]["mean"], z["mlp/returns"][s : 2 * s, 2 * s :].mean()
    )
    pairs = s * (s - 1) / 2  # pairwise-independent Bernoulli(1/9) indicators over C(S, 2) pairs
    assert ours["selfplay_cross_play_null_sd"] == pytest.approx(math.sqrt(8 / 81 / pairs))


def test_symmetrized_and_equivariant_agents(run):
    _, _, ours, z = run
    sp = z["selfplay/probs"]
    assert sp.shape == (SEEDS, 10) and z["selfplay/reward"].shape == (SEEDS, STEPS)
    # the symmetrizer over a group transitive on the nine 1.0-levers averages their logits
    logits = np.log(sp)  # the logits up to a per-agent constant
    logits[:, :9] = logits[:, :9].mean(-1, keepdims=True)
    want = np.exp(logits - logits.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    for m in ("symmetrized-cyclic", "symmetrized-dihedral"):
        np.testing.assert_allclose(z[f"{m}/probs"], want, atol=1e-5)
        assert ours["methods"][m]["top_lever_spread"] < 1e-5
    # weight-tied equivariant agents put equal mass on the nine, whatever their training
    eq = z["equivariant/probs"]
    np.testing.assert_allclose(eq[:, :9], eq[:, :1].repeat(9, 1), atol=1e-6)
    assert ours["methods"]["equivariant"]["top_lever_spread"] < 1e-5


def test_ers_numbers_from_the_saved_maps(run):
    out, _, ours, z = run
    ers = ours["ers"]
    maps, kept = z["ers/maps_action_perm"], z["ers/kept"]
    assert maps.shape == (MAPS, 10) and kept.shape == z["ers/valid"].shape == (MAPS,)
    assert (np.sort(maps, axis=1) == np.arange(10)).all()  # bijections
    assert ers["maps_learned"] == MAPS and ers["maps_kept"] == int(kept.sum())
    assert ers["maps_valid"] == int(z["ers/valid"].sum()) and not (kept & ~z["ers/valid"]).any()
    ap = maps[kept]
    np.testing.assert_array_equal(np.asarray(ers["kept_action_perms"]).reshape(-1, 10), ap)
    ok = bool(ap.shape[0] and (PAYOFFS[ap] == PAYOFFS).all() and (ap[:, 9] == 9).all())
    check = json.loads((out / "summary.json").read_text())["checks"][-2]
    assert check["name"].startswith("ERS maps") and check["passed"] == ok
    # P(g fixes a) for g uniform on the generated group: the script's orbit-stabiliser
    # 1 / |orbit(a)| against enumerating the group (the tiny pool's group is small)
    p_fixed = np.asarray(ers["p_fixed_per_lever"])
    assert p_fixed.shape == (10,) and ((p_fixed > 0) & (p_fixed <= 1)).all()
    gens = ap if ap.shape[0] else np.arange(10)[None]
    group = np.asarray(generated_group(lever_symmetry(gens), 40320).action_perm)
    assert ers["group_order"] in (None, group.shape[0])
    np.testing.assert_allclose(p_fixed, (group == np.arange(10)).mean(0), atol=1e-6)
    assert ers["fallback_identity"] == (ap.shape[0] == 0)


@pytest.mark.parametrize(
    "argv",
    [["--episodes", "1"], ["--seeds", "1"], ["--selfplay-steps", "0"], ["--ers-maps", "0"]],
)
def test_bad_arguments_exit(argv, tmp_path):
    with pytest.raises(SystemExit):
        _script().main(["--out", str(tmp_path / "never"), *argv])
    assert not (tmp_path / "never").exists()
