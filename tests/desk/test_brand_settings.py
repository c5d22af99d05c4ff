"""The operators' brand settings page: [brand] edited in place, refused whole when wrong or outdated, operators only."""

from __future__ import annotations

import re
import shutil
from html import unescape
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.brand_file import version
from tests.conftest import FIXTURES
from tests.desk.conftest import csrf_token

URL = "/settings/brand"


def _form(client: FlaskClient) -> dict[str, str]:
    """The brand form's fields as the page fills them (csrf_token and version included)."""
    page = client.get(URL).get_data(as_text=True)
    start = page.index('id="brand"')
    form = page[start:page.index("</form>", start)]
    return {m.group(1): unescape(m.group(2)) for m in re.finditer(r'name="([a-z_]+)"[^>]*? value="([^"]*)"', form)}


def test_an_operator_changes_the_brand_and_the_file_keeps_its_comments(
        nl: Newsletter, signed_in: Callable[[str], FlaskClient]) -> None:
    config = nl.settings.root / "newsletter.toml"
    before = config.read_text(encoding="utf-8")
    client = signed_in("operator")
    form = _form(client)
    assert form["version"] == version(nl.settings.root) and form["primary_color"] == ""
    form.update(name="CX Matin", primary_color="#b3261e", header_color="#1d3b2a", footer_text="Une lettre")
    response = client.post(URL, data=form)
    assert response.status_code == 302 and response.headers["Location"] == URL
    after = config.read_text(encoding="utf-8")
    assert after.startswith(before)  # every comment and table kept; [brand] added at the end
    assert after[len(before):] == ('\n[brand]\nname = "CX Matin"\nprimary_color = "#b3261e"\nheader_color = "#1d3b2a"\n'
                                   'footer_text = "Une lettre"\n')
    assert nl.settings.brand is not None and nl.settings.brand.primary_color == "#b3261e"  # the desk uses it now
    page = client.get(URL).get_data(as_text=True)
    assert "Enregistré." in page and 'value="CX Matin"' in page
    assert "<code>#b3261e</code>" in page and "6.54:1" in page  # white button text on the new colour


@pytest.mark.parametrize(("field", "value", "message"), [
    ("primary_color", "red;background:url(https://evil.example/x)", "[brand] primary_color must be a colour"),
    ("font_family", "Arial;}</style><script>alert(1)</script>, serif", "[brand] font_family"),
    ("primary_color", "#777777", "[brand] primary_color: #777777 on #eef1f4 (links) has a contrast of 3.95:1"),
    ("logo", "brand/logo.png", "[brand] logo needs logo_alt"),
    ("logo", "../../etc/passwd.png", "[brand] logo &#39;../../etc/passwd.png&#39; must be a path inside the project"),
])
def test_a_refused_value_saves_nothing_and_says_why(nl: Newsletter, signed_in: Callable[[str], FlaskClient],
                                                    field: str, value: str, message: str) -> None:
    (nl.settings.root / "brand").mkdir()
    shutil.copyfile(FIXTURES / "brand" / "logo.png", nl.settings.root / "brand" / "logo.png")
    config = nl.settings.root / "newsletter.toml"
    before = config.read_bytes()
    client = signed_in("operator")
    form = _form(client)
    form[field] = value
    response = client.post(URL, data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page and "Non enregistré" in page
    assert "<script>alert(1)</script>" not in page  # the value is shown back escaped
    assert config.read_bytes() == before


def test_a_save_based_on_an_outdated_file_is_refused_and_the_values_kept(
        nl: Newsletter, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    form = _form(client)
    config = nl.settings.root / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n# edited by hand meanwhile\n", encoding="utf-8")
    before = config.read_bytes()
    form["name"] = "CX Matin"
    response = client.post(URL, data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and 'value="CX Matin"' in page
    assert config.read_bytes() == before


@pytest.mark.parametrize("role", ["editor", "approver"])
def test_only_operators_see_and_change_the_brand(app: Flask, signed_in: Callable[[str], FlaskClient],
                                                 role: str) -> None:
    client = signed_in(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"csrf_token": csrf_token(client, "/"), "name": "X"}).status_code == 403
    assert URL not in client.get("/").get_data(as_text=True)  # no link to it either
    assert URL in signed_in("operator").get("/").get_data(as_text=True)


def test_anonymous_is_sent_to_sign_in_and_a_post_refused(app: Flask, nl: Newsletter) -> None:
    client = app.test_client()
    response = client.get(URL)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    before = (nl.settings.root / "newsletter.toml").read_bytes()
    assert client.post(URL, data={"csrf_token": csrf_token(client), "name": "X"}).status_code == 401
    assert (nl.settings.root / "newsletter.toml").read_bytes() == before


def test_a_post_without_csrf_token_is_refused(nl: Newsletter, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    form = _form(client)
    del form["csrf_token"]
    before = (nl.settings.root / "newsletter.toml").read_bytes()
    assert client.post(URL, data=form).status_code == 400
    assert (nl.settings.root / "newsletter.toml").read_bytes() == before


def test_every_field_has_a_label(signed_in: Callable[[str], FlaskClient]) -> None:
    page = signed_in("operator").get(URL).get_data(as_text=True)
    assert "<h1>Identité visuelle</h1>" in page  # in the newsletter's language, like the rest of the desk
    inputs = re.findall(r'<input id="([^"]+)"', page)
    assert len(inputs) == 11
    for input_id in inputs:
        assert f'<label for="{input_id}">' in page
