"""Writes tests/golden/decay-v2: payload version 2 (the layout before the cached tridiagonal
forms, issue 18) of the decayed LinUCB, LinTS and LinGreedy, with the scores, means, widths and
coefficients the build that wrote them computed and its next 60 decisions (select + update) on
a fixed stream. Run once, from the repository root, with the extension the issue-18 follow-up
branch started from (main at 7857a16 or before, writing version 2; later builds write
version 3 and the assert below stops them):

    PYTHONPATH=python python tests/golden/decay-v2/make_v2.py
"""

import json
import pathlib

import numpy as np
import regretless

OUT = pathlib.Path("tests/golden/decay-v2")


def stream(n, k, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    theta = rng.standard_normal((k, d))
    noise = rng.normal(0, 0.1, n)
    return X, theta, noise


def make(name):
    k, d = 3, 4
    return {
        "LinUCB": lambda: regretless.LinUCB(k, d, alpha=0.5, lam=0.7, decay=0.97, seed=3),
        "LinTS": lambda: regretless.LinTS(k, d, v=0.3, lam=1.2, decay=0.9, seed=4),
        "LinGreedy": lambda: regretless.LinGreedy(k, d, epsilon=0.1, decay=0.99, seed=5),
    }[name]()


out = {
    "version": regretless.__version__ if hasattr(regretless, "__version__") else "",
    "classes": {},
}
for name in ["LinUCB", "LinTS", "LinGreedy"]:
    p = make(name)
    k, d = p.n_arms, p.dim
    X, theta, noise = stream(400, k, d, 1)
    rng = np.random.default_rng(2)
    arms = np.where(np.arange(150) < 30, rng.integers(0, k, 150), rng.integers(0, k - 1, 150))
    w = rng.uniform(0.5, 1.5, 150)
    p.update_batch(X[:100], arms[:100], X[:100] @ np.ones(d) * 0.1 + noise[:100], w[:100])
    for i in range(100, 150):
        p.update(X[i], int(arms[i]), float(X[i] @ theta[arms[i]] + noise[i]), float(w[i]))
    data = p.to_bytes()
    assert int.from_bytes(data[4:6], "little") == 2
    (OUT / f"{name}-decay.bin").write_bytes(data)
    Q = X[150:170]
    entry = {
        "scores": p.scores(Q).tolist(),
        "mean": p.mean(Q).tolist(),
        "width": p.width(Q).tolist(),
        "coefficients": p.coefficients().tolist(),
    }
    decisions = []
    for i in range(170, 230):
        a = p.select(X[i])
        decisions.append(int(a))
        p.update(X[i], a, float(X[i] @ theta[a] + noise[i]))
    entry["decisions"] = decisions
    entry["scores_after"] = p.scores(X[230:240]).tolist()
    out["classes"][name] = entry
(OUT / "expected.json").write_text(json.dumps(out, indent=1) + "\n")
print("ok")
