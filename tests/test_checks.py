"""One rule for Python-side argument checks: a wrong type (bools included) is a DTypeError,
an integer out of range an InvalidParameterError, any bad seed an InvalidParameterError (as
in the core), each message naming the argument; the same mistake gets the same exception
from every module."""

from __future__ import annotations

import numpy as np
import pytest
import regretless
from regretless import _checks, datasets, experiment, kernel, logs, ope, stream
from regretless.exceptions import DTypeError, InvalidParameterError

ENV = regretless.BernoulliEnv([0.2, 0.8])


def grid(**kw):
    args = {
        "policies": ["UCB1"],
        "envs": [experiment.EnvSpec("e", means=[0.2, 0.8])],
        "seeds": [0],
        "horizon": 10,
    }
    args.update(kw)
    return experiment.Grid(**args)


def test_check_int_bounds_and_types() -> None:
    assert _checks.check_int(np.int64(5), "k", low=1, high=5) == 5
    assert type(_checks.check_int(np.int32(5), "k")) is int
    for bad in (True, np.bool_(True), 1.0, "1", None):
        with pytest.raises(DTypeError, match="^k: expected an integer"):
            _checks.check_int(bad, "k", low=0)
    with pytest.raises(InvalidParameterError, match=r"^k: must be an integer in \[1, 5\], got 6"):
        _checks.check_int(6, "k", low=1, high=5)
    with pytest.raises(InvalidParameterError, match=r"^k: must be an integer >= 0, got -1"):
        _checks.check_nonnegative_int(-1, "k")
    assert _checks.check_nonnegative_int(0, "k") == 0
    with pytest.raises(InvalidParameterError, match=r"^k: must be an integer >= 1, got 0"):
        _checks.check_positive_int(0, "k")


def test_check_seed_and_probability() -> None:
    assert _checks.check_seed(2**64 - 1) == 2**64 - 1
    for bad in (-1, 2**64, True, 1.5, "3"):
        with pytest.raises(InvalidParameterError, match=r"^seed: .*\[0, 2\*\*64\)"):
            _checks.check_seed(bad)
    with pytest.raises(InvalidParameterError, match=r"seeds: .*\[0, 2\*\*63\)"):
        _checks.check_seed(2**63, "seeds", bound=2**63)
    assert 0 <= _checks.resolve_seed(None) < 2**64
    assert _checks.check_probability(1, "p") == 1.0
    with pytest.raises(InvalidParameterError, match=r"^p: must be a probability in \(0, 1\]"):
        _checks.check_probability(0.0, "p", open_low=True)
    with pytest.raises(InvalidParameterError, match="p: must be a probability"):
        _checks.check_probability(float("nan"), "p")
    with pytest.raises(DTypeError, match="^p: expected a real number"):
        _checks.check_probability(True, "p")


def test_check_existing_path(tmp_path) -> None:
    assert _checks.check_existing_path(tmp_path, "out") == tmp_path
    with pytest.raises(InvalidParameterError, match="out: .*does not exist"):
        _checks.check_existing_path(tmp_path / "missing", "out")
    with pytest.raises(DTypeError, match="out: expected a path"):
        _checks.check_existing_path(3, "out")


# The same mistake, the same exception, in every module that takes the argument.
BOOL_COUNTS = [
    (lambda: regretless.simulate(regretless.UCB1(2), ENV, True), "horizon"),
    (lambda: regretless.simulate(regretless.UCB1(2), ENV, 10, n_runs=True), "n_runs"),
    (lambda: stream.simulate_stream("asp", [0.5], True), "horizon"),
    (lambda: stream.paper_instance("mix-in", True), "n_arms"),
    (lambda: grid(horizon=True), "horizon"),
    (lambda: grid(runs=True), "runs"),
    (lambda: datasets.synthetic_logs(True), "n_rounds"),
    (
        lambda: ope.InverseProbabilityWeighting().accumulator(n_bootstrap=True),
        "n_bootstrap",
    ),
    (lambda: kernel.optimize(lambda x: 0.0, np.zeros((2, 1)), budget=True), "budget"),
    (
        lambda: list(logs.iter_batches({"action": [0], "reward": [1.0]}, batch_size=True)),
        "batch_size",
    ),
]
NEGATIVE_COUNTS = [
    (lambda: regretless.simulate(regretless.UCB1(2), ENV, -1), "horizon"),
    (lambda: stream.simulate_stream("asp", [0.5], 10, n_runs=-2), "n_runs"),
    (lambda: grid(record_every=-1), "record_every"),
    (lambda: datasets.synthetic_logs(-5), "n_rounds"),
    (lambda: ope.InverseProbabilityWeighting().accumulator(first_row=-1), "first_row"),
    (lambda: kernel.optimize(lambda x: 0.0, np.zeros((2, 1)), budget=-1), "budget"),
    (lambda: list(logs.iter_batches({"action": [0], "reward": [1.0]}, batch_size=0)), "batch_size"),
    (lambda: experiment.run(grid(), workers=0), "workers"),
]
BAD_SEEDS = [
    (lambda s: regretless.simulate(regretless.UCB1(2), ENV, 10, seed=s)),
    (lambda s: stream.simulate_stream("asp", [0.5], 10, seed=s)),
    (lambda s: stream.paper_instance("mix-in", 10, seed=s)),
    (lambda s: datasets.synthetic_logs(10, seed=s)),
    (lambda s: ope.InverseProbabilityWeighting().accumulator(n_bootstrap=5, seed=s)),
]


@pytest.mark.parametrize("call, name", BOOL_COUNTS)
def test_a_bool_count_is_a_dtype_error_naming_the_argument(call, name: str) -> None:
    with pytest.raises(DTypeError, match=rf"{name}: expected an integer, got bool"):
        call()


@pytest.mark.parametrize("call, name", NEGATIVE_COUNTS)
def test_a_negative_count_is_an_invalid_parameter_naming_the_argument(call, name: str) -> None:
    with pytest.raises(InvalidParameterError, match=rf"{name}: must be an integer (>= |in \[)"):
        call()


@pytest.mark.parametrize("call", BAD_SEEDS)
@pytest.mark.parametrize("seed", [-1, True, 2**64, 0.5])
def test_a_bad_seed_is_an_invalid_parameter_everywhere(call, seed) -> None:
    with pytest.raises(InvalidParameterError, match="seed"):
        call(seed)


def test_grid_seeds_fit_the_int64_results_column() -> None:
    assert grid(seeds=[2**63 - 1]).seeds == [2**63 - 1]
    with pytest.raises(InvalidParameterError, match=r"seeds: .*2\*\*63"):
        grid(seeds=[2**63])


def test_matern_smoothness_is_checked_on_construction() -> None:
    for nu in (2, 2.0, True, "2.5", 3.5):
        with pytest.raises(InvalidParameterError, match=r"nu: must be 0.5, 1.5 or 2.5"):
            regretless.Matern(nu=nu)
    for nu in (0.5, 1.5, 2.5):
        assert regretless.Matern(nu=nu).nu == nu
