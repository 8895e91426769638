"""The decision service's event log: append-only segment files of CRC-checked records.

A segment file starts with :data:`SEGMENT_MAGIC` and holds records framed as
``[u32 payload length][u32 CRC-32 of the payload][payload]`` (little-endian). Segments are
named ``seg-<first sequence number>.log``; the writer starts a new one past
``segment_bytes``. A record that is cut short or fails its CRC ends the last segment (a torn
tail, from a crash mid-write): readers stop there and :func:`read_records` with
``repair=True`` truncates it away. The same damage in an earlier segment is corruption and
raises :class:`~regretless.exceptions.StateError`.

A :class:`LogWriter` thread writes what the deciding threads hand it through a bounded
queue, so they do no disk I/O; durability ``"commit"`` makes each caller wait until its
record is fsynced, fsyncing once for every record that arrived meanwhile (group commit).
"""

from __future__ import annotations

import collections
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from regretless.exceptions import StateError

SEGMENT_MAGIC = b"RGLSEG01"
_FRAME = struct.Struct("<II")
_HEAD = struct.Struct("<BQdd")  # kind, sequence number, service clock (s), wall time (s)
_U16 = struct.Struct("<H")
_DECISION = struct.Struct("<IQIi i")  # action, model version, n arms, context dim, n eligible
_REWARD = struct.Struct("<dB")  # value, status code
_EXPIRE = struct.Struct("<Bd")  # applied, value
_PUBLISH = struct.Struct("<Q")

DECISION, REWARD, EXPIRE, PUBLISH = 1, 2, 3, 4
#: Reward statuses, by their code in the log.
STATUSES = ("joined", "pending", "late", "unknown", "duplicate")
STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
#: Longest event id, in UTF-8 bytes.
MAX_EVENT_ID_BYTES = 256


@dataclass(frozen=True)
class Record:
    """One log record. ``kind`` decides which of the optional fields are set."""

    kind: int
    seq: int
    clock: float
    wall: float
    event_id: str = ""
    action: int = -1
    model_version: int = 0
    probabilities: np.ndarray | None = None
    context: np.ndarray | None = None
    eligible: np.ndarray | None = None
    value: float = 0.0
    status: str = ""
    applied: bool = False


def encode(r: Record) -> bytes:
    """The framed bytes of one record."""
    parts = [_HEAD.pack(r.kind, r.seq, r.clock, r.wall)]
    if r.kind != PUBLISH:
        eid = r.event_id.encode()
        parts += [_U16.pack(len(eid)), eid]
    if r.kind == DECISION:
        probs = r.probabilities
        assert probs is not None
        dim = -1 if r.context is None else len(r.context)
        n_elig = -1 if r.eligible is None else len(r.eligible)
        parts.append(_DECISION.pack(r.action, r.model_version, len(probs), dim, n_elig))
        parts.append(np.ascontiguousarray(probs, dtype="<f8").tobytes())
        if r.context is not None:
            parts.append(np.ascontiguousarray(r.context, dtype="<f8").tobytes())
        if r.eligible is not None:
            parts.append(np.ascontiguousarray(r.eligible, dtype="<u4").tobytes())
    elif r.kind == REWARD:
        parts.append(_REWARD.pack(r.value, STATUS_CODE[r.status]))
    elif r.kind == EXPIRE:
        parts.append(_EXPIRE.pack(r.applied, r.value))
    else:
        parts.append(_PUBLISH.pack(r.model_version))
    payload = b"".join(parts)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> Record:
    """The record of a payload whose CRC has been checked."""
    kind, seq, clock, wall = _HEAD.unpack_from(payload, 0)
    pos = _HEAD.size
    if kind == PUBLISH:
        (version,) = _PUBLISH.unpack_from(payload, pos)
        return Record(kind, seq, clock, wall, model_version=version)
    (n,) = _U16.unpack_from(payload, pos)
    pos += _U16.size
    eid = payload[pos : pos + n].decode()
    pos += n
    if kind == DECISION:
        action, version, k, dim, n_elig = _DECISION.unpack_from(payload, pos)
        pos += _DECISION.size
        probs = np.frombuffer(payload, "<f8", k, pos).astype(np.float64)
        pos += 8 * k
        ctx = None
        if dim >= 0:
            ctx = np.frombuffer(payload, "<f8", dim, pos).astype(np.float64)
            pos += 8 * dim
        elig = None
        if n_elig >= 0:
            elig = np.frombuffer(payload, "<u4", n_elig, pos).astype(np.int64)
        return Record(kind, seq, clock, wall, eid, action, version, probs, ctx, elig)
    if kind == REWARD:
        value, code = _REWARD.unpack_from(payload, pos)
        return Record(kind, seq, clock, wall, eid, value=value, status=STATUSES[code])
    if kind == EXPIRE:
        applied, value = _EXPIRE.unpack_from(payload, pos)
        return Record(kind, seq, clock, wall, eid, value=value, applied=bool(applied))
    raise StateError(f"unknown record kind {kind}")


