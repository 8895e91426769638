"""Learning to Relax (Khodak, Chow, Balcan, Talwalkar, ICLR 2024) on SOR, smaller.

A sequence of linear systems A_t x = b_t arrives; each is solved by successive
over-relaxation (SOR) with a relaxation parameter omega chosen from a grid of 20 values in
[1, 1.95]; the cost of a choice is its iteration count. A bandit learns omega online from
the costs it pays. The instances are those of the paper's `learning.m`: A is the 2-D
Laplacian on a 12x12 grid (n = 100 interior points) plus a diagonal shift
c = -0.15 + 0.6 Beta(0.5, 1.5) (high variance) or Beta(2, 6) (low variance); b has
truncated-normal entries; tolerance 1e-8 on the relative residual.

SOR is x <- x + omega (D + omega L)^-1 (b - A x). `sor_iterations` runs it for one
instance with scipy's sparse LU (SuperLU) of the lower-triangular D + omega L; the cost
table uses `sor_iterations_batch`, the same iteration written point by point in the same
(lexicographic) order and run for thousands of (instance, omega) systems at once, one
anti-diagonal of the grid at a time (tests/test_learning_to_relax.py checks that the two
give the same counts). Every instance is solved with all 20 omegas once (a cost table), so
the learners (TsallisINF and EXP3, fed the iteration count scaled by its running mean) and
the fixed omegas are compared on the same instances.
The paper uses T = 5000 instances and 40 trials (the cost table of one trial of 5000 takes
about 23 s of CPU for the high-variance shifts and 14 s for the low-variance ones here,
10x less than one instance at a time); the defaults (T = 800, 3 trials) take well under a
minute of CPU.

Run:  python examples/learning_to_relax.py [--T 800] [--trials 3] [--out figure.png]
          [--variance both|high|low] [--cache tables.npz | --cache tables-dir]
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


GRID = 12  # the padded grid of the batched sweep: 10 x 10 interior points, zero boundary


def _anti_diagonals(grid: int = GRID) -> list[tuple[slice, ...]]:
    """For each anti-diagonal I + J = d of the interior points (I, J) (row-major index
    I m + J, as in `laplacian`), the slices of the flattened padded grid holding its points
    and their left, right, upper and lower neighbours. Point (I, J) sits at
    (I + 1) grid + J + 1, so an anti-diagonal is a slice of step grid - 1."""
    m = grid - 2
    out = []
    for d in range(2 * m - 1):
        first = max(0, d - (m - 1))
        count = min(m - 1, d) - first + 1
        start = (first + 1) * grid + (d - first + 1)
        step = grid - 1
        out.append(
            tuple(
                slice(start + o, start + o + step * (count - 1) + 1, step)
                for o in (0, -1, 1, -grid, grid)
            )
        )
    return out


def sor_iterations_batch(
    shifts: np.ndarray, bs: np.ndarray, pool: int = 4000, refill: float = 0.1
) -> np.ndarray:
    """`sor_iterations` of many instances at once: row t is the iterations of each omega on
    A = laplacian() + shifts[t] I with right-hand side bs[t], shape (len(shifts), 20).

    The same SOR iteration, x_i <- (1 - omega) x_i + omega / a_ii (b_i - sum_{j < i} a_ij
    x_j(new) - sum_{j > i} a_ij x_j(old)) in the row-major (lexicographic) order, which is
    x <- x + omega (D + omega L)^-1 (b - A x) written point by point; only the rounding
    differs. Every (instance, omega) pair is a column of a (144, systems) array of padded
    grids; a sweep updates the points of one anti-diagonal of the grid at a time (they
    depend only on the previous anti-diagonal's new values and the next one's old values),
    for all systems together, then checks ||b - A x|| <= tolerance ||b|| with the 5-point
    stencil. About `pool` systems run together; when a fraction `refill` of them has
    converged (or reached CAP), they are dropped and queued systems take their place.
    """
    shifts = np.asarray(shifts, dtype=np.float64)
    bs = np.asarray(bs, dtype=np.float64)
    grid, m, width = GRID, GRID - 2, OMEGAS.size
    total = shifts.size * width  # system s: instance s // width, omega OMEGAS[s % width]
    iterations = np.full(total, CAP, dtype=np.int64)
    diagonals = _anti_diagonals(grid)
    x = np.zeros((grid * grid, 0))
    b = np.zeros((grid * grid, 0))
    ids = np.zeros(0, dtype=np.int64)
    steps = np.zeros(0, dtype=np.int64)
    finished = np.zeros(0, dtype=bool)
    queued = 0
    while True:
        count = int(finished.sum())
        if count == finished.size and queued == total:
            break
        if finished.size == 0 or count >= max(1.0, refill * finished.size):
            # drop the finished systems and top the pool up from the queue
            keep = ~finished
            take = np.arange(queued, min(total, queued + pool - (finished.size - count)))
            queued += take.size
            fresh = np.zeros((grid, grid, take.size))
            fresh[1:-1, 1:-1] = bs[take // width].T.reshape(m, m, take.size)
            x = np.concatenate([x[:, keep], np.zeros((grid * grid, take.size))], axis=1)
            b = np.concatenate([b[:, keep], fresh.reshape(grid * grid, -1)], axis=1)
            ids = np.concatenate([ids[keep], take])
            steps = np.concatenate([steps[keep], np.zeros(take.size, dtype=np.int64)])
            finished = np.zeros(ids.size, dtype=bool)
            omega = OMEGAS[ids % width]
            diag = 4.0 + shifts[ids // width]
            weight = omega / diag
            keep_old = 1.0 - omega
            target = (TOLERANCE * np.linalg.norm(bs[ids // width], axis=1)) ** 2
        for centre, left, right, up, down in diagonals:
            update = x[left] + x[right]
            update += x[up]
            update += x[down]
            update += b[centre]
            update *= weight
            point = x[centre]
            point *= keep_old
            point += update
        steps += 1
        xg = x.reshape(grid, grid, -1)
        residual = xg[:-2, 1:-1] + xg[2:, 1:-1]
        residual += xg[1:-1, :-2]
        residual += xg[1:-1, 2:]
        residual += b.reshape(grid, grid, -1)[1:-1, 1:-1]
        residual -= diag * xg[1:-1, 1:-1]
        converged = ~finished & (np.einsum("ijk,ijk->k", residual, residual) <= target)
        iterations[ids[converged]] = steps[converged]
        finished |= converged | (steps >= CAP)
    return iterations.reshape(shifts.size, width)


def instances(
    variance: str, horizon: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The shifts c_t, shape (horizon,), and right-hand sides b_t, shape (horizon, 100), of
    `horizon` random instances A_t = laplacian() + c_t I (draws in the order c_1, b_1, c_2,
    b_2, ...)."""
    n = laplacian().shape[0]
    alpha, beta = (0.5, 1.5) if variance == "high" else (2.0, 6.0)
    shifts = np.empty(horizon)
    bs = np.empty((horizon, n))
    for t in range(horizon):
        shifts[t] = -0.15 + 0.6 * rng.beta(alpha, beta)
        bs[t] = stats.truncnorm.rvs(-2, 2, size=n, random_state=rng)
    return shifts, bs


