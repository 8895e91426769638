"""Forgetting for the disjoint linear policies (``decay=`` on LinUCB, LinTS, LinGreedy: D-LinUCB
of Russac, Vernade and Cappé 2019) against the discounted sums written out in numpy, the
unchanged bytes of policies without it, and recovery after a change on a drifting linear
instance."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import regretless

GOLDEN = pathlib.Path(__file__).parent / "golden"
CLASSES = [regretless.LinUCB, regretless.LinTS, regretless.LinGreedy]


def _rows(n: int, k: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, d))
    # The last arm is played only in the first fifth: long idle spans.
    arms = np.where(
        np.arange(n) < n // 5, rng.integers(0, k, size=n), rng.integers(0, k - 1, size=n)
    ).astype(np.int64)
    rewards = rng.uniform(size=n)
    weights = np.where(np.arange(n) % 9 == 0, 0.0, rng.uniform(0.5, 1.5, size=n))
    return X, arms, rewards, weights


def _written_out(X, arms, rewards, weights, k, lam, gamma):
    """theta_a = V_a^{-1} b_a and the width matrix V_a^{-1} W_a V_a^{-1} from the sums
    V_a = sum gamma^{t-s} w x x^T + lam I, W_a = sum gamma^{2(t-s)} w^2 x x^T + lam I,
    b_a = sum gamma^{t-s} w r x over arm a's rows (t = the number of rows)."""
    n, d = X.shape
    age = (n - 1 - np.arange(n)).astype(float)
    thetas, widths = [], []
    for a in range(k):
        m = arms == a
        g, w, x, r = gamma ** age[m], weights[m], X[m], rewards[m]
        V = lam * np.eye(d) + (x.T * (g * w)) @ x
        W = lam * np.eye(d) + (x.T * (g**2 * w**2)) @ x
        b = x.T @ (g * w * r)
        Vi = np.linalg.inv(V)
        thetas.append(Vi @ b)
        widths.append(Vi @ W @ Vi)
    return np.array(thetas), widths


@pytest.mark.parametrize("cls", CLASSES)
def test_without_decay_the_policy_and_its_bytes_are_unchanged(cls) -> None:
    X, arms, rewards, weights = _rows(300, 3, 4, 0)
    p, q = cls(3, 4, seed=5), cls(3, 4, decay=None, seed=5)
    for P in (p, q):
        P.update_batch(X[:200], arms[:200], rewards[:200], weights[:200])
        for i in range(200, 300):
            P.update(X[i], int(arms[i]), float(rewards[i]), float(weights[i]))
    assert p.to_bytes() == q.to_bytes()
    assert p.decay is None and "decay" not in repr(p)
    # Payload version 1, the layout before decay (readable by older releases).
    assert int.from_bytes(p.to_bytes()[4:6], "little") == 1
    assert p.select_batch(X).tolist() == q.select_batch(X).tolist()


def test_golden_states_of_the_linear_policies_reencode_to_the_same_bytes() -> None:
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    seen = set()
    for version, entries in manifest.items():
        for entry in entries:
            if entry["class"] in {"LinUCB", "LinTS", "LinGreedy"}:
                data = (GOLDEN / version / entry["file"]).read_bytes()
                p = getattr(regretless, entry["class"]).from_bytes(data)
                assert p.decay is None
                assert p.to_bytes() == data
                seen.add(entry["class"])
    assert seen == {"LinUCB", "LinTS", "LinGreedy"}


