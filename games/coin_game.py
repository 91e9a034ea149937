"""The Coin Game as a functional two-agent environment.

Two agents, red (agent 0) and blue (agent 1), walk on a 3x3 grid whose edges
wrap around; one red and one blue coin lie on the grid. An agent that steps on
a coin picks it up: its own coin pays it ``payoffs[i, 0]``, the other's coin
pays it ``payoffs[i, 1]`` and costs the coin's owner ``payoffs[owner, 2]``
(default ``+1``, ``+1``, ``-2``: picking up every coin greedily is a social
dilemma). A picked-up coin reappears on a uniformly random cell, which may be
under an agent or the other coin; it is only picked up when an agent steps
(or stays) on it at a later step.

The dynamics match JaxMARL's ``coin_game`` (``jaxmarl.environments.coin_game``,
v0.2.0) step for step, with the same keys (``tests/test_coin_game.py`` checks
that on 1,000 random action sequences):

* actions ``0..4`` move by ``(0, +1)``, ``(0, -1)``, ``(+1, 0)``, ``(-1, 0)``,
  ``(0, 0)`` in ``(row, col)`` (JaxMARL's right, left, up, down, stay);
* positions are ``(row, col)`` in ``{0, 1, 2}``; pickups compare the agents'
  new positions with the coins' old positions; both agents may pick up the
  same coin, and one agent both coins when they share a cell;
* observations are ``[3, 3, 4]`` one-hot grids with channels
  ``[own position, other agent, own coin, other coin]`` (so each agent sees
  itself as red), flattened to ``[36]`` unless ``grid_obs``; with
  ``egocentric`` the grid is shifted so that the viewer sits at ``(1, 1)``;
* ``reset(key)`` draws the four positions independently and uniformly
  (they may coincide); ``step(key, ...)`` draws the respawn cells. With
  ``rng="jaxmarl"`` these are JaxMARL's own draws,
  ``randint(split(key)[1], (4, 2), 0, 3)`` and
  ``randint(split(key)[1], (2, 2), 0, 3)``, so that the same keys give the
  same games; the default ``rng="fast"`` draws the same distributions from
  far fewer random bits (two cells per 32-bit word: 3 threefry blocks for a
  reset and a respawn together instead of 32; about 2.5x the steps per
  second under ``auto_reset``, see ``benchmarks/coin_game.py``), other games
  for the same keys;
* an episode is ``episode_length`` steps (JaxMARL's ``num_inner_steps``,
  default 10) and ends ``truncated`` (never ``terminated``). JaxMARL pays
  nothing on the step that ends an episode (the move is made, then the game
  restarts before it is scored; its pickups still count in JaxMARL's
  statistics): that is the default here too, so an episode has
  ``episode_length - 1`` scored moves. ``reward_final_step=True`` scores the
  last move as well.

JaxMARL's outer (meta) episode of ``num_outer_steps`` inner episodes belongs
to the meta-learners (M-FOS, Shaper), which count episodes themselves; here
an episode is JaxMARL's inner episode, and :func:`detente.env.auto_reset`
starts the next one.

References:
    Lerer & Peysakhovich 2017, "Maintaining cooperation in complex social
    dilemmas using deep reinforcement learning" (the Coin Game),
    https://arxiv.org/abs/1707.01068; Foerster et al. 2018, "Learning with
    Opponent-Learning Awareness" (LOLA), https://arxiv.org/abs/1709.04326;
    Lu et al. 2022, "Model-Free Opponent Shaping" (M-FOS, the 3x3 version
    with ``[[1, 1, -2], [1, 1, -2]]``), https://arxiv.org/abs/2205.01447;
    Rutherford et al. 2024, "JaxMARL", https://arxiv.org/abs/2311.10090.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from detente._checks import bad_value, check_choice, check_positive_int
from detente.env import TimeStep

GRID = 3  # the grid is 3x3 (M-FOS, JaxMARL); positions are (row, col) in {0, 1, 2}
NUM_AGENTS = 2
NUM_ACTIONS = 5
ACTION_NAMES = ("right", "left", "up", "down", "stay")  # JaxMARL's names
# [5, 2] (d_row, d_col) of each action, in JaxMARL's order.
MOVES = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]], dtype=np.int32)
# payoffs[i] = [own coin, other's coin, own coin taken by the other]
DEFAULT_PAYOFFS = ((1.0, 1.0, -2.0), (1.0, 1.0, -2.0))
RNGS = ("fast", "jaxmarl")


@struct.dataclass
class CoinGameParams:
    """Payoffs of the Coin Game (a pytree: vmap over a batch of them).

    Build it with :meth:`CoinGameParams.create` (validates) or
    :meth:`CoinGameParams.from_jaxmarl`; the plain constructor does not check.

    Attributes:
        payoffs: ``[2, 3]`` float; row ``i`` is agent ``i``'s reward for
            picking up its own coin, for picking up the other's coin, and
            for the other agent picking up agent ``i``'s coin. Default
            ``[[1, 1, -2], [1, 1, -2]]`` (M-FOS, JaxMARL).
    """

    payoffs: chex.Array  # [2, 3]

    @classmethod
    def create(cls, payoffs=DEFAULT_PAYOFFS, *, dtype=jnp.float32) -> CoinGameParams:
        """Validate ``payoffs`` and build the params.

        Args:
            payoffs: ``[2, 3]`` real, finite: per agent ``[own coin, other's
                coin, own coin taken]``; a ``[3]`` row is used for both agents.
            dtype: float dtype of the stored payoffs.

        Returns:
            The params.

        Raises:
            ValueError: naming the field, the value and what is allowed.

        Examples:
            >>> CoinGameParams.create([1.0, 1.0, -2.0]).payoffs.shape
            (2, 3)
        """
        try:
            arr = np.asarray(payoffs, dtype=np.float64)
        except (TypeError, ValueError):
            raise bad_value("payoffs", payoffs, "a real array of shape [2, 3] or [3]") from None
        if arr.shape == (3,):
            arr = np.stack([arr, arr])
        if arr.shape != (NUM_AGENTS, 3):
            raise bad_value(
                "payoffs.shape",
                arr.shape,
                "[2, 3] (per agent: own coin, other's coin, own coin taken) or [3]",
            )
        if not np.all(np.isfinite(arr)):
            raise bad_value("payoffs", arr.tolist(), "finite numbers")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise bad_value("dtype", dtype, "a floating dtype such as float32")
        return cls(payoffs=jnp.asarray(arr, dtype=dtype))

    @classmethod
    def from_jaxmarl(cls, payoff_matrix, *, dtype=jnp.float32) -> CoinGameParams:
        """Params from JaxMARL's ``payoff_matrix``.

        JaxMARL's rows are by coin colour, not by ownership: red's row is
        ``[red coin, blue coin, penalty]`` and blue's is also ``[red coin,
        blue coin, penalty]``, so blue's first two entries swap here.

        Args:
            payoff_matrix: ``[2, 3]`` as given to JaxMARL's ``CoinGame``.

        Returns:
            The params.
        """
        arr = np.asarray(payoff_matrix, dtype=np.float64)
        if arr.shape != (NUM_AGENTS, 3):
            raise bad_value("payoff_matrix.shape", arr.shape, "[2, 3] (JaxMARL's layout)")
        ours = arr.copy()
        ours[1, :2] = arr[1, 1::-1]  # blue: [blue coin (own), red coin (other)]
        return cls.create(ours, dtype=dtype)


class CoinGameState(NamedTuple):
    """State of one Coin Game.

    Attributes:
        agent_pos: ``[2, 2]`` int32, ``(row, col)`` of red (0) and blue (1).
        coin_pos: ``[2, 2]`` int32, ``(row, col)`` of the red and blue coin.
        t: ``[]`` int32, steps taken in the episode.
    """

    agent_pos: chex.Array  # [2, 2]
    coin_pos: chex.Array  # [2, 2]
    t: chex.Array  # []


@dataclasses.dataclass(frozen=True)
class CoinGame:
    """The 3x3 Coin Game (see the module docstring for the rules).

    Args:
        episode_length: steps per episode (JaxMARL's ``num_inner_steps``).
        egocentric: centre each agent's view on itself (JaxMARL's ``egocentric``).
        grid_obs: observations ``[2, 3, 3, 4]`` instead of ``[2, 36]``
            (JaxMARL's ``cnn``).
        reward_final_step: score the move of the step that ends an episode;
            ``False`` (JaxMARL) pays 0 on that step.
        rng: ``"fast"`` (default) or ``"jaxmarl"`` (JaxMARL's random draws
            for a given key, for step-for-step comparisons; about 2.5x
            slower). ``"fast"`` draws the same distributions from fewer
            random bits; each pair of cells is off uniform by at most
            ``81 / 2**32``.

    ``info`` of every :class:`~detente.env.TimeStep` holds ``own_coin`` and
    ``other_coin``, ``[2]`` int32 each: the coins agent ``i`` picked up in the
    transition, its own and the other's (0 or 1 each; 0 after ``reset``). They
    count every pickup, the final step's included, as JaxMARL's statistics do.

    Examples:
        >>> env = CoinGame()
        >>> params = env.default_params()
        >>> ts = env.reset(jax.random.key(0), params)
        >>> ts = env.step(jax.random.key(1), ts.state, jnp.array([0, 4]), params)
        >>> ts.obs.shape, ts.rewards.shape
        ((2, 36), (2,))
    """

    episode_length: int = 10
    egocentric: bool = False
    grid_obs: bool = False
    reward_final_step: bool = False
    rng: str = "fast"

    num_agents: int = dataclasses.field(default=NUM_AGENTS, init=False)
    num_actions: int = dataclasses.field(default=NUM_ACTIONS, init=False)

    def __post_init__(self):
        check_positive_int("episode_length", self.episode_length)
        check_choice("rng", self.rng, RNGS)
        for name in ("egocentric", "grid_obs", "reward_final_step"):
            if not isinstance(getattr(self, name), bool):
                raise bad_value(name, getattr(self, name), "True or False")

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return (GRID, GRID, 4) if self.grid_obs else (GRID * GRID * 4,)

    def default_params(self) -> CoinGameParams:
        """``[[1, 1, -2], [1, 1, -2]]``: the payoffs of M-FOS and JaxMARL."""
        return CoinGameParams.create(DEFAULT_PAYOFFS)

    # ------------------------------------------------------------------

    def _cells(self, key: chex.PRNGKey, n: int) -> chex.Array:
        """``[n, 2]`` int32 independent uniform cells ``(row, col)``.

        ``rng="jaxmarl"``: ``randint(split(key)[1], (n, 2), 0, 3)``, JaxMARL's
        draw (18 threefry blocks for ``n = 4``). ``rng="fast"``: one 32-bit
        word per two cells, ``cells = (u // 9**j) % 9`` (1 block per two
        cells; each pair of cells is off uniform by at most ``81 / 2**32``).
        """
        if self.rng == "jaxmarl":
            _, k = jax.random.split(key)
            return jax.random.randint(k, (n, 2), 0, GRID, dtype=jnp.int32)
        words = jax.random.bits(key, ((n + 1) // 2,), jnp.uint32)  # [ceil(n / 2)]
        nine = jnp.uint32(GRID * GRID)
        cell = jnp.stack([words % nine, (words // nine) % nine], axis=-1).reshape(-1)[:n]
        cell = cell.astype(jnp.int32)
        return jnp.stack([cell // GRID, cell % GRID], axis=-1)

    def observe(self, state: CoinGameState) -> chex.Array:
        """``[2, *observation_shape]`` int8 observations of ``state``."""
        agent, coin = state.agent_pos, state.coin_pos
        # [viewer, channel, 2]: own position, other agent, own coin, other coin
        items = jnp.stack([agent, agent[::-1], coin, coin[::-1]], axis=1)
        if self.egocentric:
            items = (items + (1 - agent)[:, None, :]) % GRID
        cell = items[..., 0] * GRID + items[..., 1]  # [2, 4]
        onehot = cell[:, None, :] == jnp.arange(GRID * GRID, dtype=cell.dtype)[None, :, None]
        return onehot.astype(jnp.int8).reshape((NUM_AGENTS, *self.observation_shape))

    def _timestep(self, state, rewards, truncated, own, other) -> TimeStep:
        return TimeStep(
            obs=self.observe(state),
            state=state,
            rewards=rewards,
            terminated=jnp.zeros((), bool),
            truncated=truncated,
            action_mask=jnp.ones((NUM_AGENTS, NUM_ACTIONS), bool),
            info={"own_coin": own, "other_coin": other},
        )

    def reset(self, key: chex.PRNGKey, params: CoinGameParams) -> TimeStep:
        """Start an episode: agents and coins on independent uniform cells.

        Args:
            key: PRNG key (with ``rng="jaxmarl"``, JaxMARL's draw from it).
            params: the payoffs (unused here; kept for the common signature).

        Returns:
            A :class:`~detente.env.TimeStep` with zero rewards and counts.
        """
        _check_params(params)
        pos = self._cells(key, 4)  # [4, 2] red, blue, red coin, blue coin
        state = CoinGameState(agent_pos=pos[:2], coin_pos=pos[2:], t=jnp.zeros((), jnp.int32))
        zeros = jnp.zeros(NUM_AGENTS, jnp.int32)
        return self._timestep(
            state, jnp.zeros(NUM_AGENTS, params.payoffs.dtype), jnp.zeros((), bool), zeros, zeros
        )

    def step(
        self,
        key: chex.PRNGKey,
        state: CoinGameState,
        actions: chex.Array,
        params: CoinGameParams,
    ) -> TimeStep:
        """Move both agents, score pickups, respawn the picked-up coins.

        Args:
            key: PRNG key for the respawn cells.
            state: the current state.
            actions: ``[2]`` int in ``0..4`` (right, left, up, down, stay).
            params: the payoffs.

        Returns:
            The :class:`~detente.env.TimeStep` after the move; ``truncated``
            when ``episode_length`` steps have been taken. No reset is done
            here: wrap ``step`` with :func:`detente.env.auto_reset`.
        """
        _check_params(params)
        actions = jnp.asarray(actions)
        if actions.shape != (NUM_AGENTS,):
            raise bad_value("actions.shape", actions.shape, "(2,): one action per agent")
        pos = (state.agent_pos + jnp.asarray(MOVES)[actions]) % GRID  # [2, 2]
        # on[i, c]: agent i's new cell holds coin c (coin positions before the move)
        on = jnp.all(pos[:, None, :] == state.coin_pos[None, :, :], axis=-1)  # [2, 2]
        own = jnp.diagonal(on)  # [2]
        other = on[jnp.array([0, 1]), jnp.array([1, 0])]  # [2] agent i took the other's coin
        taken = other[::-1]  # [2] agent i's coin was taken by the other
        p = params.payoffs
        zero = jnp.zeros((), p.dtype)
        rewards = (
            jnp.where(own, p[:, 0], zero)
            + jnp.where(other, p[:, 1], zero)
            + jnp.where(taken, p[:, 2], zero)
        )
        t = state.t + 1
        truncated = t >= self.episode_length
        if not self.reward_final_step:
            rewards = jnp.where(truncated, zero, rewards)
        fresh = self._cells(key, 2)  # [2, 2] respawn cells of the two coins
        picked = jnp.any(on, axis=0)  # [2] coin c was picked up
        coin_pos = jnp.where(picked[:, None], fresh, state.coin_pos)
        new = CoinGameState(agent_pos=pos, coin_pos=coin_pos, t=t)
        return self._timestep(
            new, rewards, truncated, own.astype(jnp.int32), other.astype(jnp.int32)
        )


def _check_params(params) -> None:
    """Shape check that also works on traced params (shapes are static)."""
    payoffs = getattr(params, "payoffs", None)
    if payoffs is None:
        raise bad_value("params", params, "CoinGameParams (CoinGameParams.create(...))")
    if jnp.shape(payoffs) != (NUM_AGENTS, 3):
        raise bad_value(
            "params.payoffs.shape",
            jnp.shape(payoffs),
            "[2, 3] per game (per agent: own coin, other's coin, own coin taken)",
        )
    if not jnp.issubdtype(jnp.result_type(payoffs), jnp.floating):
        raise bad_value("params.payoffs.dtype", jnp.result_type(payoffs), "a floating dtype")
