"""Special editions on the desk: each issue page links to the other issues of its day (the daily one and the
editions), and the home page lists the editions beside their day's issue."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable

from flask.testing import FlaskClient

from tests.conftest import DAY


def _editions(issue_dir: Path, *slugs: str) -> None:
    for slug in slugs:
        shutil.copytree(issue_dir, issue_dir.parent / f"{DAY.isoformat()}-{slug}")


def _day_links(page: str) -> list[str]:
    """The issues the page's « other issues of this day » links to."""
    nav = re.search(r'<nav class="siblings"[^>]*>(.*?)</nav>', page, re.S)
    return re.findall(r'href="/issues/([^"]+)"', nav.group(1)) if nav else []


def test_each_issue_page_links_to_the_other_issues_of_its_day(issue_dir: Path,
                                                             signed_in: Callable[[str], FlaskClient]) -> None:
    _editions(issue_dir, "speciale", "elections")
    client = signed_in("editor")
    daily = client.get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)
    assert _day_links(daily) == [f"{DAY.isoformat()}-elections", f"{DAY.isoformat()}-speciale"]
    edition = client.get(f"/issues/{DAY.isoformat()}-speciale").get_data(as_text=True)
    assert _day_links(edition) == [DAY.isoformat(), f"{DAY.isoformat()}-elections"]
    assert re.search(r"<h1>[^<]*· speciale</h1>", edition)  # the page says which issue of the day it is
    assert "Ouvrir le numéro du mardi 24 novembre · elections" in edition
    # A day with one issue has nothing to link to.
    shutil.rmtree(issue_dir.parent / f"{DAY.isoformat()}-speciale")
    shutil.rmtree(issue_dir.parent / f"{DAY.isoformat()}-elections")
    assert _day_links(client.get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)) == []


def test_an_edition_whose_day_has_no_daily_issue_links_to_the_other_editions_only(
        issue_dir: Path, signed_in: Callable[[str], FlaskClient]) -> None:
    _editions(issue_dir, "speciale", "elections")
    shutil.rmtree(issue_dir)
    page = signed_in("editor").get(f"/issues/{DAY.isoformat()}-speciale").get_data(as_text=True)
    assert _day_links(page) == [f"{DAY.isoformat()}-elections"]


def test_the_home_page_lists_the_editions_beside_their_days_issue(issue_dir: Path,
                                                                  signed_in: Callable[[str], FlaskClient]) -> None:
    _editions(issue_dir, "speciale")
    page = signed_in("editor").get("/").get_data(as_text=True)
    links = re.findall(r'href="/issues/([^"]+)"', page)
    assert links.index(f"{DAY.isoformat()}-speciale") == links.index(DAY.isoformat()) + 1
