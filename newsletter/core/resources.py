"""Where the built-in files live: the default templates, the sample issue and the example files.

In a source checkout they are the project's own top-level ``templates/``, ``issues/``,
``newsletter.toml`` and ``subscribers.example.csv``; an installed wheel carries the same files
under ``newsletter/_scaffold/`` (see ``pyproject.toml``). Rendering falls back on the default
templates and ``init`` copies them, so this sits below both.
"""

from __future__ import annotations

from pathlib import Path


def resource_root() -> Path:
    """The folder holding the default templates, sample issue and example files."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "_scaffold"
    if packaged.is_dir():
        return packaged
    return package.parent


def default_templates_dir() -> Path:
    return resource_root() / "templates"
