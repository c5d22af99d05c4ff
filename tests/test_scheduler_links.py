"""The scheduler checks the links of a due issue and alerts the operator about dead ones, without holding the send."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from newsletter import Newsletter
from newsletter.config import load_settings
from newsletter.content.problems import Problem
from newsletter.frontends.scheduler import Scheduler
from newsletter.store.database import Store
from newsletter.store.day_claims import day_claim
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.config import remove_option, set_options
from tests.helpers.french import typeset
from tests.helpers.pages import Pages, links_to, local_site
from tests.helpers.sending import smtp_config
from tests.sink import Sink

#: 07:00 in Paris on the issue's day: its due time (cron "0 7 * * *").
DUE = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
OPERATOR = "exploitation@example.org"


@pytest.fixture
def site(project: Path, issue_dir: Path) -> Iterator[Pages]:
    with local_site(project) as pages:
        links_to(pages, issue_dir)  # one link works, one is dead (404), one leads to another host
        yield pages


def scheduler_at(project: Path, store: Store, sink: Sink, clock: list[datetime]) -> Scheduler:
    smtp_config(project, sink.port)
    remove_option(project, "schedule", "alert_to", missing_ok=True)
    set_options(project, "schedule", alert_to=OPERATOR, cron="0 7 * * *", grace_minutes=60, require_approval=False,
                check_links=True)
    settings = load_settings(project)
    return Scheduler(Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: clock[0]))


def test_dead_links_are_alerted_once_and_the_issue_is_sent_all_the_same(project: Path, store: Store, sink: Sink,
                                                                         site: Pages) -> None:
    for i in range(3):
        add_subscriber(store, f"lecteur{i}@example.org", now=DUE)
    clock = [DUE]
    scheduler = scheduler_at(project, store, sink, clock)
    assert scheduler.run("daily", None, None) == "done"
    claim = day_claim(store, DAY)
    assert claim is not None and claim.state.value == "done"
    readers = [m for m in sink.recorder.messages if m["To"] != OPERATOR]
    alerts = [m for m in sink.recorder.messages if m["To"] == OPERATOR]
    assert len(readers) == 3  # the dead link held nothing
    assert len(alerts) == 1 and typeset("le numéro du 24/11/2026 contient 1 lien mort") in alerts[0]["Subject"]
    body = alerts[0].get_body(("plain",)).get_content()
    assert f"issues/{DAY}/03-reseaux.md:6: " in body and site.url("/gone") in body and "404" in body
    assert "01-bots.md" not in body and "04-forrester.md" not in body  # working and moved links are no alert
    assert f"newsletter check {DAY} --links" in body
    # A minute later (a retry, another scheduler): the links were checked within a day, the alert went out once.
    fetched = len(site.requests)
    clock[0] += timedelta(minutes=1)
    scheduler.ops.alert_dead_links(DAY)
    assert len(site.requests) == fetched
    assert len([m for m in sink.recorder.messages if m["To"] == OPERATOR]) == 1


def test_a_link_check_that_fails_does_not_hold_the_send(project: Path, store: Store, sink: Sink, site: Pages,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    add_subscriber(store, "lecteur@example.org", now=DUE)
    scheduler = scheduler_at(project, store, sink, [DUE])

    def broken(*_: object) -> list[Problem]:
        raise OSError("no more threads")

    scheduler.ops.link_check = broken
    with caplog.at_level(logging.WARNING):
        assert scheduler.run("daily", None, None) == "done"
    assert [m["To"] for m in sink.recorder.messages] == ["lecteur@example.org"]
    assert "link_check_failed" in caplog.text and "no more threads" in caplog.text


def test_without_dead_links_there_is_no_alert(project: Path, store: Store, sink: Sink, site: Pages) -> None:
    site.routes["/gone"] = site.routes["/ok"]
    add_subscriber(store, "lecteur@example.org", now=DUE)
    scheduler = scheduler_at(project, store, sink, [DUE])
    assert scheduler.run("daily", None, None) == "done"
    assert [m["To"] for m in sink.recorder.messages] == ["lecteur@example.org"]
