"""Two-player Hanabi in detente's functional env API, over JaxMARL's game, with its colour symmetries.

:class:`HanabiGame` plays the standard two-player game (5 colours, ranks
1-5 with ``3, 2, 2, 2, 1`` copies, hands of 5, 8 information and 3 life
tokens) with the dynamics of JaxMARL's ``hanabi`` (``jaxmarl==0.2``:
``HanabiGame.reset_game`` and ``step_game`` are called as they are) and
JaxMARL's observations and legal moves, recomputed here from the state
(``tests/test_hanabi.py`` checks observations, masks, rewards and dones
step for step against ``jaxmarl.environments.hanabi.HanabiEnv``):

* ``observation_shape = (658,)``, float32, the viewer's hanabi-learning-
  environment style encoding, laid out as in :data:`OBS_LAYOUT`;
* ``num_actions = 21``: discard card ``0..4`` (0-4), play card ``0..4``
  (5-9), hint colour R, Y, G, W, B to the partner (10-14), hint rank 1-5
  (15-19) and the no-op :data:`NOOP` (20);
* turns alternate, player 0 first. ``action_mask [2, 21]`` is the acting
  player's legal moves in its row (never the no-op) and **only the no-op**
  in the waiting player's row, so both rows are valid distributions (a
  policy that samples from its masked row needs no special case). ``step``
  reads the acting player's action only; the waiting player's action is
  ignored, whatever it is (JaxMARL ignores it too);
* the reward, shared ``[2]``, is the change in the fireworks, with
  JaxMARL's bomb-0 rule: losing the third life pays minus the fireworks so
  far, so an episode's return is the final score, 0 after a bomb-out;
* ``terminated`` when the fireworks are complete, the lives are gone or the
  final round after the last draw is over (JaxMARL's ``done``);
  ``truncated`` never (a game lasts at most about a hundred turns).

``info`` holds ``score`` (``[]`` int32, the score so far, bomb-0),
``fireworks`` (``[]`` int32, cards on the fireworks, not zeroed by a
bomb-out) and ``illegal_action`` (``[]`` bool, the acting player's action
was not legal: JaxMARL then does something undefined; masked policies
never trigger it). The player to act is the row of ``action_mask`` that
allows more than the no-op (:meth:`HanabiGame.current_player`).

The state is JaxMARL's game state plus the last move's record (action,
card played or discarded, whether it scored or gained an information
token), which JaxMARL's observation reads from the previous state; so
``observation(state)`` is a function of the state alone, and the colour
symmetries act on it through :meth:`HanabiGame.permute_state`.

**Colour symmetries.** Relabelling the colours by a permutation ``sigma``
(colour ``c`` becomes ``sigma[c]``) maps games to games (Hu et al. 2020):
the 120 permutations form :meth:`HanabiGame.symmetry_group`, a
:class:`~detente.games.symmetry.Symmetry` stack whose element ``i`` is the
``i``-th of ``itertools.permutations(range(5))`` (element 0 the identity),
with ``action_perm`` sending colour hint ``10 + c`` to ``10 + sigma[c]``
(other actions fixed), ``state_perm = argsort(sigma)`` (the gather map of
:mod:`detente.games.symmetry`: colour slot ``c`` of ``g.s`` holds colour
``state_perm[c]`` of ``s``), and ``obs_perm`` the same gather along every
colour axis of :data:`OBS_LAYOUT` (built by :func:`colour_obs_perm`),
every other feature fixed.

JaxMARL is an optional dependency (``pip install jaxmarl>=0.2``), imported
when the first :class:`HanabiGame` is built.

References:
    Bard et al. 2020, "The Hanabi Challenge: A New Frontier for AI
    Research", https://arxiv.org/abs/1902.00506 (the game and its
    observation encoding); Hu et al. 2020, "Other-Play for Zero-Shot
    Coordination", https://arxiv.org/abs/2003.02979 (colour permutations
    as Dec-POMDP symmetries); Rutherford et al. 2024, "JaxMARL",
    https://arxiv.org/abs/2311.10090 (the JAX game this adapts).

Examples:
    >>> env = HanabiGame()
    >>> params = env.default_params()
    >>> ts = env.reset(jax.random.key(0), params)
    >>> ts.obs.shape, ts.action_mask.shape, ts.action_mask[1].nonzero()[0].tolist()
    ((2, 658), (2, 21), [20])
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Any, ClassVar, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from detente._checks import bad_value, check_choice, check_positive_int
from detente.env import TimeStep
from detente.games.symmetry import SUBGROUPS, Symmetry, generated_group

__all__ = [
    "ACTION_NAMES",
    "COLOURS",
    "NOOP",
    "OBS_LAYOUT",
    "HanabiGame",
    "HanabiParams",
    "HanabiState",
    "RandomPlayScores",
    "colour_action_perm",
    "colour_obs_perm",
    "colour_permutations",
    "colour_subgroup",
    "random_legal_scores",
]

NUM_AGENTS = 2
NUM_COLOURS = 5
NUM_RANKS = 5
HAND_SIZE = 5
CARDS_OF_RANK = (3, 2, 2, 2, 1)
DECK_SIZE = NUM_COLOURS * sum(CARDS_OF_RANK)  # 50
MAX_INFO_TOKENS = 8
MAX_LIFE_TOKENS = 3
COLOURS = ("R", "Y", "G", "W", "B")  # JaxMARL's colour names, in its order

DISCARD, PLAY, HINT_COLOUR, HINT_RANK = 0, 5, 10, 15  # first action of each kind
NOOP = 20
NUM_ACTIONS = 21
ACTION_NAMES = (
    tuple(f"discard {i}" for i in range(HAND_SIZE))
    + tuple(f"play {i}" for i in range(HAND_SIZE))
    + tuple(f"hint {c}" for c in COLOURS)
    + tuple(f"hint {r + 1}" for r in range(NUM_RANKS))
    + ("noop",)
)

# The 658 features of one viewer: (name, start, shape, colour axis or None).
# "rel" axes are relative players (0 = the viewer, 1 = the partner).
OBS_LAYOUT = (
    ("partner_hand", 0, (HAND_SIZE, NUM_COLOURS, NUM_RANKS), 1),  # card, colour, rank
    ("missing_card", 125, (NUM_AGENTS,), None),  # rel: that hand has an empty slot
    ("deck", 127, (DECK_SIZE - NUM_AGENTS * HAND_SIZE,), None),  # thermometer of cards left
    ("fireworks", 167, (NUM_COLOURS, NUM_RANKS), 0),  # one-hot top rank per colour
    ("info_tokens", 192, (MAX_INFO_TOKENS,), None),  # thermometer
    ("life_tokens", 200, (MAX_LIFE_TOKENS,), None),  # thermometer
    ("discards", 203, (NUM_COLOURS, sum(CARDS_OF_RANK)), 0),  # per rank: thermometer of copies
    ("last_actor", 253, (NUM_AGENTS,), None),  # rel one-hot; the last-move block is 0 at turn 0
    ("last_move_type", 255, (4,), None),  # play, discard, colour hint, rank hint
    ("last_target", 259, (NUM_AGENTS,), None),  # rel one-hot, hints only
    ("last_colour_hint", 261, (NUM_COLOURS,), 0),
    ("last_rank_hint", 266, (NUM_RANKS,), None),
    ("last_hint_outcome", 271, (HAND_SIZE,), None),  # target's cards the hint touched
    ("last_position", 276, (HAND_SIZE,), None),  # slot played or discarded
    ("last_card", 281, (NUM_COLOURS, NUM_RANKS), 0),  # the card played or discarded
    ("last_scored", 306, (1,), None),
    ("last_added_info", 307, (1,), None),  # a play that completed a colour gained a token
    # per rel player and card: 25 normalised beliefs (colour, rank), colour hints, rank hints
    ("belief", 308, (NUM_AGENTS, HAND_SIZE, 35), None),
)
OBS_SIZE = 658
_BELIEF = OBS_LAYOUT[-1][1]
# discards: slot k of a colour's 10 is copy _DISCARD_COPY[k] of rank _DISCARD_RANK[k]
_DISCARD_RANK = np.repeat(np.arange(NUM_RANKS), CARDS_OF_RANK)
_DISCARD_COPY = np.concatenate([np.arange(n) for n in CARDS_OF_RANK])
# viewer i sees the players in the order _REL[i] = (i, partner)
_REL = np.array([[0, 1], [1, 0]], dtype=np.int32)


# ----------------------------------------------------------------------------
# Colour permutations as index maps


def colour_permutations() -> np.ndarray:
    """``[120, 5]`` int32: every colour permutation ``sigma`` (forward: ``c -> sigma[c]``).

    Row ``i`` is the ``i``-th of ``itertools.permutations(range(5))``; row 0
    is the identity.
    """
    return np.array(list(itertools.permutations(range(NUM_COLOURS))), dtype=np.int32)


def colour_action_perm(sigma) -> np.ndarray:
    """``[21]`` int32 forward action map of the colour relabelling ``sigma``.

    Colour hint ``10 + c`` goes to ``10 + sigma[c]``; discards, plays, rank
    hints and the no-op are fixed.
    """
    sigma = _check_perm("sigma", sigma)
    perm = np.arange(NUM_ACTIONS, dtype=np.int32)
    perm[HINT_COLOUR : HINT_COLOUR + NUM_COLOURS] = HINT_COLOUR + sigma
    return perm


def colour_obs_perm(state_perm) -> np.ndarray:
    """``[658]`` int32 gather map of the observation under a colour gather map.

    With ``state_perm = argsort(sigma)``, feature ``i`` of the relabelled
    observation is feature ``obs_perm[i]`` of the original: along every
    colour axis of :data:`OBS_LAYOUT` (the partner's cards, fireworks,
    discards, the last colour hint, the last card, and the 25 beliefs and 5
    colour hints of each card in the belief block) slot ``c`` takes slot
    ``state_perm[c]``; every other feature stays.

    Args:
        state_perm: ``[5]`` a permutation of ``0..4`` (a gather map).

    Returns:
        ``obs_perm`` with ``(g.o)[i] = o[obs_perm[i]]``.
    """
    p = _check_perm("state_perm", state_perm)
    idx = np.arange(OBS_SIZE, dtype=np.int32)
    out = idx.copy()
    for _, start, shape, axis in OBS_LAYOUT:
        if axis is None:
            continue
        size = int(np.prod(shape))
        block = idx[start : start + size].reshape(shape)
        out[start : start + size] = np.take(block, p, axis=axis).ravel()
    # belief block: [rel, card, 35] = 25 beliefs [colour, rank], 5 colour hints, 5 rank hints
    block = idx[_BELIEF:].reshape(NUM_AGENTS, HAND_SIZE, 35)
    beliefs = block[..., :25].reshape(NUM_AGENTS, HAND_SIZE, NUM_COLOURS, NUM_RANKS)[:, :, p]
    hints = block[..., 25:30][..., p]
    permuted = np.concatenate(
        [beliefs.reshape(NUM_AGENTS, HAND_SIZE, 25), hints, block[..., 30:]], axis=-1
    )
    out[_BELIEF:] = permuted.ravel()
    return out


def _check_perm(field: str, p) -> np.ndarray:
    arr = np.asarray(p)
    if arr.shape != (NUM_COLOURS,) or not np.array_equal(np.sort(arr), np.arange(NUM_COLOURS)):
        raise bad_value(field, p, "a permutation of 0..4 (shape [5])")
    return arr.astype(np.int32)


# ----------------------------------------------------------------------------
# The environment


@struct.dataclass
class HanabiParams:
    """Params of :class:`HanabiGame`: none (every JaxMARL setting fixes shapes); an empty pytree."""


@struct.dataclass
class HanabiState:
    """State of one Hanabi game.

    Attributes:
        game: JaxMARL's ``hanabi_game.State`` (deck ``[50, 5, 5]``, hands
            ``[2, 5, 5, 5]``, fireworks ``[5, 5]``, discards, tokens,
            card knowledge ``[2, 5, 25]``, hints revealed, turn, score, ...).
        last_action: ``[]`` int32, the move that led here (:data:`NOOP`
            after ``reset``).
        last_card: ``[5, 5]`` float32, the card it played or discarded
            (zeros for a hint).
        last_scored: ``[]`` bool, it added a card to the fireworks.
        last_added_info: ``[]`` bool, it was a play that gained an
            information token.
    """

    game: Any
    last_action: chex.Array  # []
    last_card: chex.Array  # [C, R]
    last_scored: chex.Array  # []
    last_added_info: chex.Array  # []


@functools.lru_cache(maxsize=1)
def _jaxmarl_game():
    """JaxMARL's two-player game (one instance, so its jitted methods compile once)."""
    try:
        from jaxmarl.environments.hanabi.hanabi_game import HanabiGame as JaxMARLHanabiGame
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "detente.games.hanabi needs JaxMARL's Hanabi: pip install 'jaxmarl>=0.2'"
        ) from err
    return JaxMARLHanabiGame(
        num_agents=NUM_AGENTS,
        num_colors=NUM_COLOURS,
        num_ranks=NUM_RANKS,
        hand_size=HAND_SIZE,
        max_info_tokens=MAX_INFO_TOKENS,
        max_life_tokens=MAX_LIFE_TOKENS,
        num_cards_of_rank=np.array(CARDS_OF_RANK),
    )


