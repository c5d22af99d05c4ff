"""Counted links through the real ``serve`` under waitress: clicks by people and by a simulated scanner,
forged tokens, test copies and the archive never counted, the report's figures, SIGTERM's flush."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from newsletter import Newsletter
from newsletter.config import Settings, load_settings
from newsletter.delivery.engine import send_issue, send_test
from newsletter.render.mime import Recipient
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.config import set_options
from tests.helpers.web import Service, web_settings
from tests.sink import Sink

BASE = "https://news.example.org"
LINK = re.compile(r"https://news\.example\.org(/c/[A-Za-z0-9._-]+)")
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SENT = NOW  # the send's clock: every message handed over at 06:00 UTC


class Clock:
    """The service's time, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(project: Path, sink: Sink) -> Settings:  # type: ignore[override]
    return web_settings(project, sink)


def sent(settings: Settings, store: Store, sink: Sink, readers: int = 3) -> list[EmailMessage]:
    before = len(sink.recorder.messages)
    for n in range(readers):
        add_subscriber(store, f"reader{n}@example.org", now=NOW)
    send_issue(settings, store, DAY, secret_key=SECRET, clock=lambda: SENT)
    return list(sink.recorder.messages)[before:]


def links(message: EmailMessage, kind: str = "plain") -> list[str]:
    """The counted links of one message, in order, each once."""
    body = message.get_body((kind,)).get_content()  # type: ignore[union-attr]
    return list(dict.fromkeys(LINK.findall(body.replace("&amp;", "&"))))


def position(path: str) -> int:
    return int(path.split("/")[-1].split(".")[2])


def flush(service: Service) -> None:
    service.app.extensions["newsletter"].nl.clicks.recorder.flush()


def report(settings: Settings, store: Store) -> dict[str, Any]:
    figures = Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: SENT + timedelta(days=1))
    return figures.clicks.report(DAY).as_json()


def click_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM clicks")).scalar_one())


def test_every_content_link_is_counted_and_the_template_links_are_not(settings: Settings, store: Store,
                                                                    sink: Sink) -> None:
    message = sent(settings, store, sink, readers=1)[0]
    html, plain = message.get_body(("html",)).get_content(), message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Items 1 and 4 have a URL (title, image, button), item 3 a link in its text; nothing else.
    assert sorted({position(p) for p in links(message)}) == [1, 3, 4]
    assert links(message) == links(message, "html")
    for original in ("https://www.example.org/etudes/connected-life",):
        assert original not in plain and original not in html
    # Unsubscribe, archive, web version and mailto stay as they are.
    assert f"{BASE}/u/" in plain and f"{BASE}/archive/" in plain and "mailto:redaction@example.org" in html
    assert f'href="{BASE}/archive/2026-11-24/"' in html
    # One nonce per message, the same in all its links, and another in the next message.
    nonces = {p[3:23] for p in links(message)}
    assert len(nonces) == 1


def test_a_persons_clicks_redirect_at_once_and_show_in_the_report(settings: Settings, store: Store,
                                                                 sink: Sink) -> None:
    messages = sent(settings, store, sink)
    clock = Clock(SENT + timedelta(minutes=30))
    first, second = links(messages[0]), links(messages[1])
    assert first[0][3:23] != second[0][3:23]  # each message its own nonce
    with Service(settings, store, clock=clock) as service, requests.Session() as s:
        s.headers["User-Agent"] = BROWSER
        answer = s.get(service.url + first[0], allow_redirects=False)
        assert answer.status_code == 302
        assert answer.headers["Location"] == "https://www.example.org/etudes/connected-life"
        assert answer.headers["Cache-Control"] == "no-store"
        clock.now += timedelta(minutes=3)
        assert s.get(service.url + first[0], allow_redirects=False).status_code == 302  # twice, same message
        clock.now += timedelta(minutes=3)
        assert s.get(service.url + second[0], allow_redirects=False).status_code == 302
        clock.now += timedelta(minutes=3)
        assert s.get(service.url + second[2], allow_redirects=False).status_code == 302  # item 4
        flush(service)
    figures = report(settings, store)
    assert set(figures) >= {"issue", "delivered", "unique_clickers", "items", "unsubscribed", "bounced", "complained"}
    assert figures["issue"] == DAY.isoformat() and figures["delivered"] == 3 and figures["unique_clickers"] == 2
    items = {i["position"]: i for i in figures["items"]}
    assert sorted(items) == [1, 2, 3, 4, 5]  # every item, with or without a link
    assert set(items[1]) >= {"position", "title", "tag", "url", "clicks", "unique_clicks", "automated", "click_rate"}
    assert (items[1]["clicks"], items[1]["unique_clicks"], items[1]["automated"]) == (3, 2, 0)
    assert items[1]["click_rate"] == round(2 / 3, 4)
    assert items[1]["url"] == "https://www.example.org/etudes/connected-life" and items[1]["tag"] == "Études"
    assert (items[4]["clicks"], items[4]["unique_clicks"]) == (1, 1)
    assert items[2]["clicks"] == 0 and items[2]["click_rate"] == 0.0


