"""Distributed learning from logs: one copy of a policy per shard, merged in a tree.

Logs use the schema of :mod:`regretless.logs` (``action``, ``reward``, ``pscore``,
``context``; other names through ``columns=``) and each shard is read with its reader and
learned as :func:`regretless.logs.fit_logs` learns a record batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

import regretless
from regretless import logs as _logs
from regretless._checks import check_existing_path, check_one_of, check_positive_int
from regretless.exceptions import IncompatibleError, InvalidParameterError
from regretless.experiment._arrow import pa as _pa
from regretless.experiment._arrow import pq as _pq

__all__ = ["learn_sharded"]

# Column names learn_sharded used before it shared regretless.logs' schema, with the
# field each one is now.
_OLD_NAMES = {"arm": "action", "x": "context"}


def _policy_by_name(name: str) -> type:
    classes = {c.__name__: c for c in (*regretless.POLICIES, *regretless.CONTEXTUAL_POLICIES)}
    classes["HybridLinUCB"] = regretless.HybridLinUCB
    if name not in classes:
        raise InvalidParameterError(f"policy: {name} cannot be learned from logs")
    return classes[name]


class _Reading:
    """How a shard is read and learned: the fields' column names (regretless.logs'
    ``columns``), the context selection, an optional weight column, the weighting."""

    def __init__(
        self,
        policy: Any,
        columns: Mapping[str, str] | None,
        context: str | Sequence[str] | bool | None,
        weighting: str,
        max_weight: float | None,
        weight: str | None,
    ) -> None:
        self.fields = _logs._resolve(columns)
        self.columns = dict(columns or {})
        contextual = _logs._check_learning(policy, weighting, max_weight)
        if weight is not None and not contextual:
            raise InvalidParameterError("weight: only contextual policies take weights")
        if not contextual:
            context = False
        elif context is None or context is True:
            context = self.fields["context"]
        self.context = context
        self.weighting = weighting
        self.max_weight = max_weight
        self.weight = weight

    def needed(self) -> list[str]:
        names = [self.fields[f] for f in ("action", "reward", "pscore")]
        if isinstance(self.context, str):
            names.append(self.context)
        elif self.context:
            names.extend(self.context)
        if self.weight is not None:
            names.append(self.weight)
        return names

    def check_columns(self, available: Sequence[str]) -> list[str]:
        """The needed columns present in ``available``; a missing required one raises an
        error that names it (and the new name of a column called as learn_sharded's
        logs were before they shared regretless.logs' schema)."""
        required = [self.fields["action"], self.fields["reward"]]
        if isinstance(self.context, str):
            required.append(self.context)
        elif self.context:
            required.extend(self.context)
        if self.weight is not None:
            required.append(self.weight)
        if self.weighting == "ips":
            required.append(self.fields["pscore"])
        missing = [c for c in required if c not in available]
        if missing:
            renames = {
                new: old
                for old, new in _OLD_NAMES.items()
                if old in available and self.fields[new] in missing
            }
            hint = (
                f"; learn_sharded reads the schema of regretless.logs: rename the columns or "
                f"pass columns={renames!r}"
                if renames
                else ""
            )
            raise InvalidParameterError(
                f"source: column(s) {missing} missing; the log has {list(available)}{hint}"
            )
        return [c for c in self.needed() if c in available]

    def learn(self, cls: type, state: bytes, table: Any) -> bytes:
        """Loads ``state``, learns every row of ``table``, returns the new state."""
        policy = cls.from_bytes(state)
        if table.num_rows:
            batch = _logs.read_logs(
                table,
                columns=self.columns,
                context=self.context,
                extra=[self.weight] if self.weight is not None else (),
            )
            _logs._learn_batch(
                policy,
                batch,
                weighting=self.weighting,
                max_weight=self.max_weight,
                weight=self.weight,
            )
        return policy.to_bytes()


def _merge_states(cls: type, a: bytes, b: bytes) -> bytes:
    left = cls.from_bytes(a)
    left.merge(cls.from_bytes(b))
    return left.to_bytes()


def _tree_merge(
    states: list[Any], merge_round: Callable[[list[tuple[Any, Any]]], list[Any]]
) -> Any:
    """Merges neighbours pairwise, round after round, until one state is left."""
    while len(states) > 1:
        pairs = [(states[i], states[i + 1]) for i in range(0, len(states) - 1, 2)]
        merged = merge_round(pairs)
        if len(states) % 2:
            merged.append(states[-1])
        states = merged
    return states[0]


def _available_columns(source: Any, files: list[str] | None) -> list[str]:
    if files is None:
        return list(source.column_names)
    if not files:
        return []
    return list(_pq().read_schema(files[0]).names)


def _local_shards(
    source: Any, files: list[str] | None, n_shards: int, columns: list[str]
) -> list[Callable[[], Any]]:
    """Loaders of contiguous shards: slices of a table, or groups of Parquet row groups."""
    pa = _pa()
    pq = _pq()
    if files is None:
        n = source.num_rows
        bounds = np.linspace(0, n, min(n_shards, max(n, 1)) + 1).astype(int)
        return [
            (lambda a=a, b=b: source.slice(a, b - a).select(columns))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
    units = []
    for path in files:
        f = pq.ParquetFile(path)
        units.extend((path, g) for g in range(f.num_row_groups))
    if not units:
        return []
    groups = np.array_split(np.arange(len(units)), min(n_shards, len(units)))

    def load(idx: np.ndarray) -> Any:
        parts = []
        for path, rg in (units[i] for i in idx):
            parts.append(pq.ParquetFile(path).read_row_group(rg, columns=columns))
        return pa.concat_tables(parts)

    return [(lambda idx=idx: load(idx)) for idx in groups]


def _parquet_files(source: Any) -> list[str]:
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    files: list[str] = []
    for s in source:
        p = check_existing_path(s, "source")
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.rglob("*.parquet")))
        else:
            files.append(str(p))
    return files


