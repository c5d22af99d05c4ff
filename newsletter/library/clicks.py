"""``nl.clicks``: the counted links of sent issues (``serve``'s ``/c/TOKEN``) and what readers did with them.

A request is answered first and written after, in batches, by one background thread
(:class:`ClickRecorder`): the redirect never waits for the database. ``close()`` (``serve`` calls it on
Ctrl+C and SIGTERM) writes what is waiting; a process killed outright (``kill -9``) loses at most the
batch not yet written, i.e. the clicks of the last ``interval`` seconds (half a second by default).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from newsletter.core.issue_id import IssueId
from newsletter.core.click_tokens import FEEDBACK, read_click_token, reader_nonce
from newsletter.errors import NoClicksError
from newsletter.services import readership
from newsletter.services.readership import Delivered, IssueFigures, Trends
from newsletter.store import clicks as stored
from newsletter.store.clicks import ClickRow

if TYPE_CHECKING:
    from newsletter.library import Newsletter
    from newsletter.library.project import Project

log = logging.getLogger(__name__)

#: A feedback link as rendered, not counted (a test copy's): ``ISSUE.POSITION.u``.
_UNCOUNTED_FEEDBACK = re.compile(r"\d{4}-\d{2}-\d{2}(?:-[a-z0-9-]{1,40})?\.\d{1,2}\.[un]")


@dataclass(frozen=True)
class ClickAnswer:
    """What ``/c/TOKEN`` answers: a redirect to ``url``, or the thank-you page of a ``feedback`` link."""

    url: str = ""
    feedback: str = ""  # "u" ("Utile") or "n" ("Pas pour moi")


class ClickRecorder:
    """Clicks waiting to be written, written in batches by one daemon thread.

    :param write: writes one batch (in one transaction).
    :param interval: seconds between two writes; a batch of ``batch`` clicks is written at once.
    """

    def __init__(self, write: Callable[[list[ClickRow]], None], *, interval: float = 0.5, batch: int = 1000,
                 limit: int = 200_000) -> None:
        self._write, self.interval, self.batch = write, interval, batch
        self._waiting: deque[ClickRow] = deque(maxlen=limit)  # a database down for long drops the oldest
        self._lock = threading.Lock()  # one batch written at a time (the thread and a flush)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, click: ClickRow) -> None:
        """Queue one click (never blocks on the database)."""
        self._waiting.append(click)
        if self._thread is None:
            self._start()
        if len(self._waiting) >= self.batch:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="newsletter-clicks", daemon=True)
                self._thread.start()

    def pending(self) -> int:
        return len(self._waiting)

    def flush(self) -> int:
        """Write every click waiting now; how many were written."""
        with self._lock:
            batch: list[ClickRow] = []
            while self._waiting:
                batch.append(self._waiting.popleft())
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception:
                self._waiting.extendleft(reversed(batch))  # kept for the next write
                raise
            return len(batch)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a database outage must not end the thread; the clicks wait
                log.exception("clicks: a batch could not be written; it is tried again")

    def close(self) -> None:
        """Stop the thread and write what is waiting (``serve``'s stop)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()


class Clicks:
    """The counted links of ``nl``'s issues: redirects, the recorder, reports and trends."""

    def __init__(self, nl: "Newsletter") -> None:
        self._nl = nl
        self._links: dict[str, dict[tuple[int, str], str]] = {}
        self.recorder = ClickRecorder(lambda batch: stored.record(self._nl.store, batch))
        self._purged: datetime | None = None

    # -- serve --------------------------------------------------------------------------------

    def answer(self, token: str, *, secret_key: str, method: str = "GET", user_agent: str = "") -> ClickAnswer | None:
        """Where ``/c/TOKEN`` leads (None: a forged, altered or unknown token, a 404); the click is
        queued for the recorder, counted only when it is a send's (test copies' feedback links are not)."""
        found = read_click_token(secret_key, token)
        if found is None:
            return ClickAnswer(feedback=token[-1]) if _UNCOUNTED_FEEDBACK.fullmatch(token) else None
        if found.feedback:
            answer = ClickAnswer(feedback=found.link)
        else:
            url = self._url(found.issue, found.position, found.link)
            if url is None:
                return None
            answer = ClickAnswer(url=self._with_utm(url, found.issue))
        now = self._nl.clock()
        self.recorder.submit(ClickRow(found.issue, found.position, found.link, found.nonce, now, method.upper()[:8],
                                      readership.scanner_agent(user_agent)))
        self._purge_daily(now)
        return answer

    def _url(self, issue: str, position: int, link: str) -> str | None:
        links = self._links.get(issue)
        if links is None or (position, link) not in links:
            links = {(row.position, row.link): row.url for row in stored.links_of(self._nl.store, issue)}
            if links:
                self._links[issue] = links
        return links.get((position, link))

    def _with_utm(self, url: str, issue: str) -> str:
        source = self._nl.settings.analytics.utm_source
        if not source:
            return url
        parts = urlsplit(url)
        own = parse_qsl(parts.query, keep_blank_values=True)
        names = {name for name, _ in own}
        extra = [(k, v) for k, v in (("utm_source", source), ("utm_medium", "email"), ("utm_campaign", issue))
                 if k not in names]  # the URL's own values win
        return urlunsplit(parts._replace(query=urlencode(own + extra)))

    def _purge_daily(self, now: datetime) -> None:
        if self._purged is None or now - self._purged > timedelta(days=1):
            self._purged = now
            threading.Thread(target=self.purge, name="newsletter-clicks-purge", daemon=True).start()

    def close(self) -> None:
        """Write the clicks still waiting (``serve``'s stop)."""
        self.recorder.close()

    # -- reports ------------------------------------------------------------------------------

    def purge(self) -> int:
        """Forget the clicks older than ``[analytics] keep_days``; how many."""
        keep = timedelta(days=self._nl.settings.analytics.keep_days)
        try:
            return stored.purge(self._nl.store, self._nl.clock() - keep)
        except Exception:  # the purge of the daily thread: logged, tried again the next day
            log.exception("clicks: the purge of clicks older than %s days failed", keep.days)
            return 0

    def report(self, day: date) -> IssueFigures:
        """What readers did with ``day``'s issue.

        :raises NoClicksError: when the issue was not sent with counted links.
        """
        found = self._reports([day])
        if not found:
            raise NoClicksError(f"issue {day.isoformat()} has no counted links: it was not sent, or was sent "
                                "with [analytics] clicks = false",
                                hint="`newsletter history` lists the issues sent")
        return found[0]

    def trends(self, days: int) -> Trends:
        """The issues of the last ``days`` days and their rates by position and by tag."""
        today = self._nl.today()
        wanted = [today - timedelta(days=n) for n in range(days)]
        return readership.trends(days, self._reports(wanted, editions=True))

    def unique_clickers(self, days: Iterable[date]) -> dict[date, int]:
        """{issue: messages from which a person clicked} for the issues sent with counted links."""
        return {IssueId.parse(r.issue): r.unique_clickers for r in self._reports(list(days))}

    def _reports(self, days: list[date], *, editions: bool = False) -> list[IssueFigures]:
        """The figures of these issues (``editions``: and of the special editions of their dates)."""
        from newsletter.store.history import issue_figures

        store = self._nl.reading_store()
        keys = [d.isoformat() for d in days]
        dated = {key[:10] for key in keys} if editions else set()
        links = [link for link in stored.links_since(store, min(keys))
                 if link.issue in keys or link.issue[:10] in dated] if keys else []
        if not links:
            return []
        rows = stored.clicks_of(store, {link.issue for link in links})
        sent = sorted({IssueId.parse(link.issue) for link in links})
        automated = readership.judge(rows, stored.first_delivery(store, sent),
                                     scanner_seconds=self._nl.settings.analytics.scanner_seconds,
                                     read_seconds=self._nl.settings.analytics.read_seconds,
                                     links_per_issue=readership.counted_links(links))
        reports = []
        for day in sorted(sent, reverse=True):
            key = day.isoformat()
            figures = issue_figures(store, day)
            ledger = Delivered(max(figures.sent - figures.bounced, 0), figures.unsubscribed, figures.bounced,
                               figures.complained) if figures else Delivered(0)
            mine = [i for i, row in enumerate(rows) if row.issue == key]
            reports.append(readership.issue_figures(key, [link for link in links if link.issue == key],
                                                    [rows[i] for i in mine], [automated[i] for i in mine], ledger))
        return reports

    # -- per-subscriber counts (opt-in) --------------------------------------------------------

    def readers(self, day: date, *, secret_key: str) -> list[tuple[str, int]]:
        """(address, people's clicks) of the consenting readers who clicked in ``day``'s issue, when
        ``[analytics] per_subscriber`` is on (empty otherwise)."""
        if not self._nl.settings.analytics.per_subscriber:
            return []
        store = self._nl.reading_store()
        key = day.isoformat()
        rows = stored.clicks_of(store, [key])
        links = stored.links_of(store, key)
        automated = readership.judge(rows, stored.first_delivery(store, [day]),
                                     scanner_seconds=self._nl.settings.analytics.scanner_seconds,
                                     read_seconds=self._nl.settings.analytics.read_seconds,
                                     links_per_issue=readership.counted_links(links))
        people: dict[str, int] = {}
        for row, robot in zip(rows, automated):
            if not robot and row.link not in FEEDBACK:
                people[row.nonce] = people.get(row.nonce, 0) + 1
        found = []
        for subscriber_id, email in stored.consenting(store):  # who left has no consent any more
            nonce = reader_nonce(secret_key, key, subscriber_id)[:12]
            if nonce in people:
                found.append((email, people[nonce]))
        return sorted(found)

    def erase_reader(self, address: str) -> int:
        """See :func:`erase_reader`."""
        return erase_reader(self._nl, address)


def erase_reader(nl: "Project", address: str) -> int:
    """Forget a consenting reader's own clicks and their consent (they left, or asked for erasure);
    how many clicks were deleted (0, and no key read, for a reader who never consented)."""
    store = nl.store
    found = stored.consenting(store, address)
    if not found:
        return 0
    secret_key = nl.secret_key().value
    issues = {link.issue for link in stored.links_since(store, "0000")}
    deleted = stored.forget_nonces(store, ((issue, reader_nonce(secret_key, issue, found[0][0])[:12])
                                           for issue in issues))
    stored.set_consent(store, address, None)
    return deleted
