"""BKB's default width against the reference width and exact GP-UCB (issue 15).

The kernel bench instance of ``kernel_scaling.py``: A = 1000 candidates uniform in [0, 1]^3,
RBF kernel (lengthscales 0.2 and 0.5), the objective one draw of the GP prior, noise sd 0.1.
Cumulative regret at T (mean over seeds) of: GPUCB with its defaults (noise 0.01,
beta_scale 1); BKB with its defaults (the width shared with GP-UCB, beta_scale 1, qbar 4);
BKB with beta_scale 0.2 (the authors' "divide by 5", as GPUCB 0.2); and BKB with the
reference width (beta_scale None) at lam = noise variance = 0.01, and at lam = 0.1 with
and without noise_variance = 0.01 (raising lam shrinks the dictionary; with the noise
variance kept apart the width no longer grows with it).

    python benches/bkb_width.py                 # T = 2000, 2 seeds
"""

from __future__ import annotations

import argparse

import numpy as np
import regretless
from regretless import BKB, GPUCB, RBF


def gp_draw(X: np.ndarray, ls: float, seed: int) -> np.ndarray:
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    K = np.exp(-0.5 * d2 / ls**2) + 1e-8 * np.eye(len(X))
    return np.linalg.cholesky(K) @ np.random.default_rng(seed).standard_normal(len(X))


def run(policy, f: np.ndarray, T: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    noise = 0.1 * rng.standard_normal(T)
    best, total = f.max(), 0.0
    for t in range(T):
        i = policy.select()
        policy.update(i, float(f[i] + noise[t]))
        total += best - f[i]
    return total


def policies(X, ls):
    return {
        "GPUCB defaults": lambda s: GPUCB(X, RBF(ls), seed=s),
        "BKB defaults": lambda s: BKB(X, RBF(ls), seed=s),
        "BKB beta_scale=0.2": lambda s: BKB(X, RBF(ls), beta_scale=0.2, seed=s),
        "GPUCB beta_scale=0.2": lambda s: GPUCB(X, RBF(ls), beta_scale=0.2, seed=s),
        "BKB ref width lam=0.01": lambda s: BKB(X, RBF(ls), beta_scale=None, seed=s),
        "BKB ref width lam=0.1": lambda s: BKB(X, RBF(ls), lam=0.1, beta_scale=None, seed=s),
        "BKB ref width lam=0.1 nv=0.01": lambda s: BKB(
            X, RBF(ls), lam=0.1, beta_scale=None, noise_variance=0.01, seed=s
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    X = np.random.default_rng(0).uniform(size=(1000, 3))
    print(f"regretless {regretless.__version__}: A = 1000, d = 3, T = {args.T}, {args.seeds} seeds")
    for ls in (0.2, 0.5):
        f = gp_draw(X, ls, 1)
        res = {}
        for name, make in policies(X, ls).items():
            res[name] = np.mean([run(make(s), f, args.T, 100 + s) for s in range(args.seeds)])
        base = res["GPUCB defaults"]
        print(f"\nlengthscale {ls}")
        for name, r in res.items():
            print(f"  {name:32} regret {r:9.1f}   / GPUCB defaults {r / base:6.2f}")


if __name__ == "__main__":
    main()