def cost_table(variance: str, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """Iterations of every omega on each of `horizon` random instances, (horizon, 20)."""
    shifts, bs = instances(variance, horizon, rng)
    return sor_iterations_batch(shifts, bs)


def cost_table_reference(variance: str, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """`cost_table` one instance at a time with `sor_iterations` (sparse LU of D + omega L):
    the reference the batched sweep is tested against."""
    base = laplacian()
    shifts, bs = instances(variance, horizon, rng)
    identity = sp.identity(base.shape[0])
    return np.array(
        [sor_iterations((base + c * identity).tocsr(), b) for c, b in zip(shifts, bs, strict=True)],
        dtype=np.int64,
    )


def tables(args: argparse.Namespace, variance: str, trial: int) -> np.ndarray:
    """The cost table of one trial, from the cache when it holds it. A cache path ending in
    .npz is one file holding every table; any other path is a directory with one
    `<key>.npy` per table (safe for several processes, e.g. one per variance setting)."""
    key = f"{variance}-{args.seed}-{trial}-{args.T}"
    if args.cache and not args.cache.endswith(".npz"):
        path = os.path.join(args.cache, f"{key}.npy")
        if os.path.exists(path):
            return np.load(path)
        rng = np.random.default_rng([args.seed, trial, variance == "high"])
        table = cost_table(variance, args.T, rng)
        os.makedirs(args.cache, exist_ok=True)
        np.save(path + ".tmp.npy", table)
        os.replace(path + ".tmp.npy", path)
        return table
    cached = dict(np.load(args.cache)) if args.cache and os.path.exists(args.cache) else {}
    if key not in cached:
        rng = np.random.default_rng([args.seed, trial, variance == "high"])
        cached[key] = cost_table(variance, args.T, rng)
        if args.cache:
            np.savez(args.cache, **cached)
    return cached[key]


def cached(args: argparse.Namespace, variance: str, trial: int) -> bool:
    """Whether the cache holds the table of this trial."""
    key = f"{variance}-{args.seed}-{trial}-{args.T}"
    if not args.cache or not os.path.exists(args.cache):
        return False
    if not args.cache.endswith(".npz"):
        return os.path.exists(os.path.join(args.cache, f"{key}.npy"))
    with np.load(args.cache) as stored:
        return key in stored.files


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
        "--cache",
        default=None,
        help="an .npz file, or a directory of .npy files, to keep the cost tables in "
        "(reused if present)",
    )
    parser.add_argument(
        "--variance",
        choices=("both", "high", "low"),
        default="both",
        help="which shift distribution(s) to run (one panel each)",
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="use only the trials (of the first --trials) whose tables are in the cache, e.g. "
        "to report a run that was stopped",
    )
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variances = ("high", "low") if args.variance == "both" else (args.variance,)
    fig, axes = plt.subplots(1, len(variances), figsize=(6.5 * len(variances), 4.8), squeeze=False)
    for ax, variance in zip(axes[0], variances, strict=True):
        curves: dict[str, list[np.ndarray]] = {}
        best_omegas = []
        start = time.perf_counter()
        trials = [
            trial
            for trial in range(args.trials)
            if not args.cached_only or cached(args, variance, trial)
        ]
        if not trials:
            print(f"{variance} variance: no cached trials")
            continue
        for trial in trials:
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
                f"  {variance} trial {trial}: best fixed omega {OMEGAS[best]:.2f} "
                f"{totals[best]}, TsallisINF {curves['TsallisINF'][-1][-1]:.0f}, "
                f"EXP3 {curves['EXP3'][-1][-1]:.0f} "
                f"({time.perf_counter() - start:.0f} s so far)",
                flush=True,
            )
        print(
            f"{variance} variance: {len(trials)} trials x {args.T} instances in "
            f"{time.perf_counter() - start:.0f} s; best fixed omega per trial {best_omegas}"
        )
        final = {label: np.array([run[-1] for run in runs]) for label, runs in curves.items()}
        for name, ratio in (
            ("TsallisINF / best fixed omega", final["TsallisINF"] / final["best fixed omega"]),
            ("EXP3 / best fixed omega", final["EXP3"] / final["best fixed omega"]),
            ("TsallisINF / EXP3", final["TsallisINF"] / final["EXP3"]),
        ):
            spread = ratio.std(ddof=1) if ratio.size > 1 else 0.0
            print(
                f"  {name}: mean {ratio.mean():.3f}, sd {spread:.3f}, "
                f"min {ratio.min():.3f}, max {ratio.max():.3f} over {ratio.size} trials"
            )
        wins = int((final["TsallisINF"] < final["EXP3"]).sum())
        print(f"  TsallisINF below EXP3 in {wins} of {len(trials)} trials")
        steps = np.arange(1, args.T + 1)
        for label, runs in curves.items():
            runs_arr = np.array(runs)
            mean = runs_arr.mean(axis=0)
            print(f"  {label:>18}: total iterations {mean[-1]:9.0f}")
            ax.plot(
                steps, mean / steps, label=label, lw=2 if label in ("TsallisINF", "EXP3") else 1.2
            )
        ax.set_title(
            f"{variance} variance shift (c ~ Beta{(0.5, 1.5) if variance == 'high' else (2, 6)}), "
            f"T = {args.T}, {len(trials)} trials"
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
