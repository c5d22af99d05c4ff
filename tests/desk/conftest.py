"""The desk under test: a project with one account per role, the app and signed-in test clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.frontends.desk.app import create_app
from tests.conftest import SECRET
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers.desk import Clock, PASSWORD, ROLES, sign_in


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def nl(project: Path, clock: Clock) -> Iterator[Newsletter]:
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as opened:
        for role in ROLES:
            opened.users.add(role, role, PASSWORD, email=f"{role}@example.org")
        yield opened


@pytest.fixture
def app(nl: Newsletter) -> Flask:
    return create_app(nl, SECRET)


@pytest.fixture
def signed_in(app: Flask) -> Callable[[str], FlaskClient]:
    """A test client signed in with the account of ``role``."""
    def make(role: str) -> FlaskClient:
        client = app.test_client()
        sign_in(client, role)
        return client
    return make


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (run `make test`, which installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
