"""Off-policy estimators: agreement with a numpy transcription of obp's definitions,
unbiasedness and interval coverage on data with known truth, streaming equal to in-memory,
replay, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import regretless
from regretless import datasets, ope


@pytest.fixture
def pa():
    return pytest.importorskip("pyarrow")


ALL = [
    ope.DirectMethod(),
    ope.InverseProbabilityWeighting(),
    ope.InverseProbabilityWeighting(lambda_=3.0),
    ope.SelfNormalizedInverseProbabilityWeighting(),
    ope.DoublyRobust(),
    ope.DoublyRobust(lambda_=2.0),
    ope.SelfNormalizedDoublyRobust(),
    ope.SwitchDoublyRobust(lambda_=2.5),
    ope.DoublyRobustWithShrinkage(lambda_=5.0),
    ope.DoublyRobustWithShrinkage(),
]


def reference_round_rewards(est, reward, action, pscore, pi, q, position):
    """obp's per-round rewards, written from the estimator definitions in numpy."""
    n = action.shape[0]
    idx = np.arange(n)
    w = pi[idx, action, position] / pscore
    pi_at = pi[idx, :, position]
    q_at = q[idx, :, position]
    dm = np.average(q_at, weights=pi_at, axis=1)
    res = reward - q[idx, action, position]
    lam = est.lambda_
    name = est.estimator_name
    if name == "dm":
        return dm
    if name == "ipw":
        return reward * np.minimum(w, lam)
    if name == "snipw":
        return reward * w / w.mean()
    if name == "dr":
        return dm + np.minimum(w, lam) * res
    if name == "sndr":
        return dm + w * res / w.mean()
    if name == "switch-dr":
        return dm + (w <= lam) * w * res
    if name == "dr-os":
        shrunk = w if math.isinf(lam) else (lam * w / (w**2 + lam) if lam > 0 else 0 * w)
        return dm + shrunk * res
    raise AssertionError(name)


def ranked_logs(n=5000, k=6, slots=3, seed=0):
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.ones(k), size=(n, slots)).transpose(0, 2, 1).copy()
    q = rng.random((n, k, slots))
    action = rng.integers(0, k, n)
    position = rng.integers(0, slots, n)
    pscore = np.full(n, 1.0 / k)
    reward = (rng.random(n) < q[np.arange(n), action, position]).astype(float)
    return reward, action, pscore, pi, q, position


@pytest.mark.parametrize("est", ALL, ids=repr)
def test_matches_numpy_reference_with_positions(est) -> None:
    reward, action, pscore, pi, q, position = ranked_logs()
    res = est.evaluate(
        reward=reward,
        action=action,
        pscore=pscore,
        action_dist=pi,
        position=position,
        estimated_rewards_by_reg_model=q,
        return_round_rewards=True,
    )
    ref = reference_round_rewards(est, reward, action, pscore, pi, q, position)
    assert res.estimate == pytest.approx(ref.mean(), abs=1e-10)
    np.testing.assert_allclose(res.round_rewards, ref, rtol=0, atol=1e-10)
    if est.estimator_name not in ("snipw", "sndr"):
        se = ref.std(ddof=1) / np.sqrt(len(ref))
        assert res.std_err == pytest.approx(se, rel=1e-10)
        z = 1.959963984540054
        assert res.ci[0] == pytest.approx(ref.mean() - z * se, abs=1e-10)
    assert res.n_rounds == len(reward)


def test_w3_layout_and_two_dimensional_action_dist_agree() -> None:
    logs = datasets.synthetic_logs(20_000, n_actions=10, seed=5)
    pi = logs.softmax_policy(10.0)
    q = np.clip(logs.expected_reward + 0.05, 0, 1)
    idx = np.arange(logs.n_rounds)
    ipw_np = np.mean(logs.reward * pi[idx, logs.action] / logs.pscore)
    dr_np = np.mean(
        np.einsum("ij,ij->i", q, pi)
        + pi[idx, logs.action] / logs.pscore * (logs.reward - q[idx, logs.action])
    )
    common = dict(reward=logs.reward, action=logs.action, pscore=logs.pscore)
    for dist, model in [(pi, q), (pi[:, :, None], q[:, :, None])]:
        ipw = ope.InverseProbabilityWeighting().estimate_policy_value(action_dist=dist, **common)
        dr = ope.DoublyRobust().estimate_policy_value(
            action_dist=dist, estimated_rewards_by_reg_model=model, **common
        )
        assert ipw == pytest.approx(ipw_np, abs=1e-10)
        assert dr == pytest.approx(dr_np, abs=1e-10)
    # Only the logged action's probability: the same IPW; int rewards are accepted.
    pe = pi[idx, logs.action]
    r = ope.InverseProbabilityWeighting().evaluate(
        reward=logs.reward.astype(np.int64), action=logs.action, pscore=logs.pscore, action_dist=pe
    )
    assert r.estimate == pytest.approx(ipw_np, abs=1e-10)
    assert r.mean_weight == pytest.approx(np.mean(pe / logs.pscore), rel=1e-12)
    w = pe / logs.pscore
    assert r.ess == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-10)


