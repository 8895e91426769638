"""Off-policy evaluation: the value of an evaluation policy estimated from another
policy's logs, in one pass, in Rust.

The estimators and their argument names are Open Bandit Pipeline's (``reward``,
``action``, ``pscore``, ``position``, ``action_dist``, ``estimated_rewards_by_reg_model``),
and so are their estimates on the same inputs (to floating-point precision):

==========================================  ===========================================
:class:`DirectMethod`                        ``mean q(x, pi_e)`` from a reward model
:class:`InverseProbabilityWeighting`         ``mean w r``, ``w = pi_e(a|x) / pscore``
:class:`SelfNormalizedInverseProbabilityWeighting`  ``sum w r / sum w``
:class:`DoublyRobust`                        DM plus the weighted model residual
:class:`SelfNormalizedDoublyRobust`          DR with self-normalized weights
:class:`SwitchDoublyRobust`                  DR where ``w <= lambda_``, DM elsewhere
:class:`DoublyRobustWithShrinkage`           DR with ``lambda_ w / (w^2 + lambda_)``
==========================================  ===========================================

``lambda_`` (obp's name) is the threshold on the importance weight ``w``: IPW and DR clip
``w`` at it, Switch-DR switches to the direct method above it, DRos shrinks ``w`` with it.
It is not the ridge regularization ``lam`` of the learners.

``action_dist`` is the evaluation policy's distribution, shape ``(n, n_actions)`` or
obp's ``(n, n_actions, len_list)`` (then ``position`` gives each row's slot); for IPW
and SNIPW it can also be just ``pi_e(a_i | x_i)``, shape ``(n,)``; a table with a first
dimension of 1 is shared by every row (a context-free policy).
``estimated_rewards_by_reg_model`` has the shape of ``action_dist``. Arrays are
copied once, while the call holds the GIL, into private buffers (converted when not
float64, or int64 for ``action`` and ``position``): another thread writing them meanwhile
cannot change what was validated.

Every estimator's :meth:`~DoublyRobust.evaluate` returns an :class:`EstimateResult`:
the estimate, its standard error (delta method for the self-normalized ones), a normal
confidence interval, with ``n_bootstrap > 0`` a Poisson-bootstrap percentile interval,
and the effective sample size of the importance weights (Kish's ``(sum w)^2 / sum w^2``).
Below :data:`SMALL_ESS_THRESHOLD` effective samples those intervals cover less often than
they claim: a :class:`~regretless.SmallSampleWarning` says so, and
``small_sample_intervals=True`` adds an empirical-Bernstein interval and a studentized
(bootstrap-t) one that keep their coverage better (coverage table: ``benches/README.md``).
:func:`estimate_stream` computes the estimate, standard error, normal and percentile
intervals and ESS over record batches (Parquet files larger than memory) with memory that
does not grow with the number of rows, and gives exactly the in-memory result.
:func:`replay` evaluates a regretless policy on logs of a uniformly random logger (Li et al. 2011).

>>> import numpy as np
>>> from regretless import datasets, ope
>>> logs = datasets.synthetic_logs(20_000, n_actions=5, seed=0)
>>> pi_e = logs.softmax_policy(beta=5.0)
>>> dr = ope.DoublyRobust().evaluate(
...     reward=logs.reward, action=logs.action, pscore=logs.pscore, action_dist=pi_e,
...     estimated_rewards_by_reg_model=logs.expected_reward + 0.05)
>>> truth = logs.policy_value(pi_e)
>>> bool(dr.ci[0] < truth < dr.ci[1])
True
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regretless import _core
from regretless._checks import check_nonnegative_int, resolve_seed
from regretless.exceptions import (
    InvalidParameterError,
    RegretlessError,
    ShapeError,
    SmallSampleWarning,
)

OffPolicyAccumulator = _core.OffPolicyAccumulator

__all__ = [
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithShrinkage",
    "EstimateResult",
    "InverseProbabilityWeighting",
    "OffPolicyAccumulator",
    "PolicyValue",
    "ReplayResult",
    "SMALL_ESS_THRESHOLD",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SwitchDoublyRobust",
    "accumulate_stream",
    "estimate_stream",
    "replay",
]


SMALL_ESS_THRESHOLD = 100.0
"""Effective sample size below which an estimate issues a
:class:`~regretless.SmallSampleWarning`. On the coverage table of ``benches/README.md``
(logs of ``datasets.synthetic_logs``) the nominal 95 % normal and percentile-bootstrap
intervals of SNIPW and SNDR cover 92-94 % at an ESS of 40-80, 86-91 % at 16 and down to
59 % at 3; above a few hundred they cover 94-98 %."""

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning issued by our caller at the first frame
    outside this package (the user's call, however deep the library's own calls go)."""
    frame = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _warn_if_small(estimator: str, ess: float, n_rounds: int) -> None:
    if ess < SMALL_ESS_THRESHOLD:  # False for DM's NaN
        warnings.warn(
            f"{estimator}: the importance weights leave an effective sample size of {ess:.1f} "
            f"({n_rounds} rows), below the threshold {SMALL_ESS_THRESHOLD:g} "
            "(regretless.ope.SMALL_ESS_THRESHOLD): the normal and percentile-bootstrap "
            "intervals under-cover; evaluate(..., small_sample_intervals=True) gives "
            "bernstein_ci and, with n_bootstrap, studentized_ci",
            SmallSampleWarning,
            stacklevel=_caller_stacklevel(),
        )


