"""Turn-based PPO: learning only from the acting seat's rows (``IPPOConfig.turn_based``).

In a turn-based game the waiting player's mask allows one action (the
no-op), so under the masked policy its rows have log-probability 0 and
entropy 0: they carry no policy gradient. Checked here: that premise and the
scaling it implies (the acting rows' actor gradient is the full batch's
times ``B / R``); ``ppo_update`` with ``rows`` equals ``ppo_update`` on the
gathered batch, bit for bit, and ``rows = arange(B)`` equals no ``rows``;
IPPO with ``turn_based`` learns from exactly the acting rows (entropy
``log 3`` of a uniform policy over the three legal moves, against
``log(3) / 2`` with the waiting rows included) and keeps GAE's value
targets of the whole trajectories, waiting steps' shared rewards included
(a plain-loop oracle for the value loss with a zero critic); bad
configurations raise.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.env import TimeStep
from detente.solvers.rl.ippo import IPPOConfig, make_ippo
from detente.solvers.rl.policy import NetworkConfig, make_policy, mask_policy
from detente.solvers.rl.ppo import PPOBatch, PPOConfig, make_optimizer, make_ppo_loss, ppo_update

EPISODE = 5  # turns per episode of the toy game
NOOP = 3


@dataclasses.dataclass(frozen=True)
class TurnToy:
    """Two players alternate (player ``t mod 2`` moves at turn ``t``) for ``EPISODE`` turns.

    The mover has moves 0-2, the waiting player only the no-op 3. Both get
    the shared reward ``1 + (t mod 3)`` at turn ``t``, whatever the moves,
    so the returns are known in closed form. Observation ``[4]``: mover
    flag, waiting flag, ``t / EPISODE``, 1.
    """

    num_agents: int = 2
    num_actions: int = 4
    observation_shape: tuple = (4,)

    def default_params(self):
        return jnp.zeros(())

    def _ts(self, t, reward, done):
        mover = jnp.arange(2) == t % 2
        obs = jnp.stack(
            [mover, ~mover, jnp.full(2, t / EPISODE), jnp.ones(2, bool)], axis=1
        ).astype(jnp.float32)
        mask = jnp.where(mover[:, None], jnp.arange(4) < NOOP, jnp.arange(4) == NOOP)
        return TimeStep(
            obs=obs,
            state=t,
            rewards=jnp.full((2,), reward, jnp.float32),
            terminated=done,
            truncated=jnp.zeros((), bool),
            action_mask=mask,
            info={},
        )

    def reset(self, key, params):
        return self._ts(jnp.zeros((), jnp.int32), 0.0, jnp.zeros((), bool))

    def step(self, key, state, actions, params):
        reward = 1.0 + (state % 3)
        return self._ts(state + 1, reward, state + 1 >= EPISODE)


E, T = 3, 7
POLICY = make_policy((4,), 4, NetworkConfig(hidden_sizes=(8,)))


def _toy_batch(key):
    """A [2 * E * T, 1] PPO batch of the toy game's masks; rows of seat 1 at even t wait."""
    k_p, k_a, k_adv, k_v, k_noise = jax.random.split(key, 5)
    env = TurnToy()
    ts = jax.vmap(env._ts)(jnp.arange(T), jnp.zeros(T), jnp.zeros(T, bool))  # [T, 2, ...]
    obs = jnp.broadcast_to(jnp.swapaxes(ts.obs, 0, 1)[:, None], (2, E, T, 4)).reshape(-1, 1, 4)
    mask = jnp.broadcast_to(jnp.swapaxes(ts.action_mask, 0, 1)[:, None], (2, E, T, 4))
    mask = mask.reshape(-1, 1, 4)
    params = POLICY.init(k_p)
    _, pi, value = POLICY.apply(
        params, POLICY.initial_carry((1,)), obs, jnp.zeros((obs.shape[0], 1))
    )
    pi = mask_policy(pi, mask)
    action = pi.sample(k_a)
    b = obs.shape[0]
    noise = 0.1 * jax.random.normal(k_noise, (b, 1)) * (jnp.sum(mask, -1) > 1)
    batch = PPOBatch(
        obs=obs,
        action=action,
        log_prob=pi.log_prob(action) + noise,  # an older policy acted (0 where forced)
        value=value + 0.1,
        advantages=jax.random.normal(k_adv, (b, 1)),
        targets=jax.random.normal(k_v, (b, 1)),
        reset=jnp.ones((b, 1), bool),
        carry=POLICY.initial_carry((b,)),
        action_mask=mask,
    )
    acting = np.flatnonzero(np.asarray(jnp.sum(mask[:, 0], -1) > 1))
    return params, batch, acting


def _take(batch, rows):
    return jax.tree_util.tree_map(lambda x: x[rows], batch)


