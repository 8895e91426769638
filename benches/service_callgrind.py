"""DecisionService instruction counts under callgrind (issue 16): a load-independent
measure of the per-call cost, for machines shared with other work.

Runs ``N`` operations of one kind after the same setup; the cost of one operation is the
difference of the totals of two runs over the difference of their ``N`` (setup, imports
and the background threads cancel out; the ticker is stopped and the GC disabled):

    for n in 2000 12000; do
      PYTHONPATH=python valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
        python benches/service_callgrind.py decide $n 2>&1 | grep Collected
    done

Modes: select, probs (the bare policy), decide, decide_elig (mask of 4 of 10 arms),
reward, reward_many, noop; an optional third argument names the policy class.
"""

from __future__ import annotations

import gc
import sys
import tempfile

import regretless
from regretless.service import DecisionService


def main() -> None:
    mode, n = sys.argv[1], int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "EpsilonGreedy"
    svc = DecisionService(
        getattr(regretless, name)(10, seed=0),
        tempfile.mkdtemp(),
        reward_wait=3600.0,
        durability="none",
        snapshot_every=0,
        publish_every=1000,
    )
    policy = getattr(regretless, name)(10, seed=0)
    m = 20_000
    ids = [svc.decide().event_id for _ in range(m)] if mode.startswith("reward") else []
    values = [1.0] * m
    mask = [0, 2, 3, 7]
    svc.decide()  # warm up every path
    svc.decide(eligible=mask)
    policy.select()
    svc._stop.set()  # the ticker wakes on wall time: keep it out of the counts
    svc._ticker.join()
    gc.collect()
    gc.disable()
    if mode == "select":
        for _ in range(n):
            policy.select()
    elif mode == "probs":
        for _ in range(n):
            policy.probabilities()
    elif mode == "decide":
        for _ in range(n):
            svc.decide()
    elif mode == "decide_elig":
        for _ in range(n):
            svc.decide(eligible=mask)
    elif mode == "reward":
        for i in range(n):
            svc.reward(ids[i], 1.0)
    elif mode == "reward_many":
        svc.reward_many(ids[:n], values[:n])
    elif mode != "noop":
        raise SystemExit(f"unknown mode {mode!r}")
    svc.close()


if __name__ == "__main__":
    main()
