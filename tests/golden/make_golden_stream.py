"""Writes the golden state files of the streaming policies for the current format version.

Run once per format version, from the repository root, and commit the output:
``python tests/golden/make_golden_stream.py``. Each file is a policy stopped in the middle
of an evaluation; the manifest records what it holds and the requests it makes afterwards
(``continuation``), which a later release must reproduce from the same bytes.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import regretless

HERE = pathlib.Path(__file__).parent
K = 50
HORIZON = K**3 * 20
MEANS = ((np.arange(K) * 7) % 10) / 10


def pay(policy, trace: list | None = None) -> None:
    """Pays every pull asked for with reward = the arm's mean (deterministic), stopping at
    the commit; appends (arm, pulls) of each request to `trace`."""
    while (arm := policy.next_pull()) is not None and policy.committed_arm is None:
        n = policy.pending_pulls
        if trace is not None:
            trace.append([int(arm), int(n)])
        policy.update_many(arm, np.full(n, MEANS[arm]))


def scenario(cls):
    """The golden state: 30 arms paid, the 31st offered and three of its pulls recorded."""
    p = cls(K, HORIZON, seed=1234)
    for arm in range(30):
        p.offer(arm)
        pay(p)
    p.offer(30)
    p.update_many(30, [1.0, 0.0, 0.5])
    return p


def continuation(p) -> list:
    """The requests the policy makes from here to its commit."""
    trace: list = []
    pay(p, trace)
    for arm in range(31, K):
        p.offer(arm)
        pay(p, trace)
    p.finish()
    pay(p, trace)
    trace.append(["commit", p.committed_arm, p.pending_pulls])
    return trace


def main() -> None:
    version = str(regretless.FORMAT_VERSION)
    out = HERE / f"v{version}" / "stream"
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = HERE / "stream-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    entries = []
    for cls in regretless.STREAM_POLICIES:
        p = scenario(cls)
        data = p.to_bytes()
        file = f"stream/{cls.__name__}.bin"
        (HERE / f"v{version}" / file).write_bytes(data)
        probe = cls.from_bytes(data)
        entries.append(
            {
                "file": file,
                "class": cls.__name__,
                "arms_in_memory": probe.arms_in_memory(),
                "n_pulls": probe.n_pulls,
                "continuation": continuation(probe),
            }
        )
    manifest[f"v{version}"] = entries
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(entries)} files to {out}")


if __name__ == "__main__":
    main()
