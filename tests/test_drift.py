"""Policies for drifting rewards (SlidingWindowUCB, DiscountedUCB, DiscountedThompsonSampling)
against brute-force recomputations, and ALGORITHMS.md's nonstationary check on a
piecewise-stationary instance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import regretless


def _stream(n: int, n_arms: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    arms = rng.integers(0, n_arms, size=n)
    rewards = np.where(rng.random(n) < 0.2 + 0.2 * arms, 1.0, rng.random(n) * 0.5)
    return arms.astype(np.int64), rewards


def test_sliding_window_index_equals_a_numpy_recomputation_over_the_last_window() -> None:
    k, window, xi = 4, 60, 0.6
    policy = regretless.SlidingWindowUCB(k, window=window, xi=xi, seed=0)
    arms, rewards = _stream(400, k, 1)
    for t in range(len(arms)):
        policy.update(int(arms[t]), float(rewards[t]))
        if t % 7:
            continue
        lo = max(0, t + 1 - window)
        last_arms, last_rewards = arms[lo : t + 1], rewards[lo : t + 1]
        m = min(t + 1, window)
        for i, score in enumerate(policy.scores()):
            mine = last_rewards[last_arms == i]
            if mine.size == 0:
                assert score == math.inf
            else:
                expected = mine.mean() + math.sqrt(xi * math.log(m) / mine.size)
                assert score == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # counts() and means() stay lifetime statistics.
    np.testing.assert_array_equal(policy.counts(), np.bincount(arms, minlength=k))


def test_default_window_and_gamma_come_from_the_horizon() -> None:
    assert regretless.SlidingWindowUCB(3, horizon=10_000).window == math.floor(
        4 * math.sqrt(1e4 * math.log(1e4))
    )
    assert regretless.DiscountedUCB(3, horizon=10_000).gamma == pytest.approx(1 - 1 / 400)
    assert regretless.SlidingWindowUCB(3, window=7, horizon=10_000).window == 7
    with pytest.raises(regretless.InvalidParameterError, match="window"):
        regretless.SlidingWindowUCB(3)
    with pytest.raises(regretless.InvalidParameterError, match="gamma"):
        regretless.DiscountedUCB(3)
    for bad in (0.0, 1.0, -0.5, math.nan):
        with pytest.raises(regretless.InvalidParameterError, match="gamma"):
            regretless.DiscountedUCB(3, gamma=bad)
        with pytest.raises(regretless.InvalidParameterError, match="gamma"):
            regretless.DiscountedThompsonSampling(3, gamma=bad)
    with pytest.raises(regretless.InvalidParameterError, match="window"):
        regretless.SlidingWindowUCB(3, window=0)
    with pytest.raises(regretless.InvalidParameterError, match="xi"):
        regretless.SlidingWindowUCB(3, window=5, xi=-1.0)


def _naive_discounted(arms: np.ndarray, rewards: np.ndarray, k: int, gamma: float):
    weights, sums = np.zeros(k), np.zeros(k)
    for a, r in zip(arms, rewards, strict=True):
        weights *= gamma
        sums *= gamma
        weights[a] += 1.0
        sums[a] += r
    return weights, sums


def test_discounted_ucb_index_equals_the_naive_recursion() -> None:
    k, gamma, xi = 3, 0.97, 0.6
    arms, rewards = _stream(3000, k, 2)
    policy = regretless.DiscountedUCB(k, gamma=gamma, xi=xi, seed=0)
    policy.update_batch(arms, rewards)
    weights, sums = _naive_discounted(arms, rewards, k, gamma)
    expected = sums / weights + 2 * np.sqrt(xi * np.log(weights.sum()) / weights)
    np.testing.assert_allclose(policy.scores(), expected, rtol=1e-12)


def test_discounted_thompson_posterior_equals_the_naive_recursion() -> None:
    k, gamma = 3, 0.9
    arms, rewards = _stream(2000, k, 3)
    policy = regretless.DiscountedThompsonSampling(
        k, gamma=gamma, prior_alpha=2.0, prior_beta=0.5, seed=0
    )
    policy.update_batch(arms, rewards)
    weights, sums = _naive_discounted(arms, rewards, k, gamma)
    alpha, beta = policy.posterior()
    np.testing.assert_allclose(alpha, 2.0 + sums, rtol=1e-12)
    np.testing.assert_allclose(beta, 0.5 + weights - sums, rtol=1e-12)
    np.testing.assert_allclose(policy.scores(), alpha / (alpha + beta), rtol=1e-12)


def test_discounted_thompson_decisions_follow_its_posterior() -> None:
    # Arm 1 was best long ago, arm 0 is best now: draws follow the discounted posterior.
    policy = regretless.DiscountedThompsonSampling(2, gamma=0.9, seed=4)
    policy.update_batch([1] * 300 + [0] * 40, [1.0] * 300 + [1.0] * 40)
    policy.update_batch([1] * 40, [0.0] * 40)
    probs = policy.probabilities()
    picks = np.bincount(policy.select_batch(4000), minlength=2) / 4000
    np.testing.assert_allclose(picks, probs, atol=0.03)
    alpha, beta = policy.posterior()
    rng = np.random.default_rng(0)
    draws = rng.beta(alpha, beta, size=(200_000, 2))
    np.testing.assert_allclose(probs[0], (draws[:, 0] > draws[:, 1]).mean(), atol=0.02)


@pytest.mark.parametrize(
    "make",
    [
        lambda: regretless.SlidingWindowUCB(3, window=20, seed=1),
        lambda: regretless.DiscountedUCB(3, gamma=0.9, seed=1),
        lambda: regretless.DiscountedThompsonSampling(3, seed=1),
    ],
)
def test_merge_is_refused_with_a_reason(make) -> None:
    a, b = make(), make()
    a.update_batch([0, 1, 2], [1.0, 0.0, 0.5])
    before = a.to_bytes()
    with pytest.raises(regretless.IncompatibleError, match="position in one stream"):
        a.merge(b)
    assert a.to_bytes() == before


# ---- the nonstationary check (ALGORITHMS.md section 9) ----

T = 9_999
CHANGES = [T // 3, 2 * T // 3]
# At the first change the old best arm (0) falls to 0.1 while UCB1's mean of its ~3,000
# pulls still says 0.9: UCB1 keeps playing it. At the second the new best arm (1) is one
# UCB1 has hardly pulled, so its wide index sends UCB1 there at once: only the first change
# traps UCB1, while the forgetting policies must recover from both.
SEGMENT_MEANS = np.array([[0.9, 0.1, 0.5], [0.1, 0.1, 0.5], [0.1, 0.9, 0.1]])
N_RUNS = 20
AFTER = 1_000  # steps after the first change over which UCB1's growth is measured


def _run(policy) -> np.ndarray:
    env = regretless.PiecewiseBernoulliEnv(SEGMENT_MEANS, CHANGES)
    return regretless.simulate(policy, env, horizon=T, n_runs=N_RUNS, seed=7).mean_regret()


@pytest.fixture(scope="module")
def curves() -> dict[str, np.ndarray]:
    return {
        "UCB1": _run(regretless.UCB1(3)),
        "SW-UCB": _run(regretless.SlidingWindowUCB(3, horizon=T)),
        "D-UCB": _run(regretless.DiscountedUCB(3, horizon=T)),
        "D-TS": _run(regretless.DiscountedThompsonSampling(3, gamma=0.99)),
    }


def _segment_regret(curve: np.ndarray, start: int, end: int) -> float:
    # curve[t - 1] is the cumulative regret after step t.
    return float(curve[end - 1] - curve[start - 1])


def test_piecewise_regret_is_dynamic_regret() -> None:
    # With means in {0, 1} every reward equals its mean, so reward + regret is exactly the
    # sum over steps of the current segment's best mean.
    means = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    env = regretless.PiecewiseBernoulliEnv(means, [30, 50])
    res = regretless.simulate(regretless.UCB1(2), env, horizon=80, n_runs=3, seed=1)
    np.testing.assert_allclose(res.total_reward + res.final_regret(), 80.0)
    # A constant policy is charged each segment's gap.
    res = regretless.simulate(
        regretless.SlidingWindowUCB(2, window=5), env, horizon=80, n_runs=2, seed=2
    )
    assert np.all(res.final_regret() > 0)
    assert np.all(np.diff(res.regret, axis=1) >= 0)


def test_after_each_change_the_drift_policies_recover_and_ucb1_does_not(
    curves: dict[str, np.ndarray],
) -> None:
    # UCB1 after the first change: regret grows linearly, at nearly the old best arm's gap.
    change = CHANGES[0]
    gap = float(SEGMENT_MEANS[1].max() - SEGMENT_MEANS[1][0])
    ucb1_after = _segment_regret(curves["UCB1"], change, change + AFTER)
    assert 0.7 * gap * AFTER < ucb1_after <= gap * AFTER, ucb1_after
    half = _segment_regret(curves["UCB1"], change, change + AFTER // 2)
    assert 0.4 * ucb1_after < half < 0.6 * ucb1_after, (half, ucb1_after)
    bounds = [*CHANGES, T]
    for seg, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True), start=1):
        means = SEGMENT_MEANS[seg]
        uniform = (hi - lo) * float(means.max() - means.mean())
        ucb1 = _segment_regret(curves["UCB1"], lo, hi)
        for name in ("SW-UCB", "D-UCB", "D-TS"):
            r = _segment_regret(curves[name], lo, hi)
            # Recovery costs something (the change must be noticed), but far less than
            # playing uniformly at random...
            assert 5.0 < r < 0.5 * uniform, (name, seg, r, uniform)
            # ...and, after the change that traps UCB1, far less than UCB1 pays.
            if seg == 1:
                assert r < 0.4 * ucb1, (name, r, ucb1)


def test_drift_policies_beat_ucb1_over_the_whole_piecewise_horizon(
    curves: dict[str, np.ndarray],
) -> None:
    for name in ("SW-UCB", "D-TS"):
        assert curves[name][-1] < 0.5 * curves["UCB1"][-1], name
    # D-UCB with the default discount keeps exploring at a steady rate (its counts never
    # exceed 1 / (1 - gamma) = 400), which costs it most of its gain at this horizon.
    assert 0.5 * curves["UCB1"][-1] < curves["D-UCB"][-1] < 0.9 * curves["UCB1"][-1]


def test_piecewise_env_refuses_bad_segments_and_change_points() -> None:
    env = regretless.PiecewiseBernoulliEnv([[0.9, 0.1], [0.1, 0.9]], [500])
    assert (env.n_arms, env.n_segments, env.change_points) == (2, 2, [500])
    np.testing.assert_array_equal(env.means_by_segment, [[0.9, 0.1], [0.1, 0.9]])
    with pytest.raises(regretless.ShapeError, match="one more than the 0 change points"):
        regretless.PiecewiseBernoulliEnv([[0.5], [0.5]], [])
    with pytest.raises(regretless.ShapeError, match="2-D"):
        regretless.PiecewiseBernoulliEnv([0.5, 0.5], [1])
    with pytest.raises(regretless.InvalidParameterError, match="probability"):
        regretless.PiecewiseBernoulliEnv([[0.5], [1.5]], [3])
    for bad in ([0, 5], [-1, 5], [5, 5], [6, 5]):
        with pytest.raises(regretless.InvalidParameterError, match="change_points"):
            regretless.PiecewiseBernoulliEnv([[0.5], [0.5], [0.5]], bad)
    with pytest.raises(regretless.IncompatibleError, match="arms"):
        regretless.simulate(regretless.UCB1(3), env, horizon=10)


def test_removing_an_arm_forgets_its_window_and_discounted_statistics() -> None:
    sw = regretless.SlidingWindowUCB(3, window=4, xi=0.6, seed=0)
    sw.update_batch([0, 1, 2, 1, 2], [1.0, 0.0, 0.5, 1.0, 0.3])
    sw.remove_arm(1)
    # Window now holds arm 2's (now arm 1's) two rewards only; t = 3 lifetime rewards.
    assert sw.scores()[0] == math.inf  # arm 0's reward had left the window
    assert sw.scores()[1] == pytest.approx(0.4 + math.sqrt(0.6 * math.log(3) / 2))
    assert sw.add_arm() == 2 and sw.scores()[2] == math.inf
    du = regretless.DiscountedUCB(3, gamma=0.5, xi=0.6, seed=0)
    du.update_batch([0, 1, 2], [1.0, 0.0, 0.5])
    du.remove_arm(1)
    # Weights 0.25 (arm 0) and 1 (old arm 2): total 1.25.
    expected = [
        1.0 + 2 * math.sqrt(0.6 * math.log(1.25) / 0.25),
        0.5 + 2 * math.sqrt(0.6 * math.log(1.25)),
    ]
    np.testing.assert_allclose(du.scores(), expected, rtol=1e-12)
