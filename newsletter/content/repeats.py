"""Repeats: an item whose story already went out in a recent issue.

Two items tell the same story when their links lead to the same page once the parts that do not
choose the page are dropped (``utm_*`` parameters, the fragment, the host's case, a trailing
slash), or when their titles are near-identical (rapidfuzz's token-sort ratio, which tolerates a
changed word order and punctuation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from newsletter.content.model import Item

#: Titles at least this similar (0–100) are the same story told again.
TITLE_SIMILARITY = 90.0


@dataclass(frozen=True)
class Repeat:
    """``item`` of the issue being checked tells again the story of ``earlier`` (sent on ``day``)."""

    item: Item
    day: date
    earlier: Item
    by: str  # "url" or "title"


def normalized_url(url: str) -> str:
    """``url`` without what does not choose the page: ``utm_*`` parameters, the fragment, the host's
    case, the default port and a trailing slash ("" for an address that is not http(s))."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith("utm_")])
    # http and https lead to the same story: the scheme is not part of the comparison.
    return urlunsplit(("", host, parts.path.rstrip("/"), query, ""))


def _title(text: str) -> str:
    return " ".join(text.split()).casefold()


def find_repeats(items: Iterable[Item], earlier: Iterable[tuple[date, Iterable[Item]]]) -> list[Repeat]:
    """Each item of ``items`` that tells again a story of an ``earlier`` issue (the latest one it matches).

    :param earlier: the recent sent issues, as ``(day, items)``, in any order.
    """
    from rapidfuzz import fuzz, utils

    sent = sorted(((day, list(past)) for day, past in earlier), key=lambda pair: pair[0], reverse=True)
    found: list[Repeat] = []
    for item in items:
        url, title = normalized_url(item.url), utils.default_process(_title(item.title))
        match = None
        for day, past in sent:
            for old in past:
                if url and url == normalized_url(old.url):
                    match = Repeat(item, day, old, "url")
                elif title and fuzz.token_sort_ratio(title, utils.default_process(_title(old.title))) \
                        >= TITLE_SIMILARITY:
                    match = Repeat(item, day, old, "title")
                if match:
                    break
            if match:
                break
        if match:
            found.append(match)
    return found
