"""Switching costs: regret, switches and regret + c * switches of EXP3, BatchedExp3,
ShrinkingDartboard, UCB1 and UCB2 over a geometric grid of horizons (ALGORITHMS.md section 6).

Two instances: a stochastic one with a clear gap (Bernoulli 0.8 / 0.5 / 0.2), and a "near-equal"
one whose best arm leads by 0.5 sqrt(K / T) (no policy can separate the arms, so randomized
policies keep switching). Each horizon-tuned policy gets horizon=T. Prints a table per
instance (mean over seeds), the log-log slope of regret + c * switches and of switches against
T per policy, writes them to ``--out`` and, if matplotlib is installed, a plot next to it.

    python benches/switching.py                         # T = 1e3 .. 1e6, 8 seeds, c = 1
    python benches/switching.py --max-exponent 5 --seeds 20 --cost 0.5
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable
from pathlib import Path

import numpy as np
import regretless

RESULTS = Path(__file__).resolve().parent / "results"
K = 3


def lineup() -> dict[str, Callable[[int], regretless.Bandit]]:
    return {
        "EXP3(horizon=T)": lambda t: regretless.EXP3(K, horizon=t),
        "BatchedExp3(horizon=T)": lambda t: regretless.BatchedExp3(K, horizon=t),
        "ShrinkingDartboard(horizon=T)": lambda t: regretless.ShrinkingDartboard(K, horizon=t),
        "UCB1": lambda t: regretless.UCB1(K),
        "UCB2(alpha=0.5)": lambda t: regretless.UCB2(K),
    }


INSTANCES: dict[str, Callable[[int], regretless.BernoulliEnv]] = {
    "gap (0.8, 0.5, 0.2)": lambda t: regretless.BernoulliEnv([0.8, 0.5, 0.2]),
    "near-equal (0.5 + 0.5 sqrt(K/T), 0.5, 0.5)": lambda t: regretless.BernoulliEnv(
        [0.5 + 0.5 * np.sqrt(K / t), 0.5, 0.5]
    ),
}


def run(horizons: list[int], seeds: int, seed: int, cost: float) -> dict:
    """results[instance][policy] = (regret, switches) arrays over horizons (means)."""
    results: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for inst, env_for in INSTANCES.items():
        results[inst] = {}
        for name, make in lineup().items():
            regret, switches = [], []
            for t in horizons:
                res = regretless.simulate(
                    make(t), env_for(t), horizon=t, n_runs=seeds, seed=seed, record_every=t
                )
                regret.append(float(res.final_regret().mean()))
                switches.append(float(res.n_switches.mean()))
            results[inst][name] = (np.array(regret), np.array(switches))
    return results


def slope(xs: list[int], ys: np.ndarray) -> float:
    ys = np.maximum(ys, 1e-9)
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def table(horizons: list[int], results: dict, cost: float) -> str:
    out = []
    for inst, by_policy in results.items():
        out.append(f"\n### {inst}; regret / switches / regret + {cost:g} * switches\n")
        head = ["policy"] + [f"T={t:.0e}" for t in horizons] + ["slope(cost)", "slope(sw)"]
        rows = [head]
        for name, (regret, switches) in by_policy.items():
            charged = regret + cost * switches
            cells = [name]
            for r, s, c in zip(regret, switches, charged, strict=True):
                cells.append(f"{r:.0f} / {s:.0f} / {c:.0f}")
            cells.append(f"{slope(horizons, charged):.2f}")
            cells.append(f"{slope(horizons, switches):.2f}")
            rows.append(cells)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)) + " |")
        out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in rows[1:]:
            out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(out)


def plot(path: Path, horizons: list[int], results: dict, cost: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for row, (inst, by_policy) in enumerate(results.items()):
        for name, (regret, switches) in by_policy.items():
            axes[row, 0].loglog(horizons, regret + cost * switches, "o-", label=name)
            axes[row, 1].loglog(horizons, np.maximum(switches, 0.5), "o-", label=name)
        t = np.array(horizons, dtype=float)
        for ax, y0 in ((axes[row, 0], (regret + cost * switches)[0]), (axes[row, 1], 10.0)):
            ax.loglog(t, y0 * (t / t[0]) ** (2 / 3), "k:", label="T^(2/3)")
        axes[row, 0].set_title(f"{inst}: regret + {cost:g} * switches", fontsize=9)
        axes[row, 1].set_title(f"{inst}: switches", fontsize=9)
        for ax in axes[row]:
            ax.set_xlabel("horizon T")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-exponent", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cost", type=float, default=1.0)
    default_out = RESULTS / f"switching-{datetime.date.today().isoformat()}.txt"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    horizons = [int(10**e) for e in np.arange(3, args.max_exponent + 0.01, 0.5)]
    results = run(horizons, args.seeds, args.seed, args.cost)
    text = (
        f"Switching costs, K = {K}, {args.seeds} seeds, cost {args.cost:g} per switch; "
        f"cells are mean regret / switches / regret + cost * switches; slopes are log-log "
        f"fits over T\n" + table(horizons, results, args.cost)
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"wrote {args.out}")
    plot(args.out.with_suffix(".png"), horizons, results, args.cost)


if __name__ == "__main__":
    main()
