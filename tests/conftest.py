"""Shared fixtures: every policy of every family, in default and non-default configurations.
tests/test_families.py checks that each class of a core registry has a factory here."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
import regretless

# name -> factory(n_arms, seed). Variants cover each non-default code path. Keys are "Class" or
# "Class-variant"; every registered class needs one (tests/test_registry.py checks).
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
    "SlidingWindowUCB": lambda k, s: regretless.SlidingWindowUCB(k, window=50, seed=s),
    "SlidingWindowUCB-horizon": lambda k, s: regretless.SlidingWindowUCB(k, horizon=1000, seed=s),
    "DiscountedUCB": lambda k, s: regretless.DiscountedUCB(k, gamma=0.95, seed=s),
    "DiscountedUCB-horizon": lambda k, s: regretless.DiscountedUCB(k, horizon=1000, xi=0.3, seed=s),
    "DiscountedThompsonSampling": lambda k, s: regretless.DiscountedThompsonSampling(k, seed=s),
    "TsallisINF": lambda k, s: regretless.TsallisINF(k, seed=s),
    "CUSUMUCB": lambda k, s: regretless.CUSUMUCB(k, h=3.0, warmup=5, alpha=0.1, seed=s),
    "CUSUMUCB-horizon-global": lambda k, s: regretless.CUSUMUCB(
        k, horizon=1000, n_changes=2, restart="global", seed=s
    ),
    "GLRUCB": lambda k, s: regretless.GLRUCB(
        k, delta=0.05, alpha=0.1, test_every=1, split_every=1, seed=s
    ),
    "GLRUCB-horizon-global": lambda k, s: regretless.GLRUCB(
        k, horizon=1000, restart="global", seed=s
    ),
    "BatchedExp3": lambda k, s: regretless.BatchedExp3(k, tau=3, seed=s),
    "BatchedExp3-horizon": lambda k, s: regretless.BatchedExp3(k, horizon=2000, seed=s),
    "BatchedExp3-anytime-eta": lambda k, s: regretless.BatchedExp3(k, eta=0.3, seed=s),
    "ShrinkingDartboard": lambda k, s: regretless.ShrinkingDartboard(k, seed=s),
    "ShrinkingDartboard-eta": lambda k, s: regretless.ShrinkingDartboard(k, eta=0.3, seed=s),
    "UCB2": lambda k, s: regretless.UCB2(k, seed=s),
    "UCB2-alpha": lambda k, s: regretless.UCB2(k, alpha=0.1, seed=s),
}

NOT_MERGEABLE = {
    "EXP3",
    "EXP3-horizon",
    "EXP3IX",
    "SuccessiveElimination",
    "SlidingWindowUCB",
    "SlidingWindowUCB-horizon",
    "DiscountedUCB",
    "DiscountedUCB-horizon",
    "DiscountedThompsonSampling",
    "TsallisINF",
    "CUSUMUCB",
    "CUSUMUCB-horizon-global",
    "GLRUCB",
    "GLRUCB-horizon-global",
    "BatchedExp3",
    "BatchedExp3-horizon",
    "BatchedExp3-anytime-eta",
    "ShrinkingDartboard",
    "ShrinkingDartboard-eta",
    "UCB2",
    "UCB2-alpha",
}
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
    "SlidingWindowUCB",
    "SlidingWindowUCB-horizon",
    "DiscountedUCB",
    "DiscountedUCB-horizon",
    "DiscountedThompsonSampling",
    "TsallisINF",
    "CUSUMUCB",
    "CUSUMUCB-horizon-global",
    "GLRUCB",
    "GLRUCB-horizon-global",
    "BatchedExp3",
    "BatchedExp3-horizon",
    "BatchedExp3-anytime-eta",
    "ShrinkingDartboard",
    "ShrinkingDartboard-eta",
    "UCB2",
    "UCB2-alpha",
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


# ---- Conformance factory tables of the other families (issue 13) ---------------------------
# tests/test_conformance.py runs every stateful class of every family through the same checks;
# tests/conformance_families.py says how each family is driven. Each table maps a name to a
# factory(seed); variants cover each non-default code path.

CONTEXTUAL_ARMS, CONTEXTUAL_DIM, CONTEXTUAL_SHARED_DIM = 3, 4, 2
_K, _D, _S = CONTEXTUAL_ARMS, CONTEXTUAL_DIM, CONTEXTUAL_SHARED_DIM
CONTEXTUAL_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "LinUCB": lambda s: regretless.LinUCB(_K, _D, seed=s),
    "LinUCB-alpha-lam": lambda s: regretless.LinUCB(_K, _D, alpha=0.3, lam=0.5, seed=s),
    "LinTS": lambda s: regretless.LinTS(_K, _D, seed=s),
    "LinTS-v-lam": lambda s: regretless.LinTS(_K, _D, v=0.5, lam=2.0, seed=s),
    "LinGreedy": lambda s: regretless.LinGreedy(_K, _D, seed=s),
    "LinGreedy-epsilon": lambda s: regretless.LinGreedy(_K, _D, epsilon=0.4, lam=0.5, seed=s),
    "LinUCB-decay": lambda s: regretless.LinUCB(_K, _D, alpha=0.5, decay=0.95, seed=s),
    "LinTS-decay": lambda s: regretless.LinTS(_K, _D, decay=0.9, lam=0.5, seed=s),
    "LinGreedy-decay": lambda s: regretless.LinGreedy(_K, _D, decay=0.99, seed=s),
    "KLRegularizedUCB": lambda s: regretless.KLRegularizedUCB(_K, _D, seed=s),
    "KLRegularizedUCB-beta": lambda s: regretless.KLRegularizedUCB(
        _K, _D, eta=3.0, beta=0.7, lam=0.5, seed=s
    ),
    "GibbsGreedy": lambda s: regretless.GibbsGreedy(_K, _D, seed=s),
    "GibbsGreedy-eta": lambda s: regretless.GibbsGreedy(_K, _D, eta=4.0, lam=2.0, seed=s),
    "LogisticUCB": lambda s: regretless.LogisticUCB(_K, _D, seed=s),
    "LogisticUCB-alpha-lam": lambda s: regretless.LogisticUCB(_K, _D, alpha=0.3, lam=2.0, seed=s),
    "LogisticTS": lambda s: regretless.LogisticTS(_K, _D, seed=s),
    "LogisticTS-v-lam": lambda s: regretless.LogisticTS(_K, _D, v=0.5, lam=0.5, seed=s),
    "SketchedLinUCB": lambda s: regretless.SketchedLinUCB(_K, _D, sketch_size=2, seed=s),
    "SketchedLinUCB-exact-alpha-lam": lambda s: regretless.SketchedLinUCB(
        _K, _D, sketch_size=_D, alpha=0.3, lam=0.5, seed=s
    ),
    "SketchedLinUCB-robust": lambda s: regretless.SketchedLinUCB(
        _K, _D, sketch_size=2, robust=True, seed=s
    ),
    "SketchedLinTS": lambda s: regretless.SketchedLinTS(_K, _D, sketch_size=2, seed=s),
    "SketchedLinTS-exact-v-lam": lambda s: regretless.SketchedLinTS(
        _K, _D, sketch_size=_D, v=0.5, lam=2.0, seed=s
    ),
    "DiagonalLinUCB": lambda s: regretless.DiagonalLinUCB(_K, _D, seed=s),
    "DiagonalLinUCB-alpha-lam": lambda s: regretless.DiagonalLinUCB(
        _K, _D, alpha=0.3, lam=0.5, seed=s
    ),
    "HybridLinUCB": lambda s: regretless.HybridLinUCB(_K, _D, _S, seed=s),
    "HybridLinUCB-alpha-lam": lambda s: regretless.HybridLinUCB(
        _K, _D, _S, alpha=0.3, lam=0.5, seed=s
    ),
    "HybridLinUCB-no-shared": lambda s: regretless.HybridLinUCB(_K, _D, 0, seed=s),
}

# Streaming policies over STREAM_ARMS arms; the short horizon lets late arms go unpulled.
STREAM_ARMS = 30
STREAM_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "UniformExploration": lambda s: regretless.UniformExploration(STREAM_ARMS, 30_000, seed=s),
    "NaiveEpsilonBest": lambda s: regretless.NaiveEpsilonBest(STREAM_ARMS, 30_000, seed=s),
    "GameOfArms": lambda s: regretless.GameOfArms(STREAM_ARMS, 30_000, seed=s),
    "GameOfArms-short-horizon": lambda s: regretless.GameOfArms(STREAM_ARMS, 2_000, seed=s),
    "AggressiveSelectivePromotion": lambda s: regretless.AggressiveSelectivePromotion(
        STREAM_ARMS, 30_000, seed=s
    ),
    "AggressiveSelectivePromotion-short-horizon": lambda s: regretless.AggressiveSelectivePromotion(
        STREAM_ARMS, 2_000, seed=s
    ),
}


def _ope_accumulator(estimator: str, n_bootstrap: int = 0, **kwargs: float):
    """factory(seed, first_row=0) of an empty accumulator of ``regretless.ope.<estimator>``."""

    def factory(seed: int | None, first_row: int = 0) -> object:
        from regretless import ope

        est = getattr(ope, estimator)(**kwargs)
        return est.accumulator(n_bootstrap=n_bootstrap, seed=seed, first_row=first_row)

    return factory


# The OPE streaming accumulator (regretless.ope.OffPolicyAccumulator), one entry per estimator.
ACCUMULATOR_FACTORIES: dict[str, Callable[..., object]] = {
    "DirectMethod": _ope_accumulator("DirectMethod"),
    "IPW": _ope_accumulator("InverseProbabilityWeighting"),
    "IPW-clipped-bootstrap": _ope_accumulator(
        "InverseProbabilityWeighting", n_bootstrap=16, lambda_=1.5
    ),
    "SNIPW": _ope_accumulator("SelfNormalizedInverseProbabilityWeighting"),
    "DoublyRobust-bootstrap": _ope_accumulator("DoublyRobust", n_bootstrap=16),
    "SNDR": _ope_accumulator("SelfNormalizedDoublyRobust"),
    "SwitchDR": _ope_accumulator("SwitchDoublyRobust", lambda_=1.2),
    "DRos-bootstrap": _ope_accumulator("DoublyRobustWithShrinkage", n_bootstrap=16, lambda_=2.0),
}


# ---- Cascading bandits (issue 17) ------------------------------------------------------------
# name -> factory(seed) over CASCADE_ITEMS items; CascadeLinUCB gets fixed item features.
CASCADE_ITEMS, CASCADE_DIM = 8, 3
CASCADE_FEATURES = np.random.default_rng(17).uniform(0, 1, size=(CASCADE_ITEMS, CASCADE_DIM)) / 2
CASCADE_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "CascadeUCB1": lambda s: regretless.CascadeUCB1(CASCADE_ITEMS, seed=s),
    "CascadeUCB1-c": lambda s: regretless.CascadeUCB1(CASCADE_ITEMS, c=0.5, seed=s),
    "CascadeKLUCB": lambda s: regretless.CascadeKLUCB(CASCADE_ITEMS, seed=s),
    "CascadeKLUCB-c0": lambda s: regretless.CascadeKLUCB(CASCADE_ITEMS, c=0.0, seed=s),
    "CascadeLinUCB": lambda s: regretless.CascadeLinUCB(CASCADE_FEATURES, seed=s),
    "CascadeLinUCB-alpha-lam": lambda s: regretless.CascadeLinUCB(
        CASCADE_FEATURES, alpha=0.3, lam=2.0, seed=s
    ),
}


# Budgeted and cascading-RL classes (each driven by its own adapter in conformance_families).
BWK_BUDGETS = [1e6, 1e6]
BWK_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "PrimalDualBwK": lambda s: regretless.PrimalDualBwK(3, BWK_BUDGETS, 10**6, seed=s),
}
HATCH_CENTERS = [[1.0, 1.0, 0.0], [1.0, 0.5, 0.0], [1.0, 0.0, 0.0]]
HATCH_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "HATCH": lambda s: regretless.HATCH(2, 3, HATCH_CENTERS, rate=0.5, seed=s),
    "HATCH-budget-alpha-lam": lambda s: regretless.HATCH(
        2, 3, HATCH_CENTERS, rate=0.7, budget=20.0, alpha=0.3, lam=2.0, seed=s
    ),
}

# Dynamical linear bandits (issue 18): the authors' synthetic system's budget splits; the
# policies play against DynamicalLinearEnv.synthetic in conformance_families.
DYNLIN_ACTIONS = regretless.DynamicalLinearEnv.budget_splits(3)
DYNLIN_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "DynLinUCB": lambda s: regretless.DynLinUCB(
        DYNLIN_ACTIONS, 1000, **regretless.DynamicalLinearEnv.synthetic().bounds(), seed=s
    ),
    "DynLinUCB-rho0-lam-scale": lambda s: regretless.DynLinUCB(
        DYNLIN_ACTIONS, 1000, rho_bar=0.0, sigma=0.05, lam=2.0, scale=0.05, seed=s
    ),
    "MyopicLinUCB": lambda s: regretless.MyopicLinUCB(
        DYNLIN_ACTIONS, 1000, theta=0.5, sigma=0.01, seed=s
    ),
    "MyopicLinUCB-lam-scale": lambda s: regretless.MyopicLinUCB(
        DYNLIN_ACTIONS, 1000, theta=0.5, sigma=0.05, lam=2.0, scale=0.3, seed=s
    ),
}


def cascading_rewards() -> np.ndarray:
    """Rewards (3 states, 4 items + default) of the conformance suite's cascading MDP."""
    r = np.random.default_rng(123).random((3, 5))
    r[:, 4] = 0.0
    return r


