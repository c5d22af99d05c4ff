"""Brand text values reach the email escaped for where they stand: text, attributes, the text part."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import load_settings
from newsletter.content.load import load_issue
from newsletter.render.pipeline import render_issue
from tests.conftest import DAY, add_brand
from tests.helpers.web import tags


def test_hostile_brand_text_is_escaped_in_the_email(project: Path) -> None:
    add_brand(project)
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('logo_alt = "CX Matin"', 'logo_alt = "CX\\" onerror=\\"alert(1)"')
    text = text.replace('name = "CX Matin"', 'name = "CX <b>Matin</b></mj-text>"')
    text = text.replace("footer_text = \"Une publication de l'équipe Relation client\"",
                        'footer_text = "</mj-text><script>alert(1)</script>"')
    config.write_text(text, encoding="utf-8")
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
