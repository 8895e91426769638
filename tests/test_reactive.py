"""Action-dependent (reactive) rewards: each environment's reward model against a hand
computation, the exact optimal-schedule oracle against brute force over every schedule, and
each policy's check of ALGORITHMS.md section 5 on seeded instances (regret slopes against the
setting's reference policy; the tallying warm-up that finds the arm UCB1 misses)."""

from __future__ import annotations

import itertools
import json
import pathlib

import numpy as np
import pytest
import regretless
from regretless import (
    LSDEnv,
    LSDExploreCommit,
    PeriodicUCB,
    RecoveringEnv,
    TallyingElimination,
    TallyingEnv,
    simulate_reactive,
)


def _slope(horizons, values) -> float:
    return float(np.polyfit(np.log(horizons), np.log(values), 1)[0])


# ---- reward models --------------------------------------------------------------------------


def test_recovering_reward_model_matches_a_hand_computation() -> None:
    env = RecoveringEnv.exponential([0.9, 0.6], [2.0, 1.0], 3, seed=0)
    d = np.arange(1, 4)
    np.testing.assert_allclose(
        env.curves(), [0.9 * (1 - np.exp(-d / 2.0)), 0.6 * (1 - np.exp(-d / 1.0))], rtol=1e-14
    )
    env.pull([0])
    env.pull([1])
    # Arm 0 idle 2 periods, arm 1 idle 1.
    assert env.idle().tolist() == [2, 1]
    np.testing.assert_allclose(env.means(), [0.9 * (1 - np.exp(-1.0)), 0.6 * (1 - np.exp(-1.0))])
    two = RecoveringEnv([[0.1, 0.9], [0.2, 0.4], [0.0, 1.0]], per_period=2, seed=1)
    assert two.pull([2, 0]).shape == (2,)
    assert two.means().tolist() == [0.1, 0.4, 0.0]
    with pytest.raises(regretless.InvalidParameterError, match="^arms"):
        two.pull([1, 1])
    with pytest.raises(regretless.ShapeError, match="^arms"):
        two.pull([0, 1, 2])
    with pytest.raises(regretless.InvalidParameterError, match="^curves.*nondecreasing"):
        RecoveringEnv([[0.5, 0.4]])


def test_lsd_reward_model_matches_a_hand_computation() -> None:
    env = LSDEnv([[0.9, 0.4], [0.7, 0.6]], [[0.2, 0.8], [0.3, 0.5]], seed=0)
    assert env.means().tolist() == [0.8, 0.5]  # both rested (capped at tau_max = 2)
    env.pull(0)
    assert env.states().tolist() == [1, -2]
    assert env.means().tolist() == [0.9, 0.5]
    env.pull(0)
    assert env.means().tolist() == [0.4, 0.5]  # played on for 2 rounds: satiated
    env.pull(1)
    assert env.states().tolist() == [-1, 1]
    assert env.means().tolist() == [0.2, 0.7]
    with pytest.raises(regretless.InvalidParameterError, match="^satiation.*nonincreasing"):
        LSDEnv([[0.1, 0.4], [0.7, 0.6]], [[0.2, 0.8], [0.3, 0.5]])
    with pytest.raises(regretless.ShapeError, match="^deprivation"):
        LSDEnv([[0.9, 0.4], [0.7, 0.6]], [[0.2, 0.8, 0.9], [0.3, 0.5, 0.6]])


def test_tallying_reward_model_matches_a_hand_computation() -> None:
    env = TallyingEnv([0.6, 0.1], [0.0, 0.8], [0.5, 0.3, 0.2], seed=0)
    for arm in (1, 0, 1):
        env.pull(arm)
    # Arm 1 was played 1 and 3 rounds ago: tally 0.5 + 0.2.
    np.testing.assert_allclose(env.tallies(), [0.3, 0.7])
    np.testing.assert_allclose(env.means(), [0.6, 0.1 + 0.8 * 0.7])
    env.pull(0)
    env.pull(0)
    np.testing.assert_allclose(env.tallies(), [0.8, 0.2])
    with pytest.raises(regretless.InvalidParameterError, match="^base"):
        TallyingEnv([0.6, 0.5], [0.0, 0.8], [0.5, 0.5])


