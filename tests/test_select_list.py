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
