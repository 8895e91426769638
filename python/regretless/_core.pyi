"""Type stubs of the compiled extension ``regretless._core`` (hand-written; see the
classes' docstrings for the algorithms)."""

from collections.abc import Callable
from typing import Any, Literal, SupportsFloat, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Self

__version__: str
FORMAT_VERSION: int

class _BanditPolicy:
    """The methods every multi-armed bandit policy has (not a runtime class)."""

    def select(self) -> int: ...
    def update(self, arm: SupportsIndex, reward: SupportsFloat) -> None: ...
    def select_batch(self, n: SupportsIndex) -> NDArray[np.int64]: ...
    def update_batch(self, arms: ArrayLike, rewards: ArrayLike) -> None: ...
    def scores(self) -> NDArray[np.float64]: ...
    def probabilities(self) -> NDArray[np.float64]: ...
    def counts(self) -> NDArray[np.int64]: ...
    def means(self) -> NDArray[np.float64]: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def n_updates(self) -> int: ...
    def add_arm(self) -> int: ...
    def remove_arm(self, arm: SupportsIndex) -> None: ...
    def merge(self, other: Self) -> None: ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Self: ...
    def __reduce__(self) -> tuple[Callable[[bytes], Self], tuple[bytes]]: ...
    def copy(self) -> Self: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any) -> Self: ...

class UCB1(_BanditPolicy):
    def __init__(self, n_arms: int, *, alpha: float = 1.0, seed: int | None = None) -> None: ...

class UCBV(_BanditPolicy):
    def __init__(
        self, n_arms: int, *, zeta: float = 1.2, c: float = 1.0, seed: int | None = None
    ) -> None: ...

class MOSS(_BanditPolicy):
    def __init__(
        self, n_arms: int, *, horizon: int | None = None, seed: int | None = None
    ) -> None: ...

class KLUCB(_BanditPolicy):
    def __init__(
        self,
        n_arms: int,
        *,
        divergence: Literal["bernoulli", "gaussian", "poisson"] = "bernoulli",
        c: float = 0.0,
        plus: bool = False,
        variance: float = 0.25,
        seed: int | None = None,
    ) -> None: ...

class BayesUCB(_BanditPolicy):
    def __init__(
        self,
        n_arms: int,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        c: float = 0.0,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> None: ...

class ThompsonSampling(_BanditPolicy):
    def __init__(
        self,
        n_arms: int,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        seed: int | None = None,
    ) -> None: ...
    def posterior(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

class GaussianThompsonSampling(_BanditPolicy):
    def __init__(
        self,
        n_arms: int,
        *,
        mu0: float = 0.0,
        kappa0: float = 1.0,
        alpha0: float = 1.0,
        beta0: float = 1.0,
        seed: int | None = None,
    ) -> None: ...

class EpsilonGreedy(_BanditPolicy):
    def __init__(
        self,
        n_arms: int,
        *,
        epsilon: float = 0.1,
        decay: float | None = None,
        seed: int | None = None,
    ) -> None: ...
    @property
    def current_epsilon(self) -> float: ...

class Softmax(_BanditPolicy):
    def __init__(
        self, n_arms: int, *, temperature: float = 0.1, seed: int | None = None
    ) -> None: ...

class EXP3(_BanditPolicy):
    def __init__(
        self,
        n_arms: int,
        *,
        eta: float | None = None,
        gamma: float = 0.0,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> None: ...
    @property
    def eta(self) -> float: ...
    def loss_estimates(self) -> NDArray[np.float64]: ...

class EXP3IX(_BanditPolicy):
    def __init__(
        self,
        n_arms: int,
        *,
        eta: float | None = None,
        gamma: float | None = None,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> None: ...
    @property
    def eta(self) -> float: ...
    def loss_estimates(self) -> NDArray[np.float64]: ...

class SuccessiveElimination(_BanditPolicy):
    def __init__(self, n_arms: int, *, delta: float = 0.05, seed: int | None = None) -> None: ...
    def active(self) -> NDArray[np.bool_]: ...

class BernoulliEnv:
    def __init__(self, means: ArrayLike) -> None: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def best_arm(self) -> int: ...
    @property
    def means(self) -> NDArray[np.float64]: ...

class GaussianEnv:
    def __init__(self, means: ArrayLike, *, sd: float = 1.0) -> None: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def best_arm(self) -> int: ...
    @property
    def means(self) -> NDArray[np.float64]: ...
    @property
    def sd(self) -> float: ...

class TableEnv:
    def __init__(self, rewards: ArrayLike) -> None: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def n_steps(self) -> int: ...

def _simulate(
    policy: _BanditPolicy,
    env: BernoulliEnv | GaussianEnv | TableEnv,
    horizon: int,
    n_runs: int,
    seed: int,
    record_every: int,
    progress: Callable[[int], object] | None = None,
) -> dict[str, Any]: ...

# Off-policy evaluation (wrapped by regretless.ope).

def _ope_estimate(
    estimator: str,
    lambda_: float,
    reward: ArrayLike | None,
    action: ArrayLike | None,
    pscore: ArrayLike | None,
    action_dist: ArrayLike,
    position: ArrayLike | None,
    estimated_rewards: ArrayLike | None,
    alpha: float,
    n_bootstrap: int,
    seed: int,
    return_round_rewards: bool,
) -> dict[str, Any]: ...

class _OpeStream:
    def __init__(self, estimator: str, lambda_: float, n_bootstrap: int, seed: int) -> None: ...
    def push(
        self,
        reward: ArrayLike | None,
        action: ArrayLike | None,
        pscore: ArrayLike | None,
        action_dist: ArrayLike,
        position: ArrayLike | None = None,
        estimated_rewards: ArrayLike | None = None,
    ) -> None: ...
    @property
    def rows(self) -> int: ...
    def summary(self, alpha: float) -> dict[str, Any]: ...

def _replay(
    policy: _BanditPolicy,
    actions: ArrayLike,
    rewards: ArrayLike,
    seed: int | None = None,
) -> dict[str, Any]: ...
