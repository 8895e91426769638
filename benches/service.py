"""DecisionService in process: decide-with-logging latency against the bare policy, reward
join throughput, and commit-durability events/s against the disk's fsync rate (issue 16).

Every figure is measured in the same run as its baseline, so read the ratios:

- ``decide``: per-call latency percentiles (p50, p99) of ``service.decide()`` against bare
  ``policy.select()`` and ``policy.probabilities()`` (the service draws from the latter),
  and of ``decide(eligible=...)`` (every other arm) against ``select(eligible=...)``;
- ``reward join``: decide a batch, then time ``reward(event_id, value)`` over it, and
  ``reward_many(event_ids, values)`` over another in one call (events/s);
- ``commit``: 1, 4 and 16 threads deciding with ``durability="commit"`` (each call waits
  for its fsync; group commit shares one fsync among the calls that arrived meanwhile),
  against a loop of ``write + fsync`` of 100 bytes on the same disk.

    python benches/service.py                  # EpsilonGreedy, 10 arms
    python benches/service.py --policy ThompsonSampling --n 20000 --out results/service.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time

import numpy as np
import regretless
from regretless.service import DecisionService


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    a = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {"p50_us": float(np.percentile(a, 50)), "p99_us": float(np.percentile(a, 99))}


def time_calls(fn, n: int) -> dict[str, float]:
    clock = time.perf_counter_ns
    out = []
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return percentiles(out)


def make_policy(name: str, k: int):
    return getattr(regretless, name)(k, seed=0)


def bench_decide(name: str, k: int, n: int, durability: str) -> dict[str, object]:
    policy = make_policy(name, k)
    mask = list(range(0, k, 2))  # every other arm eligible
    bare_select = time_calls(policy.select, n)
    bare_probs = time_calls(policy.probabilities, n)
    bare_masked = time_calls(lambda: policy.select(eligible=mask), n)
    with tempfile.TemporaryDirectory() as d:
        svc = DecisionService(
            make_policy(name, k), d, reward_wait=3600.0, durability=durability, snapshot_every=0
        )
        svc.decide()  # warm up
        decide = time_calls(svc.decide, n)
        masked = time_calls(lambda: svc.decide(eligible=mask), n)
        svc.close()
    return {
        "select": bare_select,
        "probabilities": bare_probs,
        "select_masked": bare_masked,
        "decide": decide,
        "decide_masked": masked,
        "ratio_p50_vs_select": decide["p50_us"] / bare_select["p50_us"],
        "ratio_masked_p50_vs_select_masked": masked["p50_us"] / bare_masked["p50_us"],
    }


def bench_join(name: str, k: int, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        svc = DecisionService(
            make_policy(name, k),
            d,
            reward_wait=3600.0,
            durability="none",
            snapshot_every=0,
            publish_every=1000,
        )
        ids = [svc.decide().event_id for _ in range(n)]
        t0 = time.perf_counter()
        for eid in ids:
            svc.reward(eid, 1.0)
        dt = time.perf_counter() - t0
        ids = [svc.decide().event_id for _ in range(n)]
        values = [1.0] * n
        t0 = time.perf_counter()
        svc.reward_many(ids, values)
        dt_many = time.perf_counter() - t0
        svc.close()
    return {"events_per_s": n / dt, "reward_many_events_per_s": n / dt_many}


def fsync_rate(directory: str, seconds: float = 1.0) -> float:
    path = os.path.join(directory, "fsync-probe")
    n = 0
    with open(path, "wb") as f:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            f.write(b"x" * 100)
            f.flush()
            os.fsync(f.fileno())
            n += 1
    return n / (time.perf_counter() - t0)


def bench_commit(name: str, k: int, seconds: float) -> dict[str, object]:
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as d:
        out["fsyncs_per_s"] = fsync_rate(d)
    for threads in (1, 4, 16):
        with tempfile.TemporaryDirectory() as d:
            svc = DecisionService(
                make_policy(name, k), d, reward_wait=3600.0, durability="commit", snapshot_every=0
            )
            stop = time.perf_counter() + seconds
            counts = [0] * threads

            def worker(i: int, svc=svc, stop=stop, counts=counts) -> None:
                while time.perf_counter() < stop:
                    svc.decide()
                    counts[i] += 1

            ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
            t0 = time.perf_counter()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            dt = time.perf_counter() - t0
            fsyncs = svc.stats()["fsyncs"]
            svc.close()
        out[f"threads_{threads}"] = {"events_per_s": sum(counts) / dt, "fsyncs_per_s": fsyncs / dt}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="EpsilonGreedy", help="multi-armed policy class")
    parser.add_argument("--arms", type=int, default=10, help="number of arms")
    parser.add_argument("--n", type=int, default=50_000, help="calls per latency measurement")
    parser.add_argument("--commit-seconds", type=float, default=2.0, help="per thread count")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--skip-commit", action="store_true", help="no durability=commit runs")
    args = parser.parse_args()
    results = {
        "policy": args.policy,
        "arms": args.arms,
        "decide_batch": bench_decide(args.policy, args.arms, args.n, "batch"),
        "decide_none": bench_decide(args.policy, args.arms, args.n, "none"),
        "reward_join": bench_join(args.policy, args.arms, args.n),
    }
    if not args.skip_commit:
        results["commit"] = bench_commit(args.policy, args.arms, args.commit_seconds)
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
