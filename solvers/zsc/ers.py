"""Expected-return symmetries (ERS): learn them from a self-play pool, then Other-Play with them.

Muglich, Forkel, van der Pol and Foerster 2025, "Expected Return Symmetries",
ICLR, https://arxiv.org/abs/2502.01711. An expected-return symmetry ``phi``
maps policies to policies so that every self-play-optimal policy keeps its
expected return, ``J(phi(pi)) = J(pi)``; these maps form a group ``Phi^ER``
that contains the Dec-POMDP symmetries. They are learned from a pool ``Pi``
of independently trained self-play agents, without knowing the game's
symmetries (the paper's Alg. 1-3, App. E), and then replace the known
symmetries in the Other-Play objective.

:func:`discover_ers` learns ``M`` maps in parallel (``jax.vmap``), each a pair
of soft permutation matrices of observations and actions
(:mod:`detente.solvers.zsc.ers_maps`; Sinkhorn of logits, so that the
gradient sees a continuous relaxation and the maps discretise to bijections),
from its own seed, by gradient ascent on

``E_k J(phi(pi_k))`` (``objective="sp"``, Alg. 1), or ``XP(pi_i, phi(pi_j))``
for one pair ``(i, j)`` of pool agents per map (``"xp"``, the paper's Eq. 11
and Alg. 3), or their mean (``"sp+xp"``),

minus ``closure_weight`` times the closure regulariser (the return lost by
``phi o psi`` and ``psi o phi`` for a map ``psi`` drawn from the maps being
learned each step, ``phi`` itself included: compositions of ER symmetries must
preserve the return too, Alg. 2) and ``invertibility_weight``
times :func:`~detente.solvers.zsc.ers_maps.invertibility_penalty`. Each map
starts at the identity displaced by one random transposition of actions
(``init="transposition"``, the paper's Alg. 1 starts from random local action
transpositions: the identity itself maximises the self-play objective and
would never move), or at the identity (``init="identity"``, for ``"xp"``;
there a ``closure_weight`` of about 0.1 lets a map cross the blurred maps
between the identity and an aligning permutation, which the closure term
penalises).
The pool is first restricted to its self-play-optimal agents (within
``pool_tolerance`` of the best), as the paper's pool is.

**The kept set** (the paper keeps the maps that score highest): the learned
maps are discretised (linear assignment), scored on the pool, and a map is a
*candidate* if it changes no pool agent's return by more than ``tolerance``.
Scoring one map at a time is blind to what the pool never does: in the
10-lever game a pool that uses five of the nine 1.0-levers scores
"swap an unused 1.0-lever with the 0.9-lever" exactly like the identity. The
closure requirement exposes it: once another kept map sends a used lever to
that unused one, the composition sends it to the 0.9-lever. So the candidates'
generated group is enumerated breadth first (up to ``max_group_size``
elements, i.e. all short words), every element is scored on the pool, and,
while some element fails, the candidate that most often turns a passing
element into a failing one (the generator on the breadth-first edge where the
return first breaks) is dropped. The survivors are :attr:`ERSResult.symmetries`.

**Other-Play** (:func:`train_ers_other_play`): Other-Play's seat-wise
independent draws make the partners' relative symmetry uniform only over a
group, and the closure regulariser is what licenses compositions of kept maps
(``Phi^ER`` is a group), so the kept maps are closed under composition first:
their generated group when it has at most ``max_group_size`` elements
(:func:`~detente.games.symmetry.generated_group`), else a long random
word in them (:func:`~detente.solvers.zsc.ers_maps.word_sampler`), then :func:`~detente.solvers.zsc.other_play.train_other_play`.

Example::

    states, _ = train_selfplay(jax.random.split(key, 8), LeverGame(), sp_config)
    res = discover_ers(key, LeverGame(), sp_config.network, agent_params(states))
    res.symmetries.action_perm        # [S, 10] kept lever permutations
    op, _ = train_ers_other_play(keys, LeverGame(), op_config, res.symmetries)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from safetensors import safe_open
from safetensors.numpy import save_file

from detente._checks import bad_value, check_choice, check_positive_int
from detente.games.symmetry import Symmetry, generated_group
from detente.solvers.rl.ippo import IPPOConfig, IPPOState
from detente.solvers.rl.policy import NetworkConfig
from detente.solvers.zsc.ers_maps import (
    SoftMap,
    _as_symmetry,
    _bfs,
    _rows,
    _with_inverses,
    compose_maps,
    invertibility_penalty,
    make_ers_objective,
    params_count,
    sinkhorn,
    symmetry_of_map,
    word_sampler,
)
from detente.solvers.zsc.other_play import train_other_play

__all__ = [
    "SYMMETRIES_FILE",
    "ERSConfig",
    "ERSResult",
    "discover_ers",
    "ers_group",
    "load_symmetries",
    "save_symmetries",
    "train_ers_other_play",
]

SYMMETRIES_FILE = "symmetries.safetensors"  # what `detente zsc train ers-discover` writes


@dataclasses.dataclass(frozen=True)
class ERSConfig:
    """Static configuration of :func:`discover_ers` (module docstring for the method).

    The paper gives no values for these relaxations (its maps are networks
    trained by IPPO); the defaults are ours, sized for the lever game on a CPU.

    Attributes:
        num_maps: ``M`` maps learned in parallel, one seed each.
        num_steps: Adam steps per map (0: discretise the initialisation).
        lr: Adam's step size on the logits.
        objective: ``"sp"`` (``E_k J(phi(pi_k))``), ``"xp"``
            (``XP(pi_i, phi(pi_j))``, one random pair per map) or ``"sp+xp"``.
        init: ``"transposition"`` (identity displaced by one random action
            transposition) or ``"identity"``.
        init_scale: ``beta``, logits ``beta * P0 + noise`` for the start ``P0``.
        init_noise: standard deviation of the logits' Gaussian noise.
        temperature: ``tau``, Sinkhorn of ``logits / tau``.
        sinkhorn_iters: Sinkhorn normalisation rounds.
        closure_weight: ``lambda_c`` of the closure regulariser.
        invertibility_weight: ``lambda_inv`` of the invertibility penalty.
        estimator: ``"auto"``, ``"exact"`` or ``"rollout"``
            (:func:`~detente.solvers.zsc.ers_maps.make_ers_objective`).
        num_episodes: episodes per agent and step (rollout).
        eval_episodes: episodes per agent to score discretised maps (rollout).
        max_steps: episode length cap for rollouts (the env's horizon).
        tolerance: largest change of any pool agent's return allowed for a
            kept map and for every checked composition.
        pool_tolerance: pool agents more than this below the best self-play
            return are left out (the paper's pool is self-play optimal).
        max_group_size: elements enumerated for the closure check.
    """

    num_maps: int = 32
    num_steps: int = 100
    lr: float = 0.05
    objective: str = "sp"
    init: str = "transposition"
    init_scale: float = 4.0
    init_noise: float = 0.1
    temperature: float = 1.0
    sinkhorn_iters: int = 10
    closure_weight: float = 1.0
    invertibility_weight: float = 1.0
    estimator: str = "auto"
    num_episodes: int = 32
    eval_episodes: int = 256
    max_steps: int = 1
    tolerance: float = 0.05
    pool_tolerance: float = 0.05
    max_group_size: int = 4096

    def __post_init__(self):
        for name in ("num_maps", "sinkhorn_iters", "num_episodes", "eval_episodes", "max_steps"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("max_group_size", self.max_group_size)
        if isinstance(self.num_steps, bool) or not isinstance(self.num_steps, int):
            raise bad_value("num_steps", self.num_steps, "a non-negative integer")
        if self.num_steps < 0:
            raise bad_value("num_steps", self.num_steps, "a non-negative integer")
        check_choice("objective", self.objective, ("sp", "xp", "sp+xp"))
        check_choice("init", self.init, ("transposition", "identity"))
        check_choice("estimator", self.estimator, ("auto", "exact", "rollout"))
        for name in ("lr", "temperature"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise bad_value(name, v, "a finite number > 0")
        for name in (
            "init_scale",
            "init_noise",
            "closure_weight",
            "invertibility_weight",
            "tolerance",
            "pool_tolerance",
        ):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
                raise bad_value(name, v, "a finite number >= 0")
        for name in ("num_episodes", "eval_episodes"):
            if getattr(self, name) < 2:
                raise bad_value(name, getattr(self, name), "an integer >= 2")


class ERSResult(NamedTuple):
    """What :func:`discover_ers` found (``M`` learned maps, ``K`` pool agents, ``S`` kept).

    Attributes:
        symmetries: the kept maps as a stacked :class:`Symmetry` ``[S]``
            (``state_perm`` ``None``; no identity, no duplicates), for
            :func:`train_ers_other_play` or
            :func:`~detente.solvers.zsc.other_play.other_play_env`. ``S`` may be 0.
        maps: every learned map, discretised, ``[M]``.
        kept: ``[M]`` bool, the map is in ``symmetries`` (first of its duplicates).
        valid: ``[M]`` bool, no optimal pool agent's return moves by more than ``tolerance``.
        objective: ``[M]`` the objective of the discretised map.
        returns: ``[M, K]`` ``J(phi_m(pi_k))`` of the discretised maps.
        baseline: ``[K]`` ``J(pi_k)``, the agents' own self-play returns.
        pool: ``[K]`` bool, the self-play-optimal agents the maps were learned on.
        pairs: ``[M, 2]`` the ``(i, j)`` of ``XP(pi_i, phi(pi_j))`` per map (``-1`` for ``"sp"``).
        closure: ``[M]`` mean ``|J(phi o psi (pi_k)) - J(pi_k)|`` over the kept
            ``psi`` (and ``phi`` itself), both orders, and the optimal agents
            (NaN for ``candidates``: the group check scores the compositions).
        invertibility: ``[M]`` the invertibility penalty of the soft maps at the end.
        history: ``"objective"``, ``"closure"``, ``"invertibility"``, ``"loss"``: ``[M, num_steps]``.
        group_checked: elements of the kept maps' generated group that were
            checked (all of it if ``group_closed``).
        group_closed: the breadth-first enumeration closed before ``max_group_size``.
    """

    symmetries: Symmetry
    maps: Symmetry
    kept: np.ndarray
    valid: np.ndarray
    objective: np.ndarray
    returns: np.ndarray
    baseline: np.ndarray
    pool: np.ndarray
    pairs: np.ndarray
    closure: np.ndarray
    invertibility: np.ndarray
    history: dict
    group_checked: int
    group_closed: bool


# ----------------------------------------------------------------------------
# Discovery


def _take(params: Any, idx) -> Any:
    return jax.tree_util.tree_map(lambda x: x[idx], params)


def _init_logits(key: chex.PRNGKey, m: int, d: int, a: int, config: ERSConfig) -> SoftMap:
    """Logits ``beta * P0 + noise`` of ``m`` maps; ``P0`` the identity or a random transposition.

    All randomness is drawn flat, up front (threefry on several axes compiles slowly on CPU).
    """
    k_i, k_j, k_noise = jax.random.split(key, 3)
    start = jnp.broadcast_to(jnp.arange(a), (m, a))
    if config.init == "transposition":
        i = jax.random.randint(k_i, (m,), 0, a)
        j = (i + jax.random.randint(k_j, (m,), 1, a)) % a
        rows = jnp.arange(m)
        start = start.at[rows, i].set(j).at[rows, j].set(i)
    act0 = jnp.swapaxes(jax.nn.one_hot(start, a), -1, -2)
    noise = config.init_noise * jax.random.normal(k_noise, (m * (d * d + a * a),))
    return SoftMap(
        config.init_scale * jnp.eye(d) + noise[: m * d * d].reshape(m, d, d),
        config.init_scale * act0 + noise[m * d * d :].reshape(m, a, a),
    )


def _soft(theta: SoftMap, config: ERSConfig) -> SoftMap:
    t, n = config.temperature, config.sinkhorn_iters
    return SoftMap(sinkhorn(theta.obs / t, n), sinkhorn(theta.action / t, n))


def _learn(key, theta0, pairs, params, baseline, objective, config: ERSConfig):
    """Adam on ``M`` maps at once; returns final logits and ``[num_steps, M]`` curves."""
    opt = optax.adam(config.lr)
    m_maps = theta0.obs.shape[0]
    use_sp, use_xp = config.objective in ("sp", "sp+xp"), config.objective in ("xp", "sp+xp")

    def loss(theta, others, key, pair, psi):
        m = _soft(theta, config)
        k_sp, k_xp, k_c1, k_c2 = jax.random.split(key, 4)
        value, surr = jnp.zeros(()), jnp.zeros(())
        if use_sp:
            r, s = objective.self_play(k_sp, params, m)
            value, surr = value + r.mean(), surr + s.mean()
        if use_xp:
            r, s = objective.cross_play(k_xp, _take(params, pair[0]), _take(params, pair[1]), m)
            value, surr = value + r, surr + s
        if use_sp and use_xp:
            value, surr = value / 2, surr / 2
        other = _take(others, psi)
        r1, s1 = objective.self_play(k_c1, params, compose_maps(m, other))
        r2, s2 = objective.self_play(k_c2, params, compose_maps(other, m))
        closure_surr = jnp.mean(baseline - (s1 + s2) / 2)
        closure = jnp.mean(baseline - (r1 + r2) / 2)
        inv = invertibility_penalty(m)
        total = -surr + config.closure_weight * closure_surr + config.invertibility_weight * inv
        return total, (value, closure, inv)

    grad = jax.vmap(jax.grad(loss, has_aux=True), in_axes=(0, None, 0, 0, 0))

    def step(carry, xs):
        theta, state = carry
        keys, psi = xs
        others = jax.lax.stop_gradient(jax.vmap(lambda th: _soft(th, config))(theta))
        g, (value, closure, inv) = grad(theta, others, keys, pairs, psi)
        updates, state = jax.vmap(opt.update)(g, state, theta)
        theta = optax.apply_updates(theta, updates)
        loss_value = -value + config.closure_weight * closure + config.invertibility_weight * inv
        return (theta, state), dict(
            objective=value, closure=closure, invertibility=inv, loss=loss_value
        )

    # every step's keys and partners psi drawn up front, flat
    n = config.num_steps
    k_loss, k_psi = jax.random.split(key)
    keys = jax.random.split(k_loss, n * m_maps).reshape((n, m_maps) + key.shape)
    psi = jax.random.randint(k_psi, (n * m_maps,), 0, m_maps).reshape(n, m_maps)
    state0 = jax.vmap(opt.init)(theta0)
    (theta, _), hist = jax.lax.scan(step, (theta0, state0), (keys, psi))
    return theta, hist


_FAST = {"xla_backend_optimization_level": 1}  # small programs compile ~4x faster on CPU
_CHUNK = 128  # hard maps scored per compiled call


@functools.lru_cache(maxsize=16)
def _programs(env: Any, network: NetworkConfig, config: ERSConfig):
    """The compiled ``(learn, score, cross_play)`` of one env, network and config.

    Pool parameters and env params are arguments, so a second discovery with
    the same shapes compiles nothing.
    """

    def objective(env_params, episodes):
        return make_ers_objective(
            env,
            network,
            env_params,
            estimator=config.estimator,
            num_episodes=episodes,
            max_steps=config.max_steps,
        )

    def learn(k_init, k_learn, pairs, params, baseline, env_params):
        obj = objective(env_params, config.num_episodes)
        theta0 = _init_logits(k_init, config.num_maps, obj.num_features, obj.num_actions, config)
        theta, hist = _learn(k_learn, theta0, pairs, params, baseline, obj, config)
        soft = jax.vmap(lambda th: _soft(th, config))(theta)
        return soft, jax.vmap(invertibility_penalty)(soft), hist

    def maps_of(obs, act):  # hard maps act by gathers (no D x D products)
        return Symmetry(obs_perm=obs, action_perm=act, state_perm=None)

    def score(key, params, env_params, obs, act):  # [N, K]; one key: common random numbers
        obj = objective(env_params, config.eval_episodes)
        return jax.vmap(lambda m: obj.self_play(key, params, m)[0])(maps_of(obs, act))

    def cross_play(key, params, env_params, pairs, obs, act):  # [M]
        obj = objective(env_params, config.eval_episodes)

        def one(pair, m):
            return obj.cross_play(key, _take(params, pair[0]), _take(params, pair[1]), m)[0]

        return jax.vmap(one)(pairs, maps_of(obs, act))

    jit = functools.partial(jax.jit, compiler_options=_FAST)
    return jit(learn), jit(score), jit(cross_play)


def _scorer(run, key, params, env_params) -> Callable:
    """``(obs [N, D], act [N, A]) -> [N, K]`` numpy returns of hard maps, in padded chunks."""

    def score(obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        n = obs.shape[0]
        pad = -n % _CHUNK
        obs = np.concatenate([obs, np.repeat(obs[:1], pad, 0)]).astype(np.int32)
        act = np.concatenate([act, np.repeat(act[:1], pad, 0)]).astype(np.int32)
        parts = [
            np.asarray(run(key, params, env_params, obs[s : s + _CHUNK], act[s : s + _CHUNK]))
            for s in range(0, n + pad, _CHUNK)
        ]
        return np.concatenate(parts)[:n]

    return score


def _compose_np(g_obs, g_act, h_obs, h_act):
    """Rows of ``compose(g, h)`` for stacks of permutations of the same shape (numpy)."""
    return np.take_along_axis(h_obs, g_obs, -1), np.take_along_axis(g_act, h_act, -1)


def discover_ers(
    key: chex.PRNGKey,
    env: Any,
    network: NetworkConfig,
    pool_params: Any,
    config: ERSConfig | None = None,
    env_params: Any = None,
    *,
    candidates: Symmetry | None = None,
) -> ERSResult:
    """Learn expected-return symmetries from a pool of self-play agents (module docstring).

    With ``candidates``, nothing is learned: the given hard maps take the
    place of the learned ones and are scored and kept by the same rules (the
    search restricted to a finite family, e.g. where the maps' space is too
    large to learn on the budget at hand; the family is then prior knowledge,
    and should also hold maps that are not symmetries, for the test to mean
    anything).

    Args:
        key: PRNG key; the same key gives the same maps.
        env: a two-player detente environment with discrete actions.
        network: the pool's :class:`~detente.solvers.rl.policy.NetworkConfig`.
        pool_params: the pool's parameters, leaves ``[K, ...]``, ``K >= 2``
            (e.g. :func:`~detente.solvers.zsc.selfplay.agent_params` of
            :func:`~detente.solvers.zsc.selfplay.train_selfplay`'s states).
        config: an :class:`ERSConfig` (default ``ERSConfig()``).
        env_params: the environment's params (default ``env.default_params()``).
        candidates: a stacked :class:`Symmetry` ``[M]`` of hard maps to score
            instead of learning ``config.num_maps`` maps (``state_perm``
            ignored); ``history`` is then empty and ``invertibility`` zero.

    Returns:
        An :class:`ERSResult`.

    Raises:
        ValueError: for a bad config or pool, naming the field.
    """
    config = ERSConfig() if config is None else config
    if not isinstance(config, ERSConfig):
        raise bad_value("config", config, "an ERSConfig")
    if not isinstance(network, NetworkConfig):
        raise bad_value("network", network, "a NetworkConfig")
    if env_params is None:
        env_params = env.default_params()
    k_all = params_count(pool_params)
    if k_all < 2:
        raise bad_value("pool_params", f"{k_all} agents", "a stack of at least 2 agents")
    try:
        hash(env)
    except TypeError:
        raise bad_value("env", type(env).__name__, "a hashable environment") from None
    # validates env and estimator before anything is compiled
    probe = make_ers_objective(
        env, network, env_params, estimator=config.estimator, max_steps=config.max_steps
    )
    d, a, m = probe.num_features, probe.num_actions, config.num_maps
    if candidates is not None:
        c_obs, c_act = _candidate_rows(candidates, d, a)
        m = c_obs.shape[0]
    learn, run_score, run_xp = _programs(env, network, config)
    k_init, k_pairs, k_learn, k_score, k_xp = jax.random.split(key, 5)

    # the pool's own returns, and its self-play-optimal agents
    score = _scorer(run_score, k_score, pool_params, env_params)
    baseline = score(np.arange(d)[None], np.arange(a)[None])[0]  # [K]
    pool = baseline >= baseline.max() - config.pool_tolerance
    idx = np.flatnonzero(pool)
    if config.objective != "sp" and idx.size < 2:
        raise bad_value("pool_params", f"{idx.size} optimal agent(s)", "2 or more for 'xp'")
    params = _take(pool_params, idx)
    if config.objective == "sp":
        pairs_local = np.zeros((m, 2), np.int32)
    else:
        k1, k2 = jax.random.split(k_pairs)
        i = np.asarray(jax.random.randint(k1, (m,), 0, idx.size))
        j = (i + np.asarray(jax.random.randint(k2, (m,), 1, idx.size))) % idx.size
        pairs_local = np.stack([i, j], 1).astype(np.int32)

    if candidates is None:
        soft, inv, hist = learn(k_init, k_learn, pairs_local, params, baseline[idx], env_params)
        obs, act = _rows(symmetry_of_map(soft))
    else:
        obs, act, inv, hist = c_obs, c_act, np.zeros(m), {}
    returns = score(obs, act)  # [M, K]
    value = returns[:, idx].mean(1)
    if config.objective != "sp":
        o32, a32 = obs.astype(np.int32), act.astype(np.int32)
        xp_value = np.asarray(run_xp(k_xp, params, env_params, pairs_local, o32, a32))
        value = xp_value if config.objective == "xp" else (value + xp_value) / 2
    valid = np.all(np.abs(returns[:, idx] - baseline[idx]) <= config.tolerance, axis=1)

    def score_pool(o, p):
        return score(o, p)[:, idx]

    kept, checked, closed = _keep(obs, act, value, valid, score_pool, baseline[idx], config)
    return ERSResult(
        symmetries=_as_symmetry(obs[kept], act[kept]),
        maps=_as_symmetry(obs, act),
        kept=kept,
        valid=valid,
        objective=value,
        returns=returns,
        baseline=baseline,
        pool=pool,
        pairs=np.where(config.objective == "sp", -1, idx[pairs_local]),
        closure=(
            _closure(obs, act, kept, score_pool, baseline[idx])
            if candidates is None
            else np.full(m, np.nan)  # a family's kept set may be large; its group check covers it
        ),
        invertibility=np.asarray(inv),
        history={k: np.asarray(v).T for k, v in hist.items()},
        group_checked=checked,
        group_closed=closed,
    )


def _candidate_rows(candidates: Any, d: int, a: int) -> tuple[np.ndarray, np.ndarray]:
    """``(obs [M, D], act [M, A])`` int32 rows of a stacked candidate :class:`Symmetry`, checked."""
    if not isinstance(candidates, Symmetry):
        raise bad_value("candidates", type(candidates).__name__, "a stacked Symmetry [M]")
    obs, act = np.asarray(candidates.obs_perm), np.asarray(candidates.action_perm)
    if obs.ndim != 2 or act.ndim != 2 or obs.shape != (act.shape[0], d) or act.shape[1] != a:
        raise bad_value(
            "candidates",
            f"obs_perm {obs.shape}, action_perm {act.shape}",
            f"obs_perm [M, {d}] and action_perm [M, {a}] with M >= 1",
        )
    if obs.shape[0] == 0:
        raise bad_value("candidates", "0 maps", "at least one map")
    for name, rows in (("obs_perm", obs), ("action_perm", act)):
        if not (np.sort(rows, axis=1) == np.arange(rows.shape[1])).all():
            raise bad_value(f"candidates.{name}", "a row that is not a permutation", "permutations")
    return obs.astype(np.int32), act.astype(np.int32)


def _keep(obs, act, value, valid, score, base, config: ERSConfig):
    """The kept set: valid, non-identity, deduplicated, and closed (module docstring)."""
    ident = (obs == np.arange(obs.shape[1])).all(1) & (act == np.arange(act.shape[1])).all(1)
    order = np.lexsort((np.arange(len(value)), -value))  # best objective first
    cand, seen = [], set()
    for i in order:
        b = np.concatenate([obs[i], act[i]]).tobytes()
        if valid[i] and not ident[i] and b not in seen:
            seen.add(b)
            cand.append(int(i))
    checked, closed = 1, True
    seen_fail: dict[bytes, bool] = {}  # elements recur from round to round: score each once

    def fails(e_obs, e_act) -> np.ndarray:
        keys = [np.concatenate([o, a]).tobytes() for o, a in zip(e_obs, e_act, strict=True)]
        new = [i for i, k in enumerate(keys) if k not in seen_fail]
        if new:
            ret = score(e_obs[new], e_act[new])
            for i, bad in zip(new, np.any(np.abs(ret - base) > config.tolerance, 1), strict=True):
                seen_fail[keys[i]] = bool(bad)
        return np.array([seen_fail[k] for k in keys])

    while cand:
        g_obs, g_act = _with_inverses(obs[cand], act[cand])
        e_obs, e_act, parent, edge, closed = _bfs(g_obs, g_act, config.max_group_size)
        checked = e_obs.shape[0]
        fail = fails(e_obs, e_act)
        if not fail.any():
            break
        first = fail & ~fail[np.maximum(parent, 0)]
        blame = np.bincount(edge[first] % len(cand), minlength=len(cand))
        # the most blamed; among ties, the lowest objective (latest in the ranking)
        cand.pop(max(range(len(cand)), key=lambda c: (blame[c], c)))
    kept = np.zeros(len(value), bool)
    kept[cand] = True
    return kept, int(checked), bool(closed)


def _closure(obs, act, kept, score, base) -> np.ndarray:
    """``[M]`` mean ``|J(phi o psi) - J|`` over ``psi`` in the kept set and ``phi`` itself, both orders."""
    m = obs.shape[0]
    ks = np.flatnonzero(kept)
    psi = np.broadcast_to(ks, (m, ks.size))
    psi = np.concatenate([psi, np.arange(m)[:, None]], 1)  # [M, S + 1]
    phi = np.broadcast_to(np.arange(m)[:, None], psi.shape)
    # the map of phi(psi(pi)) is compose(psi, phi), and of psi(phi(pi)) compose(phi, psi)
    a_obs, a_act = _compose_np(obs[psi], act[psi], obs[phi], act[phi])
    b_obs, b_act = _compose_np(obs[phi], act[phi], obs[psi], act[psi])
    n = psi.size
    ret = score(
        np.concatenate([a_obs.reshape(n, -1), b_obs.reshape(n, -1)]),
        np.concatenate([a_act.reshape(n, -1), b_act.reshape(n, -1)]),
    )
    return np.abs(ret - base).reshape(2, m, -1).mean((0, 2))


# ----------------------------------------------------------------------------
# Other-Play with the discovered symmetries


def ers_group(
    symmetries: Symmetry | ERSResult, max_group_size: int = 4096, word_length: int = 256
) -> Symmetry | Callable[[chex.PRNGKey, Any], Symmetry]:
    """What Other-Play samples from: the group the discovered maps generate.

    Other-Play's independent per-seat draws assume a group, so the kept maps
    are closed under composition first: the generated group, stacked
    (:func:`~detente.games.symmetry.generated_group`), when it has at most
    ``max_group_size`` elements, else a sampler of :func:`word_sampler` words
    of ``word_length`` steps (the lever game's ``S_9`` on the nine 1.0-levers).

    Args:
        symmetries: :attr:`ERSResult.symmetries` (or the result itself); at
            least one map.
        max_group_size: the largest group stacked.
        word_length: random-walk length beyond that.

    Returns:
        A stacked :class:`Symmetry` or a sampler ``(key, env_params) -> Symmetry``,
        either accepted by :func:`~detente.solvers.zsc.other_play.other_play_env`.

    Raises:
        ValueError: naming ``symmetries`` if there is no map.
    """
    if isinstance(symmetries, ERSResult):
        symmetries = symmetries.symmetries
    if not isinstance(symmetries, Symmetry) or jnp.ndim(symmetries.action_perm) != 2:
        raise bad_value("symmetries", type(symmetries).__name__, "a stacked Symmetry [S]")
    if symmetries.action_perm.shape[0] == 0:
        raise bad_value("symmetries", "0 maps", "at least one discovered map")
    gens = _as_symmetry(*_rows(symmetries))
    try:  # the maps are bijections (linear assignment), so only the order can fail here
        return generated_group(gens, max_group_size)
    except ValueError:
        return word_sampler(gens, word_length)


def train_ers_other_play(
    keys: chex.Array,
    env: Any,
    config: IPPOConfig,
    symmetries: Symmetry | ERSResult,
    env_params: Any = None,
    *,
    max_group_size: int = 4096,
    word_length: int = 256,
    compiler_options: Mapping[str, Any] | None = None,
) -> tuple[IPPOState, dict]:
    """Other-Play (Hu et al. 2020) with discovered expected-return symmetries in place of known ones.

    The kept maps are closed under composition first (:func:`ers_group`), then
    :func:`~detente.solvers.zsc.other_play.train_other_play`.

    Args:
        keys: ``[S, 2]`` raw or ``[S]`` typed keys, one per seed.
        env: the environment the maps were discovered in.
        config: a self-play IPPO config (e.g. ``zsc_config(game, "other-play")``).
        symmetries: :attr:`ERSResult.symmetries` (or the result itself); at
            least one map.
        env_params: the environment's params.
        max_group_size: the largest group stacked.
        word_length: random-walk length beyond that.
        compiler_options: XLA options, see :func:`~detente.solvers.zsc.selfplay.train_selfplay`.

    Returns:
        ``(states, metrics)`` as :func:`~detente.solvers.zsc.other_play.train_other_play`'s.

    Raises:
        ValueError: naming ``symmetries`` if there is no map.
    """
    group = ers_group(symmetries, max_group_size, word_length)
    return train_other_play(keys, env, config, env_params, group, compiler_options=compiler_options)


# ----------------------------------------------------------------------------
# Files (safetensors, no pickle)


def save_symmetries(path: str | os.PathLike, symmetries: Symmetry, metadata: Mapping | None = None):
    """Write discovered maps (``obs_perm [S, D]``, ``action_perm [S, A]``) to a safetensors file.

    ``state_perm`` is not stored (discovered maps act on observations and
    actions only). ``metadata`` (JSON-serialisable) is stored in the header.
    """
    if not isinstance(symmetries, Symmetry) or jnp.ndim(symmetries.action_perm) != 2:
        raise bad_value("symmetries", type(symmetries).__name__, "a stacked Symmetry [S]")
    arrays = {
        "obs_perm": np.ascontiguousarray(symmetries.obs_perm, np.int32),
        "action_perm": np.ascontiguousarray(symmetries.action_perm, np.int32),
    }
    save_file(arrays, str(path), metadata={"metadata": json.dumps(dict(metadata or {}))})


def load_symmetries(path: str | os.PathLike) -> tuple[Symmetry, dict]:
    """Read :func:`save_symmetries`' file (or a folder holding :data:`SYMMETRIES_FILE`).

    Returns:
        ``(symmetries [S], metadata)``.

    Raises:
        ValueError: naming the path if it is missing or not a symmetries file.
    """
    p = Path(path)
    if p.is_dir():
        p = p / SYMMETRIES_FILE
    if not p.is_file():
        raise bad_value("symmetries", str(path), f"a {SYMMETRIES_FILE} file or a folder with one")
    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("metadata", "{}"))
            obs, act = f.get_tensor("obs_perm"), f.get_tensor("action_perm")
    except Exception as e:  # a corrupt or foreign file
        raise bad_value("symmetries", str(path), f"a symmetries file ({e})") from None
    return _as_symmetry(obs, act), meta
