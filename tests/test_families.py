"""The family base classes (ContextualBandit, KernelBandit, StreamBandit) against the core
registries: every registered class is a subclass with a conftest factory and a public name,
and the state methods written once on a base return objects of the right subclass."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest
import regretless
from conftest import (
    CASCADE_FACTORIES,
    CONTEXTUAL_FACTORIES,
    KERNEL_FACTORIES,
    STREAM_FACTORIES,
)
from regretless import _core, contextual, kernel, stream

FAMILIES = [
    # (registry names, base class, conftest factories, Python list)
    ("CONTEXTUAL_NAMES", "ContextualBandit", CONTEXTUAL_FACTORIES, "CONTEXTUAL_POLICIES"),
    ("KERNEL_NAMES", "KernelBandit", KERNEL_FACTORIES, "KERNEL_POLICIES"),
    ("STREAM_NAMES", "StreamBandit", STREAM_FACTORIES, "STREAM_POLICIES"),
    ("CASCADE_NAMES", "CascadeBandit", CASCADE_FACTORIES, "CASCADE_POLICIES"),
]


@pytest.mark.parametrize(("names", "base", "factories", "listed"), FAMILIES)
def test_every_registered_class_is_public_listed_and_has_a_factory(
    names: str, base: str, factories: dict, listed: str
) -> None:
    registered = getattr(_core, names)
    assert registered, names
    assert base in regretless.__all__
    assert listed in regretless.__all__
    base_cls = getattr(regretless, base)
    # HybridLinUCB has contextual factories too but is not a ContextualBandit.
    factory_classes = {name.split("-")[0] for name in factories} - {"HybridLinUCB"}
    assert factory_classes == set(registered), "conftest factories differ from the registry"
    for name in registered:
        assert name in regretless.__all__, name
        cls = getattr(regretless, name)
        assert issubclass(cls, base_cls) and cls is not base_cls
        assert cls.__module__ == "regretless"
    assert tuple(c.__name__ for c in getattr(regretless, listed)) == tuple(registered)
    # Every subclass of the base in the extension is registered (no class left out).
    subclasses = {
        n for n, c in vars(_core).items() if isinstance(c, type) and issubclass(c, base_cls)
    }
    assert subclasses == {base, *registered}


def test_submodules_list_their_family() -> None:
    assert contextual.CONTEXTUAL_POLICIES == regretless.CONTEXTUAL_POLICIES
    assert kernel.KERNEL_POLICIES == regretless.KERNEL_POLICIES
    assert stream.STREAM_POLICIES == regretless.STREAM_POLICIES
    assert regretless.HybridLinUCB not in regretless.CONTEXTUAL_POLICIES


def _used(family: str, name: str):
    """An object of the family after a little learning, so that its state is not the prior."""
    if family == "contextual":
        p = CONTEXTUAL_FACTORIES[name](5)
        x = np.array([[0.5, -1.0, 0.0, 1.0], [1.0, 0.25, 0.5, 0.0], [0.0, 1.0, -0.5, 0.5]])
        p.update_batch(x, [0, 1, 2], [1.0, 0.0, 1.0])
        return p
    if family == "kernel":
        p = KERNEL_FACTORIES[name](5)
        for _ in range(3):
            p.update(p.select(), 0.5)
        return p
    p = STREAM_FACTORIES[name](5)
    p.offer(11)
    p.update(p.next_pull(), 1.0)
    return p


ALL = [
    *(("contextual", n) for n in sorted(CONTEXTUAL_FACTORIES) if not n.startswith("HybridLinUCB")),
    *(("kernel", n) for n in sorted(KERNEL_FACTORIES)),
    *(("stream", n) for n in sorted(STREAM_FACTORIES)),
]
BASES = {
    "contextual": regretless.ContextualBandit,
    "kernel": regretless.KernelBandit,
    "stream": regretless.StreamBandit,
}


@pytest.mark.parametrize(("family", "name"), ALL)
def test_state_methods_on_the_base_return_the_subclass(family: str, name: str) -> None:
    p = _used(family, name)
    cls, base = type(p), BASES[family]
    assert isinstance(p, base)
    data = p.to_bytes()
    restored = [
        cls.from_bytes(data),
        base.from_bytes(data),
        pickle.loads(pickle.dumps(p)),
        p.copy(),
        copy.copy(p),
        copy.deepcopy(p),
    ]
    for q in restored:
        assert type(q) is cls
        assert q.to_bytes() == data
    assert repr(restored[1]) == repr(p)


ALL_FACTORIES = {
    "contextual": CONTEXTUAL_FACTORIES,
    "kernel": KERNEL_FACTORIES,
    "stream": STREAM_FACTORIES,
}


@pytest.mark.parametrize("family", sorted(BASES))
def test_from_bytes_of_a_class_refuses_another_class(family: str) -> None:
    first, second = sorted({n.split("-")[0] for n in ALL_FACTORIES[family]} - {"HybridLinUCB"})[:2]
    data = _used(family, first).to_bytes()
    with pytest.raises(regretless.StateError, match=f"hold a {first}, not a {second}"):
        getattr(regretless, second).from_bytes(data)
    # The base reads any class of its family, and refuses another family's state.
    other = "kernel" if family == "stream" else "stream"
    foreign = _used(other, sorted(ALL_FACTORIES[other])[0]).to_bytes()
    with pytest.raises(regretless.StateError):
        BASES[family].from_bytes(foreign)


@pytest.mark.parametrize("base", sorted(BASES.values(), key=lambda c: c.__name__))
def test_a_base_class_has_no_constructor(base: type) -> None:
    with pytest.raises(TypeError):
        base()


def test_merge_takes_only_the_same_class() -> None:
    a = regretless.LinUCB(2, 1, seed=0)
    with pytest.raises(regretless.DTypeError, match="expected a LinUCB, got LinTS"):
        a.merge(regretless.LinTS(2, 1, seed=0))
    b = regretless.LinUCB(2, 1, seed=1)
    b.update([1.0], 0, 1.0)
    a.merge(b)
    assert a.counts().tolist() == [1, 0]


GOLDEN = Path(__file__).parent / "golden" / "v1"
REGISTERED = {*_core.CONTEXTUAL_NAMES, *_core.KERNEL_NAMES, *_core.STREAM_NAMES}


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in [*GOLDEN.glob("*.bin"), *GOLDEN.glob("stream/*.bin")]
        if p.stem.split("-")[0]
        in {*_core.CONTEXTUAL_NAMES, *_core.KERNEL_NAMES, *_core.STREAM_NAMES}
    ),
    ids=lambda p: p.stem,
)
def test_golden_states_load_through_the_base_class(path: Path) -> None:
    """A golden state read by its family's base decodes to its own class and writes the same
    bytes back, as the class's own from_bytes does."""
    data = path.read_bytes()
    cls = getattr(regretless, path.stem.split("-")[0])
    base = next(b for b in BASES.values() if issubclass(cls, b))
    restored = base.from_bytes(data)
    assert type(restored) is cls
    assert restored.to_bytes() == cls.from_bytes(data).to_bytes() == data
