"""Experiments at scale: grids of simulations and distributed learning.

A :class:`Grid` crosses policies (a class name with hyperparameters, optionally swept)
with environments and seeds. Every cell -- one policy, one environment, one seed -- runs
``runs`` independent simulations in Rust (:func:`regretless.simulate`, GIL released), and
:func:`run` spreads the cells over all cores (``backend="local"``) or over a Ray cluster
(``backend="ray"``, the ``ray`` extra). The same grid gives the same numbers on both.

Results are one ``pyarrow`` table with a row per run and checkpoint: ``cell_id``,
``policy`` (a label with the hyperparameters), ``params`` (JSON), ``env``, ``seed``,
``run``, ``step``, ``regret`` (cumulative), ``reward`` (cumulative reward collected,
known at the horizon only, null before) and ``wall_seconds`` (the cell's wall time).
Given an output directory, every finished cell is written atomically to its own Parquet
file, so a re-run skips finished cells and an interruption loses at most the cells in
flight; the combined table is written to ``results.parquet`` at the end.

>>> import regretless
>>> from regretless import experiment
>>> grid = experiment.Grid(
...     policies=[experiment.PolicySpec("UCB1", {"alpha": 0.5}), "ThompsonSampling"],
...     envs=[experiment.EnvSpec("easy", "bernoulli", means=[0.2, 0.8])],
...     seeds=[0, 1],
...     horizon=500,
...     runs=2,
...     record_every=100,
... )
>>> len(grid.cells)
4
>>> table = experiment.run(grid)
>>> table.num_rows  # 4 cells x 2 runs x 5 checkpoints
40
>>> summary = experiment.final_summary(table)
>>> summary.column("policy").to_pylist()
['ThompsonSampling', 'UCB1(alpha=0.5)']
>>> summary.column("n").to_pylist()
[4, 4]

Distributed learning (:func:`learn_sharded`) splits a log into shards, updates one copy
of a policy per shard in parallel, and merges the copies in a tree: the result equals
learning on all rows in one place, for policies whose statistics add up.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import pathlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import regretless
from regretless.exceptions import IncompatibleError, InvalidParameterError

__all__ = [
    "Cell",
    "EnvSpec",
    "Grid",
    "PolicySpec",
    "final_summary",
    "learn_sharded",
    "load_grid",
    "plot_regret",
    "read_results",
    "run",
    "run_cell",
    "summarize",
]

#: File name of the combined results in an output directory.
RESULTS_FILE = "results.parquet"
#: Sub-directory of an output directory holding one Parquet file per finished cell.
CELLS_DIR = "cells"

ENV_KINDS = ("bernoulli", "gaussian", "table")
_RESERVED = ("n_arms", "seed")


def _pa() -> Any:
    try:
        import pyarrow as pa
    except ImportError as e:  # pragma: no cover - exercised only without pyarrow
        raise ImportError("regretless.experiment needs pyarrow: pip install pyarrow") from e
    return pa


def _pq() -> Any:
    _pa()
    import pyarrow.parquet as pq

    return pq


# ---------------------------------------------------------------------------------------
# Grid declaration
# ---------------------------------------------------------------------------------------


def _format_value(v: Any) -> str:
    return repr(v) if isinstance(v, str) else f"{v}"


@dataclass(frozen=True)
class PolicySpec:
    """A multi-armed policy class (by name, see :data:`regretless.POLICIES`) with fixed
    hyperparameters. ``n_arms`` comes from the environment and ``seed`` from the cell.

    >>> PolicySpec("UCB1", {"alpha": 2.0}).label
    'UCB1(alpha=2.0)'
    >>> [s.label for s in PolicySpec.sweep("MOSS", horizon=[100, 1000])]
    ['MOSS(horizon=100)', 'MOSS(horizon=1000)']
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.name, type):
            object.__setattr__(self, "name", self.name.__name__)
        object.__setattr__(self, "params", dict(sorted(dict(self.params).items())))
        if self.label is None:
            inner = ", ".join(f"{k}={_format_value(v)}" for k, v in self.params.items())
            object.__setattr__(self, "label", f"{self.name}({inner})" if inner else self.name)

    @staticmethod
    def sweep(name: str | type, label: str | None = None, **params: Any) -> list[PolicySpec]:
        """One spec per combination of the hyperparameter values: a list value is swept,
        a scalar is fixed."""
        keys = sorted(params)
        axes = [params[k] if isinstance(params[k], (list, tuple)) else [params[k]] for k in keys]
        specs = []
        for combo in itertools.product(*axes):
            p = dict(zip(keys, combo, strict=True))
            specs.append(PolicySpec(name, p, label if label is None else label.format(**p)))
        return specs

    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)


