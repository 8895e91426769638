"""pytest-benchmark micro-benchmarks of off-policy evaluation (the W3 shapes, smaller).

Not part of the default test run; see benches/test_bench_mab.py for how to run:

    python -m pytest benches/test_bench_ope.py --benchmark-only
    python -m pytest benches --benchmark-disable -q        # CI smoke: each body once

Groups:
    ope_ipw     IPW on 200k rows, 10 actions: regretless vs the numpy reference
    ope_dr      DR on the same rows
    ope_stream  IPW over record batches of an in-memory Arrow table
"""

from __future__ import annotations

import numpy as np
import pytest
from regretless import datasets, ope

N = 200_000
K = 10


@pytest.fixture(scope="module")
def w3():
    logs = datasets.synthetic_logs(N, n_actions=K, seed=0)
    pi = logs.softmax_policy(10.0)
    q = np.clip(logs.expected_reward + 0.05, 0.0, 1.0)
    return logs, pi, q


def numpy_ipw(reward, action, pscore, pi):
    return float(np.mean(reward * (pi[np.arange(len(action)), action] / pscore)))


def numpy_dr(reward, action, pscore, pi, q):
    idx = np.arange(len(action))
    iw = pi[idx, action] / pscore
    return float(np.mean(np.einsum("ij,ij->i", q, pi) + iw * (reward - q[idx, action])))


@pytest.mark.benchmark(group="ope_ipw")
def test_ipw_regretless(benchmark, w3) -> None:
    logs, pi, _ = w3
    est = ope.InverseProbabilityWeighting()
    v = benchmark(
        lambda: est.estimate_policy_value(
            reward=logs.reward, action=logs.action, pscore=logs.pscore, action_dist=pi
        )
    )
    assert v == pytest.approx(numpy_ipw(logs.reward, logs.action, logs.pscore, pi), abs=1e-10)


@pytest.mark.benchmark(group="ope_ipw")
def test_ipw_numpy(benchmark, w3) -> None:
    logs, pi, _ = w3
    benchmark(lambda: numpy_ipw(logs.reward, logs.action, logs.pscore, pi))


@pytest.mark.benchmark(group="ope_dr")
def test_dr_regretless(benchmark, w3) -> None:
    logs, pi, q = w3
    est = ope.DoublyRobust()
    v = benchmark(
        lambda: est.estimate_policy_value(
            reward=logs.reward,
            action=logs.action,
            pscore=logs.pscore,
            action_dist=pi,
            estimated_rewards_by_reg_model=q,
        )
    )
    assert v == pytest.approx(numpy_dr(logs.reward, logs.action, logs.pscore, pi, q), abs=1e-10)


@pytest.mark.benchmark(group="ope_dr")
def test_dr_numpy(benchmark, w3) -> None:
    logs, pi, q = w3
    benchmark(lambda: numpy_dr(logs.reward, logs.action, logs.pscore, pi, q))


@pytest.mark.benchmark(group="ope_stream")
def test_ipw_stream_over_record_batches(benchmark, w3) -> None:
    pytest.importorskip("pyarrow")
    logs, pi, _ = w3
    pe = pi[np.arange(N), logs.action]
    table = logs.to_arrow(pi_e=pe)
    est = ope.InverseProbabilityWeighting()
    r = benchmark(lambda: est.estimate_stream(table, action_dist="pi_e", batch_size=65_536))
    assert r.n_rounds == N