def learn_sharded(
    policy: Any,
    source: Any,
    *,
    backend: str = "local",
    n_shards: int | None = None,
    workers: int | None = None,
    columns: Mapping[str, str] | None = None,
    context: str | Sequence[str] | bool | None = None,
    weighting: str = "none",
    max_weight: float | None = None,
    weight: str | None = None,
) -> Any:
    """Learns ``policy`` from a logged dataset split into shards, in parallel.

    Every shard updates its own copy of ``policy`` (as :func:`regretless.logs.fit_logs`
    does); the copies are then combined with ``merge`` pairwise in a tree. Model state
    crosses threads and processes only as ``to_bytes()``. For policies whose statistics
    add up (the multi-armed index policies, ``LinUCB``, ``LinTS``, ``LinGreedy``, ...),
    the result equals learning on all rows in one place, up to floating-point rounding.

    Args:
        policy: an untrained policy (``n_updates == 0``) that supports ``merge``; it is
            not modified. To continue a trained policy, merge the result into it.
        source: a ``pyarrow.Table``, or a Parquet file, a directory of Parquet files or a
            list of either, in the schema of :mod:`regretless.logs` (``action``,
            ``reward``, ``pscore``, ``context``).
        backend: ``"local"``: shards are groups of Parquet row groups (or slices of the
            table), learned on a thread pool. ``"ray"``: the data is read with Ray Data
            (``read_parquet``, or ``from_arrow`` for a table), repartitioned into
            ``n_shards`` blocks, each block learned in a Ray task, and the tree merged in
            Ray tasks.
        n_shards: number of shards (default: the number of workers or Ray CPUs).
        workers: threads of the local backend (default: all cores).
        columns: column names of the fields, as in :func:`regretless.logs.read_logs`,
            e.g. ``{"action": "arm", "context": "x"}``.
        context: the context column(s) of a contextual policy, as in
            :func:`regretless.logs.read_logs` (default: the ``context`` field).
        weighting: ``"none"`` (every row weight 1) or ``"ips"`` (weight ``1 / pscore``,
            capped at ``max_weight``; contextual policies only), as in
            :func:`regretless.logs.fit_logs`.
        weight: a column of further per-row weights (contextual policies only),
            multiplied into the weighting's.

    >>> import numpy as np, pyarrow as pa, regretless
    >>> from regretless.experiment import learn_sharded
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3))
    >>> arms = rng.integers(0, 2, 1000)
    >>> rewards = X[:, 0] * (arms == 1) + rng.normal(0, 0.1, 1000)
    >>> logs = pa.table({"context": list(X), "action": arms, "reward": rewards})
    >>> sharded = learn_sharded(regretless.LinUCB(2, 3), logs, n_shards=4)
    >>> direct = regretless.LinUCB(2, 3)
    >>> direct.update_batch(X, arms, rewards)
    >>> bool(np.allclose(sharded.coefficients(), direct.coefficients(), atol=1e-9))
    True
    """
    check_one_of(backend, "backend", ("local", "ray"))
    if n_shards is not None:
        check_positive_int(n_shards, "n_shards")
    if workers is not None:
        check_positive_int(workers, "workers")
    cls = _policy_by_name(type(policy).__name__)
    if policy.n_updates != 0:
        raise InvalidParameterError(
            "policy: learn_sharded starts from an untrained policy (every shard starts "
            "from it, so its data would count once per shard); merge the result into a "
            "trained policy instead"
        )
    reading = _Reading(policy, columns, context, weighting, max_weight, weight)
    # Fail before reading any data if the policy cannot merge.
    probe = policy.copy()
    try:
        probe.merge(policy.copy())
    except IncompatibleError as e:
        raise IncompatibleError(f"learn_sharded needs a mergeable policy: {e}") from e
    pa = _pa()
    files = None if isinstance(source, pa.Table) else _parquet_files(source)
    selected = reading.check_columns(_available_columns(source, files))
    state = policy.to_bytes()
    if backend == "local":
        n = workers if workers is not None else (os.cpu_count() or 1)
        shards = _local_shards(source, files, n_shards or n, selected)
        with ThreadPoolExecutor(max_workers=n) as pool:
            states = list(pool.map(lambda load: reading.learn(cls, state, load()), shards))
            if not states:
                return cls.from_bytes(state)
            final = _tree_merge(
                states, lambda pairs: list(pool.map(lambda ab: _merge_states(cls, *ab), pairs))
            )
        return cls.from_bytes(final)
    return _learn_ray(cls, state, source, files, n_shards, reading, selected)


