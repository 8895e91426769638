"""Sketched against exact LinUCB at embedding sizes (issue 20): time of a single decision, an
online step (select + update), a batch fit and batch scoring, at d = 384 and 768 with K = 16.

Policies: ``LinUCB`` and ``LinTS`` (exact, O(d^2) per arm and decision),
``SketchedLinUCB`` with sketch sizes 16, 32 and 64 (O(m d)) and ``DiagonalLinUCB`` (O(d));
``SharedSketchLinUCB`` (``shared-<m>``: one parameter vector over K action-feature rows of
d values per decision, one sketch for all actions, the ``--cb_explore_adf`` setting) at the
same sizes, timed on (K, d) decisions and reported beside the disjoint sketch of the same m
as the ratio shared / disjoint measured in the same run; with ``--peers`` also Vowpal
Wabbit's ``--cb_explore_adf --squarecb`` (from Python, as the peer harness's W2 adapter)
and a numpy LinUCB; with ``--digits ROUNDS`` the mean reward of each on scikit-learn's
digits lifted to 384 random Fourier features as a 10-arm bandit.
Every policy is first fitted on the same ``--warm`` rows (so the sketches have shrunk and
the exact inverses are dense), then timed on fresh rows:
``decision`` (median of ``select(x)``), ``step`` (median of ``select`` + ``update``),
``fit`` (rows/s of one ``update_batch`` of ``--fit`` rows into a fresh policy) and
``scoring`` (rows/s of ``scores`` on ``--score`` rows). Contexts are Gaussian, normalized
to unit length like sentence embeddings; rewards linear plus noise.

The machine is shared: run alone, quote medians and ratios. Writes
``benches/results/sketch-scaling-<date>.json`` unless ``--no-save``.

    python benches/sketch_scaling.py
    PYTHONPATH=$PWD/python /work/.venv-peers/bin/python benches/sketch_scaling.py --peers \\
        --digits 3000                                  # peers and the digits rewards
    python benches/sketch_scaling.py --dims 384 --modes sketch shared --fit 3000 \\
        --score 1000                                   # shared against disjoint sketches
    python benches/sketch_scaling.py --dims 32 --arms 4 --warm 200 --steps 50 --fit 500 \\
        --score 200 --sizes 4 8 --no-save            # a quick check that it runs
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
import regretless


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


class Regretless:
    """A regretless policy behind the bench's four calls."""

    def __init__(self, policy, name: str):
        self.p, self.name = policy, name
        self.select, self.update = policy.select, policy.update

    def fit(self, X, a, r):
        self.p.update_batch(X, a, r)

    def scores(self, X):
        return self.p.scores(X)


class NumpyLinUCB:
    """Disjoint LinUCB in numpy: stacked (K, d, d) inverses, Sherman-Morrison updates, one
    solve per arm for a batch fit (the reference a user would write)."""

    name = "numpy LinUCB"

    def __init__(self, k: int, d: int, alpha: float = 1.0):
        self.alpha = alpha
        self.Ainv = np.repeat(np.eye(d)[None], k, axis=0)
        self.A = self.Ainv.copy()
        self.b = np.zeros((k, d))
        self.theta = np.zeros((k, d))

    def select(self, x):
        w = self.Ainv @ x
        return int(np.argmax(self.theta @ x + self.alpha * np.sqrt(np.maximum(w @ x, 0.0))))

    def update(self, x, a, r):
        v = self.Ainv[a] @ x
        self.Ainv[a] -= np.outer(v, v) / (1.0 + x @ v)
        self.A[a] += np.outer(x, x)
        self.b[a] += r * x
        self.theta[a] = self.Ainv[a] @ self.b[a]

    def fit(self, X, arms, r):
        for a in range(len(self.b)):
            m = arms == a
            self.A[a] += X[m].T @ X[m]
            self.b[a] += r[m] @ X[m]
            self.Ainv[a] = np.linalg.inv(self.A[a])
            self.theta[a] = self.Ainv[a] @ self.b[a]

    def scores(self, X):
        q = np.stack([((X @ inv) * X).sum(1) for inv in self.Ainv], axis=1)
        return X @ self.theta.T + self.alpha * np.sqrt(np.maximum(q, 0.0))


