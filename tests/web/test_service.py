"""The public web service as a real server on 127.0.0.1 (waitress), driven with requests and Chromium."""

from __future__ import annotations

import random
import re
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator
from xml.etree import ElementTree as ET

import pytest
import requests
from itsdangerous import URLSafeSerializer
from sqlalchemy import event

from newsletter.audience.csv_reader import CandidateRow
from newsletter.config import load_settings
from newsletter.delivery.engine import send_issue
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber, find_subscriber, import_rows, request_subscription
from newsletter.core.tokens import CONFIRM, UNSUBSCRIBE, make_timed_token, make_token
from newsletter.frontends.web.mailer import MailQueue
from tests.conftest import DAY, SECRET
from tests.helpers.slow_clients import HEAD, Tricklers, closed_by_server, connect, trickle_until_closed, wait_until
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.sink import Sink
from tests.helpers.store import break_files, status_in_the_live_file
from tests.helpers.tokens import readable_parts
from tests.helpers.clock import NOW
from tests.helpers.web import Service, confirm_link, mail_queue, subscribe, wait_for_mail, web_settings
from tests.helpers.web import csrf
from tests.helpers.config import set_options


@pytest.fixture
def service(project: Path, store: Store, sink: Sink) -> Iterator[Service]:
    with Service(web_settings(project, sink), store) as running:
        yield running


def status_of(store: Store, address: str) -> str | None:
    person = find_subscriber(store, address)
    return person.status if person else None


# -- unsubscribe ---------------------------------------------------------------------------


def test_one_click_post_unsubscribes_without_cookies_or_redirects(service: Service, store: Store) -> None:
    add_subscriber(store, "lea@example.org", now=NOW)
    url = f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'lea@example.org')}"
    answer = requests.post(url, data="List-Unsubscribe=One-Click", allow_redirects=False,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    assert "Vous êtes désinscrit(e)" in answer.text and "l*a@example.org" in answer.text
    assert status_of(store, "lea@example.org") == "unsubscribed"
    again = requests.post(url, data="List-Unsubscribe=One-Click", allow_redirects=False)
    assert again.status_code == 200 and status_of(store, "lea@example.org") == "unsubscribed"


def test_a_get_of_the_unsubscribe_link_changes_nothing(service: Service, store: Store) -> None:
    add_subscriber(store, "camille.martin@example.org", now=NOW)
    url = f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'camille.martin@example.org')}"
    for method in ("GET", "HEAD", "GET"):
        assert requests.request(method, url).status_code == 200
    page = requests.get(url)
    assert "c************n@example.org" in page.text and "Me désinscrire" in page.text
    assert "camille.martin@" not in page.text
    assert status_of(store, "camille.martin@example.org") == "active"
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", [
    "/u/bm90LWEtdG9rZW4",  # not signed
    f"/u/{make_token(SECRET, UNSUBSCRIBE, 'lea@example.org')[:-2]}xx",  # altered
    f"/u/{make_token('another-key', UNSUBSCRIBE, 'lea@example.org')}",  # forged with another key
    f"/u/{make_timed_token(SECRET, CONFIRM, ['lea@example.org', ''])}",  # a confirmation token
    f"/confirm/{make_token(SECRET, UNSUBSCRIBE, 'lea@example.org')}",  # an unsubscribe token
])
def test_forged_altered_or_wrong_purpose_tokens_get_a_clear_400(service: Service, store: Store, path: str) -> None:
    add_subscriber(store, "lea@example.org", now=NOW)
    for method in ("GET", "POST"):
        answer = requests.request(method, service.url + path)
        assert answer.status_code == 400 and "Lien non valide" in answer.text
    assert status_of(store, "lea@example.org") == "active"


# -- subscribe -----------------------------------------------------------------------------


def test_double_opt_in_makes_the_address_active_only_after_the_confirmation(service: Service, store: Store,
                                                                             sink: Sink) -> None:
    session = requests.Session()
    answer = subscribe(session, service.url, "Nouveau.Lecteur@Example.org")
    assert answer.status_code == 200 and "Vérifiez votre boîte" in answer.text
    assert status_of(store, "nouveau.lecteur@example.org") == "pending"
    wait_for_mail(sink, 1)
    link = confirm_link(sink)
    assert sink.recorder.messages[0]["To"] == "nouveau.lecteur@example.org"
    assert requests.get(service.url + link).status_code == 200  # a link scanner's GET confirms nothing
    assert status_of(store, "nouveau.lecteur@example.org") == "pending"
    done = requests.post(service.url + link)
    assert done.status_code == 200 and "Inscription confirmée" in done.text
    person = find_subscriber(store, "nouveau.lecteur@example.org")
    assert person and person.status == "active" and person.first_name == "Léa"
    assert person.consent_source == "web (double opt-in)" and person.consent_at is not None


