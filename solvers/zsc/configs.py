"""Default IPPO budgets of the zero-shot-coordination trainers, per game and method.

One place for the settings that the CLI (``detente zsc train``), the paper
figures and the docs use, so they never drift apart. Every entry is a
self-play :class:`~detente.solvers.rl.ippo.IPPOConfig` (``share_params=True``)
sized for the 2-core CPU this project is developed on; scale ``num_envs`` and
``num_updates`` up on a GPU.

Other-Play in the lever game needs exploration. With one policy ``p`` in both
seats its objective is ``J(p) = m^2 / 9 + 0.9 p_9^2`` (``m`` the mass on the
nine 1.0-levers; :func:`~detente.games.coordination.other_play_value`), which
has a second local maximum at ``m = 1`` (``J = 1/9``) whose basin
(``m > 0.89``) contains the uniform policy: plain policy gradient from a
near-uniform start drifts to it (exact gradient ascent from near-uniform
ended at 1/9 in 20 of 20 runs). The Other-Play paper's own lever-game
notebook optimises a joint-action distribution, where the objective is linear
and has no such trap. Here a large entropy bonus and small batches keep the
decentralised policy exploring until it leaves that basin, and the annealed
step size keeps it at the 0.9 lever (176 of 177 seeds; without annealing 3-6 %
of seeds stay stuck); see ``tests/test_zsc.py`` and
``paper_figures/other_play_lever.py``.
"""

from __future__ import annotations

from detente._checks import bad_value
from detente.solvers.rl.ippo import IPPOConfig
from detente.solvers.rl.policy import NetworkConfig
from detente.solvers.rl.ppo import PPOConfig

__all__ = ["ZSC_CONFIGS", "zsc_config"]

_LEVER_NET = NetworkConfig(hidden_sizes=(16,))
_HANABI = IPPOConfig(
    num_envs=64,
    num_steps=32,
    num_updates=5000,
    share_params=True,
    turn_based=True,
    network=NetworkConfig(hidden_sizes=(64, 64), activation="relu"),
    ppo=PPOConfig(lr=1e-3, ent_coef=0.01, minibatches=4, epochs=1),
)
_GRU_NET = NetworkConfig(kind="gru", gru_size=16, embed_sizes=(16,), hidden_sizes=(16,))

ZSC_CONFIGS: dict[tuple[str, str], IPPOConfig] = {
    ("lever", "selfplay"): IPPOConfig(
        num_envs=32,
        num_steps=1,
        num_updates=150,
        share_params=True,
        network=_LEVER_NET,
        ppo=PPOConfig(lr=1e-2, ent_coef=0.0, minibatches=1),
    ),
    ("lever", "other-play"): IPPOConfig(
        num_envs=16,
        num_steps=1,
        num_updates=2000,
        share_params=True,
        network=_LEVER_NET,
        ppo=PPOConfig(lr=2e-2, ent_coef=0.25, minibatches=1, anneal_lr=True),
    ),
    ("iterated-lever", "selfplay"): IPPOConfig(
        num_envs=16,
        num_steps=10,
        num_updates=150,
        share_params=True,
        network=_GRU_NET,
        ppo=PPOConfig(lr=1e-2, ent_coef=0.0, minibatches=2),
    ),
    ("iterated-lever", "other-play"): IPPOConfig(
        num_envs=16,
        num_steps=10,
        num_updates=600,
        share_params=True,
        network=_GRU_NET,
        ppo=PPOConfig(lr=1e-2, ent_coef=0.1, minibatches=2),
    ),
    # 10 minutes here (load 2.6-6.7): 4,360 updates (8.9 M steps), self-play score 4.68 (random
    # 0.0); IPPO at 0.53x the raw env's steps/s at 1,024 games (benchmarks/hanabi_ippo.py).
    # turn_based x 1 epoch learnt as fast per CPU second as every row x 4 epochs (the old
    # setting: 4.8 after 10 minutes at load 1.7, 0.27x the raw env)
    ("hanabi", "selfplay"): _HANABI,
    ("hanabi", "other-play"): _HANABI,
}


def zsc_config(game: str, method: str) -> IPPOConfig:
    """The default config of ``method`` (``"selfplay"``, ``"other-play"``) on ``game``.

    Raises:
        ValueError: for a pair without a default.
    """
    key = (game, method)
    if key not in ZSC_CONFIGS:
        allowed = ", ".join(f"{g}/{m}" for g, m in ZSC_CONFIGS)
        raise bad_value("game/method", f"{game}/{method}", "one of " + allowed)
    return ZSC_CONFIGS[key]