@dataclasses.dataclass(frozen=True)
class HanabiGame:
    """Two-player Hanabi (see the module docstring for the rules and encoding).

    Static: two players, 5 colours and ranks, hands of 5, observations
    ``[658]``, 21 actions with the no-op last. ``params`` are empty
    (:class:`HanabiParams`).
    """

    num_agents: ClassVar[int] = NUM_AGENTS
    num_actions: ClassVar[int] = NUM_ACTIONS
    observation_shape: ClassVar[tuple[int, ...]] = (OBS_SIZE,)

    def __post_init__(self):
        _jaxmarl_game()  # fail early, with the install hint, if JaxMARL is missing

    def default_params(self) -> HanabiParams:
        """The (empty) params."""
        return HanabiParams()

    # ------------------------------------------------------------------ views

    @staticmethod
    def current_player(state: HanabiState) -> chex.Array:
        """``[]`` int32, the player to act."""
        return jnp.argmax(state.game.cur_player_idx).astype(jnp.int32)

    def legal_moves(self, state: HanabiState) -> chex.Array:
        """``[2, 21]`` bool: JaxMARL's legal moves (the waiting player: the no-op only)."""
        g = state.game
        p = self.current_player(state)
        present = jnp.any(g.player_hands > 0, axis=(-2, -1))  # [2, H] slot holds a card
        own = present[p]  # [H]
        partner = g.player_hands[1 - p]  # [H, C, R]
        tokens = jnp.sum(g.info_tokens)
        can_hint = tokens > 0
        acting = jnp.concatenate(
            [
                own & (tokens < MAX_INFO_TOKENS),  # discard
                own,  # play
                jnp.any(partner > 0, axis=(0, 2)) & can_hint,  # colours in the partner's hand
                jnp.any(partner > 0, axis=(0, 1)) & can_hint,  # ranks in the partner's hand
                jnp.zeros(1, bool),  # no-op
            ]
        )
        waiting = jnp.arange(NUM_ACTIONS) == NOOP
        return jnp.where((jnp.arange(NUM_AGENTS) == p)[:, None], acting[None], waiting[None])

    def observe(self, state: HanabiState) -> chex.Array:
        """``[2, 658]`` float32 observations of both players (:data:`OBS_LAYOUT`)."""
        g = state.game
        f32 = jnp.float32
        rel = jnp.asarray(_REL)
        hands = g.player_hands  # [2, H, C, R]
        partner_hand = hands[rel[:, 1]].reshape(NUM_AGENTS, -1)  # [2, 125]
        full = jnp.all(jnp.any(hands > 0, axis=(-2, -1)), axis=-1)  # [2] no empty slot
        missing = (~full)[rel].astype(f32)  # [2 viewers, 2 rel]

        # board, the same for both viewers
        deck = jnp.any(g.deck > 0, axis=(1, 2))[::-1][: DECK_SIZE - NUM_AGENTS * HAND_SIZE]
        height = jnp.sum(g.fireworks, axis=1, keepdims=True)  # [C, 1]
        top = g.fireworks * (jnp.arange(NUM_RANKS) == height - 1)  # one-hot top rank
        discarded = jnp.sum(g.discard_pile, axis=0)  # [C, R] copies discarded
        discards = jnp.asarray(_DISCARD_COPY) < discarded[:, _DISCARD_RANK]  # [C, 10]
        board = jnp.concatenate(
            [
                deck.astype(f32),
                top.ravel().astype(f32),
                g.info_tokens.astype(f32),
                g.life_tokens.astype(f32),
                discards.ravel().astype(f32),
            ]
        )

        # beliefs: card knowledge weighted by the copies not yet discarded or played
        counts = jnp.asarray(CARDS_OF_RANK, f32)[None, :] * jnp.ones((NUM_COLOURS, 1), f32)
        left = (counts - discarded - g.fireworks).ravel()  # [25]
        weighted = g.card_knowledge * left  # [2, H, 25]
        weighted = weighted / jnp.sum(weighted, axis=-1, keepdims=True)
        weighted = jnp.where(jnp.any(g.card_knowledge > 0, axis=-1, keepdims=True), weighted, 0.0)
        per_card = jnp.concatenate([weighted, g.colors_revealed, g.ranks_revealed], axis=-1)
        belief = per_card[rel].reshape(NUM_AGENTS, -1)  # [2, 350]

        last = self._last_move_features(state)  # [2, 55]
        return jnp.concatenate(
            [
                partner_hand.astype(f32),
                missing,
                jnp.broadcast_to(board, (NUM_AGENTS, board.shape[0])),
                last,
                belief.astype(f32),
            ],
            axis=-1,
        )

    def _last_move_features(self, state: HanabiState) -> chex.Array:
        """``[2, 55]`` float32, the last-move block of each viewer (zeros at turn 0)."""
        g = state.game
        f32 = jnp.float32
        a = state.last_action
        viewers = jnp.arange(NUM_AGENTS)
        actor = (self.current_player(state) + NUM_AGENTS - 1) % NUM_AGENTS
        target = (actor + 1) % NUM_AGENTS
        is_discard = a < PLAY
        is_play = (a >= PLAY) & (a < HINT_COLOUR)
        is_colour = (a >= HINT_COLOUR) & (a < HINT_RANK)
        is_rank = (a >= HINT_RANK) & (a < NOOP)
        is_hint = is_colour | is_rank

        actor_rel = jax.nn.one_hot((actor - viewers) % NUM_AGENTS, NUM_AGENTS)  # [2, 2]
        target_rel = jax.nn.one_hot((target - viewers) % NUM_AGENTS, NUM_AGENTS) * is_hint
        move_type = jnp.stack([is_play, is_discard, is_colour, is_rank]).astype(f32)
        colour = jax.nn.one_hot(a - HINT_COLOUR, NUM_COLOURS) * is_colour
        rank = jax.nn.one_hot(a - HINT_RANK, NUM_RANKS) * is_rank
        target_hand = g.player_hands[target]  # [H, C, R]
        touched_c = jnp.all(jnp.sum(target_hand, axis=2) == colour, axis=1) & is_colour
        touched_r = jnp.all(jnp.sum(target_hand, axis=1) == rank, axis=1) & is_rank
        position = jax.nn.one_hot(a % HAND_SIZE, HAND_SIZE) * (is_play | is_discard)
        shared = jnp.concatenate(
            [
                move_type,
                colour,
                rank,
                (touched_c | touched_r).astype(f32),
                position,
                state.last_card.ravel().astype(f32),
                state.last_scored.astype(f32)[None],
                state.last_added_info.astype(f32)[None],
            ]
        )
        feats = jnp.concatenate(
            [
                actor_rel,
                jnp.broadcast_to(shared[:4], (NUM_AGENTS, 4)),
                target_rel,
                jnp.broadcast_to(shared[4:], (NUM_AGENTS, shared.shape[0] - 4)),
            ],
            axis=-1,
        )
        return jnp.where(g.step == 0, 0.0, feats)

    def observation(self, state: HanabiState, params: HanabiParams = None) -> tuple:
        """``(obs [2, 658], action_mask [2, 21])`` of ``state`` (used by the symmetry check)."""
        return self.observe(state), self.legal_moves(state)

    def _timestep(self, state, reward, illegal) -> TimeStep:
        g = state.game
        return TimeStep(
            obs=self.observe(state),
            state=state,
            rewards=jnp.full((NUM_AGENTS,), reward, jnp.float32),
            terminated=jnp.asarray(g.terminal, bool),
            truncated=jnp.zeros((), bool),
            action_mask=self.legal_moves(state),
            info={
                "score": jnp.asarray(g.score, jnp.int32),
                "fireworks": jnp.sum(g.fireworks).astype(jnp.int32),
                "illegal_action": jnp.asarray(illegal, bool),
            },
        )

    # ------------------------------------------------------------- reset/step

    def reset(self, key: chex.PRNGKey, params: HanabiParams) -> TimeStep:
        """Shuffle a deck (JaxMARL's ``reset_game(key)``, so JaxMARL's deck for a key) and deal.

        Args:
            key: PRNG key.
            params: :class:`HanabiParams` (empty).

        Returns:
            The first :class:`~detente.env.TimeStep`: player 0 to act,
            rewards 0.
        """
        _check_params(params)
        state = HanabiState(
            game=_jaxmarl_game().reset_game(key),
            last_action=jnp.asarray(NOOP, jnp.int32),
            last_card=jnp.zeros((NUM_COLOURS, NUM_RANKS), jnp.float32),
            last_scored=jnp.zeros((), bool),
            last_added_info=jnp.zeros((), bool),
        )
        return self._timestep(state, 0.0, False)

    def step(
        self, key: chex.PRNGKey, state: HanabiState, actions: chex.Array, params: HanabiParams
    ) -> TimeStep:
        """Play the acting player's move (JaxMARL's ``step_game``).

        Args:
            key: PRNG key (unused: the deck is in the state; kept for the API).
            state: the current state.
            actions: ``[2]`` int; only the acting player's entry is read,
                the waiting player's (the no-op by its mask) is ignored.
            params: :class:`HanabiParams` (empty).

        Returns:
            The :class:`~detente.env.TimeStep` after the move. No reset
            here: wrap with :func:`detente.env.auto_reset`.
        """
        del key
        _check_params(params)
        actions = jnp.asarray(actions)
        if actions.shape != (NUM_AGENTS,):
            raise bad_value("actions.shape", actions.shape, "(2,): one action per player")
        g = state.game
        p = self.current_player(state)
        a = actions[p].astype(jnp.int32)
        in_range = (a >= 0) & (a < NUM_ACTIONS)
        illegal = ~(in_range & self.legal_moves(state)[p, jnp.clip(a, 0, NUM_ACTIONS - 1)])
        new, reward = _jaxmarl_game().step_game(g, p, a)
        placed = (a >= DISCARD) & (a < HINT_COLOUR)
        card = jnp.where(placed, g.player_hands[p, a % HAND_SIZE], 0.0)
        scored = jnp.sum(new.fireworks) != jnp.sum(g.fireworks)
        added = (
            (a >= PLAY) & (a < HINT_COLOUR) & (jnp.sum(new.info_tokens) > jnp.sum(g.info_tokens))
        )
        nxt = HanabiState(
            game=new,
            last_action=a,
            last_card=card.astype(jnp.float32),
            last_scored=scored,
            last_added_info=added,
        )
        return self._timestep(nxt, reward, illegal)

    # -------------------------------------------------------------- symmetry

    def permute_state(self, state: HanabiState, g: Symmetry) -> HanabiState:
        """The state ``g.s`` under a colour symmetry.

        Every colour axis is gathered with ``g.state_perm`` (``[5]``, slot
        ``c`` of the result holds colour ``g.state_perm[c]``): the deck,
        the hands, the discard pile, the fireworks, the card knowledge, the
        colour hints revealed and the last card played; the last action is
        mapped by ``g.action_perm``. Counts, tokens, the turn and the score
        are colour-free.

        Args:
            state: a state.
            g: a single symmetry whose ``state_perm`` is a colour gather map.

        Returns:
            The permuted state.
        """
        p = g.state_perm
        s = state.game
        knowledge = s.card_knowledge.reshape(NUM_AGENTS, HAND_SIZE, NUM_COLOURS, NUM_RANKS)
        game = s.replace(
            deck=jnp.take(s.deck, p, axis=1),
            discard_pile=jnp.take(s.discard_pile, p, axis=1),
            fireworks=jnp.take(s.fireworks, p, axis=0),
            player_hands=jnp.take(s.player_hands, p, axis=2),
            card_knowledge=jnp.take(knowledge, p, axis=2).reshape(s.card_knowledge.shape),
            colors_revealed=jnp.take(s.colors_revealed, p, axis=2),
        )
        return state.replace(
            game=game,
            last_action=g.action_perm[state.last_action].astype(jnp.int32),
            last_card=jnp.take(state.last_card, p, axis=0),
        )

    def symmetry_group(self, params: HanabiParams = None) -> Symmetry:
        """The 120 colour permutations as a :class:`Symmetry` stack ``[120]``.

        Element ``i`` relabels colour ``c`` as ``sigma_i[c]`` with
        ``sigma_i`` row ``i`` of :func:`colour_permutations` (element 0 the
        identity): ``obs_perm [120, 658]`` from :func:`colour_obs_perm`,
        ``action_perm [120, 21]`` from :func:`colour_action_perm`,
        ``state_perm [120, 5] = argsort(sigma_i)``.
        """
        return _colour_group()

    def symmetry_subgroup(self, kind: str, params: HanabiParams = None) -> Symmetry:
        """A colour subgroup: :func:`colour_subgroup` (``params`` unused).

        Called by :func:`detente.games.symmetry.symmetry_subgroup`.
        """
        return colour_subgroup(kind)