# ---- the exact oracle against brute force -----------------------------------------------------


def _brute_force(env, horizon: int, actions) -> float:
    """The best expected total over every action sequence (copies of the environment)."""
    if horizon == 0:
        return 0.0
    best = -np.inf
    for action in actions:
        mean = float(np.sum(env.means()[list(action)]))
        nxt = env.copy()
        nxt.pull(list(action)) if isinstance(env, RecoveringEnv) else nxt.pull(action[0])
        best = max(best, mean + _brute_force(nxt, horizon - 1, actions))
    return best


@pytest.mark.parametrize(
    "make, actions",
    [
        (lambda: RecoveringEnv([[0.0, 0.55, 1.0], [0.5, 0.5, 0.5]]), [(), (0,), (1,)]),
        (
            lambda: RecoveringEnv(
                [[0.1, 0.5, 0.9], [0.3, 0.4, 0.5], [0.0, 0.2, 0.7]], per_period=2
            ),
            [(), *itertools.combinations(range(3), 1), *itertools.combinations(range(3), 2)],
        ),
        (
            lambda: LSDEnv([[0.9, 0.5, 0.2], [0.6, 0.6, 0.1]], [[0.3, 0.6, 0.9], [0.2, 0.5, 0.5]]),
            [(0,), (1,)],
        ),
        (
            lambda: TallyingEnv([0.6, 0.1, 0.3], [0.0, 0.8, 0.2], [0.5, 0.3, 0.2]),
            [(0,), (1,), (2,)],
        ),
    ],
    ids=["recovering", "recovering-K2", "lsd", "tallying"],
)
def test_the_optimal_schedule_oracle_equals_brute_force(make, actions) -> None:
    env = make()
    depth = 6 if len(actions) <= 3 else 4  # 7 actions: 7**4 schedules
    curve = env.optimal(depth)
    for t in (1, 3, depth):
        assert curve[t - 1] == pytest.approx(_brute_force(env, t, actions), abs=1e-12)
    # From a later state too.
    env.pull([0]) if isinstance(env, RecoveringEnv) else env.pull(0)
    assert env.optimal(depth)[-1] == pytest.approx(_brute_force(env, depth, actions), abs=1e-12)


def test_the_oracle_waits_where_greedy_does_not() -> None:
    # Greedy takes arm 0 at 0.55 every other period (0.525 per period); the optimum waits for
    # its 1.0: 0.5, 0.5, 1.0, ... (2/3 per period).
    env = RecoveringEnv([[0.0, 0.55, 1.0], [0.5, 0.5, 0.5]])
    assert env.optimal(300)[-1] == pytest.approx(200.0, abs=1.0)
    # Too many states for the exact oracle: None rather than a long computation.
    assert RecoveringEnv(np.full((12, 8), 0.5)).optimal(10) is None


# ---- the policies' checks ---------------------------------------------------------------------


def test_the_tallying_warm_up_finds_the_arm_that_ucb1_misses() -> None:
    # Arm 1: 0.045 per play of it in the last 20 rounds, 0.9 when played consistently; arm 0 is
    # a flat 0.6. Played sporadically (as UCB1 explores) arm 1 looks like 0.05.
    env = TallyingEnv([0.6, 0.0], [0.0, 0.9], [0.05] * 20, seed=0)
    horizon = 10_000
    for seed in range(3):
        policy = TallyingElimination(2, 20, horizon=horizon, seed=seed)
        run = simulate_reactive(policy, env, horizon, seed=seed)
        assert (run["arms"][-2000:] == 1).all()
        ucb = simulate_reactive(regretless.UCB1(2, seed=seed), env, horizon, seed=seed)
        assert (ucb["arms"] == 1).mean() < 0.05
        # Regret against the best constant arm (0.9 per round once saturated): measured about
        # 1.5e3 for the elimination (its phases up to 2^10), 3e3 for UCB1 (0.3 per round).
        assert run["benchmark_regret"][-1] < 0.6 * ucb["benchmark_regret"][-1]
        assert ucb["benchmark_regret"][-1] > 0.25 * horizon


