"""DecisionService: the join, the event log, snapshots, recovery and replay.

The service's clock is moved forward by shifting its origin (``_advance``), so the reward
windows are tested without sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import regretless
from conftest import run_in_threads
from regretless import _eventlog as ev
from regretless import logs, ope
from regretless.exceptions import (
    ArmError,
    IncompatibleError,
    InvalidParameterError,
    RewardError,
    ShapeError,
    StateError,
)
from regretless.service import (
    DecisionService,
    policy_takes_eligible,
    read_decisions,
    replay,
    to_dsjson,
    to_parquet,
)

MEANS = np.array([0.2, 0.5, 0.8])


def _advance(svc: DecisionService, seconds: float) -> None:
    svc._clock_origin -= seconds


def _service(tmp_path, policy=None, **kw):
    kw.setdefault("reward_wait", 10.0)
    kw.setdefault("seed", 3)
    kw.setdefault("snapshot_every", 0)
    policy = policy or regretless.EpsilonGreedy(3, epsilon=0.3, seed=1)
    return DecisionService(policy, tmp_path / "log", **kw)


def _index(svc, action):
    return action if svc.arms is None else svc.arms.index(action)


def _records(svc_or_dir):
    path = svc_or_dir if isinstance(svc_or_dir, (str, os.PathLike)) else svc_or_dir.log_dir
    return list(ev.read_records(os.fspath(path)))


# ---------------------------------------------------------------------------- the join


def test_reward_statuses_follow_the_documented_rules(tmp_path):
    svc = _service(tmp_path, reward_wait=5.0)
    a, b, c = (svc.decide().event_id for _ in range(3))
    assert svc.reward(a, 1.0) == "joined"
    assert svc.reward(a, 0.0) == "duplicate"  # first reward wins
    assert svc.reward("never-decided", 1.0) == "unknown"
    _advance(svc, 6.0)  # b and c's windows close without a reward
    assert svc.reward(b, 1.0) == "late"
    s = svc.stats()
    assert (s["decisions"], s["joined"], s["duplicate"], s["unknown"], s["late"]) == (3, 1, 1, 1, 1)
    assert (s["unlearned"], s["defaulted"], s["pending"]) == (2, 0, 0)
    # Only the joined reward was learned.
    assert svc.policy.n_updates == 1
    _advance(svc, 20.0)  # after one more window the closed ids are forgotten
    assert svc.reward(c, 1.0) == "unknown"
    svc.close()
    kinds = [r.kind for r in _records(svc)]
    # 3 decisions, joined + duplicate + late rewards (unknown ones are not logged), 2 expiries,
    # and one model published after the learned reward.
    assert kinds.count(ev.DECISION) == 3
    assert [r.status for r in _records(svc) if r.kind == ev.REWARD] == [
        "joined",
        "duplicate",
        "late",
    ]
    assert kinds.count(ev.EXPIRE) == 2 and kinds.count(ev.PUBLISH) == 1


def test_reward_many_equals_the_loop_of_reward_calls(tmp_path):
    # Same decisions, same rewards (joined, duplicate, unknown, refused-value checks): the
    # batch answers, learns and logs what the loop does.
    services = [_service(tmp_path / name, publish_every=3) for name in ("loop", "many")]
    ids = [[svc.decide(event_id=f"e{i}").event_id for i in range(30)] for svc in services][0]
    batch = ids[::2] + ids[:4] + ["never-decided"] + ids[1::4]
    values = [float(i % 3) / 2 for i in range(len(batch))]
    loop = [services[0].reward(e, v) for e, v in zip(batch, values, strict=True)]
    assert services[1].reward_many(batch, values) == loop
    assert loop.count("duplicate") == 3 and loop.count("unknown") == 1  # e0, e2, e1
    stats = [svc.stats() for svc in services]
    for k in ("joined", "duplicate", "unknown", "pending", "model_version", "last_seq"):
        assert stats[0][k] == stats[1][k], k
    assert services[0].policy.to_bytes() == services[1].policy.to_bytes()
    with pytest.raises(RewardError):
        services[1].reward_many(ids[1:3], [1.0, float("nan")])
    with pytest.raises(ShapeError):
        services[1].reward_many(ids[1:3], [1.0])
    with pytest.raises(InvalidParameterError):
        services[1].reward_many(ids[1:2] + [""], [1.0, 1.0])
    assert services[1].stats()["last_seq"] == stats[1]["last_seq"]  # refused: nothing done
    for svc in services:
        svc.close()
    logged = [
        [(r.kind, r.seq, r.event_id, r.value, r.status) for r in _records(svc)] for svc in services
    ]
    assert logged[0] == logged[1]
    assert replay(services[1].log_dir).ok


def test_default_reward_is_learned_when_the_window_closes(tmp_path):
    policy = regretless.EpsilonGreedy(3, epsilon=0.3, seed=1)
    svc = _service(tmp_path, policy, reward_wait=1.0, default_reward=0.25)
    d = svc.decide()
    i = svc.arms.index(d.action) if svc.arms else d.action
    _advance(svc, 0.5)
    svc._sweep()
    assert svc.policy.n_updates == 0
    _advance(svc, 0.6)
    svc._sweep()
    learned = svc.policy
    assert learned.n_updates == 1 and learned.counts()[i] == 1
    assert learned.means()[i] == pytest.approx(0.25, abs=0)
    assert svc.stats()["defaulted"] == 1 and svc.model_version == 1
    svc.close()


def test_default_reward_outside_the_policy_domain_is_refused(tmp_path):
    with pytest.raises(RewardError, match="default_reward"):
        _service(tmp_path, regretless.ThompsonSampling(3, seed=0), default_reward=2.0)
    assert not (tmp_path / "log").exists()


def test_published_model_lags_the_learner_by_publish_every(tmp_path):
    svc = _service(tmp_path, publish_every=3)
    ids = [svc.decide().event_id for _ in range(7)]
    versions = []
    for eid in ids:
        svc.reward(eid, 1.0)
        versions.append(svc.model_version)
    assert versions == [0, 0, 1, 1, 1, 2, 2]
    assert svc.decide().model_version == 2
    svc.close()


# ---------------------------------------------------------------------------- decisions


def test_draws_follow_the_logged_probabilities(tmp_path):
    # A fixed model (no rewards): arm frequencies over 12,000 event ids must match the
    # distribution within 5 standard errors, two-sided.
    svc = _service(tmp_path, regretless.Softmax(3, temperature=0.5, seed=0), durability="none")
    p = svc.decide().probabilities
    n = 12_000
    counts = np.zeros(3)
    for _ in range(n):
        d = svc.decide()
        assert np.array_equal(d.probabilities, p)
        counts[d.action] += 1
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(counts / n - p) < 5 * se), (counts / n, p)
    svc.close()


def test_the_draw_is_a_function_of_seed_and_event_id(tmp_path):
    def actions(seed, sub):
        svc = DecisionService(
            regretless.EpsilonGreedy(4, epsilon=1.0, seed=0),
            tmp_path / sub,
            reward_wait=1.0,
            seed=seed,
            snapshot_every=0,
        )
        out = [svc.decide(event_id=f"e{i}").action for i in range(64)]
        svc.close()
        return out

    first = actions(11, "a")
    assert first == actions(11, "b")
    assert first != actions(12, "c")
    assert sorted(set(first)) == [0, 1, 2, 3]


def test_arm_names_are_what_callers_see(tmp_path):
    svc = _service(tmp_path, arms=["x", "y", "z"])
    seen = {svc.decide().action for _ in range(200)}
    assert seen <= {"x", "y", "z"} and len(seen) >= 2
    svc.close()
    with pytest.raises(ArmError, match="arms"):
        _service(tmp_path / "b", arms=["x", "y"])
    with pytest.raises(ArmError, match="distinct"):
        _service(tmp_path / "c", arms=["x", "x", "y"])


def test_every_logged_probability_vector_is_valid(tmp_path):
    svc = _service(
        tmp_path, regretless.ThompsonSampling(4, seed=2), reward_wait=1.0, default_reward=0.0
    )
    rng = np.random.default_rng(0)
    for i in range(300):
        d = svc.decide()
        if i % 3:
            svc.reward(d.event_id, float(rng.random() < 0.5))
        if i % 50 == 0:
            _advance(svc, 2.0)
    svc.close()
    decisions = [r for r in _records(svc) if r.kind == ev.DECISION]
    assert len(decisions) == 300
    for r in decisions:
        p = r.probabilities
        assert p.shape == (4,) and np.all(p >= 0) and abs(p.sum() - 1) < 1e-12
        assert p[r.action] > 0


# ---------------------------------------------------------------------------- bad input


def test_bad_input_raises_and_changes_nothing(tmp_path):
    svc = _service(tmp_path, regretless.LinUCB(3, dim=2, seed=0), arms=["a", "b", "c"])
    d = svc.decide([0.1, 0.2], event_id="taken")
    svc.flush()
    before = (svc.stats(), svc.policy.to_bytes())
    cases = [
        (ShapeError, lambda: svc.decide([1.0, 2.0, 3.0])),
        (ShapeError, lambda: svc.decide(None)),
        (InvalidParameterError, lambda: svc.decide([np.nan, 1.0])),
        (ShapeError, lambda: svc.decide([1.0, 2.0], eligible=[True, False])),
        (ArmError, lambda: svc.decide([1.0, 2.0], eligible=[5])),
        (ArmError, lambda: svc.decide([1.0, 2.0], eligible=["nope"])),
        (ArmError, lambda: svc.decide([1.0, 2.0], eligible=[])),
        (ArmError, lambda: svc.decide([1.0, 2.0], eligible=[False, False, False])),
        (InvalidParameterError, lambda: svc.decide([1.0, 2.0], event_id="taken")),
        (InvalidParameterError, lambda: svc.decide([1.0, 2.0], event_id="")),
        (InvalidParameterError, lambda: svc.decide([1.0, 2.0], event_id="x" * 300)),
        (RewardError, lambda: svc.reward(d.event_id, float("nan"))),
        (RewardError, lambda: svc.reward(d.event_id, "high")),
        (InvalidParameterError, lambda: svc.reward(7, 1.0)),
    ]
    for exc, call in cases:
        with pytest.raises(exc):
            call()
    assert (svc.stats(), svc.policy.to_bytes()) == before
    svc.close()
    with pytest.raises(InvalidParameterError, match="closed"):
        svc.decide([0.0, 0.0])


def test_a_reward_the_policy_rejects_changes_nothing(tmp_path):
    svc = _service(tmp_path, regretless.ThompsonSampling(3, seed=0))
    d = svc.decide()
    svc.flush()
    before = (svc.stats(), svc.policy.to_bytes())
    with pytest.raises(RewardError):
        svc.reward(d.event_id, 3.0)  # Bernoulli rewards only
    assert (svc.stats(), svc.policy.to_bytes()) == before
    assert svc.reward(d.event_id, 1.0) == "joined"
    svc.close()


def test_a_reward_given_as_text_or_a_boolean_is_refused_not_parsed(tmp_path):
    """reward("1") and reward(True) used to be joined as 1.0 (float() parsed them), and
    reward_many(ids, ["1"]) too, while the policies, and POST /reward, refuse both."""
    svc = _service(tmp_path, regretless.UCB1(2, seed=0))
    d = svc.decide()
    svc.flush()
    before = (svc.stats(), svc.policy.to_bytes())
    for value in ("1", b"1", " 0.5 ", True, np.bool_(False)):
        with pytest.raises(RewardError, match="value: expected a number"):
            svc.reward(d.event_id, value)
        with pytest.raises(RewardError, match="values: expected numbers"):
            svc.reward_many([d.event_id], [value])
    assert (svc.stats(), svc.policy.to_bytes()) == before
    assert svc.reward_many([d.event_id], np.array([1], dtype=np.int32)) == ["joined"]
    assert svc.reward(svc.decide().event_id, np.float32(0.5)) == "joined"
    svc.close()


def test_constructor_checks(tmp_path):
    p = regretless.UCB1(2)
    for kw, match in [
        ({"reward_wait": 0}, "reward_wait"),
        ({"reward_wait": float("inf")}, "reward_wait"),
        ({"durability": "sometimes"}, "durability"),
        ({"snapshot_every": -1}, "snapshot_every"),
        ({"publish_every": 0}, "publish_every"),
        ({"seed": -1}, "seed"),
    ]:
        kw = {"reward_wait": 1.0, **kw}
        with pytest.raises(InvalidParameterError, match=match):
            DecisionService(p, tmp_path / "x", **kw)
    with pytest.raises(IncompatibleError, match="policy"):
        DecisionService(
            regretless.GPUCB(np.zeros((3, 2)), regretless.RBF()), tmp_path / "y", reward_wait=1.0
        )
    svc = DecisionService(p, tmp_path / "z", reward_wait=1.0)
    svc.close()
    with pytest.raises(InvalidParameterError, match="recover"):
        DecisionService(p, tmp_path / "z", reward_wait=1.0)


# ---------------------------------------------------------------------------- eligible arms

needs_eligible = pytest.mark.skipif(
    not policy_takes_eligible(regretless.UCB1(2)),
    reason="the policies of this build take no eligible= (arm masks land separately)",
)


@needs_eligible
@pytest.mark.parametrize(
    "policy",
    [
        regretless.EpsilonGreedy(4, epsilon=0.5, seed=0),
        regretless.ThompsonSampling(4, seed=0),
        regretless.LinUCB(4, dim=2, seed=0),
    ],
    ids=lambda p: type(p).__name__,
)
def test_masks_are_honoured_and_logged(tmp_path, policy):
    ctx = np.array([0.5, -0.2]) if isinstance(policy, regretless.ContextualBandit) else None
    svc = _service(tmp_path, policy, arms=["a", "b", "c", "d"])
    forms = [[False, True, False, True], [1, 3], ["b", "d"], np.array([3, 1, 1])]
    for form in forms:
        for _ in range(50):
            d = svc.decide(ctx, eligible=form)
            assert d.action in ("b", "d")
            assert d.probabilities[[0, 2]].tolist() == [0.0, 0.0]
            assert d.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
            svc.reward(d.event_id, 1.0)
    svc.close()
    logged = [r for r in _records(svc) if r.kind == ev.DECISION]
    assert all(r.eligible.tolist() == [1, 3] for r in logged)
    assert replay(svc.log_dir).ok


@needs_eligible
@pytest.mark.parametrize("name", ["EpsilonGreedy", "ThompsonSampling", "LinUCB"])
def test_masked_and_unmasked_decisions_are_the_published_models_distributions(tmp_path, name):
    # Decisions with and without masks interleaved with learning (a new model every
    # reward): each returned vector is the published model's probabilities(eligible=...)
    # at that moment (the core caches them per model version and mask: a stale cache
    # entry would show here), the log replays and recovers.
    contextual = name == "LinUCB"
    svc = _service(tmp_path, FAMILIES[name](), arms=["a", "b", "c"], publish_every=1)
    rng = np.random.default_rng(2)
    masks = [None, [0, 2], [True, True, False], ["c", "b"], np.array([1]), (2, 0, 0)]
    expected_idx = [None, [0, 2], [0, 1], [1, 2], [1], [0, 2]]
    for i in range(120):
        j = i % len(masks)
        x = rng.normal(size=2) if contextual else None
        published = svc._policy_cls.from_bytes(svc._core.capture()[2])
        idx = expected_idx[j]
        if contextual:
            want = published.probabilities(x[None, :], eligible=idx)[0]
        else:
            want = published.probabilities(eligible=idx)
        d = svc.decide(x, eligible=masks[j])
        assert d.probabilities.tobytes() == np.asarray(want, dtype=np.float64).tobytes()
        assert not d.probabilities.flags.writeable
        if idx is not None:
            assert svc.arms.index(d.action) in idx
        if rng.random() < 0.6:
            svc.reward(d.event_id, float(rng.random() < 0.5))
    if not contextual:  # a shared vector of the model version: cannot be made writeable
        with pytest.raises(ValueError):
            d.probabilities.flags.writeable = True
    svc.close()
    logged = [r for r in _records(svc) if r.kind == ev.DECISION]
    got = [None if r.eligible is None else r.eligible.tolist() for r in logged]
    assert got == [expected_idx[i % len(masks)] for i in range(120)]
    assert replay(svc.log_dir).ok
    back = DecisionService.recover(svc.log_dir)
    assert back.policy.to_bytes() == svc.policy.to_bytes()
    back.close()


def test_decision_objects(tmp_path):
    import pickle

    svc = _service(tmp_path, arms=["x", "y", "z"])
    d = svc.decide(event_id="e-1")
    assert (d.event_id, d.model_version) == ("e-1", 0) and d.action in ("x", "y", "z")
    back = pickle.loads(pickle.dumps(d))
    assert (back.event_id, back.action, back.model_version) == (d.event_id, d.action, 0)
    assert np.array_equal(back.probabilities, d.probabilities)
    assert repr(d).startswith("Decision(event_id='e-1', action=")
    with pytest.raises(AttributeError):
        d.action = "x"  # type: ignore[misc]
    fresh = [svc.decide().event_id for _ in range(3)]
    prefix = fresh[0].rsplit("-", 1)[0]
    assert fresh == [f"{prefix}-{i}" for i in range(3)]
    svc.close()


def test_masks_without_policy_support_raise_incompatible(tmp_path):
    if policy_takes_eligible(regretless.UCB1(2)):
        pytest.skip("the policies of this build take eligible=")
    svc = _service(tmp_path)
    with pytest.raises(IncompatibleError, match="eligible"):
        svc.decide(eligible=[0, 1])
    assert svc.stats()["decisions"] == 0
    svc.close()


# ---------------------------------------------------------------------------- replay and recovery

FAMILIES = {
    "EpsilonGreedy": lambda: regretless.EpsilonGreedy(3, epsilon=0.3, seed=1),
    "ThompsonSampling": lambda: regretless.ThompsonSampling(3, seed=1),
    "EXP3": lambda: regretless.EXP3(3, gamma=0.1, seed=1),
    "UCB1": lambda: regretless.UCB1(3, seed=1),
    "LinUCB": lambda: regretless.LinUCB(3, dim=2, seed=1),
    "LinTS": lambda: regretless.LinTS(3, dim=2, seed=1),
}


def _drive(svc, n, rng, start=0, contextual=False):
    """Mixed traffic: decisions, rewards (some duplicate, some never), clock jumps."""
    ids = []
    for i in range(start, start + n):
        x = rng.normal(size=2) if contextual else None
        d = svc.decide(x, event_id=f"ev{i}")
        ids.append(d.event_id)
        if rng.random() < 0.7:
            svc.reward(d.event_id, float(rng.random() < MEANS[_index(svc, d.action)]))
        if rng.random() < 0.05:
            svc.reward(ids[int(rng.integers(len(ids)))], 1.0)
        if rng.random() < 0.02:
            _advance(svc, 3.0)
    return ids


@pytest.mark.parametrize("name", list(FAMILIES))
def test_replay_reproduces_every_decision_bit_for_bit(tmp_path, name):
    contextual = name.startswith("Lin")
    svc = _service(tmp_path, FAMILIES[name](), reward_wait=2.0, default_reward=0.0, publish_every=2)
    rng = np.random.default_rng(5)
    _drive(svc, 150, rng, contextual=contextual)
    svc.snapshot()
    _drive(svc, 150, rng, start=150, contextual=contextual)
    svc.close()
    report = replay(svc.log_dir)
    assert report.ok and report.n_decisions == 300, report
    # A different draw key must break it: the check is not vacuous (even UCB1 splits ties).
    meta = os.path.join(svc.log_dir, "service.json")
    with open(meta) as f:
        config = json.load(f)
    config["seed"] += 1
    with open(meta, "w") as f:
        json.dump(config, f)
    assert replay(svc.log_dir).n_mismatches > 0


@pytest.mark.parametrize("name", ["ThompsonSampling", "LinTS"])
@pytest.mark.parametrize("snapshot_midway", [False, True])
def test_recovered_service_continues_exactly(tmp_path, name, snapshot_midway):
    contextual = name.startswith("Lin")
    kw = dict(reward_wait=2.0, default_reward=0.0, publish_every=2)
    live = DecisionService(FAMILIES[name](), tmp_path / "a", seed=9, snapshot_every=0, **kw)
    rng = np.random.default_rng(1)
    _drive(live, 100, rng, contextual=contextual)
    if snapshot_midway:
        live.snapshot()
    _drive(live, 60, rng, start=100, contextual=contextual)
    live.flush()
    state = rng.bit_generator.state
    back = DecisionService.recover(live.log_dir)
    # Same learned policy, same counters, same pending windows.
    assert back.policy.to_bytes() == live.policy.to_bytes()
    assert back.model_version == live.model_version
    s1, s2 = live.stats(), back.stats()
    for k in ("decisions", "joined", "late", "duplicate", "defaulted", "unlearned", "pending"):
        assert s1[k] == s2[k], k
    # And the same future: identical decisions for the same requests.
    for svc in (live, back):
        rng.bit_generator.state = state
        svc.__dict__["_out"] = [
            (d.action, d.probabilities.tobytes(), d.model_version)
            for d in (
                svc.decide(rng.normal(size=2) if contextual else None, event_id=f"next{i}")
                for i in range(20)
            )
        ]
        for i in range(20):
            svc.reward(f"next{i}", 1.0)
    assert live._out == back._out
    assert back.policy.to_bytes() == live.policy.to_bytes()
    live.close()
    back.close()


def test_torn_tail_is_cut_and_corruption_elsewhere_raises(tmp_path):
    svc = _service(tmp_path, segment_bytes=2_000)
    ids = []
    for _ in range(60):
        ids.append(svc.decide().event_id)
        svc.flush()  # one record per write: the segments rotate every ~2 kB
    svc.close()
    segs = ev.segments(svc.log_dir)
    assert len(segs) >= 3
    n_before = len(_records(svc))
    with open(segs[-1], "ab") as f:  # half a record: a crash mid-write
        f.write(ev.encode(ev.Record(ev.PUBLISH, 10_000, 0.0, 0.0, model_version=1))[:-3])
    back = DecisionService.recover(svc.log_dir)
    assert back.stats()["decisions"] == 60 and back.stats()["last_seq"] == n_before
    assert back.reward(ids[-1], 1.0) == "joined"
    back.close()
    assert len(_records(back)) == n_before + 2  # the reward and its model
    # A flipped byte inside a closed segment is corruption, not a torn tail.
    with open(segs[0], "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(StateError, match="corrupt"):
        DecisionService.recover(svc.log_dir)


def test_a_crash_during_a_snapshot_leaves_the_previous_one(tmp_path):
    svc = _service(tmp_path, reward_wait=100.0)
    ids = [svc.decide().event_id for _ in range(10)]
    first = svc.snapshot()
    for eid in ids[:5]:
        svc.reward(eid, 1.0)
    second = svc.snapshot()
    svc.close()
    log_dir = svc.log_dir
    # The newest snapshot half-written in place (as if rename were not atomic) and a torn
    # temp file: recovery falls back to the previous one and replays the log after it.
    with open(os.path.join(log_dir, f"snap-{second:020d}.bin"), "r+b") as f:
        f.truncate(30)
    with open(os.path.join(log_dir, f".snap-{second + 5:020d}.bin.tmp"), "wb") as f:
        f.write(b"RGLSNP01\x00")
    assert first < second
    back = DecisionService.recover(log_dir)
    assert back.stats()["joined"] == 5 and back.policy.n_updates == 5
    assert back.reward(ids[0], 1.0) == "duplicate"
    assert back.reward(ids[5], 1.0) == "joined"
    back.close()
    assert not any(n.endswith(".tmp") for n in os.listdir(log_dir))


# ---------------------------------------------------------------------------- kill -9

_CHILD = textwrap.dedent(
    """
    import sys, regretless
    from regretless.service import DecisionService
    log_dir, seed = sys.argv[1], int(sys.argv[2])
    try:
        svc = DecisionService.recover(log_dir)
    except FileNotFoundError:
        svc = DecisionService(regretless.ThompsonSampling(3, seed=0), log_dir, reward_wait=30.0,
                              durability="commit", snapshot_every=25, seed=1)
    print("ready", flush=True)
    i = 0
    while True:
        d = svc.decide(event_id=f"s{seed}-{i}")
        print("D", d.event_id, d.action, flush=True)
        print("R", d.event_id, svc.reward(d.event_id, float(i % 2)), flush=True)
        i += 1
    """
)


def _kill_runs(tmp_path, n_kills):
    log_dir = str(tmp_path / "log")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(regretless.__file__)))
    rng = np.random.default_rng(0)
    acked_decisions: dict[str, int] = {}
    acked_joins: set[str] = set()
    for k in range(n_kills):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, log_dir, str(k)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.0, 0.15)))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "D":
                acked_decisions[parts[1]] = int(parts[2])
            elif len(parts) == 3 and parts[0] == "R" and parts[2] == "joined":
                acked_joins.add(parts[1])
    back = DecisionService.recover(log_dir)
    # Recovery replays only the log after the latest snapshot: its work stays bounded
    # however many restarts came before (snapshots every 25 records, checked every 50 ms).
    assert back.stats()["replayed_on_recovery"] < 25 + 2_000
    records = _records(log_dir)
    back.close()
    logged = {r.event_id: r.action for r in records if r.kind == ev.DECISION}
    joined = {r.event_id for r in records if r.kind == ev.REWARD and r.status == "joined"}
    assert acked_decisions and all(logged.get(e) == a for e, a in acked_decisions.items())
    assert acked_joins <= joined
    seqs = [r.seq for r in records]
    assert seqs == list(range(1, len(seqs) + 1))  # no gaps, no repeats across restarts
    assert back.stats()["joined"] == len(joined)
    assert back.policy.n_updates == len(joined)
    assert replay(log_dir).ok


def test_sigkill_loses_nothing_acknowledged_with_commit(tmp_path):
    _kill_runs(tmp_path, 15)


@pytest.mark.slow
def test_sigkill_hundreds_of_times(tmp_path):
    _kill_runs(tmp_path, 300)


# ---------------------------------------------------------------------------- threads


@pytest.mark.parametrize(
    "n_calls", [600, pytest.param(1_000_000, marks=pytest.mark.slow)], ids=["600", "1M"]
)
def test_threads_of_mixed_calls_give_consistent_totals(tmp_path, n_calls):
    svc = _service(
        tmp_path,
        regretless.EpsilonGreedy(4, epsilon=0.3, seed=0),
        durability="none",
        reward_wait=1000.0,
        publish_every=5,
        snapshot_every=500,
    )
    n_threads = 8
    results: dict[int, list[str]] = {}

    def worker(t):
        rng = np.random.default_rng(t)
        mine, statuses = [], []
        for i in range(n_calls):
            if mine and rng.random() < 0.5:
                statuses.append(svc.reward(mine[int(rng.integers(len(mine)))], 1.0))
            else:
                mine.append(svc.decide(event_id=f"t{t}-{i}").event_id)
        results[t] = [*statuses, *(["decide"] * len(mine))]

    run_in_threads(worker, n_threads)
    svc.close()
    calls = [s for r in results.values() for s in r]
    assert len(calls) == n_threads * n_calls
    s = svc.stats()
    assert s["decisions"] == calls.count("decide")
    assert s["joined"] == calls.count("joined") and s["duplicate"] == calls.count("duplicate")
    assert s["joined"] + s["pending"] == s["decisions"]
    assert svc.policy.n_updates == s["joined"]
    print(f"\n{n_threads} threads x {n_calls} calls: {s}")  # shown with -s
    back = DecisionService.recover(svc.log_dir)
    assert back.policy.to_bytes() == svc.policy.to_bytes()
    back.close()
    assert replay(svc.log_dir).ok


# ---------------------------------------------------------------------------- exports and OPE


def test_ope_of_the_service_log_recovers_values(tmp_path):
    svc = _service(tmp_path, regretless.EpsilonGreedy(3, epsilon=0.5, seed=0), durability="none")
    rng = np.random.default_rng(4)
    truth = []
    # Fixed event ids: the draws (seeded from them) and so the check are reproducible; fresh
    # ids carry a per-process random prefix, which would make it fail 5-10% of the runs.
    for i in range(6000):
        d = svc.decide(event_id=f"ope-{i}")
        truth.append(float(d.probabilities @ MEANS))
        svc.reward(d.event_id, float(rng.random() < MEANS[d.action]))
    svc.close()
    path = tmp_path / "log.parquet"
    assert to_parquet(svc.log_dir, path) == 6000
    data = logs.read_logs(str(path))
    assert data.n_rounds == 6000
    ipw = ope.InverseProbabilityWeighting()
    # The deployed policy's own value: its logged distributions as the evaluation policy.
    probs = np.stack(
        read_decisions(svc.log_dir).column("probabilities").to_numpy(zero_copy_only=False)
    )
    own = ipw.evaluate(
        reward=data.reward, action=data.action, pscore=data.pscore, action_dist=probs, alpha=0.01
    )
    assert own.ci[0] < np.mean(truth) < own.ci[1]
    # Another policy's value (always arm 0, which the service rarely plays): mu_0.
    arm0 = np.zeros((1, 3))
    arm0[0, 0] = 1.0
    other = ipw.evaluate(
        reward=data.reward, action=data.action, pscore=data.pscore, action_dist=arm0, alpha=0.01
    )
    assert other.ci[0] < MEANS[0] < other.ci[1]
    assert not other.ci[0] < MEANS[2] < other.ci[1]


def test_exports_match_the_log(tmp_path):
    svc = _service(
        tmp_path,
        regretless.LinUCB(3, dim=2, seed=0),
        arms=["a", "b", "c"],
        reward_wait=1.0,
        default_reward=0.0,
    )
    d1 = svc.decide([1.0, 0.0])
    svc.decide([0.0, 1.0])  # never rewarded, no default yet: not exported
    svc.reward(d1.event_id, 0.75)
    svc.close()
    table = read_decisions(svc.log_dir)
    assert table.num_rows == 1
    row = table.to_pylist()[0]
    assert row["event_id"] == d1.event_id and row["reward"] == 0.75
    assert row["action"] == svc.arms.index(d1.action)
    assert row["pscore"] == d1.probabilities[row["action"]]
    assert row["context"] == [1.0, 0.0]
    assert logs.read_logs(table).n_rounds == 1
    out = tmp_path / "log.dsjson"
    assert to_dsjson(svc.log_dir, out) == 1
    line = json.loads(out.read_text())
    assert line["_label_cost"] == -0.75 and line["EventId"] == d1.event_id
    assert line["a"][0] == row["action"] + 1 and line["p"][0] == row["pscore"]
    assert sum(line["p"]) == pytest.approx(1.0)


def _fill_disk(svc):
    """From now on every write of the service's log fails as on a full disk (ENOSPC)."""
    svc._core.fail_writes_with(28)