def test_a_scanner_is_told_apart_and_its_reader_still_counts(settings: Settings, store: Store, sink: Sink) -> None:
    """A gateway fetches every link of a message within a second; HEAD requests, a scanner's agent and a
    click before anyone could read are automated too. The same message's reader, later, counts."""
    messages = sent(settings, store, sink)
    clock = Clock(SENT + timedelta(minutes=20))
    scanned, headed, agent, early = (links(m) for m in (*messages, messages[0]))
    with Service(settings, store, clock=clock) as service, requests.Session() as s:
        s.headers["User-Agent"] = BROWSER  # Safe Links passes for a browser: only its speed gives it away
        for path in scanned:
            assert s.get(service.url + path, allow_redirects=False).status_code == 302
            clock.now += timedelta(milliseconds=300)
        clock.now += timedelta(minutes=40)
        assert s.get(service.url + scanned[0], allow_redirects=False).status_code == 302  # the reader, later
        clock.now += timedelta(minutes=5)
        assert s.head(service.url + headed[1], allow_redirects=False).status_code == 302
        clock.now += timedelta(minutes=5)
        assert requests.get(service.url + agent[2], allow_redirects=False,
                            headers={"User-Agent": "Mozilla/5.0 Barracuda Sentinel (link protection)"}).status_code == 302
        flush(service)
    with Service(settings, store, clock=Clock(SENT + timedelta(seconds=3))) as service:  # sooner than read_seconds
        assert requests.get(service.url + early[0], allow_redirects=False,
                            headers={"User-Agent": BROWSER}).status_code == 302
        flush(service)
    figures = report(settings, store)
    items = {i["position"]: i for i in figures["items"]}
    assert figures["unique_clickers"] == 1  # only the first message's reader
    assert (items[1]["clicks"], items[1]["unique_clicks"], items[1]["automated"]) == (1, 1, 2)
    assert (items[3]["clicks"], items[3]["automated"]) == (0, 2)
    assert (items[4]["clicks"], items[4]["automated"]) == (0, 2)
    assert figures["automated"] == 6


@pytest.mark.parametrize("change", ["link", "nonce", "tag", "issue", "other key", "garbage"])
def test_a_forged_or_altered_token_is_a_404_and_counts_nothing(settings: Settings, store: Store, sink: Sink,
                                                              change: str) -> None:
    path = links(sent(settings, store, sink, readers=1)[0])[0]
    token = path.removeprefix("/c/")
    half, issue, pos, link, tag = token.split(".")
    flip = {"A": "B"}.get(half[3], "A")
    forged = {
        "link": f"{half}.{issue}.{pos}.1.{tag}",
        "nonce": f"{half[:3]}{flip}{half[4:]}.{issue}.{pos}.{link}.{tag}",
        "tag": f"{half}.{issue}.{pos}.{link}.{tag[:-1]}{'A' if tag[-1] != 'A' else 'B'}",
        "issue": f"{half}.2026-11-25.{pos}.{link}.{tag}",
        "other key": "",
        "garbage": "..%2e%2fetc%2fpasswd",
    }[change]
    if change == "other key":
        from newsletter.core.click_tokens import link_half, new_nonce
        other = "another-key-7Hq1vLr9Kx2pWm8Jn4Tb5Yc3Jd0Fg6Se"
        forged = new_nonce(other, issue) + link_half(other, issue, int(pos), link)
    with Service(settings, store) as service:
        answer = requests.get(f"{service.url}/c/{forged}", allow_redirects=False)
        assert answer.status_code == 404 and "Location" not in answer.headers
        assert "example.org/etudes" not in answer.text
        flush(service)
    assert click_rows(store) == 0


