"""The ``detente`` command line: output folder contents and clean failures."""

import json

import numpy as np
import pytest

from detente.cli import main


def test_dynamics_writes_summary(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "dynamics",
            "tandem",
            "--learners",
            "naive,naive",
            "--learners",
            "lola_sos,lola_sos",
            "--seeds",
            "4",
            "--steps",
            "300",
            "--lr",
            "0.1",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "naive,naive" in printed and "lola_sos,lola_sos" in printed
    summary = json.loads((out / "summary.json").read_text())
    e = summary["pairings"]["lola_sos,lola_sos"]
    assert set(e) >= {"mean_reward", "std_reward", "policy_mean", "converged_fraction"}
    np.testing.assert_allclose(np.mean(e["mean_reward"]), -4 / 9, atol=1e-2)  # SOS paper: 4/9
    assert len(e["mean_reward"]) == 2 and len(e["policy_mean"]) == 2
    assert (out / "dynamics.png").stat().st_size > 1000
    assert (out / "config.json").exists()
    arrays = np.load(out / "trajectories.npz")
    assert arrays["naive,naive/rewards"].shape == (4, 301, 2)
    assert not list(tmp_path.glob(".run.tmp-*"))


def test_dynamics_ipd_policy_order_and_grid(tmp_path):
    out = tmp_path / "ipd"
    rc = main(
        [
            "dynamics",
            "ipd",
            "--learners",
            "naive,naive",
            "--seeds",
            "3",
            "--steps",
            "10",
            "--lr",
            "0.5,1",
            "--lookahead",
            "1",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy_labels"] == ["start", "CC", "CD", "DC", "DD"]
    assert len(summary["pairings"]) == 2  # two grid points
    for e in summary["pairings"].values():
        assert np.shape(e["policy_mean"]) == (2, 5)


def test_list(capsys):
    assert main(["dynamics", "--list"]) == 0
    text = capsys.readouterr().out
    assert "ipd" in text and "lola" in text and "sos" in text


@pytest.mark.parametrize(
    "args, field",
    [
        (["dynamics", "nosuchgame"], "game"),
        (["dynamics", "ipd", "--learners", "lola,nope"], "--learners"),
        (["dynamics", "ipd", "--learners", "lola"], "--learners"),
        (["dynamics", "ipd", "--seeds", "0"], "--seeds"),
        (["dynamics", "ipd", "--steps", "-3"], "--steps"),
        (["dynamics", "ipd", "--lr", "nan"], "--lr"),
        (["dynamics", "ipd", "--lr", "abc"], "--lr"),
        (["dynamics", "ipd", "--precision", "float16"], "--precision"),
        (["dynamics", "ipd", "--seeds", "many"], "seeds"),
        (["nosuchcommand"], "command"),
    ],
)
def test_bad_input_exits_2_one_line_nothing_written(tmp_path, capsys, args, field):
    out = tmp_path / "out"
    rc = main([*args, "--out", str(out)] if args[0] == "dynamics" else args)
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err
    assert not out.exists() and not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------
# detente equilibria / detente phase


def test_equilibria_zoo_game(tmp_path, capsys):
    out = tmp_path / "eq"
    assert main(["equilibria", "battle_of_the_sexes", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 found" in printed and "welfare" in printed
    s = json.loads((out / "summary.json").read_text())
    assert len(s["equilibria"]) == len(s["payoffs"]) == len(s["welfare"]) == 3
    # BoS (3, 2 / 2, 3): two pure equilibria and the mixed (3/5, 2/5), (2/5, 3/5), payoffs 6/5
    mixed = [e for e in s["equilibria"] if 0 < e[0][0] < 1]
    np.testing.assert_allclose(mixed[0], [[0.6, 0.4], [0.4, 0.6]], atol=1e-12)
    assert sorted(s["welfare"]) == pytest.approx([2.4, 5.0, 5.0])
    assert max(s["nash_conv"]) < 1e-12
    assert s["price_of_anarchy"] == pytest.approx(5 / 2.4)
    assert s["price_of_stability"] == pytest.approx(1.0)


def test_equilibria_nfg_file_three_players(tmp_path, capsys):
    # Three-player coordination: everyone gets 1 when all pick the same action.
    from detente.games import NormalFormGame, write_nfg

    u = np.zeros((3, 2, 2, 2))
    u[:, 0, 0, 0] = u[:, 1, 1, 1] = 1.0
    path = tmp_path / "coord3.nfg"
    write_nfg(NormalFormGame.create(u, name="coord3"), path)
    out = tmp_path / "eq3"
    assert main(["equilibria", str(path), "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["method"].startswith("pure")
    pure = sorted(tuple(int(np.argmax(x)) for x in e) for e in s["equilibria"])
    # (0,0,0), (1,1,1), and every profile where no single deviation reaches agreement
    brute = []
    for a in np.ndindex(2, 2, 2):
        dev = [u[i][a] >= max(u[i][a[:i] + (b,) + a[i + 1 :]] for b in range(2)) for i in range(3)]
        if all(dev):
            brute.append(a)
    assert pure == sorted(brute)


@pytest.mark.parametrize(
    "args,field",
    [
        (["equilibria", "no_such_game"], "game"),
        (["equilibria", "missing.nfg"], "game"),
        (["equilibria", "matching_pennies", "--tol", "nan"], "--tol"),
        (["phase", "ipd", "--learners", "naive,naive"], "game"),
        (["phase", "tandem", "--learners", "naive,bogus"], "learner"),
        (["phase", "tandem", "--lr", "-1"], "--lr"),
    ],
)
def test_equilibria_and_phase_bad_input(tmp_path, capsys, args, field):
    out = tmp_path / "never"
    assert main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]
    assert not out.exists()


def test_malformed_nfg_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.nfg"
    bad.write_text('NFG 1 R "bad" { "1" "2" } { 2 2 } 1 2 3\n')
    assert main(["equilibria", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "nfg.payoffs" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_phase_matching_pennies(tmp_path, capsys):
    out = tmp_path / "ph"
    rc = main(
        ["phase", "matching_pennies", "--learners", "naive,naive", "--grid", "9", "--steps", "50"]
        + ["--out", str(out)]
    )
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    fps = s["fixed_points"]
    assert len(fps) == 1 and fps[0]["label"] == "neutral"
    # naive learning circles the mixed equilibrium: eigenvalues +-i/4
    np.testing.assert_allclose(
        sorted(e[1] for e in fps[0]["eigenvalues"]), [-0.25, 0.25], atol=1e-5
    )
    np.testing.assert_allclose([e[0] for e in fps[0]["eigenvalues"]], [0.0, 0.0], atol=1e-5)
    assert (out / "phase.png").stat().st_size > 1000