def test_periodic_ucb_regret_against_the_best_periodic_policy_is_sublinear() -> None:
    env = RecoveringEnv.exponential(
        [1.0, 0.8, 0.6, 0.4], [4.0, 2.0, 1.0, 0.5], 4, per_period=2, seed=0
    )
    horizons = [2_000, 8_000, 32_000, 128_000]
    regrets = []
    for h in horizons:
        runs = [
            simulate_reactive(PeriodicUCB(4, 4, horizon=h, per_period=2, seed=s), env, h, seed=s)
            for s in range(2)
        ]
        regrets.append(np.mean([r["benchmark_regret"][-1] for r in runs]))
    # Measured slope 0.39 (regret 84, 118, 179, 437); O~(N sqrt(T)) allows up to 0.5 + logs,
    # a plan that never settles would give 1, a benchmark below the policy a negative regret.
    slope = _slope(horizons, regrets)
    assert 0.1 < slope < 0.75, (slope, regrets)
    assert regrets[-1] < 0.02 * runs[-1]["benchmark"][-1]
    assert runs[-1]["arms"].shape == (horizons[-1], 2)


def test_lsd_explore_then_commit_regret_grows_like_t_to_the_two_thirds() -> None:
    env = LSDEnv([[0.9, 0.5, 0.2], [0.7, 0.6, 0.5]], [[0.3, 0.6, 0.9], [0.2, 0.4, 0.8]], seed=0)
    horizons = [4_000, 32_000, 256_000]
    regrets = []
    for h in horizons:
        runs = [
            simulate_reactive(LSDExploreCommit(2, 3, horizon=h, seed=s), env, h, seed=10 + s)
            for s in range(3)
        ]
        regrets.append(np.mean([r["benchmark_regret"][-1] for r in runs]))
    slope = _slope(horizons, regrets)
    assert 0.5 < slope < 0.8, (slope, regrets)
    # The planner (best cycle up to length 8) is within 5% of the exact optimum here.
    run = runs[-1]
    assert run["benchmark"][-1] > 0.95 * run["optimal"][-1]
    # A baseline that ignores the switches does worse than the committed cycle.
    ucb = simulate_reactive(regretless.UCB1(2, seed=0), env, horizons[-1], seed=0)
    assert ucb["benchmark_regret"][-1] > 2 * regrets[-1]


# ---- protocol and errors ----------------------------------------------------------------------


