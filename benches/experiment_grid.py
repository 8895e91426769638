"""Throughput of a 1000-cell experiment grid (issue 7).

Compares, on the same 1000 cells (10 policies x 2 Bernoulli environments x 50 seeds, one
run per cell):

* ``experiment.run`` on the local backend, in memory and writing one Parquet file per cell
  (plus the combined file) to a temporary directory, with 1 and 2 workers;
* a plain ``multiprocessing.Pool`` over per-cell Python calls, each playing its cell's
  select/update loop from Python (``policy.select()``, ``policy.update(arm, reward)``),
  which is what one writes without the experiment module;
* the same pool with each call running ``regretless.simulate`` for its cell, which
  isolates the cost of the orchestration from that of the loop.

Each variant is timed ``--repeats`` times; the median is reported with cells per second
and the ratio to the experiment module with 2 workers. The machine is shared: quote
ratios, not absolute times.

    python benches/experiment_grid.py [--horizon 1000] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import regretless
from regretless import experiment
from regretless.experiment import EnvSpec, Grid, PolicySpec

MEANS = {
    "easy": [0.2, 0.4, 0.8],
    "hard": [0.45, 0.5, 0.5, 0.55, 0.6],
}


def make_grid(horizon: int) -> Grid:
    policies = [
        *PolicySpec.sweep("UCB1", alpha=[0.5, 1.0, 2.0]),
        *PolicySpec.sweep("EpsilonGreedy", epsilon=[0.05, 0.1]),
        "KLUCB",
        "ThompsonSampling",
        "BayesUCB",
        "MOSS",
        PolicySpec("EXP3", {"horizon": horizon}),
    ]
    envs = [EnvSpec(name, "bernoulli", means=m) for name, m in MEANS.items()]
    return Grid(policies, envs, seeds=range(50), horizon=horizon, record_every=horizon // 10)


def python_loop_cell(cell: experiment.Cell) -> float:
    """One cell played from Python, one select/update call pair per step."""
    means = np.asarray(cell.env.means)
    policy = cell.build_policy(len(means))
    rng = np.random.default_rng(cell.seed)
    draws = rng.random((cell.horizon, len(means))) < means
    select, update = policy.select, policy.update
    best = means.max()
    regret = 0.0
    for t in range(cell.horizon):
        arm = select()
        update(arm, float(draws[t, arm]))
        regret += best - means[arm]
    return regret


def simulate_cell(cell: experiment.Cell) -> float:
    """One cell as one regretless.simulate call (the loop in Rust)."""
    return float(experiment.run_cell(cell).column("regret").to_numpy()[-1])


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args()
    grid = make_grid(args.horizon)
    cells = grid.cells
    n = len(cells)
    ctx = mp.get_context("spawn")

    def run_to_disk(workers: int) -> None:
        with tempfile.TemporaryDirectory() as d:
            experiment.run(grid, d, workers=workers)

    def pool_map(fn: Callable[[experiment.Cell], float], processes: int) -> Callable[[], None]:
        def go() -> None:
            with ctx.Pool(processes) as pool:
                pool.map(fn, cells, chunksize=max(1, n // (8 * processes)))

        return go

    variants: list[tuple[str, Callable[[], object]]] = [
        ("experiment.run, 2 workers, in memory", lambda: experiment.run(grid, workers=2)),
        ("experiment.run, 1 worker, in memory", lambda: experiment.run(grid, workers=1)),
        ("experiment.run, 2 workers, Parquet per cell", lambda: run_to_disk(2)),
        ("experiment.run, 1 worker, Parquet per cell", lambda: run_to_disk(1)),
        ("mp.Pool(2), Python select/update loop", pool_map(python_loop_cell, 2)),
        ("mp.Pool(1), Python select/update loop", pool_map(python_loop_cell, 1)),
        ("mp.Pool(2), regretless.simulate per cell", pool_map(simulate_cell, 2)),
    ]
    lines = [
        f"regretless {regretless.__version__}: {grid}",
        f"{os.cpu_count()} CPUs, load average before: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"median of {args.repeats} runs per variant",
        "",
    ]
    results = []
    for label, fn in variants:
        fn()  # warm-up (imports, pool start-up paths, page cache)
        results.append((label, timed(fn, args.repeats)))
    ref = results[0][1]
    width = max(len(label) for label, _ in results)
    lines.append(f"{'variant'.ljust(width)}  {'seconds':>8}  {'cells/s':>9}  {'x ref':>6}")
    for label, secs in results:
        lines.append(f"{label.ljust(width)}  {secs:8.3f}  {n / secs:9.0f}  {secs / ref:6.2f}")
    by = dict(results)
    lines += [
        "",
        "ratios:",
        "  Python-loop pool(2) / experiment(2 workers, memory): "
        f"{by['mp.Pool(2), Python select/update loop'] / ref:.1f}x",
        "  Python-loop pool(2) / experiment(2 workers, Parquet): "
        f"{by['mp.Pool(2), Python select/update loop'] / by[variants[2][0]]:.1f}x",
        "  simulate pool(2) / experiment(2 workers, memory): "
        f"{by['mp.Pool(2), regretless.simulate per cell'] / ref:.2f}x",
        "  speed-up 1 -> 2 workers (memory): "
        f"{by['experiment.run, 1 worker, in memory'] / ref:.2f}x",
        f"  speed-up 1 -> 2 workers (Parquet): {by[variants[3][0]] / by[variants[2][0]]:.2f}x",
        "  speed-up 1 -> 2 processes (Python loop): "
        f"{by['mp.Pool(1), Python select/update loop'] / by[variants[4][0]]:.2f}x",
        "load average after: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
