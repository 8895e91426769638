"""How the conformance suite drives each family of stateful classes.

One adapter per family (multi-armed, contextual with hybrid, kernel, streaming, the OPE
accumulator) gives the checks of tests/test_conformance.py one handle on every class: make it,
play it online, learn a data set in one batch call or in a loop of single calls, merge, list
invalid calls, hammer it from threads. Each check is then written once, over every
(family, name) pair of the factory tables in conftest.py.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import regretless
from conftest import (
    ACCUMULATOR_FACTORIES,
    BWK_BUDGETS,
    BWK_FACTORIES,
    CASCADE_FACTORIES,
    CASCADE_ITEMS,
    CASCADING_RL_FACTORIES,
    CONTEXTUAL_ARMS,
    CONTEXTUAL_DIM,
    CONTEXTUAL_FACTORIES,
    CONTEXTUAL_SHARED_DIM,
    DYNLIN_ACTIONS,
    DYNLIN_FACTORIES,
    HATCH_CENTERS,
    HATCH_FACTORIES,
    KERNEL_FACTORIES,
    NOT_MERGEABLE,
    POLICY_FACTORIES,
    REACTIVE_ARMS,
    REACTIVE_FACTORIES,
    SHARED_SKETCH_DIM,
    SHARED_SKETCH_FACTORIES,
    STREAM_ARMS,
    STREAM_FACTORIES,
    UNIT_REWARDS,
    bernoulli_stream,
    cascading_rewards,
    play,
    play_kernel,
)

InvalidCall = tuple[str, Callable[[], object], type[Exception]]


@dataclass
class EligibleCalls:
    """A family's decisions for one fixed context, each taking `eligible=` (None for all)."""

    n_arms: int
    select: Callable[[Any], int]
    # n decisions; eligible is one set for all of them or (per_row_masks) an (n, n_arms) mask.
    select_batch: Callable[[Any, int], np.ndarray]
    scores: Callable[[Any], np.ndarray]
    probabilities: Callable[[Any], np.ndarray] | None = None
    # Draws behind Monte Carlo probabilities (0: exact).
    monte_carlo: int = 0
    per_row_masks: bool = True
    # select_batch returns n distinct arms (kernel batches) instead of n decisions.
    distinct_batch: bool = False
    # A decision may be None (a budgeted policy skipping a user); probabilities are then
    # the law of the arm given that one is chosen.
    may_skip: bool = False


class Family:
    """The handle a check has on one family; subclasses fill in how the family is driven."""

    label = ""
    factories: Mapping[str, Callable[..., Any]] = {}
    # Names whose decisions depend on the seed: a different seed must change them.
    randomized: frozenset[str] = frozenset()
    # Names that do not merge -> (exception, message pattern), or None when the class has no
    # merge method at all.
    not_mergeable: Mapping[str, tuple[type[Exception], str] | None] = {}
    # Names whose merge is approximate (within a stated bound, tested by their own tests):
    # the merge-equals-concatenated-data check skips them.
    merge_approximate: frozenset[str] = frozenset()
    # select_batch(...) is the loop of select() (and leaves the same state).
    select_batch_is_loop = False
    # learn(batched=True) is a batch call (else learn is always the loop). The batch leaves
    # the loop's exact bytes when batch_rtol is 0 or the name is in batch_exact; otherwise
    # the observed model agrees to batch_rtol (and atol).
    batch_learning = True
    batch_rtol = 0.0
    batch_exact: frozenset[str] = frozenset()
    batch_rows = 120  # rows of the batch check: three pieces of learn_chunk rows and the rest
    learn_chunk = 30
    # Merging two parts agrees with learning both at once to merge_rtol (and atol), on the
    # observed model; the two parts are made with the seeds merge_seeds.
    merge_rtol = 1e-12
    atol = 0.0
    merge_seeds = (1, 2)

    def make(self, name: str, seed: int | None = 0) -> Any:
        return self.factories[name](seed)

    def repr_prefix(self, obj: Any) -> str:
        """How the repr of a fresh `make(name)` starts: the class and its sizes."""
        raise NotImplementedError

    def make_shard(self, name: str, seed: int, first_row: int) -> Any:
        """An empty object to learn rows [first_row, ...) of a data set split for merging."""
        return self.make(name, seed)

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        """Online use for `steps` rounds with rewards from `seed`; returns the decisions."""
        raise NotImplementedError

    def observe(self, obj: Any) -> dict[str, Any]:
        """The model as its public accessors show it."""
        raise NotImplementedError

    def data(self, n: int, seed: int) -> Any:
        raise NotImplementedError

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        raise NotImplementedError

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        raise NotImplementedError

    def merge(self, a: Any, b: Any) -> Any:
        """Merges b into a; returns the merged object."""
        a.merge(b)
        return a

    def mismatched(self, name: str) -> list[tuple[Any, type[Exception], str]]:
        """Objects that `make(name)` must refuse to merge with: (other, exception, pattern)."""
        return []

    def counts(self, obj: Any) -> np.ndarray | None:
        """Observations per arm, where the class keeps them."""
        return None

    def select_batch_and_loop(self, p: Any, q: Any) -> tuple[list, list]:
        raise NotImplementedError

    def interrupt(self, obj: Any) -> None:
        """Leaves `obj` in the middle of an operation (a stream's request with pulls pending),
        the state round trips and invalid calls are tried in."""

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        raise NotImplementedError

    def oversized_calls(self, obj: Any) -> list[InvalidCall]:
        """Calls asking for more than could ever be allocated: refused before allocating."""
        return []

    def hammer(self, obj: Any, thread: int) -> int:
        """One thread's share of concurrent use; returns the observations it had learned."""
        raise NotImplementedError

    def n_learned(self, obj: Any) -> int:
        raise NotImplementedError

    def check_hammered(self, obj: Any, name: str) -> None:
        """What the threads of `hammer` must have left, beyond the count of observations."""

    def check_consistent(self, obj: Any) -> None:
        """The object's invariants (its counters agree with each other)."""

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        """The decisions of `obj` with `eligible=`, or None when the family makes no choice
        among arms (streams choose by protocol, accumulators not at all)."""
        return None


def assert_same(a: dict[str, Any], b: dict[str, Any], rtol: float = 0.0, atol: float = 0.0):
    """Each observed quantity equal, exactly (rtol == 0) or to the tolerances."""
    assert a.keys() == b.keys()
    for key in a:
        if rtol == 0.0 and atol == 0.0 or a[key] is None or b[key] is None:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)


# ---- multi-armed --------------------------------------------------------------------------


