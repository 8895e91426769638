"""Cost table of examples/learning_to_relax.py: the one-instance-at-a-time sparse-LU SOR
(`sor_iterations`) against the batched sweep (`sor_iterations_batch`), on the same random
instances in the same process, interleaved; CPU time (process_time) and wall time per
instance, medians over rounds. The counts are asserted equal.

Run:  python benches/sor_cost_table.py [--instances 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import time

import numpy as np
import scipy.sparse as sp

PATH = pathlib.Path(__file__).parent.parent / "examples" / "learning_to_relax.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("learning_to_relax", PATH)
    ltr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ltr)
    base = ltr.laplacian()
    identity = sp.identity(base.shape[0])
    count = args.instances
    for variance in ("high", "low"):
        shifts, bs = ltr.instances(
            variance, count, np.random.default_rng([11, 0, variance == "high"])
        )
        times: dict[str, list[float]] = {
            "old cpu": [],
            "old wall": [],
            "new cpu": [],
            "new wall": [],
        }
        for _ in range(args.rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            old = np.array(
                [
                    ltr.sor_iterations((base + c * identity).tocsr(), b)
                    for c, b in zip(shifts, bs, strict=True)
                ]
            )
            c1, w1 = time.process_time(), time.perf_counter()
            new = ltr.sor_iterations_batch(shifts, bs)
            c2, w2 = time.process_time(), time.perf_counter()
            assert (new == old).all(), f"{int((new != old).sum())} counts differ"
            times["old cpu"].append((c1 - c0) / count)
            times["old wall"].append((w1 - w0) / count)
            times["new cpu"].append((c2 - c1) / count)
            times["new wall"].append((w2 - w1) / count)
        oc, ow, nc, nw = (float(np.median(v)) for v in times.values())
        sweeps = new.sum() / count
        print(
            f"{variance}: {count} instances x {args.rounds} rounds, "
            f"{sweeps:.0f} SOR iterations per instance (all 20 omegas)"
        )
        print(f"  sparse LU, one instance at a time: CPU {oc * 1e3:.1f} ms, wall {ow * 1e3:.1f} ms")
        print(
            f"  batched sweep: CPU {nc * 1e3:.2f} ms, wall {nw * 1e3:.2f} ms "
            f"({nc / sweeps * 1e6:.2f} us CPU per system-iteration)"
        )
        print(f"  speedup: CPU {oc / nc:.1f}x, wall {ow / nw:.1f}x", flush=True)


if __name__ == "__main__":
    main()