def test_obp_style_interval_and_round_rewards() -> None:
    logs = datasets.synthetic_logs(5000, n_actions=4, seed=2)
    pi = logs.softmax_policy(2.0)
    args = dict(reward=logs.reward, action=logs.action, pscore=logs.pscore, action_dist=pi)
    est = ope.SelfNormalizedInverseProbabilityWeighting()
    ci = est.estimate_interval(**args, alpha=0.1, n_bootstrap_samples=300, random_state=3)
    assert set(ci) == {"mean", "90.0% CI (lower)", "90.0% CI (upper)", "ess"}
    value = est.estimate_policy_value(**args)
    assert ci["ess"] == value.ess == est.evaluate(**args).ess
    assert ci["90.0% CI (lower)"] < value < ci["90.0% CI (upper)"]
    assert ci == est.estimate_interval(**args, alpha=0.1, n_bootstrap_samples=300, random_state=3)
    rr = est.estimate_round_rewards(**args)
    w = pi[np.arange(logs.n_rounds), logs.action] / logs.pscore
    np.testing.assert_allclose(rr, logs.reward * w / w.mean(), atol=1e-12)
    assert rr.mean() == pytest.approx(value, abs=1e-12)


def replications(n_reps, n, seed0, make_q):
    for r in range(n_reps):
        logs = datasets.synthetic_logs(n, n_actions=5, seed=seed0 + r)
        pi = logs.softmax_policy(3.0)
        yield logs, pi, make_q(logs), logs.policy_value(pi)


UNBIASED = [
    ope.InverseProbabilityWeighting(),
    ope.DoublyRobust(),
    ope.SwitchDoublyRobust(),
    ope.DoublyRobustWithShrinkage(lambda_=math.inf),
]


def test_unbiased_on_synthetic_data_with_known_truth() -> None:
    # A deliberately wrong reward model: DR must stay unbiased through its correction.
    errors = {e.estimator_name: [] for e in UNBIASED}
    reps = list(replications(300, 1000, 100, lambda lg: np.clip(lg.expected_reward + 0.15, 0, 1)))
    for logs, pi, q, truth in reps:
        for est in UNBIASED:
            v = est.estimate_policy_value(
                reward=logs.reward,
                action=logs.action,
                pscore=logs.pscore,
                action_dist=pi,
                estimated_rewards_by_reg_model=q,
            )
            errors[est.estimator_name].append(v - truth)
    for name, err in errors.items():
        err = np.array(err)
        se = err.std(ddof=1) / np.sqrt(len(err))
        assert abs(err.mean()) < 2 * se, f"{name}: mean error {err.mean():.5f}, 2 SE {2 * se:.5f}"
    # DM with the wrong model is biased by about the model's error: the check has power.
    dm = [
        ope.DirectMethod().estimate_policy_value(action_dist=pi, estimated_rewards_by_reg_model=q)
        - truth
        for logs, pi, q, truth in reps[:20]
    ]
    assert np.mean(dm) > 0.05


@pytest.mark.parametrize(
    "est",
    [
        ope.InverseProbabilityWeighting(),
        ope.SelfNormalizedInverseProbabilityWeighting(),
        ope.DoublyRobust(),
        ope.SelfNormalizedDoublyRobust(),
    ],
    ids=repr,
)
def test_normal_intervals_cover_about_95_percent(est) -> None:
    covered = []
    for logs, pi, q, truth in replications(
        300, 2000, 1000, lambda lg: np.clip(lg.expected_reward - 0.1, 0, 1)
    ):
        r = est.evaluate(
            reward=logs.reward,
            action=logs.action,
            pscore=logs.pscore,
            action_dist=pi,
            estimated_rewards_by_reg_model=q,
        )
        covered.append(r.ci[0] <= truth <= r.ci[1])
    assert 0.90 <= np.mean(covered) <= 0.99, np.mean(covered)


Z_975 = 1.959963984540054


def binomial_band(p: float, reps: int) -> tuple[float, float]:
    """Three binomial standard deviations around a coverage of ``p`` over ``reps``."""
    sd = math.sqrt(p * (1 - p) / reps)
    return p - 3 * sd, p + 3 * sd


def sd_ratio_band(reps: int) -> tuple[float, float]:
    """Three standard deviations of a sample SD's ratio to the true one, over ``reps``
    roughly normal estimates: ``1 / sqrt(2 (reps - 1))`` each."""
    sd = 1 / math.sqrt(2 * (reps - 1))
    return 1 - 3 * sd, 1 + 3 * sd


@pytest.mark.parametrize(
    "est", [ope.InverseProbabilityWeighting(), ope.SelfNormalizedDoublyRobust()], ids=repr
)
def test_bootstrap_intervals_cover_about_95_percent(est) -> None:
    # Two-sided: the coverage within three binomial SDs of 95 % (its upper end is above 1
    # at 120 replications, so it cannot catch intervals that are too wide), and the width
    # against the true sampling SD: the RMS of the bootstrap half-widths over z must be
    # the SD of the errors over the replications, to within three SDs of a sample SD.
    # (Mutation check: Poisson(0.5) bootstrap weights widen the interval by sqrt(2); the
    # coverage stays in the band, the width ratio fails.)
    reps = 120
    covered, errors, half_widths = [], [], []
    for i, (logs, pi, q, truth) in enumerate(
        replications(reps, 1500, 5000, lambda lg: lg.expected_reward * 0.8)
    ):
        r = est.evaluate(
            reward=logs.reward,
            action=logs.action,
            pscore=logs.pscore,
            action_dist=pi,
            estimated_rewards_by_reg_model=q,
            n_bootstrap=200,
            seed=i,
        )
        assert r.n_bootstrap == 200
        lo, hi = r.bootstrap_ci
        covered.append(lo <= truth <= hi)
        errors.append(r.estimate - truth)
        half_widths.append((hi - lo) / 2)
    low, _ = binomial_band(0.95, reps)
    assert low <= np.mean(covered) <= 1.0, np.mean(covered)
    ratio = np.sqrt(np.mean(np.square(half_widths))) / Z_975 / np.std(errors, ddof=1)
    lo_ratio, hi_ratio = sd_ratio_band(reps)
    assert lo_ratio <= ratio <= hi_ratio, ratio


