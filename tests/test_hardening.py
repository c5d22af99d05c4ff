"""One HTTP policy for the three front ends that answer browsers (``newsletter/frontends/hardening.py``):
the public service, the desk and the preview answer with the same security headers, and the
preview's page, now under a Content-Security-Policy, still runs its reload poll in a real Chromium."""

from __future__ import annotations

import shutil
import threading
import urllib.request
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from newsletter import Newsletter
from newsletter.frontends.desk.app import create_app as desk_app
from newsletter.frontends.hardening import BASE_POLICY, SECURITY_HEADERS
from newsletter.frontends.web.app import create_app as web_app
from newsletter.frontends.web.mailer import MailQueue
from tests.helpers.preview import preview_server
from tests.conftest import SECRET

#: Security headers every page of every front end carries, the same everywhere.
SHARED = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy")


@pytest.fixture
def nl(project: Path) -> Iterator[Newsletter]:
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as opened:
        yield opened


@pytest.fixture
def preview_url(project: Path) -> Iterator[str]:
    with preview_server(project) as url:
        yield url


def _web(nl: Newsletter) -> Mapping[str, str]:
    client = web_app(nl, listen="127.0.0.1", mail_queue=MailQueue(start=False)).test_client()
    return client.get("/archive/").headers


def _desk(nl: Newsletter) -> Mapping[str, str]:
    return desk_app(nl, SECRET).test_client().get("/login").headers


def _preview(url: str) -> Mapping[str, str]:
    with urllib.request.urlopen(url + "/", timeout=10) as response:
        return response.headers


def test_the_three_front_ends_answer_with_the_same_security_headers(nl: Newsletter, preview_url: str) -> None:
    answers = {"web": _web(nl), "desk": _desk(nl), "preview": _preview(preview_url)}
    for name, headers in answers.items():
        assert {key: headers.get(key) for key in SHARED} == dict(SECURITY_HEADERS), name
        policy = [part.strip() for part in (headers.get("Content-Security-Policy") or "").split(";")]
        assert set(BASE_POLICY) <= set(policy), name
        assert headers.get("Cache-Control") in ("no-store", None), name
    # Every one names the same headers, so that none of the three can drop one unnoticed.
    assert len({frozenset(k for k in SHARED if k in headers) for headers in answers.values()}) == 1


def test_the_preview_frames_its_email_itself_and_no_one_else(preview_url: str) -> None:
    with urllib.request.urlopen(preview_url + "/email.html", timeout=10) as response:
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (run `make test`)")
def test_the_preview_reload_poll_runs_under_its_policy(preview_url: str, project: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            refused: list[str] = []
            page.on("console", lambda message: refused.append(message.text)
                    if "Content Security Policy" in message.text else None)
            polled = threading.Event()
            page.on("request", lambda request: polled.set() if request.url.endswith("/version") else None)
            page.goto(preview_url + "/")
            page.wait_for_event("request", predicate=lambda request: request.url.endswith("/version"), timeout=15_000)
            assert polled.is_set() and refused == []
        finally:
            browser.close()
