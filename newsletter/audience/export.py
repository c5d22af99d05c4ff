"""Write subscribers to a CSV file that a spreadsheet opens safely.

UTF-8 with a BOM (so that Excel shows accents), one row per subscriber, and every cell that
a spreadsheet would run as a formula (``= + - @``, tab, carriage return) prefixed with an
apostrophe. The file is written beside the target and renamed at the end: an existing file
is replaced whole or not at all.
"""

from __future__ import annotations

import csv
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping

from newsletter.errors import NewsletterError

EXPORT_COLUMNS = ("email", "first_name", "last_name", "status", "consent_at", "consent_source", "created_at",
                  "unsubscribed_at")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """Make a cell inert in a spreadsheet (CSV formula injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return neutralize(str(value))


def write_subscriber_csv(path: Path, rows: Iterable[Mapping[str, object]]) -> int:
    """Write ``rows`` (mappings with :data:`EXPORT_COLUMNS`) to ``path``; return how many were written.

    :raises NewsletterError: when the file cannot be written (the previous file, if any, is kept).
    """
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as err:
        raise NewsletterError(f"cannot write {path}: {err.strerror}", hint="check that the folder exists") from err
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(EXPORT_COLUMNS)
            for row in rows:
                writer.writerow([_cell(row.get(column)) for column in EXPORT_COLUMNS])
                count += 1
        os.replace(temp, path)
    except OSError as err:
        os.unlink(temp)
        raise NewsletterError(f"cannot write {path}: {err.strerror}") from err
    except BaseException:
        os.unlink(temp)
        raise
    return count
