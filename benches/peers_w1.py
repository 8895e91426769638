"""W1 of the shared peer harness with a ``regretless`` implementation added.

W1 = Bernoulli bandit, K=10 arms, T=100k steps, one ``select()`` then one ``update()`` per
step from Python, compared in one process with mabwiser and river.bandit (see the harness
README). This script does not copy the harness: it imports ``w1_mab`` from the shared peers
folder, appends ``regretless`` to ``w1_mab.IMPLS`` and runs ``w1_mab.main()`` unchanged. It
then times ``regretless.simulate`` (the same loop entirely in Rust) for reference.

The peers folder defaults to ``<repo>/../shared/bench/peers``; set ``REGRETLESS_PEERS_DIR``
to use another one. Nothing is written there: bytecode caching is off and the harness JSON
goes to ``benches/results/`` instead.

Run it in the peers virtual environment (see ``benches/README.md``)::

    python benches/peers_w1.py --reps 3 [--T 100000] [--policies ucb1,ts] [--sim-runs 8]

All ``w1_mab.py`` flags are accepted; ``--sim-runs N`` sets the runs of the multi-run
simulation (0 skips the simulation timings).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benches" / "results"
PEERS_DIR = Path(
    os.environ.get("REGRETLESS_PEERS_DIR", REPO.parent / "shared" / "bench" / "peers")
).resolve()

if not (PEERS_DIR / "w1_mab.py").is_file():
    sys.exit(f"peers harness not found: {PEERS_DIR}/w1_mab.py (set REGRETLESS_PEERS_DIR)")

# The shared folder is read-only for us: no __pycache__ next to the harness.
sys.dont_write_bytecode = True
sys.path.insert(0, str(PEERS_DIR))

import common  # noqa: E402  (the harness helpers, found through PEERS_DIR)
import numpy as np  # noqa: E402
import regretless  # noqa: E402
import w1_mab  # noqa: E402

K = w1_mab.K


def regretless_impl(R, seed, policy):
    """regretless policy.select() + policy.update(arm, reward) per step."""
    T = len(R)
    if policy == "ucb1":
        pol = regretless.UCB1(K, seed=seed)
    else:
        pol = regretless.ThompsonSampling(K, seed=seed)
    select = pol.select
    update = pol.update
    n = [0] * K
    t0 = time.perf_counter()
    for t in range(T):
        if t < K:
            a = t
        else:
            a = select()
        r = R[t][a]
        update(a, r)
        n[a] += 1
    return time.perf_counter() - t0, n


def _save_json_to_results(script_file, payload, tag=""):
    """Replacement for ``common.save_json``: same payload, written under benches/results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "w1_mab" + (f".{tag}" if tag else "") + ".json"
    path = RESULTS / name
    payload = dict(payload)
    payload["env"] = common.env_info()
    payload["env"]["versions"]["regretless"] = regretless.__version__
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=float)
    print(f"\n[wrote {path}]", flush=True)
    return str(path)


def time_simulate(T: int, reps: int, sim_runs: int) -> None:
    """Steps per second of ``regretless.simulate`` (UCB1, the W1 arms) inside Rust."""
    means = [float(m) for m in w1_mab.MUS]
    env = regretless.BernoulliEnv(means)
    cases = [("1 run", 1, 1), ("1 run, record_every=T", 1, T)]
    if sim_runs > 1:
        many = f"{sim_runs} runs"
        cases += [(many, sim_runs, 1), (f"{many}, record_every=T", sim_runs, T)]
    # Warm-up (thread pool start-up, page faults of the first allocation).
    regretless.simulate(regretless.UCB1(K), env, horizon=min(T, 1000), n_runs=2, seed=0)
    rows = []
    for label, n_runs, every in cases:
        rates, regrets = [], []
        for rep in range(reps):
            t0 = time.perf_counter()
            res = regretless.simulate(
                regretless.UCB1(K), env, horizon=T, n_runs=n_runs, seed=rep, record_every=every
            )
            sec = time.perf_counter() - t0
            rates.append(n_runs * T / sec)
            regrets.append(float(np.median(res.final_regret())))
        s = common.stats(rates)
        rows.append(
            [
                label,
                s["median"],
                s["min"],
                s["max"],
                1e6 / s["median"],
                statistics.median(regrets),
            ]
        )
        print(f"simulate {label:24s} {s['median']:14,.0f} steps/s (median of {reps})", flush=True)
    common.table(
        ["simulate UCB1", "steps/s med", "min", "max", "us/step", "regret med"],
        rows,
        title=f"\nW1 simulate UCB1 in Rust  K={K} T={T} reps={reps} cores={os.cpu_count()}",
    )


def main() -> None:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--sim-runs", type=int, default=8)
    ap.add_argument("--T", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ours, rest = ap.parse_known_args()
    # w1_mab.main() parses sys.argv itself: hand it everything but our own flag.
    sys.argv = [sys.argv[0]] + _without_sim_runs(sys.argv[1:])

    print(f"regretless {regretless.__version__} from {os.path.dirname(regretless.__file__)}")
    print(f"peers harness {PEERS_DIR}")
    print(f"load average at start {_load()} (2 shared cores: quote medians)", flush=True)
    w1_mab.IMPLS.append(("regretless", regretless_impl))
    w1_mab.LIBS["regretless"] = "regretless"
    common.save_json = _save_json_to_results
    w1_mab.main()
    print(f"load average after W1 {_load()}", flush=True)

    if ours.sim_runs > 0 and "-h" not in rest and "--help" not in rest:
        time_simulate(ours.T, ours.reps, ours.sim_runs)
        print(f"load average at end {_load()}", flush=True)


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _without_sim_runs(argv: list[str]) -> list[str]:
    """argv minus ``--sim-runs N`` / ``--sim-runs=N`` (our flag, unknown to the harness)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--sim-runs":
            skip = True
        elif not a.startswith("--sim-runs="):
            out.append(a)
    return out


if __name__ == "__main__":
    main()
