"""Hostile input at every public route of ``serve`` and at the desk's sign-in: always a 4xx, never a
500 or a traceback in the log (issue 21).

The values are what an attacker's fuzzer throws: NUL and control characters, overlong segments,
bad percent-encoding, invalid UTF-8, path traversal, huge and deeply nested JSON, wrong content
types. Every rule of the service's URL map is filled with them (a new route is fuzzed without
being listed here); the draws are seeded, so a failure repeats.
"""

from __future__ import annotations

import logging
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from newsletter import Newsletter
from newsletter.config import load_settings
from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.models import Delivery, DeliveryStatus
from newsletter.store.subscribers import add_subscriber
from newsletter.frontends.web.app import create_app
from newsletter.frontends.web.mailer import MailQueue
from tests.conftest import DAY, SECRET
from newsletter.core.tokens import UNSUBSCRIBE, make_token
from tests.provider_events import PROVIDERS

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery staple"

#: Path segments (sent percent-encoded as written: ``%00`` is a NUL once decoded).
SEGMENTS = ["%00", "x.png%00.png", "a" * 300, "b" * 5000, "%", "%zz", "%ff%fe", "%c3%28", "..%2f..%2fetc%2fpasswd",
            "%e2%80%ae", "%0d%0aSet-Cookie:x", "%20", "images/x.png%00.png", DAY.isoformat()]
#: Bodies, each sent with several content types.
BODIES: list[bytes] = [b"", b"\x00" * 64, b"\xff\xfe\xc3\x28 not utf-8", b"[" * 60_000, b"{\"a\":" * 20_000,
                       b"[" + b"1," * 7000 + b"1]", b"email=%00%ff&first_name=%e2%80%ae&csrf_token=%zz",
                       b"=" * 500, b"--zz\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n\x00\r\n"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
                 "multipart/form-data", "text/plain; charset=utf-16", "application/json; charset=latin-9", ""]


class Tracebacks(logging.Handler):
    """Every log record that carries a traceback, or says ERROR, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.seen.append(f"{record.name}: {record.getMessage()[:200]}")


@pytest.fixture
def tracebacks() -> Any:
    handler = Tracebacks()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def urls(app: Flask) -> list[tuple[str, list[str]]]:
    """(URL, methods) for every rule of ``app``: each variable part in turn filled with each hostile
    segment, the others with values that lead the request as far as it can go (a sent issue's day,
    each provider, a valid unsubscribe token)."""
    sane = {"day": [DAY.isoformat()], "provider": sorted(PROVIDERS), "asset": ["images/barres.png"],
            "name": ["0123456789abcdef0123456789abcdef.png"],
            "token": [make_token(SECRET, UNSUBSCRIBE, "lea@example.org")]}
    found = []
    for rule in app.url_map.iter_rules():
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        variants: list[dict[str, str]] = [{}]
        for name in rule.arguments:
            others = {other: sane.get(other, ["x"])[0] for other in rule.arguments if other != name}
            variants += [{**others, name: value} for value in SEGMENTS + sane.get(name, [])]
        for values in variants:
            path = rule.rule
            for name, value in values.items():
                path = re.sub(rf"<(?:[a-z]+:)?{name}>", value, path)
            if "<" not in path:
                found.append((path, methods))
    return found


@pytest.fixture
def service(project: Path, store: Store) -> Flask:
    """The service with every provider's webhook, and one sent issue (so that its archive routes answer)."""
    config = project / "newsletter.toml"
    lines = "\n".join(provider().config for provider in PROVIDERS.values())
    config.write_text(config.read_text(encoding="utf-8") + f"\n[webhooks]\n{lines}\n", encoding="utf-8")
    environ = {key: value for provider in PROVIDERS.values() for key, value in provider().env.items()}
    add_subscriber(store, "lea@example.org", now=NOW)
    send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
    ledger.enqueue(store, send_id, NOW)
    with store.session() as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.SENT.value, sent_at=NOW - timedelta(hours=2)))
    nl = Newsletter(load_settings(project), store=store, secret_key=SECRET, environ=environ, clock=lambda: NOW)
    return create_app(nl, mail_queue=MailQueue(start=False))


