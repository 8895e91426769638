"""Drift for the linear contextual policies: LinUCB and LinTS against their discounted versions
(``decay=``, D-LinUCB of Russac, Vernade and Cappé 2019) on two drifting linear instances, and
the cost of forgetting per select+update at d = 20.

Each round draws one context x on the unit sphere (shared by the arms); arm a's mean reward is
x^T theta_a(t) with Gaussian noise (sd 0.1), and regret is dynamic (against the best arm of the
round's parameters). Instances:

- ``abrupt``: K = 3, d = 4; at T/3 the best arm becomes the worst and a bad arm the best, and
  at 2T/3 the parameters return to the first segment's.
- ``rotating``: K = 2, d = 2; arm 0's parameter turns on the unit circle (one turn over T)
  while arm 1's is fixed at (0, 0.6), so the best arm changes with x and t all the time.

Prints a table of mean regret (with standard errors) per third of the horizon and in total,
writes it to ``--out`` and, if matplotlib is installed, the mean regret curves next to it.

    python benches/drift_linear.py                   # T = 6000, 10 seeds
    python benches/drift_linear.py --horizon 20000 --seeds 5
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import regretless

RESULTS = Path(__file__).resolve().parent / "results"
NOISE = 0.1


def abrupt(T: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Contexts (T, d) and parameters (T, K, d)."""
    rng = np.random.default_rng(seed)
    k, d = 3, 4
    X = rng.standard_normal((T, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    base = np.abs(rng.standard_normal((k, d))) * 0.3
    first = base.copy()
    first[0] += 0.4
    second = base.copy()
    second[2] += 0.4
    second[0] -= 0.4
    theta = np.empty((T, k, d))
    theta[:] = first
    theta[T // 3 : 2 * T // 3] = second
    return X, theta


def rotating(T: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, 2))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    angle = 2 * np.pi * np.arange(T) / T
    theta = np.empty((T, 2, 2))
    theta[:, 0, 0], theta[:, 0, 1] = np.cos(angle), np.sin(angle)
    theta[:, 1] = (0.0, 0.6)
    return X, theta


INSTANCES = {"abrupt": abrupt, "rotating": rotating}


def lineup(k: int, d: int, gammas: list[float], seed: int) -> dict[str, object]:
    out: dict[str, object] = {
        "LinUCB(alpha=0.5)": regretless.LinUCB(k, d, alpha=0.5, seed=seed),
        "LinTS(v=0.2)": regretless.LinTS(k, d, v=0.2, seed=seed),
    }
    for g in gammas:
        out[f"LinUCB(alpha=0.5, decay={g})"] = regretless.LinUCB(
            k, d, alpha=0.5, decay=g, seed=seed
        )
    out[f"LinTS(v=0.2, decay={gammas[0]})"] = regretless.LinTS(
        k, d, v=0.2, decay=gammas[0], seed=seed
    )
    return out


def run_one(policy, X: np.ndarray, theta: np.ndarray, seed: int) -> np.ndarray:
    T = len(X)
    noise = np.random.default_rng(seed + 10_000).normal(0.0, NOISE, size=T)
    means_all = np.einsum("tkd,td->tk", theta, X)
    regret = np.empty(T)
    for t in range(T):
        a = policy.select(X[t])
        m = means_all[t]
        regret[t] = m.max() - m[a]
        policy.update(X[t], a, float(m[a] + noise[t]))
    return np.cumsum(regret)


def run(instance: str, horizon: int, seeds: int, gammas: list[float]) -> dict[str, np.ndarray]:
    curves: dict[str, list[np.ndarray]] = {}
    for s in range(seeds):
        X, theta = INSTANCES[instance](horizon, s)
        _, k, d = theta.shape
        for name, policy in lineup(k, d, gammas, s).items():
            curves.setdefault(name, []).append(run_one(policy, X, theta, s))
    return {name: np.array(c) for name, c in curves.items()}


def table(horizon: int, curves: dict[str, np.ndarray]) -> str:
    bounds = [0, horizon // 3, 2 * horizon // 3, horizon]
    head = ["policy", "first third", "second third", "last third", "total"]
    rows = [head]
    for name, regret in curves.items():
        padded = np.concatenate([np.zeros((regret.shape[0], 1)), regret], axis=1)
        cells = [name]
        for lo, hi in [*zip(bounds[:-1], bounds[1:], strict=True), (0, horizon)]:
            seg = padded[:, hi] - padded[:, lo]
            se = seg.std(ddof=1) / np.sqrt(len(seg)) if len(seg) > 1 else 0.0
            cells.append(f"{seg.mean():.1f} ± {se:.1f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def timing(k: int = 10, d: int = 20, steps: int = 2000) -> str:
    """Microseconds per select+update (median of 3 repetitions) at K arms, dimension d."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((steps, d)) / np.sqrt(d)
    r = rng.uniform(size=steps)
    lines = [f"select+update, K = {k}, d = {d}, {steps} steps, median of 3 (microseconds per step)"]
    for name, make in [
        ("LinUCB", lambda: regretless.LinUCB(k, d)),
        ("LinUCB(decay=0.99)", lambda: regretless.LinUCB(k, d, decay=0.99)),
        ("LinTS", lambda: regretless.LinTS(k, d)),
        ("LinTS(decay=0.99)", lambda: regretless.LinTS(k, d, decay=0.99)),
    ]:
        reps = []
        for _ in range(3):
            p = make()
            t0 = time.perf_counter()
            for t in range(steps):
                p.update(X[t], p.select(X[t]), float(r[t]))
            reps.append((time.perf_counter() - t0) / steps * 1e6)
        batch = make()
        t0 = time.perf_counter()
        batch.update_batch(X, rng.integers(0, k, size=steps), r)
        per_row = (time.perf_counter() - t0) / steps * 1e6
        lines.append(f"  {name:<20} {np.median(reps):8.1f}   update_batch {per_row:6.2f} per row")
    return "\n".join(lines)


def plot(path: Path, results: dict[str, dict[str, np.ndarray]], horizon: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5))
    for ax, (instance, curves) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for name, regret in curves.items():
            ax.plot(np.arange(1, horizon + 1), regret.mean(axis=0), label=name)
        if instance == "abrupt":
            for c in (horizon // 3, 2 * horizon // 3):
                ax.axvline(c, color="grey", linestyle=":")
        ax.set_title(instance)
        ax.set_xlabel("round")
        ax.set_ylabel("mean cumulative dynamic regret")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=6000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.99, 0.995])
    parser.add_argument("--no-timing", action="store_true")
    default_out = RESULTS / f"drift-linear-{datetime.date.today().isoformat()}.txt"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    results = {}
    texts = []
    for instance in INSTANCES:
        curves = run(instance, args.horizon, args.seeds, args.gammas)
        results[instance] = curves
        texts.append(
            f"{instance}: T = {args.horizon}, {args.seeds} seeds, noise sd {NOISE}; "
            "dynamic regret\n" + table(args.horizon, curves)
        )
    if not args.no_timing:
        texts.append(timing())
    text = "\n\n".join(texts)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"wrote {args.out}")
    plot(args.out.with_suffix(".png"), results, args.horizon)


if __name__ == "__main__":
    main()