@pytest.mark.parametrize(
    "est",
    [ope.SelfNormalizedInverseProbabilityWeighting(), ope.SelfNormalizedDoublyRobust()],
    ids=repr,
)
def test_self_normalized_standard_errors_match_the_monte_carlo_sd(est) -> None:
    # One problem (one seed's coefficients), cut into disjoint data sets of n rows: the
    # SD of the estimates over them is the true sampling SD, which the delta-method
    # standard error (RMS over the data sets) must match within three SDs of a sample SD.
    # (Mutation check: doubling the diagonal terms of the delta-method variance, a factor
    # of sqrt(2) on the standard error, fails it; so does dropping them.)
    reps, n = 200, 2000
    logs = datasets.synthetic_logs(reps * n, n_actions=5, seed=7)
    pi = logs.softmax_policy(3.0)
    q = np.clip(logs.expected_reward - 0.1, 0, 1)
    estimates, std_errs = [], []
    for c in range(reps):
        rows = slice(c * n, (c + 1) * n)
        r = est.evaluate(
            reward=logs.reward[rows],
            action=logs.action[rows],
            pscore=logs.pscore[rows],
            action_dist=pi[rows],
            estimated_rewards_by_reg_model=q[rows],
        )
        estimates.append(r.estimate)
        std_errs.append(r.std_err)
    ratio = np.sqrt(np.mean(np.square(std_errs))) / np.std(estimates, ddof=1)
    low, high = sd_ratio_band(reps)
    assert low <= ratio <= high, ratio


def small_ess_replications(reps, n=200, seed0=0):
    """The issue's regime: a logger far from a peaked evaluation policy, ESS about 15 of
    200 rows (``benches/ope_coverage.py``'s "small" regime)."""
    for r in range(reps):
        logs = datasets.synthetic_logs(n, n_actions=10, behavior_beta=-2.0, seed=seed0 + r)
        pi = logs.softmax_policy(20.0)
        yield logs, pi, np.clip(logs.expected_reward - 0.1, 0, 1), logs.policy_value(pi)


def coverage_at_small_ess(est, reps, n_bootstrap):
    hits = {"normal": [], "percentile": [], "studentized": [], "bernstein": []}
    ess = []
    for i, (logs, pi, q, truth) in enumerate(small_ess_replications(reps)):
        with pytest.warns(regretless.SmallSampleWarning, match=r"effective sample size"):
            r = est.evaluate(
                reward=logs.reward,
                action=logs.action,
                pscore=logs.pscore,
                action_dist=pi,
                estimated_rewards_by_reg_model=q,
                n_bootstrap=n_bootstrap,
                seed=i,
                small_sample_intervals=True,
            )
        ess.append(r.ess)
        cis = (r.ci, r.bootstrap_ci, r.studentized_ci, r.bernstein_ci)
        for key, ci in zip(hits, cis, strict=True):
            hits[key].append(ci[0] <= truth <= ci[1])
    return {k: float(np.mean(v)) for k, v in hits.items()}, float(np.median(ess))


@pytest.mark.parametrize(
    "est",
    [ope.SelfNormalizedInverseProbabilityWeighting(), ope.SelfNormalizedDoublyRobust()],
    ids=repr,
)
def test_small_ess_intervals_keep_coverage_where_the_normal_one_loses_it(est) -> None:
    # At ESS ~15 the normal interval of the self-normalized estimators under-covers
    # (0.86-0.87 on the coverage table in benches/README.md); the Bernstein bound keeps
    # 95 % (lower end of the binomial band) and the studentized bootstrap does better than
    # the normal interval.
    reps = 120
    cover, ess = coverage_at_small_ess(est, reps, n_bootstrap=100)
    assert 10 < ess < 25, ess
    low, _ = binomial_band(0.95, reps)
    assert cover["normal"] < low, cover  # the regime is the one the issue describes
    assert cover["bernstein"] >= low, cover
    assert cover["studentized"] >= cover["normal"], cover


@pytest.mark.slow
@pytest.mark.parametrize(
    "est",
    [
        ope.InverseProbabilityWeighting(),
        ope.SelfNormalizedInverseProbabilityWeighting(),
        ope.DoublyRobust(),
        ope.SelfNormalizedDoublyRobust(),
    ],
    ids=repr,
)
def test_small_ess_coverage_long_run(est) -> None:
    reps = 1000
    cover, _ = coverage_at_small_ess(est, reps, n_bootstrap=200)
    low, _ = binomial_band(0.95, reps)
    assert cover["bernstein"] >= low, cover
    if est.estimator_name == "dr":
        # DR's normal interval holds here and its studentized one does not (0.92 on the
        # coverage table): the documented exception.
        assert cover["normal"] >= low, cover
    else:
        # Closer to 95 % than the normal interval, not at it for SNDR (0.90-0.92).
        assert cover["studentized"] > cover["normal"] + 0.02, cover


