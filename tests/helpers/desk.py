"""The desk in a test: its accounts' password and roles, a clock moved by hand, the CSRF token of a
form, signing in, a [desk] table, a page's form."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from flask.testing import FlaskClient


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


def desk_config(project: Path, text: str) -> None:
    """Append ``text`` (a ``[desk]`` table) to the project's configuration."""
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


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


def form_of(page: str, action: str) -> dict[str, str]:
    """The hidden and text inputs of the form posting to ``action`` (a small reader for tests)."""
    start = page.index(f'action="{action}"')
    block = page[start:page.index("</form>", start)]
    values = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', block))
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', block, re.S):
        values[name] = text
    import html

    return {k: html.unescape(v) for k, v in values.items()}


def issue_form(page: str) -> dict[str, str | list[str]]:
    """What the issue page's one save posts: the inputs of ``form#issue`` and those tied to it (``form="issue"``)."""
    import html

    start = page.index('id="issue"')
    block = page[page.rindex("<form", 0, start):page.index("</form>", start)]
    values: dict[str, str | list[str]] = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', block):
        values[name] = html.unescape(value)
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', block, re.S):
        values[name] = html.unescape(text)
    for tag in re.findall(r'<(?:input|textarea)[^>]*form="issue"[^>]*>', page):
        name = re.search(r'name="([^"]+)"', tag).group(1)  # type: ignore[union-attr]
        found = re.search(r'value="([^"]*)"', tag)
        value = html.unescape(found.group(1)) if found else ""
        if tag.startswith("<textarea"):
            after = page.index(tag) + len(tag)
            value = html.unescape(page[after:page.index("</textarea>", after)])
        if name == "item":
            values.setdefault("item", [])
            values["item"].append(value)  # type: ignore[union-attr]
        else:
            values[name] = value
    return values
