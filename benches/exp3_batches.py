"""EXP3 and EXP3-IX regret with feedback in batches of 1, 20 and 200 (issue 15).

Problem: K = 10 Bernoulli arms with means linspace(0.3, 0.7, K) (arm order shuffled per
seed), horizon-tuned learning rate, decisions made with ``select_batch(B)`` and answered
with ``update_batch`` after the whole batch (so every decision of a batch is drawn from the
same probabilities). Prints the mean pseudo-regret over seeds at T and its ratio to
``sqrt(T K ln K)`` (EXP3's bound is ``sqrt(2 T K ln K)``, ratio 1.41), for the recorded
propensities and, for comparison, for the pre-fix rule that divided by the probability at
update time (emulated with ``propensity=`` the current probability).

    python benches/exp3_batches.py                 # T = 2000, 8000; 10 seeds
    python benches/exp3_batches.py --T 2000 8000 32000 --seeds 20
"""

from __future__ import annotations

import argparse

import numpy as np
import regretless

K = 10


def regret(cls, T: int, batch: int, seed: int, update_time_propensity: bool = False) -> float:
    rng = np.random.default_rng(seed)
    means = rng.permutation(np.linspace(0.3, 0.7, K))
    policy = cls(K, horizon=T, seed=seed)
    total = 0.0
    t = 0
    while t < T:
        b = min(batch, T - t)
        arms = policy.select_batch(b)
        rewards = (rng.random(b) < means[arms]).astype(float)
        total += float((means.max() - means[arms]).sum())
        if update_time_propensity:
            for a, r in zip(arms, rewards, strict=True):
                # (floored at 1e-12 as the old rule was)
                q = max(float(policy.probabilities()[a]), 1e-12)
                policy.update(int(a), float(r), propensity=q)
        else:
            policy.update_batch(arms, rewards)
        t += b
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, nargs="+", default=[2000, 8000])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    print(f"K = {K}, means linspace(0.3, 0.7), {args.seeds} seeds; ratio = R_T / sqrt(T K ln K)")
    print(
        f"{'policy':8} {'rule':14} {'B':>4} "
        + " ".join(f"{'R_' + str(T):>9} {'ratio':>6}" for T in args.T)
    )
    for cls in (regretless.EXP3, regretless.EXP3IX):
        for rule in ("recorded", "update-time"):
            for batch in (1, 20, 200):
                if rule == "update-time" and batch == 1:
                    continue  # identical to the recorded rule
                cells = []
                for T in args.T:
                    r = np.mean(
                        [regret(cls, T, batch, s, rule == "update-time") for s in range(args.seeds)]
                    )
                    cells.append(f"{r:9.1f} {r / np.sqrt(T * K * np.log(K)):6.3f}")
                print(f"{cls.__name__:8} {rule:14} {batch:4d} " + " ".join(cells))


if __name__ == "__main__":
    main()
