"""The brand as the templates and ``check`` see it: ``[brand]`` with today's look filling every gap.

``config`` validates what the operator wrote (``Settings.brand`` is ``None`` without a ``[brand]``
table); :func:`email_brand` and :func:`web_brand` give the values each place actually uses, so a
project without ``[brand]`` renders exactly as before. The WCAG 2.x contrast maths lives here too,
since the colour pairs to measure are the ones these defaults complete.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import BrandSettings, Settings
from newsletter.core.i18n import N_, Message, fill

#: The email's own colours and fonts (templates/email.mjml.j2) when ``[brand]`` leaves them out.
EMAIL_PRIMARY = "#0b5cad"
EMAIL_HEADER = "#102a43"
EMAIL_HEADER_TEXT = "#ffffff"
EMAIL_HEADER_DATE = "#d9e2ec"
EMAIL_BUTTON_TEXT = "#ffffff"
EMAIL_FONTS = "Helvetica, Arial, sans-serif"
#: Backgrounds brand colours are drawn on: the email's card and outer band, the web pages' body and card.
EMAIL_CARD = "#ffffff"
EMAIL_OUTER = "#eef1f4"
WEB_PAGE = "#f4f4f1"
#: WCAG 2.x level AA for normal text.
AA_RATIO = 4.5
#: The email's content width in pixels: images and the logo are shown at most this wide.
CONTENT_WIDTH = 544
#: The email's logo and content width: a logo wider than this is shown at this width.


def _channel(value: int) -> float:
    s = value / 255
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def rgb(color: str) -> tuple[int, int, int]:
    """``#rgb`` or ``#rrggbb`` as three 0–255 integers."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(color: str) -> float:
    """The relative luminance of an sRGB colour as WCAG 2.x defines it (0 black, 1 white)."""
    r, g, b = (_channel(v) for v in rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio, from 1 (same luminance) to 21 (black on white); order does not matter."""
    lighter, darker = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_variant(color: str, background: str, ratio: float = AA_RATIO) -> str:
    """The nearest darker (on a light background) or lighter shade of ``color`` reaching ``ratio``
    against ``background``: a concrete value to suggest in a fix."""
    r, g, b = rgb(color)
    toward = 0 if relative_luminance(background) > 0.18 else 255
    for step in range(0, 101):
        t = step / 100
        mixed = tuple(round(v + (toward - v) * t) for v in (r, g, b))
        candidate = "#%02x%02x%02x" % mixed
        if contrast_ratio(candidate, background) >= ratio:
            return candidate
    return "#000000" if toward == 0 else "#ffffff"


@dataclass(frozen=True)
class Brand:
    """The brand values one place uses, defaults filled in. Colours are ``#rrggbb``; ``logo`` is the
    logo's path relative to the project (empty without a logo); ``font_family`` is a safe CSS list."""

    name: str
    logo: str
    logo_alt: str
    logo_width: int
    primary_color: str
    primary_text_color: str
    header_color: str
    header_text_color: str
    header_date_color: str
    font_family: str
    footer_text: str
    postal_address: str


def email_brand(settings: Settings) -> Brand:
    """The brand of the email (and of its web version): ``[brand]`` over the email's own look."""
    b = settings.brand or BrandSettings()
    return Brand(
        name=b.name or settings.newsletter.name,
        logo=b.logo,
        logo_alt=b.logo_alt,
        logo_width=b.logo_width,
        primary_color=b.primary_color or EMAIL_PRIMARY,
        primary_text_color=b.primary_text_color or EMAIL_BUTTON_TEXT,
        header_color=b.header_color or EMAIL_HEADER,
        header_text_color=b.header_text_color or EMAIL_HEADER_TEXT,
        # The date under the name is a softer white by default; with a brand text colour it takes that colour.
        header_date_color=b.header_text_color or EMAIL_HEADER_DATE,
        font_family=b.font_family or EMAIL_FONTS,
        footer_text=b.footer_text,
        postal_address=b.postal_address or settings.newsletter.postal_address,
    )


def web_brand(settings: Settings) -> Brand:
    """The brand of the public pages: only what ``[brand]`` sets (an empty colour or font keeps the
    pages' own stylesheet), with the name and postal address always filled."""
    b = settings.brand or BrandSettings()
    return Brand(
        name=b.name or settings.newsletter.name,
        logo=b.logo,
        logo_alt=b.logo_alt,
        logo_width=b.logo_width,
        primary_color=b.primary_color,
        primary_text_color=b.primary_text_color or (EMAIL_BUTTON_TEXT if b.primary_color else ""),
        header_color=b.header_color,
        header_text_color=b.header_text_color or (EMAIL_HEADER_TEXT if b.header_color else ""),
        header_date_color=b.header_text_color,
        font_family=b.font_family,
        footer_text=b.footer_text,
        postal_address=b.postal_address or settings.newsletter.postal_address,
    )


@dataclass(frozen=True)
class ContrastProblem:
    """A brand colour pair under :data:`AA_RATIO`: the key to change, what was measured, a fix."""

    key: str
    foreground: str
    background: str
    ratio: float
    where: str  # an English template marked with N_ (translated with the sentence)
    suggestion: str

    TEMPLATE = N_("[brand] %(key)s: %(foreground)s on %(background)s (%(where)s) has a contrast of %(ratio).2f:1, "
                  "under the 4.5:1 WCAG AA asks for text; set %(key)s = \"%(suggestion)s\" or another colour that "
                  "reaches 4.5:1")

    def values(self) -> dict[str, object]:
        """What fills :attr:`TEMPLATE`."""
        return {"key": self.key, "foreground": self.foreground, "background": self.background,
                "where": Message(self.where), "ratio": self.ratio, "suggestion": self.suggestion}

    def describe(self) -> str:
        return fill(self.TEMPLATE, self.values())


def contrast_problems(settings: Settings) -> list[ContrastProblem]:
    """Every pair of brand colours, as the email and the pages draw them, whose contrast is under 4.5:1.

    Links take the primary colour on the email's card, on its outer band and on the pages' body;
    buttons write ``primary_text_color`` on it; the masthead writes ``header_text_color`` on
    ``header_color``. Only pairs ``[brand]`` changes are measured (the defaults pass).
    """
    b = settings.brand
    if b is None:
        return []
    brand = email_brand(settings)
    found: list[ContrastProblem] = []

    def measure(key: str, foreground: str, background: str, where: str, fix_foreground: bool = True) -> None:
        ratio = contrast_ratio(foreground, background)
        if ratio < AA_RATIO:
            base, against = (foreground, background) if fix_foreground else (background, foreground)
            found.append(ContrastProblem(key, foreground, background, ratio, where,
                                         readable_variant(base, against)))

    if b.primary_color:
        worst = min((EMAIL_CARD, EMAIL_OUTER, WEB_PAGE), key=lambda bg: contrast_ratio(brand.primary_color, bg))
        measure("primary_color", brand.primary_color, worst, N_("links"))
    if b.primary_color or b.primary_text_color:
        key = "primary_text_color" if b.primary_text_color else "primary_color"
        measure(key, brand.primary_text_color, brand.primary_color, N_("button text"), key == "primary_text_color")
    if b.header_color or b.header_text_color:
        key = "header_text_color" if b.header_text_color else "header_color"
        measure(key, brand.header_text_color, brand.header_color, N_("the name in the masthead"),
                key == "header_text_color")
    return found
