"""What the doctor says: findings (ok / warning / error), each with the one-line fix unless ok."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Sequence


class Level(str, Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One line of the diagnosis: what was checked, what was found and, unless ok, how to fix it."""

    check: str
    level: Level
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level.value:<7} {self.check}: {self.message}"
        return f"{text}\n        fix: {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["level"] = self.level.value
        return data


def ok(check: str, message: str) -> Finding:
    return Finding(check, Level.OK, message)


def warning(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Level.WARNING, message, fix)


def error(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Level.ERROR, message, fix)


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.level is Level.ERROR for f in findings)