def test_every_public_route_answers_hostile_input_with_a_4xx_and_logs_no_traceback(service: Flask,
                                                                                   tracebacks: Tracebacks) -> None:
    rng = random.Random(21)
    client = service.test_client()
    targets = urls(service)
    assert len(targets) > 100 and any(path.startswith("/webhooks/") for path, _ in targets)
    failures = []
    for path, methods in targets:
        for method in methods:
            for body in ([b""] if method == "GET" else BODIES):
                answer = client.open(path, method=method, data=body,
                                     headers={"Content-Type": rng.choice(CONTENT_TYPES)})
                if answer.status_code >= 500 or b"Traceback" in answer.get_data():
                    failures.append((method, path[:80], body[:20], answer.status_code))
    assert not failures, failures[:10]
    assert not tracebacks.seen, tracebacks.seen[:10]


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_deeply_nested_or_huge_json_to_a_webhook_is_a_4xx(service: Flask, tracebacks: Tracebacks,
                                                          provider: str) -> None:
    client = service.test_client()
    for body in (b"[" * 60_000, b"{\"signature\":" * 30_000, b"[" + b"[1]," * 200_000 + b"1]"):
        answer = client.post(f"/webhooks/{provider}", data=body, headers={"Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, (provider, body[:10], answer.status_code)
    assert not tracebacks.seen, tracebacks.seen


def test_a_nul_byte_in_an_archive_image_path_is_a_404(service: Flask, tracebacks: Tracebacks) -> None:
    client = service.test_client()
    for path in (f"/archive/{DAY.isoformat()}/images/x.png%00.png", f"/archive/{DAY.isoformat()}/%00",
                 f"/archive/{DAY.isoformat()}/{'a' * 5000}.png", f"/archive/{DAY.isoformat()}/images/%ff.png"):
        assert client.get(path).status_code == 404, path
    assert not tracebacks.seen, tracebacks.seen


def test_the_desk_sign_in_answers_hostile_input_with_a_4xx_and_logs_no_traceback(project: Path,
                                                                                 tracebacks: Tracebacks) -> None:
    from newsletter.frontends.desk.app import create_app as desk_app

    rng = random.Random(8090)
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=lambda: NOW) as nl:
        nl.users.add("editor", "editor", PASSWORD)
        client = desk_app(nl, SECRET).test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        fields = ["\x00", "editor\x00", "é" * 5000, "\x1b[2J\x7f", "editor", "%zz", "a\r\nb", "\u202e", ""]
        for n in range(40):
            nxt = rng.choice(["/%00", "/%0d%0aSet-Cookie:x=1", "%zz", "/" + "a" * 5000, "/%ff%fe", "//%09x",
                              "/%09/evil.example/"])
            form = {"name": rng.choice(fields), "password": rng.choice([*fields, PASSWORD]), "csrf_token": token}
            kind = n % 4
            environ = {"REMOTE_ADDR": f"192.0.2.{n}"}
            if kind == 0:
                answer = client.post(f"/login?next={nxt}", data=form, environ_base=environ)
            elif kind == 1:
                answer = client.post("/login", data=rng.choice(BODIES), environ_base=environ,
                                     headers={"Content-Type": rng.choice(CONTENT_TYPES)})
            elif kind == 2:
                answer = client.get(f"/login?next={nxt}", environ_base=environ)
            else:
                answer = client.post(f"/login/{rng.choice(SEGMENTS)}", data=form, environ_base=environ)
            assert answer.status_code < 500 and "Traceback" not in answer.get_data(as_text=True), (n, answer.status_code)
            assert answer.status_code != 302 or answer.headers["Location"] == "/", answer.headers["Location"]
    assert not tracebacks.seen, tracebacks.seen[:10]