class PolicyValue(float):
    """The float that :meth:`~DoublyRobust.estimate_policy_value` returns (obp's return
    value), carrying the effective sample size of the importance weights behind it.

    >>> from regretless.ope import InverseProbabilityWeighting
    >>> v = InverseProbabilityWeighting().estimate_policy_value(
    ...     reward=[1.0, 0.0, 1.0, 1.0], action=[0, 1, 0, 1], pscore=[0.5] * 4,
    ...     action_dist=[[1.0, 0.0]] * 4)
    >>> v, v.ess, v.n_rounds
    (1.0, 2.0, 4)
    """

    ess: float
    n_rounds: int

    def __new__(cls, value: float, ess: float, n_rounds: int) -> PolicyValue:
        out = super().__new__(cls, value)
        out.ess = ess
        out.n_rounds = n_rounds
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        return (PolicyValue, (float(self), self.ess, self.n_rounds))


@dataclass(frozen=True)
class EstimateResult:
    """An off-policy estimate with its uncertainty.

    Attributes:
        estimator: obp's ``estimator_name`` (``"ipw"``, ``"dr"``, ...).
        estimate: the estimated policy value.
        std_err: standard error (NaN with fewer than two rows).
        ci: normal-approximation interval at level ``1 - alpha``.
        alpha: significance level of the intervals.
        bootstrap_ci: Poisson-bootstrap percentile interval, or None when
            ``n_bootstrap == 0``.
        bootstrap_mean: mean of the bootstrap replicates, or None.
        n_bootstrap: bootstrap replicates used.
        n_rounds: rows evaluated.
        mean_weight: mean importance weight, ``mean pi_e(a|x) / pscore``: close to 1 when
            the propensities are right and the logger covers the evaluation policy (NaN
            for DM).
        ess: Kish's effective sample size ``(sum w)^2 / sum w^2`` of the importance
            weights ``w = pi_e(a|x) / pscore`` (before any clipping or shrinkage; for DR
            and SNDR the weights of the residual term): ``n_rounds`` when every weight is
            equal, 1 when one row carries all the weight. NaN for DM. Below
            :data:`SMALL_ESS_THRESHOLD` the result warns (:class:`~regretless.SmallSampleWarning`).
        round_rewards: per-row contributions whose mean is the estimate (obp's
            ``_estimate_round_rewards``), when requested.
        bernstein_ci: with ``small_sample_intervals=True``, the empirical-Bernstein
            interval (Maurer and Pontil 2009) of the per-row influence terms, their
            observed range as the range: wide, but it keeps its coverage at small
            effective sample sizes. None otherwise (and for DM and streamed results).
        studentized_ci: with ``small_sample_intervals=True`` and ``n_bootstrap > 0``,
            the studentized (bootstrap-t) interval over the same Poisson-bootstrap
            replicates as ``bootstrap_ci``; None otherwise.

    >>> from regretless.ope import InverseProbabilityWeighting
    >>> r = InverseProbabilityWeighting().evaluate(
    ...     reward=[1.0, 0.0, 1.0, 1.0], action=[0, 1, 0, 1], pscore=[0.5] * 4,
    ...     action_dist=[[1.0, 0.0]] * 4)
    >>> r.estimate, r.n_rounds
    (1.0, 4)
    """

    estimator: str
    estimate: float
    std_err: float
    ci: tuple[float, float]
    alpha: float
    bootstrap_ci: tuple[float, float] | None
    bootstrap_mean: float | None
    n_bootstrap: int
    n_rounds: int
    mean_weight: float
    ess: float
    round_rewards: np.ndarray | None
    bernstein_ci: tuple[float, float] | None
    studentized_ci: tuple[float, float] | None

    @classmethod
    def _from_core(cls, d: dict[str, Any], *, warn: bool = True) -> EstimateResult:
        if warn:
            _warn_if_small(d["estimator"], d["ess"], d["n_rounds"])
        bern = d.get("bernstein_ci")
        stud = d.get("studentized_ci")
        return cls(
            estimator=d["estimator"],
            estimate=d["estimate"],
            std_err=d["std_err"],
            ci=tuple(d["ci"]),
            alpha=d["alpha"],
            bootstrap_ci=None if d["bootstrap_ci"] is None else tuple(d["bootstrap_ci"]),
            bootstrap_mean=d["bootstrap_mean"],
            n_bootstrap=d["n_bootstrap"],
            n_rounds=d["n_rounds"],
            mean_weight=d["mean_weight"],
            ess=d["ess"],
            round_rewards=d.get("round_rewards"),
            bernstein_ci=None if bern is None else tuple(bern),
            studentized_ci=None if stud is None else tuple(stud),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (without ``round_rewards``), e.g. for a data frame row."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "round_rewards"}
        return out

    def __float__(self) -> float:
        return float(self.estimate)


class _Estimator:
    """Shared behaviour of the estimators (not a public class)."""

    estimator_name: str = ""
    _uses_lambda = False

    def __init__(self, lambda_: float = math.inf) -> None:
        try:
            lam = float(lambda_)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"lambda_: expected a number >= 0, got {lambda_!r}"
            ) from None
        if math.isnan(lam) or lam < 0:
            raise InvalidParameterError(f"lambda_: must be a number >= 0 (inf allowed), got {lam}")
        self.lambda_ = lam

    def __repr__(self) -> str:
        if self._uses_lambda:
            return f"{type(self).__name__}(lambda_={self.lambda_})"
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.lambda_ == other.lambda_  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.lambda_))

    def evaluate(
        self,
        *,
        action_dist: Any,
        reward: Any = None,
        action: Any = None,
        pscore: Any = None,
        position: Any = None,
        estimated_rewards_by_reg_model: Any = None,
        alpha: float = 0.05,
        n_bootstrap: int = 0,
        seed: int | None = None,
        return_round_rewards: bool = False,
        validate: bool = True,
        small_sample_intervals: bool = False,
    ) -> EstimateResult:
        """Estimate, standard error and confidence intervals in one pass (GIL released).

        Warns (:class:`~regretless.SmallSampleWarning`) when the effective sample size of
        the importance weights is below :data:`SMALL_ESS_THRESHOLD`.

        Args:
            action_dist: the evaluation policy, ``(n, n_actions[, len_list])``, or
                ``pi_e(a_i|x_i)`` of shape ``(n,)`` (IPW and SNIPW only); a first
                dimension of 1 shares one distribution between all rows.
            reward, action, pscore: the logged feedback (not used by DM).
            position: slot of each row when ``action_dist`` has ``len_list > 1``.
            estimated_rewards_by_reg_model: reward model, the shape of ``action_dist``
                (DM and the doubly robust estimators).
            alpha: significance level of the intervals.
            n_bootstrap: Poisson-bootstrap replicates (0: no bootstrap interval). Each
                costs about as much as the estimate itself.
            seed: seed of the bootstrap (None: a random one).
            return_round_rewards: also return the per-row contributions.
            validate: False when the caller vouches that every row of a per-row
                ``action_dist`` is a probability distribution: its sum is not checked
                (IPW then reads only the logged action's probability of each row). Every
                other check stays (rewards, propensities, actions, lengths, and the
                entries IPW and DR read).
            small_sample_intervals: also compute ``bernstein_ci`` and, with
                ``n_bootstrap > 0``, ``studentized_ci`` (one more pass over the rows and,
                for the studentized interval, ten sums per replicate instead of four).

        >>> from regretless import datasets, ope
        >>> logs = datasets.synthetic_logs(5_000, n_actions=5, seed=0)
        >>> r = ope.SelfNormalizedDoublyRobust().evaluate(
        ...     reward=logs.reward, action=logs.action, pscore=logs.pscore,
        ...     action_dist=logs.softmax_policy(3.0),
        ...     estimated_rewards_by_reg_model=logs.expected_reward,
        ...     n_bootstrap=200, seed=1, small_sample_intervals=True)
        >>> bool(r.bernstein_ci[0] < r.studentized_ci[0] < r.estimate < r.studentized_ci[1])
        True
        """
        if not isinstance(return_round_rewards, bool):
            raise InvalidParameterError("return_round_rewards: expected a bool")
        if not isinstance(validate, bool):
            raise InvalidParameterError("validate: expected a bool")
        if not isinstance(small_sample_intervals, bool):
            raise InvalidParameterError("small_sample_intervals: expected a bool")
        n_boot = check_nonnegative_int(n_bootstrap, "n_bootstrap")
        out = _core._ope_estimate(
            self.estimator_name,
            self.lambda_,
            reward,
            action,
            pscore,
            action_dist,
            position,
            estimated_rewards_by_reg_model,
            float(alpha),
            n_boot,
            # The seed only drives the bootstrap: no OS entropy read per call without one.
            resolve_seed(seed) if seed is not None or n_boot else 0,
            return_round_rewards,
            validate,
            small_sample_intervals,
        )
        return EstimateResult._from_core(out)

    def estimate_policy_value(
        self,
        *,
        action_dist: Any,
        reward: Any = None,
        action: Any = None,
        pscore: Any = None,
        position: Any = None,
        estimated_rewards_by_reg_model: Any = None,
        validate: bool = True,
    ) -> PolicyValue:
        """The estimate alone (obp's method of the same name; arguments by keyword;
        ``validate`` as in :meth:`evaluate`): a float, whose ``ess`` attribute is the
        effective sample size (see :class:`PolicyValue`)."""
        r = self.evaluate(
            action_dist=action_dist,
            reward=reward,
            action=action,
            pscore=pscore,
            position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model,
            validate=validate,
        )
        return PolicyValue(r.estimate, r.ess, r.n_rounds)

    def estimate_round_rewards(
        self,
        *,
        action_dist: Any,
        reward: Any = None,
        action: Any = None,
        pscore: Any = None,
        position: Any = None,
        estimated_rewards_by_reg_model: Any = None,
    ) -> np.ndarray:
        """Per-row contributions whose mean is the estimate (obp's
        ``_estimate_round_rewards``; self-normalized ones divide by the mean weight)."""
        out = self.evaluate(
            action_dist=action_dist,
            reward=reward,
            action=action,
            pscore=pscore,
            position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model,
            return_round_rewards=True,
        ).round_rewards
        assert out is not None
        return out

    def estimate_interval(
        self,
        *,
        action_dist: Any,
        reward: Any = None,
        action: Any = None,
        pscore: Any = None,
        position: Any = None,
        estimated_rewards_by_reg_model: Any = None,
        alpha: float = 0.05,
        n_bootstrap_samples: int = 1000,
        random_state: int | None = None,
        method: str = "percentile",
    ) -> dict[str, float]:
        """Confidence interval as obp returns it: ``{"mean", "95.0% CI (lower)",
        "95.0% CI (upper)"}``, plus ``"ess"``, the effective sample size.

        ``method`` picks the interval: ``"percentile"`` (obp's; ``mean`` is the mean of the
        replicates) is a Poisson bootstrap that re-normalizes the self-normalized
        estimators in every replicate, so its random draws (not its meaning) differ from
        obp's resampling; ``"studentized"`` is the bootstrap-t interval over the same
        replicates and ``"bernstein"`` the empirical-Bernstein interval (both keep their
        coverage better at a small effective sample size; see
        :attr:`EstimateResult.studentized_ci`), ``"normal"`` the normal approximation
        (neither uses ``n_bootstrap_samples``; ``mean`` is then the estimate).

        >>> from regretless import datasets, ope
        >>> logs = datasets.synthetic_logs(2_000, n_actions=4, seed=2)
        >>> args = dict(reward=logs.reward, action=logs.action, pscore=logs.pscore,
        ...             action_dist=logs.softmax_policy(2.0))
        >>> ci = ope.SelfNormalizedInverseProbabilityWeighting().estimate_interval(
        ...     **args, n_bootstrap_samples=200, random_state=0, method="studentized")
        >>> sorted(ci), bool(ci["95.0% CI (lower)"] < ci["mean"] < ci["95.0% CI (upper)"])
        (['95.0% CI (lower)', '95.0% CI (upper)', 'ess', 'mean'], True)
        """
        methods = ("percentile", "studentized", "bernstein", "normal")
        if method not in methods:
            raise InvalidParameterError(f"method: expected one of {methods}, got {method!r}")
        bootstrapped = method in ("percentile", "studentized")
        r = self.evaluate(
            action_dist=action_dist,
            reward=reward,
            action=action,
            pscore=pscore,
            position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model,
            alpha=alpha,
            n_bootstrap=n_bootstrap_samples if bootstrapped else 0,
            seed=random_state,
            small_sample_intervals=method in ("studentized", "bernstein"),
        )
        if bootstrapped and r.bootstrap_ci is None:
            raise InvalidParameterError("n_bootstrap_samples: must be >= 1")
        mean, ci = {
            "percentile": (r.bootstrap_mean, r.bootstrap_ci),
            "studentized": (r.bootstrap_mean, r.studentized_ci),
            "bernstein": (r.estimate, r.bernstein_ci),
            "normal": (r.estimate, r.ci),
        }[method]
        if ci is None:
            raise InvalidParameterError(
                f"method: {method!r} needs the logged feedback (not the direct method) and, "
                "for the studentized interval, replicates with a positive standard error"
            )
        level = 100 * (1.0 - alpha)
        return {
            "mean": float(mean),  # type: ignore[arg-type]
            f"{level}% CI (lower)": ci[0],
            f"{level}% CI (upper)": ci[1],
            "ess": r.ess,
        }

    def estimate_stream(self, source: Any, **kwargs: Any) -> EstimateResult:
        """:func:`estimate_stream` with this one estimator."""
        return estimate_stream(source, self, **kwargs)  # type: ignore[return-value]

    def accumulator(
        self, *, n_bootstrap: int = 0, seed: int | None = None, first_row: int = 0
    ) -> OffPolicyAccumulator:
        """An empty :class:`OffPolicyAccumulator` of this estimator: push batches with
        ``acc.push(reward, action, pscore, action_dist, position, estimated_rewards)``,
        read ``acc.result(alpha)`` (an :class:`EstimateResult` with the ESS, warning below
        :data:`SMALL_ESS_THRESHOLD`; ``acc.summary(alpha)`` is the same as a dict, without
        the warning and the small-sample intervals, which need the rows in memory), combine
        shards with ``acc.merge(other)``.

        Args:
            n_bootstrap, seed: as in :meth:`evaluate` (shards to merge need one seed).
            first_row: index of the first row in the whole data set (a shard's offset),
                which keys the rows' bootstrap weights; in ``[0, 2**63)``.

        >>> from regretless import ope
        >>> acc = ope.InverseProbabilityWeighting().accumulator()
        >>> acc.push([1.0, 0.0], [0, 1], [0.5, 0.5], [0.5, 0.5])
        >>> acc.result().estimate, acc.n_rounds
        (0.5, 2)
        """
        return OffPolicyAccumulator(
            self.estimator_name,
            self.lambda_,
            check_nonnegative_int(n_bootstrap, "n_bootstrap"),
            resolve_seed(seed),
            check_nonnegative_int(first_row, "first_row"),
        )


