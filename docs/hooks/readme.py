"""MkDocs hook: the site's first page is README.md itself, so the two never drift apart.

README.md links to the pages as ``docs/PAGE.md`` (which works when reading it in the repository);
on the site the same links are ``PAGE.md``. The strict build then checks every one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files


def site_text(readme: str) -> str:
    """README.md as the site's index page: its ``docs/`` links made relative to ``docs/``."""
    return readme.replace("](docs/", "](")


def on_files(files: Files, config: Any) -> Files:
    readme = Path(config["config_file_path"]).parent / "README.md"
    files.append(File.generated(config, "index.md", content=site_text(readme.read_text(encoding="utf-8"))))
    return files
