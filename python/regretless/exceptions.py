"""The regretless exception tree.

Every error the library raises on bad input is a :class:`RegretlessError`. Each specific
class also derives from the built-in exception a Python user would expect to catch
(``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working.

>>> import regretless
>>> try:
...     regretless.UCB1(3).update(7, 1.0)
... except regretless.ArmError as e:
...     print(e)
arm: arm 7 is out of range; expected an integer in [0, 3)
"""

from __future__ import annotations

__all__ = [
    "RegretlessError",
    "InvalidParameterError",
    "ArmError",
    "RewardError",
    "ShapeError",
    "DTypeError",
    "StateError",
    "IncompatibleError",
    "AllocationError",
    "RegretlessWarning",
    "SmallSampleWarning",
]


class RegretlessError(Exception):
    """Base class of every error raised by regretless."""


class InvalidParameterError(RegretlessError, ValueError):
    """A hyperparameter or argument has an invalid value (e.g. ``epsilon=1.5``)."""


class ArmError(RegretlessError, ValueError):
    """An arm index outside ``[0, n_arms)``; for a streaming policy, an arm the stream
    protocol does not allow in that call: a pull of an arm it does not hold or did not ask
    for (``next_pull()``), an update before any offer, an offer while pulls are pending,
    after ``finish()`` or beyond ``n_arms``, or ``finish()`` while pulls are pending."""


class RewardError(RegretlessError, ValueError):
    """A reward that is NaN, infinite, or outside the range the policy's model is defined on."""


class ShapeError(RegretlessError, ValueError):
    """Arrays of the wrong dimension or mismatched lengths."""


class DTypeError(RegretlessError, TypeError):
    """An argument of the wrong type (e.g. float arm indices, a string reward)."""


class StateError(RegretlessError, ValueError):
    """Bytes that are not a valid serialized state of the expected class (corrupt,
    truncated, foreign, of another class, or from a newer format version)."""


class IncompatibleError(RegretlessError, ValueError):
    """Two objects that cannot be combined: a merge of policies with different arm counts
    or hyperparameters, or a policy simulated in an environment whose rewards it cannot take."""


class AllocationError(RegretlessError, MemoryError):
    """A size whose buffers cannot be allocated (e.g. ``UCB1(10**12)``), refused before
    anything is allocated; the message names the argument."""


class RegretlessWarning(UserWarning):
    """Base class of every warning issued by regretless."""


class SmallSampleWarning(RegretlessWarning):
    """An off-policy estimate whose importance weights leave fewer effective samples than
    :data:`regretless.ope.SMALL_ESS_THRESHOLD`: its normal and percentile-bootstrap
    intervals cover the true value less often than they claim. The message names the
    effective sample size and the threshold.

    >>> import warnings
    >>> import regretless
    >>> from regretless import ope
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = ope.InverseProbabilityWeighting().evaluate(
    ...         reward=[1.0, 0.0], action=[0, 1], pscore=[0.5, 0.5], action_dist=[0.5, 0.5])
    >>> caught[0].category is regretless.SmallSampleWarning
    True
    """
