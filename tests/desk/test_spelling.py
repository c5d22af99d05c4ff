"""The desk's issue page lists the spelling warnings, with their suggestions, under the preview."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from flask.testing import FlaskClient

from newsletter.content.spelling import SpellingUnavailable, dictionary
from tests.conftest import DAY


def test_issue_page_lists_misspelled_words_with_suggestions(project: Path,
                                                            signed_in: Callable[[str], FlaskClient]) -> None:
    try:
        dictionary("fr_FR")
    except SpellingUnavailable as err:
        pytest.skip(str(err))
    item = next(p for p in sorted((project / "issues" / DAY.isoformat()).glob("*.md")))
    item.write_text(item.read_text(encoding="utf-8") + "\nLe gouvernemnt réagit.\n", encoding="utf-8")
    page = signed_in("editor").get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)
    assert "gouvernemnt" in page and "gouvernement" in page and "dictionary.txt" in page
