"""Run pairings of learning rules on a differentiable game, batched.

:func:`make_dynamics` builds ``train(key, hparams, game) -> Trajectory`` for
one pairing of rules: ``lax.scan`` over steps from a random initialisation.
Callers vmap it over seeds, hyperparameters and games. :func:`simulate` does
that for several pairings at once, as one compiled program.

Example:
    >>> from detente.games import make_differentiable
    >>> from detente.solvers import simulate, DynamicsConfig
    >>> out = simulate(make_differentiable("ipd"), [("lola", "lola")],
    ...                num_seeds=8, grid={"lr": [1.0], "lookahead": [1.0]},
    ...                config=DynamicsConfig(steps=50))
    >>> out[("lola", "lola")].rewards.shape   # [grid, seeds, records, players]
    (1, 8, 51, 2)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_finite, check_positive_int
from detente.batching import blocks_per_device, map_blocks_sharded, product_grid, seed_keys
from detente.games.differentiable import DifferentiableGame, Thetas
from detente.solvers.dynamics import DynamicsHParams, LearningRule, joint_update, make_rule


@dataclasses.dataclass(frozen=True)
class DynamicsConfig:
    """Static configuration of a dynamics run.

    Attributes:
        steps: number of simultaneous updates.
        init_std: parameters start i.i.d. ``N(0, init_std^2)`` (LOLA: 1).
        record_every: keep every ``record_every``-th step of the trajectory
            (the final step is always kept).
        seed_block: seeds run in blocks of this size through one compiled
            block program (see :func:`detente.batching.map_blocks`), so a
            seed's result does not depend on how many seeds ran with it.
            Larger blocks use wider parallel hardware (raise it on a GPU);
            on a 2-core CPU, 256 made the most seed-updates per second for
            exact LOLA on the IPD (``BENCHMARKS.md``).
    """

    steps: int = 200
    init_std: float = 1.0
    record_every: int = 1
    seed_block: int = 256

    def __post_init__(self):
        check_positive_int("steps", self.steps)
        check_positive_int("record_every", self.record_every)
        check_positive_int("seed_block", self.seed_block)
        check_finite("init_std", self.init_std, low=0.0)
        if self.steps % self.record_every:
            raise bad_value("record_every", self.record_every, f"a divisor of steps={self.steps}")


class Trajectory(NamedTuple):
    """A recorded run; ``R = steps // record_every + 1`` records (step 0 .. steps).

    Attributes:
        thetas: per-player parameters, ``thetas[i]: [R, d_i]``.
        values: ``[R, N]`` values ``V_i`` at each record.
        rewards: ``[R, N]`` per-step rewards ``step_scale * V_i``.
        diverged_at: ``[]`` first step whose parameters or values were not
            finite, ``-1`` if none; after it the run is frozen.
    """

    thetas: tuple[chex.Array, ...]
    values: chex.Array
    rewards: chex.Array
    diverged_at: chex.Array


def init_thetas(key: chex.PRNGKey, game: DifferentiableGame, std: float, dtype=None) -> Thetas:
    """``N(0, std^2)`` initial parameters, one independent key per player."""
    keys = jax.random.split(key, game.num_players)
    dtype = dtype or jnp.result_type(float)
    return tuple(
        std * jax.random.normal(k, (d,), dtype) for k, d in zip(keys, game.dims, strict=True)
    )


def make_dynamics(
    rules: Sequence[LearningRule], config: DynamicsConfig, dtype=None
) -> Callable[[chex.PRNGKey, DynamicsHParams, DifferentiableGame], Trajectory]:
    """Build the pure function running one pairing of learning rules.

    Args:
        rules: one :class:`LearningRule` per player.
        config: static run configuration.
        dtype: parameter dtype (default JAX's default float; ``jnp.float64``
            needs ``jax_enable_x64``).

    Returns:
        ``train(key, hparams, game) -> Trajectory``; vmap it over keys,
        hyperparameters or games.
    """
    rules = tuple(rules)
    every = config.record_every

    def train(key, hparams: DynamicsHParams, game: DifferentiableGame) -> Trajectory:
        if len(rules) != game.num_players:
            raise bad_value(
                "learners", [r.name for r in rules], f"one learner per player ({game.num_players})"
            )
        thetas = init_thetas(key, game, config.init_std, dtype)
        states = tuple(r.init(thetas) for r in rules)

        def step(carry, t):
            thetas, states, diverged_at = carry
            deltas, new_states = joint_update(rules, game, thetas, states, hparams)
            new = tuple(th + d for th, d in zip(thetas, deltas, strict=True))
            ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in new]))
            ok = ok & jnp.all(jnp.isfinite(game.values(new)))
            frozen = diverged_at >= 0
            keep = frozen | ~ok
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), thetas, new)
            new_states = jax.tree_util.tree_map(
                lambda a, b: jnp.where(keep, a, b), states, new_states
            )
            diverged_at = jnp.where(frozen, diverged_at, jnp.where(ok, -1, t + 1)).astype(jnp.int32)
            return (new, new_states, diverged_at), None

        def block(carry, t0):
            carry, _ = jax.lax.scan(step, carry, t0 + jnp.arange(every))
            return carry, carry[0]

        start_bad = ~jnp.all(jnp.isfinite(game.values(thetas)))
        carry0 = (thetas, states, jnp.where(start_bad, 0, -1).astype(jnp.int32))
        carry, recorded = jax.lax.scan(block, carry0, jnp.arange(0, config.steps, every))
        all_thetas = tuple(
            jnp.concatenate([t0[None], r], axis=0) for t0, r in zip(thetas, recorded, strict=True)
        )
        values = jax.vmap(lambda *th: game.values(th))(*all_thetas)
        return Trajectory(
            thetas=all_thetas, values=values, rewards=values * game.step_scale, diverged_at=carry[2]
        )

    return train


def stack_hparams(columns: Mapping[str, Sequence[float]], dtype=None) -> DynamicsHParams:
    """A :class:`DynamicsHParams` with one leading axis from equal-length columns;
    fields not given take their defaults."""
    dtype = dtype or jnp.result_type(float)
    fields = {f.name for f in dataclasses.fields(DynamicsHParams)}
    for name in columns:
        if name not in fields:
            raise bad_value("grid", name, "hyperparameters among " + ", ".join(sorted(fields)))
    sizes = {len(v) for v in columns.values()}
    if len(sizes) > 1:
        raise bad_value("grid", {k: len(v) for k, v in columns.items()}, "columns of equal length")
    size = sizes.pop() if sizes else 1
    kwargs = {
        f: jnp.asarray(
            columns[f] if f in columns else np.full(size, getattr(DynamicsHParams(), f)), dtype
        )
        for f in fields
    }
    return DynamicsHParams(**kwargs)


def simulate(
    game: DifferentiableGame,
    pairings: Sequence[Sequence[str | LearningRule]],
    *,
    num_seeds: int = 256,
    grid: Mapping[str, Sequence[float]] | None = None,
    hparams: DynamicsHParams | None = None,
    config: DynamicsConfig | None = None,
    seed: int = 0,
    first_seed: int = 0,
    dtype=None,
) -> dict[tuple[str, ...], Trajectory]:
    """Run every pairing over a grid of hyperparameters and many seeds.

    All pairings run in one jitted program; each is vmapped over the grid and
    the seeds, with the seed axis sharded over the available devices. Seed
    ``s`` starts from the same parameters for every pairing and grid point.

    Args:
        game: the differentiable game.
        pairings: per pairing, one rule name (or :class:`LearningRule`) per player.
        num_seeds: random initialisations per grid point.
        grid: ``{hparam: values}`` (fields of :class:`DynamicsHParams`); the
            cartesian product is run. Default: one point of defaults.
        hparams: alternatively, a :class:`DynamicsHParams` whose leaves share
            one leading grid axis (see :func:`stack_hparams`).
        config: static run configuration.
        seed: base seed.
        first_seed: index of the first seed; seeds ``first_seed ..
            first_seed + num_seeds - 1`` run, each from the same start
            whatever the batch (see :func:`detente.batching.seed_keys`).
        dtype: ``jnp.float32`` (default) or ``jnp.float64`` (needs x64 enabled).

    Returns:
        ``{pairing names: Trajectory}`` with leading axes ``[G, S]``
        (grid points, seeds).
    """
    config = config or DynamicsConfig()
    check_positive_int("num_seeds", num_seeds)
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    if dtype == jnp.float64 and jax.dtypes.canonicalize_dtype(jnp.float64) != jnp.float64:
        raise bad_value(
            "dtype",
            "float64",
            "float32, or enable x64 first (jax.config.update('jax_enable_x64', True))",
        )
    if hparams is not None and grid is not None:
        raise bad_value("grid", grid, "either grid or hparams, not both")
    if hparams is None:
        columns, _ = product_grid(grid or {"lr": [DynamicsHParams().lr]})
        hparams = stack_hparams(columns, dtype)
    else:
        hparams = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), hparams)
    rules_per_pairing = []
    for pairing in pairings:
        rules = tuple(make_rule(r) if isinstance(r, str) else r for r in pairing)
        if len(rules) != game.num_players:
            raise bad_value(
                "learners",
                ",".join(r.name for r in rules),
                f"{game.num_players} learners for {game.name or 'this game'}",
            )
        rules_per_pairing.append(rules)
    keys = seed_keys(seed, num_seeds, first_seed)
    num_blocks = jnp.asarray(blocks_per_device(num_seeds, config.seed_block), jnp.int32)
    if all(isinstance(r, str) for pairing in pairings for r in pairing):
        # Registered rules: reuse the compiled program across calls.
        program = _cached_program(tuple(tuple(p) for p in pairings), config, dtype.name)
    else:
        program = _program(rules_per_pairing, config, dtype)
    return program(keys, hparams, game, num_blocks)


def _program(rules_per_pairing, config: DynamicsConfig, dtype):
    """One jitted function running every pairing, vmapped over grid and seed blocks."""
    built = [
        (tuple(r.name for r in rules), make_dynamics(rules, config, dtype))
        for rules in rules_per_pairing
    ]

    @jax.jit
    def run_all(keys, hparams, game, num_blocks):
        out = {}
        for names, train in built:
            per_seed = jax.vmap(train, in_axes=(0, None, None))

            def per_block(kb, hparams, game, per_seed=per_seed):
                # [G, block, ...] -> [block, G, ...] so blocks stack on the seed axis
                res = jax.vmap(per_seed, in_axes=(None, 0, None))(kb, hparams, game)
                return jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), res)

            res = map_blocks_sharded(per_block, keys, config.seed_block, num_blocks, hparams, game)
            out[names] = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), res)
        return out

    return run_all


@functools.lru_cache(maxsize=64)
def _cached_program(pairings: tuple, config: DynamicsConfig, dtype_name: str):
    rules = [tuple(make_rule(r) for r in p) for p in pairings]
    return _program(rules, config, jnp.dtype(dtype_name))


def converged(traj: Trajectory, tol: float = 1e-3, window: float = 0.1) -> chex.Array:
    """Whether each run settled: finite, and every player's per-step reward
    moved by at most ``tol`` over the last ``window`` fraction of the records.

    Returns:
        Boolean array over the leading (batch) axes.
    """
    r = traj.rewards
    num = r.shape[-2]
    back = max(1, int(round(window * (num - 1))))
    moved = jnp.max(jnp.abs(r[..., -1, :] - r[..., -1 - back, :]), axis=-1)
    return (traj.diverged_at < 0) & (moved <= tol)
