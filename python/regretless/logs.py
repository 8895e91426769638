"""Logged bandit feedback: the schema, and readers from Arrow, Parquet, numpy and data frames.

A log holds one row per decision: the ``action`` taken (int64), the ``reward`` observed
(float64), ``pscore``, the probability the logging policy gave that action (float64 in
(0, 1]), and optionally the ``context`` (a fixed-size list of float64, or a set of float
columns), the ``position`` of the slot in a ranked list (int64, one row per slot) and a
``timestamp``. The names follow Open Bandit Pipeline; ``columns={"pscore": "propensity"}``
maps them to the names a file actually uses.

Readers return :class:`LoggedFeedback` (numpy arrays). Fixed-width Arrow columns without
nulls become numpy arrays without a copy (int64 and float64; other integer and real types
are converted once). A column with nulls, of the wrong type, or propensities outside
(0, 1] raise an error naming the column and the first offending row.

pyarrow is needed for Arrow and Parquet sources (``pip install pyarrow``); numpy arrays
and :class:`LoggedFeedback` work without it.

>>> import numpy as np
>>> from regretless import logs
>>> data = logs.read_logs({"action": [0, 1, 1], "reward": [1.0, 0.0, 1.0],
...                        "pscore": [0.5, 0.5, 0.5]})
>>> data.n_rounds, data.action.dtype
(3, dtype('int64'))
>>> logs.read_logs({"action": [0], "reward": [1.0], "pscore": [0.0]})
Traceback (most recent call last):
    ...
regretless.exceptions.InvalidParameterError: column 'pscore', row 0: propensity 0.0 is ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from regretless._checks import check_one_of, check_positive_int
from regretless.exceptions import DTypeError, InvalidParameterError, RewardError, ShapeError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "LoggedFeedback",
    "count_rows",
    "fit_logs",
    "iter_batches",
    "read_logs",
    "schema",
]

#: Rows per record batch when a reader chooses the batching.
DEFAULT_BATCH_SIZE = 1 << 19
#: Record batches (and files) a ``pyarrow.dataset.Dataset`` scan decodes ahead of the
#: consumer (pyarrow's defaults, 16 and 4, hold up to 16 batches); Parquet is scanned
#: without pre-buffering. Parquet paths are read file by file, row group by row group.
BATCH_READAHEAD = 2
FRAGMENT_READAHEAD = 1

_FIELDS = ("action", "reward", "pscore", "position", "timestamp")


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as e:  # pragma: no cover - exercised only without pyarrow
        raise ImportError(
            "reading Arrow or Parquet logs needs pyarrow: pip install pyarrow "
            "(or pip install 'regretless[test]')"
        ) from e
    return pyarrow


def schema(
    dim_context: int | None = None,
    *,
    context_columns: Sequence[str] | None = None,
    position: bool = False,
    timestamp: bool = False,
) -> Any:
    """The Arrow schema of logged feedback.

    Args:
        dim_context: length of the ``context`` fixed-size-list column (None: no such column).
        context_columns: names of float64 context columns instead of one list column.
        position: include the ``position`` column (ranked lists, one row per slot).
        timestamp: include a ``timestamp`` column (microseconds, UTC).

    >>> from regretless import logs
    >>> s = logs.schema(3, position=True)
    >>> s.names
    ['action', 'reward', 'pscore', 'position', 'context']
    >>> str(s.field("context").type)
    'fixed_size_list<item: double not null>[3]'
    """
    pa = _pyarrow()
    fields = [
        pa.field("action", pa.int64(), nullable=False),
        pa.field("reward", pa.float64(), nullable=False),
        pa.field("pscore", pa.float64(), nullable=False),
    ]
    if position:
        fields.append(pa.field("position", pa.int64(), nullable=False))
    if timestamp:
        fields.append(pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False))
    if dim_context is not None and context_columns is not None:
        raise InvalidParameterError("give dim_context or context_columns, not both")
    if dim_context is not None:
        item = pa.field("item", pa.float64(), nullable=False)
        fields.append(pa.field("context", pa.list_(item, dim_context), nullable=False))
    for name in context_columns or ():
        fields.append(pa.field(name, pa.float64(), nullable=False))
    return pa.schema(fields)


class LoggedFeedback:
    """Logged bandit feedback as numpy arrays (one row per decision, or per slot).

    Attributes:
        action: int64 ``(n,)``.
        reward: float64 ``(n,)``.
        pscore: float64 ``(n,)``, the logging policy's probability of ``action``, or None.
        context: float64 ``(n, d)`` or None.
        position: int64 ``(n,)`` slot indices, or None.
        timestamp: ``(n,)`` datetime64 or None.
        extra: further columns read on request (e.g. a stored ``action_dist``), by name.

    >>> import numpy as np
    >>> from regretless.logs import LoggedFeedback
    >>> fb = LoggedFeedback(action=np.array([0, 2]), reward=np.array([1.0, 0.0]))
    >>> len(fb), fb.pscore is None
    (2, True)
    """

    def __init__(
        self,
        action: Any,
        reward: Any,
        pscore: Any = None,
        context: Any = None,
        position: Any = None,
        timestamp: Any = None,
        extra: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.action = _as_int64(action, "action")
        self.reward = _as_float64(reward, "reward")
        n = self.action.shape[0]
        if self.reward.shape[0] != n:
            raise ShapeError(f"reward: length {self.reward.shape[0]} does not match action ({n})")
        self.pscore = None if pscore is None else _as_float64(pscore, "pscore")
        self.position = None if position is None else _as_int64(position, "position")
        self.timestamp = None if timestamp is None else np.asarray(timestamp)
        self.context = None
        if context is not None:
            ctx = np.asarray(context)
            if ctx.ndim != 2:
                raise ShapeError(
                    f"context: expected shape (n_rounds, dim_context), got {ctx.shape}"
                )
            self.context = np.ascontiguousarray(ctx, dtype=np.float64)
        self.extra: dict[str, np.ndarray] = dict(extra or {})
        for name in ("pscore", "position", "context", "timestamp"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ShapeError(f"{name}: length {len(value)} does not match action ({n})")

    def __repr__(self) -> str:
        present = [
            k
            for k in ("pscore", "context", "position", "timestamp")
            if getattr(self, k) is not None
        ]
        fields = ["action", "reward", *present]
        return (
            f"LoggedFeedback(n_rounds={self.n_rounds}, fields={fields}, extra={list(self.extra)})"
        )

    @property
    def n_rounds(self) -> int:
        """Number of rows."""
        return int(self.action.shape[0])

    def __len__(self) -> int:
        return self.n_rounds

    def to_arrow(self) -> Any:
        """This log as a ``pyarrow.Table`` in the :func:`schema` layout (extra columns
        appended; 2-D ones as fixed-size lists).

        >>> import numpy as np
        >>> from regretless.logs import LoggedFeedback
        >>> fb = LoggedFeedback(action=[0, 1], reward=[1.0, 0.0], pscore=[0.5, 0.5],
        ...                     context=np.zeros((2, 3)))
        >>> fb.to_arrow().column_names
        ['action', 'reward', 'pscore', 'context']
        """
        pa = _pyarrow()
        core = schema(
            None if self.context is None else self.context.shape[1],
            position=self.position is not None,
            timestamp=self.timestamp is not None,
        )
        values = {
            "action": self.action,
            "reward": self.reward,
            "pscore": self.pscore,
            "position": self.position,
            "timestamp": self.timestamp,
        }
        fields, arrays = [], []
        for f in core:
            if f.name == "context":
                arrays.append(_fixed_size_list(self.context).cast(f.type))
            elif values[f.name] is not None:
                arrays.append(pa.array(values[f.name], type=f.type))
            else:
                continue
            fields.append(f)
        for name, value in self.extra.items():
            value = np.asarray(value)
            arr = _fixed_size_list(value) if value.ndim > 1 else pa.array(value)
            arrays.append(arr)
            fields.append(pa.field(name, arr.type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def to_parquet(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Write this log to a Parquet file (keyword arguments go to
        ``pyarrow.parquet.write_table``, e.g. ``row_group_size``)."""
        import pyarrow.parquet as pq

        pq.write_table(self.to_arrow(), path, **kwargs)


