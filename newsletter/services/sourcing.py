"""From a link or a feed to an item draft: what a page says about itself (its metadata).

The page's head is read with the standard library's HTML parser, which copes with the broken
markup pages are written in and adds no dependency: Open Graph (``og:title``, ``og:site_name``,
``og:image``, ``og:image:alt``, ``og:description``), ``<title>``, ``<link rel=canonical>``, the
``description`` meta tag and the JSON-LD ``publisher``. Feeds (RSS, Atom) are read by feedparser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from newsletter.config import SourcingSettings
from newsletter.content.markdown import is_safe_url
from newsletter.errors import N_, FetchError
from newsletter.services.fetch import fetch

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf+xml",
               "application/feed+json")


@dataclass(frozen=True)
class PageDraft:
    """What an item file is prefilled with, from one page."""

    title: str
    source: str
    url: str  # the canonical address
    description: str  # the page's own words: a starting point, to be rewritten
    image_url: str = ""
    image_alt: str = ""


class _Head(HTMLParser):
    """Collects the metadata of a page's markup (the whole document: some pages put it in the body)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.canonical = ""
        self.title = ""
        self.json_ld: list[str] = []
        self._in: str = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").strip().lower()
            if key and values.get("content", "").strip():
                self.meta.setdefault(key, values["content"].strip())
        elif tag == "link" and "canonical" in values.get("rel", "").lower().split() and not self.canonical:
            self.canonical = values.get("href", "").strip()
        elif tag == "title" and not self.title:
            self._in = "title"
        elif tag == "script" and values.get("type", "").strip().lower() == "application/ld+json":
            self._in = "json"
            self.json_ld.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "script"):
            self._in = ""

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "json":
            self.json_ld[-1] += data


def _publisher(blocks: list[str]) -> str:
    """The JSON-LD publisher's name (an article's ``publisher``, or a lone ``NewsMediaOrganization``)."""
    def walk(node: Any) -> str:
        if isinstance(node, list):
            return next((found for found in map(walk, node) if found), "")
        if not isinstance(node, dict):
            return ""
        publisher = node.get("publisher")
        if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
            return publisher["name"]
        if isinstance(publisher, list):
            return walk([{"publisher": p} for p in publisher])
        return walk(node.get("@graph", []))

    for block in blocks:
        try:
            found = walk(json.loads(block))
        except (ValueError, RecursionError):
            continue  # a page's broken JSON-LD is ignored, not fatal
        if found:
            return found
    return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _decode(body: bytes, charset: str) -> str:
    if not charset:
        found = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", body[:4096], re.IGNORECASE)
        charset = found.group(1).decode("ascii") if found else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _site_name(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def read_page(url: str, settings: SourcingSettings) -> PageDraft:
    """Fetch ``url`` and read its metadata.

    :raises FetchRefused: for an address that is not fetched (form, scheme, private network).
    :raises FetchError: when the page does not answer, is too large, is not HTML, has no title, or
        answers with an error status.
    """
    page = fetch(url, settings, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
    if page.status >= 400:
        raise FetchError(N_("%(url)s: the server answered %(status)d; check the address"),
                         values={"url": page.url, "status": page.status})
    if page.content_type not in _HTML_TYPES:
        raise FetchError(N_("%(url)s: this is not a web page (its type is %(type)s); give the article's address"),
                         values={"url": page.url, "type": page.content_type or "not given"})
    head = _Head()
    head.feed(_decode(page.body, page.charset))
    head.close()
    meta = head.meta
    title = _one_line(meta.get("og:title") or head.title or meta.get("twitter:title", ""))
    if not title:
        raise FetchError(N_("%(url)s: the page has no title (neither og:title nor <title>); is it an article?"),
                         values={"url": page.url})
    canonical = next((absolute for absolute in (urljoin(page.url, c) for c in (head.canonical, meta.get("og:url", ""))
                                                if c) if is_safe_url(absolute)), page.url)
    image = urljoin(page.url, meta.get("og:image:secure_url") or meta.get("og:image", "")) \
        if meta.get("og:image") else ""
    return PageDraft(
        title=title,
        source=_one_line(meta.get("og:site_name") or _publisher(head.json_ld) or _site_name(canonical)),
        url=canonical,
        description=_one_line(meta.get("og:description") or meta.get("description")
                              or meta.get("twitter:description", "")),
        image_url=image if is_safe_url(image) else "",
        image_alt=_one_line(meta.get("og:image:alt", "")),
    )


@dataclass(frozen=True)
class FeedEntry:
    title: str
    url: str


def read_feed(url: str, settings: SourcingSettings) -> list[FeedEntry]:
    """The entries of an RSS or Atom feed, newest first (entries without a link are skipped).

    :raises FetchError: when the feed does not answer or cannot be read as a feed.
    """
    import feedparser

    answer = fetch(url, settings, accept=", ".join((*_FEED_TYPES[:2], "application/xml;q=0.9", "*/*;q=0.1")))
    if answer.status >= 400:
        raise FetchError(N_("%(url)s: the server answered %(status)d; check the feed's address"),
                         values={"url": answer.url, "status": answer.status})
    parsed = feedparser.parse(answer.body, response_headers={"content-type": answer.content_type or "application/xml"})
    entries = []
    for index, entry in enumerate(parsed.entries):
        link = urljoin(answer.url, entry.get("link", "")) if entry.get("link") else ""  # "" would be the feed itself
        if not is_safe_url(link):
            continue
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        entries.append((tuple(when) if when else (), -index, FeedEntry(_one_line(entry.get("title", "")), link)))
    if not entries and (parsed.get("bozo") or not parsed.get("version")):
        reason = parsed.get("bozo_exception")
        if reason is None:
            raise FetchError(N_("%(url)s: this is not an RSS or Atom feed; check the feed's address"),
                             values={"url": answer.url})
        raise FetchError(N_("%(url)s: this is not an RSS or Atom feed (%(reason)s); check the feed's address"),
                         values={"url": answer.url, "reason": _one_line(str(reason))[:120]})
    entries.sort(key=lambda row: (row[0], row[1]), reverse=True)
    return [entry for _, _, entry in entries]
