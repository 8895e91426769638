"""Eligible arms against brute-force references: the restricted probabilities of each kind of
rule computed here from the policy's public state (closed forms, or independent Monte Carlo
from the posterior), and the draws against them. The generic checks (every class, masks and
indices, bad masks, state untouched) are in test_conformance.py."""

from __future__ import annotations

import numpy as np
import pytest
import regretless

K = 6
ELIGIBLE = np.array([0, 2, 3, 5])
MASK = np.isin(np.arange(K), ELIGIBLE)


def trained(policy, steps: int = 300, seed: int = 0):
    """`policy` after `steps` rounds on Bernoulli arms of increasing means."""
    rng = np.random.default_rng(seed)
    means = np.linspace(0.2, 0.8, policy.n_arms)
    for _ in range(steps):
        a = policy.select()
        policy.update(a, float(rng.random() < means[a]))
    return policy


def draw_frequencies(select, n: int) -> np.ndarray:
    return np.bincount([select() for _ in range(n)], minlength=K) / n


def restricted_softmax(logits: np.ndarray) -> np.ndarray:
    w = np.where(MASK, np.exp(logits - logits[MASK].max()), 0.0)
    return w / w.sum()


def test_softmax_is_the_boltzmann_distribution_of_the_eligible_means() -> None:
    p = trained(regretless.Softmax(K, temperature=0.1, seed=1))
    expected = restricted_softmax(p.means() / 0.1)
    np.testing.assert_allclose(p.probabilities(eligible=ELIGIBLE), expected, rtol=1e-12)
    freq = draw_frequencies(lambda: p.select(eligible=ELIGIBLE), 20_000)
    np.testing.assert_allclose(freq, expected, atol=0.015)
    # Not the unrestricted distribution cut and renormalized by a different rule.
    assert p.probabilities(eligible=ELIGIBLE)[1] == 0.0


def test_epsilon_greedy_explores_uniformly_over_the_eligible_arms_only() -> None:
    eps = 0.3
    p = trained(regretless.EpsilonGreedy(K, epsilon=eps, seed=2))
    means = p.means()
    best = ELIGIBLE[np.argmax(means[ELIGIBLE])]
    expected = np.where(MASK, eps / len(ELIGIBLE), 0.0)
    expected[best] += 1 - eps
    np.testing.assert_allclose(p.probabilities(eligible=ELIGIBLE), expected, rtol=1e-12)
    freq = draw_frequencies(lambda: p.select(eligible=ELIGIBLE), 20_000)
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_epsilon_greedy_tries_untried_eligible_arms_first() -> None:
    p = regretless.EpsilonGreedy(K, epsilon=0.1, seed=3)
    p.update(0, 1.0)
    p.update(2, 1.0)
    expected = np.where(np.isin(np.arange(K), [3, 5]), 0.5, 0.0)
    np.testing.assert_array_equal(p.probabilities(eligible=ELIGIBLE), expected)
    assert {p.select(eligible=ELIGIBLE) for _ in range(200)} == {3, 5}


def test_exp3_mixes_gamma_over_the_number_of_eligible_arms() -> None:
    gamma = 0.2
    p = trained(regretless.EXP3(K, gamma=gamma, eta=0.05, seed=4))
    weights = restricted_softmax(-p.eta * p.loss_estimates())
    expected = np.where(MASK, (1 - gamma) * weights + gamma / len(ELIGIBLE), 0.0)
    got = p.probabilities(eligible=ELIGIBLE)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert abs(got.sum() - 1) < 1e-12
    freq = draw_frequencies(lambda: p.select(eligible=ELIGIBLE), 20_000)
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_exp3ix_is_the_exponential_weights_of_the_eligible_arms() -> None:
    p = trained(regretless.EXP3IX(K, seed=5))
    expected = restricted_softmax(-p.eta * p.loss_estimates())
    np.testing.assert_allclose(p.probabilities(eligible=ELIGIBLE), expected, rtol=1e-12)


