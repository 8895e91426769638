"""Writes the golden state files of the reactive-reward and dynamical-linear classes
(PeriodicUCB, LSDExploreCommit, TallyingElimination and their environments RecoveringEnv,
LSDEnv, TallyingEnv; DynLinUCB, MyopicLinUCB and DynamicalLinearEnv) for the current format
version.

Run once per format version, from the repository root, and commit the output:
``python tests/golden/make_golden_reactive.py``. Each file is an object after a fixed seeded
run; the manifest records what it holds (``observed``) and what it does next (``continuation``: the
decisions of a further seeded run, and what it holds after it), which a later release must
reproduce from the same bytes. The objects are built here, not from the conformance
factories, so that editing those never changes what a golden file means.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import regretless

HERE = pathlib.Path(__file__).parent
MEANS = np.array([0.3, 0.6, 0.5])
ACTIONS = regretless.DynamicalLinearEnv.budget_splits(3)


def plain(value: Any) -> Any:
    """JSON-ready: arrays and tuples as lists, numpy scalars as Python numbers."""
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---- reactive policies: Bernoulli rewards with fixed means, answered in order ----------------


def play_reactive(obj: Any, steps: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        arms = [int(a) for a in np.atleast_1d(obj.select())]
        out.append(arms)
        for a in arms:
            obj.update(a, float(rng.random() < MEANS[a]))
    return out


def observe_reactive(obj: Any) -> dict[str, Any]:
    out = {"counts": obj.counts(), "means": obj.means(), "n_updates": obj.n_updates}
    if isinstance(obj, regretless.PeriodicUCB):
        out.update(periods=obj.periods(), ucb=obj.ucb(), n_periods=obj.n_periods)
    elif isinstance(obj, regretless.LSDExploreCommit):
        out["cycle"] = obj.cycle
    else:
        out.update(active=obj.active(), phase=obj.phase)
    return plain(out)


# ---- dynamical linear policies against the authors' synthetic system ----------------------


def play_dynlin(obj: Any, steps: int, seed: int) -> list:
    env = regretless.DynamicalLinearEnv.synthetic(0.05, seed=seed)
    out = []
    for _ in range(steps):
        a = obj.select()
        obj.update(a, env.step(ACTIONS[a]))
        out.append(int(a))
    return out


def observe_dynlin(obj: Any) -> dict[str, Any]:
    out = {
        "estimate": obj.estimate(),
        "gram": obj.gram(),
        "scores": obj.scores(),
        "beta": obj.beta,
        "n_updates": obj.n_updates,
    }
    if isinstance(obj, regretless.DynLinUCB):
        out.update(epoch=obj.epoch, held=obj.held, n_epochs=obj.n_epochs)
    return plain(out)


# ---- environments ----------------------------------------------------------------------------


def observe_env(env: Any) -> dict[str, Any]:
    if isinstance(env, regretless.DynamicalLinearEnv):
        return plain({"state": env.state(), "n_steps": env.n_steps})
    out: dict[str, Any] = {"means": env.means(), "n_pulls": env.n_pulls}
    if isinstance(env, regretless.RecoveringEnv):
        out["idle"] = env.idle()
    elif isinstance(env, regretless.LSDEnv):
        out["states"] = env.states()
    else:
        out["tallies"] = env.tallies()
    return plain(out)


def play_env(env: Any, steps: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        if isinstance(env, regretless.DynamicalLinearEnv):
            out.append(env.step(ACTIONS[int(rng.integers(len(ACTIONS)))]))
        elif isinstance(env, regretless.RecoveringEnv):
            out.append(env.pull([int(rng.integers(env.n_arms))]))
        else:
            out.append(env.pull(int(rng.integers(env.n_arms))))
    return plain(out)


Maker = Callable[[], Any]
POLICIES: dict[str, Maker] = {
    "PeriodicUCB": lambda: regretless.PeriodicUCB(3, 4, horizon=2000, seed=1234),
    "PeriodicUCB-per-period": lambda: regretless.PeriodicUCB(
        3, 3, horizon=500, per_period=2, seed=1234
    ),
    "LSDExploreCommit": lambda: regretless.LSDExploreCommit(3, 2, horizon=300, seed=1234),
    "LSDExploreCommit-n0": lambda: regretless.LSDExploreCommit(3, 1, horizon=1000, n0=2, seed=1234),
    "TallyingElimination": lambda: regretless.TallyingElimination(3, 2, horizon=2000, seed=1234),
    "DynLinUCB": lambda: regretless.DynLinUCB(
        ACTIONS, 1000, **regretless.DynamicalLinearEnv.synthetic().bounds(), seed=1234
    ),
    "DynLinUCB-rho0-lam-scale": lambda: regretless.DynLinUCB(
        ACTIONS, 1000, rho_bar=0.0, sigma=0.05, lam=2.0, scale=0.05, seed=1234
    ),
    "MyopicLinUCB": lambda: regretless.MyopicLinUCB(
        ACTIONS, 1000, theta=0.5, sigma=0.05, lam=2.0, scale=0.3, seed=1234
    ),
}
ENVS: dict[str, Maker] = {
    "RecoveringEnv": lambda: regretless.RecoveringEnv.exponential(
        [0.9, 0.6, 0.4], [3.0, 1.0, 0.5], 4, per_period=2, seed=1234
    ),
    "LSDEnv": lambda: regretless.LSDEnv(
        [[0.9, 0.2], [0.6, 0.5], [0.4, 0.4]], [[0.3, 0.9], [0.4, 0.6], [0.4, 0.5]], seed=1234
    ),
    "TallyingEnv": lambda: regretless.TallyingEnv(
        [0.6, 0.0, 0.3], [0.0, 0.9, 0.2], [0.25] * 4, seed=1234
    ),
    "DynamicalLinearEnv": lambda: regretless.DynamicalLinearEnv.synthetic(0.05, seed=1234),
}


def scenarios() -> list[tuple[str, Maker, Callable, Callable]]:
    """(file stem, maker, observe, play): the golden objects and how to drive them."""
    out: list[tuple[str, Maker, Callable, Callable]] = []
    for stem, make in POLICIES.items():
        dyn = stem.startswith(("DynLin", "Myopic"))
        out.append(
            (
                stem,
                make,
                observe_dynlin if dyn else observe_reactive,
                play_dynlin if dyn else play_reactive,
            )
        )
    for stem, make in ENVS.items():
        out.append((stem, make, observe_env, play_env))
    return out


def build(stem: str) -> Any:
    """The object of file ``stem`` as it was written: 60 seeded steps."""
    _, make, _, play = next(s for s in scenarios() if s[0] == stem)
    obj = make()
    play(obj, 60, 99)
    return obj


def main() -> None:
    version = f"v{regretless.FORMAT_VERSION}"
    out = HERE / version / "reactive"
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = HERE / "reactive-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if version in manifest:
        sys.exit(f"{version} is already written; golden files are never regenerated")
    entries = []
    for stem, _, observe, play in scenarios():
        obj = build(stem)
        file = f"reactive/{stem}.bin"
        data = obj.to_bytes()
        (HERE / version / file).write_bytes(data)
        probe = type(obj).from_bytes(data)
        entries.append(
            {
                "file": file,
                "class": type(obj).__name__,
                "observed": observe(probe),
                "continuation": plain(play(probe, 30, 5)),
                "after": observe(probe),
            }
        )
    manifest[version] = entries
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(entries)} files to {out}")


if __name__ == "__main__":
    main()