@pytest.mark.parametrize("gamma", [0.9, 0.99, 1.0])
def test_coefficients_and_widths_equal_the_discounted_sums_written_out(gamma: float) -> None:
    k, d, lam = 4, 5, 0.7
    X, arms, rewards, weights = _rows(700, k, d, 1)
    p = regretless.LinUCB(k, d, alpha=0.5, lam=lam, decay=gamma, seed=0)
    # Single updates, then batches (lazy discounting of idle arms within and across them).
    for i in range(150):
        p.update(X[i], int(arms[i]), float(rewards[i]), float(weights[i]))
    p.update_batch(X[150:400], arms[150:400], rewards[150:400], weights[150:400])
    p.update_batch(X[400:401], arms[400:401], rewards[400:401], weights[400:401])
    p.update_batch(X[401:], arms[401:], rewards[401:], weights[401:])
    assert p.n_updates == 700 and p.decay == gamma
    theta, width_mats = _written_out(X, arms, rewards, weights, k, lam, gamma)
    np.testing.assert_allclose(p.coefficients(), theta, rtol=1e-9, atol=1e-12)
    Q = X[:50]
    want_w = np.sqrt(np.stack([np.einsum("ni,ij,nj->n", Q, M, Q) for M in width_mats], axis=1))
    np.testing.assert_allclose(p.width(Q), want_w, rtol=1e-9)
    np.testing.assert_allclose(p.scores(Q), Q @ theta.T + 0.5 * want_w, rtol=1e-9, atol=1e-12)
    # The idle arm has faded towards the prior (gamma < 1): wider than when it last played.
    if gamma < 1.0:
        fresh = regretless.LinUCB(k, d, lam=lam, decay=gamma)
        assert np.all(p.width(Q)[:, k - 1] > 0.9 * fresh.width(Q)[:, k - 1])
    # A wrong discount of the second matrix (gamma instead of gamma^2) is far off.
    if gamma < 1.0:
        _, wrong = _written_out(X, arms, rewards, weights, k, lam, np.sqrt(gamma))
        wrong_w = np.sqrt(np.einsum("ni,ij,nj->n", Q, wrong[0], Q))
        assert np.max(np.abs(p.width(Q)[:, 0] / wrong_w - 1)) > 1e-3


def test_linTS_samples_with_the_discounted_width_and_states_round_trip() -> None:
    k, d = 3, 4
    X, arms, rewards, _ = _rows(300, k, d, 2)
    p = regretless.LinTS(k, d, v=0.3, decay=0.95, seed=1)
    p.update_batch(X, arms, rewards)
    u = regretless.LinUCB(k, d, alpha=0.3, decay=0.95)
    u.update_batch(X, arms, rewards)
    np.testing.assert_allclose(p.width(X[:10]), u.width(X[:10]), rtol=1e-12)
    np.testing.assert_allclose(p.coefficients(), u.coefficients(), rtol=1e-12)
    data = p.to_bytes()
    # Version 3: the sums at each arm's last row and its stamp (version 2 still loads).
    assert int.from_bytes(data[4:6], "little") == 3
    q = regretless.LinTS.from_bytes(data)
    assert q.decay == 0.95 and "decay=0.95" in repr(q)
    assert q.select_batch(X[:50]).tolist() == p.select_batch(X[:50]).tolist()
    q.update(X[0], 1, 0.5)
    p.update(X[0], 1, 0.5)
    assert q.to_bytes() == p.to_bytes()


@pytest.mark.parametrize("name", ["LinUCB", "LinTS", "LinGreedy"])
def test_version_2_payloads_load_and_continue_as_the_build_that_wrote_them(name: str) -> None:
    """tests/golden/decay-v2 (make_v2.py, run once with the build before the cached
    tridiagonal forms, main at 7857a16 or before): the decayed policies' version-2 bytes, the
    scores that build computed and its next 60 decisions. They load, score the same to 1e-9
    and decide the same."""
    folder = GOLDEN / "decay-v2"
    want = json.loads((folder / "expected.json").read_text())["classes"][name]
    data = (folder / f"{name}-decay.bin").read_bytes()
    assert int.from_bytes(data[4:6], "little") == 2
    p = getattr(regretless, name).from_bytes(data)
    assert p.decay is not None and p.n_updates == 150
    k, d = p.n_arms, p.dim
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, d))
    theta = rng.standard_normal((k, d))
    noise = rng.normal(0, 0.1, 400)
    Q = X[150:170]
    for key, got in [
        ("scores", p.scores(Q)),
        ("mean", p.mean(Q)),
        ("width", p.width(Q)),
        ("coefficients", p.coefficients()),
    ]:
        np.testing.assert_allclose(got, np.array(want[key]), rtol=1e-9, atol=1e-12, err_msg=key)
    # Re-encoded as version 3, and that loads to the same state.
    again = p.to_bytes()
    assert int.from_bytes(again[4:6], "little") == 3
    assert type(p).from_bytes(again).to_bytes() == again
    decisions = []
    for i in range(170, 230):
        a = p.select(X[i])
        decisions.append(int(a))
        p.update(X[i], a, float(X[i] @ theta[a] + noise[i]))
    assert decisions == want["decisions"]
    np.testing.assert_allclose(p.scores(X[230:240]), np.array(want["scores_after"]), rtol=1e-9)


