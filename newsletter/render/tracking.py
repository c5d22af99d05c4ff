"""Counted links: a send's masters with every content link turned into ``{base_url}/c/TOKEN``.

Only a send to the list is tracked (:func:`track`, once per send, on the masters; the stored render
that workers thaw is the tracked one): ``build``, test copies, the dry run and the public web
version keep the original links, so none of them is ever counted. A content link is one the
editors wrote: an item's URL (its title, image and button), the links in its text and in the
intro (:attr:`RenderedIssue.links`); the template's own links (unsubscribe, preferences, web
version, archive, mailto) are left as they are, whatever the project's template holds. The
feedback links of ``[analytics] feedback`` are rendered uncounted (:func:`feedback_url`, a thank-you
page) and counted here like the others.

Each tracked URL is the ``click_nonce`` placeholder followed by the link half of its token
(:mod:`newsletter.core.click_tokens`), so that each message costs one more substitution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from html import escape, unescape

from newsletter.core.click_tokens import FEEDBACK, NONCE_FIELD, link_half
from newsletter.core.merge import Context, MergeSlots
from newsletter.render.rendered import RenderedIssue

#: The path under ``base_url`` that ``serve`` answers for counted links.
CLICK_PATH = "/c/"
#: The link of a ``click_links`` row that only records an item without any link (its title and tag).
ITEM_ONLY = "-"
_HREF = re.compile(r'href="([^"]*)"')
#: What may follow a URL in the text part: it was written out alone, or "label (URL)".
_TEXT_END = r"(?=[\s)\]>,;!?»]|\.(?:\s|$)|$)"


@dataclass(frozen=True)
class Link:
    """One counted link of an issue: where it is (position, link index) and where it leads."""

    position: int
    link: str  # "0", "1"… or "u" / "n" (feedback)
    url: str  # "" for a feedback link


def feedback_url(base_url: str, issue: str, position: int, kind: str) -> str:
    """The uncounted feedback link of an item (a thank-you page); :func:`track` makes it a counted one."""
    return f"{base_url}{CLICK_PATH}{issue}.{position}.{kind}"


def content_links(rendered: RenderedIssue, base_url: str) -> dict[str, Link]:
    """Every link a send counts, by the URL written in the masters (a URL used at two positions
    counts at its first)."""
    issue = rendered.issue.date.isoformat()
    found: dict[str, Link] = {}
    for position, urls in enumerate(rendered.links):
        for index, url in enumerate(urls):
            found.setdefault(url, Link(position, str(index), url))
        if position and f"{base_url}{CLICK_PATH}{issue}.{position}.{FEEDBACK[0]}" in rendered.html:
            for kind in FEEDBACK:
                found[feedback_url(base_url, issue, position, kind)] = Link(position, kind, "")
    return found


def track(rendered: RenderedIssue, base_url: str, secret_key: str) -> tuple[RenderedIssue, list[Link]]:
    """``rendered`` with its content links counted, and those links (what ``serve`` redirects to).

    :return: the same render when it has no content link.
    """
    links = content_links(rendered, base_url)
    if not links:
        return rendered, []
    issue = rendered.issue.date.isoformat()
    slots = MergeSlots()
    for slot in rendered.slots.slots:
        slots.token(slot.field, slot.context, slot.default)
    in_html, in_text = slots.token(NONCE_FIELD, Context.URL), slots.token(NONCE_FIELD, Context.TEXT)
    start = f"{base_url}{CLICK_PATH}"
    halves = {url: link_half(secret_key, issue, link.position, link.link) for url, link in links.items()}

    def href(match: re.Match[str]) -> str:
        half = halves.get(unescape(match.group(1)))
        return match.group(0) if half is None else f'href="{escape(start)}{in_html}{escape(half)}"'

    html = _HREF.sub(href, rendered.html)
    pattern = re.compile("(" + "|".join(re.escape(url) for url in sorted(halves, key=len, reverse=True)) + ")"
                         + _TEXT_END)
    text = pattern.sub(lambda m: start + in_text + halves[m.group(1)], rendered.text)
    return replace(rendered, html=html, text=text, slots=slots), list(links.values())