def test_waiting_rows_carry_no_actor_gradient_and_acting_rows_scale():
    params, batch, acting = _toy_batch(jax.random.PRNGKey(0))
    b, r = batch.obs.shape[0], acting.size
    assert r == E * T  # one mover per (env, turn)
    waiting = np.setdiff1d(np.arange(b), acting)
    cfg = PPOConfig(vf_coef=0.0, ent_coef=0.05, normalize_advantages=False)
    loss = make_ppo_loss(POLICY, cfg)
    grad = jax.grad(lambda p, mb: loss(p, mb)[0])
    g_wait = grad(params, _take(batch, waiting))
    for leaf in jax.tree_util.tree_leaves(g_wait):
        np.testing.assert_allclose(leaf, 0.0, atol=1e-7)
    g_full = grad(params, batch)
    g_act = grad(params, _take(batch, acting))
    jax.tree_util.tree_map(
        lambda f, a: np.testing.assert_allclose(f * (b / r), a, rtol=2e-5, atol=1e-7),
        g_full,
        g_act,
    )


def test_ppo_update_rows_is_the_gathered_batch():
    params, batch, acting = _toy_batch(jax.random.PRNGKey(1))
    cfg = PPOConfig(lr=1e-2, epochs=2, minibatches=3)
    opt = make_optimizer(cfg)
    loss = make_ppo_loss(POLICY, cfg)
    key = jax.random.PRNGKey(2)
    run = jax.jit(
        lambda bt, rows: ppo_update(
            params, opt.init(params), opt, bt, loss, key, epochs=2, minibatches=3, rows=rows
        )
    )
    p_rows, _, info_rows = run(batch, jnp.asarray(acting))
    p_take, _, info_take = run(_take(batch, acting), None)
    assert jax.tree_util.tree_all(
        jax.tree_util.tree_map(lambda x, y: bool(jnp.all(x == y)), p_rows, p_take)
    )
    assert float(info_rows.loss) == float(info_take.loss)
    p_all, _, _ = run(batch, jnp.arange(batch.obs.shape[0]))
    p_none, _, _ = run(batch, None)
    assert jax.tree_util.tree_all(
        jax.tree_util.tree_map(lambda x, y: bool(jnp.all(x == y)), p_all, p_none)
    )
    with pytest.raises(ValueError, match="minibatches"):
        ppo_update(
            params,
            opt.init(params),
            opt,
            batch,
            loss,
            key,
            epochs=1,
            minibatches=4,
            rows=jnp.arange(6),
        )


def _gae_oracle(rewards, dones, gamma, lam):
    """Plain loop, zero critic: A_t = r_t + gamma lam (1 - d_t) A_{t+1}, A_T = 0."""
    adv, out = 0.0, []
    for r, d in zip(rewards[::-1], dones[::-1], strict=True):
        adv = r + gamma * lam * (1.0 - d) * adv
        out.append(adv)
    return np.array(out[::-1])


def _first_update_metrics(turn_based):
    cfg = IPPOConfig(
        num_envs=E,
        num_steps=T,
        num_updates=1,
        share_params=True,
        turn_based=turn_based,
        network=NetworkConfig(hidden_sizes=(8,)),
        ppo=PPOConfig(epochs=1, minibatches=1, normalize_advantages=False),
    )
    trainer = make_ippo(TurnToy(), cfg)
    state = trainer.init(jax.random.PRNGKey(3))

    def zero_heads(path, x):  # uniform legal policy, zero critic
        names = "/".join(str(getattr(k, "key", k)) for k in path)
        return jnp.zeros_like(x) if ("actor_out" in names or "critic_out" in names) else x

    state = state._replace(params=jax.tree_util.tree_map_with_path(zero_heads, state.params))
    _, metrics = trainer.step(state)
    return {k: float(v) for k, v in metrics.items()}, cfg.ppo


def test_ippo_turn_based_learns_from_acting_rows_with_full_trajectory_targets():
    turn, ppo = _first_update_metrics(True)
    full, _ = _first_update_metrics(False)
    # exactly the acting rows: uniform over 3 legal moves there, 0 on forced rows
    np.testing.assert_allclose(turn["entropy_0"], np.log(3.0), rtol=1e-6)
    np.testing.assert_allclose(full["entropy_0"], np.log(3.0) / 2, rtol=1e-6)
    assert turn["multi_actor_frac"] == 0.0
    assert "multi_actor_frac" not in full
    # value targets of the whole trajectories (waiting turns' shared rewards included)
    turns = np.arange(T) % EPISODE
    rewards = 1.0 + turns % 3
    dones = (turns + 1 == EPISODE).astype(float)
    g = _gae_oracle(rewards, dones, ppo.gamma, ppo.gae_lambda)  # same for both seats
    np.testing.assert_allclose(turn["value_loss_0"], 0.5 * np.mean(g**2), rtol=1e-5)
    np.testing.assert_allclose(full["value_loss_0"], 0.5 * np.mean(g**2), rtol=1e-5)
    # uniform policy, ratio 1: the surrogate is minus the mean advantage
    np.testing.assert_allclose(turn["policy_loss_0"], -np.mean(g), rtol=1e-5)
    assert turn["approx_kl_0"] == 0.0


def test_turn_based_config_checks():
    with pytest.raises(ValueError, match="turn_based"):
        IPPOConfig(turn_based=True)  # needs share_params
    with pytest.raises(ValueError, match="turn_based"):
        IPPOConfig(share_params=True, turn_based=1)
    with pytest.raises(ValueError, match="minibatches"):
        make_ippo(
            TurnToy(),
            IPPOConfig(
                num_envs=E,
                num_steps=T,
                share_params=True,
                turn_based=True,
                ppo=PPOConfig(minibatches=2),
            ),
        )