def test_scores_stay_exact_over_long_idle_spans_and_through_bytes() -> None:
    """An arm idle for 0 to 5000 rounds with weights != 1, against numpy's written-out
    discounted sums, before and after a bytes round trip (bit for bit the same scores)."""
    k, d, lam, gamma = 3, 6, 0.4, 0.995
    rng = np.random.default_rng(7)
    n = 5200
    X = rng.uniform(-1.0, 1.0, size=(n, d))
    arms = np.where(np.arange(n) < 200, np.arange(n) % k, np.arange(n) % (k - 1)).astype(np.int64)
    rewards = rng.uniform(size=n)
    weights = rng.uniform(0.2, 3.0, size=n)
    p = regretless.LinUCB(k, d, alpha=0.7, lam=lam, decay=gamma, seed=0)
    Q = rng.uniform(-1.0, 1.0, size=(5, d))
    done = 0
    for end in [200, 201, 210, 300, 1200, 5200]:
        p.update_batch(X[done:end], arms[done:end], rewards[done:end], weights[done:end])
        done = end
        theta, mats = _written_out(X[:end], arms[:end], rewards[:end], weights[:end], k, lam, gamma)
        want_w = np.sqrt(np.stack([np.einsum("ni,ij,nj->n", Q, M, Q) for M in mats], axis=1))
        np.testing.assert_allclose(p.coefficients(), theta, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(p.width(Q), want_w, rtol=1e-9)
        np.testing.assert_allclose(p.scores(Q), Q @ theta.T + 0.7 * want_w, rtol=1e-9, atol=1e-12)
        q = regretless.LinUCB.from_bytes(p.to_bytes())
        assert q.scores(Q).tolist() == p.scores(Q).tolist()
        assert [q.select(x) for x in Q] == [p.select(x) for x in Q]
    # More than 2 d rows: the batch kernel on width matrices built once per call, equal to
    # the row-by-row values (and the written-out sums) to rounding; bit for bit after bytes.
    big = rng.uniform(-1.0, 1.0, size=(200, d))
    theta, mats = _written_out(X, arms, rewards, weights, k, lam, gamma)
    want_w = np.sqrt(np.stack([np.einsum("ni,ij,nj->n", big, M, big) for M in mats], axis=1))
    np.testing.assert_allclose(p.width(big), want_w, rtol=1e-9)
    np.testing.assert_allclose(p.scores(big)[:5], p.scores(big[:5]), rtol=1e-12, atol=1e-15)
    q = regretless.LinUCB.from_bytes(p.to_bytes())
    assert q.scores(big).tolist() == p.scores(big).tolist()
    assert q.select_batch(big).tolist() == [p.select(x) for x in big]


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), float("inf")])
def test_a_decay_outside_zero_one_is_refused(bad: float) -> None:
    for cls in CLASSES:
        with pytest.raises(regretless.InvalidParameterError, match="decay"):
            cls(2, 3, decay=bad)


