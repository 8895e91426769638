"""Cascading bandits against a numpy reference of their update rules and indices, the cascade
click model, and the regret shapes of docs/ALGORITHMS.md section 4.1 (Kveton et al. 2015):
CascadeKL-UCB well below CascadeUCB1, regret growing linearly in L - K."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import regretless


def random_feedback(n_items: int, k: int, rounds: int, seed: int):
    rng = np.random.default_rng(seed)
    lists = np.array([rng.permutation(n_items)[:k] for _ in range(rounds)], dtype=np.int64)
    clicks = rng.integers(-1, k, size=rounds)
    return lists, clicks


def reference_counts(n_items: int, lists: np.ndarray, clicks: np.ndarray):
    """Examinations and clicks per item under the cascade feedback rule, by brute force."""
    examined = np.zeros(n_items, dtype=np.int64)
    clicked = np.zeros(n_items, dtype=np.int64)
    for lst, c in zip(lists, clicks, strict=True):
        last = len(lst) - 1 if c < 0 else c
        for slot in range(last + 1):
            examined[lst[slot]] += 1
            clicked[lst[slot]] += slot == c
    return examined, clicked


def kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    eps = 1e-15
    p, q = np.clip(p, eps, 1 - eps), np.clip(q, eps, 1 - eps)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def klucb_reference(w: np.ndarray, n: np.ndarray, level: float) -> np.ndarray:
    lo, hi = w.copy(), np.ones_like(w)
    for _ in range(100):
        mid = (lo + hi) / 2
        over = n * kl(w, mid) > level
        hi = np.where(over, mid, hi)
        lo = np.where(over, lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("batched", [False, True])
def test_update_rule_and_indices_match_a_numpy_reference(batched: bool) -> None:
    n_items, k, rounds = 12, 4, 300
    lists, clicks = random_feedback(n_items, k, rounds, seed=3)
    examined, clicked = reference_counts(n_items, lists, clicks)
    assert (examined == 0).sum() == 0
    ucb, klucb = regretless.CascadeUCB1(n_items), regretless.CascadeKLUCB(n_items, c=3.0)
    for p in (ucb, klucb):
        if batched:
            p.update_list_batch(lists, clicks)
        else:
            for lst, c in zip(lists, clicks, strict=True):
                p.update_list(lst, None if c < 0 else int(c))
        np.testing.assert_array_equal(p.counts(), examined)
        np.testing.assert_array_equal(p.click_rates(), clicked / examined)
        assert p.n_rounds == rounds
    w = clicked / examined
    np.testing.assert_allclose(
        ucb.scores(), w + np.sqrt(1.5 * np.log(rounds) / examined), rtol=1e-14
    )
    level = np.log(rounds) + 3.0 * np.log(np.log(rounds))
    np.testing.assert_allclose(klucb.scores(), klucb_reference(w, examined, level), atol=1e-9)
    # A wrong level (ln t only) is far from it: the check can fail.
    assert np.abs(klucb.scores() - klucb_reference(w, examined, np.log(rounds))).max() > 1e-3


def test_linucb_matches_ridge_regression_on_examined_items() -> None:
    rng = np.random.default_rng(5)
    n_items, d, alpha, lam = 10, 3, 0.7, 2.0
    x = rng.uniform(0, 1, (n_items, d))
    lists, clicks = random_feedback(n_items, 3, 200, seed=6)
    p = regretless.CascadeLinUCB(x, alpha=alpha, lam=lam)
    p.update_list_batch(lists, clicks)
    m, b = lam * np.eye(d), np.zeros(d)
    for lst, c in zip(lists, clicks, strict=True):
        last = len(lst) - 1 if c < 0 else c
        for slot in range(last + 1):
            e = x[lst[slot]]
            m += np.outer(e, e)
            b += e * (slot == c)
    theta = np.linalg.solve(m, b)
    width = np.sqrt(np.einsum("ij,jk,ik->i", x, np.linalg.inv(m), x))
    np.testing.assert_allclose(p.estimates(), x @ theta, rtol=1e-10)
    np.testing.assert_allclose(p.scores(), x @ theta + alpha * width, rtol=1e-10)
    assert p.dim == d


def test_unexamined_items_come_first_and_lists_are_the_top_k() -> None:
    p = regretless.CascadeUCB1(6, seed=0)
    p.update_list_batch([[0, 1, 2], [3, 4, 5]], [0, 1])
    # Items 1, 2 and 5 were never examined (below a click): listed first, in random order
    # (1/3, then 1/2, then 1); then one of the two clicked items 0 and 4 (click rate 1, one
    # examination each: a tie, 1/2).
    items, props, prob = p.select_list(4)
    assert set(items[:3].tolist()) == {1, 2, 5}
    np.testing.assert_array_equal(props, [1 / 3, 0.5, 1.0, 0.5])
    assert prob == pytest.approx(1 / 12)
    assert items[3] in (0, 4)


def test_simulated_clicks_follow_the_cascade_model() -> None:
    # A policy that never learns anything new: one item list, repeated (k = n_items).
    w = np.array([0.3, 0.5, 0.1])
    p = regretless.CascadeUCB1(3, seed=0)
    regret, clicks = regretless.simulate_cascade(p, w, 3, 40_000, seed=2)
    hist = np.bincount(clicks + 1, minlength=4) / len(clicks)
    # Every list holds all three items in some order: P(no click) = 0.7 * 0.5 * 0.9.
    assert abs(hist[0] - 0.315) < 5 * np.sqrt(0.315 * 0.685 / 40_000)
    np.testing.assert_allclose(regret, 0.0, atol=1e-15)
    assert p.n_rounds == 40_000 and p.counts().sum() == (clicks + 1).sum() + 3 * hist[0] * 40_000


def kveton_instance(n_items: int, k: int, gap: float = 0.15) -> np.ndarray:
    return np.array([0.2] * k + [0.2 - gap] * (n_items - k))


def total_regret(cls, n_items: int, k: int, horizon: int, seed: int) -> float:
    policy = cls(n_items, seed=seed)
    regret, _ = regretless.simulate_cascade(
        policy, kveton_instance(n_items, k), k, horizon, seed=seed
    )
    return float(regret.sum())


def test_klucb_regret_is_well_below_ucb1() -> None:
    # L = 16, K = 4, n = 1e5 (docs/ALGORITHMS.md 4.1: 1008 +- 10 and 265 +- 2 over 5 seeds).
    ucb = np.mean([total_regret(regretless.CascadeUCB1, 16, 4, 100_000, s) for s in (1, 2)])
    kl = np.mean([total_regret(regretless.CascadeKLUCB, 16, 4, 100_000, s) for s in (1, 2)])
    assert 0.8 * 1008 < ucb < 1.2 * 1008, ucb
    assert 0.75 * 265 < kl < 1.25 * 265, kl
    assert kl < ucb / 2.5


def test_regret_grows_linearly_in_l_minus_k() -> None:
    k, horizon = 4, 50_000
    sizes = np.array([8, 12, 16, 24])
    regret = np.array(
        [
            np.mean([total_regret(regretless.CascadeUCB1, n, k, horizon, s) for s in (3, 4)])
            for n in sizes
        ]
    )
    slope, intercept = np.polyfit(sizes - k, regret, 1)
    fitted = slope * (sizes - k) + intercept
    # Linear: the residuals are small beside the range. The slope is the regret of each
    # suboptimal item: the table of docs/ALGORITHMS.md 4.1 gives (2236 - 1008) / 16 = 77 per
    # item at n = 1e5 for CascadeUCB1, so ~72 at 5e4 (ln n scaling); within -30% / +40%.
    assert np.max(np.abs(regret - fitted)) < 0.06 * (regret.max() - regret.min()), regret
    per_item = (2236 - 1008) / 16 * np.log(horizon) / np.log(100_000)
    assert 0.7 * per_item < slope < 1.4 * per_item, (slope, per_item)


def test_merge_equals_learning_both_and_bytes_round_trip() -> None:
    lists, clicks = random_feedback(8, 3, 100, seed=9)
    for make in (
        lambda: regretless.CascadeKLUCB(8, seed=1),
        lambda: regretless.CascadeLinUCB(np.eye(8)[:, :5], seed=1),
    ):
        a, b, both = make(), make(), make()
        a.update_list_batch(lists[:40], clicks[:40])
        b.update_list_batch(lists[40:], clicks[40:])
        both.update_list_batch(lists, clicks)
        a.merge(b)
        np.testing.assert_array_equal(a.counts(), both.counts())
        np.testing.assert_allclose(a.scores(), both.scores(), rtol=1e-12)
        c = type(a).from_bytes(a.to_bytes())
        assert c.select_list(3)[0].tolist() == a.select_list(3)[0].tolist()


def test_bad_environment_and_arguments_raise() -> None:
    p = regretless.CascadeUCB1(4)
    with pytest.raises(regretless.InvalidParameterError, match="attraction"):
        regretless.simulate_cascade(p, [0.1, 0.2, 1.5, 0.1], 2, 10)
    with pytest.raises(regretless.ShapeError, match="attraction"):
        regretless.simulate_cascade(p, [0.1, 0.2], 2, 10)
    with pytest.raises(regretless.InvalidParameterError, match="k: must be"):
        regretless.simulate_cascade(p, [0.1] * 4, 5, 10)
    assert p.n_rounds == 0
    with pytest.raises(regretless.InvalidParameterError, match="c"):
        regretless.CascadeUCB1(4, c=-1.0)
    with pytest.raises(regretless.InvalidParameterError, match="n_items"):
        regretless.CascadeKLUCB(0)
    with pytest.raises(regretless.InvalidParameterError, match="features"):
        regretless.CascadeLinUCB(np.array([[np.nan, 1.0]]))
    with pytest.raises(regretless.ShapeError, match="features"):
        regretless.CascadeLinUCB(np.ones(3))


def test_simulate_cascade_docstring_example_runs() -> None:
    import doctest

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(regretless.simulate_cascade, "simulate_cascade"):
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0


GOLDEN = pathlib.Path(__file__).parent / "golden"


def golden_cases():
    manifest = json.loads((GOLDEN / "cascade-manifest.json").read_text())
    return [(version, entry) for version, entries in manifest.items() for entry in entries]


@pytest.mark.parametrize("version, entry", golden_cases(), ids=lambda c: str(c))
def test_golden_files_still_decode_and_continue_identically(version: str, entry: dict) -> None:
    cls = getattr(regretless, entry["class"])
    p = cls.from_bytes((GOLDEN / version / entry["file"]).read_bytes())
    assert p.counts().tolist() == entry["counts"]
    np.testing.assert_array_equal(p.scores(), entry["scores"])
    assert p.select_list_batch(5, 3).tolist() == entry["next_lists"]


# ---- eligible items --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: regretless.CascadeUCB1(8, seed=3),
        lambda: regretless.CascadeKLUCB(8, seed=3),
        lambda: regretless.CascadeLinUCB(np.random.default_rng(0).random((8, 3)), seed=3),
    ],
)
def test_eligible_lists_are_the_top_k_of_the_eligible_indices(make) -> None:
    policy = make()
    lists, clicks = random_feedback(8, 3, 300, seed=4)
    policy.update_list_batch(lists, clicks)
    scores = policy.scores()
    eligible = np.array([6, 0, 3, 5, 2])
    order = eligible[np.argsort(-scores[eligible], kind="stable")]
    assert len(np.unique(scores[eligible])) == len(eligible)  # no ties: one list
    items, props, p = policy.select_list(3, eligible=eligible)
    assert items.tolist() == order[:3].tolist() and props.tolist() == [1.0] * 3 and p == 1.0
    mask = np.isin(np.arange(8), eligible)
    assert policy.select_list(3, eligible=mask)[0].tolist() == order[:3].tolist()
    np.testing.assert_array_equal(policy.scores(eligible=mask), np.where(mask, scores, -np.inf))
    batch = policy.select_list_batch(4, 3, eligible=eligible)
    assert batch.tolist() == [order[:3].tolist()] * 4
    rows = np.zeros((2, 8), dtype=bool)
    rows[0, [1, 4, 7]] = True
    rows[1, [0, 2, 3, 5]] = True
    per_row = policy.select_list_batch(2, 3, eligible=rows)
    for r in range(2):
        allowed = np.flatnonzero(rows[r])
        best = allowed[np.argsort(-scores[allowed], kind="stable")][:3]
        assert per_row[r].tolist() == best.tolist()


def test_eligible_ties_are_uniform_over_the_eligible_items_only() -> None:
    # A fresh policy: every index is +inf, so the list is a uniform draw among the eligible.
    policy = regretless.CascadeUCB1(6, seed=5)
    eligible = [1, 3, 5]
    n = 6000
    seen: dict[tuple, int] = {}
    for _ in range(n):
        items, props, p = policy.select_list(2, eligible=eligible)
        assert props.tolist() == [1 / 3, 1 / 2] and p == pytest.approx(1 / 6)
        seen[tuple(items.tolist())] = seen.get(tuple(items.tolist()), 0) + 1
    assert set(seen) == {(a, b) for a in eligible for b in eligible if a != b}
    observed = np.array(list(seen.values()))
    chi2 = float(np.sum((observed - n / 6) ** 2 / (n / 6)))
    assert chi2 < 25.7, seen  # chi-square(5) 1e-4 upper quantile


def test_eligible_lists_leave_state_alone_and_refuse_bad_masks() -> None:
    policy = regretless.CascadeKLUCB(6, seed=6)
    lists, clicks = random_feedback(6, 2, 40, seed=7)
    policy.update_list_batch(lists, clicks)
    twin = regretless.CascadeKLUCB.from_bytes(policy.to_bytes())
    for _ in range(50):
        policy.select_list(2, eligible=[0, 4])
        policy.select_list_batch(3, 1, eligible=[2])
    for attr in ("counts", "click_rates", "scores"):
        np.testing.assert_array_equal(getattr(policy, attr)(), getattr(twin, attr)())
    # Ineligible items still learn from the feedback they get.
    policy.update_list([5, 1], 1)
    twin.update_list([5, 1], 1)
    np.testing.assert_array_equal(policy.counts(), twin.counts())
    state = policy.to_bytes()
    with pytest.raises(
        regretless.InvalidParameterError, match="k: must be at most the number of eligible items, 2"
    ):
        policy.select_list(3, eligible=[0, 1])
    with pytest.raises(regretless.InvalidParameterError, match="eligible: no arm is eligible"):
        policy.select_list(1, eligible=np.zeros(6, dtype=bool))
    rows = np.ones((3, 6), dtype=bool)
    rows[2, 1:] = False
    with pytest.raises(regretless.InvalidParameterError, match="eligible items, 1 in row 2; got 2"):
        policy.select_list_batch(3, 2, eligible=rows)
    with pytest.raises(regretless.ShapeError, match="eligible"):
        policy.select_list_batch(2, 2, eligible=rows)
    with pytest.raises(regretless.ArmError, match="eligible"):
        policy.scores(eligible=[6])
    assert policy.to_bytes() == state
