"""Change detection with restarts (CUSUMUCB, GLRUCB): the detectors against numpy
recomputations, their false alarms and detection delays against theory, and the regret on
the piecewise-stationary instance of benches/drift.py and tests/test_drift.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import regretless


def _kl(p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray:
    """Bernoulli kl(p, q) with 0 ln 0 = 0 (q is never 0 or 1 here)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    q = np.clip(q, 1e-15, 1 - 1e-15)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / q), 0.0)
        b = np.where(p < 1, (1 - p) * np.log((1 - p) / (1 - q)), 0.0)
    return a + b


def _glr_brute_force(x: np.ndarray, split_every: int = 1) -> float:
    """max over s in {split_every, 2 split_every, ...} < n of the Bernoulli GLR statistic."""
    n = len(x)
    if n < 2:
        return 0.0
    s = np.arange(split_every, n, split_every)
    if s.size == 0:
        return 0.0
    c = np.cumsum(x)
    mu = c[-1] / n
    head = c[s - 1] / s
    tail = (c[-1] - c[s - 1]) / (n - s)
    return float(np.max(s * _kl(head, mu) + (n - s) * _kl(tail, mu)))


# ---- the detectors, step by step ----


def test_cusum_statistics_and_restarts_equal_a_numpy_recursion() -> None:
    h, eps, m = 4.0, 0.05, 15
    policy = regretless.CUSUMUCB(2, h=h, epsilon=eps, warmup=m, alpha=0.0, seed=0)
    rng = np.random.default_rng(1)
    means = np.repeat([0.3, 0.8, 0.2, 0.6], 150)
    rewards = np.where(rng.random(means.size) < means, 1.0, rng.random(means.size) * 0.3)
    n, total, u0, gp, gm, alarms = 0, 0.0, 0.0, 0.0, 0.0, []
    for step, y in enumerate(rewards, start=1):
        policy.update(0, float(y))
        n += 1
        total += y
        if n == m:
            u0 = total / m
        elif n > m:
            gp = max(0.0, gp + y - u0 - eps)
            gm = max(0.0, gm + u0 - y - eps)
            if gp >= h or gm >= h:
                alarms.append(step)
                n, total, u0, gp, gm = 0, 0.0, 0.0, 0.0, 0.0
        g_plus, g_minus = policy.cusum_statistics()
        assert g_plus[0] == pytest.approx(gp, abs=1e-12), step
        assert g_minus[0] == pytest.approx(gm, abs=1e-12), step
        assert policy.counts_since_restart()[0] == n
    assert policy.change_points == alarms
    assert len(alarms) >= 3  # each of the three changes is caught
    # Lifetime statistics are kept apart from the restarted ones.
    assert policy.counts()[0] == rewards.size
    assert policy.means()[0] == pytest.approx(rewards.mean())


def test_cusum_index_is_ucb_on_the_rewards_since_the_restart() -> None:
    xi = 0.7
    policy = regretless.CUSUMUCB(3, h=3.0, epsilon=0.1, warmup=5, alpha=0.0, xi=xi, seed=0)
    policy.update_batch([0] * 5 + [1] * 4 + [2] * 2, [1.0] * 5 + [0.5] * 4 + [0.0, 1.0])
    policy.update_batch([0] * 4, [0.0] * 4)  # g- = 0.9 k: the 4th reward fires
    assert policy.change_points == [15]
    n, means = np.array([4, 2]), np.array([0.5, 0.5])  # arms 1 and 2; n_t = 6
    scores = policy.scores()
    assert scores[0] == math.inf
    np.testing.assert_allclose(scores[1:], means + np.sqrt(xi * math.log(6) / n), rtol=1e-12)


def test_glr_statistic_and_alarms_equal_brute_force_over_every_split() -> None:
    delta = 0.02
    for split_every in (1, 4):
        policy = regretless.GLRUCB(
            2, delta=delta, alpha=0.0, test_every=1, split_every=split_every, seed=0
        )
        rng = np.random.default_rng(2)
        means = np.repeat([0.7, 0.3, 0.9], 200)
        rewards = np.where(rng.random(means.size) < means, 1.0, 0.0)
        rewards[::7] = rng.random(rewards[::7].size)  # some rewards inside (0, 1)
        since: list[float] = []
        alarms = []
        for step, y in enumerate(rewards, start=1):
            policy.update(0, float(y))
            since.append(float(y))
            stat = _glr_brute_force(np.array(since), split_every)
            if stat > math.log(len(since) ** 1.5 / delta):
                alarms.append(step)
                since = []
                assert policy.glr_statistics()[0] == 0.0
            else:
                got = policy.glr_statistics()[0]
                assert got == pytest.approx(stat, rel=1e-9, abs=1e-12), step
            assert policy.counts_since_restart()[0] == len(since)
        assert policy.change_points == alarms
        assert len(alarms) >= 2, alarms