def test_merge_with_decay_is_refused_and_arms_can_be_added_and_removed() -> None:
    p = regretless.LinUCB(2, 3, decay=0.9, seed=0)
    q = regretless.LinUCB(2, 3, decay=0.9, seed=1)
    x = np.ones(3)
    p.update(x, 0, 1.0)
    q.update(x, 1, 0.0)
    before = p.to_bytes()
    with pytest.raises(regretless.IncompatibleError, match="decay"):
        p.merge(q)
    with pytest.raises(regretless.IncompatibleError, match="decay"):
        regretless.LinUCB(2, 3, seed=0).merge(q)
    assert p.to_bytes() == before
    assert p.add_arm() == 2
    p.update(x, 2, 0.5)
    p.remove_arm(0)
    p.update(x, 0, 0.2)
    assert p.counts().tolist() == [1, 1] and p.n_updates == 2
    r = regretless.LinUCB.from_bytes(p.to_bytes())
    assert r.to_bytes() == p.to_bytes()


def drifting_instance(T: int, change: int, seed: int):
    """Contexts (T, d) on the unit sphere and per-arm parameters (K, d) before and after a
    change at round `change`: the best arm before it becomes the worst, and an arm that was
    bad becomes the best."""
    rng = np.random.default_rng(seed)
    k, d = 3, 4
    X = rng.standard_normal((T, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    base = np.abs(rng.standard_normal((k, d))) * 0.3
    before = base.copy()
    before[0] += 0.4
    after = base.copy()
    after[2] += 0.4
    after[0] -= 0.4
    return X, before, after


def run_drift(policy, T: int, change: int, seed: int) -> np.ndarray:
    X, before, after = drifting_instance(T, change, seed)
    noise = np.random.default_rng(seed + 1).normal(0.0, 0.1, size=T)
    regret = np.empty(T)
    for t in range(T):
        theta = before if t < change else after
        means = theta @ X[t]
        a = policy.select(X[t])
        regret[t] = means.max() - means[a]
        policy.update(X[t], a, float(means[a] + noise[t]))
    return regret


def test_after_a_change_the_decayed_linucb_recovers_and_linucb_does_not() -> None:
    T, change = 3000, 1500
    late, early = {"plain": [], "decayed": []}, {"plain": [], "decayed": []}
    for seed in range(3):
        for key, policy in [
            ("plain", regretless.LinUCB(3, 4, alpha=0.5, seed=seed)),
            ("decayed", regretless.LinUCB(3, 4, alpha=0.5, decay=0.98, seed=seed)),
        ]:
            r = run_drift(policy, T, change, seed)
            early[key].append(r[:change].sum())
            # Regret over the last 1000 rounds, from 500 rounds (10 memories) after the change.
            late[key].append(r[-1000:].sum())
    lp, ld = float(np.mean(late["plain"])), float(np.mean(late["decayed"]))
    ep, ed = float(np.mean(early["plain"])), float(np.mean(early["decayed"]))
    # Measured (3 seeds): late 198.2 against 9.3; before the change 3.9 against 18.2.
    assert 120.0 < lp < 400.0
    assert 4.0 < ld < 25.0
    # Forgetting costs while nothing changes: the decayed policy keeps exploring.
    assert 1.0 < ep < 12.0 and 8.0 < ed < 40.0


@pytest.mark.parametrize(
    "make, band",
    [
        # Measured (3 seeds): LinTS 200.9 against 14.8; LinGreedy 215.2 against 26.8.
        (lambda s, g: regretless.LinTS(3, 4, v=0.2, decay=g, seed=s), (6.0, 40.0)),
        (lambda s, g: regretless.LinGreedy(3, 4, epsilon=0.05, decay=g, seed=s), (10.0, 60.0)),
    ],
)
def test_the_decayed_linTS_and_linGreedy_recover_too(make, band) -> None:
    T, change = 3000, 1500
    plain = np.mean([run_drift(make(s, None), T, change, s)[-1000:].sum() for s in range(3)])
    decayed = np.mean([run_drift(make(s, 0.98), T, change, s)[-1000:].sum() for s in range(3)])
    assert 120.0 < plain < 400.0
    assert band[0] < decayed < band[1]
