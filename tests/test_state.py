"""The versioned state format: golden files of every released version stay readable, and
no corrupt, truncated or foreign input crashes the decoder."""

from __future__ import annotations

import json
import pathlib
import zlib

import numpy as np
import pytest
import regretless
from conftest import POLICY_FACTORIES, make, play
from hypothesis import given, settings
from hypothesis import strategies as st

GOLDEN = pathlib.Path(__file__).parent / "golden"


def golden_cases():
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    return [(version, entry) for version, entries in manifest.items() for entry in entries]


@pytest.mark.parametrize("version, entry", golden_cases(), ids=lambda c: str(c))
def test_golden_files_still_decode_and_continue_identically(version: str, entry: dict) -> None:
    data = (GOLDEN / version / entry["file"]).read_bytes()
    cls = getattr(regretless, entry["class"])
    p = cls.from_bytes(data)
    assert p.counts().tolist() == entry["counts"]
    queries = entry.get("queries")
    if queries is None:
        assert p.select_batch(len(entry["next_selections"])).tolist() == entry["next_selections"]
        np.testing.assert_allclose(p.scores(), entry["scores"], rtol=1e-12)
        return
    args = [np.array(queries)]
    if entry.get("shared_queries") is not None:
        args.append(np.array(entry["shared_queries"]))
    assert p.select_batch(*args).tolist() == entry["next_selections"]
    np.testing.assert_allclose(p.scores(*args), entry["scores"], rtol=1e-12)


def test_header_layout() -> None:
    data = regretless.UCB1(2, seed=0).to_bytes()
    assert data[:4] == b"RGLS"
    assert int.from_bytes(data[4:6], "little") == regretless.FORMAT_VERSION == 1
    assert data[7 : 7 + data[6]] == b"UCB1"
    assert int.from_bytes(data[-4:], "little") == zlib.crc32(data[:-4])


def _with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_newer_versions_other_classes_and_corruption_are_rejected(policy_name: str) -> None:
    p = make(policy_name)
    play(p, 30)
    data = p.to_bytes()
    cls = type(p)
    newer = _with_crc(data[:4] + (99).to_bytes(2, "little") + data[6:-4])
    with pytest.raises(regretless.StateError, match="version 99"):
        cls.from_bytes(newer)
    other = regretless.UCB1 if cls is not regretless.UCB1 else regretless.UCBV
    with pytest.raises(regretless.StateError, match="not a"):
        other.from_bytes(data)
    with pytest.raises(regretless.StateError, match="checksum"):
        cls.from_bytes(data[:-6] + bytes([data[-6] ^ 0xFF]) + data[-5:])
    for cut in (0, 3, 8, len(data) // 2, len(data) - 1):
        with pytest.raises(regretless.StateError):
            cls.from_bytes(data[:cut])
    with pytest.raises(regretless.StateError, match="RGLS"):
        cls.from_bytes(b"\x80\x04garbage pickled bytes....")
    with pytest.raises(regretless.DTypeError):
        cls.from_bytes("RGLS")
    assert cls.from_bytes(bytearray(data)).to_bytes() == data
    assert cls.from_bytes(memoryview(data)).to_bytes() == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(sorted(POLICY_FACTORIES)))
def test_arbitrary_bytes_never_crash(blob: bytes, name: str) -> None:
    reference = make(name).to_bytes()
    cls = type(make(name))
    # The real header (with this class's kind name) around an arbitrary payload, with a
    # valid checksum: exercises the payload decoder and the invariant checks themselves.
    header = reference[: 7 + reference[6]]
    framed = _with_crc(header + blob)
    for data in (blob, framed):
        try:
            p = cls.from_bytes(data)
        except regretless.StateError:
            continue
        # Whatever decodes must be a usable, consistent object.
        play(p, 5)
        p.to_bytes()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(POLICY_FACTORIES)), st.integers(0, 200), st.integers(0, 2**64 - 1))
def test_round_trip_property(name: str, steps: int, seed: int) -> None:
    p = make(name, seed=seed)
    play(p, steps, seed=seed % 1000)
    q = type(p).from_bytes(p.to_bytes())
    assert q.to_bytes() == p.to_bytes()