@pytest.mark.parametrize(("typed", "to_line"), [
    ("Lea@Exämple.org", "To: lea@xn--exmple-cua.org"),  # the domain in IDNA A-labels, never an encoded word
    ("léa@example.org", "To: léa@example.org"),  # RFC 6532: the UTF-8 local part as it is, over SMTPUTF8
])
def test_the_confirmation_of_an_internationalized_address_can_be_routed(project: Path, store: Store, typed: str,
                                                                        to_line: str) -> None:
    with Sink(smtputf8=True) as relay, Service(web_settings(project, relay), store) as running:
        assert subscribe(requests.Session(), running.url, typed).status_code == 200
        wait_for_mail(relay, 1)
        [raw] = relay.recorder.raw
        [(_, rcpt, _)] = relay.recorder.envelopes
        assert to_line.encode() in raw.splitlines() and b"=?" not in raw.split(b"\r\nTo: ")[1].split(b"\r\n")[0]
        assert rcpt == [to_line.removeprefix("To: ")]
        assert requests.post(running.url + confirm_link(relay)).status_code == 200
    assert status_of(store, to_line.removeprefix("To: ").replace("xn--exmple-cua", "exämple")) == "active"


def test_an_expired_confirmation_link_says_so(service: Service, store: Store) -> None:
    old = make_timed_token(SECRET, CONFIRM, ["tard@example.org", ""], now=int(time.time()) - 49 * 3600)
    for method in ("GET", "POST"):
        answer = requests.request(method, f"{service.url}/confirm/{old}")
        assert answer.status_code == 400 and "Lien expiré" in answer.text
    assert status_of(store, "tard@example.org") is None


def test_the_form_needs_its_csrf_token(service: Service, store: Store, sink: Sink) -> None:
    answer = requests.post(f"{service.url}/subscribe", data={"email": "x@example.org"})
    assert answer.status_code == 400 and "Formulaire expiré" in answer.text
    assert status_of(store, "x@example.org") is None and sink.recorder.messages == []


def test_a_filled_honeypot_gets_the_same_answer_and_nothing_happens(service: Service, store: Store,
                                                                    sink: Sink) -> None:
    session = requests.Session()
    robot = subscribe(session, service.url, "robot@example.org", website="http://spam.example")
    person = subscribe(session, service.url, "humain@example.org")
    assert robot.status_code == person.status_code == 200 and robot.text == person.text
    wait_for_mail(sink, 1)
    assert status_of(store, "robot@example.org") is None
    assert [m["To"] for m in sink.recorder.messages] == ["humain@example.org"]


def test_the_answer_never_tells_whether_an_address_is_known(service: Service, store: Store) -> None:
    add_subscriber(store, "deja@example.org", now=NOW)
    add_subscriber(store, "parti@example.org", now=NOW)
    requests.post(f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'parti@example.org')}")
    answers = [subscribe(requests.Session(), service.url, a) for a in
               ("deja@example.org", "parti@example.org", "inconnu@example.org")]
    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert status_of(store, "parti@example.org") == "unsubscribed"  # until they confirm


def test_the_rate_limit_per_client_address(project: Path, store: Store, sink: Sink) -> None:
    with Service(web_settings(project, sink, subscribe_limit="3 per minute"), store) as service:
        session = requests.Session()
        codes = [subscribe(session, service.url, f"r{i}@example.org").status_code for i in range(4)]
        assert codes == [200, 200, 200, 429]
        blocked = subscribe(session, service.url, "r9@example.org")
        assert "Trop de demandes" in blocked.text and "Retry-After" in blocked.headers
        other = subscribe(requests.Session(), service.url, "autre@example.org")  # same client address
        assert other.status_code == 429


