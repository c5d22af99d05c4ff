"""Repeats: the same story as an item of an issue sent within ``[check] repeat_days``."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.content.repeats import normalized_url
from newsletter.delivery.engine import send_issue
from newsletter.services.check import check_issue
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET, item_text, write
from tests.helpers.clock import NOW
from tests.helpers.config import set_options

EARLIER = DAY - timedelta(days=6)


@pytest.mark.parametrize("a, b", [
    ("https://www.Example.org/etude/?utm_source=x&utm_medium=mail#haut", "https://www.example.org/etude"),
    ("http://example.org/a?id=3&utm_campaign=z", "https://EXAMPLE.org/a/?id=3"),
    ("https://example.org:443/a", "https://example.org/a"),
])
def test_urls_that_lead_to_the_same_page_are_equal(a: str, b: str) -> None:
    assert normalized_url(a) == normalized_url(b) != ""


@pytest.mark.parametrize("a, b", [
    ("https://example.org/a?id=3", "https://example.org/a?id=4"),
    ("https://example.org/a", "https://example.org/b"),
    ("https://example.org:8443/a", "https://example.org/a"),
])
def test_urls_of_other_pages_differ(a: str, b: str) -> None:
    assert normalized_url(a) != normalized_url(b)


def _sent_earlier(project: Path, store: Store, items: dict[str, str] | None = None) -> None:
    """An issue sent on :data:`EARLIER` (outbox): the fixture issue, or its issue.yaml with ``items``."""
    folder = project / "issues" / EARLIER.isoformat()
    shutil.copytree(project / "issues" / DAY.isoformat(), folder)
    if items is not None:
        for path in folder.glob("*.md"):
            path.unlink()
        for name, text in items.items():
            write(folder / name, text)
    add_subscriber(store, "lecteur@example.org", now=NOW - timedelta(days=7))
    send_issue(load_settings(project), store, EARLIER, secret_key=SECRET)


def _warnings(project: Path, store: Store) -> list[str]:
    report = check_issue(load_settings(project), DAY, store=store)
    return [p.format(project) for p in report.problems if p.severity == "warning"]


def _repeats(project: Path, store: Store) -> list[str]:
    return [w for w in _warnings(project, store) if "already went out" in w or "nearly the one" in w]


def _others(*first: str) -> dict[str, str]:
    """Item files of other stories, after the ``first`` ones given."""
    items = {f"0{n}-x.md": text for n, text in enumerate(first, start=1)}
    for n in range(len(first) + 1, 6):
        items[f"0{n}-x.md"] = item_text(f"Une tout autre histoire numéro {n}", url=f"https://autre.example/{n}")
    return items


def test_a_link_sent_within_repeat_days_is_a_warning_naming_the_issue(project: Path, store: Store) -> None:
    tracked = "https://WWW.example.org/etudes/connected-life/?utm_source=nl&utm_medium=email#top"
    _sent_earlier(project, store, _others(item_text("Un titre sans rapport", url=tracked)))
    assert _repeats(project, store) == [
        f"issues/{DAY.isoformat()}/01-bots.md:4: warning: this link already went out in the issue of "
        f"{EARLIER.isoformat()} (01-x.md); is it news again?"]


def test_a_near_identical_title_is_a_warning(project: Path, store: Store) -> None:
    title = (project / "issues" / DAY.isoformat() / "02-mobile.md").read_text(encoding="utf-8").split('"')[1]
    _sent_earlier(project, store, _others(item_text("Autre chose"), item_text(f"« {title.upper()} » !")))
    found = _repeats(project, store)
    assert len(found) == 1, found
    assert found[0].startswith(f"issues/{DAY.isoformat()}/02-mobile.md:2: warning: this title is nearly the one of ")
    assert f"sent in the issue of {EARLIER.isoformat()}" in found[0]


def test_an_issue_sent_before_the_window_or_repeat_days_zero_is_not_compared(project: Path, store: Store) -> None:
    _sent_earlier(project, store)
    assert len(_repeats(project, store)) == 5
    set_options(project, "check", repeat_days=5)
    assert _repeats(project, store) == []
    set_options(project, "check", repeat_days=0)
    assert _repeats(project, store) == []


def test_without_a_store_nothing_is_compared(project: Path) -> None:
    report = check_issue(load_settings(project), DAY)
    assert not any("already went out" in p.message for p in report.problems)


def test_repeat_days_must_be_a_whole_number(project: Path) -> None:
    from newsletter.errors import ConfigError

    set_options(project, "check", repeat_days="trente")
    with pytest.raises(ConfigError, match=r"\[check\] repeat_days must be a whole number"):
        load_settings(project)
