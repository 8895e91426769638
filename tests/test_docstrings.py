"""Runs the examples in every public docstring (extension classes included, which
pytest's --doctest-modules cannot see because they live in a compiled module)."""

from __future__ import annotations

import doctest

import pytest
import regretless
from regretless import (
    _checks,
    _display,
    _progress,
    contextual,
    datasets,
    exceptions,
    experiment,
    kernel,
    logs,
    ope,
    serve,
    service,
    simulation,
    stream,
)
from regretless.experiment import grid, report, runner, sharded

PUBLIC_CLASSES = [
    *regretless.CONTEXTUAL_POLICIES,
    regretless.HybridLinUCB,
    regretless.SharedSketchLinUCB,
    regretless.SharedSketchLinTS,
    regretless.GPUCB,
    regretless.BKB,
    regretless.RBF,
    regretless.Matern,
    regretless.Linear,
    regretless.Polynomial,
    regretless.Bandit,
    *regretless.POLICIES,
    *regretless.STREAM_POLICIES,
    regretless.CascadeBandit,
    *regretless.CASCADE_POLICIES,
    regretless.BernoulliEnv,
    regretless.GaussianEnv,
    regretless.TableEnv,
    regretless.PiecewiseBernoulliEnv,
    ope.DirectMethod,
    ope.InverseProbabilityWeighting,
    ope.SelfNormalizedInverseProbabilityWeighting,
    ope.DoublyRobust,
    ope.SelfNormalizedDoublyRobust,
    ope.SwitchDoublyRobust,
    ope.DoublyRobustWithShrinkage,
    ope.EstimateResult,
    ope.ReplayResult,
    logs.LoggedFeedback,
    datasets.LoggedBanditData,
    service.DecisionService,
    service.Decision,
    service.ReplayReport,
    regretless.PrimalDualBwK,
    regretless.KnapsackEnv,
    regretless.HATCH,
    regretless.CascadingVI,
    regretless.CascadingMDP,
    regretless.allocate_rollouts,
    regretless.best_perm,
]


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_class_docstring_has_a_passing_example(cls: type) -> None:
    assert cls.__doc__ and ">>>" in cls.__doc__, f"{cls.__name__} needs a runnable example"
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(cls, cls.__name__, globs={}):
        runner.run(test)
    assert runner.failures == 0


@pytest.mark.parametrize(
    "module",
    [
        regretless,
        simulation,
        stream,
        exceptions,
        _progress,
        contextual,
        ope,
        logs,
        datasets,
        kernel,
        experiment,
        grid,
        runner,
        report,
        sharded,
        _checks,
        _display,
        service,
        serve,
    ],
    ids=lambda m: m.__name__,
)
def test_module_doctests(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_public_method_is_documented() -> None:
    for cls in PUBLIC_CLASSES:
        for name in dir(cls):
            if name.startswith("_"):
                continue
            assert getattr(cls, name).__doc__, f"{cls.__name__}.{name} has no docstring"