@dataclass(frozen=True)
class EnvSpec:
    """A named environment: ``kind`` is ``"bernoulli"`` (``means``), ``"gaussian"``
    (``means``, ``sd``) or ``"table"`` (``rewards``, a ``(steps, arms)`` array).

    >>> EnvSpec("hard", "gaussian", means=[0.0, 0.1], sd=0.5).build().n_arms
    2
    """

    name: str
    kind: str = "bernoulli"
    means: Sequence[float] | None = None
    sd: float = 1.0
    rewards: Any = None

    def build(self) -> Any:
        """The environment object."""
        if self.kind == "bernoulli":
            return regretless.BernoulliEnv(np.asarray(self._means(), dtype=np.float64))
        if self.kind == "gaussian":
            return regretless.GaussianEnv(
                np.asarray(self._means(), dtype=np.float64), sd=float(self.sd)
            )
        if self.kind == "table":
            if self.rewards is None:
                raise InvalidParameterError(f"env {self.name!r}: a table env needs rewards")
            return regretless.TableEnv(np.asarray(self.rewards, dtype=np.float64))
        raise InvalidParameterError(
            f"env {self.name!r}: unknown kind {self.kind!r}; choose from {', '.join(ENV_KINDS)}"
        )

    def _means(self) -> Sequence[float]:
        if self.means is None:
            raise InvalidParameterError(f"env {self.name!r}: a {self.kind} env needs means")
        return self.means

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind in ("bernoulli", "gaussian"):
            d["means"] = [float(m) for m in np.asarray(self._means(), dtype=np.float64)]
        if self.kind == "gaussian":
            d["sd"] = float(self.sd)
        if self.kind == "table":
            d["rewards"] = np.asarray(self.rewards, dtype=np.float64).tolist()
        return d

    def fingerprint(self) -> str:
        d = self.to_dict()
        if self.kind == "table":
            # Hash the table rather than embedding it in every cell's identity.
            arr = np.ascontiguousarray(np.asarray(self.rewards, dtype=np.float64))
            d["rewards"] = [list(arr.shape), hashlib.sha256(arr.tobytes()).hexdigest()]
        return json.dumps(d, sort_keys=True)


@dataclass(frozen=True)
class Cell:
    """One grid cell: ``runs`` simulations of one policy in one environment from one seed."""

    cell_id: str
    policy: PolicySpec
    env: EnvSpec
    seed: int
    horizon: int
    runs: int
    record_every: int

    def describe(self) -> str:
        return f"cell {self.policy.label} x env {self.env.name!r} x seed {self.seed}"

    def build_policy(self, n_arms: int) -> Any:
        cls = _policy_class(self.policy.name, self.describe())
        return cls(n_arms, **self.policy.params, seed=self.seed)


