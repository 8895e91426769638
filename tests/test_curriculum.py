"""BinSampler (EMA-debiased multiplicative weights) against the check of ALGORITHMS.md
section 8: q ranks bins by difficulty whatever their population, re-sorts within about
3 / (1 - beta) updates after a step change, and the cumulative EXP3-style variant drifts
toward the bins it samples most."""

import copy
import pickle

import numpy as np
import pytest
import regretless

PASS_RATES = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
# Skewed populations: 60% of the prompts in the easiest bin.
POPULATION = np.array([0.6, 0.15, 0.1, 0.1, 0.05])


def run(sampler, pass_rates, batches, rng, batch_size=200):
    """Half of each batch comes from the dataset as it is (population-weighted), half
    from the sampler's q; a prompt's loss is 1 - its pass (Bernoulli)."""
    for _ in range(batches):
        half = batch_size // 2
        bins = np.concatenate([rng.choice(5, size=half, p=POPULATION), sampler.sample(half)])
        losses = (rng.random(bins.size) >= pass_rates[bins]).astype(float)
        sampler.update(bins, losses)


def test_q_ranks_bins_by_difficulty_whatever_the_population():
    rng = np.random.default_rng(0)
    sampler = regretless.BinSampler(5, beta=0.9, eta=5.0, gamma=0.05, seed=1)
    run(sampler, PASS_RATES, 60, rng)
    q = sampler.probabilities()
    assert np.all(np.diff(q) > 0), q  # hardest bin (pass rate 0.1) gets the most mass
    # The debiased scores estimate the mean loss 1 - pass rate.
    np.testing.assert_allclose(sampler.scores(), 1 - PASS_RATES, atol=0.08)
    # q follows exp(eta * s_hat) mixed with gamma / B.
    s = sampler.scores()
    w = np.exp(5.0 * (s - s.max()))
    np.testing.assert_allclose(q, 0.95 * w / w.sum() + 0.05 / 5, rtol=1e-12)


def test_cumulative_variant_shows_rich_get_richer_drift():
    rng = np.random.default_rng(0)
    sampler = regretless.BinSampler(5, eta=0.05, gamma=0.05, mode="cumulative", seed=1)
    run(sampler, PASS_RATES, 60, rng)
    q = sampler.probabilities()
    # Sums grow with how often a bin is seen: the bin that got ahead early is sampled
    # more, gathers more and runs away, and it is not the hardest bin.
    assert q.max() > 0.9, q
    assert np.argmax(q) != 4, q
    ema = regretless.BinSampler(5, eta=5.0, gamma=0.05, seed=1)
    run(ema, PASS_RATES, 60, np.random.default_rng(0))
    assert np.argmax(ema.probabilities()) == 4


def test_q_resorts_within_about_three_over_one_minus_beta_updates():
    rng = np.random.default_rng(2)
    beta = 0.9
    sampler = regretless.BinSampler(5, beta=beta, eta=5.0, seed=3)
    run(sampler, PASS_RATES, 60, rng)
    reversed_rates = PASS_RATES[::-1].copy()
    horizon = int(3 / (1 - beta))
    steps_to_sort = None
    for step in range(1, 3 * horizon):
        run(sampler, reversed_rates, 1, rng)
        if np.all(np.diff(sampler.probabilities()) < 0):
            steps_to_sort = step
            break
    assert steps_to_sort is not None
    # Not instantaneous (the EMA remembers), and within about 3 / (1 - beta) = 30 updates.
    assert 3 <= steps_to_sort <= horizon + 5, steps_to_sort


def test_state_round_trips_and_bad_input_changes_nothing():
    sampler = regretless.BinSampler(3, seed=0)
    sampler.update([0, 1, 2, 2], [0.5, 0.2, 0.9, 0.7])
    state = sampler.to_bytes()
    for other in (
        regretless.BinSampler.from_bytes(state),
        pickle.loads(pickle.dumps(sampler)),
        copy.deepcopy(sampler),
        sampler.copy(),
    ):
        assert other.to_bytes() == state
        assert other.sample(20).tolist() == sampler.copy().sample(20).tolist()
    with pytest.raises(regretless.ArmError):
        sampler.update([0, 3], [0.5, 0.5])
    with pytest.raises(regretless.RewardError):
        sampler.update([0, 1], [0.5, 1.5])
    with pytest.raises(regretless.ShapeError):
        sampler.update([0, 1], [0.5])
    assert sampler.to_bytes() == state
    for kwargs, name in (
        ({"beta": 1.0}, "beta"),
        ({"gamma": -0.1}, "gamma"),
        ({"mode": "x"}, "mode"),
    ):
        with pytest.raises(regretless.InvalidParameterError, match=name):
            regretless.BinSampler(3, **kwargs)
    with pytest.raises(regretless.StateError):
        regretless.BinSampler.from_bytes(state[:-2])
    assert repr(sampler) == 'BinSampler(n_bins=3, beta=0.9, eta=5, gamma=0.05, mode="ema")'
