"""Every policy against a small, independent reference implementation.

The references here are written from the papers, ALGORITHMS.md and the policies' doc
strings, not from the Rust sources. They keep the raw reward history and recompute
each quantity from its definition. The library's own convention, stated in the UCB1 doc
string, is that ``t`` in an index formula is the number of rewards observed so far. Round
indices (used only by the anytime EXP3 rate) are ``t + 1``.

* Deterministic index policies run on a reward table drawn up front with numpy. After a
  warm-up that plays each arm once, in order, through ``update()``, the library and the
  reference must choose the same arm at every step; their indices must agree to 1e-9
  relative at checkpoints. Two arms with the same (n, S) have bit-identical indices, and
  the library breaks such ties at random. So with Bernoulli rewards a step counts as
  agreeing when the library's arm is one of the reference's argmax arms (to 1e-9); a
  test asserts these tie steps are rare. With continuous rewards ties cannot occur, and
  the sequence must be identical step for step.
* Randomized policies are fed a recorded (arm, reward) stream. Their ``probabilities()``
  (closed forms) or posterior parameters and means must match the reference at every
  step. From fixed states, the empirical frequencies of ``select()`` /
  ``select_batch()`` must match ``probabilities()`` (or a numpy Monte Carlo of the
  posterior, for Thompson sampling) under a chi-square test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import regretless as rl

K = 5
# Distinct means, none symmetric about 1/2, best arm neither first nor last.
MEANS = np.array([0.62, 0.81, 0.47, 0.74, 0.33])
STEPS = 3000
CHECKPOINTS = frozenset({K, K + 1, 50, 200, 777, 1500, STEPS - 1})
RTOL = 1e-9


# ---------------------------------------------------------------------------------------
# reward streams and shared reference state


def reward_table(kind: str, steps: int = STEPS, seed: int = 20240601) -> np.ndarray:
    """Reward of arm i at step t is table[t, i]; the same stream for library and
    reference."""
    rng = np.random.default_rng(seed)
    if kind == "bernoulli":
        return (rng.random((steps, K)) < MEANS).astype(float)
    if kind == "beta":  # continuous rewards in (0, 1) with the same means
        return rng.beta(4 * MEANS, 4 * (1 - MEANS), size=(steps, K))
    if kind == "gaussian":  # sd 0.5: variance 0.25, the KL-UCB default
        return MEANS + 0.5 * rng.standard_normal((steps, K))
    if kind == "poisson":
        return rng.poisson(3 * MEANS, size=(steps, K)).astype(float)
    raise ValueError(kind)


class History:
    """Raw per-arm statistics, accumulated from scratch: n_i, S_i = sum of rewards, and
    Q_i = sum of squared rewards."""

    def __init__(self, n_arms: int):
        self.k = n_arms
        self.arms: list[int] = []
        self.rewards: list[float] = []
        self.n = [0] * n_arms
        self.s = [0.0] * n_arms
        self.q = [0.0] * n_arms

    def add(self, arm: int, reward: float) -> None:
        self.arms.append(arm)
        self.rewards.append(reward)
        self.n[arm] += 1
        self.s[arm] += reward
        self.q[arm] += reward * reward

    @property
    def t(self) -> int:
        return len(self.arms)

    def mean(self, i: int) -> float:
        return self.s[i] / self.n[i]

    def var(self, i: int) -> float:
        """Maximum-likelihood variance (1/n) sum (x - mean)^2, exact for 0/1 rewards."""
        n = self.n[i]
        return max(n * self.q[i] - self.s[i] * self.s[i], 0.0) / (n * n)


def assert_counts_and_means(policy, hist: History) -> None:
    arms = np.asarray(hist.arms, dtype=np.int64)
    rewards = np.asarray(hist.rewards)
    counts = np.bincount(arms, minlength=hist.k)
    sums = np.bincount(arms, weights=rewards, minlength=hist.k)
    means = np.divide(sums, counts, out=np.zeros(hist.k), where=counts > 0)
    np.testing.assert_array_equal(policy.counts(), counts)
    np.testing.assert_allclose(policy.means(), means, rtol=1e-12, atol=1e-12)
    assert policy.n_updates == len(arms)


def near_argmax(values) -> list[int]:
    v = np.asarray(values, dtype=float)
    best = v.max()
    if math.isinf(best):
        return [int(i) for i in np.flatnonzero(v == best)]
    return [int(i) for i in np.flatnonzero(v >= best - RTOL * abs(best) - 1e-12)]


def drive_index_policy(policy, index, table, *, strict: bool, max_tie_fraction=0.02):
    """Runs `policy` on `table` against the reference index function `index(hist)`."""
    steps, k = table.shape
    hist = History(k)
    for arm in range(k):  # warm-up: every arm once, in order
        policy.update(arm, table[arm, arm])
        hist.add(arm, table[arm, arm])
    tie_steps = 0
    for step in range(k, steps):
        ref = index(hist)
        arm = int(policy.select())
        allowed = near_argmax(ref)
        assert arm in allowed, (
            f"step {step}: library played {arm}, reference argmax {allowed}; "
            f"reference {ref}, library {policy.scores().tolist()}"
        )
        if len(allowed) > 1:
            tie_steps += 1
        elif step in CHECKPOINTS or step % 97 == 0:
            expected = np.zeros(k)
            expected[arm] = 1.0
            np.testing.assert_array_equal(policy.probabilities(), expected)
        if step in CHECKPOINTS:
            np.testing.assert_allclose(policy.scores(), ref, rtol=RTOL, atol=1e-12)
            assert_counts_and_means(policy, hist)
        reward = table[step, arm]
        policy.update(arm, reward)
        hist.add(arm, reward)
    assert_counts_and_means(policy, hist)
    if strict:
        assert tie_steps == 0
    else:
        assert tie_steps <= max_tie_fraction * (steps - k)
    # The policy kept switching arms, so the comparison exercised real decisions.
    assert switches(hist.arms[k:]) >= 30
    return hist


def switches(arms) -> int:
    return int(np.count_nonzero(np.diff(np.asarray(arms))))


# ---------------------------------------------------------------------------------------
# reference indices


def ucb1_index(alpha: float):
    # Auer, Cesa-Bianchi, Fischer (2002): mean + sqrt(2 ln t / n_i), t plays so far.
    def index(h: History):
        lt = math.log(h.t)
        return [h.mean(i) + alpha * math.sqrt(2 * lt / h.n[i]) for i in range(h.k)]

    return index


def ucbv_index(zeta: float, c: float):
    # Audibert, Munos, Szepesvari (2009), rewards in [0, b] with b = 1:
    # mean + sqrt(2 V eps / n) + 3 b c eps / n, eps = zeta ln t, V the ML variance.
    def index(h: History):
        e = zeta * math.log(h.t)
        return [
            h.mean(i) + math.sqrt(2 * h.var(i) * e / h.n[i]) + 3 * c * e / h.n[i]
            for i in range(h.k)
        ]

    return index


def moss_index(horizon: int | None):
    # Audibert and Bubeck (2009): mean + sqrt(max(ln(n / (K s)), 0) / s), n the horizon;
    # the anytime variant puts the current t in its place.
    def index(h: History):
        big_n = horizon if horizon is not None else h.t
        return [
            h.mean(i) + math.sqrt(max(math.log(big_n / (h.k * h.n[i])), 0.0) / h.n[i])
            for i in range(h.k)
        ]

    return index


def kl_bernoulli(p: float, q: float) -> float:
    if q <= 0.0 or q >= 1.0:
        return 0.0 if p == q else math.inf
    out = 0.0
    if p > 0:
        out += p * math.log(p / q)
    if p < 1:
        out += (1 - p) * math.log((1 - p) / (1 - q))
    return out


def kl_poisson(p: float, q: float) -> float:
    if p == 0:
        return q
    return q - p + p * math.log(p / q)


def kl_upper(mean: float, n: int, level: float, kl, upper: float | None) -> float:
    """max{q >= mean : n kl(mean, q) <= level} by 100 steps of bisection."""
    lo = mean
    if upper is None:  # unbounded reward model: grow a bracket first
        hi = mean + 1.0
        while n * kl(mean, hi) <= level:
            hi = mean + 2 * (hi - mean)
    else:
        hi = upper
        if n * kl(mean, hi) <= level:
            return hi
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if n * kl(mean, mid) <= level:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def klucb_index(divergence: str, c: float = 0.0, plus: bool = False, variance=0.25):
    # Garivier and Cappe (2011): the largest q with n_i kl(mean_i, q) <= ln t + c ln ln t;
    # KL-UCB+ replaces t by t / n_i (this test uses c = 0 with it).
    if divergence == "bernoulli":
        kl, upper = kl_bernoulli, 1.0
    elif divergence == "gaussian":
        kl, upper = (lambda p, q: (p - q) ** 2 / (2 * variance)), None
    else:
        kl, upper = kl_poisson, None

    def index(h: History):
        out = []
        for i in range(h.k):
            base = math.log(h.t / h.n[i]) if plus else math.log(h.t)
            level = base + (c * math.log(base) if c else 0.0)
            out.append(kl_upper(h.mean(i), h.n[i], level, kl, upper))
        return out

    return index


# ---------------------------------------------------------------------------------------
# deterministic index policies


@pytest.mark.parametrize("kind", ["bernoulli", "beta"])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_ucb1_matches_reference(kind, alpha):
    drive_index_policy(
        rl.UCB1(K, alpha=alpha, seed=1),
        ucb1_index(alpha),
        reward_table(kind),
        strict=kind == "beta",
    )


@pytest.mark.parametrize("kind", ["bernoulli", "beta"])
@pytest.mark.parametrize(("zeta", "c"), [(1.2, 1.0), (1.0, 0.4)])
def test_ucbv_matches_reference(kind, zeta, c):
    # The default is the paper's zeta = 1.2, c = 1.
    policy = rl.UCBV(K, seed=2) if (zeta, c) == (1.2, 1.0) else rl.UCBV(K, zeta=zeta, c=c, seed=2)
    drive_index_policy(policy, ucbv_index(zeta, c), reward_table(kind), strict=kind == "beta")


@pytest.mark.parametrize("kind", ["bernoulli", "beta"])
@pytest.mark.parametrize("horizon", [None, 20_000, STEPS])
def test_moss_matches_reference(kind, horizon):
    drive_index_policy(
        rl.MOSS(K, horizon=horizon, seed=3),
        moss_index(horizon),
        reward_table(kind),
        strict=kind == "beta",
    )


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("bernoulli", {}),
        ("beta", {}),
        ("bernoulli", {"c": 3.0}),
        ("bernoulli", {"plus": True}),
        ("beta", {"plus": True}),
        ("gaussian", {"divergence": "gaussian"}),
        ("gaussian", {"divergence": "gaussian", "variance": 1.7, "c": 1.0}),
        ("poisson", {"divergence": "poisson"}),
    ],
)
def test_klucb_matches_reference(kind, kwargs):
    policy = rl.KLUCB(K, seed=4, **kwargs)
    index = klucb_index(
        kwargs.get("divergence", "bernoulli"),
        c=kwargs.get("c", 0.0),
        plus=kwargs.get("plus", False),
        variance=kwargs.get("variance", 0.25),
    )
    drive_index_policy(
        policy,
        index,
        reward_table(kind, steps=2000),
        strict=kind in ("beta", "gaussian"),
        # Poisson counts tie about as often as 0/1 rewards.
    )


def test_klucb_special_values():
    # mean 0: kl(0, q) = -ln(1 - q), so q = 1 - exp(-level / n); mean 1: index 1.
    p = rl.KLUCB(3)
    p.update_batch([0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 0, 0, 1, 1, 0.5, 0.5, 0.5, 0.5])
    s = p.scores()
    level = math.log(9)
    assert s[0] == pytest.approx(1 - math.exp(-level / 3), rel=1e-12)
    assert s[1] == 1.0
    assert s[2] == pytest.approx(kl_upper(0.5, 4, level, kl_bernoulli, 1.0), rel=1e-12)
    # Poisson with mean 0: kl(0, q) = q, so q = level / n.
    p = rl.KLUCB(2, divergence="poisson")
    p.update_batch([0, 0, 1], [0.0, 0.0, 4.0])
    assert p.scores()[0] == pytest.approx(math.log(3) / 2, rel=1e-12)


# ---- Bayes-UCB


_LOG_FACTORIAL = np.array([math.lgamma(k + 1) for k in range(2 * STEPS + 16)])


def beta_upper_tail(a: int, b: int, x: float) -> float:
    """P(X > x) for X ~ Beta(a, b) with integer a, b: P(Binomial(a + b - 1, x) <= a - 1)
    (the order-statistic identity), summed in log space."""
    n = a + b - 1
    j = np.arange(a)
    log_terms = (
        _LOG_FACTORIAL[n]
        - _LOG_FACTORIAL[j]
        - _LOG_FACTORIAL[n - j]
        + j * math.log(x)
        + (n - j) * math.log1p(-x)
    )
    m = log_terms.max()
    return float(math.exp(m) * np.exp(log_terms - m).sum())


def beta_quantile_bisect(a: int, b: int, tail: float) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if beta_upper_tail(a, b, mid) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def bayes_tail(t: int, c: float, horizon: int | None) -> float:
    # Kaufmann, Cappe, Garivier (2012): quantile 1 - 1/(t (ln n)^c), n the horizon.
    big_n = horizon if horizon is not None else t
    return 1.0 / (t * math.log(big_n) ** c)


@pytest.mark.parametrize(
    ("prior", "c", "horizon"), [((1, 1), 0.0, None), ((2, 3), 2.0, 3000), ((1, 1), 1.0, None)]
)
def test_bayesucb_matches_exact_beta_quantile(prior, c, horizon):
    """Integer priors and 0/1 rewards keep the posterior parameters integers, for which
    the Beta tail is an exact binomial sum. This needs no scipy. At every step, the
    reference quantile must lie within 1e-9 (relative) of the library's index, which
    requires U(q (1 - 1e-9)) >= tail >= U(q (1 + 1e-9)). At checkpoints it is solved by
    bisection."""
    a0, b0 = prior
    policy = rl.BayesUCB(K, prior_alpha=a0, prior_beta=b0, c=c, horizon=horizon, seed=5)
    table = reward_table("bernoulli", steps=2000)
    hist = History(K)
    for arm in range(K):
        policy.update(arm, table[arm, arm])
        hist.add(arm, table[arm, arm])
    tie_steps = 0
    for step in range(K, len(table)):
        tail = bayes_tail(hist.t, c, horizon)
        q = policy.scores()
        lo, hi = np.empty(K), np.empty(K)
        for i in range(K):
            a = a0 + round(hist.s[i])
            b = b0 + hist.n[i] - round(hist.s[i])
            lo[i] = q[i] * (1 - RTOL)
            hi[i] = min(q[i] * (1 + RTOL), 1.0)
            assert beta_upper_tail(a, b, lo[i]) >= tail, (step, i, q[i])
            if hi[i] < 1.0:
                assert beta_upper_tail(a, b, hi[i]) <= tail, (step, i, q[i])
            if step in CHECKPOINTS:
                assert q[i] == pytest.approx(beta_quantile_bisect(a, b, tail), rel=RTOL)
        allowed = [i for i in range(K) if hi[i] >= lo.max()]
        arm = int(policy.select())
        assert arm in allowed, (step, arm, allowed, q)
        tie_steps += len(allowed) > 1
        policy.update(arm, table[step, arm])
        hist.add(arm, table[step, arm])
    assert_counts_and_means(policy, hist)
    assert tie_steps <= 0.02 * len(table)
    assert switches(hist.arms[K:]) >= 30


def test_bayesucb_matches_scipy_quantile():
    """Non-integer prior and fractional rewards, against scipy's Beta quantile."""
    stats = pytest.importorskip("scipy.stats")
    a0, b0 = 0.5, 0.7
    policy = rl.BayesUCB(K, prior_alpha=a0, prior_beta=b0, seed=6)

    def index(h: History):
        tail = 1.0 / h.t
        return [float(stats.beta.isf(tail, a0 + h.s[i], b0 + h.n[i] - h.s[i])) for i in range(h.k)]

    drive_index_policy(policy, index, reward_table("beta", steps=1500), strict=True)


