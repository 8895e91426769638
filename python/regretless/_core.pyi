"""Type stubs of the compiled extension ``regretless._core`` (hand-written; see the
classes' docstrings for the algorithms)."""

from collections.abc import Callable
from typing import Any, Literal, SupportsFloat, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Self, disjoint_base, final

__all__ = [
    "Bandit",
    "EpsilonGreedy",
    "Softmax",
    "UCB1",
    "UCBV",
    "MOSS",
    "KLUCB",
    "BayesUCB",
    "ThompsonSampling",
    "GaussianThompsonSampling",
    "EXP3",
    "EXP3IX",
    "SuccessiveElimination",
    "SlidingWindowUCB",
    "DiscountedUCB",
    "DiscountedThompsonSampling",
    "POLICY_NAMES",
    "ContextualBandit",
    "LinUCB",
    "LinTS",
    "LinGreedy",
    "KLRegularizedUCB",
    "GibbsGreedy",
    "LogisticUCB",
    "LogisticTS",
    "SketchedLinUCB",
    "SketchedLinTS",
    "HybridLinUCB",
    "KernelBandit",
    "GPUCB",
    "BKB",
    "BernoulliEnv",
    "GaussianEnv",
    "TableEnv",
    "PiecewiseBernoulliEnv",
    "StreamBandit",
    "UniformExploration",
    "NaiveEpsilonBest",
    "GameOfArms",
    "AggressiveSelectivePromotion",
    "_simulate",
    "_simulate_stream",
    "OffPolicyAccumulator",
    "_ope_estimate",
    "_replay",
    "_ServiceCore",
    "CONTEXTUAL_NAMES",
    "KERNEL_NAMES",
    "STREAM_NAMES",
    "FORMAT_VERSION",
    "__version__",
]

__version__: str
FORMAT_VERSION: int
#: The class names of each family's core registry (POLICY_NAMES: the multi-armed one).
CONTEXTUAL_NAMES: tuple[str, ...]
KERNEL_NAMES: tuple[str, ...]
STREAM_NAMES: tuple[str, ...]
POLICY_NAMES: tuple[str, ...]

@disjoint_base
class Bandit:
    """The base class of every multi-armed bandit policy; not constructed directly."""

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
    def fit_logs(self, source: Any, **kwargs: Any) -> Self: ...

@final
class UCB1(Bandit):
    def __new__(cls, n_arms: int, *, alpha: float = 1.0, seed: int | None = None) -> Self: ...

@final
class UCBV(Bandit):
    def __new__(
        cls, n_arms: int, *, zeta: float = 1.2, c: float = 1.0, seed: int | None = None
    ) -> Self: ...

@final
class MOSS(Bandit):
    def __new__(
        cls, n_arms: int, *, horizon: int | None = None, seed: int | None = None
    ) -> Self: ...

@final
class KLUCB(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        divergence: Literal["bernoulli", "gaussian", "poisson"] = "bernoulli",
        c: float = 0.0,
        plus: bool = False,
        variance: float = 0.25,
        seed: int | None = None,
    ) -> Self: ...

