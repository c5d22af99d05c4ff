"""``newsletter check --links`` against pages served on 127.0.0.1; plain ``check`` makes no request."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Iterator

import pytest

from newsletter.frontends.cli import main
from newsletter.store.database import Store
from tests.conftest import DAY
from tests.helpers.config import set_options
from tests.helpers.pages import Answer, Pages, links_to, local_site


@pytest.fixture
def pages(project: Path, issue_dir: Path) -> Iterator[Pages]:
    """The fixture issue's three links moved to the local server: the first fine, the second dead (404), the third
    redirected to another host (localhost)."""
    with local_site(project) as site:
        links_to(site, issue_dir)
        yield site


def run(project: Path, *args: str) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(["--project", str(project), *args])
    return code, printed.getvalue()


def test_plain_check_makes_no_request(project: Path, pages: Pages) -> None:
    code, out = run(project, "check", DAY.isoformat())
    assert code == 0, out
    assert pages.requests == []


def test_dead_links_are_errors_and_moved_ones_warnings(project: Path, pages: Pages) -> None:
    code, out = run(project, "check", DAY.isoformat(), "--links")
    assert code == 1, out
    day = DAY.isoformat()
    assert f"issues/{day}/03-reseaux.md:6: dead link {pages.url('/gone')}: the server answers 404" in out
    port = pages.base.rsplit(":", 1)[1]
    assert (f"issues/{day}/04-forrester.md:4: warning: {pages.url('/moved')} leads to another site: "
            f"http://localhost:{port}/ok") in out
    assert "01-bots.md:4" not in out
    # HEAD first; GET only for the link whose HEAD was refused
    assert ("HEAD", "/ok") in pages.requests and ("GET", "/gone") in pages.requests
    assert ("GET", "/ok") not in pages.requests


def test_results_are_kept_a_day_in_the_store(project: Path, pages: Pages, store: Store) -> None:
    assert run(project, "check", DAY.isoformat(), "--links")[0] == 1
    before = len(pages.requests)
    code, out = run(project, "check", DAY.isoformat(), "--links")
    assert code == 1 and "dead link" in out
    assert len(pages.requests) == before


def test_a_timeout_and_an_unknown_host_are_errors(project: Path, issue_dir: Path, pages: Pages) -> None:
    pages.routes["/ok"] = Answer(stall=True)
    path = issue_dir / "04-forrester.md"
    path.write_text(path.read_text(encoding="utf-8").replace(pages.url("/moved"), "http://nowhere.invalid/x"),
                    encoding="utf-8")
    code, out = run(project, "check", DAY.isoformat(), "--links")
    assert code == 1
    assert f"01-bots.md:4: dead link: {pages.url('/ok')}: no answer within 1 s (timeout)" in out
    assert "04-forrester.md:4: dead link: http://nowhere.invalid/x: the host nowhere.invalid cannot be found" in out
    assert "Traceback" not in out


def test_private_addresses_are_refused_without_the_setting(project: Path, pages: Pages) -> None:
    set_options(project, "sourcing", allow_private_networks=False)
    code, out = run(project, "check", DAY.isoformat(), "--links")
    assert code == 1 and "a loopback or private network address, which is not fetched" in out
    assert pages.requests == []


def test_a_link_without_an_answer_is_said_in_the_terminals_language(
        project: Path, issue_dir: Path, pages: Pages, monkeypatch: pytest.MonkeyPatch) -> None:
    pages.routes["/ok"] = Answer(stall=True)
    pages.routes["/moved"] = Answer(b"", 302, {"Location": "/moved"})
    path = issue_dir / "01-bots.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nEt [là](https://ex..ample.org/a).\n", encoding="utf-8")
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    for _ in range(2):  # fetched, then as kept in the store
        code, out = run(project, "check", DAY.isoformat(), "--links")
        out = out.replace("\u00a0", " ").replace("\u202f", " ")
        assert code == 1
        assert f"01-bots.md:4 : lien mort : {pages.url('/ok')} : pas de réponse en 1 s (délai dépassé)" in out, out
        assert f"04-forrester.md:4 : lien mort : {pages.url('/moved')} : plus de 5 redirections (une boucle ?)" in out
        assert "lien mort : le nom d’hôte de « https://ex..ample.org/a » n’est pas un nom de domaine valide" in out, out


def test_an_address_holding_quotes_is_checked_whole_as_the_markdown_reads_it(project: Path, issue_dir: Path,
                                                                             pages: Pages) -> None:
    """The links of a text were cut at the first quote: ``…?who="c"`` was checked as ``…?who=``."""
    pages.routes['/q?who=%22c%22'] = Answer()
    path = issue_dir / "01-bots.md"
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + f'\n\nVoir [la fiche]({pages.url("/q")}?who="c").\n',
                    encoding="utf-8")
    code, out = run(project, "check", DAY.isoformat(), "--links")
    assert ("HEAD", '/q?who=%22c%22') in pages.requests, pages.requests
    assert "/q?who=" not in out, out
