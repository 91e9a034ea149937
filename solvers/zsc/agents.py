"""Agent files: stacks of trained ZSC policies saved and loaded without pickle.

A zero-shot-coordination agent is one seat-agnostic policy, a
:class:`~detente.solvers.rl.policy.NetworkConfig` and the parameters of
:func:`~detente.solvers.rl.policy.make_policy`. A stack of ``K`` agents with
the same network has parameter leaves ``[K, ...]`` (self-play and Other-Play
train with IPPO's ``share_params=True``, whose ``IPPOState.params`` leaves
are ``[1, ...]``: drop that axis to get one agent, stack over seeds to get
``K``).

:func:`save_agents` writes one ``.safetensors`` file (through
:func:`detente.checkpoint.save_checkpoint`, so atomically and without
pickle): every parameter leaf is a tensor, and the header holds, as JSON, the
network config, the observation size ``F`` and number of actions ``A`` the
parameters were built for, the agents' names and the caller's metadata (the
method, the game, the training config). :func:`load_agents` reads one or more
such files (or folders holding ``agents.safetensors``) and concatenates their
agents, so a cross-play matrix can mix agents of different runs and methods;
files whose networks differ are refused with a ``ValueError`` that names the
file and both configs::

    save_agents("runs/sp/agents.safetensors", network, params, {"method": "selfplay"})
    agents = load_agents("runs/sp", "runs/op")   # folders or files
    agents.params     # leaves [K_sp + K_op, ...]
    agents.names      # ["sp/0", "sp/1", ..., "op/0", ...]

Equivariant agents (:class:`~detente.solvers.zsc.equivariant.EquivariantNetwork`,
a ``NetworkConfig`` subclass) are saved the same way: the header's network
object adds ``mode`` and the group's permutations, and a symmetrized view of
trained agents stores the plain network's parameters.

Nothing is executed when a file is read: the parameter tree is rebuilt from
the stored network config (``jax.eval_shape`` of the policy's ``init``) and
the file must match it leaf for leaf.

Reference: Hu et al. 2020, "Other-Play for Zero-Shot Coordination", ICML,
https://arxiv.org/abs/2003.02979 (cross-play of independently trained agents).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from detente._checks import bad_value, check_positive_int
from detente.checkpoint import load_checkpoint, read_checkpoint_info, save_checkpoint
from detente.solvers.rl.policy import NetworkConfig, make_policy
from detente.solvers.zsc.equivariant import EquivariantNetwork

__all__ = [
    "AGENTS_FILE",
    "AgentSet",
    "load_agents",
    "network_from_json",
    "network_to_json",
    "save_agents",
]

FORMAT = "detente-zsc-agents-1"
AGENTS_FILE = "agents.safetensors"  # the file looked for when a folder is given


class AgentSet(NamedTuple):
    """Agents read by :func:`load_agents` (``K`` agents from ``R`` files).

    Attributes:
        network: the network config shared by every agent.
        params: the stacked parameters, numpy leaves ``[K, ...]``.
        names: ``K`` labels, ``"{file label}/{stored name}"``.
        metadata: ``R`` dicts, each file's metadata, in the order of ``paths``.
        paths: ``R`` file paths read.
        source: ``[K]`` int, the index in ``paths`` each agent came from.
        num_features: ``F``, the flattened observation size of the policies.
        num_actions: ``A``, the number of actions of the policies.
    """

    network: NetworkConfig
    params: Any
    names: list[str]
    metadata: list[dict]
    paths: list[str]
    source: np.ndarray
    num_features: int
    num_actions: int

    @property
    def num_agents(self) -> int:
        """``K``."""
        return len(self.names)


# ----------------------------------------------------------------------------
# NetworkConfig <-> JSON


def network_to_json(network: NetworkConfig) -> dict:
    """A JSON object of ``network``'s fields (tuples as lists).

    An :class:`~detente.solvers.zsc.equivariant.EquivariantNetwork` adds
    ``mode`` and ``group`` (its permutations, so the file is self-contained).
    """
    if not isinstance(network, NetworkConfig):
        raise bad_value("network", network, "a NetworkConfig")
    if isinstance(network, EquivariantNetwork):
        return network.to_json()
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(network).items()
    }


def network_from_json(obj: Mapping) -> NetworkConfig:
    """The :class:`NetworkConfig` of :func:`network_to_json`'s object.

    An object with ``mode`` or ``group`` gives an
    :class:`~detente.solvers.zsc.equivariant.EquivariantNetwork`.

    Raises:
        ValueError: for an unknown field or a bad value (the config's own checks).
    """
    if not isinstance(obj, Mapping):
        raise bad_value("network", obj, "a JSON object of NetworkConfig fields")
    if "mode" in obj or "group" in obj:
        return EquivariantNetwork.from_json(obj)
    fields = {f.name: f for f in dataclasses.fields(NetworkConfig)}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise bad_value("network fields", unknown, f"names among {sorted(fields)}")
    kwargs = {}
    for k, v in obj.items():
        if isinstance(fields[k].default, tuple):
            if not isinstance(v, (list, tuple)):
                raise bad_value(f"network.{k}", v, "a list of positive integers")
            v = tuple(v)
        kwargs[k] = v
    return NetworkConfig(**kwargs)


# ----------------------------------------------------------------------------
# Parameter shapes


def _template(network: NetworkConfig, num_features: int, num_actions: int, k: int | None):
    """``ShapeDtypeStruct`` tree of one agent's params (or ``k`` stacked)."""
    policy = make_policy((num_features,), num_actions, network)
    one = jax.eval_shape(policy.init, jax.ShapeDtypeStruct((2,), np.uint32))
    if k is None:
        return one
    return jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct((k, *s.shape), s.dtype), one)


