"""regretless: fast bandit algorithms with a Rust core.

Every multi-armed policy is a subclass of :class:`Bandit` and shares its vocabulary:
``select()`` / ``update(arm, reward)`` for one decision, ``select_batch(n)`` /
``update_batch(arms, rewards)`` for arrays, ``scores()``, ``probabilities()``, ``counts()``,
``means()``, ``add_arm()`` / ``remove_arm(i)``, ``to_bytes()`` / ``from_bytes()``, pickle,
``copy()`` and, where the statistics add up, ``merge(other)``. Objects are safe to share
between threads.

>>> import regretless
>>> policy = regretless.ThompsonSampling(n_arms=3, seed=42)
>>> arm = policy.select()
>>> policy.update(arm, 1.0)
>>> restored = regretless.ThompsonSampling.from_bytes(policy.to_bytes())
>>> restored.select() == policy.select()
True

Kernel bandits (:class:`GPUCB`, :class:`BKB`, :func:`optimize`) choose among the rows of a
candidate matrix: ``select()`` / ``update(index, reward)`` / ``select_batch(b)`` /
``posterior(X)``.

Cascading bandits (:class:`CascadeUCB1`, :class:`CascadeKLUCB`, :class:`CascadeLinUCB`, each
a :class:`CascadeBandit`) rank items and learn from the first click: ``select_list(k)`` /
``update_list(items, click_position)`` and their batch forms; :func:`simulate_cascade` plays
them against the cascade click model.

The single-pass streaming policies (:mod:`regretless.stream`) speak ``offer(arm)`` /
``next_pull()`` / ``update(arm, reward)`` / ``update_many(arm, rewards)`` / ``finish()``.
"""

from regretless import _core
from regretless import identify as identify  # the module, as regretless.identify
from regretless._core import (
    BKB,
    CUSUMUCB,
    EXP3,
    EXP3IX,
    FORMAT_VERSION,
    GLRUCB,
    GPUCB,
    HATCH,
    KLUCB,
    LUCB,
    MOSS,
    UCB1,
    UCB2,
    UCBV,
    AggressiveSelectivePromotion,
    Bandit,
    BatchedExp3,
    BayesUCB,
    BernoulliEnv,
    BestArmIdentifier,
    BinSampler,
    CascadeBandit,
    CascadeKLUCB,
    CascadeLinUCB,
    CascadeUCB1,
    CascadingMDP,
    CascadingVI,
    ContextualBandit,
    DiagonalLinUCB,
    DiscountedThompsonSampling,
    DiscountedUCB,
    DynamicalLinearEnv,
    DynLinUCB,
    EpsilonGreedy,
    GameOfArms,
    GaussianEnv,
    GaussianThompsonSampling,
    GibbsGreedy,
    HybridLinUCB,
    KernelBandit,
    KLRegularizedUCB,
    KnapsackEnv,
    LinGreedy,
    LinTS,
    LinUCB,
    LogisticTS,
    LogisticUCB,
    MyopicLinUCB,
    NaiveEpsilonBest,
    PiecewiseBernoulliEnv,
    PrimalDualBwK,
    Recommendation,
    SharedSketchLinTS,
    SharedSketchLinUCB,
    ShrinkingDartboard,
    SketchedLinTS,
    SketchedLinUCB,
    SlidingWindowUCB,
    Softmax,
    SparseLinearBaseline,
    StreamBandit,
    SuccessiveElimination,
    SuccessiveHalving,
    TableEnv,
    ThompsonSampling,
    TrackAndStop,
    TsallisINF,
    UniformExploration,
    __version__,
    allocate_rollouts,
    best_perm,
    simulate_cascade,
    simulate_dynlin,
)
from regretless.contextual import CONTEXTUAL_POLICIES, gibbs_policy, kl_regret, tmps
from regretless.exceptions import (
    AllocationError,
    ArmError,
    DTypeError,
    IncompatibleError,
    InvalidParameterError,
    RegretlessError,
    RegretlessWarning,
    RewardError,
    ShapeError,
    SmallSampleWarning,
    StateError,
)
from regretless.kernel import (
    KERNEL_POLICIES,
    RBF,
    Linear,
    Matern,
    OptimizeResult,
    Polynomial,
    optimize,
)
from regretless.reactive import (
    LSDEnv,
    LSDExploreCommit,
    PeriodicUCB,
    RecoveringEnv,
    TallyingElimination,
    TallyingEnv,
    simulate_reactive,
)

