"""The linear contextual policies (subclasses of :class:`ContextualBandit`) and their helpers:
the exact KL-regret of Gibbs policies and two-stage mixed-policy sampling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from regretless import _core
from regretless._checks import check_nonnegative_int
from regretless._core import (
    ContextualBandit,
    DiagonalLinUCB,
    GibbsGreedy,
    HybridLinUCB,
    KLRegularizedUCB,
    LinGreedy,
    LinTS,
    LinUCB,
    LogisticTS,
    LogisticUCB,
    SharedSketchLinTS,
    SharedSketchLinUCB,
    SketchedLinTS,
    SketchedLinUCB,
)
from regretless.exceptions import InvalidParameterError, ShapeError

__all__ = [
    "CONTEXTUAL_POLICIES",
    "ContextualBandit",
    "GibbsGreedy",
    "HybridLinUCB",
    "KLRegularizedUCB",
    "LinGreedy",
    "LinTS",
    "LinUCB",
    "LogisticTS",
    "LogisticUCB",
    "SketchedLinTS",
    "SketchedLinUCB",
    "SharedSketchLinTS",
    "SharedSketchLinUCB",
    "DiagonalLinUCB",
    "gibbs_policy",
    "kl_regret",
    "tmps",
]

#: Every linear contextual policy class (the core registry's list). HybridLinUCB is not a
#: member: it takes shared features beside the per-arm context.
CONTEXTUAL_POLICIES: tuple[type[ContextualBandit], ...] = tuple(
    getattr(_core, name) for name in _core.CONTEXTUAL_NAMES
)


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


def tmps(
    contexts: Callable[[int], ArrayLike],
    rewards: Callable[[np.ndarray, np.ndarray], ArrayLike],
    n_arms: int,
    dim: int,
    *,
    eta: float,
    m: int,
    n: int,
    reference: Callable[[np.ndarray], ArrayLike] | None = None,
    lam: float = 1.0,
    seed: int | None = None,
) -> Any:
    """Two-stage mixed-policy sampling (TMPS; Zhao, Ye, Gu and Zhang, NeurIPS 2025) for
    learning a KL-regularized policy from a budget of ``m + n`` samples.

    Stage 1 draws ``m`` contexts and actions from the reference policy and fits the ridge
    reward model; stage 2 draws ``n`` contexts and actions from the Gibbs policy of that
    first fit, held fixed for the whole stage, then refits on all ``m + n`` samples. The
    result is a :class:`~regretless.GibbsGreedy` policy whose probabilities
    ``pi ~ pi_ref exp(eta * R_hat)`` are the learned policy.

    Args:
        contexts: ``contexts(k) -> (k, dim)`` array of fresh contexts (a simulator, or the
            next rows of a log).
        rewards: ``rewards(X, actions) -> (k,)`` rewards in [0, 1] of the chosen actions.
        n_arms, dim: the problem's shape.
        eta: inverse temperature of the KL-regularized objective.
        m, n: sample sizes of the two stages.
        reference: ``reference(X) -> (k, n_arms)`` reference probabilities per context;
            uniform when None.
        lam, seed: ridge parameter and seed of the returned policy.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> means = np.array([0.2, 0.5, 0.8])
    >>> policy = tmps(lambda k: np.ones((k, 1)),
    ...               lambda X, a: (rng.random(len(a)) < means[a]).astype(float),
    ...               n_arms=3, dim=1, eta=5.0, m=300, n=300, seed=0)
    >>> probs = policy.probabilities(np.ones((1, 1)))[0]
    >>> int(probs.argmax())
    2
    """
    from regretless._core import GibbsGreedy

    m = check_nonnegative_int(m, "m")
    n = check_nonnegative_int(n, "n")
    policy = GibbsGreedy(n_arms, dim, eta=eta, lam=lam, seed=seed)

    def collect(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = np.ascontiguousarray(np.asarray(contexts(k), dtype=np.float64).reshape(k, dim))
        ref = None if reference is None else np.asarray(reference(X), dtype=np.float64)
        # Stage 1 (nothing fitted yet) plays pi_ref itself; stage 2 plays the fixed Gibbs
        # policy of the stage-1 fit: the policy is only refitted after each stage.
        actions = policy.select_batch(X, pi_ref=ref)
        r = np.asarray(rewards(X, actions), dtype=np.float64).reshape(k)
        return X, actions, r

    X1, a1, r1 = collect(int(m))
    policy.update_batch(X1, a1, r1)
    X2, a2, r2 = collect(int(n))
    policy.update_batch(X2, a2, r2)
    return policy
