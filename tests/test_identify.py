"""Best-arm identification: error rates at the promised confidence, sample counts against the
instance hardness H, the shared vocabulary (batches, bytes, pickle, copy, errors)."""

import copy
import pickle

import numpy as np
import pytest
import regretless
from regretless.identify import hardness, identification_report
from scipy import stats

FIXED_CONFIDENCE = {
    "LUCB": lambda k, d, s: regretless.LUCB(k, delta=d, seed=s),
    "TrackAndStop": lambda k, d, s: regretless.TrackAndStop(k, delta=d, seed=s),
}
FACTORIES = {
    "LUCB": lambda s: regretless.LUCB(4, delta=0.05, seed=s),
    "TrackAndStop": lambda s: regretless.TrackAndStop(4, delta=0.05, seed=s),
    "SuccessiveHalving": lambda s: regretless.SuccessiveHalving(4, budget=200, seed=s),
}


def max_wrong(n_runs: int, delta: float) -> int:
    """The largest count of wrong answers compatible with an error rate <= delta (a
    one-sided binomial test at level 0.001)."""
    return int(stats.binom.ppf(0.999, n_runs, delta))


@pytest.mark.parametrize("name", sorted(FIXED_CONFIDENCE))
def test_error_rate_is_within_delta(name):
    # Close arms, so that a rule that stopped too early would err often.
    means = [0.5, 0.45, 0.4, 0.35]
    report = identification_report(FIXED_CONFIDENCE[name](4, 0.05, 0), means, n_runs=200, seed=3)
    assert report.stopped.all()
    assert (report.recommended != 0).sum() <= max_wrong(200, 0.05)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIXED_CONFIDENCE))
def test_error_rate_is_within_delta_over_1000_runs(name):
    means = [0.5, 0.45, 0.4, 0.35]
    report = identification_report(FIXED_CONFIDENCE[name](4, 0.05, 0), means, n_runs=1000, seed=5)
    assert report.error_rate() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1000)


# samples / (H ln(1/delta)) per rule: LUCB pays its union bound beta(t, delta) =
# ln(5 K t^4 / (4 delta)), several times ln(1/delta); track-and-stop pays T*(mu) / H (< 2
# for sigma^2 = 1/4) times a threshold close to ln(1/delta).
HARDNESS_BANDS = {"LUCB": (15.0, 80.0), "TrackAndStop": (0.8, 6.0)}


@pytest.mark.parametrize("name", sorted(FIXED_CONFIDENCE))
def test_sample_count_scales_with_hardness(name):
    delta = 0.05
    easy = [0.8, 0.6, 0.5, 0.4]
    # Halving every gap multiplies H by 4.
    hard = [0.7, 0.6, 0.55, 0.5]
    assert hardness(hard) == pytest.approx(4 * hardness(easy))
    samples = {}
    for label, means in (("easy", easy), ("hard", hard)):
        report = identification_report(
            FIXED_CONFIDENCE[name](4, delta, 0), means, n_runs=60, seed=1
        )
        samples[label] = report.mean_samples()
        ratio = samples[label] / (hardness(means) * np.log(1 / delta))
        # O(H ln(1/delta)) up to the rule's constant and log factors: two-sided.
        low, high = HARDNESS_BANDS[name]
        assert low < ratio < high, (label, ratio)
    assert 2.5 < samples["hard"] / samples["easy"] < 6.0


def test_successive_halving_error_falls_with_the_budget():
    means = [0.6, 0.5, 0.45, 0.4, 0.4, 0.35, 0.3, 0.3]
    rates = []
    for budget in (200, 800, 4_000):
        finder = regretless.SuccessiveHalving(8, budget=budget, seed=0)
        report = identification_report(finder, means, n_runs=200, seed=2)
        assert report.stopped.all()
        assert report.samples.max() <= budget
        rates.append(report.error_rate())
    # A small budget errs often, a large one almost never (exp(-T / (8 H2 log2 K))).
    assert rates[0] > 0.2
    assert rates[0] > rates[1] > rates[2]
    assert rates[2] <= 0.02


def test_recommendation_reports_arm_confidence_and_intervals():
    finder = regretless.TrackAndStop(3, delta=0.01, seed=0)
    rng = np.random.default_rng(0)
    means = [0.3, 0.7, 0.5]
    assert finder.recommend().confidence == 0.0
    while not finder.should_stop():
        arm = finder.select()
        finder.update(arm, float(rng.random() < means[arm]))
    r = finder.recommend()
    assert r.arm == 1
    assert r.confidence >= 0.99
    assert np.all(r.lower <= r.means) and np.all(r.means <= r.upper)
    assert r.lower[1] > r.means[0]
    assert "Recommendation(arm=1" in repr(r)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_batch_follows_the_single_call_schedule_and_state_round_trips(name):
    make = FACTORIES[name]
    single, batch = make(7), make(7)
    rewards = {0: 0.9, 1: 0.2, 2: 0.5, 3: 0.4}
    for _ in range(40):
        arms = batch.select_batch(3)
        assert arms.tolist() == [single.select() for _ in range(3)]
        batch.update_batch(arms, [rewards[int(a)] for a in arms])
        for a in arms.tolist():
            single.update(a, rewards[a])
    assert single.to_bytes() == batch.to_bytes()
    back = type(single).from_bytes(single.to_bytes())
    assert (
        regretless.BestArmIdentifier.from_bytes(single.to_bytes()).to_bytes() == single.to_bytes()
    )
    for other in (back, pickle.loads(pickle.dumps(single)), copy.deepcopy(single), single.copy()):
        assert type(other) is type(single)
        # Same state, same continuation.
        reference = single.copy()
        assert [other.select() for _ in range(6)] == [reference.select() for _ in range(6)]


def test_bad_input_raises_and_changes_nothing():
    finder = regretless.LUCB(3, seed=0)
    finder.update_batch([0, 1, 2], [0.5, 0.5, 0.5])
    state = finder.to_bytes()
    with pytest.raises(regretless.ArmError):
        finder.update(3, 0.5)
    with pytest.raises(regretless.RewardError):
        finder.update_batch([0, 1], [0.5, 1.5])
    with pytest.raises(regretless.ShapeError):
        finder.update_batch([0, 1], [0.5])
    assert finder.to_bytes() == state
    with pytest.raises(regretless.InvalidParameterError, match="delta"):
        regretless.LUCB(3, delta=1.0)
    with pytest.raises(regretless.InvalidParameterError, match="budget"):
        regretless.SuccessiveHalving(4, budget=7)
    with pytest.raises(regretless.InvalidParameterError, match="n_arms"):
        regretless.TrackAndStop(1)
    with pytest.raises(regretless.StateError):
        regretless.LUCB.from_bytes(regretless.TrackAndStop(3).to_bytes())
    with pytest.raises(regretless.StateError):
        regretless.LUCB.from_bytes(state[:-3])


def test_report_plot(tmp_path):
    pytest.importorskip("matplotlib")
    report = identification_report(regretless.LUCB(3), [0.7, 0.5, 0.4], n_runs=20, seed=0)
    assert report.prob_best.sum() == pytest.approx(1.0)
    report.plot(tmp_path / "bai.png")
    assert (tmp_path / "bai.png").stat().st_size > 1000
