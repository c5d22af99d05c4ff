"""`newsletter preview`: a real server on 127.0.0.1 that rebuilds on save and shows problems."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from newsletter.core.i18n import LANGUAGES
from newsletter.frontends.web.preview import make_server
from tests.helpers.preview import preview_server
from tests.conftest import DAY, item_text, write
from tests.helpers.locales import LOCALES, leftovers, set_locale
from tests.helpers.config import set_options
from tests.helpers.french import typeset


@pytest.fixture
def base_url(project: Path) -> Iterator[str]:
    with preview_server(project) as url:
        yield url


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def test_page_shows_both_widths_and_the_email(base_url: str) -> None:
    status, page = get(base_url + "/")
    assert status == 200
    assert 'width="600"' in page and 'width="375"' in page and "Prêt" in page
    status, email_html = get(base_url + "/email.html")
    assert status == 200 and "Le service client par bot ne convainc pas" in email_html
    assert 'src="/assets/images/barres.png"' in email_html
    assert get(base_url + "/assets/images/barres.png")[0] == 200
    assert get(base_url + "/email.txt")[0] == 200


def test_edit_changes_the_version_and_shows_problems(base_url: str, project: Path) -> None:
    _, before = get(base_url + "/version")
    item = project / "issues" / DAY.isoformat() / "02-mobile.md"
    write(item, item_text(title="", body="<script>alert(1)</script>\n\n[x](javascript:alert(2))"))
    os.utime(item, ns=(1, 1))  # a different mtime even on coarse file systems
    _, after = get(base_url + "/version")
    assert after != before
    status, page = get(base_url + "/")
    assert status == 200
    assert "problèmes à corriger" in page
    assert typeset("02-mobile.md:2 : « title » est obligatoire") in page  # in the page's language, escaped as every problem
    assert "<script>alert(1)" not in page  # problems are escaped on the page too


def test_broken_config_is_shown_not_crashed(base_url: str, project: Path) -> None:
    (project / "newsletter.toml").write_text("[newsletter\n", encoding="utf-8")
    status, page = get(base_url + "/")
    assert status == 200 and "invalid TOML" in page


@pytest.mark.parametrize("path", ["/assets/../../newsletter.toml", "/assets/%2e%2e/%2e%2e/newsletter.toml",
                                  "/assets/issue.yaml/../../../newsletter.toml", "/nothing",
                                  "/assets/images/config.png", "/assets/issue.yaml", "/assets/images/notes.png"])
def test_nothing_outside_the_issue_folder_is_served(base_url: str, issue_dir: Path, path: str) -> None:
    # A link out of the folder, and files that are not images, whatever their name.
    (issue_dir / "images" / "config.png").symlink_to("../../../newsletter.toml")
    write(issue_dir / "images" / "notes.png", "[newsletter]\n")
    status, body = get(base_url + path)
    assert status == 404 and "[newsletter]" not in body and "subject" not in body


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_speaks_the_newsletters_language(project: Path, lang: str) -> None:
    set_locale(project, LOCALES[lang])
    set_options(project, "check", spelling=False)  # the fixture's French words are not English: the page, not them
    server = make_server(project, DAY, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        status, page = get(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert status == 200 and f'<html lang="{lang}">' in page
    assert {"fr": "Aperçu du numéro du 2026-11-24", "en": "Preview of the issue of 2026-11-24"}[lang] in page
    assert leftovers(page, lang) == []
