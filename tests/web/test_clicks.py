"""Counted links through the real ``serve`` under waitress: people, a simulated scanner, forged tokens,
and the report's figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from newsletter import Newsletter
from newsletter.config import Settings
from newsletter.delivery.engine import send_issue
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.web import Service, web_settings
from tests.sink import Sink

LINK = re.compile(r"https://news\.example\.org(/c/[A-Za-z0-9._-]+)")


@pytest.fixture
def settings(project: Path, sink: Sink) -> Settings:  # type: ignore[override]
    return web_settings(project, sink)


def sent_texts(sink: Sink) -> list[str]:
    return [m.get_body(("plain",)).get_content() for m in sink.recorder.messages]


def test_smoke(settings: Settings, store: Store, sink: Sink) -> None:
    for n in range(3):
        add_subscriber(store, f"reader{n}@example.org", now=NOW)
    send_issue(settings, store, DAY, secret_key=SECRET)
    texts = sent_texts(sink)
    print(texts[0])
    links = LINK.findall(texts[0])
    assert links
    with Service(settings, store) as service:
        r = requests.get(service.url + links[0], allow_redirects=False)
        print(r.status_code, r.headers)