def _policy_class(name: str, where: str) -> type:
    by_name = {c.__name__: c for c in regretless.POLICIES}
    if name not in by_name:
        raise InvalidParameterError(
            f"{where}: unknown policy {name!r}; choose from {', '.join(sorted(by_name))}"
        )
    return by_name[name]


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(f"{name}: expected an integer, got {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise InvalidParameterError(f"{name}: must be {bound}, got {value}")
    return int(value)


class Grid:
    """Policies x environments x seeds, validated completely on construction.

    Args:
        policies: :class:`PolicySpec` objects, class names or classes (no
            hyperparameters), or lists of specs (as returned by :meth:`PolicySpec.sweep`).
        envs: :class:`EnvSpec` objects with distinct names.
        seeds: base seeds in ``[0, 2**63)``; a cell's ``runs`` simulations derive their
            streams from it exactly as :func:`regretless.simulate` does.
        horizon: steps per run.
        runs: independent runs per cell.
        record_every: record the regret every this many steps (and at the horizon).

    Every policy is constructed once for every arm count among the environments and
    simulated for one step in every environment, so an unknown policy, an invalid
    hyperparameter (:class:`~regretless.InvalidParameterError`) or a policy that cannot
    take an environment's rewards (:class:`~regretless.IncompatibleError`) raises an error
    naming the cell before anything runs.

    >>> Grid(["UCB2"], [EnvSpec("e", means=[0.1, 0.2])], seeds=[0], horizon=10)
    Traceback (most recent call last):
    ...
    regretless.exceptions.InvalidParameterError: cell UCB2 x env 'e' x seed 0: unknown policy ...
    """

    def __init__(
        self,
        policies: Iterable[PolicySpec | str | type | Sequence[PolicySpec]],
        envs: Iterable[EnvSpec],
        seeds: Iterable[int],
        horizon: int,
        runs: int = 1,
        record_every: int = 1,
    ) -> None:
        flat: list[PolicySpec] = []
        for p in policies:
            if isinstance(p, (list, tuple)):
                flat.extend(p)
            elif isinstance(p, PolicySpec):
                flat.append(p)
            elif isinstance(p, (str, type)):
                flat.append(PolicySpec(p))
            else:
                raise InvalidParameterError(f"policies: expected PolicySpec or a name, got {p!r}")
        self.policies = flat
        self.envs = list(envs)
        self.seeds = [_check_int(s, "seeds", 0, 2**63) for s in seeds]
        self.horizon = _check_int(horizon, "horizon", 1)
        self.runs = _check_int(runs, "runs", 1)
        self.record_every = _check_int(record_every, "record_every", 1)
        if not self.policies or not self.envs or not self.seeds:
            raise InvalidParameterError("a grid needs at least one policy, env and seed")
        names = [e.name for e in self.envs]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"envs: names must be distinct, got {names}")
        labels = [p.label for p in self.policies]
        if len(set(labels)) != len(labels):
            raise InvalidParameterError(f"policies: labels must be distinct, got {labels}")
        self.cells = [
            self._make_cell(p, e, s) for p in self.policies for e in self.envs for s in self.seeds
        ]
        self._validate()

    def _make_cell(self, p: PolicySpec, e: EnvSpec, seed: int) -> Cell:
        key = json.dumps(
            [p.name, p.params_json(), p.label, e.fingerprint(), seed]
            + [self.horizon, self.runs, self.record_every]
        )
        cell_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        return Cell(cell_id, p, e, seed, self.horizon, self.runs, self.record_every)

    def _validate(self) -> None:
        built: dict[str, Any] = {}
        for cell in self.cells:
            where = cell.describe()
            if cell.env.name not in built:
                try:
                    env = cell.env.build()
                except regretless.RegretlessError as e:
                    raise type(e)(f"{where}: {e}") from e
                if cell.env.kind == "table" and env.n_steps < self.horizon:
                    raise InvalidParameterError(
                        f"{where}: the reward table has {env.n_steps} rows, fewer than "
                        f"the horizon {self.horizon}"
                    )
                built[cell.env.name] = env
        checked: set[tuple[str, int]] = set()
        for cell in self.cells:
            where = cell.describe()
            n_arms = built[cell.env.name].n_arms
            key = (cell.policy.label, n_arms)
            if key in checked:
                continue
            checked.add(key)
            for k, v in cell.policy.params.items():
                if k in _RESERVED:
                    raise InvalidParameterError(
                        f"{where}: {k} is set by the grid, not a hyperparameter"
                    )
                if not isinstance(v, (bool, int, float, str)):
                    raise InvalidParameterError(
                        f"{where}: hyperparameter {k}={v!r} is not a number, bool or string"
                    )
            try:
                cell.build_policy(n_arms)
            except TypeError as e:
                raise InvalidParameterError(f"{where}: invalid hyperparameter: {e}") from e
            except regretless.RegretlessError as e:
                if str(e).startswith(where):
                    raise
                raise type(e)(f"{where}: {e}") from e
        # One step of every (policy, env) pair: the reward-domain checks of simulate
        # (e.g. UCB1 needs rewards in [0, 1]) fail here rather than mid-run.
        paired: set[tuple[str, str]] = set()
        for cell in self.cells:
            if (cell.policy.label, cell.env.name) in paired:
                continue
            paired.add((cell.policy.label, cell.env.name))
            env = built[cell.env.name]
            try:
                regretless.simulate(cell.build_policy(env.n_arms), env, 1, 1, 0)
            except regretless.RegretlessError as e:
                raise type(e)(f"{cell.describe()}: {e}") from e

    def __len__(self) -> int:
        return len(self.cells)

    def __repr__(self) -> str:
        return (
            f"Grid({len(self.policies)} policies x {len(self.envs)} envs x "
            f"{len(self.seeds)} seeds = {len(self.cells)} cells, horizon {self.horizon}, "
            f"{self.runs} runs per cell)"
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: str | os.PathLike[str] = ".") -> Grid:
        """A grid from the structure of an experiment TOML file (see :func:`load_grid`)."""
        d = dict(d)
        known = {"horizon", "runs", "seeds", "record_every", "policy", "env"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidParameterError(f"experiment: unknown keys {unknown}")
        if "horizon" not in d:
            raise InvalidParameterError("experiment: horizon is required")
        seeds = d.get("seeds", [0])
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            seeds = list(range(_check_int(seeds, "seeds", 1)))
        policies: list[PolicySpec] = []
        for i, p in enumerate(d.get("policy", [])):
            p = dict(p)
            where = f"policy #{i + 1}"
            if "name" not in p:
                raise InvalidParameterError(f"{where}: name is required")
            extra = sorted(set(p) - {"name", "label", "params", "sweep"})
            if extra:
                raise InvalidParameterError(
                    f"{where} ({p['name']}): unknown keys {extra}; hyperparameters go in "
                    "params = {...} (fixed) or sweep = {...} (lists of values)"
                )
            params = dict(p.get("params", {}))
            sweep = dict(p.get("sweep", {}))
            for k, v in sweep.items():
                if not isinstance(v, list) or not v:
                    raise InvalidParameterError(
                        f"{where} ({p['name']}): sweep.{k} must be a non-empty list"
                    )
            if sweep:
                policies.extend(PolicySpec.sweep(p["name"], p.get("label"), **params, **sweep))
            else:
                policies.append(PolicySpec(p["name"], params, p.get("label")))
        envs = []
        for i, e in enumerate(d.get("env", [])):
            e = dict(e)
            where = f"env #{i + 1}"
            extra = sorted(set(e) - {"name", "kind", "means", "sd", "rewards", "path"})
            if extra:
                raise InvalidParameterError(f"{where}: unknown keys {extra}")
            if "path" in e:
                e["rewards"] = np.load(pathlib.Path(base_dir) / e.pop("path"))
                e.setdefault("kind", "table")
            envs.append(EnvSpec(**{"name": f"env{i + 1}", **e}))
        return cls(
            policies,
            envs,
            seeds,
            horizon=d["horizon"],
            runs=d.get("runs", 1),
            record_every=d.get("record_every", 1),
        )


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """A grid from a TOML file::

        horizon = 10000
        runs = 8               # runs per cell
        seeds = 3              # or a list: [0, 1, 2]
        record_every = 100

        [[policy]]
        name = "UCB1"
        sweep = { alpha = [0.5, 1.0, 2.0] }   # one policy per value

        [[policy]]
        name = "MOSS"
        params = { horizon = 10000 }           # fixed hyperparameters

        [[env]]
        name = "easy"
        kind = "bernoulli"
        means = [0.2, 0.5, 0.8]

    A ``table`` env takes ``rewards = [[...], ...]`` or ``path = "rewards.npy"`` (relative
    to the TOML file).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    p = pathlib.Path(path)
    with p.open("rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise InvalidParameterError(f"{p}: invalid TOML: {e}") from e
    return Grid.from_dict(data, base_dir=p.parent)


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


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


def _write_atomic(table: Any, path: pathlib.Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _pq().write_table(table, tmp)
    os.replace(tmp, path)


def _finished_cells(cells_dir: pathlib.Path, cells: list[Cell]) -> dict[str, pathlib.Path]:
    done = {}
    for cell in cells:
        path = cells_dir / f"{cell.cell_id}.parquet"
        if path.exists():
            done[cell.cell_id] = path
    return done


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
            go to ``out/cells/<cell_id>.parquet`` (atomically, as they finish), and the
            combined table to ``out/results.parquet``. A re-run skips finished cells.
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
    if backend not in ("local", "ray"):
        raise InvalidParameterError(f"backend: expected 'local' or 'ray', got {backend!r}")
    pa = _pa()
    cells_dir = None
    done: dict[str, Any] = {}
    if out is not None:
        cells_dir = pathlib.Path(out) / CELLS_DIR
        cells_dir.mkdir(parents=True, exist_ok=True)
        done = dict(_finished_cells(cells_dir, grid.cells))
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
    tables = []
    for cell in grid.cells:
        t = done[cell.cell_id]
        tables.append(_pq().read_table(t) if isinstance(t, pathlib.Path) else t)
    result = pa.concat_tables(tables).cast(_schema())
    if out is not None:
        _write_atomic(result, pathlib.Path(out) / RESULTS_FILE)
    return result


def _run_local(todo: list[Cell], workers: int | None, record: Callable[..., None]) -> None:
    n = workers if workers is not None else (os.cpu_count() or 1)
    n = _check_int(n, "workers", 1)
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
    cells_per_task = _check_int(cells_per_task, "cells_per_task", 1)
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


# ---------------------------------------------------------------------------------------
# Reading, summaries and plots
# ---------------------------------------------------------------------------------------


def read_results(source: Any) -> Any:
    """The results table from a ``pyarrow.Table``, a Parquet file, or a results directory
    (its ``results.parquet``, or else its finished cells)."""
    pa = _pa()
    if isinstance(source, pa.Table):
        return source
    p = pathlib.Path(source)
    if p.is_dir():
        if (p / RESULTS_FILE).exists():
            p = p / RESULTS_FILE
        else:
            files = sorted((p / CELLS_DIR).glob("*.parquet"))
            if not files:
                raise InvalidParameterError(f"{p}: no results found")
            return pa.concat_tables([_pq().read_table(f) for f in files])
    return _pq().read_table(p)


def summarize(results: Any) -> Any:
    """Mean and standard error of the cumulative regret by policy, environment and step,
    over all runs of all seeds: columns ``policy``, ``env``, ``step``, ``n``, ``mean``,
    ``se`` (0 when ``n`` is 1), sorted by policy, env and step."""
    pa = _pa()
    import pyarrow.compute as pc

    t = read_results(results)
    g = t.group_by(["policy", "env", "step"]).aggregate(
        [
            ("regret", "count"),
            ("regret", "mean"),
            ("regret", "stddev", pc.VarianceOptions(ddof=1)),
        ]
    )
    n = g.column("regret_count").to_numpy()
    sd = g.column("regret_stddev").to_numpy(zero_copy_only=False)
    sd = np.where(np.isnan(sd.astype(float)), 0.0, sd.astype(float))
    out = pa.table(
        {
            "policy": g.column("policy"),
            "env": g.column("env"),
            "step": g.column("step"),
            "n": pa.array(n.astype(np.int64)),
            "mean": g.column("regret_mean"),
            "se": pa.array(sd / np.sqrt(n)),
        }
    )
    return out.sort_by([("policy", "ascending"), ("env", "ascending"), ("step", "ascending")])


def final_summary(results: Any) -> Any:
    """:func:`summarize` at the last recorded step of each policy and environment, sorted
    by env and mean final regret (best first)."""
    import pyarrow.compute as pc

    s = summarize(results)
    last = s.group_by(["policy", "env"]).aggregate([("step", "max")])
    joined = s.join(last, ["policy", "env"])
    final = joined.filter(pc.equal(joined.column("step"), joined.column("step_max")))
    final = final.select(["policy", "env", "step", "n", "mean", "se"])
    return final.sort_by([("env", "ascending"), ("mean", "ascending"), ("policy", "ascending")])


def format_summary(results: Any) -> str:
    """The final summary as an aligned text table."""
    f = final_summary(results).to_pylist()
    headers = ("env", "policy", "horizon", "runs", "final regret (mean +- se)")
    rows = [
        (r["env"], r["policy"], f"{r['step']}", f"{r['n']}", f"{r['mean']:.2f} +- {r['se']:.2f}")
        for r in f
    ]
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if j < 2 else c.rjust(w)
                for j, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def plot_regret(results: Any, path: str | os.PathLike[str] | None = None) -> Any:
    """Regret curves (mean, band = +-2 standard errors), one panel per environment.
    Needs matplotlib (``pip install 'regretless[plot]'``). Saves to ``path`` if given and
    returns the figure."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install 'regretless[plot]'") from e
    s = summarize(results)
    envs = sorted(set(s.column("env").to_pylist()))
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs), 4.5), squeeze=False)
    cols = {k: s.column(k).to_numpy(zero_copy_only=False) for k in s.column_names}
    for ax, env in zip(axes[0], envs, strict=True):
        in_env = cols["env"] == env
        for policy in sorted(set(cols["policy"][in_env])):
            m = in_env & (cols["policy"] == policy)
            step, mean, se = cols["step"][m], cols["mean"][m], cols["se"][m]
            (line,) = ax.plot(step, mean, label=policy, lw=1.5)
            ax.fill_between(step, mean - 2 * se, mean + 2 * se, color=line.get_color(), alpha=0.2)
        ax.set_title(env)
        ax.set_xlabel("step")
        ax.set_ylabel("cumulative regret (band: +-2 standard errors)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


# ---------------------------------------------------------------------------------------
# Distributed learning
# ---------------------------------------------------------------------------------------


def _policy_by_name(name: str) -> type:
    classes = {c.__name__: c for c in (*regretless.POLICIES, *regretless.CONTEXTUAL_POLICIES)}
    classes["HybridLinUCB"] = regretless.HybridLinUCB
    if name not in classes:
        raise InvalidParameterError(f"policy: {name} cannot be learned from logs")
    return classes[name]


def _is_contextual(cls: type) -> bool:
    return cls in regretless.CONTEXTUAL_POLICIES


def _contexts(column: Any, name: str) -> np.ndarray:
    """An ``(n, d)`` float64 array from a list or fixed-size-list column."""
    import pyarrow.compute as pc

    col = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    n = len(col)
    if n == 0:
        return np.zeros((0, 0))
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    d = int(lengths[0])
    if not np.all(lengths == d):
        raise InvalidParameterError(f"{name}: every context must have the same length")
    values = col.flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values.reshape(n, d), dtype=np.float64)


