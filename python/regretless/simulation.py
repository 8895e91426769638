"""Simulation of bandit policies in Rust: the whole select/reward/update loop runs without
Python, with the GIL released and independent runs spread over all cores."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from regretless import _core
from regretless._checks import check_positive_int, resolve_seed
from regretless.exceptions import DTypeError, InvalidParameterError

__all__ = ["SimulationResult", "simulate"]


@dataclass(frozen=True)
class SimulationResult:
    """Regret curves of ``n_runs`` independent runs of one policy.

    Attributes:
        policy: ``repr`` of the simulated policy.
        steps: 1-based step numbers at which regret was recorded, shape ``(n_points,)``.
        regret: cumulative regret at those steps, shape ``(n_runs, n_points)``. For
            stochastic environments the pseudo-regret ``sum_t (mu* - mu[a_t])``; for a
            :class:`~regretless.TableEnv` the realized regret against the best fixed arm
            in hindsight over the horizon; for a :class:`~regretless.PiecewiseBernoulliEnv`
            the dynamic regret, against the best arm of the segment in force. With
            ``switching_cost=c > 0``, ``c`` times the switches so far is added (the regret
            with switching costs); with the default 0 it is the regret alone.
        counts: pulls of each arm in each run, shape ``(n_runs, n_arms)``.
        total_reward: reward collected in each run, shape ``(n_runs,)``.
        best_arm: the comparator arm.
        seed: the seed the runs were derived from (reproduces the result exactly).
        elapsed_seconds: wall-clock time of the simulation.
        switches: cumulative number of switches (steps whose arm differs from the step
            before; the first step is none) at the recorded steps, shape
            ``(n_runs, n_points)`` (int64), for every policy.
        switching_cost: the cost charged per switch in ``regret`` (0 by default).
    """

    policy: str
    steps: np.ndarray
    regret: np.ndarray
    counts: np.ndarray
    total_reward: np.ndarray
    best_arm: int
    seed: int
    elapsed_seconds: float
    switches: np.ndarray | None = None
    switching_cost: float = 0.0

    @property
    def n_runs(self) -> int:
        return int(self.regret.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.steps[-1])

    @property
    def n_switches(self) -> np.ndarray:
        """Switches over the whole horizon, one value per run (int64)."""
        if self.switches is None:
            return np.zeros(self.n_runs, dtype=np.int64)
        return self.switches[:, -1]

    def final_regret(self) -> np.ndarray:
        """Cumulative regret at the horizon, one value per run."""
        return self.regret[:, -1]

    def mean_regret(self) -> np.ndarray:
        """Mean cumulative regret curve over runs."""
        return self.regret.mean(axis=0)

    def std_regret(self) -> np.ndarray:
        """Standard deviation of the cumulative regret over runs (0 for one run)."""
        return (
            self.regret.std(axis=0, ddof=1) if self.n_runs > 1 else np.zeros_like(self.steps, float)
        )

    def seconds_per_step(self) -> float:
        """Wall-clock seconds per simulated step (all runs, all threads)."""
        return self.elapsed_seconds / (self.n_runs * self.horizon)

    def to_arrow(self) -> Any:
        """The curves as a long-format ``pyarrow.Table`` (columns run, step, regret).

        Requires pyarrow (``pip install pyarrow``)."""
        try:
            import pyarrow as pa
        except ImportError as e:  # pragma: no cover - exercised only without pyarrow
            raise ImportError("to_arrow() needs pyarrow: pip install pyarrow") from e
        n_runs, n_points = self.regret.shape
        return pa.table(
            {
                "policy": pa.array([self.policy] * (n_runs * n_points), pa.string()),
                "run": np.repeat(np.arange(n_runs, dtype=np.int64), n_points),
                "step": np.tile(self.steps, n_runs),
                "regret": self.regret.reshape(-1),
            }
        )


def simulate(
    policy: Any,
    env: Any,
    horizon: int,
    n_runs: int = 1,
    seed: int | None = None,
    *,
    record_every: int = 1,
    progress: bool | Callable[[int], None] = False,
    switching_cost: float = 0.0,
) -> SimulationResult:
    """Run ``policy`` in ``env`` for ``horizon`` steps, ``n_runs`` times, entirely in Rust.

    Each run starts from a copy of ``policy`` in its current state (the object itself is
    not modified), with its generator reseeded from ``seed`` and the run index, so the
    result is reproducible and independent of the number of threads.

    Args:
        policy: any regretless multi-armed bandit policy.
        env: a :class:`~regretless.BernoulliEnv`, :class:`~regretless.GaussianEnv`,
            :class:`~regretless.TableEnv` or :class:`~regretless.PiecewiseBernoulliEnv` with
            as many arms as the policy.
        horizon: steps per run.
        n_runs: independent runs (spread over all cores).
        seed: base seed; ``None`` draws one (stored in the result).
        record_every: record the regret every this many steps (and at the horizon),
            to keep long curves small.
        progress: ``True`` for a progress bar on stderr, or a callable receiving the number
            of finished runs.
        switching_cost: cost ``c >= 0`` charged per switch of arm: the reported ``regret``
            is the regret plus ``c`` times the switches so far (``switches`` holds the
            counts, whatever ``c``).

    >>> import regretless
    >>> env = regretless.BernoulliEnv([0.2, 0.5, 0.8])
    >>> res = regretless.simulate(regretless.UCB1(3), env, horizon=2000, n_runs=4, seed=1)
    >>> res.regret.shape
    (4, 2000)
    >>> bool(res.final_regret().mean() < 100)
    True
    >>> res.switches.shape, bool(res.n_switches.max() < 2000)
    ((4, 2000), True)
    >>> charged = regretless.simulate(
    ...     regretless.UCB1(3), env, horizon=2000, n_runs=4, seed=1, switching_cost=1.0
    ... )
    >>> bool((charged.regret == res.regret + res.switches).all())
    True
    """
    horizon = check_positive_int(horizon, "horizon")
    n_runs = check_positive_int(n_runs, "n_runs")
    record_every = check_positive_int(record_every, "record_every")
    seed = resolve_seed(seed)
    switching_cost = _check_switching_cost(switching_cost)
    bar = None
    callback: Callable[[int], None] | None
    if progress is True:
        from regretless._progress import ProgressBar

        bar = ProgressBar(n_runs, label=type(policy).__name__)
        callback = bar.update
    elif callable(progress):
        callback = progress
    else:
        callback = None
    start = time.perf_counter()
    out = _core._simulate(policy, env, horizon, n_runs, int(seed), record_every, callback)
    elapsed = time.perf_counter() - start
    if bar is not None:
        bar.close()
    elif callback is not None:
        callback(n_runs)
    switches = out["switches"]
    regret = out["regret"]
    if switching_cost > 0:
        regret = regret + switching_cost * switches
    return SimulationResult(
        policy=repr(policy),
        steps=out["steps"],
        regret=regret,
        counts=out["counts"],
        total_reward=out["total_reward"],
        best_arm=int(out["best_arm"]),
        seed=int(seed),
        elapsed_seconds=elapsed,
        switches=switches,
        switching_cost=switching_cost,
    )


def _check_switching_cost(c: Any) -> float:
    """A finite number >= 0 (not a bool)."""
    if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)):
        raise DTypeError(f"switching_cost: expected a number >= 0, got {type(c).__name__}")
    v = float(c)
    if not (np.isfinite(v) and v >= 0):
        raise InvalidParameterError(f"switching_cost: must be a finite number >= 0, got {v}")
    return v
