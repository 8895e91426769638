"""Running a grid: cells on a local thread pool or as Ray tasks, with crash-safe results.

Every finished cell is written to ``out/cells/<cell_id>.parquet`` through a temporary file
that is fsynced, renamed into place, and made durable with an fsync of the directory, so a
crash leaves either the whole cell file or none. On resume every cell file is read and
checked (schema, cell id, row count); an empty, torn or foreign file is deleted and its
cell run again, and temporary files left by killed runs are removed.

(The module is ``runner`` rather than ``run`` so that it is not shadowed by the
:func:`regretless.experiment.run` function.)
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import pathlib
import re
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import numpy as np

import regretless
from regretless._checks import check_one_of, check_positive_int
from regretless.experiment._arrow import pa as _pa
from regretless.experiment._arrow import pq as _pq
from regretless.experiment.grid import Cell, EnvSpec, Grid, PolicySpec

__all__ = ["CELLS_DIR", "RESULTS_FILE", "run", "run_cell"]

#: File name of the combined results in an output directory.
RESULTS_FILE = "results.parquet"
#: Sub-directory of an output directory holding one Parquet file per finished cell.
CELLS_DIR = "cells"
#: Temporary files are ``.<final name>.<pid>.tmp`` beside the final file.
_TMP = re.compile(r"^\.(?P<name>.+\.parquet)\.(?P<pid>\d+)\.tmp$")


@functools.cache
def _schema() -> Any:
    pa = _pa()
    return pa.schema(
        [
            ("cell_id", pa.string()),
            ("policy", pa.string()),
            ("params", pa.string()),
            ("env", pa.string()),
            ("seed", pa.int64()),
            ("run", pa.int64()),
            ("step", pa.int64()),
            ("regret", pa.float64()),
            ("reward", pa.float64()),
            ("wall_seconds", pa.float64()),
        ]
    )


def run_cell(cell: Cell) -> Any:
    """Runs one cell (one :func:`regretless.simulate` call) and returns its rows as a
    ``pyarrow.Table``."""
    pa = _pa()
    env = cell.env.build()
    policy = cell.build_policy(env.n_arms)
    start = time.perf_counter()
    res = regretless.simulate(
        policy, env, cell.horizon, cell.runs, cell.seed, record_every=cell.record_every
    )
    elapsed = time.perf_counter() - start
    n_runs, n_points = res.regret.shape
    n = n_runs * n_points
    at_horizon = np.zeros((n_runs, n_points), dtype=bool)
    at_horizon[:, -1] = True
    reward = np.zeros((n_runs, n_points))
    reward[:, -1] = res.total_reward
    return pa.table(
        [
            pa.array([cell.cell_id] * n, pa.string()),
            pa.array([cell.policy.label] * n, pa.string()),
            pa.array([cell.policy.params_json()] * n, pa.string()),
            pa.array([cell.env.name] * n, pa.string()),
            pa.array(np.full(n, cell.seed, dtype=np.int64)),
            pa.array(np.repeat(np.arange(n_runs, dtype=np.int64), n_points)),
            pa.array(np.tile(res.steps.astype(np.int64), n_runs)),
            pa.array(res.regret.reshape(-1)),
            pa.array(reward.reshape(-1), mask=~at_horizon.reshape(-1)),
            pa.array(np.full(n, elapsed)),
        ],
        schema=_schema(),
    )


def _cell_payload(cell: Cell) -> dict[str, Any]:
    return {
        "cell_id": cell.cell_id,
        "policy": [cell.policy.name, cell.policy.params, cell.policy.label],
        "env": cell.env.to_dict(),
        "seed": cell.seed,
        "horizon": cell.horizon,
        "runs": cell.runs,
        "record_every": cell.record_every,
    }


def _cell_from_payload(d: dict[str, Any]) -> Cell:
    name, params, label = d["policy"]
    return Cell(
        d["cell_id"],
        PolicySpec(name, params, label),
        EnvSpec(**d["env"]),
        d["seed"],
        d["horizon"],
        d["runs"],
        d["record_every"],
    )


def _run_batch(payloads: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """A Ray task: runs a batch of cells, returns (cell id, Arrow table) pairs."""
    return [(p["cell_id"], run_cell(_cell_from_payload(p))) for p in payloads]


# --------------------------------------------------------------------------- files


def _fsync_dir(directory: pathlib.Path) -> None:
    """Makes a rename in ``directory`` durable (a no-op where directories cannot be
    opened, as on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def _write_atomic(table: Any, path: pathlib.Path) -> None:
    """Writes ``table`` to ``path`` so that a crash leaves the old file or the whole new
    one: temporary file, fsync, rename, fsync of the directory. The temporary file is
    removed if anything fails (including KeyboardInterrupt)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            _pq().write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or cannot tell: keep its file
    return True


def _remove_stale_tmp(directory: pathlib.Path) -> list[pathlib.Path]:
    """Deletes temporary files of runs whose process is gone (killed mid-write); files
    of a live process (another run writing to the same directory) are kept."""
    removed = []
    if not directory.is_dir():
        return removed
    for f in directory.iterdir():
        m = _TMP.match(f.name)
        if m and not _pid_alive(int(m.group("pid"))):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
            removed.append(f)
    return removed


def _expected_rows(cell: Cell) -> int:
    # simulate records every record_every steps and at the horizon.
    return cell.runs * math.ceil(cell.horizon / cell.record_every)


def _read_cell(path: pathlib.Path, cell: Cell) -> tuple[Any, str | None]:
    """(the cell's table, None), or (None, why the file cannot be used)."""
    pa = _pa()
    try:
        table = _pq().read_table(path)
    except (pa.ArrowException, OSError) as e:
        size = path.stat().st_size if path.exists() else 0
        return None, ("it is empty" if size == 0 else f"it is not a readable Parquet file ({e})")
    if table.schema.names != _schema().names:
        return None, f"its columns are {table.schema.names}"
    if table.num_rows != _expected_rows(cell):
        return None, f"it has {table.num_rows} rows, expected {_expected_rows(cell)}"
    if table.column("cell_id").unique().to_pylist() != [cell.cell_id]:
        return None, "it holds another cell's rows"
    try:
        return table.cast(_schema()), None
    except (pa.ArrowException, ValueError) as e:
        return None, f"its column types do not match ({e})"


def _finished_cells(cells_dir: pathlib.Path, cells: list[Cell]) -> dict[str, Any]:
    """The tables of the cells already written to ``cells_dir``. A file that cannot be
    used (empty or torn by a crash on a file system that did not honour the rename
    order, or edited by hand) is deleted with a warning, so its cell runs again."""
    done = {}
    for cell in cells:
        path = cells_dir / f"{cell.cell_id}.parquet"
        if not path.exists():
            continue
        table, problem = _read_cell(path, cell)
        if table is None:
            warnings.warn(
                f"{path}: {problem}; deleting it and running {cell.describe()} again",
                RuntimeWarning,
                stacklevel=3,
            )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        done[cell.cell_id] = table
    return done


# --------------------------------------------------------------------------- running


def run(
    grid: Grid,
    out: str | os.PathLike[str] | None = None,
    *,
    backend: str = "local",
    workers: int | None = None,
    progress: bool = False,
    on_cell: Callable[[Cell, Any], None] | None = None,
    cells_per_task: int | None = None,
) -> Any:
    """Runs every cell of ``grid`` not already finished in ``out`` and returns the results
    of all cells as one ``pyarrow.Table`` in grid order.

    Args:
        grid: the :class:`Grid`.
        out: a results directory, or ``None`` to keep everything in memory. Finished cells
            go to ``out/cells/<cell_id>.parquet`` (atomically and durably, as they
            finish), and the combined table to ``out/results.parquet``. A re-run skips
            finished cells; an empty or torn cell file is deleted (with a RuntimeWarning)
            and its cell run again; temporary files of killed runs are removed.
        backend: ``"local"`` (a thread pool over the cells; each simulation releases the
            GIL) or ``"ray"`` (cells batched into Ray tasks, results gathered as Arrow;
            connects with ``ray.init()`` unless Ray is initialized already).
        workers: cells run at once (local backend; default: all cores).
        progress: show a progress bar over the cells on stderr.
        on_cell: called in the calling thread with ``(cell, table)`` after each finished
            cell has been written; an exception from it stops the run (cells in flight
            finish and are kept).
        cells_per_task: cells in one Ray task (default: about four tasks per CPU).
    """
    check_one_of(backend, "backend", ("local", "ray"))
    if workers is not None:
        check_positive_int(workers, "workers")
    if cells_per_task is not None:
        check_positive_int(cells_per_task, "cells_per_task")
    pa = _pa()
    cells_dir = None
    done: dict[str, Any] = {}
    if out is not None:
        cells_dir = pathlib.Path(out) / CELLS_DIR
        cells_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(cells_dir)
        _remove_stale_tmp(pathlib.Path(out))
        done = _finished_cells(cells_dir, grid.cells)
    todo = [c for c in grid.cells if c.cell_id not in done]
    by_id = {c.cell_id: c for c in grid.cells}

    bar = None
    if progress and todo:
        from regretless._progress import ProgressBar

        bar = ProgressBar(len(todo), label=f"cells ({len(done)} done before)")
    finished = 0

    def record(cell_id: str, table: Any, notify: bool = True) -> None:
        nonlocal finished
        if cells_dir is not None:
            _write_atomic(table, cells_dir / f"{cell_id}.parquet")
        done[cell_id] = table
        finished += 1
        if bar is not None:
            bar.update(finished)
        if on_cell is not None and notify:
            on_cell(by_id[cell_id], table)

    if todo:
        if backend == "local":
            _run_local(todo, workers, record)
        else:
            _run_ray(todo, cells_per_task, record)
    if bar is not None:
        bar.close()
    result = pa.concat_tables([done[cell.cell_id] for cell in grid.cells]).cast(_schema())
    if out is not None:
        _write_atomic(result, pathlib.Path(out) / RESULTS_FILE)
    return result


def _run_local(todo: list[Cell], workers: int | None, record: Callable[..., None]) -> None:
    n = check_positive_int(workers if workers is not None else (os.cpu_count() or 1), "workers")
    with ThreadPoolExecutor(max_workers=n) as pool:
        pending = {pool.submit(run_cell, c): c for c in todo}
        try:
            # as_completed registers one waiter for all futures (wait() in a loop would
            # re-register on every pending future after each cell: quadratic in cells).
            for fut in as_completed(pending):
                cell = pending.pop(fut)
                record(cell.cell_id, fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            # Cells already running finish: keep them (without calling back again).
            for fut, cell in pending.items():
                if not fut.cancelled() and fut.exception() is None:
                    record(cell.cell_id, fut.result(), notify=False)
            raise


def _run_ray(todo: list[Cell], cells_per_task: int | None, record: Callable[..., None]) -> None:
    try:
        import ray
    except ImportError as e:
        raise ImportError("the ray backend needs Ray: pip install 'regretless[ray]'") from e
    if not ray.is_initialized():
        ray.init()
    if cells_per_task is None:
        cpus = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        cells_per_task = max(1, math.ceil(len(todo) / (4 * cpus)))
    cells_per_task = check_positive_int(cells_per_task, "cells_per_task")
    task = ray.remote(num_cpus=1)(_run_batch)
    pending = [
        task.remote([_cell_payload(c) for c in todo[i : i + cells_per_task]])
        for i in range(0, len(todo), cells_per_task)
    ]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for cell_id, table in ray.get(ready[0]):
                record(cell_id, table)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