def test_updates_need_a_pull_handed_out_and_simulate_uses_copies() -> None:
    policy = TallyingElimination(3, 2, horizon=100, seed=0)
    arm = policy.select()
    other = (arm + 1) % 3
    before = policy.to_bytes()
    with pytest.raises(regretless.ArmError, match="no pull waiting"):
        policy.update(other, 1.0)
    assert policy.to_bytes() == before
    policy.update(arm, 1.0)
    assert policy.n_updates == 1
    env = TallyingEnv([0.6, 0.0, 0.2], [0.0, 0.9, 0.1], [0.5, 0.5], seed=0)
    env_bytes, policy_bytes = env.to_bytes(), policy.to_bytes()
    a = simulate_reactive(policy, env, 200, seed=3)
    b = simulate_reactive(policy, env, 200, seed=3)
    np.testing.assert_array_equal(a["arms"], b["arms"])
    assert env.to_bytes() == env_bytes and policy.to_bytes() == policy_bytes
    assert a["optimal"] is not None and (a["regret"] >= -1e-9).all()
    with pytest.raises(regretless.IncompatibleError, match="2 arms and the environment 3"):
        simulate_reactive(PeriodicUCB(2, 3, horizon=10), env, 10)
    with pytest.raises(regretless.IncompatibleError, match="per period"):
        simulate_reactive(
            PeriodicUCB(2, 3, horizon=10, per_period=2), RecoveringEnv([[0.5] * 3] * 2), 10
        )
    with pytest.raises(regretless.DTypeError, match="^env"):
        simulate_reactive(policy, regretless.BernoulliEnv([0.5, 0.5, 0.5]), 10)
    with pytest.raises(regretless.DTypeError, match="^policy"):
        simulate_reactive(object(), env, 10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: PeriodicUCB(3, 0, horizon=10), "d_max"),
        (lambda: PeriodicUCB(3, 2, horizon=10, per_period=4), "per_period"),
        (lambda: PeriodicUCB(3, 2, horizon=0), "horizon"),
        (lambda: LSDExploreCommit(1, 2, horizon=10), "n_arms"),
        (lambda: LSDExploreCommit(2, 2, horizon=10, n0=0), "n0"),
        (lambda: TallyingElimination(1, 2, horizon=10), "n_arms"),
        (lambda: RecoveringEnv.exponential([0.5], [0.0], 3), "tau"),
        (lambda: TallyingEnv([0.5, 0.5], [0.0, 0.0], [-1.0]), "weights"),
    ],
)
def test_bad_hyperparameters_name_the_argument(call, match: str) -> None:
    with pytest.raises(regretless.RegretlessError, match=f"^{match}"):
        call()


@pytest.mark.parametrize(
    "env",
    [
        RecoveringEnv([[0.2, 0.8], [0.5, 0.5]], seed=4),
        LSDEnv([[0.9, 0.2], [0.6, 0.5]], [[0.3, 0.9], [0.4, 0.6]], seed=4),
        TallyingEnv([0.6, 0.0], [0.0, 0.9], [0.5, 0.5], seed=4),
    ],
    ids=["recovering", "lsd", "tallying"],
)
def test_environments_round_trip_and_continue_identically(env) -> None:
    pull = (lambda e: e.pull([0])[0]) if isinstance(env, RecoveringEnv) else (lambda e: e.pull(0))
    pull(env)
    twin = type(env).from_bytes(env.to_bytes())
    assert [pull(twin) for _ in range(20)] == [pull(env) for _ in range(20)]
    assert twin.to_bytes() == env.to_bytes()
    assert repr(env).startswith(f"{type(env).__name__}(n_arms=2")


# ---- golden state files ----------------------------------------------------------------------

GOLDEN = pathlib.Path(__file__).parent / "golden"


def reactive_golden_cases():
    manifest = json.loads((GOLDEN / "reactive-manifest.json").read_text())
    return [(version, entry) for version, entries in manifest.items() for entry in entries]


@pytest.mark.parametrize(
    "version, entry", reactive_golden_cases(), ids=lambda c: c if isinstance(c, str) else c["file"]
)
def test_reactive_and_dynlin_golden_files_still_decode_and_continue_identically(
    version, entry
) -> None:
    """A payload written by an earlier release (tests/golden/make_golden_reactive.py) loads,
    re-encodes to the same bytes, holds what it held and makes the same decisions next."""
    from golden.make_golden_reactive import scenarios

    stem = pathlib.Path(entry["file"]).stem
    _, _, observe, play = next(s for s in scenarios() if s[0] == stem)
    data = (GOLDEN / version / entry["file"]).read_bytes()
    obj = getattr(regretless, entry["class"]).from_bytes(data)
    assert obj.to_bytes() == data
    assert observe(obj) == entry["observed"]
    assert play(obj, 30, 5) == entry["continuation"]
    assert observe(obj) == entry["after"]
    # In the release that wrote it, the constructor and the seeded run still give the same
    # payload (neither the defaults nor the unmasked decisions drifted).
    if version == f"v{regretless.FORMAT_VERSION}":
        from golden.make_golden_reactive import build

        assert build(stem).to_bytes() == data


