"""SharedSketchLinUCB / SharedSketchLinTS (issue 20, the shared-sketch option): one parameter
vector over arm features on one Frequent Directions sketch (SOFUL). Against a numpy transcription
of exact shared-parameter LinUCB (OFUL with arm features) when the sketch holds every dimension;
within the Frequent Directions bound when it does not; on a low-rank problem as good as exact at
m = 32 and measurably worse with a tiny sketch; state round trips after any sequence of calls;
bad input refused without a state change."""

from __future__ import annotations

import math

import numpy as np
import pytest
import regretless as rl


class Oful:
    """Exact shared-parameter LinUCB: A = lam I + sum w x x^T, b = sum w r x, theta = A^-1 b,
    score_a = x_a^T theta + alpha sqrt(x_a^T A^-1 x_a)."""

    def __init__(self, d: int, alpha: float, lam: float) -> None:
        self.A = lam * np.eye(d)
        self.b = np.zeros(d)
        self.alpha = alpha

    def update(self, x: np.ndarray, r: float, w: float = 1.0) -> None:
        self.A += w * np.outer(x, x)
        self.b += w * r * x

    def mean_width(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inv = np.linalg.inv(self.A)
        theta = inv @ self.b
        return X @ theta, np.sqrt(np.einsum("...i,ij,...j->...", X, inv, X))

    def scores(self, X: np.ndarray) -> np.ndarray:
        m, w = self.mean_width(X)
        return m + self.alpha * w


def _actions(rng: np.random.Generator, n_actions: int, d: int) -> np.ndarray:
    return rng.standard_normal((n_actions, d))


@pytest.mark.parametrize(("m", "robust"), [(6, False), (9, False), (6, True)])
def test_linucb_equals_exact_oful_when_the_sketch_holds_every_dimension(
    m: int, robust: bool
) -> None:
    d, alpha, lam = 6, 0.7, 0.5
    rng = np.random.default_rng(3)
    theta = rng.standard_normal(d)
    ref = Oful(d, alpha, lam)
    p = rl.SharedSketchLinUCB(d, sketch_size=m, alpha=alpha, lam=lam, robust=robust, seed=1)
    # A weighted batch fit first (several shrinks of the 2m buffer) ...
    Xb = rng.standard_normal((100, d))
    rb = Xb @ theta + 0.1 * rng.standard_normal(100)
    wb = rng.uniform(0, 2, 100)
    p.update_batch(Xb, rb, wb)
    for x, r, w in zip(Xb, rb, wb, strict=True):
        ref.update(x, r, w)
    # ... then online play with a varying number of actions: every decision the same.
    for t in range(250):
        X = _actions(rng, 2 + t % 5, d)
        a = p.select(X)
        assert a == int(np.argmax(ref.scores(X))), t
        if t % 50 == 0:
            np.testing.assert_allclose(p.scores(X), ref.scores(X), rtol=0, atol=1e-8)
        r = float(X[a] @ theta + 0.1 * rng.standard_normal())
        p.update(X[a], r)
        ref.update(X[a], r)
    assert p.n_updates == 350
    assert p.shrinkage < 1e-9  # shrinks happened (350 rows > 2m) and dropped nothing
    Q = rng.standard_normal((40, 7, d))
    mean, width = ref.mean_width(Q)
    np.testing.assert_allclose(p.mean(Q), mean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(p.width(Q), width, rtol=0, atol=1e-8)
    np.testing.assert_allclose(p.scores(Q), mean + alpha * width, rtol=0, atol=1e-8)
    np.testing.assert_allclose(p.coefficients(), np.linalg.solve(ref.A, ref.b), atol=1e-8)
    np.testing.assert_array_equal(p.select_batch(Q), np.argmax(mean + alpha * width, axis=1))
    np.testing.assert_array_equal(
        p.top_k(Q, 3), np.argsort(-(mean + alpha * width), axis=1, kind="stable")[:, :3]
    )
    np.testing.assert_array_equal(p.probabilities(Q[0]), np.eye(7)[np.argmax(p.scores(Q[0]))])
    # The widths are far above the tolerance, so a wrong alpha fails the scores check.
    assert width.min() > 1e-2


def test_thompson_sampling_has_the_exact_posterior_and_draws_per_action() -> None:
    d, v, lam = 5, 0.5, 2.0
    rng = np.random.default_rng(4)
    theta = rng.standard_normal(d)
    ref = Oful(d, 0.0, lam)
    p = rl.SharedSketchLinTS(d, sketch_size=d, v=v, lam=lam, seed=2)
    greedy = rl.SharedSketchLinTS(d, sketch_size=d, v=0.0, lam=lam, seed=2)
    X = rng.standard_normal((60, d))
    r = X @ theta + 0.3 * rng.standard_normal(60)
    for q in (p, greedy):
        q.update_batch(X, r)
    for x, ri in zip(X, r, strict=True):
        ref.update(x, ri)
    Q = rng.standard_normal((30, 4, d))
    mean, width = ref.mean_width(Q)
    np.testing.assert_allclose(p.scores(Q), mean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(p.width(Q), width, rtol=0, atol=1e-8)
    # v = 0: the exact formula's draw is the posterior mean.
    np.testing.assert_array_equal(greedy.select_batch(Q), np.argmax(mean, axis=1))
    # Two actions: P(choose 0) = Phi((m0 - m1) / (v sqrt(w0^2 + w1^2))) with independent
    # draws per action. The Monte Carlo probabilities (4096 draws) and the frequency of the
    # decisions both match it; with v doubled the law would move by far more than the noise.
    # Two actions with means +-eps around a direction orthogonal to theta_hat, eps of the
    # order of the draws' spread.
    th = p.coefficients()
    z = rng.standard_normal(d)
    z -= (z @ th) / (th @ th) * th
    eps = 0.4 * v * float(ref.mean_width(z)[1])
    pair = np.stack([z + eps * th / (th @ th), z - eps * th / (th @ th)])
    (m0, m1), (w0, w1) = ref.mean_width(pair)
    exact = 0.5 * (1 + math.erf((m0 - m1) / (v * math.hypot(w0, w1)) / math.sqrt(2)))
    doubled = 0.5 * (1 + math.erf((m0 - m1) / (2 * v * math.hypot(w0, w1)) / math.sqrt(2)))
    assert abs(exact - doubled) > 0.05
    mc = p.probabilities(pair)[0]
    assert abs(mc - exact) < 4.5 * math.sqrt(exact * (1 - exact) / 4096)
    picks = np.array([p.select(pair) for _ in range(3000)])
    assert abs(np.mean(picks == 0) - exact) < 4.5 * math.sqrt(exact * (1 - exact) / 3000)


def _decaying(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rot = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return (rng.standard_normal((n, d)) / (1 + np.arange(d))) @ rot.T


@pytest.mark.parametrize("robust", [False, True])
def test_the_sketch_is_within_the_frequent_directions_bound(robust: bool) -> None:
    n, d, m = 400, 30, 5
    X = _decaying(n, d, 5)
    w = np.random.default_rng(6).uniform(0.2, 2.0, n)
    p = rl.SharedSketchLinUCB(d, sketch_size=m, robust=robust, seed=0)
    p.update_batch(X, np.zeros(n), w)
    gram = (X * w[:, None]).T @ X
    S = p.sketch()
    err = np.linalg.eigvalsh(gram - S.T @ S)
    spectrum = np.linalg.eigvalsh(gram)[::-1]
    delta = p.shrinkage
    # 0 <= X^T W X - S^T S <= Delta I, Delta <= ||X - X_k||_F^2 / (m + 1 - k) for k <= m.
    assert err.min() >= -1e-9 * spectrum[0]
    assert err.max() <= delta * (1 + 1e-9)
    for k in range(m + 1):
        assert delta <= spectrum[k:].sum() / (m + 1 - k) * (1 + 1e-9)
    # Two-sided: a rank-m sketch cannot beat the (m+1)-th eigenvalue, and the error is far
    # below the trivial sketch's.
    assert err.max() >= spectrum[m] * (1 - 1e-9)
    assert err.max() < 0.5 * spectrum[0]
    # The widths are those of A = S^T S + c I, c = lam (+ Delta / 2 robust), by Woodbury.
    c = 1.0 + (delta / 2 if robust else 0.0)
    inv = np.linalg.inv(S.T @ S + c * np.eye(d))
    Q = X[:12].reshape(3, 4, d)
    np.testing.assert_allclose(
        p.width(Q), np.sqrt(np.einsum("...i,ij,...j->...", Q, inv, Q)), rtol=1e-9
    )


def test_merge_is_exact_with_a_full_sketch_and_within_the_bound_otherwise() -> None:
    d = 8
    X = _decaying(300, d, 7)
    r = np.random.default_rng(8).standard_normal(300)
    Q = np.random.default_rng(9).standard_normal((10, 3, d))
    for m in (d, 3):
        a, b, both = (rl.SharedSketchLinUCB(d, sketch_size=m, seed=0) for _ in range(3))
        a.update_batch(X[:170], r[:170])
        b.update_batch(X[170:], r[170:])
        both.update_batch(X, r)
        parts = a.shrinkage + b.shrinkage
        a.merge(b)
        assert a.n_updates == 300
        if m == d:
            np.testing.assert_allclose(a.scores(Q), both.scores(Q), rtol=1e-9)
            np.testing.assert_allclose(a.coefficients(), both.coefficients(), rtol=1e-9)
            continue
        # Stacked and shrunk: within the bound of the combined rows, its Delta at least the
        # parts', and not the sketch of the concatenated data.
        S = a.sketch()
        err = np.linalg.eigvalsh(X.T @ X - S.T @ S)
        assert err.min() >= -1e-9 and err.max() <= a.shrinkage * (1 + 1e-9)
        assert a.shrinkage >= parts > 0
        assert not np.allclose(a.width(Q), both.width(Q), rtol=1e-6)
        # b = sum r x adds exactly either way: the same ridge solve on the merged sketch.
        c_inv = np.linalg.inv(S.T @ S + np.eye(d))
        np.testing.assert_allclose(a.coefficients(), c_inv @ (X.T @ r), rtol=1e-8, atol=1e-12)


D, RANK, K, T, SEEDS = 40, 4, 8, 600, 4


def _regret(make, seed: int) -> float:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((D, RANK)))[0]
    theta = basis @ rng.standard_normal(RANK)
    policy = make(seed)
    regret = 0.0
    for _ in range(T):
        X = rng.standard_normal((K, RANK)) @ basis.T + 0.05 * rng.standard_normal((K, D))
        mu = X @ theta
        a = policy.select(X)
        regret += mu.max() - mu[a]
        policy.update(X[a], float(mu[a] + 0.1 * rng.standard_normal()))
    return regret


def test_low_rank_regret_at_m32_is_within_10_percent_of_exact_and_m2_is_worse():
    # Measured: exact (m = dim = 40) 2.73, m = 32 2.83, m = 2 (< rank 4) 413.

    def make(m):
        return lambda s: rl.SharedSketchLinUCB(D, sketch_size=m, alpha=0.5, seed=s)

    mean = {m: np.mean([_regret(make(m), s) for s in range(SEEDS)]) for m in (D, 32, 2)}
    assert abs(mean[32] - mean[D]) <= 0.10 * mean[D], mean
    assert mean[2] >= 2.0 * mean[D], mean
    # The m = 32 sketch does drop directions here: on the same rows its widths differ.
    rng = np.random.default_rng(9)
    basis = np.linalg.qr(rng.standard_normal((D, RANK)))[0]
    X = rng.standard_normal((T, RANK)) @ basis.T + 0.05 * rng.standard_normal((T, D))
    probe = rng.standard_normal((5, K, D))
    widths = []
    for m in (D, 32):
        p = make(m)(0)
        p.update_batch(X, rng.standard_normal(T))
        widths.append(p.width(probe))
    assert np.abs(widths[1] / widths[0] - 1).max() > 1e-3


def _call(p, op: int, rng: np.random.Generator) -> None:
    d = p.dim
    if op == 0:
        p.select(rng.standard_normal((int(rng.integers(1, 6)), d)))
    elif op == 1:
        p.update(rng.standard_normal(d), float(rng.standard_normal()), float(rng.uniform(0, 2)))
    elif op == 2:
        n = int(rng.integers(0, 9))
        p.update_batch(rng.standard_normal((n, d)), rng.standard_normal(n))
    elif op == 3:
        p.select_batch(rng.standard_normal((3, 4, d)), eligible=[0, 2])
    elif op == 4:
        p.merge(p.copy())
    else:
        p.probabilities(rng.standard_normal((4, d)))


@pytest.mark.parametrize("cls", [rl.SharedSketchLinUCB, rl.SharedSketchLinTS])
def test_state_round_trips_after_any_sequence_of_calls(cls) -> None:
    rng = np.random.default_rng(11)
    for trial in range(12):
        p = cls(6, sketch_size=int(rng.integers(1, 8)), robust=bool(trial % 2), seed=trial)
        for op in rng.integers(0, 6, int(rng.integers(1, 25))):
            _call(p, int(op), rng)
            data = p.to_bytes()
            q = cls.from_bytes(data)
            assert q.to_bytes() == data and repr(q) == repr(p)
        # The restored object continues identically (decisions, draws and learning).
        seq = rng.integers(0, 6, 10)
        for obj in (p, q):
            r = np.random.default_rng(trial)
            for op in seq:
                _call(obj, int(op), r)
        assert q.to_bytes() == p.to_bytes()


def test_bad_input_is_refused_before_any_state_change() -> None:
    p = rl.SharedSketchLinUCB(4, sketch_size=2, seed=0)
    p.update_batch(np.random.default_rng(0).standard_normal((9, 4)), np.ones(9))
    before = p.to_bytes()
    x = np.ones((3, 4))
    bad_row = np.ones((5, 4))
    bad_row[4, 2] = np.nan
    calls = [
        (lambda: p.update_batch(bad_row, np.ones(5)), rl.InvalidParameterError, "X"),
        (lambda: p.update_batch(np.ones((5, 4)), np.ones(4)), rl.ShapeError, "rewards"),
        (lambda: p.update_batch(np.ones((2, 4)), [1.0, np.inf]), rl.RewardError, "rewards"),
        (lambda: p.update_batch(np.ones((2, 4)), [1, 1], [1, -1]), rl.InvalidParameterError, "w"),
        (lambda: p.update(np.ones(5), 1.0), rl.ShapeError, "x"),
        (lambda: p.update(np.ones(4), 1.0, np.nan), rl.InvalidParameterError, "weight"),
        (lambda: p.select(np.ones((3, 5))), rl.ShapeError, "x"),
        (lambda: p.select(np.ones((0, 4))), rl.ShapeError, "at least one action"),
        (lambda: p.select(x, eligible=[3]), rl.ArmError, "eligible"),
        (lambda: p.select(x, eligible=np.zeros(3, bool)), rl.InvalidParameterError, "eligible"),
        (
            lambda: p.select_batch(np.ones((2, 3, 4)), eligible=np.ones((3, 3), bool)),
            rl.ShapeError,
            "eligible",
        ),
        (lambda: p.top_k(x, 4), rl.InvalidParameterError, "k"),
        (
            lambda: p.merge(rl.SharedSketchLinUCB(4, sketch_size=3)),
            rl.IncompatibleError,
            "sketch_size",
        ),
        (lambda: p.merge(rl.SharedSketchLinTS(4, sketch_size=2)), rl.DTypeError, "other"),
        (lambda: rl.SharedSketchLinTS.from_bytes(before), rl.StateError, "SharedSketchLinUCB"),
    ]
    for call, exc, match in calls:
        with pytest.raises(exc, match=match):
            call()
        assert p.to_bytes() == before
    for kwargs, match in [
        ({"sketch_size": 0}, "sketch_size"),
        ({"sketch_size": 2**40}, "sketch_size"),
        ({"lam": 0.0}, "lam"),
        ({"alpha": -1.0}, "alpha"),
    ]:
        with pytest.raises(rl.RegretlessError, match=match):
            rl.SharedSketchLinUCB(4, **kwargs)
    with pytest.raises(rl.RegretlessError, match="dim"):
        rl.SharedSketchLinUCB(0)


@pytest.mark.parametrize("cls", [rl.SharedSketchLinUCB, rl.SharedSketchLinTS])
def test_arbitrary_payloads_are_refused_or_usable(cls) -> None:
    import zlib

    p = cls(3, sketch_size=2, seed=0)
    p.update_batch(np.random.default_rng(1).standard_normal((7, 3)), np.ones(7))
    data = p.to_bytes()
    header = data[: 7 + data[6]]
    rng = np.random.default_rng(5)
    payload = bytearray(data[len(header) : -4])
    for trial in range(300):
        if trial % 2:
            body = bytes(rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8))
        else:  # the real payload with a few bytes changed
            body = bytearray(payload)
            for i in rng.integers(0, len(body), 3):
                body[i] = int(rng.integers(0, 256))
            body = bytes(body)
        framed = header + body
        framed += zlib.crc32(framed).to_bytes(4, "little")
        try:
            q = cls.from_bytes(framed)
        except rl.StateError:
            continue
        # Whatever decodes is a usable object.
        x = np.ones((2, q.dim))
        q.select(x)
        q.update(x[0], 1.0)
        q.scores(x)
        q.to_bytes()


@pytest.mark.parametrize("cls", [rl.SharedSketchLinUCB, rl.SharedSketchLinTS])
def test_batch_paths_equal_the_row_by_row_paths(cls) -> None:
    # The batch fit feeds the sketch in blocks and recomputes H once; batch scoring treats
    # every action row as one block matrix. Against the loops of single calls: the same
    # sketch, means and widths to 1e-10, the same decisions and generator afterwards.
    d, k, n, m = 20, 6, 300, 5
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, d))
    r = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    w = rng.choice([0.0, 0.5, 1.0, 2.0], size=n)
    one = cls(d, sketch_size=m, lam=0.5, seed=3)
    batch = cls(d, sketch_size=m, lam=0.5, seed=3)
    for x, ri, wi in zip(X, r, w, strict=True):
        one.update(x, ri, wi)
    batch.update_batch(X, r, w)
    assert one.shrinkage > 0
    np.testing.assert_array_equal(batch.sketch(), one.sketch())
    np.testing.assert_allclose(batch.coefficients(), one.coefficients(), rtol=1e-10, atol=1e-14)
    Q = rng.standard_normal((200, k, d))
    S = one.sketch()
    inv = np.linalg.inv(S.T @ S + 0.5 * np.eye(d))
    single = np.sqrt(np.einsum("...i,ij,...j->...", Q, inv, Q))
    np.testing.assert_allclose(one.width(Q), single, rtol=1e-9, atol=0)
    np.testing.assert_allclose(batch.width(Q), one.width(Q), rtol=1e-10, atol=0)
    np.testing.assert_allclose([one.width(q) for q in Q], one.width(Q), rtol=1e-10, atol=0)
    np.testing.assert_allclose(one.mean(Q), Q @ one.coefficients(), rtol=1e-10, atol=1e-13)
    assert single.min() > 1e-3
    eligible = rng.random((200, k)) < 0.7
    eligible[:, 0] = True
    for e in (None, eligible):
        a, b = one.copy(), one.copy()
        got = a.select_batch(Q, eligible=e)
        want = [
            b.select(q, eligible=None if e is None else set(np.flatnonzero(e[i])))
            for i, q in enumerate(Q)
        ]
        np.testing.assert_array_equal(got, want)
        assert a.to_bytes() == b.to_bytes()
