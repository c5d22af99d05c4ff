"""Brand text values reach the email escaped for where they stand: text, attributes, the text part."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import load_settings
from newsletter.content.load import load_issue
from newsletter.render.pipeline import render_issue
from tests.conftest import DAY, add_brand
from tests.helpers.web import tags
from tests.helpers.config import set_options


def test_hostile_brand_text_is_escaped_in_the_email(project: Path) -> None:
    add_brand(project)
    set_options(project, "brand", logo_alt='CX" onerror="alert(1)', name="CX <b>Matin</b></mj-text>",
                footer_text="</mj-text><script>alert(1)</script>")
    settings = load_settings(project)
    issue = load_issue(settings.issues_dir, DAY, settings.newsletter.items_per_issue).issue
    rendered = render_issue(issue, settings)
    html, plain = rendered.personalize({})
    assert "<script>" not in html and "<b>Matin" not in html
    assert "&lt;/mj-text&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "CX &lt;b&gt;Matin&lt;/b&gt;&lt;/mj-text&gt;" in html
    (logo,) = [t for t in tags(html, "img") if (t.get("src") or "").startswith("https://news.example.org/assets/brand/")]
    assert logo["alt"] == 'CX" onerror="alert(1)' and "onerror" not in logo
    assert "</mj-text><script>alert(1)</script>" in plain  # the text part is plain text: shown as written
