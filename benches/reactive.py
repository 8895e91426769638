"""Reactive rewards: regret of each setting's policy and of plain multi-armed baselines on the
instances of ALGORITHMS.md section 5, over growing horizons.

For each setting (recovering rewards, last-switch-dependent payoffs, weighted tallying) the
script runs ``regretless.simulate_reactive`` for every policy, horizon and seed, and writes a
table (mean regret ± standard error at each horizon, against the setting's reference policy
and against the exact optimal schedule where the state space allows it, and the log-log slope
of the reference regret) and, if matplotlib is installed, a log-log plot, one of each per
setting, into ``benches/results``.

    python benches/reactive.py                     # horizons 2e3 .. 1.28e5, 5 seeds
    python benches/reactive.py --seeds 20 --max-horizon 512000
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable
from pathlib import Path

import numpy as np
import regretless
from regretless import (
    LSDEnv,
    LSDExploreCommit,
    PeriodicUCB,
    RecoveringEnv,
    TallyingElimination,
    TallyingEnv,
    simulate_reactive,
)

RESULTS = Path(__file__).resolve().parent / "results"

Factory = Callable[[int, int], object]  # (horizon, seed) -> policy


def settings() -> dict[str, tuple[object, dict[str, Factory], str]]:
    """setting -> (environment, policies, what the reference policy is)."""
    recovering = RecoveringEnv.exponential([0.9, 0.7, 0.5], [3.0, 1.0, 0.5], 5, seed=0)
    lsd = LSDEnv([[0.9, 0.5, 0.2], [0.7, 0.6, 0.5]], [[0.3, 0.6, 0.9], [0.2, 0.4, 0.8]], seed=0)
    tallying = TallyingEnv([0.6, 0.0], [0.0, 0.9], [0.05] * 20, seed=0)
    baselines: dict[str, Factory] = {
        "UCB1": lambda h, s, k=None: regretless.UCB1(k, seed=s),
        "ThompsonSampling": lambda h, s, k=None: regretless.ThompsonSampling(k, seed=s),
    }

    def with_arms(k: int, own: dict[str, Factory]) -> dict[str, Factory]:
        out = dict(own)
        for name, make in baselines.items():
            out[name] = lambda h, s, make=make: make(h, s, k)
        return out

    return {
        "recovering": (
            recovering,
            with_arms(3, {"PeriodicUCB": lambda h, s: PeriodicUCB(3, 5, horizon=h, seed=s)}),
            "purely periodic policy of the relaxation with the true curves",
        ),
        "lsd": (
            lsd,
            with_arms(
                2, {"LSDExploreCommit": lambda h, s: LSDExploreCommit(2, 3, horizon=h, seed=s)}
            ),
            "best cycle (length <= 8) on the true payoffs",
        ),
        "tallying": (
            tallying,
            with_arms(
                2,
                {
                    "TallyingElimination": lambda h, s: TallyingElimination(
                        2, 20, horizon=h, seed=s
                    ),
                    "SuccessiveElimination": lambda h, s: regretless.SuccessiveElimination(
                        2, seed=s
                    ),
                },
            ),
            "best constant arm (played consistently)",
        ),
    }


def run_setting(env, policies: dict[str, Factory], horizons: list[int], seeds: int):
    bench = {name: np.zeros((len(horizons), seeds)) for name in policies}
    opt = {name: np.full((len(horizons), seeds), np.nan) for name in policies}
    for i, h in enumerate(horizons):
        for name, make in policies.items():
            for s in range(seeds):
                run = simulate_reactive(make(h, s), env, h, seed=1000 + s)
                bench[name][i, s] = run["benchmark_regret"][-1]
                if run["regret"] is not None:
                    opt[name][i, s] = run["regret"][-1]
    return bench, opt


def fmt(v: np.ndarray) -> str:
    if np.isnan(v).all():
        return "n/a"
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return f"{v.mean():.0f} ± {se:.0f}"


def table(setting: str, reference: str, horizons, bench, opt) -> str:
    lines = [
        f"# {setting}: regret against the reference ({reference}) / against the exact optimum",
        "| policy | " + " | ".join(f"T={h}" for h in horizons) + " | slope |",
        "|---" * (len(horizons) + 2) + "|",
    ]
    for name in bench:
        means = bench[name].mean(axis=1)
        slope = np.polyfit(np.log(horizons), np.log(means), 1)[0] if (means > 0).all() else np.nan
        cells = [f"{fmt(bench[name][i])} / {fmt(opt[name][i])}" for i in range(len(horizons))]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {slope:.2f} |")
    return "\n".join(lines)


def plot(path: Path, setting: str, horizons, bench) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, v in bench.items():
        m = np.maximum(v.mean(axis=1), 1e-9)
        ax.loglog(horizons, m, marker="o", label=name)
    ax.set_xlabel("horizon T")
    ax.set_ylabel("regret against the reference policy")
    ax.set_title(f"reactive rewards: {setting}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--min-horizon", type=int, default=2000)
    parser.add_argument("--max-horizon", type=int, default=128_000)
    parser.add_argument("--only", choices=["recovering", "lsd", "tallying"], default=None)
    args = parser.parse_args()
    horizons = []
    h = args.min_horizon
    while h <= args.max_horizon:
        horizons.append(h)
        h *= 4
    RESULTS.mkdir(exist_ok=True)
    day = datetime.date.today().isoformat()
    for setting, (env, policies, reference) in settings().items():
        if args.only and setting != args.only:
            continue
        bench, opt = run_setting(env, policies, horizons, args.seeds)
        text = table(setting, reference, horizons, bench, opt)
        print(text + "\n")
        stem = RESULTS / f"reactive-{setting}-{day}"
        stem.with_suffix(".txt").write_text(
            text + f"\n\n{args.seeds} seeds; regretless {regretless.__version__}\n"
        )
        plot(stem.with_suffix(".png"), setting, horizons, bench)


if __name__ == "__main__":
    main()
