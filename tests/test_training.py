"""The training driver and safetensors checkpoints, on toy trainers."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    read_checkpoint_info,
    save_checkpoint,
)
from detente.training import RunResult, Trainer, chunk_bounds, run_trainer, vmap_trainer


class ToyState(NamedTuple):
    key: jax.Array  # [2] uint32
    t: jax.Array  # [] int32
    x: jax.Array  # [3] float32


def make_toy(dim: int = 3, nan_at: int | None = None, num_steps: int = 50) -> Trainer:
    """A noisy contraction x <- 0.9 x + 0.1 eps; a NaN in "loss" at step ``nan_at``."""

    def init(key):
        k, k_x = jax.random.split(key)
        return ToyState(key=k, t=jnp.zeros((), jnp.int32), x=jax.random.normal(k_x, (dim,)))

    def step(s):
        k, k_eps = jax.random.split(s.key)
        x = 0.9 * s.x + 0.1 * jax.random.normal(k_eps, s.x.shape)
        loss = jnp.sum(x**2)
        if nan_at is not None:
            loss = jnp.where(s.t == nan_at, jnp.nan, loss)
        metrics = {"fitness": -loss, "loss": loss, "reward_0": x[0], "t": s.t}
        return ToyState(key=k, t=s.t + 1, x=x), metrics

    def evaluate(s):
        return {"mean_reward": jnp.stack([s.x[0], s.x[1]]), "steps": s.t}

    return Trainer(init=init, step=step, evaluate=evaluate, num_steps=num_steps)


TOY = make_toy()  # shared, so that its compiled chunks are reused across tests


def reference_loop(trainer: Trainer, key, n: int):
    """The plain Python loop of single steps, an independent oracle for the driver."""
    step = jax.jit(trainer.step)
    s = jax.jit(trainer.init)(key)
    out = []
    for _ in range(n):
        s, m = step(s)
        out.append(jax.device_get(m))
    return s, {k: np.stack([m[k] for m in out]) for k in out[0]}


def assert_same(a, b):
    """Bit-identical pytrees: same structure, dtypes and values."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------
# Checkpoints


def mixed_state():
    return {
        "key": jax.random.PRNGKey(3),  # uint32 [2]
        "counter": jnp.asarray(7, jnp.int32),
        "params": [jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), jnp.asarray(0.5, jnp.float16)],
        "toy": ToyState(
            key=jnp.asarray([1, 2**32 - 1], jnp.uint32),
            t=jnp.asarray([3, -4], jnp.int32),
            x=np.asarray([np.pi, -0.0, 1e-300]),  # float64 numpy leaf
        ),
        "mask": np.asarray([True, False]),
        "empty": np.zeros((0, 2), np.float32),
    }


def test_checkpoint_round_trip_is_bit_identical(tmp_path):
    state = mixed_state()
    path = save_checkpoint(tmp_path / "c.safetensors", state, 12, {"seed": 5, "lr": 0.1})
    back, step, meta = load_checkpoint(path, state)
    assert step == 12 and meta == {"seed": 5, "lr": 0.1}
    assert_same(back, state)
    assert back["key"].dtype == np.uint32 and back["counter"].dtype == np.int32
    assert back["toy"].x.dtype == np.float64 and back["toy"].x[2] == 1e-300
    assert isinstance(back["toy"], ToyState)
    # An abstract template (what the driver uses) gives the same arrays.
    abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    back2, _, _ = load_checkpoint(path, abstract)
    assert_same(back2, state)


