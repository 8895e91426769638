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


def _fitted_sketch(cls, precision: str, d: int = 48, k: int = 4, m: int = 8, **kw):
    """A sketched policy fitted by a weighted batch then single updates (crossing shrinks)."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((700, d))
    theta = rng.standard_normal((k, d)) / np.sqrt(d)
    arms = rng.integers(0, k, 700)
    rewards = (X * theta[arms]).sum(1) + 0.1 * rng.standard_normal(700)
    p = cls(k, d, sketch_size=m, lam=0.8, precision=precision, seed=5, **kw)
    p.update_batch(X[:300], arms[:300], rewards[:300], rng.uniform(0.5, 2.0, 300))
    for x, a, r in zip(X[300:], arms[300:], rewards[300:], strict=True):
        p.update(x, int(a), float(r))
    return p, (X, arms, rewards), rng.standard_normal((200, d))


@pytest.mark.parametrize("cls", [rl.SketchedLinUCB, rl.SketchedLinTS])
def test_float32_storage_widths_within_float32_rounding_of_float64(cls) -> None:
    p64, _, Q = _fitted_sketch(cls, "float64")
    p32, _, _ = _fitted_sketch(cls, "float32")
    assert (p64.precision, p32.precision) == ("float64", "float32")
    # The float64 state is the float64 policy's: the same coefficients, the same means.
    assert np.array_equal(p32.coefficients(), p64.coefficients())
    assert np.array_equal(p32.mean(Q), p64.mean(Q))
    w64, w32 = p64.width(Q), p32.width(Q)
    rel = np.abs(w32 - w64) / w64
    assert rel.max() <= 1e-6 and (w32 != w64).mean() > 0.5  # rounded, not bit for bit
    assert "precision=float32" in repr(p32) and "precision" not in repr(p64)


def test_float32_decisions_equal_float64_where_the_top_two_gap_is_clear() -> None:
    p64, _, Q = _fitted_sketch(rl.SketchedLinUCB, "float64", alpha=1.2)
    p32, _, _ = _fitted_sketch(rl.SketchedLinUCB, "float32", alpha=1.2)
    s64, s32 = p64.scores(Q), p32.scores(Q)
    assert np.abs(s32 - s64).max() <= 1e-6 * np.abs(s64).max()
    assert not np.array_equal(s32, s64)
    top2 = np.sort(s64, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    assert clear.mean() > 0.9
    picks = np.array([p32.copy().select(q) for q in Q])
    assert np.array_equal(picks[clear], s64.argmax(1)[clear])
    # Batch paths read the same float32 copy as single decisions.
    a, b = p32.copy(), p32.copy()
    assert list(a.select_batch(Q)) == [b.select(q) for q in Q]
    np.testing.assert_allclose(
        np.vstack([p32.scores(q[None]) for q in Q[:20]]), s32[:20], rtol=1e-12, atol=1e-14
    )
    probs = p32.probabilities(Q[:20])
    assert np.array_equal(probs.argmax(1), s32[:20].argmax(1))
    ts = _fitted_sketch(rl.SketchedLinTS, "float32")[0]
    a, b = ts.copy(), ts.copy()
    assert list(a.select_batch(Q)) == [b.select(q) for q in Q]


def test_float32_storage_round_trips_merges_and_keeps_float64_bytes() -> None:
    import copy
    import pickle

    p, (X, arms, rewards), Q = _fitted_sketch(rl.SketchedLinUCB, "float32")
    for q in (
        rl.SketchedLinUCB.from_bytes(p.to_bytes()),
        pickle.loads(pickle.dumps(p)),
        copy.deepcopy(p),
        p.copy(),
    ):
        assert q.precision == "float32"
        assert np.array_equal(q.scores(Q), p.scores(Q))
        assert q.to_bytes() == p.to_bytes()
    # Float64 writes the payload it always wrote; float32 a newer version.
    p64 = _fitted_sketch(rl.SketchedLinUCB, "float64")[0]
    fresh = rl.SketchedLinUCB(4, 48, sketch_size=8, lam=0.8, seed=5)
    assert (
        rl.SketchedLinUCB(4, 48, sketch_size=8, lam=0.8, seed=5, precision="float64").to_bytes()
        == fresh.to_bytes()
    )
    assert p.to_bytes() != p64.to_bytes()
    assert rl.SketchedLinUCB.from_bytes(p64.to_bytes()).precision == "float64"
    # Merging: the float64 sketches merge as they would without the copy.
    a32 = rl.SketchedLinUCB(4, 48, sketch_size=8, precision="float32", seed=0)
    a64 = rl.SketchedLinUCB(4, 48, sketch_size=8, seed=0)
    b = rl.SketchedLinUCB(4, 48, sketch_size=8, seed=0)
    for a in (a32, a64):
        a.update_batch(X[:350], arms[:350], rewards[:350])
    b.update_batch(X[350:], arms[350:], rewards[350:])
    a32.merge(b)
    a64.merge(b)
    assert a32.precision == "float32"
    assert np.array_equal(a32.coefficients(), a64.coefficients())
    np.testing.assert_allclose(a32.scores(Q), a64.scores(Q), rtol=1e-6, atol=0)
    a32.add_arm()
    assert a32.precision == "float32" and a32.scores(Q).shape == (200, 5)


def test_bad_precisions_are_refused_naming_the_option() -> None:
    for cls in (rl.SketchedLinUCB, rl.SketchedLinTS):
        for bad in ("float16", "Float32", "f32", ""):
            with pytest.raises(rl.InvalidParameterError, match="precision"):
                cls(2, 3, sketch_size=2, precision=bad)
