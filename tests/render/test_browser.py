"""The built email in a real headless Chromium (Debian's), at the widths subscribers read it.

Screenshots are saved for a person to look at: in the test's tmp_path, or the folder given with
``--artifacts DIR``.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from newsletter.services.build import build_issue
from newsletter.config import Settings, load_settings

from tests.conftest import DAY, add_brand
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


if CHROMIUM is None:  # `make test` installs it; a bare `pytest` without it must say why.
    pytest.skip("Debian's chromium is not installed (run `make test`, which installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def playwright() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright) -> Iterator[object]:  # type: ignore[no-untyped-def]
    instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def dark_browser(playwright) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Chromium with its dark mode forced on, as some readers run it."""
    instance = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--force-dark-mode", "--enable-features=WebContentsForceDark"])
    yield instance
    instance.close()


@pytest.fixture
def built(settings: Settings) -> Path:
    """``out/DATE/email.html`` as ``build`` writes it: opened from disk, its images must show."""
    return build_issue(settings, DAY, secret_key="test").folder / "email.html"


# -- pixels: what a person sees, measured on screenshots --------------------------------------


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of a PNG screenshot (8-bit RGB or RGBA, not interlaced: what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, b"", b""
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6) and header[12] == 0, "unexpected PNG format"
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(chunks), width * bpp
    previous, pixels = bytearray(stride), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels.extend((line[x], line[x + 1], line[x + 2]) for x in range(0, stride, bpp))
        previous = line
    return pixels


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance."""
    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = map(channel, rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def seen_contrast(page, selector: str) -> tuple[float, tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    """Contrast between the text of ``selector`` and what is behind it, as rendered: the commonest
    pixel of its box is the background, the pixel farthest from it the ink."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    pixels = png_pixels(page.screenshot(clip=box, full_page=True))
    background = Counter(pixels).most_common(1)[0][0]
    return max(contrast(p, background) for p in pixels), background


@pytest.mark.parametrize("width", [320, 375, 600])
def test_email_fits_and_shows_every_title(browser, built: Path, width: int,  # type: ignore[no-untyped-def]
                                          artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    # Any request leaving the machine is a bug in the email (fonts, trackers…): block and record it.
    outside: list[str] = []

    def route(r):  # type: ignore[no-untyped-def]
        if r.request.url.startswith("file://"):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.goto(built.as_uri())
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"horizontal overflow of {overflow}px at {width}px"
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    assert page.evaluate("[...document.images].every(i => i.hasAttribute('alt') && i.alt.trim() !== '')")
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    titles = page.locator("h2")
    assert titles.count() == 5
    for i in range(5):
        box = titles.nth(i).bounding_box()
        assert titles.nth(i).is_visible() and box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert not outside, outside
    page.screenshot(path=str(artifacts / f"email-{width}px.png"), full_page=True)
    page.close()


#: Text a reader must be able to read, from the top link to the footer.
READABLE = ["h1", "h2", ".kicker", "ol li", ".muted", "text=Près d’un Français", "text=Lire la suite",
            "a[href*='/archive/2026-11-24/']", "text=Se désabonner"]


@pytest.mark.parametrize(("chromium", "scheme"), [("dark_browser", "dark"), ("dark_browser", "light"),
                                                 ("browser", "dark")])
def test_the_email_stays_readable_in_dark_mode(request: pytest.FixtureRequest, built: Path, chromium: str,
                                               scheme: str, artifacts: Path) -> None:
    """Chromium with its dark mode forced on: with a dark preference the email's own dark colours
    apply; with a light one Chromium darkens the page itself. A plain Chromium whose reader prefers
    dark gets the email's dark colours too. Every case must stay readable (WCAG AA, 4.5:1)."""
    page = request.getfixturevalue(chromium).new_page(viewport={"width": 600, "height": 900}, color_scheme=scheme)
    page.set_default_timeout(5000)
    page.goto(built.as_uri())
    page.screenshot(path=str(artifacts / f"email-{chromium.replace('_', '-')}-{scheme}.png"), full_page=True)
    _, page_background = seen_contrast(page, "h2")
    assert luminance(page_background) < 0.1, f"the email was not darkened: {page_background}"
    for selector in READABLE:
        ratio, background = seen_contrast(page, selector)
        assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f} on {background} in dark mode ({scheme})"
    page.close()