def test_effective_sample_size_is_reported_everywhere_and_warns_below_the_threshold(pa) -> None:
    # Kish's ESS of w = pi_e(a|x) / pscore, the weights of the DR and SNDR residuals too.
    logs = datasets.synthetic_logs(3000, n_actions=5, seed=4)
    pi = logs.softmax_policy(3.0)
    q = logs.expected_reward
    w = pi[np.arange(3000), logs.action] / logs.pscore
    kish = w.sum() ** 2 / (w**2).sum()
    assert 100 < kish < 3000  # above the threshold: no warning (warnings are errors here)
    args = dict(reward=logs.reward, action=logs.action, pscore=logs.pscore, action_dist=pi)
    for est in [ope.DoublyRobust(), ope.SelfNormalizedDoublyRobust(), ope.DoublyRobust(2.0)]:
        r = est.evaluate(**args, estimated_rewards_by_reg_model=q)
        assert r.ess == pytest.approx(kish, rel=1e-12)
        v = est.estimate_policy_value(**args, estimated_rewards_by_reg_model=q)
        assert isinstance(v, float) and v == r.estimate and v.ess == r.ess
        for method in ("percentile", "studentized", "bernstein", "normal"):
            ci = est.estimate_interval(
                **args,
                estimated_rewards_by_reg_model=q,
                method=method,
                n_bootstrap_samples=50,
                random_state=1,
            )
            assert ci["ess"] == r.ess
        acc = est.accumulator()
        acc.push(**{**args, "estimated_rewards": q})
        assert acc.summary(0.05)["ess"] == pytest.approx(kish, rel=1e-12)
    assert math.isnan(
        ope.DirectMethod().evaluate(action_dist=pi, estimated_rewards_by_reg_model=q).ess
    )
    # The intervals estimate_interval selects are the result's fields.
    ipw = ope.InverseProbabilityWeighting()
    full = ipw.evaluate(**args, n_bootstrap=50, seed=1, small_sample_intervals=True)
    for method, field in [
        ("percentile", full.bootstrap_ci),
        ("studentized", full.studentized_ci),
        ("bernstein", full.bernstein_ci),
        ("normal", full.ci),
    ]:
        ci = ipw.estimate_interval(**args, method=method, n_bootstrap_samples=50, random_state=1)
        assert (ci["95.0% CI (lower)"], ci["95.0% CI (upper)"]) == field, method
    assert full.bernstein_ci[0] < full.ci[0] and full.ci[1] < full.bernstein_ci[1]
    with pytest.raises(regretless.InvalidParameterError, match="method"):
        ipw.estimate_interval(**args, method="bca")
    with pytest.raises(regretless.InvalidParameterError, match="small_sample_intervals"):
        ipw.evaluate(**args, small_sample_intervals=1)
    # Below the threshold: every kind of result warns, naming the ESS and the threshold.
    small = dict(args, reward=args["reward"][:60], action=args["action"][:60])
    small.update(pscore=args["pscore"][:60], action_dist=pi[:60])
    pattern = rf"effective sample size of \d+\.\d.*threshold {ope.SMALL_ESS_THRESHOLD:g}"
    with pytest.warns(regretless.SmallSampleWarning, match=pattern) as caught:
        ess60 = ipw.evaluate(**small).ess
    assert f"{ess60:.1f}" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller
    with pytest.warns(regretless.SmallSampleWarning, match=pattern) as caught:
        ipw.estimate_policy_value(**small)
    assert caught[0].filename == __file__
    with pytest.warns(regretless.SmallSampleWarning, match=pattern):
        ipw.estimate_interval(**small, n_bootstrap_samples=20)
    acc = ipw.accumulator()
    acc.push(small["reward"], small["action"], small["pscore"], small["action_dist"])
    with pytest.warns(regretless.SmallSampleWarning, match=pattern):
        acc.result()
    table = logs.to_arrow(action_dist=pi).slice(0, 60)
    with pytest.warns(regretless.SmallSampleWarning, match=pattern):
        ope.estimate_stream(table, ipw, action_dist="action_dist")
    assert issubclass(regretless.SmallSampleWarning, regretless.RegretlessWarning)
    assert issubclass(regretless.RegretlessWarning, UserWarning)


def same(a: ope.EstimateResult, b: ope.EstimateResult) -> bool:
    """Equal to the last bit (repr of floats round-trips; NaN equals NaN)."""
    return repr(a.to_dict()) == repr(b.to_dict())


def test_stream_over_parquet_equals_in_memory(tmp_path, pa) -> None:
    import pyarrow.parquet as pq

    logs = datasets.synthetic_logs(100_003, n_actions=4, seed=9)
    pi = logs.softmax_policy(2.0)
    q = np.clip(logs.expected_reward + 0.1, 0, 1)
    path = tmp_path / "logs.parquet"
    pq.write_table(logs.to_arrow(action_dist=pi, q_hat=q), path, row_group_size=30_011)
    seen = []
    # Estimators must have distinct names in one pass: split the list by name.
    by_name: dict[str, list] = {}
    for est in ALL:
        by_name.setdefault(est.estimator_name, []).append(est)
    groups = [[v[i] for v in by_name.values() if i < len(v)] for i in range(2)]
    for group in groups:
        streamed = ope.estimate_stream(
            path,
            group,
            action_dist="action_dist",
            estimated_rewards_by_reg_model="q_hat",
            batch_size=7_777,
            n_bootstrap=20,
            seed=4,
            progress=seen.append,
        )
        for est in group:
            mem = est.evaluate(
                reward=logs.reward,
                action=logs.action,
                pscore=logs.pscore,
                action_dist=pi,
                estimated_rewards_by_reg_model=q,
                n_bootstrap=20,
                seed=4,
            )
            assert same(streamed[est.estimator_name], mem), est
    assert seen[-1] == logs.n_rounds


