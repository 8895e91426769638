"""SparseLinearBaseline (ALGORITHMS.md 7.3): O(epsilon sqrt(s))-optimal recommendations on
sparse misspecified instances, C(d, s) supports searched, bytes/pickle/copy, errors."""

import copy
import pickle
from math import comb

import numpy as np
import pytest
import regretless


def instance(rng, n_arms=12, dim=5, sparsity=2, epsilon=0.05):
    features = rng.uniform(-1, 1, size=(n_arms, dim))
    theta = np.zeros(dim)
    theta[rng.choice(dim, sparsity, replace=False)] = rng.uniform(0.5, 1.0, sparsity)
    mu = features @ theta + rng.uniform(-epsilon, epsilon, n_arms)
    return features, mu


def run(baseline, mu, rng, noise=0.1):
    while not baseline.should_stop():
        arms = baseline.select_batch(64)
        baseline.update_batch(arms, mu[arms] + noise * rng.standard_normal(arms.size))
    return baseline.recommend()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recommendation_is_epsilon_sqrt_s_optimal(seed):
    rng = np.random.default_rng(seed)
    epsilon, sparsity = 0.05, 2
    features, mu = instance(rng, sparsity=sparsity, epsilon=epsilon)
    baseline = regretless.SparseLinearBaseline(
        features, sparsity=sparsity, epsilon=epsilon, noise=0.01
    )
    arm, estimate = run(baseline, mu, rng)
    gap = mu.max() - mu[arm]
    assert gap <= 4 * epsilon * np.sqrt(sparsity), gap
    assert abs(estimate - mu[arm]) <= epsilon
    assert len(baseline.support_winners()) == comb(5, sparsity)


def test_cost_grows_with_the_number_of_supports():
    rng = np.random.default_rng(3)
    features, mu = instance(rng, dim=6, sparsity=1)
    samples = []
    for sparsity in (1, 2):
        b = regretless.SparseLinearBaseline(features, sparsity=sparsity, epsilon=0.1, noise=0.01)
        run(b, mu, np.random.default_rng(0))
        samples.append(b.n_samples)
    # C(6, 2) / C(6, 1) = 2.5 times the supports (phases end sooner in 2-D fits).
    assert 1.3 < samples[1] / samples[0] < 10.0, samples


def test_state_round_trips_and_bad_input_changes_nothing():
    rng = np.random.default_rng(4)
    features, mu = instance(rng, dim=3, sparsity=1)
    b = regretless.SparseLinearBaseline(features, sparsity=1, epsilon=0.2)
    arms = b.select_batch(10)
    b.update_batch(arms, mu[arms])
    state = b.to_bytes()
    for other in (
        regretless.SparseLinearBaseline.from_bytes(state),
        pickle.loads(pickle.dumps(b)),
        copy.deepcopy(b),
        b.copy(),
    ):
        assert other.to_bytes() == state
    with pytest.raises(regretless.ArmError):
        b.update(12, 0.5)
    with pytest.raises(regretless.RewardError):
        b.update_batch([0, 1], [0.5, float("nan")])
    assert b.to_bytes() == state
    with pytest.raises(regretless.InvalidParameterError, match="sparsity"):
        regretless.SparseLinearBaseline(features, sparsity=4, epsilon=0.1)
    with pytest.raises(regretless.InvalidParameterError, match="epsilon"):
        regretless.SparseLinearBaseline(features, sparsity=1, epsilon=0.0)
    with pytest.raises(regretless.ShapeError, match="features"):
        regretless.SparseLinearBaseline(features[0], sparsity=1, epsilon=0.1)
    with pytest.raises(regretless.StateError):
        regretless.SparseLinearBaseline.from_bytes(state[:-1])
