"""The conformance suite: every stateful class of every family passes the same checks.

The families (multi-armed; contextual, with HybridLinUCB also given per-arm contexts; kernel;
streaming; the OPE accumulator, also over ranked logs) and how each is driven live in
conformance_families.py; each check below is written once and runs over every (family, name)
of the factory tables in conftest.py. Family-specific behaviour (probabilities, arms added and
removed, the direct C entry points, kernel batches) follows.

Which classes do not merge, and why: EXP3, EXP3-IX and SuccessiveElimination (their weights or
eliminations depend on the order of the rewards), SlidingWindowUCB, DiscountedUCB and
DiscountedThompsonSampling (a window or a discount weighs rewards by their position in one
stream) and LogisticUCB / LogisticTS (the online Laplace posterior depends on the order of the
rows) refuse with IncompatibleError; the kernel
bandits (a posterior over one candidate set) and the streaming policies (one pass over a
stream that cannot be split) have no merge method.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import regretless
from conformance_families import CASES, EligibleCalls, Family, assert_same, case_id
from conftest import (
    KERNEL_FACTORIES,
    bernoulli_stream,
    make,
    play,
    play_kernel,
    run_in_threads,
)


@pytest.fixture(params=CASES, ids=[case_id(c) for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[Family, str]:
    return request.param


def _cases(predicate) -> list:
    chosen = [c for c in CASES if predicate(*c)]
    return [pytest.param(*c, id=case_id(c)) for c in chosen]


def test_bytes_round_trip_restores_state_and_continues_identically(case) -> None:
    family, name = case
    p = family.make(name, seed=11)
    family.play(p, 24)
    family.interrupt(p)
    data = p.to_bytes()
    q = type(p).from_bytes(data)
    assert type(q) is type(p) and q.to_bytes() == data
    assert_same(family.observe(q), family.observe(p))
    for view in (bytearray(data), memoryview(data)):
        assert type(p).from_bytes(view).to_bytes() == data
    # The restored object makes the same decisions from here on, randomness included.
    assert family.play(q, 24, seed=5) == family.play(p, 24, seed=5)
    assert q.to_bytes() == p.to_bytes()


def test_pickle_and_copies_are_equal_and_independent(case) -> None:
    family, name = case
    p = family.make(name, seed=3)
    family.play(p, 16)
    original = p.to_bytes()
    pickled = [
        pickle.loads(pickle.dumps(p, protocol=v)) for v in range(2, pickle.HIGHEST_PROTOCOL + 1)
    ]
    for q in (*pickled, p.copy(), copy.copy(p), copy.deepcopy(p)):
        assert type(q) is type(p)
        assert q.to_bytes() == original
        family.play(q, 6, seed=9)
        assert q.to_bytes() != original, "playing the copy must change the copy"
        assert p.to_bytes() == original, "a copy must be independent of the original"
    q = p.copy()
    family.play(p, 6, seed=9)
    assert q.to_bytes() == original, "the original must be independent of its copy"


def test_same_seed_same_decisions_and_different_seed_differs(case) -> None:
    family, name = case
    runs = [family.play(family.make(name, seed=s), 60) for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    if name in family.randomized:
        assert runs[0] != runs[2]


@pytest.mark.parametrize("family, name", _cases(lambda family, name: family.select_batch_is_loop))
def test_select_batch_equals_the_loop_of_selects(family: Family, name: str) -> None:
    p = family.make(name, seed=5)
    family.play(p, 12)
    q = p.copy()
    batch, loop = family.select_batch_and_loop(p, q)
    assert batch == loop
    assert p.to_bytes() == q.to_bytes(), "the batch must consume the generator like the loop"


@pytest.mark.parametrize("family, name", _cases(lambda family, name: family.batch_learning))
def test_batch_learning_equals_the_loop_of_single_calls(family: Family, name: str) -> None:
    p, q = family.make(name, seed=4), family.make(name, seed=4)
    # Four pieces, compared after each: a difference the later data would wash out shows.
    rest, pieces = family.data(family.batch_rows, seed=2), []
    for _ in range(3):
        piece, rest = family.split(rest, family.learn_chunk)
        pieces.append(piece)
    for piece in [*pieces, rest]:
        family.learn(p, piece, batched=True)
        family.learn(q, piece, batched=False)
        if family.batch_rtol == 0.0 or name in family.batch_exact:
            assert p.to_bytes() == q.to_bytes()
        assert_same(family.observe(p), family.observe(q), family.batch_rtol, family.atol)
    assert family.n_learned(p) == family.n_learned(q) > 0


@pytest.mark.parametrize("family, name", _cases(lambda family, name: name in family.not_mergeable))
def test_classes_that_do_not_merge_refuse_and_change_nothing(family: Family, name: str) -> None:
    p, q = family.make(name, seed=1), family.make(name, seed=2)
    family.play(p, 10)
    family.play(q, 10, seed=1)
    refusal = family.not_mergeable[name]
    if refusal is None:
        assert not hasattr(p, "merge")
        return
    exc, match = refusal
    before, other = p.to_bytes(), q.to_bytes()
    with pytest.raises(exc, match=match):
        p.merge(q)
    assert p.to_bytes() == before and q.to_bytes() == other


@pytest.mark.parametrize(
    "family, name",
    _cases(
        lambda family, name: (
            name not in family.not_mergeable and name not in family.merge_approximate
        )
    ),
)
def test_merge_equals_learning_on_the_concatenated_data(family: Family, name: str) -> None:
    data = family.data(150, seed=1)
    first, second = family.split(data, 90)
    s1, s2 = family.merge_seeds
    p, q = family.make_shard(name, s1, 0), family.make_shard(name, s2, 90)
    both = family.make_shard(name, s1, 0)
    family.learn(p, first, batched=True)
    family.learn(q, second, batched=True)
    family.learn(both, data, batched=True)
    other = q.to_bytes()
    merged = family.merge(p, q)
    assert_same(family.observe(merged), family.observe(both), family.merge_rtol, family.atol)
    assert q.to_bytes() == other, "merge must not change its argument"
    family.check_consistent(merged)
    # Merging with itself doubles what was learned (or is refused), and does not deadlock.
    n, counts, before = family.n_learned(merged), family.counts(merged), merged.to_bytes()
    try:
        doubled = family.merge(merged, merged)
    except regretless.RegretlessError:
        assert merged.to_bytes() == before
    else:
        assert family.n_learned(doubled) == 2 * n
        if counts is not None:
            np.testing.assert_array_equal(family.counts(doubled), 2 * counts)


@pytest.mark.parametrize(
    "family, name", _cases(lambda family, name: name not in family.not_mergeable)
)
def test_merge_rejects_mismatched_objects_and_changes_nothing(family: Family, name: str) -> None:
    p = family.make_shard(name, 1, 0)
    family.play(p, 10)
    before = p.to_bytes()
    mismatched = family.mismatched(name)
    assert mismatched
    for other, exc, match in mismatched:
        with pytest.raises(exc, match=match):
            family.merge(p, other)
        assert p.to_bytes() == before


def test_invalid_input_raises_and_changes_nothing(case) -> None:
    family, name = case
    p = family.make(name, seed=2)
    family.play(p, 12)
    family.interrupt(p)
    before = p.to_bytes()
    calls = family.invalid_calls(name, p)
    assert calls
    for label, call, exc in calls:
        with pytest.raises(exc):
            call()
        assert p.to_bytes() == before, f"a refused call changed the state: {label}"
        assert issubclass(exc, regretless.RegretlessError)


@pytest.mark.parametrize(
    "family, name",
    [pytest.param(*c, id=case_id(c)) for c in CASES if c[0].oversized_calls(c[0].make(c[1]))],
)
def test_oversized_requests_raise_before_allocating(family: Family, name: str) -> None:
    p = family.make(name, seed=2)
    family.play(p, 5)
    before = p.to_bytes()
    for label, call, exc in family.oversized_calls(p):
        with pytest.raises(exc):
            call()
        assert p.to_bytes() == before, label


def _has_eligible(family: Family, name: str) -> bool:
    return type(family).eligible_calls is not Family.eligible_calls


def _frequencies_match(draws: np.ndarray, probs: np.ndarray, monte_carlo: int) -> None:
    """Draws against the reported probabilities: every arm's count within 4.5 standard
    deviations of n p on either side, and the chi-square statistic below its 1e-4 upper
    quantile (Wilson-Hilferty); arms reported at 0 are never drawn. Monte Carlo probabilities
    carry their own noise: the variance of observed - n p_hat is n p (1 - p) (1 + n / mc)."""
    n = len(draws)
    observed = np.bincount(draws, minlength=len(probs))
    assert np.all(observed[probs == 0] == 0), (observed, probs)
    support = probs > 0
    inflation = 1 + n / monte_carlo if monte_carlo else 1.0
    p = probs[support]
    deviation = np.abs(observed[support] - n * p)
    assert np.all(deviation <= 4.5 * np.sqrt(n * p * (1 - p) * inflation) + 1e-9), (observed, probs)
    df = int(support.sum()) - 1
    if df >= 1:
        statistic = float(np.sum((observed[support] - n * p) ** 2 / (n * p)) / inflation)
        h = 2 / (9 * df)
        critical = df * (1 - h + 3.719 * np.sqrt(h)) ** 3
        assert statistic < critical, (observed, probs, statistic, critical)


@pytest.mark.parametrize("family, name", _cases(_has_eligible))
def test_eligible_arms_are_honoured(family: Family, name: str) -> None:
    """eligible= (mask or indices) restricts every decision; probabilities are the law of the
    restricted draw; scores are -inf outside; bad masks raise naming `eligible` and change
    nothing; learned state is untouched."""
    p = family.make(name, seed=3)
    family.play(p, 40)
    calls = family.eligible_calls(p)
    assert isinstance(calls, EligibleCalls)
    k = calls.n_arms
    allowed = sorted({1, k - 1})  # one arm when there are two
    mask = np.zeros(k, dtype=bool)
    mask[allowed] = True
    indices = np.array(allowed[::-1])
    counts = family.counts(p)

    full = calls.scores(None)
    masked = calls.scores(mask)
    assert np.all(masked[~mask] == -np.inf)
    np.testing.assert_array_equal(masked[mask], full[mask])
    np.testing.assert_array_equal(calls.scores(indices), masked)
    np.testing.assert_array_equal(calls.scores(list(mask)), masked)

    probs = None
    if calls.probabilities is not None:
        probs = calls.probabilities(mask)
        np.testing.assert_array_equal(calls.probabilities(indices), probs)
        assert np.all(probs[~mask] == 0) and np.all(probs >= 0)
        assert abs(probs.sum() - 1) < 1e-12

    draws = [calls.select(mask if i % 2 else indices) for i in range(3000)]
    if calls.may_skip:  # a budgeted policy skipping a user chooses no arm
        draws = [d for d in draws if d is not None]
    draws = np.array(draws, dtype=np.int64)
    assert set(draws.tolist()) <= set(allowed)
    if probs is not None and len(draws):
        _frequencies_match(draws, probs, calls.monte_carlo)

    if calls.distinct_batch:
        batch = calls.select_batch(mask, 2)
        assert sorted(batch.tolist()) == allowed
    else:
        batch = calls.select_batch(indices, 50)
        assert batch.dtype == np.int64 and set(batch.tolist()) <= set(allowed)
    if calls.per_row_masks:
        rows = np.zeros((40, k), dtype=bool)
        rows[np.arange(40), np.arange(40) % k] = True
        rows[:, 0] = True
        batch = calls.select_batch(rows, 40)
        assert all(rows[i, a] for i, a in enumerate(batch.tolist()))
    # Learned state is untouched by restricted decisions.
    if counts is not None:
        np.testing.assert_array_equal(family.counts(p), counts)

    state = p.to_bytes()
    bad = [
        (np.ones(k + 1, dtype=bool), regretless.ShapeError),
        (np.zeros(k, dtype=bool), regretless.InvalidParameterError),
        ([], regretless.InvalidParameterError),
        (np.array([1, 1]), regretless.InvalidParameterError),
        (np.array([k]), regretless.ArmError),
        (np.array([-1, 0]), regretless.ArmError),
        (np.array([0.0, 1.0]), regretless.DTypeError),
        (["a"], regretless.DTypeError),
        (np.ones((2, k), dtype=bool), regretless.ShapeError),
    ]
    for eligible, error in bad:
        for call in (calls.select, calls.scores, calls.probabilities):
            if call is not None:
                with pytest.raises(error, match="eligible"):
                    call(eligible)
        assert p.to_bytes() == state, eligible
    if calls.per_row_masks:
        rows = np.ones((3, k), dtype=bool)
        rows[1] = False
        with pytest.raises(regretless.InvalidParameterError, match="eligible: no arm .* row 1"):
            calls.select_batch(rows, 3)
        with pytest.raises(regretless.ShapeError, match="eligible"):
            calls.select_batch(np.ones((2, k), dtype=bool), 3)
        assert p.to_bytes() == state


def test_concurrent_use_from_threads_never_corrupts_state(case) -> None:
    family, name = case
    p = family.make(name, seed=1)
    learned = [0] * 4

    def worker(i: int) -> None:
        learned[i] = family.hammer(p, i)

    run_in_threads(worker, 4)
    assert family.n_learned(p) == sum(learned) > 0
    family.check_consistent(p)
    family.check_hammered(p, name)
    q = type(p).from_bytes(p.to_bytes())
    assert q.to_bytes() == p.to_bytes()
    assert_same(family.observe(q), family.observe(p))


def test_state_corruption_is_rejected(case) -> None:
    family, name = case
    p = family.make(name, seed=1)
    family.play(p, 10)
    data = p.to_bytes()
    cls = type(p)
    foreign = regretless.UCBV if cls is regretless.UCB1 else regretless.UCB1
    with pytest.raises(regretless.StateError, match="not a"):
        cls.from_bytes(foreign(3, seed=0).to_bytes())
    for cut in (0, 3, 8, len(data) // 2, len(data) - 1):
        with pytest.raises(regretless.StateError):
            cls.from_bytes(data[:cut])
    with pytest.raises(regretless.StateError, match="checksum"):
        cls.from_bytes(data[:-6] + bytes([data[-6] ^ 0xFF]) + data[-5:])
    for not_bytes in ("state", None, [1, 2]):
        with pytest.raises(regretless.DTypeError):
            cls.from_bytes(not_bytes)


def test_repr_names_class_and_sizes(case) -> None:
    family, name = case
    p = family.make(name)
    assert repr(p).startswith(family.repr_prefix(p)), repr(p)


# ---- multi-armed policies: the checks of their own vocabulary ------------------------------


def test_update_batch_learns_counts_and_means(policy_name: str) -> None:
    arms, rewards = bernoulli_stream(500, 4, seed=2)
    p = make(policy_name)
    p.update_batch(arms, rewards)
    np.testing.assert_array_equal(p.counts(), np.bincount(arms, minlength=4))
    sums = np.bincount(arms, weights=rewards, minlength=4)
    np.testing.assert_allclose(p.means(), sums / np.maximum(p.counts(), 1), rtol=1e-12)
    assert p.n_updates == 500
    assert p.select_batch(0).shape == (0,)


def test_update_batch_accepts_other_dtypes_and_sequences(policy_name: str) -> None:
    p, q = make(policy_name), make(policy_name)
    p.update_batch(np.array([0, 1, 2], dtype=np.int32), np.array([1, 0, 1], dtype=np.int8))
    q.update_batch([0, 1, 2], [1.0, 0.0, 1.0])
    # A non-contiguous float64 view is converted, not misread.
    r = make(policy_name)
    r.update_batch(np.array([0, 9, 1, 9, 2, 9])[::2], np.array([1.0, 5, 0.0, 5, 1.0, 5])[::2])
    assert p.to_bytes() == q.to_bytes() == r.to_bytes()


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


def test_numpy_scalars_are_accepted(policy_name: str) -> None:
    p, q = make(policy_name), make(policy_name)
    p.update(np.int64(1), np.float32(1.0))
    q.update(1, 1.0)
    assert p.to_bytes() == q.to_bytes()


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
        assert list(inspect.signature(cls.select).parameters) == ["self", "eligible"]
        assert inspect.signature(cls.select).parameters["eligible"].kind.name == "KEYWORD_ONLY"
        assert cls.update.__doc__ and "reward" in cls.update.__doc__
        assert cls.select.__doc__


# ---- kernel bandits: a batch is distinct candidates, led by the single choice -------------


def test_kernel_select_batch_starts_with_select(kernel_name: str) -> None:
    p = KERNEL_FACTORIES[kernel_name](5)
    play_kernel(p, 15)
    q = p.copy()
    batch = p.select_batch(6)
    assert batch.dtype == np.int64 and len(set(batch.tolist())) == 6
    assert batch[0] == q.select()


def test_kernel_numpy_scalars_are_accepted(kernel_name: str) -> None:
    p, q = KERNEL_FACTORIES[kernel_name](0), KERNEL_FACTORIES[kernel_name](0)
    p.update(np.int64(1), np.float32(0.5))
    q.update(1, 0.5)
    assert p.to_bytes() == q.to_bytes()