def test_typed_prng_key_round_trip(tmp_path):
    state = {"k": jax.random.key(11), "n": jnp.arange(3)}
    save_checkpoint(tmp_path / "k.safetensors", state, 0)
    back, _, _ = load_checkpoint(tmp_path / "k.safetensors", state)
    assert jax.dtypes.issubdtype(back["k"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.key_data(back["k"]), jax.random.key_data(state["k"]))
    np.testing.assert_array_equal(
        jax.random.uniform(back["k"], (4,)), jax.random.uniform(state["k"], (4,))
    )


def test_checkpoint_is_plain_safetensors_without_pickle(tmp_path):
    import safetensors.numpy

    state = mixed_state()
    path = save_checkpoint(tmp_path / "c.safetensors", state, 3)
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and header_len < len(raw)  # safetensors: u64 size + JSON
    assert b"\x80\x04\x95" not in raw and b"\x80\x05\x95" not in raw  # no pickle frames
    tensors = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(tensors["['counter']"], np.int32(7))
    np.testing.assert_array_equal(tensors["['toy'].key"], [1, 2**32 - 1])
    assert tensors["['toy'].key"].dtype == np.uint32
    info = read_checkpoint_info(path)
    assert info.step == 3 and info.leaves["['params'][0]"] == ((2, 3), "float32")
    assert len(info.fingerprint) == 64
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed


def test_template_mismatch_is_a_clear_error(tmp_path):
    state = mixed_state()
    path = save_checkpoint(tmp_path / "c.safetensors", state, 1)
    wrong_shape = dict(state, params=[jnp.zeros((3, 3)), state["params"][1]])
    with pytest.raises(ValueError, match=r"\['params'\]\[0\] is float32\[2, 3\].*float32\[3, 3\]"):
        load_checkpoint(path, wrong_shape)
    wrong_dtype = dict(state, counter=jnp.asarray(7, jnp.float32))
    with pytest.raises(ValueError, match=r"\['counter'\] is int32\[\].*expected float32\[\]"):
        load_checkpoint(path, wrong_dtype)
    with pytest.raises(ValueError, match=r"missing leaves \[\"\['other'\]\"\]"):
        load_checkpoint(path, dict(state, other=jnp.zeros(2)))
    fewer = {k: v for k, v in state.items() if k != "mask"}
    with pytest.raises(ValueError, match=r"unexpected leaves \[\"\['mask'\]\"\]"):
        load_checkpoint(path, fewer)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_checkpoint(tmp_path / "junk.safetensors", state)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.safetensors", state)
    with pytest.raises(ValueError, match="step=-1"):
        save_checkpoint(tmp_path / "d.safetensors", state, -1)
    with pytest.raises(ValueError, match="meta"):
        save_checkpoint(tmp_path / "d.safetensors", state, 1, {"f": object()})
    assert not (tmp_path / "d.safetensors").exists()


def test_latest_and_prune(tmp_path):
    state = {"a": jnp.zeros(2)}
    for s in (5, 40, 10, 100):
        save_checkpoint(checkpoint_path(tmp_path, s), state, s)
    (tmp_path / ".ckpt-000000200.safetensors.tmp-abc").write_bytes(b"half")  # a killed write
    assert latest_checkpoint(tmp_path).name == "ckpt-000000100.safetensors"
    assert [p.name for p in list_checkpoints(tmp_path)][:2] == [
        "ckpt-000000005.safetensors",
        "ckpt-000000010.safetensors",
    ]
    prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-000000040.safetensors",
        "ckpt-000000100.safetensors",
    ]
    assert latest_checkpoint(tmp_path / "nowhere") is None


# ----------------------------------------------------------------------------
# The driver


def test_chunk_bounds():
    assert chunk_bounds(25, 10) == [(0, 10), (10, 20), (20, 25)]
    assert chunk_bounds(25, 10, start=20) == [(20, 25)]
    assert chunk_bounds(25, 10, start=25) == []
    assert chunk_bounds(7, 100) == [(0, 7)]
    # a checkpoint at the end of a shorter run (step 25) rejoins the grid of multiples of 10
    assert chunk_bounds(50, 10, start=25) == [(25, 30), (30, 40), (40, 50)]


def test_chunked_run_equals_one_chunk_and_the_step_loop():
    trainer = TOY
    key = jax.random.PRNGKey(0)
    one = run_trainer(trainer, key, 50, chunk=50, progress=False)
    many = run_trainer(trainer, key, 50, chunk=7, progress=False)  # 7 x 7 + a chunk of 1
    assert isinstance(one, RunResult) and one.resumed_from == 0
    assert_same(one.state, many.state)
    assert_same(one.metrics, many.metrics)
    assert_same(one.evaluation, many.evaluation)
    ref_state, ref_metrics = reference_loop(trainer, key, 50)
    assert_same(many.state, ref_state)
    assert_same(many.metrics, ref_metrics)
    np.testing.assert_array_equal(many.metrics["t"], np.arange(50))
    assert many.metrics["fitness"].shape == (50,) and int(many.evaluation["steps"]) == 50
    np.testing.assert_array_equal(many.evaluation["mean_reward"], np.asarray(ref_state.x[:2]))


class Interrupt(Exception):
    pass