# After the policy classes: the service module reads them from this package.
from regretless.service import Decision, DecisionService  # noqa: E402
from regretless.simulation import SimulationResult, simulate
from regretless.stream import STREAM_POLICIES, StreamSimulationResult, simulate_stream

#: Every multi-armed bandit policy class (each a subclass of :class:`Bandit`), in the order
#: of the core's registry, which the demo follows.
POLICIES: tuple[type[Bandit], ...] = tuple(getattr(_core, name) for name in _core.POLICY_NAMES)
#: Every cascading bandit class (each a subclass of :class:`CascadeBandit`), in registry order.
CASCADE_POLICIES: tuple[type[CascadeBandit], ...] = tuple(
    getattr(_core, name) for name in _core.CASCADE_NAMES
)

__all__ = [
    "EXP3",
    "CONTEXTUAL_POLICIES",
    "EXP3IX",
    "FORMAT_VERSION",
    "KERNEL_POLICIES",
    "KLUCB",
    "MOSS",
    "POLICIES",
    "UCB1",
    "STREAM_POLICIES",
    "UCBV",
    "AggressiveSelectivePromotion",
    "BKB",
    "Bandit",
    "GPUCB",
    "Linear",
    "Matern",
    "OptimizeResult",
    "Polynomial",
    "RBF",
    "ArmError",
    "AllocationError",
    "BayesUCB",
    "BernoulliEnv",
    "ContextualBandit",
    "DTypeError",
    "DiscountedThompsonSampling",
    "DiscountedUCB",
    "EpsilonGreedy",
    "GameOfArms",
    "GaussianEnv",
    "GaussianThompsonSampling",
    "GibbsGreedy",
    "HybridLinUCB",
    "IncompatibleError",
    "InvalidParameterError",
    "KernelBandit",
    "KLRegularizedUCB",
    "LinGreedy",
    "LinTS",
    "LinUCB",
    "LogisticTS",
    "LogisticUCB",
    "NaiveEpsilonBest",
    "PiecewiseBernoulliEnv",
    "RegretlessError",
    "RegretlessWarning",
    "RewardError",
    "ShapeError",
    "SimulationResult",
    "SketchedLinTS",
    "SketchedLinUCB",
    "SharedSketchLinTS",
    "SharedSketchLinUCB",
    "DiagonalLinUCB",
    "Softmax",
    "SmallSampleWarning",
    "StateError",
    "StreamBandit",
    "StreamSimulationResult",
    "SlidingWindowUCB",
    "SuccessiveElimination",
    "TableEnv",
    "ThompsonSampling",
    "TsallisINF",
    "BatchedExp3",
    "ShrinkingDartboard",
    "UCB2",
    "UniformExploration",
    "BestArmIdentifier",
    "SuccessiveHalving",
    "LUCB",
    "TrackAndStop",
    "Recommendation",
    "BinSampler",
    "SparseLinearBaseline",
    "__version__",
    "Decision",
    "DecisionService",
    "gibbs_policy",
    "kl_regret",
    "optimize",
    "simulate",
    "simulate_stream",
    "tmps",
    "CASCADE_POLICIES",
    "CascadeBandit",
    "CascadeKLUCB",
    "CascadeLinUCB",
    "CascadeUCB1",
    "simulate_cascade",
    "HATCH",
    "CascadingMDP",
    "CascadingVI",
    "KnapsackEnv",
    "PrimalDualBwK",
    "allocate_rollouts",
    "best_perm",
    "CUSUMUCB",
    "GLRUCB",
    "LSDEnv",
    "LSDExploreCommit",
    "PeriodicUCB",
    "RecoveringEnv",
    "TallyingElimination",
    "TallyingEnv",
    "simulate_reactive",
    "DynLinUCB",
    "MyopicLinUCB",
    "DynamicalLinearEnv",
    "simulate_dynlin",
]
