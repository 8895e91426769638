"""The cost of forgetting (``decay=`` on LinUCB, issue 18) per select + update, decayed
against plain, for this build and optionally an older build of the extension in the same
process (the machine is shared: alternating the two in one process, min over repetitions,
keeps the comparison fair where separate runs would see different loads).

    python benches/decay_cost.py                                  # this build only
    python benches/decay_cost.py --old /tmp/old/_core.abi3.so     # and an older _core

Each configuration is a fresh ``LinUCB(10, d, alpha=0.5, decay=...)`` with 200 warm-up
steps, then ``--steps`` select + update steps on uniform contexts (one arm's reward a fixed
linear function, so arms keep idling); every figure is the minimum over ``--reps``
repetitions, interleaved (old plain, old decayed, new plain, new decayed, then again).

``callgrind`` mode runs one configuration for instruction counts (load-independent):

    for n in 100 300; do
      PYTHONPATH=python valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \\
        python benches/decay_cost.py callgrind --dim 20 --decay 0.99 --steps $n 2>&1 \\
        | grep Collected
    done

(the per-step cost is the difference of the two totals over 200 steps).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import time

import numpy as np


def load_core(path: str, name: str = "old_build._core"):
    """An extension module from a file, under another name than this build's."""
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def run(cls, d: int, decay: float | None, steps: int, warm: int = 200) -> float:
    """Microseconds per select + update after `warm` steps."""
    rng = np.random.default_rng(d)
    X = rng.uniform(-1.0, 1.0, size=(warm + steps, d))
    theta = rng.uniform(0.0, 1.0, size=(10, d)) / np.sqrt(d)
    kwargs = {} if decay is None else {"decay": decay}
    p = cls(10, d, alpha=0.5, seed=0, **kwargs)
    for i in range(warm):
        a = p.select(X[i])
        p.update(X[i], a, float(X[i] @ theta[a]))
    t0 = time.perf_counter()
    for i in range(warm, warm + steps):
        a = p.select(X[i])
        p.update(X[i], a, float(X[i] @ theta[a]))
    return (time.perf_counter() - t0) / steps * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="time", choices=["time", "callgrind"])
    ap.add_argument("--old", help="path of an older _core.abi3.so to compare against")
    ap.add_argument("--dims", default="20,64")
    ap.add_argument("--dim", type=int, default=20)
    ap.add_argument("--decay", type=float, default=None)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    import regretless

    if args.mode == "callgrind":
        cls = load_core(args.old).LinUCB if args.old else regretless.LinUCB
        run(cls, args.dim, args.decay, args.steps, warm=50)
        return
    builds = {"new": regretless.LinUCB}
    if args.old:
        builds = {"old": load_core(args.old).LinUCB, **builds}
    print("| d | build | LinUCB us | decay=0.99 us | ratio |")
    print("|---:|---|---:|---:|---:|")
    for d in [int(v) for v in args.dims.split(",")]:
        steps = args.steps if d <= 32 else max(args.steps // 3, 50)
        best: dict[tuple[str, float | None], float] = {}
        for _ in range(args.reps):
            for name, cls in builds.items():
                for decay in (None, 0.99):
                    t = run(cls, d, decay, steps)
                    key = (name, decay)
                    best[key] = min(best.get(key, float("inf")), t)
        for name in builds:
            plain, dec = best[(name, None)], best[(name, 0.99)]
            print(f"| {d} | {name} | {plain:.1f} | {dec:.1f} | {dec / plain:.1f}x |")
        if args.old:
            gain = best[("old", 0.99)] / best[("new", 0.99)]
            print(f"| {d} | old / new, decayed | | | {gain:.1f}x |")


if __name__ == "__main__":
    main()
