"""Single-pass streaming bandits: the paper's comparison with uniform exploration, and the
speed of the simulator and of the Python stream protocol.

Reproduces the experiment of Wang (ICML 2023) on its two settings, "clear-cut" and
"mix-in", with ``T = alpha K^beta`` (alpha = 1000, beta = 3) and shuffled arrivals: for each
seed a fresh instance is drawn and every algorithm runs on it with the same arrival order.
Prints mean regret per algorithm as a multiple of uniform exploration's (with standard
errors of the ratio), writes the table to ``--out`` and, if matplotlib is installed, a bar
chart next to it. Then, unless ``--no-speed``:

* ``simulate_stream`` with K = 10**6 arms and T = 10**9 pulls, one run per algorithm;
* the cost of one Python call of the protocol (``offer``, ``next_pull``, ``update``,
  ``pending_pulls``, ``update_many`` of one reward), each timed in a tight loop.

    python benches/stream_paper.py                      # K in {1000, 5000}, 50 seeds
    python benches/stream_paper.py --k 1000 --seeds 10  # quicker
"""

from __future__ import annotations

import argparse
import datetime
import math
import time
from pathlib import Path

import numpy as np
import regretless
from regretless.stream import STREAM_POLICIES, paper_instance, simulate_stream

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = ("clear-cut", "mix-in")
BASELINE = "UniformExploration"


def compare(ks: list[int], seeds: int, alpha: float, beta: float) -> dict:
    """regret[setting][K][algorithm] = array over seeds."""
    out: dict = {}
    for setting in SETTINGS:
        for k in ks:
            cell = {cls.__name__: np.empty(seeds) for cls in STREAM_POLICIES}
            for seed in range(seeds):
                inst = paper_instance(setting, k, alpha=alpha, beta=beta, seed=seed)
                for cls in STREAM_POLICIES:
                    res = simulate_stream(cls, inst.means, inst.horizon, n_runs=1, seed=seed)
                    cell[cls.__name__][seed] = res.regret[0]
            out.setdefault(setting, {})[k] = cell
    return out


