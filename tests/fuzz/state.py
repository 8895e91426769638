"""Probe (a): mutated state bytes for every stateful class.

Each case starts from a valid ``to_bytes()`` of a randomly played object, applies one to three
mutations (bit flips, byte and field overwrites with boundary values, postcard varint
rewrites, truncation, extension, insertions, deletions, splices with another class's bytes,
header edits) and, usually, recomputes the CRC-32 trailer so the mutation reaches the payload
decoder (format: ``RGLS``, u16 version, u8 kind length, kind, postcard payload, CRC-32 LE).

``from_bytes`` must either raise StateError or return an object that makes valid calls and
whose own bytes load back."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from regretless import RegretlessError

from .outcomes import Finding, assert_loadable, check_raised, describe, is_panic
from .targets import BY_NAME, TARGETS, Target

# Base states per target: played for 0, a few, many and very many steps.
PLAY_STEPS = (0, 3, 40, 300)

INTERESTING_F64 = (
    math.nan,
    -math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    1.0,
    -1.0,
    5e-324,
    2.2250738585072014e-308,
    1e-200,
    1e33,
    1e160,
    1e300,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    0.5,
    2.0**63,
)
INTERESTING_INT = (
    0,
    1,
    2,
    3,
    127,
    128,
    255,
    2**16,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**53,
    2**62,
    2**63 - 1,
    2**63,
    2**64 - 1,
)
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


def varint(n: int) -> bytes:
    """postcard's unsigned LEB128."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63) if n < 0 else n << 1


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def split(data: bytes) -> tuple[bytes, bytes]:
    """(header, payload) of valid state bytes (CRC removed)."""
    klen = data[6]
    return data[: 7 + klen], data[7 + klen : -4]


def kind_of(data: bytes) -> str:
    return data[7 : 7 + data[6]].decode("ascii")


@dataclass
class Ctx:
    rng: np.random.Generator
    other: Callable[[], bytes]  # valid bytes of a random (other) target


def _pos(rng: np.random.Generator, n: int) -> int:
    return int(rng.integers(0, n)) if n > 0 else 0


# Mutations of the payload (header and CRC handled apart) ---------------------------------


def m_bitflip(p: bytearray, c: Ctx) -> str:
    k = int(c.rng.integers(1, 9))
    for _ in range(k):
        if p:
            i = _pos(c.rng, len(p))
            p[i] ^= 1 << int(c.rng.integers(0, 8))
    return f"bitflip x{k}"


def m_byte(p: bytearray, c: Ctx) -> str:
    if not p:
        return "byte (empty)"
    i = _pos(c.rng, len(p))
    v = (
        int(c.rng.choice(INTERESTING_BYTES))
        if c.rng.random() < 0.6
        else int(c.rng.integers(0, 256))
    )
    p[i] = v
    return f"byte[{i}]={v:#x}"


def m_f64(p: bytearray, c: Ctx) -> str:
    if len(p) < 8:
        return "f64 (short)"
    i = _pos(c.rng, len(p) - 7)
    v = INTERESTING_F64[int(c.rng.integers(0, len(INTERESTING_F64)))]
    p[i : i + 8] = struct.pack("<d", v)
    return f"f64[{i}]={v!r}"


def m_varint(p: bytearray, c: Ctx) -> str:
    """Replaces the varint starting at a random offset by an interesting value (lengths,
    counts, sizes, enum tags and options are varints in postcard)."""
    i = _pos(c.rng, len(p) + 1)
    j = i
    while j < len(p) and p[j] & 0x80 and j - i < 10:
        j += 1
    j = min(j + 1, len(p))
    v = INTERESTING_INT[int(c.rng.integers(0, len(INTERESTING_INT)))]
    if c.rng.random() < 0.2:
        v = zigzag(-v if v < 2**63 else -(2**63))
    p[i:j] = varint(v)
    return f"varint[{i}]={v}"


def m_truncate(p: bytearray, c: Ctx) -> str:
    n = _pos(c.rng, len(p) + 1)
    del p[n:]
    return f"truncate payload to {n}"