def test_stream_with_a_callable_policy_a_shared_table_and_a_reader(pa) -> None:
    logs = datasets.synthetic_logs(20_000, n_actions=3, seed=11)
    table = logs.to_arrow()
    pi = logs.softmax_policy(4.0)
    expected = ope.InverseProbabilityWeighting().evaluate(
        reward=logs.reward, action=logs.action, pscore=logs.pscore, action_dist=pi
    )
    calls = []

    def policy(batch):  # the rows of pi_e for this batch (a model would use batch.context)
        calls.append(len(batch))
        start = sum(calls[:-1])
        return pi[start : start + len(batch)]

    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(3_000))
    got = ope.InverseProbabilityWeighting().estimate_stream(reader, action_dist=policy)
    assert same(got, expected)
    shared = np.array([[0.2, 0.3, 0.5]])
    s = ope.SelfNormalizedInverseProbabilityWeighting().estimate_stream(
        table, action_dist=shared, batch_size=4096
    )
    w = shared[0, logs.action] / logs.pscore
    assert s.estimate == pytest.approx((w * logs.reward).sum() / w.sum(), abs=1e-12)
    with pytest.raises(regretless.ShapeError, match="shared by every row"):
        ope.estimate_stream(table, ope.InverseProbabilityWeighting(), action_dist=pi)


def test_stream_errors_name_the_row_and_the_renamed_column(pa) -> None:
    logs = datasets.synthetic_logs(10_000, n_actions=3, seed=1)
    table = logs.to_arrow(pe=logs.behavior_policy[np.arange(10_000), logs.action])
    table = table.rename_columns(["action", "reward", "propensity", "context", "pe"])
    p = table.column("propensity").to_numpy().copy()
    p[7_500] = 0.0
    table = table.set_column(2, "propensity", pa.array(p))
    with pytest.raises(regretless.InvalidParameterError, match=r"pscore\[7500\].*'propensity'"):
        ope.estimate_stream(
            table,
            ope.InverseProbabilityWeighting(),
            action_dist="pe",
            columns={"pscore": "propensity"},
            batch_size=1000,
        )


@pytest.mark.parametrize("est", [e for e in ALL if e.estimator_name != "dm"], ids=repr)
def test_integer_rewards_and_int32_actions_are_read_in_place(est) -> None:
    # obp's rewards are int64 and Arrow actions often int32: read without a float copy,
    # and exactly the float64 / int64 result (the row-by-row path gives the same terms).
    logs = datasets.synthetic_logs(3_000, n_actions=7, seed=9)
    pi = logs.softmax_policy(4.0)[:, :, None]
    q = np.clip(logs.expected_reward + 0.1, 0, 1)[:, :, None]
    reward = (logs.reward > 0.5).astype(np.int64)
    args = dict(pscore=logs.pscore, action_dist=pi, estimated_rewards_by_reg_model=q)
    ref = est.evaluate(reward=reward.astype(float), action=logs.action, **args)
    for r, a in [(reward, logs.action.astype(np.int32)), (reward, logs.action)]:
        got = est.evaluate(reward=r, action=a, return_round_rewards=True, **args)
        assert got.estimate == ref.estimate
        assert got.std_err == ref.std_err
        assert got.round_rewards.mean() == pytest.approx(ref.estimate, abs=1e-12)


def test_every_row_is_validated_in_the_fused_pass() -> None:
    # Errors from rows deep inside the W3 layout (per-row tables, one slot), with int64
    # rewards and int32 actions borrowed as they are.
    n, k = 70_000, 10
    rng = np.random.default_rng(3)
    pi = rng.dirichlet(np.ones(k), size=n)[:, :, None]
    action = rng.integers(0, k, n).astype(np.int32)
    reward = rng.integers(0, 2, n)
    pscore = np.full(n, 1.0 / k)
    ipw = ope.InverseProbabilityWeighting()
    base = dict(reward=reward, action=action, pscore=pscore, action_dist=pi)
    assert ipw.evaluate(**base).n_rounds == n
    for row, value, pattern in [
        (65_537, 1.0, r"action_dist\[65537\].*sum to"),
        (40_001, -0.1, r"action_dist\[40001\]: probability -0.1 of action 4"),
        (69_999, np.nan, r"action_dist\[69999\]: probability NaN"),
    ]:
        d = pi.copy()
        d[row, 4, 0] = value
        with pytest.raises(regretless.InvalidParameterError, match=pattern):
            ipw.evaluate(**{**base, "action_dist": d})
    a = action.copy()
    a[33_333] = k
    with pytest.raises(regretless.ArmError, match=r"action\[33333\]"):
        ipw.evaluate(**{**base, "action": a})
    p = pscore.copy()
    p[12_345] = 0.0
    with pytest.raises(regretless.InvalidParameterError, match=r"pscore\[12345\]"):
        ipw.evaluate(**{**base, "pscore": p})
    # validate=False trusts the row sums only: the same estimate on valid input, no error
    # on a row that does not sum to one, and every other check still in place.
    assert ipw.evaluate(**base, validate=False).estimate == ipw.evaluate(**base).estimate
    d = pi.copy()
    d[65_537, 4, 0] = 1.0
    assert ipw.evaluate(**{**base, "action_dist": d}, validate=False).n_rounds == n
    with pytest.raises(regretless.InvalidParameterError, match=r"pscore\[12345\]"):
        ipw.evaluate(**{**base, "pscore": p}, validate=False)
    with pytest.raises(regretless.ArmError, match=r"action\[33333\]"):
        ipw.evaluate(**{**base, "action": a}, validate=False)
    bad = reward.astype(float)
    bad[9] = np.nan
    with pytest.raises(regretless.RewardError, match=r"reward\[9\]"):
        ipw.evaluate(**{**base, "reward": bad}, validate=False)
    with pytest.raises(regretless.InvalidParameterError, match="validate"):
        ipw.evaluate(**base, validate=0)


