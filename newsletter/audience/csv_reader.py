"""Read subscriber CSV files as real offices export them, one row at a time.

Handles UTF-8, UTF-8 with BOM, UTF-16 with BOM (Excel's "Texte Unicode") and Windows-1252
(Excel in France), ``,`` ``;`` or tab delimiters (or Excel's ``sep=;`` line), and English or
French headers. Every row becomes a :class:`CandidateRow` (a normalized address and cleaned
fields) or a :class:`RejectedRow` (line number and reason); deduplication is the store's job.
The file is streamed, so a million rows take flat memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from datetime import date, datetime, time, timezone
from email.utils import parseaddr
from pathlib import Path
from typing import IO, Any, Iterator
from zoneinfo import ZoneInfo

from newsletter.core.addresses import canonical
from newsletter.core.names import FORMULA_START, SPACES, clean_name
from newsletter.errors import AddressError, ImportFileError, UnreadableFileError
from newsletter.core.i18n import N_, Message, Quoted
from newsletter.store.subscribers import GIVEN, WITHDRAWN, CandidateRow, RejectedRow

SNIFF_BYTES = 64 * 1024

_HEADERS = {
    "email": ("email", "e-mail", "mail", "courriel", "adresse email", "adresse e-mail", "adresse mail",
              "email address", "adresse electronique", "e-mail address",
              "adresse de messagerie", "e-mail 1 - value"),  # Outlook in French, Google Contacts
    "first_name": ("first_name", "firstname", "first name", "prenom", "given name"),
    "last_name": ("last_name", "lastname", "last name", "nom", "nom de famille", "surname", "family name"),
    "consent_at": ("consent_date", "consent_at", "date de consentement", "date consentement",
                   "date d'inscription", "date inscription", "subscribed_at",
                   "optin_time", "confirm_time",  # Mailchimp
                   "horodateur"),  # Google Forms in French (DD/MM/YYYY HH:MM:SS)
    "consent_source": ("consent_source", "source", "source du consentement", "origine"),
    # Written by `subscribers export`, so that an export restores the list as it was.
    "status": ("status", "statut"),
    "consent_ip": ("consent_ip", "optin_ip", "confirm_ip"),
    "created_at": ("created_at",),
    # A row that says when its address left is a suppression even without a status column:
    # Mailchimp exports its unsubscribed and cleaned (bounced) members as separate files.
    "unsubscribed_at": ("unsubscribed_at", "unsub_time", "date de désinscription", "date desinscription"),
    "bounced_at": ("clean_time", "bounced_at"),
    # The reader agreed that their own clicks be counted ([analytics] per_subscriber): a date, or yes/no.
    "click_consent": ("click_consent", "click_consent_at", "consentement clics", "consentement aux clics"),
    # The reader's own choices (their preferences page), written by `subscribers export`.
    "frequency": ("frequency", "fréquence", "frequence"),
    "paused_until": ("paused_until",),
    # CRM exports flag people who opted out instead of leaving them out (HubSpot, Salesforce, Brevo).
    "opted_out": ("unsubscribed from all email", "email opt out", "hasoptedoutofemail", "opted out of email",
                  "désabonné", "désinscrit", "blacklisted", "email_blacklisted"),
}
_YES = frozenset({"true", "1", "yes", "y", "oui", "o", "vrai", "x"})
_NO = frozenset({"", "false", "0", "no", "n", "non", "faux"})
#: Statuses a file may give; an unsubscribed, bounced or complained row is a suppression.
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
#: Frequencies a file may give (the preferences page's choices).
FREQUENCIES = ("daily", "weekly")


def _key(header: str) -> str:
    """Header text without accents, case, spaces, underscores, hyphens or apostrophes."""
    text = unicodedata.normalize("NFKD", header.strip(SPACES)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[\s_\-'’]+", "", text)


_LOOKUP = {_key(alias): field for field, aliases in _HEADERS.items() for alias in aliases}


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Texte Unicode" and Outlook's exports; the codec reads the BOM
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the sniffing window is still UTF-8.
        if err.start >= len(head) - 3 and err.reason == "unexpected end of data":
            return "utf-8"
        return "cp1252"


_SEP_LINE = re.compile(r'^"?sep=(.)"?\r?\n?$')


def _delimiter(header_line: str) -> str:
    counts = {d: 0 for d in (",", ";", "\t")}
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _clean(value: str) -> str:
    return value.strip(SPACES)


def _address(raw: str) -> str:
    value = _clean(raw)
    if value.lower().startswith("mailto:"):
        value = value[7:]
    if "<" in value and value.endswith(">"):
        value = parseaddr(value)[1] or value.strip("<>")
    return value.strip(SPACES)


_FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2})[:h](\d{2})(?::(\d{2}))?)?$")


def _consent(raw: str, tz: ZoneInfo) -> datetime | None:
    value = _clean(raw)
    if not value:
        return None
    m = _FRENCH_DATE.match(value)
    if m:
        day, month, year, hour, minute, second = m.groups()
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = datetime.combine(date.fromisoformat(value), time())  # raises ValueError too
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


#: How the files people take for CSV start: a zip (.xlsx, .ods) or an OLE2 (.xls) container.
_WORKBOOKS = ((b"PK\x03\x04", ".xlsx"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".xls"))


def _open(path: Path) -> tuple[IO[bytes], str]:
    try:
        handle = open(path, "rb")
    except FileNotFoundError as err:
        raise UnreadableFileError(N_("%(path)s: no such file"), hint="check the path of the CSV file",
                                  values={"path": path}) from err
    except IsADirectoryError as err:
        raise UnreadableFileError(N_("%(path)s is a folder, not a CSV file"), values={"path": path}) from err
    except OSError as err:
        raise UnreadableFileError(N_("cannot read %(path)s: %(reason)s"), values={"path": path, "reason": err.strerror}) from err
    head = handle.read(SNIFF_BYTES)
    handle.seek(0)
    encoding = _detect_encoding(head)
    kind = next((name for magic, name in _WORKBOOKS if head.startswith(magic)), "")
    if kind or (b"\x00" in head and encoding != "utf-16"):
        handle.close()
        template = N_("%(path)s is an Excel workbook (%(kind)s), not a CSV file; save it as CSV UTF-8 and import "
                      "that file") if kind else N_("%(path)s is not a text file (it holds NUL bytes); save it as CSV "
                                                   "UTF-8 and import that file")
        raise ImportFileError(template, values={"path": path, "kind": kind},
                              hint="in Excel: File > Save As > \"CSV UTF-8 (Comma delimited)\" "
                                   "(« CSV UTF-8 (délimité par des virgules) »)")
    return handle, encoding


def read_subscriber_csv(path: Path, *, check_dns: bool = False,
                        default_timezone: str = "Europe/Paris") -> Iterator[CandidateRow | RejectedRow]:
    """Yield one :class:`CandidateRow` or :class:`RejectedRow` per non-empty row of ``path``.

    :param check_dns: also check that each domain accepts mail (network; slow).
    :param default_timezone: for consent dates written without a zone.
    :raises ImportFileError: when the file cannot be read, has no header or no email column.
    """
    tz = ZoneInfo(default_timezone)
    raw, encoding = _open(path)
    with raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        header_at = 1
        try:
            header_line = text.readline()
            sep = _SEP_LINE.match(header_line)
            if sep:  # "sep=;": Excel's own hint, written by some exports above the header
                header_line, header_at = text.readline(), 2
        except UnicodeDecodeError as err:
            raise ImportFileError(N_("%(path)s:1: the file is not valid %(encoding)s text; re-save it as UTF-8"),
                                  values={"path": path, "encoding": encoding}) from err
        if not header_line.strip(SPACES + "\r\n"):
            raise ImportFileError(N_("%(path)s: the file is empty or its line %(line)d is blank"),
                                  values={"path": path, "line": header_at},
                                  hint="the first line must name the columns, e.g. email,first_name,last_name")
        delimiter = sep.group(1) if sep else _delimiter(header_line)
        header = next(csv.reader([header_line], delimiter=delimiter))
        columns = {_LOOKUP.get(_key(name)): i for i, name in reversed(list(enumerate(header)))}
        columns.pop(None, None)
        if "email" not in columns:
            found = ", ".join(repr(_clean(h)) for h in header) or "nothing"
            raise ImportFileError(N_("%(path)s: no email column in the header (found: %(found)s); "
                                     "name one column email or courriel"), values={"path": path, "found": found})
        raw_lines: list[str] = []

        def lines() -> Iterator[str]:
            for physical in text:
                raw_lines.append(physical)
                yield physical

        reader = csv.reader(lines(), delimiter=delimiter)
        previous_end = header_at
        while True:
            raw_lines.clear()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as err:
                raise ImportFileError(N_("%(path)s:%(line)d: the file is not valid %(encoding)s text after "
                                         "this line; re-save it as UTF-8"),
                                      values={"path": path, "line": previous_end + 1, "encoding": encoding}) from err
            except csv.Error as err:
                raise ImportFileError(N_("%(path)s:%(line)d: unreadable CSV (%(reason)s)"),
                                      values={"path": path, "line": previous_end + 1, "reason": str(err)}) from err
            line = previous_end + 1
            previous_end = reader.line_num + header_at
            # A quote opened on the last line runs to the end of the file within that one line.
            if len(raw_lines) > 1 or '"' in raw_lines[0]:
                _check_quotes(path, line, raw_lines, cells, delimiter)
            if not any(_clean(c) for c in cells):
                continue
            yield _row(cells, columns, line, tz, check_dns)


def _check_quotes(path: Path, line: int, raw: list[str], cells: list[str], delimiter: str) -> None:
    """Refuse a row that runs over several lines because of a quote never closed.

    A quoted value may hold a line break, but a quote that the end of the file cuts off, or a
    value whose later lines look like rows (a delimiter and an address), is a stray quote that
    would otherwise swallow every following row without a word.

    :raises ImportFileError: naming the line where the quote opens.
    """
    try:
        list(csv.reader(raw, delimiter=delimiter, strict=True))
        cut_off = False
    except csv.Error:
        cut_off = True
    swallowed = any(delimiter in rest and "@" in rest
                    for cell in cells for rest in cell.splitlines()[1:])
    if cut_off or swallowed:
        raise ImportFileError(
            N_("%(path)s:%(line)d: a quote (\") opened on this line is never closed, so the value runs over "
               "%(count)s lines and would swallow the rows after it; nothing was imported") if len(raw) > 1 else
            N_("%(path)s:%(line)d: a quote (\") opened on this line is never closed, so the value runs to the end "
               "of the file; nothing was imported"),
            values={"path": path, "line": line, "count": f"{len(raw):,}"},
            hint="close the quote or remove it (a name like O'Brien needs no quotes), then import again")


def _cell(cells: list[str], columns: dict[str | None, int], field: str) -> str:
    index = columns.get(field)
    return _restore(cells[index]) if index is not None and index < len(cells) else ""


def _raw_cell(cells: list[str], columns: dict[str | None, int], field: str) -> str:
    index = columns.get(field)
    return cells[index] if index is not None and index < len(cells) else ""


def _restore(value: str) -> str:
    """Undo the export's formula protection: ``'=x`` written by the export is read back as ``=x``."""
    from newsletter.audience.export import neutralize

    if value.startswith("'") and neutralize(value[1:]) == value:
        return value[1:]
    return value


def _rejected(line: int, raw_email: str, template: str, **values: Any) -> RejectedRow:
    """A rejected row whose reason is an N_-marked English template (the desk translates it)."""
    why = Message(template, values)
    return RejectedRow(line, str(why), raw_email, why=why)


def _row(cells: list[str], columns: dict[str | None, int], line: int, tz: ZoneInfo,
         check_dns: bool) -> CandidateRow | RejectedRow:
    raw_email = _cell(cells, columns, "email")
    address = _address(raw_email)
    if not address:
        return _rejected(line, raw_email, N_("no address in the email column"))
    protected = _cell(cells, columns, "email") != _raw_cell(cells, columns, "email")  # written by our export
    if address[0] in FORMULA_START and not protected:
        return _rejected(line, raw_email, N_("%(value)s looks like a spreadsheet formula, not an address"),
                         value=Quoted(raw_email[:80]))
    try:
        email = canonical(address, check_dns=check_dns)
    except AddressError as err:
        return RejectedRow(line, str(err), raw_email, why=err)
    moments: dict[str, datetime | None] = {}
    for field in ("consent_at", "created_at", "unsubscribed_at", "bounced_at", "paused_until"):
        raw_date = _cell(cells, columns, field)
        try:
            moments[field] = _consent(raw_date, tz)
        except ValueError:
            if field == "consent_at":
                return _rejected(line, raw_email, N_("consent date %(value)s is not a date; write it as 2026-03-14"),
                                 value=Quoted(_clean(raw_date)[:40]))
            return _rejected(line, raw_email, N_("%(field)s %(value)s is not a date; write it as 2026-03-14"),
                             field=field, value=Quoted(_clean(raw_date)[:40]))
    status = _clean(_cell(cells, columns, "status")).lower()
    if status and status not in STATUSES:
        return _rejected(line, raw_email, N_("status %(value)s is not one of %(known)s"), value=Quoted(status[:40]),
                         known=", ".join(STATUSES))
    frequency = _clean(_cell(cells, columns, "frequency")).lower()
    if frequency and frequency not in FREQUENCIES:
        return _rejected(line, raw_email, N_("frequency %(value)s is not one of %(known)s"),
                         value=Quoted(frequency[:40]), known=", ".join(FREQUENCIES))
    opted_out = _clean(_cell(cells, columns, "opted_out")).lower()
    if opted_out not in _YES | _NO:
        return _rejected(line, raw_email, N_("opt-out value %(value)s is neither yes nor no (true/false, oui/non, 1/0)"),
                         value=Quoted(opted_out[:40]))
    click_consent = _clean(_cell(cells, columns, "click_consent"))
    consented: datetime | None = None
    if click_consent.lower() in _YES:
        consented = moments["consent_at"] or GIVEN
    elif click_consent and click_consent.lower() not in _NO:
        try:
            consented = _consent(click_consent, tz)
        except ValueError:
            return _rejected(line, raw_email, N_("click consent %(value)s is neither a date nor yes or no"),
                             value=Quoted(click_consent[:40]))
    elif click_consent:
        consented = WITHDRAWN
    if not status and opted_out in _YES:
        status = "unsubscribed"
    elif not status and moments["bounced_at"]:
        status, moments["unsubscribed_at"] = "bounced", moments["bounced_at"]
    elif not status and moments["unsubscribed_at"]:
        status = "unsubscribed"
    return CandidateRow(
        line=line,
        email=email,
        first_name=clean_name(_cell(cells, columns, "first_name")),
        last_name=clean_name(_cell(cells, columns, "last_name")),
        consent_at=moments["consent_at"],
        consent_source=clean_name(_cell(cells, columns, "consent_source")),
        status=status,
        consent_ip=clean_name(_cell(cells, columns, "consent_ip"))[:64],
        created_at=moments["created_at"],
        unsubscribed_at=moments["unsubscribed_at"],
        click_consent_at=consented,
        frequency=frequency,
        paused_until=moments["paused_until"],
    )