@final
class BayesUCB(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        c: float = 0.0,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> Self: ...

@final
class ThompsonSampling(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...
    def posterior(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

@final
class GaussianThompsonSampling(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        mu0: float = 0.0,
        kappa0: float = 1.0,
        alpha0: float = 1.0,
        beta0: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...

@final
class EpsilonGreedy(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        epsilon: float = 0.1,
        decay: float | None = None,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def current_epsilon(self) -> float: ...

@final
class Softmax(Bandit):
    def __new__(cls, n_arms: int, *, temperature: float = 0.1, seed: int | None = None) -> Self: ...

@final
class EXP3(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        eta: float | None = None,
        gamma: float = 0.0,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def eta(self) -> float: ...
    def loss_estimates(self) -> NDArray[np.float64]: ...

@final
class EXP3IX(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        eta: float | None = None,
        gamma: float | None = None,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def eta(self) -> float: ...
    def loss_estimates(self) -> NDArray[np.float64]: ...

@final
class SuccessiveElimination(Bandit):
    def __new__(cls, n_arms: int, *, delta: float = 0.05, seed: int | None = None) -> Self: ...
    def active(self) -> NDArray[np.bool_]: ...

@final
class SlidingWindowUCB(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        window: int | None = None,
        xi: float = 0.6,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def window(self) -> int: ...

@final
class DiscountedUCB(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        gamma: float | None = None,
        xi: float = 0.6,
        horizon: int | None = None,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def gamma(self) -> float: ...

@final
class DiscountedThompsonSampling(Bandit):
    def __new__(
        cls,
        n_arms: int,
        *,
        gamma: float = 0.95,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def gamma(self) -> float: ...
    def posterior(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

@disjoint_base
class ContextualBandit:
    """The base class of the linear contextual policies (no constructor)."""

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
    def fit_logs(self, source: Any, **kwargs: Any) -> Self: ...

@final
class LinUCB(ContextualBandit):
    def __new__(
        cls,
        n_arms: int,
        dim: int,
        *,
        alpha: float = 1.0,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...

@final
class LinTS(ContextualBandit):
    def __new__(
        cls, n_arms: int, dim: int, *, v: float = 0.2, lam: float = 1.0, seed: int | None = None
    ) -> Self: ...

@final
class LinGreedy(ContextualBandit):
    def __new__(
        cls,
        n_arms: int,
        dim: int,
        *,
        epsilon: float = 0.1,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...

@final
class LogisticUCB(ContextualBandit):
    def __new__(
        cls,
        n_arms: int,
        dim: int,
        *,
        alpha: float = 1.0,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...

@final
class LogisticTS(ContextualBandit):
    def __new__(
        cls, n_arms: int, dim: int, *, v: float = 1.0, lam: float = 1.0, seed: int | None = None
    ) -> Self: ...

@final
class KLRegularizedUCB(ContextualBandit):
    def __new__(
        cls,
        n_arms: int,
        dim: int,
        *,
        eta: float = 1.0,
        beta: float | None = None,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...

@final
class GibbsGreedy(ContextualBandit):
    def __new__(
        cls, n_arms: int, dim: int, *, eta: float = 1.0, lam: float = 1.0, seed: int | None = None
    ) -> Self: ...

@final
class SketchedLinUCB(ContextualBandit):
    def __new__(
        cls,
        n_arms: int,
        dim: int,
        *,
        sketch_size: int = 32,
        alpha: float = 1.0,
        lam: float = 1.0,
        robust: bool = False,
        seed: int | None = None,
    ) -> Self: ...

@final
class SketchedLinTS(ContextualBandit):
    def __new__(
        cls,
        n_arms: int,
        dim: int,
        *,
        sketch_size: int = 32,
        v: float = 0.2,
        lam: float = 1.0,
        robust: bool = False,
        seed: int | None = None,
    ) -> Self: ...

@final
class HybridLinUCB:
    def __new__(
        cls,
        n_arms: int,
        dim: int,
        shared_dim: int,
        *,
        alpha: float = 1.0,
        lam: float = 1.0,
        seed: int | None = None,
    ) -> Self: ...
    def select(self, x: ArrayLike, z: ArrayLike | None = None) -> int: ...
    def update(
        self,
        x: ArrayLike,
        arm: SupportsIndex,
        reward: SupportsFloat,
        weight: float = 1.0,
        *,
        z: ArrayLike | None = None,
    ) -> None: ...
    def select_batch(self, X: ArrayLike, Z: ArrayLike | None = None) -> NDArray[np.int64]: ...
    def update_batch(
        self,
        X: ArrayLike,
        arms: ArrayLike,
        rewards: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        Z: ArrayLike | None = None,
    ) -> None: ...
    def scores(self, X: ArrayLike, Z: ArrayLike | None = None) -> NDArray[np.float64]: ...
    def mean(self, X: ArrayLike, Z: ArrayLike | None = None) -> NDArray[np.float64]: ...
    def width(self, X: ArrayLike, Z: ArrayLike | None = None) -> NDArray[np.float64]: ...
    def probabilities(self, X: ArrayLike, Z: ArrayLike | None = None) -> NDArray[np.float64]: ...
    def top_k(
        self, X: ArrayLike, k: SupportsIndex, Z: ArrayLike | None = None
    ) -> NDArray[np.int64]: ...
    def shared_coefficients(self) -> NDArray[np.float64]: ...
    def coefficients(self) -> NDArray[np.float64]: ...
    def counts(self) -> NDArray[np.int64]: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def shared_dim(self) -> int: ...
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

@final
class BernoulliEnv:
    def __new__(cls, means: ArrayLike) -> Self: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def best_arm(self) -> int: ...
    @property
    def means(self) -> NDArray[np.float64]: ...

@final
class GaussianEnv:
    def __new__(cls, means: ArrayLike, *, sd: float = 1.0) -> Self: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def best_arm(self) -> int: ...
    @property
    def means(self) -> NDArray[np.float64]: ...
    @property
    def sd(self) -> float: ...

@final
class TableEnv:
    def __new__(cls, rewards: ArrayLike) -> Self: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def n_steps(self) -> int: ...

@final
class PiecewiseBernoulliEnv:
    def __new__(cls, means_by_segment: ArrayLike, change_points: list[int]) -> Self: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def n_segments(self) -> int: ...
    @property
    def change_points(self) -> list[int]: ...
    @property
    def means_by_segment(self) -> NDArray[np.float64]: ...

def _simulate(
    policy: Bandit,
    env: BernoulliEnv | GaussianEnv | TableEnv | PiecewiseBernoulliEnv,
    horizon: int,
    n_runs: int,
    seed: int,
    record_every: int,
    progress: Callable[[int], object] | None = None,
) -> dict[str, Any]: ...

@disjoint_base
class StreamBandit:
    """The base class of the single-pass streaming policies (no constructor)."""

    def offer(self, arm: SupportsIndex) -> None: ...
    def next_pull(self) -> int | None: ...
    @property
    def pending_pulls(self) -> int: ...
    def update(self, arm: SupportsIndex, reward: SupportsFloat) -> None: ...
    def update_many(self, arm: SupportsIndex, rewards: ArrayLike) -> None: ...
    def finish(self) -> None: ...
    def arms_in_memory(self) -> list[int]: ...
    @property
    def max_arms_in_memory(self) -> int: ...
    @property
    def committed_arm(self) -> int | None: ...
    @property
    def n_arms(self) -> int: ...
    @property
    def horizon(self) -> int: ...
    @property
    def n_offered(self) -> int: ...
    @property
    def n_pulls(self) -> int: ...
    @property
    def is_finished(self) -> bool: ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Self: ...
    def __reduce__(self) -> tuple[Callable[[bytes], Self], tuple[bytes]]: ...
    def copy(self) -> Self: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any) -> Self: ...

@final
class UniformExploration(StreamBandit):
    def __new__(cls, n_arms: int, horizon: int, *, seed: int | None = None) -> Self: ...

@final
class NaiveEpsilonBest(StreamBandit):
    def __new__(cls, n_arms: int, horizon: int, *, seed: int | None = None) -> Self: ...

@final
class GameOfArms(StreamBandit):
    def __new__(cls, n_arms: int, horizon: int, *, seed: int | None = None) -> Self: ...

@final
class AggressiveSelectivePromotion(StreamBandit):
    def __new__(cls, n_arms: int, horizon: int, *, seed: int | None = None) -> Self: ...

def _simulate_stream(
    algorithm: str,
    means: ArrayLike,
    horizon: int,
    n_runs: int,
    seed: int,
    order: str,
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
    validate: bool = True,
) -> dict[str, Any]: ...

@final
class OffPolicyAccumulator:
    def __new__(
        cls,
        estimator: str,
        lambda_: float,
        n_bootstrap: int = 0,
        seed: int = 0,
        first_row: int = 0,
    ) -> Self: ...
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
    @property
    def estimator(self) -> str: ...
    @property
    def first_row(self) -> int: ...
    @property
    def n_bootstrap(self) -> int: ...
    @property
    def seed(self) -> int: ...
    def summary(self, alpha: float) -> dict[str, Any]: ...
    def result(self, alpha: float = 0.05) -> Any: ...
    def merge(self, other: OffPolicyAccumulator) -> OffPolicyAccumulator: ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> OffPolicyAccumulator: ...
    def copy(self) -> OffPolicyAccumulator: ...
    def __copy__(self) -> OffPolicyAccumulator: ...
    def __deepcopy__(self, memo: Any) -> OffPolicyAccumulator: ...

def _replay(
    policy: Bandit,
    actions: ArrayLike,
    rewards: ArrayLike,
    seed: int | None = None,
) -> dict[str, Any]: ...

@final
class _ServiceCore:
    """The hot path of ``regretless.DecisionService`` (internal)."""

    def __new__(
        cls,
        *,
        log_dir: str,
        contextual: bool,
        learner: bytes,
        published: bytes,
        version: int,
        seq: int,
        since_publish: int,
        counts: dict[str, int],
        pending: list[tuple[str, int, list[float] | None, float]],
        closed: list[tuple[str, float, bool]],
        clock: float,
        key: int,
        n_arms: int,
        dim: int | None,
        reward_wait: float,
        default_reward: float | None,
        publish_every: int,
        durability: str,
        segment_bytes: int,
        fsync_interval: float,
        id_prefix: str,
    ) -> Self: ...
    def decide(
        self, context: NDArray[np.float64] | None = None, event_id: str | None = None
    ) -> tuple[str, int, NDArray[np.float64], int]: ...
    def log_decision(
        self,
        version: int,
        event_id: str,
        action: int,
        probabilities: NDArray[np.float64],
        context: NDArray[np.float64] | None,
        eligible: list[int] | None,
    ) -> int | None: ...
    def new_event_id(self) -> str: ...
    def published(self) -> tuple[int, bytes]: ...
    def reward(self, event_id: str, value: float) -> str: ...
    def reward_many(self, event_ids: list[str], values: list[float]) -> list[str]: ...
    def sweep(self) -> None: ...
    def capture(self) -> tuple[dict[str, Any], bytes, bytes]: ...
    def learner_bytes(self) -> bytes: ...
    @property
    def model_version(self) -> int: ...
    @property
    def last_seq(self) -> int: ...
    def clock_now(self) -> float: ...
    def set_clock(self, clock: float) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def writer_stopped(self) -> bool: ...
    def fail_writes_with(self, code: int) -> None: ...

@disjoint_base
class KernelBandit:
    """The base class of the kernel bandits (no constructor)."""

    def select(self) -> int: ...
    def update(self, index: SupportsIndex, reward: SupportsFloat) -> None: ...
    def select_batch(self, b: SupportsIndex) -> NDArray[np.int64]: ...
    def posterior(
        self, X: ArrayLike | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
    def scores(self) -> NDArray[np.float64]: ...
    def candidates(self) -> NDArray[np.float64]: ...
    @property
    def n_candidates(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def t(self) -> int: ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Self: ...
    def __reduce__(self) -> tuple[Callable[[bytes], Self], tuple[bytes]]: ...
    def copy(self) -> Self: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any) -> Self: ...

@final
class GPUCB(KernelBandit):
    def __new__(
        cls,
        candidates: ArrayLike,
        kernel: Any,
        *,
        noise: float = 0.01,
        beta_scale: float = 1.0,
        delta: float = 0.1,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def beta(self) -> float: ...
    def history(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]: ...
    def counts(self) -> NDArray[np.int64]: ...

@final
class BKB(KernelBandit):
    def __new__(
        cls,
        candidates: ArrayLike,
        kernel: Any,
        *,
        lam: float = 0.01,
        qbar: float = 4.0,
        fnorm: float = 1.0,
        delta: float = 0.5,
        beta_scale: float | None = None,
        seed: int | None = None,
    ) -> Self: ...
    @property
    def dictionary_size(self) -> int: ...
    @property
    def dictionary_indices(self) -> NDArray[np.int64]: ...
    @property
    def effective_dimension(self) -> float: ...
    @property
    def beta(self) -> float: ...
    def counts(self) -> NDArray[np.int64]: ...