@pytest.mark.parametrize("n", [1, 63, 65, 32_767, 32_769, 100_001])
def test_trusted_and_validated_paths_equal_the_numpy_reference(n) -> None:
    # The block loops with validate=True and validate=False (one fused pass over the
    # table, or a gather of the logged entry) against numpy, for int64 and int32 actions,
    # odd n and n below one chunk; non-contiguous and other-dtype inputs are converted and
    # give the same numbers.
    k = 10
    rng = np.random.default_rng(n)
    pi = rng.dirichlet(np.ones(k), size=n)
    q = rng.random((n, k))
    action = rng.integers(0, k, n)
    reward = rng.integers(0, 2, n)
    pscore = rng.uniform(0.05, 1.0, n)
    idx = np.arange(n)
    w = pi[idx, action] / pscore
    ref_ipw = float(np.mean(reward * w))
    ref_dr = float(np.mean(np.einsum("ij,ij->i", q, pi) + w * (reward - q[idx, action])))
    ipw, dr = ope.InverseProbabilityWeighting(), ope.DoublyRobust()
    for a in (action, action.astype(np.int32)):
        args = dict(reward=reward, action=a, pscore=pscore)
        results = []
        for validate in (True, False):
            got_ipw = ipw.evaluate(**args, action_dist=pi[:, :, None], validate=validate)
            got_dr = dr.evaluate(
                **args,
                action_dist=pi[:, :, None],
                estimated_rewards_by_reg_model=q[:, :, None],
                validate=validate,
            )
            assert got_ipw.estimate == pytest.approx(ref_ipw, rel=1e-12, abs=1e-12)
            assert got_dr.estimate == pytest.approx(ref_dr, rel=1e-12, abs=1e-12)
            results.append((got_ipw, got_dr))
        # Both paths compute the same terms: bit-for-bit the same results.
        assert same(results[0][0], results[1][0]) and same(results[0][1], results[1][1])
    # Fortran-ordered and strided tables, float32 propensities, a strided action array.
    pi_f = np.asfortranarray(pi)[:, :, None]
    wide = np.zeros((n, 2 * k))
    wide[:, ::2] = pi
    strided_action = np.repeat(action, 2)[::2]
    for validate in (True, False):
        for act, dist in ((strided_action, pi_f), (action, wide[:, ::2])):
            got = ipw.evaluate(
                reward=reward, action=act, pscore=pscore, action_dist=dist, validate=validate
            )
            assert got.estimate == pytest.approx(ref_ipw, rel=1e-12, abs=1e-12)
        p32 = pscore.astype(np.float32)
        ref32 = float(np.mean(reward * pi[idx, action] / p32.astype(np.float64)))
        got = ipw.evaluate(
            reward=reward, action=action, pscore=p32, action_dist=pi, validate=validate
        )
        assert got.estimate == pytest.approx(ref32, rel=1e-12, abs=1e-12)


def test_bad_input_raises_clear_errors() -> None:
    reward, action, pscore, pi, q, position = ranked_logs(n=50, k=3, slots=1)
    pi2, q2 = pi[:, :, 0], q[:, :, 0]
    ipw, dr = ope.InverseProbabilityWeighting(), ope.DoublyRobust()

    def run(est=ipw, **over):
        args = dict(reward=reward, action=action, pscore=pscore, action_dist=pi2)
        if est is dr:
            args["estimated_rewards_by_reg_model"] = q2
        args.update(over)
        return est.evaluate(**args)

    bad = reward.copy()
    bad[3] = np.nan
    with pytest.raises(regretless.RewardError, match=r"reward\[3\]: reward NaN"):
        run(reward=bad)
    for value in (0.0, -0.2, 1.5, np.nan):
        p = pscore.copy()
        p[2] = value
        with pytest.raises(regretless.InvalidParameterError, match=r"pscore\[2\]: propensity"):
            run(pscore=p)
    d = pi2.copy()
    d[1, 0] += 0.2
    with pytest.raises(regretless.InvalidParameterError, match=r"action_dist\[1\].*sum to"):
        run(action_dist=d)
    a = action.copy()
    a[4] = 3
    with pytest.raises(regretless.ArmError, match=r"action\[4\]: arm 3 is out of range"):
        run(action=a)
    with pytest.raises(regretless.ShapeError, match="pscore: length 49"):
        run(pscore=pscore[:-1])
    with pytest.raises(regretless.ShapeError, match="action_dist"):
        run(action_dist=pi2[:-1])
    with pytest.raises(regretless.InvalidParameterError, match="estimated_rewards_by_reg_model"):
        dr.evaluate(reward=reward, action=action, pscore=pscore, action_dist=pi2)
    with pytest.raises(regretless.ShapeError, match="full distribution"):
        run(dr, action_dist=pi2[np.arange(50), action])
    with pytest.raises(regretless.InvalidParameterError, match="position"):
        ranked = ranked_logs(n=20, k=3, slots=2)
        ipw.evaluate(reward=ranked[0], action=ranked[1], pscore=ranked[2], action_dist=ranked[3])
    with pytest.raises(regretless.DTypeError, match="action"):
        run(action=action.astype(float))
    with pytest.raises(regretless.DTypeError, match="reward"):
        run(reward=np.array(["a"] * 50))
    with pytest.raises(regretless.InvalidParameterError, match="pscore: required"):
        ipw.evaluate(reward=reward, action=action, action_dist=pi2)
    with pytest.raises(regretless.InvalidParameterError, match="alpha"):
        run(alpha=1.5)
    with pytest.raises(regretless.InvalidParameterError, match="lambda_"):
        ope.DoublyRobust(lambda_=-1.0)
    with pytest.raises(regretless.InvalidParameterError, match="n_bootstrap"):
        run(n_bootstrap=-1)
    with pytest.raises(regretless.InvalidParameterError, match="undefined"):
        ope.SelfNormalizedInverseProbabilityWeighting().evaluate(
            reward=[1.0], action=[0], pscore=[0.5], action_dist=[[0.0, 1.0]]
        )


