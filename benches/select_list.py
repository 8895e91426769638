"""Ranked lists at catalogue scale (issue 17): ``select_list(k)`` for L = 10^5 items and
k = 10, in microseconds, against a numpy reference that ranks the same scores in the same run
(``np.argpartition`` for the top k, then ``argsort`` of those k).

Timed per policy: ``select_list`` of ``UCB1`` and ``KLUCB`` (index policies: the scores are
computed then partially sorted in one pass), ``EXP3`` (sequential sampling without
replacement, O(L k)), ``CascadeUCB1`` and ``CascadeKLUCB``; and ``numpy`` on the policy's
``scores()`` array (which numpy is given for free: its time excludes computing the scores).
Every policy first learns from ``--warm`` random (item, reward) pairs so the indices differ.
Thompson samplers are left out: their propensities take 10,000 posterior draws per list.

Each row also gives ``ratio_to_numpy`` (select_list time / the numpy reference's time in the
same run), the figure to quote on a loaded machine, and ``ranking_ratio_to_numpy`` (the same
less the ``scores()`` time, which numpy gets for free); the run records the 1-minute load
average before and after. The machine is shared: run alone, quote medians and ratios. Writes
``benches/results/select-list-<date>.json`` unless ``--no-save``.

    python benches/select_list.py
    python benches/select_list.py --items 1000 --repeat 20 --no-save     # a quick check
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import numpy as np
import regretless


def median_us(fn, repeat: int) -> float:
    fn()  # warm caches (and the index caches of the policies)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) / 1e3


def numpy_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def warmed(cls, n_items: int, warm: int, seed: int):
    rng = np.random.default_rng(seed)
    policy = cls(n_items, seed=seed)
    if issubclass(cls, regretless.CascadeBandit):
        lists = np.array([rng.choice(n_items, 10, replace=False) for _ in range(warm // 10)])
        policy.update_list_batch(lists, rng.integers(-1, 10, size=len(lists)))
    else:
        policy.update_batch(rng.integers(0, n_items, warm), (rng.random(warm) < 0.3).astype(float))
    return policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--warm", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument(
        "--policies",
        default="UCB1,KLUCB,EXP3,CascadeUCB1,CascadeKLUCB",
        help="comma-separated subset (EXP3's warm-up costs O(L) per update: a smaller --warm)",
    )
    args = ap.parse_args()
    rows = []
    load_before = os.getloadavg()[0]
    for cls in (getattr(regretless, name) for name in args.policies.split(",")):
        policy = warmed(cls, args.items, args.warm, seed=0)
        scores = policy.scores()
        ours = policy.select_list(args.k)[0]
        ref = numpy_top_k(scores, args.k)
        if cls is not regretless.EXP3:
            # Same scores, same ranking (up to ties, which these warm states rarely have).
            assert np.array_equal(np.sort(scores[ours])[::-1], scores[ref]), cls.__name__
        row = {
            "policy": cls.__name__,
            "items": args.items,
            "k": args.k,
            "warm": args.warm,
            "select_list_us": median_us(lambda p=policy: p.select_list(args.k), args.repeat),
            "scores_us": median_us(lambda p=policy: p.scores(), args.repeat),
            "numpy_argpartition_us": median_us(
                lambda s=scores: numpy_top_k(s, args.k), args.repeat
            ),
        }
        row["ratio_to_numpy"] = row["select_list_us"] / row["numpy_argpartition_us"]
        # The ranking alone: select_list less the index computation numpy is given for free.
        row["ranking_ratio_to_numpy"] = (row["select_list_us"] - row["scores_us"]) / row[
            "numpy_argpartition_us"
        ]
        rows.append(row)
        print(
            f"{row['policy']:>14}  select_list {row['select_list_us']:9.1f} us   "
            f"scores() {row['scores_us']:9.1f} us   numpy top-k of scores "
            f"{row['numpy_argpartition_us']:9.1f} us   ratio {row['ratio_to_numpy']:6.2f}"
        )
    load = {"load_1min_before": load_before, "load_1min_after": os.getloadavg()[0]}
    print(f"1-minute load average: {load['load_1min_before']:.2f} -> {load['load_1min_after']:.2f}")
    if not args.no_save:
        tag = (
            ""
            if args.policies == ap.get_default("policies")
            else "-" + args.policies.replace(",", "-")
        )
        out = Path(__file__).parent / "results" / f"select-list-{datetime.date.today()}{tag}.json"
        out.write_text(json.dumps({"rows": rows, **load}, indent=2))
        print("wrote", out)


if __name__ == "__main__":
    main()
