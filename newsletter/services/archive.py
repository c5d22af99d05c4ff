"""The public archive's pages: the web versions of the issues and an Atom feed of those sent.

The web service reaches it through the library (``Newsletter.archive``); the list of sent
issues comes from the store (:func:`newsletter.store.archive.published`).

A sent issue's page is the one its send published (:mod:`newsletter.render.web_version`, kept in
the store): :class:`PublishedPages` keeps each in memory while its digest stays. Before the send
(the proofreaders' link) the page is rendered from the issue's files by :class:`WebVersions`. The
feed carries each issue's items (title, summary, link).
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timezone
from html import escape
from typing import Callable, Mapping
from xml.etree import ElementTree as ET

from newsletter.config import Settings
from newsletter.content.load import issue_folder, load_issue
from newsletter.errors import NewsletterError, StoreError
from newsletter.render.web_version import Entry, WebVersion, public_page, render_web_version, thaw
from newsletter.core.i18n import Words
from newsletter.store import corrections
from newsletter.store.archive import Publication, Published, page_layout, save_page
from newsletter.store.database import Store

log = logging.getLogger(__name__)

ATOM = "http://www.w3.org/2005/Atom"


def _items_html(entries: tuple[Entry, ...], issue_url: str) -> str:
    """The items of an issue as an HTML list (escaped here; the feed escapes it once more as text)."""
    rows = []
    for entry in entries:
        link = entry.url or issue_url
        rows.append(f'<li><a href="{escape(link)}">{escape(entry.title)}</a><p>{escape(entry.summary)}</p></li>')
    return "<ol>" + "".join(rows) + "</ol>"


class WebVersions:
    """Renders an issue's public page on demand and keeps it until a file of the issue changes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[date, tuple[tuple[tuple[str, float], ...], WebVersion]] = {}
        self._lock = threading.Lock()

    def _stamp(self, day: date) -> tuple[tuple[str, float], ...]:
        folder = issue_folder(self.settings.issues_dir, day)
        return tuple(sorted((str(p), p.stat().st_mtime) for p in folder.rglob("*") if p.is_file()))

    def version(self, day: date) -> WebVersion | None:
        """The issue's public page and items, or None when its files are gone or no longer render."""
        folder = issue_folder(self.settings.issues_dir, day)
        if not folder.is_dir():
            return None
        stamp = self._stamp(day)
        with self._lock:
            cached = self._cache.get(day)
            if cached and cached[0] == stamp:
                return cached[1]
        try:
            issue = load_issue(self.settings.issues_dir, day, self.settings.newsletter.items_per_issue).issue
            version, _ = render_web_version(issue, self.settings)
        except NewsletterError:
            return None
        with self._lock:
            self._cache[day] = (stamp, version)
        return version


