"""W2 of the shared peer harness with a ``regretless`` adapter added.

W2 = batch contextual bandit, disjoint LinUCB, d=20 features, K=10 arms: fit on n=50k
logged rows, predict 50k new rows, single-decision latency (median / p99 of 10k calls) and
an online predict-then-update loop of 10k steps, compared in one process with mabwiser,
vowpalwabbit, river and the harness's numpy reference (see the harness README). This script
does not copy the harness: it imports ``w2_linucb`` from the shared peers folder, registers a
``regretless`` adapter in ``w2_linucb.ADAPTERS`` (same protocol as the other adapters:
``fit(X, dec, y)``, ``predict_batch(X)``, ``select(x) -> (arm, p)``,
``update(x, arm, reward, p)``) and runs ``w2_linucb.main()`` unchanged. Before that it fits
regretless and the numpy reference on the same data and prints the largest differences of
their coefficients, means, widths and scores and of the decisions they make.

The peers folder defaults to ``<repo>/../shared/bench/peers``; set ``REGRETLESS_PEERS_DIR``
to use another one. Nothing is written there: bytecode caching is off and the harness JSON
goes to ``benches/results/w2_linucb.<date>[.<shape>][.<tag>].json`` instead.

Run it in the peers virtual environment (see ``benches/README.md``)::

    python benches/peers_w2.py --reps 3                       # W2 as specified
    OPENBLAS_NUM_THREADS=1 python benches/peers_w2.py --reps 3 --tag blas1
    python benches/peers_w2.py --d 100 --only ref_numpy,mabwiser,vw,regretless
    python benches/peers_w2.py --K 1000 --only ref_numpy,mabwiser,regretless --n_test 5000
    python benches/peers_w2.py --scaling                      # regretless vs numpy, d x K grid

All ``w2_linucb.py`` flags are accepted (``--n --n_test --n_single --n_online --reps --tag
--only``). Ours: ``--d`` and ``--K`` change the harness's module constants (the data, every
adapter and the VW / river feature names follow them); ``--scaling`` runs only
:func:`scaling`, regretless and the numpy reference through the harness's own ``run_one``
over a grid of (d, K); ``--no-check`` skips the agreement check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benches" / "results"
PEERS_DIR = Path(
    os.environ.get("REGRETLESS_PEERS_DIR", REPO.parent / "shared" / "bench" / "peers")
).resolve()

if not (PEERS_DIR / "w2_linucb.py").is_file():
    sys.exit(f"peers harness not found: {PEERS_DIR}/w2_linucb.py (set REGRETLESS_PEERS_DIR)")

# The shared folder is read-only for us: no __pycache__ next to the harness.
sys.dont_write_bytecode = True
sys.path.insert(0, str(PEERS_DIR))

import common  # noqa: E402  (the harness helpers, found through PEERS_DIR)
import numpy as np  # noqa: E402
import regretless  # noqa: E402
import w2_linucb as w2  # noqa: E402

TODAY = time.strftime("%Y-%m-%d")
# (d, K) shapes of the --scaling grid; the first is W2 itself.
SCALING_GRID = [(20, 10), (50, 10), (100, 10), (20, 100), (20, 1000), (100, 100)]


class Regretless:
    """regretless.LinUCB with the numpy reference's alpha and lambda (w2_linucb.ALPHA / LAM).

    fit = one ``update_batch`` (Gram accumulation, one refactorization per arm);
    predict = ``select_batch``; select / update = the single-row calls, p = 1 (a
    deterministic rule, like the reference's).
    """

    name = "regretless"

    def __init__(self, seed):
        self.pol = regretless.LinUCB(w2.K, w2.D, alpha=w2.ALPHA, lam=w2.LAM, seed=seed)
        self._select = self.pol.select
        self._update = self.pol.update

    def fit(self, X, dec, y):
        self.pol.update_batch(X, dec, y)

    def predict_batch(self, X):
        return self.pol.select_batch(X)

    def select(self, x):
        return self._select(x), 1.0

    def update(self, x, a, r, p):
        self._update(x, a, r)


def set_shape(d: int, k: int) -> None:
    """Point the harness at d features and k arms: its data, adapters and VW / river names
    read these module globals at call time."""
    w2.D, w2.K = d, k
    w2.XNAMES = [f"x{i}" for i in range(d)]
    w2.ACTION_LINES = [f"|a a{i}" for i in range(k)]


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _ref_scores(ref, X):
    """Means, widths and UCB scores of the harness's numpy reference, (n, K) each."""
    mean = X @ ref.theta.T
    var = np.empty_like(mean)
    for a in range(w2.K):
        var[:, a] = np.einsum("nd,nd->n", X @ ref.Ainv[a], X)
    width = np.sqrt(var)
    return mean, width, mean + w2.ALPHA * width


def check_agreement(n=50_000, n_test=50_000, n_online=10_000) -> dict:
    """Fit regretless and the numpy reference on the same W2 data and compare them: after
    the batch fit, and again after the same online loop (each model plays its own choices;
    the numpy reference updates by Sherman-Morrison, regretless too, with refactorizations
    every 1024 updates)."""
    data = w2.make_data(n, n_test, 1, n_online)
    ref, ours = w2.RefNumpy(0), Regretless(0)
    ref.fit(data["X"], data["dec"], data["y"])
    ours.fit(data["X"], data["dec"], data["y"])
    Xt = data["Xt"]

    def compare(stage):
        mean, width, ucb = _ref_scores(ref, Xt)
        pol = ours.pol
        out = {
            "coefficients": float(np.max(np.abs(pol.coefficients() - ref.theta))),
            "mean": float(np.max(np.abs(pol.mean(Xt) - mean))),
            "width": float(np.max(np.abs(pol.width(Xt) - width))),
            "scores": float(np.max(np.abs(pol.scores(Xt) - ucb))),
            "predict_mismatches": int(np.sum(pol.select_batch(Xt) != ref.predict_batch(Xt))),
            "scores_argmax_mismatches": int(np.sum(pol.scores(Xt).argmax(1) != ucb.argmax(1))),
        }
        print(
            f"agreement with ref_numpy ({stage}, {len(Xt)} test rows): max |diff| "
            f"coefficients {out['coefficients']:.3g}, mean {out['mean']:.3g}, "
            f"width {out['width']:.3g}, scores {out['scores']:.3g}; predictions differing: "
            f"select_batch {out['predict_mismatches']}, "
            f"scores().argmax {out['scores_argmax_mismatches']}",
            flush=True,
        )
        return out

    res = {"after_fit": compare("after fit")}
    Xo, Ro = data["Xo"], data["Ro"].tolist()
    diverged = None
    for t in range(len(Xo)):
        x = Xo[t]
        a_ref, _ = ref.select(x)
        a_ours, _ = ours.select(x)
        if a_ref != a_ours and diverged is None:
            diverged = t
        ref.update(x, a_ref, Ro[t][a_ref], 1.0)
        ours.update(x, a_ours, Ro[t][a_ours], 1.0)
    print(
        f"online loop of {len(Xo)} steps: first differing decision "
        f"{'none' if diverged is None else f'at step {diverged}'}",
        flush=True,
    )
    res["online_first_divergence"] = diverged
    res["after_online"] = compare(f"after fit + {len(Xo)} online steps")
    return res


def scaling(reps: int, n: int, n_test: int, n_single: int, n_online: int) -> list[dict]:
    """Cost growth in d and K: regretless and the numpy reference through the harness's own
    ``run_one`` (same data, same phases) at each (d, K) of SCALING_GRID."""
    names = ["ref_numpy", "regretless"]
    rows, out = [], []
    for d, k in SCALING_GRID:
        set_shape(d, k)
        data = w2.make_data(n, n_test, n_single, n_online)
        raw = {nm: [] for nm in names}
        for rep in range(reps):
            for nm in names:
                raw[nm].append(w2.run_one(w2.ADAPTERS[nm][0], data, rep, n_single, n_online))
        for nm in names:
            rs = raw[nm]
            med = {
                "fit_rows_per_s": float(np.median([n / r["fit_s"] for r in rs])),
                "predict_rows_per_s": float(np.median([n_test / r["predict_s"] for r in rs])),
                "single_us_median": float(np.median([r["single_us_median"] for r in rs])),
                "single_us_p99": float(np.median([r["single_us_p99"] for r in rs])),
                "online_steps_per_s": float(np.median([n_online / r["online_s"] for r in rs])),
                "test_acc": float(np.median([r["test_acc"] for r in rs])),
            }
            out.append({"d": d, "K": k, "impl": nm, "median": med, "raw": rs})
            rows.append(
                [
                    f"d={d} K={k}",
                    nm,
                    med["fit_rows_per_s"],
                    med["predict_rows_per_s"],
                    med["single_us_median"],
                    med["single_us_p99"],
                    med["online_steps_per_s"],
                    f"{med['test_acc']:.3f}",
                ]
            )
        print(f"[scaling d={d} K={k} done, load {_load()}]", flush=True)
    common.table(
        [
            "shape",
            "impl",
            "fit rows/s",
            "predict rows/s",
            "single us med",
            "single us p99",
            "online steps/s",
            "test acc",
        ],
        rows,
        title=f"\nW2 scaling in d and K: n={n} test={n_test} single={n_single} "
        f"online={n_online} reps={reps} (medians)",
    )
    # Growth relative to W2's own shape, per implementation.
    base = {o["impl"]: o["median"] for o in out if (o["d"], o["K"]) == SCALING_GRID[0]}
    grow = []
    for o in out:
        b, m = base[o["impl"]], o["median"]
        grow.append(
            [
                f"d={o['d']} K={o['K']}",
                o["impl"],
                b["fit_rows_per_s"] / m["fit_rows_per_s"],
                b["predict_rows_per_s"] / m["predict_rows_per_s"],
                m["single_us_median"] / b["single_us_median"],
                b["online_steps_per_s"] / m["online_steps_per_s"],
            ]
        )
    common.table(
        ["shape", "impl", "fit cost x", "predict cost x", "single cost x", "online cost x"],
        grow,
        title=f"\nCost relative to d={SCALING_GRID[0][0]} K={SCALING_GRID[0][1]} "
        "(per row / per call; d^2 x K grows 6.25x for d 20->50, 25x for 20->100, "
        "10x for K 10->100, 100x for K 10->1000)",
    )
    return out


def _save_json_to_results(script_file, payload, tag=""):
    """Replacement for ``common.save_json``: same payload, written under benches/results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("w2_linucb." + TODAY + (f".{tag}" if tag else "") + ".json")
    payload = dict(payload)
    payload["env"] = common.env_info()
    payload["env"]["versions"]["regretless"] = regretless.__version__
    payload["env"]["loadavg_end"] = _load()
    payload["regretless_adapter"] = (
        f"LinUCB(K, d, alpha={w2.ALPHA}, lam={w2.LAM}): fit=update_batch, "
        "predict=select_batch, select/update single-row calls"
    )
    payload.update(_EXTRA)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=float)
    print(f"\n[wrote {path}]", flush=True)
    return str(path)


_EXTRA: dict = {}


def main() -> None:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--d", type=int, default=w2.D)
    ap.add_argument("--K", type=int, default=w2.K)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--tag", default="")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--n_test", type=int, default=50_000)
    ap.add_argument("--n_single", type=int, default=10_000)
    ap.add_argument("--n_online", type=int, default=10_000)
    ours, rest = ap.parse_known_args()

    print(f"regretless {regretless.__version__} from {os.path.dirname(regretless.__file__)}")
    print(f"peers harness {PEERS_DIR}")
    print(
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} "
        f"load average at start {_load()} (2 shared cores: quote medians)",
        flush=True,
    )
    _EXTRA["loadavg_start"] = _load()
    w2.ADAPTERS["regretless"] = (Regretless, "regretless")

    if ours.scaling:
        n_test = min(ours.n_test, 10_000)
        n_single, n_online = min(ours.n_single, 2_000), min(ours.n_online, 2_000)
        res = scaling(ours.reps, ours.n, n_test, n_single, n_online)
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / ("w2_scaling." + TODAY + (f".{ours.tag}" if ours.tag else "") + ".json")
        payload = {
            "workload": "W2 scaling (regretless vs numpy reference)",
            "grid": SCALING_GRID,
            "args": {
                "reps": ours.reps,
                "n": ours.n,
                "n_test": n_test,
                "n_single": n_single,
                "n_online": n_online,
            },
            "loadavg_start": _EXTRA["loadavg_start"],
            "loadavg_end": _load(),
            "env": common.env_info(),
            "results": res,
        }
        payload["env"]["versions"]["regretless"] = regretless.__version__
        with open(path, "w") as f:
            json.dump(payload, f, indent=1, default=float)
        print(f"\n[wrote {path}]\nload average at end {_load()}", flush=True)
        return

    set_shape(ours.d, ours.K)
    shape = "" if (ours.d, ours.K) == (20, 10) else f"d{ours.d}K{ours.K}"
    tag = ".".join(t for t in (shape, ours.tag) if t)
    # w2_linucb.main() parses sys.argv itself: hand it everything but our own flags.
    sys.argv = [sys.argv[0], "--reps", str(ours.reps), "--n", str(ours.n)]
    sys.argv += ["--n_test", str(ours.n_test), "--n_single", str(ours.n_single)]
    sys.argv += ["--n_online", str(ours.n_online)] + (["--tag", tag] if tag else []) + rest

    if not ours.no_check and "-h" not in rest and "--help" not in rest:
        _EXTRA["agreement_with_ref_numpy"] = check_agreement(
            ours.n, min(ours.n_test, 50_000), min(ours.n_online, 10_000)
        )
        print(f"load average after the check {_load()}", flush=True)

    common.save_json = _save_json_to_results
    w2.main()
    print(f"load average at end {_load()}", flush=True)


if __name__ == "__main__":
    main()