def test_test_copies_and_the_archive_are_never_counted(settings: Settings, store: Store, sink: Sink) -> None:
    send_test(settings, DAY, [Recipient("editor@example.org")], secret_key=SECRET, clock=lambda: NOW)
    proof = sink.recorder.messages[-1]
    assert not links(proof) and not links(proof, "html")
    assert "https://www.example.org/etudes/connected-life" in proof.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    sent(settings, store, sink, readers=1)
    with Service(settings, store) as service:
        page = requests.get(f"{service.url}/archive/{DAY.isoformat()}/").text
    assert "/c/" not in page and "https://www.example.org/etudes/connected-life" in page


def test_utm_parameters_are_merged_with_the_urls_own_query(project: Path, store: Store, sink: Sink) -> None:
    item = project / "issues" / DAY.isoformat() / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace(
        "https://www.example.org/etudes/connected-life", "https://www.example.org/etudes/connected-life?ref=a&utm_medium=rss"),
        encoding="utf-8")
    settings = web_settings(project, sink)
    set_options(project, "analytics", utm_source="lettre")
    settings = load_settings(project)
    path = links(sent(settings, store, sink, readers=1)[0])[0]
    with Service(settings, store, clock=Clock(SENT + timedelta(hours=1))) as service:
        location = requests.get(service.url + path, allow_redirects=False).headers["Location"]
    assert location == ("https://www.example.org/etudes/connected-life?ref=a&utm_medium=rss&utm_source=lettre"
                        "&utm_campaign=2026-11-24")


def test_with_clicks_off_the_links_are_the_originals(project: Path, store: Store, sink: Sink) -> None:
    web_settings(project, sink)
    set_options(project, "analytics", clicks=False)
    message = sent(load_settings(project), store, sink, readers=1)[0]
    assert not links(message) and not links(message, "html")
    with pytest.raises(Exception, match="no counted links"):
        report(load_settings(project), store)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_writes_every_click_waiting(project: Path, settings: Settings, store: Store, sink: Sink,
                                           tmp_path: Path) -> None:
    paths = links(sent(settings, store, sink, readers=1)[0])
    port = _free_port()
    env = dict(os.environ, NEWSLETTER_SECRET_KEY=SECRET)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "newsletter", "--project", str(project), "serve",
                                  "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60  # until the service answers
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        with requests.Session() as s:
            for n in range(40):
                assert s.get(f"http://127.0.0.1:{port}{paths[n % len(paths)]}", allow_redirects=False,
                             headers={"User-Agent": BROWSER}).status_code == 302
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0, log.read_text()
    finally:
        if serve.poll() is None:
            serve.kill()
    assert click_rows(store) == 40


