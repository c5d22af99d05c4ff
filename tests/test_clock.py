"""One clock: ``newsletter/core/clock.py`` alone defines ``Clock`` and ``utc_now`` and reads the wall
clock; every other module takes a clock or calls :func:`newsletter.core.clock.utc_now`."""

from __future__ import annotations

import ast
from datetime import timezone
from pathlib import Path

from newsletter.core.clock import utc_now
from tests.conftest import REPO

CLOCK = Path("newsletter/core/clock.py")
#: Modules another engineer restructures now (the doctor's split); they move to the clock with it.
NOT_YET = {Path("newsletter/doctor/__init__.py")}


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(path.relative_to(REPO), ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted((REPO / "newsletter").rglob("*.py"))]


def test_only_the_clock_module_defines_a_clock() -> None:
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in ("utc_now", "Clock"):
                found.append(f"{path}:{node.lineno} {node.name}")
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found += [f"{path}:{node.lineno} {t.id}" for t in targets
                          if isinstance(t, ast.Name) and t.id in ("utc_now", "Clock")]
    assert [f for f in found if not f.startswith(str(CLOCK))] == []


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    readers = []
    for path, tree in _sources():
        if path == CLOCK or path in NOT_YET:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("now", "today", "utcnow")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("datetime", "date")):
                readers.append(f"{path}:{node.lineno}")
    assert readers == [], "take a clock, or call newsletter.core.clock.utc_now()"


def test_utc_now_is_aware_and_in_utc() -> None:
    assert utc_now().tzinfo is timezone.utc
