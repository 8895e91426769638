"""Regressions for findings of the fuzzers in tests/fuzz: 64-bit integer arguments beyond
range, a horizon whose recorded points overflow, decoded hyperparameters out of range, and
an accumulator's row index running past 2**64 - 1. Each raises the project's own exception
naming the argument (or, for bytes, StateError saying what was invalid), and changes nothing.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import regretless
from regretless import exceptions as ex
from regretless import ope

ENV = regretless.BernoulliEnv([0.2, 0.5, 0.8])


def _words(exc: BaseException, words: list[str]) -> None:
    text = str(exc)
    for w in words:
        assert w in text, (w, text)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda h: regretless.MOSS(3, horizon=h), "horizon"),
        (lambda h: regretless.EXP3(3, horizon=h), "horizon"),
        (lambda h: regretless.EXP3IX(3, horizon=h), "horizon"),
        (lambda h: regretless.BayesUCB(3, horizon=h), "horizon"),
        (lambda h: regretless.SlidingWindowUCB(3, horizon=h), "horizon"),
        (lambda w: regretless.SlidingWindowUCB(3, window=w), "window"),
        (lambda h: regretless.DiscountedUCB(3, horizon=h), "horizon"),
        (lambda v: ope.InverseProbabilityWeighting().accumulator(first_row=v), "first_row"),
        (lambda v: regretless.simulate(regretless.UCB1(3), ENV, v, seed=0), "horizon"),
        (lambda v: regretless.simulate(regretless.UCB1(3), ENV, 5, n_runs=v, seed=0), "n_runs"),
        (
            lambda v: regretless.simulate(regretless.UCB1(3), ENV, 5, seed=0, record_every=v),
            "record_every",
        ),
    ],
)
def test_integers_beyond_64_bits_name_the_argument(call, name) -> None:
    for value in (2**64, 2**70):
        with pytest.raises(ex.InvalidParameterError) as info:
            call(value)
        top = "2**63" if name == "first_row" else "2**64"
        _words(info.value, [f"{name}:", "must be an integer in [", f", {top})", str(value)])
    # The largest 64-bit value itself is in range for the converter: whatever the callee
    # then says, it is the project's exception, not a bare OverflowError.
    try:
        call(2**64 - 1)
    except ex.RegretlessError as exc:
        assert name in str(exc)


@pytest.mark.parametrize(
    "call",
    [
        lambda: regretless.UCB1(3, seed=True),
        lambda: regretless.LinUCB(2, 2, seed=np.bool_(False)),
        lambda: regretless.UniformExploration(3, True),
        lambda: regretless.MOSS(3, horizon=True),
        lambda: ope.OffPolicyAccumulator("ipw", 0.0, 0, 0, True),
    ],
)
def test_bools_are_not_seeds_or_horizons(call) -> None:
    with pytest.raises(ex.DTypeError, match="got bool"):
        call()


def test_simulate_horizon_at_the_top_of_the_range_is_refused_before_allocating() -> None:
    # horizon / record_every + 1 recorded points wrapped to 0 for 2**64 - 1 (a panic).
    for horizon in (2**64 - 1, 2**64 - 2):
        with pytest.raises(ex.RegretlessError) as info:
            regretless.simulate(regretless.UCB1(3), ENV, horizon, seed=0)
        _words(info.value, ["horizon"])


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_decoded_hyperparameter_out_of_range_is_a_state_error() -> None:
    data = regretless.UCB1(3, alpha=1.5, seed=0).to_bytes()
    alpha = struct.pack("<d", 1.5)
    assert data.count(alpha) == 1
    bad = _with_crc(data[:-4].replace(alpha, struct.pack("<d", -1.0)))
    with pytest.raises(ex.StateError) as info:
        regretless.UCB1.from_bytes(bad)
    _words(info.value, ["invalid UCB1 state", "alpha"])
    assert not isinstance(info.value, ex.InvalidParameterError)
    # The untouched bytes still load (the CRC helper rebuilds the same checksum).
    assert regretless.UCB1.from_bytes(_with_crc(data[:-4])).to_bytes() == data


def test_row_index_past_2_64_is_refused_and_changes_nothing() -> None:
    # A shard starts at most at 2**63 - 1, so that rows can always follow it.
    for first_row in (2**63, 2**64 - 1):
        with pytest.raises(ex.InvalidParameterError) as info:
            ope.InverseProbabilityWeighting().accumulator(first_row=first_row)
        _words(info.value, ["first_row", "[0, 2**63)", str(first_row)])
    top = ope.InverseProbabilityWeighting().accumulator(first_row=2**63 - 1)
    assert top.first_row == 2**63 - 1
    top.push([1.0], [0], [0.5], [0.5])
    assert type(top).from_bytes(top.to_bytes()).to_bytes() == top.to_bytes()
    # Bytes of an older build could start a shard at 2**64 - 1 (the last index, which no
    # row can take): they load, and a push is refused whole instead of wrapping the index.
    empty = ope.InverseProbabilityWeighting().accumulator(first_row=2**63 - 1).to_bytes()
    varint_top, varint_last = b"\xff" * 8 + b"\x7f", b"\xff" * 9 + b"\x01"  # postcard varints
    assert empty.count(varint_top) == 2  # first_row and the next row
    old = type(top).from_bytes(_with_crc(empty[:-4].replace(varint_top, varint_last)))
    assert old.first_row == 2**64 - 1
    before = old.to_bytes()
    with pytest.raises(ex.InvalidParameterError) as info:
        old.push([1.0], [0], [0.5], [0.5])
    _words(info.value, ["first_row", "2**64 - 1", "1 rows"])
    assert old.to_bytes() == before and old.rows == 0


def _gpucb(history: list[tuple[int, float]]) -> regretless.GPUCB:
    p = regretless.GPUCB(
        np.linspace(0.0, 1.0, 12)[:, None], regretless.RBF(0.3), noise=1e-6, seed=4
    )
    for i, y in history:
        p.update(i, y)
    return p


def test_gpucb_bytes_with_a_posterior_foreign_to_their_history_load_as_that_history() -> None:
    # GPUCB stores its posterior next to the (index, reward) history it derives from. Bytes
    # with a recomputed CRC could hold a finite posterior another history (or none) gives;
    # they loaded, and the next update overflowed: a checkpoint that would not load back.
    # The posterior is now rebuilt from the history on load.
    history = [(3, 0.5), (7, -0.25), (3, 0.75), (11, 1.0), (0, -1.0)]
    p = _gpucb(history)
    data = p.to_bytes()
    assert regretless.GPUCB.from_bytes(data).to_bytes() == data
    mean = p.posterior()[0]
    body = data[:-4]
    for v in mean[::3]:
        packed = struct.pack("<d", v)
        assert body.count(packed) == 1
        body = body.replace(packed, struct.pack("<d", 1e300))
    q = regretless.GPUCB.from_bytes(_with_crc(body))
    assert q.to_bytes() == data
    q.update(5, 1e100)
    assert regretless.GPUCB.from_bytes(q.to_bytes()).to_bytes() == q.to_bytes()

    # Another recorded reward: the loaded posterior is that history's, bit for bit.
    reward = struct.pack("<d", -0.25)
    assert data.count(reward) == 1
    q = regretless.GPUCB.from_bytes(_with_crc(data[:-4].replace(reward, struct.pack("<d", 2.0))))
    want = _gpucb([(i, 2.0 if y == -0.25 else y) for i, y in history])
    np.testing.assert_array_equal(q.posterior()[0], want.posterior()[0])
    assert q.to_bytes() == want.to_bytes()
    # A recorded reward beyond the input limit is corrupt bytes.
    with pytest.raises(ex.StateError) as info:
        regretless.GPUCB.from_bytes(_with_crc(data[:-4].replace(reward, struct.pack("<d", 1e101))))
    _words(info.value, ["GPUCB", "reward"])


KERNEL_X = np.random.default_rng(123).uniform(size=(12, 2))


def test_gpucb_with_a_noise_far_below_the_kernel_scale_stays_loadable() -> None:
    # noise=1e-20 beside polynomial kernel values of order 1: rounding errors of the
    # posterior rows grew until the 12th update overflowed and the bytes no longer loaded
    # (fuzz: scalars 21 24839). The observation variance is now floored at 1e-10 max k(x, x).
    p = regretless.GPUCB(KERNEL_X, regretless.Polynomial(0.3), noise=1e-20, seed=0)
    rng = np.random.default_rng(0)
    f = np.sin(5 * KERNEL_X[:, 0])
    for _ in range(60):
        i = p.select()
        p.update(i, float(f[i] + 0.1 * rng.standard_normal()))
        assert regretless.GPUCB.from_bytes(p.to_bytes()).to_bytes() == p.to_bytes()
    mean, var = p.posterior()
    assert np.isfinite(mean).all() and np.isfinite(var).all()
    assert p.t == 60


def test_bkb_with_a_candidate_scaled_to_1e33_keeps_updating() -> None:
    # An accepted candidate of norm 1e33 (k(x, x) = 1e66 <= 1e100): the regularized design
    # A_t = Z^T N Z + lam I lost lam beside entries of 1e66, its Cholesky factor failed and
    # the 4th update raised "lam: the regularized design is not positive definite" (fuzz:
    # state 21 723902). Every pivot of A_t is >= lam in exact arithmetic: floored at lam.
    X = KERNEL_X.copy()
    X[2, 0] = 1e33
    p = regretless.BKB(X, regretless.Linear(), qbar=1.0, beta_scale=0.2, seed=0)
    for i in [2, 0, 3, 4] * 3:
        p.update(i, 0.5)
    assert p.t == 12
    mean, var = p.posterior()
    assert np.isfinite(mean).all() and np.isfinite(var).all()
    assert regretless.BKB.from_bytes(p.to_bytes()).to_bytes() == p.to_bytes()
