"""Runs fuzz cases in spawned worker processes, so that an abort or a hang is observed, not
suffered: each worker publishes the index of the case it is running in shared memory; the
parent restarts a worker that died (an abort) or whose index stood still longer than the
per-case timeout (a hang), records the case, and goes on with the next one.

A case is fully determined by (probe, seed, index): ``python -m tests.fuzz repro`` rebuilds
and runs one in the current process."""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

from .outcomes import KINDS, Finding, signature

# Address-space limit of a worker: an allocation beyond it fails at once (as an abort or a
# MemoryError) instead of swapping the shared machine.
DEFAULT_MEMORY_LIMIT = 4 << 30
CHUNK = 200  # cases handed to a worker at a time
STARTUP = 300.0  # seconds a new worker may take to import before it counts as hung


def make_probe(name: str, seed: int):
    if name == "state":
        from .state import StateProbe

        return StateProbe(seed)
    if name == "arrays":
        from .arrays import ArrayProbe

        return ArrayProbe(seed)
    if name == "scalars":
        from .scalars import ScalarProbe

        return ScalarProbe(seed)
    if name == "selftest":
        return SelfTestProbe(seed)
    raise ValueError(f"unknown probe {name!r}; expected state, arrays or scalars")


class SelfTestProbe:
    """Cases that misbehave on purpose, to test the runner: index % 7 == 1 reports a
    finding, == 3 aborts the process, == 5 hangs; the others pass."""

    name = "selftest"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def build(self, index: int) -> Any:
        probe = self

        class Case:
            def label(self) -> str:
                return f"selftest case {index}"

            def describe(self) -> str:
                return f"selftest seed {probe.seed} case {index}"

            def run(self) -> None:
                if index % 7 == 1:
                    raise Finding("panic", self.label(), "on purpose")
                if index % 7 == 3:
                    os.abort()
                if index % 7 == 5:
                    time.sleep(3600)

        return Case()


PROBES = ("state", "arrays", "scalars")


def run_case(probe: Any, index: int) -> Finding | None:
    """Builds and runs one case; a Finding it raises is returned. An exception of the
    harness itself (a bug here, not in the library) propagates."""
    case = probe.build(index)
    try:
        case.run()
    except Finding as f:
        return f
    return None


def _limit_memory(limit: int) -> None:
    if limit <= 0:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the parent dies, even mid-hang."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker(probe_name, seed, current, conn, stderr_path, memory_limit) -> None:
    """Worker loop: receives (start, stop) ranges, runs them, sends findings back."""
    _die_with_parent()
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    faulthandler.enable(sys.stderr)
    _limit_memory(memory_limit)
    warnings.simplefilter("ignore")
    os.environ.setdefault("RAYON_NUM_THREADS", "2")
    probe = make_probe(probe_name, seed)
    while True:
        task = conn.recv()
        if task is None:
            return
        start, stop = task
        for i in range(start, stop):
            current.value = i
            try:
                f = run_case(probe, i)
            except Exception:  # noqa: BLE001 - a harness error is reported, not hidden
                conn.send(("harness-error", i, traceback.format_exc()))
                continue
            if f is not None:
                conn.send(("finding", i, (f.kind, f.where, f.detail)))
        conn.send(("done", stop, None))


@dataclass
class FindingRecord:
    probe: str
    seed: int
    index: int
    kind: str
    where: str
    detail: str
    input: str = ""

    @property
    def signature(self) -> str:
        return signature(self.kind, self.where, self.detail)

    def repro(self) -> str:
        return f"python -m tests.fuzz repro {self.probe} {self.seed} {self.index}"


