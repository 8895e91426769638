"""Command line of the fuzzers.

    python -m tests.fuzz run --probe state --cases 1000000 --workers 2 --seed 1
    python -m tests.fuzz run --all --cases 200000 --json findings.json
    python -m tests.fuzz repro state 1 12345      # rebuild, print and run one case here

Run from the repository root with ``PYTHONPATH=python`` (or an installed regretless)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from .outcomes import KINDS
from .runner import (
    DEFAULT_MEMORY_LIMIT,
    PROBES,
    Report,
    _limit_memory,
    make_probe,
    run,
    run_case,
)


def summarize(reports: list[Report], *, examples: int = 1, limit: int | None = None) -> str:
    lines = [
        "| probe | cases | seconds | " + " | ".join(KINDS) + " |",
        "|---|---:|---:|" + "---:|" * len(KINDS),
    ]
    for r in reports:
        counts = r.by_kind()
        lines.append(
            f"| {r.probe} | {r.cases} | {r.seconds:.0f} | "
            + " | ".join(str(counts[k]) for k in KINDS)
            + " |"
        )
    for r in reports:
        groups = r.distinct()
        if not groups and not r.harness_errors:
            continue
        lines.append(f"\n{r.probe} (seed {r.seed}): {len(groups)} distinct findings")
        describer = make_probe(r.probe, r.seed)
        ordered = sorted(groups.items(), key=lambda kv: (KINDS.index(kv[1][0].kind), kv[0]))
        if limit is not None and len(ordered) > limit:
            lines.append(f"(the first {limit} shown)")
            ordered = ordered[:limit]
        for sig, fs in ordered:
            first = fs[0]
            lines.append(f"- [{len(fs)}x] {sig}")
            lines.append(
                f"    detail: {first.detail.splitlines()[0][:300] if first.detail else ''}"
            )
            lines.append(f"    repro:  {first.repro()}")
            if examples:
                try:
                    text = first.input or describer.build(first.index).describe()
                except Exception as exc:  # noqa: BLE001 - best effort
                    text = f"(could not describe: {exc!r})"
                lines.append(f"    input:  {text[:600]}")
        for e in r.harness_errors[:5]:
            lines.append(f"  harness error: {e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.fuzz",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run cases of one or every probe")
    r.add_argument("--probe", choices=PROBES, action="append")
    r.add_argument("--all", action="store_true", help="every probe")
    r.add_argument("--cases", type=int, default=10_000, help="cases per probe")
    r.add_argument("--start", type=int, default=0, help="index of the first case")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    r.add_argument(
        "--memory-limit",
        type=int,
        default=DEFAULT_MEMORY_LIMIT,
        help="address-space limit of a worker in bytes (0: none)",
    )
    r.add_argument("--json", help="write every finding to this file")
    p = sub.add_parser("repro", help="rebuild one case, print its input and run it here")
    p.add_argument("probe", choices=PROBES)
    p.add_argument("seed", type=int)
    p.add_argument("index", type=int)
    p.add_argument("--memory-limit", type=int, default=DEFAULT_MEMORY_LIMIT)
    args = ap.parse_args(argv)

    if args.command == "repro":
        _limit_memory(args.memory_limit)  # as in a worker: a huge allocation fails fast
        probe = make_probe(args.probe, args.seed)
        print(probe.build(args.index).describe(), flush=True)
        f = run_case(probe, args.index)
        print("no finding" if f is None else f"FINDING {f}")
        return 0 if f is None else 1

    # A terminated run still stops its workers (the runner's finally clause). Only here: a
    # Python handler would make `repro` of a hang (GIL held) deaf to `timeout`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    probes = list(PROBES) if args.all or not args.probe else args.probe
    reports = []
    for name in probes:
        t0 = time.monotonic()
        print(f"{name}: {args.cases} cases, seed {args.seed}", file=sys.stderr, flush=True)
        rep = run(
            name,
            args.seed,
            args.cases,
            start=args.start,
            workers=args.workers,
            timeout=args.timeout,
            memory_limit=args.memory_limit,
            progress=True,
        )
        print(f"{name}: done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        reports.append(rep)
    print(summarize(reports))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                [
                    {
                        "probe": r.probe,
                        "seed": r.seed,
                        "cases": r.cases,
                        "seconds": r.seconds,
                        "by_kind": r.by_kind(),
                        "findings": [f.__dict__ | {"signature": f.signature} for f in r.findings],
                        "harness_errors": r.harness_errors,
                    }
                    for r in reports
                ],
                fh,
                indent=1,
            )
    return 1 if any(r.findings or r.harness_errors for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