class VWSquareCB:
    """Vowpal Wabbit's ``--cb_explore_adf --squarecb`` from Python (per-arm linear models by
    the shared x action interaction), as in the peer harness's W2 adapter."""

    def __init__(self, k: int, d: int):
        import vowpalwabbit

        self.name = "VW squarecb"
        self.ws = vowpalwabbit.Workspace(
            "--cb_explore_adf --squarecb -q sa --quiet --random_seed 0"
        )
        self.k, self.names = k, [f"x{i}" for i in range(d)]
        self.actions = [f"|a a{i}" for i in range(k)]
        self.rng = np.random.default_rng(0)
        self.last_p = 1.0 / k

    def _shared(self, x):
        pairs = zip(self.names, x.tolist(), strict=True)
        return "shared |s " + " ".join(f"{n}:{v:.6g}" for n, v in pairs)

    def select(self, x):
        pmf = self.ws.predict([self._shared(x), *self.actions])
        a = int(self.rng.choice(self.k, p=np.asarray(pmf) / sum(pmf)))
        self.last_p = pmf[a]
        return a

    def update(self, x, a, r, p=None):
        lines = [self._shared(x), *self.actions]
        p = self.last_p if p is None else p
        lines[a + 1] = f"0:{-r:.6g}:{max(p, 1e-6):.6g} {self.actions[a]}"
        self.ws.learn(lines)

    def fit(self, X, arms, r):
        for x, a, ri in zip(X, arms.tolist(), r.tolist(), strict=True):
            self.update(x, a, ri, 1.0 / self.k)

    def scores(self, X):
        return np.array([self.ws.predict([self._shared(x), *self.actions]) for x in X])


class SharedSketch:
    """SharedSketchLinUCB behind the bench's calls. A decision is a (K, d) matrix of action
    features; ``fit`` and ``update`` take the played rows (the arms are not used)."""

    def __init__(self, d: int, m: int, seed: int = 0):
        self.p = regretless.SharedSketchLinUCB(d, sketch_size=m, alpha=1.0, seed=seed)
        self.name = f"SharedSketchLinUCB(m={m})"
        self.select = self.p.select

    def update(self, x, a, r):
        self.p.update(x[a], r)

    def fit(self, X, a, r):
        self.p.update_batch(X, r)

    def scores(self, X):
        return self.p.scores(X)


def make(mode: str, k: int, d: int, seed: int = 0):
    """``exact``, ``exact-f32`` (``precision="float32"``), ``exact-ts``, ``sketch-<m>``,
    ``sketch-f32-<m>`` (``precision="float32"``), ``shared-<m>``, ``diagonal``, ``numpy``
    or ``vw``."""
    if mode == "exact":
        return Regretless(regretless.LinUCB(k, d, alpha=1.0, seed=seed), "LinUCB")
    if mode == "exact-f32":
        policy = regretless.LinUCB(k, d, alpha=1.0, precision="float32", seed=seed)
        return Regretless(policy, "LinUCB(float32)")
    if mode == "exact-ts":
        return Regretless(regretless.LinTS(k, d, seed=seed), "LinTS")
    if mode.startswith("sketch-f32-"):
        m = int(mode.split("-")[2])
        return Regretless(
            regretless.SketchedLinUCB(
                k, d, sketch_size=m, alpha=1.0, precision="float32", seed=seed
            ),
            f"SketchedLinUCB(m={m},f32)",
        )
    if mode.startswith("sketch-"):
        m = int(mode.split("-")[1])
        return Regretless(
            regretless.SketchedLinUCB(k, d, sketch_size=m, alpha=1.0, seed=seed),
            f"SketchedLinUCB(m={m})",
        )
    if mode.startswith("shared-"):
        return SharedSketch(d, int(mode.split("-")[1]), seed)
    if mode == "diagonal":
        return Regretless(regretless.DiagonalLinUCB(k, d, alpha=1.0, seed=seed), "DiagonalLinUCB")
    if mode == "numpy":
        return NumpyLinUCB(k, d)
    if mode == "vw":
        return VWSquareCB(k, d)
    raise ValueError(mode)