def test_a_branded_email_shows_its_logo_colours_and_font(browser, project: Path,  # type: ignore[no-untyped-def]
                                                        artifacts: Path) -> None:
    """The [brand] of tests/fixtures/brand/ as a reader sees it: the logo (beside the built email, under
    its content-hashed name) in the masthead, the brand's colours on the masthead, links and buttons."""
    built = build_issue(load_settings(add_brand(project)), DAY, secret_key="test").folder / "email.html"
    page = browser.new_page(viewport={"width": 600, "height": 900})
    outside: list[str] = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
               else (outside.append(r.request.url), r.abort()))
    page.goto(built.as_uri())
    logo = page.locator("img[alt='CX Matin']")
    assert logo.count() == 1
    assert (logo.get_attribute("src") or "").startswith("brand/") and logo.evaluate("i => i.complete && i.naturalWidth")
    box = logo.bounding_box()
    assert box is not None and round(box["width"]) == 180 and box["y"] < page.locator("h1").bounding_box()["y"]
    pixels = png_pixels(page.screenshot(clip=box))
    assert Counter(pixels).most_common(1)[0][0] == (0xE8, 0x6A, 0x1C)  # the logo's orange, drawn
    style = "([s, p]) => getComputedStyle(document.querySelector(s))[p]"
    assert page.locator("h1").inner_text() == "CX Matin"
    assert page.evaluate(style, ["h1", "color"]) == "rgb(246, 231, 193)"
    assert page.evaluate(style, [".bg-head", "backgroundColor"]) == "rgb(29, 59, 42)"
    assert page.evaluate(style, [".bg-card p a", "color"]) == "rgb(179, 38, 30)"
    assert page.evaluate(style, [".button td", "backgroundColor"]) == "rgb(179, 38, 30)"
    assert page.evaluate(style, ["h2", "fontFamily"]).startswith("Georgia")
    ratio, _ = seen_contrast(page, "h1")
    assert ratio >= 4.5
    footer = page.locator("text=Une publication de l’équipe Relation client")
    assert footer.is_visible() and page.locator("text=3 place du Marché, 69002 Lyon").is_visible()
    assert not outside, outside
    page.screenshot(path=str(artifacts / "email-branded-600px.png"), full_page=True)
    page.close()


def test_every_link_has_a_distinct_accessible_name(browser, built: Path) -> None:  # type: ignore[no-untyped-def]
    """What a screen reader announces for each link, as Chromium computes it (its accessibility tree:
    text, alt, aria-label): each "Lire la suite" button names its item, so no two links read the same."""
    page = browser.new_page(viewport={"width": 600, "height": 900})
    page.goto(built.as_uri())
    links = page.locator("a").count()
    nodes = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
    page.close()
    names = [" ".join(str(node.get("name", {}).get("value", "")).split()) for node in nodes
             if not node.get("ignored") and node.get("role", {}).get("value") == "link"]
    assert links >= 8 and len(names) == links and all(names), names
    assert len(set(names)) == len(names), sorted(names)
    buttons = [name for name in names if name.startswith("Lire la suite")]
    assert len(buttons) == 2 and all(name.startswith("Lire la suite : ") for name in buttons), buttons


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_dark_logo_on_a_light_masthead_shows_in_both_schemes(browser, project: Path, scheme: str,  # type: ignore[no-untyped-def]
                                                               artifacts: Path) -> None:
    """A [brand] header_color stays in dark mode: a dark logo drawn for a light masthead still
    stands out from it (3:1, WCAG's bar for graphics), and so does the name."""
    from PIL import Image, ImageDraw

    add_brand(project)
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('header_color = "#1d3b2a"', 'header_color = "#f4f1ea"')
                      .replace('header_text_color = "#f6e7c1"', 'header_text_color = "#1d2433"'), encoding="utf-8")
    logo = Image.new("RGBA", (360, 80), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rectangle((10, 10, 350, 70), fill="#1d2433")
    logo.save(project / "brand" / "logo.png")
    built = build_issue(load_settings(project), DAY, secret_key="test").folder / "email.html"
    page = browser.new_page(viewport={"width": 600, "height": 900}, color_scheme=scheme)
    page.goto(built.as_uri())
    page.screenshot(path=str(artifacts / f"email-light-masthead-{scheme}.png"), full_page=True)
    box = page.locator(".bg-head").first.bounding_box()
    assert box is not None
    pixels = png_pixels(page.screenshot(clip=box, full_page=True))
    masthead = Counter(pixels).most_common(1)[0][0]
    assert masthead == (0xF4, 0xF1, 0xEA), f"the masthead turned {masthead} in the {scheme} scheme"
    assert max(contrast(p, masthead) for p in pixels) >= 3
    logo_box = page.locator("img.logo, .logo img").first.bounding_box()
    assert logo_box is not None
    drawn = Counter(png_pixels(page.screenshot(clip=logo_box, full_page=True))).most_common(1)[0][0]
    assert contrast(drawn, masthead) >= 3, f"logo {drawn} on {masthead}"
    ratio, _ = seen_contrast(page, "h1")
    assert ratio >= 4.5
    # The masthead's rounded top corners clip what is inside it (its table and the logo).
    assert page.evaluate("getComputedStyle(document.querySelector('.bg-head')).overflow") == "hidden"
    page.close()
