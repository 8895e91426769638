"""Kernel bandits: kernel specs for :class:`regretless.GPUCB` and :class:`regretless.BKB`,
and :func:`optimize`, a black-box maximization loop over a candidate set.

A kernel is given as a spec object of this module or as a name (``"rbf"``, ``"matern12"``,
``"matern32"``, ``"matern52"``, ``"linear"``, ``"polynomial"``, with unit lengthscale and
variance). The specs are small frozen dataclasses; the Rust core validates them (a
non-positive lengthscale raises :class:`regretless.InvalidParameterError`) and evaluates the
kernel in blocks.

>>> import numpy as np, regretless
>>> X = np.linspace(0, 1, 201)[:, None]
>>> result = regretless.optimize(
...     lambda x: -((x[0] - 0.7) ** 2), X, budget=25, kernel=RBF(0.2), seed=0, progress=False
... )
>>> round(float(result.x[0]), 1)
0.7
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from regretless._core import BKB, GPUCB
from regretless._progress import ProgressBar
from regretless.exceptions import InvalidParameterError

__all__ = ["RBF", "Linear", "Matern", "OptimizeResult", "Polynomial", "optimize"]


@dataclass(frozen=True)
class RBF:
    """Squared exponential ``variance * exp(-|x - y|^2 / (2 lengthscale^2))``.

    >>> import regretless
    >>> regretless.RBF(0.5)
    RBF(lengthscale=0.5, variance=1.0)
    """

    lengthscale: float = 1.0
    variance: float = 1.0

    def _spec(self) -> tuple[str, float, float, float, float]:
        return ("rbf", float(self.lengthscale), float(self.variance), 2.0, 1.0)


@dataclass(frozen=True)
class Matern:
    """Matern kernel with smoothness ``nu`` in {0.5, 1.5, 2.5} of ``u = |x - y| / lengthscale``.

    >>> import regretless
    >>> regretless.Matern(0.3, nu=2.5)
    Matern(lengthscale=0.3, variance=1.0, nu=2.5)
    """

    lengthscale: float = 1.0
    variance: float = 1.0
    nu: float = 2.5

    def __post_init__(self) -> None:
        # Checked here, not when a policy first uses the spec: a wrong nu fails at once.
        if isinstance(self.nu, bool) or self.nu not in _MATERN_NAMES:
            raise InvalidParameterError(
                f"nu: must be one of 0.5, 1.5 or 2.5 (the closed-form Matern kernels), "
                f"got {self.nu!r}"
            )

    def _spec(self) -> tuple[str, float, float, float, float]:
        return (
            _MATERN_NAMES[self.nu],
            float(self.lengthscale),
            float(self.variance),
            2.0,
            1.0,
        )


_MATERN_NAMES = {0.5: "matern12", 1.5: "matern32", 2.5: "matern52"}


@dataclass(frozen=True)
class Linear:
    """Linear kernel ``variance * <x, y> / lengthscale^2`` (rank d).

    >>> import regretless
    >>> regretless.Linear()
    Linear(lengthscale=1.0, variance=1.0)
    """

    lengthscale: float = 1.0
    variance: float = 1.0

    def _spec(self) -> tuple[str, float, float, float, float]:
        return ("linear", float(self.lengthscale), float(self.variance), 1.0, 0.0)


@dataclass(frozen=True)
class Polynomial:
    """Polynomial kernel ``variance * (<x, y> / lengthscale^2 + offset)^degree``.

    >>> import regretless
    >>> regretless.Polynomial(degree=3)
    Polynomial(lengthscale=1.0, variance=1.0, degree=3, offset=1.0)
    """

    lengthscale: float = 1.0
    variance: float = 1.0
    degree: int = 2
    offset: float = 1.0

    def _spec(self) -> tuple[str, float, float, float, float]:
        return (
            "polynomial",
            float(self.lengthscale),
            float(self.variance),
            float(self.degree),
            float(self.offset),
        )


@dataclass
class OptimizeResult:
    """What :func:`optimize` found: the best observed point, its value and the history."""

    x: np.ndarray
    value: float
    index: int
    indices: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    policy: Any = field(repr=False)


def optimize(
    f: Callable[[np.ndarray], float],
    candidates: ArrayLike,
    budget: int,
    policy: str = "bkb",
    *,
    kernel: Any = "rbf",
    seed: int | None = None,
    progress: bool = True,
    **options: Any,
) -> OptimizeResult:
    """Maximize a black-box ``f`` over the rows of ``candidates`` with ``budget`` evaluations.

    ``policy`` is ``"bkb"`` (:class:`regretless.BKB`) or ``"gpucb"``
    (:class:`regretless.GPUCB`); ``options`` go to its constructor (``lam``, ``qbar``,
    ``noise``, ``beta_scale``, ...). A progress bar is written to stderr unless
    ``progress=False``. Returns the best observed point.

    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 101)[:, None]
    >>> res = optimize(lambda x: float(np.cos(3 * x[0])), X, 20, "gpucb", kernel=RBF(0.3),
    ...                seed=1, progress=False, noise=1e-4, beta_scale=0.2)
    >>> bool(abs(res.x[0]) < 0.05)
    True
    """
    X = np.ascontiguousarray(candidates, dtype=np.float64)
    budget = int(budget)
    if budget < 1:
        raise InvalidParameterError(f"budget: must be >= 1, got {budget}")
    name = policy.lower()
    if name == "bkb":
        learner: Any = BKB(X, kernel, seed=seed, **options)
    elif name == "gpucb":
        learner = GPUCB(X, kernel, seed=seed, **options)
    else:
        raise InvalidParameterError(f"policy: expected 'bkb' or 'gpucb', got {policy!r}")
    indices = np.empty(budget, dtype=np.int64)
    values = np.empty(budget, dtype=np.float64)
    bar = ProgressBar(budget, label=f"optimize[{name}]") if progress else None
    for t in range(budget):
        i = learner.select()
        y = float(f(X[i]))
        learner.update(i, y)
        indices[t], values[t] = i, y
        if bar is not None:
            bar.update(t + 1)
    if bar is not None:
        bar.close()
    best = int(np.argmax(values))
    return OptimizeResult(
        x=X[indices[best]].copy(),
        value=float(values[best]),
        index=int(indices[best]),
        indices=indices,
        values=values,
        policy=learner,
    )
