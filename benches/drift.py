"""Drift: regret of the forgetting and change-detecting policies against UCB1 and Thompson
sampling on the piecewise-stationary instance of ALGORITHMS.md section 9 (K = 3 Bernoulli
arms, the best arm changes at T/3 and 2T/3).

Regret is dynamic: each step is charged against the best arm of the segment in force. Prints
a table of mean regret (with standard errors) per segment and in total, writes it to
``--out`` and, if matplotlib is installed, the mean regret curves next to it.

    python benches/drift.py                        # T = 10**4, 100 seeds
    python benches/drift.py --horizon 100000 --seeds 20
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import numpy as np
import regretless

RESULTS = Path(__file__).resolve().parent / "results"
# The instance of tests/test_drift.py. At the first change the old best arm falls while
# UCB1's long-run mean of it stays high (UCB1 keeps playing it); at the second the new best
# arm is one UCB1 has hardly pulled (its wide index finds it at once).
SEGMENT_MEANS = np.array([[0.9, 0.1, 0.5], [0.1, 0.1, 0.5], [0.1, 0.9, 0.1]])


def lineup(horizon: int) -> dict[str, regretless.Bandit]:
    return {
        "UCB1": regretless.UCB1(3),
        "ThompsonSampling": regretless.ThompsonSampling(3),
        "SlidingWindowUCB(horizon=T)": regretless.SlidingWindowUCB(3, horizon=horizon),
        "DiscountedUCB(horizon=T)": regretless.DiscountedUCB(3, horizon=horizon),
        "DiscountedThompsonSampling(gamma=0.99)": regretless.DiscountedThompsonSampling(
            3, gamma=0.99
        ),
        # Change detection with restarts, tuned with the horizon and the 2 change points.
        "CUSUMUCB(horizon=T, n_changes=2)": regretless.CUSUMUCB(3, horizon=horizon, n_changes=2),
        "GLRUCB(horizon=T)": regretless.GLRUCB(3, horizon=horizon),
    }


def run(horizon: int, seeds: int, seed: int) -> tuple[list[int], dict[str, np.ndarray]]:
    changes = [horizon // 3, 2 * horizon // 3]
    env = regretless.PiecewiseBernoulliEnv(SEGMENT_MEANS, changes)
    curves = {}
    for name, policy in lineup(horizon).items():
        res = regretless.simulate(policy, env, horizon=horizon, n_runs=seeds, seed=seed)
        curves[name] = res.regret  # (seeds, horizon), record_every = 1
    return changes, curves


def table(horizon: int, changes: list[int], curves: dict[str, np.ndarray]) -> str:
    bounds = [0, *changes, horizon]
    head = ["policy"] + [f"segment {s + 1}" for s in range(len(bounds) - 1)] + ["total"]
    rows = [head]
    for name, regret in curves.items():
        padded = np.concatenate([np.zeros((regret.shape[0], 1)), regret], axis=1)
        cells = [name]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            seg = padded[:, hi] - padded[:, lo]
            cells.append(f"{seg.mean():.1f} ± {seg.std(ddof=1) / np.sqrt(len(seg)):.1f}")
        total = padded[:, -1]
        cells.append(f"{total.mean():.1f} ± {total.std(ddof=1) / np.sqrt(len(total)):.1f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def plot(path: Path, changes: list[int], curves: dict[str, np.ndarray]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, regret in curves.items():
        ax.plot(np.arange(1, regret.shape[1] + 1), regret.mean(axis=0), label=name)
    for c in changes:
        ax.axvline(c, color="grey", linestyle=":")
    ax.set_xlabel("step")
    ax.set_ylabel("mean cumulative dynamic regret")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    default_out = RESULTS / f"drift-{datetime.date.today().isoformat()}.txt"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    changes, curves = run(args.horizon, args.seeds, args.seed)
    text = (
        f"Piecewise-stationary Bernoulli, means by segment {SEGMENT_MEANS.tolist()}, "
        f"changes at {changes}, T = {args.horizon}, {args.seeds} seeds; dynamic regret\n"
        + table(args.horizon, changes, curves)
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"wrote {args.out}")
    plot(args.out.with_suffix(".png"), changes, curves)


if __name__ == "__main__":
    main()