class MultiArmed(Family):
    label = "bandit"
    n_arms = 4
    factories = POLICY_FACTORIES
    # Index policies draw on the generator only to break ties, SuccessiveElimination only
    # when arms are equal; every other policy explores at random.
    randomized = frozenset(POLICY_FACTORIES) - {
        "UCB1", "UCBV", "MOSS", "MOSS-horizon", "KLUCB", "KLUCB-plus", "KLUCB-gaussian",
        "KLUCB-poisson", "BayesUCB", "SuccessiveElimination", "SlidingWindowUCB",
        "SlidingWindowUCB-horizon", "DiscountedUCB", "DiscountedUCB-horizon",
        "UCB2", "UCB2-alpha",
    }  # fmt: skip
    not_mergeable = {
        name: (regretless.IncompatibleError, "does not support merge") for name in NOT_MERGEABLE
    }
    select_batch_is_loop = True

    def make(self, name: str, seed: int | None = 0, n_arms: int | None = None) -> Any:
        return self.factories[name](n_arms or self.n_arms, seed)

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(n_arms={self.n_arms}"

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        return play(obj, steps, seed)

    def observe(self, obj: Any) -> dict[str, Any]:
        return {
            "counts": obj.counts(),
            "means": obj.means(),
            "scores": obj.scores(),
            "probabilities": obj.probabilities(),
            "n_updates": obj.n_updates,
        }

    def data(self, n: int, seed: int) -> Any:
        return bernoulli_stream(n, self.n_arms, seed)

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        arms, rewards = data
        return (arms[:at], rewards[:at]), (arms[at:], rewards[at:])

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        arms, rewards = data
        if batched:
            obj.update_batch(arms, rewards)
        else:
            for a, r in zip(arms, rewards, strict=True):
                obj.update(int(a), float(r))

    def mismatched(self, name: str) -> list[tuple[Any, type[Exception], str]]:
        return [
            (self.make(name, n_arms=self.n_arms + 1), regretless.IncompatibleError, "arms"),
            (regretless.BernoulliEnv([0.5]), regretless.DTypeError, "other"),
        ]

    def counts(self, obj: Any) -> np.ndarray | None:
        return obj.counts()

    def select_batch_and_loop(self, p: Any, q: Any) -> tuple[list, list]:
        batch = p.select_batch(50)
        assert batch.dtype == np.int64 and batch.shape == (50,)
        return batch.tolist(), [q.select() for _ in range(50)]

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        thompson = "ThompsonSampling" in type(obj).__name__
        return EligibleCalls(
            n_arms=obj.n_arms,
            select=lambda e: obj.select(eligible=e),
            select_batch=lambda e, n: obj.select_batch(n, eligible=e),
            scores=lambda e: obj.scores(eligible=e),
            probabilities=lambda e: obj.probabilities(eligible=e),
            monte_carlo=10_000 if thompson else 0,
        )

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        k = self.n_arms
        batches = [
            ([0, k], [1.0, 1.0], regretless.ArmError),
            ([0, -1], [1.0, 1.0], regretless.ArmError),
            ([0, 1], [1.0, np.nan], regretless.RewardError),
            ([0, 1], [1.0, np.inf], regretless.RewardError),
            ([0, 1, 2], [1.0, 1.0], regretless.ShapeError),
            (np.array([0.0, 1.0]), [1.0, 1.0], regretless.DTypeError),
            (np.zeros((2, 1), dtype=np.int64), [1.0, 1.0], regretless.ShapeError),
            ([0, 1], ["a", "b"], regretless.DTypeError),
        ]
        if name in UNIT_REWARDS:
            batches += [
                ([0, 1], [1.0, 1.5], regretless.RewardError),
                ([0, 1], [-0.1, 1.0], regretless.RewardError),
            ]
        if name == "KLUCB-poisson":
            batches.append(([0, 1], [3.0, -1.0], regretless.RewardError))
        singles = [
            (k, 1.0, regretless.ArmError),
            (-1, 1.0, regretless.ArmError),
            (2**70, 1.0, regretless.ArmError),
            (1.0, 1.0, regretless.DTypeError),
            ("0", 1.0, regretless.DTypeError),
            (0, float("nan"), regretless.RewardError),
            (0, float("inf"), regretless.RewardError),
            (0, "x", regretless.DTypeError),
        ]
        calls: list[InvalidCall] = [
            (f"update_batch({a!r}, {r!r})", lambda a=a, r=r: obj.update_batch(a, r), e)
            for a, r, e in batches
        ]
        calls += [
            (f"update({a!r}, {r!r})", lambda a=a, r=r: obj.update(a, r), e) for a, r, e in singles
        ]
        calls.append(
            ("select_batch(-1)", lambda: obj.select_batch(-1), regretless.InvalidParameterError)
        )
        return calls

    def oversized_calls(self, obj: Any) -> list[InvalidCall]:
        # 2**62 decisions cannot be allocated: refused before any work.
        refused = regretless.AllocationError
        return [("select_batch(2**62)", lambda: obj.select_batch(2**62), refused)]

    def hammer(self, obj: Any, thread: int) -> int:
        rng = np.random.default_rng(thread)
        learned = 0
        for i in range(300):
            arm = obj.select()
            obj.update(arm, float(rng.random() < 0.5))
            learned += 1
            if i % 50 == 0:
                obj.update_batch(np.array([0, 1]), np.array([1.0, 0.0]))
                learned += 2
                obj.select_batch(20)
                obj.to_bytes()
                obj.probabilities()
        return learned

    def n_learned(self, obj: Any) -> int:
        return obj.n_updates

    def check_consistent(self, obj: Any) -> None:
        assert obj.counts().sum() == obj.n_updates


# ---- contextual (linear, logistic, Gibbs, hybrid) -------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _row(X: np.ndarray, i: int, arm: int) -> np.ndarray:
    """Row i of shared contexts (n, d), or arm's row of per-arm contexts (n, arms, d)."""
    return X[i, arm] if X.ndim == 3 else X[i]


class Contextual(Family):
    label = "contextual"
    factories = CONTEXTUAL_FACTORIES
    k, d, s = CONTEXTUAL_ARMS, CONTEXTUAL_DIM, CONTEXTUAL_SHARED_DIM
    # Decisions sampled from a posterior or a distribution (the UCB ones only break ties).
    randomized = frozenset(
        name
        for name in CONTEXTUAL_FACTORIES
        if name.split("-")[0]
        in {"LinTS", "LinGreedy", "KLRegularizedUCB", "GibbsGreedy", "LogisticTS"}
    )
    randomized |= frozenset(
        name for name in CONTEXTUAL_FACTORIES if name.startswith("SketchedLinTS")
    )
    # The Laplace posterior of each row depends on the order of the rows: no sufficient
    # statistics to add up.
    not_mergeable = {
        name: (regretless.IncompatibleError, "merge")
        for name in CONTEXTUAL_FACTORIES
        if name.startswith("Logistic")
    }
    # Merged Frequent Directions sketches equal the sketch of the combined data only when
    # they hold every dimension (the "-exact" configurations); smaller ones merge within the
    # Frequent Directions bound (tests/test_sketch.py and sketch.rs test that bound).
    merge_approximate = frozenset(
        name
        for name in CONTEXTUAL_FACTORIES
        if name.startswith("Sketched") and "-exact" not in name
    )
    # Discounted sums weight each row by its age: two replicas' rows have no common order.
    not_mergeable.update(
        {
            name: (regretless.IncompatibleError, "decay")
            for name in CONTEXTUAL_FACTORIES
            if name.endswith("-decay")
        }
    )
    select_batch_is_loop = True
    # The batch engine sums the Gram matrices in another order than the loop of rank-one
    # updates, and merge adds them: equal to rounding, read through solved quantities
    # (coefficients, widths), which differ by up to 3e-13 relative today; 1e-10 leaves room
    # for another factorization while a single row more or less moves them by far more.
    batch_rtol = 1e-10
    merge_rtol = 1e-10
    atol = 1e-13
    # The logistic batch is the loop of its per-row Newton updates.
    batch_exact = frozenset(name for name in CONTEXTUAL_FACTORIES if name.startswith("Logistic"))
    # The ridge batch gathers rows in blocks of 2048: the last piece spans two.
    batch_rows = 2600
    theta = np.random.default_rng(99).standard_normal((CONTEXTUAL_ARMS, CONTEXTUAL_DIM))
    queries = np.random.default_rng(98).standard_normal((8, CONTEXTUAL_DIM))
    shared_queries = np.random.default_rng(97).standard_normal((8, CONTEXTUAL_SHARED_DIM))

    # A reference policy for the KL-regularized ones, given at every other step of play.
    pi_ref = np.array([0.2, 0.5, 0.3])

    @staticmethod
    def hybrid(obj: Any) -> bool:
        return hasattr(obj, "shared_dim")

    @staticmethod
    def takes_reference(obj: Any) -> bool:
        return isinstance(obj, (regretless.KLRegularizedUCB, regretless.GibbsGreedy))

    def _z(self, obj: Any, Z: np.ndarray) -> np.ndarray:
        return Z[..., : getattr(obj, "shared_dim", 0)]

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(n_arms={self.k}, dim={self.d}"

    def data(self, n: int, seed: int) -> Any:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, self.d))
        Z = rng.standard_normal((n, self.s))
        arms = rng.integers(0, self.k, n)
        rewards = (rng.random(n) < _sigmoid(np.einsum("ij,ij->i", X, self.theta[arms]))) * 1.0
        # Every other block of 30 rows has unit weights (learned through the calls without
        # weights when a piece holds only those).
        weights = np.where(np.arange(n) // 30 % 2 == 1, 1.0, rng.uniform(0.5, 2.0, n))
        return X, Z, arms, rewards, weights

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        return tuple(v[:at] for v in data), tuple(v[at:] for v in data)

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        X, Z, arms, rewards, weights = data
        hybrid = self.hybrid(obj)
        weighted = not np.all(weights == 1.0)
        if batched:
            args = (X, arms, rewards, weights) if weighted else (X, arms, rewards)
            if hybrid:
                obj.update_batch(*args, Z=self._z(obj, Z))
            else:
                obj.update_batch(*args)
            return
        for i in range(len(arms)):
            a = int(arms[i])
            args = (_row(X, i, a), a, float(rewards[i]))
            if weighted:
                args += (float(weights[i]),)
            if hybrid:
                obj.update(*args, z=self._z(obj, _row(Z, i, a)))
            else:
                obj.update(*args)

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        X, Z, _, _, _ = self.data(steps, seed)
        u = np.random.default_rng(seed + 1).random(steps)
        hybrid = self.hybrid(obj)
        chosen = []
        for i in range(steps):
            if hybrid:
                arm = obj.select(X[i], self._z(obj, Z[i]))
            elif self.takes_reference(obj) and i % 2:
                arm = obj.select(X[i], self.pi_ref)
            else:
                arm = obj.select(X[i])
            x = _row(X, i, arm)
            reward = float(u[i] < _sigmoid(x @ self.theta[arm]))
            if hybrid:
                obj.update(x, arm, reward, z=self._z(obj, _row(Z, i, arm)))
            else:
                obj.update(x, arm, reward)
            chosen.append(arm)
        return chosen

    def observe(self, obj: Any) -> dict[str, Any]:
        Xq = self.queries
        if self.hybrid(obj):
            Zq = self._z(obj, self.shared_queries)
            extra = {
                "shared_coefficients": obj.shared_coefficients(),
                "mean": obj.mean(Xq, Zq),
                "width": obj.width(Xq, Zq),
            }
        else:
            extra = {"mean": obj.mean(Xq), "width": obj.width(Xq)}
        return {
            "coefficients": obj.coefficients(),
            "counts": obj.counts(),
            "n_updates": obj.n_updates,
            **extra,
        }

    def mismatched(self, name: str) -> list[tuple[Any, type[Exception], str]]:
        p = self.make(name)
        if self.hybrid(p):
            others = [
                (regretless.HybridLinUCB(self.k + 1, self.d, p.shared_dim), "arms"),
                (
                    regretless.HybridLinUCB(self.k, self.d, p.shared_dim + 1),
                    f"shared_dim={p.shared_dim + 1} into one with .*shared_dim={p.shared_dim}",
                ),
            ]
        else:
            others = [(type(p)(self.k + 1, self.d), "arms"), (type(p)(self.k, self.d + 1), "dim")]
        out = [(o, regretless.IncompatibleError, match) for o, match in others]
        out.append((regretless.UCB1(self.k), regretless.DTypeError, "other"))
        return out

    def counts(self, obj: Any) -> np.ndarray | None:
        return obj.counts()

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        X, Z, _, _, _ = self.data(1, seed=53)
        sampled = type(obj).__name__ in {"LinTS", "LogisticTS", "SketchedLinTS"}

        def rows(n: int) -> tuple[np.ndarray, ...]:
            Xn = np.repeat(X, n, axis=0)
            if self.hybrid(obj):
                return Xn, np.repeat(self._z(obj, Z), n, axis=0)
            if self.takes_reference(obj):
                return Xn, np.repeat(self.pi_ref[None], n, axis=0)
            return (Xn,)

        return EligibleCalls(
            n_arms=obj.n_arms,
            select=lambda e: obj.select(*(r[0] for r in rows(1)), eligible=e),
            select_batch=lambda e, n: obj.select_batch(*rows(n), eligible=e),
            # Scores do not depend on a reference policy.
            scores=lambda e: obj.scores(*rows(1)[: 2 if self.hybrid(obj) else 1], eligible=e)[0],
            probabilities=lambda e: obj.probabilities(*rows(1), eligible=e)[0],
            monte_carlo=4096 if sampled else 0,
        )

    def select_batch_and_loop(self, p: Any, q: Any) -> tuple[list, list]:
        X, Z, _, _, _ = self.data(60, seed=31)
        if self.hybrid(p):
            Z = self._z(p, Z)
            batch = p.select_batch(X, Z)
            loop = [q.select(x, z) for x, z in zip(X, Z, strict=True)]
        elif self.takes_reference(p):
            refs = np.random.default_rng(32).dirichlet(np.ones(self.k), size=len(X))
            batch = p.select_batch(X, refs)
            loop = [q.select(x, ref) for x, ref in zip(X, refs, strict=True)]
        else:
            batch = p.select_batch(X)
            loop = [q.select(x) for x in X]
        assert batch.dtype == np.int64 and batch.shape == (60,)
        return batch.tolist(), loop

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        X, Z, arms, rewards, weights = Contextual.data(self, 6, seed=41)
        hybrid = self.hybrid(obj)
        Z = self._z(obj, Z)
        kw = {"Z": Z} if hybrid else {}
        kw1 = {"z": Z[0]} if hybrid else {}
        nan_x = X.copy()
        nan_x[2, 1] = np.nan
        bad_arms = arms.copy()
        bad_arms[3] = self.k

        def batch(X=X, arms=arms, rewards=rewards, weights=weights, **extra):
            return lambda: obj.update_batch(X, arms, rewards, weights, **{**kw, **extra})

        def single(x=X[0], arm=0, reward=1.0, weight=1.0, **extra):
            return lambda: obj.update(x, arm, reward, weight, **{**kw1, **extra})

        def select(x):
            return lambda: obj.select(x, Z[0]) if hybrid else obj.select(x)

        def select_batch(X):
            return lambda: obj.select_batch(X, Z) if hybrid else obj.select_batch(X)

        calls: list[InvalidCall] = [
            ("arm out of range", batch(arms=bad_arms), regretless.ArmError),
            ("negative arm", batch(arms=-arms - 1), regretless.ArmError),
            ("float arms", batch(arms=arms.astype(float)), regretless.DTypeError),
            ("NaN reward", batch(rewards=np.where(arms >= 0, np.nan, 0)), regretless.RewardError),
            ("inf reward", batch(rewards=np.full(6, np.inf)), regretless.RewardError),
            ("NaN context", batch(X=nan_x), regretless.InvalidParameterError),
            ("wrong dim", batch(X=X[:, :-1]), regretless.ShapeError),
            ("1-D contexts", batch(X=X[:, 0]), regretless.ShapeError),
            ("string contexts", batch(X=X.astype(str)), regretless.DTypeError),
            ("length mismatch", batch(arms=arms[:-1]), regretless.ShapeError),
            ("negative weight", batch(weights=-weights), regretless.InvalidParameterError),
            ("NaN weight", batch(weights=weights * np.nan), regretless.InvalidParameterError),
            ("single: arm out of range", single(arm=self.k), regretless.ArmError),
            ("single: NaN reward", single(reward=np.nan), regretless.RewardError),
            ("single: inf reward", single(reward=np.inf), regretless.RewardError),
            ("single: wrong dim", single(x=X[0, :-1]), regretless.ShapeError),
            ("single: NaN context", single(x=nan_x[2]), regretless.InvalidParameterError),
            ("single: negative weight", single(weight=-1.0), regretless.InvalidParameterError),
            ("single: float arm", single(arm=1.0), regretless.DTypeError),
            ("select: wrong dim", select(X[0, :-1]), regretless.ShapeError),
            ("select: strings", select(["a"] * self.d), regretless.DTypeError),
            ("select: NaN context", select(nan_x[2]), regretless.InvalidParameterError),
            ("select_batch: wrong dim", select_batch(X[:, :-1]), regretless.ShapeError),
            ("select_batch: NaN context", select_batch(nan_x), regretless.InvalidParameterError),
        ]
        if name.startswith(("KLRegularizedUCB", "GibbsGreedy")):
            # The reference policy of the KL-regularized objective.
            calls += [
                (
                    "pi_ref: wrong length",
                    lambda: obj.select(X[0], [0.5, 0.5]),
                    regretless.ShapeError,
                ),
                (
                    "pi_ref: not a distribution",
                    lambda: obj.select(X[0], [0.5, 0.5, 0.5]),
                    regretless.InvalidParameterError,
                ),
                (
                    "pi_ref: NaN",
                    lambda: obj.select_batch(X, np.full((6, self.k), np.nan)),
                    regretless.InvalidParameterError,
                ),
            ]
        if name.startswith("Logistic"):
            calls += [
                ("reward above 1", batch(rewards=rewards + 1.5), regretless.RewardError),
                ("single: reward below 0", single(reward=-0.5), regretless.RewardError),
            ]
        if hybrid and obj.shared_dim > 0:
            calls += [
                ("missing Z", lambda: obj.update_batch(X, arms, rewards), regretless.DTypeError),
                (
                    "wrong shared dim",
                    batch(Z=np.ones((6, obj.shared_dim + 1))),
                    regretless.ShapeError,
                ),
                ("single: wrong z", single(z=np.ones(obj.shared_dim + 1)), regretless.ShapeError),
            ]
        return calls

    def oversized_calls(self, obj: Any) -> list[InvalidCall]:
        X, Z = self.queries, self._z(obj, self.shared_queries)
        args = (X, 2**62, Z) if self.hybrid(obj) else (X, 2**62)
        return [("top_k(X, 2**62)", lambda: obj.top_k(*args), regretless.InvalidParameterError)]

    def hammer(self, obj: Any, thread: int) -> int:
        X, Z, arms, rewards, _ = Contextual.data(self, 100, seed=thread)
        hybrid = self.hybrid(obj)
        Z = self._z(obj, Z)
        learned = 0
        for i in range(100):
            if hybrid:
                obj.update(X[i], obj.select(X[i], Z[i]), float(rewards[i]), z=Z[i])
            else:
                obj.update(X[i], obj.select(X[i]), float(rewards[i]))
            learned += 1
            if i % 25 == 0:
                if hybrid:
                    obj.update_batch(X[:10], arms[:10], rewards[:10], Z=Z[:10])
                    obj.select_batch(X, Z)
                else:
                    obj.update_batch(X[:10], arms[:10], rewards[:10])
                    obj.select_batch(X)
                learned += 10
                obj.to_bytes()
        return learned

    def n_learned(self, obj: Any) -> int:
        return obj.n_updates

    def check_consistent(self, obj: Any) -> None:
        assert obj.counts().sum() == obj.n_updates
        assert np.all(np.isfinite(obj.coefficients()))


class PerArmContextual(Contextual):
    """HybridLinUCB given a context per arm: X (n, arms, dim) and Z (n, arms, shared_dim)."""

    label = "contextual-per-arm"
    factories = {
        name: factory
        for name, factory in CONTEXTUAL_FACTORIES.items()
        if name.startswith("HybridLinUCB")
    }
    randomized = frozenset()
    not_mergeable = {}
    batch_exact = frozenset()

    def data(self, n: int, seed: int) -> Any:
        X, Z, arms, rewards, weights = super().data(n, seed)
        rng = np.random.default_rng(seed + 7)
        # Each arm sees its own perturbation of the row's context.
        X = X[:, None, :] + 0.5 * rng.standard_normal((n, self.k, self.d))
        Z = Z[:, None, :] + 0.5 * rng.standard_normal((n, self.k, self.s))
        return X, Z, arms, rewards, weights

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        X, Z, arms, rewards, _ = self.data(6, seed=43)
        Z = self._z(obj, Z)
        nan_x = X.copy()
        nan_x[2, 1, 0] = np.nan
        return [
            *super().invalid_calls(name, obj),
            (
                "per-arm: wrong arm count",
                lambda: obj.update_batch(X[:, :-1], arms, rewards, Z=Z[:, :-1]),
                regretless.ShapeError,
            ),
            (
                "per-arm: NaN context",
                lambda: obj.update_batch(nan_x, arms, rewards, Z=Z),
                regretless.InvalidParameterError,
            ),
            (
                "per-arm select: wrong arm count",
                lambda: obj.select(X[0, :-1], Z[0, :-1]),
                regretless.ShapeError,
            ),
        ]


# ---- kernel (GPUCB, BKB) ------------------------------------------------------------------


class Kernel(Family):
    label = "kernel"
    factories = KERNEL_FACTORIES
    # BKB resamples its dictionary from the generator at every step; GPUCB only breaks ties.
    randomized = frozenset(name for name in KERNEL_FACTORIES if name.startswith("BKB"))
    # A posterior over a fixed candidate set: no merge method, no batched update.
    not_mergeable = dict.fromkeys(KERNEL_FACTORIES)
    batch_learning = False

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(n_candidates=40, dim=2, kernel="

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        return play_kernel(obj, steps, seed)

    def observe(self, obj: Any) -> dict[str, Any]:
        mean, var = obj.posterior()
        return {
            "scores": obj.scores(),
            "counts": obj.counts(),
            "t": obj.t,
            "mean": mean,
            "var": var,
        }

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        n = obj.n_candidates
        calls: list[InvalidCall] = [
            (f"update({i!r}, {r!r})", lambda i=i, r=r: obj.update(i, r), e)
            for i, r, e in [
                (n, 0.5, regretless.ArmError),
                (-1, 0.5, regretless.ArmError),
                (1.0, 0.5, regretless.DTypeError),
                (0, float("nan"), regretless.RewardError),
                (0, float("inf"), regretless.RewardError),
                (0, "x", regretless.DTypeError),
            ]
        ]
        calls += [
            (
                f"select_batch({b})",
                lambda b=b: obj.select_batch(b),
                regretless.InvalidParameterError,
            )
            for b in (0, n + 1)
        ]
        calls.append(
            ("posterior: wrong dim", lambda: obj.posterior(np.zeros((3, 5))), regretless.ShapeError)
        )
        return calls

    def oversized_calls(self, obj: Any) -> list[InvalidCall]:
        refused = regretless.InvalidParameterError
        return [("select_batch(2**62)", lambda: obj.select_batch(2**62), refused)]

    def hammer(self, obj: Any, thread: int) -> int:
        rng = np.random.default_rng(thread)
        for i in range(25):
            obj.update(obj.select(), float(rng.standard_normal()))
            if i % 10 == 0:
                obj.select_batch(5)
                obj.posterior()
                obj.to_bytes()
        return 25

    def n_learned(self, obj: Any) -> int:
        return obj.t

    def check_consistent(self, obj: Any) -> None:
        assert obj.counts().sum() == obj.t

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        return EligibleCalls(
            n_arms=obj.n_candidates,
            select=lambda e: obj.select(eligible=e),
            select_batch=lambda e, n: obj.select_batch(n, eligible=e),
            scores=lambda e: obj.scores(eligible=e),
            per_row_masks=False,
            distinct_batch=True,
        )


# ---- single-pass streaming ------------------------------------------------------------------


class Stream(Family):
    label = "stream"
    factories = STREAM_FACTORIES
    # GameOfArms samples its fallback arms; the others pull a fixed schedule (their seed
    # only breaks ties).
    randomized = frozenset(name for name in STREAM_FACTORIES if name.startswith("GameOfArms"))
    # One pass over a stream that cannot be split: no merge method.
    not_mergeable = dict.fromkeys(STREAM_FACTORIES)
    learn_chunk = 4  # arriving arms: the last piece ends the stream
    means = np.random.default_rng(77).random(STREAM_ARMS)

    def _drive(self, obj: Any, offers: int, rng: np.random.Generator, batched: bool) -> list:
        """Pays what is pending, offers the next `offers` arms paying every pull they ask for,
        and finishes (paying the commit) when the last arm has come; returns the requests."""
        trace: list = []

        def pay() -> None:
            while (arm := obj.next_pull()) is not None:
                n = obj.pending_pulls
                trace.append((arm, n))
                rewards = (rng.random(n) < self.means[arm]).astype(float)
                if batched:
                    obj.update_many(arm, rewards)
                else:
                    for r in rewards:
                        obj.update(arm, float(r))

        pay()
        for _ in range(offers):
            if obj.n_offered == obj.n_arms:
                break
            obj.offer(obj.n_offered)
            pay()
        if obj.n_offered == obj.n_arms and not obj.is_finished:
            obj.finish()
            pay()
            trace.append(("committed", obj.committed_arm))
        return trace

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(n_arms={STREAM_ARMS}, horizon="

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        # A step is an arriving arm (with all the pulls it asks for).
        return self._drive(obj, steps, np.random.default_rng(seed), batched=True)

    def observe(self, obj: Any) -> dict[str, Any]:
        return {
            "n_offered": obj.n_offered,
            "n_pulls": obj.n_pulls,
            "pending": (obj.next_pull(), obj.pending_pulls),
            "arms_in_memory": obj.arms_in_memory(),
            "committed": (obj.is_finished, obj.committed_arm),
        }

    def data(self, n: int, seed: int) -> Any:
        # n arriving arms, each paid with rewards from its own generator.
        return [seed * 10_000 + i for i in range(n)]

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        return data[:at], data[at:]

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        for seed in data:
            self._drive(obj, 1, np.random.default_rng(seed), batched)

    def interrupt(self, obj: Any) -> None:
        if obj.n_offered < obj.n_arms:
            obj.offer(obj.n_offered)

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        arm = obj.next_pull()
        assert arm is not None and obj.pending_pulls > 1
        calls: list[InvalidCall] = [
            (f"update({a!r}, {r!r})", lambda a=a, r=r: obj.update(a, r), e)
            for a, r, e in [
                (10**6, 1.0, regretless.ArmError),
                (-1, 1.0, regretless.ArmError),
                (float(arm), 1.0, regretless.DTypeError),
                (arm, float("nan"), regretless.RewardError),
                (arm, float("inf"), regretless.RewardError),
                (arm, 1.5, regretless.RewardError),
                (arm, -0.1, regretless.RewardError),
                (arm, "x", regretless.DTypeError),
            ]
        ]
        calls += [
            (f"update_many({label})", lambda r=r: obj.update_many(arm, r), e)
            for label, r, e in [
                ("NaN", [1.0, np.nan], regretless.RewardError),
                ("inf", [1.0, np.inf], regretless.RewardError),
                ("2-D", [[1.0]], regretless.ShapeError),
                ("strings", ["a"], regretless.DTypeError),
                ("too many", np.ones(obj.pending_pulls + 1), regretless.ShapeError),
            ]
        ]
        calls += [
            ("offer while pending", lambda: obj.offer(10**6), regretless.ArmError),
            ("finish while pending", obj.finish, regretless.ArmError),
        ]
        return calls

    def hammer(self, obj: Any, thread: int) -> int:
        # Threads race for the same pulls and offers: a lost race is a refused call (the
        # project's ArmError), never a corrupted state.
        rng = np.random.default_rng(thread)
        learned = 0
        for _ in range(3000):
            arm = obj.next_pull()
            try:
                if arm is not None:
                    obj.update(arm, float(rng.random() < self.means[arm % STREAM_ARMS]))
                    learned += 1
                elif obj.n_offered < obj.n_arms:
                    obj.offer(next(self._ids))
                else:
                    return learned
            except regretless.ArmError:
                pass
        return learned

    _ids = itertools.count(1000)

    def n_learned(self, obj: Any) -> int:
        return obj.n_pulls

    def check_consistent(self, obj: Any) -> None:
        assert len(obj.arms_in_memory()) <= obj.max_arms_in_memory
        assert obj.n_pulls <= obj.horizon and obj.n_offered <= obj.n_arms


# ---- the OPE accumulator --------------------------------------------------------------------


class Accumulator(Family):
    label = "ope"
    factories = ACCUMULATOR_FACTORIES
    # Poisson-bootstrap weights come from the seed (keyed by row index).
    randomized = frozenset(name for name in ACCUMULATOR_FACTORIES if "bootstrap" in name)
    merge_seeds = (1, 1)  # shards of one bootstrap share its seed
    n_actions = 3
    _logs_cache: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}
    _lock = threading.Lock()

    def make_shard(self, name: str, seed: int, first_row: int) -> Any:
        return self.factories[name](seed, first_row)

    def repr_prefix(self, obj: Any) -> str:
        return f'{type(obj).__name__}(estimator="'

    def data(self, n: int, seed: int) -> dict[str, np.ndarray]:
        with self._lock:
            key = (self.label, n, seed)
            if key not in self._logs_cache:
                self._logs_cache[key] = self._make_logs(n, seed)
            return self._logs_cache[key]

    def _make_logs(self, n: int, seed: int) -> dict[str, np.ndarray]:
        from regretless import datasets

        logs = datasets.synthetic_logs(n, n_actions=self.n_actions, seed=seed)
        return {
            "reward": logs.reward,
            "action": logs.action,
            "pscore": logs.pscore,
            "action_dist": logs.softmax_policy(2.0),
            "estimated_rewards": np.clip(logs.expected_reward + 0.1, 0, 1),
        }

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        return {k: v[:at] for k, v in data.items()}, {k: v[at:] for k, v in data.items()}

    @staticmethod
    def _push(obj: Any, d: dict[str, np.ndarray], a: int, b: int) -> None:
        position = d.get("position")
        obj.push(
            d["reward"][a:b],
            d["action"][a:b],
            d["pscore"][a:b],
            d["action_dist"][a:b],
            None if position is None else position[a:b],
            d["estimated_rewards"][a:b],
        )

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        n = len(data["reward"])
        for a in [0] if batched else range(n):
            self._push(obj, data, a, n if batched else a + 1)

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        # A step is a logged row, pushed in three batches; the decisions are the results.
        d = self.data(steps, seed)
        out = []
        for a, b in itertools.pairwise([0, steps // 3, steps // 2, steps]):
            if a == b:
                continue  # an empty batch is refused (ShapeError)
            self._push(obj, d, a, b)
            r = obj.result(0.1)
            out.append((r.estimate, r.std_err, r.bootstrap_ci))
        return out

    def observe(self, obj: Any) -> dict[str, Any]:
        r = obj.result(0.1)
        return {
            "rows": obj.rows,
            "estimate": r.estimate,
            "std_err": r.std_err,
            "ci": r.ci,
            "bootstrap_ci": r.bootstrap_ci,
            "mean_weight": r.mean_weight,
            "ess": r.ess,
        }

    def merge(self, a: Any, b: Any) -> Any:
        return a.merge(b)  # a new accumulator; both parts stay as they were

    def mismatched(self, name: str) -> list[tuple[Any, type[Exception], str]]:
        other = "SNIPW" if name.startswith("IPW") else "IPW"
        return [
            (self.make_shard(other, 1, 10_000), regretless.InvalidParameterError, "cannot merge"),
            (regretless.UCB1(3), regretless.DTypeError, "other"),
        ]

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        d = {k: v[:8].copy() for k, v in self.data(300, seed=5).items()}

        def push(**change):
            return lambda: self._push(obj, {**d, **change}, 0, 8)

        nan_reward = d["reward"].copy()
        nan_reward[3] = np.nan
        inf_reward = d["reward"].copy()
        inf_reward[5] = np.inf
        bad_action = d["action"].copy()
        bad_action[2] = self.n_actions
        zero_pscore = d["pscore"].copy()
        zero_pscore[1] = 0.0
        nan_pi = d["action_dist"].copy()
        nan_pi[4, 1] = np.nan  # (a whole slot's column in ranked logs)
        big_pi = d["action_dist"].copy()
        big_pi[4] *= 3
        nan_q = d["estimated_rewards"].copy()
        nan_q[6, 2] = np.nan

        calls: list[InvalidCall] = [
            ("NaN in action_dist", push(action_dist=nan_pi), regretless.InvalidParameterError),
            ("action_dist above 1", push(action_dist=big_pi), regretless.InvalidParameterError),
            ("wrong n_actions", push(action_dist=d["action_dist"][:, :2]), regretless.ShapeError),
            ("float actions", push(action=d["action"] + 0.5), regretless.DTypeError),
            ("string rewards", push(reward=d["reward"].astype(str)), regretless.DTypeError),
        ]
        if name.startswith(("DirectMethod", "DoublyRobust", "SNDR", "SwitchDR", "DRos")):
            calls.append(
                ("NaN model", push(estimated_rewards=nan_q), regretless.InvalidParameterError)
            )
        if name != "DirectMethod":  # the direct method reads only the model and action_dist
            calls += [
                ("NaN reward", push(reward=nan_reward), regretless.RewardError),
                ("inf reward", push(reward=inf_reward), regretless.RewardError),
                ("action out of range", push(action=bad_action), regretless.ArmError),
                ("negative action", push(action=-d["action"] - 1), regretless.ArmError),
                ("zero pscore", push(pscore=zero_pscore), regretless.InvalidParameterError),
                ("length mismatch", push(pscore=d["pscore"][:-1]), regretless.ShapeError),
            ]
        if "position" in d:
            calls += [
                (
                    "position out of range",
                    push(position=d["position"] + 2),
                    regretless.InvalidParameterError,
                ),
                (
                    "negative position",
                    push(position=d["position"] - 2),
                    regretless.InvalidParameterError,
                ),
                ("float positions", push(position=d["position"] + 0.5), regretless.DTypeError),
            ]
        return calls

    def hammer(self, obj: Any, thread: int) -> int:
        d = self.data(200, seed=3)
        for _ in range(5):
            self._push(obj, d, 0, 200)
            obj.to_bytes()
            obj.result()
        return 5 * 200

    def n_learned(self, obj: Any) -> int:
        return obj.rows

    def check_hammered(self, obj: Any, name: str) -> None:
        # Every thread pushed the same batch: the estimate is that batch's.
        once = self.make(name)
        self._push(once, self.data(200, seed=3), 0, 200)
        assert abs(obj.result().estimate - once.result().estimate) <= 1e-12

    def check_consistent(self, obj: Any) -> None:
        r = obj.result()
        assert r.n_rounds == obj.rows and np.isfinite(r.estimate)


class RankedAccumulator(Accumulator):
    """The accumulator over ranked logs: action_dist (n, actions, slots) and a position per
    row."""

    label = "ope-ranked"
    factories = {
        name: ACCUMULATOR_FACTORIES[name]
        for name in ("DirectMethod", "IPW", "SNIPW", "DoublyRobust-bootstrap", "DRos-bootstrap")
    }
    randomized = frozenset(name for name in factories if "bootstrap" in name)
    slots = 2

    def _make_logs(self, n: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        k, slots = self.n_actions, self.slots
        pi = rng.dirichlet(np.ones(k), size=(n, slots)).transpose(0, 2, 1).copy()
        q = rng.random((n, k, slots))
        action = rng.integers(0, k, n)
        position = rng.integers(0, slots, n)
        reward = (rng.random(n) < q[np.arange(n), action, position]).astype(float)
        return {
            "reward": reward,
            "action": action,
            "pscore": np.full(n, 1.0 / k),
            "action_dist": pi,
            "estimated_rewards": q,
            "position": position,
        }


# ---- budgets and cascading RL ---------------------------------------------------------------


class Knapsack(Family):
    """PrimalDualBwK: rows (arm, reward, consumption vector); it has no merge (budgets spent
    do not add up)."""

    label = "bwk"
    factories = BWK_FACTORIES
    not_mergeable = dict.fromkeys(BWK_FACTORIES)
    batch_learning = False
    k, d = 3, len(BWK_BUDGETS)
    means = np.array([0.3, 0.6, 0.5])
    costs = np.array([[0.2, 0.5], [0.9, 0.1], [0.3, 0.3]])

    def repr_prefix(self, obj: Any) -> str:
        return "PrimalDualBwK(n_arms=3"

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(steps):
            arm = obj.select()
            out.append(arm)
            if arm is None:
                break
            c = (rng.random(self.d) < self.costs[arm]).astype(float)
            obj.update(arm, float(rng.random() < self.means[arm]), c)
        return out

    def observe(self, obj: Any) -> dict[str, Any]:
        return {
            "counts": obj.counts(),
            "reward_means": obj.reward_means(),
            "spent": obj.spent(),
            "prices": obj.prices(),
            "scores": obj.scores(),
            "n_pulls": obj.n_pulls,
        }

    def data(self, n: int, seed: int) -> Any:
        rng = np.random.default_rng(seed)
        arms = rng.integers(0, self.k, n)
        return (
            arms,
            (rng.random(n) < self.means[arms]) * 1.0,
            (rng.random((n, self.d)) < self.costs[arms]) * 1.0,
        )

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        return tuple(a[:at] for a in data), tuple(a[at:] for a in data)

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        for arm, r, c in zip(*data, strict=True):
            obj.update(arm, r, c)

    def counts(self, obj: Any) -> np.ndarray | None:
        return obj.counts()

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        ok = [0.5, 0.5]
        return [
            ("arm out of range", lambda: obj.update(3, 1.0, ok), regretless.ArmError),
            ("negative arm", lambda: obj.update(-1, 1.0, ok), regretless.ArmError),
            ("float arm", lambda: obj.update(0.5, 1.0, ok), regretless.DTypeError),
            ("reward above 1", lambda: obj.update(0, 1.5, ok), regretless.RewardError),
            ("NaN reward", lambda: obj.update(0, np.nan, ok), regretless.RewardError),
            ("short consumption", lambda: obj.update(0, 1.0, [0.5]), regretless.ShapeError),
            (
                "consumption above 1",
                lambda: obj.update(0, 1.0, [0.5, 2.0]),
                regretless.InvalidParameterError,
            ),
        ]

    def hammer(self, obj: Any, thread: int) -> int:
        for i in range(50):
            obj.update((thread + i) % self.k, 1.0, [0.5, 0.25])
            obj.select()
        obj.to_bytes()
        return 50

    def n_learned(self, obj: Any) -> int:
        return obj.n_pulls

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        return EligibleCalls(
            n_arms=obj.n_arms,
            select=lambda e: obj.select(eligible=e),
            select_batch=lambda e, n: np.array(
                [obj.select(eligible=e) for _ in range(n)], dtype=np.int64
            ),
            scores=lambda e: obj.scores(eligible=e),
            probabilities=lambda e: obj.probabilities(eligible=e),
            per_row_masks=False,
        )

    def check_hammered(self, obj: Any, name: str) -> None:
        np.testing.assert_allclose(obj.spent(), [0.5 * obj.n_pulls, 0.25 * obj.n_pulls])

    def check_consistent(self, obj: Any) -> None:
        assert obj.counts().sum() == obj.n_pulls


class BudgetedContextual(Family):
    """HATCH: select(x) serves (an arm) or skips (None); update(x, arm, reward) learns a
    served user. No merge: spending does not add up."""

    label = "hatch"
    factories = HATCH_FACTORIES
    randomized = frozenset(HATCH_FACTORIES)  # serving is a draw
    not_mergeable = dict.fromkeys(HATCH_FACTORIES)
    batch_learning = False
    centers = np.array(HATCH_CENTERS)

    def repr_prefix(self, obj: Any) -> str:
        return "HATCH(n_arms=2, dim=3, n_classes=3"

    def _users(self, n: int, seed: int) -> tuple[np.ndarray, np.random.Generator]:
        rng = np.random.default_rng(seed)
        X = self.centers[rng.integers(0, 3, n)] + [0, 0.05, 0.05] * rng.standard_normal((n, 3))
        return X, rng

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        X, rng = self._users(steps, seed)
        out = []
        for x in X:
            arm = obj.select(x)
            out.append(arm)
            if arm is not None:
                obj.update(x, arm, float(rng.random() < 0.2 + 0.3 * arm * x[1]))
        return out

    def observe(self, obj: Any) -> dict[str, Any]:
        return {
            "counts": obj.counts(),
            "arrivals": obj.arrivals(),
            "spent": obj.spent,
            "users": obj.n_users,
            "class_values": obj.class_values(),
            "serve_probabilities": obj.serve_probabilities(),
        }

    def data(self, n: int, seed: int) -> Any:
        X, rng = self._users(n, seed)
        return X, rng.integers(0, 2, n), rng.random(n)

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        return tuple(a[:at] for a in data), tuple(a[at:] for a in data)

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        for x, arm, r in zip(*data, strict=True):
            obj.update(x, arm, r)

    def counts(self, obj: Any) -> np.ndarray | None:
        return obj.counts()

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        x = self.centers[0]
        return [
            ("short context", lambda: obj.select(x[:2]), regretless.ShapeError),
            ("NaN context", lambda: obj.select([np.nan, 0, 0]), regretless.InvalidParameterError),
            ("string context", lambda: obj.select(["a", "b", "c"]), regretless.DTypeError),
            ("arm out of range", lambda: obj.update(x, 2, 1.0), regretless.ArmError),
            ("infinite reward", lambda: obj.update(x, 0, np.inf), regretless.RewardError),
            ("long context", lambda: obj.update(np.ones(4), 0, 1.0), regretless.ShapeError),
        ]

    def hammer(self, obj: Any, thread: int) -> int:
        X, _ = self._users(40, thread)
        for i, x in enumerate(X):
            obj.update(x, i % 2, 0.5)
            obj.select(x)
        obj.to_bytes()
        return 40

    def n_learned(self, obj: Any) -> int:
        return int(obj.counts().sum())

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        x = self.centers[1]

        def served(e: Any, n: int) -> np.ndarray:
            arms = [obj.select(x, eligible=e) for _ in range(n)]
            return np.array([a for a in arms if a is not None], dtype=np.int64)

        return EligibleCalls(
            n_arms=obj.n_arms,
            select=lambda e: obj.select(x, eligible=e),
            select_batch=served,
            scores=lambda e: obj.scores(x, eligible=e),
            probabilities=lambda e: obj.probabilities(x, eligible=e),
            per_row_masks=False,
            may_skip=True,
        )

    def check_consistent(self, obj: Any) -> None:
        assert obj.arrivals().sum() == obj.n_users
        assert obj.spent <= obj.rate * obj.n_users + 1e-9


class DynamicalLinear(Family):
    """DynLinUCB and MyopicLinUCB: select() picks a row of the action set (DynLinUCB holds
    it for an epoch), update(action, reward) records the round; played against the authors'
    synthetic system. No merge: an epoch schedule is one stream."""

    label = "dynlin"
    factories = DYNLIN_FACTORIES
    # The first action is drawn at random.
    randomized = frozenset(DYNLIN_FACTORIES)
    not_mergeable = dict.fromkeys(DYNLIN_FACTORIES)
    batch_learning = False

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(n_actions=6, dim=3"

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        env = regretless.DynamicalLinearEnv.synthetic(0.05, seed=seed)
        out = []
        for _ in range(steps):
            a = obj.select()
            obj.update(a, env.step(DYNLIN_ACTIONS[a]))
            out.append(a)
        return out

    def observe(self, obj: Any) -> dict[str, Any]:
        return {
            "estimate": obj.estimate(),
            "gram": obj.gram(),
            "scores": obj.scores(),
            "beta": obj.beta,
            "n_updates": obj.n_updates,
        }

    def interrupt(self, obj: Any) -> None:
        obj.select()  # DynLinUCB: an epoch's action held, with rounds to go

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        held = obj.select()
        calls = [
            ("action out of range", lambda: obj.update(6, 0.5), regretless.ArmError),
            ("negative action", lambda: obj.update(-1, 0.5), regretless.ArmError),
            ("float action", lambda: obj.update(0.5, 0.5), regretless.DTypeError),
            ("NaN reward", lambda: obj.update(held, np.nan), regretless.RewardError),
            ("infinite reward", lambda: obj.update(held, np.inf), regretless.RewardError),
        ]
        if isinstance(obj, regretless.DynLinUCB):
            other = (held + 1) % 6
            calls.append(
                ("not the held action", lambda: obj.update(other, 0.5), regretless.ArmError)
            )
        return calls

    def hammer(self, obj: Any, thread: int) -> int:
        learned = 0
        for i in range(40):
            a = obj.select()
            try:
                obj.update(a, 0.1 * ((thread + i) % 7))
            except regretless.ArmError:
                continue  # another thread ended the epoch between the two calls
            learned += 1
        obj.to_bytes()
        return learned

    def n_learned(self, obj: Any) -> int:
        return obj.n_updates

    def check_consistent(self, obj: Any) -> None:
        if isinstance(obj, regretless.DynLinUCB):
            assert obj.n_epochs == obj.epoch - 1 <= obj.n_updates
        # The Gram matrix's trace: lam * dim plus ||u||^2 = 1.25 per regressed round.
        rows = obj.n_epochs if isinstance(obj, regretless.DynLinUCB) else obj.n_updates
        assert np.isclose(np.trace(obj.gram()), obj.lam * 3 + 1.25 * rows)


class CascadingRL(Family):
    """CascadingVI: rows (state, step, items, click, next state) from a seeded cascading MDP;
    deterministic (no seed); merge adds the counts."""

    label = "cascading-rl"
    factories = CASCADING_RL_FACTORIES
    batch_learning = False
    merge_rtol = 0.0  # counts add exactly, so the merged plan is the same plan

    def _env(self, seed: int, list_len: int) -> Any:
        rng = np.random.default_rng(77)
        P = rng.random((3, 5, 3)) + 0.1
        P /= P.sum(axis=2, keepdims=True)
        q = 0.2 + 0.5 * rng.random((3, 4))
        return regretless.CascadingMDP(
            P, q, cascading_rewards(), horizon=3, list_len=list_len, seed=seed
        )

    def repr_prefix(self, obj: Any) -> str:
        return "CascadingVI(n_states=3, n_items=4, horizon=3"

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        env = self._env(seed, obj.list_len)
        out: list = []
        while len(out) < steps:
            s = env.reset()
            for h in range(obj.horizon):
                items = obj.select_list(s, h)
                click, _, nxt = env.step(s, items)
                obj.update(s, h, items, click, nxt)
                out.append(tuple(items))
                s = nxt
        return out

    def observe(self, obj: Any) -> dict[str, Any]:
        return {
            "examined": obj.examined_counts(),
            "clicks": obj.click_counts(),
            "transitions": obj.transition_counts(),
            "episodes": obj.n_episodes,
            "plan": str(obj.plan()),
            "plan_values": obj.plan_values(),
        }

    def data(self, n: int, seed: int) -> Any:
        env = self._env(seed, 1)
        rng = np.random.default_rng(seed)
        rows: list = []
        while len(rows) < n:
            s = env.reset()
            for h in range(3):
                items = [int(rng.integers(0, 4))]
                click, _, nxt = env.step(s, items)
                rows.append((s, h, items, click, nxt))
                s = nxt
        return rows[:n]

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        return data[:at], data[at:]

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        for row in data:
            obj.update(*row)

    def mismatched(self, name: str) -> list[tuple[Any, type[Exception], str]]:
        other_len = 1 if name == "CascadingVI" else 2
        other = regretless.CascadingVI(cascading_rewards(), horizon=3, list_len=other_len)
        other_rewards = regretless.CascadingVI(
            cascading_rewards() * 0.5, horizon=3, list_len=3 - other_len
        )
        return [
            (other, regretless.IncompatibleError, "list_len"),
            (other_rewards, regretless.IncompatibleError, "cannot merge"),
            (regretless.UCB1(3), regretless.DTypeError, "other"),
        ]

    def interrupt(self, obj: Any) -> None:
        env = self._env(3, obj.list_len)
        s = env.reset()
        items = obj.select_list(s, 0)
        click, _, nxt = env.step(s, items)
        obj.update(s, 0, items, click, nxt)  # the episode goes on: its plan is kept

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        return [
            ("state out of range", lambda: obj.select_list(3, 0), regretless.InvalidParameterError),
            ("step out of range", lambda: obj.select_list(0, 3), regretless.InvalidParameterError),
            ("float state", lambda: obj.select_list(0.5, 0), regretless.DTypeError),
            ("item out of range", lambda: obj.update(0, 0, [4], None, 0), regretless.ArmError),
            ("too many items", lambda: obj.update(0, 0, [0, 1, 2], None, 0), regretless.ShapeError),
            (
                "click beyond list",
                lambda: obj.update(0, 0, [0], 1, 0),
                regretless.InvalidParameterError,
            ),
            (
                "bad next state",
                lambda: obj.update(0, 0, [0], 0, -1),
                regretless.InvalidParameterError,
            ),
            ("float items", lambda: obj.update(0, 0, [0.5], None, 0), regretless.DTypeError),
        ]

    def hammer(self, obj: Any, thread: int) -> int:
        rows = self.data(40, seed=thread)
        for row in rows:
            obj.update(*row)
            obj.select_list(row[0], row[1])
        obj.to_bytes()
        return len(rows)

    def n_learned(self, obj: Any) -> int:
        return int(obj.transition_counts().sum())

    def check_consistent(self, obj: Any) -> None:
        assert (obj.click_counts() <= obj.examined_counts()).all()


# ---- cascading bandits ----------------------------------------------------------------------


class Cascade(Family):
    """Ranked lists of `k` items learned from the first click (cascade model)."""

    label = "cascade"
    factories = CASCADE_FACTORIES
    # Index policies: the generator only breaks ties.
    randomized: frozenset[str] = frozenset()
    select_batch_is_loop = True
    k = 3
    attraction = np.linspace(0.05, 0.4, CASCADE_ITEMS)

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(n_items={CASCADE_ITEMS}"

    def _click(self, lst: np.ndarray, rng: np.random.Generator) -> int:
        attractive = rng.random(len(lst)) < self.attraction[lst]
        return int(np.argmax(attractive)) if attractive.any() else -1

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        shown = []
        for _ in range(steps):
            items = obj.select_list(self.k)[0]
            c = self._click(items, rng)
            obj.update_list(items, None if c < 0 else c)
            shown.append(tuple(items.tolist()))
        return shown

    def observe(self, obj: Any) -> dict[str, Any]:
        out = {
            "counts": obj.counts(),
            "click_rates": obj.click_rates(),
            "scores": obj.scores(),
            "n_rounds": obj.n_rounds,
        }
        if isinstance(obj, regretless.CascadeLinUCB):
            out["estimates"] = obj.estimates()
        return out

    def data(self, n: int, seed: int) -> Any:
        rng = np.random.default_rng(seed)
        lists = np.array([rng.permutation(CASCADE_ITEMS)[: self.k] for _ in range(n)])
        clicks = np.array([self._click(lst, rng) for lst in lists], dtype=np.int64)
        return lists, clicks

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        lists, clicks = data
        return (lists[:at], clicks[:at]), (lists[at:], clicks[at:])

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        lists, clicks = data
        if batched:
            obj.update_list_batch(lists, clicks)
        else:
            for lst, c in zip(lists, clicks, strict=True):
                obj.update_list(lst, None if c < 0 else int(c))

    def mismatched(self, name: str) -> list[tuple[Any, type[Exception], str]]:
        other = (
            regretless.CascadeLinUCB(np.ones((CASCADE_ITEMS, 2)))
            if name.startswith("CascadeLinUCB")
            else type(self.make(name))(CASCADE_ITEMS + 1)
        )
        return [
            (other, regretless.IncompatibleError, "other"),
            (regretless.UCB1(3), regretless.DTypeError, "other"),
        ]

    def counts(self, obj: Any) -> np.ndarray | None:
        return obj.counts()

    def select_batch_and_loop(self, p: Any, q: Any) -> tuple[list, list]:
        batch = p.select_list_batch(20, self.k)
        assert batch.dtype == np.int64 and batch.shape == (20, self.k)
        return batch.tolist(), [q.select_list(self.k)[0].tolist() for _ in range(20)]

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        n = CASCADE_ITEMS
        singles = [
            ([0, 0], None, regretless.InvalidParameterError),
            ([0, n], None, regretless.ArmError),
            ([0, -1], 0, regretless.ArmError),
            ([0, 1], 2, regretless.InvalidParameterError),
            ([0, 1], -1, regretless.InvalidParameterError),
            ([0, 1], 1.0, regretless.DTypeError),
            ([], None, regretless.ShapeError),
            (list(range(n)) + [0], None, regretless.ShapeError),
            (np.array([0.0, 1.0]), None, regretless.DTypeError),
        ]
        calls: list[InvalidCall] = [
            (f"update_list({i!r}, {c!r})", lambda i=i, c=c: obj.update_list(i, c), e)
            for i, c, e in singles
        ]
        batches = [
            ([[0, 1], [2, 2]], [0, -1], regretless.InvalidParameterError),
            ([[0, 1], [2, 3]], [0], regretless.ShapeError),
            ([0, 1], [0], regretless.ShapeError),
            ([[0, 1], [2, n]], [0, 1], regretless.ArmError),
            ([[0, 1], [2, 3]], [0, 2], regretless.InvalidParameterError),
        ]
        calls += [
            (f"update_list_batch({b!r}, {c!r})", lambda b=b, c=c: obj.update_list_batch(b, c), e)
            for b, c, e in batches
        ]
        calls += [
            (f"select_list({k})", lambda k=k: obj.select_list(k), regretless.InvalidParameterError)
            for k in (0, n + 1)
        ]
        return calls

    def oversized_calls(self, obj: Any) -> list[InvalidCall]:
        refused = regretless.AllocationError
        return [("select_list_batch(2**62, 2)", lambda: obj.select_list_batch(2**62, 2), refused)]

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        # A decision is the top slot of a one-item list; the lists of several slots are
        # checked in test_cascade.py.
        return EligibleCalls(
            n_arms=obj.n_items,
            select=lambda e: int(obj.select_list(1, eligible=e)[0][0]),
            select_batch=lambda e, n: obj.select_list_batch(n, 1, eligible=e)[:, 0],
            scores=lambda e: obj.scores(eligible=e),
        )

    def hammer(self, obj: Any, thread: int) -> int:
        rng = np.random.default_rng(thread)
        learned = 0
        for i in range(100):
            items = obj.select_list(self.k)[0]
            c = self._click(items, rng)
            obj.update_list(items, None if c < 0 else c)
            learned += 1
            if i % 25 == 0:
                obj.update_list_batch(np.array([[0, 1, 2]]), np.array([-1]))
                learned += 1
                obj.select_list_batch(5, 2)
                obj.to_bytes()
        return learned

    def n_learned(self, obj: Any) -> int:
        return obj.n_rounds

    def check_consistent(self, obj: Any) -> None:
        assert np.all(obj.click_rates() <= 1.0)


# ---- reactive rewards -----------------------------------------------------------------------


class Reactive(Family):
    """PeriodicUCB, LSDExploreCommit, TallyingElimination: select() hands out the pulls of a
    period (PeriodicUCB: an array of arms) and advances the clock; update(arm, reward) answers
    one. No merge and no batch learning: the statistics are tied to one schedule."""

    label = "reactive"
    factories = REACTIVE_FACTORIES
    # The first target arm (LSD) and the phase order (tallying) are drawn; PeriodicUCB draws
    # only among arms equally overdue, which its plans (ties to the lowest index) rarely make.
    randomized = frozenset(n for n in REACTIVE_FACTORIES if not n.startswith("PeriodicUCB"))
    not_mergeable = dict.fromkeys(REACTIVE_FACTORIES)
    batch_learning = False
    means = np.array([0.3, 0.6, 0.5])

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(n_arms={REACTIVE_ARMS}"

    @staticmethod
    def _arms(decision: Any) -> list[int]:
        return [int(a) for a in np.atleast_1d(decision)]

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(steps):
            arms = self._arms(obj.select())
            out.append(tuple(arms))
            for a in arms:
                obj.update(a, float(rng.random() < self.means[a]))
        return out

    def observe(self, obj: Any) -> dict[str, Any]:
        out = {"counts": obj.counts(), "means": obj.means(), "n_updates": obj.n_updates}
        if isinstance(obj, regretless.PeriodicUCB):
            out.update(periods=obj.periods(), ucb=obj.ucb(), n_periods=obj.n_periods)
        elif isinstance(obj, regretless.LSDExploreCommit):
            out["cycle"] = obj.cycle
        else:
            out.update(active=obj.active(), phase=obj.phase)
        return out

    def data(self, n: int, seed: int) -> Any:
        return n, seed

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        n, seed = data
        return (at, seed), (n - at, seed + 1)

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        n, seed = data
        self.play(obj, n, seed)

    def counts(self, obj: Any) -> np.ndarray | None:
        return obj.counts()

    def interrupt(self, obj: Any) -> None:
        obj.select()  # pulls handed out and not yet answered are part of the state

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        # An update of an arm with no pull waiting is refused too (tests/test_reactive.py).
        return [
            ("arm out of range", lambda: obj.update(3, 1.0), regretless.ArmError),
            ("negative arm", lambda: obj.update(-1, 1.0), regretless.ArmError),
            ("float arm", lambda: obj.update(0.5, 1.0), regretless.DTypeError),
            ("reward above 1", lambda: obj.update(0, 1.5), regretless.RewardError),
            ("NaN reward", lambda: obj.update(0, np.nan), regretless.RewardError),
            ("string reward", lambda: obj.update(0, "a"), regretless.DTypeError),
        ]

    def hammer(self, obj: Any, thread: int) -> int:
        rng = np.random.default_rng(thread)
        learned = 0
        for _ in range(40):
            for a in self._arms(obj.select()):
                try:
                    obj.update(a, float(rng.random() < 0.5))
                    learned += 1
                except regretless.ArmError:
                    pass  # another thread answered this arm's pull first
        obj.to_bytes()
        return learned

    def n_learned(self, obj: Any) -> int:
        return obj.n_updates

    def check_consistent(self, obj: Any) -> None:
        if isinstance(obj, regretless.TallyingElimination):
            assert obj.counts().sum() <= obj.n_updates
        else:
            assert obj.counts().sum() == obj.n_updates


# ---- shared-parameter policies over arm features --------------------------------------------


class ArmFeatures(Family):
    """SharedSketchLinUCB / SharedSketchLinTS: each decision is an (n_actions, dim) matrix of
    action features (n_actions changes between decisions in play), update takes the played
    action's features. The learning data lie in a rank-2 subspace of the 5 dimensions, so
    even a sketch of 2 rows keeps them and merging equals fitting both parts (to rounding);
    off that subspace a small sketch merges only within the Frequent Directions bound
    (tests/test_shared_sketch.py)."""

    label = "arm-features"
    factories = SHARED_SKETCH_FACTORIES
    d = SHARED_SKETCH_DIM
    randomized = frozenset(n for n in SHARED_SKETCH_FACTORIES if n.startswith("SharedSketchLinTS"))
    select_batch_is_loop = True
    # Sketches of the same rows agree to rounding through the shrink steps.
    merge_rtol = 1e-8
    # The batch fit feeds the sketch in blocks and recomputes H once: the same sketch, H and
    # theta to rounding.
    batch_rtol = 1e-10
    atol = 1e-10
    theta = np.random.default_rng(91).standard_normal(SHARED_SKETCH_DIM)
    basis = np.linalg.qr(np.random.default_rng(92).standard_normal((SHARED_SKETCH_DIM, 2)))[0]
    queries = np.random.default_rng(93).standard_normal((6, 4, SHARED_SKETCH_DIM))

    def repr_prefix(self, obj: Any) -> str:
        return f"{type(obj).__name__}(dim={self.d}"

    def play(self, obj: Any, steps: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        out = []
        for t in range(steps):
            actions = rng.standard_normal((3 + t % 3, self.d))
            a = obj.select(actions)
            obj.update(actions[a], float(actions[a] @ self.theta + 0.1 * rng.standard_normal()))
            out.append(a)
        return out

    def observe(self, obj: Any) -> dict[str, Any]:
        return {
            "coefficients": obj.coefficients(),
            "scores": obj.scores(self.queries),
            "width": obj.width(self.queries),
            "n_updates": obj.n_updates,
        }

    def data(self, n: int, seed: int) -> Any:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, 2)) @ self.basis.T
        rewards = X @ self.theta + 0.1 * rng.standard_normal(n)
        return X, rewards, rng.uniform(0.5, 2.0, n)

    def split(self, data: Any, at: int) -> tuple[Any, Any]:
        return tuple(v[:at] for v in data), tuple(v[at:] for v in data)

    def learn(self, obj: Any, data: Any, batched: bool) -> None:
        X, rewards, weights = data
        if batched:
            obj.update_batch(X, rewards, weights)
        else:
            for x, r, w in zip(X, rewards, weights, strict=True):
                obj.update(x, r, w)

    def mismatched(self, name: str) -> list[tuple[Any, type[Exception], str]]:
        p = self.make(name)
        cls = type(p)
        return [
            (cls(self.d + 1, sketch_size=p.sketch_size), regretless.IncompatibleError, "dim"),
            (cls(self.d, sketch_size=p.sketch_size + 1), regretless.IncompatibleError, "sketch"),
            (
                cls(self.d, sketch_size=p.sketch_size, lam=p.lam * 2, robust=p.robust),
                regretless.IncompatibleError,
                "lam",
            ),
            (regretless.UCB1(3), regretless.DTypeError, "other"),
        ]

    def select_batch_and_loop(self, p: Any, q: Any) -> tuple[list, list]:
        batch = p.select_batch(self.queries)
        assert batch.dtype == np.int64 and batch.shape == (len(self.queries),)
        return batch.tolist(), [q.select(x) for x in self.queries]

    def invalid_calls(self, name: str, obj: Any) -> list[InvalidCall]:
        X, rewards, weights = self.data(6, seed=41)
        actions = self.queries[0]
        nan_actions = actions.copy()
        nan_actions[2, 1] = np.nan
        nan_x = X.copy()
        nan_x[3, 0] = np.inf

        def batch(X=X, rewards=rewards, weights=weights):
            return lambda: obj.update_batch(X, rewards, weights)

        return [
            ("NaN reward", batch(rewards=np.where(rewards > 0, np.nan, 0)), regretless.RewardError),
            ("inf row", batch(X=nan_x), regretless.InvalidParameterError),
            ("wrong dim", batch(X=X[:, :-1]), regretless.ShapeError),
            ("1-D rows", batch(X=X[:, 0]), regretless.ShapeError),
            ("string rows", batch(X=X.astype(str)), regretless.DTypeError),
            ("length mismatch", batch(rewards=rewards[:-1]), regretless.ShapeError),
            ("negative weight", batch(weights=-weights), regretless.InvalidParameterError),
            ("single: NaN reward", lambda: obj.update(X[0], np.nan), regretless.RewardError),
            ("single: all actions", lambda: obj.update(actions, 1.0), regretless.ShapeError),
            ("single: inf x", lambda: obj.update(nan_x[3], 1.0), regretless.InvalidParameterError),
            (
                "single: weight",
                lambda: obj.update(X[0], 1.0, -1.0),
                regretless.InvalidParameterError,
            ),
            ("select: one row", lambda: obj.select(actions[0]), regretless.ShapeError),
            ("select: no action", lambda: obj.select(actions[:0]), regretless.ShapeError),
            ("select: wrong dim", lambda: obj.select(actions[:, :-1]), regretless.ShapeError),
            ("select: NaN", lambda: obj.select(nan_actions), regretless.InvalidParameterError),
            ("select: strings", lambda: obj.select(actions.astype(str)), regretless.DTypeError),
            ("select_batch: 2-D", lambda: obj.select_batch(actions), regretless.ShapeError),
            ("scores: 1-D", lambda: obj.scores(actions[0]), regretless.ShapeError),
            ("top_k: k=0", lambda: obj.top_k(actions, 0), regretless.InvalidParameterError),
            ("top_k: k>n_actions", lambda: obj.top_k(actions, 5), regretless.InvalidParameterError),
        ]

    def oversized_calls(self, obj: Any) -> list[InvalidCall]:
        refused = regretless.InvalidParameterError
        return [("top_k(x, 2**62)", lambda: obj.top_k(self.queries[0], 2**62), refused)]

    def eligible_calls(self, obj: Any) -> EligibleCalls | None:
        x = self.queries[0]
        ts = isinstance(obj, regretless.SharedSketchLinTS)
        return EligibleCalls(
            n_arms=len(x),
            select=lambda e: obj.select(x, eligible=e),
            select_batch=lambda e, n: obj.select_batch(np.repeat(x[None], n, 0), eligible=e),
            scores=lambda e: obj.scores(x, eligible=e),
            probabilities=lambda e: obj.probabilities(x, eligible=e),
            monte_carlo=4096 if ts else 0,
        )

    def hammer(self, obj: Any, thread: int) -> int:
        X, rewards, _ = self.data(60, seed=thread)
        learned = 0
        for i in range(60):
            actions = np.stack([X[i], -X[i], X[(i + 1) % 60]])
            a = obj.select(actions)
            obj.update(actions[a], float(rewards[i]))
            learned += 1
            if i % 20 == 0:
                obj.update_batch(X[:10], rewards[:10])
                obj.select_batch(self.queries)
                learned += 10
                obj.to_bytes()
        return learned

    def n_learned(self, obj: Any) -> int:
        return obj.n_updates

    def check_consistent(self, obj: Any) -> None:
        assert np.all(np.isfinite(obj.coefficients()))
        assert len(obj.sketch()) < 2 * obj.sketch_size and obj.shrinkage >= 0


FAMILIES: list[Family] = [
    MultiArmed(),
    Contextual(),
    PerArmContextual(),
    Kernel(),
    Stream(),
    Accumulator(),
    RankedAccumulator(),
    Knapsack(),
    BudgetedContextual(),
    DynamicalLinear(),
    CascadingRL(),
    Cascade(),
    Reactive(),
    ArmFeatures(),
]
CASES = [(family, name) for family in FAMILIES for name in sorted(family.factories)]


def case_id(case: tuple[Family, str]) -> str:
    return f"{case[0].label}-{case[1]}"
