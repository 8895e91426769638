"""Single-pass streaming bandits: arms arrive one at a time, only a few fit in memory, and an
arm let go never returns (Wang, ICML 2023, "Tight regret bounds for single-pass streaming
multi-armed bandits", and the algorithms it builds on).

Use it to choose among a stream of candidates too many to keep: generated prompts, agent
designs, ad creatives, the items of a catalogue feed. Four policies share one protocol
(``offer`` / ``next_pull`` / ``update`` or ``update_many`` / ``finish``):

* :class:`UniformExploration`: the baseline; every arm pulled ``(T/K)^(2/3) (ln T)^(1/3)``
  times, two arms of memory.
* :class:`NaiveEpsilonBest`: every arm pulled ``ln K / eps^2`` times; a reference point
  that loses to the baseline.
* :class:`GameOfArms`: king/challenger with a fractional-stream fallback, three arms.
* :class:`AggressiveSelectivePromotion`: ``log*(K) + 2`` arms, the lowest regret here.

:func:`simulate_stream` runs any of them over Bernoulli arms entirely in Rust, and
:func:`paper_instance` builds the paper's two settings.

>>> from regretless.stream import paper_instance, simulate_stream
>>> inst = paper_instance("mix-in", n_arms=500, seed=0)
>>> inst.horizon
125000000000
>>> ue = simulate_stream("uniform", inst.means, inst.horizon, n_runs=8, seed=1)
>>> asp = simulate_stream("asp", inst.means, inst.horizon, n_runs=8, seed=1)
>>> bool(asp.mean_regret() < 0.7 * ue.mean_regret())
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from regretless import _core
from regretless._checks import check_int, check_seed, resolve_seed
from regretless._core import (
    AggressiveSelectivePromotion,
    GameOfArms,
    NaiveEpsilonBest,
    StreamBandit,
    UniformExploration,
    _simulate_stream,
)
from regretless.exceptions import DTypeError, InvalidParameterError

__all__ = [
    "STREAM_POLICIES",
    "AggressiveSelectivePromotion",
    "GameOfArms",
    "NaiveEpsilonBest",
    "StreamBandit",
    "StreamInstance",
    "StreamSimulationResult",
    "UniformExploration",
    "paper_instance",
    "simulate_stream",
]

#: Every streaming policy class, baseline first (the core registry's list).
STREAM_POLICIES: tuple[type[StreamBandit], ...] = tuple(
    getattr(_core, name) for name in _core.STREAM_NAMES
)

#: Short names accepted by :func:`simulate_stream` besides the classes and their names.
ALIASES = {
    "uniform": UniformExploration,
    "naive": NaiveEpsilonBest,
    "game_of_arms": GameOfArms,
    "asp": AggressiveSelectivePromotion,
}


@dataclass(frozen=True)
class StreamSimulationResult:
    """Outcome of ``n_runs`` independent runs of one streaming policy.

    Attributes:
        algorithm: class name of the policy.
        n_arms: K, the number of arms in the stream.
        horizon: T, the pulls allowed in all.
        regret: pseudo-regret ``T mu* - sum of the means of the arms pulled``, one value per
            run, shape ``(n_runs,)``.
        committed_arm: index into ``means`` of the arm each run committed to (-1 if none).
        exploration_pulls: pulls made before the commit, per run.
        peak_memory: the most arms held at once, per run (never above
            ``max_arms_in_memory`` of the class).
        run_seeds: the seed of each run's policy: ``cls(K, T, seed=run_seeds[i])`` fed the
            same arrival order makes the same decisions.
        seed: the base seed (reproduces the result exactly).
        elapsed_seconds: wall-clock time of the simulation.

    >>> import regretless
    >>> res = regretless.simulate_stream("uniform", [0.2, 0.8, 0.5], 10_000, n_runs=2, seed=0)
    >>> res.committed_arm.tolist(), res.peak_memory.tolist()
    ([1, 1], [2, 2])
    """

    algorithm: str
    n_arms: int
    horizon: int
    regret: np.ndarray
    committed_arm: np.ndarray
    exploration_pulls: np.ndarray
    peak_memory: np.ndarray
    run_seeds: np.ndarray
    seed: int
    elapsed_seconds: float

    @property
    def n_runs(self) -> int:
        return int(self.regret.shape[0])

    def mean_regret(self) -> float:
        """Mean regret over the runs."""
        return float(self.regret.mean())

    def stderr_regret(self) -> float:
        """Standard error of the mean regret (0 for one run)."""
        if self.n_runs < 2:
            return 0.0
        return float(self.regret.std(ddof=1) / np.sqrt(self.n_runs))


def _algorithm_name(algorithm: Any) -> str:
    if isinstance(algorithm, type) and algorithm in STREAM_POLICIES:
        return algorithm.__name__
    if isinstance(algorithm, str):
        if algorithm in ALIASES:
            return ALIASES[algorithm].__name__
        if algorithm in {cls.__name__ for cls in STREAM_POLICIES}:
            return algorithm
        names = sorted({*ALIASES, *(c.__name__ for c in STREAM_POLICIES)})
        raise InvalidParameterError(
            f"algorithm: unknown streaming algorithm {algorithm!r}; expected one of {names}"
        )
    raise DTypeError(
        f"algorithm: expected a streaming policy class or its name, got {type(algorithm).__name__}"
    )


def simulate_stream(
    algorithm: Any,
    means: Any,
    horizon: int,
    n_runs: int = 1,
    seed: int | None = None,
    order: Literal["shuffled", "given"] = "shuffled",
) -> StreamSimulationResult:
    """Run a streaming policy over Bernoulli arms ``n_runs`` times, entirely in Rust.

    Each run starts a fresh policy for ``K = len(means)`` arms and ``horizon`` pulls,
    offers every arm once (in a fresh random order per run, or in the given order), pays
    the pulls it asks for, then calls ``finish()`` and pays the commit. A batch of ``n``
    pulls of an arm with mean ``p`` is one exact binomial draw (BINV inversion when
    ``n min(p, 1-p) < 10``, BTPE rejection otherwise; no normal approximation for
    ``n <= 2**53``), so a run costs O(K) draws whatever the horizon: K = 10**6 arms with
    T = 10**9 pulls take about a second. Runs are spread over all cores with the GIL
    released; the result depends only on ``seed``, not on the number of threads.

    Args:
        algorithm: a streaming policy class (e.g. ``regretless.GameOfArms``), its name, or
            one of ``"uniform"``, ``"naive"``, ``"game_of_arms"``, ``"asp"``.
        means: success probability of each arm, in [0, 1]; copied once to a private
            float64 array.
        horizon: T, pulls in all, in [1, 2**53].
        n_runs: independent runs.
        seed: base seed; ``None`` draws one (stored in the result).
        order: ``"shuffled"`` (the paper's setting) or ``"given"``.

    >>> import regretless
    >>> means = [0.3] * 99 + [0.9]
    >>> res = regretless.simulate_stream(
    ...     regretless.AggressiveSelectivePromotion, means, 10**9, n_runs=4, seed=7
    ... )
    >>> res.committed_arm.tolist()
    [99, 99, 99, 99]
    >>> cap = regretless.AggressiveSelectivePromotion(100, 10).max_arms_in_memory
    >>> int(res.peak_memory.max()), cap
    (4, 5)
    """
    name = _algorithm_name(algorithm)
    n_runs = check_int(n_runs, "n_runs", low=1, high=2**24)
    horizon = check_int(horizon, "horizon", low=1, high=2**53)
    seed = resolve_seed(seed)
    start = time.perf_counter()
    out = _simulate_stream(name, means, horizon, n_runs, seed, order)
    elapsed = time.perf_counter() - start
    return StreamSimulationResult(
        algorithm=name,
        n_arms=len(means),
        horizon=horizon,
        regret=out["regret"],
        committed_arm=out["committed"],
        exploration_pulls=out["exploration_pulls"],
        peak_memory=out["peak_memory"],
        run_seeds=out["run_seeds"],
        seed=seed,
        elapsed_seconds=elapsed,
    )


#: The paper's two settings.
SETTINGS = ("clear-cut", "mix-in")


@dataclass(frozen=True)
class StreamInstance:
    """A streaming bandit instance: Bernoulli means and the horizon ``T = alpha K^beta``.

    >>> inst = StreamInstance("custom", np.array([0.1, 0.9]), horizon=100, alpha=12.5, beta=3)
    >>> inst.n_arms
    2
    """

    setting: str
    means: np.ndarray
    horizon: int
    alpha: float
    beta: float
    seed: int | None = None

    @property
    def n_arms(self) -> int:
        return int(self.means.shape[0])


def paper_instance(
    setting: Literal["clear-cut", "mix-in"],
    n_arms: int,
    *,
    alpha: float = 1000,
    beta: float = 3,
    seed: int | None = None,
) -> StreamInstance:
    """One of the paper's two settings, with horizon ``T = alpha * K**beta``.

    * ``"clear-cut"``: ``K - 1`` means drawn from N(0.5, 0.1^2) truncated to [0, 0.8]
      (redrawn until inside), plus one arm at 0.82, placed last.
    * ``"mix-in"``: all ``K`` means uniform on [0, 1].

    The means come in draw order; :func:`simulate_stream` shuffles the arrivals per run.
    The defaults ``alpha = 1000``, ``beta = 3`` are the paper's; ``T`` must stay below
    ``2**53`` (K up to about 20,000 with the defaults).

    >>> inst = paper_instance("clear-cut", 1000, seed=0)
    >>> inst.horizon, inst.means.shape, float(inst.means.max())
    (1000000000000, (1000,), 0.82)
    """
    if setting not in SETTINGS:
        raise InvalidParameterError(f"setting: expected one of {SETTINGS}, got {setting!r}")
    n_arms = check_int(n_arms, "n_arms", low=1, high=2**40)
    horizon = int(round(alpha * n_arms**beta))
    if not 1 <= horizon <= 2**53:
        raise InvalidParameterError(
            f"alpha, beta: the horizon alpha * K**beta = {horizon} is outside [1, 2**53]"
        )
    rng = np.random.default_rng(None if seed is None else check_seed(seed))
    if setting == "mix-in":
        means = rng.random(n_arms)
    else:
        means = np.empty(n_arms - 1)
        filled = 0
        while filled < n_arms - 1:
            draw = rng.normal(0.5, 0.1, size=2 * (n_arms - 1 - filled) + 8)
            draw = draw[(draw >= 0.0) & (draw <= 0.8)][: n_arms - 1 - filled]
            means[filled : filled + draw.size] = draw
            filled += draw.size
        means = np.append(means, 0.82)
    return StreamInstance(setting, means, horizon, alpha, beta, seed)
