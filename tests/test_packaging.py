"""What the package imports at run time is what ``pyproject.toml`` declares: a module imported by
``newsletter/`` but installed only as another library's dependency (or by the test extra) would break
the day that library drops it, or on an install without the tests."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.conftest import REPO

#: Optional extras a runtime module may import (guarded by the code that needs them).
RUNTIME_EXTRAS = ("postgresql",)


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    return {_name(r) for r in project["dependencies"]} | {_name(r) for e in RUNTIME_EXTRAS for r in extras.get(e, [])}


def _imported() -> dict[str, str]:
    """Top-level third-party module -> the first file importing it."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "newsletter").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top != "newsletter" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_runtime_import_is_a_declared_dependency() -> None:
    owners = packages_distributions()
    declared = _declared()
    missing = sorted(f"{module} ({where}): {', '.join(owners.get(module, ['not installed']))}"
                     for module, where in _imported().items()
                     if not {_name(d) for d in owners.get(module, [])} & declared)
    assert missing == [], "declare them in pyproject.toml [project] dependencies"
