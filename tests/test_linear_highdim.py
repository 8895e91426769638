"""Exact LinUCB / LinTS from d = 64 on (issue 20): decisions read the upper triangle of each
inverse and updates compute A^{-1} x by row dot products; both must still be the ridge
solution (numpy reference), online and after a batch fit that refactorizes."""

from __future__ import annotations

import numpy as np
import pytest
import regretless


@pytest.mark.parametrize("d", [63, 64, 97])
def test_online_and_batch_models_equal_the_numpy_ridge_and_decisions_its_argmax(d):
    k, lam, alpha = 3, 0.7, 1.3
    rng = np.random.default_rng(d)
    X = rng.standard_normal((260, d))
    arms = rng.integers(0, k, 260)
    rewards = X[:, 0] - X[:, 1] * arms + 0.1 * rng.standard_normal(260)
    p = regretless.LinUCB(k, d, alpha=alpha, lam=lam, seed=0)
    p.update_batch(X[:130], arms[:130], rewards[:130])
    for x, a, r in zip(X[130:], arms[130:], rewards[130:], strict=True):
        p.update(x, int(a), float(r))
    Q = rng.standard_normal((40, d))
    ref = np.empty((40, k))
    for a in range(k):
        m = arms == a
        A = lam * np.eye(d) + X[m].T @ X[m]
        inv = np.linalg.inv(A)
        theta = inv @ (rewards[m] @ X[m])
        ref[:, a] = Q @ theta + alpha * np.sqrt(np.einsum("nd,de,ne->n", Q, inv, Q))
    np.testing.assert_allclose(p.scores(Q), ref, rtol=1e-8, atol=1e-10)
    # Single decisions (the upper-triangle kernel from d = 64) pick the reference's argmax.
    assert [p.select(q) for q in Q] == list(ref.argmax(1))


def _fitted(cls, d, precision="float64", k=3, n=None, **kw):
    """A policy of dimension d fitted on k arms (a batch, then single updates), its data,
    and 150 query rows (two full blocks of the batch engine and a partial one)."""
    rng = np.random.default_rng(d)
    n = n or 2 * d + 40
    X = rng.standard_normal((n, d))
    arms = rng.integers(0, k, n)
    rewards = X[:, 0] - X[:, 1] * arms + 0.1 * rng.standard_normal(n)
    p = cls(k, d, lam=0.7, precision=precision, seed=3, **kw)
    h = n // 2
    p.update_batch(X[:h], arms[:h], rewards[:h])
    for x, a, r in zip(X[h:], arms[h:], rewards[h:], strict=True):
        p.update(x, int(a), float(r))
    return p, (X, arms, rewards), rng.standard_normal((150, d))


def _numpy_moments(X, arms, rewards, Q, k, lam):
    means, widths = np.empty((len(Q), k)), np.empty((len(Q), k))
    d = X.shape[1]
    for a in range(k):
        m = arms == a
        inv = np.linalg.inv(lam * np.eye(d) + X[m].T @ X[m])
        means[:, a] = Q @ (inv @ (rewards[m] @ X[m]))
        widths[:, a] = np.sqrt(np.einsum("nd,de,ne->n", Q, inv, Q))
    return means, widths


