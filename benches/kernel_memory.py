"""Peak memory of BKB with many candidates (issue 4: A = 10^5 within 1 GB).

Runs BKB (RBF, lengthscale 0.2, lam = 0.01, qbar = 1 by default, shared width 0.2) on A
uniform points in [0, 1]^3 for
``--T`` steps and prints the dictionary size, the time per step and the peak resident set
size (``ru_maxrss``) of the process. BKB's memory is O(A m): the candidates, the m kernel
columns of the dictionary (A floats each) and per-candidate vectors.

    python benches/kernel_memory.py --A 100000 --T 300
    python benches/kernel_memory.py --A 100000 --T 10000 --every 100   # ~2 h: run with nohup
    python benches/kernel_memory.py --A 100000 --T 10000 --qbar 4      # the default qbar
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import regretless


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--A", type=int, default=100_000)
    ap.add_argument("--T", type=int, default=300)
    ap.add_argument("--every", type=int, default=0, help="report every this many steps")
    ap.add_argument("--qbar", type=float, default=1.0)
    ap.add_argument("--lengthscale", type=float, default=0.2)
    args = ap.parse_args()
    every = args.every or max(args.T // 5, 1)
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(args.A, 3))
    f = np.sin(6 * X[:, 0]) * np.cos(4 * X[:, 1]) + X[:, 2]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bkb = regretless.BKB(
        X, regretless.RBF(args.lengthscale), lam=0.01, qbar=args.qbar, beta_scale=0.2, seed=0
    )
    print(
        f"kernel_memory: A={args.A}, T={args.T}, RBF {args.lengthscale}, lam 0.01, "
        f"qbar {args.qbar}, beta_scale 0.2, seed 0",
        flush=True,
    )
    t0 = time.perf_counter()
    for t in range(args.T):
        i = bkb.select()
        bkb.update(i, f[i] + 0.1 * rng.standard_normal())
        if (t + 1) % every == 0 or t + 1 == args.T:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"t={t + 1}: dictionary {bkb.dictionary_size}, "
                f"{1e3 * (time.perf_counter() - t0) / (t + 1):.1f} ms/step (mean), "
                f"peak RSS {peak:.0f} MB (before BKB: {base:.0f} MB)",
                flush=True,
            )


if __name__ == "__main__":
    main()
