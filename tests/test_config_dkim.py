"""The [dkim] table: a key that cannot sign, or a domain DMARC would not align, is refused when the file loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.frontends.cli import main
from newsletter.config import DkimSettings, load_settings
from newsletter.errors import ConfigError
from tests.dkim_keys import dkim_table, encrypted_pem, write_key
from tests.helpers.config import GOOD, set_options


def _project(tmp_path: Path, table: str, key: str | None = "rsa") -> Path:
    (tmp_path / "newsletter.toml").write_text(GOOD + table, encoding="utf-8")
    if key:
        (tmp_path / "keys").mkdir()
        write_key(tmp_path / "keys", key)
    return tmp_path


def test_no_dkim_table_means_no_signing(tmp_path: Path) -> None:
    assert load_settings(_project(tmp_path, "", key=None)).dkim is None


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_dkim_table_resolves_the_key_against_the_project(tmp_path: Path, kind: str) -> None:
    root = _project(tmp_path, dkim_table(selector="NL2026", domain="Example.org", key_file="keys/dkim.pem"), kind)
    assert load_settings(root).dkim == DkimSettings(selector="nl2026", domain="example.org",
                                                    private_key_file=(root / "keys" / "dkim.pem").resolve())


def test_a_parent_of_the_sender_domain_aligns(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(GOOD + dkim_table(key_file="dkim.pem"), encoding="utf-8")
    set_options(tmp_path, "newsletter", sender="La rédaction <redaction@news.example.org>")
    write_key(tmp_path, "ed25519")
    settings = load_settings(tmp_path).dkim
    assert settings is not None and settings.domain == "example.org"


CASES = [
    ("missing selector", dkim_table(key_file="keys/dkim.pem").replace('selector = "nl2026"\n', ""), "rsa",
     "[dkim] selector is required"),
    ("selector not a DNS name", dkim_table(selector="nl 2026", key_file="keys/dkim.pem"), "rsa",
     "[dkim] selector must be a DNS name"),
    ("unknown key", dkim_table(key_file="keys/dkim.pem") + 'algorithm = "rsa"\n', "rsa",
     "[dkim] has an unknown key 'algorithm'"),
    ("domain not aligned", dkim_table(domain="mailer.example.net", key_file="keys/dkim.pem"), "rsa",
     "[dkim] domain 'mailer.example.net' does not align with the sender's domain 'example.org'"),
    ("domain a subdomain of the sender's", dkim_table(domain="mail.example.org", key_file="keys/dkim.pem"), "rsa",
     "set domain = 'example.org'"),
    ("domain a bare TLD", dkim_table(domain="org", key_file="keys/dkim.pem"), "rsa", "does not align"),
    ("key file missing", dkim_table(key_file="keys/absent.pem"), "rsa",
     "absent.pem' does not exist; create one with `newsletter dkim keygen nl2026 --domain example.org --out "),
    ("key too short", dkim_table(key_file="keys/dkim.pem"), "rsa1024",
     "is a 1024-bit RSA key; receivers refuse keys under 2048 bits"),
    ("key of another type", dkim_table(key_file="keys/dkim.pem"), "ec",
     "DKIM signs with RSA (2048 bits or more) or Ed25519"),
    ("not a key", dkim_table(key_file="newsletter.toml"), None, "is not a PEM private key"),
]


@pytest.mark.parametrize(("table", "key", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_wrong_dkim_setting_names_the_key_and_the_fix(tmp_path: Path, table: str, key: str | None,
                                                        fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_project(tmp_path, table, key))
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert "BEGIN" not in str(caught.value).replace("-----BEGIN PRIVATE KEY-----", "")


def test_a_key_with_a_passphrase_is_refused_with_the_fix(tmp_path: Path) -> None:
    root = _project(tmp_path, dkim_table(key_file="keys/dkim.pem"))
    (root / "keys" / "dkim.pem").write_bytes(encrypted_pem())
    with pytest.raises(ConfigError, match="protected by a passphrase; store it without one"):
        load_settings(root)


@pytest.mark.parametrize("case", [CASES[3], CASES[6], CASES[7]], ids=[CASES[i][0] for i in (3, 6, 7)])
def test_cli_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       case: tuple[str, str, str, str]) -> None:
    _, table, key, fragment = case
    root = _project(tmp_path, table, key)
    assert main(["--project", str(root), "check", "2026-11-24"]) == 2
    err = capsys.readouterr().err
    assert fragment in " ".join(err.split()) and "Traceback" not in err


# -- an Ed25519 key beside the RSA one (RFC 8463: two signatures) --------------------------------

PAIR = 'ed25519_selector = "NL2026e"\ned25519_private_key_file = "keys/dkim-ed.pem"\n'


def _pair(tmp_path: Path, table: str, first: str = "rsa", second: str | None = "ed25519") -> Path:
    root = _project(tmp_path, table, first)
    if second:
        write_key(root / "keys", second, "dkim-ed.pem")
    return root


def test_an_ed25519_key_beside_the_rsa_key_gives_two_keys(tmp_path: Path) -> None:
    root = _pair(tmp_path, dkim_table(key_file="keys/dkim.pem") + PAIR)
    settings = load_settings(root).dkim
    assert settings is not None
    assert settings.keys == (("nl2026", (root / "keys" / "dkim.pem").resolve()),
                             ("nl2026e", (root / "keys" / "dkim-ed.pem").resolve()))


PAIR_CASES = [
    ("selector without key", dkim_table(key_file="keys/dkim.pem") + 'ed25519_selector = "nl2026e"\n', "rsa", None,
     "[dkim] ed25519_private_key_file is required with ed25519_selector"),
    ("key without selector", dkim_table(key_file="keys/dkim.pem") + 'ed25519_private_key_file = "keys/dkim-ed.pem"\n',
     "rsa", "ed25519", "[dkim] ed25519_selector is required with ed25519_private_key_file"),
    ("same selector", dkim_table(key_file="keys/dkim.pem") + PAIR.replace("NL2026e", "nl2026"), "rsa", "ed25519",
     "ed25519_selector 'nl2026' is the same as selector"),
    ("second key is RSA", dkim_table(key_file="keys/dkim.pem") + PAIR, "rsa", "rsa",
     "is an RSA key, not Ed25519; point it at an Ed25519 key (`newsletter dkim keygen nl2026e --type ed25519`)"),
    ("first key is Ed25519", dkim_table(key_file="keys/dkim.pem") + PAIR, "ed25519", "ed25519",
     "must be the RSA key that most receivers verify; create one with `newsletter dkim keygen nl2026-rsa"),
    ("second key missing", dkim_table(key_file="keys/dkim.pem") + PAIR, "rsa", None,
     "dkim-ed.pem' does not exist; create one with `newsletter dkim keygen nl2026e --type ed25519 --domain "),
    ("second selector not a DNS name", dkim_table(key_file="keys/dkim.pem") + PAIR.replace("NL2026e", "nl_ed"),
     "rsa", "ed25519", "[dkim] ed25519_selector must be a DNS name"),
]


@pytest.mark.parametrize(("table", "first", "second", "fragment"), [c[1:] for c in PAIR_CASES],
                         ids=[c[0] for c in PAIR_CASES])
def test_a_wrong_ed25519_pair_names_the_key_and_the_fix(tmp_path: Path, table: str, first: str, second: str | None,
                                                        fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_pair(tmp_path, table, first, second))
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
