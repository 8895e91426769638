"""Regret behaviour of the policies on seeded problems, simulated in Rust.

Each assertion compares a measured regret (a mean over independent seeded runs) with
what theory predicts. The tolerances were set from simulations of the correct
algorithms and are loose enough for seed-to-seed variation. They are tight enough that
the usual implementation errors (a wrong exploration constant, a missing importance
weight, exploring only the non-greedy arms, an elimination radius off by a factor) fail.
Seeds are fixed, so results are reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import regretless as rl

# Bernoulli problem: best arm in the middle (index 3), gaps 0.3, 0.1, 0.4, 0, 0.2.
MEANS = np.array([0.6, 0.8, 0.5, 0.9, 0.7])
K = len(MEANS)
BEST = int(MEANS.argmax())
GAPS = MEANS.max() - MEANS
SUBOPTIMAL = [i for i in range(K) if GAPS[i] > 0]
HORIZON = 100_000
RUNS = 20
ENV = rl.BernoulliEnv(MEANS)

FACTORIES = {
    "UCB1": lambda: rl.UCB1(K),
    "KLUCB": lambda: rl.KLUCB(K),
    "Thompson": lambda: rl.ThompsonSampling(K),
    "MOSS": lambda: rl.MOSS(K),
    "MOSS-horizon": lambda: rl.MOSS(K, horizon=HORIZON),
    "UCBV": lambda: rl.UCBV(K),
    "EpsilonGreedy-decay": lambda: rl.EpsilonGreedy(K, epsilon=1.0, decay=5.0),
}
SEEDS = {name: 1000 + i for i, name in enumerate(FACTORIES)}
_cache: dict[str, rl.SimulationResult] = {}


def bernoulli_result(name: str) -> rl.SimulationResult:
    """RUNS runs of HORIZON steps on the Bernoulli problem (cached: several tests read
    the same curves)."""
    if name not in _cache:
        _cache[name] = rl.simulate(
            FACTORIES[name](), ENV, HORIZON, n_runs=RUNS, seed=SEEDS[name], record_every=100
        )
    return _cache[name]


def mean_regret_at(res: rl.SimulationResult, t: int) -> float:
    (idx,) = np.flatnonzero(res.steps == t)
    return float(res.regret[:, idx].mean())


def kl_bernoulli(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def lai_robbins_constant(means) -> float:
    """sum_i Delta_i / kl(mu_i, mu*): regret / ln T of any consistent policy, in the
    limit."""
    best = max(means)
    return sum((best - m) / kl_bernoulli(m, best) for m in means if m < best)


# ---------------------------------------------------------------------------------------
# stochastic Bernoulli arms: logarithmic regret


def test_result_shape_and_bookkeeping():
    res = bernoulli_result("UCB1")
    assert res.regret.shape == (RUNS, HORIZON // 100)
    assert res.best_arm == BEST
    np.testing.assert_array_equal(res.counts.sum(axis=1), HORIZON)
    # Pseudo-regret is sum_t Delta_{A_t}: it equals the counts weighted by the gaps.
    np.testing.assert_allclose(res.final_regret(), res.counts @ GAPS, rtol=1e-9)
    assert np.all(np.diff(res.regret, axis=1) >= -1e-9)


@pytest.mark.parametrize("name", ["UCB1", "KLUCB", "Thompson"])
def test_regret_grows_logarithmically(name):
    res = bernoulli_result(name)
    r3, r4, r5 = (mean_regret_at(res, t) for t in (1_000, 10_000, HORIZON))
    # Ten times the horizon: log growth multiplies the regret by ln(1e5)/ln(1e4) = 1.25,
    # sqrt growth by 3.2, linear by 10.
    assert r5 / r4 < 2.0, (r3, r4, r5)
    assert r4 / r3 < 4.0, (r3, r4, r5)
    # regret / ln T is roughly flat between 1e4 and 1e5.
    flatness = (r5 / math.log(HORIZON)) / (r4 / math.log(10_000))
    assert 0.8 < flatness < 1.6, (r4, r5)
    # ...and not below what any consistent policy must pay (it does explore).
    assert r5 > 0.3 * lai_robbins_constant(MEANS) * math.log(HORIZON)
    assert np.all(res.final_regret() < 0.02 * HORIZON)


def test_ucb1_pulls_match_its_confidence_radius():
    # mean + sqrt(2 ln t / n) drops below mu* once n ~ 2 ln T / Delta^2 (Auer et al.):
    # the pull counts measure the exploration constant (alpha = 0.5 would give 1/4).
    counts = bernoulli_result("UCB1").counts.mean(axis=0)
    for i in SUBOPTIMAL:
        ratio = counts[i] / (2 * math.log(HORIZON) / GAPS[i] ** 2)
        assert 0.5 < ratio < 1.3, (i, ratio)


def test_klucb_and_thompson_beat_ucb1():
    ucb1 = bernoulli_result("UCB1").final_regret().mean()
    klucb = bernoulli_result("KLUCB").final_regret().mean()
    thompson = bernoulli_result("Thompson").final_regret().mean()
    assert klucb < 0.5 * ucb1, (klucb, ucb1)
    assert thompson < 0.5 * ucb1, (thompson, ucb1)


def test_klucb_attains_the_lai_robbins_constant():
    """KL-UCB is asymptotically optimal: arm i is pulled about ln T / kl(mu_i, mu*)
    times, so the regret is about sum_i Delta_i ln T / kl(mu_i, mu*)."""
    res = bernoulli_result("KLUCB")
    lr = lai_robbins_constant(MEANS)
    ratio = res.final_regret().mean() / (lr * math.log(HORIZON))
    assert 0.5 < ratio < 1.5, ratio
    counts = res.counts.mean(axis=0)
    for i in SUBOPTIMAL:
        r = counts[i] / (math.log(HORIZON) / kl_bernoulli(MEANS[i], MEANS[BEST]))
        assert 0.5 < r < 1.5, (i, r)
    # The slope in ln T between 1e4 and 1e5 is of the order of the constant too (UCB1's is
    # more than ten times larger).
    slope = (mean_regret_at(res, HORIZON) - mean_regret_at(res, 10_000)) / math.log(10)
    assert 0.5 * lr < slope < 2.5 * lr, (slope, lr)


def test_bayesucb_beats_ucb1_and_is_near_optimal():
    horizon = 20_000
    res = rl.simulate(rl.BayesUCB(K), ENV, horizon, n_runs=10, seed=7, record_every=100)
    ucb1 = rl.simulate(rl.UCB1(K), ENV, horizon, n_runs=10, seed=7, record_every=100)
    bayes = res.final_regret().mean()
    assert bayes < 0.5 * ucb1.final_regret().mean()
    ratio = bayes / (lai_robbins_constant(MEANS) * math.log(horizon))
    assert 0.3 < ratio < 1.5, ratio


@pytest.mark.parametrize("name", ["MOSS", "MOSS-horizon", "UCBV", "EpsilonGreedy-decay"])
def test_regret_is_sublinear(name):
    res = bernoulli_result(name)
    r4, r5 = mean_regret_at(res, 10_000), mean_regret_at(res, HORIZON)
    assert r5 / r4 < 2.0, (r4, r5)  # sqrt growth would be 3.2, linear 10
    assert r5 < 0.005 * HORIZON
    # Most of the pulls go to the best arm: in the typical run, and in every run up to the
    # occasional early lock-in that decaying epsilon-greedy takes a while to undo.
    share = res.counts[:, BEST] / HORIZON
    assert np.median(share) > 0.95 and share.min() > 0.8, share


def test_moss_beats_ucb1():
    ucb1 = bernoulli_result("UCB1").final_regret().mean()
    for name in ("MOSS", "MOSS-horizon"):
        assert bernoulli_result(name).final_regret().mean() < 0.5 * ucb1


def test_ucbv_exploits_low_variance():
    """UCB-V's empirical-Bernstein index shrinks with the arms' variance; UCB1's does
    not. On arms with spread +-0.05, UCB-V explores far less."""
    rng = np.random.default_rng(8)
    means = np.array([0.5, 0.45, 0.4, 0.55, 0.3])
    table = np.clip(means + rng.uniform(-0.05, 0.05, size=(HORIZON, K)), 0.0, 1.0)
    env = rl.TableEnv(table)
    ucbv = rl.simulate(rl.UCBV(K), env, HORIZON, n_runs=10, seed=9, record_every=1000)
    ucb1 = rl.simulate(rl.UCB1(K), env, HORIZON, n_runs=10, seed=9, record_every=1000)
    assert ucbv.best_arm == 3
    assert ucbv.final_regret().mean() < 0.5 * ucb1.final_regret().mean()


def test_gaussian_thompson_sublinear_on_gaussian_arms():
    env = rl.GaussianEnv([0.0, 0.5, 1.0, 0.8], sd=1.0)
    res = rl.simulate(
        rl.GaussianThompsonSampling(4), env, HORIZON, n_runs=RUNS, seed=10, record_every=100
    )
    r4, r5 = mean_regret_at(res, 10_000), mean_regret_at(res, HORIZON)
    assert r5 / r4 < 2.0, (r4, r5)
    assert np.all(res.counts[:, 2] > 0.9 * HORIZON)


# ---------------------------------------------------------------------------------------
# successive elimination


def test_successive_elimination_eliminates_suboptimal_arms():
    delta = 0.05
    res = rl.simulate(
        rl.SuccessiveElimination(K, delta=delta),
        ENV,
        HORIZON,
        n_runs=RUNS,
        seed=11,
        record_every=1000,
    )

    def radius(n):
        return np.sqrt(np.log(4 * K * n**2 / delta) / (2 * n))

    n = np.arange(1, HORIZON + 1)
    for i in SUBOPTIMAL:
        # On the 1 - delta event where every mean stays within its radius, arm i is gone
        # once 4 r(n) < Delta_i.
        guaranteed = n[4 * radius(n) < GAPS[i]][0]
        assert np.all(res.counts[:, i] <= guaranteed + 1), (i, res.counts[:, i], guaranteed)
        # Typically it goes when the observed gap, about Delta_i, exceeds 2 r(n); the
        # median count pins down the scale of the radius.
        typical = n[2 * radius(n) < GAPS[i]][0]
        median = np.median(res.counts[:, i])
        assert 0.5 * typical < median < 2 * typical, (i, median, typical)
    # Every suboptimal arm is eliminated well before the horizon and the best one never
    # is: from then on the pseudo-regret does not grow at all.
    (idx,) = np.flatnonzero(res.steps == 30_000)
    np.testing.assert_array_equal(res.regret[:, -1], res.regret[:, idx])


# ---------------------------------------------------------------------------------------
# epsilon-greedy with constant epsilon: linear regret of known slope


@pytest.mark.parametrize("epsilon", [0.05, 0.2])
def test_constant_epsilon_greedy_has_linear_regret(epsilon):
    """Once the greedy arm is the best one, each step explores with probability epsilon,
    uniformly over all K arms, so the regret grows at epsilon * mean(Delta) per step."""
    res = rl.simulate(
        rl.EpsilonGreedy(K, epsilon=epsilon),
        ENV,
        HORIZON,
        n_runs=RUNS,
        seed=12,
        record_every=1000,
    )
    half = HORIZON // 2
    (idx,) = np.flatnonzero(res.steps == half)
    slope = (res.regret[:, -1] - res.regret[:, idx]).mean() / (HORIZON - half)
    expected = epsilon * GAPS.mean()
    assert slope == pytest.approx(expected, rel=0.05), (slope, expected)
    # Exploring only the non-greedy arms would give epsilon * sum(Delta) / (K - 1).
    assert abs(slope - epsilon * GAPS.sum() / (K - 1)) > 0.1 * expected


# ---------------------------------------------------------------------------------------
# adversarial tables: EXP3 and EXP3-IX


T_ADV = 100_000
K_ADV = 3


def _bernoulli_rows(rng, n, means):
    return (rng.random((n, K_ADV)) < np.asarray(means)).astype(float)


def switching_table() -> np.ndarray:
    """The best arm switches halfway: arm 0 leads the first half and arm 1 the second.
    Arm 1 is the best fixed arm overall, so a policy must unlearn its early favourite.
    (A policy that follows the switch can beat the best fixed arm, so its regret may be
    negative; the bound must hold whatever it does.)"""
    rng = np.random.default_rng(13)
    half = T_ADV // 2
    return np.vstack(
        [_bernoulli_rows(rng, half, (0.7, 0.5, 0.4)), _bernoulli_rows(rng, half, (0.45, 0.7, 0.4))]
    )


def flip_flop_table() -> np.ndarray:
    """The best arm of the moment alternates between arms 0 and 1 every 100 steps (one
    pays 1, the other 0), too fast to track. The best fixed arm is arm 2, which always
    pays 0.6: arms 0 and 1 average 0.5 and have maximal variance."""
    t = np.arange(T_ADV)
    first = ((t // 100) % 2 == 0).astype(float)
    return np.stack([first, 1 - first, np.full(T_ADV, 0.6)], axis=1)


def random_table() -> np.ndarray:
    rng = np.random.default_rng(14)
    return _bernoulli_rows(rng, T_ADV, (0.5, 0.6, 0.45))


# name -> (table, best fixed arm)
TABLES = {
    "switching": (switching_table, 1),
    "flip-flop": (flip_flop_table, 2),
    "random": (random_table, 1),
}


def uniform_play_regret(table: np.ndarray) -> float:
    totals = table.sum(axis=0)
    return float(totals.max() - totals.mean())


@pytest.mark.parametrize("table_name", list(TABLES))
def test_exp3_regret_bound_on_adversarial_tables(table_name):
    make_table, best = TABLES[table_name]
    table = make_table()
    env = rl.TableEnv(table)
    bound = math.sqrt(2 * K_ADV * T_ADV * math.log(K_ADV))
    # The bound is informative: an EXP3 that does not learn (uniform play) exceeds it.
    assert uniform_play_regret(table) > 5 * bound
    tuned = rl.simulate(
        rl.EXP3(K_ADV, horizon=T_ADV), env, T_ADV, n_runs=RUNS, seed=15, record_every=1000
    )
    assert tuned.best_arm == best
    assert tuned.final_regret().mean() <= bound, (tuned.final_regret().mean(), bound)
    # Anytime rate sqrt(ln K / (K t)): expected regret <= 2 sqrt(K T ln K).
    anytime = rl.simulate(rl.EXP3(K_ADV), env, T_ADV, n_runs=RUNS, seed=16, record_every=1000)
    assert anytime.final_regret().mean() <= 2 * math.sqrt(K_ADV * T_ADV * math.log(K_ADV))


@pytest.mark.parametrize("table_name", list(TABLES))
def test_exp3ix_high_probability_bound(table_name):
    """Neu (2015), Theorem 1: with eta = 2 gamma = sqrt(2 ln K / (K T)), with probability
    at least 1 - delta, R_T <= 2 sqrt(2 K T ln K) + (sqrt(2 K T / ln K) + 1) ln(2 / delta).
    It must hold in every run (delta = 0.01)."""
    table = TABLES[table_name][0]()
    res = rl.simulate(
        rl.EXP3IX(K_ADV, horizon=T_ADV),
        rl.TableEnv(table),
        T_ADV,
        n_runs=RUNS,
        seed=17,
        record_every=1000,
    )
    k, t, delta = K_ADV, T_ADV, 0.01
    bound = 2 * math.sqrt(2 * k * t * math.log(k)) + (
        math.sqrt(2 * k * t / math.log(k)) + 1
    ) * math.log(2 / delta)
    expected_bound = math.sqrt(2 * k * t * math.log(k))
    assert uniform_play_regret(table) > 5 * expected_bound
    assert np.all(res.final_regret() <= bound), (res.final_regret().max(), bound)
    # In expectation it does as well as EXP3.
    assert res.final_regret().mean() <= expected_bound