class DirectMethod(_Estimator):
    """Direct method (Beygelzimer and Langford 2009; Dudik et al. 2014).

    ``V = mean_i sum_a pi_e(a|x_i) q(x_i, a)``: the reward model's prediction averaged over
    the evaluation policy. Low variance, but as biased as the model; uses neither the
    logged rewards nor the propensities.

    >>> import numpy as np
    >>> from regretless.ope import DirectMethod
    >>> q = np.array([[0.2, 0.8], [0.4, 0.6]])
    >>> DirectMethod().estimate_policy_value(
    ...     action_dist=np.array([[0.5, 0.5], [1.0, 0.0]]), estimated_rewards_by_reg_model=q)
    0.45
    """

    estimator_name = "dm"

    def __init__(self) -> None:
        super().__init__(math.inf)


class InverseProbabilityWeighting(_Estimator):
    """Inverse probability weighting (Strehl et al. 2010), optionally clipped.

    ``V = mean_i min(w_i, lambda_) r_i`` with ``w_i = pi_e(a_i|x_i) / pscore_i``. Unbiased
    when the propensities are right and ``lambda_`` is infinite (the default); clipping
    trades bias for variance.

    >>> from regretless.ope import InverseProbabilityWeighting
    >>> InverseProbabilityWeighting().estimate_policy_value(
    ...     reward=[1.0, 0.0], action=[0, 1], pscore=[0.5, 0.5], action_dist=[0.5, 0.5])
    0.5
    """

    estimator_name = "ipw"
    _uses_lambda = True

    def __init__(self, lambda_: float = math.inf) -> None:
        super().__init__(lambda_)


