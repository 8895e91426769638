"""Helpers for the contextual policies: the exact KL-regret of Gibbs policies."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from regretless.exceptions import InvalidParameterError, ShapeError

__all__ = ["gibbs_policy", "kl_regret"]


def _log_reference(pi_ref: ArrayLike | None, shape: tuple[int, int]) -> np.ndarray:
    if pi_ref is None:
        return np.full(shape, -np.log(shape[1]))
    ref = np.asarray(pi_ref, dtype=np.float64)
    if ref.shape != shape:
        raise ShapeError(f"pi_ref: expected shape {shape}, got {ref.shape}")
    if np.any(ref < 0) or not np.allclose(ref.sum(axis=1), 1.0, atol=1e-6):
        raise InvalidParameterError("pi_ref: rows must be probability distributions")
    with np.errstate(divide="ignore"):
        return np.log(ref)


def gibbs_policy(rewards: ArrayLike, eta: float, pi_ref: ArrayLike | None = None) -> np.ndarray:
    """The optimal KL-regularized policy ``pi*(a|x) ~ pi_ref(a|x) exp(eta R*(x, a))``.

    ``rewards`` is (n, K): the true expected reward of every arm for every row.

    >>> gibbs_policy([[0.0, 1.0]], eta=1.0).round(4).tolist()
    [[0.2689, 0.7311]]
    """
    r = np.atleast_2d(np.asarray(rewards, dtype=np.float64))
    if not eta > 0:
        raise InvalidParameterError(f"eta: must be > 0, got {eta}")
    logits = _log_reference(pi_ref, r.shape) + eta * r
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def kl_regret(
    probabilities: ArrayLike, rewards: ArrayLike, eta: float, pi_ref: ArrayLike | None = None
) -> np.ndarray:
    """Per-round KL-regret ``J(pi*, x) - J(pi, x)`` of the played policies, exactly.

    ``J(pi, x) = E_{a~pi}[R*(x, a)] - KL(pi || pi_ref) / eta`` is the regularized objective
    and ``pi*`` its Gibbs maximizer; the regret of ``pi`` equals ``KL(pi || pi*) / eta``
    (ALGORITHMS.md section 3), computed here in log space with no Monte Carlo.

    Args:
        probabilities: (n, K) the policy played at each round (e.g. ``policy.probabilities``).
        rewards: (n, K) true expected rewards ``R*(x_t, a)``.
        eta: the inverse temperature of the objective.
        pi_ref: (n, K) reference probabilities; uniform when None.

    >>> import numpy as np
    >>> R = np.array([[0.2, 0.8]])
    >>> round(float(kl_regret(gibbs_policy(R, eta=3.0), R, eta=3.0)[0]), 12)
    0.0
    >>> bool(kl_regret([[1.0, 0.0]], R, eta=3.0)[0] > 0)
    True
    """
    pi = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    r = np.atleast_2d(np.asarray(rewards, dtype=np.float64))
    if pi.shape != r.shape:
        raise ShapeError(f"probabilities {pi.shape} and rewards {r.shape} must have the same shape")
    if not eta > 0:
        raise InvalidParameterError(f"eta: must be > 0, got {eta}")
    logits = _log_reference(pi_ref, r.shape) + eta * r
    m = logits.max(axis=1, keepdims=True)
    log_star = logits - (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pi > 0, pi * (np.log(pi) - log_star), 0.0)
    return np.maximum(terms.sum(axis=1), 0.0) / eta
