"""Writes the golden state files of the budgeted and cascading-RL classes (PrimalDualBwK,
KnapsackEnv, HATCH, CascadingVI) for the current format version.

Run once per format version, from the repository root, and commit the output:
``python tests/golden/make_golden_budget.py``. Each file is an object after a fixed seeded
run; the manifest records what it holds (``observed``) and what it does next
(``continuation``: the decisions of a further seeded run, and what it holds after it), which a
later release must reproduce from the same bytes.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))

import regretless  # noqa: E402
from conformance_families import BudgetedContextual, CascadingRL, Knapsack  # noqa: E402

HERE = pathlib.Path(__file__).parent
FAMILIES = (Knapsack(), BudgetedContextual(), CascadingRL())
ENV_MEANS = ([0.9, 0.5, 0.4], [[1.0, 0.2], [0.1, 0.6], [0.05, 0.3]])


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


def observe_env(env: regretless.KnapsackEnv) -> dict[str, Any]:
    return plain({"spent": env.spent(), "n_pulls": env.n_pulls, "total": env.total_reward})


def continue_env(env: regretless.KnapsackEnv) -> list:
    return plain([env.pull(arm) for arm in [0, 1, 2, 2, 1, 0, 1, 1, 2, 0]])


def scenarios() -> list[tuple[str, Any, Any, Any]]:
    """(file stem, object, observe, continue): the golden objects and how to probe them."""
    out = []
    for family in FAMILIES:
        for name in sorted(family.factories):
            obj = family.make(name, seed=1234)
            family.play(obj, 60, seed=99)

            def cont(o: Any, family: Any = family) -> list:
                return plain(family.play(o, 30, seed=5))

            out.append((name, obj, family.observe, cont))
    env = regretless.KnapsackEnv(*ENV_MEANS, budgets=[40.0, 40.0], horizon=200, seed=1234)
    for arm in np.arange(50) % 3:
        env.pull(int(arm))
    out.append(("KnapsackEnv", env, observe_env, continue_env))
    return out


def main() -> None:
    version = f"v{regretless.FORMAT_VERSION}"
    out = HERE / version / "budget"
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = HERE / "budget-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if version in manifest:
        sys.exit(f"{version} is already written; golden files are never regenerated")
    entries = []
    for stem, obj, observe, cont in scenarios():
        file = f"budget/{stem}.bin"
        data = obj.to_bytes()
        (HERE / version / file).write_bytes(data)
        probe = type(obj).from_bytes(data)
        observed = plain(observe(probe))
        steps = cont(probe)
        entries.append(
            {
                "file": file,
                "class": type(obj).__name__,
                "observed": observed,
                "continuation": steps,
                "after": plain(observe(probe)),
            }
        )
    manifest[version] = entries
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(entries)} files to {out}")


if __name__ == "__main__":
    main()
