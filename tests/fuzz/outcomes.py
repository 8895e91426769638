"""What counts as a finding, and how a case reports one."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from regretless import RegretlessError, StateError

# Kinds of finding, in the order the report lists them. The first two are observed by the
# parent process (the worker died or stopped moving), the rest by the case itself.
KINDS = (
    "hang",  # a case outran its timeout (an unbounded loop, with or without the GIL)
    "abort",  # the worker process died (SIGABRT, SIGSEGV, out-of-memory abort)
    "panic",  # pyo3_runtime.PanicException reached Python
    "wrong-exception",  # an exception outside regretless.RegretlessError (or a bare MemoryError)
    "unloadable-checkpoint",  # to_bytes of an object from_bytes cannot read back
    "state-changed-on-error",  # a call raised but left the object's bytes changed
    "loaded-state-fails",  # from_bytes accepted bytes whose object then fails a valid call
    "accepted-input-breaks-state",  # accepted calls left an object that fails a valid call
    "layout-mismatch",  # the same values in another memory layout gave another result
    # Soft: a RegretlessError from a valid call on an object loaded from mutated bytes (the
    # decoder let through a state the class cannot work with, but nothing crashed).
    "loaded-state-rejects-valid-call",
)
SOFT_KINDS = frozenset({"loaded-state-rejects-valid-call"})


class Finding(Exception):
    """A case found a defect: ``kind`` is one of :data:`KINDS`; ``where`` names the class and
    call; ``detail`` is the exception or the difference seen."""

    def __init__(self, kind: str, where: str, detail: str) -> None:
        super().__init__(f"{kind} in {where}: {detail}")
        self.kind, self.where, self.detail = kind, where, detail

    def signature(self) -> str:
        return signature(self.kind, self.where, self.detail)


def signature(kind: str, where: str, detail: str) -> str:
    """A key that groups findings of one cause: numbers and addresses are blanked out."""
    text = detail.splitlines()[0] if detail else ""
    text = re.sub(r"/rustc/[0-9a-f]+", "/rustc/#", text)
    text = re.sub(r"0x[0-9a-f]+", "#", text)
    text = re.sub(r"[-+]?\d[\d_.eE+-]*", "#", text)
    return f"{kind} | {where} | {text[:160]}"


def is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def check_raised(
    exc: BaseException, where: str, *, memory_ok: bool = True, state_error: bool = False
) -> None:
    """Raises a Finding unless ``exc`` is one the library may raise for bad input: a
    RegretlessError (a StateError, when ``state_error``), or MemoryError when ``memory_ok``."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, Finding)):
        raise exc
    if is_panic(exc):
        raise Finding("panic", where, describe(exc)) from exc
    if state_error:
        if isinstance(exc, StateError):
            return
    elif isinstance(exc, RegretlessError) or (memory_ok and isinstance(exc, MemoryError)):
        return
    raise Finding("wrong-exception", where, describe(exc)) from exc


def must_work(kind: str, where: str, call: Callable[[], Any]) -> Any:
    """Runs a call that must succeed; any exception is a Finding of ``kind`` (or a panic)."""
    try:
        return call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Finding:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is the finding
        if is_panic(exc):
            raise Finding("panic", where, describe(exc)) from exc
        raise Finding(kind, where, describe(exc)) from exc


def assert_loadable(obj: Any, where: str) -> bytes:
    """The object's bytes load back and re-encode to the same bytes; returns them."""
    data = must_work("unloadable-checkpoint", f"{where} -> to_bytes", obj.to_bytes)
    back = must_work(
        "unloadable-checkpoint", f"{where} -> from_bytes", lambda: type(obj).from_bytes(data)
    )
    again = must_work("unloadable-checkpoint", f"{where} -> reload.to_bytes", back.to_bytes)
    if again != data:
        raise Finding("unloadable-checkpoint", where, "from_bytes(to_bytes(p)).to_bytes() differs")
    return data
