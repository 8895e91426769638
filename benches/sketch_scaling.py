"""Sketched against exact LinUCB at embedding sizes (issue 20): time of a single decision, an
online step (select + update), a batch fit and batch scoring, at d = 384 and 768 with K = 16.

Policies: ``LinUCB`` (exact, O(d^2) per arm and decision) and ``SketchedLinUCB`` with
sketch sizes 16, 32 and 64 (O(m d)). Every policy is first fitted on the same ``--warm`` rows
(so the sketches have shrunk and the exact inverses are dense), then timed on fresh rows:
``decision`` (median of ``select(x)``), ``step`` (median of ``select`` + ``update``),
``fit`` (rows/s of one ``update_batch`` of ``--fit`` rows into a fresh policy) and
``scoring`` (rows/s of ``scores`` on ``--score`` rows). Contexts are Gaussian, normalized
to unit length like sentence embeddings; rewards linear plus noise.

The machine is shared: run alone, quote medians and ratios. Writes
``benches/results/sketch-scaling-<date>.json`` unless ``--no-save``.

    python benches/sketch_scaling.py
    python benches/sketch_scaling.py --dims 32 --arms 4 --warm 200 --steps 50 --fit 500 \\
        --score 200 --sizes 4 8 --no-save            # a quick check that it runs
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
import regretless


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def make(m: int | None, k: int, d: int):
    if m is None:
        return regretless.LinUCB(k, d, alpha=1.0, seed=0)
    return regretless.SketchedLinUCB(k, d, sketch_size=m, alpha=1.0, seed=0)


def measure(m: int | None, k: int, d: int, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(d)
    theta = rng.standard_normal((k, d)) / np.sqrt(d)
    Xw = unit_rows(rng, args.warm, d)
    aw = rng.integers(0, k, args.warm)
    rw = (Xw * theta[aw]).sum(1) + 0.1 * rng.standard_normal(args.warm)
    policy = make(m, k, d)
    policy.update_batch(Xw, aw, rw)

    Xs = unit_rows(rng, args.steps, d)
    select, update = policy.select, policy.update
    decision = np.empty(args.steps)
    for i in range(args.steps):
        t0 = time.perf_counter()
        select(Xs[i])
        decision[i] = time.perf_counter() - t0
    step = np.empty(args.steps)
    for i in range(args.steps):
        x = Xs[i]
        t0 = time.perf_counter()
        a = select(x)
        update(x, a, float(x @ theta[a]))
        step[i] = time.perf_counter() - t0

    Xf = unit_rows(rng, args.fit, d)
    af = rng.integers(0, k, args.fit)
    rf = (Xf * theta[af]).sum(1)
    fresh = make(m, k, d)
    t0 = time.perf_counter()
    fresh.update_batch(Xf, af, rf)
    fit = args.fit / (time.perf_counter() - t0)

    Xq = unit_rows(rng, args.score, d)
    t0 = time.perf_counter()
    policy.scores(Xq)
    scoring = args.score / (time.perf_counter() - t0)
    return {
        "policy": "LinUCB" if m is None else f"SketchedLinUCB(m={m})",
        "d": d,
        "K": k,
        "decision_us": float(np.median(decision) * 1e6),
        "step_us": float(np.median(step) * 1e6),
        "fit_rows_per_s": fit,
        "scoring_rows_per_s": scoring,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[384, 768])
    ap.add_argument("--arms", type=int, default=16)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--warm", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--fit", type=int, default=20000)
    ap.add_argument("--score", type=int, default=5000)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()

    rows = []
    header = f"{'policy':<22}{'d':>5}{'decision us':>13}{'step us':>10}{'fit rows/s':>13}"
    print(header + f"{'score rows/s':>14}")
    for d in args.dims:
        for m in [None, *args.sizes]:
            r = measure(m, args.arms, d, args)
            rows.append(r)
            print(
                f"{r['policy']:<22}{d:>5}{r['decision_us']:>13.1f}{r['step_us']:>10.1f}"
                f"{r['fit_rows_per_s']:>13.0f}{r['scoring_rows_per_s']:>14.0f}"
            )
    if not args.no_save:
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        path = out / f"sketch-scaling-{datetime.date.today().isoformat()}.json"
        path.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
        print("wrote", path)


if __name__ == "__main__":
    main()
