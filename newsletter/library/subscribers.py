"""The subscriber list (``nl.subscribers``): import and export a CSV, add, remove, look up, count.

Every address typed by a person is checked first (:mod:`newsletter.library.inputs`); reading
never creates a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from newsletter.library.inputs import checked_address, checked_name
from newsletter.library.project import Project
from newsletter.library.readers import Readers

if TYPE_CHECKING:
    from newsletter.store.subscribers import ImportSummary, SubscriberRecord


@dataclass(frozen=True)
class ExportResult:
    path: Path
    count: int


@dataclass(frozen=True)
class SubscriberChange:
    """A subscriber as an add or a remove left them."""

    record: "SubscriberRecord"
    created: bool = False


class Subscribers:
    """The subscriber list of one :class:`Newsletter` (``nl.subscribers``)."""

    def __init__(self, newsletter: Project) -> None:
        self._nl = newsletter

    def import_csv(self, path: str | Path, *, source: str = "import", dry_run: bool = False,
                   check_dns: bool = False, welcome: bool = False) -> "ImportSummary":
        """Import a CSV file (UTF-8 or Windows-1252; , ; or tab) whole or not at all; people who left stay out,
        and so do readers who erased their data (counted as kept out).

        :param source: consent source for rows that name none.
        :param dry_run: compute what would change, write nothing.
        :param welcome: send the welcome mail to every active address the import added (once each).
        :raises ImportFileError: when the file cannot be read or has no address column.
        """
        from newsletter.audience.csv_reader import read_subscriber_csv
        from newsletter.store.subscribers import import_rows

        nl = self._nl
        rows = read_subscriber_csv(Path(path), check_dns=check_dns,
                                   default_timezone=nl.settings.newsletter.timezone)
        readers = Readers(nl)
        summary = import_rows(nl.reading_store() if dry_run else nl.store, rows, now=nl.clock(), source=source,
                              dry_run=dry_run, digest=readers.erased_check(), keep_added=welcome and not dry_run)
        for address in summary.added_emails or ():
            readers.welcome(address)
        return summary

    def export(self, path: str | Path, *, status: str | None = None, excel_fr: bool = False) -> ExportResult:
        """Write the list (every status, consent kept) to a CSV that ``import_csv`` restores.

        :param excel_fr: ``;`` and dates in the newsletter's time zone, for French Excel.
        """
        from newsletter.audience.export import EXPORT_COLUMNS, write_subscriber_csv
        from newsletter.store.subscribers import list_subscribers

        nl = self._nl
        rows = ({c: getattr(s, c) for c in EXPORT_COLUMNS} for s in list_subscribers(nl.reading_store(), status=status))
        count = write_subscriber_csv(Path(path), rows, excel_fr=nl.settings.tz if excel_fr else None)
        return ExportResult(Path(path), count)

    def add(self, email: str, *, first_name: str = "", last_name: str = "") -> SubscriberChange:
        """Add one active subscriber, or update their names (never one who left).

        :raises UsageError: for an invalid address or name.
        :raises NewsletterError: when the address unsubscribed, bounced or complained.
        """
        from newsletter.store.subscribers import add_subscriber, find_subscriber

        nl = self._nl
        address = checked_address(email, "email")
        if Readers(nl).is_erased(address):
            from newsletter.errors import N_, NewsletterError

            raise NewsletterError(N_("%(address)s erased their data and is not added back"),
                                  hint=N_("a reader who erased their data can come back only through the subscribe "
                                          "form's confirmation"), values={"address": address})
        subscriber, created = add_subscriber(nl.store, address, now=nl.clock(),
                                             first_name=checked_name(first_name, "first_name"),
                                             last_name=checked_name(last_name, "last_name"))
        record = find_subscriber(nl.store, subscriber.email)
        assert record is not None
        return SubscriberChange(record, created)

    def remove(self, email: str) -> SubscriberChange:
        """Unsubscribe an address; the record stays as proof and as a suppression.

        :raises NewsletterError: when the address is not in the list.
        """
        from newsletter.store.subscribers import find_subscriber, unsubscribe

        nl = self._nl
        subscriber = unsubscribe(nl.store, checked_address(email, "email"), now=nl.clock())
        from newsletter.library.clicks import erase_reader

        erase_reader(nl, subscriber.email)  # per-reader click counts end with the subscription
        record = find_subscriber(nl.store, subscriber.email)
        assert record is not None
        return SubscriberChange(record)

    def get(self, email: str) -> "SubscriberRecord | None":
        """The subscriber with this address, or None."""
        from newsletter.store.subscribers import find_subscriber

        return find_subscriber(self._nl.reading_store(), checked_address(email, "email"))

    def stream(self, *, status: str | None = None, search: str | None = None,
             limit: int | None = None, after: str | None = None) -> Iterator["SubscriberRecord"]:
        """Subscribers in address order, streamed (flat memory for any list size); ``after`` an address:
        those after it (the next page)."""
        from newsletter.store.subscribers import list_subscribers

        return list_subscribers(self._nl.reading_store(), status=status, search=search, limit=limit, after=after)

    def rename(self, email: str, *, first_name: str | None = None, last_name: str | None = None) -> "SubscriberRecord":
        """Change a subscriber's names (None: unchanged), never their status: one who left stays out.

        :raises UsageError: for an invalid address or name.
        :raises NewsletterError: when the address is not in the list.
        """
        from newsletter.errors import N_, NewsletterError
        from newsletter.store.subscribers import find_subscriber, rename_subscriber

        nl = self._nl
        address = checked_address(email, "email")
        first = checked_name(first_name, "first_name") if first_name is not None else None
        last = checked_name(last_name, "last_name") if last_name is not None else None
        if not rename_subscriber(nl.store, address, now=nl.clock(), first_name=first, last_name=last):
            raise NewsletterError(N_("%(address)s is not in the subscriber list"), values={"address": address})
        record = find_subscriber(nl.store, address)
        assert record is not None
        return record

    def search(self, text: str, *, status: str | None = None, limit: int | None = 50) -> list["SubscriberRecord"]:
        """Subscribers whose address contains ``text`` (any case; ``xn--`` domains match too)."""
        return list(self.stream(status=status, search=text, limit=limit))

    def count(self, *, status: str | None = None, search: str | None = None) -> int:
        """How many subscribers :meth:`stream` gives without a limit."""
        from newsletter.store.subscribers import count_subscribers

        return count_subscribers(self._nl.reading_store(), status=status, search=search)

    def count_by_status(self, *, search: str | None = None) -> dict[str, int]:
        """How many subscribers have each status (only addresses containing ``search`` when given)."""
        from newsletter.store.subscribers import count_by_status

        return count_by_status(self._nl.reading_store(), search=search)
