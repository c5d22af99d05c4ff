"""The library's public face (newsletter/library/): one way to reach each part, one place to import from.

The package's docstring says how: the day's issue is the facade's methods, every other area is a
part reached as a cached property (built once, never called), and every public name is imported
from ``newsletter.library``. These tests hold the code to it.
"""

from __future__ import annotations

import ast
import builtins
from functools import cached_property
from pathlib import Path

import pytest

import newsletter.library as library
from newsletter import Newsletter
from newsletter.config import load_settings
from tests.conftest import REPO

LIBRARY = REPO / "newsletter" / "library"
FRONT_ENDS = REPO / "newsletter" / "frontends"
#: The parts of the package docstring's table.
PARTS = ("subscribers", "subscriptions", "readers", "archive", "webhooks", "users", "api_keys", "issues",
         "schedule_ops", "clicks", "hooks")


@pytest.fixture
def nl(tmp_path: Path) -> Newsletter:
    Newsletter.create(tmp_path)
    return Newsletter(load_settings(tmp_path), secret_key="k" * 40, environ={})


@pytest.mark.parametrize("name", PARTS)
def test_each_part_is_a_cached_property_giving_one_object(nl: Newsletter, name: str) -> None:
    assert isinstance(vars(Newsletter)[name], cached_property), f"Newsletter.{name} is not a cached property"
    part = getattr(nl, name)
    assert not callable(part) or not hasattr(part, "__self__"), f"nl.{name} is a bound method"
    assert getattr(nl, name) is part
    nl.close()


def test_the_package_docstring_lists_every_part() -> None:
    doc = library.__doc__ or ""
    parts = {name for name, value in vars(Newsletter).items() if isinstance(value, cached_property)}
    assert parts == set(PARTS)
    for name in PARTS:
        assert f"``nl.{name}``" in doc, name


@pytest.mark.parametrize("name", library.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(library, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        library.Nothing  # noqa: B018


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_the_front_ends_import_the_library_from_the_package_only() -> None:
    """``from newsletter.library import X``: never one of its modules (the package lists what is public)."""
    stray = [f"{path.relative_to(REPO)}:{line}: {module}" for path in sorted(FRONT_ENDS.rglob("*.py"))
             for line, module in _imports(path) if module.startswith("newsletter.library.")]
    assert stray == []


def test_no_module_of_the_library_re_exports_or_aliases_a_builtin() -> None:
    """No ``import X as X`` stub in a part (the package re-exports, once), no ``_List = list`` workaround."""
    found = []
    for path in sorted(LIBRARY.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and path.name != "__init__.py":
                found += [f"{path.name}:{node.lineno}: re-exports {a.name}" for a in node.names if a.asname == a.name]
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and hasattr(builtins, node.value.id):
                found.append(f"{path.name}:{node.lineno}: aliases the builtin {node.value.id}")
    assert found == []
