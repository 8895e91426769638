"""Argument checks shared by the Python modules, with the same exceptions as the core.

A value of the wrong type (a float or a bool where an integer is expected, a string where
a number is) raises :class:`~regretless.DTypeError`; a value of the right type outside its
range raises :class:`~regretless.InvalidParameterError`. Seeds follow the core's rule: any
bad seed is an :class:`~regretless.InvalidParameterError`. Every message starts with the
argument's name and says what was expected.

>>> from regretless._checks import check_int, check_seed
>>> check_int(3, "n_runs", low=1)
3
>>> check_int(True, "n_runs", low=1)
Traceback (most recent call last):
    ...
regretless.exceptions.DTypeError: n_runs: expected an integer, got bool
>>> check_seed(-1)
Traceback (most recent call last):
    ...
regretless.exceptions.InvalidParameterError: seed: expected None or an integer in [0, 2**64), got -1
"""

from __future__ import annotations

import math
import os
import pathlib
import secrets
from typing import Any

import numpy as np

from regretless.exceptions import DTypeError, InvalidParameterError

__all__ = [
    "check_existing_path",
    "check_int",
    "check_nonnegative_int",
    "check_one_of",
    "check_positive_int",
    "check_probability",
    "check_seed",
    "resolve_seed",
]

#: Seeds are unsigned 64-bit integers, as in the core.
SEED_BOUND = 2**64


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional). Bools, floats and
    strings are rejected with DTypeError, an out-of-range integer with InvalidParameterError."""
    if not _is_integer(value):
        raise DTypeError(f"{name}: expected an integer, got {type(value).__name__}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        if high is None:
            expected = f">= {low}"
        elif low is None:
            expected = f"<= {high}"
        else:
            expected = f"in [{low}, {high}]"
        raise InvalidParameterError(f"{name}: must be an integer {expected}, got {v}")
    return v


def check_positive_int(value: Any, name: str) -> int:
    """An integer >= 1 (a size, a horizon, a number of runs or workers)."""
    return check_int(value, name, low=1)


def check_nonnegative_int(value: Any, name: str) -> int:
    """An integer >= 0 (a count, an offset)."""
    return check_int(value, name, low=0)


def check_seed(seed: Any, name: str = "seed", *, bound: int = SEED_BOUND) -> int:
    """An integer seed in ``[0, bound)``; InvalidParameterError otherwise (as the core)."""
    if not _is_integer(seed) or not 0 <= int(seed) < bound:
        expected = "2**64" if bound == SEED_BOUND else f"2**{bound.bit_length() - 1}"
        raise InvalidParameterError(
            f"{name}: expected None or an integer in [0, {expected}), got {seed!r}"
        )
    return int(seed)


def resolve_seed(seed: Any, name: str = "seed") -> int:
    """:func:`check_seed`, or a fresh random 64-bit seed for None."""
    if seed is None:
        return secrets.randbits(64)
    return check_seed(seed, name)


def check_probability(
    value: Any, name: str, *, open_low: bool = False, open_high: bool = False
) -> float:
    """A real number in ``[0, 1]`` (``open_low``/``open_high`` exclude an end)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise DTypeError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    low_ok = v > 0.0 if open_low else v >= 0.0
    high_ok = v < 1.0 if open_high else v <= 1.0
    if math.isnan(v) or not (low_ok and high_ok):
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise InvalidParameterError(f"{name}: must be a probability in {interval}, got {v}")
    return v


def check_one_of(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of strings (a backend, a weighting)."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise InvalidParameterError(f"{name}: expected one of {options}, got {value!r}")
    return str(value)


def check_existing_path(value: Any, name: str) -> pathlib.Path:
    """A path (str or os.PathLike) that exists."""
    if not isinstance(value, (str, os.PathLike)):
        raise DTypeError(f"{name}: expected a path, got {type(value).__name__}")
    p = pathlib.Path(value)
    if not p.exists():
        raise InvalidParameterError(f"{name}: {p}: the file or directory does not exist")
    return p