def test_the_report_command_prints_the_json_of_the_design(cli: Any, settings: Settings, store: Store,
                                                          sink: Sink) -> None:
    message = sent(settings, store, sink)[0]
    with Service(settings, store, clock=Clock(SENT + timedelta(hours=2))) as service:
        requests.get(service.url + links(message)[1], allow_redirects=False, headers={"User-Agent": BROWSER})
        flush(service)
    code, out, err = cli("report", DAY.isoformat(), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["delivered"] == 3 and shown["unique_clickers"] == 1
    assert [i["unique_clicks"] for i in shown["items"]] == [0, 0, 1, 0, 0]
    code, out, err = cli("report", DAY.isoformat())
    assert code == 0 and "1 unique clicker " in out
    code, out, err = cli("history")
    assert code == 0 and "clickers" in out.splitlines()[0]
    assert re.search(r"\b1\s+Le consommateur", out), out
    code, out, err = cli("history", "--json")
    assert json.loads(out)[0]["unique_clickers"] == 1


def test_feedback_links_count_once_per_message_and_never_from_a_scanner(project: Path, store: Store,
                                                                       sink: Sink) -> None:
    web_settings(project, sink)
    set_options(project, "analytics", feedback=True)
    settings = load_settings(project)
    send_test(settings, DAY, [Recipient("editor@example.org")], secret_key=SECRET, clock=lambda: NOW)
    proof = sink.recorder.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    uncounted = re.search(r"Utile.: https://news\.example\.org(/c/\S+)", proof)
    assert uncounted and uncounted.group(1) == f"/c/{DAY.isoformat()}.1.u"
    messages = sent(settings, store, sink)
    texts = [m.get_body(("plain",)).get_content() for m in messages]  # type: ignore[union-attr]
    useful = [re.findall(r"Utile.: https://news\.example\.org(/c/\S+)", t) for t in texts]
    not_for_me = [re.findall(r"Pas pour moi.: https://news\.example\.org(/c/\S+)", t) for t in texts]
    assert len(useful[0]) == 5 and all(".u." in p for p in useful[0])
    clock = Clock(SENT + timedelta(hours=1))
    with Service(settings, store, clock=clock) as service, requests.Session() as s:
        s.headers["User-Agent"] = BROWSER
        thanks = s.get(service.url + uncounted.group(1))  # a test copy's: a thank-you page, nothing counted
        assert thanks.status_code == 200 and "Merci" in thanks.text
        for path in (useful[0][0], useful[0][0], useful[1][0], not_for_me[1][4]):  # twice from one message: one vote
            clock.now += timedelta(minutes=2)
            answer = s.get(service.url + path, allow_redirects=False)
            assert answer.status_code == 200 and "Merci" in answer.text
        clock.now += timedelta(minutes=2)
        assert s.head(service.url + useful[2][1]).status_code == 200  # a scanner's HEAD: no vote
        for path in useful[2][2:] + not_for_me[2]:  # a scanner's burst through the links of message 3
            clock.now += timedelta(milliseconds=100)
            s.get(service.url + path, allow_redirects=False)
        flush(service)
    items = {i["position"]: i for i in report(settings, store)["items"]}
    assert (items[1]["useful"], items[1]["not_for_me"]) == (2, 0)
    assert (items[5]["useful"], items[5]["not_for_me"]) == (0, 1)
    assert items[2]["useful"] == 0 and items[3]["useful"] == 0 and items[3]["automated"] == 2
    assert sum(i["clicks"] for i in items.values()) == 0  # votes are not reading


def test_per_subscriber_counts_need_the_readers_consent_and_end_when_they_leave(project: Path, store: Store,
                                                                                sink: Sink, tmp_path: Path) -> None:
    web_settings(project, sink)
    set_options(project, "analytics", per_subscriber=True)
    settings = load_settings(project)
    nl = Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: NOW)
    csv = tmp_path / "readers.csv"
    csv.write_text("email,click_consent\nlea@example.org,oui\nmax@example.org,non\n", encoding="utf-8")
    nl.subscribers.import_csv(csv)
    send_issue(settings, store, DAY, secret_key=SECRET, clock=lambda: SENT)
    by_reader = {str(m["To"]): links(m) for m in sink.recorder.messages}
    with Service(settings, store, clock=Clock(SENT + timedelta(hours=1))) as service:
        for address in ("lea@example.org", "max@example.org"):
            requests.get(service.url + by_reader[address][0], allow_redirects=False, headers={"User-Agent": BROWSER})
        flush(service)
    assert nl.clicks.readers(DAY, secret_key=SECRET) == [("lea@example.org", 1)]
    assert report(settings, store)["unique_clickers"] == 2
    nl.subscribers.remove("lea@example.org")  # leaving ends it: her clicks go with her consent
    assert nl.clicks.readers(DAY, secret_key=SECRET) == []
    assert click_rows(store) == 1


def test_the_confirmation_page_asks_for_the_click_consent_only_with_per_subscriber(
        project: Path, store: Store, sink: Sink) -> None:
    from tests.helpers.web import confirm_link, subscribe, wait_for_mail

    web_settings(project, sink)
    for per_subscriber in (False, True):
        set_options(project, "analytics", per_subscriber=per_subscriber)
        settings = load_settings(project)
        address = f"reader-{per_subscriber}@example.org".lower()
        with Service(settings, store) as service, requests.Session() as s:
            subscribe(s, service.url, address)
            wait_for_mail(sink, len(sink.recorder.messages) + 1)
            link = confirm_link(sink)
            page = s.get(service.url + link).text
            assert ('name="click_consent"' in page) is per_subscriber
            assert s.post(service.url + link, data={"click_consent": "yes"}).status_code == 200
        with store.engine.connect() as conn:
            consent = conn.execute(text("SELECT click_consent_at FROM subscribers WHERE email = :e"),
                                   {"e": address}).scalar_one()
        assert (consent is not None) is per_subscriber


def test_a_render_checked_at_the_approval_is_counted_too(settings: Settings, store: Store, sink: Sink) -> None:
    """``approve`` keeps the checked render that the send starts from (a thawed snapshot): its links count."""
    Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: NOW).approve(DAY, by="Camille Martin")
    assert list((settings.out_dir / ".checked").iterdir())
    message = sent(settings, store, sink, readers=1)[0]
    assert sorted({position(p) for p in links(message)}) == [1, 3, 4]
    items = {i["position"]: i for i in report(settings, store)["items"]}
    assert items[1]["title"] == "Le service client par bot ne convainc pas" and items[2]["tag"] == "Paiement"
