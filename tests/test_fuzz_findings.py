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


# Fuzz: state 21 259243 (LinUCB, a Gram entry set to f64::MAX) and state 21 30939
# (HybridLinUCB, a splice over its matrices): valid CRC, finite but out-of-reach values;
# they loaded, and the next valid update overflowed into bytes that no longer loaded.
LINUCB_GRAM_AT_F64_MAX = (
    "52474c530100064c696e554342fef6cf8e8b95b4f2c9018e98bf8c81c18ab9d701ac94ce9bc78cdcf909"
    "c8c9e488c1aea8c1d90103000000000000f03f030985ecc1b56ff466407862f583a1be0fc07010efda79"
    "1021c07862f583a1be0fc0c8c62e317f386b407113ec2583b22fc07010efda791021c07113ec2583b22f"
    "c04c3f1c4094446540031955c1c05e4e31c0fa93778ea7144c40e27586020f2815c009d3faef1e9c5e76"
    "3ffe59e65ea9861f3f427bff30b5ae323ffe59e65ea9861f3fcb48a7b5cdf2723f8e8eca27bda23c3f42"
    "7bff30b5ae323f8e8eca27bda23c3fd6b9261a934c783f03a777b80c45dab6bfaa0ce62db858d03fac76"
    "2fb57d1b88bfcd010000000000a0694000095c6b21603d9769408659f72cabd04340e62e9c8e82121b40"
    "8659f72cabd043405c7d247fb5e26740d028404c9d852740e62e9c8e82121b40d028404c9d852740f004"
    "38d0ea486b400320fd503ab57c42c0c0783d39ab4e47c04f3302ae7d6a37c0092834008869da743fc03a"
    "c262833251bf34acdd354e8e1abfc03ac262833251bf973ffdd3ab64763f3cc307540a2c31bf34acdd35"
    "4e8e1abf3cc307540a2c31bf8577f93ef0d5723f0374581a343a87c1bf692f91190ddecabf79d7525ff6"
    "7ab7bfbc0100000000008067400009c2a5f32f166467404b2321de8a2929c00091cbcedc6010404b2321"
    "de8a2929c0ec00ee6e472064401ae6b61cec3718c00091cbcedc6010401ae6b61cec3718c0e0abc256df"
    "d7674003682b8066cc514940c3edc3274c793ac0ed1ca02bbea1444009ba9de9953503763f0ee57f37de"
    "443b3f6b3ae7c484c71abf0ee57f37de443b3f07baaaef1a9a793f1f089bd488d5283f6b3ae7c484c71a"
    "bfffffffffffffef7ff8a1cba8d781753f03e8c112d13b71d03f4ce4ad8ba17bc1bf2a2e7811d86dca3f"
    "cf010000000000e0694000d80400000000000000f03f2e635101"
)
HYBRID_SPLICED_MATRICES = (
    "52474c5301000c4879627269644c696e554342bde4c3c791f0bdf3ec01d491e1c2d888e4e5df019eba8b"
    "e291e7e3c0e4019c938dcab2848ff1cb010302000000000000f03f000000000000f03f0309bd8fe8aeb5"
    "aef53f14d079e23eb2cd3fd19c05674d3fc23f14d079e23eb2cd3f8ad46cc321e6f53fb191640f1f57dc"
    "bfd19c05674d3fc23fb191640f1f57dcbf9535ea52690a034009cf98d7dc8cb7e83f9f936c9bf0dec3bf"
    "a48a93eace3cb3bf9f936c9bf0dec3bfda6fb86043e0e93f82461fab7e72c43fa48a93eace3cb3bf8246"
    "1fab7e72c43f447f47317a14dd3f06afe7d1bef8e3e63f9eab53fcd89586fd1ff94de83f1b0dedbc6cc3"
    "e93f2631232c70c2ea158cf73ff5c5aad28f5de43f03cfb12f61e84ad0bfe8755a1c22c4e3bf90159e89"
    "1c31f03f0618ab676bb868dc3fb8164e457796e4bf808ca4303324bd3f0069dcbdc34ee3bf573b29f721"
    "9de33f43b99abe43cac83f03f90288f108a1c6bfc83450796217d3bf4072b9998356d83f048918bddd81"
    "7df33f0085226ff172c5bf0485226ff172c5bfa04c3f764a58f63f029f25363337f7db3f911ab1a16870"
    "e73f0416ab31f2150304401627e0ec8bf0f0bf1627e0ec8bf0f0bf609fc81850410c4002809f85898309"
    "df3f14ff23792930f93f02020931f925017334fe3fe9547acde64ce5bf80a179ccc7c6efbfe9547acde6"
    "4ce5bf5ed6e275f9b9fb3fbcd95b720784ed3f80a179ccc7c6efbfbcd95b720784ed3f5c571a27b8f701"
    "400997e13bb6d1dce63f99ceda2a9869c13f8de97ce725a4d03f99ceda2a9869c13f5040e764ed75e83f"
    "fddd5d75da3dd0bf8de97ce725a4d03ffddd5d75da3dd0bff0b83676fe42e53f063e5f416ec8f7f63f36"
    "2eaf005297de3f27a15d6141b9e8bf49a49ecb54c5b9bff7680eab9bfef5bfb11716041dacd5bf03c004"
    "abf1d3c6583fbb37e0fd443c9fbfb765cf0afa9a98bf06c9d91fda8e04e23f4ed234384cb0ce3f12c936"
    "6a61c8a7bfe9f6686242f2b23fbc131682b304d6bf5e6d13b2e23db3bf0361b4de83ca1483bff9673612"
    "dc6b91bf44750c03c40980bf04b972541dc912f53ff3ff29f2d7fad83ff3ff29f2d7fad83f5f513b1f18"
    "f9c03f02b934d24e7293853fc017203d094d17bf0484c5390e16b905409163ace658b8f13f9163ace658"
    "b8f13f2662f34bc252e13f02022532b26746a2bf2316d106b927a0bf020009c8592901be9bfc3fec0663"
    "0e3f1bf13fef30b4e58693e63fec06630e3f1bf13fec3e6a9b01f41b40a8e0a05f76bcfa3fef30b4e586"
    "93e63fa8e0a05f76bcfa3fd2be12211ae7fb3f0925b8fb9afab5e53fccd02c6fb559a9bf639e5f57640f"
    "cdbfccd02c6fb559a9bfba0d7e650939c83f6aea8cda6ca5c4bf639e5f57640fcdbf6aea8cda6ca5c4bf"
    "7b65b3b9fa3bea3f06d1880514ad1de03f660ed871a2a7f2bff2952f8d425212c0009ec5a756a200c00c"
    "75092e9f22d8bf7bfedf200ff4f1bf03303cfda9bdf6a53fc550fd9645ac03406a1dd83c24a1da3f066b"
    "027b7f4feee43f9c8f7d5bd8bbdbbf1ad80172ac96eabfa7d9cacb48cfc3bfceff2b5dcf2dd43f4ce68c"
    "e1ff77d4bf0319d0dff373f3c7bff87388f2245ad93f6867304edeb5b0bf043d6629ffaa101040629186"
    "b9418fe33f639186b9418fe33f215fe26a79f9f23f0256e2d32deb24febfa2f23a1d2608e1bf0482d9cf"
    "4dc8b51940d014626dcc86c5bfd014626dcc86c5bf8aab44722679fc3f02fb7788eb850f06c078c079c0"
    "b5e7d4bf02000478394df035cbc53f77dfbd1dfd15a43f77dfbd1dfd15a43fcde0e94aba0bd03f0275b3"
    "864002ccbbbf9f7da4529539cc3f0663c17a5d"
)


