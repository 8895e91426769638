"""pyarrow, imported on first use with an install hint (it is an optional dependency)."""

from __future__ import annotations

from typing import Any


def pa() -> Any:
    try:
        import pyarrow
    except ImportError as e:  # pragma: no cover - exercised only without pyarrow
        raise ImportError("regretless.experiment needs pyarrow: pip install pyarrow") from e
    return pyarrow


def pq() -> Any:
    pa()
    import pyarrow.parquet

    return pyarrow.parquet
