"""Numerical extremes: index solvers terminate and stay correct at the ends of their
input range, Softmax at extreme temperatures, the documented input limits that keep every
state finite (refused calls change nothing), counts that refuse to overflow, and merge
messages that name what differs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import regretless
from regretless import ope


def kl_poisson(p: float, q: float) -> float:
    """Reference Poisson divergence, u - log1p(u) scaled by p (exact near q = p)."""
    if p == 0:
        return q
    u = q / p - 1.0
    return p * (u - math.log1p(u)) if abs(u) > 1e-4 else p * (u * u / 2 - u**3 / 3 + u**4 / 4)


def test_klucb_poisson_with_a_huge_mean_returns_the_index() -> None:
    # The reported hang: the bracket stopped moving below an ulp of the mean.
    p = regretless.KLUCB(2, divergence="poisson", seed=0)
    p.update(0, 1e33)
    p.update(1, 1.0)
    assert p.select() == 0
    scores = p.scores()
    level = math.log(2)
    # Arm 0's index is within a few ulps of 1e33 (its width, ~3.7e16, is below one ulp
    # of 1.4e17): n kl is at most the level at the index and above it one step right.
    assert 1e33 <= scores[0] <= 1e33 + 4 * math.ulp(1e33)
    # Arm 1: the root of kl(1, q) = ln 2, checked on both sides.
    q = scores[1]
    assert kl_poisson(1.0, q * (1 - 1e-9)) <= level <= kl_poisson(1.0, q * (1 + 1e-9))


@pytest.mark.parametrize("mean", [1e-300, 1e-9, 3.0, 1e12, 1e50, 1e100])
def test_klucb_poisson_index_solves_its_equation_at_extreme_means(mean: float) -> None:
    p = regretless.KLUCB(2, divergence="poisson", seed=0)
    p.update_batch([0, 0, 1], [mean, mean, 1.0])
    n, level = 2, math.log(3)
    q = p.scores()[0]
    assert q >= mean
    tol = 8 * math.ulp(q) + 1e-9 * (q - mean)
    assert n * kl_poisson(mean, max(mean, q - tol)) <= level * (1 + 1e-9)
    assert n * kl_poisson(mean, q + tol) >= level * (1 - 1e-9)


def test_bayes_ucb_index_at_extreme_counts_is_a_probability() -> None:
    p = regretless.BayesUCB(2, seed=0)
    p.update_batch(np.zeros(5000, dtype=np.int64), np.ones(5000))
    p.update(1, 0.0)
    s = p.scores()
    assert 1 - 1e-3 < s[0] < 1.0 and 0.0 < s[1] < 1.0


def test_bayes_ucb_priors_are_limited_and_extreme_ones_load() -> None:
    with pytest.raises(regretless.InvalidParameterError, match=r"prior_alpha.*1e100"):
        regretless.BayesUCB(2, prior_alpha=1.7e308)
    p = regretless.BayesUCB(2, prior_alpha=1e100, prior_beta=1e-300, seed=0)
    p.update_batch([0, 0, 1], [1.0, 0.0, 1.0])
    p.select()
    q = regretless.BayesUCB.from_bytes(p.to_bytes())
    assert q.to_bytes() == p.to_bytes() and q.select() == p.select()


def softmax_reference(means: np.ndarray, temperature: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (means - means.max()) / temperature  # -inf where a gap overflows: weight 0
    w = np.exp(z)
    return w / w.sum()


@pytest.mark.parametrize("temperature", [1e-308, 1e-300, 1e-3, 1.0, 1e300, 1e308])
@pytest.mark.parametrize(
    "means", [[0.2, 0.9, 0.5], [0.9, 0.9, -0.5], [0.0, 0.0, 0.0], [1e100, -1e100, 1e100]]
)
def test_softmax_probabilities_match_numpy_at_extreme_temperatures(
    temperature: float, means: list[float]
) -> None:
    p = regretless.Softmax(3, temperature=temperature, seed=0)
    p.update_batch([0, 1, 2], means)
    got = p.probabilities()
    want = softmax_reference(np.array(means), temperature)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    if temperature <= 1e-300:
        # Cold: the best arms (ties included) share all the mass, and play only them.
        best = np.flatnonzero(np.array(means) == max(means))
        plays = {p.select() for _ in range(200)}
        assert plays <= set(best.tolist())
        assert len(plays) == len(best)


def test_real_rewards_are_limited_to_1e100_and_a_refusal_changes_nothing() -> None:
    for make in (
        lambda: regretless.EpsilonGreedy(2, seed=0),
        lambda: regretless.Softmax(2, seed=0),
        lambda: regretless.KLUCB(2, divergence="gaussian", seed=0),
        lambda: regretless.KLUCB(2, divergence="poisson", seed=0),
        lambda: regretless.GaussianThompsonSampling(2, seed=0),
    ):
        p = make()
        p.update(0, 1e100)
        before = p.to_bytes()
        for bad in (1e300, -1.0000001e100, math.inf):
            with pytest.raises(regretless.RewardError, match="1e100"):
                p.update(0, bad)
            with pytest.raises(regretless.RewardError, match="1e100"):
                p.update_batch([1, 0], [0.0, bad])
        assert p.to_bytes() == before
        if "poisson" not in repr(p):
            p.update(0, -1e100)
        q = type(p).from_bytes(p.to_bytes())
        assert q.to_bytes() == p.to_bytes()


CONTEXTUAL = [
    lambda: regretless.LinUCB(2, 2, seed=0),
    lambda: regretless.LinTS(2, 2, seed=0),
    lambda: regretless.LinGreedy(2, 2, seed=0),
    lambda: regretless.KLRegularizedUCB(2, 2, seed=0),
    lambda: regretless.LogisticUCB(2, 2, seed=0),
]


@pytest.mark.parametrize("make", CONTEXTUAL)
def test_near_singular_gram_matrices_still_load(make) -> None:
    # 1e8 * 1e8 swamps lam = 1 in the Gram matrix: numerically singular, still a state
    # that updates produce, so it must load and continue identically.
    p = make()
    p.update(np.array([1e8, 1e8]), 0, 1.0)
    p.update(np.array([1e30, -1e30]), 1, 0.0, 1e30)
    q = type(p).from_bytes(p.to_bytes())
    assert q.to_bytes() == p.to_bytes()
    x = np.array([0.3, -0.2])
    for _ in range(5):
        a, b = p.select(x), q.select(x)
        assert a == b
        p.update(x, a, 0.5)
        q.update(x, b, 0.5)
    assert q.to_bytes() == p.to_bytes()


@pytest.mark.parametrize("make", CONTEXTUAL)
def test_contexts_weights_and_lam_are_limited(make) -> None:
    p = make()
    before = p.to_bytes()
    with pytest.raises(regretless.InvalidParameterError, match=r"x.*1e30"):
        p.update(np.array([1e200, 0.0]), 0, 1.0)
    with pytest.raises(regretless.InvalidParameterError, match=r"X.*1e30"):
        p.update_batch(np.array([[0.0, 0.0], [0.0, -2e30]]), np.array([0, 1]), np.zeros(2))
    with pytest.raises(regretless.InvalidParameterError, match=r"weight.*1e30"):
        p.update(np.array([1.0, 0.0]), 0, 1.0, 1e31)
    assert p.to_bytes() == before
    with pytest.raises(regretless.InvalidParameterError, match=r"lam.*1e-30"):
        type(p)(2, 2, lam=1e-31)


def test_linear_rewards_are_limited_to_1e100() -> None:
    p = regretless.LinUCB(2, 2, seed=0)
    with pytest.raises(regretless.RewardError, match="1e100"):
        p.update(np.array([1.0, 0.0]), 0, 1e101)


def test_hybrid_limits_and_near_singular_state() -> None:
    p = regretless.HybridLinUCB(2, 2, 2, seed=0)
    p.update(np.array([1e8, 1e8]), 0, 1.0, z=np.array([1e8, 1e8]))
    q = regretless.HybridLinUCB.from_bytes(p.to_bytes())
    assert q.to_bytes() == p.to_bytes()
    before = p.to_bytes()
    with pytest.raises(regretless.InvalidParameterError, match=r"x.*1e30"):
        p.update(np.array([1e200, 0.0]), 0, 1.0, z=np.zeros(2))
    with pytest.raises(regretless.RewardError, match="1e100"):
        p.update(np.array([1.0, 0.0]), 0, 1e300, z=np.zeros(2))
    assert p.to_bytes() == before


def test_kernel_scales_are_limited() -> None:
    X = np.linspace(0, 1, 5)[:, None]
    with pytest.raises(regretless.InvalidParameterError, match=r"variance.*1e100"):
        regretless.GPUCB(X, regretless.RBF(1.0, variance=1e160))
    with pytest.raises(regretless.InvalidParameterError, match=r"lengthscale.*1e-100"):
        regretless.GPUCB(X, regretless.RBF(1e-200))
    with pytest.raises(regretless.InvalidParameterError, match=r"kernel.*1e100"):
        regretless.GPUCB(X * 1e60, regretless.Linear(1.0))
    with pytest.raises(regretless.InvalidParameterError, match=r"noise.*1e-30"):
        regretless.GPUCB(X, regretless.RBF(1.0), noise=1e-300)
    with pytest.raises(regretless.InvalidParameterError, match=r"lam.*1e-30"):
        regretless.BKB(X, regretless.RBF(1.0), lam=5e-324)
    # At the ends of the ranges, checkpoints load and continue.
    for kernel in (regretless.RBF(1e-100, variance=1e100), regretless.Matern(1e-100, nu=1.5)):
        gp = regretless.GPUCB(X, kernel, noise=1e-30, seed=0)
        for r in (1e100, -1e100, 0.0):
            gp.update(gp.select(), r)
        q = regretless.GPUCB.from_bytes(gp.to_bytes())
        assert q.to_bytes() == gp.to_bytes()
        assert q.select() == gp.select()
        assert np.all(np.isfinite(gp.posterior()[0]))


def test_merge_with_itself_doubles_and_overflow_raises() -> None:
    p = regretless.UCB1(2, seed=0)
    p.update(0, 1.0)
    p.update(1, 0.0)
    p.merge(p)
    assert p.counts().tolist() == [2, 2] and p.n_updates == 4
    np.testing.assert_array_equal(p.means(), [1.0, 0.0])
    for _ in range(61):
        p.merge(p)
    assert p.n_updates == 2**63
    before = p.to_bytes()
    with pytest.raises(regretless.IncompatibleError, match="update count"):
        p.merge(p)
    assert p.to_bytes() == before
    q = regretless.UCB1.from_bytes(before)
    assert q.counts().tolist() == p.counts().tolist()


def test_merge_overflow_raises_for_contextual_policies() -> None:
    p = regretless.LinUCB(2, 2, seed=0)
    p.update(np.array([1.0, 0.0]), 0, 1.0)
    for _ in range(63):
        p.merge(p)
    assert p.n_updates == 2**63
    before = p.to_bytes()
    with pytest.raises(regretless.IncompatibleError, match="update count"):
        p.merge(p)
    assert p.to_bytes() == before


@pytest.mark.parametrize(
    "make, x",
    [
        (lambda: regretless.UCB1(2, seed=0), None),
        (lambda: regretless.LinUCB(2, 2, seed=0), np.array([1.0, 0.0])),
    ],
)
def test_updates_beyond_2_to_the_64_raise(make, x) -> None:
    # Sum 1 + 2 + ... + 2**63 = 2**64 - 1 updates by merging doubling copies.
    unit, total = make(), make()
    args = (x,) if x is not None else ()
    unit.update(*args, 0, 1.0)
    for _ in range(64):
        total.merge(unit)
        if unit.n_updates < 2**63:
            unit.merge(unit)
    assert total.n_updates == 2**64 - 1
    before = total.to_bytes()
    with pytest.raises(regretless.InvalidParameterError, match="n_updates"):
        total.update(*args, 0, 1.0)
    assert total.to_bytes() == before
    assert type(total).from_bytes(before).to_bytes() == before
    if x is None:
        # Runs and replays continue the policy's count: refused before any step.
        with pytest.raises(regretless.InvalidParameterError, match="n_updates"):
            regretless.simulate(total, regretless.BernoulliEnv([0.2, 0.8]), 10, n_runs=1)
        with pytest.raises(regretless.InvalidParameterError, match="n_updates"):
            ope.replay(total, np.array([0, 1]), np.array([1.0, 0.0]))


def test_accumulator_merge_overflow_raises() -> None:
    acc = ope.InverseProbabilityWeighting().accumulator()
    acc.push([1.0, 0.0], [0, 1], [0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]])
    for _ in range(62):
        acc = acc.merge(acc)
    assert acc.rows == 2**63
    with pytest.raises(regretless.IncompatibleError, match="row count"):
        acc.merge(acc)
    again = type(acc).from_bytes(acc.to_bytes())
    assert again.rows == 2**63 and again.result().estimate == pytest.approx(0.5)


def test_merge_messages_name_the_differing_hyperparameter() -> None:
    with pytest.raises(regretless.IncompatibleError) as e:
        regretless.UCB1(2, alpha=1.0).merge(regretless.UCB1(2, alpha=2.0))
    msg = str(e.value)
    assert "other" in msg and "alpha=2" in msg and "alpha=1" in msg
    assert "hyperparameters must match" in msg and "UCB1Params" not in msg
    with pytest.raises(regretless.IncompatibleError) as e:
        regretless.KLUCB(2, c=1.0).merge(regretless.KLUCB(2, c=0.0))
    msg = str(e.value)
    assert "c=0" in msg and "c=1" in msg and "plus" not in msg and "divergence" not in msg
    with pytest.raises(regretless.IncompatibleError, match="EXP3 does not support merge"):
        regretless.EXP3(2).merge(regretless.EXP3(2))
    with pytest.raises(regretless.IncompatibleError, match="EXP3IX does not support merge"):
        regretless.EXP3IX(2).merge(regretless.EXP3IX(2))
    with pytest.raises(regretless.IncompatibleError, match=r"UCB1 with 3 arms into one with 2"):
        regretless.UCB1(2).merge(regretless.UCB1(3))
    with pytest.raises(regretless.IncompatibleError) as e:
        regretless.LinUCB(2, 2, alpha=1.0).merge(regretless.LinUCB(2, 2, alpha=0.5))
    msg = str(e.value)
    assert "LinUCB with alpha=0.5 into LinUCB with alpha=1" in msg and "lam" not in msg
    with pytest.raises(regretless.IncompatibleError, match="dimension 3"):
        regretless.LinUCB(2, 2).merge(regretless.LinUCB(2, 3))
    with pytest.raises(regretless.IncompatibleError) as e:
        regretless.HybridLinUCB(2, 2, 2, lam=1.0).merge(regretless.HybridLinUCB(2, 2, 2, lam=2.0))
    assert "HybridLinUCB with lam=2 into HybridLinUCB with lam=1" in str(e.value)


def test_merge_of_another_class_names_both_python_classes() -> None:
    # Through the family base class too; EXP3's core kind is spelled Exp3.
    ucb = regretless.UCB1(2, seed=0)
    ucb.update(0, 1.0)
    before = ucb.to_bytes()
    for merge in (ucb.merge, lambda o: regretless.Bandit.merge(ucb, o)):
        with pytest.raises(regretless.DTypeError, match=r"other: expected a UCB1, got EXP3$"):
            merge(regretless.EXP3(2))
    assert ucb.to_bytes() == before
    lin = regretless.LinUCB(2, 2, seed=0)
    with pytest.raises(regretless.DTypeError, match="expected a LinUCB, got LinGreedy"):
        regretless.ContextualBandit.merge(lin, regretless.LinGreedy(2, 2))
