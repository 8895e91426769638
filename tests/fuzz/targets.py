"""Every stateful class of the library, as the fuzzers see it: how to build one, how to play
it with valid random input, and which valid calls a restored object must still accept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import regretless
from regretless import ope
from regretless.exceptions import InvalidParameterError

Rng = np.random.Generator

# Candidates of the kernel bandits: small, so a case costs microseconds.
KERNEL_CANDIDATES = np.random.default_rng(123).uniform(size=(12, 2))


@dataclass(frozen=True)
class Target:
    """One stateful class in one configuration.

    ``make(seed)`` builds it, ``play(obj, rng, steps)`` feeds it valid random input, and
    ``exercise(obj, rng)`` makes the calls any restored object must accept (raising
    whatever the library raises)."""

    name: str
    family: str
    make: Callable[[int], object]
    play: Callable[[object, Rng, int], None]
    exercise: Callable[[object, Rng], None]


# Multi-armed ----------------------------------------------------------------------------

MAB_FACTORIES: dict[str, Callable[[int], object]] = {
    "EpsilonGreedy": lambda s: regretless.EpsilonGreedy(4, epsilon=0.2, seed=s),
    "EpsilonGreedy-decay": lambda s: regretless.EpsilonGreedy(4, epsilon=1.0, decay=5.0, seed=s),
    "Softmax": lambda s: regretless.Softmax(4, temperature=0.2, seed=s),
    "UCB1": lambda s: regretless.UCB1(4, seed=s),
    "UCBV": lambda s: regretless.UCBV(4, seed=s),
    "MOSS": lambda s: regretless.MOSS(4, seed=s),
    "MOSS-horizon": lambda s: regretless.MOSS(4, horizon=1000, seed=s),
    "KLUCB": lambda s: regretless.KLUCB(4, seed=s),
    "KLUCB-plus": lambda s: regretless.KLUCB(4, plus=True, c=3.0, seed=s),
    "KLUCB-gaussian": lambda s: regretless.KLUCB(4, divergence="gaussian", variance=0.5, seed=s),
    "KLUCB-poisson": lambda s: regretless.KLUCB(4, divergence="poisson", seed=s),
    "BayesUCB": lambda s: regretless.BayesUCB(4, seed=s),
    "BayesUCB-horizon": lambda s: regretless.BayesUCB(4, c=1.0, horizon=500, seed=s),
    "ThompsonSampling": lambda s: regretless.ThompsonSampling(4, seed=s),
    "GaussianThompsonSampling": lambda s: regretless.GaussianThompsonSampling(4, seed=s),
    "EXP3": lambda s: regretless.EXP3(4, gamma=0.05, seed=s),
    "EXP3-horizon": lambda s: regretless.EXP3(4, horizon=500, seed=s),
    "EXP3IX": lambda s: regretless.EXP3IX(4, seed=s),
    "SuccessiveElimination": lambda s: regretless.SuccessiveElimination(4, seed=s),
}


def play_mab(p, rng: Rng, steps: int) -> None:
    means = rng.uniform(size=p.n_arms)
    for _ in range(steps):
        arm = p.select()
        p.update(arm, float(rng.random() < means[arm]))
    if rng.random() < 0.5:
        arms = rng.integers(0, p.n_arms, size=steps).astype(np.int64)
        p.update_batch(arms, (rng.random(steps) < means[arms]).astype(np.float64))


def exercise_mab(p, rng: Rng) -> None:
    arm = p.select()
    assert 0 <= arm < p.n_arms, f"select returned {arm} of {p.n_arms} arms"
    p.update(arm, 1.0)
    p.select_batch(3)
    p.scores()
    p.probabilities()
    p.counts()
    p.means()


# Linear contextual ------------------------------------------------------------------------

DIM = 3
CONTEXTUAL_FACTORIES: dict[str, Callable[[int], object]] = {
    "LinUCB": lambda s: regretless.LinUCB(3, DIM, seed=s),
    "LinTS": lambda s: regretless.LinTS(3, DIM, seed=s),
    "LinGreedy": lambda s: regretless.LinGreedy(3, DIM, seed=s),
    "LogisticUCB": lambda s: regretless.LogisticUCB(3, DIM, seed=s),
    "LogisticTS": lambda s: regretless.LogisticTS(3, DIM, seed=s),
    "KLRegularizedUCB": lambda s: regretless.KLRegularizedUCB(3, DIM, seed=s),
    "KLRegularizedUCB-beta": lambda s: regretless.KLRegularizedUCB(
        3, DIM, eta=2.0, beta=0.5, lam=0.5, seed=s
    ),
    "GibbsGreedy": lambda s: regretless.GibbsGreedy(3, DIM, seed=s),
}


def play_contextual(p, rng: Rng, steps: int) -> None:
    theta = rng.normal(size=(p.n_arms, p.dim))
    for _ in range(steps):
        x = rng.normal(size=p.dim)
        arm = p.select(x)
        p.update(x, arm, float(rng.random() < 1 / (1 + np.exp(-theta[arm] @ x))))
    if rng.random() < 0.5:
        X = rng.normal(size=(steps, p.dim))
        arms = rng.integers(0, p.n_arms, size=steps).astype(np.int64)
        p.update_batch(X, arms, (rng.random(steps) < 0.5).astype(np.float64))


def exercise_contextual(p, rng: Rng) -> None:
    X = rng.normal(size=(4, p.dim))
    arm = p.select(X[0])
    assert 0 <= arm < p.n_arms, f"select returned {arm} of {p.n_arms} arms"
    p.update(X[0], arm, 1.0)
    p.select_batch(X)
    p.scores(X)
    p.probabilities(X)
    p.coefficients()


def make_hybrid(s: int):
    return regretless.HybridLinUCB(3, DIM, 2, seed=s)


def play_hybrid(p, rng: Rng, steps: int) -> None:
    for _ in range(steps):
        x, z = rng.normal(size=p.dim), rng.normal(size=p.shared_dim)
        arm = p.select(x, z)
        p.update(x, arm, float(rng.random()), z=z)
    if rng.random() < 0.5:
        X, Z = rng.normal(size=(steps, p.dim)), rng.normal(size=(steps, p.shared_dim))
        arms = rng.integers(0, p.n_arms, size=steps).astype(np.int64)
        p.update_batch(X, arms, rng.random(steps), Z=Z)


def exercise_hybrid(p, rng: Rng) -> None:
    X, Z = rng.normal(size=(4, p.dim)), rng.normal(size=(4, p.shared_dim))
    arm = p.select(X[0], Z[0])
    assert 0 <= arm < p.n_arms, f"select returned {arm} of {p.n_arms} arms"
    p.update(X[0], arm, 1.0, z=Z[0])
    p.select_batch(X, Z)
    p.scores(X, Z)
    p.shared_coefficients()


# Kernel -----------------------------------------------------------------------------------

KERNEL_TARGET_FACTORIES: dict[str, Callable[[int], object]] = {
    "GPUCB": lambda s: regretless.GPUCB(KERNEL_CANDIDATES, regretless.RBF(0.3), seed=s),
    "GPUCB-matern": lambda s: regretless.GPUCB(
        KERNEL_CANDIDATES, regretless.Matern(0.3, nu=1.5), beta_scale=0.2, seed=s
    ),
    "GPUCB-polynomial": lambda s: regretless.GPUCB(
        KERNEL_CANDIDATES, regretless.Polynomial(degree=3), seed=s
    ),
    "BKB": lambda s: regretless.BKB(KERNEL_CANDIDATES, regretless.RBF(0.3), seed=s),
    "BKB-qbar1": lambda s: regretless.BKB(
        KERNEL_CANDIDATES, regretless.Linear(), qbar=1.0, beta_scale=0.2, seed=s
    ),
}


def play_kernel(p, rng: Rng, steps: int) -> None:
    f = np.sin(5 * KERNEL_CANDIDATES[:, 0])
    for _ in range(steps):
        i = p.select()
        p.update(i, float(f[i % len(f)] + 0.1 * rng.standard_normal()))


def exercise_kernel(p, rng: Rng) -> None:
    i = p.select()
    assert 0 <= i < p.n_candidates, f"select returned {i} of {p.n_candidates} candidates"
    p.update(i, 0.5)
    p.select_batch(2)
    p.posterior()
    p.scores()


# Streaming --------------------------------------------------------------------------------

STREAM_FACTORIES: dict[str, Callable[[int], object]] = {
    cls.__name__: (lambda s, cls=cls: cls(6, 3000, seed=s))
    for cls in (
        regretless.UniformExploration,
        regretless.NaiveEpsilonBest,
        regretless.GameOfArms,
        regretless.AggressiveSelectivePromotion,
    )
}


def _pay(p, rng: Rng, limit: int) -> None:
    for _ in range(limit):
        arm = p.next_pull()
        if arm is None:
            return
        n = min(p.pending_pulls, 500)
        if rng.random() < 0.5:
            p.update(arm, float(rng.random() < 0.5))
        else:
            p.update_many(arm, (rng.random(n) < 0.5).astype(np.float64))


def play_stream(p, rng: Rng, steps: int) -> None:
    _pay(p, rng, steps)
    for _ in range(int(rng.integers(0, min(p.n_arms, 8) + 1))):
        if p.n_offered >= p.n_arms or p.next_pull() is not None:
            break
        p.offer(int(rng.integers(0, 1000)))
        _pay(p, rng, steps)
    if rng.random() < 0.2 and p.next_pull() is None and not p.is_finished:
        p.finish()
        _pay(p, rng, steps)


def exercise_stream(p, rng: Rng) -> None:
    arm = p.next_pull()
    if arm is not None:
        p.update(arm, 1.0)
        arm = p.next_pull()  # the next pull may be of another arm
        if arm is not None:
            p.update_many(arm, np.ones(min(p.pending_pulls, 3)))
    elif not p.is_finished and p.n_offered < p.n_arms:
        p.offer(p.n_offered + 10_000)
        p.next_pull()
    p.arms_in_memory()


# Off-policy evaluation ----------------------------------------------------------------------

OPE_FACTORIES: dict[str, Callable[[int], object]] = {
    "OPE-ipw": lambda s: ope.InverseProbabilityWeighting().accumulator(),
    "OPE-dr-bootstrap": lambda s: ope.DoublyRobust().accumulator(n_bootstrap=4, seed=s),
    "OPE-switch-dr": lambda s: ope.SwitchDoublyRobust(lambda_=5.0).accumulator(first_row=7),
    "OPE-snipw": lambda s: ope.SelfNormalizedInverseProbabilityWeighting().accumulator(),
    "OPE-dm": lambda s: ope.DirectMethod().accumulator(n_bootstrap=2, seed=s),
}
N_ACTIONS = 3


def ope_batch(rng: Rng, n: int) -> dict[str, np.ndarray]:
    """A valid push batch of ``n`` rows over N_ACTIONS actions (one slot)."""
    dist = rng.dirichlet(np.ones(N_ACTIONS), size=n)
    return {
        "reward": rng.random(n),
        "action": rng.integers(0, N_ACTIONS, size=n).astype(np.int64),
        "pscore": rng.uniform(0.1, 1.0, size=n),
        "action_dist": dist,
        "position": None,
        "estimated_rewards": rng.random((n, N_ACTIONS)),
    }


def play_ope(acc, rng: Rng, steps: int) -> None:
    for _ in range(1 + steps // 10):
        b = ope_batch(rng, int(rng.integers(1, 8)))
        acc.push(
            b["reward"], b["action"], b["pscore"], b["action_dist"], None, b["estimated_rewards"]
        )


def exercise_ope(acc, rng: Rng) -> None:
    if acc.rows == 0:
        # Bytes whose row count was mutated to 0 hold an accumulator with no rows, which
        # refuses a summary as a fresh one does ("no rows to evaluate"): push rows first.
        play_ope(acc, rng, 0)
    try:
        acc.summary(0.05)
        acc.result(0.1)
    except InvalidParameterError as exc:
        # Rows that all have weight 0 (the evaluation policy never plays a logged action)
        # leave a self-normalized estimate undefined: live accumulators reach that state by
        # valid pushes and refuse the same way, so loaded bytes may too.
        if "probability 0 to every logged action" not in str(exc):
            raise


def _all_targets() -> list[Target]:
    out = [Target(n, "mab", f, play_mab, exercise_mab) for n, f in MAB_FACTORIES.items()]
    out += [
        Target(n, "contextual", f, play_contextual, exercise_contextual)
        for n, f in CONTEXTUAL_FACTORIES.items()
    ]
    out.append(Target("HybridLinUCB", "hybrid", make_hybrid, play_hybrid, exercise_hybrid))
    out += [
        Target(n, "kernel", f, play_kernel, exercise_kernel)
        for n, f in KERNEL_TARGET_FACTORIES.items()
    ]
    out += [
        Target(n, "stream", f, play_stream, exercise_stream) for n, f in STREAM_FACTORIES.items()
    ]
    out += [Target(n, "ope", f, play_ope, exercise_ope) for n, f in OPE_FACTORIES.items()]
    return out


TARGETS: list[Target] = _all_targets()
BY_NAME: dict[str, Target] = {t.name: t for t in TARGETS}
