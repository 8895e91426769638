"""Best-arm identification: spend a budget of evaluations (or as few as a confidence level
needs) to find the best candidate (prompt, model, agent design, solver setting), then stop.

* :class:`SuccessiveHalving`: a fixed budget of pulls, halving the candidates each round.
* :class:`LUCB`: a fixed confidence ``1 - delta``, pulling the leader and its strongest
  challenger until their confidence intervals separate.
* :class:`TrackAndStop`: a fixed confidence, sampling in the optimal proportions
  (asymptotically optimal sample count).

Each is a :class:`BestArmIdentifier`: ``select()`` / ``update(arm, reward)`` (rewards in
[0, 1]) and their batch forms until ``should_stop()``, then ``recommend()``.
:func:`identification_report` runs many seeded identifications on Bernoulli arms in Rust
and reports how often each arm was named best and how many samples it took.

>>> import regretless
>>> from regretless.identify import hardness, identification_report
>>> means = [0.6, 0.5, 0.4]
>>> round(hardness(means), 6)  # H = sum over the other arms of 1 / gap^2
125.0
>>> report = identification_report(regretless.LUCB(3, delta=0.05), means, n_runs=40, seed=0)
>>> report.error_rate() <= 0.05
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from regretless import _core
from regretless._checks import check_int, resolve_seed
from regretless._core import (
    LUCB,
    BestArmIdentifier,
    Recommendation,
    SuccessiveHalving,
    TrackAndStop,
)
from regretless._display import PLOT_HINT
from regretless.exceptions import InvalidParameterError

__all__ = [
    "LUCB",
    "BestArmIdentifier",
    "IdentificationReport",
    "Recommendation",
    "SuccessiveHalving",
    "TrackAndStop",
    "hardness",
    "identification_report",
]


def hardness(means: Any) -> float:
    """The instance hardness ``H = sum_{i != best} 1 / (mu* - mu_i)^2``; sample counts of
    fixed-confidence rules grow like ``H ln(1 / delta)``. Infinite when the best is tied.

    >>> from regretless.identify import hardness
    >>> round(hardness([0.5, 0.4]), 6)
    100.0
    """
    mu = np.asarray(means, dtype=np.float64)
    if mu.ndim != 1 or mu.size < 2:
        raise InvalidParameterError(f"means: expected at least 2 means, got shape {mu.shape}")
    best = int(np.argmax(mu))
    gaps = mu[best] - np.delete(mu, best)
    if np.any(gaps <= 0):
        return float("inf")
    return float(np.sum(1.0 / gaps**2))


@dataclass(frozen=True)
class IdentificationReport:
    """The outcome of ``n_runs`` seeded identifications on Bernoulli arms.

    Attributes:
        identifier: ``repr`` of the rule.
        means: the arms' true means.
        recommended: the arm named best in each run, shape ``(n_runs,)``.
        samples: samples used in each run.
        stopped: whether each run stopped by its own rule (else it hit ``max_samples``).
        seed: the seed the runs were derived from.
    """

    identifier: str
    means: np.ndarray
    recommended: np.ndarray
    samples: np.ndarray
    stopped: np.ndarray
    seed: int

    @property
    def n_runs(self) -> int:
        return int(self.recommended.size)

    @property
    def best_arm(self) -> int:
        return int(np.argmax(self.means))

    @property
    def prob_best(self) -> np.ndarray:
        """Fraction of runs that named each arm best."""
        return np.bincount(self.recommended, minlength=self.means.size) / max(self.n_runs, 1)

    def error_rate(self) -> float:
        """Fraction of runs that named an arm other than the true best."""
        return float(np.mean(self.recommended != self.best_arm))

    def mean_samples(self) -> float:
        return float(np.mean(self.samples))

    def plot(self, path: str | os.PathLike[str] | None = None) -> Any:
        """Two panels: the probability each arm was named best, and the histogram of
        samples per run. Saves a PNG to ``path`` if given; returns the figure."""
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError(PLOT_HINT) from e
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        arms = np.arange(self.means.size)
        colors = ["tab:green" if a == self.best_arm else "tab:gray" for a in arms]
        left.bar(arms, self.prob_best, color=colors)
        left.set_xlabel("arm (green: true best)")
        left.set_ylabel("probability named best")
        left.set_ylim(0, 1)
        left.set_title(f"{self.identifier}: error rate {self.error_rate():.3f}")
        right.hist(self.samples, bins=30, color="tab:blue")
        right.set_xlabel("samples per run")
        right.set_ylabel("runs")
        right.set_title(f"mean {self.mean_samples():.0f} samples, H = {hardness(self.means):.0f}")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig


def identification_report(
    identifier: BestArmIdentifier,
    means: Any,
    *,
    n_runs: int = 200,
    seed: int | None = None,
    max_samples: int = 10_000_000,
) -> IdentificationReport:
    """Run ``n_runs`` seeded identifications of ``identifier`` (each from a copy of its
    current state) on Bernoulli arms with ``means``, entirely in Rust with the GIL
    released and the runs spread over all cores; a run stops by its rule or at
    ``max_samples``."""
    if not isinstance(identifier, BestArmIdentifier):
        raise TypeError(
            f"identifier: expected a BestArmIdentifier, got {type(identifier).__name__}"
        )
    n_runs = check_int(n_runs, "n_runs", low=1)
    max_samples = check_int(max_samples, "max_samples", low=1)
    seed = resolve_seed(seed)
    mu = np.ascontiguousarray(means, dtype=np.float64)
    arms, samples, stopped = _core.run_identifications(identifier, mu, n_runs, seed, max_samples)
    return IdentificationReport(repr(identifier), mu, arms, samples, stopped, seed)
