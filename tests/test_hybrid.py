"""HybridLinUCB against a literal numpy transcription of Li et al.'s Algorithm 2, and its
equivalences: no shared features = disjoint LinUCB, batch = loop, merge = concatenation,
remove_arm = never having seen the arm."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import regretless as rl

K, D, S = 3, 4, 2


class PaperHybrid:
    """Algorithm 2 of Li, Chu, Langford and Schapire (2010), as written (lam = 1)."""

    def __init__(self, k, d, s, alpha):
        self.alpha = alpha
        self.A0, self.b0 = np.eye(s), np.zeros(s)
        self.A = [np.eye(d) for _ in range(k)]
        self.B = [np.zeros((d, s)) for _ in range(k)]
        self.b = [np.zeros(d) for _ in range(k)]

    def scores(self, x_per_arm, z_per_arm):
        A0i = np.linalg.inv(self.A0)
        beta = A0i @ self.b0
        out = []
        for a, (A, B, b) in enumerate(zip(self.A, self.B, self.b, strict=True)):
            x, z = x_per_arm[a], z_per_arm[a]
            Ai = np.linalg.inv(A)
            theta = Ai @ (b - B @ beta)
            s = (
                z @ A0i @ z
                - 2 * z @ A0i @ B.T @ Ai @ x
                + x @ Ai @ x
                + x @ Ai @ B @ A0i @ B.T @ Ai @ x
            )
            out.append(z @ beta + x @ theta + self.alpha * np.sqrt(s))
        return np.array(out)

    def update(self, a, x, z, r):
        A, B, b = self.A[a], self.B[a], self.b[a]
        Ai = np.linalg.inv(A)
        self.A0 += B.T @ Ai @ B
        self.b0 += B.T @ Ai @ b
        self.A[a] = A = A + np.outer(x, x)
        self.B[a] = B = B + np.outer(x, z)
        self.b[a] = b = b + r * x
        Ai = np.linalg.inv(A)
        self.A0 += np.outer(z, z) - B.T @ Ai @ B
        self.b0 += r * z - B.T @ Ai @ b


def data(n, seed=0, per_arm=False):
    rng = np.random.default_rng(seed)
    shape_x = (n, K, D) if per_arm else (n, D)
    X = rng.standard_normal(shape_x)
    Z = rng.standard_normal((n, K, S)) if per_arm else rng.standard_normal((n, S))
    arms = rng.integers(0, K, n)
    beta = np.array([1.0, -0.5])
    theta = rng.standard_normal((K, D))
    xa = X[np.arange(n), arms] if per_arm else X
    za = Z[np.arange(n), arms] if per_arm else Z
    r = za @ beta + np.einsum("ij,ij->i", xa, theta[arms]) + 0.1 * rng.standard_normal(n)
    return X, Z, arms, r, xa, za


@pytest.mark.parametrize("per_arm", [False, True])
def test_matches_the_paper_algorithm(per_arm: bool) -> None:
    X, Z, arms, r, xa, za = data(150, seed=1, per_arm=per_arm)
    paper = PaperHybrid(K, D, S, alpha=0.8)
    p = rl.HybridLinUCB(K, D, S, alpha=0.8, seed=0)
    for i in range(150):
        xs = X[i] if per_arm else np.tile(X[i], (K, 1))
        zs = Z[i] if per_arm else np.tile(Z[i], (K, 1))
        if i % 10 == 0:
            np.testing.assert_allclose(
                p.scores(X[i : i + 1], Z[i : i + 1])[0], paper.scores(xs, zs), rtol=1e-9
            )
        paper.update(int(arms[i]), xa[i], za[i], r[i])
        p.update(xa[i], int(arms[i]), float(r[i]), z=za[i])
    np.testing.assert_allclose(
        p.shared_coefficients(), np.linalg.solve(paper.A0, paper.b0), rtol=1e-9
    )


@pytest.mark.parametrize("per_arm", [False, True])
def test_probabilities_and_top_k_match_the_paper_algorithm(per_arm: bool) -> None:
    # Probabilities: all mass on the argmax of Algorithm 2's scores; top_k: the k best of
    # them in decreasing order (ties to the lower arm).
    X, Z, arms, r, xa, za = data(120, seed=11, per_arm=per_arm)
    alpha = 0.9
    p = rl.HybridLinUCB(K, D, S, alpha=alpha, seed=0)
    ref = PaperHybrid(K, D, S, alpha)
    for a, x, z, y in zip(arms, xa, za, r, strict=True):
        ref.update(int(a), x, z, y)
        p.update(x, int(a), float(y), z=z)
    Xq, Zq = X[:12], Z[:12]
    scores = np.array(
        [
            ref.scores(
                Xq[i] if per_arm else np.tile(Xq[i], (K, 1)),
                Zq[i] if per_arm else np.tile(Zq[i], (K, 1)),
            )
            for i in range(12)
        ]
    )
    np.testing.assert_allclose(p.scores(Xq, Zq), scores, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(p.probabilities(Xq, Zq), np.eye(K)[scores.argmax(axis=1)])
    for k in (1, 2, 3):
        want = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(p.top_k(Xq, k, Zq), want)


def test_without_shared_features_it_is_disjoint_linucb() -> None:
    X, _, arms, r, _, _ = data(400, seed=2)
    hybrid = rl.HybridLinUCB(K, D, 0, alpha=0.6, seed=3)
    disjoint = rl.LinUCB(K, D, alpha=0.6, seed=3)
    hybrid.update_batch(X, arms, r)
    disjoint.update_batch(X, arms, r)
    np.testing.assert_allclose(hybrid.scores(X[:50]), disjoint.scores(X[:50]), rtol=1e-10)
    np.testing.assert_allclose(
        hybrid.coefficients(), disjoint.coefficients(), rtol=1e-10, atol=1e-13
    )
    assert hybrid.select_batch(X[:100]).tolist() == disjoint.select_batch(X[:100]).tolist()


@pytest.mark.parametrize("per_arm", [False, True])
def test_batch_equals_loop_and_merge_equals_concatenation(per_arm: bool) -> None:
    X, Z, arms, r, xa, za = data(600, seed=4, per_arm=per_arm)
    w = np.random.default_rng(5).uniform(0.5, 2, 600)
    batch, loop = rl.HybridLinUCB(K, D, S, seed=1), rl.HybridLinUCB(K, D, S, seed=1)
    batch.update_batch(X, arms, r, w, Z=Z)
    for i in range(600):
        loop.update(xa[i], int(arms[i]), float(r[i]), float(w[i]), z=za[i])
    np.testing.assert_allclose(batch.scores(X[:30], Z[:30]), loop.scores(X[:30], Z[:30]), rtol=1e-9)
    a, b = rl.HybridLinUCB(K, D, S, seed=1), rl.HybridLinUCB(K, D, S, seed=2)
    a.update_batch(X[:250], arms[:250], r[:250], w[:250], Z=Z[:250])
    b.update_batch(X[250:], arms[250:], r[250:], w[250:], Z=Z[250:])
    a.merge(b)
    np.testing.assert_allclose(a.scores(X[:30], Z[:30]), batch.scores(X[:30], Z[:30]), rtol=1e-9)
    np.testing.assert_allclose(a.shared_coefficients(), batch.shared_coefficients(), rtol=1e-9)
    assert a.n_updates == 600


def test_remove_arm_forgets_its_rows_everywhere() -> None:
    X, Z, arms, r, _, _ = data(300, seed=6)
    p = rl.HybridLinUCB(K, D, S, seed=0)
    p.update_batch(X, arms, r, Z=Z)
    p.remove_arm(1)
    keep = arms != 1
    q = rl.HybridLinUCB(K - 1, D, S, seed=0)
    q.update_batch(X[keep], np.where(arms[keep] == 2, 1, 0), r[keep], Z=Z[keep])
    np.testing.assert_allclose(p.scores(X[:20], Z[:20]), q.scores(X[:20], Z[:20]), rtol=1e-9)
    assert p.n_updates == keep.sum()
    assert p.add_arm() == K - 1


def test_persistence_and_bad_input() -> None:
    X, Z, arms, r, _, _ = data(100, seed=7)
    p = rl.HybridLinUCB(K, D, S, seed=0)
    p.update_batch(X, arms, r, Z=Z)
    q = pickle.loads(pickle.dumps(p))
    assert q.to_bytes() == p.to_bytes()
    assert q.select_batch(X[:40], Z[:40]).tolist() == p.select_batch(X[:40], Z[:40]).tolist()
    before = p.to_bytes()
    bad = X.copy()
    bad[2, 1] = np.inf
    for call, exc in [
        (lambda: p.update_batch(bad, arms, r, Z=Z), rl.InvalidParameterError),
        (lambda: p.update_batch(X, arms, r), rl.DTypeError),
        (lambda: p.update_batch(X, arms, r, Z=Z[:, :1]), rl.ShapeError),
        (lambda: p.update_batch(X, arms[:-1], r, Z=Z), rl.ShapeError),
        (lambda: p.update_batch(X, arms + K, r, Z=Z), rl.ArmError),
        (lambda: p.update(X[0], 0, np.nan, z=Z[0]), rl.RewardError),
        (lambda: p.select(X[0, :2], Z[0]), rl.ShapeError),
        (lambda: rl.HybridLinUCB.from_bytes(before[:-3]), rl.StateError),
        (lambda: p.merge(rl.HybridLinUCB(K, D, S + 1)), rl.IncompatibleError),
    ]:
        with pytest.raises(exc):
            call()
        assert p.to_bytes() == before
    probs = p.probabilities(X[:10], Z[:10])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert p.top_k(X[:10], 2, Z[:10]).shape == (10, 2)