def m_extend(p: bytearray, c: Ctx) -> str:
    k = int(c.rng.integers(1, 64))
    if c.rng.random() < 0.5 and p:
        a = _pos(c.rng, len(p))
        chunk = bytes(p[a : a + k])
    else:
        chunk = c.rng.bytes(k)
    p.extend(chunk)
    return f"extend +{len(chunk)}"


def m_insert(p: bytearray, c: Ctx) -> str:
    i = _pos(c.rng, len(p) + 1)
    k = int(c.rng.integers(1, 17))
    p[i:i] = c.rng.bytes(k) if c.rng.random() < 0.5 else bytes([p[i - 1] if i else 0] * k)
    return f"insert {k} at {i}"


def m_delete(p: bytearray, c: Ctx) -> str:
    if not p:
        return "delete (empty)"
    i = _pos(c.rng, len(p))
    k = int(c.rng.integers(1, 17))
    del p[i : i + k]
    return f"delete {k} at {i}"


def m_duplicate(p: bytearray, c: Ctx) -> str:
    if not p:
        return "duplicate (empty)"
    a = _pos(c.rng, len(p))
    k = int(c.rng.integers(1, 33))
    chunk = bytes(p[a : a + k])
    i = _pos(c.rng, len(p) + 1)
    p[i:i] = chunk
    return f"duplicate {len(chunk)} from {a} to {i}"


def m_splice(p: bytearray, c: Ctx) -> str:
    """A run of another class's payload written over or into this one."""
    _, q = split(c.other())
    if not q:
        return "splice (empty)"
    a = _pos(c.rng, len(q))
    k = int(c.rng.integers(1, len(q) - a + 1))
    i = _pos(c.rng, len(p) + 1)
    if c.rng.random() < 0.5:
        p[i : i + k] = q[a : a + k]
        return f"splice over {k} at {i}"
    p[i:i] = q[a : a + k]
    return f"splice in {k} at {i}"


def m_zero_run(p: bytearray, c: Ctx) -> str:
    if not p:
        return "zero-run (empty)"
    i = _pos(c.rng, len(p))
    k = int(c.rng.integers(1, 33))
    v = int(c.rng.choice((0x00, 0xFF)))
    p[i : i + k] = bytes([v] * len(p[i : i + k]))
    return f"run of {v:#x} x{k} at {i}"


PAYLOAD_MUTATIONS = (
    (m_bitflip, 3),
    (m_byte, 3),
    (m_f64, 4),
    (m_varint, 4),
    (m_truncate, 1),
    (m_extend, 1),
    (m_insert, 1),
    (m_delete, 1),
    (m_duplicate, 1),
    (m_splice, 2),
    (m_zero_run, 1),
)
_WEIGHTS = np.array([w for _, w in PAYLOAD_MUTATIONS], dtype=float)
_WEIGHTS /= _WEIGHTS.sum()


def mutate_header(header: bytes, c: Ctx) -> tuple[bytes, str]:
    h = bytearray(header)
    r = c.rng.random()
    if r < 0.3:
        v = int(c.rng.choice((0, 1, 2, 255, 256, 0xFFFF)))
        h[4:6] = v.to_bytes(2, "little")
        return bytes(h), f"version={v}"
    if r < 0.5:
        v = int(c.rng.choice((0, 1, h[6] - 1, h[6] + 1, 0x7F, 0xFF)))
        h[6] = v & 0xFF
        return bytes(h), f"kind length={v & 0xFF}"
    if r < 0.6:
        i = _pos(c.rng, 4)
        h[i] ^= 0x20
        return bytes(h), f"magic byte {i}"
    if r < 0.7:
        i = 7 + _pos(c.rng, max(h[6], 1))
        if i < len(h):
            h[i] = int(c.rng.choice((0x00, 0x80, 0xFF, ord("a"))))
        return bytes(h), "kind name byte"
    # Another class's header over this payload: its decoder reads our payload.
    other, _ = split(c.other())
    return other, f"header of {kind_of(other + b'    ')}"


