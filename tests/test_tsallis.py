"""TsallisINF against a numpy reference of its normalization and its two regret regimes."""

import numpy as np
import pytest
import regretless


def reference_probabilities(losses: np.ndarray, eta: float) -> np.ndarray:
    """p_i = 4 (eta (L_i - x))^-2 with sum p = 1, x found by bisection on x < min L."""
    m = losses.min()
    lo, hi = m - 2.0 * np.sqrt(len(losses)) / eta - 1.0, m - 2.0 / eta
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (4.0 / (eta * (losses - mid)) ** 2).sum() > 1.0:
            hi = mid
        else:
            lo = mid
    return 4.0 / (eta * (losses - 0.5 * (lo + hi))) ** 2


def test_probabilities_match_the_normalization_reference():
    rng = np.random.default_rng(0)
    policy = regretless.TsallisINF(6, seed=1)
    means = np.array([0.2, 0.4, 0.5, 0.6, 0.65, 0.7])
    for t in range(400):
        arm = policy.select()
        policy.update(arm, float(rng.random() < means[arm]))
        if t % 50 == 49:
            assert policy.eta == pytest.approx(2.0 / np.sqrt(t + 2), rel=1e-15)
            want = reference_probabilities(policy.loss_estimates(), policy.eta)
            assert want.sum() == pytest.approx(1.0, abs=1e-12)
            np.testing.assert_allclose(policy.probabilities(), want, rtol=0, atol=1e-12)
    # The leader is favoured, and by the 1/2-Tsallis shape, not softmax's.
    p = policy.probabilities()
    assert np.argmax(p) == np.argmin(policy.loss_estimates())


def test_eta_scale_enters_the_learning_rate():
    policy = regretless.TsallisINF(3, eta_scale=0.5, seed=0)
    policy.update_batch([0, 1, 2, 0], [0.0, 1.0, 0.5, 1.0], propensities=[0.5, 0.5, 0.25, 1.0])
    np.testing.assert_allclose(policy.loss_estimates(), [2.0, 0.0, 2.0], rtol=1e-15)
    assert policy.eta == pytest.approx(2.0 * 0.5 / np.sqrt(5))
    want = reference_probabilities(policy.loss_estimates(), policy.eta)
    np.testing.assert_allclose(policy.probabilities(), want, atol=1e-12)


def test_importance_weights_use_the_probability_of_the_draw():
    policy = regretless.TsallisINF(3, seed=4)
    policy.update_batch([0, 1, 2], [0.1, 0.9, 0.5])
    before = policy.probabilities()
    start = policy.loss_estimates()
    arms = policy.select_batch(40)
    assert policy.pending_counts().sum() == 40
    policy.update_batch(arms, np.zeros(40))
    counts = np.bincount(arms, minlength=3)
    np.testing.assert_allclose(policy.loss_estimates(), start + counts / before, rtol=1e-12)
    assert policy.pending_counts().tolist() == [0, 0, 0]


def test_bad_propensity_changes_nothing():
    policy = regretless.TsallisINF(2, seed=0)
    state = policy.to_bytes()
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(regretless.InvalidParameterError, match="propensity"):
            policy.update(0, 0.5, propensity=bad)
        with pytest.raises(regretless.InvalidParameterError, match="propensities"):
            policy.update_batch([0, 1], [0.5, 0.5], propensities=[0.5, bad])
    with pytest.raises(regretless.ShapeError, match="propensities"):
        policy.update_batch([0, 1], [0.5, 0.5], propensities=[0.5])
    assert policy.to_bytes() == state
    with pytest.raises(regretless.InvalidParameterError, match="eta_scale"):
        regretless.TsallisINF(2, eta_scale=0.0)


def mean_final_regret(policy, env, horizon, runs=40, seed=7):
    return float(
        regretless.simulate(policy, env, horizon, n_runs=runs, seed=seed).final_regret().mean()
    )


def test_stochastic_regret_grows_like_log_t_over_gaps():
    means = [0.8, 0.6, 0.6, 0.5]
    gaps = 0.8 - np.array(means[1:])
    env = regretless.BernoulliEnv(means)
    regrets = {}
    for horizon in (2_000, 20_000):
        regrets[horizon] = mean_final_regret(regretless.TsallisINF(4), env, horizon)
        scale = (np.log(horizon) / gaps).sum()
        # O(sum ln T / Delta) with a moderate constant, and not much below it either.
        assert 0.2 < regrets[horizon] / scale < 2.5, (horizon, regrets[horizon] / scale)
    # Logarithmic, not square-root growth: ln(2e4)/ln(2e3) = 1.30, sqrt(10) = 3.16.
    assert 1.05 < regrets[20_000] / regrets[2_000] < 2.5


def test_minimax_instance_regret_is_of_order_sqrt_kt():
    """Gap 2 sqrt(K / T): every policy's regret is Theta(sqrt(K T)) there, and
    Tsallis-INF's is at most 4 sqrt(K T) + 1."""
    k = 4
    ratios = []
    for t in (2_000, 32_000):
        gap = 2 * np.sqrt(k / t)
        env = regretless.BernoulliEnv([0.5 + gap, 0.5, 0.5, 0.5])
        ratios.append(mean_final_regret(regretless.TsallisINF(k), env, t, runs=20) / np.sqrt(k * t))
    assert all(0.1 < r < 2.0 for r in ratios), ratios
    # Square-root growth: the ratio stays put (logarithmic growth would shrink it 3x).
    assert 0.6 < ratios[1] / ratios[0] < 1.6, ratios


def switching_table(horizon: int, k: int) -> np.ndarray:
    """An oblivious adversary: arms 0 and 1 take turns at reward 1 (the other 0) in phases
    of doubling length, the rest pay 0.4."""
    rewards = np.full((horizon, k), 0.4)
    start, length, phase = 0, 8, 0
    while start < horizon:
        end = min(start + length, horizon)
        rewards[start:end, 0] = float(phase % 2 == 0)
        rewards[start:end, 1] = float(phase % 2 == 1)
        start, length, phase = end, 2 * length, phase + 1
    return rewards


def test_adversarial_regret_is_within_the_bound():
    k, horizon = 4, 16_000
    env = regretless.TableEnv(switching_table(horizon, k))
    regret = mean_final_regret(regretless.TsallisINF(k), env, horizon, runs=20)
    # The theorem's 4 sqrt(K T) + 1 above; below, the switches do cost it something.
    assert 0.05 * np.sqrt(k * horizon) < regret <= 4 * np.sqrt(k * horizon) + 1, regret