# CascadingVI is deterministic: the seed is ignored.
CASCADING_RL_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "CascadingVI": lambda s: regretless.CascadingVI(cascading_rewards(), horizon=3, list_len=2),
    "CascadingVI-bonus-delta": lambda s: regretless.CascadingVI(
        cascading_rewards(), horizon=3, list_len=1, bonus=0.3, delta=0.2
    ),
}


# ---- Reactive rewards (issue 18) ------------------------------------------------------------
# Stateful policies outside the multi-armed registry (select() hands out the pulls, update()
# answers them); 3 arms each. LSDExploreCommit-n0 commits to a cycle within the suite's plays.
REACTIVE_ARMS = 3
REACTIVE_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "PeriodicUCB": lambda s: regretless.PeriodicUCB(3, 4, horizon=1000, seed=s),
    "PeriodicUCB-per-period": lambda s: regretless.PeriodicUCB(
        3, 4, horizon=1000, per_period=2, seed=s
    ),
    "LSDExploreCommit": lambda s: regretless.LSDExploreCommit(3, 2, horizon=1000, seed=s),
    "LSDExploreCommit-n0": lambda s: regretless.LSDExploreCommit(3, 2, horizon=1000, n0=1, seed=s),
    "TallyingElimination": lambda s: regretless.TallyingElimination(3, 2, horizon=1000, seed=s),
}


