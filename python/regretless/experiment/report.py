"""Reading experiment results back, summarizing them, and plotting the regret curves."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np

from regretless._checks import check_existing_path
from regretless._display import Curve, format_table, plot_curves
from regretless.exceptions import InvalidParameterError
from regretless.experiment._arrow import pa as _pa
from regretless.experiment._arrow import pq as _pq
from regretless.experiment.runner import CELLS_DIR, RESULTS_FILE, _schema

__all__ = ["final_summary", "format_summary", "plot_regret", "read_results", "summarize"]


def _read_parquet(path: pathlib.Path) -> Any:
    """A results file, or an error saying what the file is instead."""
    pa = _pa()
    try:
        table = _pq().read_table(path)
    except (pa.ArrowException, OSError) as e:
        if path.suffix.lower() == ".toml":
            why = (
                "it looks like an experiment file; run it with `regretless run "
                f"{path}`, then report the results directory that writes"
            )
        elif path.stat().st_size == 0:
            why = "the file is empty; results come from `regretless run`"
        else:
            why = f"{e}; results come from `regretless run`"
        raise InvalidParameterError(f"{path}: not a Parquet results file ({why})") from None
    missing = [n for n in _schema().names if n not in table.column_names]
    if missing:
        raise InvalidParameterError(
            f"{path}: not a Parquet results file (a Parquet file without the columns "
            f"{missing}); results come from `regretless run` or regretless.experiment.run"
        )
    return table


def read_results(source: Any) -> Any:
    """The results table from a ``pyarrow.Table``, a Parquet file, or a results directory
    (its ``results.parquet``, or else its finished cells). A path that does not exist or
    is not a results file raises InvalidParameterError saying so."""
    pa = _pa()
    if isinstance(source, pa.Table):
        return source
    p = check_existing_path(source, "results")
    if p.is_dir():
        if (p / RESULTS_FILE).exists():
            p = p / RESULTS_FILE
        else:
            files = sorted((p / CELLS_DIR).glob("*.parquet"))
            if not files:
                raise InvalidParameterError(
                    f"{p}: no results found (neither {RESULTS_FILE} nor {CELLS_DIR}/*.parquet)"
                )
            return pa.concat_tables([_read_parquet(f) for f in files])
    return _read_parquet(p)


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
    rows = [
        (r["env"], r["policy"], f"{r['step']}", f"{r['n']}", f"{r['mean']:.2f} +- {r['se']:.2f}")
        for r in final_summary(results).to_pylist()
    ]
    headers = ("env", "policy", "horizon", "runs", "final regret (mean +- se)")
    return format_table(headers, rows, left=2)


def plot_regret(results: Any, path: str | os.PathLike[str] | None = None) -> Any:
    """Regret curves (mean, band = +-2 standard errors), one panel per environment.
    Needs matplotlib (``pip install 'regretless[plot]'``). Saves to ``path`` if given and
    returns the figure."""
    s = summarize(results)
    cols = {k: s.column(k).to_numpy(zero_copy_only=False) for k in s.column_names}
    panels = {}
    for env in sorted(set(cols["env"])):
        in_env = cols["env"] == env
        curves = []
        for policy in sorted(set(cols["policy"][in_env])):
            m = in_env & (cols["policy"] == policy)
            curves.append(Curve(policy, cols["step"][m], cols["mean"][m], cols["se"][m]))
        panels[str(env)] = curves
    return plot_curves(panels, path)
