"""Parameter errors name the value that was given ("alpha: must be ..., got -1")."""

from __future__ import annotations

import math
import re

import pytest
import regretless
from regretless import exceptions as ex

NAN, INF = math.nan, math.inf

# (factory, leading text kept as before, the value as the message names it)
CASES = [
    (lambda: regretless.UCB1(3, alpha=-1), "alpha: must be a finite number >= 0", "-1"),
    (lambda: regretless.UCB1(3, alpha=NAN), "alpha: must be a finite number >= 0", "NaN"),
    (lambda: regretless.UCBV(3, zeta=0.0), "zeta: must be a finite number > 0", "0"),
    (lambda: regretless.UCBV(3, c=INF), "c: must be a finite number > 0", "inf"),
    (lambda: regretless.KLUCB(3, c=-1.5), "c: must be a finite number >= 0", "-1.5"),
    (
        lambda: regretless.KLUCB(3, divergence="gaussian", variance=-INF),
        "variance: must be a finite number > 0",
        "-inf",
    ),
    (lambda: regretless.BayesUCB(3, prior_alpha=0.0), "prior_alpha: must be", "0"),
    (lambda: regretless.ThompsonSampling(3, prior_beta=-2.0), "prior_beta: must be", "-2"),
    (lambda: regretless.GaussianThompsonSampling(3, mu0=INF), "mu0: must be finite", "inf"),
    (lambda: regretless.GaussianThompsonSampling(3, kappa0=0.0), "kappa0: must", "0"),
    (lambda: regretless.EpsilonGreedy(3, epsilon=1.5), "epsilon: must be in [0, 1]", "1.5"),
    (lambda: regretless.EpsilonGreedy(3, decay=-0.25), "decay: must be", "-0.25"),
    (lambda: regretless.Softmax(3, temperature=0), "temperature: must be", "0"),
    (lambda: regretless.EXP3(3, gamma=2.0), "gamma: must be in [0, 1]", "2"),
    (lambda: regretless.EXP3(3, eta=-3.0), "eta: must be a finite number > 0", "-3"),
    (lambda: regretless.EXP3IX(3, gamma=-0.5), "gamma: must be a finite number >= 0", "-0.5"),
    (lambda: regretless.SuccessiveElimination(3, delta=1.0), "delta: must be in (0, 1)", "1"),
    (lambda: regretless.SlidingWindowUCB(3, window=10, xi=-1.0), "xi: must be", "-1"),
    (lambda: regretless.DiscountedUCB(3, gamma=1.0), "gamma: must be a number in (0, 1)", "1"),
    (lambda: regretless.DiscountedThompsonSampling(3, gamma=0.0), "gamma: must be", "0"),
    (lambda: regretless.TsallisINF(3, eta_scale=0), "eta_scale: must be", "0"),
    (lambda: regretless.CUSUMUCB(3, horizon=100, h=-1), "h: must be a finite number > 0", "-1"),
    (lambda: regretless.CUSUMUCB(3, horizon=100, epsilon=-0.5), "epsilon: must be", "-0.5"),
    (lambda: regretless.CUSUMUCB(3, horizon=100, alpha=1.25), "alpha: must be", "1.25"),
    (lambda: regretless.GLRUCB(3, horizon=10, delta=2.0), "delta: must be", "2"),
    (lambda: regretless.BatchedExp3(3, eta=-1.0), "eta: must be a finite number > 0", "-1"),
    (lambda: regretless.UCB2(3, alpha=1), "alpha: must be a number in (0, 1)", "1"),
    (lambda: regretless.LinUCB(3, 8, lam=0), "lam: must be a number in [1e-30, 1e30]", "0"),
    (lambda: regretless.LinUCB(3, 8, alpha=-2.5), "alpha: must be a finite number >= 0", "-2.5"),
    (lambda: regretless.LinTS(3, 8, v=NAN), "v: must be a finite number >= 0", "NaN"),
    (lambda: regretless.LinTS(3, 8, lam=1e40), "lam: must be a number in [1e-30, 1e30]", "1e40"),
    (lambda: regretless.DiagonalLinUCB(3, 8, lam=0), "lam: must be a number in", "0"),
    (lambda: regretless.DiagonalLinUCB(3, 8, alpha=-1), "alpha: must be", "-1"),
    (
        lambda: regretless.SketchedLinUCB(3, 8, sketch_size=0),
        "sketch_size: must be at least 1",
        "0",
    ),
    (lambda: regretless.SketchedLinUCB(3, 8, lam=-1.0), "lam: must be a finite number > 0", "-1"),
    (lambda: regretless.SketchedLinTS(3, 8, v=-0.5), "v: must be a finite number >= 0", "-0.5"),
    (lambda: regretless.HybridLinUCB(3, 4, 2, lam=0), "lam: must be a number in", "0"),
    (lambda: regretless.HybridLinUCB(3, 4, 2, alpha=-1), "alpha: must be", "-1"),
    (lambda: regretless.LogisticUCB(3, 4, alpha=-7.0), "alpha: must be", "-7"),
    (lambda: regretless.LogisticTS(3, 4, v=INF), "v: must be a finite number >= 0", "inf"),
    (lambda: regretless.GibbsGreedy(3, 4, eta=0.0), "eta: must be a finite number > 0", "0"),
    (lambda: regretless.SharedSketchLinUCB(4, lam=0), "lam: must be a number in", "0"),
    (lambda: regretless.SharedSketchLinUCB(4, alpha=-3), "alpha: must be", "-3"),
    (
        lambda: regretless.SharedSketchLinTS(4, sketch_size=0),
        "sketch_size: must be at least 1",
        "0",
    ),
]


@pytest.mark.parametrize("factory, prefix, value", CASES)
def test_parameter_error_names_the_value(factory, prefix, value) -> None:
    with pytest.raises(ex.InvalidParameterError, match=re.escape(prefix)) as info:
        factory()
    message = str(info.value)
    # The leading text stays as it was (tests elsewhere match on it); the value comes last.
    assert message.startswith(prefix), message
    assert message.endswith(f", got {value}"), message


def test_cases_span_the_families() -> None:
    names = {n for f, _, _ in CASES for n in f.__code__.co_names}
    classes = {n for n in names if isinstance(getattr(regretless, n, None), type)}
    assert len(classes) >= 15, sorted(classes)


def test_array_entry_errors_name_the_value_and_its_position() -> None:
    actions = [[1.0, 0.0], [0.0, -2e100]]
    with pytest.raises(ex.InvalidParameterError, match="actions: expected entries") as info:
        regretless.DynLinUCB(actions, 10, rho_bar=0.5)
    assert str(info.value).endswith(", got -2e100 at position 3"), str(info.value)