def test_exp3_restriction_has_no_underflow() -> None:
    """The best arm ineligible with weights far apart: the eligible weights are shifted by
    their own minimum loss, so they do not underflow to a 0 / 0."""
    p = regretless.EXP3(3, eta=50.0, gamma=0.0, seed=6)
    for _ in range(40):
        p.update(1, 0.0)
        p.update(2, 0.0)
        p.update(0, 1.0)
    q = p.probabilities(eligible=[1, 2])
    assert np.all(np.isfinite(q)) and abs(q.sum() - 1) < 1e-12 and q[0] == 0


def test_thompson_sampling_matches_an_independent_posterior_monte_carlo() -> None:
    p = trained(regretless.ThompsonSampling(K, seed=7), steps=60)
    counts, means = p.counts(), p.means()
    a, b = 1 + counts * means, 1 + counts * (1 - means)
    rng = np.random.default_rng(8)
    samples = rng.beta(a[ELIGIBLE], b[ELIGIBLE], size=(200_000, len(ELIGIBLE)))
    expected = np.zeros(K)
    expected[ELIGIBLE] = np.bincount(samples.argmax(axis=1), minlength=len(ELIGIBLE)) / 200_000
    # The policy's own estimate uses 10,000 draws: 4.5 of its standard deviations.
    got = p.probabilities(eligible=ELIGIBLE)
    tolerance = 4.5 * np.sqrt(expected * (1 - expected) / 10_000) + 1e-9
    assert np.all(np.abs(got - expected) <= tolerance), (got, expected)
    freq = draw_frequencies(lambda: p.select(eligible=ELIGIBLE), 20_000)
    assert np.all(np.abs(freq - expected) <= tolerance + 0.012), (freq, expected)


def uniform_over_maximizers(values: np.ndarray) -> np.ndarray:
    best = np.flatnonzero(values == values.max())
    return np.where(np.isin(np.arange(K), best), 1.0 / len(best), 0.0)


@pytest.mark.parametrize("name", ["UCB1", "KLUCB", "MOSS", "BayesUCB", "UCBV"])
def test_index_policies_take_the_argmax_of_their_index_over_the_eligible_arms(name) -> None:
    p = trained(getattr(regretless, name)(K, seed=9))
    expected = uniform_over_maximizers(np.where(MASK, p.scores(), -np.inf))
    np.testing.assert_array_equal(p.probabilities(eligible=ELIGIBLE), expected)
    best = set(np.flatnonzero(expected).tolist())
    assert {p.select(eligible=MASK) for _ in range(50)} <= best


def test_successive_elimination_plays_the_least_pulled_eligible_active_arm() -> None:
    p = trained(regretless.SuccessiveElimination(K, seed=9))
    active = np.isfinite(p.scores())
    priority = np.where(active & MASK, -p.counts().astype(float), -np.inf)
    np.testing.assert_array_equal(
        p.probabilities(eligible=ELIGIBLE), uniform_over_maximizers(priority)
    )
    # Only eliminated arms eligible: the mask overrides the elimination, uniformly.
    eliminated = np.flatnonzero(~active)
    if len(eliminated):
        q = p.probabilities(eligible=eliminated)
        np.testing.assert_allclose(q[eliminated], 1.0 / len(eliminated))


def test_restricted_decisions_leave_learned_state_alone() -> None:
    p = trained(regretless.UCB1(K, seed=10))
    q = regretless.UCB1.from_bytes(p.to_bytes())
    for _ in range(100):
        p.select(eligible=[1])
    np.testing.assert_array_equal(p.counts(), q.counts())
    np.testing.assert_array_equal(p.means(), q.means())
    # Updates of ineligible arms are recorded as ever.
    p.update(4, 1.0)
    q.update(4, 1.0)
    assert p.to_bytes() == q.to_bytes()


# ---- contextual -----------------------------------------------------------------------------