@dataclass
class StateCase:
    target: Target
    cls: type
    exercise_target: Target
    data: bytes
    steps: list[str]

    def label(self) -> str:
        return f"{self.cls.__name__}.from_bytes (base {self.target.name})"

    def describe(self) -> str:
        return (
            f"{self.cls.__name__}.from_bytes(bytes.fromhex({self.data.hex()!r}))"
            f"  # base: {self.target.name}; mutations: {'; '.join(self.steps)}"
        )

    def run(self) -> None:
        where = f"{self.cls.__name__}.from_bytes"
        try:
            obj = self.cls.from_bytes(self.data)
        except BaseException as exc:  # noqa: BLE001 - classified below
            check_raised(exc, where, state_error=True)
            return
        where = f"{self.cls.__name__} loaded from mutated bytes"
        assert_loadable(obj, where)
        rng = np.random.default_rng(0)
        call = f"{where}: {self.exercise_target.exercise.__name__}"
        try:
            self.exercise_target.exercise(obj, rng)
        except RegretlessError as exc:
            raise Finding("loaded-state-rejects-valid-call", call, describe(exc)) from exc
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every other failure is the finding
            kind = "panic" if is_panic(exc) else "loaded-state-fails"
            raise Finding(kind, call, describe(exc)) from exc
        assert_loadable(obj, f"{where} after valid calls")


class StateProbe:
    """Builds state cases; bases are played once per (seed, target, play length)."""

    name = "state"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._bases: dict[tuple[int, int], bytes] = {}
        self._by_kind: dict[str, Target] = {}
        self._cls: dict[str, type] = {}

    def base(self, t: int, k: int) -> bytes:
        key = (t, k)
        if key not in self._bases:
            target = TARGETS[t]
            obj = target.make(k)
            target.play(obj, np.random.default_rng([self.seed, t, k]), PLAY_STEPS[k])
            data = obj.to_bytes()
            self._bases[key] = data
            self._by_kind.setdefault(kind_of(data), target)
        return self._bases[key]

    def target_for_kind(self, kind: str) -> Target | None:
        if kind not in self._by_kind:
            for t in range(len(TARGETS)):
                self.base(t, 0)
        return self._by_kind.get(kind)

    def build(self, index: int) -> StateCase:
        rng = np.random.default_rng([self.seed, index])
        t = index % len(TARGETS)
        target = TARGETS[t]
        data = self.base(t, int(rng.integers(0, len(PLAY_STEPS))))

        def other() -> bytes:
            return self.base(_pos(rng, len(TARGETS)), _pos(rng, len(PLAY_STEPS)))

        ctx = Ctx(rng, other)
        header, payload = split(data)
        p = bytearray(payload)
        steps = []
        for _ in range(int(rng.choice((1, 1, 2, 3)))):
            op = PAYLOAD_MUTATIONS[int(rng.choice(len(PAYLOAD_MUTATIONS), p=_WEIGHTS))][0]
            steps.append(op(p, ctx))
        if rng.random() < 0.15:
            header, label = mutate_header(header, ctx)
            steps.append(label)
        body = header + bytes(p)
        r = rng.random()
        if r < 0.9:
            out = with_crc(body)
        elif r < 0.95:
            out = body + data[-4:]
            steps.append("stale CRC")
        else:
            n = _pos(rng, len(body) + 5)
            out = with_crc(body)[:n]
            steps.append(f"whole truncated to {n}")
        # Decode with the class the header names (so a swapped header reaches that class's
        # decoder), else with the base's class; now and then with a random class.
        cls_target = target
        try:
            named = self.target_for_kind(kind_of(out)) if len(out) > 7 else None
        except (UnicodeDecodeError, IndexError):
            named = None
        if named is not None:
            cls_target = named
        if rng.random() < 0.03:
            cls_target = TARGETS[_pos(rng, len(TARGETS))]
            steps.append(f"decoded as {cls_target.name}")
        if cls_target.name not in self._cls:
            self._cls[cls_target.name] = type(cls_target.make(0))
        obj_cls = self._cls[cls_target.name]
        return StateCase(target, obj_cls, BY_NAME[cls_target.name], out, steps)
