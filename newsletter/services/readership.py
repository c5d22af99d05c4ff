"""What readers did with an issue: clicks judged (people or scanners) and summed per item, position and tag.

**The rule.** Security gateways (Microsoft Defender Safe Links, Proofpoint, Mimecast, Barracuda…)
fetch the links of a message as it arrives, before anyone reads it. A click is judged
``automated`` when any of these holds:

1. it is not a GET (a HEAD request asks whether the link works, not to read it);
2. its user agent names a scanner, a library or a bot (:func:`scanner_agent`), or there is none;
3. it came sooner than ``[analytics] read_seconds`` after the issue's first message was handed over
   (the ledger's first ``sent_at``): no person opened a message that fast;
4. its message's nonce fetched at least three different links (every link, when the issue has
   only two) within ``[analytics] scanner_seconds``: a person does not open three articles in two
   seconds. Only the clicks inside that burst are automated; the same message's later clicks, its
   reader's, count.

**Its limits.** The nonce is per message, not per person, so a forwarded message's clicks count as
its recipient's; rule 3 knows when the *first* message left, not this one (a scanner of a message
sent an hour into a large send is caught by rules 2 and 4, not by 3); a scanner that fetches one
link only, slowly, with a browser's user agent, passes for a person; and no maintained public list
of the scanners' address ranges exists, so addresses are not used (nor stored).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from newsletter.core.click_tokens import FEEDBACK, NOT_FOR_ME, USEFUL
from newsletter.render.tracking import ITEM_ONLY
from newsletter.store.clicks import ClickRow, LinkRow

#: The user agents of mail security scanners, HTTP libraries and bots: never a person reading.
_SCANNERS = re.compile(
    r"safelinks|defender|microsoft office|ms-office|proofpoint|mimecast|barracuda|symantec|messagelabs|ironport|"
    r"cisco|fortinet|fortimail|fortiguard|sophos|trend ?micro|zscaler|forcepoint|websense|bitdefender|kaspersky|"
    r"mcafee|check ?point|avanan|abnormal|vade|hornet|spamtitan|mailguard|libwww|python-requests|python-urllib|"
    r"aiohttp|httpx|curl|wget|go-http-client|okhttp|java/|apache-httpclient|headlesschrome|phantomjs|"
    r"bot\b|crawler|spider|scanner|slurp|facebookexternalhit|preview",
    re.IGNORECASE)
#: Different links one message fetches within ``scanner_seconds`` that make it a scanner's burst.
BURST_LINKS = 3


def scanner_agent(user_agent: str) -> str:
    """The scanner a user agent names (lower case, at most 40 characters), ``"none"`` without one, else ``""``."""
    if not user_agent.strip():
        return "none"
    found = _SCANNERS.search(user_agent)
    return found.group(0).lower()[:40] if found else ""


def judge(clicks: Sequence[ClickRow], first_sent: dict[str, datetime], *, scanner_seconds: float,
          read_seconds: float, links_per_issue: dict[str, int]) -> list[bool]:
    """For each click, whether it is ``automated`` (the module's rule)."""
    automated = [c.method != "GET" or bool(c.agent) or
                 (c.issue in first_sent and c.at < first_sent[c.issue] + timedelta(seconds=read_seconds))
                 for c in clicks]
    window = timedelta(seconds=scanner_seconds)
    by_message: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, c in enumerate(clicks):
        by_message[(c.issue, c.nonce)].append(i)
    for (issue, _), indices in by_message.items():
        needed = min(BURST_LINKS, links_per_issue.get(issue, BURST_LINKS))
        if needed < 2 or len(indices) < needed:
            continue
        indices.sort(key=lambda i: clicks[i].at)
        for start, first in enumerate(indices):
            inside = [i for i in indices[start:] if clicks[i].at - clicks[first].at <= window]
            if len({(clicks[i].position, clicks[i].link) for i in inside}) >= needed:
                for i in inside:
                    automated[i] = True
    return automated


@dataclass(frozen=True)
class ItemFigures:
    """One item of an issue: what its links got."""

    position: int
    title: str
    tag: str
    url: str
    clicks: int  # people's clicks on its links
    unique_clicks: int  # messages (nonces) from which a person clicked one of its links
    automated: int  # requests of its links judged to come from scanners
    click_rate: float  # unique_clicks over delivered
    useful: int = 0  # messages whose reader said "Utile"
    not_for_me: int = 0  # messages whose reader said "Pas pour moi"


@dataclass(frozen=True)
class IssueFigures:
    """An issue's report (``newsletter report ISSUE``)."""

    issue: str
    delivered: int
    unique_clickers: int  # messages from which a person clicked at least one link (an estimate of readers)
    items: tuple[ItemFigures, ...]
    unsubscribed: int
    bounced: int
    complained: int
    automated: int = 0  # every request judged automated, feedback links included

    def as_json(self) -> dict[str, object]:
        """The shape of DESIGN.md ("Clicks"), plus ``useful``/``not_for_me`` per item and the total ``automated``."""
        return {"issue": self.issue, "delivered": self.delivered, "unique_clickers": self.unique_clickers,
                "items": [{"position": i.position, "title": i.title, "tag": i.tag, "url": i.url, "clicks": i.clicks,
                           "unique_clicks": i.unique_clicks, "automated": i.automated,
                           "click_rate": round(i.click_rate, 4), "useful": i.useful, "not_for_me": i.not_for_me}
                          for i in self.items],
                "unsubscribed": self.unsubscribed, "bounced": self.bounced, "complained": self.complained,
                "automated": self.automated}


@dataclass(frozen=True)
class Delivered:
    """The ledger's figures of an issue that the report shows beside the clicks."""

    delivered: int
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0


def counted_links(links: Iterable[LinkRow]) -> dict[str, int]:
    """{issue: how many different links one of its messages holds} (feedback included)."""
    found: dict[str, int] = defaultdict(int)
    for link in links:
        if link.link != ITEM_ONLY:
            found[link.issue] += 1
    return dict(found)



def issue_figures(issue: str, links: Sequence[LinkRow], clicks: Sequence[ClickRow], automated: Sequence[bool],
                  ledger: Delivered) -> IssueFigures:
    """Sum one issue's judged clicks per item."""
    items: dict[int, LinkRow] = {}
    for link in links:
        if link.position and (link.position not in items or link.link in ("0", ITEM_ONLY)):
            items[link.position] = link
    people: dict[int, list[str]] = defaultdict(list)
    votes: dict[tuple[int, str], set[str]] = defaultdict(set)
    robots: dict[int, int] = defaultdict(int)
    readers: set[str] = set()
    for click, robot in zip(clicks, automated):
        if robot:
            robots[click.position] += 1
        elif click.link in FEEDBACK:
            votes[(click.position, click.link)].add(click.nonce)
        else:
            people[click.position].append(click.nonce)
            readers.add(click.nonce)
    delivered = ledger.delivered

    def figures(position: int, link: LinkRow) -> ItemFigures:
        unique = len(set(people[position]))
        return ItemFigures(position, link.title, link.tag, link.url if link.link == "0" else "", len(people[position]),
                           unique, robots[position], unique / delivered if delivered else 0.0,
                           len(votes[(position, USEFUL)]), len(votes[(position, NOT_FOR_ME)]))

    return IssueFigures(issue, delivered, len(readers), tuple(figures(p, items[p]) for p in sorted(items)),
                        ledger.unsubscribed, ledger.bounced, ledger.complained, sum(automated))


@dataclass(frozen=True)
class Trend:
    """Positions or tags over several issues: how often their items were read."""

    key: str  # "1"… for a position, the tag's name for a tag
    items: int
    unique_clicks: int
    delivered: int  # the deliveries of the issues those items were in

    @property
    def click_rate(self) -> float:
        return self.unique_clicks / self.delivered if self.delivered else 0.0


@dataclass(frozen=True)
class Trends:
    """``newsletter report --days N``: the issues of the period, and the rates by position and by tag."""

    days: int
    issues: tuple[IssueFigures, ...]
    positions: tuple[Trend, ...] = field(default=())
    tags: tuple[Trend, ...] = field(default=())

    def as_json(self) -> dict[str, object]:
        def rows(trends: tuple[Trend, ...], name: str) -> list[dict[str, object]]:
            return [{name: int(t.key) if name == "position" else t.key, "items": t.items,
                     "unique_clicks": t.unique_clicks, "click_rate": round(t.click_rate, 4)} for t in trends]
        return {"days": self.days,
                "issues": [{"issue": i.issue, "delivered": i.delivered, "unique_clickers": i.unique_clickers}
                           for i in self.issues],
                "positions": rows(self.positions, "position"), "tags": rows(self.tags, "tag")}


def trends(days: int, reports: Sequence[IssueFigures]) -> Trends:
    """Sum the items of ``reports`` by position and by tag (tags most read first)."""
    positions: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    tags: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for report in reports:
        for item in report.items:
            for table, key in ((positions, str(item.position)), (tags, item.tag)):
                if key:
                    table[key][0] += 1
                    table[key][1] += item.unique_clicks
                    table[key][2] += report.delivered
    by_position = tuple(Trend(k, *v) for k, v in sorted(positions.items(), key=lambda kv: int(kv[0])))
    by_tag = tuple(sorted((Trend(k, *v) for k, v in tags.items()), key=lambda t: (-t.click_rate, t.key)))
    return Trends(days, tuple(reports), by_position, by_tag)