def test_replay_of_regretless_policies_on_uniform_logs() -> None:
    rng = np.random.default_rng(0)
    n, means = 30_000, np.array([0.2, 0.5, 0.8])
    actions = rng.integers(0, 3, n)
    rewards = (rng.random(n) < means[actions]).astype(float)
    policy = regretless.UCB1(3, seed=0)
    res = ope.replay(policy, actions, rewards, pscore=np.full(n, 1 / 3))
    assert policy.n_updates == 0  # the argument is not modified
    assert res.policy.n_updates == res.n_matched == int(res.matched.sum())
    assert abs(res.n_matched / n - 1 / 3) < 0.02
    assert res.estimate > 0.7
    # Learning from the matched rows is reproducible with update_batch.
    again = regretless.UCB1(3, seed=0)
    again.update_batch(actions[res.matched], rewards[res.matched])
    assert again.counts().tolist() == res.policy.counts().tolist()
    # The uniform-logger policy's value is the logged mean reward.
    uniform = ope.replay(regretless.EpsilonGreedy(3, epsilon=1.0), actions, rewards, seed=2)
    assert abs(uniform.estimate - means.mean()) < 3 * uniform.std_err
    with pytest.raises(regretless.InvalidParameterError, match="uniformly random logger"):
        ope.replay(policy, actions, rewards, pscore=np.full(n, 0.5))
    with pytest.raises(regretless.ArmError, match="actions at position 0"):
        ope.replay(policy, np.full(5, 7), np.ones(5))
    with pytest.raises(regretless.RewardError, match="rewards at position 1"):
        ope.replay(policy, [0, 1], [0.0, 2.0])
    with pytest.raises(regretless.DTypeError, match="policy"):
        ope.replay(object(), [0], [1.0])


# ---------------------------------------------------------------- accumulator state