# ---- successive elimination


@pytest.mark.parametrize("delta", [0.05, 0.3])
def test_successive_elimination_matches_reference(delta):
    """Even-Dar, Mannor, Mansour (2006) with the anytime radius of the doc string,
    sqrt(ln(4 K n^2 / delta) / (2 n)). Arms are played round-robin (least pulled first,
    ties at random), so the library's arm must be one of the least-pulled active arms and
    probabilities() uniform over exactly those. Eliminations must match the reference
    after every update."""
    policy = rl.SuccessiveElimination(K, delta=delta, seed=7)
    table = reward_table("bernoulli", steps=4000)

    def radius(n):
        return math.sqrt(math.log(4 * K * n * n / delta) / (2 * n))

    hist = History(K)
    active = [True] * K
    elimination_step = [None] * K

    def observe(step, arm, reward):
        policy.update(arm, reward)
        hist.add(arm, reward)
        best_lcb = max(
            hist.mean(j) - radius(hist.n[j]) for j in range(K) if active[j] and hist.n[j]
        )
        for i in range(K):
            if active[i] and hist.n[i] and hist.mean(i) + radius(hist.n[i]) < best_lcb:
                active[i] = False
                elimination_step[i] = step
        np.testing.assert_array_equal(policy.active(), active)

    for arm in range(K):
        observe(arm, arm, table[arm, arm])
    for step in range(K, len(table)):
        least = min(hist.n[i] for i in range(K) if active[i])
        allowed = [i for i in range(K) if active[i] and hist.n[i] == least]
        expected = np.zeros(K)
        expected[allowed] = 1.0 / len(allowed)
        np.testing.assert_array_equal(policy.probabilities(), expected)
        arm = int(policy.select())
        assert arm in allowed
        if step in CHECKPOINTS:
            ref = [hist.mean(i) + radius(hist.n[i]) if active[i] else -math.inf for i in range(K)]
            np.testing.assert_allclose(policy.scores(), ref, rtol=RTOL)
            assert_counts_and_means(policy, hist)
        observe(step, arm, table[step, arm])
    assert_counts_and_means(policy, hist)
    best = int(MEANS.argmax())
    assert active[best]
    # The large gaps are eliminated within the stream: the comparison saw eliminations.
    assert sum(not a for a in active) >= 2
    assert policy.active().tolist() == active


