"""Exact LinUCB / LinTS at embedding sizes (issue 20): batch scoring and batch decisions on
n rows, and single decisions with ``precision="float32"`` against ``"float64"``.

Single decisions of the two precisions alternate in one process (their ratio is the
figure; absolute times depend on the machine's load). For a before/after of the batch
paths, run the script with the old and the new extension alternately
(``PYTHONPATH=<old checkout>/python python benches/exact_precision.py --batch-only``);
an old extension without ``precision`` is detected and measured in float64 only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import regretless


def fitted(cls, k, d, precision, rng, **kw):
    try:
        p = cls(k, d, precision=precision, seed=0, **kw)
    except TypeError:
        if precision != "float64":
            return None
        p = cls(k, d, seed=0, **kw)
    n = 4 * d
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    p.update_batch(X, rng.integers(0, k, n), rng.standard_normal(n))
    return p


def best_of(method, X, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        method(X)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", type=int, nargs="*", default=[384, 768])
    ap.add_argument("--arms", type=int, default=16)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--batch-only", action="store_true")
    args = ap.parse_args()
    k = args.arms
    for d in args.dims:
        rng = np.random.default_rng(d)
        Q = rng.standard_normal((args.rows, d)) / np.sqrt(d)
        ucb = fitted(regretless.LinUCB, k, d, "float64", rng)
        ts = fitted(regretless.LinTS, k, d, "float64", rng)
        n = args.rows
        s = best_of(ucb.scores, Q, 3)
        b = best_of(ucb.select_batch, Q, 3)
        t = best_of(ts.select_batch, Q, 3)
        print(
            f"d={d} K={k} n={n}: LinUCB scores {n / s:.0f} rows/s, LinUCB select_batch "
            f"{n / b:.0f} rows/s, LinTS select_batch {n / t:.0f} rows/s"
        )
        if args.batch_only:
            continue
        u32 = fitted(regretless.LinUCB, k, d, "float32", rng)
        if u32 is None:
            print("  (no precision option in this build)")
            continue
        u64 = fitted(regretless.LinUCB, k, d, "float64", np.random.default_rng(d + 1))
        u32 = fitted(regretless.LinUCB, k, d, "float32", np.random.default_rng(d + 1))
        m = args.decisions
        rows = Q[:m] if m <= n else rng.standard_normal((m, d))
        t64, t32 = [], []
        for _ in range(5):
            for p, acc in ((u64, t64), (u32, t32)):
                t0 = time.perf_counter()
                for x in rows:
                    p.select(x)
                acc.append((time.perf_counter() - t0) / m)
        a64, a32 = sorted(t64)[len(t64) // 2], sorted(t32)[len(t32) // 2]
        print(
            f"d={d} K={k}: LinUCB.select float64 {1e6 * a64:.0f} us, float32 "
            f"{1e6 * a32:.0f} us (median of 5 alternating rounds): {a64 / a32:.2f}x"
        )


if __name__ == "__main__":
    main()
