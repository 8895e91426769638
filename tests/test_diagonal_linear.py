"""DiagonalLinUCB (issue 20): the per-coordinate ridge baseline against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import regretless


def _data(n: int, d: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    arms = rng.integers(0, k, n)
    rewards = X[:, 0] * (arms == 0) - X[:, 1] * (arms == 1) + 0.1 * rng.standard_normal(n)
    weights = rng.uniform(0.2, 2.0, n)
    return X, arms, rewards, weights


def _reference(X, arms, rewards, weights, Q, k, alpha, lam):
    d = X.shape[1]
    means, widths = np.zeros((len(Q), k)), np.zeros((len(Q), k))
    for a in range(k):
        m = arms == a
        diag = lam + (weights[m, None] * X[m] ** 2).sum(0)
        b = (weights[m, None] * rewards[m, None] * X[m]).sum(0)
        means[:, a] = Q @ (b / diag)
        widths[:, a] = np.sqrt((Q**2 / diag).sum(1))
    assert d == Q.shape[1]
    return means, widths, means + alpha * widths


@pytest.mark.parametrize("alpha, lam", [(1.0, 1.0), (0.3, 2.5)])
def test_scores_means_and_widths_equal_the_per_coordinate_ridge(alpha, lam):
    k, d = 3, 12
    X, arms, rewards, weights = _data(400, d, k, seed=1)
    p = regretless.DiagonalLinUCB(k, d, alpha=alpha, lam=lam, seed=0)
    p.update_batch(X[:300], arms[:300], rewards[:300], weights=weights[:300])
    for i in range(300, 400):
        p.update(X[i], int(arms[i]), float(rewards[i]), weight=float(weights[i]))
    Q = np.random.default_rng(2).standard_normal((20, d))
    means, widths, scores = _reference(X, arms, rewards, weights, Q, k, alpha, lam)
    np.testing.assert_allclose(p.scores(Q), scores, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(p.mean(Q), means, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(p.width(Q), widths, rtol=1e-11, atol=1e-12)
    # Decisions are the argmax of the scores; a wrong alpha would move them.
    assert (p.select_batch(Q) == scores.argmax(1)).all()
    assert not np.allclose(p.scores(Q), means + 2 * alpha * widths)


def test_batch_fit_is_the_loop_of_single_updates_bit_for_bit_and_merge_adds_the_sums():
    k, d = 4, 9
    X, arms, rewards, weights = _data(300, d, k, seed=3)
    batch = regretless.DiagonalLinUCB(k, d, seed=5)
    batch.update_batch(X, arms, rewards, weights=weights)
    loop = regretless.DiagonalLinUCB(k, d, seed=5)
    for x, a, r, w in zip(X, arms, rewards, weights, strict=True):
        loop.update(x, int(a), float(r), weight=float(w))
    assert batch.to_bytes() == loop.to_bytes()
    left = regretless.DiagonalLinUCB(k, d, seed=5)
    right = regretless.DiagonalLinUCB(k, d, seed=5)
    left.update_batch(X[:120], arms[:120], rewards[:120], weights=weights[:120])
    right.update_batch(X[120:], arms[120:], rewards[120:], weights=weights[120:])
    left.merge(right)
    Q = X[:30]
    np.testing.assert_allclose(left.scores(Q), batch.scores(Q), rtol=1e-12, atol=1e-12)
    assert int(left.counts().sum()) == 300


def test_equal_to_linucb_on_disjoint_supports_and_not_on_correlated_contexts():
    k, d = 3, 6
    rng = np.random.default_rng(7)
    onehot = np.eye(d)[rng.integers(0, d, 200)] * rng.uniform(0.5, 2.0, (200, 1))
    arms = rng.integers(0, k, 200)
    rewards = rng.standard_normal(200)
    Q = rng.standard_normal((25, d))
    diag = regretless.DiagonalLinUCB(k, d, alpha=0.8, seed=0)
    exact = regretless.LinUCB(k, d, alpha=0.8, seed=0)
    for p in (diag, exact):
        p.update_batch(onehot, arms, rewards)
    np.testing.assert_allclose(diag.scores(Q), exact.scores(Q), rtol=1e-10, atol=1e-12)
    # Correlated contexts: the diagonal ignores the cross terms, so it differs.
    X, arms, rewards, _ = _data(200, d, k, seed=8)
    diag = regretless.DiagonalLinUCB(k, d, alpha=0.8, seed=0)
    exact = regretless.LinUCB(k, d, alpha=0.8, seed=0)
    for p in (diag, exact):
        p.update_batch(X, arms, rewards)
    assert np.abs(diag.scores(Q) - exact.scores(Q)).max() > 1e-2


def test_learns_the_best_arm_on_a_seeded_problem():
    # Arm a pays x . theta_a: after fitting, most decisions on fresh contexts are the best.
    k, d = 4, 16
    rng = np.random.default_rng(11)
    theta = rng.standard_normal((k, d))
    p = regretless.DiagonalLinUCB(k, d, alpha=0.1, seed=1)
    for _ in range(1500):
        x = rng.standard_normal(d)
        a = p.select(x)
        p.update(x, a, float(x @ theta[a] + 0.1 * rng.standard_normal()))
    Q = rng.standard_normal((300, d))
    hit = (p.select_batch(Q) == (Q @ theta.T).argmax(1)).mean()
    assert hit > 0.8, hit
