"""W3 of the peer harness: IPW and DR on 1,000,000 logged rows, 10 actions.

Times regretless against the numpy reference of ../shared/bench/peers/w3_ope.py (and
Open Bandit Pipeline when it is importable) in one process, on the same inputs (obp's
(n, K, 1) layout), and prints medians and ratios. Then measures streaming over Parquet:
rows/s and the peak memory of a child process at two file sizes (flat memory means the
two peaks are about equal). The IPW stream reads the logged action's pi_e(a|x) from a
column; DR-SHARED evaluates a context-free policy and reward model (one shared row);
DR-LIST reads both tables per row from fixed_size_list<double>[10] columns (Parquet
decoding of 160 bytes of doubles per row bounds it); the DR stream computes pi_e and the
reward model from 5 context columns per batch with numpy
(a softmax and a sigmoid of a linear score), inside the timing: that model dominates it.

    python benches/ope_w3.py [--n 1000000] [--reps 7] [--stream-rows 20000000]
    python benches/ope_w3.py --no-stream

Data: obp's SyntheticBanditDataset (n_actions=10, dim_context=5, binary rewards,
logistic reward function, random_state=12345) when obp is installed, otherwise the
harness's numpy fallback with the same shapes; pi_e = softmax(10 * expected_reward);
q_hat = clip(expected_reward + N(0, 0.05^2), 0, 1). Estimates are checked to agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import regretless
from regretless import ope


def ipw_numpy(reward, action, pscore, pi):
    n = action.shape[0]
    return float(np.mean(reward * (pi[np.arange(n), action] / pscore)))


def dr_numpy(reward, action, pscore, pi, q):
    n = action.shape[0]
    idx = np.arange(n)
    iw = pi[idx, action] / pscore
    q_fact = q[idx, action]
    dm = np.einsum("ij,ij->i", q, pi)
    return float(np.mean(dm + iw * (reward - q_fact)))


def w3_data(n: int):
    rng = np.random.default_rng(7)
    try:
        from obp.dataset import SyntheticBanditDataset, logistic_reward_function

        ds = SyntheticBanditDataset(
            n_actions=10,
            dim_context=5,
            reward_type="binary",
            reward_function=logistic_reward_function,
            random_state=12345,
        )
        bf = ds.obtain_batch_bandit_feedback(n_rounds=n)
        reward, action, pscore, er = bf["reward"], bf["action"], bf["pscore"], bf["expected_reward"]
        source = "obp SyntheticBanditDataset"
    except ImportError:
        er = 1 / (1 + np.exp(-rng.standard_normal((n, 10))))
        pb = np.exp(er) / np.exp(er).sum(1, keepdims=True)
        action = (pb.cumsum(1) > rng.random((n, 1))).argmax(1)
        pscore = pb[np.arange(n), action]
        reward = (rng.random(n) < er[np.arange(n), action]).astype(np.int64)
        source = "numpy fallback of w3_ope.py"
    logits = 10.0 * er
    logits -= logits.max(1, keepdims=True)
    pi = np.exp(logits)
    pi /= pi.sum(1, keepdims=True)
    q = np.clip(er + 0.05 * rng.standard_normal(er.shape), 0.0, 1.0)
    return reward, action, pscore, pi, q, source


def timed(fn, reps):
    fn()  # warm-up
    times = []
    value = None
    for _ in range(reps):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), value


def in_memory(n: int, reps: int) -> dict:
    reward, action, pscore, pi, q, source = w3_data(n)
    pi3, q3 = pi[:, :, None], q[:, :, None]
    impls = {
        "numpy IPW": lambda: ipw_numpy(reward, action, pscore, pi),
        "numpy DR": lambda: dr_numpy(reward, action, pscore, pi, q),
        "regretless IPW": lambda: ope.InverseProbabilityWeighting().estimate_policy_value(
            reward=reward, action=action, pscore=pscore, action_dist=pi3
        ),
        "regretless DR": lambda: ope.DoublyRobust().estimate_policy_value(
            reward=reward,
            action=action,
            pscore=pscore,
            action_dist=pi3,
            estimated_rewards_by_reg_model=q3,
        ),
        # The caller vouches that the rows of pi sum to one (every other check stays).
        "regretless IPW-nv": lambda: ope.InverseProbabilityWeighting().estimate_policy_value(
            reward=reward, action=action, pscore=pscore, action_dist=pi3, validate=False
        ),
        # Memory floor: one read of the 80 MB action_dist, which validating every row needs.
        "numpy pi.sum()": lambda: float(pi.sum()),
    }
    try:
        from obp.ope import DoublyRobust, InverseProbabilityWeighting

        ipw, dr = InverseProbabilityWeighting(), DoublyRobust()
        impls["obp IPW"] = lambda: float(
            ipw.estimate_policy_value(reward=reward, action=action, pscore=pscore, action_dist=pi3)
        )
        impls["obp DR"] = lambda: float(
            dr.estimate_policy_value(
                reward=reward,
                action=action,
                pscore=pscore,
                action_dist=pi3,
                estimated_rewards_by_reg_model=q3,
            )
        )
    except ImportError:
        pass
    # Interleave the implementations rep by rep so machine noise hits them alike.
    times: dict[str, list[float]] = {k: [] for k in impls}
    values: dict[str, float] = {}
    for fn in impls.values():
        fn()
    for _ in range(reps):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    print(f"\nW3 n={n:,} K=10 reps={reps} data: {source}")
    print(f"{'implementation':<18}{'median ms':>10}{'estimate':>22}")
    for name in impls:
        print(f"{name:<18}{med[name]:>10.2f}{values[name]:>22.15f}")
    out = {"n": n, "reps": reps, "data": source, "median_ms": med, "estimates": values}
    for e in ("IPW", "DR", "IPW-nv"):
        diff = abs(values[f"regretless {e}"] - values[f"numpy {e.split('-')[0]}"])
        out[f"abs_diff_numpy_{e}"] = diff
        ratio = med[f"numpy {e.split('-')[0]}"] / med[f"regretless {e}"]
        out[f"speedup_vs_numpy_{e}"] = ratio
        line = f"{e}: regretless is {ratio:.2f}x numpy (|diff| {diff:.1e})"
        if f"obp {e.split('-')[0]}" in med:
            r_obp = med[f"obp {e.split('-')[0]}"] / med[f"regretless {e}"]
            d_obp = abs(values[f"regretless {e}"] - values[f"obp {e.split('-')[0]}"])
            out[f"speedup_vs_obp_{e}"] = r_obp
            out[f"abs_diff_obp_{e}"] = d_obp
            line += f", {r_obp:.2f}x obp (|diff| {d_obp:.1e})"
        print(line)
    print(
        f"memory floor: numpy pi.sum() over action_dist takes {med['numpy pi.sum()']:.2f} ms "
        f"(regretless IPW is {med['regretless IPW'] / med['numpy pi.sum()']:.2f}x that)"
    )
    return out


def write_parquet(path: str, rows: int, with_context: bool | str) -> None:
    """Logs in row groups of 1M rows, written batch by batch (never all in memory): the
    IPW file holds pi_e(a|x) of the logged action; the DR file holds 5 context columns
    from which the evaluation policy and the reward model are computed per batch; the
    "lists" file holds both tables as fixed_size_list<double>[10] columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    k = 10
    writer = None
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        m = min(chunk, rows - start)
        action = rng.integers(0, k, m)
        cols = {
            "action": action,
            "reward": (rng.random(m) < 0.3 + 0.05 * action).astype(np.float64),
            "pscore": np.full(m, 1.0 / k),
        }
        if with_context == "lists":
            pi = rng.random((m, k)) + 0.1
            pi /= pi.sum(axis=1, keepdims=True)
            cols["pi"] = pa.FixedSizeListArray.from_arrays(pa.array(pi.ravel()), k)
            cols["q"] = pa.FixedSizeListArray.from_arrays(pa.array(rng.random(m * k)), k)
        elif with_context:
            cols.update({f"x{j}": rng.standard_normal(m) for j in range(5)})
        else:
            cols["pi_e"] = rng.random(m)
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=chunk)
    writer.close()