class PublishedPages:
    """The pages sends published, read from the store once per digest and kept in memory.

    A send from before pages were kept (migration 0013) publishes its files as they are when its
    page is first asked for: from then on, edits change it no more than any other sent issue's. A kept
    page this version cannot read is not shown (the files may say something else than what was sent).
    """

    LIMIT = 256

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[int, tuple[str, WebVersion]] = {}
        self._corrected: dict[str, WebVersion] = {}  # by digest: a correction's page never changes
        self._lock = threading.Lock()

    def corrected(self, store: Store, send_id: int, number: int, digest: str) -> WebVersion:
        """The page of correction ``number`` of the send (``digest``: its digest, the cache's key).

        :raises NewsletterError: when the page was stored by another version of newsletter.
        """
        with self._lock:
            cached = self._corrected.get(digest)
        if cached is not None:
            return cached
        stored = corrections.layout(store, send_id, number)
        if stored is None:
            raise StoreError(f"correction {number} of send {send_id} has no page")
        version = thaw(stored)
        with self._lock:
            if len(self._corrected) >= self.LIMIT:
                self._corrected.clear()
            self._corrected[digest] = version
        return version

    def version(self, store: Store, day: date, sent: Publication, now: datetime) -> WebVersion | None:
        """The page the send of ``day`` published, or None when it has none and its files are gone."""
        with self._lock:
            cached = self._cache.get(sent.send_id)
        if cached and cached[0] == sent.page:
            return cached[1]
        layout = page_layout(store, sent.send_id) if sent.page else None
        if layout is None:  # sent before pages were kept
            made = self._keep_files(store, day, sent.send_id, now)
            return thaw(made) if made is not None else None
        version = self._read(day, layout)
        if version is None:  # kept by a newsletter this one cannot read: never the files instead, they may differ
            return None
        with self._lock:
            if len(self._cache) >= self.LIMIT:
                self._cache.clear()
            self._cache[sent.send_id] = (sent.page, version)
        return version

    @staticmethod
    def _read(day: date, layout: str) -> WebVersion | None:
        try:
            return thaw(layout)
        except NewsletterError as err:
            log.error("issue %s: the published page cannot be read (%s); the archive does not show it",
                      day.isoformat(), err)
            return None

    def _keep_files(self, store: Store, day: date, send_id: int, now: datetime) -> str | None:
        try:
            issue = load_issue(self.settings.issues_dir, day, self.settings.newsletter.items_per_issue).issue
            page = public_page(issue, self.settings)
        except NewsletterError:
            return None
        try:
            if save_page(store, send_id, page, now):
                log.info("issue %s: sent before pages were kept; its page is now its files as they are",
                         day.isoformat())
        except StoreError as err:  # the page is still served; the next request tries again
            log.warning("issue %s: the published page could not be kept: %s", day.isoformat(), err)
        return page.layout


def atom_feed(settings: Settings, issues: list[Published],
              version: Callable[[Published], WebVersion | None] | None = None,
              corrected: Mapping[int, corrections.Correction] | None = None, spoken: Words | None = None) -> bytes:
    """An Atom 1.0 feed of the sent issues (RFC 4287), each entry with the items of ``version``'s page;
    a corrected issue's entry (``corrected``: by send id, its last correction) is updated then, and
    its content opens with the correction's note (said in ``spoken``'s language)."""
    corrected = corrected or {}
    base = settings.newsletter.base_url
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": settings.newsletter.locale.replace("_", "-")})

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    add(feed, "title", settings.newsletter.name)
    add(feed, "id", f"{base}/feed.xml")
    add(feed, "link", rel="self", href=f"{base}/feed.xml")
    add(feed, "link", rel="alternate", href=f"{base}/archive/")
    def changed(issue: Published) -> datetime:
        last = corrected.get(issue.send_id)
        return last.created_at if last is not None else issue.sent_at

    updated = max((changed(i) for i in issues), default=datetime(2000, 1, 1, tzinfo=timezone.utc))
    add(feed, "updated", updated.isoformat())
    author = add(feed, "author")
    add(author, "name", settings.newsletter.sender_name or settings.newsletter.name)
    for issue in issues:
        url = f"{base}/archive/{issue.day.isoformat()}/"
        entry = add(feed, "entry")
        add(entry, "title", issue.subject)
        add(entry, "id", url)
        add(entry, "link", rel="alternate", type="text/html", href=url)
        add(entry, "updated", changed(issue).isoformat())
        add(entry, "published", issue.sent_at.isoformat())
        page = version(issue) if version else None
        last = corrected.get(issue.send_id)
        note = ""
        if last is not None and spoken is not None:
            note = "<p>" + escape(spoken.gettext("Corrected on %(day)s: %(note)s", day=spoken.day(
                last.created_at.astimezone(settings.tz).date()), note=last.note)) + "</p>"
        if page is not None:
            add(entry, "summary", " · ".join(e.title for e in page.entries))
            add(entry, "content", note + _items_html(page.entries, url), type="html")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
