"""``check --links``: every link of an issue fetched for real, a few at a time.

HEAD first, then GET where HEAD is refused (405, 501, or any 4xx: some servers answer HEAD with a
404 they would not give a browser); redirects followed (each hop checked as
:mod:`newsletter.services.fetch` does). A 404, 410 or 5xx, a host that cannot be found or a
timeout is an error naming the file, the line and the address; a redirect that ends on another host
is a warning with the final address. Results are kept in the store for a day
(:data:`CACHE_HOURS`), so that checking again makes no requests.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from newsletter.config import Settings
from newsletter.content.markdown import is_safe_url
from newsletter.content.model import Issue
from newsletter.content.problems import N_, Problem
from newsletter.errors import FetchError
from newsletter.store.links import LinkState, recent_checks, save_checks

if TYPE_CHECKING:
    from newsletter.store.database import Store

#: Links fetched at the same time.
PARALLEL = 4
CACHE_HOURS = 24
_LINK = re.compile(r"https?://[^\s<>\"'`)\]]+", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    path: Path
    line: int
    url: str


def issue_links(issue: Issue) -> list[Link]:
    """Every http(s) address of the items: their ``url``, absolute images, and links in their texts."""
    found: list[Link] = []
    for item in issue.items:
        for key in ("url", "image"):
            value = getattr(item, key)
            if value and is_safe_url(value):
                found.append(Link(item.path, item.line_of(key), value))
        found.extend(Link(item.path, item.body_line + offset, url) for offset, url in text_links(item.body))
    found.extend(Link(issue.meta_path, issue.intro_line + offset, url) for offset, url in text_links(issue.intro))
    return found


def text_links(source: str) -> list[tuple[int, str]]:
    """The http(s) addresses of a Markdown text, each with its line (0 for the first): the destinations
    of its links and images as the Markdown parser reads them (a quote inside an address is part of it),
    and the bare addresses and raw HTML links of its text."""
    from markdown_it import MarkdownIt

    lines = source.split("\n")
    found: list[tuple[int, str]] = []

    def line_of(first: int, last: int, *needles: str) -> int:
        return next((n for n in range(first, last) for needle in needles if needle and needle in lines[n]), first)

    for block in MarkdownIt("commonmark", {"html": True}).parse(source):
        first, last = block.map if block.map else (0, len(lines))
        parts = block.children or ([block] if block.type == "html_block" else [])
        inside = 0  # a link's own text (an autolink's is its address) is not another link
        for part in parts:
            inside += (part.type == "link_open") - (part.type == "link_close")
            href = part.attrGet("href") if part.type == "link_open" else part.attrGet("src") \
                if part.type == "image" else None
            if isinstance(href, str) and _LINK.match(href):
                found.append((line_of(first, last, unquote(href), href), href))
            elif part.type in ("html_inline", "html_block") or (part.type == "text" and not inside):
                for m in _LINK.finditer(part.content):
                    url = m.group(0).rstrip(".,;:!?")
                    found.append((line_of(first, last, url), url))
    return found


def _check_one(url: str, settings: Settings, now: datetime) -> LinkState:
    from newsletter.services.fetch import fetch

    try:
        answer = fetch(url, settings.sourcing, method="HEAD")
        if 400 <= answer.status < 500 or answer.status == 501:
            answer = fetch(url, settings.sourcing, max_bytes=0)
    except FetchError as err:
        return LinkState(url, 0, "", str(err), now)
    return LinkState(url, answer.status, answer.url, "", now)


def _states(links: list[Link], settings: Settings, store: Store | None, now: datetime, *,
            fetch: bool) -> dict[str, LinkState]:
    """The states of ``links``' addresses as checked within a day, the others fetched now when ``fetch``."""
    urls = list(dict.fromkeys(link.url for link in links))
    known = recent_checks(store, urls, now - timedelta(hours=CACHE_HOURS)) if store is not None else {}
    missing = [url for url in urls if url not in known] if fetch else []
    if not missing:
        return known
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        fresh = list(pool.map(lambda url: _check_one(url, settings, now), missing))
    if store is not None:
        save_checks(store, fresh)
    return {**known, **{state.url: state for state in fresh}}


def verdict(url: str, state: LinkState) -> str:
    """What a state means for the link ``url``: ``dead``, ``moved`` (to another host) or ``ok``."""
    if state.error or state.status in (404, 410) or state.status >= 500:
        return "dead"
    if (urlsplit(state.final_url).hostname or "") != (urlsplit(url).hostname or "").lower():
        return "moved"
    return "ok"


@dataclass(frozen=True)
class LinkReport:
    """One link of an issue and what is known of it: ``state`` is ``ok``, ``dead``, ``moved`` or ``unchecked``
    (not checked within a day); for a dead link without an answer, ``failure`` says why
    (:func:`newsletter.services.fetch.failure_kind`)."""

    link: Link
    state: str
    status: int = 0
    final_url: str = ""
    failure: str = ""
    error: str = ""
    checked_at: datetime | None = None


def link_reports(issue: Issue, settings: Settings, store: Store | None, now: datetime, *,
                 fetch: bool) -> list[LinkReport]:
    """Every link of ``issue`` with its state: as checked within a day, and fetched now if not when ``fetch``
    (without, no request is made: the desk's page reads only the store)."""
    from newsletter.services.fetch import failure_kind

    links = issue_links(issue)
    states = _states(links, settings, store, now, fetch=fetch)
    reports = []
    for link in links:
        state = states.get(link.url)
        if state is None:
            reports.append(LinkReport(link, "unchecked"))
            continue
        reports.append(LinkReport(link, verdict(link.url, state), state.status, state.final_url,
                                  failure_kind(state.error) if state.error else "", state.error, state.checked_at))
    return reports


def link_problems(issue: Issue, settings: Settings, store: Store | None, now: datetime) -> list[Problem]:
    """The dead and the moved links of ``issue`` (fetched now, or as checked within a day)."""
    from newsletter.services.fetch import failure_message

    problems = []
    for report in link_reports(issue, settings, store, now, fetch=True):
        link = report.link
        if report.error:
            problems.append(Problem(link.path, link.line, N_("dead link: %(reason)s"),
                                    values={"reason": failure_message(report.error)}))
        elif report.state == "dead":
            problems.append(Problem(link.path, link.line, N_("dead link %(url)s: the server answers %(status)d"),
                                    values={"url": link.url, "status": report.status}))
        elif report.state == "moved":
            problems.append(Problem(link.path, link.line, N_("%(url)s leads to another site: %(final)s; link to "
                                                             "the final address if it is the right page"), "warning",
                                    values={"url": link.url, "final": report.final_url}))
    return problems
