"""Kernel bandits: GPUCB (exact incremental GP-UCB) and BKB (Nystrom dictionary)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import regretless
from regretless import BKB, GPUCB, RBF, Linear, Matern, Polynomial


def np_kernel(name: str, X: np.ndarray, Y: np.ndarray, ls: float = 1.0, s2: float = 1.0):
    if name in ("linear", "poly"):
        ip = X @ Y.T / ls**2
        return s2 * ip if name == "linear" else s2 * (ip + 1.0) ** 3
    r = np.sqrt(np.maximum(((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1), 0.0)) / ls
    if name == "rbf":
        return s2 * np.exp(-0.5 * r**2)
    if name == "m12":
        return s2 * np.exp(-r)
    if name == "m32":
        u = np.sqrt(3) * r
        return s2 * (1 + u) * np.exp(-u)
    u = np.sqrt(5) * r
    return s2 * (1 + u + u**2 / 3) * np.exp(-u)


def exact_gp(K_fn, X, P, y, noise):
    K = K_fn(X[P], X[P]) + noise * np.eye(len(P))
    Kx = K_fn(X, X[P])
    mean = Kx @ np.linalg.solve(K, y)
    var = np.diag(K_fn(X, X)) - np.einsum("ij,ji->i", Kx, np.linalg.solve(K, Kx.T))
    return mean, var


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(80, 2))
    pulls = rng.integers(0, 30, size=50)
    y = np.sin(5 * X[pulls, 0]) + 0.1 * rng.standard_normal(50)
    return X, pulls, y


def test_gpucb_incremental_posterior_equals_a_refit(problem) -> None:
    X, pulls, y = problem
    gp = GPUCB(X, RBF(0.3, 1.5), noise=0.02, seed=0)
    for i, r in zip(pulls, y, strict=True):
        gp.update(i, r)
    mean, var = gp.posterior()
    ref_m, ref_v = exact_gp(lambda a, b: np_kernel("rbf", a, b, 0.3, 1.5), X, pulls, y, 0.02)
    np.testing.assert_allclose(mean, ref_m, atol=1e-9)
    np.testing.assert_allclose(var, np.maximum(ref_v, 0), atol=1e-9)
    Q = np.random.default_rng(1).uniform(size=(7, 2))
    qm, qv = gp.posterior(Q)
    XQ = np.vstack([X, Q])
    Pq = pulls
    rm, rv = exact_gp(lambda a, b: np_kernel("rbf", a, b, 0.3, 1.5), XQ, Pq, y, 0.02)
    np.testing.assert_allclose(qm, rm[80:], atol=1e-9)
    np.testing.assert_allclose(qv, rv[80:], atol=1e-9)


def test_bkb_with_every_pull_in_the_dictionary_is_the_exact_gp(problem) -> None:
    X, pulls, y = problem
    lam = 0.05
    bkb = BKB(X, Matern(0.4, nu=2.5), lam=lam, qbar=1e12, seed=0)
    for i, r in zip(pulls, y, strict=True):
        bkb.update(i, r)
    assert set(bkb.dictionary_indices.tolist()) == set(pulls.tolist())
    # Aggregated pulls: the exact GP on the distinct points with summed rewards is the
    # same as the GP on every observation.
    ref_m, ref_v = exact_gp(lambda a, b: np_kernel("m52", a, b, 0.4), X, pulls, y, lam)
    mean, var = bkb.posterior()
    np.testing.assert_allclose(mean, ref_m, atol=1e-8)
    np.testing.assert_allclose(lam * var, np.maximum(ref_v, 0), atol=1e-8)
    qm, qv = bkb.posterior(X[:5])
    np.testing.assert_allclose(qm, mean[:5], atol=1e-12)
    np.testing.assert_allclose(qv, var[:5], atol=1e-10)


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (RBF(0.3, 2.0), "rbf"),
        (Matern(0.3, nu=0.5), "m12"),
        (Matern(0.3, nu=1.5), "m32"),
        (Matern(0.3, nu=2.5), "m52"),
        (Linear(), "linear"),
        (Polynomial(degree=3), "poly"),
    ],
)
def test_kernels_match_their_formulas(spec, name) -> None:
    X = np.random.default_rng(2).uniform(-1, 1, size=(20, 3))
    gp = GPUCB(X, spec, noise=0.1)
    gp.update(0, 1.0)
    s2 = 2.0 if name == "rbf" else 1.0
    K = np_kernel(name, X, X, 0.3 if name in ("rbf", "m12", "m32", "m52") else 1.0, s2)
    mean, var = gp.posterior()
    np.testing.assert_allclose(mean, K[:, 0] / (K[0, 0] + 0.1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, np.diag(K) - K[:, 0] ** 2 / (K[0, 0] + 0.1), atol=1e-12)


def test_linear_kernel_dictionary_never_exceeds_d() -> None:
    rng = np.random.default_rng(3)
    d = 3
    X = rng.standard_normal((1000, d))
    theta = np.array([1.0, -0.5, 0.2])
    scores = X @ theta
    sd = np.sqrt(0.01 * (scores.max() - scores.min()))
    bkb = BKB(X, "linear", lam=sd**2, qbar=1.0, fnorm=1.0, delta=0.5, seed=0)
    regret = 0.0
    for _ in range(300):
        i = bkb.select()
        bkb.update(i, scores[i] + sd * rng.standard_normal())
        regret += scores.max() - scores[i]
        assert 1 <= bkb.dictionary_size <= d
    assert regret < 0.2 * 300 * (scores.max() - scores.mean())


def run(policy, f, rng, T):
    best = f.max()
    regret = np.empty(T)
    for t in range(T):
        i = policy.select()
        policy.update(i, f[i] + 0.1 * rng.standard_normal())
        regret[t] = best - f[i]
    return np.cumsum(regret)


def test_regret_is_sublinear_and_bkb_close_to_gpucb() -> None:
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(400, 2))
    f = np.sin(6 * X[:, 0]) * np.cos(4 * X[:, 1]) + X[:, 1]
    T = 300
    gp = run(GPUCB(X, RBF(0.2), noise=0.01, beta_scale=0.2, seed=0), f, np.random.default_rng(5), T)
    bk = run(
        BKB(X, RBF(0.2), lam=0.01, qbar=2.0, beta_scale=0.2, seed=0),
        f,
        np.random.default_rng(5),
        T,
    )
    for cum in (gp, bk):
        first, last = cum[99], cum[-1] - cum[-101]
        assert last < 0.5 * first
    # With the width shared with GPUCB (beta_scale), BKB stays close to exact GP-UCB.
    assert bk[-1] <= 1.3 * gp[-1]


def test_bad_input_raises_and_changes_nothing() -> None:
    X = np.random.default_rng(6).uniform(size=(10, 2))
    bad = X.copy()
    bad[3, 1] = np.nan
    for cls in (GPUCB, BKB):
        with pytest.raises(regretless.ShapeError):
            cls(bad, "rbf")
        with pytest.raises(regretless.ShapeError):
            cls(X[:, 0], "rbf")
        with pytest.raises(regretless.InvalidParameterError):
            cls(X, RBF(lengthscale=0.0))
        with pytest.raises(regretless.InvalidParameterError):
            cls(X, RBF(variance=-1.0))
        with pytest.raises(regretless.InvalidParameterError):
            cls(X, "cosine")
        with pytest.raises(regretless.InvalidParameterError):
            cls(X, Matern(nu=1.0))
        with pytest.raises(regretless.InvalidParameterError):
            cls(X, Polynomial(degree=0))
        with pytest.raises(regretless.DTypeError):
            cls(X, 3.0)
        p = cls(X, RBF(0.3), seed=1)
        p.update(2, 0.5)
        before = p.to_bytes()
        with pytest.raises(regretless.ArmError):
            p.update(10, 1.0)
        with pytest.raises(regretless.ArmError):
            p.update(-1, 1.0)
        with pytest.raises(regretless.RewardError):
            p.update(0, float("inf"))
        with pytest.raises(regretless.ShapeError):
            p.posterior(np.zeros((2, 3)))
        with pytest.raises(regretless.ShapeError):
            p.posterior(np.full((1, 2), np.inf))
        with pytest.raises(regretless.InvalidParameterError):
            p.select_batch(11)
        assert p.to_bytes() == before
    with pytest.raises(regretless.InvalidParameterError):
        GPUCB(X, "rbf", noise=0.0)
    with pytest.raises(regretless.InvalidParameterError):
        BKB(X, "rbf", lam=-1.0)
    with pytest.raises(regretless.InvalidParameterError):
        BKB(X, "rbf", qbar=0.0)


@pytest.mark.parametrize("cls", [GPUCB, BKB])
def test_bytes_and_pickle_continue_identically(cls) -> None:
    X = np.random.default_rng(7).uniform(size=(60, 2))
    f = np.sin(4 * X[:, 0])
    a = cls(X, RBF(0.2), seed=3)
    noise = np.random.default_rng(8).standard_normal(80) * 0.1
    for t in range(30):
        i = a.select()
        a.update(i, f[i] + noise[t])
    b = cls.from_bytes(a.to_bytes())
    c = pickle.loads(pickle.dumps(a))
    d = a.copy()
    for t in range(30, 60):
        picks = {p.select() for p in (a, b, c, d)}
        assert len(picks) == 1
        i = picks.pop()
        for p in (a, b, c, d):
            p.update(i, f[i] + noise[t])
    assert a.to_bytes() == b.to_bytes() == c.to_bytes() == d.to_bytes()
    np.testing.assert_array_equal(a.posterior()[1], b.posterior()[1])
    with pytest.raises(regretless.StateError):
        cls.from_bytes(b"nonsense")
    raw = bytearray(a.to_bytes())
    raw[20] ^= 0xFF
    with pytest.raises(regretless.StateError):
        cls.from_bytes(bytes(raw))


@pytest.mark.parametrize("cls", [GPUCB, BKB])
def test_select_batch_gives_distinct_points_and_same_seed_same_batch(cls) -> None:
    X = np.random.default_rng(9).uniform(size=(50, 2))
    a, b = cls(X, RBF(0.3), seed=0), cls(X, RBF(0.3), seed=0)
    for p in (a, b):
        p.update(0, 1.0)
        p.update(7, -1.0)
    batch = a.select_batch(8)
    assert batch.dtype == np.int64 and len(set(batch.tolist())) == 8
    np.testing.assert_array_equal(batch, b.select_batch(8))
    assert a.select_batch(1)[0] == b.select()


def test_optimize_finds_the_maximum_with_a_progress_bar(capsys) -> None:
    X = np.random.default_rng(10).uniform(size=(500, 2))

    def f(x):
        return -float(((x - 0.4) ** 2).sum())

    res = regretless.optimize(f, X, 40, kernel=RBF(0.3), lam=1e-3, beta_scale=0.2, seed=0)
    assert "optimize[bkb]" in capsys.readouterr().err
    assert res.value >= max(f(x) for x in X) - 0.01
    assert res.indices.shape == (40,)
    with pytest.raises(regretless.InvalidParameterError):
        regretless.optimize(f, X, 5, policy="random", progress=False)


def test_bkb_noise_variance_is_apart_from_lam() -> None:
    # The reference width beta = sqrt(lam) F + sqrt(noise_variance (sum_i n_i s_i^2 ln t +
    # ln 1/delta)); noise_variance defaults to lam, and changing it leaves the posterior.
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(60, 2))
    pulls = rng.integers(0, 60, 25)
    y = np.sin(4 * X[pulls, 0])
    kw = dict(lam=0.1, qbar=3.0, fnorm=0.7, delta=0.3, beta_scale=None, seed=1)
    a, b = BKB(X, RBF(0.3), **kw), BKB(X, RBF(0.3), noise_variance=0.004, **kw)
    for i, v in zip(pulls, y, strict=True):
        a.update(int(i), float(v))
        b.update(int(i), float(v))
    assert a.noise_variance == 0.1 and b.noise_variance == 0.004
    for p, nv in ((a, 0.1), (b, 0.004)):
        logdet = p.effective_dimension * np.log(25)
        want = np.sqrt(0.1) * 0.7 + np.sqrt(nv * (logdet + np.log(1 / 0.3)))
        assert p.beta == pytest.approx(want, rel=1e-12)
    np.testing.assert_array_equal(a.posterior()[0], b.posterior()[0])
    np.testing.assert_array_equal(a.posterior()[1], b.posterior()[1])
    with pytest.raises(regretless.InvalidParameterError, match="noise_variance"):
        BKB(X, RBF(0.3), noise_variance=-1.0)


def kernel_bench_regret(T: int, A: int, seed: int, ls: float = 0.2) -> tuple[float, float]:
    """benches/kernel_scaling.py's instance (A points in [0, 1]^3, RBF, a GP-prior draw,
    noise sd 0.1): cumulative regret of GPUCB and BKB, both with their defaults."""
    X = np.random.default_rng(seed).uniform(size=(A, 3))
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    K = np.exp(-0.5 * d2 / ls**2) + 1e-8 * np.eye(A)
    f = np.linalg.cholesky(K) @ np.random.default_rng(seed + 1).standard_normal(A)
    gp = run(GPUCB(X, RBF(ls), seed=seed), f, np.random.default_rng(seed + 2), T)
    bk = run(BKB(X, RBF(ls), seed=seed), f, np.random.default_rng(seed + 2), T)
    return gp[-1], bk[-1]


def test_bkb_defaults_stay_close_to_exact_gp_ucb() -> None:
    gp, bk = kernel_bench_regret(T=500, A=300, seed=0)
    assert 0.5 * gp < bk < 1.5 * gp, (gp, bk)


@pytest.mark.slow
@pytest.mark.parametrize("ls", [0.2, 0.5])
def test_bkb_defaults_within_1_5x_of_gp_ucb_on_the_kernel_bench(ls: float) -> None:
    gp, bk = kernel_bench_regret(T=2000, A=1000, seed=0, ls=ls)
    assert 0.5 * gp < bk < 1.5 * gp, (gp, bk)
