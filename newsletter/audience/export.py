"""Write subscribers to a CSV file that a spreadsheet opens safely.

UTF-8 with a BOM (so that Excel shows accents), one row per subscriber, and every cell that
a spreadsheet would run as a formula (``= + - @``, even after spaces or line breaks, and any
leading control character) prefixed with an apostrophe, which the import removes again. The
file is written beside the target and renamed at the end: an existing file is replaced whole
or not at all.
"""

from __future__ import annotations

import csv
import os
import tempfile
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Iterable, Mapping

from newsletter.errors import N_, NewsletterError, UsageError

EXPORT_COLUMNS = ("email", "first_name", "last_name", "status", "consent_at", "consent_source", "consent_ip",
                  "created_at", "unsubscribed_at", "frequency", "paused_until")
#: What makes a spreadsheet run a cell as a formula (full-width forms included).
_TRIGGERS = "=+-@\uff1d\uff0b\uff0d\uff20"
#: Leading characters a spreadsheet skips before looking for a trigger.
_SKIPPED = " \t\r\n\v\f\u00a0\u202f\u3000\ufeff" + "".join(map(chr, range(0, 32)))
EXCEL_FR_DATE = "%d/%m/%Y %H:%M:%S"


def neutralize(value: str) -> str:
    """Make a cell inert in a spreadsheet (CSV formula injection) by prefixing an apostrophe.

    Prefixed: a trigger (``= + - @``) at the start or after leading spaces, tabs or line
    breaks; any leading control character; and a leading apostrophe itself, so that the import
    can always undo it exactly (``'x`` is written ``''x``).
    """
    if not value:
        return value
    if value[0] == "'" or value[0] in _SKIPPED[len(" "):] or value.lstrip(_SKIPPED)[:1] in tuple(_TRIGGERS):
        return "'" + value
    return value


def _cell(value: object, local: tzinfo | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        if local is None:
            return value.isoformat()
        moment = value.astimezone(local)
        if moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset():
            # The hour a clock change repeats (or skips): a local time alone would come back an hour off.
            return moment.replace(microsecond=0).isoformat()
        return moment.strftime(EXCEL_FR_DATE)
    return neutralize(str(value))


def write_subscriber_csv(path: Path, rows: Iterable[Mapping[str, object]], *, excel_fr: tzinfo | None = None) -> int:
    """Write ``rows`` (mappings with :data:`EXPORT_COLUMNS`) to ``path``; return how many were written.

    :param excel_fr: the newsletter's time zone, for a file French Excel opens in columns: ``;``
        separator and dates as ``DD/MM/YYYY HH:MM:SS`` local time (the import reads both forms).

    :raises NewsletterError: when the file cannot be written (the previous file, if any, is kept).
    """
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as err:
        raise UsageError(N_("cannot write %(path)s: %(reason)s"), hint=N_("check that the folder exists"),
                         values={"path": path, "reason": err.strerror}) from err
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, delimiter=";" if excel_fr is not None else ",")
            writer.writerow(EXPORT_COLUMNS)
            for row in rows:
                writer.writerow([_cell(row.get(column), excel_fr) for column in EXPORT_COLUMNS])
                count += 1
        os.replace(temp, path)
    except OSError as err:
        os.unlink(temp)
        raise NewsletterError(N_("cannot write %(path)s: %(reason)s"), values={"path": path, "reason": err.strerror}) \
            from err
    except BaseException:
        os.unlink(temp)
        raise
    return count
