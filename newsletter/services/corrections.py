"""What a correction changed, in words: the sent page's items compared with the corrected ones.

Items are paired by position when they keep their link or their title (or have no link either), else by
link or title across positions (an item that moved); what is left was removed or added (an item
replaced by another in its place is both). A change is a small JSON-ready dict, stored with the correction and said in the
reader's language when shown (:func:`describe`).
"""

from __future__ import annotations

from typing import Any, Sequence

from babel.lists import format_list

from newsletter.core.i18n import Words
from newsletter.render.web_version import Facts, WebVersion, summary

#: The fields a correction compares, in the order they are named.
FIELDS = ("title", "text", "source", "url", "image", "tag")
#: Those a page frozen before corrections (without facts) still lets compare.
_OLD_FIELDS = ("title", "text", "url")


def _facts(version: WebVersion) -> tuple[tuple[Facts, ...], bool]:
    """The page's items to compare, and whether they are complete (False: only the feed's entries)."""
    if version.facts or not version.entries:
        return version.facts, True
    return tuple(Facts(e.title, e.summary, "", e.url, "", "") for e in version.entries), False


def compare(sent: WebVersion, sent_subject: str, new: WebVersion, new_subject: str) -> list[dict[str, Any]]:
    """The changes from ``sent`` (the version readers have) to ``new``, in reading order."""
    old, complete = _facts(sent)
    now = new.facts
    fields = FIELDS if complete else _OLD_FIELDS
    changes: list[dict[str, Any]] = []
    if sent_subject != new_subject:
        changes.append({"kind": "subject"})
    pairs: dict[int, int] = {}  # new position → old position (0-based)

    def same(a: Facts, b: Facts) -> bool:  # in its place: the same link, the same title, or no link either
        return bool(a.url and a.url == b.url) or a.title == b.title or not (a.url or b.url)

    for i in range(min(len(old), len(now))):
        if same(old[i], now[i]):
            pairs[i] = i
    for key in ("url", "title"):
        for i, item in enumerate(now):
            if i in pairs:
                continue
            for j, before in enumerate(old):
                if j not in pairs.values() and getattr(item, key) and getattr(item, key) == getattr(before, key):
                    pairs[i] = j
                    break
    for i, item in enumerate(now):
        if i not in pairs:
            changes.append({"kind": "added", "position": i + 1, "title": item.title})
            continue
        j = pairs[i]
        before = old[j]
        if not complete:  # the sent page kept only a summary of each text
            item = Facts(item.title, summary(item.text), item.source, item.url, item.image, item.tag)
        changed = [f for f in fields if getattr(before, f) != getattr(item, f)]
        if j != i:
            changes.append({"kind": "moved", "from": j + 1, "position": i + 1, "title": item.title})
        if changed:
            changes.append({"kind": "changed", "position": i + 1, "fields": changed})
    for j, before in enumerate(old):
        if j not in pairs.values():
            changes.append({"kind": "removed", "position": j + 1, "title": before.title})
    order = {"subject": 0, "moved": 1, "changed": 2, "removed": 3, "added": 4}
    changes.sort(key=lambda c: (c.get("position", 0), order[c["kind"]]))
    if not changes and sent.html != new.html:
        changes.append({"kind": "page"})
    return changes


def describe(changes: Sequence[dict[str, Any]], spoken: Words) -> list[str]:
    """Each change as a sentence of ``spoken``'s language (« Info 3 : le titre et le texte ont changé. »)."""
    names = {"title": spoken.gettext("the title"), "text": spoken.gettext("the text"),
             "source": spoken.gettext("the source"), "url": spoken.gettext("the link"),
             "image": spoken.gettext("the image"), "tag": spoken.gettext("the tag")}
    said = []
    for change in changes:
        kind = change.get("kind")
        if kind == "subject":
            said.append(spoken.gettext("The subject changed."))
        elif kind == "page":
            said.append(spoken.gettext("Only the page’s layout changed."))
        elif kind == "changed":
            fields = [names.get(f, f) for f in change.get("fields", ())]
            said.append(spoken.ngettext("Item %(position)d: %(what)s changed.", "Item %(position)d: %(what)s changed.",
                                        len(fields), position=change["position"],
                                        what=format_list(fields, locale=spoken.locale)))
        elif kind == "added":
            said.append(spoken.gettext("Item %(position)d added: “%(title)s”.", position=change["position"],
                                       title=change.get("title", "")))
        elif kind == "removed":
            said.append(spoken.gettext("Item %(position)d removed: “%(title)s”.", position=change["position"],
                                       title=change.get("title", "")))
        elif kind == "moved":
            said.append(spoken.gettext("“%(title)s” moved from item %(before)d to item %(position)d.",
                                       title=change.get("title", ""), before=change["from"],
                                       position=change["position"]))
    return said

