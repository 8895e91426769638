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

class _ContextualPolicy:
    """The methods every linear contextual policy has (not a runtime class)."""

    def select(self, x: ArrayLike, pi_ref: ArrayLike | None = None) -> int: ...
    def update(
        self, x: ArrayLike, arm: SupportsIndex, reward: SupportsFloat, weight: float = 1.0
    ) -> None: ...
    def select_batch(self, X: ArrayLike, pi_ref: ArrayLike | None = None) -> NDArray[np.int64]: ...
    def update_batch(
        self, X: ArrayLike, arms: ArrayLike, rewards: ArrayLike, weights: ArrayLike | None = None
    ) -> None: ...
    def scores(self, X: ArrayLike) -> NDArray[np.float64]: ...
    def mean(self, X: ArrayLike) -> NDArray[np.float64]: ...
    def width(self, X: ArrayLike) -> NDArray[np.float64]: ...
    def probabilities(
        self, X: ArrayLike, pi_ref: ArrayLike | None = None
    ) -> NDArray[np.float64]: ...
    def top_k(self, X: ArrayLike, k: SupportsIndex) -> NDArray[np.int64]: ...
    def coefficients(self) -> NDArray[np.float64]: ...
    def counts(self) -> NDArray[np.int64]: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def dim(self) -> int: ...
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

class LinUCB(_ContextualPolicy):
    def __init__(
        self,
        n_arms: int,
        dim: int,
        *,
        alpha: float = 1.0,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> None: ...

class LinTS(_ContextualPolicy):
    def __init__(
        self, n_arms: int, dim: int, *, v: float = 0.2, lam: float = 1.0, seed: int | None = None
    ) -> None: ...

class LinGreedy(_ContextualPolicy):
    def __init__(
        self,
        n_arms: int,
        dim: int,
        *,
        epsilon: float = 0.1,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> None: ...

class LogisticUCB(_ContextualPolicy):
    def __init__(
        self,
        n_arms: int,
        dim: int,
        *,
        alpha: float = 1.0,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> None: ...

class LogisticTS(_ContextualPolicy):
    def __init__(
        self, n_arms: int, dim: int, *, v: float = 1.0, lam: float = 1.0, seed: int | None = None
    ) -> None: ...

class KLRegularizedUCB(_ContextualPolicy):
    def __init__(
        self,
        n_arms: int,
        dim: int,
        *,
        eta: float = 1.0,
        beta: float | None = None,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> None: ...

class GibbsGreedy(_ContextualPolicy):
    def __init__(
        self, n_arms: int, dim: int, *, eta: float = 1.0, lam: float = 1.0, seed: int | None = None
    ) -> None: ...

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
