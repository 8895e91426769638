"""Dynamical linear bandits: DynLinUCB against the myopic LinUCB baseline on the authors'
synthetic configuration (Mussi, Metelli and Restelli 2023; ALGORITHMS.md section 7.1):
n = p = m = 3, A = diag(0.2, 0, 0.1), B = diag(0.45, 0, 0.1), C = diag(1, 0, 0.1),
D = diag(0, 0.5, 0.1), outputs summed, the six budget splits of 1.5 over three campaigns
capped at 1. Both policies get the true bounds (``env.bounds()``), as in the authors' runs.

Regret is the authors' steady-state measure, ``sum_t h . u* - h . u_t``. Prints a table of
mean cumulative regret (with standard errors) at T/10, T/2 and T, the second half's share,
and how many trials end on the best split; writes it to ``--out`` with a JSON of the mean
curves and, if matplotlib is installed, the mean regret curves next to it.

    python benches/dynlin.py                          # T = 10**6, 10 trials, sigma = 0.01
    python benches/dynlin.py --horizon 200000 --trials 20 --sigma 0.1
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import numpy as np
import regretless

RESULTS = Path(__file__).resolve().parent / "results"
ACTIONS = regretless.DynamicalLinearEnv.budget_splits(3)


def lineup(horizon: int, bounds: dict, seed: int) -> dict[str, object]:
    theta, sigma = bounds["theta"], bounds["sigma"]
    return {
        "DynLinUCB": regretless.DynLinUCB(ACTIONS, horizon, **bounds, seed=seed),
        "DynLinUCB(scale=0.1)": regretless.DynLinUCB(
            ACTIONS, horizon, **bounds, scale=0.1, seed=seed
        ),
        "MyopicLinUCB": regretless.MyopicLinUCB(
            ACTIONS, horizon, theta=theta, sigma=sigma, seed=seed
        ),
        "MyopicLinUCB(scale=0.1)": regretless.MyopicLinUCB(
            ACTIONS, horizon, theta=theta, sigma=sigma, scale=0.1, seed=seed
        ),
    }


def run(horizon: int, trials: int, sigma: float, seed: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for trial in range(trials):
        s = seed + trial
        bounds = regretless.DynamicalLinearEnv.synthetic(sigma).bounds()
        for name, policy in lineup(horizon, bounds, s).items():
            env = regretless.DynamicalLinearEnv.synthetic(sigma, seed=s)
            res = regretless.simulate_dynlin(policy, env, horizon)
            rec = out.setdefault(name, {"regret": [], "final": []})
            rec["regret"].append(res["regret"])
            rec["final"].append(int(res["actions"][-1]))
    return out


def table(horizon: int, results: dict[str, dict], best: int) -> str:
    marks = [horizon // 10, horizon // 2, horizon]
    head = ["policy", *[f"R({m})" for m in marks], "2nd half / 1st", "ends on best"]
    rows = [head]
    for name, rec in results.items():
        r = np.array(rec["regret"])
        cells = [name]
        for m in marks:
            v = r[:, m - 1]
            cells.append(f"{v.mean():.0f} ± {v.std(ddof=1) / np.sqrt(len(v)):.0f}")
        half = r[:, horizon // 2 - 1]
        ratio = (r[:, -1] - half) / half
        cells.append(f"{ratio.mean():.2f} (min {ratio.min():.2f}, max {ratio.max():.2f})")
        cells.append(f"{sum(f == best for f in rec['final'])}/{len(rec['final'])}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot(path: Path, horizon: int, results: dict[str, dict], sigma: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    step = max(1, horizon // 2000)
    t = np.arange(step, horizon + 1, step)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    finals = sorted(np.mean([r[-1] for r in rec["regret"]]) for rec in results.values())
    # A curve far above the others runs off the top (its final value is in the legend).
    top = 1.2 * finals[-2] if len(finals) > 1 and finals[-1] > 3 * finals[-2] else None
    for name, rec in results.items():
        r = np.array(rec["regret"])[:, step - 1 :: step]
        mean, se = r.mean(axis=0), r.std(axis=0, ddof=1) / np.sqrt(len(r))
        label = name if top is None or mean[-1] <= top else f"{name} (R(T) = {mean[-1]:.0f})"
        ax.plot(t, mean, label=label)
        ax.fill_between(t, mean - se, mean + se, alpha=0.2)
    if top is not None:
        ax.set_ylim(0, top)
    ax.set_xlabel("round")
    ax.set_ylabel("cumulative steady-state regret")
    ax.set_title(f"Authors' synthetic system, sigma = {sigma}, {len(r)} trials")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizon", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--sigma", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    stamp = datetime.date.today().isoformat()
    parser.add_argument("--out", type=Path, default=RESULTS / f"dynlin-{stamp}.txt")
    args = parser.parse_args()
    env = regretless.DynamicalLinearEnv.synthetic(args.sigma)
    h = env.steady_state_gain()
    best = int(np.argmax(ACTIONS @ h))
    results = run(args.horizon, args.trials, args.sigma, args.seed)
    text = (
        f"DynLinUCB vs myopic LinUCB, authors' synthetic system, sigma={args.sigma}, "
        f"T={args.horizon}, {args.trials} trials (seeds {args.seed}..), "
        f"h={np.round(h, 4).tolist()}, best split {ACTIONS[best].tolist()}\n\n"
        + table(args.horizon, results, best)
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    step = max(1, args.horizon // 200)
    curves = {
        name: np.array(rec["regret"])[:, step - 1 :: step].mean(axis=0).round(2).tolist()
        for name, rec in results.items()
    }
    args.out.with_suffix(".json").write_text(
        json.dumps({"every": step, "sigma": args.sigma, "mean_regret": curves})
    )
    plot(args.out.with_suffix(".png"), args.horizon, results, args.sigma)


if __name__ == "__main__":
    main()
