"""Learning to Relax (Khodak, Chow, Balcan, Talwalkar, ICLR 2024) on SOR, smaller.

A sequence of linear systems A_t x = b_t arrives; each is solved by successive
over-relaxation (SOR) with a relaxation parameter omega chosen from a grid of 20 values in
[1, 1.95]; the cost of a choice is its iteration count. A bandit learns omega online from
the costs it pays. The instances are those of the paper's `learning.m`: A is the 2-D
Laplacian on a 12x12 grid (n = 100 interior points) plus a diagonal shift
c = -0.15 + 0.6 Beta(0.5, 1.5) (high variance) or Beta(2, 6) (low variance); b has
truncated-normal entries; tolerance 1e-8 on the relative residual.

Each SOR run factorizes the lower-triangular splitting matrix D + omega L with scipy's
sparse LU (SuperLU) and iterates x <- x + omega (D + omega L)^-1 (b - A x). Every instance
is solved with all 20 omegas once (a cost table), so the learners (TsallisINF and EXP3,
fed the iteration count scaled by its running mean) and the fixed omegas are compared on
the same instances.
The paper uses T = 5000 instances and 40 trials; the defaults here (T = 800, 3 trials)
run in a few minutes.

Run:  python examples/learning_to_relax.py [--T 800] [--trials 3] [--out figure.png]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import regretless
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import stats

OMEGAS = np.linspace(1.0, 1.95, 20)
CAP = 1000  # iterations; a run that has not converged by then costs CAP
TOLERANCE = 1e-8


def laplacian(grid: int = 12) -> sp.csr_matrix:
    """The 5-point 2-D Laplacian on the (grid - 2)^2 interior points."""
    m = grid - 2
    second = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m), dtype=np.float64)
    eye = sp.identity(m, dtype=np.float64)
    return (sp.kron(eye, second) + sp.kron(second, eye)).tocsr()


def sor_iterations(a: sp.csr_matrix, b: np.ndarray) -> np.ndarray:
    """Iterations of SOR with each omega of OMEGAS until ||b - A x|| <= tolerance ||b||
    (CAP if not converged by then).

    SOR with the splitting A = L + D + U is x <- x + omega (D + omega L)^-1 (b - A x), i.e.
    x <- G x + c with G = I - omega M^-1 A and c = omega M^-1 b for M = D + omega L; M is
    factorized with scipy's sparse LU, and all omegas iterate together as one batched
    matrix product.
    """
    n = a.shape[0]
    d = sp.diags(a.diagonal())
    lower = sp.tril(a, k=-1)
    dense = a.toarray()
    g = np.empty((OMEGAS.size, n, n))
    c = np.empty((OMEGAS.size, n, 1))
    for i, omega in enumerate(OMEGAS):
        m = spla.splu((d + omega * lower).tocsc(), permc_spec="NATURAL")
        g[i] = np.eye(n) - omega * m.solve(dense)
        c[i, :, 0] = omega * m.solve(b)
    x = np.zeros((OMEGAS.size, n, 1))
    iterations = np.full(OMEGAS.size, CAP)
    running = np.ones(OMEGAS.size, dtype=bool)
    target = TOLERANCE * np.linalg.norm(b)
    for k in range(1, CAP + 1):
        x = g @ x + c
        residual = np.linalg.norm(b[:, None] - (a @ x[:, :, 0].T), axis=0)
        converged = running & (residual <= target)
        iterations[converged] = k
        running &= ~converged
        if not running.any():
            break
    return iterations


def cost_table(variance: str, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """Iterations of every omega on each of `horizon` random instances, (horizon, 20)."""
    base = laplacian()
    n = base.shape[0]
    alpha, beta = (0.5, 1.5) if variance == "high" else (2.0, 6.0)
    table = np.empty((horizon, OMEGAS.size), dtype=np.int64)
    for t in range(horizon):
        shift = -0.15 + 0.6 * rng.beta(alpha, beta)
        a = (base + shift * sp.identity(n)).tocsr()
        b = stats.truncnorm.rvs(-2, 2, size=n, random_state=rng)
        table[t] = sor_iterations(a, b)
    return table


def tables(args: argparse.Namespace, variance: str, trial: int) -> np.ndarray:
    """The cost table of one trial, from the cache file when it holds it."""
    key = f"{variance}-{args.seed}-{trial}-{args.T}"
    cached = dict(np.load(args.cache)) if args.cache and os.path.exists(args.cache) else {}
    if key not in cached:
        rng = np.random.default_rng([args.seed, trial, variance == "high"])
        cached[key] = cost_table(variance, args.T, rng)
        if args.cache:
            np.savez(args.cache, **cached)
    return cached[key]


def play(policy: regretless.Bandit, table: np.ndarray) -> np.ndarray:
    """Cumulative iterations of a bandit choosing omega on each instance in turn. As in the
    paper's code, the cost is scaled by the running mean cost: loss = min(1, cost / (2 *
    mean cost so far)), reward = 1 - loss."""
    paid = np.empty(table.shape[0])
    total = 0.0
    for t, row in enumerate(table):
        arm = policy.select()
        paid[t] = row[arm]
        total += paid[t]
        loss = min(1.0, paid[t] / (2.0 * total / (t + 1)))
        policy.update(arm, 1.0 - loss)
    return np.cumsum(paid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=800, help="instances per trial")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="learning-to-relax.png")
    parser.add_argument(
        "--cache", default=None, help="an .npz file to keep the cost tables in (reused if present)"
    )
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, variance in zip(axes, ("high", "low"), strict=True):
        curves: dict[str, list[np.ndarray]] = {}
        best_omegas = []
        start = time.perf_counter()
        for trial in range(args.trials):
            table = tables(args, variance, trial)
            totals = table.sum(axis=0)
            best = int(np.argmin(totals))
            best_omegas.append(round(float(OMEGAS[best]), 2))
            seed = args.seed * 1000 + trial
            curves.setdefault("best fixed omega", []).append(np.cumsum(table[:, best]))
            for w in (1.0, 1.2, 1.4):
                j = int(np.argmin(np.abs(OMEGAS - w)))
                curves.setdefault(f"omega = {w}", []).append(np.cumsum(table[:, j]))
            curves.setdefault("TsallisINF", []).append(
                play(regretless.TsallisINF(OMEGAS.size, seed=seed), table)
            )
            curves.setdefault("EXP3", []).append(
                play(regretless.EXP3(OMEGAS.size, horizon=args.T, seed=seed), table)
            )
        print(
            f"{variance} variance: {args.trials} trials x {args.T} instances in "
            f"{time.perf_counter() - start:.0f} s; best fixed omega per trial {best_omegas}"
        )
        steps = np.arange(1, args.T + 1)
        for label, runs in curves.items():
            runs_arr = np.array(runs)
            mean = runs_arr.mean(axis=0)
            print(f"  {label:>18}: total iterations {mean[-1]:9.0f}")
            ax.plot(
                steps, mean / steps, label=label, lw=2 if label in ("TsallisINF", "EXP3") else 1.2
            )
        ax.set_title(
            f"{variance} variance shift (c ~ Beta{(0.5, 1.5) if variance == 'high' else (2, 6)})"
        )
        ax.set_xlabel("instances solved")
        ax.set_ylabel("mean SOR iterations per instance so far")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
