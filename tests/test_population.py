"""Training against a frozen population (``detente.solvers.zsc.population``) and its NZSC use.

Known values in the one-shot lever game (nine levers pay 1.0, one 0.9, paid
only when both pull the same lever) with partners that always pull one lever
(an MLP whose actor bias alone decides): the learner's reward is the payoff
of its lever if it is the partner's and 0 otherwise, whichever seat it has;
seats and partners are drawn with the stated frequencies; the best response
to partners {0, 0, 0, 3} drawn uniformly is lever 0 (0.75 against 0.25); each
phase's probabilities are ``max(score, min_score) ** -power`` of the scores
measured before it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detente.games.coordination import LeverGame
from detente.games.noisy import noisy_lever_game
from detente.solvers.rl.ippo import IPPOConfig
from detente.solvers.rl.policy import NetworkConfig, make_policy
from detente.solvers.rl.ppo import PPOConfig
from detente.solvers.zsc.nzsc import nzsc_config, train_nzsc_population
from detente.solvers.zsc.population import (
    PopulationConfig,
    PopulationEnv,
    partner_weights,
    train_against_population,
)
from detente.solvers.zsc.selfplay import action_probs, agent_params

ENV = LeverGame()
PARAMS = ENV.default_params()
PAY = np.asarray(PARAMS.payoffs)
NET = NetworkConfig(hidden_sizes=(8,), activation="relu")
FAST = {"xla_backend_optimization_level": 1}


def fixed_partners(levers) -> dict:
    """MLP params ``[K, ...]`` whose partner ``k`` pulls ``levers[k]`` with probability ~1."""
    policy = make_policy(ENV.observation_shape, ENV.num_actions, NET)
    base = jax.tree_util.tree_map(jnp.zeros_like, policy.init(jax.random.key(0)))

    def one(lever):
        bias = 50.0 * jax.nn.one_hot(lever, ENV.num_actions)
        p = jax.tree_util.tree_map(lambda x: x, base)
        p["params"]["heads"]["actor_out"]["bias"] = bias
        return p

    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[one(j) for j in levers])


def test_rewards_seats_and_partner_draws_have_the_stated_values():
    penv = PopulationEnv(ENV, NET)
    probs = jnp.array([0.1, 0.2, 0.7])
    params = penv.make_params(PARAMS, fixed_partners([2, 5, 9]), probs)
    assert penv.num_agents == 1 and penv.num_actions == 10
    n = 4000
    keys = jax.random.split(jax.random.key(1), n)
    ts = jax.vmap(penv.reset, in_axes=(0, None))(keys, params)
    seat, partner = np.asarray(ts.state.seat), np.asarray(ts.state.partner)
    assert abs(seat.mean() - 0.5) < 4 * np.sqrt(0.25 / n)
    freq = np.bincount(partner, minlength=3) / n
    assert np.all(np.abs(freq - np.asarray(probs)) < 4 * np.sqrt(probs * (1 - probs) / n))
    assert ts.obs.shape == (n, 1) + tuple(ENV.observation_shape)
    lever = np.array([2, 5, 9])[partner]
    for a in (2, 5, 9, 0):
        step = jax.vmap(penv.step, in_axes=(0, 0, 0, None))
        nxt = step(keys, ts.state, jnp.full((n, 1), a), params)
        want = np.where(lever == a, PAY[a], 0.0)
        np.testing.assert_allclose(np.asarray(nxt.rewards[:, 0]), want, atol=1e-6)
        assert bool(nxt.done.all())  # one-shot


def test_partner_weights_are_inverse_score_powers():
    cfg = PopulationConfig(power=2.0, min_score=0.5)
    w = np.asarray(partner_weights(jnp.array([1.0, 2.0, 0.1, -3.0]), cfg))
    raw = np.array([1.0, 0.25, 4.0, 4.0])
    np.testing.assert_allclose(w, raw / raw.sum(), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(partner_weights(jnp.array([1.0, 5.0]), PopulationConfig(power=0.0))), 0.5
    )


@pytest.fixture(scope="module")
def trained():
    config = IPPOConfig(
        num_envs=64,
        num_steps=1,
        num_updates=100,
        share_params=True,
        network=NET,
        ppo=PPOConfig(lr=1e-2, ent_coef=0.01, minibatches=1, epochs=4),
    )
    partners = jax.tree_util.tree_map(lambda x: x[None], fixed_partners([0, 0, 0, 3]))
    out = {}
    for power in (0.0, 1.0):
        pop = PopulationConfig(phases=4, power=power)
        out[power] = train_against_population(
            jax.random.key(2)[None], ENV, config, partners, NET, PARAMS, pop, compiler_options=FAST
        )
    return config, out


def test_uniform_population_gives_the_best_response(trained):
    config, out = trained
    states, res = out[0.0]
    learner = jax.tree_util.tree_map(lambda x: x[0], agent_params(states))
    policy = make_policy(ENV.observation_shape, ENV.num_actions, NET)
    p = np.asarray(action_probs(policy, learner, jnp.ones((1, 1))))[0]
    assert p.argmax() == 0 and p[0] > 0.9  # 0.75 * 1.0 beats 0.25 * 1.0
    np.testing.assert_allclose(res["probs"][0], 0.25)  # power 0: uniform throughout
    last = np.asarray(res["scores"][0, -1])
    np.testing.assert_allclose(last[:3], p[0] * PAY[0], atol=0.15)  # mean reward with lever 0
    assert last[3] < 0.15
    assert res["metrics"]["reward_0"].shape == (1, config.num_updates)


def test_phase_probabilities_follow_the_measured_scores(trained):
    _, out = trained
    _, res = out[1.0]
    scores, probs = np.asarray(res["scores"][0]), np.asarray(res["probs"][0])
    np.testing.assert_allclose(probs[0], 0.25)  # the first phase samples uniformly
    for i in range(1, scores.shape[0]):
        want = np.maximum(scores[i], 0.1) ** -1.0
        np.testing.assert_allclose(probs[i], want / want.sum(), rtol=1e-5)
    # after the first phase the learner pulls lever 0, so partner 3 is drawn the most
    assert probs[1].argmax() == 3


def test_bad_input_names_the_field():
    config = dataclasses.replace(nzsc_config("noisy-lever", "selfplay"), num_updates=15)
    partners = jax.tree_util.tree_map(lambda x: x[None], fixed_partners([0, 1]))
    with pytest.raises(ValueError, match="num_updates"):
        train_against_population(jax.random.key(0)[None], ENV, config, partners, NET, PARAMS)
    ok = dataclasses.replace(config, num_updates=10)
    with pytest.raises(ValueError, match="partners"):
        train_against_population(jax.random.split(jax.random.key(0), 2), ENV, ok, partners, NET)
    for field, value in (("phases", 0), ("power", -1.0), ("min_score", 0.0)):
        with pytest.raises(ValueError, match=field):
            PopulationConfig(**{field: value})
    with pytest.raises(ValueError, match="population_size"):
        env, params = noisy_lever_game(False)
        train_nzsc_population(
            jax.random.split(jax.random.key(0), 2), env, ok, params, population_size=0
        )


def test_nzsc_population_trains_one_population_per_seed():
    env, params = noisy_lever_game(False, sigma_levels=(0.0, 2.0))
    config = dataclasses.replace(nzsc_config("noisy-lever", "other-play"), num_updates=4)
    keys = jax.random.split(jax.random.key(3), 2)
    states, out = train_nzsc_population(
        keys,
        env,
        config,
        params,
        population_size=3,
        population=PopulationConfig(phases=2),
        compiler_options=FAST,
    )
    lead = {x.shape[:2] for x in jax.tree_util.tree_leaves(out["partners"])}
    assert lead == {(2, 3)}
    assert out["scores"].shape == (2, 2, 3) and out["probs"].shape == (2, 2, 3)
    np.testing.assert_allclose(np.asarray(out["probs"]).sum(-1), 1.0, rtol=1e-5)
    # the two seeds' populations differ (their own keys)
    a, b = (jax.tree_util.tree_leaves(out["partners"])[0][i] for i in (0, 1))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    assert jax.tree_util.tree_leaves(agent_params(states))[0].shape[0] == 2
