"""Sizes, scalars and borrowed arrays a caller controls: a huge or negative size, a bool
where a number belongs, an array another thread writes mid-call, or a fork after parallel
work raises the project's own exception (or just works): never an abort, a panic or a hang.
"""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
import regretless
from conftest import run_in_threads
from regretless import exceptions as ex

ENV = regretless.BernoulliEnv([0.2, 0.5])


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: regretless.UCB1(10**12), ex.AllocationError, ["n_arms", "allocate"]),
        (lambda: regretless.UCB1(2).select_batch(10**12), ex.AllocationError, ["n:", "allocate"]),
        (lambda: regretless.UCB1(2).select_batch(2**62), ex.AllocationError, ["n:", "allocate"]),
        (lambda: regretless.LinUCB(1, 10**6), ex.AllocationError, ["dim", "allocate"]),
        (lambda: regretless.LinUCB(10**9, 2), ex.AllocationError, ["n_arms", "allocate"]),
        (lambda: regretless.LinUCB(1, 2**32), ex.InvalidParameterError, ["dim", "overflows"]),
        (lambda: regretless.HybridLinUCB(1, 10**6, 1), ex.AllocationError, ["dim", "allocate"]),
        (lambda: regretless.HybridLinUCB(1, 2, 10**6), ex.AllocationError, ["shared_dim"]),
        (
            lambda: regretless.simulate(regretless.UCB1(2), ENV, horizon=10**13, seed=0),
            ex.AllocationError,
            ["horizon", "allocate"],
        ),
        (
            lambda: regretless.simulate(regretless.UCB1(2), ENV, 10, n_runs=10**12, seed=0),
            ex.AllocationError,
            ["n_runs", "allocate"],
        ),
        (lambda: regretless.UCB1(10**30), ex.AllocationError, ["n_arms", "address space"]),
    ],
)
def test_sizes_beyond_memory_raise_before_allocating(call, error, words) -> None:
    with pytest.raises(error) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert isinstance(info.value, regretless.RegretlessError)


def test_allocation_error_is_a_memory_error_of_the_tree() -> None:
    assert issubclass(ex.AllocationError, MemoryError)
    assert issubclass(ex.AllocationError, regretless.RegretlessError)
    assert regretless.AllocationError is ex.AllocationError


@pytest.mark.parametrize(
    "factory",
    [
        lambda n: regretless.UCB1(n),
        lambda n: regretless.KLUCB(n),
        lambda n: regretless.Softmax(n),
        lambda n: regretless.LinUCB(n, 2),
        lambda n: regretless.LinUCB(2, n),
        lambda n: regretless.HybridLinUCB(n, 2, 1),
        lambda n: regretless.GameOfArms(n, 10),
    ],
)
def test_negative_and_boolean_sizes_are_named(factory) -> None:
    with pytest.raises(ex.InvalidParameterError, match=r"must be a positive integer, got -1"):
        factory(-1)
    with pytest.raises(ex.DTypeError, match="expected an integer, got bool"):
        factory(True)
    with pytest.raises(ex.DTypeError, match="expected an integer, got float"):
        factory(2.0)


def test_booleans_are_not_arms_or_rewards() -> None:
    p = regretless.UCB1(2)
    with pytest.raises(ex.DTypeError, match="arm: expected an integer arm index, got bool"):
        p.update(True, 1.0)
    for reward in (True, False, np.True_):
        with pytest.raises(ex.DTypeError, match="reward: expected a real number, got bool"):
            p.update(0, reward)
    with pytest.raises(ex.DTypeError, match="n: expected an integer, got bool"):
        p.select_batch(True)
    assert p.n_updates == 0
    # Ints and floats still take the fast path.
    p.update(0, 1)
    p.update(1, 0.5)
    assert p.counts().tolist() == [1, 1]
    lin = regretless.LinUCB(2, 2)
    with pytest.raises(ex.DTypeError, match="reward"):
        lin.update(np.ones(2), 0, True)
    with pytest.raises(ex.DTypeError, match="arm"):
        lin.update(np.ones(2), False, 1.0)


def test_argument_messages() -> None:
    p = regretless.UCB1(2)
    p.update_batch([], [])  # an empty list is an empty batch, not a dtype error
    assert p.n_updates == 0
    lin = regretless.LinUCB(3, 2)
    lin.update_batch(np.empty((0, 2)), [], [])
    shape_words = r"X: expected a 2-D \(n, 2\) array .* got shape \(0,\)"
    with pytest.raises(ex.ShapeError, match=shape_words):
        lin.select_batch(np.empty((0,)))
    X = np.ones((4, 2))
    for k in (0, -1, 4, 2**70):
        with pytest.raises(ex.InvalidParameterError, match=r"k: must be an integer in \[1, 3\]"):
            lin.top_k(X, k)
    assert lin.top_k(X, 3).shape == (4, 3)
    hyb = regretless.HybridLinUCB(3, 2, 0)
    for k in (0, -1):
        with pytest.raises(ex.InvalidParameterError, match=r"k: must be an integer in \[1, 3\]"):
            hyb.top_k(X, k)
    with pytest.raises(ex.InvalidParameterError, match=r"nu: must be 0\.5, 1\.5 or 2\.5"):
        regretless.Matern(nu=2)
    with pytest.raises(ex.DTypeError, match="weight: expected a real number, got str"):
        lin.update(np.ones(2), 0, 1.0, "heavy")
    with pytest.raises(ex.DTypeError, match="weight: expected a real number, got str"):
        hyb.update(np.ones(2), 0, 1.0, "heavy")
    with pytest.raises(ex.DTypeError, match="weights: expected real numbers"):
        lin.update_batch(X, [0, 1, 2, 0], [1.0] * 4, ["a"] * 4)
    assert lin.n_updates == 0 and hyb.n_updates == 0


