"""The [bounces] table: a wrong key names itself and the fix; credentials only through *_env names."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import BounceSettings, load_settings
from newsletter.errors import ConfigError
from tests.conftest import REPO

GOOD = (REPO / "newsletter.toml").read_text(encoding="utf-8")
IMAP = ('imap_host = "imap.example.org"\nimap_user_env = "BOUNCES_IMAP_USER"\n'
        'imap_password_env = "BOUNCES_IMAP_PASSWORD"\n')


def _load(tmp_path: Path, table: str) -> BounceSettings | None:
    (tmp_path / "newsletter.toml").write_text(GOOD + "\n[bounces]\n" + table, encoding="utf-8")
    return load_settings(tmp_path).bounces


def test_absent_table_means_no_bounce_handling(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(GOOD, encoding="utf-8")
    assert load_settings(tmp_path).bounces is None


def test_a_maildir_setup_is_read_with_defaults(tmp_path: Path) -> None:
    b = _load(tmp_path, 'address = "Bounces@Bounce.Example.org"\nunsubscribe_address = "unsubscribe@bounce.example.org"\n'
                        'maildir = "state/bounces"\n')
    assert b == BounceSettings(address="bounces@bounce.example.org",
                               unsubscribe_address="unsubscribe@bounce.example.org",
                               maildir=(tmp_path / "state/bounces").resolve())


def test_an_imap_setup_keeps_only_variable_names(tmp_path: Path) -> None:
    b = _load(tmp_path, 'address = "bounces@bounce.example.org"\n' + IMAP + "check_minutes = 5\n")
    assert b is not None and b.imap_host == "imap.example.org" and b.imap_port == 993
    assert (b.imap_user_env, b.imap_password_env, b.check_minutes) == ("BOUNCES_IMAP_USER", "BOUNCES_IMAP_PASSWORD", 5)


ADDR = 'address = "bounces@bounce.example.org"\n'
CASES = [
    ("no address", 'maildir = "m"\n', "[bounces] address is required"),
    ("address with plus", 'address = "bounces+x@bounce.example.org"\n', 'without "+"'),
    ("address with name", 'address = "B <bounces@bounce.example.org>"\n', "[bounces] address must be a bare address"),
    ("not an address", 'address = "bounces at example"\n', "[bounces] address is not a valid address"),
    ("same unsubscribe", ADDR + 'unsubscribe_address = "bounces@bounce.example.org"\n',
     "[bounces] unsubscribe_address must differ from address"),
    ("both mailboxes", ADDR + 'maildir = "m"\n' + IMAP, "[bounces] has both maildir and imap_host; keep one"),
    ("imap without user", ADDR + 'imap_host = "imap.example.org"\nimap_password_env = "P"\n',
     "[bounces] imap_user_env is required with imap_host"),
    ("password in the file", ADDR + IMAP + 'imap_password = "hunter2"\n',
     '[bounces] imap_password is not read from the file: credentials come only from the environment; '
     'write imap_password_env = "NAME"'),
    ("password as the env name", ADDR + IMAP.replace('"BOUNCES_IMAP_PASSWORD"', '"hunter2!"'),
     "[bounces] imap_password_env must be the NAME of an environment variable"),
    ("same folders", ADDR + IMAP + 'processed_folder = "INBOX"\n', "[bounces] processed_folder must differ"),
    ("quoted folder", ADDR + IMAP + 'imap_folder = "a\\"b"\n', "[bounces] imap_folder must be an ASCII folder name"),
    ("bad host", ADDR + IMAP.replace("imap.example.org", "imap example"), "[bounces] imap_host must be a host name"),
    ("limit zero", ADDR + "soft_bounce_limit = 0\n", "[bounces] soft_bounce_limit must be a whole number of at least 1"),
    ("minutes as text", ADDR + 'check_minutes = "10"\n', "[bounces] check_minutes must be a whole number"),
    ("typo", ADDR + 'mail_dir = "m"\n', "[bounces] has an unknown key 'mail_dir'; did you mean 'maildir'?"),
]


@pytest.mark.parametrize(("table", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_bounce_setting_names_the_key_and_the_fix(tmp_path: Path, table: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, table)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert "hunter2" not in str(caught.value)
