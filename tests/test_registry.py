"""The one list of multi-armed policies: the core registry, exposed as
``regretless._core.POLICY_NAMES``, and the lists that must follow it (``regretless.POLICIES``
and ``__all__``, the conformance factories, the CLI demo); the base class ``Bandit``."""

from __future__ import annotations

import pickle

import pytest
import regretless
from conftest import POLICY_FACTORIES, make, play
from regretless import Bandit, _core, cli

REGISTERED = _core.POLICY_NAMES


def test_every_registered_policy_is_exported_and_a_bandit() -> None:
    assert len(REGISTERED) == len(set(REGISTERED)) >= 12
    assert [cls.__name__ for cls in regretless.POLICIES] == list(REGISTERED)
    for name in REGISTERED:
        cls = getattr(regretless, name)
        assert cls is getattr(_core, name)
        assert name in regretless.__all__
        assert cls.__bases__ == (Bandit,)
    assert "Bandit" in regretless.__all__
    assert set(Bandit.__subclasses__()) == set(regretless.POLICIES)


def test_every_registered_policy_has_a_conformance_factory() -> None:
    # Factory keys are "Class" or "Class-variant"; each class needs at least one.
    covered = {key.split("-")[0] for key in POLICY_FACTORIES}
    classes = {type(make(key)).__name__ for key in POLICY_FACTORIES}
    assert covered == classes == set(REGISTERED)


def test_the_demo_runs_every_registered_policy() -> None:
    names = {label.split("(")[0] for label, _ in cli.demo_lineup(5, 100)}
    assert names == set(REGISTERED)
    for label, factory in cli.demo_lineup(5, 100):
        assert type(factory()).__name__ == label.split("(")[0]


# Policies whose update weights by the selection probability, which it takes as an argument.
WITH_PROPENSITY = {regretless.TsallisINF}
WITH_PROPENSITY |= {regretless.BatchedExp3, regretless.ShrinkingDartboard}


def test_shared_methods_live_once_on_the_base() -> None:
    shared = ["select", "update", "select_batch", "update_batch", "scores", "to_bytes"]
    shared += ["from_bytes", "merge", "copy", "__reduce__", "fit_logs", "__repr__"]
    # EXP3 and EXP3IX extend update/update_batch with a keyword-only propensity (the
    # probability the arm was drawn with); every other shared method lives on the base.
    extended = {("EXP3", "update"), ("EXP3", "update_batch")}
    extended |= {("EXP3IX", "update"), ("EXP3IX", "update_batch")}
    for cls in regretless.POLICIES:
        for method in shared:
            if method in ("update", "update_batch") and (
                cls in WITH_PROPENSITY or (cls.__name__, method) in extended
            ):
                # Their update also takes the probability the arm was drawn with.
                assert "propensit" in vars(cls)[method].__text_signature__, (cls.__name__, method)
                continue
            assert method not in vars(cls), (cls.__name__, method)
            assert hasattr(cls, method)
    # The direct entry points are installed once, on the base, and inherited.
    assert type(vars(Bandit)["select"]).__name__ == "method_descriptor"
    assert "_select_checked" in vars(Bandit) and "_update_checked" in vars(Bandit)


def test_the_base_class_is_not_constructed_directly() -> None:
    with pytest.raises(TypeError):
        Bandit()


def test_isinstance_copies_and_restores_keep_the_subclass(policy_name: str) -> None:
    p = make(policy_name, seed=2)
    play(p, 20)
    cls = type(p)
    assert isinstance(p, Bandit)
    data = p.to_bytes()
    for q in (
        cls.from_bytes(data),
        Bandit.from_bytes(data),
        pickle.loads(pickle.dumps(p)),
        p.copy(),
    ):
        assert type(q) is cls
        assert q.to_bytes() == data
    other = regretless.UCBV if cls is regretless.UCB1 else regretless.UCB1
    expected = f"hold a {cls.__name__}, not a {other.__name__}"
    with pytest.raises(regretless.StateError, match=expected):
        other.from_bytes(data)


def test_bandit_from_bytes_refuses_other_families() -> None:
    linear = regretless.LinUCB(2, 3).to_bytes()
    with pytest.raises(regretless.StateError, match="LinUCB, not a multi-armed"):
        Bandit.from_bytes(linear)
    with pytest.raises(regretless.StateError, match="not a"):
        regretless.UCB1.from_bytes(linear)


def test_simulate_and_replay_refuse_non_bandits() -> None:
    env = regretless.BernoulliEnv([0.2, 0.8])
    with pytest.raises(regretless.DTypeError, match="multi-armed bandit policy, got LinUCB"):
        regretless.simulate(regretless.LinUCB(2, 3), env, 10, 1, 0)
