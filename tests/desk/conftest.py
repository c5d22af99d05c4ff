"""The desk under test: a project with one account per role, the app and signed-in test clients."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.frontends.desk.app import create_app
from tests.conftest import SECRET

PASSWORD = "correct horse battery staple"
ROLES = ("editor", "approver", "operator")
#: Monday 2026-11-23, noon in Paris: the fixture issue (Tuesday 24) is the next one due.
NOW = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def desk_config(project: Path, text: str) -> None:
    """Append ``text`` (a ``[desk]`` table) to the project's configuration."""
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


@pytest.fixture
def nl(project: Path, clock: Clock) -> Iterator[Newsletter]:
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=clock) as opened:
        for role in ROLES:
            opened.users.add(role, role, PASSWORD, email=f"{role}@example.org")
        yield opened


@pytest.fixture
def app(nl: Newsletter) -> Flask:
    return create_app(nl, SECRET)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def signed_in(app: Flask) -> Callable[[str], FlaskClient]:
    """A test client signed in with the account of ``role``."""
    def make(role: str) -> FlaskClient:
        client = app.test_client()
        sign_in(client, role)
        return client
    return make
