"""A problem found in an issue: where it is, what is wrong, how bad it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of ``check``, printed as ``file:line: message``.

    ``line`` is 1-based; ``None`` means the problem concerns the whole file or folder.
    Warnings (e.g. raw HTML that was sanitized) are reported but do not fail the check.
    """

    path: Path
    line: int | None
    message: str
    severity: Severity = "error"

    def location(self, root: Path | None = None) -> str:
        path = self.path
        if root is not None:
            try:
                path = self.path.relative_to(root)
            except ValueError:
                pass
        return f"{path}:{self.line}" if self.line else str(path)

    def format(self, root: Path | None = None) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.location(root)}: {label}{self.message}"


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the problems that block the issue."""
    return [p for p in problems if p.severity == "error"]