def test_someone_who_unsubscribed_stays_out_after_a_csv_reimport(service: Service, store: Store) -> None:
    add_subscriber(store, "parti@example.org", now=NOW)
    requests.post(f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'parti@example.org')}")
    import_rows(store, [CandidateRow(2, "parti@example.org", "P", "", None, "crm")], now=NOW)
    assert status_of(store, "parti@example.org") == "unsubscribed"


def test_unsubscribing_offers_to_come_back_through_a_confirmation(service: Service, store: Store,
                                                                  sink: Sink) -> None:
    add_subscriber(store, "hesite@example.org", now=NOW, first_name="Jo")
    session = requests.Session()
    url = f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'hesite@example.org')}"
    page = session.post(url)
    undo = re.search(r'name="undo" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert session.post(f"{url}/resubscribe", data={"undo": "forged"}).status_code == 400
    again = session.post(f"{url}/resubscribe", data={"undo": undo})
    assert again.status_code == 200 and status_of(store, "hesite@example.org") == "unsubscribed"
    wait_for_mail(sink, 1)
    assert requests.post(service.url + confirm_link(sink)).status_code == 200
    assert status_of(store, "hesite@example.org") == "active"


def test_a_confirmation_link_works_once_and_never_brings_back_someone_who_left(service: Service, store: Store,
                                                                            sink: Sink) -> None:
    """subscribe, confirm, unsubscribe, then the same link again: the person stays out (issue 21)."""
    subscribe(requests.Session(), service.url, "parti@example.org")
    wait_for_mail(sink, 1)
    link = confirm_link(sink)
    assert requests.post(service.url + link).status_code == 200
    assert "Inscription confirmée" in requests.post(service.url + link).text  # a double click: no error
    unsubscribed = requests.post(f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'parti@example.org')}")
    assert unsubscribed.status_code == 200 and status_of(store, "parti@example.org") == "unsubscribed"
    replay = requests.post(service.url + link)
    assert replay.status_code == 400 and "Lien déjà utilisé" in replay.text
    assert status_of(store, "parti@example.org") == "unsubscribed"


def test_an_unused_confirmation_link_does_not_outrank_a_later_unsubscribe(project: Path, store: Store,
                                                                          sink: Sink) -> None:
    clock = [NOW]  # the service's clock, moved by the test
    with Service(web_settings(project, sink), store, clock=lambda: clock[0]) as service:
        subscribe(requests.Session(), service.url, "hesite@example.org")
        wait_for_mail(sink, 1)
        link = confirm_link(sink)  # made at NOW
        clock[0] = NOW + timedelta(hours=1)
        requests.post(f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'hesite@example.org')}")
        assert status_of(store, "hesite@example.org") == "unsubscribed"
        clock[0] = NOW + timedelta(hours=2)
        assert requests.post(service.url + link).status_code == 400
        assert status_of(store, "hesite@example.org") == "unsubscribed"


# -- abuse and faults (issue 12) -----------------------------------------------------------


@pytest.mark.parametrize("fault", ["wal deleted", "file replaced", "file deleted"])
def test_an_unsubscribe_is_acknowledged_only_once_committed_to_the_live_database(
        service: Service, store: Store, project: Path, fault: str) -> None:
    add_subscriber(store, "lea@example.org", now=NOW)
    url = f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'lea@example.org')}"
    assert requests.get(url).status_code == 200  # the server now holds connections to the files
    break_files(project, fault)
    answers = []
    for _ in range(6):  # the person tries again, as the error page says; stale pooled connections fail one by one
        answers.append(requests.post(url))
        if answers[-1].status_code == 200:
            break
    assert answers[0].status_code == 503 and answers[0].headers["Retry-After"]
    for refused in [a for a in answers if a.status_code != 200]:
        assert refused.status_code == 503 and "désinscrit" not in refused.text and "Réessayez" in refused.text
    if fault == "file deleted":
        assert answers[-1].status_code == 503 and not (project / "state" / "newsletter.db").exists()
        assert requests.get(f"{service.url}/healthz").status_code == 503
    else:  # acknowledged at last, and then it is in the file every other process reads
        assert answers[-1].status_code == 200 and "désinscrit" in answers[-1].text
        assert status_in_the_live_file(project, "lea@example.org") == "unsubscribed"