def contextual(policy, n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((K, policy.dim))
    X = rng.standard_normal((n, policy.dim))
    arms = rng.integers(0, K, n)
    rewards = 1.0 / (1.0 + np.exp(-np.einsum("ij,ij->i", X, theta[arms])))
    policy.update_batch(X, arms, rewards)
    return policy, rng.standard_normal((3, policy.dim))


def test_lingreedy_explores_over_the_eligible_arms() -> None:
    eps = 0.25
    p, X = contextual(regretless.LinGreedy(K, 3, epsilon=eps, seed=11))
    means = p.mean(X)
    expected = np.where(MASK, eps / len(ELIGIBLE), 0.0) * np.ones((3, 1))
    for i in range(3):
        expected[i, ELIGIBLE[np.argmax(means[i, ELIGIBLE])]] += 1 - eps
    np.testing.assert_allclose(p.probabilities(X, eligible=ELIGIBLE), expected, rtol=1e-12)
    freq = draw_frequencies(lambda: p.select(X[0], eligible=ELIGIBLE), 20_000)
    np.testing.assert_allclose(freq, expected[0], atol=0.015)


@pytest.mark.parametrize("cls", [regretless.GibbsGreedy, regretless.KLRegularizedUCB])
def test_gibbs_policies_restrict_the_gibbs_distribution(cls) -> None:
    p, X = contextual(cls(K, 3, eta=4.0, seed=12))
    pi_ref = np.random.default_rng(13).dirichlet(np.ones(K), size=3)
    full = p.probabilities(X, pi_ref)
    expected = np.where(MASK, full, 0.0)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p.probabilities(X, pi_ref, eligible=ELIGIBLE), expected, rtol=1e-12)
    freq = draw_frequencies(lambda: p.select(X[0], pi_ref[0], eligible=ELIGIBLE), 20_000)
    np.testing.assert_allclose(freq, expected[0], atol=0.015)


def test_lints_matches_an_independent_monte_carlo_of_its_sampled_scores() -> None:
    v = 0.8
    p, X = contextual(regretless.LinTS(K, 3, v=v, seed=14))
    mean, width = p.mean(X[:1])[0], p.width(X[:1])[0]
    rng = np.random.default_rng(15)
    draws = mean[ELIGIBLE] + v * width[ELIGIBLE] * rng.standard_normal((200_000, len(ELIGIBLE)))
    expected = np.zeros(K)
    expected[ELIGIBLE] = np.bincount(draws.argmax(axis=1), minlength=len(ELIGIBLE)) / 200_000
    got = p.probabilities(X[:1], eligible=ELIGIBLE)[0]
    tolerance = 4.5 * np.sqrt(expected * (1 - expected) / 4096) + 1e-9
    assert np.all(np.abs(got - expected) <= tolerance), (got, expected)
    freq = draw_frequencies(lambda: p.select(X[0], eligible=ELIGIBLE), 20_000)
    assert np.all(np.abs(freq - expected) <= tolerance + 0.012), (freq, expected)


def test_linucb_top_k_and_scores_over_the_eligible_arms() -> None:
    p, X = contextual(regretless.LinUCB(K, 3, seed=16))
    scores = p.scores(X)
    top = p.top_k(X, 3, eligible=ELIGIBLE)
    for i in range(3):
        order = ELIGIBLE[np.argsort(-scores[i, ELIGIBLE], kind="stable")]
        np.testing.assert_array_equal(top[i], order[:3])
    rows = np.ones((3, K), dtype=bool)
    rows[1, :4] = False
    per_row = p.top_k(X, 2, eligible=rows)
    assert set(per_row[1].tolist()) <= {4, 5}
    with pytest.raises(regretless.InvalidParameterError, match="k: must be at most"):
        p.top_k(X, 5, eligible=ELIGIBLE)
    decisions = p.select_batch(X, eligible=rows)
    for i, a in enumerate(decisions):
        masked = np.where(rows[i], scores[i], -np.inf)
        assert a == np.argmax(masked)


def test_hybrid_linucb_decides_among_the_eligible_arms() -> None:
    p = regretless.HybridLinUCB(K, 3, 2, seed=17)
    rng = np.random.default_rng(18)
    X, Z = rng.standard_normal((50, 3)), rng.standard_normal((50, 2))
    p.update_batch(X, rng.integers(0, K, 50), rng.random(50), Z=Z)
    scores = p.scores(X[:5], Z[:5])
    decisions = p.select_batch(X[:5], Z[:5], eligible=ELIGIBLE)
    for i, a in enumerate(decisions):
        assert a == ELIGIBLE[np.argmax(scores[i, ELIGIBLE])]
    probs = p.probabilities(X[:5], Z[:5], eligible=MASK)
    np.testing.assert_array_equal(probs.argmax(axis=1), decisions)
    top = p.top_k(X[:5], 2, Z[:5], eligible=ELIGIBLE)
    np.testing.assert_array_equal(top[:, 0], decisions)