class SelfNormalizedInverseProbabilityWeighting(_Estimator):
    """Self-normalized IPW (Swaminathan and Joachims 2015): ``sum w r / sum w``.

    Slightly biased but consistent, bounded by the reward range, and usually of much
    lower variance than IPW. Its standard error is the delta method's.

    >>> from regretless.ope import SelfNormalizedInverseProbabilityWeighting as SNIPW
    >>> SNIPW().estimate_policy_value(
    ...     reward=[1.0, 0.0], action=[0, 1], pscore=[0.5, 0.5], action_dist=[0.9, 0.3])
    0.75
    """

    estimator_name = "snipw"

    def __init__(self) -> None:
        super().__init__(math.inf)


class DoublyRobust(_Estimator):
    """Doubly robust (Dudik et al. 2014), optionally clipped.

    ``V = mean_i [q(x_i, pi_e) + min(w_i, lambda_) (r_i - q(x_i, a_i))]``: the direct
    method corrected by the weighted residual of the reward model. Unbiased if the
    propensities are right, whatever the model; low variance if the model is good.

    >>> import numpy as np
    >>> from regretless.ope import DoublyRobust
    >>> pi = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> DoublyRobust().estimate_policy_value(
    ...     reward=[1.0, 0.0], action=[0, 1], pscore=[0.5, 0.5], action_dist=pi,
    ...     estimated_rewards_by_reg_model=np.full((2, 2), 0.5))
    1.0
    """

    estimator_name = "dr"
    _uses_lambda = True

    def __init__(self, lambda_: float = math.inf) -> None:
        super().__init__(lambda_)


