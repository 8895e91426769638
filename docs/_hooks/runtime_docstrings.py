"""Griffe extension for the API reference: docstrings from the built extension.

The API of `regretless._core` is compiled; griffe reads its signatures from the stub
(`_core.pyi`, checked against the runtime by stubtest), but the docstrings live in the Rust
source and reach Python only at run time. This extension copies each runtime docstring onto
the stub's object, and fences doctest blocks (`>>>`) as `pycon` code so they render as the
examples they are (they run as tests: tests/test_docstrings.py).
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap every run of doctest lines (a `>>>` line up to the next blank line) in a fence."""
    out: list[str] = []
    in_block = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not in_block:
            out.append("```pycon")
            in_block = True
        elif in_block and not line.strip():
            out.append("```")
            in_block = False
        out.append(line)
    if in_block:
        out.append("```")
    return "\n".join(out)


# Sphinx roles (":class:`~regretless.TableEnv`") as code spans; "~" keeps the last name.
SPHINX_ROLE = re.compile(r":(?:class|func|meth|attr|mod|exc|data):`(~?)([\w.]+)`")


def plain_roles(text: str) -> str:
    return SPHINX_ROLE.sub(lambda m: f"``{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}``", text)


def runtime_object(path: str) -> Any:
    """The live object named by a dotted path, or None."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for name in parts[split:]:
                target = getattr(target, name)
        except AttributeError:
            return None
        return target
    return None


class RuntimeDocstrings(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        text = obj.docstring.value if obj.docstring else None
        if not text:
            live = runtime_object(obj.path)
            text = inspect.getdoc(live) if live is not None else None
            # Builtins inherit object's docstrings ("Initialize self. See help(...)"):
            # only a docstring the class itself defines is documentation.
            if text and text in (
                inspect.getdoc(object),
                inspect.getdoc(getattr(object, obj.name, None)),
            ):
                text = None
        if text:
            obj.docstring = griffe.Docstring(fence_doctests(plain_roles(text)), parent=obj)
        if obj.is_class:
            show_constructor(obj)


def show_constructor(cls: griffe.Object) -> None:
    """Give a class built by `__new__` (every extension class) an `__init__` with the same
    parameters, which is where mkdocstrings looks for the signature to show."""
    new = cls.members.get("__new__")
    if "__init__" in cls.members or new is None or new.is_alias or not new.is_function:
        return
    params = list(new.parameters)[1:]  # drop cls
    self_param = griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)
    init = griffe.Function(
        "__init__",
        lineno=new.lineno,
        endlineno=new.endlineno,
        parameters=griffe.Parameters(self_param, *params),
        returns="None",
    )
    cls.set_member("__init__", init)