# ---- eligible= -------------------------------------------------------------------------------

MEANS4 = np.array([0.3, 0.7, 0.5, 0.6])


def _random_mask(rng: np.random.Generator, n: int) -> np.ndarray:
    mask = rng.random(n) < 0.5
    mask[rng.integers(n)] = True
    return mask


@pytest.mark.parametrize(
    "make",
    [
        lambda: LSDExploreCommit(4, 2, horizon=3000, n0=3, seed=3),
        lambda: TallyingElimination(4, 2, horizon=3000, seed=3),
    ],
    ids=["LSDExploreCommit", "TallyingElimination"],
)
def test_masked_schedule_decisions_follow_the_schedule_or_the_best_eligible_score(make) -> None:
    """select(eligible=m) is the schedule's arm when it is in m (the arm an unmasked copy
    plays), else the best eligible arm by scores() (tallying: among the eligible arms not
    eliminated, when any), never an arm outside m."""
    policy = make()
    rng = np.random.default_rng(0)
    substituted = 0
    for _ in range(1500):
        mask = _random_mask(rng, 4)
        scheduled = int(policy.copy().select())
        scores = policy.scores()
        arm = policy.select(eligible=mask)
        assert mask[arm]
        if mask[scheduled]:
            assert arm == scheduled
        else:
            substituted += 1
            candidates = mask.copy()
            if isinstance(policy, TallyingElimination):
                active = np.zeros(4, dtype=bool)
                active[policy.active()] = True
                if (mask & active).any():
                    candidates &= active
            assert scores[arm] == scores[candidates].max()
            assert np.all(policy.scores(eligible=mask)[~mask] == -np.inf)
        policy.update(arm, float(rng.random() < MEANS4[arm]))
    assert substituted > 300  # the substitute path is exercised, not just the schedule


def test_masked_scores_are_the_cell_means_and_upper_bounds() -> None:
    """scores(): LSD the mean of each arm's (arm, current state) cell (inf unseen); tallying
    mean + sqrt(2 ln(2 K T^2) / n) over the kept rewards (inf with none)."""
    lsd = LSDExploreCommit(3, 2, horizon=500, seed=0)
    env = LSDEnv([[0.9, 0.2], [0.6, 0.5], [0.4, 0.4]], [[0.3, 0.9], [0.4, 0.6], [0.4, 0.5]])
    assert np.all(lsd.scores() == np.inf)
    for _ in range(200):
        a = lsd.select()
        lsd.update(a, env.pull(a))
    # Every arm is in the state the environment reports; its cell's column in means().
    states = env.states()
    cols = np.where(states > 0, states - 1, 2 + (-states) - 1)
    expected = lsd.means()[np.arange(3), cols]
    seen = lsd.counts()[np.arange(3), cols] > 0
    assert np.allclose(lsd.scores()[seen], expected[seen])
    assert np.all(lsd.scores()[~seen] == np.inf)

    tally = TallyingElimination(3, 1, horizon=1000, seed=0)
    assert np.all(tally.scores() == np.inf)
    for _ in range(100):
        a = tally.select()
        tally.update(a, float(a == 1))
    n = tally.counts()
    width = np.sqrt(2 * np.log(2 * 3 * 1000.0**2) / n)
    assert np.allclose(tally.scores(), tally.means() + width)


