"""SketchedLinUCB (SOFUL on Frequent Directions sketches, issue 20): equal to LinUCB when the
sketch holds every dimension, wider (never narrower) when it drops some, and on low-rank
contexts as good as exact LinUCB at a sketch far smaller than the dimension."""

from __future__ import annotations

import numpy as np
import pytest
import regretless as rl


def _problem(n: int, d: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    theta = rng.standard_normal((k, d))
    return X, theta, rng


@pytest.mark.parametrize(("m", "robust"), [(6, False), (10, False), (6, True)])
def test_equals_exact_linucb_when_sketch_size_is_at_least_dim(m: int, robust: bool) -> None:
    d, k = 6, 3
    X, theta, rng = _problem(600, d, k, 7)
    exact = rl.LinUCB(k, d, alpha=0.7, lam=0.5, seed=3)
    sketched = rl.SketchedLinUCB(k, d, sketch_size=m, alpha=0.7, lam=0.5, robust=robust, seed=3)
    # A weighted batch fit, then online play: every decision the same.
    arms = rng.integers(0, k, 200)
    rewards = (X[:200] * theta[arms]).sum(1) + 0.1 * rng.standard_normal(200)
    weights = rng.uniform(0, 2, 200)
    exact.update_batch(X[:200], arms, rewards, weights)
    sketched.update_batch(X[:200], arms, rewards, weights)
    for i in range(200, 600):
        a, b = exact.select(X[i]), sketched.select(X[i])
        assert a == b
        r = float(X[i] @ theta[a] + 0.1 * rng.standard_normal())
        exact.update(X[i], a, r)
        sketched.update(X[i], b, r)
    np.testing.assert_allclose(sketched.scores(X), exact.scores(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(sketched.width(X), exact.width(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(sketched.mean(X), exact.mean(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(sketched.coefficients(), exact.coefficients(), atol=1e-8)
    np.testing.assert_array_equal(sketched.select_batch(X), exact.select_batch(X))
    np.testing.assert_array_equal(sketched.top_k(X, 2), exact.top_k(X, 2))
    np.testing.assert_array_equal(sketched.probabilities(X), exact.probabilities(X))


def test_a_small_sketch_only_widens_the_confidence_widths() -> None:
    d, k = 16, 2
    X, _, rng = _problem(500, d, k, 8)
    exact = rl.LinUCB(k, d, seed=0)
    sketched = rl.SketchedLinUCB(k, d, sketch_size=3, seed=0)
    arms = rng.integers(0, k, 500)
    rewards = rng.standard_normal(500)
    exact.update_batch(X, arms, rewards)
    sketched.update_batch(X, arms, rewards)
    we, ws = exact.width(X), sketched.width(X)
    # S^T S <= X^T X, so A_sketch^{-1} >= A^{-1}; and the dropped directions show.
    assert np.all(ws >= we - 1e-12)
    assert np.mean(ws) > 1.5 * np.mean(we)
    # The robust variant adds half the shrinkage to the regularizer: narrower than plain.
    robust = rl.SketchedLinUCB(k, d, sketch_size=3, robust=True, seed=0)
    robust.update_batch(X, arms, rewards)
    assert np.all(robust.width(X) < ws)
    assert "robust=True" in repr(robust)
    assert "robust=False" in repr(sketched)


def _low_rank_regret(make, seed: int, T: int = 1500) -> tuple[float, float]:
    """Cumulative regret of `make()` and of uniform play: contexts in a rank-8 subspace of
    d = 64, K = 5 arms, rewards x^T theta_a + N(0, 0.1^2)."""
    d, k, rank = 64, 5, 8
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    X = rng.standard_normal((T, rank)) @ basis.T / np.sqrt(rank) * 2
    theta = rng.standard_normal((k, d))
    means = X @ theta.T
    noise = 0.1 * rng.standard_normal(T)
    policy = make()
    regret = 0.0
    for t in range(T):
        a = policy.select(X[t])
        regret += means[t].max() - means[t, a]
        policy.update(X[t], a, float(means[t, a] + noise[t]))
    uniform = float((means.max(1) - means.mean(1)).sum())
    return regret, uniform


def test_regret_on_low_rank_contexts_is_within_ten_percent_of_exact_at_sketch_size_32() -> None:
    seeds = [1, 2, 3]
    exact = [_low_rank_regret(lambda: rl.LinUCB(5, 64, seed=0), s) for s in seeds]
    sketched = [
        _low_rank_regret(lambda: rl.SketchedLinUCB(5, 64, sketch_size=32, seed=0), s) for s in seeds
    ]
    r_exact = np.mean([r for r, _ in exact])
    r_sketch = np.mean([r for r, _ in sketched])
    uniform = np.mean([u for _, u in exact])
    assert abs(r_sketch - r_exact) <= 0.1 * r_exact, (r_sketch, r_exact)
    # It learns: far below uniform play.
    assert r_sketch < 0.2 * uniform, (r_sketch, uniform)
    # A sketch smaller than the rank loses directions: more regret, yet still learning.
    tiny = np.mean(
        [
            _low_rank_regret(lambda: rl.SketchedLinUCB(5, 64, sketch_size=2, seed=0), s)[0]
            for s in seeds
        ]
    )
    assert tiny > r_sketch


def test_state_round_trips() -> None:
    X, _, rng = _problem(100, 5, 2, 4)
    p = rl.SketchedLinUCB(2, 5, sketch_size=2, seed=1)
    p.update_batch(X, rng.integers(0, 2, 100), rng.standard_normal(100))
    q = rl.SketchedLinUCB.from_bytes(p.to_bytes())
    np.testing.assert_array_equal(q.scores(X), p.scores(X))
    assert type(rl.ContextualBandit.from_bytes(p.to_bytes())) is rl.SketchedLinUCB
    assert "SketchedLinUCB" in {c.__name__ for c in rl.CONTEXTUAL_POLICIES}


@pytest.mark.parametrize("cls", [rl.SketchedLinUCB, rl.SketchedLinTS])
def test_merge_equals_fitting_both_data_sets_when_the_sketch_holds_every_dimension(cls) -> None:
    d, k = 7, 3
    X, theta, rng = _problem(700, d, k, 12)
    arms = rng.integers(0, k, 700)
    r = (X * theta[arms]).sum(1) + 0.1 * rng.standard_normal(700)
    w = rng.uniform(0.2, 2.0, 700)

    def fit(lo: int, hi: int):
        p = cls(k, d, sketch_size=d, lam=0.6, seed=0)
        p.update_batch(X[lo:hi], arms[lo:hi], r[lo:hi], w[lo:hi])
        return p

    merged, both = fit(0, 300), fit(0, 700)
    merged.merge(fit(300, 700))
    np.testing.assert_array_equal(merged.counts(), both.counts())
    assert merged.n_updates == 700
    np.testing.assert_allclose(merged.width(X), both.width(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(merged.mean(X), both.mean(X), rtol=0, atol=1e-8)
    # And both equal the exact model on all the rows.
    exact = (rl.LinUCB if cls is rl.SketchedLinUCB else rl.LinTS)(k, d, lam=0.6, seed=0)
    exact.update_batch(X, arms, r, w)
    np.testing.assert_allclose(merged.width(X), exact.width(X), rtol=0, atol=1e-8)


def test_a_merged_small_sketch_stays_within_the_frequent_directions_bound() -> None:
    """Widths of the merged policy against the exact model on the combined data: never
    narrower (S^T S <= X^T X), and no wider than the summed shrinkage Delta allows
    (X^T X - S^T S <= Delta I gives x^T A_s^{-1} x <= x^T (X^T X + lam I - Delta I)^{-1} x
    when lam > Delta); a merge that dropped a replica's rows would break the upper side."""
    d, k, m = 12, 1, 4
    rng = np.random.default_rng(5)
    scales = 1.0 / (1.0 + np.arange(d)) ** 1.5
    X = rng.standard_normal((600, d)) * scales
    arms = np.zeros(600, dtype=np.int64)
    r = rng.standard_normal(600)
    lam = 50.0
    p = rl.SketchedLinUCB(k, d, sketch_size=m, lam=lam, seed=0)
    q = rl.SketchedLinUCB(k, d, sketch_size=m, lam=lam, seed=0)
    p.update_batch(X[:250], arms[:250], r[:250])
    q.update_batch(X[250:], arms[250:], r[250:])
    p.merge(q)
    exact = rl.LinUCB(k, d, lam=lam, seed=0)
    exact.update_batch(X, arms, r)
    G = X.T @ X
    ws, we = p.width(X)[:, 0], exact.width(X)[:, 0]
    assert np.all(ws >= we - 1e-12)
    assert np.any(ws > we * (1 + 1e-6))
    # The largest Delta the FD bound allows for the combined data (k = 0 .. m).
    spectrum = np.linalg.eigvalsh(G)[::-1]
    delta = min(spectrum[j:].sum() / (m + 1 - j) for j in range(m + 1))
    assert delta < lam
    inner = np.linalg.inv(G + (lam - delta) * np.eye(d))
    upper = np.sqrt(np.einsum("ij,jk,ik->i", X, inner, X))
    assert np.all(ws <= upper + 1e-12)


def test_merge_refuses_mismatched_sketches_and_changes_nothing() -> None:
    X, _, rng = _problem(60, 5, 2, 4)
    p = rl.SketchedLinUCB(2, 5, sketch_size=2, seed=1)
    p.update_batch(X, rng.integers(0, 2, 60), rng.standard_normal(60))
    before = p.to_bytes()
    for other, match in [
        (rl.SketchedLinUCB(2, 5, sketch_size=3), "sketch_size=3"),
        (rl.SketchedLinUCB(2, 5, sketch_size=2, robust=True), "robust=True"),
        (rl.SketchedLinUCB(2, 6, sketch_size=2), "dimension 6"),
    ]:
        with pytest.raises(rl.IncompatibleError, match=match):
            p.merge(other)
        assert p.to_bytes() == before
    with pytest.raises(rl.DTypeError, match="expected a SketchedLinUCB, got SketchedLinTS"):
        p.merge(rl.SketchedLinTS(2, 5, sketch_size=2))
    assert p.to_bytes() == before


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"sketch_size": 0}, "sketch_size"),
        ({"sketch_size": 2**40}, "sketch_size"),
        ({"alpha": -1.0}, "alpha"),
        ({"lam": 0.0}, "lam"),
    ],
)
def test_bad_parameters_are_refused_before_allocation(kwargs: dict, name: str) -> None:
    with pytest.raises(rl.InvalidParameterError, match=name):
        rl.SketchedLinUCB(3, 100, **kwargs)


def test_sketched_lints_equals_exact_lints_when_sketch_size_is_at_least_dim() -> None:
    d, k = 5, 3
    X, theta, rng = _problem(400, d, k, 9)
    exact = rl.LinTS(k, d, v=0.4, lam=0.7, seed=5)
    sketched = rl.SketchedLinTS(k, d, sketch_size=d, v=0.4, lam=0.7, seed=5)
    for i in range(400):
        a, b = exact.select(X[i]), sketched.select(X[i])
        assert a == b
        r = float(X[i] @ theta[a] + 0.1 * rng.standard_normal())
        exact.update(X[i], a, r)
        sketched.update(X[i], b, r)
    np.testing.assert_allclose(sketched.scores(X), exact.scores(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(sketched.width(X), exact.width(X), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(sketched.probabilities(X[:20]), exact.probabilities(X[:20]))
    np.testing.assert_array_equal(sketched.select_batch(X), exact.select_batch(X))


def test_sketched_lints_learns_on_low_rank_contexts() -> None:
    seeds = [1, 2]
    runs = [
        _low_rank_regret(lambda: rl.SketchedLinTS(5, 64, sketch_size=32, seed=0), s) for s in seeds
    ]
    assert np.mean([r for r, _ in runs]) < 0.3 * np.mean([u for _, u in runs])
