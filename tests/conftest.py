"""Shared fixtures: every policy of every family, in default and non-default configurations.
tests/test_families.py checks that each class of a core registry has a factory here."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
import regretless

# name -> factory(n_arms, seed). Variants cover each non-default code path.
POLICY_FACTORIES: dict[str, Callable[[int, int | None], object]] = {
    "EpsilonGreedy": lambda k, s: regretless.EpsilonGreedy(k, epsilon=0.2, seed=s),
    "EpsilonGreedy-decay": lambda k, s: regretless.EpsilonGreedy(k, epsilon=1.0, decay=5.0, seed=s),
    "Softmax": lambda k, s: regretless.Softmax(k, temperature=0.2, seed=s),
    "UCB1": lambda k, s: regretless.UCB1(k, seed=s),
    "UCBV": lambda k, s: regretless.UCBV(k, seed=s),
    "MOSS": lambda k, s: regretless.MOSS(k, seed=s),
    "MOSS-horizon": lambda k, s: regretless.MOSS(k, horizon=1000, seed=s),
    "KLUCB": lambda k, s: regretless.KLUCB(k, seed=s),
    "KLUCB-plus": lambda k, s: regretless.KLUCB(k, plus=True, c=3.0, seed=s),
    "KLUCB-gaussian": lambda k, s: regretless.KLUCB(k, divergence="gaussian", variance=0.5, seed=s),
    "KLUCB-poisson": lambda k, s: regretless.KLUCB(k, divergence="poisson", seed=s),
    "BayesUCB": lambda k, s: regretless.BayesUCB(k, seed=s),
    "ThompsonSampling": lambda k, s: regretless.ThompsonSampling(k, seed=s),
    "GaussianThompsonSampling": lambda k, s: regretless.GaussianThompsonSampling(k, seed=s),
    "EXP3": lambda k, s: regretless.EXP3(k, gamma=0.05, seed=s),
    "EXP3-horizon": lambda k, s: regretless.EXP3(k, horizon=500, seed=s),
    "EXP3IX": lambda k, s: regretless.EXP3IX(k, seed=s),
    "SuccessiveElimination": lambda k, s: regretless.SuccessiveElimination(k, seed=s),
}

NOT_MERGEABLE = {"EXP3", "EXP3-horizon", "EXP3IX", "SuccessiveElimination"}
# Policies whose model only accepts rewards in [0, 1].
UNIT_REWARDS = {
    "UCB1",
    "UCBV",
    "MOSS",
    "MOSS-horizon",
    "KLUCB",
    "KLUCB-plus",
    "BayesUCB",
    "ThompsonSampling",
    "EXP3",
    "EXP3-horizon",
    "EXP3IX",
    "SuccessiveElimination",
}


@pytest.fixture(params=sorted(POLICY_FACTORIES))
def policy_name(request: pytest.FixtureRequest) -> str:
    return request.param


def make(name: str, n_arms: int = 4, seed: int | None = 0):
    return POLICY_FACTORIES[name](n_arms, seed)


def bernoulli_stream(n: int, n_arms: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random (arms, rewards) stream with rewards in {0, 1}."""
    rng = np.random.default_rng(seed)
    arms = rng.integers(0, n_arms, size=n).astype(np.int64)
    means = np.linspace(0.2, 0.8, n_arms)
    rewards = (rng.random(n) < means[arms]).astype(np.float64)
    return arms, rewards


def play(policy, steps: int, seed: int = 0) -> list[int]:
    """Select/update loop on fixed Bernoulli arms; returns the chosen arms."""
    rng = np.random.default_rng(seed)
    means = np.linspace(0.2, 0.8, policy.n_arms)
    chosen = []
    for _ in range(steps):
        arm = policy.select()
        policy.update(arm, float(rng.random() < means[arm]))
        chosen.append(arm)
    return chosen


# Kernel bandits: name -> factory(seed) over one fixed candidate set (40 points in [0, 1]^2).
KERNEL_CANDIDATES = np.random.default_rng(123).uniform(size=(40, 2))
KERNEL_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "GPUCB": lambda s: regretless.GPUCB(KERNEL_CANDIDATES, regretless.RBF(0.3), seed=s),
    "GPUCB-matern": lambda s: regretless.GPUCB(
        KERNEL_CANDIDATES, regretless.Matern(0.3, nu=1.5), beta_scale=0.2, seed=s
    ),
    "BKB": lambda s: regretless.BKB(KERNEL_CANDIDATES, regretless.RBF(0.3), seed=s),
    "BKB-qbar1-shared-width": lambda s: regretless.BKB(
        KERNEL_CANDIDATES, regretless.RBF(0.3), qbar=1.0, beta_scale=0.2, seed=s
    ),
}


@pytest.fixture(params=sorted(KERNEL_FACTORIES))
def kernel_name(request: pytest.FixtureRequest) -> str:
    return request.param


def play_kernel(policy, steps: int, seed: int = 0) -> list[int]:
    """Select/update on a smooth objective over the candidates; returns the picks."""
    x = np.asarray(policy.candidates())
    f = np.sin(5 * x[:, 0]) * np.cos(3 * x[:, 1])
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(steps):
        i = policy.select()
        policy.update(i, float(f[i] + 0.1 * rng.standard_normal()))
        picks.append(i)
    return picks


# Linear contextual policies: name -> factory(n_arms, dim, seed); the part of a name before
# "-" is the class.
CONTEXTUAL_FACTORIES: dict[str, Callable[[int, int, int | None], object]] = {
    "LinUCB": lambda k, d, s: regretless.LinUCB(k, d, alpha=0.5, seed=s),
    "LinTS": lambda k, d, s: regretless.LinTS(k, d, v=0.3, seed=s),
    "LinGreedy": lambda k, d, s: regretless.LinGreedy(k, d, epsilon=0.2, seed=s),
    "LogisticUCB": lambda k, d, s: regretless.LogisticUCB(k, d, seed=s),
    "LogisticTS": lambda k, d, s: regretless.LogisticTS(k, d, seed=s),
    "KLRegularizedUCB": lambda k, d, s: regretless.KLRegularizedUCB(k, d, eta=2.0, seed=s),
    "KLRegularizedUCB-beta": lambda k, d, s: regretless.KLRegularizedUCB(
        k, d, eta=2.0, beta=0.5, lam=2.0, seed=s
    ),
    "GibbsGreedy": lambda k, d, s: regretless.GibbsGreedy(k, d, eta=2.0, seed=s),
}


@pytest.fixture(params=sorted(CONTEXTUAL_FACTORIES))
def contextual_name(request: pytest.FixtureRequest) -> str:
    return request.param


# Single-pass streaming policies: name -> factory(n_arms, horizon, seed).
STREAM_FACTORIES: dict[str, Callable[[int, int, int | None], object]] = {
    "UniformExploration": lambda k, t, s: regretless.UniformExploration(k, t, seed=s),
    "NaiveEpsilonBest": lambda k, t, s: regretless.NaiveEpsilonBest(k, t, seed=s),
    "GameOfArms": lambda k, t, s: regretless.GameOfArms(k, t, seed=s),
    "AggressiveSelectivePromotion": lambda k, t, s: regretless.AggressiveSelectivePromotion(
        k, t, seed=s
    ),
}


@pytest.fixture(params=sorted(STREAM_FACTORIES))
def stream_name(request: pytest.FixtureRequest) -> str:
    return request.param


def run_in_threads(worker: Callable[[int], None], n_threads: int) -> None:
    """Runs ``worker(i)`` for i in range(n_threads), each on its own thread, all at once;
    fails with every exception a worker raised."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            worker(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
