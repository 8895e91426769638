"""The documentation site documents every public class and function.

The API reference (docs/reference/*.md) names objects with mkdocstrings' `::: path`
lines; a class added to the package without a line there would be missing from the site.
The pages' examples run as doctests (pyproject's --doctest-glob), and CI builds the site
with warnings as errors.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import regretless

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"
DOCS_HOOK = REFERENCE.parent / "_hooks" / "runtime_docstrings.py"


def documented_paths() -> set[str]:
    paths: set[str] = set()
    for page in REFERENCE.glob("*.md"):
        paths.update(re.findall(r"^::: ([\w.]+)\s*$", page.read_text(), flags=re.M))
    return paths


def public_objects() -> list[tuple[str, object]]:
    found = []
    for name in regretless.__all__:
        obj = getattr(regretless, name)
        if inspect.isclass(obj) or inspect.isroutine(obj):
            found.append((name, obj))
    return found


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="runs from a checkout (docs/ is not installed)")
@pytest.mark.parametrize("name, obj", public_objects(), ids=[n for n, _ in public_objects()])
def test_every_public_object_is_in_the_api_reference(name: str, obj: object) -> None:
    paths = documented_paths()
    module = getattr(obj, "__module__", "")
    candidates = {f"regretless.{name}", f"{module}.{name}", module}
    # A module page (`::: regretless.experiment`) documents all of the module's members.
    assert candidates & paths, f"{name} is not in docs/reference/*.md (add `::: regretless.{name}`)"


@pytest.mark.skipif(not DOCS_HOOK.is_file(), reason="runs from a checkout")
def test_the_site_hook_fences_doctests_and_plain_roles() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("runtime_docstrings", DOCS_HOOK)
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError:
        pytest.skip("griffe (the docs extra) is not installed")
    text = "Intro, see :class:`~regretless.TableEnv`.\n\n>>> 1 + 1\n2\n\nAfter."
    assert module.fence_doctests(module.plain_roles(text)).splitlines() == [
        "Intro, see ``TableEnv``.",
        "",
        "```pycon",
        ">>> 1 + 1",
        "2",
        "```",
        "",
        "After.",
    ]
