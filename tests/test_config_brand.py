"""The [brand] table: every value the templates write into CSS or an attribute is refused unless it is safe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from newsletter.frontends.cli import main
from newsletter.config import BrandSettings, LOGO_MAX_BYTES, load_settings
from newsletter.errors import ConfigError
from tests.conftest import FIXTURES
from tests.helpers.config import GOOD

LOGO = FIXTURES / "brand" / "logo.png"


def _project(tmp_path: Path, table: str, *, logo: bool = True) -> Path:
    (tmp_path / "newsletter.toml").write_text(GOOD + "\n[brand]\n" + table, encoding="utf-8")
    if logo:
        (tmp_path / "brand").mkdir(exist_ok=True)
        shutil.copyfile(LOGO, tmp_path / "brand" / "logo.png")
    return tmp_path


def test_no_brand_table_means_the_built_in_look(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(GOOD, encoding="utf-8")
    assert load_settings(tmp_path).brand is None


def test_brand_values_are_read_and_normalized(tmp_path: Path) -> None:
    root = _project(tmp_path, 'name = "CX Matin"\nlogo = "brand/logo.png"\nlogo_alt = "CX Matin"\n'
                              'primary_color = "#B3261E"\nprimary_text_color = "#FFF"\nheader_color = "#1d3b2a"\n'
                              'font_family = " Georgia ,  Times   New Roman,serif "\nfooter_text = "Une lettre"\n'
                              'postal_address = "3 place du Marché, 69002 Lyon"\nlogo_width = 200\n')
    assert load_settings(root).brand == BrandSettings(
        name="CX Matin", logo="brand/logo.png", logo_alt="CX Matin", logo_width=200, primary_color="#b3261e",
        primary_text_color="#ffffff", header_color="#1d3b2a", header_text_color="",
        font_family="Georgia, Times New Roman, serif", footer_text="Une lettre",
        postal_address="3 place du Marché, 69002 Lyon")


def test_an_empty_brand_table_changes_nothing(tmp_path: Path) -> None:
    assert load_settings(_project(tmp_path, "", logo=False)).brand == BrandSettings()


COLOR_KEYS = ["primary_color", "primary_text_color", "header_color", "header_text_color"]
HOSTILE_COLORS = ["red;background:url(https://evil.example/x.png)", "red", "#12345", "#ggg", "#fff;}",
                  'rgb(0,0,0)', '#000" onload="x', "#0000000"]


@pytest.mark.parametrize("key", COLOR_KEYS)
@pytest.mark.parametrize("value", HOSTILE_COLORS)
def test_a_colour_that_is_not_a_hex_triplet_is_refused(tmp_path: Path, key: str, value: str) -> None:
    escaped = value.replace('"', '\\"')
    with pytest.raises(ConfigError) as caught:
        load_settings(_project(tmp_path, f'{key} = "{escaped}"\n', logo=False))
    assert f"[brand] {key} must be a colour written #rgb or #rrggbb, e.g. {key} = \"#" in str(caught.value)
    assert caught.value.hint and "newsletter.toml" in caught.value.hint


HOSTILE_FONTS = ["Arial;}</style><script>alert(1)</script>, sans-serif", "Arial;} body{display:none}, serif",
                 "'Open Sans', sans-serif", '\\"Open Sans\\", sans-serif', "Arial, url(https://evil.example/f), serif",
                 "Arial/**/, serif", "Arial, , serif", "Arial <b>, serif", "Ari\\\\61l, serif"]


@pytest.mark.parametrize("value", HOSTILE_FONTS)
def test_a_font_stack_that_could_leave_the_css_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_project(tmp_path, f'font_family = "{value}"\n', logo=False))
    assert "[brand] font_family" in str(caught.value)
    assert "letters, digits, spaces and hyphens only" in str(caught.value)


CASES = [
    ("font stack without a generic family", 'font_family = "Georgia, Times New Roman"\n',
     "[brand] font_family must end with a generic family (serif, sans-serif"),
    ("too many fonts", "font_family = \"" + ", ".join(["Arial"] * 11) + ", serif\"\n",
     "[brand] font_family lists too many fonts"),
    ("unknown key", 'colour = "#000000"\n', "[brand] has an unknown key 'colour'"),
    ("name not a string", "name = 5\n", "[brand] name must be text in quotes, got 5"),
    ("footer on two lines", 'footer_text = "a\\nb"\n', "[brand] footer_text must be one line"),
    ("postal address on two lines", 'postal_address = "1 rue X\\nBcc: y"\n', "[brand] postal_address must be one line"),
    ("logo_alt on two lines", 'logo_alt = "CX\\nMatin"\n', "[brand] logo_alt must be one line"),
    ("logo width too large", "logo_width = 600\n", "[brand] logo_width must be a whole number of at least 16 and at most 544, got 600"),
    ("logo width not a number", 'logo_width = "180px"\n', "[brand] logo_width must be a whole number"),
    ("logo outside the project", 'logo = "../logo.png"\n', "[brand] logo '../logo.png' must be a path inside the project"),
    ("logo absolute", 'logo = "/etc/logo.png"\n', "[brand] logo '/etc/logo.png' must be a path inside the project"),
    ("logo missing", 'logo = "brand/absent.png"\n', "[brand] logo 'brand/absent.png' does not exist"),
    ("logo an SVG", 'logo = "brand/logo.svg"\n', "[brand] logo 'brand/logo.svg' must be a PNG, JPEG or GIF file"),
]


@pytest.mark.parametrize(("table", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_brand_value_is_refused_naming_the_key(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_project(tmp_path, table))
    assert message in str(caught.value)


def test_a_logo_whose_bytes_are_not_an_image_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, 'logo = "brand/logo.png"\n')
    (root / "brand" / "logo.png").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(ConfigError, match=r"\[brand\] logo 'brand/logo.png' is not a PNG, JPEG or GIF image"):
        load_settings(root)


def test_a_heavy_logo_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, 'logo = "brand/logo.png"\n')
    (root / "brand" / "logo.png").write_bytes(LOGO.read_bytes() + b"\0" * LOGO_MAX_BYTES)
    with pytest.raises(ConfigError, match=r"\[brand\] logo 'brand/logo.png' weighs 200 KB; .* under 200 KB"):
        load_settings(root)


def test_a_logo_reached_through_a_link_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, 'logo = "brand/logo.png"\n')
    secret = tmp_path / "outside.png"
    shutil.copyfile(LOGO, secret)
    (root / "brand" / "logo.png").unlink()
    (root / "brand" / "logo.png").symlink_to(secret)
    with pytest.raises(ConfigError, match=r"\[brand\] logo 'brand/logo.png' goes through a symbolic link"):
        load_settings(root)


def test_the_command_line_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _project(tmp_path, 'primary_color = "red;background:url(https://evil.example/x)"\n', logo=False)
    assert main(["--project", str(root), "check", "2026-11-24"]) == 2
    assert "[brand] primary_color must be a colour" in capsys.readouterr().err
