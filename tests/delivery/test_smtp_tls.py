"""SMTP over STARTTLS and implicit TLS, with certificate verification and AUTH from the environment."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from newsletter.config import load_settings
from newsletter.delivery.base import Outgoing
from newsletter.delivery.smtp import SMTPAdapter
from newsletter.errors import ConfigError
from newsletter.render.mime import BuiltMessage, Personal
from tests.sink import Recorder, free_port
from tests.helpers.config import set_options

MESSAGE = BuiltMessage("lecteur@example.org", "<1@example.org>",
                       b"From: a@example.org\r\nTo: lecteur@example.org\r\nSubject: x\r\n\r\n.hello\r\n")
PERSONAL = Personal("lecteur@example.org", "", "<1@example.org>", "<https://example.org/u/x>", {})


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"newsletter" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture(params=["starttls", "tls"])
def server(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[tuple[str, int, Recorder]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder, port = Recorder(), free_port()
    if request.param == "starttls":
        controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=context,
                                require_starttls=True, authenticator=_authenticator, auth_require_tls=True)
    else:
        controller = Controller(recorder, hostname="127.0.0.1", port=port, ssl_context=context,
                                authenticator=_authenticator, auth_require_tls=False)
    controller.start()
    try:
        yield request.param, port, recorder
    finally:
        controller.stop()


def adapter(project: Path, security: str, port: int, password: str, ca_file: Path | None) -> SMTPAdapter:
    set_options(project, "delivery.smtp", host="127.0.0.1", port=port, security=security)
    if ca_file:
        set_options(project, "delivery.smtp", ca_file=str(ca_file))
    return SMTPAdapter(load_settings(project), {"SMTP_PASSWORD": password})


def test_tls_with_a_trusted_certificate_and_login(project: Path, server: tuple[str, int, Recorder],
                                                   certificate: tuple[Path, Path]) -> None:
    security, port, recorder = server
    smtp = adapter(project, security, port, "s3cret", certificate[0])
    smtp.open()
    try:
        results = [r for rs in smtp.send([Outgoing(1, PERSONAL, "a@example.org", MESSAGE)], lambda items: None) for r in rs]
    finally:
        smtp.close()
    assert results[0].ok and results[0].provider_id == "SINK1"
    assert recorder.raw[0].endswith(b".hello\r\n")  # dot-stuffing undone by the server


def test_an_untrusted_certificate_is_refused(project: Path, server: tuple[str, int, Recorder]) -> None:
    security, port, _ = server
    smtp = adapter(project, security, port, "s3cret", None)
    with pytest.raises(ConfigError, match="certificate"):
        smtp.open()


def test_a_wrong_password_stops_with_a_configuration_error(project: Path, server: tuple[str, int, Recorder],
                                                           certificate: tuple[Path, Path]) -> None:
    security, port, _ = server
    smtp = adapter(project, security, port, "wrong", certificate[0])
    with pytest.raises(ConfigError, match="refused the login of 'newsletter'") as caught:
        smtp.open()
    assert "wrong" not in str(caught.value)  # the secret is never echoed