def _hammer(stop: threading.Event, arrays: list[tuple[np.ndarray, object, object]]) -> None:
    """Alternately writes a bad and a good value over whole arrays (numpy releases the
    GIL for large copies, so the writes race with the batch call's copy)."""
    while not stop.is_set():
        for a, bad, good in arrays:
            a[:] = bad
            a[:] = good


def _check_batches_under_writes(policy, call, n, arrays, calls=12) -> None:
    stop = threading.Event()
    refused = 0

    def worker(i: int) -> None:
        nonlocal refused
        if i == 1:
            _hammer(stop, arrays)
            return
        try:
            for _ in range(calls):
                before = policy.n_updates
                try:
                    call()
                except (ex.ArmError, ex.RewardError, ex.InvalidParameterError):
                    refused += 1
                    assert policy.n_updates == before  # refused whole
                else:
                    assert policy.n_updates == before + n  # recorded whole
                # The state stays finite and loadable whatever the writer did.
                type(policy).from_bytes(policy.to_bytes())
        finally:
            stop.set()

    run_in_threads(worker, 2)
    assert policy.n_updates % n == 0


def test_a_thread_writing_the_arrays_cannot_get_past_validation() -> None:
    n = 1 << 20  # two copy chunks: the writer also runs between them
    arms = np.zeros(n, dtype=np.int64)
    rewards = np.full(n, 0.5)
    p = regretless.UCB1(2)
    _check_batches_under_writes(
        p,
        lambda: p.update_batch(arms, rewards),
        n,
        [(arms, 7, 0), (rewards, np.nan, 0.5)],
    )
    assert np.isfinite(p.means()).all()

    m, d = 1 << 17, 4
    X = np.ones((m, d))
    a2 = np.zeros(m, dtype=np.int64)
    r2 = np.full(m, 0.5)
    lin = regretless.LinUCB(2, d)
    _check_batches_under_writes(
        lin,
        lambda: lin.update_batch(X, a2, r2),
        m,
        [(a2, 5, 1), (r2, np.nan, 0.5), (X, np.inf, 1.0)],
        calls=6,
    )
    assert np.isfinite(lin.coefficients()).all()

    hyb = regretless.HybridLinUCB(2, d, 1)
    Z = np.ones((m, 1))
    _check_batches_under_writes(
        hyb,
        lambda: hyb.update_batch(X, a2, r2, Z=Z),
        m,
        [(a2, 5, 1), (Z, np.nan, 1.0)],
        calls=4,
    )
    type(hyb).from_bytes(hyb.to_bytes())


def test_off_policy_estimates_under_writes_raise_or_are_exact() -> None:
    from regretless.ope import InverseProbabilityWeighting

    n, k = 1 << 19, 4
    action = np.zeros(n, dtype=np.int64)
    reward = np.full(n, 0.5)
    pscore = np.full(n, 0.25)
    dist = np.full((n, k), 0.25)
    stop = threading.Event()

    def worker(i: int) -> None:
        if i == 1:
            _hammer(stop, [(action, k + 5, 0), (pscore, np.nan, 0.25)])
            return
        try:
            for _ in range(8):
                try:
                    value = InverseProbabilityWeighting().estimate_policy_value(
                        reward=reward, action=action, pscore=pscore, action_dist=dist
                    )
                except regretless.RegretlessError:
                    continue
                # Every row the estimate saw was valid: weight 1, reward 0.5.
                assert value == pytest.approx(0.5, rel=1e-12)
        finally:
            stop.set()

    run_in_threads(worker, 2)


def _fork_work(seed: int) -> tuple[float, list[int]]:
    res = regretless.simulate(regretless.UCB1(2), ENV, horizon=200, n_runs=4, seed=seed)
    lin = regretless.LinUCB(3, 4)
    rng = np.random.default_rng(seed)
    lin.update_batch(rng.standard_normal((5000, 4)), rng.integers(0, 3, 5000), rng.random(5000))
    return float(res.final_regret().mean()), lin.counts().tolist()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_parallel_work_in_a_forked_child_after_the_parent_used_the_pool() -> None:
    parent = _fork_work(0)  # starts the thread pool in the parent
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pending = pool.map_async(_fork_work, [0, 1, 2])
        try:
            got = pending.get(timeout=120)
        except multiprocessing.TimeoutError:
            pool.terminate()
            pytest.fail("a forked child hung on the parent's thread pool")
    assert got[0] == parent  # same seed, same result in the child
    assert all(sum(c) == 5000 for _, c in got)


def _restore_bkb(state: bytes) -> list[float]:
    # Restoring rebuilds the factorizations in parallel sections (Bandit families decode
    # in the process's pool, not in rayon's global one).
    bkb = regretless.BKB.from_bytes(state)
    return bkb.scores().tolist()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_restoring_a_kernel_bandit_in_a_forked_child_after_the_parent_did() -> None:
    X = np.linspace(0, 1, 4000)[:, None]
    bkb = regretless.BKB(X, regretless.RBF(0.1), lam=1e-3, seed=0)
    for _ in range(20):
        i = bkb.select()
        bkb.update(i, float(np.sin(6 * X[i, 0])))
    state = bkb.to_bytes()
    parent = _restore_bkb(state)
    assert parent == bkb.scores().tolist()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        pending = pool.map_async(_restore_bkb, [state])
        try:
            got = pending.get(timeout=120)
        except multiprocessing.TimeoutError:
            pool.terminate()
            pytest.fail("a forked child hung restoring a BKB")
    assert got == [parent]
