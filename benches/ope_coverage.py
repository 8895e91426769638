"""Coverage of the off-policy intervals: estimator x n x effective-sample-size regime x
interval, on simulated logs whose true policy value is known.

Each replication draws fresh logs with ``datasets.synthetic_logs`` (10 actions; a new
problem per seed, as in tests/test_ope.py), evaluates ``softmax(beta * q)`` with a reward
model off by 0.1 (``clip(q - 0.1, 0, 1)``), and records whether each 95 % interval holds
``logs.policy_value(pi_e)``, the true value given the contexts. The ESS regime is set by
how far the logger is from the evaluation policy (``behavior_beta``) and how peaked the
latter is (``beta``). Coverage is over ``--reps`` replications: its binomial standard
deviation at 0.95 is ``sqrt(0.95 * 0.05 / reps)`` (1.0 % at 500).

    PYTHONPATH=python python benches/ope_coverage.py --reps 500

prints a markdown table (the one in benches/README.md) and writes
``benches/results/ope-coverage-n<ns>-reps<reps>-<date>.json`` unless ``--no-save``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import warnings
from pathlib import Path

import numpy as np
import regretless
from regretless import datasets, ope

ESTIMATORS = {
    "IPW": ope.InverseProbabilityWeighting(),
    "SNIPW": ope.SelfNormalizedInverseProbabilityWeighting(),
    "DR": ope.DoublyRobust(),
    "SNDR": ope.SelfNormalizedDoublyRobust(),
}
# name: (behavior_beta, beta of the evaluation policy); ESS / n is about 0.9, 0.2, 0.08
# and 0.015.
REGIMES = {
    "large": (1.0, 3.0),
    "medium": (-1.0, 10.0),
    "small": (-2.0, 20.0),
    "tiny": (-6.0, 20.0),
}
INTERVALS = ("normal", "percentile", "studentized", "bernstein")
N_ACTIONS = 10


def run(ns: list[int], reps: int, n_bootstrap: int, alpha: float, regimes: list[str]) -> list[dict]:
    rows = []
    for regime in regimes:
        behavior_beta, beta = REGIMES[regime]
        for n in ns:
            hits = {(e, i): [] for e in ESTIMATORS for i in INTERVALS}
            widths = {(e, i): [] for e in ESTIMATORS for i in INTERVALS}
            ess = []
            for r in range(reps):
                logs = datasets.synthetic_logs(
                    n, n_actions=N_ACTIONS, behavior_beta=behavior_beta, seed=10_000 * n + r
                )
                pi = logs.softmax_policy(beta)
                q = np.clip(logs.expected_reward - 0.1, 0.0, 1.0)
                truth = logs.policy_value(pi)
                for name, est in ESTIMATORS.items():
                    res = est.evaluate(
                        reward=logs.reward,
                        action=logs.action,
                        pscore=logs.pscore,
                        action_dist=pi,
                        estimated_rewards_by_reg_model=q,
                        alpha=alpha,
                        n_bootstrap=n_bootstrap,
                        seed=r,
                        small_sample_intervals=True,
                    )
                    if name == "IPW":
                        ess.append(res.ess)
                    cis = {
                        "normal": res.ci,
                        "percentile": res.bootstrap_ci,
                        "studentized": res.studentized_ci,
                        "bernstein": res.bernstein_ci,
                    }
                    for kind, ci in cis.items():
                        hits[name, kind].append(ci is not None and ci[0] <= truth <= ci[1])
                        widths[name, kind].append(math.nan if ci is None else ci[1] - ci[0])
            for name in ESTIMATORS:
                for kind in INTERVALS:
                    rows.append(
                        {
                            "estimator": name,
                            "n": n,
                            "regime": regime,
                            "median_ess": float(np.median(ess)),
                            "interval": kind,
                            "coverage": float(np.mean(hits[name, kind])),
                            "median_width": float(np.nanmedian(widths[name, kind])),
                        }
                    )
            print(f"done: {regime} n={n} (median ESS {np.median(ess):.1f})", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| estimator | n | regime (median ESS) | "
        + " | ".join(f"{k} cover (width)" for k in INTERVALS)
        + " |",
        "|---|---|---|" + "---|" * len(INTERVALS),
    ]
    cells: dict[tuple, dict] = {}
    for row in rows:
        cells.setdefault((row["estimator"], row["n"], row["regime"]), {})[row["interval"]] = row
    for (est, n, regime), by in cells.items():
        ess = next(iter(by.values()))["median_ess"]
        lines.append(
            f"| {est} | {n} | {regime} ({ess:.0f}) | "
            + " | ".join(
                f"{by[k]['coverage']:.3f} ({by[k]['median_width']:.3f})" for k in INTERVALS
            )
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[200, 1000, 10_000])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=list(REGIMES))
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    with warnings.catch_warnings():
        # Every small-ESS cell warns by design: the table is what the warning is about.
        warnings.simplefilter("ignore", regretless.SmallSampleWarning)
        rows = run(args.n, args.reps, args.n_bootstrap, args.alpha, args.regimes)
    table = markdown(rows)
    print(table)
    if not args.no_save:
        ns = "-".join(map(str, args.n))
        tag = "-".join(args.regimes)
        name = f"ope-coverage-{tag}-n{ns}-reps{args.reps}-{datetime.date.today()}.json"
        out = Path(__file__).parent / "results" / name
        out.write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "regimes": REGIMES,
                    "n_actions": N_ACTIONS,
                    "regretless": regretless.__version__,
                    "rows": rows,
                },
                indent=1,
            )
        )
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