def colour_subgroup(kind: str) -> Symmetry:
    """A subgroup of the 120 colour permutations, stacked ``[G]``, identity first.

    Colours ``0..4`` are the corners of a pentagon (:data:`COLOURS` order):

    * ``"trivial"``: the identity alone (``G = 1``);
    * ``"cyclic"``: the rotations ``c -> c + s mod 5`` (``C_5``, ``G = 5``);
    * ``"dihedral"``: rotations and reflections ``c -> s - c mod 5``
      (``D_5``, ``G = 10``);
    * ``"full"``: every permutation, :meth:`HanabiGame.symmetry_group`
      (``S_5``, ``G = 120``).

    The smaller ones trade coverage for cost, as the subgroups of Muglich et
    al. 2022, "Equivariant Networks for Zero-Shot Coordination", NeurIPS,
    https://arxiv.org/abs/2210.12124 (Sec. 6). Elements are built as in
    :meth:`HanabiGame.symmetry_group` and generated with
    :func:`~detente.games.symmetry.generated_group`.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    check_choice("kind", kind, SUBGROUPS)
    if kind == "full":
        return _colour_group()
    c = np.arange(NUM_COLOURS)
    gens = [c] if kind == "trivial" else [(c + 1) % NUM_COLOURS]
    if kind == "dihedral":
        gens.append((-c) % NUM_COLOURS)
    gens = np.stack(gens).astype(np.int32)
    state = np.argsort(gens, axis=1).astype(np.int32)
    stack = Symmetry(
        obs_perm=jnp.asarray(np.stack([colour_obs_perm(p) for p in state])),
        action_perm=jnp.asarray(np.stack([colour_action_perm(g) for g in gens])),
        state_perm=jnp.asarray(state),
    )
    return generated_group(stack, max_size=120)


@functools.lru_cache(maxsize=1)
def _colour_group_numpy():
    sigmas = colour_permutations()
    state = np.argsort(sigmas, axis=1).astype(np.int32)
    obs = np.stack([colour_obs_perm(p) for p in state])
    act = np.stack([colour_action_perm(s) for s in sigmas])
    return obs, act, state


def _colour_group() -> Symmetry:
    obs, act, state = _colour_group_numpy()
    return Symmetry(
        obs_perm=jnp.asarray(obs), action_perm=jnp.asarray(act), state_perm=jnp.asarray(state)
    )


def _check_params(params) -> None:
    if not isinstance(params, HanabiParams):
        raise bad_value("params", params, "HanabiParams (HanabiGame().default_params())")


# ----------------------------------------------------------------------------
# Uniformly random legal play

MAX_TURNS = 128  # a game lasts at most 40 draws + 3 final turns + 8 + 40 + 5 hints = 96


class RandomPlayScores(NamedTuple):
    """Result of :func:`random_legal_scores`, one entry per game.

    Attributes:
        score: ``[B]`` int32 final score (bomb-0: 0 after losing every life).
        fireworks: ``[B]`` int32 cards on the fireworks at the end.
        finished: ``[B]`` bool, the game ended within :data:`MAX_TURNS`.
    """

    score: chex.Array  # [B]
    fireworks: chex.Array  # [B]
    finished: chex.Array  # [B]


def random_legal_scores(
    key: chex.PRNGKey, num_games: int, env: HanabiGame | None = None
) -> RandomPlayScores:
    """Final scores of ``num_games`` games of uniformly random legal moves.

    Each game plays from :meth:`HanabiGame.reset` until it ends (at most
    :data:`MAX_TURNS` turns), both players choosing uniformly among their
    legal moves. The baseline that a trained Hanabi agent must beat.

    Args:
        key: PRNG key.
        num_games: number of games (positive int).
        env: the game (default ``HanabiGame()``).

    Returns:
        A :class:`RandomPlayScores` of ``[num_games]`` arrays.
    """
    check_positive_int("num_games", num_games)
    env = HanabiGame() if env is None else env
    params = env.default_params()

    def play(k):
        k0, ks = jax.random.split(k)
        ts = env.reset(k0, params)

        def body(carry, k_t):
            ts, done, score, fw = carry
            logits = jnp.where(ts.action_mask, 0.0, -jnp.inf)
            a = jax.random.categorical(k_t, logits, axis=-1)
            nxt = env.step(k_t, ts.state, a, params)
            score = jnp.where(done, score, nxt.info["score"])
            fw = jnp.where(done, fw, nxt.info["fireworks"])
            return (nxt, done | nxt.done, score, fw), None

        zero = jnp.zeros((), jnp.int32)
        init = (ts, jnp.zeros((), bool), zero, zero)
        (_, done, score, fw), _ = jax.lax.scan(body, init, jax.random.split(ks, MAX_TURNS))
        return RandomPlayScores(score=score, fireworks=fw, finished=done)

    return jax.jit(jax.vmap(play))(jax.random.split(key, num_games))