def test_glr_down_sampling_tests_every_test_every_rewards_only() -> None:
    # A flagrant change, tested every 10 rewards: the alarm falls on a multiple of 10.
    policy = regretless.GLRUCB(2, delta=0.01, alpha=0.0, test_every=10, split_every=10, seed=0)
    policy.update_batch([0] * 200, [1.0] * 200)
    for _ in range(20):
        policy.update(0, 0.0)
        if policy.n_restarts:
            break
    assert policy.change_points == [210]
    # The full test fires on the 3rd zero (see the class docstring's arithmetic).
    full = regretless.GLRUCB(2, delta=0.01, alpha=0.0, test_every=1, split_every=1, seed=0)
    full.update_batch([0] * 200 + [0] * 10, [1.0] * 200 + [0.0] * 10)
    assert full.change_points[0] < 210


def test_glr_forced_exploration_schedule_and_kl_ucb_index() -> None:
    k, alpha = 3, 0.25  # period floor(3 / 0.25) = 12
    policy = regretless.GLRUCB(k, delta=1e-9, alpha=alpha, seed=0)
    rng = np.random.default_rng(3)
    picks = []
    for _ in range(53):
        arm = policy.select()
        picks.append(arm)
        policy.update(arm, float(rng.random() < 0.5))
    for t in range(48):
        if t % 12 < k:
            assert picks[t] == t % 12, t
    # At a step that is not forced (53 mod 12 = 5), the scores are the Bernoulli kl-UCB
    # indices at level ln t: n_i kl(mean_i, q_i) = ln t.
    assert policy.n_restarts == 0
    counts, means, t = policy.counts(), policy.means(), policy.n_updates
    for i, q in enumerate(policy.scores()):
        assert means[i] < q < 1
        assert counts[i] * _kl(means[i], q) == pytest.approx(math.log(t), rel=1e-6)


# ---- false alarms and detection delays ----


def _alarm_counts(make, n: int, p: float, seeds: int) -> np.ndarray:
    out = []
    for s in range(seeds):
        policy = make()
        rewards = (np.random.default_rng(100 + s).random(n) < p).astype(float)
        policy.update_batch(np.zeros(n, dtype=np.int64), rewards)
        out.append(policy.n_restarts)
    return np.array(out)


def _siegmund_two_sided_rate(h: float, eps: float, var: float) -> float:
    """Alarms per sample of a two-sided CUSUM on a stationary stream with drift eps below
    zero on each side (Siegmund's approximation of the one-sided run length, corrected
    threshold h + 1.166 sigma)."""
    a = 2 * eps * (h + 1.166 * math.sqrt(var)) / var
    arl = (math.exp(a) - 1 - a) / (2 * eps * eps / var)
    return 2 / arl


def test_cusum_false_alarm_rate_on_a_stationary_arm_matches_theory() -> None:
    # A long warm-up makes u0 nearly exact, so the rate is that of the textbook CUSUM.
    h, eps, m, n = math.log(5000), 0.1, 1000, 20_000
    counts = _alarm_counts(
        lambda: regretless.CUSUMUCB(2, h=h, epsilon=eps, warmup=m, alpha=0.0), m + n, 0.5, 20
    )
    rate = counts.sum() / (20 * n)
    theory = _siegmund_two_sided_rate(h, eps, 0.25)  # ~1.1 alarms per 10,000 rewards
    assert 0.5 * theory < rate < 2.0 * theory, (rate, theory)
    # With the default warm-up (u0 from 200 rewards) a little more, still rare.
    counts = _alarm_counts(lambda: regretless.CUSUMUCB(2, h=h, alpha=0.0), 3333, 0.5, 40)
    assert counts.mean() < 1.5, counts.mean()


def test_glr_false_alarm_probability_is_below_delta() -> None:
    # The full test (every reward, every split) costs O(n^2) per stream: 500 rewards each.
    def full(delta: float):
        return lambda: regretless.GLRUCB(2, delta=delta, alpha=0.0, test_every=1, split_every=1)

    counts = _alarm_counts(full(0.1), 500, 0.5, 100)
    assert (counts > 0).mean() <= 0.1, (counts > 0).mean()  # measured: 0.02
    # A confidence level near 1 alarms often: the threshold is what holds them back.
    counts = _alarm_counts(full(0.9), 500, 0.5, 20)
    assert (counts > 0).mean() > 0.2, (counts > 0).mean()