def test_kernel_batches_pick_distinct_eligible_candidates() -> None:
    x = np.linspace(0, 1, 20)[:, None]
    p = regretless.GPUCB(x, regretless.RBF(0.3), seed=19)
    scores = p.scores()
    eligible = np.arange(0, 20, 3)
    assert p.select(eligible=eligible) == eligible[np.argmax(scores[eligible])]
    batch = p.select_batch(len(eligible), eligible=eligible)
    assert sorted(batch.tolist()) == eligible.tolist()
    with pytest.raises(regretless.InvalidParameterError, match="eligible candidates"):
        p.select_batch(len(eligible) + 1, eligible=eligible)


@pytest.mark.parametrize("cls", ["EXP3", "EXP3IX"])
def test_exp3_masked_decision_records_the_restricted_propensity(cls: str) -> None:
    # The loss estimate of a masked decision divides by the probability the arm was drawn
    # with, the restricted one, not by its unrestricted probability.
    policy = getattr(regretless, cls)(3, eta=0.2, seed=3)
    policy.update_batch([0, 1, 2] * 4, [0.9, 0.1, 0.5] * 4)
    restricted = policy.probabilities(eligible=[1, 2])
    unrestricted = policy.probabilities()
    arm = policy.select(eligible=[1, 2])
    assert arm in (1, 2) and policy.pending_counts().tolist()[arm] == 1
    assert abs(restricted[arm] - unrestricted[arm]) > 0.05  # the two rules differ here
    before = policy.scores()[arm]
    policy.update(arm, 0.0)  # loss 1
    gamma = 0.1 if cls == "EXP3IX" else 0.0  # EXP3-IX's implicit exploration: eta / 2
    expected = 1.0 / (restricted[arm] + gamma)
    assert policy.scores()[arm] == pytest.approx(before - expected, rel=1e-12)
    assert policy.pending_counts().tolist() == [0, 0, 0]


def test_tsallis_masked_decision_renormalizes_and_records() -> None:
    policy = regretless.TsallisINF(3, seed=5)
    policy.update_batch([0, 1, 2] * 4, [0.9, 0.1, 0.5] * 4)
    full = policy.probabilities()
    restricted = policy.probabilities(eligible=[0, 2])
    np.testing.assert_allclose(restricted, [full[0], 0.0, full[2]] / (full[0] + full[2]))
    arm = policy.select(eligible=[0, 2])
    assert arm in (0, 2) and policy.pending_counts().tolist()[arm] == 1
    before = policy.scores()[arm]
    policy.update(arm, 0.0)
    assert policy.scores()[arm] == pytest.approx(before - 1.0 / restricted[arm], rel=1e-12)


@pytest.mark.parametrize("as_set", [set, frozenset])
def test_a_set_of_arm_indices_is_the_same_as_the_sorted_list(as_set) -> None:
    policies = [trained(regretless.TsallisINF(K, seed=s)) for s in (3, 3)]
    by_set = [policies[0].select(eligible=as_set(ELIGIBLE.tolist())) for _ in range(200)]
    by_list = [policies[1].select(eligible=ELIGIBLE.tolist()) for _ in range(200)]
    assert by_set == by_list
    assert set(by_set) <= set(ELIGIBLE.tolist()) and len(set(by_set)) > 1
    assert np.array_equal(
        policies[0].probabilities(eligible=as_set(ELIGIBLE.tolist())),
        policies[1].probabilities(eligible=ELIGIBLE.tolist()),
    )


def test_a_zero_one_integer_mask_is_refused_with_a_hint_to_pass_booleans() -> None:
    policy = regretless.UCB1(3, seed=0)
    with pytest.raises(regretless.InvalidParameterError, match="must be boolean"):
        policy.select(eligible=[0, 1, 1])