def ratio_with_se(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """mean(num) / mean(den) and its delta-method standard error (paired samples)."""
    n = len(num)
    r = num.mean() / den.mean()
    if n < 2:
        return r, 0.0
    resid = num - r * den
    return r, float(resid.std(ddof=1) / math.sqrt(n) / den.mean())


def table(results: dict, ks: list[int], seeds: int, alpha: float, beta: float) -> str:
    lines = [
        f"regretless {regretless.__version__}: single-pass streaming bandits, "
        f"T = {alpha:g} K^{beta:g}, {seeds} seeds, shuffled arrivals",
        "mean regret as a multiple of uniform exploration's (+- standard error of the ratio);",
        "UE row: its mean regret",
        "",
    ]
    header = f"{'setting':<10} {'algorithm':<30}" + "".join(f"{'K=' + str(k):>18}" for k in ks)
    lines += [header, "-" * len(header)]
    for setting in SETTINGS:
        for cls in STREAM_POLICIES:
            name = cls.__name__
            cells = []
            for k in ks:
                reg = results[setting][k]
                if name == BASELINE:
                    cells.append(f"{reg[name].mean():>18.4g}")
                else:
                    r, se = ratio_with_se(reg[name], reg[BASELINE])
                    cells.append(f"{r:>11.2f}x +-{se:4.2f}")
            lines.append(f"{setting:<10} {name:<30}" + "".join(cells))
        lines.append("")
    lines.append("notes' [sim] table (20 seeds): ASP 0.58x/0.55x clear-cut, 0.44x/0.41x mix-in;")
    lines.append("naive 2.28x (K=1000), 2.67x (K=5000)")
    return "\n".join(lines)


def plot(results: dict, ks: list[int], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    others = [c.__name__ for c in STREAM_POLICIES if c.__name__ != BASELINE]
    fig, axes = plt.subplots(1, len(SETTINGS), figsize=(5.5 * len(SETTINGS), 4), sharey=True)
    width = 0.8 / len(others)
    for ax, setting in zip(np.atleast_1d(axes), SETTINGS, strict=True):
        for i, name in enumerate(others):
            vals = [
                ratio_with_se(results[setting][k][name], results[setting][k][BASELINE]) for k in ks
            ]
            x = np.arange(len(ks)) + (i - (len(others) - 1) / 2) * width
            ax.bar(x, [v[0] for v in vals], width, yerr=[v[1] for v in vals], label=name)
        ax.axhline(1.0, color="black", lw=1, ls="--", label="uniform exploration")
        ax.set_xticks(np.arange(len(ks)), [f"K={k}" for k in ks])
        ax.set_title(setting)
        ax.set_ylabel("regret / regret of uniform exploration")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def speed() -> str:
    lines = ["", "simulate_stream, K = 10**6 arms (uniform means), T = 10**9 pulls, 1 run:"]
    means = np.random.default_rng(0).random(10**6)
    simulate_stream("asp", means[:1000], 10**6)  # warm-up: thread pool, page faults
    for cls in STREAM_POLICIES:
        times = []
        for seed in range(3):
            t0 = time.perf_counter()
            simulate_stream(cls, means, 10**9, seed=seed)
            times.append(time.perf_counter() - t0)
        lines.append(f"  {cls.__name__:<30} {min(times):6.3f} s  (best of 3)")
    t0 = time.perf_counter()
    simulate_stream("asp", means, 10**9, n_runs=8, seed=0)
    lines.append(f"  {'8 runs of ASP, all cores':<30} {time.perf_counter() - t0:6.3f} s")
    lines += ["", "Python stream protocol, cost of one call (best of 5 loops of 200,000):"]
    n = 200_000
    costs = {}
    for label, loop in protocol_loops().items():
        costs[label] = min(loop(n) for _ in range(5)) / n
        lines.append(f"  {label:<44} {costs[label] * 1e9:6.0f} ns")
    offer = (
        costs["offer(arm) + update_many(arm, 55 rewards)"]
        - costs["update_many(arm, 1-element float64 array)"]
    )
    lines.append(f"  {'offer(arm) alone (by difference)':<44} {offer * 1e9:6.0f} ns")
    return "\n".join(lines)


def protocol_loops() -> dict:
    """label -> f(n) returning the seconds that n calls took."""

    def fresh_pending():
        # A horizon so large that the first arm wants more pulls than any loop makes.
        p = regretless.AggressiveSelectivePromotion(10**6, 2**53, seed=0)
        p.offer(0)
        return p

    def t_update(n):
        p = fresh_pending()
        update = p.update
        t0 = time.perf_counter()
        for _ in range(n):
            update(0, 1.0)
        return time.perf_counter() - t0

    def t_next_pull(n):
        next_pull = fresh_pending().next_pull
        t0 = time.perf_counter()
        for _ in range(n):
            next_pull()
        return time.perf_counter() - t0

    def t_pending(n):
        p = fresh_pending()
        t0 = time.perf_counter()
        for _ in range(n):
            p.pending_pulls  # noqa: B018 (the getter is what is timed)
        return time.perf_counter() - t0

    def t_update_many(n):
        p = fresh_pending()
        update_many, one = p.update_many, np.ones(1)
        t0 = time.perf_counter()
        for _ in range(n):
            update_many(0, one)
        return time.perf_counter() - t0

    def t_offer_arm(n):
        # Uniform exploration with T = 100 K wants the same 55 pulls of every arm: the
        # loop is one offer and one update_many of a prepared 55-element array per arm.
        p = regretless.UniformExploration(n, 100 * n, seed=0)
        p.offer(0)
        rewards = np.full(p.pending_pulls, 0.5)
        p.update_many(0, rewards)
        offer, update_many = p.offer, p.update_many
        t0 = time.perf_counter()
        for arm in range(1, n):
            offer(arm)
            update_many(arm, rewards)
        return time.perf_counter() - t0

    return {
        "next_pull()": t_next_pull,
        "pending_pulls": t_pending,
        "update(arm, reward)": t_update,
        "update_many(arm, 1-element float64 array)": t_update_many,
        "offer(arm) + update_many(arm, 55 rewards)": t_offer_arm,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--k", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--alpha", type=float, default=1000)
    ap.add_argument("--beta", type=float, default=3)
    ap.add_argument(
        "--out", type=Path, default=RESULTS / f"stream-paper-{datetime.date.today()}.txt"
    )
    ap.add_argument("--no-speed", action="store_true", help="skip the timings")
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = compare(args.k, args.seeds, args.alpha, args.beta)
    text = table(results, args.k, args.seeds, args.alpha, args.beta)
    text += f"\n(comparison computed in {time.perf_counter() - t0:.1f} s)"
    if not args.no_speed:
        text += "\n" + speed()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    png = args.out.with_suffix(".png")
    if plot(results, args.k, png):
        print(f"wrote {args.out} and {png}")
    else:
        print(f"wrote {args.out} (no plot: matplotlib is not installed)")


if __name__ == "__main__":
    main()
