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
Given an output directory, every finished cell is written atomically and durably to its
own Parquet file, so a re-run skips finished cells and an interruption loses at most the
cells in flight; the combined table is written to ``results.parquet`` at the end.

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

The modules: :mod:`~regretless.experiment.grid` (declaring a grid),
:mod:`~regretless.experiment.runner` (running it, crash-safe result files),
:mod:`~regretless.experiment.report` (reading, summaries, plots) and
:mod:`~regretless.experiment.sharded` (distributed learning from logs).
"""

from __future__ import annotations

from regretless.experiment.grid import ENV_KINDS, Cell, EnvSpec, Grid, PolicySpec, load_grid
from regretless.experiment.report import (
    final_summary,
    format_summary,
    plot_regret,
    read_results,
    summarize,
)
from regretless.experiment.runner import CELLS_DIR, RESULTS_FILE, run, run_cell
from regretless.experiment.sharded import learn_sharded

__all__ = [
    "CELLS_DIR",
    "ENV_KINDS",
    "RESULTS_FILE",
    "Cell",
    "EnvSpec",
    "Grid",
    "PolicySpec",
    "final_summary",
    "format_summary",
    "learn_sharded",
    "load_grid",
    "plot_regret",
    "read_results",
    "run",
    "run_cell",
    "summarize",
]
