"""Phase portraits: fields, trajectories, basins, the folder writer and the paper figure.

Closed forms used (derived in tests/test_analysis_stability.py):

* matching pennies, naive learning, p = sigmoid(x), q = sigmoid(y):
  F = (2 p(1-p) (2q - 1), -2 q(1-q) (2p - 1)); in probabilities the field is
  (p(1-p) F_1, q(1-q) F_2).
* Tandem, naive learning: F_1 = F_2 = 2 - 2 (x + y); one learning step maps
  s = x + y to 1 + (1 - 4 lr)(s - 1) and keeps x - y.

Several tests use the paper figure's default grid and steps on purpose, so
that the compiled programs are shared with the last test (the figure script).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from detente.analysis.phase import (
    Basins,
    VectorField,
    basins_of_attraction,
    make_grid,
    run_phase,
    to_params,
    to_space,
    trajectories,
    vector_field,
)
from detente.analysis.phase_plot import axis_labels
from detente.analysis.stability import find_fixed_points
from detente.games import make_differentiable
from detente.solvers.dynamics import DynamicsHParams

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"
STEPS = 200  # the paper figure's default


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_vector_field_matches_matching_pennies_closed_form_in_both_spaces():
    game = make_differentiable("matching_pennies")
    hp = DynamicsHParams(lr=1.0)
    axes = (np.linspace(-2.0, 1.0, 4), np.linspace(-1.0, 2.0, 3))  # nx = 4, ny = 3
    f = vector_field(game, ("naive", "naive"), hp, axes)
    assert isinstance(f, VectorField) and f.u.shape == (3, 4) and f.space == "params"
    X, Y = np.meshgrid(*axes)
    p, q = _sigmoid(X), _sigmoid(Y)
    np.testing.assert_allclose(f.u, 2 * p * (1 - p) * (2 * q - 1), atol=1e-6)
    np.testing.assert_allclose(f.v, -2 * q * (1 - q) * (2 * p - 1), atol=1e-6)

    probs = make_grid((0.1, 0.9), 5)
    g = vector_field(game, ("naive", "naive"), hp, probs, space="policy")
    P, Q = np.meshgrid(*probs)
    np.testing.assert_allclose(g.u, (P * (1 - P)) ** 2 * 2 * (2 * Q - 1), atol=1e-6)
    np.testing.assert_allclose(g.v, -((Q * (1 - Q)) ** 2) * 2 * (2 * P - 1), atol=1e-6)
    assert g.u[2, 2] == pytest.approx(0.0, abs=1e-7)  # the mixed equilibrium


def test_tandem_trajectories_follow_the_closed_form():
    game = make_differentiable("tandem")
    lr = 0.1
    starts = np.array([[2.0, 1.0], [-1.5, 0.3], [0.5, 0.5]])
    tr = trajectories(game, ("naive", "naive"), DynamicsHParams(lr=lr), starts, STEPS)
    assert tr.thetas.shape == (3, STEPS + 1, 2)
    assert np.all(tr.diverged_at == -1)
    t = np.arange(11)
    s0 = starts.sum(1)
    want = 1 + (1 - 4 * lr) ** t[None] * (s0[:, None] - 1)
    np.testing.assert_allclose(tr.thetas[:, :11].sum(-1), want, atol=1e-5)
    np.testing.assert_allclose(
        np.diff(tr.thetas[..., 0] - tr.thetas[..., 1], axis=1), 0.0, atol=1e-5
    )
    np.testing.assert_allclose(tr.points, tr.thetas)  # params space


def test_matching_pennies_naive_spirals_out_and_lola_spirals_in():
    game = make_differentiable("matching_pennies")
    hp = DynamicsHParams(lr=1.0, lookahead=1.0)
    starts = np.array([[0.3, 0.6], [0.8, 0.2], [0.65, 0.5]])  # probabilities
    for rule, grows in (("naive", True), ("lola", False)):
        tr = trajectories(game, (rule, rule), hp, starts, STEPS, space="policy")
        np.testing.assert_allclose(tr.points[:, 0], starts, atol=1e-6)
        np.testing.assert_allclose(tr.points, _sigmoid(tr.thetas), atol=1e-6)
        d0 = np.linalg.norm(tr.thetas[:, 0], axis=1)
        d1 = np.linalg.norm(tr.thetas[:, -1], axis=1)
        if grows:
            assert np.all(d1 > 2 * d0)
        else:
            assert np.all(d1 < 0.05)


def test_basins_on_tandem_converge_or_not_by_step_size():
    game = make_differentiable("tandem")
    fps = find_fixed_points(
        game, ("naive", "naive"), DynamicsHParams(lr=0.1), grid=9, bounds=(-2.0, 3.0)
    )
    axes = make_grid((-2.0, 3.0), 6)  # step 1: six starts lie on x + y = 1
    b = basins_of_attraction(game, ("naive", "naive"), DynamicsHParams(lr=0.1), axes, 100, fps)
    assert isinstance(b, Basins) and b.index.shape == (6, 6)
    assert np.all(b.index >= 0) and b.fractions.sum() == pytest.approx(1.0)
    X, Y = np.meshgrid(*axes)
    np.testing.assert_allclose(b.final.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(b.final[..., 0] - b.final[..., 1], X - Y, atol=1e-5)
    # each start is assigned to the fixed point nearest to where it went
    ends = np.array([fp.theta for fp in fps])[b.index]
    dist = np.linalg.norm(ends - b.final, axis=-1)
    spacing = np.min([np.linalg.norm(a.theta - c.theta) for a in fps for c in fps if a is not c])
    assert np.all(dist <= spacing)
    # lr = 0.6: |1 - 4 lr| = 1.4 > 1, only starts on the line stay (anti-diagonal)
    b = basins_of_attraction(game, ("naive", "naive"), DynamicsHParams(lr=0.6), axes, 100, fps)
    on_line = np.isclose(X + Y, 1.0)
    assert np.all(b.index[on_line] >= 0)
    assert np.all(b.index[~on_line] < 0)
    assert b.none_fraction + b.diverged_fraction == pytest.approx(1 - on_line.mean())


def test_coordinates_and_labels():
    mp, tandem = make_differentiable("matching_pennies"), make_differentiable("tandem")
    p = np.array([[0.25, 0.5], [0.9, 0.1]])
    np.testing.assert_allclose(to_space(mp, to_params(mp, p, "policy"), "policy"), p)
    assert axis_labels(mp, "policy") == ("player 1: P(action 0)", "player 2: P(action 0)")
    assert axis_labels(mp, "params")[0] == "player 1: logit of P(action 0)"
    assert axis_labels(tandem, "params") == ("x (player 1)", "y (player 2)")
    with pytest.raises(ValueError, match="space"):
        to_space(tandem, p, "policy")
    with pytest.raises(ValueError, match="probabilities"):
        to_params(mp, np.array([[0.0, 0.5]]), "policy")


def test_run_phase_writes_folder_with_eigenvalues(tmp_path, capsys):
    out = tmp_path / "mp"
    summary = run_phase(
        "matching_pennies",
        "lola,lola",
        lr=1.0,
        lookahead=1.0,
        grid_size=15,
        steps=STEPS,
        out=out,
        bounds=(0.02, 0.98),
        space="policy",
        verbose=True,
    )
    printed = capsys.readouterr().out
    assert "fixed points: 1 (1 stable)" in printed and "policy (0.5000, 0.5000)" in printed
    assert {p.name for p in out.iterdir()} == {"phase.png", "summary.json", "arrays.npz"}
    assert (out / "phase.png").stat().st_size > 5000
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["learners"] == ["lola", "lola"] == summary["learners"]
    (fp,) = on_disk["fixed_points"]
    assert fp["label"] == "stable"
    np.testing.assert_allclose(fp["eigenvalues"], [[-1 / 16, -0.25], [-1 / 16, 0.25]], atol=1e-6)
    np.testing.assert_allclose(fp["policy"], [0.5, 0.5], atol=1e-6)
    b = on_disk["basins"]
    assert sum(b["fractions"]) + b["none"] + b["diverged"] == pytest.approx(1.0)
    assert b["fractions"][0] > 0.3  # the inner starts reach it within 200 steps
    with np.load(out / "arrays.npz") as arrays:
        assert arrays["field_u"].shape == (15, 15)
        assert arrays["basin_index"].shape == (15, 15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"game_name": "ipd"}, "one parameter per player"),
        ({"game_name": "rock_paper_scissors"}, "one parameter per player"),
        ({"game_name": "nope"}, "game"),
        ({"learners": "naive,foo"}, "learner"),
        ({"learners": "naive"}, "learners"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lookahead": -1.0}, "lookahead"),
        ({"grid_size": 1}, "grid_size"),
        ({"steps": 0}, "steps"),
        ({"space": "probabilities"}, "space"),
        ({"game_name": "tandem", "space": "policy"}, "space"),
    ],
)
def test_run_phase_rejects_bad_input(tmp_path, kwargs, match):
    args = {"game_name": "matching_pennies", "learners": "naive,naive", **kwargs}
    with pytest.raises(ValueError, match=match):
        run_phase(args.pop("game_name"), args.pop("learners"), out=tmp_path / "x", **args)
    assert not (tmp_path / "x").exists()


def test_paper_figure_phase_portraits_small_default(tmp_path):
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    script = importlib.import_module("phase_portraits")
    out = tmp_path / "phase_portraits"
    returned = script.main(["--out", str(out)])
    names = {p.name for p in out.iterdir()}
    pngs = {f"{g}_{r}.png" for g in ("matching_pennies", "tandem") for r in ("naive", "lola")}
    assert names == {"summary.json", "config.json", "arrays.npz", *pngs}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True and returned["passed"] is True
    assert len(summary["checks"]) == 4
    mp_lola = summary["ours"]["matching_pennies,lola"]
    assert [fp["label"] for fp in mp_lola["fixed_points"]] == ["stable"]
    tandem = summary["ours"]["tandem,lola"]["fixed_points"]
    assert tandem and all(abs(sum(fp["theta"]) - 1.25) < 1e-4 for fp in tandem)
    assert json.loads((out / "config.json").read_text())["grid_size"] == 15
