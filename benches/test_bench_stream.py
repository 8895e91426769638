"""pytest-benchmark micro-benchmarks of the single-pass streaming policies.

Not part of the default test run; see ``benches/stream_paper.py`` for the paper comparison
and the K = 10**6 timings.

    python -m pytest benches/test_bench_stream.py --benchmark-only
    python -m pytest benches --benchmark-disable -q            # CI smoke: each body once

Groups:
    stream_protocol  one Python call of the protocol (next_pull, update, update_many)
    stream_arm       one arriving arm: offer + update_many of its pulls
    stream_simulate  simulate_stream, K = 10**5 arms, T = 10**8 pulls, 1 run
"""

from __future__ import annotations

import numpy as np
import pytest
import regretless
from regretless.stream import STREAM_POLICIES, simulate_stream


def pending_policy():
    """A policy whose pending pulls outlast any benchmark loop."""
    p = regretless.AggressiveSelectivePromotion(10**6, 2**53, seed=0)
    p.offer(0)
    return p


@pytest.mark.benchmark(group="stream_protocol")
def test_next_pull(benchmark):
    benchmark(pending_policy().next_pull)


@pytest.mark.benchmark(group="stream_protocol")
def test_update(benchmark):
    benchmark(pending_policy().update, 0, 1.0)


@pytest.mark.benchmark(group="stream_protocol")
def test_update_many_one_reward(benchmark):
    benchmark(pending_policy().update_many, 0, np.ones(1))


@pytest.mark.benchmark(group="stream_arm")
def test_offer_and_pay_one_arm(benchmark):
    n_arms = 10**7
    p = regretless.UniformExploration(n_arms, 100 * n_arms, seed=0)
    p.offer(0)
    rewards = np.full(p.pending_pulls, 0.5)
    p.update_many(0, rewards)
    arms = iter(range(1, n_arms))

    def one_arm():
        arm = next(arms)
        p.offer(arm)
        p.update_many(arm, rewards)

    benchmark(one_arm)


@pytest.mark.benchmark(group="stream_simulate")
@pytest.mark.parametrize("cls", STREAM_POLICIES, ids=lambda c: c.__name__)
def test_simulate_stream(benchmark, cls):
    means = np.random.default_rng(0).random(10**5)
    res = benchmark(simulate_stream, cls, means, 10**8, seed=0)
    assert res.peak_memory[0] <= cls(10**5, 10**8).max_arms_in_memory
