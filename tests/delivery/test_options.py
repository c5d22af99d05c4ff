"""Reading ``[delivery.NAME]``: every wrong type and every unknown key is a configuration error naming the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest

from newsletter.frontends.cli import main
from newsletter.config import Settings, load_settings
from newsletter.delivery.base import (Adapter, bool_option, choice_option, int_option, make_adapter, number_option,
                                      path_option, text_option)
from newsletter.errors import ConfigError
from tests.conftest import DAY, SECRET
from tests.fakes import environment
from tests.helpers.config import merge_options, remove_table, set_options

def configure(project: Path, adapter: str, table: str) -> Settings:
    """Use ``adapter`` with ``table`` (TOML lines) as its [delivery.NAME] table."""
    remove_table(project, "delivery.smtp")
    set_options(project, "delivery", adapter=adapter)
    base = {"smtp": 'host = "127.0.0.1"\n', "mailgun": 'domain = "mg.example.org"\n'}.get(adapter, "")
    merge_options(project, f"[delivery.{adapter}]\n{base}{table}\n")
    return load_settings(project)


WRONG = [
    ("smtp", 'timeout = "30"', '[delivery.smtp] timeout must be a number, got the text "30"', "timeout = 30"),
    ("smtp", "timeout = 0", "timeout must be a positive number, got 0", ""),
    ("smtp", "timeout = true", "timeout must be a number, got true", ""),
    ("smtp", 'port = "587"', 'port must be a whole number, got the text "587"', "port = 587"),
    ("smtp", "port = 587.5", "port must be a whole number, got 587.5", ""),
    ("smtp", "connections = 0", "connections must be a whole number of at least 1, got 0", ""),
    ("smtp", "connections = [3]", "connections must be a whole number, got a list", ""),
    ("smtp", "username = 42", "username must be text in quotes", ""),
    ("smtp", 'security = "ssl"', 'security must be "starttls", "tls" or "none", got the text "ssl"', ""),
    ("smtp", 'ca_file = "no-such-ca.pem"', "ca_file names", ""),
    ("smtp", "ca_file = { path = 'x' }", "ca_file must be text in quotes", ""),
    ("outbox", "path = 3", "[delivery.outbox] path must be text in quotes", ""),
    ("sendgrid", 'timeout = "30"', '[delivery.sendgrid] timeout must be a number, got the text "30"', "timeout = 30"),
    ("mailgun", 'connections = "2"', 'connections must be a whole number, got the text "2"', "connections = 2"),
    ("postmark", "tag = 2026-11-24", "tag must be text in quotes", ""),
    ("brevo", "base_url = 443", "base_url must be text in quotes", ""),
    ("sendgrid", "region = 1", "region must be text in quotes", ""),
]
UNKNOWN = [
    ("smtp", 'hots = "x"', "[delivery.smtp] has an unknown key 'hots'; did you mean 'host'?"),
    ("smtp", 'region = "eu"', "[delivery.smtp] has an unknown key 'region'; known keys: host, port"),
    ("outbox", 'pth = "x"', "[delivery.outbox] has an unknown key 'pth'; did you mean 'path'?"),
    ("outbox", "timeout = 3", "[delivery.outbox] has an unknown key 'timeout'; known keys: path"),
    ("postmark", 'tga = "x"', "did you mean 'tag'?"),
]


@pytest.mark.parametrize(("adapter", "table", "message", "hint"), WRONG)
def test_a_value_of_the_wrong_type_names_the_key_and_what_it_must_be(
        project: Path, adapter: str, table: str, message: str, hint: str) -> None:
    settings = configure(project, adapter, table)
    with pytest.raises(ConfigError) as error:
        make_adapter(settings, environment(adapter) if adapter not in ("smtp", "outbox") else {})
    assert message in str(error.value)
    assert hint in error.value.hint


@pytest.mark.parametrize(("adapter", "table", "message"), UNKNOWN)
def test_every_adapter_refuses_a_key_it_does_not_know(project: Path, adapter: str, table: str, message: str) -> None:
    settings = configure(project, adapter, table)
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_adapter(settings, environment(adapter) if adapter not in ("smtp", "outbox") else {})


@pytest.mark.parametrize(("adapter", "table", "message"),
                         [(a, t, m) for a, t, m, _ in WRONG[:1] + WRONG[-5:]] + UNKNOWN[:1] + UNKNOWN[2:3])
def test_the_cli_reports_a_wrong_adapter_setting_with_exit_code_2_and_no_traceback(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        adapter: str, table: str, message: str) -> None:
    configure(project, adapter, table)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    for name, value in environment(adapter).items() if adapter not in ("smtp", "outbox") else ():
        monkeypatch.setenv(name, value)
    code = main(["--project", str(project), "send", DAY.isoformat(), "--test", "camille@example.org"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


class _Plain(Adapter):
    """An adapter declaring one key of each form, to read them directly."""

    name = "plain"
    known_options = ("value",)

    def send(self, batch, handover):  # type: ignore[no-untyped-def]
        yield []


def _plain(settings: Settings, value: object) -> Adapter:
    plain = _Plain(settings)
    plain.options = {"value": value}
    return plain


Read = Callable[[Adapter], object]
FORMS: list[tuple[str, Read, object, object]] = [
    ("text", lambda a: text_option(a, "value"), "x", 1),
    ("whole number", lambda a: int_option(a, "value", 0), 3, True),
    ("number", lambda a: number_option(a, "value", 0.0), 2.5, "2.5"),
    ("true or false", lambda a: bool_option(a, "value", False), True, "yes"),
    ("one of", lambda a: choice_option(a, "value", ("a", "b"), "a"), "b", "c"),
    ("path", lambda a: path_option(a, "value"), "ca.pem", 1.5),
]


@pytest.mark.parametrize(("form", "read", "good", "bad"), FORMS, ids=[f[0] for f in FORMS])
def test_each_typed_form_accepts_its_type_and_refuses_others_naming_the_key(
        settings: Settings, form: str, read: Read, good: object, bad: object) -> None:
    assert read(_plain(settings, good)) in (good, settings.root / str(good))
    with pytest.raises(ConfigError, match=r"^newsletter\.toml: \[delivery\.plain\] value must be .+, got "):
        read(_plain(settings, bad))
