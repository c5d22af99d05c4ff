"""`newsletter dkim keygen`: a private key only its owner can read, never overwritten, and the record to publish."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import dkim
import pytest

from newsletter.frontends.cli import main
from newsletter.config import load_settings
from newsletter.delivery.dkim import signer_for
from newsletter.errors import ConfigError
from tests.dkim_keys import dkim_table

MESSAGE = (b"From: La redaction <redaction@example.org>\r\nTo: ann@example.org\r\nSubject: Hello\r\n"
           b"Date: Tue, 24 Nov 2026 07:00:00 +0100\r\nMessage-ID: <x@example.org>\r\n"
           b"List-Unsubscribe: <https://news.example.org/u/x>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
           b"\r\nHello\r\n")


def record_of(output: str) -> bytes:
    """The TXT value of the zone line keygen printed (its quoted strings joined)."""
    line = next(line for line in output.splitlines() if "._domainkey." in line)
    return "".join(re.findall(r'"([^"]*)"', line)).encode()


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_keygen_writes_a_private_key_and_prints_the_record_that_verifies_it(
        project: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    assert main(["--project", str(project), "dkim", "keygen", "NL2026", "--type", kind]) == 0
    out = capsys.readouterr().out
    key = project / "dkim" / "nl2026.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and b"PRIVATE KEY" in key.read_bytes()
    assert f"nl2026._domainkey.example.org. 3600 IN TXT ( \"v=DKIM1; k={kind};" in out
    assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', out))  # one TXT string holds 255 at most
    # The printed table, as printed, makes a project that signs what the printed record verifies.
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write("\n" + out[out.index("[dkim]"):])
    signed = signer_for(load_settings(project))(MESSAGE)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record_of(out))


def test_keygen_never_overwrites_a_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", str(project), "dkim", "keygen", "nl2026", "--type", "ed25519"]) == 0
    before = (project / "dkim" / "nl2026.pem").read_bytes()
    capsys.readouterr()
    assert main(["--project", str(project), "dkim", "keygen", "nl2026"]) == 2
    err = capsys.readouterr().err
    assert "already exists; a DKIM key is never overwritten" in err and "Traceback" not in err
    assert (project / "dkim" / "nl2026.pem").read_bytes() == before


@pytest.mark.parametrize(("args", "fragment"), [
    (["nl 2026"], "the selector 'nl 2026' is not a DNS name"),
    (["nl2026", "--domain", "example"], "--domain 'example' is not a domain name"),
    (["nl2026", "--type", "dsa"], "Invalid value for '--type'"),
], ids=["selector", "domain", "type"])
def test_keygen_refuses_bad_arguments_with_exit_2(project: Path, capsys: pytest.CaptureFixture[str],
                                                  args: list[str], fragment: str) -> None:
    assert main(["--project", str(project), "dkim", "keygen", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not (project / "dkim").exists() or not any((project / "dkim").iterdir())


def test_the_command_a_missing_key_error_gives_creates_that_key(project: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(dkim_table(key_file="secrets/dkim.pem"))
    with pytest.raises(ConfigError) as caught:
        load_settings(project)
    command = re.search(r"`newsletter (dkim keygen [^`]+)`", str(caught.value))
    assert command is not None
    assert main(["--project", str(project), *command.group(1).split()]) == 0
    settings = load_settings(project).dkim
    assert settings is not None and settings.private_key_file == (project / "secrets" / "dkim.pem").resolve()


def test_an_ed25519_key_says_it_needs_rsa_beside_it_and_joins_an_rsa_table(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Alone, Ed25519 is unverified by most receivers; beside the project's RSA key, keygen prints
    the two lines that add it, and the project then signs with both (each verifies)."""
    assert main(["--project", str(project), "dkim", "keygen", "nl2026"]) == 0
    rsa_out = capsys.readouterr().out
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write("\n" + rsa_out[rsa_out.index("[dkim]"):] + "\n")
    assert main(["--project", str(project), "dkim", "keygen", "nl2026e", "--type", "ed25519"]) == 0
    captured = capsys.readouterr()
    assert "Ed25519 alone is not verified by most receivers" in " ".join(captured.err.split())
    assert "[dkim]" not in captured.out
    lines = captured.out[captured.out.index("ed25519_selector"):]
    assert lines.splitlines() == ['ed25519_selector = "nl2026e"', 'ed25519_private_key_file = "dkim/nl2026e.pem"']
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(lines)
    records = {b"nl2026._domainkey.example.org.": record_of(rsa_out),
               b"nl2026e._domainkey.example.org.": record_of(captured.out)}
    signed = signer_for(load_settings(project))(MESSAGE)
    for idx in (0, 1):
        assert dkim.DKIM(signed).verify(idx=idx, dnsfunc=lambda name, timeout=5: records.get(name))


def test_an_ed25519_key_alone_says_how_to_add_the_rsa_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", str(project), "dkim", "keygen", "nl2026e", "--type", "ed25519"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "Ed25519 alone is not verified by most receivers" in err
    assert "`newsletter dkim keygen nl2026e-rsa`" in err and 'ed25519_selector = "nl2026e"' in err