_W = np.random.default_rng(1).standard_normal((5, 10))


def policy_from_context(batch) -> np.ndarray:
    """The evaluation policy of the DR stream: softmax of a linear score of the context."""
    s = batch.context @ _W
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def model_from_context(batch) -> np.ndarray:
    """The reward model of the DR stream: a sigmoid of the same score."""
    return 1.0 / (1.0 + np.exp(-(batch.context @ _W)))


def stream_child(path: str, estimator: str) -> None:
    """Runs in a fresh process: one streaming pass; prints rows/s and peak RSS (VmHWM of
    this process's own address space: getrusage's maxrss would carry the parent's peak
    across fork and exec)."""
    if estimator == "ipw":
        est = ope.InverseProbabilityWeighting()
        kwargs = {"action_dist": "pi_e"}
    elif estimator == "dr-shared":
        # A context-free evaluation policy and reward model (one row shared by all rows,
        # e.g. a multi-armed policy's probabilities()): the per-row DR work on 3 columns.
        est = ope.DoublyRobust()
        pi = np.linspace(1.0, 2.0, 10)[None, :]
        kwargs = {
            "action_dist": pi / pi.sum(),
            "estimated_rewards_by_reg_model": np.linspace(0.3, 0.75, 10)[None, :],
        }
    elif estimator == "dr-list":
        # Both tables stored per row as list columns: Parquet decoding of 160 bytes of
        # doubles per row is the bound here.
        est = ope.DoublyRobust()
        kwargs = {"action_dist": "pi", "estimated_rewards_by_reg_model": "q"}
    else:
        est = ope.DoublyRobust()
        kwargs = {
            "action_dist": policy_from_context,
            "estimated_rewards_by_reg_model": model_from_context,
            "context": [f"x{j}" for j in range(5)],
        }
    t0 = time.perf_counter()
    res = est.estimate_stream(path, **kwargs)
    seconds = time.perf_counter() - t0
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    print(
        json.dumps(
            {"rows": res.n_rounds, "seconds": seconds, "peak_mib": peak, "estimate": res.estimate}
        )
    )