@pytest.mark.parametrize(
    "cls, data, words",
    [
        (regretless.LinUCB, LINUCB_GRAM_AT_F64_MAX, ["ridge model", "beyond"]),
        (regretless.HybridLinUCB, HYBRID_SPLICED_MATRICES, ["HybridLinUCB", "inconsistent"]),
    ],
)
def test_ridge_sums_beyond_their_row_count_are_a_state_error(cls, data, words) -> None:
    # A Gram entry moves by at most 16 n 1e90 over n accepted rows (b: 16 n 1e160), the
    # inverse stays within 1e36: the decoder now refuses what no sequence of calls reaches.
    with pytest.raises(ex.StateError) as e:
        cls.from_bytes(bytes.fromhex(data))
    _words(e.value, words)


def test_linucb_at_the_input_limits_stays_loadable_and_continues_identically() -> None:
    # Contexts, weights and rewards at their limits, through a refactorization: every
    # accepted step leaves bytes that load and continue bit-identically.
    p = regretless.LinUCB(2, 3, lam=1e-30, seed=0)
    rng = np.random.default_rng(1)
    for i in range(1100):
        x = rng.choice([-1e30, 1e30, 1.0, 0.0], size=3)
        try:
            p.update(x, i % 2, float(rng.choice([-1e100, 1e100, 0.5])), weight=1e30)
        except ex.InvalidParameterError as err:
            _words(err, ["x", "ill-conditioned", "not recorded"])
        if i % 97 == 0:
            q = regretless.LinUCB.from_bytes(p.to_bytes())
            x = np.array([1.0, -1.0, 2.0])
            for o in (p, q):
                try:
                    o.update(x, 0, 1.0)
                except ex.InvalidParameterError:
                    pass
            assert q.to_bytes() == p.to_bytes()


def test_ill_conditioned_steps_are_rebuilt_from_the_exact_sums() -> None:
    # lam = 1e-30 beside contexts of order 1: the Sherman-Morrison inverse cancels 1e30
    # against 1e30 and its denominator 1 + x^T A^-1 x turns negative. Such a step now adds
    # the row to the exact sums and refactorizes instead, so the fit is the least-squares
    # one after a handful of rows (not only after the next periodic refactorization),
    # and every state loads and continues identically.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 3))
    beta = np.array([0.5, -1.0, 2.0])
    r = X @ beta + 0.01 * rng.standard_normal(200)
    p = regretless.LinUCB(1, 3, lam=1e-30, seed=0)
    for i in range(200):
        p.update(X[i], 0, float(r[i]))
        if i % 37 == 0:
            q = regretless.LinUCB.from_bytes(p.to_bytes())
            q.update(X[0], 0, 0.0)
            p2 = p.copy()
            p2.update(X[0], 0, 0.0)
            assert q.to_bytes() == p2.to_bytes()
    lstsq = np.linalg.lstsq(X, r, rcond=None)[0]
    np.testing.assert_allclose(p.coefficients()[0], lstsq, rtol=1e-6, atol=1e-9)
    assert abs(p.coefficients()[0] - beta).max() > 1e-5  # the data's noise, not beta