@dataclass
class Report:
    probe: str
    seed: int
    cases: int = 0
    findings: list[FindingRecord] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def by_kind(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def distinct(self) -> dict[str, list[FindingRecord]]:
        groups: dict[str, list[FindingRecord]] = {}
        for f in self.findings:
            groups.setdefault(f.signature, []).append(f)
        return groups


class _Slot:
    """One worker process and the range it is working through."""

    def __init__(self, ctx, probe: str, seed: int, memory_limit: int) -> None:
        self.ctx, self.probe, self.seed, self.memory_limit = ctx, probe, seed, memory_limit
        self.proc = None
        self.range: tuple[int, int] | None = None

    def start(self) -> None:
        self.current = self.ctx.RawValue("q", -1)
        self.conn, child = self.ctx.Pipe()
        fd, self.stderr_path = tempfile.mkstemp(prefix="regretless-fuzz-", suffix=".stderr")
        os.close(fd)
        self.proc = self.ctx.Process(
            target=_worker,
            args=(self.probe, self.seed, self.current, child, self.stderr_path, self.memory_limit),
            daemon=True,
        )
        self.proc.start()
        child.close()
        self.last_index, self.last_change = -1, time.monotonic()
        self.range = None

    def give(self, rng: tuple[int, int] | None) -> None:
        self.range = rng
        self.last_change = time.monotonic()
        with contextlib.suppress(OSError):
            self.conn.send(rng)

    def drain(self) -> list[tuple[str, int, Any]]:
        out = []
        try:
            while self.range is not None and self.conn.poll():
                msg = self.conn.recv()
                out.append(msg)
                if msg[0] == "done":
                    break
        except (EOFError, OSError):
            pass
        return out

    def stderr_text(self) -> str:
        """What the worker wrote to stderr before it died: the library's own message (a Rust
        abort or panic) comes first, then faulthandler's traceback."""
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        head = [ln for ln in lines if not ln.startswith(("File ", "Current thread", "Thread "))]
        return " / ".join(head[:3])

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        with contextlib.suppress(OSError):
            os.unlink(self.stderr_path)


def run(
    probe: str,
    seed: int,
    n_cases: int,
    *,
    start: int = 0,
    workers: int = 1,
    timeout: float = 10.0,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    progress: bool = False,
) -> Report:
    """Runs cases ``start .. start + n_cases`` of one probe; returns what was found."""
    ctx = mp.get_context("spawn")
    report = Report(probe, seed)
    t0 = time.monotonic()
    describer = None  # built lazily in this process, only to describe a crash or hang
    todo = [(a, min(a + CHUNK, start + n_cases)) for a in range(start, start + n_cases, CHUNK)]
    todo.reverse()
    slots = [_Slot(ctx, probe, seed, memory_limit) for _ in range(max(1, workers))]
    for s in slots:
        s.start()
        if todo:
            s.give(todo.pop())
    done_cases = 0
    last_print = time.monotonic()

    def observed(kind: str, index: int, detail: str) -> None:
        nonlocal describer
        if describer is None:
            describer = make_probe(probe, seed)
        try:
            case = describer.build(index)
            where, text = case.label(), case.describe()
        except Exception as exc:  # noqa: BLE001 - the description is best effort
            where, text = "worker", f"(could not describe: {exc!r})"
        report.findings.append(FindingRecord(probe, seed, index, kind, where, detail, text))

    try:
        while any(s.range is not None for s in slots):
            busy = False
            for s in slots:
                if s.range is None:
                    continue
                # Liveness first, then the pipe: findings sent just before a crash are kept.
                dead = not s.proc.is_alive()
                for tag, i, payload in s.drain():
                    busy = True
                    if tag == "finding":
                        kind, where, detail = payload
                        report.findings.append(FindingRecord(probe, seed, i, kind, where, detail))
                    elif tag == "harness-error":
                        report.harness_errors.append(f"case {i}: {payload}")
                    elif tag == "done":
                        done_cases += s.range[1] - s.range[0]
                        s.give(todo.pop() if todo else None)
                        if s.range is None:
                            break
                if s.range is None:
                    continue
                cur = s.current.value
                now = time.monotonic()
                if cur != s.last_index:
                    s.last_index, s.last_change = cur, now
                # Before its first case a worker is importing (seconds on a loaded machine).
                hung = now - s.last_change > (timeout if cur >= 0 else max(timeout, STARTUP))
                if dead or hung:
                    index = cur if cur >= s.range[0] else s.range[0]
                    if dead:
                        code = s.proc.exitcode
                        observed("abort", index, f"{s.stderr_text()} (exit code {code})")
                    else:
                        observed("hang", index, f"no progress for {timeout:g} s")
                    rest = (index + 1, s.range[1])
                    done_cases += index + 1 - s.range[0]
                    s.stop()
                    s.start()
                    if rest[0] < rest[1]:
                        s.give(rest)
                    else:
                        s.give(todo.pop() if todo else None)
            if progress and time.monotonic() - last_print > 10:
                last_print = time.monotonic()
                print(
                    f"  {probe}: {done_cases}/{n_cases} cases, {len(report.findings)} findings",
                    file=sys.stderr,
                    flush=True,
                )
            if not busy:
                time.sleep(0.02)
    finally:
        for s in slots:
            if s.proc is not None and s.proc.is_alive() and s.range is None:
                with contextlib.suppress(OSError, BrokenPipeError):
                    s.conn.send(None)
                s.proc.join(5)
            s.stop()
    report.cases = n_cases
    report.seconds = time.monotonic() - t0
    report.findings.sort(key=lambda f: f.index)
    return report
