"""``detente zsc train equivariant|ers-discover|ers-op`` and ``detente zsc crossplay --symmetrize``.

Known values: a weight-tied equivariant lever policy gives the nine 1.0-levers equal
probability (exact equivariance under the cyclic subgroup); the cross-play matrix of
symmetrized agents matches the exact lever value of their symmetrized policies
(Muglich et al. 2022, https://arxiv.org/abs/2210.12124; lever game of Hu et al. 2020).
The expected-return-symmetry commands are checked for their files and plumbing at a tiny
budget; their lever-game acceptance is tested in ``tests/test_ers.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from detente.cli import main
from detente.games.coordination import LeverGame, lever_value
from detente.solvers.rl.policy import make_policy
from detente.solvers.zsc.agents import load_agents
from detente.solvers.zsc.equivariant import EquivariantNetwork, symmetrized
from detente.solvers.zsc.ers import load_symmetries
from detente.solvers.zsc.selfplay import action_probs
from detente.solvers.zsc.symmetrizer import group_spec

TINY = ["--game", "lever", "--seeds", "3", "--updates", "12", "--quiet"]


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("detente: error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eq")
    assert main(["zsc", "train", "selfplay", *TINY, "--out", str(root / "sp")]) == 0
    argv = ["zsc", "train", "equivariant", *TINY, "--group", "cyclic"]
    assert main([*argv, "--out", str(root / "eq")]) == 0
    return root


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "selfplay", "--group", "cyclic"], "only with the equivariant method"),
        (["train", "equivariant", "--group", "octahedral"], "--group='octahedral'"),
        (["crossplay", "RUN_SP", "--symmetrize", "foo"], "--symmetrize='foo'"),
        (["crossplay", "RUN_EQ", "--symmetrize", "cyclic"], "a plain network"),
        (["train", "selfplay", "--pool", "RUN_SP"], "only with the ers-discover method"),
        (["train", "ers-discover"], "--pool=None"),
        (["train", "ers-discover", "--pool", "RUN_SP", "--set", "lr=-1"], "lr=-1"),
        (["train", "ers-discover", "--pool", "RUN_SP", "--game", "hanabi"], "--pool="),
        (["train", "ers-op"], "--symmetries=None"),
        (["train", "ers-op", "--symmetries", "nowhere"], "symmetries='nowhere'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(runs, argv, needle, capsys, tmp_path):
    out = tmp_path / "out"
    argv = [{"RUN_SP": str(runs / "sp"), "RUN_EQ": str(runs / "eq")}.get(a, a) for a in argv]
    assert main(["zsc", *argv, "--out", str(out)]) == 2
    assert needle in one_error_line(capsys)
    assert not out.exists() and not Path(str(out) + ".partial").exists()


def test_equivariant_run_is_exactly_uniform_over_the_nine(runs):
    agents = load_agents(runs / "eq")
    assert isinstance(agents.network, EquivariantNetwork)
    assert agents.network.mode == "weight-tied" and agents.network.group.size == 9
    config = json.loads((runs / "eq" / "config.json").read_text())
    assert config["group"] == "cyclic"
    env = LeverGame()
    obs = env.reset(jax.random.PRNGKey(0), env.default_params()).obs[:1]
    policy = make_policy(env.observation_shape, env.num_actions, agents.network)
    p = np.asarray(jax.vmap(lambda w: action_probs(policy, w, obs))(agents.params))[:, 0]
    np.testing.assert_allclose(p[:, :9], p[:, :1].repeat(9, 1), atol=1e-6)


def test_symmetrized_crossplay_matches_the_exact_lever_value(runs, tmp_path, capsys):
    out = tmp_path / "xp"
    argv = ["zsc", "crossplay", str(runs / "sp"), "--symmetrize", "cyclic"]
    assert main([*argv, "--episodes", "512", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["symmetrize"] == "cyclic"
    agents = load_agents(runs / "sp")
    env = LeverGame()
    params = env.default_params()
    obs = env.reset(jax.random.PRNGKey(0), params).obs[:1]
    net = symmetrized(agents.network, group_spec(env, "cyclic"))
    policy = make_policy(env.observation_shape, env.num_actions, net)
    p = np.asarray(jax.vmap(lambda w: action_probs(policy, w, obs))(agents.params))[:, 0]
    np.testing.assert_allclose(p[:, :9], p[:, :1].repeat(9, 1), atol=1e-6)
    exact = np.asarray(jax.vmap(lambda a: jax.vmap(lambda b: lever_value(params, a, b))(p))(p))
    got, sem = np.asarray(s["matrix"]["returns"]), np.asarray(s["matrix"]["sem"])
    assert np.all(np.abs(got - exact) <= 5 * sem + 1e-3), (got, exact, sem)
    assert "self-play" in capsys.readouterr().out


def test_ers_discover_then_ers_op(runs, tmp_path, capsys):
    found = tmp_path / "ers"
    argv = ["zsc", "train", "ers-discover", "--pool", str(runs / "sp"), "--quiet"]
    assert main([*argv, "--set", "num_maps=4", "--set", "num_steps=5", "--out", str(found)]) == 0
    s = json.loads((found / "summary.json").read_text())
    maps, meta = load_symmetries(found)
    act = np.asarray(maps.action_perm)
    assert meta["game"] == "lever" and s["maps_learned"] == 4
    assert act.tolist() == s["kept_action_perms"] and act.shape[0] == s["maps_kept"]
    assert all(sorted(a) == list(range(10)) for a in act.tolist())  # bijections
    op = tmp_path / "ers-op"
    argv = ["zsc", "train", "ers-op", "--symmetries", str(found), *TINY, "--out", str(op)]
    if act.shape[0] == 0:  # nothing kept at this tiny budget: ers-op must refuse, cleanly
        assert main(argv) == 2
        assert "at least one discovered map" in one_error_line(capsys)
        assert not op.exists() and not Path(str(op) + ".partial").exists()
        return
    assert main(argv) == 0
    config = json.loads((op / "config.json").read_text())
    assert config["symmetries"] == str(found.resolve())
    assert json.loads((op / "summary.json").read_text())["method"] == "ers-op"
