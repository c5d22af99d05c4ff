"""The parsed form of an issue folder: an :class:`Issue` holding its :class:`Item` s.

Values are kept as the editor wrote them (after YAML parsing); typography, Markdown and
escaping happen at render time. ``lines`` maps each front-matter key to its line in the
file so that later checks can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class Item:
    """One news item, from a file such as ``01-resistance-numerique.md``."""

    path: Path
    number: int
    title: str
    source: str
    body: str
    body_line: int
    url: str = ""
    image: str = ""
    image_alt: str = ""
    tag: str = ""
    description: str = ""  # the page's own description, written by ``draft --from``
    weekly: bool = False  # ``weekly: true``: the editors chose it for the weekly roundup (``weekly build``)
    lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        """The line of a front-matter key, or the first line when the key is absent."""
        return self.lines.get(key, 1)


@dataclass(frozen=True)
class Issue:
    """One day's issue: ``issues/DATE/issue.yaml`` plus its item files, in order."""

    date: date
    folder: Path
    subject: str
    preheader: str
    intro: str
    intro_line: int
    items: tuple[Item, ...]
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def meta_path(self) -> Path:
        return self.folder / "issue.yaml"