def test_successive_elimination_select_is_uniform_over_least_pulled():
    policy = rl.SuccessiveElimination(4, seed=8)
    policy.update_batch([0, 1, 2, 3, 0, 2], [0.5, 0.4, 0.6, 0.5, 0.5, 0.6])
    np.testing.assert_array_equal(policy.probabilities(), [0, 0.5, 0, 0.5])
    draws = np.array([policy.select() for _ in range(4000)])
    assert_frequencies(draws, policy.probabilities())


# ---------------------------------------------------------------------------------------
# randomized policies: closed-form probabilities


def chi2_threshold(df: int, z: float = 4.5) -> float:
    """Wilson-Hilferty upper quantile of chi-square(df) at about z standard deviations."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def assert_frequencies(draws, probs, *, reference_samples: int | None = None) -> None:
    """Chi-square goodness of fit of the drawn arms to `probs`. Arms of probability 0
    must never be drawn. If `probs` is itself a Monte Carlo estimate from
    `reference_samples` draws, the statistic is deflated by the extra variance."""
    probs = np.asarray(probs, dtype=float)
    draws = np.asarray(draws)
    counts = np.bincount(draws, minlength=len(probs))
    assert len(counts) == len(probs)
    support = probs > 0
    assert counts[~support].sum() == 0, (counts, probs)
    n = len(draws)
    expected = n * probs[support]
    stat = float(((counts[support] - expected) ** 2 / expected).sum())
    if reference_samples is not None:
        stat /= 1 + n / reference_samples
    df = int(support.sum()) - 1
    if df == 0:
        return
    assert stat < chi2_threshold(df), (stat, counts / n, probs)


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(z - np.logaddexp.reduce(z))


def epsilon_greedy_probs(hist: History, eps: float) -> np.ndarray:
    n = np.array(hist.n)
    if (n == 0).any():
        return (n == 0) / (n == 0).sum()
    means = np.array(hist.s) / n
    greedy = means == means.max()
    return eps / hist.k + (1 - eps) * greedy / greedy.sum()


def drive_recorded_stream(policy, ref_probs, table, rng, check, steps=None):
    """Plays arms drawn (by numpy) from the reference distribution, records the rewards
    of `table`, feeds them to the policy with update(), and calls check(hist, p_ref)
    before every update."""
    hist = History(table.shape[1])
    for step in range(steps or len(table)):
        p = ref_probs(hist)
        check(hist, p)
        arm = int(rng.choice(hist.k, p=p))
        policy.update(arm, table[step, arm])
        hist.add(arm, table[step, arm])
    check(hist, ref_probs(hist))
    assert_counts_and_means(policy, hist)
    return hist


@pytest.mark.parametrize(
    ("epsilon", "decay"), [(0.1, None), (0.35, None), (0.0, None), (1.0, 0.5), (0.2, 3.0)]
)
def test_epsilon_greedy_probabilities(epsilon, decay):
    # Constant epsilon, or Auer et al.'s decaying epsilon_t = min(epsilon, decay K / t).
    policy = rl.EpsilonGreedy(K, epsilon=epsilon, decay=decay, seed=9)
    rng = np.random.default_rng(10)

    def eps_t(hist):
        if decay is None:
            return epsilon
        return min(epsilon, decay * K / max(hist.t, 1))

    def check(hist, p):
        np.testing.assert_allclose(policy.probabilities(), p, rtol=0, atol=1e-12)
        assert policy.current_epsilon == pytest.approx(eps_t(hist), rel=1e-12)
        scores = [hist.mean(i) if hist.n[i] else math.inf for i in range(K)]
        np.testing.assert_allclose(policy.scores(), scores, rtol=1e-12)

    # Gaussian rewards: no two empirical means are ever equal.
    hist = drive_recorded_stream(
        policy,
        lambda h: epsilon_greedy_probs(h, eps_t(h)),
        reward_table("gaussian", steps=1500),
        rng,
        check,
    )
    p = policy.probabilities()
    assert_frequencies(policy.select_batch(200_000), p)
    assert_frequencies([policy.select() for _ in range(20_000)], p)
    np.testing.assert_array_equal(policy.counts(), np.bincount(hist.arms, minlength=K))


def test_epsilon_greedy_splits_exact_ties():
    # Rewards whose running means are exact in binary: arms 1 and 2 are tied at 0.75.
    policy = rl.EpsilonGreedy(4, epsilon=0.2, seed=11)
    policy.update_batch([0, 1, 1, 2, 3, 3], [0.5, 0.5, 1.0, 0.75, 0.25, 0.5])
    expected = np.array([0.05, 0.05 + 0.4, 0.05 + 0.4, 0.05])
    np.testing.assert_allclose(policy.probabilities(), expected, rtol=0, atol=1e-15)
    assert_frequencies(policy.select_batch(200_000), expected)
    # Untried arms come first, uniformly.
    policy = rl.EpsilonGreedy(4, epsilon=0.5, seed=12)
    policy.update(2, 0.3)
    np.testing.assert_array_equal(policy.probabilities(), [1 / 3, 1 / 3, 0, 1 / 3])
    assert_frequencies(policy.select_batch(30_000), [1 / 3, 1 / 3, 0, 1 / 3])


def test_epsilon_greedy_ties_do_not_depend_on_reward_order():
    policy = rl.EpsilonGreedy(2, epsilon=0.0, seed=13)
    # Both arms saw {0, 0, 1} (mean 1/3), in different orders.
    policy.update_batch([0, 0, 0, 1, 1, 1], [0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    assert policy.means()[0] == policy.means()[1]
    np.testing.assert_array_equal(policy.probabilities(), [0.5, 0.5])


@pytest.mark.parametrize("temperature", [0.1, 0.05, 1.0])
def test_softmax_probabilities(temperature):
    # Boltzmann exploration: p_i = exp(mean_i / tau) / sum_j exp(mean_j / tau).
    policy = rl.Softmax(K, temperature=temperature, seed=14)
    rng = np.random.default_rng(15)

    def ref(hist):
        n = np.array(hist.n)
        if (n == 0).any():
            return (n == 0) / (n == 0).sum()
        return softmax(np.array(hist.s) / n / temperature)

    def check(hist, p):
        np.testing.assert_allclose(policy.probabilities(), p, rtol=1e-10, atol=1e-12)
        scores = [hist.mean(i) / temperature if hist.n[i] else math.inf for i in range(K)]
        np.testing.assert_allclose(policy.scores(), scores, rtol=1e-12)

    drive_recorded_stream(policy, ref, reward_table("gaussian", steps=1500), rng, check)
    p = policy.probabilities()
    assert_frequencies(policy.select_batch(200_000), p)
    assert_frequencies([policy.select() for _ in range(20_000)], p)


class Exp3Reference:
    """Exponential weights on importance-weighted loss estimates, loss = 1 - reward.

    EXP3: p = (1 - gamma) q + gamma / K with q_i proportional to exp(-eta L_i) and
    L_i += (1 - r) / p_i. EXP3-IX (Neu 2015): p = q and L_i += (1 - r) / (p_i + gamma_ix)
    with gamma_ix = eta / 2 by default. eta is fixed, or sqrt(2 ln K / (K T)) for a known
    horizon T, or the anytime sqrt(ln K / (K t)) at round t = 1, 2, ... (ALGORITHMS.md 8).
    """

    def __init__(self, k, *, ix, eta=None, gamma=None, horizon=None):
        self.k, self.ix, self.fixed_eta, self.gamma, self.horizon = k, ix, eta, gamma, horizon
        self.losses = np.zeros(k)
        self.round = 1

    def eta(self) -> float:
        if self.fixed_eta is not None:
            return self.fixed_eta
        if self.horizon is not None:
            return math.sqrt(2 * math.log(self.k) / (self.k * self.horizon))
        return math.sqrt(math.log(self.k) / (self.k * self.round))

    def probs(self, losses=None) -> np.ndarray:
        losses = self.losses if losses is None else losses
        q = softmax(-self.eta() * losses)
        if self.ix:
            return q
        g = self.gamma or 0.0
        return (1 - g) * q + g / self.k

    def increment(self, p_arm: float, reward: float) -> float:
        if self.ix:
            g = self.gamma if self.gamma is not None else self.eta() / 2
            return (1 - reward) / (p_arm + g)
        return (1 - reward) / p_arm

    def update(self, arm: int, reward: float) -> None:
        self.losses[arm] += self.increment(self.probs()[arm], reward)
        self.round += 1


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (rl.EXP3, {"horizon": 2000}),
        (rl.EXP3, {}),
        (rl.EXP3, {"eta": 0.05, "gamma": 0.1}),
        (rl.EXP3, {"horizon": 500, "gamma": 0.02}),
        (rl.EXP3IX, {"horizon": 2000}),
        (rl.EXP3IX, {}),
        (rl.EXP3IX, {"eta": 0.1, "gamma": 0.02}),
    ],
)
def test_exp3_probabilities(cls, kwargs):
    """Two checks per step. (1) The library's probabilities equal the closed form applied
    to its own loss estimates (to 1e-12), and its loss update equals the estimator applied
    to the probability it had just reported. (2) An independent reference run on the same
    stream agrees with the library. The recursion amplifies rounding errors (by about
    eta / p_i per pull, so rounding differences double every few dozen steps when eta is
    large), so (2) is checked at 1e-10 for the first 500 steps only."""
    policy = cls(K, seed=16, **kwargs)
    ref = Exp3Reference(K, ix=cls is rl.EXP3IX, **kwargs)
    rng = np.random.default_rng(17)
    table = reward_table("beta", steps=2000)
    hist = History(K)
    for step in range(len(table)):
        losses = policy.loss_estimates()
        p = policy.probabilities()
        assert policy.eta == pytest.approx(ref.eta(), rel=1e-12)
        np.testing.assert_allclose(p, ref.probs(losses), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(policy.scores(), -losses, rtol=0, atol=0)
        if step < 500:
            np.testing.assert_allclose(p, ref.probs(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(losses, ref.losses, rtol=1e-10, atol=1e-12)
        arm = int(rng.choice(K, p=p))
        reward = table[step, arm]
        expected = losses.copy()
        expected[arm] += ref.increment(p[arm], reward)
        policy.update(arm, reward)
        ref.update(arm, reward)
        hist.add(arm, reward)
        np.testing.assert_allclose(policy.loss_estimates(), expected, rtol=1e-12, atol=0)
    assert_counts_and_means(policy, hist)
    # The stream moved the weights away from uniform, so the comparison is not trivial.
    p = policy.probabilities()
    assert p.max() > 1.5 / K
    assert_frequencies(policy.select_batch(200_000), p)
    assert_frequencies([policy.select() for _ in range(20_000)], p)


# ---------------------------------------------------------------------------------------
# Thompson sampling


@pytest.mark.parametrize(("kind", "prior"), [("bernoulli", (1.0, 1.0)), ("beta", (0.5, 2.0))])
def test_thompson_posterior(kind, prior):
    # Beta(prior_alpha + S_i, prior_beta + n_i - S_i); a fractional reward r counts as r
    # successes and 1 - r failures.
    a0, b0 = prior
    policy = rl.ThompsonSampling(K, prior_alpha=a0, prior_beta=b0, seed=18)
    rng = np.random.default_rng(19)
    table = reward_table(kind, steps=2000)
    hist = History(K)
    arms = rng.integers(0, K, size=len(table))
    arms[:2] = 0  # arm 4 stays untried for a while: its posterior is the prior
    for step, arm in enumerate(arms):
        alpha = a0 + np.array(hist.s)
        beta = b0 + np.array(hist.n) - np.array(hist.s)
        pa, pb = policy.posterior()
        np.testing.assert_allclose(pa, alpha, rtol=1e-12)
        np.testing.assert_allclose(pb, beta, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(policy.scores(), alpha / (alpha + beta), rtol=1e-12)
        policy.update(int(arm), table[step, arm])
        hist.add(int(arm), table[step, arm])
    assert_counts_and_means(policy, hist)


def beta_argmax_probs(alpha, beta, n, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draws = rng.beta(alpha, beta, size=(n, len(alpha)))
    return np.bincount(draws.argmax(axis=1), minlength=len(alpha)) / n


def assert_mc_close(p_lib, p_ref, n_lib, n_ref):
    p_ref = np.asarray(p_ref)
    sd = np.sqrt(p_ref * (1 - p_ref) * (1 / n_lib + 1 / n_ref))
    assert np.all(np.abs(np.asarray(p_lib) - p_ref) <= 5 * sd + 2e-4), (p_lib, p_ref)


def test_thompson_selection_frequencies():
    policy = rl.ThompsonSampling(4, seed=20)
    # Overlapping posteriors: Beta(7, 5), Beta(13, 9), Beta(3, 3), Beta(1, 2).
    policy.update_batch(
        [0] * 10 + [1] * 20 + [2] * 4 + [3],
        [1] * 6 + [0] * 4 + [1] * 12 + [0] * 8 + [1, 1, 0, 0, 0],
    )
    alpha, beta = policy.posterior()
    np.testing.assert_allclose(alpha, [7, 13, 3, 1], rtol=1e-12)
    np.testing.assert_allclose(beta, [5, 9, 3, 2], rtol=1e-12)
    n_ref = 1_000_000
    p_ref = beta_argmax_probs(alpha, beta, n_ref, seed=21)
    assert p_ref.min() > 0.03
    # probabilities() is itself a Monte Carlo estimate from 10,000 draws.
    assert_mc_close(policy.probabilities(), p_ref, 10_000, n_ref)
    assert_frequencies(policy.select_batch(200_000), p_ref, reference_samples=n_ref)
    assert_frequencies([policy.select() for _ in range(20_000)], p_ref, reference_samples=n_ref)


def normal_gamma_posterior(rewards, mu0, kappa0, alpha0, beta0):
    """Conjugate update of NormalGamma(mu0, kappa0, alpha0, beta0) (e.g. Murphy 2007)."""
    x = np.asarray(rewards, dtype=float)
    n = len(x)
    xbar = x.mean() if n else 0.0
    kappa = kappa0 + n
    mu = (kappa0 * mu0 + n * xbar) / kappa
    alpha = alpha0 + n / 2
    beta = beta0 + 0.5 * ((x - xbar) ** 2).sum() + kappa0 * n * (xbar - mu0) ** 2 / (2 * kappa)
    return mu, kappa, alpha, beta


@pytest.mark.parametrize("prior", [(0.0, 1.0, 1.0, 1.0), (0.4, 0.3, 2.5, 0.7)])
def test_gaussian_thompson_posterior_mean(prior):
    policy = rl.GaussianThompsonSampling(
        K, **dict(zip(("mu0", "kappa0", "alpha0", "beta0"), prior, strict=True))
    )
    rng = np.random.default_rng(22)
    table = reward_table("gaussian", steps=1500)
    per_arm: list[list[float]] = [[] for _ in range(K)]
    hist = History(K)
    for step, arm in enumerate(rng.integers(0, K, size=len(table))):
        if step % 7 == 0 or step < 20:
            mus = [normal_gamma_posterior(per_arm[i], *prior)[0] for i in range(K)]
            np.testing.assert_allclose(policy.scores(), mus, rtol=1e-11, atol=1e-13)
        policy.update(int(arm), table[step, arm])
        per_arm[arm].append(table[step, arm])
        hist.add(int(arm), table[step, arm])
    assert_counts_and_means(policy, hist)


def test_gaussian_thompson_selection_frequencies():
    """The draw is tau ~ Gamma(alpha_n, rate beta_n), then mean ~ N(mu_n, 1/(kappa_n tau)).
    With few observations, the heavy Student-t tails decide the argmax, so the
    frequencies depend on all four posterior parameters, not only on the means."""
    prior = (0.0, 1.0, 1.0, 1.0)
    policy = rl.GaussianThompsonSampling(4, seed=23)
    data = {0: [1.0, 1.4], 1: [1.1, 0.3, 2.0, 1.2], 2: [], 3: [0.9, 1.0, 1.05, 0.95, 1.0, 1.1]}
    for arm, xs in data.items():
        for x in xs:
            policy.update(arm, x)
    posts = [normal_gamma_posterior(data[i], *prior) for i in range(4)]
    rng = np.random.default_rng(24)
    n_ref = 1_000_000
    draws = np.empty((n_ref, 4))
    for i, (mu, kappa, alpha, beta) in enumerate(posts):
        tau = rng.gamma(alpha, 1 / beta, size=n_ref)
        draws[:, i] = mu + rng.standard_normal(n_ref) / np.sqrt(kappa * tau)
    p_ref = np.bincount(draws.argmax(axis=1), minlength=4) / n_ref
    assert p_ref.min() > 0.05
    np.testing.assert_allclose(policy.scores(), [p[0] for p in posts], rtol=1e-12)
    assert_mc_close(policy.probabilities(), p_ref, 10_000, n_ref)
    assert_frequencies(policy.select_batch(200_000), p_ref, reference_samples=n_ref)


# ---------------------------------------------------------------------------------------
# counts() and means() for every policy


# Hyperparameters without a default (they default only given a horizon).
REQUIRED_ARGS = {
    "SlidingWindowUCB": {"window": 100},
    "DiscountedUCB": {"gamma": 0.99},
    "CUSUMUCB": {"horizon": 3000},
    "GLRUCB": {"horizon": 3000},
}


@pytest.mark.parametrize("cls", rl.POLICIES, ids=lambda c: c.__name__)
def test_counts_and_means_match_numpy(cls):
    rng = np.random.default_rng(25)
    arms = rng.integers(0, 4, size=3000)  # arm 4 is never played
    rewards = rng.random(3000)
    policy = cls(K, **REQUIRED_ARGS.get(cls.__name__, {}))
    policy.update_batch(arms[:1000], rewards[:1000])
    for a, r in zip(arms[1000:], rewards[1000:], strict=True):
        policy.update(int(a), float(r))
    counts = np.bincount(arms, minlength=K)
    sums = np.bincount(arms, weights=rewards, minlength=K)
    np.testing.assert_array_equal(policy.counts(), counts)
    assert policy.counts().dtype == np.int64
    np.testing.assert_allclose(policy.means()[:4], sums[:4] / counts[:4], rtol=1e-12)
    assert policy.means()[4] == 0.0
    assert policy.n_updates == 3000