class SelfNormalizedDoublyRobust(_Estimator):
    """Self-normalized doubly robust: DR whose residual term is divided by the mean
    importance weight (Kallus and Uehara 2019).

    >>> import numpy as np
    >>> from regretless.ope import SelfNormalizedDoublyRobust as SNDR
    >>> SNDR().estimate_policy_value(
    ...     reward=[1.0, 0.0], action=[0, 1], pscore=[0.5, 0.5], action_dist=np.eye(2),
    ...     estimated_rewards_by_reg_model=np.full((2, 2), 0.5))
    0.5
    """

    estimator_name = "sndr"

    def __init__(self) -> None:
        super().__init__(math.inf)


class SwitchDoublyRobust(_Estimator):
    """Switch doubly robust (Wang, Agarwal and Dudik 2017): the DR correction where the
    importance weight is at most ``lambda_``, the direct method alone elsewhere.

    >>> import numpy as np
    >>> from regretless.ope import SwitchDoublyRobust
    >>> args = dict(reward=[1.0, 0.0], action=[0, 1], pscore=[0.5, 0.5],
    ...             action_dist=np.array([[1.0, 0.0], [1.0, 0.0]]),
    ...             estimated_rewards_by_reg_model=np.full((2, 2), 0.5))
    >>> SwitchDoublyRobust(lambda_=1.0).estimate_policy_value(**args)  # w = 2 > 1: DM
    0.5
    >>> SwitchDoublyRobust().estimate_policy_value(**args)  # lambda_ = inf: DR
    1.0
    """

    estimator_name = "switch-dr"
    _uses_lambda = True

    def __init__(self, lambda_: float = math.inf) -> None:
        super().__init__(lambda_)


