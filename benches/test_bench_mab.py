"""pytest-benchmark micro-benchmarks of the multi-armed bandit policies.

Not part of the default test run (pyproject's testpaths are tests/ and README.md); run
explicitly, see benches/README.md:

    python -m pytest benches --benchmark-only                  # measure
    python -m pytest benches --benchmark-disable -q            # CI smoke: each body once

Groups:
    select_update  one select() + update() step from Python, K=10, steady state
    batch          update_batch of 100k rows, select_batch(100k)
    simulate       regretless.simulate of UCB1, 1 run x 100k steps, inside Rust
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import regretless

K = 10
MEANS = np.linspace(0.1, 0.9, K)  # the W1 arms of the peer harness
N_BATCH = 100_000
HORIZON = 100_000
WARMUP = 2_000  # steps played before timing, so the policies are past the initial round
N_TABLE = 4_096  # rows of the cyclic reward table of the select_update group

SINGLE_STEP = {
    "UCB1": lambda: regretless.UCB1(K, seed=0),
    "ThompsonSampling": lambda: regretless.ThompsonSampling(K, seed=0),
    "KLUCB": lambda: regretless.KLUCB(K, seed=0),
    "EXP3": lambda: regretless.EXP3(K, horizon=HORIZON, seed=0),
}
BATCH = {
    "UCB1": SINGLE_STEP["UCB1"],
    "ThompsonSampling": SINGLE_STEP["ThompsonSampling"],
}


def reward_table(n: int, seed: int = 0) -> list[list[float]]:
    """Bernoulli rewards, one row per step: row[a] = 1.0 with probability MEANS[a]."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, K)) < MEANS).astype(np.float64).tolist()


def warmed_up(make):
    policy = make()
    for row in reward_table(WARMUP, seed=1):
        arm = policy.select()
        policy.update(arm, row[arm])
    return policy


@pytest.mark.benchmark(group="select_update")
@pytest.mark.parametrize("name", list(SINGLE_STEP))
def test_select_update(benchmark, name):
    """One decision and its reward; the reward comes from a cyclic precomputed table."""
    policy = warmed_up(SINGLE_STEP[name])
    select, update = policy.select, policy.update
    rows = itertools.cycle(reward_table(N_TABLE))

    def step():
        arm = select()
        update(arm, next(rows)[arm])

    benchmark(step)
    assert policy.counts().sum() >= WARMUP + 1


@pytest.mark.benchmark(group="batch")
@pytest.mark.parametrize("name", list(BATCH))
def test_update_batch(benchmark, name):
    """update_batch of N_BATCH (arm, reward) rows, int64 / float64 (the zero-copy path)."""
    rng = np.random.default_rng(0)
    arms = rng.integers(0, K, size=N_BATCH, dtype=np.int64)
    rewards = (rng.random(N_BATCH) < MEANS[arms]).astype(np.float64)
    policy = BATCH[name]()
    benchmark(policy.update_batch, arms, rewards)
    assert policy.counts().sum() % N_BATCH == 0


@pytest.mark.benchmark(group="batch")
@pytest.mark.parametrize("name", list(BATCH))
def test_select_batch(benchmark, name):
    """select_batch(N_BATCH) from a policy that has seen some data."""
    policy = warmed_up(BATCH[name])
    out = benchmark(policy.select_batch, N_BATCH)
    assert out.shape == (N_BATCH,)
    assert out.dtype == np.int64


@pytest.mark.benchmark(group="simulate")
@pytest.mark.parametrize("record_every", [1, HORIZON], ids=["record_every=1", "record_every=T"])
def test_simulate_ucb1(benchmark, record_every):
    """The whole select/reward/update loop in Rust: UCB1, 1 run x HORIZON steps."""
    env = regretless.BernoulliEnv(MEANS.tolist())
    policy = regretless.UCB1(K)
    res = benchmark(
        regretless.simulate,
        policy,
        env,
        horizon=HORIZON,
        n_runs=1,
        seed=0,
        record_every=record_every,
    )
    assert res.horizon == HORIZON
    assert res.counts.sum() == HORIZON
