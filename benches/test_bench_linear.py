"""pytest-benchmark micro-benchmarks of the linear contextual policies (group ``linear``).

The shape is the peer harness's W2 (see ``peers_w2.py``): d=20 features, K=10 arms, contexts
x ~ N(0, I), reward = x . theta_a + N(0, 0.5^2), 50k rows per batch. Not part of the default
test run; run explicitly (see benches/README.md):

    python -m pytest benches -k linear --benchmark-only       # measure
    python -m pytest benches --benchmark-disable -q           # CI smoke: each body once

Benchmarks:
    select          one select(x) on a policy fitted on 50k rows (LinUCB, LinTS, LinGreedy)
    select_update   one online step: select(x), then update(x, arm, reward)
    update_batch    update_batch of 50k rows (float64 X, int64 arms: the zero-copy path)
    scores          scores(X) of 50k rows, (50k, K)
    select_batch    select_batch(X) of 50k rows
"""

from __future__ import annotations

import numpy as np
import pytest
import regretless

D, K = 20, 10
N_BATCH = 50_000
N_CYCLE = 4_096  # contexts cycled through by the single-row benchmarks

POLICIES = {
    "LinUCB": lambda: regretless.LinUCB(K, D, alpha=1.0, lam=1.0, seed=0),
    "LinTS": lambda: regretless.LinTS(K, D, seed=0),
    "LinGreedy": lambda: regretless.LinGreedy(K, D, seed=0),
}


def w2_data(n: int, seed: int = 0):
    """W2 data: contexts (n, D), logged arms (uniform), rewards, and the true coefficients."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0 / np.sqrt(D), (K, D))
    X = rng.standard_normal((n, D))
    arms = rng.integers(0, K, n, dtype=np.int64)
    rewards = np.einsum("nd,nd->n", X, theta[arms]) + 0.5 * rng.standard_normal(n)
    return X, arms, rewards, theta


@pytest.fixture(scope="module")
def data():
    return w2_data(N_BATCH)


def fitted(name, data):
    policy = POLICIES[name]()
    X, arms, rewards, _ = data
    policy.update_batch(X, arms, rewards)
    return policy


@pytest.mark.benchmark(group="linear")
@pytest.mark.parametrize("name", list(POLICIES))
def test_linear_select(benchmark, name, data):
    """One decision for one context (1-D float64 row view, the zero-copy path)."""
    policy = fitted(name, data)
    rows = list(w2_data(N_CYCLE, seed=1)[0])
    select = policy.select
    i = iter(range(1 << 62))

    def step():
        return select(rows[next(i) % N_CYCLE])

    arm = benchmark(step)
    assert 0 <= arm < K


@pytest.mark.benchmark(group="linear")
@pytest.mark.parametrize("name", list(POLICIES))
def test_linear_select_update(benchmark, name, data):
    """One online step: select(x), then update(x, arm, reward of that arm)."""
    policy = fitted(name, data)
    X, _, _, theta = w2_data(N_CYCLE, seed=2)
    rows = list(X)
    rewards = (X @ theta.T).tolist()
    select, update = policy.select, policy.update
    i = iter(range(1 << 62))

    def step():
        t = next(i) % N_CYCLE
        x = rows[t]
        arm = select(x)
        update(x, arm, rewards[t][arm])

    benchmark(step)
    assert policy.n_updates > N_BATCH


@pytest.mark.benchmark(group="linear")
def test_linear_update_batch(benchmark, data):
    """update_batch of N_BATCH rows into a fresh LinUCB per round (the W2 fit)."""
    X, arms, rewards, _ = data

    def fit():
        policy = POLICIES["LinUCB"]()
        policy.update_batch(X, arms, rewards)
        return policy

    policy = benchmark(fit)
    assert policy.n_updates == N_BATCH


@pytest.mark.benchmark(group="linear")
def test_linear_scores(benchmark, data):
    """scores(X): UCB score of every arm for N_BATCH rows, (N_BATCH, K)."""
    policy = fitted("LinUCB", data)
    out = benchmark(policy.scores, data[0])
    assert out.shape == (N_BATCH, K)


@pytest.mark.benchmark(group="linear")
def test_linear_select_batch(benchmark, data):
    """select_batch(X): one LinUCB decision per row for N_BATCH rows (the W2 predict)."""
    policy = fitted("LinUCB", data)
    out = benchmark(policy.select_batch, data[0])
    assert out.shape == (N_BATCH,)
    assert np.array_equal(out, policy.scores(data[0]).argmax(1))