def _fixed_size_list(values: np.ndarray) -> Any:
    """A (n, a, b, ...) float array as nested fixed-size lists, without copying the data."""
    pa = _pyarrow()
    values = np.ascontiguousarray(values)
    arr = pa.array(values.reshape(-1))
    for width in reversed(values.shape[1:]):
        arr = pa.FixedSizeListArray.from_arrays(arr, width)
    return arr


def _as_int64(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise DTypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _as_float64(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "fiub":
        raise DTypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


# ---------------------------------------------------------------- Arrow columns -> numpy


def _single_chunk(col: Any) -> Any:
    pa = _pyarrow()
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _check_nulls(arr: Any, column: str, offset: int) -> None:
    if arr.null_count:
        import pyarrow.compute as pc

        first = int(pc.index(pc.is_null(arr), True).as_py())
        raise InvalidParameterError(
            f"column {column!r}: {arr.null_count} null value(s), the first at row "
            f"{offset + first}; logged feedback must be complete"
        )


def _numeric(arr: Any, column: str, kind: str, offset: int) -> np.ndarray:
    """A non-null integer ('i') or real ('f') Arrow array as int64 / float64 numpy, borrowed
    when the Arrow buffer already has that type."""
    pa = _pyarrow()
    arr = _single_chunk(arr)
    t = arr.type
    ok = (
        pa.types.is_integer(t)
        if kind == "i"
        else (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t))
    )
    if not ok:
        want = "an integer type" if kind == "i" else "a real number type"
        raise DTypeError(f"column {column!r}: expected {want}, got {t}")
    _check_nulls(arr, column, offset)
    if pa.types.is_boolean(t):
        return arr.to_numpy(zero_copy_only=False).astype(np.float64)
    out = _borrow(arr)
    return out.astype(np.int64 if kind == "i" else np.float64, copy=False)


# Arrow's fixed-width numeric types by name, as numpy dtypes.
_NUMPY_DTYPES = {
    **{f"{s}int{b}": np.dtype(f"{s}int{b}") for s in ("", "u") for b in (8, 16, 32, 64)},
    "halffloat": np.dtype(np.float16),
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
}


def _borrow(arr: Any) -> np.ndarray:
    """The values of a non-null fixed-width numeric Arrow array as a read-only numpy view
    of its buffer. Unlike ``Array.to_numpy`` this never imports pandas (pyarrow's
    ``to_numpy`` loads it on first use when it is installed: about half a second once
    per process, which dominated streaming a few million rows)."""
    dtype = _NUMPY_DTYPES.get(str(arr.type))
    if dtype is None:  # another fixed-width type: let pyarrow decide
        return arr.to_numpy(zero_copy_only=True)
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=dtype)
    out = np.frombuffer(arr.buffers()[1], dtype=dtype, count=n, offset=arr.offset * dtype.itemsize)
    out.flags.writeable = False  # Arrow memory is immutable, as to_numpy's view says
    return out