def _delays(make, n0: int, p0: float, p1: float, seeds: int) -> np.ndarray:
    out = []
    for s in range(seeds):
        policy = make()
        g = np.random.default_rng(200 + s)
        rewards = np.concatenate([g.random(n0) < p0, g.random(300) < p1]).astype(float)
        for y in rewards:
            policy.update(0, float(y))
            if policy.n_restarts:
                break
        cp = policy.change_points
        assert cp and cp[0] > n0, (s, cp)  # no false alarm before the change here
        out.append(cp[0] - n0)
    return np.array(out)


def test_cusum_detection_delay_is_h_over_the_drift() -> None:
    # After u0 ~ 0.2, each reward of the new arm adds 0.8 - u0 - eps = 0.5 to g+ on average:
    # Wald's approximation of the delay is h / 0.5.
    h = math.log(5000)
    delays = _delays(lambda: regretless.CUSUMUCB(2, h=h, alpha=0.0), 500, 0.2, 0.8, 40)
    predicted = h / (0.8 - 0.2 - 0.1)
    assert 0.75 * predicted < delays.mean() < 1.25 * predicted, (delays.mean(), predicted)


def _glr_predicted_delay(n0: int, p0: float, p1: float, delta: float) -> int:
    # The d at which the statistic with expected means at the true split crosses beta.
    for d in range(1, 1000):
        n = n0 + d
        mu = (p0 * n0 + p1 * d) / n
        if n0 * _kl(p0, mu) + d * _kl(p1, mu) > math.log(n**1.5 / delta):
            return d
    raise AssertionError("no crossing")


def test_glr_detection_delay_follows_the_threshold() -> None:
    delta, n0 = 0.01, 500
    predicted = _glr_predicted_delay(n0, 0.2, 0.8, delta)  # 18
    full = _delays(
        lambda: regretless.GLRUCB(2, delta=delta, alpha=0.0, test_every=1, split_every=1),
        n0,
        0.2,
        0.8,
        40,
    )
    assert 0.7 * predicted < full.mean() < 1.3 * predicted, (full.mean(), predicted)
    # Down-sampling (tests every 10 rewards, splits every 10) delays by at most ~10 more.
    sampled = _delays(lambda: regretless.GLRUCB(2, delta=delta, alpha=0.0), n0, 0.2, 0.8, 40)
    assert full.mean() < sampled.mean() < full.mean() + 12, (sampled.mean(), full.mean())


# ---- regret on the piecewise-stationary instance (benches/drift.py) ----