def _learn_block(batch: Any, cls_name: str, state: bytes, reading: _Reading) -> Any:
    """A Ray Data batch function: one block of logs -> one learned state."""
    pa = _pa()
    new = reading.learn(_policy_by_name(cls_name), state, batch)
    return pa.table({"state": pa.array([new], pa.binary())})


def _merge_remote_pair(cls_name: str, a: bytes, b: bytes) -> bytes:
    return _merge_states(_policy_by_name(cls_name), a, b)


def _learn_ray(
    cls: type,
    state: bytes,
    source: Any,
    files: list[str] | None,
    n_shards: int | None,
    reading: _Reading,
    columns: list[str],
) -> Any:
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise ImportError("the ray backend needs Ray: pip install 'regretless[ray]'") from e
    if not ray.is_initialized():
        ray.init()
    if n_shards is None:
        n_shards = max(int(ray.cluster_resources().get("CPU", 1)), 1)
    n_shards = check_positive_int(n_shards, "n_shards")
    if files is None:
        ds = ray.data.from_arrow(source.select(columns))
    else:
        ds = ray.data.read_parquet(files).select_columns(columns)
    ds = ds.repartition(n_shards)
    learned = ds.map_batches(
        _learn_block,
        batch_size=None,
        batch_format="pyarrow",
        fn_kwargs={"cls_name": cls.__name__, "state": state, "reading": reading},
    )
    states = [row["state"] for row in learned.take_all()]
    if not states:
        return cls.from_bytes(state)
    merge = ray.remote(num_cpus=1)(_merge_remote_pair)
    name = cls.__name__

    def merge_round(pairs: list[tuple[Any, Any]]) -> list[Any]:
        return [merge.remote(name, a, b) for a, b in pairs]

    # Merge tasks take object refs as arguments, so the tree runs in Ray without
    # gathering intermediate states on the driver.
    final = _tree_merge([ray.put(s) for s in states], merge_round)
    return cls.from_bytes(ray.get(final))