def streaming(rows: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        plans = [
            ("ipw", rows // 4, False),
            ("ipw", rows, False),
            ("dr-shared", rows, False),
            ("dr-list", rows // 20, "lists"),
            ("dr-list", rows // 10, "lists"),
            ("dr", rows // 10, True),
            ("dr", rows // 2, True),
        ]
        for estimator, n, context in plans:
            path = os.path.join(tmp, f"logs-{n}-{context}.parquet")
            if not os.path.exists(path):
                write_parquet(path, n, context)
            size = os.path.getsize(path) / 2**20
            proc = subprocess.run(
                [sys.executable, __file__, "--stream-child", path, "--estimator", estimator],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rate = r["rows"] / r["seconds"]
            out[f"{estimator}_{n}"] = {**r, "rows_per_s": rate, "file_mib": size}
            print(
                f"stream {estimator.upper():<10}{n:>12,} rows ({size:7.0f} MiB Parquet): "
                f"{rate / 1e6:6.1f} M rows/s, peak RSS {r['peak_mib']:.0f} MiB"
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--stream-rows", type=int, default=20_000_000)
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--stream-child")
    ap.add_argument("--estimator", default="ipw")
    args = ap.parse_args()
    if args.stream_child:
        stream_child(args.stream_child, args.estimator)
        return
    print(f"regretless {regretless.__version__}, {os.cpu_count()} CPUs")
    results = {"w3": in_memory(args.n, args.reps)}
    if not args.no_stream:
        results["stream"] = streaming(args.stream_rows)
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
