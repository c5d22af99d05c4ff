"""The public archive's pages: the web versions of the issues and an Atom feed of those sent.

The web service reaches it through the library (``Newsletter.archive``); the list of sent
issues comes from the store (:func:`newsletter.store.archive.published`).

The web version is rendered for the public (``render_issue(web=True)``): no personal data, no
footer addressed to a subscriber, a call to subscribe, a title, a description and share
metadata. The feed carries each issue's items (title, summary, link).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timezone
from html import escape
from xml.etree import ElementTree as ET

from newsletter.config import Settings
from newsletter.content.load import issue_folder, load_issue
from newsletter.content.markdown import is_safe_url
from newsletter.content.typography import typographer
from newsletter.errors import NewsletterError
from newsletter.merge import CompiledTemplate
from newsletter.render.pipeline import render_issue
from newsletter.store.archive import Published

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class Entry:
    """One item of an issue, as the feed carries it."""

    title: str
    summary: str
    url: str


@dataclass(frozen=True)
class WebVersion:
    """An issue's public page and its items."""

    html: str
    entries: tuple[Entry, ...]


SUMMARY_CHARS = 300


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= SUMMARY_CHARS:
        return flat
    return flat[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"


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
            rendered = render_issue(issue, self.settings, web=True)
        except NewsletterError:
            return None
        page, _ = rendered.personalize({})  # nobody's data: every field falls back to its default
        typo = typographer(self.settings.newsletter.locale)  # titles read as in the email: « l’État »
        entries = tuple(Entry(typo(item.title), _summary(CompiledTemplate(text, rendered.slots).render({})),
                              item.url if is_safe_url(item.url) else "")
                        for item, text in zip(issue.items, rendered.item_texts))
        version = WebVersion(page, entries)
        with self._lock:
            self._cache[day] = (stamp, version)
        return version

    def html(self, day: date) -> str | None:
        """The issue as a web page, or None when its files are gone or no longer render."""
        version = self.version(day)
        return version.html if version else None


def atom_feed(settings: Settings, issues: list[Published], versions: WebVersions | None = None) -> bytes:
    """An Atom 1.0 feed of the sent issues (RFC 4287), each entry with the issue's items."""
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
    updated = max((i.sent_at for i in issues), default=datetime(2000, 1, 1, tzinfo=timezone.utc))
    add(feed, "updated", updated.isoformat())
    author = add(feed, "author")
    add(author, "name", settings.newsletter.sender_name or settings.newsletter.name)
    for issue in issues:
        url = f"{base}/archive/{issue.day.isoformat()}/"
        entry = add(feed, "entry")
        add(entry, "title", issue.subject)
        add(entry, "id", url)
        add(entry, "link", rel="alternate", type="text/html", href=url)
        add(entry, "updated", issue.sent_at.isoformat())
        add(entry, "published", issue.sent_at.isoformat())
        version = versions.version(issue.day) if versions else None
        if version is not None:
            add(entry, "summary", " · ".join(e.title for e in version.entries))
            add(entry, "content", _items_html(version.entries, url), type="html")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
