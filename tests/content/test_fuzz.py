"""Hostile, random item files: `check` answers with problems, never a traceback or an unsafe email."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.services.check import check_issue
from newsletter.core.merge import TOKEN_PREFIX
from tests.conftest import DAY

PIECES = ["---\n", "title: ", "source: ", "image: ", "image_alt: ", "url: ", "tag: ", '"', "'", "{{", "}}",
          " first_name ", '| default("x")', "<script>", "</", "[a](", ")", "![", "javascript:", "http://", "\n",
          "\r\n", "\t", "*", "_", "`", "```", "> ", "- ", "1. ", "# ", "&", "&#0;", "\x00", "\u202e", "é", "«",
          "»", " : ", "%", "12 km", "!", "?", "[", "]", "{", "}", "\ufeff", "../../", "NLMRG1Q", "NLFLD0Q",
          "<!--", "-->", "\\", "a" * 50, "<img src=x onerror=alert(1)>", "data:text/html,x", "\u2028"]


@pytest.mark.parametrize("seed", range(4))
def test_random_files_never_crash_the_check(project: Path, issue_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    settings = load_settings(project)
    for _ in range(40):
        target = issue_dir / rng.choice(["02-mobile.md", "issue.yaml", "03-reseaux.md"])
        original = target.read_bytes()
        if rng.random() < 0.9:
            target.write_text("".join(rng.choice(PIECES) for _ in range(rng.randint(0, 60))), encoding="utf-8")
        else:
            target.write_bytes(bytes(rng.randrange(256) for _ in range(200)))
        report = check_issue(settings, DAY)
        if report.rendered is not None:
            html, text = report.rendered.personalize({"first_name": "<b>x</b>", "email": "a@example.org",
                                                      "unsubscribe_url": "https://news.example.org/u/t"})
            assert TOKEN_PREFIX not in html and TOKEN_PREFIX not in text
            assert "<script" not in html.lower() and "onerror=" not in html.lower()
            assert "javascript:" not in html.lower()
        target.write_bytes(original)