def test_periodic_ucb_masked_periods_pull_the_most_overdue_eligible_due_arms() -> None:
    """select(eligible=m) pulls the due arms of m (elapsed >= period), most overdue first,
    at most per_period; a due arm left out stays due."""
    policy = PeriodicUCB(4, 3, horizon=3000, per_period=2, seed=0)
    rng = np.random.default_rng(1)
    last = np.full(4, -3)
    left_out = 0
    for t in range(1500):
        mask = _random_mask(rng, 4)
        arms = [int(a) for a in policy.select(eligible=mask)]
        periods = policy.periods()  # the plan of this period's epoch
        elapsed = t - last
        due = (periods > 0) & (elapsed >= np.maximum(periods, 1))
        ratio = np.where(due, elapsed / np.maximum(periods, 1), -np.inf)
        eligible_due = np.flatnonzero(due & mask)
        assert all(mask[a] for a in arms)
        assert len(arms) == min(2, len(eligible_due))
        top = np.sort(ratio[eligible_due])[::-1][: len(arms)]
        assert np.allclose(np.sort(ratio[arms])[::-1], top)
        left_out += int((due & ~mask).any())
        for a in arms:
            policy.update(a, float(rng.random() < MEANS4[a]))
            last[a] = t
    assert left_out > 100


@pytest.mark.parametrize(
    "make",
    [
        lambda: PeriodicUCB(4, 3, horizon=3000, per_period=2, seed=5),
        lambda: LSDExploreCommit(4, 2, horizon=3000, n0=3, seed=5),
        lambda: TallyingElimination(4, 2, horizon=3000, seed=5),
    ],
    ids=["PeriodicUCB", "LSDExploreCommit", "TallyingElimination"],
)
def test_every_arm_eligible_is_the_unmasked_policy_to_the_bit(make) -> None:
    runs = []
    for eligible in (None, np.ones(4, dtype=bool), [3, 0, 2, 1]):
        policy, rng, seq = make(), np.random.default_rng(2), []
        for _ in range(800):
            arms = np.atleast_1d(policy.select(eligible=eligible))
            seq.append(tuple(int(a) for a in arms))
            for a in arms:
                policy.update(int(a), float(rng.random() < MEANS4[a]))
        runs.append((seq, policy.to_bytes()))
    plain = make()
    rng, seq = np.random.default_rng(2), []
    for _ in range(800):
        arms = np.atleast_1d(plain.select())
        seq.append(tuple(int(a) for a in arms))
        for a in arms:
            plain.update(int(a), float(rng.random() < MEANS4[a]))
    assert all(run == (seq, plain.to_bytes()) for run in runs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: PeriodicUCB(3, 2, horizon=100, seed=0),
        lambda: LSDExploreCommit(3, 2, horizon=100, seed=0),
        lambda: TallyingElimination(3, 2, horizon=100, seed=0),
    ],
    ids=["PeriodicUCB", "LSDExploreCommit", "TallyingElimination"],
)
def test_bad_eligible_sets_are_refused_before_any_state_change(make) -> None:
    policy = make()
    before = policy.to_bytes()
    with pytest.raises(regretless.InvalidParameterError, match="eligible: no arm is eligible"):
        policy.select(eligible=[])
    with pytest.raises(regretless.InvalidParameterError, match="eligible: no arm is eligible"):
        policy.select(eligible=np.zeros(3, dtype=bool))
    with pytest.raises(regretless.ShapeError, match="eligible"):
        policy.select(eligible=np.ones(4, dtype=bool))
    with pytest.raises(regretless.ArmError, match="eligible"):
        policy.select(eligible=[0, 3])
    assert policy.to_bytes() == before


def test_the_module_doc_describes_the_eligible_argument_the_policies_take() -> None:
    """regretless.reactive's docstring (help(regretless.reactive)) once said eligibility masks
    do not apply to these policies, after each of them had gained select(eligible=...)."""
    import inspect

    import regretless.reactive

    doc = " ".join((regretless.reactive.__doc__ or "").split())
    for cls in (PeriodicUCB, LSDExploreCommit, TallyingElimination):
        assert "eligible" in inspect.signature(cls.select).parameters
    assert "select(eligible=...)" in doc
    assert "eligibility masks do not apply" not in doc