def _update_from_table(
    cls: type, state: bytes, table: Any, columns: dict[str, str | None]
) -> bytes:
    """Loads ``state``, updates it with every row of ``table``, returns the new state."""
    policy = cls.from_bytes(state)
    if table.num_rows:
        arms = np.ascontiguousarray(
            table.column(columns["arm"]).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        rewards = np.ascontiguousarray(
            table.column(columns["reward"]).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        if _is_contextual(cls):
            X = _contexts(table.column(columns["context"]), columns["context"] or "")
            w = None
            if columns["weight"] is not None:
                w = np.ascontiguousarray(
                    table.column(columns["weight"]).to_numpy(zero_copy_only=False),
                    dtype=np.float64,
                )
            policy.update_batch(X, arms, rewards, w)
        else:
            policy.update_batch(arms, rewards)
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


def _local_shards(source: Any, n_shards: int, columns: list[str]) -> list[Callable[[], Any]]:
    """Loaders of contiguous shards: slices of a table, or groups of Parquet row groups."""
    pa = _pa()
    pq = _pq()
    if isinstance(source, pa.Table):
        n = source.num_rows
        bounds = np.linspace(0, n, min(n_shards, max(n, 1)) + 1).astype(int)
        return [
            (lambda a=a, b=b: source.slice(a, b - a).select(columns))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
    paths = _parquet_files(source)
    units = []
    for path in paths:
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
        p = pathlib.Path(s)
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.rglob("*.parquet")))
        elif p.exists():
            files.append(str(p))
        else:
            raise InvalidParameterError(f"source: {p} does not exist")
    return files


def learn_sharded(
    policy: Any,
    source: Any,
    *,
    backend: str = "local",
    n_shards: int | None = None,
    workers: int | None = None,
    context: str = "x",
    arm: str = "arm",
    reward: str = "reward",
    weight: str | None = None,
) -> Any:
    """Learns ``policy`` from a logged dataset split into shards, in parallel.

    Every shard updates its own copy of ``policy`` (with ``update_batch``); the copies are
    then combined with ``merge`` pairwise in a tree. Model state crosses threads and
    processes only as ``to_bytes()``. For policies whose statistics add up (the
    multi-armed index policies, ``LinUCB``, ``LinTS``, ``LinGreedy``, ...), the result
    equals learning on all rows in one place, up to floating-point rounding.

    Args:
        policy: an untrained policy (``n_updates == 0``) that supports ``merge``; it is
            not modified. To continue a trained policy, merge the result into it.
        source: a ``pyarrow.Table``, or a Parquet file, a directory of Parquet files or a
            list of either.
        backend: ``"local"``: shards are groups of Parquet row groups (or slices of the
            table), learned on a thread pool. ``"ray"``: the data is read with Ray Data
            (``read_parquet``, or ``from_arrow`` for a table), repartitioned into
            ``n_shards`` blocks, each block learned in a Ray task, and the tree merged in
            Ray tasks.
        n_shards: number of shards (default: the number of workers or Ray CPUs).
        workers: threads of the local backend (default: all cores).
        context, arm, reward, weight: column names. ``context`` is a list or fixed-size
            list column of floats (contextual policies only); ``weight`` is optional.

    >>> import numpy as np, pyarrow as pa, regretless
    >>> from regretless.experiment import learn_sharded
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3))
    >>> arms = rng.integers(0, 2, 1000)
    >>> rewards = X[:, 0] * (arms == 1) + rng.normal(0, 0.1, 1000)
    >>> logs = pa.table({"x": list(X), "arm": arms, "reward": rewards})
    >>> sharded = learn_sharded(regretless.LinUCB(2, 3), logs, n_shards=4)
    >>> direct = regretless.LinUCB(2, 3)
    >>> direct.update_batch(X, arms, rewards)
    >>> bool(np.allclose(sharded.coefficients(), direct.coefficients(), atol=1e-9))
    True
    """
    if backend not in ("local", "ray"):
        raise InvalidParameterError(f"backend: expected 'local' or 'ray', got {backend!r}")
    cls = _policy_by_name(type(policy).__name__)
    if policy.n_updates != 0:
        raise InvalidParameterError(
            "policy: learn_sharded starts from an untrained policy (every shard starts "
            "from it, so its data would count once per shard); merge the result into a "
            "trained policy instead"
        )
    # Fail before reading any data if the policy cannot merge.
    probe = policy.copy()
    try:
        probe.merge(policy.copy())
    except IncompatibleError as e:
        raise IncompatibleError(f"learn_sharded needs a mergeable policy: {e}") from e
    contextual = _is_contextual(cls)
    names = {
        "context": context if contextual else None,
        "arm": arm,
        "reward": reward,
        "weight": weight if contextual else None,
    }
    if weight is not None and not contextual:
        raise InvalidParameterError("weight: only contextual policies take weights")
    columns = [c for c in names.values() if c is not None]
    state = policy.to_bytes()
    if backend == "local":
        n = _check_int(workers if workers is not None else (os.cpu_count() or 1), "workers", 1)
        shards = _local_shards(source, _check_int(n_shards or n, "n_shards", 1), columns)
        with ThreadPoolExecutor(max_workers=n) as pool:
            states = list(
                pool.map(lambda load: _update_from_table(cls, state, load(), names), shards)
            )
            if not states:
                return cls.from_bytes(state)
            final = _tree_merge(
                states, lambda pairs: list(pool.map(lambda ab: _merge_states(cls, *ab), pairs))
            )
        return cls.from_bytes(final)
    return _learn_ray(cls, state, source, n_shards, names, columns)


def _learn_block(batch: Any, cls_name: str, state: bytes, names: dict[str, Any]) -> Any:
    """A Ray Data batch function: one block of logs -> one learned state."""
    pa = _pa()
    new = _update_from_table(_policy_by_name(cls_name), state, batch, names)
    return pa.table({"state": pa.array([new], pa.binary())})


def _merge_remote_pair(cls_name: str, a: bytes, b: bytes) -> bytes:
    return _merge_states(_policy_by_name(cls_name), a, b)


def _learn_ray(
    cls: type,
    state: bytes,
    source: Any,
    n_shards: int | None,
    names: dict[str, Any],
    columns: list[str],
) -> Any:
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise ImportError("the ray backend needs Ray: pip install 'regretless[ray]'") from e
    pa = _pa()
    if not ray.is_initialized():
        ray.init()
    if n_shards is None:
        n_shards = max(int(ray.cluster_resources().get("CPU", 1)), 1)
    n_shards = _check_int(n_shards, "n_shards", 1)
    if isinstance(source, pa.Table):
        ds = ray.data.from_arrow(source.select(columns))
    else:
        ds = ray.data.read_parquet(_parquet_files(source)).select_columns(columns)
    ds = ds.repartition(n_shards)
    learned = ds.map_batches(
        _learn_block,
        batch_size=None,
        batch_format="pyarrow",
        fn_kwargs={"cls_name": cls.__name__, "state": state, "names": names},
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