@pytest.mark.parametrize("d", [63, 64, 97, 200, 520])
def test_batch_scores_means_and_widths_equal_numpy_and_single_rows(d):
    # From d = 512 on, batch scoring runs one matrix product per arm and block of rows;
    # from d = 64 LinUCB's and LinTS's batch decisions use the batch means and widths.
    alpha = 1.3
    p, (X, arms, rewards), Q = _fitted(regretless.LinUCB, d, alpha=alpha)
    means, widths = _numpy_moments(X, arms, rewards, Q, 3, 0.7)
    np.testing.assert_allclose(p.scores(Q), means + alpha * widths, rtol=1e-9, atol=0)
    np.testing.assert_allclose(p.mean(Q), means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p.width(Q), widths, rtol=1e-9, atol=0)
    # Each row alone (its own block) gives the same scores.
    alone = np.vstack([p.scores(q[None]) for q in Q])
    np.testing.assert_allclose(alone, p.scores(Q), rtol=1e-12, atol=0)
    # Batch decisions are single decisions, also on LinTS's and LinGreedy's means.
    best = list((means + alpha * widths).argmax(1))
    assert list(p.select_batch(Q)) == [p.select(q) for q in Q] == best
    for cls in (regretless.LinTS, regretless.LinGreedy):
        q, _, _ = _fitted(cls, d)
        np.testing.assert_allclose(q.scores(Q), means, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(q.width(Q), widths, rtol=1e-9, atol=0)


@pytest.mark.parametrize("d", [64, 97])
def test_select_batch_equals_repeated_selects_on_a_seeded_policy(d):
    fitted, _, Q = _fitted(regretless.LinUCB, d)
    fresh = regretless.LinUCB(3, d, seed=4)  # every row a three-way tie: draws
    for p in (fitted, fresh):
        a, b = p.copy(), p.copy()
        assert list(a.select_batch(Q)) == [b.select(q) for q in Q]
        assert a.to_bytes() == b.to_bytes()  # the same generator state


@pytest.mark.parametrize("cls", [regretless.LinUCB, regretless.LinTS, regretless.LinGreedy])
def test_float32_storage_scores_within_float32_rounding_and_keeps_the_float64_state(cls):
    d = 97
    p64, _, Q = _fitted(cls, d)
    p32, _, _ = _fitted(cls, d, precision="float32")
    assert (p64.precision, p32.precision) == ("float64", "float32")
    # The float64 state is exactly the float64 policy's: the same coefficients.
    assert np.array_equal(p32.coefficients(), p64.coefficients())
    w64, w32 = p64.width(Q), p32.width(Q)
    rel = np.abs(w32 - w64) / w64
    assert rel.max() <= 1e-6 and (w32 != w64).mean() > 0.5  # rounded, not bit for bit
    # The means read the float64 coefficients (equal up to the kernels' rounding).
    np.testing.assert_allclose(p32.mean(Q), p64.mean(Q), rtol=1e-12, atol=1e-14)
    # Decisions agree wherever the two best scores are farther apart than the rounding.
    if cls is regretless.LinUCB:
        s = p64.scores(Q)
        top2 = np.sort(s, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-6 * np.abs(top2[:, 1])
        assert clear.mean() > 0.9
        picks32 = np.array([p32.copy().select(q) for q in Q])
        assert np.array_equal(picks32[clear], s.argmax(1)[clear])
        assert np.array_equal(p32.select_batch(Q)[clear], picks32[clear])


def test_float32_storage_does_not_drift_over_many_updates():
    # 3000 single updates cross two refactorizations: the state stays the float64 one,
    # so the float32 scores stay one rounding away from float64's.
    d, k = 6, 2
    rng = np.random.default_rng(0)
    p64 = regretless.LinUCB(k, d, alpha=0.8, seed=1)
    p32 = regretless.LinUCB(k, d, alpha=0.8, precision="float32", seed=1)
    for _ in range(3000):
        x = rng.standard_normal(d)
        a, r = int(rng.integers(k)), float(rng.standard_normal())
        p64.update(x, a, r)
        p32.update(x, a, r)
    assert np.array_equal(p32.coefficients(), p64.coefficients())
    Q = rng.standard_normal((50, d))
    s64, s32 = p64.scores(Q), p32.scores(Q)
    assert np.abs(s32 - s64).max() <= 1e-6 * np.abs(s64).max()
    assert not np.array_equal(s32, s64)


def test_float32_storage_round_trips_and_merges():
    import copy
    import pickle

    d = 70
    p, (X, arms, rewards), Q = _fitted(regretless.LinUCB, d, precision="float32")
    for q in (
        regretless.LinUCB.from_bytes(p.to_bytes()),
        pickle.loads(pickle.dumps(p)),
        copy.deepcopy(p),
        p.copy(),
    ):
        assert q.precision == "float32"
        assert np.array_equal(q.scores(Q), p.scores(Q))
        assert q.to_bytes() == p.to_bytes()
    # Float64 writes the payload it always wrote (version 1), float32 a newer one.
    p64 = regretless.LinUCB(3, d, lam=0.7, seed=3)
    assert (
        regretless.LinUCB(3, d, lam=0.7, precision="float64", seed=3).to_bytes() == p64.to_bytes()
    )
    assert p.to_bytes() != _fitted(regretless.LinUCB, d)[0].to_bytes()
    # Merging two float32 replicas: the fit on both data sets (float64 sums), float32 reads.
    h = len(arms) // 2
    a = regretless.LinUCB(3, d, lam=0.7, precision="float32", seed=0)
    b = regretless.LinUCB(3, d, lam=0.7, precision="float32", seed=0)
    a.update_batch(X[:h], arms[:h], rewards[:h])
    b.update_batch(X[h:], arms[h:], rewards[h:])
    a.merge(b)
    assert a.precision == "float32"
    means, widths = _numpy_moments(X, arms, rewards, Q, 3, 0.7)
    np.testing.assert_allclose(a.scores(Q), means + widths, rtol=1e-6, atol=0)
    # add_arm keeps the storage.
    a.add_arm()
    assert a.precision == "float32" and a.scores(Q).shape == (150, 4)


def test_bad_precisions_are_refused_naming_the_option():
    for bad in ("float16", "Float32", "f32", ""):
        with pytest.raises(regretless.InvalidParameterError, match="precision"):
            regretless.LinUCB(2, 3, precision=bad)
    for cls in (regretless.LinUCB, regretless.LinTS, regretless.LinGreedy):
        with pytest.raises(regretless.InvalidParameterError, match="precision.*decay"):
            cls(2, 3, decay=0.9, precision="float32")
    assert regretless.LinTS(2, 3, decay=0.9, precision="float64").precision == "float64"


def test_lints_batch_decisions_and_probabilities_equal_its_single_rows():
    # From d = 64 LinTS decides a batch from the batch engine's means and widths, drawing
    # the same normals in the same order as row-by-row decisions.
    p, _, Q = _fitted(regretless.LinTS, 97, v=0.5)
    a, b = p.copy(), p.copy()
    assert list(a.select_batch(Q)) == [b.select(q) for q in Q]
    assert a.to_bytes() == b.to_bytes()
    np.testing.assert_array_equal(
        p.probabilities(Q[:20]), np.vstack([p.probabilities(q[None]) for q in Q[:20]])
    )
