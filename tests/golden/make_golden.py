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
    write_ope_golden(version)


def ope_logs(start: int, stop: int, k: int = 5) -> dict:
    """Logged rows start..stop of a fixed data set (arithmetic only, no generator, so the
    rows never change): the inputs of an off-policy accumulator."""
    i = np.arange(start, stop)
    raw = (i[:, None] * 7 + np.arange(k)[None, :] * 3) % 11 + 1.0
    pi = raw / raw.sum(axis=1, keepdims=True)
    q = ((i[:, None] * 5 + np.arange(k)[None, :]) % 13) / 13.0
    action = (i * 3) % k
    reward = ((i * 11) % 7 < 3).astype(np.int64)
    pscore = np.full(len(i), 1.0 / k)
    return dict(reward=reward, action=action, pscore=pscore, action_dist=pi, estimated_rewards=q)


OPE_SPLIT, OPE_ROWS = 1_500, 3_000


def write_ope_golden(version: str) -> None:
    """OffPolicyAccumulator states stopped mid-stream; the manifest records the result
    after the remaining rows are pushed, which a later release must reproduce."""
    from regretless import ope

    manifest_path = HERE / "ope-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    entries = []
    for est in (ope.DoublyRobust(lambda_=4.0), ope.SelfNormalizedInverseProbabilityWeighting()):
        acc = est.accumulator(n_bootstrap=25, seed=2024, first_row=100)
        acc.push(**ope_logs(0, OPE_SPLIT))
        data = acc.to_bytes()
        file = f"ope/OffPolicyAccumulator-{est.estimator_name}.bin"
        (HERE / f"v{version}" / "ope").mkdir(parents=True, exist_ok=True)
        (HERE / f"v{version}" / file).write_bytes(data)
        probe = type(acc).from_bytes(data)
        probe.push(**ope_logs(OPE_SPLIT, OPE_ROWS))
        r = probe.result(0.1)
        entries.append(
            {
                "file": file,
                "estimator": est.estimator_name,
                "rows_stored": OPE_SPLIT,
                "rows_total": OPE_ROWS,
                "estimate": r.estimate,
                "std_err": r.std_err,
                "bootstrap_ci": list(r.bootstrap_ci),
            }
        )
    manifest[f"v{version}"] = entries
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(entries)} off-policy accumulator files")


if __name__ == "__main__":
    main()
