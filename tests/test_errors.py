"""One exception hierarchy: every public exception is defined in ``newsletter/errors.py`` and descends
from :class:`NewsletterError`, and the tree in that module's docstring names every one of them."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import newsletter
from newsletter import errors


def _modules() -> list[str]:
    """Every module of the package, read from its folders (``pkgutil`` skips folders without an ``__init__``)."""
    root = Path(newsletter.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if "migrations" in parts or parts[-1] == "__main__":
            continue  # alembic scripts, run by alembic only; ``python -m newsletter`` runs the command line
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _public_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name
                    and not attr.startswith("_")):
                found[f"{name}.{attr}"] = value
    return found


def test_every_public_exception_is_defined_in_errors() -> None:
    outside = sorted(where for where, cls in _public_exceptions().items() if cls.__module__ != errors.__name__)
    assert outside == [], f"public exceptions defined outside newsletter/errors.py: {outside}"


def test_every_public_exception_descends_from_the_root() -> None:
    stray = sorted(where for where, cls in _public_exceptions().items() if not issubclass(cls, errors.NewsletterError))
    assert stray == [], f"public exceptions outside NewsletterError: {stray}"


def test_the_docstring_tree_names_every_exception() -> None:
    listed = set(re.findall(r"\b([A-Z][A-Za-z]+)\b", errors.__doc__ or ""))
    defined = {cls.__name__ for cls in _public_exceptions().values() if cls.__module__ == errors.__name__}
    assert defined - listed == set(), "add them to the tree in newsletter/errors.py's docstring"


def test_the_walk_finds_exceptions() -> None:
    # The checks above would pass on an empty walk: prove it reaches errors.py's own classes.
    assert "newsletter.errors.ConfigError" in _public_exceptions()
    assert "newsletter.delivery.engine" in _modules()  # a folder without ``__init__.py``
