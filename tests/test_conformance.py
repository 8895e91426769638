"""The conformance suite: every policy passes the same behavioural checks."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import regretless
from conftest import (
    KERNEL_FACTORIES,
    NOT_MERGEABLE,
    UNIT_REWARDS,
    bernoulli_stream,
    make,
    play,
    play_kernel,
    run_in_threads,
)


def test_bytes_round_trip_restores_state_and_random_stream(policy_name: str) -> None:
    p = make(policy_name, seed=11)
    play(p, 60)
    data = p.to_bytes()
    q = type(p).from_bytes(data)
    assert q.to_bytes() == data
    np.testing.assert_array_equal(q.counts(), p.counts())
    # The restored object makes the same decisions from here on, randomness included.
    assert play(q, 80, seed=5) == play(p, 80, seed=5)


def test_pickle_and_copy_round_trip(policy_name: str) -> None:
    p = make(policy_name, seed=3)
    play(p, 40)
    for q in (pickle.loads(pickle.dumps(p)), p.copy(), copy.copy(p), copy.deepcopy(p)):
        assert type(q) is type(p)
        assert q.to_bytes() == p.to_bytes()
    q = p.copy()
    q.update(0, 1.0)
    assert q.counts()[0] == p.counts()[0] + 1, "a copy must be independent of the original"


def test_same_seed_same_decisions_and_different_seed_differs(policy_name: str) -> None:
    runs = [play(make(policy_name, seed=s), 300) for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    if policy_name not in {"SuccessiveElimination"}:
        # Every policy draws on its generator at least for ties or exploration.
        assert runs[0] != runs[2] or policy_name in {
            "UCB1", "UCBV", "MOSS", "MOSS-horizon", "KLUCB", "KLUCB-plus",
            "KLUCB-gaussian", "KLUCB-poisson", "BayesUCB",
        }  # fmt: skip


def test_select_batch_equals_loop_of_selects(policy_name: str) -> None:
    p = make(policy_name, seed=5)
    play(p, 30)
    q = p.copy()
    batch = p.select_batch(50)
    assert batch.dtype == np.int64 and batch.shape == (50,)
    assert batch.tolist() == [q.select() for _ in range(50)]
    assert p.to_bytes() == q.to_bytes()
    assert p.select_batch(0).shape == (0,)


def test_update_batch_equals_loop_of_updates(policy_name: str) -> None:
    arms, rewards = bernoulli_stream(500, 4, seed=2)
    p, q = make(policy_name), make(policy_name)
    p.update_batch(arms, rewards)
    for a, r in zip(arms, rewards, strict=True):
        q.update(int(a), float(r))
    assert p.to_bytes() == q.to_bytes()
    np.testing.assert_array_equal(p.counts(), np.bincount(arms, minlength=4))
    sums = np.bincount(arms, weights=rewards, minlength=4)
    np.testing.assert_allclose(p.means(), sums / np.maximum(p.counts(), 1), rtol=1e-12)
    assert p.n_updates == 500


def test_update_batch_accepts_other_dtypes_and_sequences(policy_name: str) -> None:
    p, q = make(policy_name), make(policy_name)
    p.update_batch(np.array([0, 1, 2], dtype=np.int32), np.array([1, 0, 1], dtype=np.int8))
    q.update_batch([0, 1, 2], [1.0, 0.0, 1.0])
    # A non-contiguous float64 view is converted, not misread.
    r = make(policy_name)
    r.update_batch(np.array([0, 9, 1, 9, 2, 9])[::2], np.array([1.0, 5, 0.0, 5, 1.0, 5])[::2])
    assert p.to_bytes() == q.to_bytes() == r.to_bytes()


def test_merge_equals_learning_on_concatenated_data(policy_name: str) -> None:
    a1, r1 = bernoulli_stream(300, 4, seed=1)
    a2, r2 = bernoulli_stream(200, 4, seed=2)
    p, q, both = make(policy_name, seed=1), make(policy_name, seed=2), make(policy_name, seed=1)
    p.update_batch(a1, r1)
    q.update_batch(a2, r2)
    both.update_batch(np.concatenate([a1, a2]), np.concatenate([r1, r2]))
    if policy_name in NOT_MERGEABLE:
        before = p.to_bytes()
        with pytest.raises(regretless.IncompatibleError, match="does not support merge"):
            p.merge(q)
        assert p.to_bytes() == before
        return
    p.merge(q)
    np.testing.assert_array_equal(p.counts(), both.counts())
    np.testing.assert_allclose(p.means(), both.means(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p.scores(), both.scores(), rtol=1e-9)
    assert p.n_updates == both.n_updates
    # Self-merge doubles the statistics and does not deadlock.
    counts = p.counts()
    p.merge(p)
    np.testing.assert_array_equal(p.counts(), 2 * counts)


def test_merge_rejects_mismatches(policy_name: str) -> None:
    if policy_name in NOT_MERGEABLE:
        return
    p = make(policy_name, n_arms=4)
    with pytest.raises(regretless.IncompatibleError, match="arms"):
        p.merge(make(policy_name, n_arms=5))
    with pytest.raises(regretless.DTypeError, match="other"):
        p.merge(regretless.BernoulliEnv([0.5]))


def test_probabilities_and_scores_are_well_formed(policy_name: str) -> None:
    p = make(policy_name, seed=4)
    for steps in (0, 3, 200):
        play(p, steps)
        probs = p.probabilities()
        assert probs.shape == (4,) and probs.dtype == np.float64
        assert np.all(probs >= 0) and abs(probs.sum() - 1) < 1e-9
        assert p.scores().shape == (4,)
        assert not np.any(np.isnan(p.scores()))
    before = p.to_bytes()
    p.probabilities()
    p.scores()
    assert p.to_bytes() == before, "queries must not change state or consume randomness"


def test_add_and_remove_arms(policy_name: str) -> None:
    p = make(policy_name, n_arms=3, seed=9)
    p.update_batch([0, 1, 2, 2], [0.0, 1.0, 1.0, 0.0])
    assert p.add_arm() == 3
    assert p.n_arms == 4 and p.counts().tolist() == [1, 1, 2, 0]
    chosen = play(p, 50)
    assert max(chosen) <= 3
    counts = p.counts()
    p.remove_arm(1)
    assert p.n_arms == 3
    np.testing.assert_array_equal(p.counts(), np.delete(counts, 1))
    assert p.n_updates == counts.sum() - counts[1]
    assert all(0 <= a < 3 for a in play(p, 50))
    q = type(p).from_bytes(p.to_bytes())
    assert q.n_arms == 3
    for _ in range(2):
        p.remove_arm(0)
    with pytest.raises(regretless.InvalidParameterError, match="last remaining arm"):
        p.remove_arm(0)
    with pytest.raises(regretless.ArmError):
        p.remove_arm(5)


def _bad_batches(policy_name: str):
    yield [0, 4], [1.0, 1.0], regretless.ArmError
    yield [0, -1], [1.0, 1.0], regretless.ArmError
    yield [0, 1], [1.0, np.nan], regretless.RewardError
    yield [0, 1], [1.0, np.inf], regretless.RewardError
    yield [0, 1, 2], [1.0, 1.0], regretless.ShapeError
    yield np.array([0.0, 1.0]), [1.0, 1.0], regretless.DTypeError
    yield np.zeros((2, 1), dtype=np.int64), [1.0, 1.0], regretless.ShapeError
    yield [0, 1], ["a", "b"], regretless.DTypeError
    if policy_name in UNIT_REWARDS:
        yield [0, 1], [1.0, 1.5], regretless.RewardError
        yield [0, 1], [-0.1, 1.0], regretless.RewardError
    if policy_name == "KLUCB-poisson":
        yield [0, 1], [3.0, -1.0], regretless.RewardError


def test_invalid_input_raises_and_changes_nothing(policy_name: str) -> None:
    p = make(policy_name, seed=2)
    play(p, 20)
    before = p.to_bytes()
    for arms, rewards, exc in _bad_batches(policy_name):
        with pytest.raises(exc):
            p.update_batch(arms, rewards)
        assert p.to_bytes() == before, (arms, rewards)
    for arm, reward, exc in [
        (4, 1.0, regretless.ArmError),
        (-1, 1.0, regretless.ArmError),
        (2**70, 1.0, regretless.ArmError),
        (1.0, 1.0, regretless.DTypeError),
        ("0", 1.0, regretless.DTypeError),
        (0, float("nan"), regretless.RewardError),
        (0, "x", regretless.DTypeError),
    ]:
        with pytest.raises(exc):
            p.update(arm, reward)
        assert p.to_bytes() == before
    with pytest.raises(regretless.InvalidParameterError):
        p.select_batch(-1)
    assert p.to_bytes() == before


def test_numpy_scalars_are_accepted(policy_name: str) -> None:
    p, q = make(policy_name), make(policy_name)
    p.update(np.int64(1), np.float32(1.0))
    q.update(1, 1.0)
    assert p.to_bytes() == q.to_bytes()


def test_repr_names_class_and_hyperparameters(policy_name: str) -> None:
    p = make(policy_name)
    assert repr(p).startswith(type(p).__name__ + "(n_arms=4")


def test_concurrent_use_from_threads_never_corrupts_state(policy_name: str) -> None:
    p = make(policy_name, n_arms=5, seed=1)
    n_threads, steps = 4, 300

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for i in range(steps):
            arm = p.select()
            p.update(arm, float(rng.random() < 0.5))
            if i % 50 == 0:
                p.update_batch(np.array([0, 1]), np.array([1.0, 0.0]))
                p.select_batch(20)
                p.to_bytes()
                p.probabilities()

    run_in_threads(worker, n_threads)
    expected = n_threads * (steps + 2 * (steps // 50))
    assert p.n_updates == expected == p.counts().sum()
    type(p).from_bytes(p.to_bytes())


def test_direct_select_update_match_the_checked_methods(policy_name: str) -> None:
    # `select`/`update` are direct C entry points that hand unusual arguments, errors and
    # contention to the checked PyO3 methods; both paths must be the same policy.
    p, q = make(policy_name, seed=5), make(policy_name, seed=5)
    rng = np.random.default_rng(0)
    # (bools are refused on both paths: see test_limits.py)
    reward_forms = [float, int, np.float64, np.float32, np.int64]
    for step in range(200):
        a, b = p.select(), q._select_checked()
        assert a == b
        r = int(rng.random() < 0.5)
        form = reward_forms[step % len(reward_forms)]
        if step % 3 == 0:
            p.update(np.int64(a), form(r))
        elif step % 3 == 1:
            p.update(arm=a, reward=form(r))
        else:
            p.update(a, form(r))
        q._update_checked(a, float(r))
    assert p.to_bytes() == q.to_bytes()
    with pytest.raises(TypeError):
        p.update(0)
    with pytest.raises(TypeError):
        p.update(0, 1.0, 2.0)
    with pytest.raises(TypeError):
        p.select(1)
    assert p.to_bytes() == q.to_bytes()


def test_direct_methods_keep_signature_and_docstring() -> None:
    import inspect

    for cls in (regretless.UCB1, regretless.ThompsonSampling):
        assert list(inspect.signature(cls.update).parameters) == ["self", "arm", "reward"]
        assert list(inspect.signature(cls.select).parameters) == ["self"]
        assert cls.update.__doc__ and "reward" in cls.update.__doc__
        assert cls.select.__doc__


# Kernel bandits (GPUCB, BKB): the checks that apply to a policy over a fixed candidate set.


def test_kernel_bytes_round_trip_continues_identically(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](11)
    play_kernel(p, 30)
    data = p.to_bytes()
    q = type(p).from_bytes(data)
    assert q.to_bytes() == data
    np.testing.assert_array_equal(q.scores(), p.scores())
    # The restored object makes the same decisions from here on, randomness included.
    assert play_kernel(q, 30, seed=5) == play_kernel(p, 30, seed=5)
    assert q.to_bytes() == p.to_bytes()


def test_kernel_pickle_and_copy_round_trip(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](3)
    play_kernel(p, 20)
    for q in (pickle.loads(pickle.dumps(p)), p.copy(), copy.copy(p), copy.deepcopy(p)):
        assert type(q) is type(p)
        assert q.to_bytes() == p.to_bytes()
    q = p.copy()
    q.update(0, 1.0)
    assert q.counts()[0] == p.counts()[0] + 1, "a copy must be independent of the original"


def test_kernel_same_seed_same_decisions(kernel_name: str) -> None:
    runs = [play_kernel(KERNEL_FACTORIES[kernel_name](s), 60) for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    if kernel_name.startswith("BKB"):
        # The dictionary is resampled from the generator at every step.
        p, q = KERNEL_FACTORIES[kernel_name](7), KERNEL_FACTORIES[kernel_name](8)
        play_kernel(p, 60)
        play_kernel(q, 60)
        assert p.to_bytes() != q.to_bytes()


def test_kernel_select_batch_starts_with_select(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](5)
    play_kernel(p, 15)
    q = p.copy()
    batch = p.select_batch(6)
    assert batch.dtype == np.int64 and len(set(batch.tolist())) == 6
    assert batch[0] == q.select()


def test_kernel_invalid_input_raises_and_changes_nothing(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](2)
    play_kernel(p, 10)
    before = p.to_bytes()
    for arm, reward, exc in [
        (40, 0.5, regretless.ArmError),
        (-1, 0.5, regretless.ArmError),
        (0, float("nan"), regretless.RewardError),
        (0, float("inf"), regretless.RewardError),
    ]:
        with pytest.raises(exc):
            p.update(arm, reward)
    for b in (0, 41):
        with pytest.raises(regretless.InvalidParameterError):
            p.select_batch(b)
    with pytest.raises(regretless.ShapeError):
        p.posterior(np.zeros((3, 5)))
    assert p.to_bytes() == before


def test_kernel_numpy_scalars_are_accepted(kernel_name: str) -> None:
    p, q = KERNEL_FACTORIES[kernel_name](0), KERNEL_FACTORIES[kernel_name](0)
    p.update(np.int64(1), np.float32(0.5))
    q.update(1, 0.5)
    assert p.to_bytes() == q.to_bytes()


def test_kernel_repr_names_class_and_hyperparameters(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](0)
    assert repr(p).startswith(type(p).__name__ + "(n_candidates=40, dim=2, kernel=")


def test_kernel_state_corruption_is_rejected(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](1)
    play_kernel(p, 10)
    data = p.to_bytes()
    cls = type(p)
    other = regretless.BKB if cls is regretless.GPUCB else regretless.GPUCB
    with pytest.raises(regretless.StateError, match="not a"):
        other.from_bytes(data)
    for cut in (0, 3, 8, len(data) // 2, len(data) - 1):
        with pytest.raises(regretless.StateError):
            cls.from_bytes(data[:cut])
    with pytest.raises(regretless.StateError, match="checksum"):
        cls.from_bytes(data[:-6] + bytes([data[-6] ^ 0xFF]) + data[-5:])


def test_kernel_concurrent_use_from_threads_never_corrupts_state(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](1)
    n_threads, steps = 4, 25

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for i in range(steps):
            arm = p.select()
            p.update(arm, float(rng.standard_normal()))
            if i % 10 == 0:
                p.select_batch(5)
                p.posterior()
                p.to_bytes()

    run_in_threads(worker, n_threads)
    assert p.t == n_threads * steps == p.counts().sum()
    q = type(p).from_bytes(p.to_bytes())
    np.testing.assert_array_equal(q.scores(), p.scores())
