"""What to_bytes writes, from_bytes reads: whatever sequence of accepted calls a stateful
object went through (extreme rewards, contexts and weights, merges with itself, arms added
and removed), its bytes decode, re-encode to the same bytes, and the decoded copy continues
exactly as the original (restored through its own class and through its family's base
class). Calls the library refuses (its own exceptions) must change nothing
that matters here; any other exception fails the test."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import regretless
from conftest import KERNEL_CANDIDATES, KERNEL_FACTORIES, POLICY_FACTORIES
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from regretless import ope

# Values at and beyond every documented limit (rewards 1e100, contexts and weights 1e30),
# around float64's ends, and ordinary ones.
EXTREMES = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1e-8,
    1e8,
    1e-30,
    1e30,
    1.0000001e30,
    1e99,
    1e100,
    -1e100,
    1.0000001e100,
    1e200,
    -1e300,
    1e300,
    1.7e308,
    5e-324,
    -5e-324,
    1e-300,
    math.inf,
    -math.inf,
    math.nan,
]
numbers = st.one_of(st.sampled_from(EXTREMES), st.floats(allow_nan=True, allow_infinity=True))
small_ints = st.integers(min_value=-2, max_value=6)
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
FAST = settings(max_examples=50, **SETTINGS)
SLOW = settings(max_examples=600, **SETTINGS)

# A few more multi-armed configurations at the ends of their hyperparameter ranges.
MULTI_ARMED: dict[str, Callable[[int, int | None], object]] = {
    **POLICY_FACTORIES,
    "Softmax-cold": lambda k, s: regretless.Softmax(k, temperature=1e-308, seed=s),
    "Softmax-hot": lambda k, s: regretless.Softmax(k, temperature=1e308, seed=s),
    "BayesUCB-extreme-prior": lambda k, s: regretless.BayesUCB(
        k, prior_alpha=1e100, prior_beta=5e-324, seed=s
    ),
    "ThompsonSampling-extreme-prior": lambda k, s: regretless.ThompsonSampling(
        k, prior_alpha=5e-324, prior_beta=1e300, seed=s
    ),
    "GaussianThompsonSampling-extreme-prior": lambda k, s: regretless.GaussianThompsonSampling(
        k, mu0=1e300, kappa0=5e-324, alpha0=1e300, beta0=1e-300, seed=s
    ),
}

CONTEXTUAL: dict[str, Callable[[], object]] = {
    "LinUCB": lambda: regretless.LinUCB(3, 2, seed=0),
    "LinUCB-lam-min": lambda: regretless.LinUCB(3, 2, lam=1e-30, seed=0),
    "LinUCB-lam-max": lambda: regretless.LinUCB(3, 2, lam=1e30, seed=0),
    "LinTS": lambda: regretless.LinTS(3, 2, seed=0),
    "LinGreedy": lambda: regretless.LinGreedy(3, 2, seed=0),
    "LogisticUCB": lambda: regretless.LogisticUCB(3, 2, seed=0),
    "LogisticTS": lambda: regretless.LogisticTS(3, 2, seed=0),
    "KLRegularizedUCB": lambda: regretless.KLRegularizedUCB(3, 2, seed=0),
    "GibbsGreedy": lambda: regretless.GibbsGreedy(3, 2, seed=0),
}

KERNEL: dict[str, Callable[[], object]] = {
    **{name: (lambda f=f: f(0)) for name, f in KERNEL_FACTORIES.items()},
    "GPUCB-extreme-kernel": lambda: regretless.GPUCB(
        KERNEL_CANDIDATES, regretless.RBF(1e-100, variance=1e100), noise=1e-30, seed=0
    ),
    "GPUCB-wide-kernel": lambda: regretless.GPUCB(
        KERNEL_CANDIDATES, regretless.RBF(1e100, variance=1e-100), seed=0
    ),
}

STREAM = ["UniformExploration", "NaiveEpsilonBest", "GameOfArms", "AggressiveSelectivePromotion"]


def attempt(method: Callable[..., object], *args, **kwargs) -> None:
    """Runs one call; the library may refuse it, with its own exceptions only."""
    try:
        method(*args, **kwargs)
    except regretless.RegretlessError:
        pass


# Each family's base class restores any of its classes from bytes.
FAMILY_BASES = (
    regretless.Bandit,
    regretless.ContextualBandit,
    regretless.KernelBandit,
    regretless.StreamBandit,
)


def assert_round_trip(p, continue_with: Callable[[object], list]) -> None:
    data = p.to_bytes()
    copies = [type(p).from_bytes(data)]
    copies += [base.from_bytes(data) for base in FAMILY_BASES if isinstance(p, base)]
    for q in copies:
        assert type(q) is type(p)
        assert q.to_bytes() == data
    expected = continue_with(p)
    for q in copies:
        assert continue_with(q) == expected
        assert q.to_bytes() == p.to_bytes()


# ---- multi-armed ----------------------------------------------------------------------

multi_armed_ops = st.lists(
    st.one_of(
        st.tuples(st.just("update"), small_ints, numbers),
        st.tuples(st.just("update_batch"), st.lists(st.tuples(small_ints, numbers), max_size=4)),
        st.tuples(st.just("select"), st.integers(0, 3)),
        st.tuples(st.just("merge_self")),
        st.tuples(st.just("merge_copy")),
        st.tuples(st.just("add_arm")),
        st.tuples(st.just("remove_arm"), small_ints),
    ),
    max_size=25,
)


def apply_multi_armed(p, ops) -> None:
    for op in ops:
        kind = op[0]
        if kind == "update":
            attempt(p.update, op[1], op[2])
        elif kind == "update_batch":
            arms = np.array([a for a, _ in op[1]], dtype=np.int64)
            rewards = np.array([r for _, r in op[1]], dtype=np.float64)
            attempt(p.update_batch, arms, rewards)
        elif kind == "select":
            attempt(p.select_batch, op[1])
            attempt(p.probabilities)
        elif kind == "merge_self":
            attempt(p.merge, p)
        elif kind == "merge_copy":
            attempt(p.merge, p.copy())
        elif kind == "add_arm":
            attempt(p.add_arm)
        else:
            attempt(p.remove_arm, op[1])
        assert np.all(np.isfinite(p.probabilities())), p.probabilities()


def continue_multi_armed(p) -> list:
    out = []
    for i in range(8):
        arm = p.select()
        attempt(p.update, arm, [0.0, 1.0, 0.25][i % 3])
        out.append((arm, p.probabilities().tolist()))
    return out


def check_multi_armed(name: str, ops) -> None:
    p = MULTI_ARMED[name](3, 0)
    apply_multi_armed(p, ops)
    assert_round_trip(p, continue_multi_armed)


@FAST
@given(st.sampled_from(sorted(MULTI_ARMED)), multi_armed_ops)
# The reported cases: sums that overflowed, the Poisson index that hung, counts that
# wrapped to 0 after 66 merges with itself.
@example("EpsilonGreedy", [("update", 0, 1e300), ("update", 0, -1e300)])
@example("GaussianThompsonSampling", [("update", 1, -1e300), ("update", 1, 1e300)])
@example("KLUCB-poisson", [("update", 0, 1e33), ("update", 1, 1.0), ("select", 1)])
@example("UCB1", [("update", 0, 1.0)] + [("merge_self",)] * 66)
def test_multi_armed_checkpoints_always_load(name: str, ops) -> None:
    check_multi_armed(name, ops)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(MULTI_ARMED)), multi_armed_ops)
def test_multi_armed_checkpoints_always_load_at_length(name: str, ops) -> None:
    check_multi_armed(name, ops)


# ---- contextual -----------------------------------------------------------------------

vectors = st.lists(numbers, min_size=2, max_size=2)
contextual_ops = st.lists(
    st.one_of(
        st.tuples(st.just("update"), vectors, small_ints, numbers, numbers),
        st.tuples(
            st.just("update_batch"),
            st.lists(st.tuples(vectors, small_ints, numbers, numbers), min_size=1, max_size=4),
        ),
        st.tuples(st.just("select"), vectors),
        st.tuples(st.just("merge_self")),
        st.tuples(st.just("add_arm")),
        st.tuples(st.just("remove_arm"), small_ints),
    ),
    max_size=20,
)


def apply_contextual(p, ops, hybrid: bool = False) -> None:
    def z_of(x):
        return {"z": np.array(x[::-1])} if hybrid else {}

    for op in ops:
        kind = op[0]
        if kind == "update":
            _, x, arm, r, w = op
            attempt(p.update, np.array(x), arm, r, w, **z_of(x))
        elif kind == "update_batch":
            X = np.array([row[0] for row in op[1]])
            arms = np.array([row[1] for row in op[1]], dtype=np.int64)
            rewards = np.array([row[2] for row in op[1]])
            weights = np.array([row[3] for row in op[1]])
            extra = {"Z": X[:, ::-1].copy()} if hybrid else {}
            attempt(p.update_batch, X, arms, rewards, weights, **extra)
        elif kind == "select":
            attempt(p.select, np.array(op[1]), **({"z": np.array(op[1])} if hybrid else {}))
        elif kind == "merge_self":
            attempt(p.merge, p)
        elif kind == "add_arm":
            attempt(p.add_arm)
        else:
            attempt(p.remove_arm, op[1])


def continue_contextual(p, hybrid: bool = False) -> list:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(6):
        x = rng.standard_normal(2)
        z = {"z": x[::-1].copy()} if hybrid else {}
        arm = p.select(x, **z)
        attempt(p.update, x, arm, float(rng.random()), **z)
        zs = {"Z": x[None, ::-1].copy()} if hybrid else {}
        out.append((arm, p.scores(x[None, :], **zs).tolist()))
    return out


def check_contextual(name: str, ops) -> None:
    p = CONTEXTUAL[name]()
    apply_contextual(p, ops)
    assert_round_trip(p, continue_contextual)


def check_hybrid(ops) -> None:
    p = regretless.HybridLinUCB(3, 2, 2, seed=0)
    apply_contextual(p, ops, hybrid=True)
    assert_round_trip(p, lambda q: continue_contextual(q, hybrid=True))


@FAST
@given(st.sampled_from(sorted(CONTEXTUAL)), contextual_ops)
@example("LinUCB", [("update", [1e8, 1e8], 0, 1.0, 1.0)])
@example("KLRegularizedUCB", [("update", [1e200, 0.0], 0, 1.0, 1.0)])
@example("LinTS", [("update_batch", [([1e8, 1e8], 0, 1.0, 1.0), ([1e8, 1e8], 0, 1.0, 1.0)])])
def test_contextual_checkpoints_always_load(name: str, ops) -> None:
    check_contextual(name, ops)


@FAST
@given(contextual_ops)
@example([("update", [1e8, 1e8], 0, 1.0, 1.0)])
def test_hybrid_checkpoints_always_load(ops) -> None:
    check_hybrid(ops)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(CONTEXTUAL)), contextual_ops)
def test_contextual_checkpoints_always_load_at_length(name: str, ops) -> None:
    check_contextual(name, ops)


@pytest.mark.slow
@SLOW
@given(contextual_ops)
def test_hybrid_checkpoints_always_load_at_length(ops) -> None:
    check_hybrid(ops)


# ---- kernel ---------------------------------------------------------------------------

kernel_ops = st.lists(
    st.one_of(
        st.tuples(st.just("update"), st.integers(-1, 41), numbers),
        st.tuples(st.just("select"), st.integers(0, 3)),
    ),
    max_size=15,
)


def apply_kernel(p, ops) -> None:
    for op in ops:
        if op[0] == "update":
            attempt(p.update, op[1], op[2])
        else:
            attempt(p.select_batch, op[1])


def continue_kernel(p) -> list:
    out = []
    for i in range(5):
        j = p.select()
        attempt(p.update, j, [0.1, -0.3, 0.7][i % 3])
        out.append((j, p.scores().tolist()))
    return out


def check_kernel(name: str, ops) -> None:
    p = KERNEL[name]()
    apply_kernel(p, ops)
    assert_round_trip(p, continue_kernel)


@FAST
@given(st.sampled_from(sorted(KERNEL)), kernel_ops)
def test_kernel_checkpoints_always_load(name: str, ops) -> None:
    check_kernel(name, ops)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(KERNEL)), kernel_ops)
def test_kernel_checkpoints_always_load_at_length(name: str, ops) -> None:
    check_kernel(name, ops)


# ---- streaming ------------------------------------------------------------------------

stream_ops = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), small_ints),
        st.tuples(st.just("pull"), numbers),
        st.tuples(st.just("pull_many"), st.lists(numbers, max_size=5)),
        st.tuples(st.just("update"), small_ints, numbers),
        st.tuples(st.just("finish")),
    ),
    max_size=30,
)


def apply_stream(p, ops) -> None:
    offered = 0
    for op in ops:
        kind = op[0]
        if kind == "offer":
            attempt(p.offer, offered if op[1] >= 0 else op[1])
            offered = p.n_offered
        elif kind == "pull":
            arm = p.next_pull()
            if arm is not None:
                attempt(p.update, arm, op[1])
        elif kind == "pull_many":
            arm = p.next_pull()
            if arm is not None:
                attempt(p.update_many, arm, np.array(op[1], dtype=np.float64))
        elif kind == "update":
            attempt(p.update, op[1], op[2])
        else:
            attempt(p.finish)


def continue_stream(p) -> list:
    out = []
    for i in range(20):
        arm = p.next_pull()
        if arm is None:
            if p.is_finished or p.n_offered >= p.n_arms:
                attempt(p.finish)
                break
            attempt(p.offer, p.n_offered)
            out.append(("offer", p.n_offered))
            continue
        attempt(p.update, arm, float(i % 2))
        out.append((arm, p.n_pulls))
    return out


def check_stream(name: str, ops) -> None:
    p = getattr(regretless, name)(6, 200, seed=0)
    apply_stream(p, ops)
    assert_round_trip(p, continue_stream)


@FAST
@given(st.sampled_from(STREAM), stream_ops)
def test_stream_checkpoints_always_load(name: str, ops) -> None:
    check_stream(name, ops)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(STREAM), stream_ops)
def test_stream_checkpoints_always_load_at_length(name: str, ops) -> None:
    check_stream(name, ops)


# ---- off-policy accumulator -----------------------------------------------------------

OPE_ESTIMATORS = {
    "ipw": lambda: ope.InverseProbabilityWeighting().accumulator(),
    "snipw": lambda: ope.SelfNormalizedInverseProbabilityWeighting().accumulator(),
    "dr-bootstrap": lambda: ope.DoublyRobust().accumulator(n_bootstrap=3, seed=1),
}

ope_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("push"),
            st.lists(
                st.tuples(numbers, st.integers(-1, 2), numbers, numbers), min_size=1, max_size=4
            ),
        ),
        st.tuples(st.just("merge_self")),
    ),
    max_size=10,
)


def apply_ope(acc, ops):
    for op in ops:
        if op[0] == "push":
            rows = op[1]
            reward = np.array([r[0] for r in rows])
            action = np.array([r[1] for r in rows], dtype=np.int64)
            pscore = np.array([r[2] for r in rows])
            dist = np.full((len(rows), 2), 0.5)
            q = np.array([[r[3], 0.5] for r in rows])
            attempt(acc.push, reward, action, pscore, dist, None, q)
        else:
            try:
                acc = acc.merge(acc)
            except regretless.RegretlessError:
                pass
    return acc


def continue_ope(acc) -> list:
    rng = np.random.default_rng(2)
    out = []
    for _ in range(3):
        n = 5
        dist = np.full((n, 2), 0.5)
        q = np.full((n, 2), 0.25)
        acc.push(rng.random(n), rng.integers(0, 2, n), np.full(n, 0.5), dist, None, q)
        out.append(repr(acc.result(0.1)))
    return out


def check_ope(name: str, ops) -> None:
    acc = apply_ope(OPE_ESTIMATORS[name](), ops)
    assert_round_trip(acc, continue_ope)


@FAST
@given(st.sampled_from(sorted(OPE_ESTIMATORS)), ope_ops)
def test_off_policy_accumulator_checkpoints_always_load(name: str, ops) -> None:
    check_ope(name, ops)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(OPE_ESTIMATORS)), ope_ops)
def test_off_policy_accumulator_checkpoints_always_load_at_length(name: str, ops) -> None:
    check_ope(name, ops)