def _specs(tree) -> dict[str, tuple[tuple[int, ...], str]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(p): (tuple(int(d) for d in x.shape), np.dtype(x.dtype).name)
        for p, x in leaves
    }


def _infer_sizes(network: NetworkConfig, params) -> tuple[int, int]:
    """``(F, A)`` of stacked ``params`` of ``network`` (leaves ``[K, ...]``).

    ``A`` is the last axis of the actor's output bias; ``F`` is found by
    building the parameters for ``F = 1`` and reading the input axis of the
    kernels whose shapes differ (the first layer's; a GRU without embedding
    layers has three).
    """
    if isinstance(network, EquivariantNetwork):  # the group fixes both
        return network.group.num_features, network.group.num_actions
    got = _specs(params)
    bias = [s for n, (s, _) in got.items() if "'actor_out'" in n and n.endswith("['bias']")]
    if len(bias) != 1 or len(bias[0]) < 2:
        raise bad_value(
            "params",
            sorted(got)[:3],
            f"a stack of {network.kind} policy parameters with leaves [K, ...] "
            "(one 'actor_out' bias [K, A])",
        )
    if len(bias[0]) != 2:
        return 1, int(bias[0][-1])  # not [K, A]: reported by the caller
    a = int(bias[0][-1])
    probe = _specs(_template(network, 1, a, int(bias[0][0])))
    diff = [n for n in probe if n in got and probe[n][0] != got[n][0]]
    sizes = {got[n][0][-2] for n in diff if len(got[n][0]) == 3}
    if len(sizes) == 1:
        return int(sizes.pop()), a
    return 1, a  # F = 1, or params that do not match (reported by the caller)


def _check_params(network: NetworkConfig, params, f: int, a: int, where: str) -> int:
    """``K`` if ``params`` are a stack of ``network``'s params for ``(F, A)``."""
    got = _specs(params)
    first = next(iter(got.values()), ((), ""))[0]
    k = int(first[0]) if first else 0
    want = _specs(_template(network, f, a, max(k, 1)))
    if k < 1 or got != want:
        missing = [n for n in want if n not in got]
        extra = [n for n in got if n not in want]
        wrong = [f"{n}: {got[n]} != {want[n]}" for n in want if n in got and got[n] != want[n]]
        detail = "; ".join(
            p
            for p in (
                f"missing {missing[:2]}" if missing else "",
                f"unexpected {extra[:2]}" if extra else "",
                f"leaf {wrong[0]} (shape, dtype)" if wrong else "",
            )
            if p
        )
        raise ValueError(
            f"{where}: the parameters are not a stack [K, ...] of {network} parameters "
            f"for F={f} observation features and A={a} actions ({detail}); IPPO's "
            "shared parameters have a leading axis of 1 to drop"
        )
    return k


# ----------------------------------------------------------------------------
# Save and load


