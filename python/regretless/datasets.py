"""Logged bandit data with known ground truth: a synthetic generator, and the
supervised-to-bandit conversion of multiclass data.

Both return :class:`LoggedBanditData`, which keeps the expected reward of every action
for every row, so the true value of any evaluation policy on those rows is known
(:meth:`LoggedBanditData.policy_value`) and off-policy estimates can be checked against it.

>>> from regretless import datasets
>>> logs = datasets.synthetic_logs(1000, n_actions=3, seed=0)
>>> logs.context.shape, logs.expected_reward.shape
((1000, 5), (1000, 3))
>>> bool(0.0 < logs.policy_value(logs.behavior_policy) < 1.0)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from regretless._checks import check_int, check_seed
from regretless.exceptions import InvalidParameterError, ShapeError

__all__ = ["LoggedBanditData", "multiclass_to_bandit", "synthetic_logs"]


@dataclass(frozen=True)
class LoggedBanditData:
    """Logged feedback together with the expected reward of every action.

    Attributes:
        context: float64 ``(n, d)``.
        action: int64 ``(n,)`` actions taken by the logging (behaviour) policy.
        reward: float64 ``(n,)`` observed rewards.
        pscore: float64 ``(n,)`` behaviour probability of the logged action.
        expected_reward: float64 ``(n, n_actions)``, ``q(x_i, a)``: the ground truth.
        behavior_policy: float64 ``(n, n_actions)``, the logging policy's distribution.

    >>> from regretless import datasets
    >>> logs = datasets.synthetic_logs(500, n_actions=4, seed=3)
    >>> logs.n_rounds, logs.n_actions
    (500, 4)
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    expected_reward: np.ndarray
    behavior_policy: np.ndarray

    @property
    def n_rounds(self) -> int:
        """Number of logged rows."""
        return int(self.action.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions."""
        return int(self.expected_reward.shape[1])

    def policy_value(self, action_dist: Any) -> float:
        """True value of an evaluation policy on these rows:
        ``mean_i sum_a pi(a|x_i) q(x_i, a)``.

        ``action_dist`` is ``(n, n_actions)``, obp's ``(n, n_actions, 1)``, or
        ``(1, n_actions)`` shared by all rows. Given these contexts, IPW and DR are unbiased
        for exactly this number."""
        pi = np.asarray(action_dist, dtype=np.float64)
        if pi.ndim == 3 and pi.shape[2] == 1:
            pi = pi[:, :, 0]
        if pi.ndim != 2 or pi.shape[1] != self.n_actions or pi.shape[0] not in (1, self.n_rounds):
            raise ShapeError(
                f"action_dist: expected shape ({self.n_rounds}, {self.n_actions}) or "
                f"(1, {self.n_actions}), got {pi.shape}"
            )
        return float(np.mean(np.sum(pi * self.expected_reward, axis=1)))

    def softmax_policy(self, beta: float = 1.0) -> np.ndarray:
        """An evaluation policy: ``softmax(beta * expected_reward)`` per row, ``(n, n_actions)``
        (large ``beta``: nearly greedy on the true rewards; negative: adversarial)."""
        return _softmax(beta * self.expected_reward)

    def to_logs(self) -> Any:
        """As :class:`regretless.logs.LoggedFeedback` (no copies)."""
        from regretless.logs import LoggedFeedback

        return LoggedFeedback(
            action=self.action, reward=self.reward, pscore=self.pscore, context=self.context
        )

    def to_arrow(self, **extra: Any) -> Any:
        """A ``pyarrow.Table`` in the :func:`regretless.logs.schema` layout; keyword
        arguments add columns (2-D arrays become fixed-size lists), e.g.
        ``to_arrow(action_dist=pi_e, q_hat=model)``."""
        from regretless.logs import LoggedFeedback

        return LoggedFeedback(
            action=self.action,
            reward=self.reward,
            pscore=self.pscore,
            context=self.context,
            extra={k: np.asarray(v) for k, v in extra.items()},
        ).to_arrow()


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of a (n, K) probability matrix (inverse CDF)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1)) * cum[:, -1:]
    a = (cum <= u).sum(axis=1)
    return np.minimum(a, probs.shape[1] - 1).astype(np.int64)


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(None if seed is None else check_seed(seed))


def synthetic_logs(
    n_rounds: int,
    n_actions: int = 10,
    dim_context: int = 5,
    *,
    reward_type: str = "binary",
    behavior_beta: float = 1.0,
    reward_noise: float = 1.0,
    seed: int | None = None,
) -> LoggedBanditData:
    """Synthetic logged bandit data with known expected rewards.

    Contexts ``x ~ N(0, I_d)``; a linear score ``s(x, a) = x . theta_a / sqrt(d) + b_a``
    with coefficients drawn from ``seed``; expected reward ``q = sigmoid(s)`` with
    Bernoulli rewards (``reward_type="binary"``) or ``q = s`` with Gaussian noise of
    standard deviation ``reward_noise`` (``"continuous"``). The behaviour policy is
    ``softmax(behavior_beta * q)``, so every propensity is positive.

    >>> from regretless import datasets
    >>> logs = datasets.synthetic_logs(10_000, n_actions=3, seed=0)
    >>> bool(abs(logs.reward.mean() - logs.policy_value(logs.behavior_policy)) < 0.02)
    True
    """
    n_rounds = check_int(n_rounds, "n_rounds", low=1)
    n_actions = check_int(n_actions, "n_actions", low=2)
    dim_context = check_int(dim_context, "dim_context", low=1)
    if reward_type not in ("binary", "continuous"):
        raise InvalidParameterError(
            f"reward_type: expected 'binary' or 'continuous', got {reward_type!r}"
        )
    rng = _rng(seed)
    theta = rng.standard_normal((dim_context, n_actions))
    bias = 0.5 * rng.standard_normal(n_actions)
    context = rng.standard_normal((n_rounds, dim_context))
    score = context @ theta / np.sqrt(dim_context) + bias
    q = 1.0 / (1.0 + np.exp(-score)) if reward_type == "binary" else score
    pb = _softmax(behavior_beta * q)
    action = _sample_rows(pb, rng)
    idx = np.arange(n_rounds)
    q_logged = q[idx, action]
    if reward_type == "binary":
        reward = (rng.random(n_rounds) < q_logged).astype(np.float64)
    else:
        reward = q_logged + reward_noise * rng.standard_normal(n_rounds)
    return LoggedBanditData(
        context=context,
        action=action,
        reward=reward,
        pscore=pb[idx, action],
        expected_reward=q,
        behavior_policy=pb,
    )


def multiclass_to_bandit(
    X: Any,
    y: Any,
    *,
    logging_policy: str | np.ndarray | Callable[[np.ndarray], np.ndarray] = "uniform",
    n_classes: int | None = None,
    seed: int | None = None,
) -> LoggedBanditData:
    """Supervised-to-bandit conversion (Dudik et al. 2014; obp's MultiClassToBanditReduction).

    Each example becomes one round: the classes are the actions, the logging policy picks
    one, and the reward is 1 if it is the true label, 0 otherwise; the expected reward of
    every action is the one-hot label, so any policy's true value is its accuracy.

    Args:
        X: features ``(n, d)`` (kept as the context).
        y: integer labels in ``[0, n_classes)``.
        logging_policy: ``"uniform"``, an ``(n, n_classes)`` probability array, or a callable
            ``X -> (n, n_classes)`` probabilities (e.g. a classifier's ``predict_proba``
            mixed with uniform exploration).
        n_classes: number of classes (default ``max(y) + 1``).
        seed: seed of the logging policy's draws.

    >>> import numpy as np
    >>> from regretless import datasets
    >>> X = np.random.default_rng(0).normal(size=(300, 2)); y = (X[:, 0] > 0).astype(int)
    >>> logs = datasets.multiclass_to_bandit(X, y, seed=1)
    >>> logs.n_actions, float(logs.pscore[0])
    (2, 0.5)
    >>> logs.policy_value(np.eye(2)[y])  # the perfect classifier
    1.0
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
        raise ShapeError(f"y: expected {X.shape[0]} labels, got shape {labels.shape}")
    if labels.size and labels.dtype.kind not in "iu":
        raise InvalidParameterError(f"y: expected integer class labels, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    k = int(n_classes) if n_classes is not None else int(labels.max()) + 1
    if k < 2 or labels.min() < 0 or labels.max() >= k:
        raise InvalidParameterError(f"y: labels must lie in [0, {k}) with at least 2 classes")
    n = X.shape[0]
    if isinstance(logging_policy, str):
        if logging_policy != "uniform":
            raise InvalidParameterError(
                "logging_policy: expected 'uniform', an array or a callable, "
                f"got {logging_policy!r}"
            )
        pb = np.full((n, k), 1.0 / k)
    else:
        pb = np.asarray(
            logging_policy(X) if callable(logging_policy) else logging_policy, dtype=np.float64
        )
        if pb.shape != (n, k):
            raise ShapeError(f"logging_policy: expected shape ({n}, {k}), got {pb.shape}")
        if (pb < 0).any() or not np.allclose(pb.sum(axis=1), 1.0):
            raise InvalidParameterError("logging_policy: rows must be probability distributions")
    rng = _rng(seed)
    action = _sample_rows(pb, rng)
    idx = np.arange(n)
    onehot = np.zeros((n, k))
    onehot[idx, labels] = 1.0
    pscore = pb[idx, action]
    if (pscore <= 0).any():
        raise InvalidParameterError("logging_policy: chose an action of probability 0")
    return LoggedBanditData(
        context=X,
        action=action,
        reward=(action == labels).astype(np.float64),
        pscore=pscore,
        expected_reward=onehot,
        behavior_policy=pb,
    )
