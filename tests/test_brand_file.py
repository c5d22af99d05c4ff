"""Editing [brand] in newsletter.toml for the desk: only those keys change, comments stay, a refused or
outdated change writes nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from newsletter.brand.toml_edit import update_brand, version, written_values
from newsletter.errors import BrandConflictError
from newsletter.config import load_settings
from newsletter.errors import ConfigError
from tests.conftest import FIXTURES


def test_adding_brand_keeps_every_other_line_and_comment(project: Path) -> None:
    config = project / "newsletter.toml"
    before = config.read_text(encoding="utf-8")
    settings = update_brand(load_settings(project), {"name": "CX Matin", "primary_color": "#B3261E"},
                            based_on=version(project))
    after = config.read_text(encoding="utf-8")
    assert after.startswith(before) and after[len(before):] == '\n[brand]\nname = "CX Matin"\nprimary_color = "#B3261E"\n'
    assert settings.brand is not None and settings.brand.primary_color == "#b3261e"


def test_changing_a_key_keeps_its_comment_and_removing_one_drops_only_it(project: Path) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[brand]   # our look\nname = "Old"\n'
                      'primary_color = "#0b5cad"   # links and buttons\nfooter_text = "x"\n', encoding="utf-8")
    update_brand(load_settings(project), {"primary_color": "#1d3b2a", "footer_text": "", "logo_width": "200"},
                 based_on=version(project))
    text = config.read_text(encoding="utf-8")
    assert '[brand]   # our look\nname = "Old"\nprimary_color = "#1d3b2a"   # links and buttons\nlogo_width = 200\n' in text
    assert "footer_text" not in text and '[newsletter]\nname = "5 infos relation client"' in text
    assert written_values(project)["logo_width"] == "200" and written_values(project)["footer_text"] == ""


@pytest.mark.parametrize(("values", "message"), [
    ({"primary_color": "red;background:url(https://evil.example/x)"}, "[brand] primary_color must be a colour"),
    ({"font_family": "Arial;}</style>, serif"}, "[brand] font_family"),
    ({"primary_color": "#777777"}, "[brand] primary_color: #777777 on #eef1f4 (links) has a contrast of 3.95:1"),
    ({"logo": "brand/logo.png"}, "[brand] logo needs logo_alt"),
    ({"logo_width": "wide"}, "[brand] logo_width must be a whole number"),
    ({"colour": "#000000"}, "[brand] has no key 'colour'"),
    ({"name": "two\nlines"}, "[brand] name must be one line"),
])
def test_a_refused_value_writes_nothing(project: Path, values: dict[str, str], message: str) -> None:
    (project / "brand").mkdir()
    shutil.copyfile(FIXTURES / "brand" / "logo.png", project / "brand" / "logo.png")
    before = (project / "newsletter.toml").read_bytes()
    with pytest.raises(ConfigError) as caught:
        update_brand(load_settings(project), values, based_on=version(project))
    assert message in str(caught.value)
    assert (project / "newsletter.toml").read_bytes() == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".newsletter.toml")] == []


def test_a_change_based_on_an_older_file_is_refused(project: Path) -> None:
    based_on = version(project)
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n# someone else's edit\n", encoding="utf-8")
    before = config.read_bytes()
    with pytest.raises(BrandConflictError, match="changed by someone else since this form was opened"):
        update_brand(load_settings(project), {"name": "CX"}, based_on=based_on)
    assert config.read_bytes() == before


def test_the_file_keeps_its_mode(project: Path) -> None:
    config = project / "newsletter.toml"
    os.chmod(config, 0o640)
    update_brand(load_settings(project), {"name": "CX"}, based_on=version(project))
    assert config.stat().st_mode & 0o777 == 0o640