def save_agents(
    path: str | os.PathLike,
    network: NetworkConfig,
    params: Any,
    metadata: Mapping | None = None,
    *,
    names: Sequence[str] | None = None,
    num_features: int | None = None,
    num_actions: int | None = None,
) -> Path:
    """Write ``K`` agents to one safetensors file, atomically, without pickle.

    Args:
        path: the file to write; a folder (existing, or a path without a
            ``.safetensors`` suffix) gets :data:`AGENTS_FILE` inside it.
        network: the agents' network config.
        params: stacked parameters of :func:`make_policy`, leaves ``[K, ...]``.
        metadata: JSON-serialisable dict stored with the agents (method, game,
            seeds, training config ...).
        names: ``K`` agent names (default ``"0" .. "K-1"``).
        num_features: ``F``, the flattened observation size (default: read
            from the first layer's kernel).
        num_actions: ``A`` (default: read from the actor's output layer).

    Returns:
        The path written.

    Raises:
        ValueError: if ``params`` are not a stack of ``network``'s parameters,
            ``names`` has the wrong length, or ``metadata`` is not JSON.
    """
    if not isinstance(network, NetworkConfig):
        raise bad_value("network", network, "a NetworkConfig")
    if network.continuous:
        raise bad_value("network.continuous", True, "False (ZSC agents act in discrete actions)")
    f_guess, a_guess = _infer_sizes(network, params)
    f = f_guess if num_features is None else check_positive_int("num_features", num_features)
    a = a_guess if num_actions is None else check_positive_int("num_actions", num_actions)
    k = _check_params(network, params, f, a, "save_agents")
    if names is None:
        names = [str(i) for i in range(k)]
    names = list(names)
    if len(names) != k or not all(isinstance(n, str) for n in names):
        raise bad_value("names", names, f"{k} strings, one per agent")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise bad_value("metadata", metadata, "a JSON-serialisable dict")
    meta = {
        "format": FORMAT,
        "network": network_to_json(network),
        "num_features": f,
        "num_actions": a,
        "num_agents": k,
        "names": names,
        "metadata": dict(metadata or {}),
    }
    path = _file(path)
    return save_checkpoint(path, params, 0, meta)


def _file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.is_dir() or p.suffix != ".safetensors":
        return p / AGENTS_FILE
    return p


def _read_one(path: Path):
    info = read_checkpoint_info(path)
    meta = info.meta
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"{str(path)!r} is a detente checkpoint but not an agents file "
            f"(format {meta.get('format') if isinstance(meta, dict) else None!r}, "
            f"expected {FORMAT!r})"
        )
    try:
        network = network_from_json(meta["network"])
    except ValueError as e:
        raise ValueError(f"agents file {str(path)!r}: bad network config: {e}") from None
    return meta, network


def load_agents(*paths: str | os.PathLike) -> AgentSet:
    """Read agents saved by :func:`save_agents` and stack them in one set.

    Args:
        *paths: files, or folders holding :data:`AGENTS_FILE`; at least one.
            Their agents are concatenated in the order given.

    Returns:
        An :class:`AgentSet`. Each agent is named ``"{label}/{name}"``, the
        label being the folder's name when a folder was given, else the
        file's stem (a label that repeats gets ``#2``, ``#3`` ...).

    Raises:
        ValueError: if a path is missing or not an agents file, or two files'
            network configs (or observation sizes or action counts) differ:
            the message names the file and both configs.
    """
    if not paths:
        raise bad_value("paths", paths, "at least one agents file or folder")
    files, labels = [], []
    for p in paths:
        p = Path(p)
        f = p / AGENTS_FILE if p.is_dir() else p
        if not f.is_file():
            raise bad_value("path", str(p), f"an agents file or a folder holding {AGENTS_FILE}")
        label = p.name if p.is_dir() else p.stem
        base, n = label, 2
        while label in labels:
            label, n = f"{base}#{n}", n + 1
        files.append(f)
        labels.append(label)

    first_meta, network = _read_one(files[0])
    f0, a0 = int(first_meta["num_features"]), int(first_meta["num_actions"])
    stacks, names, metas, source = [], [], [], []
    for r, (path, label) in enumerate(zip(files, labels, strict=True)):
        meta, net = _read_one(path)
        f, a = int(meta["num_features"]), int(meta["num_actions"])
        if (net, f, a) != (network, f0, a0):
            raise ValueError(
                f"agents file {str(path)!r} cannot be mixed with {str(files[0])!r}: its "
                f"network is {net} for F={f} features and A={a} actions, the first file's "
                f"is {network} for F={f0} and A={a0}"
            )
        k = int(meta["num_agents"])
        params, _, _ = load_checkpoint(path, _template(network, f, a, k))
        stacks.append(params)
        names += [f"{label}/{n}" for n in meta["names"]]
        metas.append(meta["metadata"])
        source += [r] * k
    params = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *stacks)
    return AgentSet(
        network=network,
        params=params,
        names=names,
        metadata=metas,
        paths=[str(f) for f in files],
        source=np.asarray(source, np.int32),
        num_features=f0,
        num_actions=a0,
    )