def test_a_full_disk_keeps_deciding_counts_drops_and_fails_commits(tmp_path):
    svc = _service(tmp_path)
    svc.flush()
    _fill_disk(svc)
    ids = [svc.decide().event_id for _ in range(10)]  # batch durability: deciding goes on
    with pytest.raises(OSError, match="No space"):
        svc.flush()  # raises once the writer has dealt with every record
    assert svc.stats()["dropped"] == 10
    assert svc.reward(ids[0], 1.0) == "joined"
    s = svc.stats()
    assert s["decisions"] == 10 and "No space" in s["log_error"]
    with pytest.raises(OSError, match="No space"):
        svc.close()
    assert svc._core.writer_stopped()

    commit = _service(tmp_path / "c", durability="commit")
    commit.decide()
    _fill_disk(commit)
    with pytest.raises(OSError, match="No space"):
        commit.decide()  # not acknowledged: it never reached the disk
    with pytest.raises(OSError):
        commit.close()


def test_pickling_a_service_or_recovering_an_empty_directory_says_what_to_do(tmp_path):
    """pickle.dumps(svc) failed on an internal lock ("cannot pickle '_thread.lock'
    object") and recover() of a directory without a log on a bare open() of service.json."""
    import copy
    import pickle

    svc = _service(tmp_path, regretless.UCB1(2, seed=0))
    for call in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(regretless.exceptions.DTypeError, match="recover"):
            call(svc)
    assert svc.reward(svc.decide().event_id, 1.0) == "joined"  # unharmed
    assert pickle.loads(pickle.dumps(svc.policy)).n_updates == 1
    svc.close()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no decision service log"):
        DecisionService.recover(empty)
    with pytest.raises(FileNotFoundError, match="holds no decision service log"):
        regretless.service.replay(tmp_path / "missing")
