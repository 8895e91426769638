"""Bad input everywhere raises a specific, documented exception naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import regretless
from regretless import exceptions as ex


def test_exception_tree() -> None:
    for cls, builtin in [
        (ex.InvalidParameterError, ValueError),
        (ex.ArmError, ValueError),
        (ex.RewardError, ValueError),
        (ex.ShapeError, ValueError),
        (ex.DTypeError, TypeError),
        (ex.StateError, ValueError),
        (ex.IncompatibleError, ValueError),
    ]:
        assert issubclass(cls, regretless.RegretlessError)
        assert issubclass(cls, builtin)
        assert getattr(regretless, cls.__name__) is cls


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: regretless.UCB1(0), "n_arms"),
        (lambda: regretless.UCB1(3, alpha=-1.0), "alpha"),
        (lambda: regretless.UCB1(3, alpha=float("nan")), "alpha"),
        (lambda: regretless.UCBV(3, zeta=0.0), "zeta"),
        (lambda: regretless.MOSS(3, horizon=0), "horizon"),
        (lambda: regretless.KLUCB(3, divergence="laplace"), "divergence"),
        (lambda: regretless.KLUCB(3, divergence="gaussian", variance=0.0), "variance"),
        (lambda: regretless.KLUCB(3, c=-1.0), "c"),
        (lambda: regretless.BayesUCB(3, prior_alpha=0.0), "prior_alpha"),
        (lambda: regretless.ThompsonSampling(3, prior_beta=-2.0), "prior_beta"),
        (lambda: regretless.GaussianThompsonSampling(3, kappa0=0.0), "kappa0"),
        (lambda: regretless.GaussianThompsonSampling(3, mu0=float("inf")), "mu0"),
        (lambda: regretless.EpsilonGreedy(3, epsilon=1.5), "epsilon"),
        (lambda: regretless.EpsilonGreedy(3, decay=0.0), "decay"),
        (lambda: regretless.Softmax(3, temperature=0.0), "temperature"),
        (lambda: regretless.EXP3(3, gamma=2.0), "gamma"),
        (lambda: regretless.EXP3(3, eta=-0.1), "eta"),
        (lambda: regretless.EXP3IX(3, gamma=-0.1), "gamma"),
        (lambda: regretless.SuccessiveElimination(3, delta=1.0), "delta"),
        (lambda: regretless.UCB1(3, seed=-1), "seed"),
        (lambda: regretless.UCB1(3, seed="abc"), "seed"),
        (lambda: regretless.BernoulliEnv([0.5, 1.2]), "means"),
        (lambda: regretless.BernoulliEnv([]), "means"),
        (lambda: regretless.GaussianEnv([0.0], sd=-1.0), "sd"),
    ],
)
def test_invalid_hyperparameters(factory, match: str) -> None:
    with pytest.raises(regretless.InvalidParameterError, match=match):
        factory()


def test_wrong_types_and_shapes_of_environment_data() -> None:
    with pytest.raises(regretless.DTypeError, match="means"):
        regretless.BernoulliEnv(["a", "b"])
    with pytest.raises(regretless.ShapeError, match="means"):
        regretless.BernoulliEnv([[0.5, 0.5]])
    with pytest.raises(regretless.ShapeError, match="rewards"):
        regretless.TableEnv([0.1, 0.2])
    with pytest.raises(regretless.RewardError, match="rewards"):
        regretless.TableEnv([[0.1, np.nan]])


def test_simulate_rejects_bad_arguments_before_running() -> None:
    env = regretless.BernoulliEnv([0.2, 0.8])
    with pytest.raises(regretless.IncompatibleError, match="3 arms|2 arms"):
        regretless.simulate(regretless.UCB1(3), env, 100)
    with pytest.raises(regretless.IncompatibleError, match="UCB1"):
        regretless.simulate(regretless.UCB1(2), regretless.GaussianEnv([0.0, 1.0]), 100)
    with pytest.raises(regretless.InvalidParameterError, match="horizon"):
        regretless.simulate(regretless.UCB1(2), regretless.TableEnv(np.zeros((5, 2))), 10)
    with pytest.raises(regretless.InvalidParameterError, match="horizon"):
        regretless.simulate(regretless.UCB1(2), env, 0)
    with pytest.raises(regretless.DTypeError, match="horizon"):
        regretless.simulate(regretless.UCB1(2), env, 10.5)
    with pytest.raises(regretless.DTypeError, match="n_runs"):
        regretless.simulate(regretless.UCB1(2), env, 10, n_runs="2")
    with pytest.raises(regretless.InvalidParameterError, match="seed"):
        regretless.simulate(regretless.UCB1(2), env, 10, seed=-3)
    with pytest.raises(regretless.DTypeError, match="env"):
        regretless.simulate(regretless.UCB1(2), [0.2, 0.8], 10)
    with pytest.raises(regretless.DTypeError, match="policy"):
        regretless.simulate("UCB1", env, 10)
    # Policies whose model takes any real reward run in a Gaussian environment.
    res = regretless.simulate(
        regretless.GaussianThompsonSampling(2), regretless.GaussianEnv([0, 1]), 50
    )
    assert res.regret.shape == (1, 50)


def test_error_messages_name_the_argument_and_the_expectation() -> None:
    p = regretless.ThompsonSampling(3)
    with pytest.raises(regretless.RewardError) as e:
        p.update_batch([0, 1, 2], [0.5, 0.5, 2.0])
    assert str(e.value) == (
        "rewards at position 2: reward 2 is invalid; "
        "expected a finite number in [0, 1] for ThompsonSampling"
    )
    with pytest.raises(regretless.ArmError) as e:
        p.update(3, 1.0)
    assert str(e.value) == "arm: arm 3 is out of range; expected an integer in [0, 3)"
    with pytest.raises(regretless.DTypeError) as e:
        p.update_batch(np.array([0.5]), np.array([1.0]))
    assert "arms" in str(e.value) and "float64" in str(e.value)
