"""Writes the golden state files of the current format version.

Run once per format version, from the repository root, and commit the output:
``python tests/golden/make_golden.py``. Files of older versions are never regenerated:
they prove that a new release still reads what old releases wrote.
"""

from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))

import numpy as np  # noqa: E402
import regretless  # noqa: E402
from conftest import KERNEL_FACTORIES, POLICY_FACTORIES, play, play_kernel  # noqa: E402

HERE = pathlib.Path(__file__).parent


def main() -> None:
    version = str(regretless.FORMAT_VERSION)
    out = HERE / f"v{version}"
    out.mkdir(exist_ok=True)
    manifest_path = HERE / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    entries = []
    for name, factory in sorted(POLICY_FACTORIES.items()):
        p = factory(4, 1234)
        play(p, 150, seed=99)
        data = p.to_bytes()
        file = f"{name}.bin"
        (out / file).write_bytes(data)
        probe = type(p).from_bytes(data)
        entries.append(
            {
                "file": file,
                "class": type(p).__name__,
                "counts": probe.counts().tolist(),
                "scores": probe.scores().tolist(),
                "next_selections": probe.select_batch(10).tolist(),
            }
        )
    # Contextual policies: fitted on a fixed data set; probed on fixed query contexts.
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 3))
    Z = rng.standard_normal((200, 2))
    arms = rng.integers(0, 4, 200)
    rewards = np.clip(0.5 + 0.3 * X[:, 0] * (arms - 1.5) / 1.5, 0, 1)
    Xq = np.round(rng.standard_normal((5, 3)), 3)
    Zq = np.round(rng.standard_normal((5, 2)), 3)
    for cls in (*regretless.CONTEXTUAL_POLICIES, regretless.HybridLinUCB):
        if cls is regretless.HybridLinUCB:
            p = cls(4, 3, 2, seed=1234)
            p.update_batch(X, arms, rewards, Z=Z)
            data = p.to_bytes()
            probe = cls.from_bytes(data)
            scores = probe.scores(Xq, Zq).tolist()
            nxt = probe.select_batch(Xq, Zq).tolist()
        else:
            p = cls(4, 3, seed=1234)
            p.update_batch(X, arms, rewards)
            data = p.to_bytes()
            probe = cls.from_bytes(data)
            scores = probe.scores(Xq).tolist()
            nxt = probe.select_batch(Xq).tolist()
        file = f"{cls.__name__}.bin"
        (out / file).write_bytes(data)
        entries.append(
            {
                "file": file,
                "class": cls.__name__,
                "counts": probe.counts().tolist(),
                "scores": scores,
                "next_selections": nxt,
                "queries": Xq.tolist(),
                "shared_queries": Zq.tolist() if cls is regretless.HybridLinUCB else None,
            }
        )
    # Kernel bandits: played on a fixed objective over fixed candidates (conftest).
    for name, factory in sorted(KERNEL_FACTORIES.items()):
        p = factory(1234)
        play_kernel(p, 40, seed=99)
        data = p.to_bytes()
        file = f"{name}.bin"
        (out / file).write_bytes(data)
        probe = type(p).from_bytes(data)
        entries.append(
            {
                "file": file,
                "class": type(p).__name__,
                "counts": probe.counts().tolist(),
                "scores": probe.scores().tolist(),
                "next_selections": probe.select_batch(5).tolist(),
            }
        )
    manifest[f"v{version}"] = entries
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(entries)} files to {out}")


if __name__ == "__main__":
    main()