class DoublyRobustWithShrinkage(_Estimator):
    """Doubly robust with optimistic shrinkage (Su et al. 2020): the weight becomes
    ``lambda_ w / (w^2 + lambda_)``; ``lambda_ = 0`` (the default, as in obp) is the direct
    method and ``lambda_ = inf`` is DR.

    >>> import numpy as np
    >>> from regretless.ope import DoublyRobustWithShrinkage as DRos
    >>> args = dict(reward=[1.0, 0.0], action=[0, 1], pscore=[0.5, 0.5],
    ...             action_dist=np.array([[1.0, 0.0], [1.0, 0.0]]),
    ...             estimated_rewards_by_reg_model=np.full((2, 2), 0.5))
    >>> DRos(lambda_=4.0).estimate_policy_value(**args)  # w = 2 shrinks to 1
    0.75
    """

    estimator_name = "dr-os"
    _uses_lambda = True

    def __init__(self, lambda_: float = 0.0) -> None:
        super().__init__(lambda_)


# ------------------------------------------------------------------------ streaming


def _table_for_batch(spec: Any, fb: Any, name: str) -> Any:
    if spec is None:
        return None
    if isinstance(spec, str):
        return fb.extra[spec]
    if callable(spec):
        return spec(fb)
    return spec


def _shared(spec: Any, name: str) -> Any:
    """A fixed array must be one distribution shared by all rows: shape (1, K[, L])."""
    if spec is None or isinstance(spec, str) or callable(spec):
        return spec
    arr = np.ascontiguousarray(spec, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.shape[0] != 1:
        raise ShapeError(
            f"{name}: in a stream, give a column name, a callable of the batch, or one "
            f"table shared by every row of shape (1, n_actions[, len_list]); got shape {arr.shape}"
        )
    return arr


def estimate_stream(
    source: Any,
    estimators: _Estimator | Sequence[_Estimator],
    *,
    action_dist: str | Callable[[Any], Any] | Any,
    estimated_rewards_by_reg_model: str | Callable[[Any], Any] | Any = None,
    columns: Mapping[str, str] | None = None,
    context: str | Sequence[str] | bool | None = None,
    batch_size: int | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 0,
    seed: int | None = None,
    progress: bool | Callable[[int], None] = False,
) -> EstimateResult | dict[str, EstimateResult]:
    """Evaluate one or several estimators in a single pass over a stream of record batches.

    Memory does not grow with the number of rows: each estimator keeps running moments
    (and, with ``n_bootstrap``, four sums per replicate), so a Parquet dataset far larger
    than memory is evaluated without loading it. The result is exactly (bit for bit) the
    in-memory :meth:`~DoublyRobust.evaluate` on the concatenated rows, however the stream
    is batched, for any number of threads.

    Args:
        source: anything :func:`regretless.logs.iter_batches` reads: a Parquet file or
            directory, a pyarrow dataset, Table or RecordBatchReader, a data frame, numpy.
        estimators: one estimator, or a sequence of them (then a dict by
            ``estimator_name`` is returned; give distinct names).
        action_dist: where each batch's evaluation policy comes from: the name of a column
            (a float column holding ``pi_e(a_i|x_i)``, or a fixed-size list of
            ``n_actions`` floats, or of fixed-size lists for ``len_list`` slots); a callable
            taking the batch (a :class:`regretless.logs.LoggedFeedback`) and returning the
            array; or one table of shape ``(1, n_actions[, len_list])`` shared by every row.
        estimated_rewards_by_reg_model: the reward model, given the same ways.
        columns: column names of the fields, e.g. ``{"pscore": "propensity"}``.
        context: context columns to read for the callables (None: the ``context`` column
            if there is one and a callable needs it).
        batch_size: rows per record batch (default :data:`regretless.logs.DEFAULT_BATCH_SIZE`).
        alpha, n_bootstrap, seed: as in :meth:`~DoublyRobust.evaluate`.
        progress: True for a progress bar on stderr (when the number of rows is known), or
            a callable receiving the number of rows done after each batch.

    >>> import pyarrow as pa
    >>> from regretless import datasets, ope
    >>> logs = datasets.synthetic_logs(10_000, n_actions=4, seed=1)
    >>> pi_e = logs.softmax_policy(beta=3.0)
    >>> table = logs.to_arrow(action_dist=pi_e)
    >>> reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(2_500))
    >>> streamed = ope.estimate_stream(reader, ope.InverseProbabilityWeighting(),
    ...                                action_dist="action_dist")
    >>> in_memory = ope.InverseProbabilityWeighting().evaluate(
    ...     reward=logs.reward, action=logs.action, pscore=logs.pscore, action_dist=pi_e)
    >>> streamed.estimate == in_memory.estimate
    True
    """
    accs = accumulate_stream(
        source,
        estimators,
        action_dist=action_dist,
        estimated_rewards_by_reg_model=estimated_rewards_by_reg_model,
        columns=columns,
        context=context,
        batch_size=batch_size,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        seed=seed,
        progress=progress,
    )
    if isinstance(accs, OffPolicyAccumulator):
        return EstimateResult._from_core(accs.summary(float(alpha)))
    return {name: EstimateResult._from_core(a.summary(float(alpha))) for name, a in accs.items()}


def accumulate_stream(
    source: Any,
    estimators: _Estimator | Sequence[_Estimator],
    *,
    action_dist: str | Callable[[Any], Any] | Any,
    estimated_rewards_by_reg_model: str | Callable[[Any], Any] | Any = None,
    columns: Mapping[str, str] | None = None,
    context: str | Sequence[str] | bool | None = None,
    batch_size: int | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 0,
    seed: int | None = None,
    progress: bool | Callable[[int], None] = False,
    first_row: int = 0,
) -> OffPolicyAccumulator | dict[str, OffPolicyAccumulator]:
    """:func:`estimate_stream`, returning the estimators' :class:`OffPolicyAccumulator`
    states instead of their results: the building block of a distributed evaluation.

    Each worker accumulates its shard (with the index of the shard's first row as
    ``first_row``, and one shared ``seed`` when bootstrapping), ships the state
    (``to_bytes()`` or pickle), and the driver merges them: ``a.merge(b).result()`` is
    the one-pass result over both shards up to rounding. ``alpha`` is unused here (the
    accumulators give results at any level).

    >>> from regretless import datasets, ope
    >>> logs = datasets.synthetic_logs(10_000, n_actions=4, seed=1)
    >>> table = logs.to_arrow(action_dist=logs.softmax_policy(beta=3.0))
    >>> ipw = ope.InverseProbabilityWeighting()
    >>> parts = [
    ...     ope.accumulate_stream(table.slice(start, 5_000), ipw, action_dist="action_dist",
    ...                           n_bootstrap=100, seed=7, first_row=start)
    ...     for start in (0, 5_000)
    ... ]
    >>> merged = parts[0].merge(parts[1]).result()
    >>> whole = ope.estimate_stream(table, ipw, action_dist="action_dist",
    ...                             n_bootstrap=100, seed=7)
    >>> abs(merged.estimate - whole.estimate) < 1e-12, merged.n_rounds
    (True, 10000)
    """
    from regretless import logs as _logs

    single = isinstance(estimators, _Estimator)
    ests: list[_Estimator] = [estimators] if single else list(estimators)  # type: ignore[list-item]
    if not ests or not all(isinstance(e, _Estimator) for e in ests):
        raise InvalidParameterError(
            "estimators: expected a regretless.ope estimator or a non-empty sequence of them"
        )
    names = [e.estimator_name for e in ests]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"estimators: names must be distinct, got {names}")
    pi_spec = _shared(action_dist, "action_dist")
    q_spec = _shared(estimated_rewards_by_reg_model, "estimated_rewards_by_reg_model")
    extra = [s for s in (pi_spec, q_spec) if isinstance(s, str)]
    if context is None and not any(callable(s) for s in (pi_spec, q_spec)):
        context = False
    seed = resolve_seed(seed)
    n_boot = check_nonnegative_int(n_bootstrap, "n_bootstrap")
    first = check_nonnegative_int(first_row, "first_row")
    streams = [OffPolicyAccumulator(e.estimator_name, e.lambda_, n_boot, seed, first) for e in ests]
    fields = {"action": "action", "reward": "reward", "pscore": "pscore", "position": "position"}
    fields.update({k: v for k, v in (columns or {}).items() if k in fields})
    bar = None
    callback: Callable[[int], None] | None = progress if callable(progress) else None
    if progress is True:
        total = _logs.count_rows(source)
        if total:
            from regretless._progress import ProgressBar

            bar = ProgressBar(total, label="estimate_stream")
            callback = bar.update
    done = 0
    batches: Iterable[Any] = _logs.iter_batches(
        source,
        columns=columns,
        context=context,
        extra=extra,
        batch_size=batch_size or _logs.DEFAULT_BATCH_SIZE,
        validate=False,  # values are checked in Rust, in the same pass
    )
    for fb in batches:
        pi = _table_for_batch(pi_spec, fb, "action_dist")
        q = _table_for_batch(q_spec, fb, "estimated_rewards_by_reg_model")
        for st in streams:
            try:
                st.push(fb.reward, fb.action, fb.pscore, pi, fb.position, q)
            except RegretlessError as e:
                raise _name_column(e, fields) from None
        done += fb.n_rounds
        if callback is not None:
            callback(done)
    if bar is not None:
        bar.close()
    return streams[0] if single else dict(zip(names, streams, strict=True))


