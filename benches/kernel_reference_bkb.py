"""The reference BKB's per-step work in numpy/scipy, for a same-run speed comparison.

A transcription (written for this benchmark, from ALGORITHMS.md 1.2) of what the authors'
reference BKB does at every step: resample the dictionary from scratch with
``p_i = min(1, qbar n_i sigma_i^2)``, evaluate ``K(D, S)`` and ``K(S, S)``, take the SVD of
``K_SS`` and the embedding ``Z = K(D, S) U S^{-1/2}`` (dropping singular values below
``s_max m eps``), ``A_t = Z_P^T N Z_P + lam I`` with its QR factorization, ``w``, the means,
the variances of every candidate through ``(Z Q) R^{-1}`` (a triangular solve), and the
reference width ``beta_t``. SciPy's ``svd``, ``qr`` and ``solve_triangular`` and the
kernel ``exp(-cdist(X / l, S / l, 'sqeuclidean') / 2)`` (scikit-learn's RBF) are the ones
the reference calls. Needs numpy and scipy (the peers venv has both); regretless is not
imported.

    /work/.venv-peers/bin/python benches/kernel_reference_bkb.py --T 2000 --out ref.json

Prints mean ms per step and writes per-step times, cumulative regret and dictionary sizes
as JSON (read by ``kernel_scaling.py --reference-python``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.linalg import qr, solve_triangular, svd
from scipy.spatial.distance import cdist


def rbf(a: np.ndarray, b: np.ndarray, ls: float) -> np.ndarray:
    return np.exp(-0.5 * cdist(a / ls, b / ls, "sqeuclidean"))


class ReferenceBKB:
    def __init__(self, X, ls, lam, qbar, fnorm=1.0, noise_variance=None, delta=0.5, seed=0):
        self.X, self.ls, self.lam, self.qbar = X, ls, lam, qbar
        self.fnorm, self.delta = fnorm, delta
        self.noise_variance = lam if noise_variance is None else noise_variance
        self.rng = np.random.RandomState(seed)
        self.A = len(X)
        self.kdiag = np.ones(self.A)
        self.counts = np.zeros(self.A)
        self.y = np.zeros(self.A)
        self.var = self.kdiag / lam
        self.means = np.zeros(self.A)
        self.beta = 1.0
        self.m = 0

    def select(self) -> int:
        return int(np.argmax(self.means + self.beta * np.sqrt(self.var)))

    def update(self, i: int, reward: float) -> None:
        self.counts[i] += 1
        self.y[i] += reward
        keep = self.rng.rand(self.A) < self.var * self.counts * self.qbar
        if not keep.any():
            keep[i] = True
        D = self.X[keep]
        Kmm = rbf(D, D, self.ls)
        Kkm = rbf(self.X, D, self.ls)
        U, S, _ = svd(Kmm)
        stable = S > S.max() * len(S) * np.finfo(float).eps
        Z = Kkm @ (U[:, stable] / np.sqrt(S[stable]))
        norms = np.square(np.linalg.norm(Z, axis=1))
        self.m = int(stable.sum())
        P = self.counts != 0
        Zp = Z[P] * np.sqrt(self.counts[P])[:, None]
        At = Zp.T @ Zp + self.lam * np.eye(self.m)
        Q, R = qr(At)
        w = solve_triangular(R, Q.T @ (Z[P].T @ self.y[P]))
        self.means = Z @ w
        tmp = solve_triangular(R, (Z @ Q).T, overwrite_b=True, check_finite=False).T
        tmp *= Z
        self.var = (self.kdiag - norms) / self.lam + tmp.sum(axis=1)
        logdet = (self.var * self.counts).sum() * np.log(self.counts.sum())
        self.beta = np.sqrt(self.lam) * self.fnorm + np.sqrt(
            self.noise_variance * (logdet + np.log(1 / self.delta))
        )


def gp_draw(X: np.ndarray, ls: float, seed: int) -> np.ndarray:
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    K = np.exp(-0.5 * d2 / ls**2) + 1e-8 * np.eye(len(X))
    return np.linalg.cholesky(K) @ np.random.default_rng(seed).standard_normal(len(X))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, default=2000)
    ap.add_argument("--A", type=int, default=1000)
    ap.add_argument("--lengthscale", type=float, default=0.2)
    ap.add_argument("--qbar", type=float, default=1.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    # The problem of kernel_scaling.py: same candidates, objective and noise.
    X = np.random.default_rng(0).uniform(size=(args.A, 3))
    f = gp_draw(X, args.lengthscale, seed=1)
    noise = 0.1 * np.random.default_rng(2).standard_normal(args.T)
    bkb = ReferenceBKB(X, args.lengthscale, lam=0.01, qbar=args.qbar)
    times, regret, dsize = [], [], []
    for t in range(args.T):
        t0 = time.perf_counter()
        i = bkb.select()
        bkb.update(i, f[i] + noise[t])
        times.append(time.perf_counter() - t0)
        regret.append(f.max() - f[i])
        dsize.append(bkb.m)
    cum = np.cumsum(regret)
    print(
        f"reference BKB: T={args.T}, mean ms/step {1e3 * np.mean(times):.2f}, "
        f"dictionary {dsize[-1]}, cumulative regret {cum[-1]:.1f}"
    )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"time": times, "cum_regret": cum.tolist(), "dictionary_size": dsize}, fh)


if __name__ == "__main__":
    main()