def _table_values(arr: Any, column: str, offset: int) -> np.ndarray:
    """A float column, or a (nested) fixed-size list of floats, as (n,), (n, a) or
    (n, a, b) float64 (borrowed when the values are float64)."""
    pa = _pyarrow()
    arr = _single_chunk(arr)
    shape = [len(arr)]
    values = arr
    while pa.types.is_fixed_size_list(values.type):
        _check_nulls(values, column, offset)
        shape.append(values.type.list_size)
        values = values.flatten()
    if len(shape) == 1 and (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
        # A list column (what pa.table({"context": list(X)}) makes) whose rows all have
        # one length reads as a fixed-size list.
        _check_nulls(values, column, offset)
        import pyarrow.compute as pc

        lengths = _borrow(pc.list_value_length(values))
        if len(lengths) and (lengths != lengths[0]).any():
            i = int(np.argmax(lengths != lengths[0]))
            raise ShapeError(
                f"column {column!r}, row {offset + i}: a list of {lengths[i]} values where "
                f"row {offset} has {lengths[0]}; every row must have the same length"
            )
        shape.append(int(lengths[0]) if len(lengths) else 0)
        values = values.flatten()
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        raise DTypeError(
            f"column {column!r}: nested variable-length lists are not supported; store a "
            f"fixed_size_list (see regretless.logs.schema)"
        )
    flat = _numeric(values, column, "f", offset)
    return flat.reshape(shape)


def _pscore(values: np.ndarray, column: str, offset: int) -> np.ndarray:
    bad = ~((values > 0.0) & (values <= 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidParameterError(
            f"column {column!r}, row {offset + i}: propensity {values[i]} is outside (0, 1]"
        )
    return values


# --------------------------------------------------------------------------- sources


def _is_dataframe(obj: Any, module: str) -> bool:
    return any(c.__module__.split(".")[0] == module for c in type(obj).__mro__)


def _resolve(columns: Mapping[str, str] | None) -> dict[str, str]:
    mapping = {f: f for f in (*_FIELDS, "context")}
    for key, value in (columns or {}).items():
        if key not in mapping:
            raise InvalidParameterError(
                f"columns: unknown field {key!r}; expected one of {sorted(mapping)}"
            )
        mapping[key] = value
    return mapping


def _arrow_batches(
    source: Any, needed: list[str] | None, batch_size: int
) -> tuple[Any, int | None]:
    """(iterator of pyarrow.RecordBatch, total rows if known) for any Arrow-like source."""
    pa = _pyarrow()
    if _is_dataframe(source, "pandas"):
        source = pa.Table.from_pandas(source, preserve_index=False)
    elif _is_dataframe(source, "polars"):
        source = source.to_arrow()
    if isinstance(source, pa.RecordBatch):
        source = pa.Table.from_batches([source])
    if isinstance(source, pa.Table):
        if needed is not None:
            source = source.select([c for c in needed if c in source.column_names])
        return iter(source.to_batches(max_chunksize=batch_size)), source.num_rows
    if isinstance(source, pa.RecordBatchReader):
        return iter(source), None
    if isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        # One file: read it directly. pyarrow.dataset is not needed, and importing it
        # pulls in pandas (about a second of fixed cost, more than a million-row pass).
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(os.fspath(source)).metadata
        names = meta.schema.to_arrow_schema().names
        cols = None if needed is None else [c for c in needed if c in names]
        return _parquet_file(os.fspath(source), cols, batch_size), meta.num_rows
    if isinstance(source, (str, os.PathLike)):
        import pyarrow.dataset as ds

        dataset = ds.dataset(os.fspath(source), format="parquet")
        names = dataset.schema.names
        cols = None if needed is None else [c for c in needed if c in names]
        return _parquet_files(dataset, cols, batch_size), dataset.count_rows()
    try:
        import pyarrow.dataset as ds
    except ImportError:  # pragma: no cover
        ds = None
    if ds is not None and isinstance(source, ds.Dataset):
        names = source.schema.names
        cols = None if needed is None else [c for c in needed if c in names]
        options = {}
        if isinstance(getattr(source, "format", None), ds.ParquetFileFormat):
            options["fragment_scan_options"] = ds.ParquetFragmentScanOptions(pre_buffer=False)
        batches = source.to_batches(
            columns=cols,
            batch_size=batch_size,
            batch_readahead=BATCH_READAHEAD,
            fragment_readahead=FRAGMENT_READAHEAD,
            **options,
        )
        return batches, source.count_rows()
    raise DTypeError(
        "source: expected a pyarrow Table, RecordBatch or RecordBatchReader, a Parquet file or "
        "directory path, a pyarrow dataset, a pandas or polars DataFrame, a dict of arrays or "
        f"a LoggedFeedback, got {type(source).__name__}"
    )


def _parquet_file(path: str, columns: list[str] | None, batch_size: int) -> Iterator[Any]:
    """One Parquet file row group by row group, without pre-buffering (see below)."""
    import pyarrow.parquet as pq

    with open(path, "rb") as f:
        reader = pq.ParquetFile(f, pre_buffer=False)
        yield from reader.iter_batches(batch_size=batch_size, columns=columns)


def _parquet_files(dataset: Any, columns: list[str] | None, batch_size: int) -> Iterator[Any]:
    """The files of a Parquet dataset in order, each read row group by row group without
    pre-buffering: memory holds about one row group whatever the number of rows (the
    dataset scanner decodes further ahead, and pre-buffered reads are cached to the end
    of the file)."""
    import pyarrow.parquet as pq

    for path in dataset.files:
        with dataset.filesystem.open_input_file(path) as f:
            reader = pq.ParquetFile(f, pre_buffer=False)
            yield from reader.iter_batches(batch_size=batch_size, columns=columns)


def _from_record_batch(
    batch: Any,
    fields: dict[str, str],
    context: Any,
    extra: Sequence[str],
    offset: int,
    validate: bool,
) -> LoggedFeedback:
    names = batch.schema.names

    def column(key: str, required: bool) -> Any:
        name = fields[key]
        if name in names:
            return batch.column(names.index(name))
        if required:
            raise InvalidParameterError(
                f"column {name!r} (the {key}) is missing; the log has columns {names}"
            )
        return None

    action = _numeric(column("action", True), fields["action"], "i", offset)
    reward = _numeric(column("reward", True), fields["reward"], "f", offset)
    if validate and not np.isfinite(reward).all():
        i = int(np.argmax(~np.isfinite(reward)))
        raise RewardError(
            f"column {fields['reward']!r}, row {offset + i}: reward {reward[i]} is not finite"
        )
    col = column("pscore", False)
    pscore = None if col is None else _numeric(col, fields["pscore"], "f", offset)
    if pscore is not None and validate:
        _pscore(pscore, fields["pscore"], offset)
    col = column("position", False)
    position = None if col is None else _numeric(col, fields["position"], "i", offset)
    col = column("timestamp", False)
    timestamp = None
    if col is not None:
        _check_nulls(_single_chunk(col), fields["timestamp"], offset)
        timestamp = _single_chunk(col).to_numpy(zero_copy_only=False)
    ctx = None
    if context is None and fields["context"] in names:
        context = fields["context"]
    if isinstance(context, str):
        ctx = _table_values(batch.column(names.index(context)), context, offset)
        if ctx.ndim != 2:
            raise DTypeError(f"column {context!r}: expected a fixed-size list of floats")
    elif context:
        missing = [c for c in context if c not in names]
        if missing:
            raise InvalidParameterError(f"context columns {missing} are missing")
        ctx = np.column_stack(
            [_numeric(batch.column(names.index(c)), c, "f", offset) for c in context]
        )
    more = {}
    for name in extra:
        if name not in names:
            raise InvalidParameterError(f"column {name!r} is missing; the log has {names}")
        more[name] = _table_values(batch.column(names.index(name)), name, offset)
    return LoggedFeedback(
        action=action,
        reward=reward,
        pscore=pscore,
        context=ctx,
        position=position,
        timestamp=timestamp,
        extra=more,
    )


def _from_mapping(
    data: Mapping[str, Any], fields: dict[str, str], validate: bool
) -> LoggedFeedback:
    def get(key: str) -> Any:
        return data.get(fields[key])

    if get("action") is None or get("reward") is None:
        raise InvalidParameterError(
            f"the log needs {fields['action']!r} and {fields['reward']!r}; got {sorted(data)}"
        )
    known = {fields[k] for k in (*_FIELDS, "context")}
    fb = LoggedFeedback(
        action=get("action"),
        reward=get("reward"),
        pscore=get("pscore"),
        context=get("context"),
        position=get("position"),
        timestamp=get("timestamp"),
        extra={k: np.asarray(v) for k, v in data.items() if k not in known},
    )
    if validate:
        _validate(fb, fields, 0)
    return fb


def _validate(fb: LoggedFeedback, fields: dict[str, str], offset: int) -> None:
    finite = np.isfinite(fb.reward)
    if not finite.all():
        i = int(np.argmax(~finite))
        raise RewardError(
            f"column {fields['reward']!r}, row {offset + i}: reward {fb.reward[i]} is not finite"
        )
    if fb.pscore is not None:
        _pscore(fb.pscore, fields["pscore"], offset)


def iter_batches(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    context: str | Sequence[str] | bool | None = None,
    extra: Sequence[str] = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
    validate: bool = True,
) -> Iterator[LoggedFeedback]:
    """Logged feedback from ``source``, one record batch at a time (memory stays flat).

    Args:
        source: a pyarrow ``Table``, ``RecordBatch`` or ``RecordBatchReader``; a path to a
            Parquet file or a directory of them (read as a ``pyarrow.dataset``, only the
            needed columns); a ``pyarrow.dataset.Dataset``; a pandas or polars DataFrame;
            a dict of numpy arrays; or a :class:`LoggedFeedback`.
        columns: column names for the fields, e.g. ``{"pscore": "propensity"}``.
        context: the context column (a fixed-size list), a list of float columns, False
            to skip it, or None to read a ``context`` column if there is one.
        extra: more columns to read into ``LoggedFeedback.extra`` (float columns or
            fixed-size lists of floats, e.g. a stored ``action_dist``).
        batch_size: rows per batch (for Parquet, the reader's batch size).
        validate: check nulls, types, finite rewards and propensities in (0, 1].

    >>> import numpy as np
    >>> from regretless import logs
    >>> data = {"action": np.arange(10) % 2, "reward": np.ones(10), "pscore": np.full(10, 0.5)}
    >>> [len(b) for b in logs.iter_batches(data, batch_size=4)]
    [4, 4, 2]
    """
    fields = _resolve(columns)
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(source, (LoggedFeedback, Mapping)):
        fb = source if isinstance(source, LoggedFeedback) else _from_mapping(source, fields, False)
        for start in range(0, max(fb.n_rounds, 1), batch_size):
            part = _slice(fb, start, start + batch_size)
            if validate:
                _validate(part, fields, start)
            yield part
        return
    if context is True:
        context = fields["context"]
    needed: list[str] | None = [fields[f] for f in _FIELDS] + list(extra)
    if isinstance(context, str):
        needed.append(context)
    elif context is None:
        needed.append(fields["context"])
    elif context:
        needed.extend(context)
    batches, _ = _arrow_batches(source, needed, batch_size)
    offset = 0
    for batch in batches:
        yield _from_record_batch(batch, fields, context, extra, offset, validate)
        offset += batch.num_rows


def _slice(fb: LoggedFeedback, start: int, stop: int) -> LoggedFeedback:
    def cut(v: Any) -> Any:
        return None if v is None else v[start:stop]

    return LoggedFeedback(
        action=fb.action[start:stop],
        reward=fb.reward[start:stop],
        pscore=cut(fb.pscore),
        context=cut(fb.context),
        position=cut(fb.position),
        timestamp=cut(fb.timestamp),
        extra={k: v[start:stop] for k, v in fb.extra.items()},
    )


def read_logs(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    context: str | Sequence[str] | bool | None = None,
    extra: Sequence[str] = (),
    validate: bool = True,
) -> LoggedFeedback:
    """All of ``source`` in memory as one :class:`LoggedFeedback` (see
    :func:`iter_batches` for the arguments). A single-chunk Arrow column of int64 or
    float64 without nulls is borrowed, not copied.

    >>> import pyarrow as pa
    >>> from regretless import logs
    >>> table = pa.table({"action": [0, 1], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]})
    >>> logs.read_logs(table, columns={"pscore": "propensity"}).pscore
    array([0.5, 0.5])
    >>> bad = pa.table({"action": [0, None], "reward": [1.0, 0.0]})
    >>> logs.read_logs(bad)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    regretless.exceptions.InvalidParameterError: column 'action': 1 null value(s)...
    """
    fields = _resolve(columns)
    if isinstance(source, LoggedFeedback):
        if validate:
            _validate(source, fields, 0)
        return source
    if isinstance(source, Mapping):
        return _from_mapping(source, fields, validate)
    pa = _pyarrow()
    if _is_dataframe(source, "pandas"):
        source = pa.Table.from_pandas(source, preserve_index=False)
    elif _is_dataframe(source, "polars"):
        source = source.to_arrow()
    if isinstance(source, pa.RecordBatch):
        source = pa.Table.from_batches([source])
    if not isinstance(source, pa.Table):
        batches, _ = _arrow_batches(source, None, DEFAULT_BATCH_SIZE)
        source = pa.Table.from_batches(list(batches))
    if context is True:
        context = fields["context"]
    # One batch over the whole table: single-chunk columns stay zero-copy.
    batch = _TableView(source)
    return _from_record_batch(batch, fields, context, extra, 0, validate)


class _TableView:
    """The part of the RecordBatch interface that the column reader uses, over a Table
    (its columns are ChunkedArrays; single-chunk ones convert without a copy)."""

    def __init__(self, table: Any) -> None:
        self.schema = table.schema
        self.num_rows = table.num_rows
        self._table = table

    def column(self, i: int) -> Any:
        return self._table.column(i)


def count_rows(source: Any) -> int | None:
    """Number of rows of ``source`` if it is known without reading it (Parquet metadata,
    in-memory tables), else None (a ``RecordBatchReader``).

    >>> from regretless import logs
    >>> logs.count_rows({"action": [0, 1, 2], "reward": [0.0, 1.0, 0.0]})
    3
    """
    if isinstance(source, LoggedFeedback):
        return source.n_rounds
    if isinstance(source, Mapping):
        for key in ("action", "reward"):
            if key in source:
                return len(source[key])
        return None
    if _is_dataframe(source, "pandas") or _is_dataframe(source, "polars"):
        return len(source)
    pa = _pyarrow()
    if isinstance(source, (pa.Table, pa.RecordBatch)):
        return source.num_rows
    if isinstance(source, pa.RecordBatchReader):
        return None
    if isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        import pyarrow.parquet as pq

        return pq.ParquetFile(os.fspath(source)).metadata.num_rows
    if isinstance(source, (str, os.PathLike)):
        import pyarrow.dataset as ds

        return ds.dataset(os.fspath(source), format="parquet").count_rows()
    count = getattr(source, "count_rows", None)
    return int(count()) if callable(count) else None


def fit_logs(
    policy: Any,
    source: Any,
    *,
    weighting: str = "ips",
    columns: Mapping[str, str] | None = None,
    context: str | Sequence[str] | bool | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_weight: float | None = None,
) -> Any:
    """Warm-start ``policy`` from logged feedback in one pass over ``source`` (memory
    stays flat: record batch by record batch). Also available as ``policy.fit_logs``.

    Contextual policies learn each logged ``(context, action, reward)`` row; with
    ``weighting="ips"`` each row is weighted by ``1 / pscore`` (optionally capped at
    ``max_weight``), which corrects for the logging policy's preferences when the rows are
    used to fit the reward model; ``weighting="none"`` weights every row 1. Multi-armed
    policies learn the ``(action, reward)`` pairs: their per-arm means are unbiased
    without weights, so only ``weighting="none"`` applies to them.

    Returns the policy.

    >>> import numpy as np, regretless
    >>> logs_ = {"action": np.array([0, 1, 1, 0]), "reward": np.array([1.0, 0.0, 0.5, 0.5]),
    ...          "pscore": np.full(4, 0.5), "context": np.ones((4, 2))}
    >>> policy = regretless.LinUCB(2, 2).fit_logs(logs_, context=True)
    >>> policy.counts().tolist()
    [2, 2]
    >>> regretless.UCB1(2).fit_logs(logs_, weighting="none").means().tolist()
    [0.75, 0.25]
    """
    contextual = _check_learning(policy, weighting, max_weight)
    want_context = context if context is not None else (True if contextual else None)
    for batch in iter_batches(source, columns=columns, context=want_context, batch_size=batch_size):
        _learn_batch(policy, batch, weighting=weighting, max_weight=max_weight)
    return policy


def _is_contextual(policy: Any) -> bool:
    return hasattr(policy, "dim")


def _check_learning(policy: Any, weighting: str, max_weight: float | None) -> bool:
    """Checks the learning options for ``policy``; True when it is contextual."""
    check_one_of(weighting, "weighting", ("ips", "none"))
    if max_weight is not None and not (
        isinstance(max_weight, (int, float, np.number)) and max_weight > 0
    ):
        raise InvalidParameterError(f"max_weight: must be a number > 0 or None, got {max_weight}")
    contextual = _is_contextual(policy)
    if not contextual and weighting == "ips":
        raise InvalidParameterError(
            f"weighting: {type(policy).__name__} learns per-arm means, which logged rewards "
            "estimate without importance weights; pass weighting='none'"
        )
    return contextual


def _learn_batch(
    policy: Any,
    batch: LoggedFeedback,
    *,
    weighting: str = "none",
    max_weight: float | None = None,
    weight: str | None = None,
) -> None:
    """Updates ``policy`` with every row of ``batch`` (what :func:`fit_logs` does for each
    record batch; :func:`regretless.experiment.learn_sharded` for each shard).

    Multi-armed policies learn ``(action, reward)``; contextual ones ``(context, action,
    reward)`` with weight ``1 / pscore`` (capped at ``max_weight``) for
    ``weighting="ips"``, times the ``weight`` column of ``batch.extra`` if named."""
    contextual = _check_learning(policy, weighting, max_weight)
    if not contextual:
        if weight is not None:
            raise InvalidParameterError("weight: only contextual policies take weights")
        policy.update_batch(batch.action, batch.reward)
        return
    if batch.context is None:
        raise ShapeError("context: contextual policies need a context column")
    weights = None
    if weighting == "ips":
        if batch.pscore is None:
            raise InvalidParameterError("pscore: weighting='ips' needs logged propensities")
        weights = 1.0 / batch.pscore
        if max_weight is not None:
            weights = np.minimum(weights, max_weight)
    if weight is not None:
        w = np.asarray(batch.extra[weight], dtype=np.float64)
        weights = w if weights is None else weights * w
    policy.update_batch(batch.context, batch.action, batch.reward, weights)