@pytest.mark.parametrize(("chunk", "every", "saved"), [(10, 10, 30), (10, 20, 20), (6, 6, 30)])
def test_resume_after_interruption_is_bit_identical(tmp_path, chunk, every, saved):
    trainer = TOY
    key = jax.random.PRNGKey(42)
    full = run_trainer(trainer, key, 50, chunk=chunk, progress=False)

    def stop_at_30(step, state, metrics):
        if step >= 30:
            raise Interrupt

    d = tmp_path / "ckpt"
    with pytest.raises(Interrupt):
        run_trainer(
            trainer,
            key,
            50,
            chunk=chunk,
            checkpoint_dir=d,
            checkpoint_every=every,
            progress=False,
            on_chunk=stop_at_30,
        )
    assert read_checkpoint_info(latest_checkpoint(d)).step == saved
    assert len(list_checkpoints(d)) <= 3
    res = run_trainer(
        trainer, key, 50, chunk=chunk, checkpoint_dir=d, checkpoint_every=every, resume=True,
        progress=False,
    )  # fmt: skip
    assert res.resumed_from == saved
    assert_same(res.state, full.state)
    assert_same(res.metrics, full.metrics)  # the history before the interruption as well
    assert_same(res.evaluation, full.evaluation)
    assert read_checkpoint_info(latest_checkpoint(d)).step == 50

    # resuming a finished run recomputes nothing and returns the same numbers
    again = run_trainer(
        trainer, key, 50, chunk=chunk, checkpoint_dir=d, resume=True, progress=False
    )
    assert again.resumed_from == 50
    assert_same(again.metrics, full.metrics)


def test_resume_refusals(tmp_path):
    trainer = TOY
    key = jax.random.PRNGKey(1)
    d = tmp_path / "ckpt"
    fresh = run_trainer(trainer, key, 20, chunk=10, checkpoint_dir=d, resume=True, progress=False)
    assert fresh.resumed_from == 0  # nothing to resume: a fresh start
    with pytest.raises(ValueError, match="already holds checkpoints.*resume=True"):
        run_trainer(trainer, key, 20, chunk=10, checkpoint_dir=d, progress=False)
    with pytest.raises(ValueError, match="started from key"):
        run_trainer(
            trainer, jax.random.PRNGKey(2), 20, chunk=10, checkpoint_dir=d, resume=True,
            progress=False,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"\['state'\]\.x is float32\[3\].*float32\[4\]"):
        run_trainer(make_toy(dim=4), key, 20, checkpoint_dir=d, resume=True, progress=False)
    with pytest.raises(ValueError, match="step 20, past num_steps=10"):
        run_trainer(trainer, key, 10, checkpoint_dir=d, resume=True, progress=False)
    with pytest.raises(ValueError, match="chunk=0"):
        run_trainer(trainer, key, 10, chunk=0, progress=False)
    with pytest.raises(ValueError, match="num_steps=-3"):
        run_trainer(trainer, key, -3, progress=False)


def test_nan_metric_names_metric_and_step_and_is_not_checkpointed(tmp_path):
    trainer = make_toy(nan_at=7)
    d = tmp_path / "ckpt"
    with pytest.raises(
        ValueError, match=r"metric 'fitness' is nan at step 7 .*checkpoint is at step 5"
    ):
        run_trainer(trainer, jax.random.PRNGKey(0), 20, chunk=5, checkpoint_dir=d, progress=False)
    assert [p.name for p in list_checkpoints(d)] == ["ckpt-000000005.safetensors"]


def test_progress_lines_on_stderr(capsys):
    run_trainer(TOY, jax.random.PRNGKey(0), 20, chunk=10, label="toy")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith("toy step 10/20 (50%)  fitness ")
    assert "reward_0 " in err[0] and "ETA ?" in err[0]
    assert err[1].startswith("toy step 20/20 (100%)") and "ETA 0:00" in err[1]
    run_trainer(TOY, jax.random.PRNGKey(0), 20, chunk=10, progress=False)
    assert capsys.readouterr().err == ""


def test_vmap_trainer_seed_equals_the_single_run():
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    res = run_trainer(vmap_trainer(TOY, 3), jax.random.PRNGKey(7), 12, chunk=5, progress=False)
    assert res.metrics["fitness"].shape == (12, 3)
    assert res.evaluation["mean_reward"].shape == (3, 2)
    for s in range(3):
        single, metrics = reference_loop(TOY, keys[s], 12)
        np.testing.assert_array_equal(res.metrics["loss"][:, s], metrics["loss"])
        np.testing.assert_array_equal(np.asarray(res.state.x[s]), np.asarray(single.x))
    with pytest.raises(ValueError, match="num_seeds"):
        vmap_trainer(TOY, 0)
