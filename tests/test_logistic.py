"""Logistic policies: the online Laplace update against a numpy MAP solve, batch == loop,
persistence, bad input, and better regret than linear models on a logistic problem."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import regretless as rl

K, D = 3, 4


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def laplace_reference(X, rewards, weights, lam):
    """Sequential online Laplace updates, each MAP by d-dimensional Newton in numpy."""
    d = X.shape[1]
    m, P = np.zeros(d), lam * np.eye(d)
    for x, r, w in zip(X, rewards, weights, strict=True):
        theta = m.copy()
        for _ in range(100):
            p = sigmoid(x @ theta)
            grad = P @ (theta - m) - w * (r - p) * x
            hess = P + w * p * (1 - p) * np.outer(x, x)
            step = np.linalg.solve(hess, grad)
            theta -= step
            if np.abs(step).max() < 1e-14:
                break
        p = sigmoid(x @ theta)
        m, P = theta, P + w * p * (1 - p) * np.outer(x, x)
    return m, np.linalg.inv(P)


def logistic_data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D))
    theta = 1.5 * rng.standard_normal((K, D))
    arms = rng.integers(0, K, n)
    clicks = (rng.random(n) < sigmoid(np.einsum("ij,ij->i", X, theta[arms]))).astype(float)
    return X, arms, clicks, theta


@pytest.mark.parametrize("cls", [rl.LogisticUCB, rl.LogisticTS])
def test_online_laplace_matches_the_numpy_map(cls) -> None:
    X, arms, clicks, _ = logistic_data(300)
    weights = np.random.default_rng(1).uniform(0.5, 2, 300)
    p = cls(K, D, lam=2.0, seed=0)
    for x, a, r, w in zip(X, arms, clicks, weights, strict=True):
        p.update(x, int(a), float(r), float(w))
    Xq = X[:10]
    for a in range(K):
        m = arms == a
        mean, cov = laplace_reference(X[m], clicks[m], weights[m], 2.0)
        np.testing.assert_allclose(p.coefficients()[a], mean, rtol=1e-8, atol=1e-10)
        width = np.sqrt(np.einsum("nd,de,ne->n", Xq, cov, Xq))
        np.testing.assert_allclose(p.width(Xq)[:, a], width, rtol=1e-8)
        np.testing.assert_allclose(p.mean(Xq)[:, a], sigmoid(Xq @ mean), rtol=1e-8)


@pytest.mark.parametrize("cls", [rl.LogisticUCB, rl.LogisticTS])
def test_batch_equals_loop_persistence_and_bad_input(cls) -> None:
    X, arms, clicks, _ = logistic_data(500, seed=2)
    a, b = cls(K, D, seed=3), cls(K, D, seed=3)
    a.update_batch(X, arms, clicks)
    for x, arm, r in zip(X, arms, clicks, strict=True):
        b.update(x, int(arm), float(r))
    np.testing.assert_allclose(a.coefficients(), b.coefficients(), rtol=1e-12, atol=1e-14)
    q = pickle.loads(pickle.dumps(a))
    assert q.to_bytes() == a.to_bytes()
    assert q.select_batch(X[:50]).tolist() == a.select_batch(X[:50]).tolist()
    before = a.to_bytes()
    with pytest.raises(rl.RewardError, match=r"\[0, 1\]"):
        a.update_batch(X[:3], arms[:3], [0.0, 1.0, 2.0])
    with pytest.raises(rl.RewardError):
        a.update(X[0], 0, -0.5)
    with pytest.raises(rl.IncompatibleError, match="merge"):
        a.merge(b)
    assert a.to_bytes() == before
    probs = a.probabilities(X[:20])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_probabilities_and_top_k_match_a_numpy_reference() -> None:
    # LogisticUCB: the argmax of the logit x^T m_a + alpha sqrt(x^T S_a x) with (m_a, S_a) the
    # numpy Laplace fit; top_k the k best scores (ties to the lower arm). LogisticTS: each
    # arm's probability of the largest sampled logit N(x^T m_a, v^2 x^T S_a x), by quadrature,
    # against the policy's 4096-draw estimate (3.5 binomial standard errors).
    X, arms, clicks, _ = logistic_data(200, seed=4)
    Xq = np.random.default_rng(9).standard_normal((15, D)) * 0.5
    fits = [
        laplace_reference(X[arms == a], clicks[arms == a], np.ones((arms == a).sum()), 1.5)
        for a in range(K)
    ]
    logit = np.stack([Xq @ m for m, _ in fits], axis=1)
    sd = np.stack([np.sqrt(np.einsum("nd,de,ne->n", Xq, S, Xq)) for _, S in fits], axis=1)
    ucb = rl.LogisticUCB(K, D, alpha=0.8, lam=1.5, seed=0)
    ucb.update_batch(X, arms, clicks)
    scores = logit + 0.8 * sd
    np.testing.assert_allclose(ucb.scores(Xq), scores, rtol=1e-8)
    np.testing.assert_array_equal(ucb.probabilities(Xq), np.eye(K)[scores.argmax(axis=1)])
    for k in (1, 2, 3):
        want = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(ucb.top_k(Xq, k), want)
    v = 1.3
    ts = rl.LogisticTS(K, D, v=v, lam=1.5, seed=0)
    ts.update_batch(X, arms, clicks)
    grid = np.linspace(-10, 10, 1001)
    from math import erf, sqrt

    cdf = np.vectorize(lambda z: 0.5 * (1 + erf(z / sqrt(2))))
    for row in range(6):
        mu, s = logit[row], v * sd[row]
        win = np.empty(K)
        for a in range(K):
            y = mu[a] + s[a] * grid
            dens = np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi)
            others = np.prod([cdf((y - mu[b]) / s[b]) for b in range(K) if b != a], axis=0)
            win[a] = np.trapezoid(dens * others, grid)
        got = ts.probabilities(Xq[row : row + 1])[0]
        tol = 3.5 * np.sqrt(win * (1 - win) / 4096) + 1e-3
        assert (np.abs(got - win) <= tol).all(), (row, got, win)


def click_regret(policy, theta, n_steps, seed):
    rng = np.random.default_rng(seed)
    regret = 0.0
    for _ in range(n_steps):
        x = rng.standard_normal(D)
        p = sigmoid(theta @ x)
        a = policy.select(x)
        policy.update(x, a, float(rng.random() < p[a]))
        regret += p.max() - p[a]
    return regret


def test_logistic_policies_beat_linear_ones_on_a_logistic_problem() -> None:
    results = {name: [] for name in ("LogisticUCB", "LogisticTS", "LinUCB", "LinTS")}
    for seed in range(3):
        theta = 2.0 * np.random.default_rng(50 + seed).standard_normal((K, D))
        for name, policy in [
            ("LogisticUCB", rl.LogisticUCB(K, D, alpha=0.5, seed=seed)),
            ("LogisticTS", rl.LogisticTS(K, D, seed=seed)),
            ("LinUCB", rl.LinUCB(K, D, alpha=0.5, seed=seed)),
            ("LinTS", rl.LinTS(K, D, v=0.2, seed=seed)),
        ]:
            results[name].append(click_regret(policy, theta, 3000, seed))
    mean = {k: np.mean(v) for k, v in results.items()}
    assert mean["LogisticUCB"] < mean["LinUCB"], mean
    assert mean["LogisticTS"] < mean["LinTS"], mean
    # And they learn: far below uniform play's regret (about 0.3 per step here).
    assert max(mean["LogisticUCB"], mean["LogisticTS"]) < 0.1 * 3000, mean
