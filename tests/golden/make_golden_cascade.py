"""Writes the golden state files of the cascading bandits for the current format version.

Run once per format version, from the repository root, and commit the output:
``python tests/golden/make_golden_cascade.py``. Each file is a policy after a fixed stream of
lists and clicks; the manifest records its counts, scores and the next lists it shows, which
a later release must reproduce from the same bytes.
"""

from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))

import regretless  # noqa: E402
from conformance_families import Cascade  # noqa: E402
from conftest import CASCADE_FACTORIES  # noqa: E402

HERE = pathlib.Path(__file__).parent


def main() -> None:
    version = f"v{regretless.FORMAT_VERSION}"
    out = HERE / version
    out.mkdir(exist_ok=True)
    manifest_path = HERE / "cascade-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if version in manifest:
        sys.exit(f"{version} is already written; golden files are never regenerated")
    family, entries = Cascade(), []
    for name in sorted(CASCADE_FACTORIES):
        p = family.make(name, seed=1234)
        family.play(p, 200, seed=99)
        file = f"{name}.bin"
        (out / file).write_bytes(p.to_bytes())
        probe = type(p).from_bytes(p.to_bytes())
        entries.append(
            {
                "file": file,
                "class": type(p).__name__,
                "counts": probe.counts().tolist(),
                "scores": probe.scores().tolist(),
                "next_lists": probe.select_list_batch(5, family.k).tolist(),
            }
        )
    manifest[version] = entries
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(entries)} files to {out}")


if __name__ == "__main__":
    main()