def _close(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12 * (1 + abs(a))


@pytest.mark.parametrize("est", [e for e in ALL if e.estimator_name != "dm"], ids=repr)
def test_merged_shards_equal_one_pass_and_travel_as_bytes_and_pickle(est) -> None:
    import copy
    import pickle

    reward, action, pscore, pi, q, position = ranked_logs(n=80_000, k=4, slots=2, seed=5)

    def rows(a, b):
        return dict(
            reward=reward[a:b],
            action=action[a:b],
            pscore=pscore[a:b],
            action_dist=pi[a:b],
            position=position[a:b],
            estimated_rewards=q[a:b],
        )

    whole = est.accumulator(n_bootstrap=40, seed=11)
    whole.push(**rows(0, 80_000))
    ref = whole.result(0.1)
    assert ref.estimate == pytest.approx(
        est.estimate_policy_value(
            reward=reward,
            action=action,
            pscore=pscore,
            action_dist=pi,
            position=position,
            estimated_rewards_by_reg_model=q,
        ),
        abs=1e-12,
    )
    cuts = [0, 30_001, 33_000, 80_000]
    shards = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        acc = est.accumulator(n_bootstrap=40, seed=11, first_row=a)
        acc.push(**rows(a, b))
        shards.append(acc)
    # Through each way a state travels: bytes, pickle, copy.
    shards[0] = type(shards[0]).from_bytes(shards[0].to_bytes())
    shards[1] = pickle.loads(pickle.dumps(shards[1]))
    shards[2] = copy.deepcopy(shards[2])
    merged = shards[2].merge(shards[0]).merge(shards[1])
    got = merged.result(0.1)
    assert merged.rows == got.n_rounds == 80_000
    for field in ("estimate", "std_err", "mean_weight", "ess"):
        assert _close(getattr(got, field), getattr(ref, field)), field
    assert all(_close(x, y) for x, y in zip(got.bootstrap_ci, ref.bootstrap_ci, strict=True))
    # The shards themselves are unchanged by merging.
    assert shards[0].rows == 30_001


def test_accumulator_continues_identically_after_a_round_trip_and_refuses_bad_merges() -> None:
    import pickle

    logs = datasets.synthetic_logs(5_000, n_actions=3, seed=2)
    pi = logs.softmax_policy(2.0)
    dr = ope.DoublyRobust()
    q = np.clip(logs.expected_reward + 0.1, 0, 1)

    def push(acc, a, b):
        acc.push(logs.reward[a:b], logs.action[a:b], logs.pscore[a:b], pi[a:b], None, q[a:b])

    acc = dr.accumulator(n_bootstrap=10, seed=3)
    push(acc, 0, 1_234)
    restored = pickle.loads(pickle.dumps(acc))
    assert repr(restored) == repr(acc)
    for a in (acc, restored):
        push(a, 1_234, 5_000)
    assert acc.result() == restored.result()
    one = dr.evaluate(
        reward=logs.reward,
        action=logs.action,
        pscore=logs.pscore,
        action_dist=pi,
        estimated_rewards_by_reg_model=q,
        n_bootstrap=10,
        seed=3,
    )
    assert restored.result() == one  # exactly the in-memory result
    data = acc.to_bytes()
    for cut in (0, 5, len(data) // 2, len(data) - 1):
        with pytest.raises(regretless.StateError):
            ope.OffPolicyAccumulator.from_bytes(data[:cut])
    with pytest.raises(regretless.StateError):
        ope.OffPolicyAccumulator.from_bytes(regretless.UCB1(3, seed=0).to_bytes())
    # Two shards that both start at row 0 would share bootstrap weights.
    other = dr.accumulator(n_bootstrap=10, seed=3)
    push(other, 0, 100)
    with pytest.raises(regretless.InvalidParameterError, match="overlap"):
        acc.merge(other)
    with pytest.raises(regretless.InvalidParameterError, match="seed"):
        acc.merge(dr.accumulator(n_bootstrap=10, seed=4, first_row=5_000))
    with pytest.raises(regretless.InvalidParameterError, match="ipw"):
        acc.merge(ope.InverseProbabilityWeighting().accumulator(n_bootstrap=10, seed=3))
    with pytest.raises(regretless.DTypeError, match="other"):
        acc.merge("not an accumulator")
    shard = dr.accumulator(n_bootstrap=10, seed=3, first_row=5_000)
    shard.push(logs.reward[:7], logs.action[:7], logs.pscore[:7], pi[:7], None, q[:7])
    assert acc.merge(shard).rows == 5_007
    # A batch that fails validation changes nothing.
    bad = logs.reward[:10].astype(float)
    bad[4] = np.nan
    before = shard.to_bytes()
    with pytest.raises(regretless.RewardError):
        shard.push(bad, logs.action[:10], logs.pscore[:10], pi[:10], None, q[:10])
    assert shard.to_bytes() == before


def test_accumulator_golden_files_still_decode_and_continue_identically() -> None:
    import json
    import pathlib
    import sys

    golden = pathlib.Path(__file__).parent / "golden"
    sys.path.insert(0, str(golden))
    try:
        from make_golden import ope_logs
    finally:
        sys.path.remove(str(golden))
    manifest = json.loads((golden / "ope-manifest.json").read_text())
    assert manifest
    for version, entries in manifest.items():
        for e in entries:
            acc = ope.OffPolicyAccumulator.from_bytes((golden / version / e["file"]).read_bytes())
            assert acc.estimator == e["estimator"] and acc.rows == e["rows_stored"]
            acc.push(**ope_logs(e["rows_stored"], e["rows_total"]))
            r = acc.result(0.1)
            assert r.estimate == e["estimate"] and r.std_err == e["std_err"]
            assert list(r.bootstrap_ci) == e["bootstrap_ci"]


def test_accumulate_stream_shards_merge_to_the_one_pass_estimate(pa) -> None:
    logs = datasets.synthetic_logs(20_000, n_actions=4, seed=8)
    table = logs.to_arrow(action_dist=logs.softmax_policy(beta=2.0))
    ests = [ope.InverseProbabilityWeighting(), ope.SelfNormalizedInverseProbabilityWeighting()]
    kw = dict(action_dist="action_dist", n_bootstrap=30, seed=1)
    whole = ope.estimate_stream(table, ests, **kw)
    parts = [
        ope.accumulate_stream(table.slice(a, 7_000), ests, first_row=a, **kw)
        for a in (0, 7_000, 14_000)
    ]
    for name, ref in whole.items():
        merged = parts[0][name].merge(parts[1][name]).merge(parts[2][name]).result()
        assert merged.n_rounds == 20_000
        assert _close(merged.estimate, ref.estimate) and _close(merged.std_err, ref.std_err)
        assert all(_close(x, y) for x, y in zip(merged.bootstrap_ci, ref.bootstrap_ci, strict=True))


def test_arbitrary_accumulator_bytes_never_crash() -> None:
    import zlib

    from hypothesis import given, settings
    from hypothesis import strategies as st

    acc = ope.DoublyRobust().accumulator(n_bootstrap=2, seed=1)
    acc.push([1.0, 0.0], [0, 1], [0.5, 0.5], np.eye(2), None, np.full((2, 2), 0.5))
    reference = acc.to_bytes()
    header = reference[: 7 + reference[6]]

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=200), st.integers(0, len(reference) - 5))
    def check(blob: bytes, cut: int) -> None:
        body = reference[:cut] + blob
        for data in (blob, header + blob, body):
            data = data + zlib.crc32(data).to_bytes(4, "little")
            try:
                a = ope.OffPolicyAccumulator.from_bytes(data)
            except regretless.StateError:
                continue
            # Whatever decodes is usable: pushes, results and merges raise or work.
            try:
                a.push([1.0], [0], [0.5], [[0.5, 0.5]], None, [[0.2, 0.4]])
                a.result()
                a.merge(a.copy())
            except regretless.RegretlessError:
                pass
            a.to_bytes()

    check()