def _name_column(e: RegretlessError, fields: Mapping[str, str]) -> RegretlessError:
    """Adds the source column to an error about a renamed field."""
    msg = str(e)
    for key, column in fields.items():
        if column != key and msg.startswith(f"{key}["):
            return type(e)(f"{msg} (column {column!r})")
    return e


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class ReplayResult:
    """Replay evaluation of a policy on uniformly logged data.

    Attributes:
        estimate: mean reward on the rows where the policy chose the logged action: an
            unbiased estimate of its online per-step reward (NaN if none matched).
        std_err: standard error of that mean.
        n_rounds: logged rows.
        n_matched: rows used (about ``n_rounds / n_arms``).
        matched: boolean mask of those rows.
        policy: a copy of the policy after learning from the matched rows (the argument
            itself is not modified).

    >>> import regretless
    >>> from regretless import ope
    >>> res = ope.replay(regretless.UCB1(2, seed=0), [0, 1] * 50, [0.0, 1.0] * 50)
    >>> res.n_rounds, res.policy.n_updates == res.n_matched
    (100, True)
    """

    estimate: float
    std_err: float
    n_rounds: int
    n_matched: int
    matched: np.ndarray
    policy: Any


def replay(
    policy: Any,
    actions: Any,
    rewards: Any,
    *,
    pscore: Any = None,
    seed: int | None = None,
) -> ReplayResult:
    """Replay evaluation (Li, Chu, Langford and Wang 2011) of a regretless policy.

    Walks the logs in order in Rust; at each row a copy of ``policy`` chooses an arm, and
    when it is the logged action the row's reward is revealed to it (it learns, as online)
    and counted; other rows are skipped. On logs of a uniformly random logger the counted
    rewards are an unbiased sample of the policy's online interaction. For other loggers
    use the estimators above (``pscore`` given here is checked to be uniform).

    Args:
        policy: any regretless multi-armed bandit policy (not modified: a copy is replayed).
        actions: logged actions (integers in ``[0, n_arms)``).
        rewards: logged rewards (in the policy's reward range).
        pscore: optional logged propensities, checked to equal ``1 / n_arms``.
        seed: reseed the copy's generator (None: continue the policy's own stream).

    >>> import numpy as np
    >>> import regretless
    >>> from regretless import ope
    >>> rng = np.random.default_rng(0)
    >>> actions = rng.integers(0, 3, 30_000)
    >>> rewards = (rng.random(30_000) < np.array([0.2, 0.5, 0.8])[actions]).astype(float)
    >>> res = ope.replay(regretless.ThompsonSampling(3, seed=1), actions, rewards)
    >>> bool(res.estimate > 0.7), bool(abs(res.n_matched / 30_000 - 1 / 3) < 0.02)
    (True, True)
    """
    if pscore is not None:
        p = np.asarray(pscore, dtype=np.float64)
        k = policy.n_arms if hasattr(policy, "n_arms") else None
        if k is not None and p.size and not np.allclose(p, 1.0 / k, rtol=1e-6, atol=1e-9):
            i = int(np.argmax(~np.isclose(p, 1.0 / k, rtol=1e-6, atol=1e-9)))
            raise InvalidParameterError(
                f"pscore[{i}]: {p[i]} is not 1/{k}; replay needs logs of a uniformly random "
                f"logger (use InverseProbabilityWeighting or DoublyRobust otherwise)"
            )
    s = None if seed is None else resolve_seed(seed)
    out = _core._replay(policy, actions, rewards, s)
    return ReplayResult(
        estimate=out["estimate"],
        std_err=out["std_err"],
        n_rounds=out["n_rounds"],
        n_matched=out["n_matched"],
        matched=out["matched"],
        policy=out["policy"],
    )
