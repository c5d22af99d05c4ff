"""newsletter.toml: every wrong key gives a one-line error naming the key, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.frontends.cli import cli, main
from newsletter.config import load_settings, secret_from_env
from newsletter.errors import ConfigError
from tests.helpers.config import GOOD


CASES = [
    ("unknown table", GOOD + "\n[mail]\nx = 1\n", "unknown table [mail]"),
    ("typo in key", GOOD.replace("postal_address =", "postal_adress ="),
     "[newsletter] has an unknown key 'postal_adress'; did you mean 'postal_address'?"),
    ("missing name", GOOD.replace('name = "5 infos relation client"\n', ""), "[newsletter] name is required"),
    ("bad sender", GOOD.replace("<redaction@example.org>", "<redaction at example.org>"),
     "[newsletter] sender is not a valid address"),
    ("sender with newline", GOOD.replace('sender = "La rédaction <redaction@example.org>"',
                                         'sender = "La rédaction <redaction@example.org>\\nBcc: x@example.org"'),
     "[newsletter] sender must be one line"),
    ("sender with a non-ASCII local part", GOOD.replace("<redaction@example.org>", "<rédaction@example.org>"),
     "[newsletter] sender 'rédaction@example.org' has a non-ASCII local part"),
    ("reply_to with a non-ASCII local part", GOOD.replace('reply_to = "redaction@example.org"',
                                                          'reply_to = "rédaction@example.org"'),
     "[newsletter] reply_to 'rédaction@example.org' has a non-ASCII local part"),
    ("base_url not http", GOOD.replace('"https://news.example.org"', '"news.example.org"'),
     "[newsletter] base_url must be an absolute http(s) address"),
    ("unknown locale", GOOD.replace('locale = "fr_FR"', 'locale = "xx_YY"'), "[newsletter] locale 'xx_YY'"),
    ("unknown timezone", GOOD.replace('"Europe/Paris"', '"Europe/Atlantis"'), "[newsletter] timezone 'Europe/Atlantis'"),
    ("items not a number", GOOD.replace("items_per_issue = 5", 'items_per_issue = "five"'),
     "[newsletter] items_per_issue must be a whole number"),
    ("items zero", GOOD.replace("items_per_issue = 5", "items_per_issue = 0"),
     "[newsletter] items_per_issue must be a whole number of at least 1 and at most 20, got 0"),
    ("rate negative", GOOD.replace("rate_per_second = 20", "rate_per_second = -1"),
     "[delivery] rate_per_second must be a positive number"),
    ("lease too short", GOOD.replace("rate_per_second = 20", "rate_per_second = 20\nlease_seconds = 1"),
     "[delivery] lease_seconds must be a number of seconds between 3 and 3600, got 1.0"),
    ("bounce rate as a percentage", GOOD.replace("rate_per_second = 20", "rate_per_second = 20\nmax_bounce_rate = 5"),
     "[delivery] max_bounce_rate must be a fraction between 0 and 1, got 5.0"),
    ("bounce rate as text", GOOD.replace("rate_per_second = 20", 'rate_per_second = 20\nmax_bounce_rate = "5%"'),
     '[delivery] max_bounce_rate must be a number, got the text "5%"'),
    ("bounce window too small", GOOD.replace("rate_per_second = 20", "rate_per_second = 20\nbounce_window = 3"),
     "[delivery] bounce_window must be a whole number of at least 10 and at most 1000000, got 3"),
    ("approval as text", GOOD.replace("require_approval = true", 'require_approval = "yes"'),
     "[schedule] require_approval must be true or false"),
    ("port too big", GOOD.replace("port = 8080", "port = 80800"), "[web] port must be a whole number of at least 1 and at most 65535, got 80800"),
    ("head deadline zero", GOOD.replace("port = 8080", "port = 8080\nheader_timeout = 0"),
     "[web] header_timeout must be a whole number of at least 1 and at most 600, got 0"),
    ("body deadline as text", GOOD.replace("port = 8080", 'port = 8080\nbody_timeout = "30s"'),
     '[web] body_timeout must be a whole number, got the text "30s"'),
    ("per-client cap at the connection limit", GOOD.replace("port = 8080", "port = 8080\nconnection_limit = 100\n"
                                                             "connections_per_client = 100"),
     "[web] connections_per_client must be a whole number of at least 1 and at most 99, got 100"),
    ("per-client cap behind a proxy", GOOD.replace("port = 8080", "port = 8080\ntrusted_proxies = 1\n"
                                                    "connections_per_client = 10"),
     "[web] connections_per_client cannot apply behind a reverse proxy (trusted_proxies = 1)"),
    ("desk head deadline too long", GOOD + "\n[desk]\nheader_timeout = 601\n",
     "[desk] header_timeout must be a whole number of at least 1 and at most 600, got 601"),
    ("desk body deadline zero", GOOD + "\n[desk]\nbody_timeout = 0\n",
     "[desk] body_timeout must be a whole number of at least 1 and at most 3600, got 0"),
    ("words as text", GOOD.replace("max_words = 120", 'max_words = "120"'), "[content] max_words must be a whole number"),
    ("bad TOML", GOOD.replace('name = "5 infos', 'name = 5 infos'), "invalid TOML"),
    ("adapter name", GOOD.replace('adapter = "outbox"', 'adapter = "Out Box"'), "[delivery] adapter must be a name"),
    ("no newsletter table", "[web]\nport = 8080\n", "the [newsletter] table is required"),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_setting_names_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    assert text != GOOD
    (tmp_path / "newsletter.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in CASES[:4]], ids=[c[0] for c in CASES[:4]])
def test_cli_exits_2_without_traceback(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "newsletter.toml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--project", str(tmp_path), "check", "2026-11-24"], standalone_mode=False,
                                catch_exceptions=True)
    assert isinstance(result.exception, ConfigError)
    code = main(["--project", str(tmp_path), "check", "2026-11-24"])
    assert code == 2


def test_not_utf8_config(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_bytes(GOOD.encode("utf-8").replace("rédaction".encode(), b"r\xe9daction"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(tmp_path)


def test_defaults_fill_what_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(
        '[newsletter]\nname = "N"\nsender = "a@example.org"\npostal_address = "Paris"\n'
        'base_url = "https://n.example.org/"\n', encoding="utf-8")
    settings = load_settings(tmp_path)
    assert settings.newsletter.items_per_issue == 5 and settings.newsletter.locale == "fr_FR"
    assert settings.newsletter.base_url == "https://n.example.org"
    assert settings.content.max_words == 120 and settings.delivery.adapter == "outbox"
    assert settings.newsletter.sender_name == "N"


def test_secrets_come_from_the_environment_only() -> None:
    assert secret_from_env("K", purpose="key", environ={"K": "s3cret"}) == "s3cret"
    with pytest.raises(ConfigError, match="environment variable SMTP_PASSWORD is not set"):
        secret_from_env("SMTP_PASSWORD", purpose="SMTP password", environ={})


def test_sender_and_reply_to_go_on_the_wire_with_ascii_domains(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(
        GOOD.replace("<redaction@example.org>", "<redaction@rédaction.example>")
        .replace('reply_to = "redaction@example.org"', 'reply_to = "Courrier <Lecteurs@Exämple.org>"'), encoding="utf-8")
    nl = load_settings(tmp_path).newsletter
    assert nl.sender_address == "redaction@xn--rdaction-b1a.example" and nl.sender_domain.isascii()
    assert nl.reply_to == "lecteurs@xn--exmple-cua.org"  # a bare address: it also goes in mailto: and API fields


@pytest.mark.parametrize(("written", "kept"), [
    ("https://lettre.rédaction.example", "https://lettre.xn--rdaction-b1a.example"),
    ("https://Lettre.Rédaction.Example:8443/", "https://lettre.xn--rdaction-b1a.example:8443"),
    ("https://news.example.org/lettre/été", "https://news.example.org/lettre/%C3%A9t%C3%A9"),
    ("https://news.example.org/a%20b", "https://news.example.org/a%20b"),
], ids=["idn host", "idn host, port, case", "accented path", "already encoded"])
def test_base_url_is_kept_in_the_ascii_form_headers_need(tmp_path: Path, written: str, kept: str) -> None:
    (tmp_path / "newsletter.toml").write_text(
        '[newsletter]\nname = "N"\nsender = "a@example.org"\npostal_address = "Paris"\n'
        f'base_url = "{written}"\n', encoding="utf-8")
    assert load_settings(tmp_path).newsletter.base_url == kept


def test_a_base_url_host_without_idna_form_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(
        '[newsletter]\nname = "N"\nsender = "a@example.org"\npostal_address = "Paris"\n'
        'base_url = "https://a..b.example"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="base_url"):
        load_settings(tmp_path)
