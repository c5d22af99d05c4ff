"""WCAG 2.x contrast maths, and the brand each place uses once the built-in look fills the gaps."""

from __future__ import annotations

import dataclasses

import pytest

from newsletter.brand.look import (AA_RATIO, EMAIL_FONTS, EMAIL_PRIMARY, contrast_problems, contrast_ratio, email_brand,
                              readable_variant, relative_luminance, web_brand)
from newsletter.config import BrandSettings, Settings


@pytest.mark.parametrize(("color", "luminance"), [("#000000", 0.0), ("#ffffff", 1.0), ("#fff", 1.0),
                                                  ("#808080", 0.2158605), ("#ff0000", 0.2126),
                                                  ("#00ff00", 0.7152), ("#0000ff", 0.0722)])
def test_relative_luminance_follows_wcag(color: str, luminance: float) -> None:
    assert relative_luminance(color) == pytest.approx(luminance, abs=1e-6)


@pytest.mark.parametrize(("foreground", "background", "ratio"), [
    ("#000000", "#ffffff", 21.0),
    ("#ffffff", "#ffffff", 1.0),
    ("#777777", "#ffffff", 4.48),  # the classic near miss: fails AA
    ("#767676", "#ffffff", 4.54),  # the lightest grey that passes on white
    ("#ffffff", "#767676", 4.54),  # the order does not matter
    ("#0b5cad", "#ffffff", 6.67),  # the email's link colour
    ("#ffffff", "#102a43", 14.64),  # its masthead
])
def test_contrast_ratio_of_known_pairs(foreground: str, background: str, ratio: float) -> None:
    assert contrast_ratio(foreground, background) == pytest.approx(ratio, abs=0.005)


def test_the_aa_threshold_splits_the_two_greys() -> None:
    assert contrast_ratio("#777777", "#ffffff") < AA_RATIO <= contrast_ratio("#767676", "#ffffff")


@pytest.mark.parametrize(("color", "background"), [("#777777", "#ffffff"), ("#ff9900", "#ffffff"),
                                                   ("#334455", "#102a43"), ("#ffff00", "#eef1f4")])
def test_the_suggested_fix_reaches_aa(color: str, background: str) -> None:
    fixed = readable_variant(color, background)
    assert contrast_ratio(fixed, background) >= AA_RATIO


def _with_brand(settings: Settings, **values: object) -> Settings:
    return dataclasses.replace(settings, brand=BrandSettings(**values))  # type: ignore[arg-type]


def test_without_brand_the_email_keeps_its_look_and_the_pages_theirs(settings: Settings) -> None:
    email, web = email_brand(settings), web_brand(settings)
    assert (email.primary_color, email.font_family, email.name) == (EMAIL_PRIMARY, EMAIL_FONTS, settings.newsletter.name)
    assert (web.primary_color, web.header_color, web.font_family) == ("", "", "")
    assert email.postal_address == web.postal_address == settings.newsletter.postal_address


def test_brand_postal_address_replaces_the_newsletters_in_footers(settings: Settings) -> None:
    branded = _with_brand(settings, postal_address="3 place du Marché, 69002 Lyon")
    assert email_brand(branded).postal_address == web_brand(branded).postal_address == "3 place du Marché, 69002 Lyon"


@pytest.mark.parametrize(("values", "key", "fails"), [
    ({"primary_color": "#777777"}, "primary_color", True),  # links on white: 4.48
    ({"primary_color": "#767676"}, "primary_color", True),  # 4.54 on white, but 4.01 on the outer band #eef1f4
    ({"primary_color": "#6b6b6b"}, "primary_color", False),
    ({"primary_color": "#0b5cad", "primary_text_color": "#777777"}, "primary_text_color", True),
    ({"primary_color": "#ffcc00"}, "primary_color", True),  # white button text on yellow, and yellow links
    ({"header_color": "#767676"}, "header_color", False),  # white name on #767676: 4.54
    ({"header_color": "#777777"}, "header_color", True),
    ({"header_text_color": "#777777", "header_color": "#ffffff"}, "header_text_color", True),
    ({"header_text_color": "#767676", "header_color": "#ffffff"}, "header_text_color", False),
])
def test_contrast_problems_name_the_key(settings: Settings, values: dict[str, str], key: str, fails: bool) -> None:
    found = contrast_problems(_with_brand(settings, **values))
    assert (key in {p.key for p in found}) is fails, [p.describe() for p in found]
    for problem in found:
        assert problem.describe().startswith(f"[brand] {problem.key}: ")
        assert "4.5:1" in problem.describe() and f'set {problem.key} = "#' in problem.describe()