# ---- Shared-parameter policies over arm features (issue 20) ---------------------------------
# A decision is an (n_actions, dim) matrix of action features; one sketch for all actions.
# "-exact" variants hold every dimension (sketch_size >= dim): exact OFUL / linear TS.
SHARED_SKETCH_DIM = 5
_SD = SHARED_SKETCH_DIM
SHARED_SKETCH_FACTORIES: dict[str, Callable[[int | None], object]] = {
    "SharedSketchLinUCB": lambda s: regretless.SharedSketchLinUCB(_SD, sketch_size=2, seed=s),
    "SharedSketchLinUCB-exact-alpha-lam": lambda s: regretless.SharedSketchLinUCB(
        _SD, sketch_size=_SD, alpha=0.3, lam=0.5, seed=s
    ),
    "SharedSketchLinUCB-robust": lambda s: regretless.SharedSketchLinUCB(
        _SD, sketch_size=2, robust=True, seed=s
    ),
    "SharedSketchLinTS": lambda s: regretless.SharedSketchLinTS(_SD, sketch_size=2, seed=s),
    "SharedSketchLinTS-exact-v-lam": lambda s: regretless.SharedSketchLinTS(
        _SD, sketch_size=_SD, v=0.5, lam=2.0, seed=s
    ),
}