T = 9_999
CHANGES = [T // 3, 2 * T // 3]
SEGMENT_MEANS = np.array([[0.9, 0.1, 0.5], [0.1, 0.1, 0.5], [0.1, 0.9, 0.1]])
N_RUNS = 20


def _run(policy) -> np.ndarray:
    env = regretless.PiecewiseBernoulliEnv(SEGMENT_MEANS, CHANGES)
    return regretless.simulate(policy, env, horizon=T, n_runs=N_RUNS, seed=7).mean_regret()


@pytest.fixture(scope="module")
def curves() -> dict[str, np.ndarray]:
    return {
        "UCB1": _run(regretless.UCB1(3)),
        "SW-UCB": _run(regretless.SlidingWindowUCB(3, horizon=T)),
        "CUSUM-UCB": _run(regretless.CUSUMUCB(3, horizon=T, n_changes=2)),
        "GLR-UCB": _run(regretless.GLRUCB(3, horizon=T)),
    }


def _segment(curve: np.ndarray, lo: int, hi: int) -> float:
    return float(curve[hi - 1] - (curve[lo - 1] if lo > 0 else 0.0))


def test_change_detection_recovers_after_each_change_and_ucb1_does_not(curves) -> None:
    bounds = [0, *CHANGES, T]
    for name in ("CUSUM-UCB", "GLR-UCB"):
        for seg, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            means = SEGMENT_MEANS[seg]
            uniform = (hi - lo) * float(means.max() - means.mean())
            r = _segment(curves[name], lo, hi)
            # Forced exploration and detection cost something, far less than uniform play.
            assert 20.0 < r < 0.35 * uniform, (name, seg, r, uniform)
        # After the change that traps UCB1 (its old best arm falls), a sixth of its regret.
        r = _segment(curves[name], CHANGES[0], CHANGES[1])
        assert r < 0.15 * _segment(curves["UCB1"], CHANGES[0], CHANGES[1]), (name, r)
        assert curves[name][-1] < 0.5 * curves["UCB1"][-1], name
    # Against the sliding window (tuned with the same horizon): CUSUM-UCB within 1.25 times
    # its total regret, GLR-UCB (whose forced exploration and local restarts find the arm
    # that rises at the second change late) within 1.6 times.
    sw = curves["SW-UCB"][-1]
    assert curves["CUSUM-UCB"][-1] < 1.25 * sw, (curves["CUSUM-UCB"][-1], sw)
    assert curves["GLR-UCB"][-1] < 1.6 * sw, (curves["GLR-UCB"][-1], sw)


def test_alarms_follow_the_change_points_of_the_played_arm() -> None:
    # One run by hand: at the first change the played arm 0 falls from 0.9 to 0.1; both
    # detectors fire on it within a few dozen of its rewards.
    rng = np.random.default_rng(11)
    for policy in (
        regretless.CUSUMUCB(3, horizon=T, n_changes=2, seed=1),
        regretless.GLRUCB(3, horizon=T, seed=1),
    ):
        seg = 0
        for t in range(CHANGES[1]):
            seg = int(t >= CHANGES[0])
            arm = policy.select()
            policy.update(arm, float(rng.random() < SEGMENT_MEANS[seg][arm]))
        after = [c for c in policy.change_points if c > CHANGES[0]]
        assert after and after[0] <= CHANGES[0] + 60, (type(policy).__name__, after)
        assert policy.n_restarts == len(policy.change_points)
        # Arm 0 restarted: its count since the restart is far below its lifetime count.
        assert policy.counts_since_restart()[0] < policy.counts()[0] - 1000


def test_bad_hyperparameters_are_refused_before_any_state() -> None:
    with pytest.raises(regretless.InvalidParameterError, match="h"):
        regretless.CUSUMUCB(3, alpha=0.1)
    with pytest.raises(regretless.InvalidParameterError, match="alpha"):
        regretless.CUSUMUCB(3, h=5.0)
    with pytest.raises(regretless.InvalidParameterError, match="n_changes"):
        regretless.CUSUMUCB(3, horizon=10, n_changes=10)
    with pytest.raises(regretless.InvalidParameterError, match="restart"):
        regretless.CUSUMUCB(3, horizon=100, restart="both")
    with pytest.raises(regretless.InvalidParameterError, match="warmup"):
        regretless.CUSUMUCB(3, horizon=100, warmup=0)
    with pytest.raises(regretless.InvalidParameterError, match="epsilon"):
        regretless.CUSUMUCB(3, horizon=100, epsilon=-0.1)
    with pytest.raises(regretless.InvalidParameterError, match="delta"):
        regretless.GLRUCB(3, alpha=0.1)
    for bad in (0.0, 1.5, math.nan):
        with pytest.raises(regretless.InvalidParameterError, match="delta"):
            regretless.GLRUCB(3, delta=bad, alpha=0.1)
        with pytest.raises(regretless.InvalidParameterError, match="alpha"):
            regretless.GLRUCB(3, delta=0.1, alpha=bad if bad else -1.0)
    with pytest.raises(regretless.InvalidParameterError, match="split_every"):
        regretless.GLRUCB(3, horizon=100, split_every=0)
    # The defaults follow the papers' formulas.
    c = regretless.CUSUMUCB(3, horizon=10_000, n_changes=2)
    assert c.h == pytest.approx(math.log(5000))
    assert c.alpha == pytest.approx(math.sqrt(2 * math.log(5000) / 10_000))
    g = regretless.GLRUCB(3, horizon=10_000)
    assert g.delta == pytest.approx(0.01)
    assert g.alpha == pytest.approx(math.sqrt(3 * math.log(10_000) / 10_000))


@pytest.mark.parametrize(
    "make",
    [
        lambda: regretless.CUSUMUCB(3, h=3.0, warmup=5, alpha=0.1, seed=1),
        lambda: regretless.GLRUCB(3, delta=0.05, alpha=0.1, seed=1),
    ],
)
def test_merge_is_refused_with_a_reason(make) -> None:
    a, b = make(), make()
    a.update_batch([0, 1, 2], [1.0, 0.0, 0.5])
    before = a.to_bytes()
    with pytest.raises(regretless.IncompatibleError, match="order of one stream"):
        a.merge(b)
    assert a.to_bytes() == before
