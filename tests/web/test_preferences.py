"""Readers choose (issue 28), through the real ``serve`` under waitress: the welcome once after a
confirmation, the ``/p/TOKEN`` page (POST only, CSRF), the data download, the erasure in two steps
and an erased reader kept out of imports until the form's double opt-in."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
import requests

from newsletter import Newsletter
from newsletter.core.tokens import ERASE, PREFERENCES, UNSUBSCRIBE, make_timed_token, make_token
from newsletter.delivery.engine import send_issue
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber, find_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.web import Service, confirm_link, mail_queue, subscribe, wait_for_mail, web_settings
from tests.sink import Sink

ADDRESS = "lea.martin@example.org"


@pytest.fixture
def service(project: Path, store: Store, sink: Sink) -> Iterator[Service]:
    with Service(web_settings(project, sink), store) as running:
        yield running


def page_url(service: Service, address: str = ADDRESS) -> str:
    return f"{service.url}/p/{make_token(SECRET, PREFERENCES, address)}"


def form_token(session: requests.Session, url: str) -> str:
    page = session.get(url)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def post(session: requests.Session, url: str, path: str, **fields: str) -> requests.Response:
    return session.post(url + path, data={"csrf_token": form_token(session, url), **fields})


def test_a_confirmation_sends_the_welcome_once_even_when_confirmed_twice(service: Service, store: Store,
                                                                        sink: Sink) -> None:
    session = requests.Session()
    subscribe(session, service.url, "nouvelle@example.org")
    wait_for_mail(sink, 1)
    link = confirm_link(sink)
    assert requests.post(service.url + link).status_code == 200
    mail_queue(service).join()
    again = requests.post(service.url + link)  # the same link again, and a second confirmation mail's link
    subscribe(session, service.url, "nouvelle@example.org")
    mail_queue(service).join()
    assert again.status_code in (200, 400)
    welcomes = [m for m in sink.recorder.messages if m["Subject"].startswith("Bienvenue")]
    assert len(welcomes) == 1 and welcomes[0]["To"] == "nouvelle@example.org"
    text = welcomes[0].get_body(("plain",)).get_content()
    assert "Gérer mon abonnement" in text and "https://news.example.org/p/" in text
    assert re.search(r"le lundi, mardi, mercredi, jeudi et vendredi, vers 07:00", text), text


def test_the_library_welcome_never_sends_twice_after_a_crash_mid_welcome(project: Path, store: Store,
                                                                         sink: Sink) -> None:
    from newsletter.store.readers import claim_welcome

    settings = web_settings(project, sink)
    add_subscriber(store, "a@example.org", now=NOW)
    add_subscriber(store, "b@example.org", now=NOW)
    nl = Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: NOW)
    assert claim_welcome(store, "a@example.org", now=NOW) is not None  # a process claimed it, then died
    assert nl.readers.welcome("a@example.org").state == "already"
    assert nl.readers.welcome("b@example.org").state == "sent"
    assert nl.readers.welcome("b@example.org").state == "already"
    assert [m["To"] for m in sink.recorder.messages] == ["b@example.org"]


def test_the_page_shows_and_a_get_changes_nothing(service: Service, store: Store) -> None:
    add_subscriber(store, ADDRESS, now=NOW)
    answer = requests.get(page_url(service))
    assert answer.status_code == 200 and "Gérer mon abonnement" in answer.text
    assert answer.headers["Cache-Control"].startswith("no-store") or "no-store" in answer.headers["Cache-Control"]
    for path in ("/frequency", "/pause", "/data", "/erase", "/erase/confirm"):
        assert requests.get(page_url(service) + path).status_code == 405
    person = find_subscriber(store, ADDRESS)
    assert person is not None and person.frequency == "daily" and person.paused_until is None


def test_frequency_and_pause_are_saved_by_post_and_bad_choices_refused(service: Service, store: Store) -> None:
    add_subscriber(store, ADDRESS, now=NOW)
    session, url = requests.Session(), page_url(service)
    assert post(session, url, "/frequency", frequency="weekly").status_code == 200
    assert find_subscriber(store, ADDRESS).frequency == "weekly"  # type: ignore[union-attr]
    refused = post(session, url, "/frequency", frequency="hourly")
    assert refused.status_code == 400 and "pas proposé" in refused.text
    assert post(session, url, "/pause", weeks="6").status_code == 400
    assert find_subscriber(store, ADDRESS).paused_until is None  # type: ignore[union-attr]
    before = time.time()
    paused = post(session, url, "/pause", weeks="2")
    assert paused.status_code == 200 and "En pause jusqu" in paused.text
    until = find_subscriber(store, ADDRESS).paused_until  # type: ignore[union-attr]
    assert until is not None and abs(until.timestamp() - (before + 14 * 86400)) < 3600
    assert post(session, url, "/pause", weeks="0").status_code == 200
    assert find_subscriber(store, ADDRESS).paused_until is None  # type: ignore[union-attr]
    # Without the form's CSRF token, nothing changes.
    assert requests.post(url + "/frequency", data={"frequency": "daily"}).status_code == 400
    assert find_subscriber(store, ADDRESS).frequency == "weekly"  # type: ignore[union-attr]


@pytest.mark.parametrize("token", [
    "nAAAAforged", make_token(SECRET, PREFERENCES, ADDRESS)[:-3] + "abc",  # forged, altered
    make_token(SECRET, UNSUBSCRIBE, ADDRESS),  # cross-purpose
    make_token("another-secret-key-of-enough-length-123456", PREFERENCES, ADDRESS),
])
def test_forged_altered_or_cross_purpose_tokens_are_refused_and_change_nothing(service: Service, store: Store,
                                                                               token: str) -> None:
    add_subscriber(store, ADDRESS, now=NOW)
    session = requests.Session()
    good = form_token(session, page_url(service))
    assert session.get(f"{service.url}/p/{token}").status_code == 400
    answer = session.post(f"{service.url}/p/{token}/frequency", data={"csrf_token": good, "frequency": "weekly"})
    assert answer.status_code == 400
    erased = session.post(f"{service.url}/p/{token}/erase/confirm",
                          data={"csrf_token": good, "erase": make_timed_token(SECRET, ERASE, ADDRESS)})
    assert erased.status_code == 400
    assert find_subscriber(store, ADDRESS).frequency == "daily"  # type: ignore[union-attr]


def test_the_download_holds_everything_stored_about_the_reader(service: Service, store: Store, project: Path,
                                                              sink: Sink) -> None:
    add_subscriber(store, ADDRESS, now=NOW, first_name="Léa")
    send_issue(web_settings(project, sink), store, DAY, secret_key=SECRET)
    answer = post(requests.Session(), page_url(service), "/data")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    data = json.loads(answer.text)["subscriber"]
    assert data["email"] == ADDRESS and data["first_name"] == "Léa" and data["status"] == "active"
    assert data["consent"]["source"] == "cli" and data["consent"]["at"] and data["frequency"] == "daily"
    assert [issue["issue"] for issue in data["issues"]] == [DAY.isoformat()]
    assert data["issues"][0]["status"] == "sent" and data["status_history"][0]["event"] == "created"


def test_the_issue_footer_links_to_the_preferences_page(service: Service, store: Store, project: Path,
                                                        sink: Sink) -> None:
    add_subscriber(store, ADDRESS, now=NOW)
    send_issue(web_settings(project, sink), store, DAY, secret_key=SECRET)
    [mail] = [m for m in sink.recorder.messages if m["To"] == ADDRESS]
    link = page_url(service).replace(service.url, "https://news.example.org")
    assert f"Gérer mon abonnement\xa0: {link}" in mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert f'href="{link}"' in html and "Gérer mon abonnement" in html
    assert requests.get(link.replace("https://news.example.org", service.url)).status_code == 200


def test_erasure_takes_two_steps_keeps_counts_and_keeps_the_address_out(service: Service, store: Store,
                                                                        project: Path, sink: Sink) -> None:
    settings = web_settings(project, sink)
    add_subscriber(store, ADDRESS, now=NOW)
    add_subscriber(store, "autre@example.org", now=NOW)
    send_issue(settings, store, DAY, secret_key=SECRET)
    session, url = requests.Session(), page_url(service)
    ask = post(session, url, "/erase")
    assert ask.status_code == 200 and find_subscriber(store, ADDRESS) is not None  # the first step erases nothing
    step = re.search(r'name="erase" value="([^"]+)"', ask.text).group(1)  # type: ignore[union-attr]
    assert post(session, url, "/erase/confirm", erase="nforged").status_code == 400
    assert find_subscriber(store, ADDRESS) is not None
    done = post(session, url, "/erase/confirm", erase=step)
    assert done.status_code == 200 and "Données effacées" in done.text
    assert find_subscriber(store, ADDRESS) is None
    replay = session.post(url + "/erase/confirm", data={"csrf_token": form_token(session, f"{service.url}/subscribe"),
                                                        "erase": step})
    assert replay.status_code == 410
    assert requests.get(url).status_code == 404
    nl = Newsletter(settings, store=store, secret_key=SECRET)
    assert nl.status(DAY).counts == {"sent": 2}  # the ledger keeps its counts without the person
    with store.engine.connect() as conn:
        from sqlalchemy import text
        dump = "\n".join(str(row) for table in ("subscribers", "deliveries", "feedback_events", "welcome_mails",
                                                "suppressions")
                         for row in conn.execute(text(f"SELECT * FROM {table}")))
    assert "lea.martin" not in dump
    # No import and no add brings the address back...
    csv = project / "again.csv"
    csv.write_text(f"email\n{ADDRESS}\nnouveau@example.org\n", encoding="utf-8")
    summary = nl.subscribers.import_csv(csv)
    assert (summary.added, summary.kept_out) == (1, 1) and find_subscriber(store, ADDRESS) is None
    with pytest.raises(Exception, match="erased their data"):
        nl.subscribers.add(ADDRESS)
    # ...while a fresh double opt-in through the form does.
    before = len(sink.recorder.messages)
    subscribe(requests.Session(), service.url, ADDRESS)
    wait_for_mail(sink, before + 1)
    assert requests.post(service.url + confirm_link(sink)).status_code == 200
    assert find_subscriber(store, ADDRESS).status == "active"  # type: ignore[union-attr]
    assert not nl.readers.is_erased(ADDRESS)


def test_an_expired_erasure_step_is_refused(service: Service, store: Store) -> None:
    add_subscriber(store, ADDRESS, now=NOW)
    old = make_timed_token(SECRET, ERASE, ADDRESS, now=int(time.time()) - 3600)
    answer = post(requests.Session(), page_url(service), "/erase/confirm", erase=old)
    assert answer.status_code == 400 and find_subscriber(store, ADDRESS) is not None


def test_daily_sends_skip_weekly_and_paused_readers_and_status_counts_them(project: Path, store: Store,
                                                                          sink: Sink) -> None:
    settings = web_settings(project, sink)
    for address in ("daily@example.org", "weekly@example.org", "paused@example.org"):
        add_subscriber(store, address, now=NOW)
    nl = Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: NOW)
    nl.readers.set_frequency("weekly@example.org", "weekly")
    nl.readers.pause("paused@example.org", 1)
    with pytest.raises(Exception, match="not offered"):
        nl.readers.pause("paused@example.org", 8)
    skipped = nl.readers.skipped()
    assert (skipped.weekly, skipped.paused) == (1, 1)
    send_issue(settings, store, DAY, secret_key=SECRET, clock=lambda: NOW)
    assert [m["To"] for m in sink.recorder.messages] == ["daily@example.org"]
    later = Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: NOW + timedelta(weeks=1, hours=1))
    assert later.readers.skipped().paused == 0  # the pause ended by itself