def test_links_and_pages_carry_neither_the_address_nor_the_name(service: Service, store: Store,
                                                                sink: Sink) -> None:
    session = requests.Session()
    subscribe(session, service.url, "camille.martin@example.org", first_name="Zoéline")
    wait_for_mail(sink, 1)
    link = confirm_link(sink)
    assert requests.post(service.url + link).status_code == 200
    person = find_subscriber(store, "camille.martin@example.org")
    assert person and person.status == "active" and person.first_name == "Zoéline"  # from the store
    unsubscribe_page = requests.post(f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, person.email)}")
    undo = re.search(r'name="undo" value="([^"]+)"', unsubscribe_page.text).group(1)  # type: ignore[union-attr]
    for token in (link.rsplit("/", 1)[1], undo, make_token(SECRET, UNSUBSCRIBE, person.email)):
        seen = readable_parts(token)
        for private in ("camille", "martin", "example.org", "Zoéline".encode().decode("latin-1")):
            assert private not in seen, (private, token)


def test_an_unsubscribe_link_in_an_issue_sent_before_opaque_tokens_still_works(service: Service,
                                                                               store: Store) -> None:
    add_subscriber(store, "ancien@example.org", now=NOW)
    old = URLSafeSerializer(SECRET, salt="newsletter.unsubscribe").dumps("ancien@example.org")
    page = requests.get(f"{service.url}/u/{old}")
    assert page.status_code == 200 and "a****n@example.org" in page.text
    assert requests.post(f"{service.url}/u/{old}").status_code == 200
    assert status_of(store, "ancien@example.org") == "unsubscribed"


def test_subscribing_does_the_same_work_whatever_the_address(project: Path, store: Store, sink: Sink) -> None:
    add_subscriber(store, "deja@example.org", now=NOW)
    add_subscriber(store, "parti@example.org", now=NOW)
    requests_made = {"parti@example.org"}
    request_subscription(store, "attente@example.org", now=NOW)
    queue = MailQueue(start=False)  # the background sender waits, so nothing can be sent inside a request
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
    with Service(web_settings(project, sink, subscribe_limit="100 per minute"), store, queue) as service:
        for address in requests_made:
            requests.post(f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, address)}")
        work = {}
        for address in ("deja@example.org", "parti@example.org", "attente@example.org", "inconnu@example.org"):
            session = requests.Session()
            token = csrf(session, service.url)
            statements.clear()
            queued = queue.pending()
            answer = session.post(f"{service.url}/subscribe", data={"csrf_token": token, "email": address,
                                                                    "first_name": "Léa"})
            work[address] = (answer.status_code, answer.text, tuple(statements), queue.pending() - queued)
        assert len(set(work.values())) == 1, work  # same answer, same SQL, one queued job: nothing to time
        assert work["deja@example.org"][3] == 1 and sink.recorder.messages == []
        queue.start()
        queue.join()
    assert sorted(m["To"] for m in sink.recorder.messages) == ["attente@example.org", "inconnu@example.org",
                                                              "parti@example.org"]  # not the active one
    assert status_of(store, "parti@example.org") == "unsubscribed"  # until they confirm


