"""Linear contextual policies: agreement with a numpy ridge reference, batch == loop,
merge == concatenation, numerical stability, persistence, bad input, and regret."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import regretless as rl
from conftest import run_in_threads

K, D = 4, 5
FACTORIES = {
    "LinUCB": lambda s=0: rl.LinUCB(K, D, alpha=0.7, lam=0.5, seed=s),
    "LinTS": lambda s=0: rl.LinTS(K, D, v=0.3, lam=0.5, seed=s),
    "LinGreedy": lambda s=0: rl.LinGreedy(K, D, epsilon=0.1, lam=0.5, seed=s),
    "KLRegularizedUCB": lambda s=0: rl.KLRegularizedUCB(K, D, eta=2.0, beta=0.7, lam=0.5, seed=s),
    "GibbsGreedy": lambda s=0: rl.GibbsGreedy(K, D, eta=2.0, lam=0.5, seed=s),
}


@pytest.fixture(params=sorted(FACTORIES))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


def linear_data(n: int, seed: int = 0, k: int = K, d: int = D):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    theta = rng.standard_normal((k, d)) / np.sqrt(d)
    arms = rng.integers(0, k, n)
    rewards = np.einsum("ij,ij->i", X, theta[arms]) + 0.1 * rng.standard_normal(n)
    weights = rng.uniform(0.5, 2.0, n)
    return X, arms, rewards, weights, theta


def ridge_reference(X, arms, rewards, weights, lam, k=K):
    """Closed-form ridge per arm: A = lam I + X^T W X, theta = A^{-1} X^T W r."""
    d = X.shape[1]
    A_inv, thetas = [], []
    for a in range(k):
        m = arms == a
        A = lam * np.eye(d) + (X[m].T * weights[m]) @ X[m]
        b = (X[m].T * weights[m]) @ rewards[m]
        A_inv.append(np.linalg.inv(A))
        thetas.append(np.linalg.solve(A, b))
    return np.array(A_inv), np.array(thetas)


def test_matches_numpy_ridge_reference(name: str) -> None:
    X, arms, rewards, weights, _ = linear_data(400)
    p = FACTORIES[name]()
    for x, a, r, w in zip(X, arms, rewards, weights, strict=True):
        p.update(x, int(a), float(r), float(w))
    A_inv, thetas = ridge_reference(X, arms, rewards, weights, lam=0.5)
    np.testing.assert_allclose(p.coefficients(), thetas, rtol=1e-9, atol=1e-12)
    Xq = np.random.default_rng(9).standard_normal((30, D))
    mean = Xq @ thetas.T
    width = np.sqrt(np.einsum("nd,kde,ne->nk", Xq, A_inv, Xq))
    np.testing.assert_allclose(p.mean(Xq), mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p.width(Xq), width, rtol=1e-9)
    expected_scores = {
        "LinUCB": mean + 0.7 * width,
        "LinTS": mean,
        "LinGreedy": mean,
        "KLRegularizedUCB": np.clip(mean + 0.7 * width, 0, 1),
        "GibbsGreedy": np.clip(mean, 0, 1),
    }[name]
    np.testing.assert_allclose(p.scores(Xq), expected_scores, rtol=1e-9, atol=1e-12)
    assert p.counts().tolist() == np.bincount(arms, minlength=K).tolist()


def test_batch_fit_equals_the_loop_of_updates(name: str) -> None:
    X, arms, rewards, weights, _ = linear_data(3000, seed=1)
    batch, loop = FACTORIES[name](), FACTORIES[name]()
    batch.update_batch(X, arms, rewards, weights)
    for x, a, r, w in zip(X, arms, rewards, weights, strict=True):
        loop.update(x, int(a), float(r), float(w))
    np.testing.assert_allclose(batch.coefficients(), loop.coefficients(), rtol=1e-9, atol=1e-12)
    Xq = X[:50]
    np.testing.assert_allclose(batch.width(Xq), loop.width(Xq), rtol=1e-9)
    assert batch.n_updates == loop.n_updates == 3000


def test_merge_equals_fitting_the_concatenated_data(name: str) -> None:
    X, arms, rewards, weights, _ = linear_data(1000, seed=2)
    a, b, both = FACTORIES[name](1), FACTORIES[name](2), FACTORIES[name](1)
    a.update_batch(X[:600], arms[:600], rewards[:600], weights[:600])
    b.update_batch(X[600:], arms[600:], rewards[600:], weights[600:])
    both.update_batch(X, arms, rewards, weights)
    a.merge(b)
    np.testing.assert_allclose(a.coefficients(), both.coefficients(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.width(X[:20]), both.width(X[:20]), rtol=1e-9)
    assert a.counts().tolist() == both.counts().tolist()
    with pytest.raises(rl.IncompatibleError):
        a.merge(type(a)(K, D + 1))
    with pytest.raises(rl.DTypeError, match="other"):
        a.merge(rl.UCB1(K))


def test_inverse_stays_accurate_over_many_rank_one_updates() -> None:
    # 20,000 single updates (19 exact refactorizations along the way, the last one 544
    # updates ago): the maintained inverse still equals the inverse of the exact Gram.
    rng = np.random.default_rng(3)
    d = 8
    p = rl.LinUCB(1, d, lam=1e-3, seed=0)
    X = rng.standard_normal((20_000, d)) * np.logspace(-2, 1, d)  # ill-conditioned features
    r = rng.random(20_000)
    for x, y in zip(X, r, strict=True):
        p.update(x, 0, float(y))
    A = 1e-3 * np.eye(d) + X.T @ X
    Xq = rng.standard_normal((10, d))
    exact = np.sqrt(np.einsum("nd,de,ne->n", Xq, np.linalg.inv(A), Xq))
    np.testing.assert_allclose(p.width(Xq)[:, 0], exact, rtol=1e-7)
    np.testing.assert_allclose(p.coefficients()[0], np.linalg.solve(A, X.T @ r), rtol=1e-7)


def test_select_batch_equals_the_loop_and_probabilities_are_distributions(name: str) -> None:
    X, arms, rewards, weights, _ = linear_data(500, seed=4)
    p = FACTORIES[name](5)
    p.update_batch(X, arms, rewards)
    q = p.copy()
    Xq = np.random.default_rng(5).standard_normal((200, D))
    assert p.select_batch(Xq).tolist() == [q.select(x) for x in Xq]
    probs = p.probabilities(Xq)
    assert probs.shape == (200, K)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    before = p.to_bytes()
    p.probabilities(Xq)
    p.scores(Xq)
    assert p.to_bytes() == before


def test_selection_frequencies_match_probabilities(name: str) -> None:
    X, arms, rewards, _, _ = linear_data(300, seed=6)
    p = FACTORIES[name](6)
    p.update_batch(X, arms, rewards)
    x = np.random.default_rng(7).standard_normal(D)
    probs = p.probabilities(x[None, :])[0]
    picks = p.select_batch(np.repeat(x[None, :], 20_000, axis=0))
    freq = np.bincount(picks, minlength=K) / 20_000
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_top_k_orders_arms_by_score(name: str) -> None:
    X, arms, rewards, _, _ = linear_data(300, seed=8)
    p = FACTORIES[name]()
    p.update_batch(X, arms, rewards)
    Xq = X[:25]
    top = p.top_k(Xq, 3)
    assert top.shape == (25, 3)
    np.testing.assert_array_equal(top, np.argsort(-p.scores(Xq), axis=1, kind="stable")[:, :3])
    with pytest.raises(rl.InvalidParameterError, match="k"):
        p.top_k(Xq, K + 1)


def test_persistence_round_trips(name: str) -> None:
    X, arms, rewards, _, _ = linear_data(200, seed=10)
    p = FACTORIES[name](3)
    p.update_batch(X, arms, rewards)
    for q in (type(p).from_bytes(p.to_bytes()), pickle.loads(pickle.dumps(p)), p.copy()):
        assert q.to_bytes() == p.to_bytes()
    q = type(p).from_bytes(p.to_bytes())
    assert q.select_batch(X[:100]).tolist() == p.select_batch(X[:100]).tolist()
    data = p.to_bytes()
    with pytest.raises(rl.StateError):
        type(p).from_bytes(data[:-10])
    with pytest.raises(rl.StateError, match="not a"):
        rl.UCB1.from_bytes(data)


def test_add_and_remove_arms(name: str) -> None:
    X, arms, rewards, _, _ = linear_data(200, seed=11)
    p = FACTORIES[name]()
    p.update_batch(X, arms, rewards)
    coef = p.coefficients()
    assert p.add_arm() == K
    assert p.coefficients().shape == (K + 1, D)
    np.testing.assert_array_equal(p.coefficients()[K], 0.0)
    p.remove_arm(1)
    np.testing.assert_array_equal(p.coefficients()[: K - 1], np.delete(coef, 1, axis=0))
    assert p.n_updates == np.sum(arms != 1)


def test_bad_input_raises_and_changes_nothing(name: str) -> None:
    X, arms, rewards, _, _ = linear_data(50, seed=12)
    p = FACTORIES[name]()
    p.update_batch(X, arms, rewards)
    before = p.to_bytes()
    bad_x = X.copy()
    bad_x[3, 2] = np.nan
    cases = [
        (lambda: p.update_batch(bad_x, arms, rewards), rl.InvalidParameterError, "row 3 column 2"),
        (lambda: p.update_batch(X[:, :3], arms, rewards), rl.ShapeError, "5 features"),
        (lambda: p.update_batch(X, arms[:-1], rewards), rl.ShapeError, "lengths"),
        (lambda: p.update_batch(X, np.where(arms == 0, K, arms), rewards), rl.ArmError, "arms"),
        (lambda: p.update_batch(X, arms.astype(float), rewards), rl.DTypeError, "arms"),
        (lambda: p.update_batch(X, arms, np.full(50, np.inf)), rl.RewardError, "rewards"),
        (
            lambda: p.update_batch(X, arms, rewards, -np.ones(50)),
            rl.InvalidParameterError,
            "weights",
        ),
        (lambda: p.update(X[0, :4], 0, 1.0), rl.ShapeError, "5 features"),
        (lambda: p.update(bad_x[3], 0, 1.0), rl.InvalidParameterError, "x"),
        (lambda: p.update(X[0], -1, 1.0), rl.ArmError, "arm"),
        (lambda: p.update(X[0], 0, np.nan), rl.RewardError, "reward"),
        (lambda: p.update(X[0], 0, 1.0, -2.0), rl.InvalidParameterError, "weight"),
        (lambda: p.select(X[0, :2]), rl.ShapeError, "x"),
        (lambda: p.select(["a"] * D), rl.DTypeError, "x"),
        (lambda: p.scores(np.zeros((2, 2, 2))), rl.ShapeError, "X"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()
        assert p.to_bytes() == before


def test_invalid_hyperparameters() -> None:
    for call, match in [
        (lambda: rl.LinUCB(0, 3), "n_arms"),
        (lambda: rl.LinUCB(2, 0), "dim"),
        (lambda: rl.LinUCB(2, 3, lam=0.0), "lam"),
        (lambda: rl.LinUCB(2, 3, alpha=-1.0), "alpha"),
        (lambda: rl.LinTS(2, 3, v=float("nan")), "v"),
        (lambda: rl.LinGreedy(2, 3, epsilon=1.5), "epsilon"),
    ]:
        with pytest.raises(rl.InvalidParameterError, match=match):
            call()


def test_concurrent_threads_never_corrupt_state(name: str) -> None:
    p = FACTORIES[name](1)
    X, arms, rewards, _, _ = linear_data(200, seed=13)

    def worker(_: int) -> None:
        for i in range(200):
            a = p.select(X[i])
            p.update(X[i], a, float(rewards[i]))
            if i % 40 == 0:
                p.update_batch(X[:10], arms[:10], rewards[:10])
                p.scores(X)

    run_in_threads(worker, 4)
    assert p.n_updates == 4 * (200 + 5 * 10) == p.counts().sum()


def simulate_linear(policy, n_steps: int, seed: int) -> np.ndarray:
    """Online loop on a linear problem with Gaussian noise; returns the cumulative regret
    after each step."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((K, D))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    regret = np.zeros(n_steps)
    for t in range(n_steps):
        x = rng.standard_normal(D) / np.sqrt(D)
        expected = theta @ x
        a = policy.select(x) if hasattr(policy, "dim") else policy.select()
        r = expected[a] + 0.1 * rng.standard_normal()
        if hasattr(policy, "dim"):
            policy.update(x, a, r)
        else:
            policy.update(a, float(np.clip(r + 0.5, 0, 1)))
        regret[t] = expected.max() - expected[a]
    return np.cumsum(regret)


@pytest.mark.parametrize("policy_name", ["LinUCB", "LinTS"])
def test_regret_is_sublinear_and_beats_context_free_ucb1(policy_name: str) -> None:
    make = {
        "LinUCB": lambda: rl.LinUCB(K, D, alpha=0.5, seed=0),
        "LinTS": lambda: rl.LinTS(K, D, v=0.1, seed=0),
    }[policy_name]
    curves = np.array([simulate_linear(make(), 4000, seed) for seed in range(3)])
    first, total = curves[:, 999], curves[:, -1]
    ucb1 = [simulate_linear(rl.UCB1(K, seed=0), 4000, s)[-1] for s in range(3)]
    # The last 3000 steps cost far less than 3x the first 1000 (sublinear), and the
    # contextual policy beats the context-free one by a wide margin.
    assert np.mean(total) - np.mean(first) < 1.0 * np.mean(first)
    assert np.mean(total) < 0.25 * np.mean(ucb1)
