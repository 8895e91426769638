"""The ``regretless`` command line.

``regretless demo`` compares the multi-armed bandit family on a Bernoulli problem, with
every simulation running in Rust across all cores, prints a table of final regret and cost
per step, and writes a regret-curve PNG when matplotlib is installed.

``regretless run experiment.toml [--backend ray] [--out DIR]`` runs an experiment grid
(see :func:`regretless.experiment.load_grid`), resuming from the cells already in ``DIR``;
``regretless report results.parquet [--plot PNG]`` prints its summary and plots it;
``regretless serve service.toml [--port N]`` serves a decision service over HTTP
(:mod:`regretless.serve`).
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import regretless
from regretless._checks import check_positive_int, check_seed
from regretless._display import PLOT_HINT, Curve, format_table, plot_curves
from regretless._progress import ProgressBar
from regretless.simulation import SimulationResult

DEFAULT_MEANS = (0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)


# Stands for the run's horizon in DEMO_CONFIGS.
HORIZON = object()

# Demo configurations other than a class's defaults, as (label suffix, keyword arguments).
# Every class of regretless.POLICIES takes part, with its defaults unless listed here.
DEMO_CONFIGS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "EpsilonGreedy": [
        ("(epsilon=0.1)", {"epsilon": 0.1}),
        ("(decay=50)", {"epsilon": 1.0, "decay": 50.0}),
    ],
    "Softmax": [("(temperature=0.05)", {"temperature": 0.05})],
    "MOSS": [("(horizon=T)", {"horizon": HORIZON})],
    "KLUCB": [("", {}), ("(plus=True)", {"plus": True})],
    "EXP3": [("(horizon=T)", {"horizon": HORIZON})],
    "EXP3IX": [("(horizon=T)", {"horizon": HORIZON})],
    "SlidingWindowUCB": [("(horizon=T)", {"horizon": HORIZON})],
    "DiscountedUCB": [("(horizon=T)", {"horizon": HORIZON})],
    "CUSUMUCB": [("(horizon=T)", {"horizon": HORIZON})],
    "GLRUCB": [("(horizon=T)", {"horizon": HORIZON})],
}


def demo_lineup(n_arms: int, horizon: int) -> list[tuple[str, Callable[[], Any]]]:
    """The policies the demo compares, every class of :data:`regretless.POLICIES`, with the
    hyperparameters shown in their labels."""
    lineup: list[tuple[str, Callable[[], Any]]] = []
    for cls in regretless.POLICIES:
        for suffix, kwargs in DEMO_CONFIGS.get(cls.__name__, [("", {})]):
            resolved = {k: horizon if v is HORIZON else v for k, v in kwargs.items()}

            def make(cls: Any = cls, resolved: dict[str, Any] = resolved) -> Any:
                return cls(n_arms, **resolved)

            lineup.append((f"{cls.__name__}{suffix}", make))
    return lineup


def _bernoulli_kl(p: float, q: float) -> float:
    """kl(p, q) between Bernoulli means, with 0 log 0 = 0 (inf when q is 0 or 1 and p
    differs)."""

    def term(a: float, b: float) -> float:
        if a == 0.0:
            return 0.0
        return math.inf if b == 0.0 else a * math.log(a / b)

    return term(p, q) + term(1.0 - p, 1.0 - q)


def lai_robbins_constant(means: Sequence[float]) -> float:
    """sum_i (mu* - mu_i) / kl(mu_i, mu*): the asymptotic regret / ln T of the best
    possible policy on Bernoulli arms (Lai and Robbins 1985). An arm at infinite
    divergence from the best (the best mean is 1) adds nothing."""
    best = max(means)
    return sum((best - m) / _bernoulli_kl(m, best) for m in means if m < best)


def run_demo(
    means: Sequence[float],
    horizon: int,
    n_runs: int,
    seed: int,
    plot_path: str | None,
    show_progress: bool = True,
) -> list[tuple[str, SimulationResult]]:
    # Everything is checked before anything is printed or the progress bar starts.
    horizon = check_positive_int(horizon, "horizon")
    n_runs = check_positive_int(n_runs, "runs")
    seed = check_seed(seed)
    env = regretless.BernoulliEnv(np.asarray(means, dtype=np.float64))
    lineup = demo_lineup(len(means), horizon)
    record_every = max(1, horizon // 1000)
    threads = os.cpu_count() or 1
    print(
        f"regretless {regretless.__version__}: {len(means)} Bernoulli arms "
        f"(means {', '.join(f'{m:g}' for m in means)}), horizon {horizon:,}, "
        f"{n_runs} runs per policy, seed {seed}, {threads} threads\n"
    )
    bar = ProgressBar(len(lineup) * n_runs, label="simulating") if show_progress else None
    results = []
    for i, (label, make) in enumerate(lineup):
        offset = i * n_runs

        def report(done: int, offset: int = offset) -> None:
            if bar is not None:
                bar.update(offset + done)

        res = regretless.simulate(
            make(), env, horizon, n_runs, seed, record_every=record_every, progress=report
        )
        results.append((label, res))
    if bar is not None:
        bar.close()
    print_table(results, means, horizon)
    if plot_path:
        write_plot(results, plot_path, means, horizon, n_runs)
    return results


def print_table(
    results: list[tuple[str, SimulationResult]], means: Sequence[float], horizon: int
) -> None:
    ln_t = math.log(horizon) if horizon > 1 else math.nan
    lr = lai_robbins_constant(means)
    order = sorted(results, key=lambda r: r[1].final_regret().mean())
    rows = []
    for label, res in order:
        final = res.final_regret()
        sd = final.std(ddof=1) if len(final) > 1 else 0.0
        rows.append(
            (
                label,
                f"{final.mean():.1f} +- {sd:.1f}",
                f"{final.mean() / ln_t:.1f}",
                f"{res.seconds_per_step() * 1e9:.1f}",
            )
        )
    headers = ("policy", "final regret (mean +- sd)", "regret/lnT", "ns/step")
    print(format_table(headers, rows))
    print(
        f"\nLai-Robbins lower bound: regret/lnT -> {lr:.1f} asymptotically. "
        "ns/step is wall time per simulated step over all runs and threads."
    )


def write_plot(
    results: list[tuple[str, SimulationResult]],
    path: str,
    means: Sequence[float],
    horizon: int,
    n_runs: int,
) -> None:
    ordered = sorted(results, key=lambda r: -r[1].final_regret().mean())
    curves = [
        Curve(label, res.steps, res.mean_regret(), res.std_regret() / math.sqrt(res.n_runs))
        for label, res in ordered
    ]
    title = f"{len(means)} Bernoulli arms, {n_runs} runs per policy, horizon {horizon:,}"
    references = []
    lr = lai_robbins_constant(means)
    steps = ordered[0][1].steps
    if lr > 0 and len(steps) > 0:
        # C ln t bounds the regret of a consistent policy only as t -> inf; at a finite
        # horizon a good policy can sit below it.
        t = steps[steps > 1].astype(np.float64)
        references.append(
            (
                f"Lai-Robbins asymptotic lower bound {lr:.1f} ln t (holds as T -> inf)",
                t,
                lr * np.log(t),
            )
        )
    try:
        plot_curves({title: curves}, path, log_scale=True, reference_lines=references)
    except ImportError:
        print(f"({PLOT_HINT} for the regret plot)")
        return
    print(f"regret curves written to {path}")


def run_experiment(args: argparse.Namespace) -> int:
    from regretless import experiment

    path = pathlib.Path(args.experiment)
    out = pathlib.Path(args.out) if args.out else path.with_name(f"{path.stem}-results")
    try:
        grid = experiment.load_grid(path)
        print(f"{grid}; results in {out}")
        table = experiment.run(
            grid,
            out,
            backend=args.backend,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except (regretless.RegretlessError, OSError) as e:
        print(f"regretless run: {e}", file=sys.stderr)
        return 2
    print(experiment.format_summary(table))
    print(f"\n{table.num_rows} rows written to {out / experiment.RESULTS_FILE}")
    return 0


def report_results(args: argparse.Namespace) -> int:
    from regretless import experiment

    try:
        table = experiment.read_results(args.results)
    except (regretless.RegretlessError, OSError) as e:
        print(f"regretless report: {e}", file=sys.stderr)
        return 2
    print(experiment.format_summary(table))
    if args.plot:
        try:
            experiment.plot_regret(table, args.plot)
        except ImportError as e:
            print(f"({e})")
        else:
            print(f"regret curves written to {args.plot}")
    return 0


def _parse_means(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.2,0.5,0.8, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (every option has a help text)."""
    parser = argparse.ArgumentParser(
        prog="regretless",
        description=(
            "Bandit algorithms with a Rust core: demos, experiment grids, reports and a "
            "decision service."
        ),
        epilog=(
            "examples:\n"
            "  regretless demo --horizon 10000\n"
            "  regretless run experiment.toml --out results\n"
            "  regretless report results --plot curves.png\n"
            "  regretless serve service.toml --port 8000"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"regretless {regretless.__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="compare the multi-armed bandit family on a Bernoulli problem"
    )
    demo.add_argument("--horizon", type=int, default=100_000, help="steps per run (default 100000)")
    demo.add_argument("--runs", type=int, default=20, help="runs per policy (default 20)")
    demo.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    demo.add_argument(
        "--means",
        type=_parse_means,
        default=list(DEFAULT_MEANS),
        help="comma-separated arm means (default: 10 arms from 0.9 down to 0.1)",
    )
    demo.add_argument(
        "--plot", default="regretless-demo.png", help="PNG path for the regret curves"
    )
    demo.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run = sub.add_parser("run", help="run an experiment grid declared in a TOML file")
    run.add_argument("experiment", help="experiment TOML file")
    run.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where the cells run: 'local' (threads on this machine, the default) or 'ray' "
        "(tasks on a Ray cluster; needs pip install 'regretless[ray]')",
    )
    run.add_argument(
        "--out", default=None, help="results directory (default: <experiment name>-results)"
    )
    run.add_argument("--workers", type=int, default=None, help="cells at once (local backend)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    report = sub.add_parser("report", help="summarize the results of an experiment")
    report.add_argument("results", help="results.parquet (or a results directory)")
    report.add_argument("--plot", default=None, help="PNG path for the regret curves")
    serve = sub.add_parser(
        "serve", help="serve a DecisionService over HTTP (needs pip install 'regretless[serve]')"
    )
    serve.add_argument("config", help="service TOML file (see regretless.serve)")
    serve.add_argument("--port", type=int, default=None, help="TCP port (default: config or 8000)")
    serve.add_argument(
        "--host", default=None, help="address to bind (default: config or 127.0.0.1)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return run_experiment(args)
    if args.command == "report":
        return report_results(args)
    if args.command == "serve":
        from regretless import serve

        try:
            return serve.run(args.config, args.port, args.host)
        except (regretless.RegretlessError, OSError) as e:
            print(f"regretless serve: {e}", file=sys.stderr)
            return 2
    if args.command == "demo":
        try:
            run_demo(
                args.means,
                args.horizon,
                args.runs,
                args.seed,
                None if args.no_plot else args.plot,
                show_progress=not args.no_progress,
            )
        except regretless.RegretlessError as e:
            print(f"regretless demo: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