def segment_name(first_seq: int) -> str:
    return f"seg-{first_seq:020d}.log"


def segments(log_dir: str) -> list[str]:
    """The segment files of a log directory, oldest first."""
    names = sorted(n for n in os.listdir(log_dir) if n.startswith("seg-") and n.endswith(".log"))
    return [os.path.join(log_dir, n) for n in names]


def _scan(path: str, data: bytes) -> tuple[list[Record], int]:
    """The intact records of one segment's bytes and the offset where they end."""
    if not data.startswith(SEGMENT_MAGIC):
        if SEGMENT_MAGIC.startswith(data):  # a crash while the segment was being created
            return [], 0
        raise StateError(f"{path}: not a regretless event log segment")
    out = []
    pos = len(SEGMENT_MAGIC)
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        end = pos + _FRAME.size + length
        if end > len(data):
            break
        payload = data[pos + _FRAME.size : end]
        if zlib.crc32(payload) != crc:
            break
        out.append(decode(payload))
        pos = end
    return out, pos


def read_records(log_dir: str, *, after: int = -1, repair: bool = False) -> Iterator[Record]:
    """The records of a log with sequence numbers above ``after``, in order.

    A torn tail of the last segment ends the log (``repair=True`` truncates it off the
    file); damage anywhere else raises :class:`~regretless.exceptions.StateError`.
    """
    paths = segments(log_dir)
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            data = f.read()
        records, end = _scan(path, data)
        if end != len(data):
            if i != len(paths) - 1:
                raise StateError(f"{path}: corrupt record at byte {end} of a closed segment")
            if repair:
                with open(path, "r+b") as f:
                    f.truncate(end)
                    f.flush()
                    os.fsync(f.fileno())
        for r in records:
            if r.seq > after:
                yield r


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LogWriter:
    """The thread that appends records to the segments of ``log_dir``.

    ``submit`` hands over a record (blocking while ``max_queue`` records wait, so memory
    stays bounded); records reach the file in the order submitted. Durability: ``"none"``
    writes without fsync, ``"batch"`` fsyncs at most every ``fsync_interval`` seconds,
    ``"commit"`` fsyncs every batch and lets :meth:`wait_durable` return only then.
    After a failed write or fsync (a full disk) the writer keeps taking records and counts
    them in ``dropped``; :meth:`wait_durable` and :meth:`flush` raise the error.
    """

    def __init__(
        self,
        log_dir: str,
        first_seq: int,
        durability: str,
        *,
        segment_bytes: int = 64 << 20,
        fsync_interval: float = 0.05,
        max_queue: int = 1 << 16,
    ) -> None:
        self.log_dir = log_dir
        self.durability = durability
        self.segment_bytes = segment_bytes
        self.fsync_interval = fsync_interval
        self.max_queue = max_queue
        self._queue: collections.deque[Record] = collections.deque()
        self._cond = threading.Condition()
        self._durable_cond = threading.Condition()
        self._submitted = first_seq - 1
        self._written = first_seq - 1
        self._durable = first_seq - 1
        self._handled = first_seq - 1  # the last record written or dropped
        self._flush_wanted = False
        self._closing = False
        self._commit = durability == "commit"
        self._idle = False
        self._blocked = 0
        self._wake_at = max(1, max_queue // 4)
        # How often an idle writer looks at the queue (none / batch durability).
        self._poll = min(0.005, fsync_interval)
        self.error: OSError | None = None
        self.dropped = 0
        self.bytes_written = 0
        self.fsyncs = 0
        self._file = self._open_segment(first_seq)
        self._thread = threading.Thread(target=self._run, name="regretless-log", daemon=True)
        self._thread.start()

    def _open_segment(self, first_seq: int):  # type: ignore[no-untyped-def]
        path = os.path.join(self.log_dir, segment_name(first_seq))
        f = open(path, "wb")  # noqa: SIM115 - the writer owns it until close
        f.write(SEGMENT_MAGIC)
        f.flush()
        os.fsync(f.fileno())
        fsync_dir(self.log_dir)
        return f

    def submit(self, record: Record) -> None:
        with self._cond:
            while len(self._queue) >= self.max_queue and not self._closing:
                self._blocked += 1
                self._cond.wait()
                self._blocked -= 1
            self._queue.append(record)
            self._submitted = record.seq
            # Waking the writer costs the caller a thread switch: only a commit (which
            # waits for it) or a long queue does; otherwise the writer polls.
            if self._idle and (self._commit or len(self._queue) >= self._wake_at):
                self._cond.notify()

    @property
    def durable_seq(self) -> int:
        return self._durable

    def wait_durable(self, seq: int) -> None:
        """Return once record ``seq`` is on disk (fsynced); raise if writing failed."""
        with self._durable_cond:
            while self._durable < seq:
                # Raise once the writer has dealt with the record (failed or dropped it).
                if self.error is not None and self._handled >= seq:
                    raise self.error
                self._durable_cond.wait()

    def flush(self) -> None:
        """Write and fsync everything submitted so far."""
        with self._cond:
            target = self._submitted
            self._flush_wanted = True
            self._cond.notify_all()
        self.wait_durable(target)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        last_sync = time.monotonic()
        dirty = False
        while True:
            with self._cond:
                if not (self._queue or self._closing or self._flush_wanted):
                    self._idle = True
                    self._cond.wait(None if self._commit and not dirty else self._poll)
                    self._idle = False
                batch = list(self._queue)
                self._queue.clear()
                flush, self._flush_wanted = self._flush_wanted, False
                closing = self._closing
                if self._blocked:
                    self._cond.notify_all()
            handled = batch[-1].seq if batch else self._handled
            try:
                if batch and self.error is not None:  # the disk failed earlier: count, drop
                    self.dropped += len(batch)
                    batch = []
                    raise self.error
                if batch:
                    self._write(batch)
                    dirty = True
                now = time.monotonic()
                sync = dirty and (
                    flush
                    or closing
                    or self.durability == "commit"
                    or (self.durability == "batch" and now - last_sync >= self.fsync_interval)
                )
                if sync:
                    self._file.flush()
                    os.fsync(self._file.fileno())
                    self.fsyncs += 1
                    last_sync, dirty = now, False
                elif self.durability == "none" and batch:
                    self._file.flush()
                if not dirty:
                    with self._durable_cond:
                        self._durable = self._written
                        self._durable_cond.notify_all()
            except OSError as e:
                self.error = self.error or e
                self.dropped += len(batch)
                dirty = False  # nothing more will reach the disk
                with self._durable_cond:
                    self._handled = handled
                    self._durable_cond.notify_all()
            else:
                self._handled = handled
            if closing:
                with self._cond:
                    if self._queue:
                        continue
                try:
                    self._file.close()
                except OSError as e:
                    self.error = self.error or e
                return

    def _write(self, batch: list[Record]) -> None:
        data = b"".join(encode(r) for r in batch)
        self._file.write(data)
        self.bytes_written += len(data)
        self._written = batch[-1].seq
        if self._file.tell() >= self.segment_bytes:
            self._file.flush()
            os.fsync(self._file.fileno())
            self.fsyncs += 1
            self._file.close()
            self._file = self._open_segment(self._written + 1)
