"""Cross-play matrices of zero-shot-coordination agents.

Given two stacks of agents (seat-agnostic policies of one
:class:`~detente.solvers.rl.policy.NetworkConfig`, parameter leaves
``[K, ...]`` and ``[M, ...]``), :func:`crossplay` plays every pair ``(i, j)``
in a two-player environment, in both seat orders, for ``E`` episodes each,
and returns the matrix of mean episode returns with standard errors. All
``2 x K x M x E`` episodes run as one compiled program: they advance
together, one ``lax.while_loop`` step at a time, and each policy runs
vmapped over its own stack (see :func:`make_crossplay`). The program is
cached, so a second call with the same shapes does not compile again.

Conventions (decided here, quoted by the summaries):

* **Both seat orders.** ``seat_returns[0, i, j]`` is agent ``i`` of the first
  stack in seat 0 with agent ``j`` of the second in seat 1;
  ``seat_returns[1, i, j]`` the same two agents with the seats swapped (``j``
  in seat 0). ``returns[i, j]`` is their average, so it does not depend on
  who moves first (Hanabi's seat 0 plays first). Each order gets ``E``
  independent episodes.
* **Episode return** is the sum over the episode's steps of the agents' mean
  reward (in a common-payoff game, the team's payoff).
* **Sampled actions** by default: each agent samples from its policy,
  restricted to the environment's legal-action mask
  (:func:`~detente.solvers.rl.policy.mask_policy`, as in training). That is
  the stochastic policy PPO trains, and the cross-play value of Hu et al.
  2020 is the expected return ``J(pi^1, pi^2)`` of the two policies as they
  are. ``greedy=True`` takes the most probable legal action instead: the
  test-time behaviour of the Q-learning (SAD) agents of Other-Play's Hanabi
  experiments, and a way to read off a stochastic agent's convention.
* **Standard errors.** ``sem[i, j]`` is the standard error of ``returns[i, j]``
  over its episodes: ``0.5 * sqrt(s_0^2 / E + s_1^2 / E)`` with ``s_k`` the
  sample standard deviation (ddof 1) of order ``k``'s episode returns. The
  summaries' sems are over cells, not episodes: ``self_play`` is the mean of
  the diagonal ``returns[i, i]`` with sem ``std / sqrt(K)``; ``cross_play``
  is the mean of the off-diagonal cells, with sem over the ``K (K - 1) / 2``
  unordered pairs ``(returns[i, j] + returns[j, i]) / 2``, ``i < j`` (cells
  ``[i, j]`` and ``[j, i]`` measure the same pairing). Both need the second
  stack to be the first (``params_b=None``); with two different stacks there
  is no self-play and ``cross_play`` summarises all ``K x M`` cells.
* **Episode ends.** An episode ends when ``terminated | truncated``; the
  program loops (``lax.while_loop``) until every episode has ended or
  ``max_steps`` steps were played; ``unfinished`` is the fraction of episodes
  cut by ``max_steps`` (their partial returns are counted).

Recurrent policies start every episode from a zero carry (``reset`` true on
the first step, as in training).

Reference: Hu, Lerer, Peysakhovich and Foerster 2020, "Other-Play for
Zero-Shot Coordination", ICML, https://arxiv.org/abs/2003.02979 (cross-play
of independently trained agents, the lever game and Hanabi).

Example::

    agents = load_agents("runs/sp", "runs/op")      # detente.solvers.zsc.agents
    res = crossplay(env, agents.network, agents.params, None, jax.random.key(0), 64)
    res.returns.shape, res.self_play.mean, res.cross_play.mean   # (K, K), ...
    crossplay_heatmap(res, "xp.png", agents.names)
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from detente._checks import bad_value, check_positive_int
from detente.io import to_jsonable
from detente.solvers.rl.policy import NetworkConfig, make_policy, mask_policy

__all__ = [
    "DEFAULT_MAX_STEPS",
    "CrossPlayEpisodes",
    "CrossPlayResult",
    "Summary",
    "crossplay",
    "crossplay_heatmap",
    "group_summary",
    "make_crossplay",
    "summarize",
    "to_json",
]

DEFAULT_MAX_STEPS = 10_000  # a cap for episodes that never end; the loop stops earlier
_TRACES = 0  # times the cross-play program was traced (tests check no recompilation)


class Summary(NamedTuple):
    """Mean and standard error of a set of cells.

    Attributes:
        mean: the mean of the cells (NaN when there are none).
        sem: its standard error over the ``n`` independent values (NaN when ``n < 2``).
        n: the number of independent values the sem is computed over.
    """

    mean: float
    sem: float
    n: int


class CrossPlayEpisodes(NamedTuple):
    """The raw output of :func:`make_crossplay`'s program.

    Attributes:
        returns: ``[2, K, M, E]`` episode returns; order 0: agent ``i`` of the
            first stack in seat 0 and agent ``j`` of the second in seat 1;
            order 1: the seats swapped.
        length: ``[2, K, M, E]`` int32, steps played.
        finished: ``[2, K, M, E]`` bool, the episode ended before ``max_steps``.
    """

    returns: chex.Array
    length: chex.Array
    finished: chex.Array


class CrossPlayResult(NamedTuple):
    """A cross-play matrix (conventions in the module docstring).

    Attributes:
        returns: ``[K, M]`` mean episode return of agent ``i`` with agent
            ``j``, averaged over both seat orders.
        sem: ``[K, M]`` its standard error over episodes.
        seat_returns: ``[2, K, M]`` mean return per seat order (``[0, i, j]``:
            ``i`` in seat 0; ``[1, i, j]``: ``j`` in seat 0).
        seat_sem: ``[2, K, M]`` their standard errors over episodes.
        self_play: :class:`Summary` of the diagonal (NaN unless the two stacks
            are the same agents).
        cross_play: :class:`Summary` of the off-diagonal cells (all cells for
            two different stacks).
        mean_length: ``[K, M]`` mean episode length (steps), both orders.
        num_episodes: ``E``, episodes per pair and seat order.
        unfinished: fraction of all episodes cut by ``max_steps``.
        same_agents: whether the second stack is the first (``params_b=None``).
        greedy: whether actions were greedy instead of sampled.
    """

    returns: np.ndarray
    sem: np.ndarray
    seat_returns: np.ndarray
    seat_sem: np.ndarray
    self_play: Summary
    cross_play: Summary
    mean_length: np.ndarray
    num_episodes: int
    unfinished: float
    same_agents: bool
    greedy: bool


# ----------------------------------------------------------------------------
# The compiled program


def _uniform(bits: chex.Array) -> chex.Array:
    """Floats in ``[0, 1)`` from ``uint32`` bits (their top 23 bits, exact in float32)."""
    return (bits >> 9).astype(jnp.float32) * (2.0**-23)


def _sample(logits: chex.Array, u: chex.Array) -> chex.Array:
    """Inverse-CDF samples of ``softmax(logits [..., A])`` from ``u [...]`` in ``[0, 1)``.

    An action of probability 0 (``-inf``, a masked action) is never drawn:
    the first index whose cumulative mass exceeds ``u`` times the total has
    positive mass.
    """
    cdf = jnp.cumsum(jnp.exp(logits - jnp.max(logits, -1, keepdims=True)), axis=-1)
    return jnp.argmax(cdf > u[..., None] * cdf[..., -1:], axis=-1).astype(jnp.int32)


def _program(env: Any, network: NetworkConfig, num_episodes: int, greedy: bool) -> Callable:
    """The uncompiled program of :func:`make_crossplay`.

    All ``B = K * M * 2 * E`` episodes advance together in one
    ``lax.while_loop`` on flat ``[B]`` environment states (index ``b = ((i *
    M + j) * 2 + o) * E + e``); an episode that has ended stops adding to its
    return and length. Agent ``x`` (row ``i``) plays seat ``o`` and agent
    ``y`` (column ``j``) seat ``1 - o``: the seat order picks observations and
    actions, never parameters, so no parameters are copied per pair. The
    policies run vmapped over their own stack only (``[K, M * 2 * E]`` and
    ``[M, K * 2 * E]`` batches), and each step draws all its randomness with
    one ``jax.random.bits`` call of shape ``[B, 4]`` (each episode's
    environment key and one uniform per agent for inverse-CDF sampling).
    These flat shapes keep XLA's compile time low on CPU, where nested vmaps
    of random-number code compile several times slower.
    """
    n = int(env.num_agents)
    if n != 2:
        raise bad_value("env.num_agents", n, "2 (cross-play pairs two agents)")
    policy = make_policy(env.observation_shape, int(env.num_actions), network)
    e = num_episodes
    env_reset = jax.vmap(env.reset, in_axes=(0, None))
    env_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    apply = jax.vmap(policy.apply, in_axes=(0, 0, 0, None))

    def act(params, carry, obs, mask, first, u):
        # carry [S, R, H], obs [S, R, *obs_shape], mask [S, R, A], u [S, R] -> carry, action [S, R]
        r = obs.shape[1]
        carry, pi, _ = apply(params, carry, obs[:, None], jnp.full((1, r), first))
        pi = jax.tree_util.tree_map(lambda x: x[:, 0], pi)
        logits = mask_policy(pi, mask).logits
        a = jnp.argmax(logits, axis=-1).astype(jnp.int32) if greedy else _sample(logits, u)
        return carry, a

    def run(params_a, params_b, key, env_params, max_steps) -> CrossPlayEpisodes:
        global _TRACES
        _TRACES += 1
        k = jax.tree_util.tree_leaves(params_a)[0].shape[0]
        m = jax.tree_util.tree_leaves(params_b)[0].shape[0]
        b = k * m * 2 * e
        seat_x = jnp.broadcast_to(jnp.arange(2, dtype=jnp.int32)[:, None], (k, m, 2, e)).ravel()
        rows = jnp.arange(b)

        def split_xy(x):  # [B, 2, ...] -> x's [K, M*2*E, ...], y's [M, K*2*E, ...]
            mine, other = x[rows, seat_x], x[rows, 1 - seat_x]
            tail = mine.shape[1:]
            other = jnp.swapaxes(other.reshape(k, m, 2 * e, *tail), 0, 1)
            return mine.reshape(k, m * 2 * e, *tail), other.reshape(m, k * 2 * e, *tail)

        def join_xy(ax, ay):  # x's [K, M*2*E], y's [M, K*2*E] -> [B, 2] per seat
            ax = ax.reshape(b)
            ay = jnp.swapaxes(ay.reshape(m, k, 2 * e), 0, 1).reshape(b)
            return jnp.where((seat_x == 0)[:, None], jnp.stack([ax, ay], 1), jnp.stack([ay, ax], 1))

        k_reset, k_loop = jax.random.split(key)
        ts = env_reset(jax.random.bits(k_reset, (b, 2), jnp.uint32), env_params)
        carry = (policy.initial_carry((k, m * 2 * e)), policy.initial_carry((m, k * 2 * e)))

        def cond(c):
            t, active = c[0], c[5]
            return jnp.any(active) & (t < max_steps)

        def body(c):
            t, state, obs, mask, (carry_x, carry_y), active, ret, length = c
            bits = jax.random.bits(jax.random.fold_in(k_loop, t), (b, 4), jnp.uint32)
            u_x, u_y = split_xy(_uniform(bits[:, 2:]))
            obs_x, obs_y = split_xy(obs)
            mask_x, mask_y = split_xy(mask)
            carry_x, ax = act(params_a, carry_x, obs_x, mask_x, t == 0, u_x)
            carry_y, ay = act(params_b, carry_y, obs_y, mask_y, t == 0, u_y)
            ts = env_step(bits[:, :2], state, join_xy(ax, ay), env_params)
            reward = jnp.mean(ts.rewards.astype(jnp.float32), axis=-1)
            ret = ret + jnp.where(active, reward, 0.0)
            length = length + active.astype(jnp.int32)
            active = active & ~jnp.asarray(ts.done, bool)
            return (
                t + 1,
                ts.state,
                ts.obs,
                ts.action_mask,
                (carry_x, carry_y),
                active,
                ret,
                length,
            )

        init = (
            jnp.zeros((), jnp.int32),
            ts.state,
            ts.obs,
            ts.action_mask,
            carry,
            jnp.ones((b,), bool),
            jnp.zeros((b,), jnp.float32),
            jnp.zeros((b,), jnp.int32),
        )
        out = jax.lax.while_loop(cond, body, init)
        active, ret, length = out[5], out[6], out[7]
        move = lambda x: jnp.moveaxis(x.reshape(k, m, 2, e), 2, 0)  # -> [2, K, M, E]
        return CrossPlayEpisodes(returns=move(ret), length=move(length), finished=move(~active))

    return run


@functools.partial(jax.jit, static_argnames=("env", "network", "num_episodes", "greedy"))
def _compiled(
    params_a, params_b, key, env_params, max_steps, *, env, network, num_episodes, greedy
):
    return _program(env, network, num_episodes, greedy)(
        params_a, params_b, key, env_params, max_steps
    )


def make_crossplay(
    env: Any, network: NetworkConfig, num_episodes: int, *, greedy: bool = False
) -> Callable[..., CrossPlayEpisodes]:
    """The compiled cross-play program of ``env`` and ``network``.

    Args:
        env: a two-player detente environment (``reset``/``step``,
            ``num_agents == 2``, ``num_actions``, ``observation_shape``).
        network: the agents' network config.
        num_episodes: ``E``, episodes per pair and seat order.
        greedy: most probable legal action instead of a sample.

    Returns:
        ``run(params_a [K, ...], params_b [M, ...], key, env_params, max_steps)
        -> CrossPlayEpisodes`` (leaves ``[2, K, M, E]``), one jitted program;
        the compilation is shared by every call with equal static arguments
        and shapes (``max_steps`` and ``env_params`` are traced). An
        unhashable ``env`` gets a program jitted per :func:`make_crossplay` call.
    """
    check_positive_int("num_episodes", num_episodes)
    if not isinstance(network, NetworkConfig):
        raise bad_value("network", network, "a NetworkConfig")
    if network.continuous:
        raise bad_value("network.continuous", True, "False (discrete actions)")
    if not isinstance(greedy, bool):
        raise bad_value("greedy", greedy, "True or False")
    _program(env, network, num_episodes, greedy)  # validates the env
    try:
        hash(env)
    except TypeError:
        return jax.jit(_program(env, network, num_episodes, greedy))
    return functools.partial(
        _compiled, env=env, network=network, num_episodes=num_episodes, greedy=greedy
    )


# ----------------------------------------------------------------------------
# Summaries


def _sem(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64).ravel()
    return float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size >= 2 else math.nan


def _summary(values: np.ndarray, n_values_for_sem: np.ndarray | None = None) -> Summary:
    values = np.asarray(values, np.float64).ravel()
    mean = float(values.mean()) if values.size else math.nan
    sem_of = values if n_values_for_sem is None else np.asarray(n_values_for_sem).ravel()
    return Summary(mean=mean, sem=_sem(sem_of), n=int(sem_of.size))


def summarize(returns: np.ndarray, same_agents: bool) -> tuple[Summary, Summary]:
    """``(self_play, cross_play)`` summaries of a ``[K, M]`` matrix.

    With ``same_agents`` (the rows and columns are the same ``K`` agents):
    self-play is the diagonal (sem over its ``K`` cells), cross-play the
    off-diagonal cells (sem over the ``K (K - 1) / 2`` unordered pairs, each
    the mean of ``[i, j]`` and ``[j, i]``). Otherwise self-play is NaN and
    cross-play summarises every cell (sem over the ``K M`` cells).
    """
    r = np.asarray(returns, np.float64)
    if r.ndim != 2:
        raise bad_value("returns.shape", r.shape, "[K, M]")
    if not same_agents:
        return Summary(math.nan, math.nan, 0), _summary(r)
    if r.shape[0] != r.shape[1]:
        raise bad_value("returns.shape", r.shape, "a square [K, K] matrix with same_agents")
    k = r.shape[0]
    off = ~np.eye(k, dtype=bool)
    iu = np.triu_indices(k, 1)
    pairs = 0.5 * (r[iu] + r.T[iu])
    return _summary(np.diag(r)), _summary(r[off], pairs)


def group_summary(result: CrossPlayResult, groups: Sequence[Any]) -> dict[str, dict]:
    """Summaries of the blocks of a same-agents matrix whose agents come in groups.

    For a matrix mixing methods (e.g. self-play and Other-Play agents loaded
    together), ``groups[i]`` names agent ``i``'s group (its method or run).

    Args:
        result: a :class:`CrossPlayResult` with ``same_agents``.
        groups: ``K`` hashable labels.

    Returns:
        ``{"{g}|{h}": {"self_play": Summary, "cross_play": Summary}}`` for
        every ordered pair of groups, in order of first appearance: for
        ``g == h`` the block's diagonal and off-diagonal (as :func:`summarize`);
        for ``g != h`` self-play is NaN and cross-play is the mean of the block
        ``returns[g-agents, h-agents]`` with sem over its cells.
    """
    if not result.same_agents:
        raise bad_value("result.same_agents", False, "True (one stack of agents)")
    k = result.returns.shape[0]
    groups = list(groups)
    if len(groups) != k:
        raise bad_value("groups", groups, f"{k} labels, one per agent")
    order = list(dict.fromkeys(groups))
    out = {}
    for g in order:
        rows = np.array([x == g for x in groups])
        for h in order:
            cols = np.array([x == h for x in groups])
            block = result.returns[np.ix_(rows, cols)]
            sp, xp = summarize(block, same_agents=(g == h))
            out[f"{g}|{h}"] = {"self_play": sp, "cross_play": xp}
    return out


# ----------------------------------------------------------------------------
# The public entry point


def _stack_size(params: Any, field: str) -> int:
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise bad_value(field, params, "a params pytree with leaves [K, ...]")
    sizes = {int(np.shape(x)[0]) if np.ndim(x) else -1 for x in leaves}
    if len(sizes) != 1 or -1 in sizes:
        raise bad_value(
            f"{field} leading axes", sorted(sizes), "one stack size K shared by every leaf"
        )
    return sizes.pop()


def crossplay(
    env: Any,
    network: NetworkConfig,
    params_a: Any,
    params_b: Any | None,
    key: chex.PRNGKey,
    num_episodes: int,
    env_params: Any = None,
    max_steps: int | None = None,
    *,
    greedy: bool = False,
) -> CrossPlayResult:
    """The cross-play matrix of two stacks of agents (see the module docstring).

    Args:
        env: a two-player detente environment.
        network: the agents' network config (both stacks).
        params_a: ``K`` agents, :func:`make_policy` parameters with leaves ``[K, ...]``.
        params_b: ``M`` agents (leaves ``[M, ...]``), or ``None`` for
            ``params_a`` against itself (then the diagonal is self-play).
        key: PRNG key (typed or raw); the same key gives the same numbers.
        num_episodes: ``E``, episodes per pair and seat order (``E >= 2`` for sems).
        env_params: the environment's params (default ``env.default_params()``).
        max_steps: cap on an episode's steps (default
            :data:`DEFAULT_MAX_STEPS`; the loop stops once every episode ended).
        greedy: most probable legal action instead of a sample.

    Returns:
        A :class:`CrossPlayResult`.

    Raises:
        ValueError: for a bad ``num_episodes`` or ``max_steps``, parameter
            stacks whose leaves disagree on ``K``, or an environment that is
            not two-player.
    """
    run = make_crossplay(env, network, num_episodes, greedy=greedy)
    if env_params is None:
        env_params = env.default_params()
    max_steps = DEFAULT_MAX_STEPS if max_steps is None else max_steps
    check_positive_int("max_steps", max_steps)
    _stack_size(params_a, "params_a")
    same = params_b is None
    if not same:
        _stack_size(params_b, "params_b")
    key = jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    out = run(
        params_a,
        params_a if same else params_b,
        key.astype(jnp.uint32),
        env_params,
        jnp.int32(max_steps),
    )
    return _result(jax.device_get(out), same, greedy)


def _result(out: CrossPlayEpisodes, same: bool, greedy: bool) -> CrossPlayResult:
    ret = np.asarray(out.returns, np.float64)  # [2, K, M, E]
    e = ret.shape[-1]
    seat_returns = ret.mean(-1)
    if e >= 2:
        var = ret.var(-1, ddof=1)  # [2, K, M]
        seat_sem = np.sqrt(var / e)
        sem = 0.5 * np.sqrt(var.sum(0) / e)
    else:
        seat_sem = np.full(seat_returns.shape, np.nan)
        sem = np.full(seat_returns.shape[1:], np.nan)
    returns = seat_returns.mean(0)
    sp, xp = summarize(returns, same)
    return CrossPlayResult(
        returns=returns,
        sem=sem,
        seat_returns=seat_returns,
        seat_sem=seat_sem,
        self_play=sp,
        cross_play=xp,
        mean_length=np.asarray(out.length, np.float64).mean((0, -1)),
        num_episodes=int(e),
        unfinished=float(1.0 - np.asarray(out.finished).mean()),
        same_agents=bool(same),
        greedy=bool(greedy),
    )


# ----------------------------------------------------------------------------
# JSON and heatmap


def to_json(result: CrossPlayResult, labels: Sequence[str] | None = None) -> dict:
    """A JSON-ready dict of ``result`` (NaN as ``null``), for ``summary.json``.

    Keys: ``returns``, ``sem`` (``K x M`` nested lists), ``seat_returns``,
    ``seat_sem`` (``2 x K x M``), ``mean_length``, ``self_play`` and
    ``cross_play`` (``{"mean", "sem", "n"}``), ``num_episodes``,
    ``unfinished``, ``same_agents``, ``greedy``, and ``labels`` when given
    (``{"rows": [...], "cols": [...]}``; one list is used for both).
    """
    out = {
        "returns": result.returns,
        "sem": result.sem,
        "seat_returns": result.seat_returns,
        "seat_sem": result.seat_sem,
        "mean_length": result.mean_length,
        "self_play": result.self_play._asdict(),
        "cross_play": result.cross_play._asdict(),
        "num_episodes": result.num_episodes,
        "unfinished": result.unfinished,
        "same_agents": result.same_agents,
        "greedy": result.greedy,
    }
    if labels is not None:
        rows, cols = _labels(result, labels)
        out["labels"] = {"rows": rows, "cols": cols}
    return to_jsonable(out)


def _labels(result: CrossPlayResult, labels) -> tuple[list[str], list[str]]:
    k, m = result.returns.shape
    if labels is None:
        return [str(i) for i in range(k)], [str(j) for j in range(m)]
    if isinstance(labels, tuple) and len(labels) == 2 and not isinstance(labels[0], str):
        rows, cols = list(labels[0]), list(labels[1])
    else:
        rows = cols = list(labels)
    if len(rows) != k or len(cols) != m:
        raise bad_value(
            "labels", labels, f"{k} labels (or a pair of {k} row and {m} column labels)"
        )
    return [str(x) for x in rows], [str(x) for x in cols]


def crossplay_heatmap(
    result: CrossPlayResult,
    path: str | os.PathLike,
    labels: Sequence[str] | tuple[Sequence[str], Sequence[str]] | None = None,
    *,
    title: str = "",
    annotate: bool | None = None,
) -> Path:
    """Write the matrix ``result.returns`` as a heatmap ``.png`` (matplotlib, Agg).

    Args:
        result: a :class:`CrossPlayResult`.
        path: the image to write (written to a temporary file, then renamed).
        labels: agent names, one list (rows and columns, same agents) or a
            pair ``(rows, cols)``; default indices.
        title: the plot's title; the self-play and cross-play summaries are
            added below it.
        annotate: write each cell's value (default: when there are at most
            256 cells).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = _labels(result, labels)
    k, m = result.returns.shape
    if annotate is None:
        annotate = k * m <= 256
    size = (max(4.0, 0.45 * m + 2.5), max(3.5, 0.4 * k + 2.0))
    fig, ax = plt.subplots(figsize=size)
    im = ax.imshow(result.returns, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label="mean episode return")
    ax.set_xticks(np.arange(m))
    ax.set_xticklabels(cols, rotation=90, fontsize=7)
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels(rows, fontsize=7)
    ax.set_xlabel("partner")
    ax.set_ylabel("agent")
    if annotate:
        lo, hi = np.nanmin(result.returns), np.nanmax(result.returns)
        mid = 0.5 * (lo + hi)
        for i in range(k):
            for j in range(m):
                v = result.returns[i, j]
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if v > mid else "white",
                )
    sp, xp = result.self_play, result.cross_play
    lines = [title] if title else []
    stats = []
    if not math.isnan(sp.mean):
        stats.append(f"SP {sp.mean:.3f} ± {sp.sem:.3f}")
    stats.append(f"XP {xp.mean:.3f} ± {xp.sem:.3f}")
    lines.append("   ".join(stats))
    ax.set_title("\n".join(lines), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix or '.png'}")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