def raw_exchange(url: str, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` as is and return the first bytes of the answer (a timeout if none comes)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_an_oversized_body_is_refused_from_its_length_without_being_read(service: Service) -> None:
    head = (b"POST /subscribe HTTP/1.1\r\nHost: news.example.org\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000000\r\n\r\n")
    assert raw_exchange(service.url, head).startswith(b"HTTP/1.1 413")  # no byte of the body was sent
    many_headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 40_000 + b"\r\n\r\n"
    assert raw_exchange(service.url, many_headers).split(b"\r\n")[0].endswith(b" 431 Request Header Fields Too Large")
    small = requests.post(f"{service.url}/subscribe", data=b"x" * 30_000)  # under the server's limit: Flask's 413 page
    assert small.status_code == 413 and "Requête trop grande" in small.text


def test_idle_connections_do_not_lock_visitors_out(service: Service) -> None:
    host, port = service.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(150)]  # waitress's default limit is 100
    try:
        assert requests.get(f"{service.url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()


def test_beyond_the_connection_limit_idle_connections_are_dropped_after_the_channel_timeout(
        project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, connection_limit=10, channel_timeout=1)
    with Service(settings, store) as service:
        host, port = service.url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(30)]
        try:
            assert requests.get(f"{service.url}/healthz", timeout=15).status_code == 200  # bounded wait
            assert idle[0].recv(1) == b""  # the server closed the idle one
        finally:
            for sock in idle:
                sock.close()


# -- slow clients (issue 21) -----------------------------------------------------------------


def test_a_client_trickling_its_head_is_closed_at_the_head_deadline_while_it_keeps_sending(
        project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, header_timeout=1, channel_timeout=60)
    with Service(settings, store) as service:
        with connect(service.server.effective_port) as sock:
            lines = trickle_until_closed(sock, deadline=30)  # a line every 0.1 s: channel_timeout never runs out
        assert lines > 0
        assert raw_exchange(service.url, HEAD + b"\r\n").startswith(b"HTTP/1.1 200")  # a head sent at once is served


def test_a_client_trickling_its_body_is_closed_at_the_body_deadline(project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, header_timeout=60, body_timeout=1, channel_timeout=60)
    head = (b"POST /subscribe HTTP/1.1\r\nHost: news.example.org\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n")
    with Service(settings, store) as service, connect(service.server.effective_port) as sock:
        assert trickle_until_closed(sock, first=head, line=b"a=b&", deadline=30) > 0


def test_with_every_connection_held_by_trickling_clients_the_health_check_and_visitors_are_served(
        project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, connection_limit=20)
    with Service(settings, store) as service:
        sources = [f"127.0.0.{i}" for i in range(2, 6)]  # 4 addresses x 8: more than the limit, reopened when closed
        with Tricklers(service.server.effective_port, sources, 8):
            assert wait_until(lambda: len(service.server._map) >= 20)  # every connection is held
            for path in ("/healthz", "/subscribe", "/healthz"):
                answer = requests.get(service.url + path, timeout=15)  # the head deadline (5 s) and a margin
                assert answer.status_code == 200, path


def test_one_client_address_holds_at_most_connections_per_client(project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, connection_limit=50, connections_per_client=3, header_timeout=60,
                            channel_timeout=60)
    with Service(settings, store) as service:
        held = [connect(service.server.effective_port, "127.0.0.2") for _ in range(8)]
        try:
            # each one beyond 3 closed the oldest one still waiting for its request
            assert wait_until(lambda: all(closed_by_server(sock, 0) for sock in held[:5]))
            for sock in held[5:]:  # the three newest are served
                sock.settimeout(10)
                sock.sendall(HEAD + b"\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            assert requests.get(f"{service.url}/healthz", timeout=10).status_code == 200  # another address
        finally:
            for sock in held:
                sock.close()


def test_behind_a_proxy_connections_are_not_capped_per_address(project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, connection_limit=20, trusted_proxies=1, header_timeout=60,
                            channel_timeout=60)  # without the proxy, 10 per address (half the limit)
    with Service(settings, store) as service:
        held = [connect(service.server.effective_port, "127.0.0.2") for _ in range(12)]  # all from "the proxy"
        try:
            for sock in held:
                sock.settimeout(10)
                sock.sendall(HEAD + b"\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()


def test_forwarded_headers_from_clients_are_ignored_unless_proxies_are_configured(project: Path, store: Store,
                                                                                   sink: Sink) -> None:
    with Service(web_settings(project, sink, subscribe_limit="3 per minute"), store) as service:
        codes = []
        for i in range(4):  # a direct client rotating X-Forwarded-For is still one client
            session = requests.Session()
            token = csrf(session, service.url)
            codes.append(session.post(f"{service.url}/subscribe", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                                      data={"csrf_token": token, "email": f"r{i}@example.org"}).status_code)
        assert codes == [200, 200, 200, 429]
        page = requests.get(f"{service.url}/subscribe", headers={"X-Forwarded-Prefix": "/piege",
                                                                 "X-Forwarded-Host": "piege.example"})
        assert 'action="/subscribe"' in page.text and "piege" not in page.text


def test_a_configured_proxy_is_believed_for_its_own_hop_only(project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, subscribe_limit="3 per minute", trusted_proxies=1)
    with Service(settings, store) as service:
        def post(forwarded_for: str) -> int:
            session = requests.Session()
            token = csrf(session, service.url)
            return session.post(f"{service.url}/subscribe", headers={"X-Forwarded-For": forwarded_for},
                                data={"csrf_token": token, "email": "x@example.org"}).status_code

        # The proxy appends the address it saw; what the client put before it is not believed.
        assert [post(f"10.0.0.{i}, 198.51.100.7") for i in range(4)] == [200, 200, 200, 429]
        assert post("198.51.100.8") == 200  # another visitor behind the same proxy
        page = requests.get(f"{service.url}/subscribe", headers={"X-Forwarded-Prefix": "/piege"})
        assert 'action="/subscribe"' in page.text and "piege" not in page.text


def test_under_a_path_the_prefix_comes_from_base_url(project: Path, store: Store, sink: Sink) -> None:
    web_settings(project, sink)
    set_options(project, "newsletter", base_url="https://example.org/lettre")
    settings = load_settings(project)
    with Service(settings, store) as service:
        for path in ("/subscribe", "/lettre/subscribe"):  # a proxy that strips the prefix, and one that does not
            page = requests.get(service.url + path, headers={"X-Forwarded-Prefix": "/piege"})
            assert page.status_code == 200 and 'action="/lettre/subscribe"' in page.text and "piege" not in page.text


@pytest.mark.parametrize("name", ["Bonjour. Your account is locked: visit https://piege.example",
                                  "www.piege.example", "moi@piege.example", "Jo\r\nBcc: x@piege.example",
                                  "Jo\u202egnp.exe", "L" * 41])
def test_a_first_name_with_a_link_or_too_long_is_refused(project: Path, store: Store, sink: Sink,
                                                         name: str) -> None:
    with Service(web_settings(project, sink), store) as service:
        answer = subscribe(requests.Session(), service.url, "cible@example.org", first_name=name)
        assert answer.status_code == 400 and "prénom" in answer.text.lower()
        mail_queue(service).join()
    assert status_of(store, "cible@example.org") is None and sink.recorder.messages == []


def test_the_confirmation_mail_does_not_repeat_the_first_name(service: Service, store: Store, sink: Sink) -> None:
    subscribe(requests.Session(), service.url, "cible@example.org", first_name="Marie-Hélène Durand")
    wait_for_mail(sink, 1)
    mail = sink.recorder.messages[0]
    for part in ("plain", "html"):
        body = mail.get_body((part,)).get_content()
        assert "Bonjour," in body and "Marie" not in body and "Durand" not in body
    assert find_subscriber(store, "cible@example.org").first_name == "Marie-Hélène Durand"  # type: ignore[union-attr]


def test_confirmation_mails_are_limited_per_address_and_per_unsubscribe_link(project: Path, store: Store,
                                                                             sink: Sink) -> None:
    settings = web_settings(project, sink, subscribe_limit="100 per minute", confirm_mail_limit="3 per hour")
    with Service(settings, store) as service:
        for _ in range(6):  # from as many clients as wanted: the limit is on the address
            assert subscribe(requests.Session(), service.url, "cible@example.org").status_code == 200
        add_subscriber(store, "hesite@example.org", now=NOW)
        url = f"{service.url}/u/{make_token(SECRET, UNSUBSCRIBE, 'hesite@example.org')}"
        undo = re.search(r'name="undo" value="([^"]+)"', requests.post(url).text).group(1)  # type: ignore[union-attr]
        codes = [requests.post(f"{url}/resubscribe", data={"undo": undo}).status_code for _ in range(10)]
        assert codes == [200] * 3 + [429] * 7
        mail_queue(service).join()
    sent = [m["To"] for m in sink.recorder.messages]
    assert sent.count("cible@example.org") == 3 and sent.count("hesite@example.org") == 3


# -- archive, feed, health ----------------------------------------------------------------


def test_the_archive_shows_sent_issues_without_personal_data(project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink)
    add_subscriber(store, "camille.martin@example.org", now=NOW, first_name="Zoéline")
    send_issue(settings, store, DAY, secret_key=SECRET)
    with Service(settings, store) as service:
        listing = requests.get(f"{service.url}/archive/")
        assert listing.status_code == 200 and 'href="/archive/2026-11-24/"' in listing.text
        page = requests.get(f"{service.url}/archive/2026-11-24/")
        assert page.status_code == 200 and "Le consommateur français résiste au numérique" in page.text
        assert "Zoéline" not in page.text and "camille.martin" not in page.text and "NLMRG" not in page.text
        image = re.search(r'src="https://news\.example\.org(/assets/2026-11-24/[0-9a-f]{32}\.png)"', page.text)
        assert image and requests.get(service.url + image.group(1)).headers["Content-Type"] == "image/png"
        assert requests.get(f"{service.url}/archive/2026-11-24/issue.yaml").status_code == 404
        assert requests.get(f"{service.url}/archive/2026-11-25/").status_code == 404
        assert requests.get(f"{service.url}/archive/../../etc/passwd").status_code == 404
        feed = requests.get(f"{service.url}/feed.xml")
        assert feed.headers["Content-Type"].startswith("application/atom+xml")
        entries = ET.fromstring(feed.content).findall("{http://www.w3.org/2005/Atom}entry")
        assert len(entries) == 1 and entries[0].findtext("{http://www.w3.org/2005/Atom}title") == \
            "Le consommateur français résiste au numérique"
        assert requests.get(f"{service.url}/healthz").json() == {"status": "ok", "database": "ok"}


# -- fuzz ----------------------------------------------------------------------------------


def test_malformed_requests_never_cause_a_500_or_show_a_traceback(service: Service, store: Store) -> None:
    rng = random.Random(8058)
    token = make_token(SECRET, UNSUBSCRIBE, "lea@example.org")
    paths = ["/", "/subscribe", f"/u/{token}", f"/u/{token}/resubscribe", "/confirm/x", "/archive/",
             "/archive/2026-11-24/", "/archive/x/y.png", "/feed.xml", "/healthz", "/u/%ff%fe", "/%00"]
    bodies: list[Any] = [b"", b"\xff\xfe\x00garbage", "email=%E9%E8&first_name=\u202e".encode("latin-1", "replace"),
                         b"a" * 40_000, b"=" * 500, "email=a@b.c&" * 200]
    content_types = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
                     "multipart/form-data", "application/json", "text/plain; charset=utf-16", ""]
    for path in paths:
        for method in ("GET", "POST", "PUT", "DELETE"):
            body = rng.choice(bodies)
            answer = requests.request(method, service.url + path, data=body,
                                      headers={"Content-Type": rng.choice(content_types)})
            assert answer.status_code < 500 or path == "/healthz", (method, path, answer.status_code)
            assert "Traceback" not in answer.text and "File \"" not in answer.text
    assert requests.post(f"{service.url}/subscribe", data=b"x" * 100_000).status_code == 413


# -- in a real browser ---------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (run `make test`)")
def test_a_visitor_subscribes_and_unsubscribes_in_chromium(project: Path, store: Store, sink: Sink,
                                                           artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    settings = web_settings(project, sink)
    add_subscriber(store, "ancien@example.org", now=NOW)
    send_issue(settings, store, DAY, secret_key=SECRET)
    with Service(settings, store) as service, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            page.goto(f"{service.url}/subscribe")
            page.fill("#email", "visiteuse@example.org")
            page.fill("#first_name", "Inès")
            page.click("button[type=submit]")
            assert "Vérifiez votre boîte" in page.inner_text("h1")
            wait_for_mail(sink, 2)  # the issue sent above, then the confirmation
            page.goto(service.url + confirm_link(sink))
            page.click("text=Je confirme")
            assert page.inner_text("h1") == "Inscription confirmée"
            assert status_of(store, "visiteuse@example.org") == "active"

            message = next(m for m in sink.recorder.messages if m["To"].addresses[0].addr_spec == "ancien@example.org")
            link = str(message["List-Unsubscribe"]).split("<")[1].split(">")[0]
            page.goto(link.replace("https://news.example.org", service.url))
            assert status_of(store, "ancien@example.org") == "active"
            page.click("text=Me désinscrire")
            assert "désinscrit" in page.inner_text("h1")
            assert status_of(store, "ancien@example.org") == "unsubscribed"

            page.goto(f"{service.url}/archive/")
            assert page.evaluate("document.documentElement.lang") == "fr"
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            page.screenshot(path=str(artifacts / "archive-375px.png"), full_page=True)
        finally:
            browser.close()


def test_the_embeddable_form_prefills_the_subscription_page(service: Service) -> None:
    page = requests.get(f"{service.url}/subscribe", params={"email": "lea@example.org", "first_name": "Léa<b>"})
    assert 'value="lea@example.org"' in page.text and 'value="Léa&lt;b&gt;"' in page.text
