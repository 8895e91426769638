"""select_list(k) on every multi-armed policy: the lists' frequencies against the propensities
each call reports (whole list and prefixes), k = 1 against probabilities(), exact tie shares for
index policies, and invalid k."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
import regretless
from conftest import POLICY_FACTORIES, make

SAMPLED = {"ThompsonSampling", "GaussianThompsonSampling", "DiscountedThompsonSampling"}


def warmed(name: str, seed: int = 0):
    """Four arms where arms 1 and 2 have identical statistics (exact ties for index rules)."""
    policy = make(name, 4, seed)
    policy.update_batch([0, 1, 2, 3, 0, 1, 2, 3], [1.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5, 0.0])
    return policy


@pytest.mark.parametrize("name", sorted(POLICY_FACTORIES))
def test_list_and_prefix_propensities_match_frequencies(name: str) -> None:
    policy = warmed(name)
    counts_before = policy.counts().copy()
    n = 300 if name.split("-")[0] in SAMPLED else 4000
    lists: Counter[tuple[int, ...]] = Counter()
    prefixes: Counter[tuple[int, ...]] = Counter()
    reported: dict[tuple[int, ...], list[float]] = defaultdict(list)
    reported_prefix: dict[tuple[int, ...], list[float]] = defaultdict(list)
    for _ in range(n):
        arms, props, p = policy.select_list(2)
        key = tuple(int(a) for a in arms)
        assert arms.dtype == np.int64 and props.dtype == np.float64
        assert len(set(key)) == 2
        assert np.all((props > 0) & (props <= 1))
        assert p == pytest.approx(float(np.prod(props)), rel=1e-12)
        lists[key] += 1
        prefixes[key[:1]] += 1
        reported[key].append(p)
        reported_prefix[key[:1]].append(float(props[0]))
    np.testing.assert_array_equal(policy.counts(), counts_before)
    # Two-sided: each observed list's frequency within 5 sd of the propensity reported for it
    # (plus the Monte Carlo error of the sampled policies' estimates), and the reported
    # propensities of the lists seen account for all the mass.
    slack = 0.03 if name.split("-")[0] in SAMPLED else 0.0
    for table, rep in ((lists, reported), (prefixes, reported_prefix)):
        for key, c in table.items():
            p = float(np.mean(rep[key]))
            sd = np.sqrt(p * (1 - p) / n)
            assert abs(c / n - p) <= 5 * sd + slack + 1e-9, (key, c / n, p)
        mass = sum(float(np.mean(rep[key])) for key in table)
        assert mass == pytest.approx(1.0, abs=0.02 + slack * len(table)), mass


@pytest.mark.parametrize("name", sorted(POLICY_FACTORIES))
def test_a_list_of_one_is_distributed_as_select(name: str) -> None:
    if name.split("-")[0] in SAMPLED:
        pytest.skip("probabilities() is itself a Monte Carlo estimate for Thompson sampling")
    policy = warmed(name)
    probs = policy.probabilities()
    n = 4000
    hist = np.zeros(4)
    for _ in range(n):
        arms, props, p = policy.select_list(1)
        assert props[0] == pytest.approx(probs[arms[0]], rel=1e-12)
        assert p == props[0]
        hist[arms[0]] += 1
    sd = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(hist / n - probs) <= 5 * sd + 1e-9), (hist / n, probs)


def test_index_policy_ranks_by_scores_with_exact_tie_shares() -> None:
    policy = warmed("UCB1")
    scores = policy.scores()
    assert scores[1] == scores[2] and scores[0] > scores[1] > scores[3]
    seen = Counter()
    for _ in range(2000):
        arms, props, p = policy.select_list(3)
        # Arm 0 first for sure; slots 2-3 hold the tied pair in either order: 1/2, then 1.
        assert arms[0] == 0 and set(arms[1:].tolist()) == {1, 2}
        np.testing.assert_array_equal(props, [1.0, 0.5, 1.0])
        assert p == 0.5
        seen[int(arms[1])] += 1
    assert 900 <= seen[1] <= 1100, seen
    # Two of three tied at the boundary of k = 2: one of two, probability 1/2.
    arms, props, p = policy.select_list(2)
    assert arms[0] == 0 and p == 0.5


def test_plackett_luce_propensities_for_softmax() -> None:
    policy = regretless.Softmax(5, temperature=0.5, seed=3)
    policy.update_batch(np.arange(5), [0.1, 0.9, 0.4, 0.7, 0.2])
    w = np.exp(policy.means() / 0.5)
    arms, props, p = policy.select_list(3)
    left = np.ones(5, dtype=bool)
    expected = []
    for a in arms:
        expected.append(w[a] / w[left].sum())
        left[a] = False
    np.testing.assert_allclose(props, expected, rtol=1e-12)
    assert p == pytest.approx(np.prod(expected), rel=1e-12)


@pytest.mark.parametrize("k", [0, 5, -1, 2**70])
def test_invalid_k_raises_and_changes_nothing(k: int) -> None:
    policy = warmed("ThompsonSampling")
    before = policy.to_bytes()
    with pytest.raises(regretless.exceptions.InvalidParameterError, match="k: must be"):
        policy.select_list(k)
    assert policy.to_bytes() == before


@pytest.mark.parametrize("k", [True, 1.5, "2", None])
def test_non_integer_k_is_a_dtype_error(k: object) -> None:
    with pytest.raises(regretless.exceptions.DTypeError, match="k: must be"):
        warmed("UCB1").select_list(k)  # type: ignore[arg-type]


def test_same_seed_same_lists_and_restored_state_continues() -> None:
    a, b = warmed("EXP3", seed=5), warmed("EXP3", seed=5)
    for _ in range(20):
        assert a.select_list(3)[0].tolist() == b.select_list(3)[0].tolist()
    c = regretless.Bandit.from_bytes(a.to_bytes())
    assert a.select_list(4)[0].tolist() == c.select_list(4)[0].tolist()


# ---- position-wise marginals ---------------------------------------------------------------


def warmed6(name: str, seed: int = 0):
    """Six arms, arms 1 and 2 with identical statistics (ties for the index rules)."""
    policy = make(name, 6, seed)
    arms = np.tile(np.arange(6), 3)
    rewards = np.tile([0.9, 0.5, 0.5, 0.3, 0.7, 0.1], 3)
    policy.update_batch(arms, rewards)
    return policy


def slot_frequencies_match(lists: np.ndarray, m: np.ndarray, samples: int = 0) -> None:
    """Each slot's arm counts against n m[:, j]: every count within 4.5 sd on either side and
    the chi-square statistic below its 1e-4 upper quantile (Wilson-Hilferty); arms with
    marginal 0 never shown there. Monte Carlo marginals add their own variance: observed -
    n m_hat has variance n m (1 - m) (1 + n / samples)."""
    n = len(lists)
    inflation = 1 + n / samples if samples else 1.0
    for j in range(m.shape[1]):
        observed = np.bincount(lists[:, j], minlength=m.shape[0])
        p = m[:, j]
        assert np.all(observed[p == 0] == 0), (j, observed, p)
        s = p > 0
        dev = np.abs(observed[s] - n * p[s])
        assert np.all(dev <= 4.5 * np.sqrt(n * p[s] * (1 - p[s]) * inflation) + 1e-9), (
            j,
            observed,
            p,
        )
        df = int(s.sum()) - 1
        if df >= 1:
            stat = float(np.sum((observed[s] - n * p[s]) ** 2 / (n * p[s])) / inflation)
            h = 2 / (9 * df)
            assert stat < df * (1 - h + 3.719 * np.sqrt(h)) ** 3, (j, stat, observed, p)


@pytest.mark.parametrize("name", sorted(POLICY_FACTORIES))
def test_marginals_match_the_slot_frequencies_of_select_list(name: str) -> None:
    policy = warmed6(name)
    before = policy.to_bytes()
    m = policy.list_marginals(3)
    assert policy.to_bytes() == before  # no draw, no statistic
    assert m.shape == (6, 3) and m.dtype == np.float64
    np.testing.assert_allclose(m.sum(axis=0), 1.0, rtol=1e-12)
    assert np.all(m >= 0) and np.all(m.sum(axis=1) <= 1 + 1e-12)
    sampled = name.split("-")[0] in SAMPLED
    n = 250 if sampled else 6000
    lists = np.array([policy.select_list(3)[0] for _ in range(n)])
    slot_frequencies_match(lists, m, 10_000 if sampled else 0)


def test_index_marginals_split_ties_exactly() -> None:
    policy = warmed6("UCB1")
    s = policy.scores()
    assert s[1] == s[2] and s[0] > s[4] > s[1]
    m = policy.list_marginals(3)
    expected = np.zeros((6, 3))
    expected[0, 0] = expected[4, 1] = 1.0
    expected[[1, 2], 2] = 0.5  # one slot for the tied pair
    np.testing.assert_array_equal(m, expected)
    m4 = policy.list_marginals(4)
    np.testing.assert_array_equal(m4[[1, 2]][:, 2:], 0.5)


def brute_force_marginals(n_arms: int, k: int, next_slot) -> np.ndarray:
    """Every ordered list of k distinct arms with its probability, slot by slot."""
    from itertools import permutations

    m = np.zeros((n_arms, k))
    for lst in permutations(range(n_arms), k):
        left = np.ones(n_arms, dtype=bool)
        p = 1.0
        for a in lst:
            p *= next_slot(left)[a]
            left[a] = False
        for j, a in enumerate(lst):
            m[a, j] += p
    return m


def test_softmax_marginals_are_the_exact_plackett_luce_marginals() -> None:
    policy = warmed6("Softmax")
    w = np.exp((policy.means() - policy.means().max()) / 0.2)
    expected = brute_force_marginals(6, 3, lambda left: np.where(left, w, 0) / w[left].sum())
    np.testing.assert_allclose(policy.list_marginals(3), expected, rtol=1e-12, atol=1e-15)


def test_exp3_marginals_include_the_uniform_exploration_of_each_slot() -> None:
    gamma = 0.3
    policy = regretless.EXP3(6, gamma=gamma, eta=0.5, seed=1)
    policy.update_batch(np.tile(np.arange(6), 3), np.tile([0.9, 0.5, 0.5, 0.3, 0.7, 0.1], 3))
    loss = policy.loss_estimates()
    w = np.exp(-policy.eta * (loss - loss.min()))

    def next_slot(left):
        return np.where(left, (1 - gamma) * w / w[left].sum() + gamma / left.sum(), 0)

    expected = brute_force_marginals(6, 3, next_slot)
    np.testing.assert_allclose(policy.list_marginals(3), expected, rtol=1e-12, atol=1e-15)
    # Not Plackett-Luce on the slot-0 probabilities (the mixture is redone on each slot).
    p0 = policy.probabilities()
    pl = brute_force_marginals(6, 3, lambda left: np.where(left, p0, 0) / p0[left].sum())
    assert np.abs(pl - expected).max() > 1e-3


def test_large_lists_fall_back_to_monte_carlo_within_its_error() -> None:
    # 80 arms: beyond the exact dynamic program (more than 64 arms).
    n_arms, tau = 80, 0.1
    policy = regretless.Softmax(n_arms, temperature=tau, seed=4)
    means = np.linspace(0, 0.5, n_arms)
    policy.update_batch(np.arange(n_arms), means)
    m = policy.list_marginals(2, samples=20_000)
    assert policy.list_marginals(2, samples=20_000).tolist() == m.tolist()  # same state
    w = np.exp((means - means.max()) / tau)
    p0 = w / w.sum()
    # Slot 1 of a Plackett-Luce list: sum_b p0[b] w[a] / (W - w[b]), b != a.
    ratio = w[None, :] / (w.sum() - w[:, None])
    np.fill_diagonal(ratio, 0.0)
    p1 = p0 @ ratio
    for j, p in enumerate((p0, p1)):
        sd = np.sqrt(p * (1 - p) / 20_000)
        assert np.all(np.abs(m[:, j] - p) <= 4.5 * sd + 1e-12), j


@pytest.mark.parametrize("k, samples", [(0, 10), (7, 10), (2, 0), (2, -1)])
def test_invalid_marginal_arguments_raise(k: int, samples: int) -> None:
    policy = warmed6("EXP3")
    with pytest.raises(regretless.exceptions.InvalidParameterError, match="k: must|samples"):
        policy.list_marginals(k, samples=samples)
