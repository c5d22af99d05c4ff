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
from werkzeug.test import TestResponse

from newsletter import Newsletter
from newsletter.brand.toml_edit import version
from tests.conftest import FIXTURES
from tests.helpers.desk import csrf_token
from tests.helpers.french import typeset

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
    ("primary_color", "#777777", typeset("[brand] primary_color : #777777 sur #eef1f4 (les liens) a un contraste de "
                                         "3.95:1")),
    ("logo", "brand/logo.png", "[brand] logo demande logo_alt"),
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
    assert len(inputs) == 13  # the eleven [brand] keys, then the logo upload's file and alt text
    for input_id in inputs:
        assert f'<label for="{input_id}">' in page


LOGO_URL = URL + "/logo"
PNG = (FIXTURES / "brand" / "logo.png").read_bytes()


def _upload(client: FlaskClient, data: bytes, filename: str, alt: str, **form: str) -> TestResponse:
    import io

    fields = {"csrf_token": csrf_token(client, URL), "version": _form(client)["version"], "logo_alt": alt,
              "file": (io.BytesIO(data), filename), **form}
    return client.post(LOGO_URL, data=fields, content_type="multipart/form-data")


def _brand_files(nl: Newsletter) -> list[str]:
    folder = nl.settings.root / "brand"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_an_operator_uploads_a_logo_and_brand_logo_points_at_it_with_its_alt_text(
        nl: Newsletter, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    response = _upload(client, PNG, "../../Logo Maison.PNG", "CX Matin, la lettre")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    [stored] = _brand_files(nl)
    assert re.fullmatch(r"logo-[0-9a-f]{12}\.png", stored)  # the name comes from the bytes, never the upload's
    assert (nl.settings.root / "brand" / stored).read_bytes() == PNG
    assert nl.settings.brand is not None and nl.settings.brand.logo == f"brand/{stored}"
    assert nl.settings.brand.logo_alt == "CX Matin, la lettre"
    written = (nl.settings.root / "newsletter.toml").read_text(encoding="utf-8")
    assert f'logo = "brand/{stored}"' in written and 'logo_alt = "CX Matin, la lettre"' in written
    page = client.get(URL).get_data(as_text=True)
    assert "Logo enregistré." in page and 'src="data:image/png;base64,' in page
    from newsletter.services.check import brand_problems

    assert brand_problems(nl.settings) == []  # check takes the logo as it is


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24


@pytest.mark.parametrize(("data", "filename", "alt", "said"), [
    (SVG, "logo.svg", "CX", "Gmail et Outlook n’affichent pas"),
    (SVG, "logo.png", "CX", "SVG"),  # the name says PNG, the bytes say SVG
    (WEBP, "logo.webp", "CX", "WebP"),
    (b"%PDF-1.7 not an image", "logo.png", "CX", "n’est pas une image PNG, JPEG ou GIF"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * (200 * 1024), "big.png", "CX", "Ko"),
    (PNG, "logo.png", "   ", "texte alternatif"),
])
def test_a_refused_logo_writes_nothing_and_says_why(nl: Newsletter, signed_in: Callable[[str], FlaskClient],
                                                    data: bytes, filename: str, alt: str, said: str) -> None:
    config = nl.settings.root / "newsletter.toml"
    before = config.read_bytes()
    response = _upload(signed_in("operator"), data, filename, alt)
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 400 and "Logo refusé" in page and said in page, page[-3000:]
    assert "<script>alert(1)</script>" not in page
    assert config.read_bytes() == before and _brand_files(nl) == []


def test_a_logo_upload_based_on_an_outdated_file_is_refused(nl: Newsletter,
                                                            signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    config = nl.settings.root / "newsletter.toml"
    response = _upload(client, PNG, "logo.png", "CX", version="0" * 64)
    assert response.status_code == 409
    assert _brand_files(nl) == [] and "logo" not in (nl.settings.brand.logo if nl.settings.brand else "")
    assert "brand/logo-" not in config.read_text(encoding="utf-8")


@pytest.mark.parametrize("role", ["editor", "approver", None])
def test_only_operators_upload_a_logo(app: Flask, nl: Newsletter, signed_in: Callable[[str], FlaskClient],
                                      role: str | None) -> None:
    import io

    client = signed_in(role) if role else app.test_client()
    token = csrf_token(client, "/" if role else "/login")
    response = client.post(LOGO_URL, data={"csrf_token": token, "logo_alt": "CX", "file": (io.BytesIO(PNG), "l.png")},
                           content_type="multipart/form-data")
    assert response.status_code == (403 if role else 401)
    assert _brand_files(nl) == []


def test_a_logo_upload_without_its_csrf_token_is_refused(nl: Newsletter,
                                                         signed_in: Callable[[str], FlaskClient]) -> None:
    import io

    client = signed_in("operator")
    response = client.post(LOGO_URL, data={"logo_alt": "CX", "version": _form(client)["version"],
                                           "file": (io.BytesIO(PNG), "l.png")}, content_type="multipart/form-data")
    assert response.status_code == 400 and _brand_files(nl) == []


# -- symbolic links: the brand page neither shows nor writes through one ---------------------------

def test_a_logo_is_never_written_into_the_folder_brand_links_to(nl: Newsletter,
                                                                 signed_in: Callable[[str], FlaskClient]) -> None:
    import io

    client = signed_in("operator")
    fields = {"csrf_token": csrf_token(client, URL), "version": _form(client)["version"], "logo_alt": "CX Matin",
              "file": (io.BytesIO(PNG), "logo.png")}
    elsewhere = nl.settings.root.parent / "elsewhere"
    elsewhere.mkdir()
    (nl.settings.root / "brand").symlink_to(elsewhere)
    config = nl.settings.root / "newsletter.toml"
    before = config.read_bytes()
    response = client.post(LOGO_URL, data=fields, content_type="multipart/form-data")
    assert response.status_code == 409 and "lien symbolique" in response.get_data(as_text=True)
    assert list(elsewhere.iterdir()) == [] and config.read_bytes() == before


def test_a_linked_newsletter_toml_is_neither_shown_nor_replaced(nl: Newsletter,
                                                                signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("operator")
    form = _form(client)
    config = nl.settings.root / "newsletter.toml"
    target = nl.settings.root.parent / "elsewhere.toml"
    shutil.move(config, target)
    config.symlink_to(target)
    before = target.read_bytes()
    page = client.get(URL)
    assert page.status_code == 409 and "newsletter.toml" in page.get_data(as_text=True)
    assert "lien symbolique" in page.get_data(as_text=True)
    response = client.post(URL, data={**form, "name": "CX Matin"})
    assert response.status_code in (400, 409) and "lien symbolique" in response.get_data(as_text=True)
    assert config.is_symlink() and target.read_bytes() == before