def measure(mode: str, k: int, d: int, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(d)
    theta = rng.standard_normal((k, d)) / np.sqrt(d)
    Xw = unit_rows(rng, args.warm, d)
    aw = rng.integers(0, k, args.warm)
    rw = (Xw * theta[aw]).sum(1) + 0.1 * rng.standard_normal(args.warm)
    policy = make(mode, k, d)
    policy.fit(Xw, aw, rw)

    shared = mode.startswith("shared-")
    if shared:
        # K actions of d features per decision (theta[0] is the shared parameter vector).
        Xs = unit_rows(rng, args.steps * k, d).reshape(args.steps, k, d)
        theta = np.repeat(theta[:1], k, axis=0)
    else:
        Xs = unit_rows(rng, args.steps, d)
    select, update = policy.select, policy.update
    decision = np.empty(args.steps)
    for i in range(args.steps):
        t0 = time.perf_counter()
        select(Xs[i])
        decision[i] = time.perf_counter() - t0
    step = np.empty(args.steps)
    for i in range(args.steps):
        x = Xs[i]
        t0 = time.perf_counter()
        a = select(x)
        update(x, a, float((x[a] if shared else x) @ theta[a]))
        step[i] = time.perf_counter() - t0

    Xf = unit_rows(rng, args.fit, d)
    af = rng.integers(0, k, args.fit)
    rf = (Xf * theta[af]).sum(1)
    fresh = make(mode, k, d)
    t0 = time.perf_counter()
    fresh.fit(Xf, af, rf)
    fit = args.fit / (time.perf_counter() - t0)

    Xq = unit_rows(rng, args.score * (k if shared else 1), d)
    if shared:
        Xq = Xq.reshape(args.score, k, d)  # a row of scores is a decision of K actions
    t0 = time.perf_counter()
    policy.scores(Xq)
    scoring = args.score / (time.perf_counter() - t0)
    return {
        "policy": policy.name,
        "d": d,
        "K": k,
        "decision_us": float(np.median(decision) * 1e6),
        "step_us": float(np.median(step) * 1e6),
        "fit_rows_per_s": fit,
        "scoring_rows_per_s": scoring,
    }


def digits_rewards(dim: int, modes: list[str], seeds: int, rounds: int) -> list[dict]:
    """Mean reward of each mode on scikit-learn's digits as a 10-arm bandit: the context is
    the image lifted to ``dim`` random Fourier features (RBF, gamma = 1 / 64 on pixels
    scaled to [0, 1]), reward 1 when the arm is the digit. ``rounds`` online steps over a
    shuffled pass (repeated if longer), averaged over ``seeds``."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images = images / 16.0
    out = []
    for mode in modes:
        rewards = []
        for seed in range(seeds):
            rng = np.random.default_rng(100 + seed)
            W = rng.standard_normal((images.shape[1], dim)) * np.sqrt(2.0 / 64)
            phase = rng.uniform(0, 2 * np.pi, dim)
            Z = np.sqrt(2.0 / dim) * np.cos(images @ W + phase)
            order = np.resize(rng.permutation(len(Z)), rounds)
            policy = make(mode, 10, dim, seed)
            total = 0.0
            for i in order:
                a = policy.select(Z[i])
                r = float(a == labels[i])
                policy.update(Z[i], a, r)
                total += r
            rewards.append(total / rounds)
        out.append(
            {
                "policy": make(mode, 10, dim).name if mode != "vw" else "VW squarecb",
                "d": dim,
                "mean_reward": float(np.mean(rewards)),
                "sd": float(np.std(rewards)),
                "seeds": seeds,
                "rounds": rounds,
            }
        )
        r = out[-1]
        print(f"{r['policy']:<24}{dim:>5}{r['mean_reward']:>10.3f} +- {r['sd']:.3f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", type=int, nargs="*", default=[384, 768])
    ap.add_argument("--arms", type=int, default=16)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--warm", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--fit", type=int, default=20000)
    ap.add_argument("--score", type=int, default=5000)
    ap.add_argument(
        "--peers",
        action="store_true",
        help="also Vowpal Wabbit's squarecb and a numpy LinUCB (needs vowpalwabbit)",
    )
    ap.add_argument(
        "--digits",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also the reward of each mode on digits lifted to --digits-dim features",
    )
    ap.add_argument("--digits-dim", type=int, default=384)
    ap.add_argument("--digits-seeds", type=int, default=3)
    ap.add_argument(
        "--modes",
        nargs="*",
        default=None,
        help="only the modes starting with these prefixes (exact, sketch, shared, diagonal...)",
    )
    ap.add_argument("--tag", default="")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()

    modes = ["exact", "exact-f32", "exact-ts", *[f"sketch-{m}" for m in args.sizes]]
    modes += [f"sketch-f32-{m}" for m in args.sizes]
    modes += [*[f"shared-{m}" for m in args.sizes], "diagonal"]
    if args.peers:
        modes += ["numpy", "vw"]
    if args.modes:
        modes = [m for m in modes if m.startswith(tuple(args.modes))]
    rows = []
    header = f"{'policy':<24}{'d':>5}{'decision us':>13}{'step us':>10}{'fit rows/s':>13}"
    print(header + f"{'score rows/s':>14}")
    for d in args.dims:
        for mode in modes:
            r = measure(mode, args.arms, d, args)
            rows.append(r)
            print(
                f"{r['policy']:<24}{d:>5}{r['decision_us']:>13.1f}{r['step_us']:>10.1f}"
                f"{r['fit_rows_per_s']:>13.0f}{r['scoring_rows_per_s']:>14.0f}",
                flush=True,
            )
    # The shared sketch against the disjoint one of the same m, measured in this run.
    by = {(r["policy"], r["d"]): r for r in rows}
    keys = ["decision_us", "step_us", "fit_rows_per_s", "scoring_rows_per_s"]
    for d in args.dims:
        for m in args.sizes:
            sh = by.get((f"SharedSketchLinUCB(m={m})", d))
            dj = by.get((f"SketchedLinUCB(m={m})", d))
            if sh and dj:
                ratio = {key: sh[key] / dj[key] for key in keys}
                sh["vs_disjoint"] = ratio
                print(
                    f"shared / disjoint m={m:<3} d={d}: decision {ratio['decision_us']:.2f}x, "
                    f"step {ratio['step_us']:.2f}x (times), fit {ratio['fit_rows_per_s']:.2f}x, "
                    f"scoring {ratio['scoring_rows_per_s']:.2f}x (rows/s)"
                )
    rewards = []
    if args.digits:
        print(f"{'policy':<24}{'d':>5}{'reward':>10}")
        # The shared sketch's decisions take action features: not this per-arm problem.
        per_arm = [m for m in modes if not m.startswith("shared-")]
        rewards = digits_rewards(args.digits_dim, per_arm, args.digits_seeds, args.digits)
    if not args.no_save:
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        tag = f"-{args.tag}" if args.tag else ""
        path = out / f"sketch-scaling-{datetime.date.today().isoformat()}{tag}.json"
        path.write_text(json.dumps({"args": vars(args), "rows": rows, "digits": rewards}, indent=1))
        print("wrote", path)


if __name__ == "__main__":
    main()
