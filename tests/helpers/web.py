"""The web service in a test: a project configured for it, the running service on 127.0.0.1, the
confirmation mails it sends, a subscription through its form, the archive's published issues."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import requests

from newsletter import Newsletter
from newsletter.config import Settings, load_settings
from newsletter.delivery.engine import send_issue
from newsletter.frontends.web.app import create_app
from newsletter.frontends.web.mailer import MailQueue
from newsletter.frontends.web.server import create_server
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.sending import smtp_config
from tests.sink import Sink
from tests.helpers.config import set_options


class Service:
    """The app under waitress on a free port, in a thread."""

    def __init__(self, settings: Settings, store: Store, mail_queue: MailQueue | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.app = create_app(Newsletter(settings, store=store, secret_key=SECRET, clock=clock), mail_queue=mail_queue)
        self.app.config["SESSION_COOKIE_SECURE"] = False  # plain http here; the https proxy is not in the test
        self.server: Any = create_server(self.app, settings, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Service":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for channel in list(self.server._map.values()):  # kept-alive client connections would hold the loop
            channel.will_close = True
        self.server.trigger.pull_trigger()
        self.server.close()
        self.thread.join(timeout=10)


def web_settings(project: Path, sink: Sink, **web: object) -> Settings:
    smtp_config(project, sink.port)
    set_options(project, "web", **web)
    return load_settings(project)


def subscribe(session: requests.Session, url: str, email: str, **extra: str) -> requests.Response:
    return session.post(f"{url}/subscribe", data={"csrf_token": csrf(session, url), "email": email,
                                                  "first_name": "Léa", **extra})


def wait_for_mail(sink: Sink, count: int) -> None:
    deadline = time.monotonic() + 120  # ends when the mail arrives
    while len(sink.recorder.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def confirm_link(sink: Sink) -> str:
    text = sink.recorder.messages[-1].get_body(("plain",)).get_content()
    return re.search(r"https://news\.example\.org(/confirm/\S+)", text).group(1)  # type: ignore[union-attr]


def mail_queue(service: Service) -> MailQueue:
    queue: MailQueue = service.app.extensions["newsletter.mail_queue"]
    return queue


def publish(settings: Settings, store: Store) -> None:
    add_subscriber(store, "camille.martin@example.org", now=NOW, first_name="Zoéline")
    send_issue(settings, store, DAY, secret_key=SECRET)


def tags(html: str, name: str) -> list[dict[str, str | None]]:
    """The attributes of every ``<name>`` tag of a page."""
    found: list[dict[str, str | None]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == name:
                found.append(dict(attrs))

    Collect().feed(html)
    return found


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(f"{url}/subscribe")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)
