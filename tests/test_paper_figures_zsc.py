"""Smoke test of ``paper_figures/hanabi_crossplay.py`` (Hu et al. 2020, arXiv 2003.02979).

The script's ``main`` runs at the ``--quick`` budget (2 self-play and 2
Other-Play agents, 2 PPO updates of 8 games x 8 turns, 2 cross-play episodes
per pair and seat order) into a temporary folder; the test checks the
folder, the keys of ``summary.json`` and ``arrays.npz``, that every score is
a Hanabi score (in ``[0, 25]``), the identities that hold at any budget (a
cell is the mean of its two seat orders; the block summaries are means of the
matrix's cells), that uniformly random legal play scores about 0 (it bombs
out: bomb-0 rule), and that the self-play trick of the script (the Other-Play
wrapper over 120 identity "symmetries") is plain self-play, step for step.
The paper's numbers are printed, not asserted: no CPU budget reaches them.
Compilation dominates the runtime.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jaxmarl")

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"
SUMMARY_KEYS = {"paper", "reference", "ours", "checks", "passed", "seconds"}
CHECK_KEYS = {"name", "paper", "ours", "passed", "rule"}
FILES = {"summary.json", "config.json", "arrays.npz", "hanabi_crossplay.png"}


def _script():
    """Import ``paper_figures/hanabi_crossplay.py`` as ``python paper_figures/...`` runs it."""
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    return importlib.import_module("hanabi_crossplay")


def _is_score(x) -> bool:
    x = np.asarray(x, float)
    return bool(np.all(np.isfinite(x)) and np.all(x >= 0.0) and np.all(x <= 25.0))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / "hanabi_crossplay"
    returned = _script().main(["--out", str(out), "--quick"])
    return out, returned


def test_output_folder_and_summary(run):
    out, returned = run
    assert {p.name for p in out.iterdir()} == FILES
    assert (out / "hanabi_crossplay.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["paper"]["url"] == "https://arxiv.org/abs/2003.02979"
    ref = summary["reference"]
    assert (ref["selfplay"]["self_play"], ref["selfplay"]["cross_play"]) == (23.98, 2.53)
    assert (ref["other-play"]["self_play"], ref["other-play"]["cross_play"]) == (23.93, 15.28)
    assert len(summary["checks"]) == 3
    for check in summary["checks"]:
        assert set(check) == CHECK_KEYS
        assert isinstance(check["passed"], bool)
        print(f"{check['name']}: paper {check['paper']}, ours {check['ours']}, {check['passed']}")
    assert summary["passed"] == all(c["passed"] for c in summary["checks"])
    assert summary["passed"] == returned["passed"]
    assert math.isfinite(summary["seconds"]) and summary["seconds"] > 0

    config = json.loads((out / "config.json").read_text())
    assert config["script"] == "paper_figures/hanabi_crossplay.py"
    assert config["level"] == "quick"
    assert config["seeds"] == 2 and config["steps"] == 2
    assert config["ippo"]["num_updates"] == 2
    assert config["ippo"]["num_envs"] == 8 and config["ippo"]["num_steps"] == 8
    assert config["ippo"]["share_params"] is True
    assert config["crossplay"]["episodes_per_pair_and_seat_order"] == 2


def test_numbers_are_scores_and_summaries_match_the_matrix(run):
    out, _ = run
    ours = json.loads((out / "summary.json").read_text())["ours"]
    with np.load(out / "arrays.npz") as z:
        r = z["crossplay/returns"]
        seat = z["crossplay/seat_returns"]
        sem = z["crossplay/sem"]
        groups = z["crossplay/groups"].tolist()
        rnd = z["random_legal/score"]
        assert z["sp/reward"].shape == z["op/reward"].shape == (2, 2)
        assert z["sp/entropy"].shape == (2, 2)
        assert np.all(z["sp/entropy"] >= 0) and np.all(z["sp/entropy"] <= math.log(21) + 1e-4)
    assert r.shape == (4, 4) and seat.shape == (2, 4, 4)
    assert groups == ["SP", "SP", "OP", "OP"]
    assert _is_score(r) and _is_score(seat)
    assert np.all(sem >= 0)
    np.testing.assert_allclose(r, seat.mean(0), rtol=1e-12)  # both seat orders averaged
    off = ~np.eye(2, dtype=bool)
    for k, m in enumerate(("selfplay", "other-play")):
        block = r[2 * k : 2 * k + 2, 2 * k : 2 * k + 2]
        e = ours["methods"][m]
        assert e["self_play"]["mean"] == pytest.approx(np.diag(block).mean(), abs=1e-9)
        assert e["cross_play"]["mean"] == pytest.approx(block[off].mean(), abs=1e-9)
    assert ours["selfplay_vs_other_play"]["mean"] == pytest.approx(r[:2, 2:].mean(), abs=1e-9)
    # random legal play bombs out: the bomb-0 score is about 0 (integers in [0, 25])
    assert rnd.shape == (1024,) and _is_score(rnd) and np.all(rnd == np.round(rnd))
    assert ours["random_legal"]["mean"] == pytest.approx(rnd.mean())
    assert rnd.mean() < 0.25
    cmp = ours["paper_comparison"]
    assert cmp["selfplay"]["paper_ratio"] == pytest.approx(2.53 / 23.98)
    assert cmp["other-play"]["ours_self_play"] == ours["methods"]["other-play"]["self_play"]["mean"]


def test_identity_group_wrapper_is_plain_selfplay():
    """The script's self-play env: the Other-Play wrapper over identities changes nothing."""
    import jax
    import jax.numpy as jnp

    from detente.games.hanabi import HanabiGame

    op_env, sp_params, op_params = _script().training_envs()
    env = HanabiGame()
    params = env.default_params()
    assert np.all(np.asarray(sp_params.group.obs_perm) == np.arange(658))
    assert np.all(np.asarray(sp_params.group.action_perm) == np.arange(21))
    assert np.asarray(op_params.group.obs_perm).shape == (120, 658)

    @jax.jit
    def play(key):
        ts = op_env.reset(key, sp_params)
        wrapped, raw = [], []
        for t in range(6):
            k = jax.random.fold_in(key, t)
            a = jax.random.categorical(k, jnp.where(ts.action_mask, 0.0, -jnp.inf), axis=-1)
            nxt = op_env.step(k, ts.state, a, sp_params)
            ref = env.step(k, ts.state.env, a, params)
            wrapped.append((nxt.obs, nxt.action_mask, nxt.rewards))
            raw.append((ref.obs, ref.action_mask, ref.rewards))
            ts = nxt
        first = (ts.obs, env.observe(ts.state.env))
        return wrapped, raw, first

    wrapped, raw, (shown, true) = play(jax.random.PRNGKey(3))
    for w, r in zip(wrapped, raw, strict=True):
        for x, y in zip(w, r, strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(np.asarray(shown), np.asarray(true))


@pytest.mark.parametrize(
    "argv",
    [["--quick", "--full"], ["--episodes", "1"], ["--steps", "0"], ["--seeds", "-1"]],
)
def test_bad_arguments_exit(argv, tmp_path):
    with pytest.raises(SystemExit):
        _script().main(["--out", str(tmp_path / "never"), *argv])
    assert not (tmp_path / "never").exists()


def test_symmetrized_selfplay_block_matches_its_matrix(run):
    """The symmetrized self-play agents (issue 6): summaries recomputed from the saved matrix."""
    out, _ = run
    sym = json.loads((out / "summary.json").read_text())["ours"]["symmetrized_selfplay"]
    assert sym["group"] == "dihedral" and sym["group_size"] == 10
    with np.load(out / "arrays.npz") as a:
        r, plain = a["symmetrized_selfplay/returns"], a["crossplay/returns"]
    s = r.shape[0]
    assert r.shape == (s, s) and _is_score(r)
    assert sym["self_play"]["mean"] == pytest.approx(np.mean(np.diag(r)))
    change = np.diag(r) - np.diag(plain[:s, :s])
    assert sym["self_play_change"]["mean"] == pytest.approx(change.mean())


def test_ers_candidates_are_the_colour_group_and_mismatched_relabellings(run):
    """The Hanabi ERS family: the 120 colour symmetries, then relabellings that are not symmetries."""
    import jax

    from detente.games.hanabi import HanabiGame

    script = _script()
    cands = script.ers_candidates(jax.random.key(0), 6)
    group = HanabiGame().symmetry_group()
    obs, act = np.asarray(cands.obs_perm), np.asarray(cands.action_perm)
    assert obs.shape == (126, 658) and act.shape == (126, 21)
    np.testing.assert_array_equal(obs[:120], np.asarray(group.obs_perm))
    np.testing.assert_array_equal(act[:120], np.asarray(group.action_perm))
    # a mismatched map's observation part is some symmetry's, its hint part another's
    for o, a in zip(obs[120:], act[120:], strict=True):
        k = int(np.flatnonzero((np.asarray(group.obs_perm) == o).all(1))[0])
        assert not np.array_equal(a, np.asarray(group.action_perm[k]))
    _, returned = run
    ers = returned["ours"]["ers_other_play"]
    assert ers["candidates"] == {"symmetries": 120, "mismatched": script.ERS_MISMATCHED}
    assert len(ers["pool_returns"]) == 2
